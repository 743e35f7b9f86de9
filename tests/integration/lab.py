"""The Docker lab, as the integration tests use it: lab images, building with the real CLI, and
running an artifact the way its target runs it.

`run_lambda` lays a function zip and its layers out as Lambda does (/var/task and /opt, both
read-only), then calls the handler named in the manifest as an unprivileged user with the network
off, one real event sample at a time: a wrong file mode, a missing module or a wheel for the wrong
platform fails here exactly as it would on Lambda.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import docker
from docker.errors import ContainerError

from tests.events import load as load_event

ROOT = Path(__file__).resolve().parents[2]
IMAGES = {
    (3, 9): "fpack-lab/python:3.9",
    (3, 11): "fpack-lab/python:3.11",
    (3, 13): "fpack-lab/python:3.13",
}
ARM64_IMAGES = {(3, 11): "fpack-lab/python:3.11-arm64"}
# The runtime images plus a C compiler and Python headers: where source-only packages are built.
BUILD_IMAGES = {"3.11": "fpack-lab/build:3.11", "3.11-arm64": "fpack-lab/build:3.11-arm64",
                "3.13": "fpack-lab/build:3.13"}
LAMBDA_UID = "993:990"  # Lambda runs functions as sbx_user1051, not root

# Runs inside the container, on the target's Python: mimics Lambda's bootstrap for one handler.
RUNNER = textwrap.dedent('''
    import importlib, json, os, sys
    sys.path[:0] = ["/var/task", "/opt/python"]
    class Context:
        function_name = "fpack-test"
        aws_request_id = "c6af9ac6-7b61-11e6-9a41-93e812345678"
        memory_limit_in_mb = 256
        invoked_function_arn = "arn:aws:lambda:us-east-1:123456789012:function:fpack-test"
        def get_remaining_time_in_millis(self):
            return 30000
    module, _, attr = os.environ["HANDLER"].rpartition(".")
    handler = getattr(importlib.import_module(module), attr)
    events = json.load(open("/fpack-test/events.json"))
    results = [handler(event, Context()) for event in events]
    out = os.environ.get("PHOTOS_OUT", "/tmp/photos")
    files = {}
    if os.path.isdir(out):
        for name in sorted(os.listdir(out)):
            data = open(os.path.join(out, name), "rb").read()
            files[name] = data.decode() if name.endswith((".txt", ".jsonl")) else len(data)
    print("FPACK-RESULT " + json.dumps({"results": results, "files": files}))
''')


def client() -> docker.DockerClient:
    return docker.from_env(timeout=600)


def missing_images() -> list[str]:
    c = client()
    names = [*IMAGES.values(), *ARM64_IMAGES.values(), *BUILD_IMAGES.values()]
    return [n for n in names if not c.images.list(name=n)]


def fpack(project: Path, *args: str, env: dict[str, str] | None = None,
          check: bool = True) -> subprocess.CompletedProcess[str]:
    """Run the real CLI in `project`, as a user would."""
    proc = subprocess.run(
        [sys.executable, "-m", "fpack", *args], cwd=project, capture_output=True, text=True,
        env={**os.environ, **(env or {})}, check=False, timeout=900,
    )
    if check and proc.returncode != 0:
        raise AssertionError(f"fpack {' '.join(args)} exited {proc.returncode}:\n{proc.stderr}")
    return proc


def build(project: Path, target: str, *args: str) -> list[dict[str, Any]]:
    """`fpack build --json` in `project`: the manifests it printed."""
    proc = fpack(project, "build", "--target", target, "--json", *args)
    return list(json.loads(proc.stdout))


def unzip(archive: Path, dest: Path) -> None:
    """Extract with the modes recorded in the zip, as Lambda does (zipfile alone drops them)."""
    with zipfile.ZipFile(archive) as z:
        for info in z.infolist():
            target = dest / info.filename
            if info.is_dir():
                target.mkdir(parents=True, exist_ok=True)
            else:
                target.parent.mkdir(parents=True, exist_ok=True)
                target.write_bytes(z.read(info))
            mode = (info.external_attr >> 16) & 0o777
            target.chmod(mode or 0o600)  # no mode recorded: what a strict unzip would give


@dataclass(frozen=True)
class LambdaRun:
    results: list[Any]
    files: dict[str, Any]


def run_lambda(manifest: dict[str, Any], project: Path, image: str, events: list[Any],
               workdir: Path, *, env: dict[str, str] | None = None,
               platform: str | None = None) -> LambdaRun:
    """Lay the artifact out as Lambda does and call its handler with each event in turn."""
    task, opt, harness = workdir / "task", workdir / "opt", workdir / "harness"
    for d in (task, opt, harness):
        d.mkdir(parents=True)
        d.chmod(0o755)
    unzip(project / manifest["path"], task)
    for layer in manifest.get("layers", []):
        unzip(project / layer, opt)
    (harness / "runner.py").write_text(RUNNER)
    (harness / "events.json").write_text(json.dumps(events))
    for f in harness.iterdir():
        f.chmod(0o644)
    try:
        output = client().containers.run(
            image, ["python3", "/fpack-test/runner.py"], remove=True, network_mode="none",
            user=LAMBDA_UID, read_only=True, tmpfs={"/tmp": "rw,mode=1777"},
            environment={"HANDLER": manifest["handler"], "LAMBDA_TASK_ROOT": "/var/task",
                         **(env or {})},
            volumes={str(task): {"bind": "/var/task", "mode": "ro"},
                     str(opt): {"bind": "/opt", "mode": "ro"},
                     str(harness): {"bind": "/fpack-test", "mode": "ro"}},
            stdout=True, stderr=True, platform=platform,
        )
    except ContainerError as e:
        raise AssertionError(f"the artifact failed on {image}:\n{e.stderr.decode()}") from e
    line = next(x for x in output.decode().splitlines() if x.startswith("FPACK-RESULT "))
    data = json.loads(line[len("FPACK-RESULT "):])
    return LambdaRun(results=data["results"], files=data["files"])


def event(platform: str, name: str) -> Any:
    return load_event(platform, name)  # the packaged sample the tests call platform/name
