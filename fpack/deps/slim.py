"""`slim = true`: what an installed dependency tree can lose without any import noticing. Pure.

Every rule is safe by construction: it names files that nothing reads when the code runs, and
anything the rules cannot prove unused stays.

- **Test directories** (`tests/`, `test/`, `testing/`) *inside* a package directory (never a
  top-level one: a distribution that installs a top-level `tests` package may mean it). One stays
  when it is in `KNOWN_IMPORTED` (packages that import their test directory at run time, eagerly
  or lazily: `numpy.testing`, `torch.testing`, `xarray.testing`, ...), when `slim_keep` names it,
  or when any module of the same top-level package outside test directories has an import
  statement naming it (`import a.b.tests`, `from a.b.tests import x`, `from a.b import tests`,
  `from .tests import x`, indented or not: a lazy import counts; `conftest.py`, pytest's own,
  does not), or any module of a kept test directory does (`numpy.testing` imports
  `numpy._core.tests._natype`, found by the lab test). Files under a dropped test
  directory that `slim_keep` names keep their directory. In a test directory kept only for
  such an import, the modules pytest collects (`test_*.py`, `*_test.py`) still go, with their
  bytecode, unless a kept module imports them.
- **Stubs**: `*.pyi`, read by type checkers only.
- **dist-info files that nothing reads at run time**, by a deny list, not an allow list:
  `INSTALLER`, `REQUESTED` (pip's own records), `zip-safe`, `dependency_links.txt`
  (easy_install's). Kept: `METADATA` (`importlib.metadata.version()` and `metadata()`), `RECORD`
  (`files()`; its lines for dropped files go, see `engine`), `entry_points.txt` (`entry_points()`,
  plugin discovery), `top_level.txt` (`packages_distributions()`), `WHEEL`, `direct_url.json`
  (`Distribution.origin`), `namespace_packages.txt` (pkg_resources), anything unknown, and every
  license, notice and authors file: a few KB a package, and the licenses of most packages
  (MIT, BSD, Apache-2.0) ask that their notice travel with every copy; an image pushed to a
  registry is a copy.
- **Debug sections of shared objects**: `objcopy --strip-debug`, never symbols (a `.so` stripped
  of its symbols fails to load: serverless-python-requirements#318). Only files that have debug
  sections are rewritten (`has_debug_sections`, read from the section headers); the engine
  audits the result like any other tree.
"""

from __future__ import annotations

import fnmatch
import re
import struct
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Final

from fpack.deps.dists import source_of

# Bump when a rule changes: it is part of the slimmed tree's cache key.
# 2: a kept test directory's imports keep what they name. 3: pytest's modules in a test directory
# kept for another module's sake go.
RULES_VERSION: Final = "3"
TEST_DIR_NAMES: Final = frozenset({"tests", "test", "testing"})
# Test directories imported at run time by their own package (paths relative to site-packages).
# numpy imports numpy.testing lazily (numpy.__getattr__) and scipy, scikit-learn, pandas use it;
# torch imports torch.testing in torch/__init__; xarray imports xarray.testing in its __init__;
# astropy imports astropy.tests.runner in its __init__; django imports django.test from
# runtime modules (test signals); networkx, IPython, sympy and numba expose testing helpers
# their own modules reach for.
KNOWN_IMPORTED: Final = frozenset({
    "numpy/testing", "torch/testing", "xarray/testing", "astropy/tests", "django/test",
    "networkx/testing", "IPython/testing", "sympy/testing", "numba/testing", "numba/tests",
    "tensorflow/python/framework/test_ops", "jax/_src/test_util",
})
DIST_INFO_DROP: Final = frozenset({"INSTALLER", "REQUESTED", "zip-safe", "dependency_links.txt"})


@dataclass(frozen=True)
class Removal:
    """What the rules drop from a tree: files per rule, and the test directories they lived in."""

    files: Mapping[str, tuple[str, ...]]  # rule -> paths: "tests", "stubs", "dist-info"
    test_dirs: tuple[str, ...] = ()  # the topmost test directories dropped
    kept_test_dirs: Mapping[str, str] = field(default_factory=dict)  # dir -> why it stayed

    @property
    def paths(self) -> frozenset[str]:
        return frozenset(p for ps in self.files.values() for p in ps)


@dataclass(frozen=True, kw_only=True)
class Saving:
    """What slimming removed from a dependency tree, as the manifest records it."""

    saved: int  # bytes, all rules together
    removed: Mapping[str, tuple[int, int]]  # rule -> (files, bytes); "debug-sections": stripped
    test_dirs: tuple[str, ...] = ()
    keep: tuple[str, ...] = ()

    def to_json(self) -> dict[str, object]:
        return {"saved": self.saved,
                "removed": {k: {"files": n, "bytes": b} for k, (n, b) in self.removed.items()},
                "test_dirs": list(self.test_dirs), "keep": list(self.keep)}

    @classmethod
    def from_json(cls, data: Mapping[str, object]) -> Saving:
        removed = data.get("removed") or {}
        assert isinstance(removed, Mapping)
        return cls(saved=int(str(data.get("saved") or 0)),
                   removed={str(k): (int(v["files"]), int(v["bytes"]))
                            for k, v in removed.items()},
                   test_dirs=tuple(str(d) for d in data.get("test_dirs") or ()),  # type: ignore[attr-defined]
                   keep=tuple(str(d) for d in data.get("keep") or ()))  # type: ignore[attr-defined]


def is_shared_object(path: str) -> bool:
    """Whether `path` names a shared object by its name (`x.so`, `libx.so.1.2`)."""
    name = path.rsplit("/", 1)[-1]
    return name.endswith(".so") or ".so." in name


def _module(path: str) -> str:
    return path.removesuffix(".py").removesuffix("/__init__").replace("/", ".")


def keep_patterns(keep: Iterable[str]) -> tuple[str, ...]:
    """`slim_keep` entries as path globs: `numpy.testing` -> `numpy/testing`; a glob stays a glob
    (`pandas/tests/io/*`, `*.pyi`)."""
    out = []
    for entry in keep:
        k = entry.strip().strip("/")
        if "/" not in k and not k.endswith((".py", ".pyi", ".so")):
            k = k.replace(".", "/")
        out.append(k)
    return tuple(out)


def _kept(path: str, patterns: tuple[str, ...]) -> bool:
    """Whether `slim_keep` names `path`: itself, a directory above it, or a glob matching it."""
    for pattern in patterns:
        if path == pattern or path.startswith(pattern + "/") or fnmatch.fnmatchcase(path, pattern):
            return True
        if pattern.startswith(path + "/"):  # a directory holding something kept
            return True
    return False


def _test_dir(path: str) -> str | None:
    """The topmost test directory `path` lives in, inside a package directory; else None."""
    parts = path.split("/")
    for i in range(1, len(parts) - 1):
        if parts[i] in TEST_DIR_NAMES and not parts[0].endswith((".dist-info", ".data")):
            return "/".join(parts[: i + 1])
    return None


def _collected_only(kept_dirs: Mapping[str, str], candidates: Mapping[str, list[str]],
                    texts: Mapping[str, str], read: Callable[[str], str],
                    patterns: tuple[str, ...]) -> list[str]:
    """The test modules pytest collects (`test_*.py`, `*_test.py`) in test directories kept
    only because run-time code imports some module of theirs (numpy.testing imports
    numpy._core.tests._natype, not numpy._core.tests.test_multiarray), with their bytecode:
    no kept module imports them, so only pytest could load them. Everything else in those
    directories (helpers, data files, `__init__.py`) stays."""
    pool = [p for d, why in kept_dirs.items() if why.startswith("imported by")
            for p in candidates[d]]
    collected = {p for p in pool if _pytest_module(p) and not _kept(p, patterns)}
    importers = {p: texts[p] if p in texts else read(p) for p in pool
                 if p.endswith(".py") and p not in collected}
    importers.update({p: t for p, t in texts.items() if p not in collected})
    changed = True
    while changed:  # a collected module a kept one imports is kept, and so are its imports
        changed = False
        for p in sorted(collected):
            stem = re.escape(p.rsplit("/", 1)[-1].removesuffix(".py"))
            named = re.compile(rf"^[ \t]*(?:from|import)[ \t][^\n]*\b{stem}\b", re.MULTILINE)
            if any(named.search(text) for text in importers.values()):
                collected.discard(p)
                importers[p] = read(p)
                changed = True
    return sorted(collected | {p for p in pool if source_of(p) in collected})


def _pytest_module(path: str) -> bool:
    name = path.rsplit("/", 1)[-1]
    return name.endswith(".py") and (name.startswith("test_") or name.endswith("_test.py"))


def _import_re(test_dir: str) -> re.Pattern[str]:
    dotted = re.escape(test_dir.replace("/", "."))
    parent, _, name = test_dir.rpartition("/")
    return re.compile(
        rf"^[ \t]*(?:import[ \t]+{dotted}\b|from[ \t]+{dotted}\b"
        rf"|from[ \t]+{re.escape(parent.replace('/', '.'))}[ \t]+import[ \t]+[^\n]*\b{name}\b)",
        re.MULTILINE)


def _relative_re(name: str) -> re.Pattern[str]:
    return re.compile(rf"^[ \t]*from[ \t]+\.(?:{name}\b|[ \t]+import[ \t]+[^\n]*\b{name}\b)",
                      re.MULTILINE)


def plan(paths: Iterable[str], read: Callable[[str], str], keep: Iterable[str] = ()) -> Removal:
    """What to drop from a tree holding `paths` (relative, posix). `read(path)` gives a module's
    source, asked only for the modules of packages that have a test directory."""
    patterns = keep_patterns(keep)
    all_paths = sorted(set(paths))
    candidates: dict[str, list[str]] = {}
    for p in all_paths:
        d = _test_dir(p)
        if d is not None:
            candidates.setdefault(d, []).append(p)
    kept_dirs: dict[str, str] = {}
    for d in candidates:
        if d in KNOWN_IMPORTED:
            kept_dirs[d] = "imported at run time (known)"
        elif _kept(d, patterns):
            kept_dirs[d] = "slim_keep"
    # Modules outside test directories, and those of kept test directories (numpy.testing
    # imports numpy._core.tests._natype): until nothing more is kept.
    texts: dict[str, str] = {}
    while undecided := [d for d in candidates if d not in kept_dirs]:
        tops = {d.split("/", 1)[0] for d in undecided}
        # conftest.py is pytest's, imported by no run-time code: its imports do not count.
        modules = [p for p in all_paths if p.endswith(".py") and p.split("/", 1)[0] in tops
                   and _test_dir(p) in (None, *kept_dirs) and not p.endswith("/conftest.py")
                   and p not in texts]
        if not modules:
            break
        texts.update({p: read(p) for p in modules})
        for d in undecided:
            top, parent = d.split("/", 1)[0], d.rpartition("/")[0]
            absolute = _import_re(d)
            relative = _relative_re(d.rpartition("/")[2])
            for p, text in texts.items():
                if p.split("/", 1)[0] != top or _test_dir(p) == d:
                    continue
                here = p.rpartition("/")[0]
                if absolute.search(text) or (here == parent and relative.search(text)):
                    kept_dirs[d] = f"imported by {_module(p)}"
                    break
    tests = [p for d, ps in candidates.items() if d not in kept_dirs
             for p in ps if not _kept(p, patterns)]
    tests += _collected_only(kept_dirs, candidates, texts, read, patterns)
    dropped = set(tests)
    stubs = [p for p in all_paths if p.endswith(".pyi") and p not in dropped
             and not _kept(p, patterns)]
    info = [p for p in all_paths if _dist_info_file(p) in DIST_INFO_DROP]
    dropped_dirs = tuple(sorted(d for d in candidates if d not in kept_dirs))
    return Removal(files={"tests": tuple(sorted(tests)), "stubs": tuple(sorted(stubs)),
                          "dist-info": tuple(info)},
                   test_dirs=dropped_dirs, kept_test_dirs=dict(sorted(kept_dirs.items())))


def _dist_info_file(path: str) -> str | None:
    """The file name of a file directly inside a `*.dist-info` directory, else None."""
    parts = path.split("/")
    if len(parts) == 2 and parts[0].endswith(".dist-info"):
        return parts[1]
    return None


def has_debug_sections(head: bytes, read: Callable[[int, int], bytes]) -> bool:
    """Whether an ELF file has `.debug_*` (or `.zdebug_*`) sections: its first 64 bytes, and
    `read(offset, size)` for the rest. False for anything that is not a well-formed ELF file:
    then it is left alone."""
    if len(head) < 64 or head[:4] != b"\x7fELF" or head[4] not in (1, 2) or head[5] not in (1, 2):
        return False
    end = "<" if head[5] == 1 else ">"
    try:
        if head[4] == 2:
            shoff, = struct.unpack_from(end + "Q", head, 0x28)
            shentsize, shnum, shstrndx = struct.unpack_from(end + "HHH", head, 0x3A)
        else:
            shoff, = struct.unpack_from(end + "I", head, 0x20)
            shentsize, shnum, shstrndx = struct.unpack_from(end + "HHH", head, 0x2E)
        if not shoff or not shnum or shstrndx >= shnum or shentsize < 40:
            return False
        table = read(shoff, shentsize * shnum)
        if len(table) < shentsize * shnum:
            return False

        def section(i: int) -> tuple[int, int, int]:  # name offset, file offset, size
            base = i * shentsize
            if head[4] == 2:
                name, = struct.unpack_from(end + "I", table, base)
                off, size = struct.unpack_from(end + "QQ", table, base + 0x18)
            else:
                name, = struct.unpack_from(end + "I", table, base)
                off, size = struct.unpack_from(end + "II", table, base + 0x10)
            return name, off, size

        _, str_off, str_size = section(shstrndx)
        names = read(str_off, min(str_size, 1 << 20))
        for i in range(shnum):
            n = section(i)[0]
            label = names[n: names.find(b"\0", n)] if 0 <= n < len(names) else b""
            if label.startswith((b".debug_", b".zdebug_")):
                return True
    except struct.error:
        return False
    return False
