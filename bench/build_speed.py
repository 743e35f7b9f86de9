"""Build speed of `fpack build --target aws` on the repository's example, against the AWS
documentation's recipe (pip install --platform ... --only-binary=:all: --target, then zip), measured
in the same run on the same machine. Prints medians and ratios; asserts nothing.

    python bench/build_speed.py [--runs N] [--runtime python3.12]

Scenarios:
  cold            empty fpack cache (uv's own download cache stays warm, like pip's for the recipe)
  nothing         rebuild with nothing changed
  handler         rebuild after editing only the handler's source
  requirement     rebuild after changing one requirement (a new pin)
  pip recipe      the documented pip-and-zip recipe, pip's cache warm
  fpack --help    CLI start-up
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
import zipfile
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
FPACK = [sys.executable, "-m", "fpack"]


def timed(fn: Callable[[], None]) -> float:
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


def sh(args: list[str], cwd: Path, env: dict[str, str]) -> None:
    proc = subprocess.run(args, cwd=cwd, env=env, capture_output=True, text=True, check=False)
    if proc.returncode != 0:
        sys.exit(f"{' '.join(args)} failed:\n{proc.stderr}")


def copy_example(dest: Path, runtime: str) -> Path:
    dest.mkdir(parents=True)
    shutil.copytree(ROOT / "example", dest / "example")
    shutil.copy(ROOT / "requirements.txt", dest)
    toml = (
        (ROOT / "fpack.toml")
        .read_text()
        .replace('runtime = "python3.12"', f'runtime = "{runtime}"')
    )
    (dest / "fpack.toml").write_text(toml)
    return dest


def pip_recipe(work: Path, runtime: str, env: dict[str, str]) -> None:
    """https://docs.aws.amazon.com/lambda/latest/dg/python-package.html (manylinux wheels)."""
    version = runtime.removeprefix("python")
    package = work / "package"
    shutil.rmtree(package, ignore_errors=True)
    sh(
        [
            sys.executable,
            "-m",
            "pip",
            "install",
            "--quiet",
            "--platform",
            "manylinux2014_x86_64",
            "--platform",
            "manylinux_2_28_x86_64",
            "--platform",
            "manylinux_2_34_x86_64",
            "--target",
            str(package),
            "--implementation",
            "cp",
            "--python-version",
            version,
            "--only-binary=:all:",
            "--upgrade",
            "-r",
            str(ROOT / "requirements.txt"),
        ],
        work,
        env,
    )
    with zipfile.ZipFile(work / "deployment.zip", "w", zipfile.ZIP_DEFLATED) as z:
        for path in sorted(package.rglob("*")):
            z.write(path, path.relative_to(package))
        for path in sorted((work / "example").rglob("*.py")):
            z.write(path, path.relative_to(work))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--runtime", default="python3.12")
    args = parser.parse_args()
    results: dict[str, list[float]] = {
        k: [] for k in ("cold", "nothing", "handler", "requirement", "pip", "help")
    }
    with tempfile.TemporaryDirectory(prefix="fpack-bench-") as tmp:
        base = Path(tmp)
        env = {**os.environ, "FPACK_CACHE_DIR": str(base / "cache")}
        project = copy_example(base / "photos", args.runtime)
        build = [*FPACK, "--quiet", "build", "--target", "aws"]
        sh(build, project, env)  # warms uv's download cache, as pip's is warm for the recipe
        for i in range(args.runs):
            shutil.rmtree(base / "cache")
            shutil.rmtree(project / "dist")
            results["cold"].append(timed(lambda: sh(build, project, env)))
            results["nothing"].append(timed(lambda: sh(build, project, env)))
            handler = project / "example" / "api.py"
            handler.write_text(handler.read_text() + f"\n# edit {i}\n")
            results["handler"].append(timed(lambda: sh(build, project, env)))
            reqs = project / "requirements.txt"
            reqs.write_text(
                reqs.read_text() + f"\nannotated-types{'>=0.6' if i % 2 else '>=0.5'}\n"
            )
            results["requirement"].append(timed(lambda: sh(build, project, env)))
            results["pip"].append(timed(lambda: pip_recipe(base, args.runtime, env)))
        for _ in range(10):
            results["help"].append(timed(lambda: sh([*FPACK, "--help"], project, env)))
    report(results, args)


def report(results: dict[str, list[float]], args: argparse.Namespace) -> None:
    pip = statistics.median(results["pip"])
    labels = {
        "cold": "cold build (empty fpack cache)",
        "nothing": "rebuild, nothing changed",
        "handler": "rebuild, handler edited",
        "requirement": "rebuild, one requirement changed",
        "pip": "pip install --platform + zip (AWS docs)",
        "help": "fpack --help",
    }
    print(
        f"fpack build --target aws, example project, {args.runtime}, {args.runs} runs "
        f"({os.cpu_count()} CPUs)"
    )
    print(f"{'scenario':<42}{'median':>9}{'min':>9}{'max':>9}{'vs pip':>9}")
    for key, label in labels.items():
        xs = results[key]
        ratio = f"{statistics.median(xs) / pip:8.2f}x" if key != "help" else ""
        print(f"{label:<42}{statistics.median(xs):8.3f}s{min(xs):8.3f}s{max(xs):8.3f}s{ratio:>9}")


if __name__ == "__main__":
    main()
