"""The docker target's decisions, as data: Dockerfiles, commands, tags, what the hash covers."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

import pytest

from fpack import config, container, inputs
from fpack.errors import BuildError, ConfigError
from fpack.manifest import DockerImage, from_json, render
from fpack.plan import BuildPlan, plan
from fpack.sources import runtime_snapshot, snapshot
from fpack.targets import docker

APP = (
    "import fpack\n\n\ndef hello(request):\n    return {}\n\n\n"
    "def resize(event):\n    pass\n\n\ndef legacy(event, context):\n    return 1\n"
)


def build_plan(tmp_path: Path, docker_table: str = "", extra: str = "") -> BuildPlan:
    (tmp_path / "app.py").write_text(APP)
    (tmp_path / "fpack.toml").write_text(
        '[project]\nname = "Photos"\npython = "3.11"\n'
        '[functions.hello]\nhandler = "app:hello"\n'
        '[functions.resize]\nhandler = "app:resize"\ntrigger = "storage"\n'
        'env = { OUT = "/tmp/x y" }\n'
        f"{extra}[targets.docker]\n{docker_table}"
    )
    project = config.load(tmp_path / "fpack.toml")
    return plan(project, "docker", snapshot(tmp_path, ["*.py"], ()), runtime_snapshot(),
                inputs=inputs.read(), out=tmp_path / "dist")


def fn_plan(bp: BuildPlan, name: str):
    return next(fp for fp in bp.functions if fp.function.name == name)


def instructions(dockerfile: str) -> list[str]:
    lines = [ln for ln in dockerfile.splitlines() if ln and not ln.startswith("#")]
    return [ln.split()[0] for ln in lines if not ln.startswith(" ")]


def test_http_image_layers_run_from_dependencies_to_code(tmp_path: Path) -> None:
    bp = build_plan(tmp_path, 'base_image = "fpack-lab/python:3.11"\n')
    spec = docker.image_spec(bp, fn_plan(bp, "hello"), docker.base_image(bp))
    lines = spec.dockerfile.splitlines()
    copies = [ln for ln in lines if ln.startswith("COPY")]
    assert copies == ["COPY deps/ /opt/fpack/deps/", "COPY runtime/ /opt/fpack/runtime/",
                      "COPY app/ /app/"]
    assert lines[lines.index("COPY app/ /app/") + 1:].count("COPY app/ /app/") == 0
    assert instructions(spec.dockerfile)[0] == "FROM"
    assert "FROM fpack-lab/python:3.11" in lines
    assert "USER 65532:65532" in lines  # numeric, so runAsNonRoot can check it
    assert "ENTRYPOINT [\"python3\", \"-m\", \"fpack.runtime.server\"]" in lines
    assert "CMD [\"app:hello\", \"--trigger\", \"http\", \"--style\", \"portable\"]" in lines
    assert "RUN" not in instructions(spec.dockerfile)  # no network, no emulation for arm64
    assert spec.entry is None


def test_function_env_and_labels_come_after_the_code_layer(tmp_path: Path) -> None:
    bp = build_plan(tmp_path)
    spec = docker.image_spec(bp, fn_plan(bp, "resize"), docker.base_image(bp))
    lines = spec.dockerfile.splitlines()
    assert lines.index('ENV OUT="/tmp/x y"') > lines.index("COPY app/ /app/")
    assert 'LABEL dev.fpack.trigger="storage"' in lines
    assert spec.cmd == ("app:resize", "--trigger", "storage", "--style", "portable")


def test_lambda_image_runs_awslambdaric_with_the_handler_setting(tmp_path: Path) -> None:
    bp = build_plan(tmp_path, 'flavor = "lambda"\n')
    fp = fn_plan(bp, "hello")
    spec = docker.image_spec(bp, fp, docker.base_image(bp))
    assert docker.base_image(bp) == "public.ecr.aws/lambda/python:3.11"
    assert fp.handler_setting == "fpack_entry.hello"
    assert spec.entrypoint == ("python3", "-m", "awslambdaric")
    assert spec.cmd == ("fpack_entry.hello",)
    assert "COPY app/ /var/task/" in spec.dockerfile
    assert "ENV PYTHONPATH=/var/task:/opt/fpack/runtime:/opt/fpack/deps" in spec.dockerfile
    assert spec.entry is not None and "lambda_handler(_handler" in spec.entry
    assert docker.client_kind(bp, fp.function) == "lambda"


def test_default_bases_are_the_real_images(tmp_path: Path) -> None:
    bp = build_plan(tmp_path)
    assert docker.base_image(bp) == "python:3.11-slim-bookworm"
    assert docker.client_kind(bp, fn_plan(bp, "hello").function) is None


def test_functions_framework_style_runs_under_functions_framework(tmp_path: Path) -> None:
    extra = '[functions.ff]\nhandler = "app:hello"\nstyle = "functions-framework"\n'
    bp = build_plan(tmp_path, extra=extra)
    fp = fn_plan(bp, "ff")
    assert docker.command(bp, fp) == (
        ("python3", "-m", "functions_framework"),
        ("--target", "hello", "--source", "/app/app.py", "--signature-type", "http"))
    assert docker.client_kind(bp, fp.function) == "functions-framework"


def test_repository_defaults_to_the_project_name_in_lower_case(tmp_path: Path) -> None:
    assert docker.repository(build_plan(tmp_path)) == "photos"
    bp = build_plan(tmp_path, 'repository = "localhost:5000/team/photos"\n')
    assert docker.repository(bp) == "localhost:5000/team/photos"


def test_a_repository_docker_cannot_tag_is_a_config_error(tmp_path: Path) -> None:
    bp = build_plan(tmp_path, 'repository = "ghcr.io/Me/photos"\n')
    with pytest.raises(ConfigError) as info:
        docker.repository(bp)
    assert str(info.value) == (
        f'{tmp_path / "fpack.toml"}: [targets.docker] repository = "ghcr.io/Me/photos": expected '
        'an image repository in lower case, e.g. "ghcr.io/me/photos" or "localhost:5000/photos"')


def test_the_tag_changes_with_code_dependencies_and_base_but_not_otherwise(tmp_path: Path) -> None:
    bp = build_plan(tmp_path)
    fp = fn_plan(bp, "hello")
    spec = docker.image_spec(bp, fp, "base")
    code = (*bp.sources, *bp.runtime)

    def tag(**changes: str) -> str:
        args = {"deps_key": "d", "client_key": "", "base_id": "sha256:b", "epoch_setting": "",
                **changes}
        return docker.content_hash(spec, code=code, platform=bp.platform, **args)

    assert tag() == tag()
    assert len({tag(), tag(deps_key="e"), tag(base_id="sha256:c"), tag(client_key="x"),
                tag(epoch_setting="1700000000")}) == 5
    (tmp_path / "app.py").write_text(APP + "\n# edited\n")
    edited = (*snapshot(tmp_path, ["*.py"], ()), *bp.runtime)
    assert docker.content_hash(spec, code=edited, deps_key="d", client_key="",
                               base_id="sha256:b", platform=bp.platform,
                               epoch_setting="") != tag()


def test_an_image_manifest_names_the_image_instead_of_a_path(tmp_path: Path) -> None:
    image = DockerImage(
        function="hello", target="docker", runtime="3.11", arch="arm64",
        handler="app:hello", manifest_path=tmp_path / "dist/docker/hello.manifest.json",
        sha256="ab", size=10, unpacked_size=5, image="photos/hello:0123456789ab",
        image_id="sha256:ab", base_image="fpack-lab/python:3.11-arm64",
        tags=("photos/hello:0123456789ab", "photos/hello:latest"), flavor="http")
    manifest = json.loads(render(image, tmp_path))
    assert "path" not in manifest
    assert manifest["kind"] == "image"
    assert manifest["image"] == "photos/hello:0123456789ab"
    assert manifest["image_id"] == "sha256:ab"
    assert manifest["arch"] == "arm64"
    assert manifest["base_image"] == "fpack-lab/python:3.11-arm64"
    assert manifest["tags"] == ["photos/hello:0123456789ab", "photos/hello:latest"]
    assert image.path is None
    assert image.manifest_path == tmp_path / "dist/docker/hello.manifest.json"
    assert from_json(manifest, tmp_path, image.manifest_path) == image  # read back as written


def test_an_image_of_another_architecture_is_refused(tmp_path: Path) -> None:
    bp = build_plan(tmp_path, 'arch = "arm64"\n')
    built = container.BuiltImage(id="sha256:ab", size=1, architecture="amd64", layers=())
    with pytest.raises(BuildError) as info:
        docker.check_arch(built, bp.platform, "python:3.11-slim-bookworm")
    assert str(info.value) == (
        f"the image built from python:3.11-slim-bookworm is amd64, expected arm64 for "
        f"{bp.platform.label}\n"
        "  hint: point [targets.docker] base_image at an image for linux/arm64, or pull the base "
        "image for that platform")
    docker.check_arch(replace(built, architecture="arm64"), bp.platform, "base")  # fits: no error
