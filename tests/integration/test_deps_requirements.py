"""Requirements as users write them: -r includes, extras, markers for the target (not the host),
hashes, a private index with credentials, and uv.lock. Each artifact runs on its target and
reports which distributions it can import."""

from __future__ import annotations

import re
import subprocess
import textwrap
from pathlib import Path
from typing import Any

import pytest

from fpack.deps import uv
from tests.integration import deps_support, lab

pytestmark = pytest.mark.lab

SIX_WHEEL_SHA256 = "4721f391ed90541fddacab5acf947aa0d3dc7d27b2e1e8eda2be8970586c3274"  # 1.17.0
PROBED = ["six", "idna", "urllib3", "socks", "typing_extensions", "colorama",
          "fpack_private_thing"]


def probe_project(root: Path, requirements: str, *, runtime: str = "python3.11",
                  dependencies: str | None = None) -> Path:
    """A project whose handler reports, for each probed module, its version or None."""
    root.mkdir(parents=True, exist_ok=True)
    deps = f'dependencies = "{dependencies}"' if dependencies else ""
    (root / "fpack.toml").write_text(textwrap.dedent(f"""\
        [project]
        name = "probe"
        {deps}

        [functions.probe]
        handler = "probe:probe"
        style = "lambda"

        [targets.aws]
        runtime = "{runtime}"
    """))
    (root / "probe.py").write_text(textwrap.dedent("""\
        import importlib


        def probe(event, context):
            found = {}
            for name in event["modules"]:
                try:
                    module = importlib.import_module(name)
                except ImportError:
                    found[name] = None
                else:
                    found[name] = str(getattr(module, "__version__", "present"))
            return found
    """))
    if requirements:
        (root / "requirements.txt").write_text(requirements)
    return root


def run_probe(project: Path, tmp: Path, python: tuple[int, int]) -> dict[str, Any]:
    (fn,) = [m for m in lab.build(project, "aws") if m["kind"] == "function"]
    run = lab.run_lambda(fn, project, lab.IMAGES[python], [{"modules": PROBED}], tmp)
    result: dict[str, Any] = run.results[0]
    return {k: v for k, v in result.items() if v is not None}


def test_includes_extras_and_markers_are_evaluated_for_the_target(tmp_path: Path) -> None:
    requirements = textwrap.dedent("""\
        -r base.txt
        urllib3[socks]==2.2.3
        typing-extensions==4.12.2 ; python_version < "3.12"
        colorama==0.4.6 ; sys_platform == "win32"
    """)
    project = probe_project(tmp_path / "p", requirements, runtime="python3.13")
    (project / "base.txt").write_text("six==1.17.0\n")
    # this machine runs Python 3.11 on Linux: only the target's 3.13 keeps typing-extensions out
    assert run_probe(project, tmp_path / "r1", (3, 13)).keys() == {"six", "urllib3", "socks"}

    (project / "base.txt").write_text("six==1.17.0\nidna==3.10\n")  # an edit to the included file
    found = run_probe(project, tmp_path / "r2", (3, 13))
    assert found == {"six": "1.17.0", "idna": "3.10", "urllib3": "2.2.3", "socks": "1.7.1"}

    older = probe_project(tmp_path / "p311", requirements, runtime="python3.11")
    (older / "base.txt").write_text("six==1.17.0\n")
    assert run_probe(older, tmp_path / "r3", (3, 11)).keys() == {
        "six", "urllib3", "socks", "typing_extensions"}


def test_hashes_are_checked_against_the_files_chosen_for_the_target(tmp_path: Path) -> None:
    good = probe_project(tmp_path / "good", f"six==1.17.0 --hash=sha256:{SIX_WHEEL_SHA256}\n")
    assert run_probe(good, tmp_path / "r", (3, 11)) == {"six": "1.17.0"}

    wrong = probe_project(tmp_path / "wrong",
                          "six==1.17.0 \\\n    --hash=sha256:" + "0" * 64 + "\n")
    proc = lab.fpack(wrong, "build", "--target", "aws", check=False)
    assert proc.returncode == 1
    assert _error(proc.stderr) == (
        f"error: {wrong / 'requirements.txt'}: six 1.17.0: the file chosen for python3.11 x86_64 "
        "(Amazon Linux 2, glibc 2.26) (six-1.17.0-py2.py3-none-any.whl, "
        f"sha256:{SIX_WHEEL_SHA256}) matches none of the 1 hash(es) given for it\n"
        "  hint: add the hash of that file (`uv pip compile --generate-hashes --python-platform "
        "...` for the target lists it), or remove the --hash options of six")

    partial = probe_project(tmp_path / "partial", "--require-hashes\n"
                            f"six==1.17.0 --hash=sha256:{SIX_WHEEL_SHA256}\nidna==3.10\n")
    proc = lab.fpack(partial, "build", "--target", "aws", check=False)
    assert proc.returncode == 1
    assert _error(proc.stderr).startswith(
        f"error: {partial / 'requirements.txt'}: hash-checking mode is on (--require-hashes, or "
        "a --hash option on a requirement), but idna 3.10 has no --hash\n")
    assert not (partial / "dist").exists()


def _error(stderr: str) -> str:
    return stderr[stderr.index("error: "):].rstrip("\n")


def test_private_index_with_credentials_from_the_environment(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    pkg = deps_support.pure_package(tmp_path / "src", "fpack-private-thing",
                                    body='__version__ = "7.0"\n')
    wheel = deps_support.build_dist(pkg, tmp_path / "dists", kind="wheel")
    deps_support.write_index(tmp_path / "index", [wheel])
    monkeypatch.setenv("FPACK_TEST_TOKEN", "s3cret-token")
    with deps_support.serve_index(tmp_path / "index",
                                  credentials=("alice", "s3cret-token")) as index:
        url = index.url.replace("http://", "http://alice:${FPACK_TEST_TOKEN}@")
        project = probe_project(tmp_path / "p", f"--index-url {url}\nfpack-private-thing\n")
        found = run_probe(project, tmp_path / "r", (3, 11))
        built = lab.fpack(project, "build", "--target", "aws", "--refresh")
    assert found == {"fpack_private_thing": "7.0"}
    # the token reached the index, and nothing fpack wrote or printed
    leaks = [p for p in [*(project / "dist").rglob("*"), *Path(_cache()).rglob("*")]
             if p.is_file() and b"s3cret-token" in p.read_bytes()]
    assert leaks == []
    assert "s3cret" not in built.stderr


def _cache() -> str:
    import os

    return os.environ["FPACK_CACHE_DIR"]


def test_uv_lock_is_installed_as_locked_and_its_hashes_enforced(tmp_path: Path) -> None:
    project = probe_project(tmp_path / "p", "", dependencies="uv.lock")
    (project / "pyproject.toml").write_text(textwrap.dedent("""\
        [project]
        name = "probe"
        version = "0.1.0"
        requires-python = ">=3.9"
        dependencies = ["six==1.17.0", "idna==3.10"]
    """))
    proc = subprocess.run([uv.binary(), "lock", "--quiet", "--no-python-downloads", "--project",
                           project], capture_output=True, text=True, check=False, timeout=300)
    assert proc.returncode == 0, proc.stderr
    assert run_probe(project, tmp_path / "r", (3, 11)) == {"six": "1.17.0", "idna": "3.10"}

    lock = project / "uv.lock"
    lock.write_text(re.sub(SIX_WHEEL_SHA256, "f" * 64, lock.read_text()))
    proc = lab.fpack(project, "build", "--target", "aws", check=False)
    assert proc.returncode == 1
    assert "six 1.17.0: the file chosen for python3.11 x86_64" in proc.stderr
    assert f"sha256:{SIX_WHEEL_SHA256}) matches none of the" in proc.stderr
