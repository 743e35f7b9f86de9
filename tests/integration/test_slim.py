"""`slim = true` on a pandas + numpy function: smaller, a quarter smaller with its bytecode, and
still working.

The same project is built slim off and on, with and without `compile = true`, against one cache
(the installed tree is made once per compile setting; the slimmed tree is its own entry). The
slimmed zip then runs in the target's container with the network off: a groupby, `numpy.testing`
(kept: numpy reaches for it at run time) and `importlib.metadata.version("pandas")` (dist-info
METADATA kept).
"""

from __future__ import annotations

import base64
import ctypes
import hashlib
import json
import os
import shutil
import subprocess
import textwrap
import zipfile
from pathlib import Path
from typing import Any

import pytest

from fpack.deps import audit, engine
from fpack.deps import slim as slim_rules
from fpack.deps.elf import read_elf
from fpack.report import NullReporter
from tests.integration import lab

pytestmark = pytest.mark.lab

ENV = {"FPACK_BUILD_IMAGE": "fpack-lab/build:3.11"}


def _project(root: Path, *, slim: bool, compiled: bool = False) -> Path:
    root.mkdir(parents=True)
    (root / "fpack.toml").write_text(textwrap.dedent(f"""\
        [project]
        name = "frames"

        [functions.stats]
        handler = "app:stats"
        style = "lambda"

        [targets.aws]
        runtime = "python3.11"
        slim = {str(slim).lower()}
        compile = {str(compiled).lower()}
    """))
    (root / "app.py").write_text(textwrap.dedent("""\
        import importlib.metadata

        import numpy
        import numpy.testing
        import pandas


        def stats(event, context):
            frame = pandas.DataFrame(event["rows"])
            sums = frame.groupby("k")["v"].sum().to_dict()
            numpy.testing.assert_allclose(numpy.array([1.0, 2.0]), [1.0, 2.0])
            return {"sums": sums, "pandas": importlib.metadata.version("pandas"),
                    "numpy": importlib.metadata.version("numpy")}
    """))
    (root / "requirements.txt").write_text("numpy<2.3\npandas<2.3\n")
    return root


def _build(project: Path) -> dict[str, Any]:
    proc = lab.fpack(project, "build", "--target", "aws", "--json", env=ENV)

    (fn,) = [m for m in json.loads(proc.stdout) if m["kind"] == "function"]
    fn["_stderr"] = proc.stderr
    return dict(fn)


def _unzipped(path: Path) -> int:
    with zipfile.ZipFile(path) as z:
        return sum(i.file_size for i in z.infolist())


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, Any], dict[str, Any],
                                                              int, int]:
    tmp = tmp_path_factory.mktemp("slim")
    full = _build(_project(tmp / "full", slim=False))
    project = _project(tmp / "slim", slim=True)
    slim = _build(project)
    before = _unzipped(tmp / "full" / full["path"])
    after = _unzipped(project / slim["path"])
    print(f"\nunzipped: slim = false {before} bytes, slim = true {after} bytes "
          f"({100 * (before - after) / before:.1f}% less); saving {slim['slim']}")
    return project, full, slim, before, after


@pytest.fixture(scope="module")
def compiled(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, Any], int, int]:
    tmp = tmp_path_factory.mktemp("slim-compiled")
    full = _build(_project(tmp / "full", slim=False, compiled=True))
    project = _project(tmp / "slim", slim=True, compiled=True)
    slim = _build(project)
    before = _unzipped(tmp / "full" / full["path"])
    after = _unzipped(project / slim["path"])
    print(f"\nunzipped, compile = true: slim = false {before} bytes, slim = true {after} bytes "
          f"({100 * (before - after) / before:.1f}% less)")
    return project, slim, before, after


# With `compile = true` the tests' bytecode goes with them: 150 MB -> 100 MB measured (-33%).
def test_slim_pandas_numpy_compiled_is_a_quarter_smaller_and_runs(compiled: Any,
                                                                  tmp_path: Path) -> None:
    project, slim, before, after = compiled
    assert after <= before * 3 / 4
    with zipfile.ZipFile(project / slim["path"]) as z:
        names = set(z.namelist())
    assert "numpy/_core/tests/_natype.py" in names  # numpy.testing imports it
    assert not any(n.endswith("/test_multiarray.py") or "test_multiarray.cpython" in n
                   for n in names)
    run = lab.run_lambda(slim, project, "fpack-lab/python:3.11",
                         [{"rows": [{"k": "a", "v": 1}, {"k": "a", "v": 2}]}], tmp_path / "run")
    assert run.results[0]["sums"] == {"a": 3}


def test_slim_pandas_numpy_is_smaller_and_still_runs(built: Any, tmp_path: Path) -> None:
    project, full, slim, before, after = built
    # numpy 2.2 and pandas 2.2 for x86_64: 19 MB of tests and stubs the rules can prove unused
    # in 105 MB, no debug sections (18.1% measured). The rest is code and numpy's OpenBLAS.
    assert after <= before * 0.85
    assert "slim" not in full
    saving = slim["slim"]
    assert saving["saved"] == full["unpacked_size"] - slim["unpacked_size"]
    assert saving["removed"]["tests"]["files"] > 100
    assert "pandas/tests" in saving["test_dirs"]
    assert not any(d.startswith("numpy/testing") for d in saving["test_dirs"])
    assert "slim: " in slim["_stderr"] and "removed from" in slim["_stderr"]
    with zipfile.ZipFile(project / slim["path"]) as z:
        names = set(z.namelist())
    assert "numpy/testing/__init__.py" in names
    assert not any(n.startswith("pandas/tests/") for n in names)
    assert not any(n.endswith(".pyi") for n in names)

    run = lab.run_lambda(slim, project, "fpack-lab/python:3.11",
                         [{"rows": [{"k": "a", "v": 1}, {"k": "b", "v": 2}, {"k": "a", "v": 3}]}],
                         tmp_path / "run")
    (result,) = run.results
    assert result["sums"] == {"a": 4, "b": 2}
    assert result["pandas"].startswith("2.") and result["numpy"].startswith("2.")


@pytest.mark.skipif(not (shutil.which("gcc") and shutil.which("objcopy")), reason="gcc, objcopy")
def test_strip_debug_keeps_symbols_the_loader_and_a_consistent_record(tmp_path: Path) -> None:
    (tmp_path / "a.c").write_text("int add(int a, int b) { return a + b; }\n")
    tree = tmp_path / "tree"
    (tree / "pkg").mkdir(parents=True)
    so = tree / "pkg" / "liba.so"
    subprocess.run(["gcc", "-g", "-shared", "-fPIC", "-o", str(so), str(tmp_path / "a.c")],
                   check=True)
    base = tmp_path / "base.so"
    os.link(so, base)  # the installed tree's copy: must stay as it was
    record = tree / "pkg-1.dist-info" / "RECORD"
    record.parent.mkdir()
    record.write_text(f"pkg/liba.so,sha256=old,{so.stat().st_size}\npkg-1.dist-info/RECORD,,\n")
    saved = engine._strip_debug(tree, ["pkg/liba.so"], NullReporter())
    engine._rehash_record(tree, record, set(saved))
    assert saved["pkg/liba.so"] > 0 and base.stat().st_size == so.stat().st_size + saved[
        "pkg/liba.so"]
    digest = base64.urlsafe_b64encode(hashlib.sha256(so.read_bytes()).digest()).rstrip(b"=")
    assert record.read_text() == (f"pkg/liba.so,sha256={digest.decode()},{so.stat().st_size}\n"
                                  "pkg-1.dist-info/RECORD,,\n")
    assert read_elf(so) is not None
    assert not audit.audit(tree, machine="x86_64", glibc=(2, 26),
                           os_libraries=audit.MANYLINUX_LIBRARIES, glibcxx=None)
    assert ctypes.CDLL(str(so)).add(2, 3) == 5  # still loads, `add` still exported
    assert not slim_rules.has_debug_sections(so.read_bytes()[:64],
                                       lambda o, n: so.read_bytes()[o:o + n])
