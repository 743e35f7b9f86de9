"""A CI runner's cold build (empty local cache, empty uv cache) with a warm shared cache, against
the same cold build with no shared cache, in one run on one machine. Prints medians and the ratio;
asserts nothing. Issue 13's target: at most 0.3 of the time.

    python bench/shared_cache.py [--runs N]

The project: the repository's example requirements (pydantic, Pillow, numpy: wheels from PyPI,
pinned below the releases that need glibc 2.28) and
one C extension that exists only as an sdist on a loopback index, so a cold build without a
shared cache resolves, builds the sdist in the lab's build container (fpack-lab/build:3.11),
installs, audits and zips. The shared cache is a moto S3 server on loopback, filled once by a
first runner; each warm run is a new "runner" (its own local cache, uv cache and checkout path).
Needs the Docker lab (lab/setup.sh) and PyPI.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from tests.integration import deps_support  # noqa: E402

PACKAGE = "fpack-labext-bench"
PINNED = "pydantic>=2.7,<3\npillow>=10,<12\nnumpy>=1.26,<2.3\n"
AWS_ENV = {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing-secret",
           "AWS_DEFAULT_REGION": "us-east-1"}
FPACK_TOML = """\
[project]
name = "bench"

[functions.add]
handler = "app:add"
style = "lambda"

[targets.aws]
runtime = "python3.11"
arch = "x86_64"
"""
APP = """\
import fpack_labext_bench


def add(event, context):
    return {"sum": fpack_labext_bench.add(event["a"], event["b"])}
"""


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def start_moto(log: Path) -> tuple[subprocess.Popen[bytes], str]:
    port = free_port()
    proc = subprocess.Popen([sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p",
                             str(port)], stdout=log.open("wb"), stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    for _ in range(150):
        try:
            urllib.request.urlopen(f"{url}/moto-api/", timeout=2).close()
            return proc, url
        except urllib.error.HTTPError:  # noqa: PERF203 - a poll, a few times a second at most
            return proc, url
        except OSError:
            time.sleep(0.2)
    raise SystemExit("moto server did not start")


def checkout(base: Path, index_url: str) -> Path:
    project = base / "checkout" / "svc"
    project.mkdir(parents=True)
    (project / "fpack.toml").write_text(FPACK_TOML)
    (project / "app.py").write_text(APP)
    # The example's requirements, pinned to releases with wheels for Amazon Linux 2 (glibc 2.26):
    # newer numpy and Pillow need glibc 2.28, and fpack would build them from source.
    (project / "requirements.txt").write_text(
        f"--extra-index-url {index_url}\n{PACKAGE}==1.0\n{PINNED}")
    return project


def build(base: Path, index_url: str, env: dict[str, str]) -> tuple[float, str, str]:
    """One runner: a fresh checkout, local cache and uv cache; seconds, artifact sha256, log."""
    project = checkout(base, index_url)
    run_env = {**os.environ, **env, "FPACK_CACHE_DIR": str(base / "cache"),
               "UV_CACHE_DIR": str(base / "uv"), "SOURCE_DATE_EPOCH": "1700000000",
               "FPACK_BUILD_IMAGE": "fpack-lab/build:3.11"}
    start = time.perf_counter()
    proc = subprocess.run([sys.executable, "-m", "fpack", "build", "--target", "aws", "--json"],
                          cwd=project, env=run_env, capture_output=True, text=True, check=False)
    seconds = time.perf_counter() - start
    if proc.returncode != 0:
        raise SystemExit(f"build failed:\n{proc.stderr}")
    (fn,) = [m for m in json.loads(proc.stdout) if m["kind"] == "function"]
    return seconds, fn["sha256"], proc.stderr


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    import boto3

    with tempfile.TemporaryDirectory(prefix="fpack-bench-shared-") as tmp_name:
        tmp = Path(tmp_name)
        source = deps_support.c_package(tmp / "pkg", PACKAGE)
        sdist = deps_support.build_dist(source, tmp / "dists", kind="sdist")
        deps_support.write_index(tmp / "index", [sdist])
        moto, endpoint = start_moto(tmp / "moto.log")
        try:
            boto3.client("s3", endpoint_url=endpoint, **{
                "aws_access_key_id": AWS_ENV["AWS_ACCESS_KEY_ID"],
                "aws_secret_access_key": AWS_ENV["AWS_SECRET_ACCESS_KEY"],
                "region_name": "us-east-1"}).create_bucket(Bucket="ci-cache")
            shared = {"FPACK_CACHE_URL": "s3://ci-cache/bench", "AWS_ENDPOINT_URL": endpoint,
                      **AWS_ENV}
            with deps_support.serve_index(tmp / "index") as index:
                none, warm, shas = [], [], set()
                for n in range(args.runs):
                    seconds, _, _ = build(tmp / f"cold-{n}", index.url, {})
                    none.append(seconds)
                    print(f"cold, no shared cache   run {n + 1}: {seconds:6.2f} s", flush=True)
                seconds, filled, _ = build(tmp / "filler", index.url, shared)
                print(f"first runner fills the shared cache: {seconds:6.2f} s", flush=True)
                for n in range(args.runs):
                    seconds, sha, log = build(tmp / f"warm-{n}", index.url, shared)
                    if "installing" in log or "building" in log:
                        raise SystemExit(f"a warm runner made an entry:\n{log}")
                    warm.append(seconds)
                    shas.add(sha)
                    print(f"cold, warm shared cache run {n + 1}: {seconds:6.2f} s", flush=True)
        finally:
            moto.terminate()
            moto.wait(timeout=10)
        shutil.rmtree(tmp / "dists", ignore_errors=True)
    a, b = statistics.median(none), statistics.median(warm)
    print(f"\nmedian cold build, no shared cache:   {a:6.2f} s")
    print(f"median cold build, warm shared cache: {b:6.2f} s")
    print(f"ratio: {b / a:.2f}x (target <= 0.30x)")
    print(f"every warm runner's artifact is the filler's, byte for byte: {shas == {filled}}")


if __name__ == "__main__":
    main()
