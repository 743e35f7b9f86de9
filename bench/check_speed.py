"""Speed of `fpack check` with a warm cache on the repository's example (fpack.toml at the root:
four functions, targets aws, gcp and docker). The goal is at most 0.5 s per run: it is a
pre-commit hook. Prints medians; asserts nothing.

    python bench/check_speed.py [--runs N]

It copies the example to a temporary directory with its own fpack cache, runs the check once to
warm that cache (this one may ask the index), then times N more runs:
  process      `python -m fpack check`, what a commit waits for (interpreter and CLI start-up too)
  in-process   `fpack.check.run` alone, in this interpreter, after a first call
The last line lists any heavy module the check imported (there should be none).
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import compiled  # bench/compiled.py: fpack's pycs, as an installed fpack has them

ROOT = Path(__file__).resolve().parent.parent
HEAVY = ("jinja2", "docker", "boto3", "botocore", "google")


def copy_example(dest: Path) -> Path:
    shutil.copytree(ROOT / "example", dest / "example")
    for name in ("fpack.toml", "requirements.txt"):
        shutil.copy(ROOT / name, dest / name)
    return dest


def run_check(project: Path, env: dict[str, str]) -> float:
    start = time.perf_counter()
    proc = subprocess.run([sys.executable, "-m", "fpack", "check"], cwd=project, env=env,
                          capture_output=True, text=True, check=False)
    elapsed = time.perf_counter() - start
    if proc.returncode != 0:
        sys.exit(f"fpack check failed ({proc.returncode}):\n{proc.stdout}{proc.stderr}")
    return elapsed


def in_process(project: Path, runs: int) -> list[float]:
    from fpack import check, inputs
    from fpack.report import NullReporter

    times = []
    for _ in range(runs + 1):
        start = time.perf_counter()
        report = check.run(project / "fpack.toml", inputs=inputs.read(),
                           reporter=NullReporter())
        times.append(time.perf_counter() - start)
        assert not report.problems, report.problems
    return times[1:]  # the first call pays for the imports


def show(label: str, times: list[float]) -> None:
    print(f"{label:<12} median {statistics.median(times):.3f} s  min {min(times):.3f} s  "
          f"max {max(times):.3f} s  ({len(times)} runs)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=15)
    args = parser.parse_args()
    compiled.ensure(sys.executable)
    with tempfile.TemporaryDirectory(prefix="fpack-bench-check-") as tmp:
        project = copy_example(Path(tmp) / "photos")
        os.environ["FPACK_CACHE_DIR"] = str(Path(tmp) / "cache")
        env = dict(os.environ)
        warm = run_check(project, env)
        print(f"warm-up      {warm:.3f} s (resolves for each target: asks the index once)")
        show("process", [run_check(project, env) for _ in range(args.runs)])
        show("in-process", in_process(project, args.runs))
        loaded = sorted(m for m in sys.modules if m.split(".")[0] in HEAVY)
        print(f"heavy modules imported by the check: {', '.join(loaded) or 'none'}")


if __name__ == "__main__":
    main()
