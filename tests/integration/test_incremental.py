"""A changed requirement on a warm cache: the new tree is seeded from the earlier one, only the
new package is installed, compiled and compressed, and the artifact is the cold build's (whose
install ran beside its resolution), byte for byte, and runs on its target with the network off
(fpack/deps/reuse.py, members.py, speculate.py, bytecode)."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from fpack.deps import uv as fpack_uv
from tests.integration import lab
from tests.integration.test_deps import make_project

pytestmark = pytest.mark.lab

HANDLER = '''\
import platform

import attrs
import idna
import yaml


def add(event, context):
    pyc = __import__("importlib.util").util.cache_from_source(idna.__file__)
    return {"sum": event["a"] + event["b"], "machine": platform.machine(),
            "yaml": yaml.safe_load("a: 1")["a"], "attrs": attrs.__name__,
            "idna": idna.encode("bücher.example").decode(),
            "compiled": __import__("os").path.isfile(pyc)}
'''


def build(project: Path, cache: Path, **env: str) -> tuple[dict[str, object], str]:
    proc = lab.fpack(project, "build", "--target", "aws", "--json",
                     env={"FPACK_CACHE_DIR": str(cache), **env})
    layer = next(m for m in json.loads(proc.stdout) if m["kind"] == "layer")
    fn = next(m for m in json.loads(proc.stdout) if m["kind"] == "function")
    return {"function": fn, "layer": layer}, proc.stderr


def logging_uv(shim: Path, calls: Path) -> Path:
    """The real uv behind a script that writes down each command line it is given."""
    shim.write_text(f'#!/bin/sh\necho "$*" >> "{calls}"\nexec "{fpack_uv.binary()}" "$@"\n')
    shim.chmod(0o755)
    return shim


@pytest.mark.parametrize("compiled", [True, False], ids=["compile", "no-compile"])
def test_a_changed_requirement_costs_the_changed_package(tmp_path: Path, compiled: bool) -> None:
    # Without compile = true, the cold builds also compress while they resolve (members.prefill).
    project = make_project(tmp_path / "p", "pyyaml==6.0.2\nattrs==24.2.0\n", module="yaml",
                           extra=f"layer = true\ncompile = {str(compiled).lower()}")
    (project / "app.py").write_text(HANDLER)
    cache = tmp_path / "cache"
    build(project, cache)
    compressed = set((cache / "members").glob("*.zip"))
    (project / "requirements.txt").write_text("pyyaml==6.0.2\nattrs==24.2.0\nidna==3.10\n")
    calls = tmp_path / "uv-calls.txt"
    warm, log = build(project, cache, FPACK_UV=str(logging_uv(tmp_path / "uv", calls)))
    # The set was resolved a moment ago: only index pages were fetched, idna's among them
    # (--no-deps reads no wheel's metadata), then uv's cache answered; uv never resolved the
    # set online again.
    compiles = [c for c in calls.read_text().splitlines() if c.startswith("pip compile")]
    online = [c for c in compiles if "--offline" not in c]
    assert online and all("--no-deps" in c for c in online), compiles
    # Installed as soon as its lock was there, before the engine was imported (deps/ahead.py).
    assert "installed 3 packages of requirements.txt" in log
    assert ": 1 installed, 2 linked from an earlier set" in log
    # One distribution compressed: by the engine, or ahead of it, beside the install.
    assert len(set((cache / "members").glob("*.zip")) - compressed) == 1

    fresh = tmp_path / "fresh"
    os.makedirs(fresh)
    (fresh / "p").mkdir()
    for name in ("fpack.toml", "app.py", "requirements.txt"):
        (fresh / "p" / name).write_bytes((project / name).read_bytes())
    # The cold build installs beside its resolution (deps/speculate.py): the same bytes again.
    cold, cold_log = build(fresh / "p", tmp_path / "cold-cache")
    assert "installed 3 packages of requirements.txt" in cold_log
    assert ", while it was resolved" in cold_log
    assert warm["layer"]["sha256"] == cold["layer"]["sha256"]  # type: ignore[index]

    run = lab.run_lambda(warm["function"], project, lab.IMAGES[(3, 11)],  # type: ignore[arg-type]
                         [{"a": 1, "b": 2}], tmp_path / "run")
    assert run.results == [{"sum": 3, "machine": "x86_64", "yaml": 1, "attrs": "attrs",
                            "idna": "xn--bcher-kva.example", "compiled": compiled}]
