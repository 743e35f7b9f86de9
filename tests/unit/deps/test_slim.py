"""slim = true's rules, as data: which paths go, which stay and why."""

from __future__ import annotations

import struct

from fpack.deps import slim
from fpack.manifest import AwsFunction

TREE = {
    "pandas/__init__.py": "from pandas.core.api import DataFrame\n",
    "pandas/core/api.py": "",
    "pandas/core/frame.pyi": "",
    "pandas/tests/__init__.py": "",
    "pandas/tests/frame/test_api.py": "",
    "pandas/_testing/__init__.py": "",
    "pandas/util/_tester.py": "def test():\n    import pytest\n",
    "numpy/__init__.py": "def __getattr__(a):\n    import numpy.testing as testing\n",
    "numpy/testing/__init__.py": "from numpy._core.tests._natype import pd_NA\n",
    "numpy/_core/tests/_natype.py": "from numpy._core.tests.test_helper import h\n",
    "numpy/_core/tests/test_x.py": "from numpy._core.tests.test_other import y\n",
    "numpy/_core/tests/__pycache__/test_x.cpython-311.pyc": "",
    "numpy/_core/tests/test_helper.py": "",  # pytest-named, but a kept module imports it
    "numpy/_core/tests/test_other.py": "",  # imported by a dropped test module only
    "numpy/_core/tests/data/x.csv": "",
    "numpy/lib/tests/test_y.py": "",
    "numpy/_core/__init__.pyi": "",
    "numpy-2.2.6.dist-info/METADATA": "",
    "numpy-2.2.6.dist-info/RECORD": "",
    "numpy-2.2.6.dist-info/INSTALLER": "",
    "numpy-2.2.6.dist-info/REQUESTED": "",
    "numpy-2.2.6.dist-info/WHEEL": "",
    "numpy-2.2.6.dist-info/LICENSE.txt": "",
    "numpy-2.2.6.dist-info/entry_points.txt": "",
    "tests/__init__.py": "",  # a top-level tests package: its distribution may mean it
    "lazy/__init__.py": "def helper():\n    from lazy.test.util import x\n",
    "lazy/test/util.py": "",
    "rel/__init__.py": "from .testing import helpers\n",
    "rel/testing/helpers.py": "",
    "other/__init__.py": "from . import tests\n",
    "other/tests/__init__.py": "",
    "doc/__init__.py": '"""See doc.tests for examples."""\n',
    "doc/tests/test_doc.py": "",
    "doc/conftest.py": "import doc.tests\n",  # pytest's: no run-time import
}


def read(path: str) -> str:
    return TREE[path]


def test_the_rules_drop_tests_stubs_and_installer_records_and_keep_what_imports_need() -> None:
    removal = slim.plan(TREE, read)
    assert removal.files == {
        # numpy/_core/tests stays for _natype's sake, but for the modules only pytest loads
        "tests": ("doc/tests/test_doc.py", "numpy/_core/tests/__pycache__/test_x.cpython-311.pyc",
                  "numpy/_core/tests/test_other.py", "numpy/_core/tests/test_x.py",
                  "numpy/lib/tests/test_y.py", "pandas/tests/__init__.py",
                  "pandas/tests/frame/test_api.py"),
        "stubs": ("numpy/_core/__init__.pyi", "pandas/core/frame.pyi"),
        "dist-info": ("numpy-2.2.6.dist-info/INSTALLER", "numpy-2.2.6.dist-info/REQUESTED"),
    }
    assert removal.test_dirs == ("doc/tests", "numpy/lib/tests", "pandas/tests")
    assert removal.kept_test_dirs == {
        "lazy/test": "imported by lazy",  # a lazy import inside a function counts
        # a kept test directory's imports count too
        "numpy/_core/tests": "imported by numpy.testing",
        "numpy/testing": "imported at run time (known)",
        "other/tests": "imported by other",
        "rel/testing": "imported by rel",
    }


def test_slim_keep_takes_dotted_modules_and_globs() -> None:
    removal = slim.plan(TREE, read, keep=["pandas.tests", "numpy/_core/*.pyi"])
    assert "pandas/tests/frame/test_api.py" not in removal.paths
    assert "numpy/_core/__init__.pyi" not in removal.paths
    assert removal.kept_test_dirs["pandas/tests"] == "slim_keep"
    assert "pandas/core/frame.pyi" in removal.paths
    # a file kept inside a dropped test directory: the rest of the directory still goes
    removal = slim.plan(TREE, read, keep=["numpy.lib.tests.test_y"])
    assert "numpy/lib/tests/test_y.py" not in removal.paths


def test_keep_patterns() -> None:
    assert slim.keep_patterns(["numpy.testing", "pandas/tests/io/*", " scipy.io/ "]) == (
        "numpy/testing", "pandas/tests/io/*", "scipy/io")


def test_only_modules_of_packages_with_test_directories_are_read() -> None:
    seen: list[str] = []

    def reading(path: str) -> str:
        seen.append(path)
        return TREE[path]

    slim.plan({"a/__init__.py": "", "a/tests/t.py": "", "b/__init__.py": "", "b/x.pyi": ""},
              lambda p: reading(p) if p in TREE else (seen.append(p) or ""))
    assert seen == ["a/__init__.py"]


def test_shared_objects_by_name() -> None:
    assert slim.is_shared_object("numpy/_core/_multiarray_umath.cpython-311-x86_64-linux-gnu.so")
    assert slim.is_shared_object("numpy.libs/libscipy_openblas64_-ff651d7f.so.0.3.29")
    assert not slim.is_shared_object("numpy/solib.py")


def _elf(sections: list[str]) -> bytes:
    """A 64-bit little-endian ELF with these section names (and nothing else that matters)."""
    names = b"\0" + b"".join(n.encode() + b"\0" for n in [*sections, ".shstrtab"])
    shoff = 64 + len(names)
    count = len(sections) + 2  # the null section, the sections, .shstrtab
    head = bytearray(64)
    head[:6] = b"\x7fELF\x02\x01"
    struct.pack_into("<Q", head, 0x28, shoff)
    struct.pack_into("<HHH", head, 0x3A, 64, count, count - 1)
    table = bytearray(64)  # the null section
    offset = 1
    for name in [*sections, ".shstrtab"]:
        entry = bytearray(64)
        struct.pack_into("<I", entry, 0, offset)
        if name == ".shstrtab":
            struct.pack_into("<QQ", entry, 0x18, 64, len(names))
        table += entry
        offset += len(name) + 1
    return bytes(head) + names + bytes(table)


def _has_debug(data: bytes) -> bool:
    return slim.has_debug_sections(data[:64], lambda o, n: data[o:o + n])


def test_debug_sections_are_found_in_the_section_headers() -> None:
    assert _has_debug(_elf([".text", ".debug_info", ".symtab"]))
    assert _has_debug(_elf([".zdebug_line"]))
    assert not _has_debug(_elf([".text", ".dynsym", ".symtab"]))  # symbols are not debug
    assert not _has_debug(b"not an elf file" * 8)
    assert not _has_debug(_elf([".debug_info"])[:100])  # truncated: left alone


def test_the_saving_round_trips_through_the_manifest(tmp_path: object) -> None:
    from pathlib import Path

    root = Path(str(tmp_path))
    saving = slim.Saving(saved=300, removed={"tests": (2, 200), "debug-sections": (1, 100)},
                         test_dirs=("pandas/tests",), keep=("numpy.testing",))
    fn = AwsFunction(function="f", target="aws", runtime="python3.11", arch="x86_64",
                     handler="app.f", sha256="00" * 32, size=1, unpacked_size=2,
                     path=root / "dist/aws/f.zip", slim=saving)
    data = fn.to_json(root)
    assert list(data)[-2:] == ["packages", "slim"]
    assert data["slim"] == {"saved": 300,
                            "removed": {"tests": {"files": 2, "bytes": 200},
                                        "debug-sections": {"files": 1, "bytes": 100}},
                            "test_dirs": ["pandas/tests"], "keep": ["numpy.testing"]}
    from fpack.manifest import from_json

    assert from_json(data, root) == fn
