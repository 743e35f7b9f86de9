"""The dependency cache under concurrent builds, bytecode compiled for the target, and the SBOM.

Two `fpack build` processes started together on one project and one cache each see every stage
done exactly once (by whichever took its lock first) and end with the same artifact; the cache
holds no half-written entry afterwards.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from tests.integration import deps_support, lab
from tests.integration.test_deps import make_project, only_function

pytestmark = pytest.mark.lab


def test_two_builds_at_once_share_one_cache_without_corrupting_it(tmp_path: Path) -> None:
    deps_support.c_package(tmp_path / "src" / "race", "fpack-labext-race")
    project = make_project(tmp_path / "p", "../src/race\nsix==1.17.0\n",
                           module="fpack_labext_race")
    cache = tmp_path / "cache"
    env = {**os.environ, "FPACK_CACHE_DIR": str(cache)}
    procs = [subprocess.Popen([sys.executable, "-m", "fpack", "build", "--target", "aws",
                               "--json"], cwd=project, env=env, stdout=subprocess.PIPE,
                              stderr=subprocess.PIPE, text=True) for _ in range(2)]
    outputs = [p.communicate(timeout=600) for p in procs]
    assert [p.returncode for p in procs] == [0, 0], [err for _, err in outputs]
    stderr = "".join(err for _, err in outputs)
    for stage in ("resolving requirements.txt", "building fpack-labext-race",
                  "installing 2 packages", "compressing the dependencies"):
        assert stderr.count(stage) == 1, stage  # the other process waited, then found it made
    first, second = (only_function(json.loads(out)) for out, _ in outputs)
    assert first["sha256"] == second["sha256"]
    assert lab.fpack(project, "build", "--target", "aws", env={"FPACK_CACHE_DIR": str(cache)})
    leftovers = [p.name for p in cache.rglob("*") if p.name.startswith(".tmp-")]
    assert leftovers == []
    run = lab.run_lambda(first, project, lab.IMAGES[(3, 11)], [{"a": 1, "b": 2}], tmp_path / "r")
    assert run.results == [{"sum": 3, "machine": "x86_64", "from": "task"}]


PYC_PROBE = textwrap.dedent("""\
    import importlib.util
    import os

    import idna


    def probe(event, context):
        pyc = importlib.util.cache_from_source(idna.__file__)
        with open(pyc, "rb") as f:
            header = f.read(16)
        own = importlib.util.cache_from_source(__file__)
        return {"magic": header[:4] == importlib.util.MAGIC_NUMBER,
                "flags": int.from_bytes(header[4:8], "little"),
                "cached": idna.__spec__.cached == pyc,
                "own code cached": __spec__.cached == own and os.path.exists(own)}
""")


def test_compile_ships_unchecked_hash_bytecode_made_by_the_target_python(tmp_path: Path) -> None:
    project = tmp_path / "p"
    project.mkdir()
    (project / "fpack.toml").write_text(textwrap.dedent("""\
        [project]
        name = "compiled"

        [functions.probe]
        handler = "probe:probe"
        style = "lambda"

        [targets.aws]
        runtime = "python3.13"
        layer = true
        compile = true
        build_image = "fpack-lab/python:3.13"
    """))
    (project / "probe.py").write_text(PYC_PROBE)
    (project / "requirements.txt").write_text("idna==3.10\n")
    # No python3.13 on PATH: the target's Python runs in the (lab) build image instead.
    path = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
    assert shutil.which("python3.13", path=path) is None
    proc = lab.fpack(project, "build", "--target", "aws", "--json", "--sbom",
                     env={"PATH": path})
    assert "compiling bytecode with Python 3.13" in proc.stderr
    manifests = json.loads(proc.stdout)
    fn = only_function(manifests)
    # The layer's tree is read-only at run time: a pyc there was shipped, not written on start.
    run = lab.run_lambda(fn, project, lab.IMAGES[(3, 13)], [{}], tmp_path / "r")
    assert run.results == [{"magic": True, "flags": 0b01, "cached": True,  # hash, unchecked
                            "own code cached": True}]

    layer_sbom = json.loads((project / "dist/aws/compiled-deps.cdx.json").read_text())
    (idna,) = [c for c in layer_sbom["components"] if c["name"] == "idna"]
    assert idna["version"] == "3.10"
    assert idna["purl"] == "pkg:pypi/idna@3.10?file_name=idna-3.10-py3-none-any.whl"
    (layer,) = [m for m in manifests if m["kind"] == "layer"]
    assert idna["hashes"] == [{"alg": "SHA-256", "content": layer["packages"][0]["sha256"]}]
    fn_sbom = json.loads((project / "dist/aws/probe.cdx.json").read_text())
    assert [c["name"] for c in fn_sbom["components"]] == ["fpack-runtime"]  # deps: in the layer
    assert fn_sbom["metadata"]["component"]["hashes"][0]["content"] == fn["sha256"]
