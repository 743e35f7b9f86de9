"""Monorepo build speed (issue 12): `fpack build --target aws` on a generated repository of 200
functions over 10 distinct dependency sets and two shared local libraries, measured in one run on
one machine. Prints medians and ratios; asserts nothing.

    python bench/monorepo.py [--runs N] [--functions 200] [--jobs N] [--layer] [--sam PATH]

The repository (in a temp dir): services/fNNN/{app.py,requirements.txt}, one `[functions.fNNN]
dir = "services/fNNN"` each, target aws python3.11 x86_64. Function i uses set i % 10 (1-4 pinned,
wheels-only PyPI packages); sets 0 and 1 also require `../../libs/common` (a hatchling src-layout
library that depends on libs/core through `[tool.uv.sources]`), set 2 requires `../../libs/core`.

Scenarios:
  cold 10         empty fpack cache, 10 functions (one per set); uv's own download cache warm
  cold N          empty fpack cache, all N functions (target: <= 3x cold 10)
  nothing         rebuild with nothing changed (target: <= 1 s)
  handler         rebuild after editing one function's app.py (target: <= 1 s; exactly 1 zip)
  lib common      rebuild after editing libs/common (rewrites the zips of the sets that use it)
  lib core        rebuild after editing libs/core (its dependents: direct, and through common)
  sam cold/nothing   `sam build --parallel --cached` on the same layout (template.yaml), with
                     --sam PATH (or `sam` on PATH); skipped with a note when SAM is absent
"""

from __future__ import annotations

import argparse
import hashlib
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Final

import compiled  # bench/compiled.py: fpack's pycs, as an installed fpack has them

FPACK: Final = [sys.executable, "-m", "fpack"]
PYTHON: Final = "3.11"

# Ten distinct dependency sets of small wheels-only packages, pinned (python3.11 manylinux2014).
SETS: Final[tuple[tuple[str, ...], ...]] = (
    ("six==1.16.0",),
    ("idna==3.7", "certifi==2024.2.2"),
    ("attrs==23.2.0",),
    ("python-dateutil==2.9.0.post0", "pytz==2024.1"),
    ("urllib3==2.2.1", "idna==3.7", "certifi==2024.2.2", "charset-normalizer==3.3.2"),
    ("packaging==24.0", "typing-extensions==4.11.0"),
    ("markupsafe==2.1.5", "itsdangerous==2.2.0"),
    ("pytz==2024.1",),
    ("typing-extensions==4.11.0", "attrs==23.2.0", "sniffio==1.3.1"),
    ("soupsieve==2.5", "six==1.16.0", "packaging==24.0"),
)
IMPORTS: Final = {
    "six": "six", "idna": "idna", "certifi": "certifi", "attrs": "attr", "pytz": "pytz",
    "python-dateutil": "dateutil", "urllib3": "urllib3", "packaging": "packaging",
    "charset-normalizer": "charset_normalizer", "typing-extensions": "typing_extensions",
    "markupsafe": "markupsafe", "itsdangerous": "itsdangerous", "sniffio": "sniffio",
    "soupsieve": "soupsieve",
}  # fmt: skip
# Which local library each set requires (common depends on core: an edit to core follows it).
SET_LIBS: Final[dict[int, str]] = {0: "common", 1: "common", 2: "core"}
LIB_DEPENDS: Final[dict[str, tuple[str, ...]]] = {"core": (), "common": ("core",)}
EDITED_FUNCTION: Final = 123  # set 3: no local library
LAB_BUILD_IMAGE: Final = "fpack-lab/build:3.11"  # lab/setup.sh's python3.11 build image


def timed(fn: Callable[[], None]) -> float:
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


def sh(args: list[str], cwd: Path, env: dict[str, str], what: str | None = None) -> None:
    proc = subprocess.run(args, cwd=cwd, env=env, capture_output=True, text=True, check=False)
    if proc.returncode != 0:
        output = (proc.stdout + proc.stderr).strip().splitlines()
        tail = "\n".join(output[-40:])
        sys.exit(
            f"bench/monorepo.py: {what or ' '.join(args)} failed (exit {proc.returncode}) "
            f"in {cwd}:\n  {' '.join(args)}\n{tail}"
        )


# ------------------------------------------------------------------------------------------------
# The generated repository


def fn_name(i: int) -> str:
    return f"f{i:03d}"


def set_of(i: int) -> int:
    return i % len(SETS)


def lib_closure(lib: str) -> set[str]:
    """The library and every library it depends on, transitively."""
    seen: set[str] = set()
    todo = [lib]
    while todo:
        name = todo.pop()
        if name not in seen:
            seen.add(name)
            todo.extend(LIB_DEPENDS[name])
    return seen


def dependents(lib: str, n: int) -> list[str]:
    """The functions whose artifacts contain `lib`, directly or through another library."""
    return [fn_name(i) for i in range(n) if i % len(SETS) in SET_LIBS
            and lib in lib_closure(SET_LIBS[i % len(SETS)])]


def write(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")


def library(root: Path, lib: str) -> None:
    pkg = f"fpbench_{lib}"
    deps = LIB_DEPENDS[lib]
    sources = "".join(f'fpbench-{d} = {{ path = "../{d}" }}\n' for d in deps)
    write(
        root / "libs" / lib / "pyproject.toml",
        '[build-system]\nrequires = ["hatchling"]\nbuild-backend = "hatchling.build"\n\n'
        f'[project]\nname = "fpbench-{lib}"\nversion = "1.0.0"\nrequires-python = ">=3.9"\n'
        f"dependencies = [{', '.join(f'{chr(34)}fpbench-{d}{chr(34)}' for d in deps)}]\n\n"
        f'[tool.hatch.build.targets.wheel]\npackages = ["src/{pkg}"]\n'
        + (f"\n[tool.uv.sources]\n{sources}" if sources else ""),
    )
    if lib == "core":
        body = 'EDITS = 0\n\n\ndef tag(name: str) -> str:\n    return f"core:{name}"\n'
    else:
        body = (
            "from fpbench_core import tag\n\nEDITS = 0\n\n\n"
            'def greet(name: str) -> str:\n    return f"hello {tag(name)}"\n'
        )
    write(root / "libs" / lib / "src" / pkg / "__init__.py", f'"""fpbench-{lib}."""\n\n{body}')


def service(root: Path, i: int) -> None:
    name, s = fn_name(i), set_of(i)
    pins = SETS[s]
    lib = SET_LIBS.get(s)
    reqs = [*([f"../../libs/{lib}"] if lib else []), *pins]
    write(root / "services" / name / "requirements.txt", "\n".join(reqs) + "\n")
    imports = sorted({IMPORTS[p.split("==")[0]] for p in pins})
    call = {"common": "fpbench_common.greet(name)", "core": "fpbench_core.tag(name)"}.get(
        lib or "", "name"
    )
    lines = [f'"""{name}: dependency set {s}."""', "", "import fpack", ""]
    lines += [f"import {m}" for m in imports]
    if lib:
        lines.append(f"import fpbench_{lib}")
    lines += [
        "",
        f"USES = ({', '.join(imports)},)",
        "",
        "",
        "def handler(request: fpack.Request) -> fpack.Response:",
        '    name = request.query.get("name", "world")',
        f'    return fpack.Response.json({{"function": "{name}", "set": {s}, "hi": {call}}})',
        "",
    ]
    write(root / "services" / name / "app.py", "\n".join(lines))


def generate(root: Path, n: int, *, layer: bool, build_image: str | None) -> Path:
    for lib in LIB_DEPENDS:
        library(root, lib)
    toml = [
        "# Generated by bench/monorepo.py",
        "[project]",
        'name = "mono"',
        f'python = "{PYTHON}"',
        "",
    ]
    for i in range(n):
        service(root, i)
        toml += [
            f"[functions.{fn_name(i)}]",
            f'dir = "services/{fn_name(i)}"',
            'handler = "app:handler"',
            'trigger = "http"',
            "",
        ]
    toml += ["[targets.aws]", 'arch = "x86_64"', f"layer = {'true' if layer else 'false'}"]
    if build_image:  # where the local libraries are built (from source, like any sdist)
        toml.append(f'build_image = "{build_image}"')
    toml.append("")
    write(root / "fpack.toml", "\n".join(toml))
    return root


def sam_template(root: Path, n: int) -> None:
    lines = [
        "AWSTemplateFormatVersion: '2010-09-09'",
        "Transform: AWS::Serverless-2016-10-31",
        "Globals:",
        "  Function:",
        f"    Runtime: python{PYTHON}",
        "    Architectures: [x86_64]",
        "    Timeout: 10",
        "Resources:",
    ]
    for i in range(n):
        lines += [
            f"  F{i:03d}:",
            "    Type: AWS::Serverless::Function",
            "    Properties:",
            f"      CodeUri: services/{fn_name(i)}",
            "      Handler: app.handler",
        ]
    write(root / "template.yaml", "\n".join(lines) + "\n")


def edit(path: Path, run: int) -> None:
    path.write_text(path.read_text() + f"# edit {run} {time.time_ns()}\n")


# ------------------------------------------------------------------------------------------------
# Measuring


@dataclass(frozen=True)
class Zip:
    mtime_ns: int
    inode: int
    sha256: str


def snapshot(dist: Path) -> dict[str, Zip]:
    out = {}
    for path in sorted(dist.glob("*.zip")):
        st = path.stat()
        digest = hashlib.sha256(path.read_bytes()).hexdigest()
        out[path.stem] = Zip(st.st_mtime_ns, st.st_ino, digest)
    return out


def rewritten(before: dict[str, Zip], after: dict[str, Zip]) -> tuple[set[str], set[str]]:
    """(zips written again or new, zips whose bytes changed)."""
    written = {k for k, z in after.items()
               if k not in before or (z.mtime_ns, z.inode) != (before[k].mtime_ns, before[k].inode)}
    changed = {k for k, z in after.items() if k not in before or z.sha256 != before[k].sha256}
    return written, changed


def is_function(stem: str) -> bool:
    return re.fullmatch(r"f\d{3}", stem) is not None


def build_command(jobs: int | None) -> list[str]:
    cmd = [*FPACK, "--quiet", "build", "--target", "aws"]
    help_text = subprocess.run([*FPACK, "build", "--help"], capture_output=True, text=True,
                               check=False, env={**os.environ, "COLUMNS": "200"}).stdout
    if jobs and re.search(r"(^|\s)-j\b|--jobs\b", help_text):
        cmd += ["-j", str(jobs)]
    return cmd


def build_image(given: str) -> str | None:
    """The image given; the lab's default only when Docker has it (else fpack's own default)."""
    if given != LAB_BUILD_IMAGE:
        return given or None
    found = subprocess.run(["docker", "image", "inspect", given], capture_output=True, check=False)
    return given if found.returncode == 0 else None


def find_sam(given: str | None) -> Path | None:
    if given:
        path = Path(given)
        return path if path.exists() else None
    for candidate in (shutil.which("sam"), "/tmp/samvenv/bin/sam"):
        if candidate and Path(candidate).exists():
            return Path(candidate)
    return None


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--functions", type=int, default=200, help="functions in the big repo")
    parser.add_argument("--jobs", "-j", type=int, default=os.cpu_count(),
                        help="fpack build -j N, when fpack's build accepts -j")
    parser.add_argument("--layer", action="store_true", help="[targets.aws] layer = true")
    parser.add_argument("--sam", metavar="PATH", help="the sam executable (default: sam on PATH, "
                        "else /tmp/samvenv/bin/sam)")
    parser.add_argument("--sam-runs", type=int, default=1, help="runs of each SAM scenario")
    parser.add_argument("--build-image", metavar="IMAGE", default=LAB_BUILD_IMAGE,
                        help="[targets.aws] build_image, where the local libraries are built "
                        f"(default: {LAB_BUILD_IMAGE} when Docker has it; '' for fpack's default)")
    parser.add_argument("--keep", metavar="DIR", help="generate into DIR and leave it there")
    args = parser.parse_args()
    n = args.functions
    results: dict[str, list[float]] = {k: [] for k in (
        "cold10", "cold", "nothing", "handler", "common", "core", "sam_cold", "sam_nothing")}
    counts: dict[str, list[tuple[int, int, int]]] = {k: [] for k in ("nothing", "handler",
                                                                       "common", "core")}
    notes: list[str] = []
    with tempfile.TemporaryDirectory(prefix="fpack-bench-mono-") as tmp:
        base = Path(args.keep).resolve() if args.keep else Path(tmp)
        if args.keep:
            shutil.rmtree(base, ignore_errors=True)
        cache = base / "cache"
        env = {**os.environ, "FPACK_CACHE_DIR": str(cache)}
        image = build_image(args.build_image)
        if image:
            notes.append(f"local libraries built in {image} ([targets.aws] build_image)")
        small = generate(base / "mono10", len(SETS), layer=args.layer, build_image=image)
        big = generate(base / f"mono{n}", n, layer=args.layer, build_image=image)
        build = build_command(args.jobs)
        dist = big / "dist" / "aws"

        def fpack_build(project: Path) -> Callable[[], None]:
            return lambda: sh(build, project, env, what=f"fpack build in {project.name}")

        print(f"warming uv's download cache: {' '.join(build[2:])} in {big.name}", file=sys.stderr)
        fpack_build(big)()  # warms uv's download cache (and the build backend's wheels)
        for run in range(args.runs):
            print(f"run {run + 1}/{args.runs}", file=sys.stderr)
            for project, key in ((small, "cold10"), (big, "cold")):
                shutil.rmtree(cache, ignore_errors=True)
                shutil.rmtree(project / "dist", ignore_errors=True)
                results[key].append(timed(fpack_build(project)))
                print(f"  {key:<8}{results[key][-1]:8.3f}s", file=sys.stderr)
            scenarios: list[tuple[str, Path | None]] = [
                ("nothing", None),
                ("handler", big / "services" / fn_name(EDITED_FUNCTION) / "app.py"),
                ("common", big / "libs" / "common" / "src" / "fpbench_common" / "__init__.py"),
                ("core", big / "libs" / "core" / "src" / "fpbench_core" / "__init__.py"),
            ]
            for key, edited in scenarios:
                before = snapshot(dist)
                if edited is not None:
                    edit(edited, run)
                results[key].append(timed(fpack_build(big)))
                written, changed = rewritten(before, snapshot(dist))
                functions = sum(1 for k in written if is_function(k))
                counts[key].append((functions, len(written) - functions, len(changed)))
                print(f"  {key:<8}{results[key][-1]:8.3f}s  rewrote {functions} function zip(s), "
                      f"{len(written) - functions} layer(s)", file=sys.stderr)
        sam = find_sam(args.sam)
        if sam is None:
            notes.append("sam: not found (--sam PATH, or `pip install aws-sam-cli` into a venv "
                         "of its own); SAM rows skipped")
        else:
            measure_sam(sam, base / "sam", n, runs=args.sam_runs, results=results, notes=notes)
    report(results, counts, notes, args, build)


def measure_sam(sam: Path, root: Path, n: int, *, runs: int, results: dict[str, list[float]],
                notes: list[str]) -> None:
    generate(root, n, layer=False, build_image=None)
    sam_template(root, n)
    # SAM's pip runs from a scratch directory: `../../libs/common` is "Invalid requirement ... It
    # looks like a path. File does not exist". SAM users write absolute paths, and list a
    # library's own local dependencies too (pip knows nothing of [tool.uv.sources]).
    for reqs in root.glob("services/*/requirements.txt"):
        lines = reqs.read_text().splitlines()
        local = [x.removeprefix("../../libs/") for x in lines if x.startswith("../../libs/")]
        wanted = sorted({d for lib in local for d in lib_closure(lib)})
        rest = [x for x in lines if not x.startswith("../../libs/")]
        reqs.write_text("\n".join([*(str(root / "libs" / d) for d in wanted), *rest]) + "\n")
    notes.append("sam: path requirements made absolute, with libs/core listed beside libs/common "
                 "(SAM's pip refuses ../../libs/common: 'Invalid requirement ... It looks like a "
                 "path. File does not exist', and ignores [tool.uv.sources])")
    env = {**os.environ, "SAM_CLI_TELEMETRY": "0", "SAM_CLI_DISABLE_TELEMETRY": "1"}
    cmd = [str(sam), "build", "--parallel", "--cached"]
    version = subprocess.run([str(sam), "--version"], capture_output=True, text=True,
                             check=False).stdout.strip()
    print(f"sam: {version}: {' '.join(cmd[1:])} on {n} functions", file=sys.stderr)
    for _ in range(runs):
        shutil.rmtree(root / ".aws-sam", ignore_errors=True)
        start = time.perf_counter()
        proc = subprocess.run(cmd, cwd=root, env=env, capture_output=True, text=True, check=False)
        elapsed = time.perf_counter() - start
        if proc.returncode != 0:
            tail = "\n    ".join((proc.stdout + proc.stderr).strip().splitlines()[-8:])
            notes.append(f"sam build failed (exit {proc.returncode}) after {elapsed:.1f}s; SAM "
                         f"rows skipped:\n    {tail}")
            return
        results["sam_cold"].append(elapsed)
        results["sam_nothing"].append(timed(lambda: sh(cmd, root, env, what="sam build")))
    notes.append(f"sam: {version} ({runs} run(s) of each)")


def report(results: dict[str, list[float]], counts: dict[str, list[tuple[int, int, int]]],
           notes: list[str], args: argparse.Namespace, build: list[str]) -> None:
    n = args.functions
    cold10 = statistics.median(results["cold10"])
    rows = {
        "cold10": (f"cold build, {len(SETS)} functions (one per set)", "", ""),
        "cold": (f"cold build, {n} functions", "vs cold 10", "<= 3x"),
        "nothing": ("rebuild, nothing changed", "", "<= 1 s"),
        "handler": ("rebuild, one handler edited", "", "<= 1 s"),
        "common": ("rebuild, libs/common edited", "", ""),
        "core": ("rebuild, libs/core edited (common uses it)", "", ""),
        "sam_cold": (f"sam build --parallel --cached, cold, {n}", "vs fpack", ""),
        "sam_nothing": ("sam build --parallel --cached, nothing", "vs fpack", ""),
    }
    versus = {"cold": cold10, "sam_cold": _median(results["cold"]),
              "sam_nothing": _median(results["nothing"])}
    print(
        f"{' '.join(build[2:])}: {n} functions over {len(SETS)} dependency sets, "
        f"python{PYTHON} x86_64, layer = {'true' if args.layer else 'false'}, "
        f"{args.runs} runs ({os.cpu_count()} CPUs)"
    )
    print(f"{'scenario':<46}{'median':>9}{'min':>9}{'max':>9}{'ratio':>9}  {'':<11}{'target':<7}")
    for key, (label, against, target) in rows.items():
        xs = results[key]
        if not xs:
            continue
        ratio = f"{statistics.median(xs) / versus[key]:8.2f}x" if key in versus else ""
        print(f"{label:<46}{statistics.median(xs):8.3f}s{min(xs):8.3f}s{max(xs):8.3f}s"
              f"{ratio:>9}  {against:<11}{target:<7}")
    # What an edit must rewrite: the functions whose zip holds what was edited; with layers, the
    # layers of the sets holding the library instead (function zips then hold only their code).
    expected = {"nothing": (0, 0), "handler": (1, 0)}
    for lib in ("common", "core"):
        sets = {s for s, used in SET_LIBS.items() if lib in lib_closure(used)}
        expected[lib] = (0, len(sets)) if args.layer else (len(dependents(lib, n)), 0)
    print()
    print(f"{'zips rewritten per rebuild':<46}{'functions':>10}{'layers':>8}{'changed':>9}"
          f"{'expected':>10}")
    for key, runs in counts.items():
        label = rows[key][0].removeprefix("rebuild, ")
        want = expected[key]
        wanted = f"{want[0]} + {want[1]}"
        for f, layers, changed in runs:
            print(f"{label:<46}{f:>10}{layers:>8}{changed:>9}{wanted:>10}"
                  f"{'' if (f, layers) == want else '  <- differs'}")
    print("\n(functions, layers: zips written again; changed: zips whose sha256 changed; "
          "expected: functions + layers holding what was edited)")
    for note in notes:
        print(f"note: {note}")


def _median(xs: list[float]) -> float:
    return statistics.median(xs) if xs else float("nan")


if __name__ == "__main__":
    compiled.ensure(sys.executable)
    main()
