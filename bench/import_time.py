"""Cold-start import time of a FastAPI + Mangum handler packaged six ways, in fresh lab containers
laid out as Lambda lays out a function and its layer (/var/task and /opt read-only, so Python can
neither write bytecode nor reuse any from an earlier start). Prints medians; asserts nothing.

    python bench/import_time.py [--runs N] [--top K] [--only VARIANT]...

Variants (python3.11, x86_64; one app.py, the same for all: a FastAPI app with a pydantic model
and `handler = Mangum(app)`; fpack serves `app:app` with style = "asgi"):
  fpack compile=false        fpack build --target aws, layer = true
  fpack compile=true         the same with compile = true (unchecked-hash pycs)
  fpack compile=true, no layer   layer = false: everything in /var/task, as the recipes
  pip recipe                 pip install --platform manylinux2014_x86_64 --only-binary=:all:
                             --target (pip's own timestamp pycs), zipped with zipfile
  pip recipe, not zipped     pip's tree copied with its exact mtimes: every pyc valid (what
                             the recipe would give if a zip kept mtimes to the second)
  uv recipe --compile-bytecode   uv pip install ... --compile-bytecode --target, zipped alike

Every zip is unzipped as Lambda does: entries keep the zip's timestamps (DOS time, 2 s steps,
read as UTC), which decides whether a timestamp pyc still matches its source: a .py whose mtime
is an odd second comes back one second earlier, and its pyc is stale. Each run is a new
container that imports the handler's module (the entry module fpack generates, or `app`) and
reports the in-process import time. A diagnostic run per variant (`python -v`) counts the modules
loaded from a pyc and those compiled from source (a stale or missing pyc), by top-level package;
one with `-X importtime` (medians over the runs) gives the largest self times and the modules
one variant imports that the pip recipe does not. Needs the Docker lab (lab/setup.sh).
"""

from __future__ import annotations

import argparse
import calendar
import collections
import json
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import zipfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
VENV_PYTHON = ROOT / ".venv" / "bin" / "python"
PYTHON = str(VENV_PYTHON) if VENV_PYTHON.exists() else sys.executable
IMAGE = "fpack-lab/python:3.11"
RUNTIME = "python3.11"
TIMEOUT = 900  # seconds, any one build step
RUN_TIMEOUT = 120  # seconds, one container

REQUIREMENTS = "fastapi\nmangum\n"
APP = '''"""A small FastAPI app behind Mangum, as a Lambda handler is usually written."""

from fastapi import FastAPI
from mangum import Mangum
from pydantic import BaseModel

app = FastAPI()


class Item(BaseModel):
    name: str
    price: float
    tags: list[str] = []


@app.get("/items/{item_id}")
def read_item(item_id: int, q: str | None = None) -> dict[str, object]:
    return {"item_id": item_id, "q": q}


@app.post("/items", status_code=201)
def create_item(item: Item) -> Item:
    return item


handler = Mangum(app, lifespan="off")
'''
TOML = """[project]
name = "fastapi-bench"
python = "3.11"
dependencies = "requirements.txt"
include = ["app.py"]

[functions.api]
handler = "app:app"
style = "asgi"

[targets.aws]
runtime = "python3.11"
arch = "x86_64"
layer = {layer}
compile = {compile}
"""
PROBE = """
import sys, time
sys.path[:0] = ["/var/task", "/opt/python"]
start = time.perf_counter()
__import__(sys.argv[1])  # not importlib.import_module: -X importtime only sees import statements
print(time.perf_counter() - start)
"""


def run(args: list[str], cwd: Path, env: dict[str, str] | None = None,
        timeout: int = TIMEOUT) -> subprocess.CompletedProcess[str]:
    try:
        proc = subprocess.run(args, cwd=cwd, env=env, capture_output=True, text=True,
                              check=False, timeout=timeout)
    except subprocess.TimeoutExpired:
        sys.exit(f"{' '.join(args)} did not finish in {timeout} s")
    if proc.returncode != 0:
        sys.exit(f"{' '.join(args)} failed (exit {proc.returncode}):\n{proc.stderr}")
    return proc


def extract(archive: Path, where: Path) -> None:
    """Unzip keeping each entry's timestamp (as Lambda's /var/task and /opt show them)."""
    with zipfile.ZipFile(archive) as z:
        for info in z.infolist():
            path = Path(z.extract(info, where))
            stamp = calendar.timegm((*info.date_time, 0, 0, 0))
            os.utime(path, (stamp, stamp))
            if not info.is_dir() and info.external_attr >> 16 & 0o111:
                path.chmod(0o755)


def fpack_variant(work: Path, *, compiled: bool, layer: bool, cache: Path) -> str:
    project = work / "project"
    project.mkdir(parents=True)
    (project / "requirements.txt").write_text(REQUIREMENTS)
    (project / "app.py").write_text(APP)
    (project / "fpack.toml").write_text(TOML.format(layer=str(layer).lower(),
                                                    compile=str(compiled).lower()))
    proc = run([PYTHON, "-m", "fpack", "build", "--target", "aws", "--json"], project,
               {**os.environ, "FPACK_CACHE_DIR": str(cache)})
    module = ""
    for m in json.loads(proc.stdout):
        extract(project / m["path"], work / ("opt" if m["kind"] == "layer" else "task"))
        if m["kind"] == "function":
            module = str(m["handler"]).rsplit(".", 1)[0]
    (work / "opt").mkdir(exist_ok=True)
    return module


def recipe_variant(work: Path, tool: str, *, zipped: bool = True) -> str:
    project = work / "project"
    package = work / "package"
    project.mkdir(parents=True)
    (project / "requirements.txt").write_text(REQUIREMENTS)
    (project / "app.py").write_text(APP)
    reqs = str(project / "requirements.txt")
    if tool == "pip":
        run([PYTHON, "-m", "pip", "install", "--quiet", "--platform", "manylinux2014_x86_64",
             "--target", str(package), "--implementation", "cp", "--python-version", "3.11",
             "--only-binary=:all:", "--upgrade", "-r", reqs], work)
    else:
        uv = os.environ.get("FPACK_UV") or shutil.which("uv", path=str(VENV_PYTHON.parent)) \
            or shutil.which("uv") or sys.exit("uv not found")
        run([uv, "pip", "install", "--quiet", "--python-platform", "x86_64-manylinux_2_17",
             "--python-version", "3.11", "--only-binary", ":all:", "--no-python-downloads",
             "--compile-bytecode", "--python", PYTHON, "--target", str(package), "-r", reqs],
            work)
    if not zipped:  # the tree as installed, mtimes exact: every pyc matches its source
        shutil.copytree(package, work / "task")
        shutil.copy2(project / "app.py", work / "task")
        (work / "opt").mkdir()
        return "app"
    archive = work / "deployment.zip"
    with zipfile.ZipFile(archive, "w", zipfile.ZIP_DEFLATED) as z:
        for path in sorted(package.rglob("*")):
            z.write(path, path.relative_to(package))
        z.write(project / "app.py", "app.py")
    extract(archive, work / "task")
    (work / "opt").mkdir()
    return "app"


def container(work: Path, module: str, *flags: str) -> subprocess.CompletedProcess[str]:
    return run(["docker", "run", "--rm", "--network", "none", "--read-only", "--tmpfs", "/tmp",
                "--user", "993:990", "-v", f"{work / 'task'}:/var/task:ro",
                "-v", f"{work / 'opt'}:/opt:ro", "-v", f"{work / 'probe.py'}:/bench/probe.py:ro",
                IMAGE, "python3", *flags, "/bench/probe.py", module], work,
               timeout=RUN_TIMEOUT)


_FROM_PYC = re.compile(r"^# code object from '(/(?:var/task|opt)/[^']+\.pyc)'$", re.M)
_FROM_SOURCE = re.compile(r"^# code object from (/(?:var/task|opt)/\S+\.py)$", re.M)
_IMPORTTIME = re.compile(r"^import time:\s+(\d+) \|\s+(\d+) \|( *)(\S+)$", re.M)


def top(path: str) -> str:
    rel = path.removeprefix("/var/task/").removeprefix("/opt/python/")
    return rel.split("/", 1)[0].removesuffix(".py")


def loaded(work: Path, module: str) -> tuple[collections.Counter[str], collections.Counter[str]]:
    """Modules of the artifact loaded from a pyc and compiled from source, by top package."""
    err = container(work, module, "-v").stderr
    return (collections.Counter(top(p) for p in _FROM_PYC.findall(err)),
            collections.Counter(top(p) for p in _FROM_SOURCE.findall(err)))


def importtimes(stderrs: list[str], module: str) -> tuple[dict[str, tuple[float, float]],
                                                           list[str]]:
    """-X importtime: each module's (self, cumulative) microseconds, medians over the runs; and
    the handler module's own imports (one level down), in order."""
    samples: dict[str, list[tuple[int, int]]] = collections.defaultdict(list)
    direct: list[str] = []
    for err in stderrs:
        below: list[str] = []  # a module's lines come after those of what it imported
        for self_us, cum_us, indent, name in _IMPORTTIME.findall(err):
            samples[name].append((int(self_us), int(cum_us)))
            if len(indent) == 3:  # "|   name": one level down
                below.append(name)
            elif len(indent) == 1:
                if name == module:
                    direct.extend(n for n in below if n not in direct)
                below = []
    return ({name: (statistics.median(s for s, _ in xs), statistics.median(c for _, c in xs))
             for name, xs in samples.items()}, direct)


VARIANTS = {  # label: (tool, compile, layer)
    "fpack compile=false": ("fpack", False, True),
    "fpack compile=true": ("fpack", True, True),
    "fpack compile=true, no layer": ("fpack", True, False),
    "pip recipe": ("pip", False, False),
    "pip recipe, not zipped": ("pip-tree", False, False),
    "uv recipe --compile-bytecode": ("uv", False, False),
}


class Measured:
    def __init__(self) -> None:
        self.rows: dict[str, tuple[float, float, float, int, int]] = {}
        self.profiles: dict[str, dict[str, tuple[float, float]]] = {}
        self.directs: dict[str, list[str]] = {}
        self.sources: dict[str, collections.Counter[str]] = {}


def build_all(tmp: Path, labels: list[str]) -> dict[str, tuple[Path, str]]:
    built: dict[str, tuple[Path, str]] = {}
    for label in labels:
        tool, compiled, layer = VARIANTS[label]
        work = tmp / label.replace(" ", "_").replace(",", "").replace("=", "-")
        work.mkdir()
        module = (fpack_variant(work, compiled=compiled, layer=layer, cache=tmp / "cache")
                  if tool == "fpack"
                  else recipe_variant(work, tool.removesuffix("-tree"),
                                      zipped=not tool.endswith("-tree")))
        (work / "probe.py").write_text(PROBE)
        built[label] = (work, module)
    return built


def measure(built: dict[str, tuple[Path, str]], runs: int) -> Measured:
    m = Measured()
    # Round-robin, so that a change of the machine's load touches every variant alike.
    times: dict[str, list[float]] = collections.defaultdict(list)
    for _ in range(runs):
        for label, (work, module) in built.items():
            out = container(work, module).stdout
            times[label].append(float(out.strip().splitlines()[-1]))
    samples: dict[str, list[str]] = collections.defaultdict(list)
    for _ in range(runs):
        for label, (work, module) in built.items():
            samples[label].append(container(work, module, "-X", "importtime").stderr)
    for label, (work, module) in built.items():
        from_pyc, from_source = loaded(work, module)
        m.sources[label] = from_source
        m.profiles[label], m.directs[label] = importtimes(samples[label], module)
        xs = times[label]
        m.rows[label] = (statistics.median(xs), min(xs), max(xs), sum(from_pyc.values()),
                         sum(from_source.values()))
    return m


def report(m: Measured, top: int) -> None:
    base_label = "pip recipe" if "pip recipe" in m.rows else next(iter(m.rows))
    pip = m.rows[base_label][0]
    print(f"{'variant':<32}{'median':>10}{'min':>10}{'max':>10}{'vs ' + base_label[:5]:>9}"
          f"{'from pyc':>10}{'compiled':>10}")
    for label, (med, lo, hi, pyc, src) in m.rows.items():
        print(f"{label:<32}{med * 1000:8.1f}ms{lo * 1000:8.1f}ms{hi * 1000:8.1f}ms"
              f"{med / pip:8.2f}x{pyc:>10}{src:>10}")
    print("\nmodules of the artifact compiled from source at import (no usable pyc), by package:")
    for label, counter in m.sources.items():
        listed = ", ".join(f"{k} {v}" for k, v in counter.most_common(8)) or "none"
        print(f"  {label:<32}{listed}")
    base = m.profiles[base_label]
    for label, prof in m.profiles.items():
        total = sum(s for s, _ in prof.values()) / 1000
        print(f"\n-X importtime, {label}: sum of self times {total:.1f} ms")
        split = ", ".join(f"{n} {prof[n][1] / 1000:.1f} ms" for n in m.directs[label])
        print(f"  the handler module's imports, cumulative, in order: {split}")
        print("  largest self times:")
        for name, (s, c) in sorted(prof.items(), key=lambda kv: -kv[1][0])[:top]:
            print(f"    {name:<44}self {s / 1000:7.1f} ms   cumulative {c / 1000:7.1f} ms")
        if label != base_label:
            extra = {n: v for n, v in prof.items() if n not in base}
            extra_ms = sum(s for s, _ in extra.values()) / 1000
            names = ", ".join(n for n, _ in sorted(extra.items(), key=lambda kv: -kv[1][0])
                              [:top])
            print(f"  not imported by the {base_label}: {len(extra)} modules, {extra_ms:.1f} ms "
                  f"self: {names}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=7)
    parser.add_argument("--top", type=int, default=12)
    parser.add_argument("--only", action="append", default=[], metavar="VARIANT",
                        help="a variant to measure, by its label (repeat; default: all)")
    args = parser.parse_args()
    if unknown := set(args.only) - VARIANTS.keys():
        sys.exit(f"unknown variant(s): {', '.join(sorted(unknown))}; one of: {', '.join(VARIANTS)}")
    load = os.getloadavg()
    with tempfile.TemporaryDirectory(prefix="bench-h-import-") as tmp:
        built = build_all(Path(tmp), [k for k in VARIANTS if not args.only or k in args.only])
        measured = measure(built, args.runs)
    print(f"{RUNTIME} ({IMAGE}), FastAPI + Mangum, {args.runs} cold starts each, "
          f"{os.cpu_count()} CPUs, load {load[0]:.2f} {load[1]:.2f} {load[2]:.2f}")
    report(measured, args.top)


if __name__ == "__main__":
    main()
