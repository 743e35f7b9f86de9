"""Cold-start import time of the example's functions with and without `compile = true`, measured
in fresh lab containers laid out as Lambda lays out a function and its layer (both read-only, so
Python can neither write bytecode nor reuse any from an earlier start). Prints medians; asserts
nothing.

    python bench/compile_cold_start.py [--runs N] [--runtime python3.11]

Each run is a new container that imports every function's entry module (pydantic, Pillow, numpy
and the fpack runtime behind them) and reports the time the imports took, in-process, and the
container's whole wall time (Python start-up included). Needs the Docker lab (lab/setup.sh).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import zipfile
from pathlib import Path

import docker

ROOT = Path(__file__).resolve().parent.parent
IMAGES = {"python3.9": "fpack-lab/python:3.9", "python3.11": "fpack-lab/python:3.11",
          "python3.13": "fpack-lab/python:3.13"}
PROBE = """
import importlib, sys, time
sys.path[:0] = ["/var/task", "/opt/python"]
start = time.perf_counter()
for name in sys.argv[1:]:
    importlib.import_module(name)
print(time.perf_counter() - start)
"""


def build(dest: Path, runtime: str, *, compiled: bool, cache: Path) -> list[dict[str, object]]:
    dest.mkdir(parents=True)
    shutil.copytree(ROOT / "example", dest / "example")
    shutil.copy(ROOT / "requirements.txt", dest)
    toml = (ROOT / "fpack.toml").read_text().replace('runtime = "python3.12"',
                                                     f'runtime = "{runtime}"')
    toml = toml.replace("layer = true", f"layer = true\ncompile = {str(compiled).lower()}")
    (dest / "fpack.toml").write_text(toml)
    proc = subprocess.run([sys.executable, "-m", "fpack", "build", "--target", "aws", "--json"],
                          cwd=dest, capture_output=True, text=True, check=False,
                          env={**os.environ, "FPACK_CACHE_DIR": str(cache)})
    if proc.returncode != 0:
        sys.exit(f"fpack build failed:\n{proc.stderr}")
    return list(json.loads(proc.stdout))


def lay_out(project: Path, manifests: list[dict[str, object]], work: Path) -> list[str]:
    """Unzip the functions into task/ and the layer into opt/; the entry modules to import."""
    modules = []
    for m in manifests:
        where = work / ("opt" if m["kind"] == "layer" else "task")
        with zipfile.ZipFile(project / str(m["path"])) as z:
            z.extractall(where)
        if m["kind"] == "function":
            modules.append(str(m["handler"]).rsplit(".", 1)[0])
    (work / "probe.py").write_text(PROBE)
    return sorted(set(modules))


def measure(work: Path, image: str, modules: list[str],
            runs: int) -> tuple[list[float], list[float]]:
    client = docker.from_env()
    imports, walls = [], []
    for _ in range(runs):
        start = time.perf_counter()
        out = client.containers.run(
            image, ["python3", "/bench/probe.py", *modules], remove=True, network_mode="none",
            read_only=True, tmpfs={"/tmp": "rw"}, user="993:990",
            volumes={str(work / "task"): {"bind": "/var/task", "mode": "ro"},
                     str(work / "opt"): {"bind": "/opt", "mode": "ro"},
                     str(work / "probe.py"): {"bind": "/bench/probe.py", "mode": "ro"}})
        walls.append(time.perf_counter() - start)
        imports.append(float(out.decode().strip().splitlines()[-1]))
    return imports, walls


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=7)
    parser.add_argument("--runtime", default="python3.11", choices=sorted(IMAGES))
    args = parser.parse_args()
    results = {}
    with tempfile.TemporaryDirectory(prefix="fpack-bench-") as tmp:
        for compiled in (False, True):
            label = "compile = true" if compiled else "compile = false"
            project = Path(tmp) / label.replace(" ", "")
            manifests = build(project, args.runtime, compiled=compiled, cache=Path(tmp) / "cache")
            work = Path(tmp) / f"run-{compiled}"
            work.mkdir()
            modules = lay_out(project, manifests, work)
            imports, walls = measure(work, IMAGES[args.runtime], modules, args.runs)
            results[label] = (statistics.median(imports), statistics.median(walls))
    print(f"{args.runtime}, {args.runs} cold starts each (median):")
    for label, (imports, wall) in results.items():
        print(f"  {label:<16} imports {imports * 1000:7.1f} ms   container {wall * 1000:7.1f} ms")
    plain, compiled = results["compile = false"][0], results["compile = true"][0]
    print(f"  imports with bytecode take {compiled / plain:.2f}x the time without "
          f"({(plain - compiled) * 1000:.0f} ms saved per cold start)")


if __name__ == "__main__":
    main()
