"""The pure parts of container builds: image choice, wheelhouse keys, source digests, wheel tags,
pip's environment, the wheelhouse's health check, and the messages a failed build gives."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import pytest

from fpack import container, inputs
from fpack.container import RunResult, Settings
from fpack.deps import builder
from fpack.deps.cache import Cache
from fpack.deps.lock import Locked
from fpack.errors import ContainerError, DependencyError
from fpack.platforms import RUNTIMES, Platform

AL2_X86 = Platform(runtime=RUNTIMES["aws"]["python3.11"], arch="x86_64")
AL2_ARM = Platform(runtime=RUNTIMES["aws"]["python3.11"], arch="arm64")
GCP = Platform(runtime=RUNTIMES["gcp"]["python312"], arch="x86_64")
SDIST = Locked(name="ext", version="1.0", kind="sdist", location="https://x/ext-1.0.tar.gz",
               sha256="ab" * 32)


def test_image_env_beats_the_target_setting_which_beats_the_table() -> None:
    unset = inputs.read({}).build_image
    assert unset is None
    assert builder.image_for(AL2_X86, None, unset) == "public.ecr.aws/sam/build-python3.11"
    assert builder.image_for(GCP, None, unset) == "quay.io/pypa/manylinux_2_28_x86_64"
    assert builder.image_for(AL2_ARM, "mirror/build:{arch}", unset) == "mirror/build:aarch64"
    override = inputs.read({"FPACK_BUILD_IMAGE": "lab/build"}).build_image
    assert builder.image_for(AL2_ARM, "mirror/build:{arch}", override) == "lab/build"
    # an empty FPACK_BUILD_IMAGE is unset, not an image named ""
    assert inputs.read({"FPACK_BUILD_IMAGE": ""}).build_image is None


def test_the_wheelhouse_key_changes_with_each_thing_that_changes_the_wheel() -> None:
    base = builder.key(SDIST, "d1", AL2_X86, "img")
    assert base == builder.key(SDIST, "d1", AL2_X86, "img")
    others = {
        builder.key(dataclasses.replace(SDIST, name="other"), "d1", AL2_X86, "img"),
        builder.key(dataclasses.replace(SDIST, version="2.0"), "d1", AL2_X86, "img"),
        builder.key(SDIST, "d2", AL2_X86, "img"),
        builder.key(SDIST, "d1", AL2_ARM, "img"),
        builder.key(SDIST, "d1", Platform(runtime=RUNTIMES["aws"]["python3.12"],
                                          arch="x86_64"), "img"),
        builder.key(SDIST, "d1", AL2_X86, "img2"),
    }
    assert base not in others and len(others) == 6
    # the target's name is not part of it: the same Python, arch and image make the same wheel
    docker311 = Platform(runtime=RUNTIMES["docker"]["3.11"], arch="x86_64")
    assert builder.key(SDIST, "d1", docker311, "img") == base


def test_source_digests(tmp_path: Path) -> None:
    assert builder.source_digest(SDIST) == f"sha256:{'ab' * 32}#"
    vcs = Locked(name="g", version="1", kind="vcs", location="https://tok@git.example/r",
                 commit="c0ffee", subdirectory="py")
    assert builder.source_digest(vcs) == "vcs:https://***@git.example/r@c0ffee#py"
    (tmp_path / "a.py").write_text("x = 1\n")
    local = Locked(name="l", version=None, kind="directory", location=str(tmp_path))
    assert builder.source_digest(local) == "tree:" + builder.tree_digest(tmp_path)
    with pytest.raises(DependencyError) as e:
        builder.source_digest(dataclasses.replace(SDIST, sha256=""))
    assert e.value.message == ("ext: the resolution recorded no sha256 for "
                               "https://x/ext-1.0.tar.gz; fpack cannot cache its build")


def test_tree_digest_sees_content_and_modes_but_not_build_output(tmp_path: Path) -> None:
    (tmp_path / "src").mkdir()
    (tmp_path / "src" / "ext.c").write_text("int x;\n")
    (tmp_path / "setup.py").write_text("setup()\n")
    first = builder.tree_digest(tmp_path)
    for junk in ("build/lib/ext.so", "ext.egg-info/PKG-INFO", "src/__pycache__/m.pyc",
                 ".git/HEAD", "dist/ext-1.0.tar.gz"):
        (tmp_path / junk).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / junk).write_text("junk")
    assert builder.tree_digest(tmp_path) == first
    (tmp_path / "setup.py").chmod(0o755)
    assert builder.tree_digest(tmp_path) != first
    (tmp_path / "setup.py").chmod(0o644)
    (tmp_path / "src" / "ext.c").write_text("int y;\n")
    assert builder.tree_digest(tmp_path) != first


@pytest.mark.parametrize(("wheel", "platform", "fits"), [
    ("ext-1.0-cp311-cp311-linux_x86_64.whl", AL2_X86, True),
    ("ext-1.0-cp311-cp311-manylinux_2_17_aarch64.whl", AL2_ARM, True),
    ("ext-1.0-cp39-abi3-linux_x86_64.whl", AL2_X86, True),
    ("ext-1.0-py3-none-any.whl", AL2_X86, True),
    ("ext-1.0-cp311-cp311-linux_aarch64.whl", AL2_X86, False),
    ("ext-1.0-cp312-cp312-linux_x86_64.whl", AL2_X86, False),
    ("ext-1.0-cp312-abi3-linux_x86_64.whl", AL2_X86, False),
    ("ext-1.0-cp311-cp311-macosx_11_0_x86_64.whl", AL2_X86, False),
])
def test_a_built_wheel_must_fit_the_target(wheel: str, platform: Platform, fits: bool,
                                           tmp_path: Path) -> None:
    source = dataclasses.replace(SDIST, name="ext")
    if fits:
        assert builder._check_wheel(tmp_path / wheel, source, platform, "img") == ("ext", "1.0")
        return
    with pytest.raises(DependencyError) as e:
        builder._check_wheel(tmp_path / wheel, source, platform, "img")
    assert e.value.message.startswith(f"building ext in img made {wheel} (")


def test_the_wrong_arch_is_explained_whole(tmp_path: Path) -> None:
    with pytest.raises(DependencyError) as e:
        builder._check_wheel(tmp_path / "ext-1.0-cp311-cp311-linux_aarch64.whl", SDIST, AL2_X86,
                             "img")
    assert str(e.value) == (
        "building ext in img made ext-1.0-cp311-cp311-linux_aarch64.whl "
        "(cp311-cp311-linux_aarch64), which cannot run on python3.11 x86_64 (Amazon Linux 2, "
        "glibc 2.26)\n  hint: the build image must run Python 3.11 on linux/amd64: check "
        "[targets.T] build_image / FPACK_BUILD_IMAGE")


def test_index_options_become_pip_variables() -> None:
    assert builder.pip_env(["--index-url", "https://a/simple", "--extra-index-url", "https://b",
                            "--extra-index-url", "https://c", "--find-links", "./w"]) == {
        "PIP_INDEX_URL": "https://a/simple", "PIP_EXTRA_INDEX_URL": "https://b https://c"}
    assert builder.pip_env([]) == {}


def test_a_wheelhouse_entry_counts_only_when_whole(tmp_path: Path) -> None:
    cache = Cache(tmp_path)
    assert builder.cached(cache, "k") is None
    with cache.new_entry(builder.KIND, "k") as entry:
        (entry / "ext-1.0-cp311-cp311-linux_x86_64.whl").write_bytes(b"PK")
        meta = {"name": "ext", "version": "1.0", "image": "img",
                "wheel": "ext-1.0-cp311-cp311-linux_x86_64.whl",
                "source": dataclasses.asdict(SDIST)}
        (entry / builder.META).write_text(json.dumps(meta))
    hit = builder.cached(cache, "k")
    assert hit is not None and (hit.name, hit.version, hit.image, hit.source) == (
        "ext", "1.0", "img", SDIST)
    hit.wheel.unlink()
    assert builder.cached(cache, "k") is None  # a health check, not trust in the marker


def test_no_python_in_the_image_is_a_container_error() -> None:
    result = RunResult(exit_code=97, stdout="", stderr="no Python 3.11 in this image\n")
    with pytest.raises(ContainerError) as e:
        builder._check_result(result, SDIST, AL2_X86, "some/image")
    assert str(e.value) == (
        "some/image: no Python 3.11 in this image (needed to build ext for python3.11 x86_64 "
        "(Amazon Linux 2, glibc 2.26))\n  hint: set [targets.T] build_image (or "
        "FPACK_BUILD_IMAGE) to an image with Python 3.11 and pip for linux/amd64")


def test_a_failed_build_shows_its_output_redacted_with_a_targeted_hint() -> None:
    stderr = ("Looking in indexes: https://user:pw@idx.example/simple\n"
              "SSLError(SSLCertVerificationError('[SSL: CERTIFICATE_VERIFY_FAILED]'))\n")
    with pytest.raises(DependencyError) as e:
        builder._check_result(RunResult(exit_code=1, stdout="", stderr=stderr), SDIST, AL2_X86,
                              "img")
    assert str(e.value) == (
        "building ext 1.0 from source for python3.11 x86_64 (Amazon Linux 2, glibc 2.26) in img "
        "failed (exit 1):\n    Looking in indexes: https://***@idx.example/simple\n"
        "    SSLError(SSLCertVerificationError('[SSL: CERTIFICATE_VERIFY_FAILED]'))\n"
        "  hint: the container does not trust the index's certificate: set PIP_CERT or "
        "SSL_CERT_FILE to the CA bundle your pip uses (fpack copies it into the container)")


@pytest.mark.parametrize(("output", "hint_starts"), [
    ("gcc -pthread -c ext.c\next.c:1:10: fatal error: ffi.h: No such file or directory\n"
     "error: command '/usr/bin/gcc' failed with exit code 1", "a C header the package includes"),
    ("error: command 'gcc' failed: No such file or directory", "the build image has no C compiler"),
    ("Error: pg_config executable not found.\npg_config is required to build psycopg2 from source.",
     "the build needs PostgreSQL's client library"),
    ("error: can't find Rust compiler", "the package builds Rust code"),
    ("something else broke", "pin a version of ext that publishes a wheel"),
])
def test_a_failed_source_build_gets_the_hint_its_output_calls_for(output: str,
                                                                  hint_starts: str) -> None:
    """A missing header is recognised before a missing compiler: 'gcc' is in every compile line."""
    with pytest.raises(DependencyError) as e:
        builder._check_result(RunResult(exit_code=1, stdout="", stderr=output), SDIST, AL2_X86,
                              "build-image")
    assert (e.value.hint or "").startswith(hint_starts)


# --- what crosses into and out of the build container -------------------------------------------


class FakeRun:
    """container.run as the builder calls it: records the call, "builds" into the outputs."""

    def __init__(self, wheels: tuple[str, ...]) -> None:
        self.wheels = wheels
        self.calls: list[dict[str, object]] = []

    def __call__(self, image: str, command: list[str], **kwargs: object) -> RunResult:
        self.calls.append(kwargs)
        outputs = kwargs["outputs"]
        assert isinstance(outputs, dict)
        for name in self.wheels:
            (outputs["/out"] / name).write_bytes(b"wheel")
        return RunResult(exit_code=0, stdout="", stderr="")


def test_sources_are_copied_in_and_the_wheel_copied_out_never_mounted(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    archive = tmp_path / "ext-1.0.tar.gz"
    archive.write_bytes(b"sdist")
    local = dataclasses.replace(SDIST, location=f"file://{archive}")
    run = FakeRun(("ext-1.0-cp311-cp311-linux_x86_64.whl",))
    monkeypatch.setattr(container, "run", run)
    out = tmp_path / "out"
    out.mkdir()
    wheel = builder._build_in_container(local, AL2_X86, "img", out, env={},
                                        settings=Settings())
    assert wheel == out / "ext-1.0-cp311-cp311-linux_x86_64.whl"
    (call,) = run.calls
    assert call["copy_in"] == {"/src/ext-1.0.tar.gz": archive}
    assert call["outputs"] == {"/out": out}
    assert "mounts" not in call and call["network"] == "host"
    # a directory is copied (without its build output) and that copy goes in
    tree = tmp_path / "lib"
    (tree / "build").mkdir(parents=True)
    (tree / "setup.py").write_text("")
    (tree / "build" / "old.o").write_text("")
    directory = Locked(name="ext", version="1.0", kind="directory", location=str(tree))
    argument, copied = builder._source_inputs(directory, tmp_path / "tmp")
    assert argument == "/src/tree" and list(copied) == ["/src/tree"]
    assert sorted(p.name for p in copied["/src/tree"].iterdir()) == ["setup.py"]


@pytest.mark.parametrize("wheels", [(), ("a-1-py3-none-any.whl", "b-1-py3-none-any.whl")])
def test_a_build_that_hands_back_anything_but_one_wheel_fails(
        wheels: tuple[str, ...], tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(container, "run", FakeRun(wheels))
    with pytest.raises(DependencyError, match=f"produced {len(wheels)} wheels .*expected exactly "
                       "one"):
        builder._build_in_container(SDIST, AL2_X86, "img", tmp_path, env={},
                                    settings=Settings())
