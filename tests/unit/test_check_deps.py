"""FP3xx/FP4xx from the cache: keys the engine uses, wheels per platform, size estimates."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from fpack import config
from fpack.checks import deps, resolutions
from fpack.deps import engine, framework, uv
from fpack.deps import settings as dep_settings
from fpack.deps import spec as dep_spec
from fpack.deps.cache import Cache
from fpack.errors import DependencyError
from fpack.inputs import BuildInputs, read
from fpack.plan import platform_for
from fpack.report import NullReporter

MB = 1_000_000


def pylock(*packages: tuple[str, str, int]) -> str:
    """A pylock.toml as uv writes it, one wheel per (name, version, wheel size)."""
    out = ['lock-version = "1.0"', 'created-by = "uv"', 'requires-python = ">=3.12"', ""]
    for name, version, size in packages:
        wheel = f"{name.replace('-', '_')}-{version}-py3-none-any.whl"
        out += ["[[packages]]", f'name = "{name}"', f'version = "{version}"',
                f'wheels = [{{ url = "https://files.example/{wheel}", size = {size}, '
                f'hashes = {{ sha256 = "{"0" * 64}" }} }}]', ""]
    return "\n".join(out)


@pytest.fixture
def inputs(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> BuildInputs:
    """The build inputs of an environment that sets only the cache: the host's FPACK_BUILD_IMAGE
    or index settings cannot reach the check."""
    monkeypatch.setattr(uv, "version", lambda: "uv 0.0.0-test")
    monkeypatch.setattr(uv, "binary", lambda: str(tmp_path / "uv"))
    (tmp_path / "uv").write_text("a uv stand-in: only its stat() is read")
    return read({"FPACK_CACHE_DIR": str(tmp_path / "cache")})


def project(tmp_path: Path, targets: str = "[targets.aws]\n",
            requirements: str = "numpy>=2\n# a comment\nmkl\n") -> config.Project:
    root = tmp_path / "proj"
    root.mkdir(exist_ok=True)
    (root / "app.py").write_text("def hello(request):\n    return {}\n")
    (root / "requirements.txt").write_text(requirements)
    (root / "fpack.toml").write_text(
        '[project]\nname = "demo"\n\n[functions.hello]\nhandler = "app:hello"\n\n' + targets)
    return config.load(root / "fpack.toml")


def seed(project: config.Project, target: str, inputs: BuildInputs, text: str) -> str:
    """Put a resolution where `fpack build` would have cached it; returns its key."""
    cache = inputs.cache
    platform = platform_for(project, target)  # type: ignore[arg-type]
    spec = dep_spec.read(project.dependencies, project.config_path)
    if target == "gcp":  # the build resolves the project's spec with functions-framework
        spec = framework.with_framework(spec, project.config_path, cache)
    image = resolutions.build_image(platform, None, inputs.build_image)
    key = resolutions.resolve_key(spec, platform, image, inputs)
    cache.write_file("resolve", f"pylock.{key}", ".local.json", b"[]")  # no local sources
    cache.write_file("resolve", f"pylock.{key}", ".toml", text.encode())
    return key


def install(project: config.Project, target: str, cache: Cache, text: str,
            sizes: dict[str, int]) -> None:
    """Put an installed tree and its meta.json where a build would have left them."""
    platform = platform_for(project, target)  # type: ignore[arg-type]
    key = resolutions.tree_key(text, platform, compile_bytecode=False)
    with cache.new_tree(key) as tree:
        (tree / "module.py").write_text("x = 1\n")
    packages = [{"name": n, "version": "1", "wheel": f"{n}.whl", "sha256": "", "size": s,
                 "source": "index"} for n, s in sizes.items()]
    meta = {"packages": packages, "unpacked_size": sum(sizes.values())}
    cache.write_file("trees", key, ".json", json.dumps(meta).encode())


def run(project: config.Project, inputs: BuildInputs, *targets: str) -> list[str]:
    spec = dep_spec.read(project.dependencies, project.config_path)
    problems = deps.check(project, spec, (), (), targets or project.targets,  # type: ignore[arg-type]
                          inputs=inputs, reporter=NullReporter())
    return [p.render(project.root) for p in problems]


def test_the_keys_are_the_engines(tmp_path: Path, inputs: BuildInputs,
                                  monkeypatch: pytest.MonkeyPatch) -> None:
    """The engine finds what the check reads under the check's keys: it resolves and installs
    nothing (both would fail here), and reports the packages of the seeded tree."""
    proj = project(tmp_path)
    text = pylock(("numpy", "2.1.0", 15 * MB))
    seed(proj, "aws", inputs, text)
    install(proj, "aws", inputs.cache, text, {"numpy": 52 * MB})

    def refuse(*args: object, **kwargs: object) -> None:
        raise AssertionError("the engine missed the seeded cache entry")

    monkeypatch.setattr(engine.resolution, "resolve", refuse)
    monkeypatch.setattr(uv, "install", refuse)
    spec = dep_spec.read(proj.dependencies, proj.config_path)
    platform = platform_for(proj, "aws")
    got = engine.prepare(spec, platform, inputs, NullReporter(),
                         settings=dep_settings.settings_for(proj, "aws"))
    assert [(p.name, p.size) for p in got.packages] == [("numpy", 52 * MB)]
    image = resolutions.build_image(platform, None, inputs.build_image)
    found = resolutions.resolution(spec, platform, image=image, compile_bytecode=False,
                                   inputs=inputs, reporter=NullReporter())
    assert isinstance(found, resolutions.Resolution)
    assert found.installed == {"numpy": 52 * MB} and found.installed_total == 52 * MB


def test_the_limits_are_the_builders() -> None:
    from fpack.targets import aws, gcp

    assert deps.LAMBDA_UNZIPPED_MAX == aws.UNZIPPED_MAX
    assert (deps.GCF_ZIPPED_MAX, deps.GCF_UNZIPPED_MAX) == (gcp.SOURCE_ZIPPED_MAX,
                                                            gcp.SOURCE_UNZIPPED_MAX)


def test_a_fitting_resolution_has_no_problem(tmp_path: Path, inputs: BuildInputs) -> None:
    proj = project(tmp_path)
    seed(proj, "aws", inputs, pylock(("numpy", "2.1.0", 15 * MB), ("mkl", "2025.1", 100 * MB)))
    assert run(proj, inputs) == []


def test_over_the_lambda_limit_from_wheel_sizes_is_a_lower_bound(tmp_path: Path,
                                                                inputs: BuildInputs) -> None:
    proj = project(tmp_path)
    seed(proj, "aws", inputs, pylock(("numpy", "2.1.0", 15 * MB), ("mkl", "2025.1", 250 * MB),
                                    ("tbb", "2022.1", 7 * MB), ("umf", "1.0", 1 * MB)))
    assert run(proj, inputs) == [
        "requirements.txt:3: FP401 aws: the artifacts would be at least 273.0 MB unzipped; AWS "
        "Lambda (a function and its layers) allows at most 262.1 MB (262144000 bytes) unzipped. "
        "Largest packages: mkl 250.0 MB, numpy 15.0 MB, tbb 7.0 MB"
    ]


def test_an_installed_tree_gives_exact_sizes(tmp_path: Path, inputs: BuildInputs) -> None:
    proj = project(tmp_path)
    text = pylock(("numpy", "2.1.0", 15 * MB))  # small wheel, large once unpacked
    seed(proj, "aws", inputs, text)
    install(proj, "aws", inputs.cache, text, {"numpy": 270 * MB})
    assert run(proj, inputs) == [
        "requirements.txt:1: FP401 aws: the artifacts would be 270.0 MB unzipped; AWS Lambda (a "
        "function and its layers) allows at most 262.1 MB (262144000 bytes) unzipped. Largest "
        "packages: numpy 270.0 MB"
    ]


def test_the_runtimes_sdk_is_left_out_of_the_estimate_as_a_lower_bound(
        tmp_path: Path, inputs: BuildInputs) -> None:
    """sdk = "runtime": boto3 and its kin stay out unless a requirement refuses the runtime's
    version, which only the build decides, so what is left is a bound, never the measure."""
    text = pylock(("numpy", "2.1.0", 15 * MB), ("boto3", "1.40", 1 * MB),
                  ("botocore", "1.40", 14 * MB))
    sizes = {"numpy": 240 * MB, "boto3": 1 * MB, "botocore": 24 * MB}
    bundled = project(tmp_path)
    seed(bundled, "aws", inputs, text)
    install(bundled, "aws", inputs.cache, text, sizes)
    assert len(run(bundled, inputs)) == 1  # 265 MB with the SDK
    runtime = project(tmp_path, '[targets.aws]\nsdk = "runtime"\n')
    seed(runtime, "aws", inputs, text)
    install(runtime, "aws", inputs.cache, text, sizes)
    assert run(runtime, inputs) == []  # 240 MB without it
    install(runtime, "aws", inputs.cache, text, {**sizes, "numpy": 270 * MB})
    assert run(runtime, inputs) == [
        "requirements.txt:1: FP401 aws: the artifacts would be at least 270.0 MB unzipped; AWS "
        "Lambda (a function and its layers) allows at most 262.1 MB (262144000 bytes) unzipped. "
        "Largest packages: numpy 270.0 MB"
    ]


def test_gcp_counts_wheels_only_when_vendored(tmp_path: Path, inputs: BuildInputs) -> None:
    text = pylock(("mkl", "2025.1", 221 * MB))
    plain = project(tmp_path, "[targets.gcp]\n")
    seed(plain, "gcp", inputs, text)
    assert run(plain, inputs) == []  # Google's build installs them: the bundle is code only
    vendored = project(tmp_path, "[targets.gcp]\nvendor = true\n")
    seed(vendored, "gcp", inputs, text)
    assert run(vendored, inputs) == [
        "requirements.txt:3: FP402 gcp: the artifacts would be 221.0 MB zipped; Cloud Functions "
        "(a source bundle) allows at most 104.9 MB (104857600 bytes) zipped. Largest packages: "
        "mkl 221.0 MB"
    ]


def test_docker_images_have_a_limit_only_for_lambda(tmp_path: Path, inputs: BuildInputs) -> None:
    text = pylock(("model", "1.0", 11_000 * MB))
    for flavor, expected in (("http", 0), ("lambda", 1)):
        proj = project(tmp_path, f'[targets.docker]\nflavor = "{flavor}"\n', "model\n")
        seed(proj, "docker", inputs, text)
        assert len(run(proj, inputs)) == expected
    assert run(proj, inputs)[0].startswith(
        "requirements.txt:1: FP401 docker: the artifacts would be at least 11.0 GB unzipped; AWS "
        "Lambda (a container image) allows at most 10.7 GB (10737418240 bytes) unzipped.")


UV_NO_WHEEL = (
    "resolving dependencies for python3.12 arm64 failed:\n    error: No solution found when "
    "resolving dependencies\n      cause: Because all versions of mkl have no wheels with a "
    "matching platform tag (e.g., `manylinux_2_34_aarch64`) and you require mkl, we can conclude "
    "that your requirements are unsatisfiable."
)


def test_no_wheel_for_the_arch_points_at_the_requirement(tmp_path: Path, inputs: BuildInputs,
                                                         monkeypatch: pytest.MonkeyPatch) -> None:
    calls: list[str] = []

    def resolve(spec: object, platform: object, **kwargs: object) -> None:
        calls.append(str(platform))
        raise DependencyError(UV_NO_WHEEL)

    monkeypatch.setattr(uv, "resolve", resolve)
    proj = project(tmp_path, '[targets.aws]\narch = "arm64"\n')
    assert run(proj, inputs) == [
        "requirements.txt:3: FP301 mkl has no wheel for aws python3.12 arm64 (Amazon Linux 2023, "
        "glibc 2.34); pin a version that publishes one, or build it in a container: "
        '[targets.aws] build_image = "IMAGE"'
    ]
    built = project(tmp_path, '[targets.aws]\narch = "arm64"\nbuild_image = "lab/build:3.12"\n')
    assert run(built, inputs) == []  # a container build is configured for what has no wheel


def test_a_build_image_in_the_inputs_is_a_container_build(tmp_path: Path, inputs: BuildInputs,
                                                         monkeypatch: pytest.MonkeyPatch) -> None:
    """FPACK_BUILD_IMAGE counts as read into the inputs record, not from the check's process."""
    def resolve(*args: object, **kwargs: object) -> None:
        raise DependencyError(UV_NO_WHEEL)

    monkeypatch.setattr(uv, "resolve", resolve)
    monkeypatch.setenv("FPACK_BUILD_IMAGE", "lab/build:3.12")  # the process's: not read here
    proj = project(tmp_path, '[targets.aws]\narch = "arm64"\n')
    assert [p.split(" ")[1] for p in run(proj, inputs)] == ["FP301"]
    overridden = read({**inputs.environ, "FPACK_BUILD_IMAGE": "lab/build:3.12"})
    assert run(proj, overridden) == []


def test_the_index_settings_are_part_of_the_resolution_key(tmp_path: Path, inputs: BuildInputs,
                                                           monkeypatch: pytest.MonkeyPatch) -> None:
    """A resolution cached against one index is not what a check against another reads."""
    calls: list[dict[str, object]] = []

    def resolve(spec: object, platform: object, **kwargs: object) -> uv.Resolution:
        calls.append(kwargs)
        return uv.Resolution(text=pylock(("numpy", "2.1.0", MB)), packages=())

    monkeypatch.setattr(uv, "resolve", resolve)
    proj = project(tmp_path, requirements="numpy\n")
    seed(proj, "aws", inputs, pylock(("numpy", "2.1.0", MB)))
    assert run(proj, inputs) == [] and calls == []  # the seeded entry answers
    private = read({**inputs.environ, "UV_INDEX_URL": "https://pypi.internal/simple"})
    assert run(proj, private) == [] and len(calls) == 1
    assert calls[0]["index"] == private.index  # the check's own resolution asks that index


def test_other_resolution_failures_are_fp302(tmp_path: Path, inputs: BuildInputs,
                                             monkeypatch: pytest.MonkeyPatch) -> None:
    def resolve(*args: object, **kwargs: object) -> None:
        raise DependencyError("requirements.txt: nope was not found on the package index",
                              hint="check the name")

    monkeypatch.setattr(uv, "resolve", resolve)
    proj = project(tmp_path, requirements="nope\n")
    assert run(proj, inputs) == [
        "requirements.txt:1: FP302 cannot resolve the dependencies for python3.12 x86_64 (Amazon "
        "Linux 2023, glibc 2.34): requirements.txt: nope was not found on the package index "
        "hint: check the name"
    ]


def test_the_index_is_asked_once_per_spec_change(tmp_path: Path, inputs: BuildInputs,
                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    calls: list[str] = []

    def resolve(spec: dep_spec.DependencySpec, platform: object, **kwargs: object) -> uv.Resolution:
        calls.append(spec.key())
        return uv.Resolution(text=pylock(("numpy", "2.1.0", MB)), packages=())

    monkeypatch.setattr(uv, "resolve", resolve)
    proj = project(tmp_path, requirements="numpy\n")
    assert run(proj, inputs) == [] and run(proj, inputs) == []
    assert len(calls) == 1
    (proj.root / "requirements.txt").write_text("numpy>=2\n")
    assert run(proj, inputs) == [] and len(calls) == 2
    # The check keeps its own copy: the engine's entries stay the engine's (hash-checked) own.
    assert not list((inputs.cache.root / "resolve").glob("pylock.*"))


def test_uv_version_is_remembered_per_binary(tmp_path: Path, inputs: BuildInputs,
                                             monkeypatch: pytest.MonkeyPatch) -> None:
    calls: list[int] = []
    monkeypatch.setattr(uv, "version", lambda: calls.append(1) or "uv 9.9.9")
    cache = inputs.cache
    assert resolutions.uv_version(cache) == resolutions.uv_version(cache) == "uv 9.9.9"
    assert calls == [1]
    (tmp_path / "uv").write_text("an upgraded uv, a different size")
    assert resolutions.uv_version(cache) == "uv 9.9.9" and calls == [1, 1]


def test_requirement_line_finds_normalised_names(tmp_path: Path) -> None:
    proj = project(tmp_path, requirements="Pillow>=10\npydantic_core==2.0 ; python_version>'3'\n")
    spec = dep_spec.read(proj.dependencies, proj.config_path)
    root = proj.root
    assert deps.requirement_line(spec, "pillow") == (root / "requirements.txt", 1)
    assert deps.requirement_line(spec, "pydantic-core") == (root / "requirements.txt", 2)
    assert deps.requirement_line(spec, "pydantic") == (root / "requirements.txt", 1)
