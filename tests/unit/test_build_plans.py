"""Artifact plans as data: a build plan and prepared dependencies in, every entry (name, mode,
bytes), splice, key and manifest out; and why `Outputs` would rebuild what was planned."""

from __future__ import annotations

import os
import zipfile
from collections.abc import Mapping
from pathlib import Path

import pytest

from fpack import config, executor, inputs
from fpack.archive import ZipWriter
from fpack.deps.engine import Dependencies, Package
from fpack.errors import BuildError
from fpack.layout import Bytecode, FileEntry, ImagePlan, Splice, ZipPlan
from fpack.manifest import AwsFunction, AwsLayer, DockerImage, GcpBundle, render
from fpack.outputs import Outputs
from fpack.plan import BuildPlan, plan
from fpack.platforms import Platform
from fpack.report import NullReporter
from fpack.sources import runtime_snapshot, snapshot
from fpack.targets import aws, docker, gcp

APP = "def hello(request):\n    return {}\n"
TOOL = "#!/bin/sh\necho hi\n"
RUNTIME = runtime_snapshot()
RUNTIME_NAMES = [f.path for f in RUNTIME]


def make_project(root: Path, targets: str) -> config.Project:
    """The project at `root` with `targets`; its sources are written the first time only, so a
    test edits them between plans."""
    if not (root / "app.py").exists():
        (root / "bin").mkdir(parents=True)
        (root / "app.py").write_text(APP)
        (root / "bin" / "tool.sh").write_text(TOOL)
        (root / "bin" / "tool.sh").chmod(0o755)
    (root / "fpack.toml").write_text(
        '[project]\nname = "photos"\ninclude = ["app.py", "bin/**"]\n'
        '[functions.hello]\nhandler = "app:hello"\n' + targets)
    return config.load(root / "fpack.toml")


def build_plan(root: Path, target: str, targets: str,
               environ: Mapping[str, str] | None = None) -> BuildPlan:
    project = make_project(root, targets)
    sources = snapshot(root, ["app.py", "bin/**"], ())
    return plan(project, target, sources, RUNTIME,  # type: ignore[arg-type]
                inputs=inputs.read({"FPACK_CACHE_DIR": str(root / "cache"), **(environ or {})}),
                out=root / "dist")


def deps_archive(root: Path) -> Path:
    """A dependency archive as the engine leaves it in the cache: the installed tree, no prefix."""
    path = root / "deps.zip"
    writer = ZipWriter(path, epoch=inputs.DEFAULT_EPOCH)
    writer.add_bytes("numpy/__init__.py", b"version = '1.26.4'\n")
    writer.add_bytes("numpy-1.26.4.dist-info/METADATA", b"Name: numpy\n")
    writer.write()
    return path


def dependencies(platform: Platform, archive: Path | None, numpy: str = "1.26.4",
                 key: str = "tree-1") -> Dependencies:
    packages = (Package(name="numpy", version=numpy, wheel=f"numpy-{numpy}-py3-none-any.whl",
                        sha256="a" * 64, size=1000),)
    return Dependencies(platform=platform, packages=packages, archive=archive,
                        unpacked_size=1000, key=key)


def names_and_modes(entries: tuple[FileEntry, ...]) -> list[tuple[str, int]]:
    return [(e.name, e.mode) for e in entries]


AWS_CODE = [("app.py", 0o644), ("bin/tool.sh", 0o755), *((n, 0o644) for n in RUNTIME_NAMES)]
LAYER = "[targets.aws]\nruntime = \"python3.12\"\nlayer = true\n"
SINGLE = "[targets.aws]\nruntime = \"python3.12\"\n"


# --- aws --------------------------------------------------------------------------------------


def test_aws_layer_mode_plans_the_layer_first_then_the_function_without_dependencies(
        tmp_path: Path) -> None:
    bp = build_plan(tmp_path, "aws", LAYER)
    archive = deps_archive(tmp_path)
    deps = dependencies(bp.platform, archive)
    layer, function = aws.plan(bp, deps)
    dist = tmp_path / "dist" / "aws"

    assert layer.path == dist / "photos-deps.zip"
    assert layer.files == ()
    assert layer.splices == (Splice(archive=archive, prefix="python/"),)  # /opt/python
    assert layer.bytecode is None and layer.limits == ()
    assert layer.warn_above == aws.DIRECT_UPLOAD_MAX
    assert layer.manifest == AwsLayer(
        function="photos-deps", target="aws", runtime="python3.12", arch="x86_64", handler=None,
        path=dist / "photos-deps.zip", sha256="", size=0, unpacked_size=1000,
        packages=deps.packages)

    assert function.path == dist / "hello.zip"
    assert names_and_modes(function.files) == [*AWS_CODE, ("fpack_entry.py", 0o644)]
    assert function.splices == ()  # the dependencies are in the layer, not in the function
    assert function.bytecode is None
    assert function.warn_above == aws.DIRECT_UPLOAD_MAX
    entry = next(f for f in function.files if f.name == "fpack_entry.py")
    assert entry.data == aws.entry_source(bp, bp.functions[0]).encode()
    assert next(f for f in function.files if f.name == "app.py").data == APP.encode()
    manifest = function.manifest
    assert isinstance(manifest, AwsFunction)
    assert manifest.layers == (layer.path,)
    assert manifest.handler == "fpack_entry.hello"
    assert manifest.unpacked_size == sum(len(f.data) for f in function.files)  # no deps
    assert "dependencies" not in function.inputs  # a new dependency set rebuilds only the layer


def test_aws_single_zip_splices_the_dependencies_at_the_root(tmp_path: Path) -> None:
    bp = build_plan(tmp_path, "aws", SINGLE)
    archive = deps_archive(tmp_path)
    deps = dependencies(bp.platform, archive)
    (function,) = aws.plan(bp, deps)
    assert names_and_modes(function.files) == [*AWS_CODE, ("fpack_entry.py", 0o644)]
    assert function.splices == (Splice(archive=archive, prefix=""),)
    assert isinstance(function.manifest, AwsFunction) and function.manifest.layers == ()
    assert function.manifest.unpacked_size == sum(len(f.data) for f in function.files) + 1000
    assert function.inputs["dependencies"] == "tree-1"
    assert function.inputs["package numpy"] == "1.26.4"
    assert function.inputs["SOURCE_DATE_EPOCH"] == "(unset)"
    assert function.inputs["setting compile"] == "false"


def test_aws_layer_mode_without_dependencies_plans_no_layer(tmp_path: Path) -> None:
    bp = build_plan(tmp_path, "aws", LAYER)
    (function,) = aws.plan(bp, dependencies(bp.platform, None))
    assert function.splices == ()
    assert isinstance(function.manifest, AwsFunction) and function.manifest.layers == ()


def test_aws_zips_are_written_as_planned(tmp_path: Path) -> None:
    bp = build_plan(tmp_path, "aws", LAYER)
    plans = aws.plan(bp, dependencies(bp.platform, deps_archive(tmp_path)))
    with Outputs(bp.out_dir) as outputs:
        built = executor.run(plans, outputs, NullReporter(), epoch=bp.inputs.epoch)
    assert [b.rebuilt for b in built] == [True, True]
    with zipfile.ZipFile(plans[0].path) as z:
        assert [n for n in z.namelist() if not n.endswith("/")] == [
            "python/numpy-1.26.4.dist-info/METADATA", "python/numpy/__init__.py"]
    with zipfile.ZipFile(plans[1].path) as z:
        infos = {i.filename: i.external_attr >> 16 & 0o777 for i in z.infolist()
                 if not i.filename.endswith("/")}
    assert infos == dict(names_and_modes(plans[1].files))
    assert built[1].manifest.sha256 and built[1].manifest.size == plans[1].path.stat().st_size
    with Outputs(bp.out_dir) as outputs:
        again = executor.run(plans, outputs, NullReporter(), epoch=bp.inputs.epoch)
    assert [b.rebuilt for b in again] == [False, False]
    assert [b.manifest for b in again] == [b.manifest for b in built]


def keys(root: Path, targets: str = LAYER, environ: Mapping[str, str] | None = None,
         deps_key: str = "tree-1") -> tuple[str, str]:
    """(layer key, function key) of a plan of the project at `root` as it is on disk now."""
    bp = build_plan(root, "aws", targets, environ)
    layer, function = aws.plan(bp, dependencies(bp.platform, root / "deps.zip", key=deps_key))
    return layer.key, function.key


def test_aws_keys_change_with_their_inputs_and_not_otherwise(tmp_path: Path) -> None:
    deps_archive(tmp_path)
    layer, function = keys(tmp_path)
    os.utime(tmp_path / "app.py", (1, 1))  # an mtime is not an input
    assert keys(tmp_path) == (layer, function)
    elsewhere = tmp_path / "elsewhere" / "photos"
    make_project(elsewhere, LAYER)
    deps_archive(elsewhere)
    assert keys(elsewhere) == (layer, function)  # nor is where the project lives

    (tmp_path / "app.py").write_text(APP + " ")  # one source byte: the function only
    assert keys(tmp_path)[0] == layer and keys(tmp_path)[1] != function
    (tmp_path / "app.py").write_text(APP)
    assert keys(tmp_path) == (layer, function)

    epoch = keys(tmp_path, environ={"SOURCE_DATE_EPOCH": "1700000000"})
    assert epoch[0] != layer and epoch[1] != function  # every timestamp in both zips changes

    compiled = keys(tmp_path, LAYER + "compile = true\n")
    assert compiled == (layer, compiled[1]) and compiled[1] != function

    other_deps = keys(tmp_path, deps_key="tree-2")
    assert other_deps == (other_deps[0], function) and other_deps[0] != layer


def test_aws_compile_plans_bytecode_by_the_targets_python(tmp_path: Path) -> None:
    bp = build_plan(tmp_path, "aws", SINGLE + 'compile = true\nbuild_image = "mine/{arch}"\n')
    (function,) = aws.plan(bp, dependencies(bp.platform, None))
    assert function.bytecode == Bytecode(platform=bp.platform, image="mine/x86_64")
    assert function.inputs["setting compile"] == "true"
    override = build_plan(tmp_path, "aws", SINGLE + "compile = true\n",
                          {"FPACK_BUILD_IMAGE": "override"})
    (function,) = aws.plan(override, dependencies(override.platform, None))
    assert function.bytecode == Bytecode(platform=override.platform, image="override")


def test_aws_compiled_function_zips_are_keyed_by_the_runtime(tmp_path: Path) -> None:
    """Bytecode is the target Python's: a runtime change must rebuild a compiled zip (its pycs),
    also in layer mode, where nothing else in the function zip depends on the runtime."""
    deps_archive(tmp_path)
    on_312 = keys(tmp_path, LAYER + "compile = true\n")
    on_311 = keys(tmp_path, LAYER.replace("python3.12", "python3.11") + "compile = true\n")
    assert on_311[1] != on_312[1]
    plain_312 = keys(tmp_path, LAYER)
    plain_311 = keys(tmp_path, LAYER.replace("python3.12", "python3.11"))
    assert plain_311[1] == plain_312[1]  # no bytecode: the same bytes on either runtime


def test_a_compile_that_writes_no_bytecode_is_an_error(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from fpack.deps import bytecode

    bp = build_plan(tmp_path, "aws", SINGLE + "compile = true\n")
    (function,) = aws.plan(bp, dependencies(bp.platform, None))
    assert function.bytecode is not None
    monkeypatch.setattr(bytecode, "pycs_for", lambda sources, platform, image: {})
    with pytest.raises(BuildError) as info:
        executor.compile_entries(function.files, function.bytecode)
    modules = sum(1 for f in function.files if f.name.endswith(".py"))
    assert str(info.value) == (
        f"compiling {modules} module(s) with Python 3.12 produced no bytecode\n"
        "  hint: run again with --debug; set compile = false to build without it")


# --- gcp --------------------------------------------------------------------------------------

GCP = '[targets.gcp]\nruntime = "python312"\n'
FRAMEWORK = Package(name="functions-framework", version="3.10.2",
                    wheel="functions_framework-3.10.2-py3-none-any.whl", sha256="f" * 64, size=10)


def gcp_deps(platform: Platform) -> Dependencies:
    numpy = dependencies(platform, None)
    return Dependencies(platform=platform, packages=(FRAMEWORK, *numpy.packages), archive=None,
                        unpacked_size=1010, key="gcp-tree")


def test_gcp_bundle_holds_code_main_and_requirements(tmp_path: Path) -> None:
    bp = build_plan(tmp_path, "gcp", GCP)
    deps = gcp_deps(bp.platform)
    (bundle,) = gcp.plan(bp, deps, ())
    assert names_and_modes(bundle.files) == [*AWS_CODE, ("fpack_entry.py", 0o644),
                                             ("requirements.txt", 0o644)]
    assert bundle.splices == () and bundle.bytecode is None and bundle.warn_above is None
    files = {f.name: f.data for f in bundle.files}
    assert files["fpack_entry.py"] == gcp.entry_source(bp.functions[0]).encode()
    assert files["requirements.txt"] == gcp.requirements_text(bp, deps.packages,
                                                             vendor=False).encode()
    assert [limit.measure for limit in bundle.limits] == ["zipped", "unzipped"]
    assert bundle.manifest == GcpBundle(
        function="hello", target="gcp", runtime="python312", arch="x86_64", handler="hello",
        path=tmp_path / "dist" / "gcp" / "hello.zip", sha256="", size=0,
        unpacked_size=sum(len(d) for d in files.values()), packages=deps.packages,
        signature_type="http", build_env={"GOOGLE_FUNCTION_SOURCE": "fpack_entry.py"})


def test_gcp_vendored_bundle_ships_the_wheels_and_tells_the_build(tmp_path: Path) -> None:
    bp = build_plan(tmp_path, "gcp", GCP + "vendor = true\n")
    deps = gcp_deps(bp.platform)
    shipped = (FileEntry(name=f"wheels/{FRAMEWORK.wheel}", data=b"ff"),
               FileEntry(name="wheels/numpy-1.26.4-py3-none-any.whl", data=b"np"))
    (bundle,) = gcp.plan(bp, deps, shipped)
    assert names_and_modes(bundle.files) == [
        *AWS_CODE, ("fpack_entry.py", 0o644), ("requirements.txt", 0o644),
        (f"wheels/{FRAMEWORK.wheel}", 0o644), ("wheels/numpy-1.26.4-py3-none-any.whl", 0o644)]
    assert isinstance(bundle.manifest, GcpBundle)
    assert bundle.manifest.build_env == {"GOOGLE_FUNCTION_SOURCE": "fpack_entry.py",
                                         "GOOGLE_VENDOR_PIP_DEPENDENCIES": "wheels"}
    assert bundle.inputs["setting vendor"] == "true"
    (unvendored,) = gcp.plan(build_plan(tmp_path, "gcp", GCP), deps, ())
    assert unvendored.key != bundle.key


def test_gcp_keys_change_with_a_source_byte_and_the_epoch_only(tmp_path: Path) -> None:
    def key(environ: Mapping[str, str] | None = None) -> str:
        bp = build_plan(tmp_path, "gcp", GCP, environ)
        return gcp.plan(bp, gcp_deps(bp.platform), ())[0].key

    first = key()
    assert key() == first
    assert key({"SOURCE_DATE_EPOCH": "1700000000"}) != first
    (tmp_path / "app.py").write_text(APP + " ")
    assert key() != first


# --- docker -----------------------------------------------------------------------------------

BASE = docker.Base(image="python:3.12-slim-bookworm", image_id="sha256:base", repository="photos")
DOCKER = '[targets.docker]\npython = "3.12"\n'


def test_docker_context_and_tags(tmp_path: Path) -> None:
    bp = build_plan(tmp_path, "docker", DOCKER)
    deps = dependencies(bp.platform, deps_archive(tmp_path))
    (image,) = docker.plan(bp, deps, BASE, {})
    assert isinstance(image, ImagePlan)
    assert names_and_modes(image.context) == [
        *((f"runtime/{n}", 0o644) for n in RUNTIME_NAMES),
        ("app/app.py", 0o644), ("app/bin/tool.sh", 0o755),
        ("Dockerfile", 0o644), (".dockerignore", 0o644)]
    spec = docker.image_spec(bp, bp.functions[0], BASE.image)
    assert next(f.data for f in image.context if f.name == "Dockerfile") == \
        spec.dockerfile.encode()
    assert image.deps_archive == deps.archive and image.client_archive is None
    assert image.base_image == BASE.image and image.bytecode is None
    assert len(image.key) == 64
    tags = (f"photos/hello:{image.key[:12]}", "photos/hello:latest")
    assert image.manifest == DockerImage(
        function="hello", target="docker", runtime="3.12", arch="x86_64", handler="app:hello",
        sha256="", size=0, unpacked_size=image.manifest.unpacked_size, packages=deps.packages,
        manifest_path=tmp_path / "dist" / "docker" / "hello.manifest.json", image=tags[0],
        image_id="", tags=tags, base_image=BASE.image, flavor="http")
    assert image.path == tmp_path / "dist" / "docker" / "hello.manifest.json"

    other_base = docker.plan(bp, deps, docker.Base(image=BASE.image, image_id="sha256:new",
                                                   repository="photos"), {})[0]
    assert other_base.key != image.key
    assert docker.plan(bp, deps, BASE, {})[0].key == image.key


def test_docker_lambda_flavor_adds_the_entry_module_and_its_runtime_client(
        tmp_path: Path) -> None:
    bp = build_plan(tmp_path, "docker", DOCKER + 'flavor = "lambda"\nrepository = "ghcr.io/me"\n')
    client = Dependencies(platform=bp.platform, packages=(Package(
        name="awslambdaric", version="4.2.2", wheel="awslambdaric-4.2.2.whl", sha256="c" * 64,
        size=5),), archive=tmp_path / "client.zip", unpacked_size=5, key="client")
    base = docker.Base(image="public.ecr.aws/lambda/python:3.12", image_id="sha256:l",
                       repository=docker.repository(bp))
    (image,) = docker.plan(bp, dependencies(bp.platform, None), base, {"lambda": client})
    names = [f.name for f in image.context]
    assert names[-4:] == ["app/bin/tool.sh", "app/fpack_entry.py", "Dockerfile", ".dockerignore"]
    entry = next(f.data for f in image.context if f.name == "app/fpack_entry.py")
    assert entry == aws.entry_source(bp, bp.functions[0]).encode()
    assert image.client_archive == tmp_path / "client.zip"
    assert image.manifest.tags == (f"ghcr.io/me/hello:{image.key[:12]}", "ghcr.io/me/hello:latest")
    assert image.manifest.handler == "fpack_entry.hello"
    assert [p.name for p in image.manifest.packages] == ["numpy", "awslambdaric"]


def test_an_image_context_is_laid_out_as_planned(tmp_path: Path) -> None:
    bp = build_plan(tmp_path, "docker", DOCKER)
    (image,) = docker.plan(bp, dependencies(bp.platform, deps_archive(tmp_path)), BASE, {})
    context = tmp_path / "context"
    executor.lay_out(image, context, epoch=1700000000)
    files = sorted(p.relative_to(context).as_posix() for p in context.rglob("*") if p.is_file())
    assert files == sorted([f.name for f in image.context] + [
        "deps/numpy-1.26.4.dist-info/METADATA", "deps/numpy/__init__.py"])
    assert (context / "app" / "bin" / "tool.sh").stat().st_mode & 0o777 == 0o755
    assert (context / "app" / "app.py").read_text() == APP
    assert {p.stat().st_mtime for p in context.rglob("*")} == {1700000000}


# --- why a plan would be rebuilt --------------------------------------------------------------


def reasons(root: Path, p: ZipPlan) -> tuple[str, ...]:
    return Outputs(root / "dist" / "aws").reasons(p.path, p.key, p.inputs)


def function_plan(root: Path, targets: str = SINGLE, numpy: str = "1.26.4",
                  environ: Mapping[str, str] | None = None) -> ZipPlan:
    bp = build_plan(root, "aws", targets, environ)
    key = "tree-1" if numpy == "1.26.4" else f"tree-{numpy}"
    (function,) = aws.plan(bp, dependencies(bp.platform, root / "deps.zip", numpy, key))
    return function


@pytest.fixture
def built(tmp_path: Path) -> ZipPlan:
    """hello.zip of a single-zip aws build, written and committed."""
    deps_archive(tmp_path)
    p = function_plan(tmp_path)
    assert reasons(tmp_path, p) == ("not built yet",)
    with Outputs(tmp_path / "dist" / "aws") as outputs:
        executor.run((p,), outputs, NullReporter(), epoch=inputs.DEFAULT_EPOCH)
    return p


def test_an_unchanged_plan_is_up_to_date(tmp_path: Path, built: ZipPlan) -> None:
    assert reasons(tmp_path, function_plan(tmp_path)) == ()


def test_a_changed_file_is_named(tmp_path: Path, built: ZipPlan) -> None:
    (tmp_path / "app.py").write_text(APP + " ")
    assert reasons(tmp_path, function_plan(tmp_path)) == ("app.py changed",)


def test_a_package_version_change_is_named(tmp_path: Path, built: ZipPlan) -> None:
    assert reasons(tmp_path, function_plan(tmp_path, numpy="2.0.0")) == (
        "package numpy 1.26.4 -> 2.0.0",)


def test_a_setting_change_is_named(tmp_path: Path, built: ZipPlan) -> None:
    assert reasons(tmp_path, function_plan(tmp_path, SINGLE + "compile = true\n")) == (
        "setting compile false -> true",)
    assert reasons(tmp_path, function_plan(tmp_path, environ={
        "SOURCE_DATE_EPOCH": "1700000000"})) == ("SOURCE_DATE_EPOCH (unset) -> 1700000000",)


def test_a_touched_or_missing_artifact_is_named(tmp_path: Path, built: ZipPlan) -> None:
    built.path.write_bytes(built.path.read_bytes() + b"x")
    assert reasons(tmp_path, built) == ("hello.zip was modified since it was built",)
    built.path.unlink()
    assert reasons(tmp_path, built) == ("hello.zip is missing",)


def test_an_image_is_remembered_by_its_key(tmp_path: Path) -> None:
    bp = build_plan(tmp_path, "docker", DOCKER)
    (image,) = docker.plan(bp, dependencies(bp.platform, None), BASE, {})
    with Outputs(bp.out_dir) as outputs:
        assert outputs.reasons(image.path, image.key, image.inputs) == ("not built yet",)
        outputs.record(image.path, image.key, image.inputs)  # as the executor does, then
        outputs.text(image.path, render(image.manifest, tmp_path))  # build writes the manifest
    assert Outputs(bp.out_dir).reasons(image.path, image.key, image.inputs) == ()
    (tmp_path / "app.py").write_text(APP + " ")
    bp = build_plan(tmp_path, "docker", DOCKER)
    (edited,) = docker.plan(bp, dependencies(bp.platform, None), BASE, {})
    assert Outputs(bp.out_dir).reasons(edited.path, edited.key, edited.inputs) == (
        "app/app.py changed",)
