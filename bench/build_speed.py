"""Build speed of `fpack build --target aws` against two yardsticks measured in the same run on the
same machine: the AWS documentation's pip recipe and the bare uv recipe. Prints medians, ratios
and issue 15's targets as PASS/MISS lines; asserts nothing.

    python bench/build_speed.py [--runs N] [--runtime python3.11] [--case NAME|all]

Cases (each a requirements.txt in a temporary project; one http function, layer = true, x86_64):
  example            the repository's example project and requirements.txt (pydantic, pillow, numpy)
  pydantic-requests  pydantic, requests
  fastapi-mangum     fastapi, mangum
  pillow             pillow
  numpy-pandas       numpy, pandas

Scenarios, per case:
  cold            empty fpack cache (uv's own download cache stays warm, like pip's for the recipes)
  nothing         rebuild with nothing changed
  handler         rebuild after editing only the handler's source
  requirement     rebuild after one requirement changed: a pin that changes exactly one package
                  (the package diff, read from the manifests, is printed)
  pip recipe      pip install --platform <manylinux tags up to the runtime's glibc> --only-binary
                  :all: --target, then zip it and the handler sources (zipfile, ZIP_DEFLATED)
  uv recipe       uv pip install --python-platform <fpack's manylinux ceiling for the runtime>
                  --python-version X.Y --only-binary :all: --target, then zip as above; the same
                  uv binary fpack finds (FPACK_UV, the `uv` package, PATH), and, as fpack does,
                  --python naming the interpreter (uv asking a pyenv shim on PATH costs 0.22 s)
  fpack --help    CLI start-up (once, not per case)

Targets (issue 15): cold <= 1.2x the uv recipe, nothing changed <= 0.2 s, one requirement changed
<= 0.5x the cold build. The fpack under test is `python -m fpack` from the repository's .venv,
its modules compiled first (bench/compiled.py), as an installed fpack's are.
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
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import compiled  # bench/compiled.py: fpack's pycs, as an installed fpack has them

ROOT = Path(__file__).resolve().parent.parent
VENV_PYTHON = ROOT / ".venv" / "bin" / "python"
PYTHON = str(VENV_PYTHON) if VENV_PYTHON.exists() else sys.executable
FPACK = [PYTHON, "-m", "fpack"]
TIMEOUT = 900  # seconds, any one subprocess


@dataclass(frozen=True)
class Case:
    requirements: str | None  # None: the repository's requirements.txt (and its example project)
    change: str  # the line appended for "one requirement changed"


CASES = {
    "example": Case(None, "annotated-types==0.6.0"),
    "pydantic-requests": Case("pydantic\nrequests\n", "idna==3.7"),
    "fastapi-mangum": Case("fastapi\nmangum\n", "idna==3.7"),
    "pillow": Case("pillow\n", "olefile==0.47"),  # pillow has no dependencies: one is added
    "numpy-pandas": Case("numpy\npandas\n", "tzdata==2024.1"),
}

HANDLER = '''"""A trivial portable handler: the bench measures packaging, not the code."""

import fpack


def hello(request: fpack.Request) -> fpack.Response:
    return fpack.Response.json({"hello": request.query.get("name", "world")})
'''

TOML = """[project]
name = "bench"
python = "{python}"
dependencies = "requirements.txt"
include = ["app.py"]

[functions.hello]
handler = "app:hello"
trigger = "http"

[targets.aws]
runtime = "{runtime}"
arch = "x86_64"
layer = true
"""


def uv_binary() -> str:
    """The uv fpack runs (fpack/deps/uv.py's binary()): FPACK_UV, the uv package, then PATH."""
    if env := os.environ.get("FPACK_UV"):
        return env
    proc = run([PYTHON, "-c", "from uv import find_uv_bin; print(find_uv_bin())"], ROOT,
               dict(os.environ), check=False)
    if proc.returncode == 0 and proc.stdout.strip():
        return proc.stdout.strip()
    found = shutil.which("uv")
    if not found:
        sys.exit("uv not found (FPACK_UV, the venv's uv package, PATH)")
    return found


def glibc(runtime: str) -> tuple[int, int]:
    """fpack/platforms.py's row: python3.9-3.11 on Amazon Linux 2 (2.26), 3.12+ on AL2023 (2.34)."""
    minor = int(runtime.removeprefix("python3."))
    return (2, 26) if minor <= 11 else (2, 34)


def uv_platform(runtime: str) -> str:
    """fpack's ceiling: the highest manylinux level uv knows not above the runtime's glibc."""
    return "x86_64-manylinux_2_17" if glibc(runtime) < (2, 28) else "x86_64-manylinux_2_34"


def pip_platforms(runtime: str) -> list[str]:
    if glibc(runtime) < (2, 28):
        return ["manylinux2014_x86_64"]  # the AWS docs' tag; pip adds manylinux2010 and 1
    return ["manylinux2014_x86_64", "manylinux_2_28_x86_64", "manylinux_2_34_x86_64"]


def run(args: list[str], cwd: Path, env: dict[str, str], *,
        check: bool = True) -> subprocess.CompletedProcess[str]:
    try:
        proc = subprocess.run(args, cwd=cwd, env=env, capture_output=True, text=True,
                              check=False, timeout=TIMEOUT)
    except subprocess.TimeoutExpired:
        sys.exit(f"{' '.join(args)} did not finish in {TIMEOUT} s")
    if check and proc.returncode != 0:
        sys.exit(f"{' '.join(args)} failed (exit {proc.returncode}):\n{proc.stderr}")
    return proc


def timed(fn: Callable[[], object]) -> float:
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


def make_project(dest: Path, case: Case, runtime: str) -> tuple[Path, list[Path]]:
    """The project, and its handler sources (the first is the one edited)."""
    dest.mkdir(parents=True)
    if case.requirements is None:
        shutil.copytree(ROOT / "example", dest / "example", ignore=shutil.ignore_patterns(
            "__pycache__"))
        shutil.copy(ROOT / "requirements.txt", dest)
        toml = (ROOT / "fpack.toml").read_text().replace('runtime = "python3.12"',
                                                         f'runtime = "{runtime}"')
        (dest / "fpack.toml").write_text(toml)
        sources = sorted((dest / "example").rglob("*.py"))
        return dest, [dest / "example" / "api.py", *(p for p in sources if p.name != "api.py")]
    (dest / "requirements.txt").write_text(case.requirements)
    (dest / "app.py").write_text(HANDLER)
    (dest / "fpack.toml").write_text(TOML.format(python=runtime.removeprefix("python"),
                                                 runtime=runtime))
    return dest, [dest / "app.py"]


def zip_package(package: Path, sources: list[Path], project: Path, out: Path) -> None:
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as z:
        for path in sorted(package.rglob("*")):
            z.write(path, path.relative_to(package))
        for path in sorted(sources):
            z.write(path, path.relative_to(project))


def pip_recipe(work: Path, project: Path, sources: list[Path], runtime: str,
               env: dict[str, str]) -> None:
    """https://docs.aws.amazon.com/lambda/latest/dg/python-package.html (manylinux wheels)."""
    package = work / "pip-package"
    shutil.rmtree(package, ignore_errors=True)
    platforms = [arg for p in pip_platforms(runtime) for arg in ("--platform", p)]
    run([PYTHON, "-m", "pip", "install", "--quiet", *platforms, "--target", str(package),
         "--implementation", "cp", "--python-version", runtime.removeprefix("python"),
         "--only-binary=:all:", "--upgrade", "-r", str(project / "requirements.txt")],
        work, env)
    zip_package(package, sources, project, work / "pip-deployment.zip")


def uv_recipe(work: Path, project: Path, sources: list[Path], runtime: str, *, uv: str,
              env: dict[str, str]) -> None:
    package = work / "uv-package"
    shutil.rmtree(package, ignore_errors=True)
    run([uv, "pip", "install", "--quiet", "--python-platform", uv_platform(runtime),
         "--python-version", runtime.removeprefix("python"), "--only-binary", ":all:",
         "--no-python-downloads", "--python", PYTHON, "--target", str(package),
         "-r", str(project / "requirements.txt")], work, env)
    zip_package(package, sources, project, work / "uv-deployment.zip")


def packages(project: Path) -> dict[str, str]:
    found: dict[str, str] = {}
    for path in (project / "dist" / "aws").glob("*.manifest.json"):
        for p in json.loads(path.read_text()).get("packages", []):
            found[p["name"]] = p["version"]
    return found


def diff(before: dict[str, str], after: dict[str, str]) -> list[str]:
    return [f"{n} {before.get(n, '-')} -> {after.get(n, '-')}"
            for n in sorted(before.keys() | after.keys()) if before.get(n) != after.get(n)]


def bench_case(name: str, case: Case, base: Path, args: argparse.Namespace,
               uv: str) -> tuple[dict[str, list[float]], list[str]]:
    work = base / name
    env = {**os.environ, "FPACK_CACHE_DIR": str(work / "cache")}
    project, sources = make_project(work / "project", case, args.runtime)
    requirements = project / "requirements.txt"
    original = requirements.read_text()
    build = [*FPACK, "--quiet", "build", "--target", "aws"]
    # Warm uv's and pip's download caches (untimed), as a user's would be.
    run(build, project, env)
    uv_recipe(work, project, sources, args.runtime, uv=uv, env=env)
    pip_recipe(work, project, sources, args.runtime, env)
    results: dict[str, list[float]] = {
        k: [] for k in ("cold", "nothing", "handler", "requirement", "pip", "uv")}
    changed: list[str] = []
    for i in range(args.runs):
        requirements.write_text(original)
        shutil.rmtree(work / "cache", ignore_errors=True)
        shutil.rmtree(project / "dist", ignore_errors=True)
        results["cold"].append(timed(lambda: run(build, project, env)))
        results["nothing"].append(timed(lambda: run(build, project, env)))
        sources[0].write_text(sources[0].read_text() + f"\n# edit {i}\n")
        results["handler"].append(timed(lambda: run(build, project, env)))
        before = packages(project)
        requirements.write_text(original.rstrip("\n") + f"\n{case.change}\n")
        results["requirement"].append(timed(lambda: run(build, project, env)))
        changed = diff(before, packages(project))
        requirements.write_text(original)
        results["pip"].append(timed(lambda: pip_recipe(work, project, sources, args.runtime,
                                                       env)))
        results["uv"].append(timed(lambda: uv_recipe(work, project, sources, args.runtime,
                                                     uv=uv, env=env)))
    shutil.rmtree(work, ignore_errors=True)
    return results, changed


LABELS = {
    "cold": "cold build (empty fpack cache)",
    "nothing": "rebuild, nothing changed",
    "handler": "rebuild, handler edited",
    "requirement": "rebuild, one requirement changed",
    "pip": "pip recipe (AWS docs) + zip",
    "uv": "uv recipe (uv pip install --target) + zip",
}


def report(name: str, case: Case, results: dict[str, list[float]],
           changed: list[str]) -> dict[str, tuple[float, bool]]:
    med = {k: statistics.median(v) for k, v in results.items()}
    spec = ", ".join(case.requirements.split()) if case.requirements else "requirements.txt"
    print(f"\n== {name}: {spec}; changed requirement: {case.change} "
          f"({'; '.join(changed) or 'no package changed'})")
    print(f"{'scenario':<44}{'median':>9}{'min':>9}{'max':>9}{'vs pip':>9}{'vs uv':>9}")
    for key, label in LABELS.items():
        xs = results[key]
        print(f"{label:<44}{med[key]:8.3f}s{min(xs):8.3f}s{max(xs):8.3f}s"
              f"{med[key] / med['pip']:8.2f}x{med[key] / med['uv']:8.2f}x")
    targets = {
        "cold <= 1.2x uv recipe": (med["cold"] / med["uv"], med["cold"] / med["uv"] <= 1.2),
        "nothing changed <= 0.2 s": (med["nothing"], med["nothing"] <= 0.2),
        "one requirement changed <= 0.5x cold": (
            med["requirement"] / med["cold"], med["requirement"] / med["cold"] <= 0.5),
    }
    for label, (value, ok) in targets.items():
        unit = "s" if "0.2 s" in label else "x"
        print(f"  target {label:<38}{value:8.3f}{unit}  {'PASS' if ok else 'MISS'}")
    return targets


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--runtime", default="python3.11")
    parser.add_argument("--case", default="example", choices=[*CASES, "all"])
    args = parser.parse_args()
    names = list(CASES) if args.case == "all" else [args.case]
    compiled.ensure(PYTHON)
    uv = uv_binary()
    uv_version = run([uv, "--version"], ROOT, dict(os.environ)).stdout.strip()
    load = os.getloadavg()
    print(f"fpack build --target aws, {args.runtime} x86_64, {args.runs} runs, "
          f"{os.cpu_count()} CPUs, load {load[0]:.2f} {load[1]:.2f} {load[2]:.2f}; {uv_version}")
    summary: dict[str, dict[str, tuple[float, bool]]] = {}
    with tempfile.TemporaryDirectory(prefix="bench-h-build-") as tmp:
        for name in names:
            results, changed = bench_case(name, CASES[name], Path(tmp), args, uv)
            summary[name] = report(name, CASES[name], results, changed)
        helps = [timed(lambda: run([*FPACK, "--help"], Path(tmp), dict(os.environ)))
                 for _ in range(10)]
    print(f"\nfpack --help: median {statistics.median(helps):.3f}s over 10")
    if len(summary) > 1:
        print(f"\n{'case':<20}{'cold/uv':>14}{'nothing':>15}{'req/cold':>14}")
        for name, targets in summary.items():
            cells = [f"{v:.3f}{'s' if i == 1 else 'x'} {'PASS' if ok else 'MISS'}"
                     for i, (v, ok) in enumerate(targets.values())]
            print(f"{name:<20}" + "".join(f"{c:>14}" for c in cells))


if __name__ == "__main__":
    main()
