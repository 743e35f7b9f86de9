"""Audit an installed dependency tree: will every binary in it load on the target?

`audit(tree, ...)` finds binaries by their magic number (not by suffix: extension modules, bundled
`*.libs/*.so.N`, executables) and reports an `AuditProblem` for each that would fail on the target:
an ELF file for another CPU (`arch`), one needing a newer glibc (`glibc`) or libstdc++ (`glibcxx`),
one linking a library found neither in the tree nor on the target OS (`library`), a macOS or Windows
binary (`foreign`), and a file that starts like ELF but cannot be parsed (`unreadable`). Every
message says which file of which distribution, what it needs, what the target has, and what to do.
Files are credited to distributions through their `*.dist-info/RECORD` (`owners_from_record`).

Pure: reads files (headers only, through `fpack.deps.elf`), no subprocess. Only files whose first
bytes are a binary magic number are parsed, so a tree of a few thousand files takes milliseconds.
"""

from __future__ import annotations

import csv
import os
import posixpath
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Final, Literal

from fpack.deps.elf import BinaryFormat, ElfInfo, binary_format, read_elf
from fpack.deps.names import canonical

if TYPE_CHECKING:
    from fpack.platforms import Platform

ProblemKind = Literal["arch", "glibc", "glibcxx", "library", "foreign", "unreadable"]

# The system libraries a manylinux wheel may link without bundling them: "lib_whitelist" in
# pypa/auditwheel src/auditwheel/policy/manylinux-policy.json (auditwheel 6.8.2), one list for every
# level from manylinux_2_24 up (older levels lack libmvec.so.1). PEP 513 left libz.so.1 out; the
# policy now has it (with a blacklist of zlib's internal symbols), and every runtime fpack targets
# ships it (Amazon Linux 2 and 2023, Ubuntu, Debian slim): CPython's own zlib module links it.
MANYLINUX_LIBRARIES: Final = frozenset(
    {
        "libatomic.so.1", "libgcc_s.so.1", "libstdc++.so.6", "libm.so.6", "libanl.so.1",
        "libdl.so.2", "librt.so.1", "libc.so.6", "libnsl.so.1", "libutil.so.1",
        "libpthread.so.0", "libX11.so.6", "libXext.so.6", "libXrender.so.1", "libICE.so.6",
        "libSM.so.6", "libGL.so.1", "libgobject-2.0.so.0", "libgthread-2.0.so.0",
        "libglib-2.0.so.0", "libresolv.so.2", "libexpat.so.1", "libz.so.1", "libmvec.so.1",
    }
)  # fmt: skip
# The dynamic loader is part of glibc and present wherever glibc is. auditwheel leaves it off the
# list because it treats the ELF interpreter apart; objects that use its symbols (TLS, _dl_*) name
# it in DT_NEEDED, so the audit always accepts these.
GLIBC_LOADERS: Final = frozenset({"ld-linux-x86-64.so.2", "ld-linux-aarch64.so.1"})

# The first libstdc++ (as its GLIBCXX_3.4.N) that provides each CXXABI_1.3.M: the ABI history at
# https://gcc.gnu.org/onlinedocs/libstdc++/manual/abi.html ("GCC 11.1.0: GLIBCXX_3.4.29,
# CXXABI_1.3.13"), cross-checked with auditwheel's policy, whose levels pair the two versions.
CXXABI_SINCE: Final[Mapping[tuple[int, ...], tuple[int, int, int]]] = {
    (1, 3): (3, 4, 0), (1, 3, 1): (3, 4, 4), (1, 3, 2): (3, 4, 10), (1, 3, 3): (3, 4, 11),
    (1, 3, 4): (3, 4, 14), (1, 3, 5): (3, 4, 15), (1, 3, 6): (3, 4, 17), (1, 3, 7): (3, 4, 18),
    (1, 3, 8): (3, 4, 20), (1, 3, 9): (3, 4, 21), (1, 3, 10): (3, 4, 22), (1, 3, 11): (3, 4, 23),
    (1, 3, 12): (3, 4, 26), (1, 3, 13): (3, 4, 29), (1, 3, 14): (3, 4, 31),
    (1, 3, 15): (3, 4, 33),
}  # fmt: skip
_NEWER_THAN_KNOWN: Final = (3, 4, 1 << 16)  # a CXXABI version missing from the table above
_LIBSTDCXX: Final = "libstdc++.so.6"
# Binaries are found by magic number, so sniffing opens every file. These suffixes, 80% of a typical
# tree, name files that no loader maps (sources, stubs, bytecode, docs), so they are skipped.
_NEVER_LOADED: Final = (".py", ".pyi", ".pyc", ".rst", ".md", ".txt", ".json", ".typed")
_TARGET_BITS: Final = 64  # every target runs 64-bit userlands; an x86_64 ELF32 is the x32 ABI
_FOREIGN: Final[Mapping[BinaryFormat, str]] = {
    "Mach-O": "a macOS binary (Mach-O)",
    "PE DLL": "a Windows binary (PE DLL)",
}


@dataclass(frozen=True, kw_only=True)
class AuditProblem:
    """One binary that would not load on the target, and why."""

    package: str  # distribution name, canonical ("pydantic-core")
    file: str  # POSIX path relative to the audited tree
    kind: ProblemKind
    message: str  # a whole sentence: where, what, the target, the fix


@dataclass(frozen=True, kw_only=True)
class _Binary:
    """A shared object or executable of the tree, and the package that ships it."""

    file: str
    package: str

    @property
    def where(self) -> str:
        return f"{self.file} ({self.package})"


@dataclass(frozen=True, kw_only=True)
class _Target:
    """What a binary may need of the target: its CPU, glibc, libstdc++ and libraries."""

    machine: str
    glibc: tuple[int, int]
    glibcxx: tuple[int, int, int] | None
    libraries: frozenset[str]  # what DT_NEEDED may name: the OS's, the loader, the tree's files


def audit(
    tree: Path,
    *,
    machine: str,
    glibc: tuple[int, int],
    os_libraries: frozenset[str],
    glibcxx: tuple[int, int, int] | None = None,
    owners: Mapping[str, str] | None = None,
) -> list[AuditProblem]:
    """Every problem that would stop a binary under `tree` from loading on the target.

    `machine` is the ELF/uname name ("x86_64", "aarch64"); `glibc` and `glibcxx` the highest
    versions the target provides (`glibcxx=None` skips the libstdc++ check); `os_libraries` the
    sonames present on the target OS (`MANYLINUX_LIBRARIES` is the portable floor). `owners` maps
    each file's tree-relative POSIX path to its distribution, by default `owners_from_record(tree)`;
    files it does not list are credited to their top-level directory. Problems are sorted by file.
    """
    owners = owners_from_record(tree) if owners is None else owners
    names, binaries = _scan(tree)
    target = _Target(
        machine=machine,
        glibc=glibc,
        glibcxx=glibcxx,
        libraries=os_libraries | GLIBC_LOADERS | names,
    )
    problems: list[AuditProblem] = []
    for file, path, kind in binaries:
        binary = _Binary(file=file, package=owners.get(file) or _fallback_owner(file))
        problems.extend(_audit_one(binary, path, kind, target))
    return problems


def for_platform(tree: Path, platform: Platform) -> list[AuditProblem]:
    """`audit` of `tree` against what a target platform provides (the manylinux floor of
    libraries, its glibc and libstdc++): what the engine refuses a tree for."""
    return audit(tree, machine=platform.machine, glibc=platform.glibc,
                 os_libraries=MANYLINUX_LIBRARIES, glibcxx=platform.runtime.glibcxx)


def owners_from_record(tree: Path) -> dict[str, str]:
    """Each installed file's tree-relative POSIX path → the canonical name of its distribution."""
    owners: dict[str, str] = {}
    for record in sorted(tree.glob("*.dist-info/RECORD")):
        # "{escaped name}-{version}.dist-info", per the binary distribution format spec
        package = canonical(record.parent.name.split("-", 1)[0])
        with record.open(newline="", encoding="utf-8") as f:
            for row in csv.reader(f):
                if row and (file := _tree_relative(row[0])) is not None:
                    owners[file] = package
    return owners


def _tree_relative(recorded: str) -> str | None:
    # RECORD paths are relative to site-packages; scripts installed elsewhere climb out with "..".
    file = posixpath.normpath(recorded)
    if file.startswith(("../", "/")) or file == "..":
        return None
    return file


def _fallback_owner(file: str) -> str:
    # RECORD lists every installed file, so this is for trees assembled by other means.
    top = file.split("/", 1)[0].removesuffix(".libs")  # auditwheel's bundled libraries: numpy.libs
    return top.split(".", 1)[0]  # a top-level module: "_cffi_backend.cpython-312-….so"


def _scan(tree: Path) -> tuple[frozenset[str], list[tuple[str, Path, BinaryFormat]]]:
    """The base names of all files (what a DT_NEEDED may find bundled) and the binaries, sorted."""
    names: set[str] = set()
    binaries: list[tuple[str, Path, BinaryFormat]] = []
    for entry in _files(tree):
        names.add(entry.name)
        if entry.is_symlink() or entry.name.endswith(_NEVER_LOADED):
            continue
        path = Path(entry.path)
        if (kind := binary_format(path)) is not None:
            binaries.append((path.relative_to(tree).as_posix(), path, kind))
    return frozenset(names), sorted(binaries)


def _files(directory: Path | str) -> Iterator[os.DirEntry[str]]:
    # os.scandir, not Path.rglob: its entries carry the file type, which saves a stat per file.
    with os.scandir(directory) as entries:
        for entry in entries:
            if entry.is_dir(follow_symlinks=False):
                if entry.name != "__pycache__":  # bytecode only; often the largest directories
                    yield from _files(entry.path)
            elif entry.is_file():
                yield entry


def _audit_one(
    binary: _Binary, path: Path, kind: BinaryFormat, target: _Target
) -> list[AuditProblem]:
    if kind != "ELF":
        foreign = _foreign(binary, kind, target)
        return [foreign] if foreign else []
    try:
        info = read_elf(path)
    except ValueError as e:
        return [_unreadable(binary, e)]
    if info is None:  # replaced since the scan saw its ELF magic
        return []
    arch = _arch(binary, info, target)
    if arch is not None:  # the other checks mean nothing for another CPU's binary
        return [arch]
    checks = (_glibc(binary, info, target), _glibcxx(binary, info, target))
    return [p for p in (*checks, _libraries(binary, info, target)) if p is not None]


def _problem(binary: _Binary, kind: ProblemKind, message: str) -> AuditProblem:
    return AuditProblem(package=binary.package, file=binary.file, kind=kind, message=message)


def _foreign(binary: _Binary, kind: BinaryFormat, target: _Target) -> AuditProblem | None:
    # Windows executables are left alone: setuptools and pip's distlib ship .exe launcher stubs
    # in their wheels for every OS, and nothing on Linux runs them. A PE DLL is a .pyd: a Windows
    # wheel. Any Mach-O file is a macOS build, whatever its suffix.
    if kind not in _FOREIGN:
        return None
    message = (
        f"{binary.where} is {_FOREIGN[kind]}, but the target is Linux on {target.machine}: "
        f"the wheel was built for another OS; install a manylinux wheel of {binary.package} "
        f"for {target.machine}, or build it from source in the target's container."
    )
    return _problem(binary, "foreign", message)


def _unreadable(binary: _Binary, error: ValueError) -> AuditProblem:
    message = (
        f"{binary.where} starts like an ELF file but cannot be read ({error}): "
        f"reinstall {binary.package}; its wheel or the download may be corrupt."
    )
    return _problem(binary, "unreadable", message)


def _arch(binary: _Binary, info: ElfInfo, target: _Target) -> AuditProblem | None:
    if info.machine == target.machine and info.elf_class == _TARGET_BITS:
        return None
    found = (
        info.machine if info.elf_class == _TARGET_BITS else f"{info.machine} ({info.elf_class}-bit)"
    )
    message = (
        f"{binary.where} is built for {found}, but the target runs on {target.machine}: "
        f"install the {target.machine} wheel of {binary.package} (check the target's arch), "
        f"or build it from source in the target's container."
    )
    return _problem(binary, "arch", message)


def _glibc(binary: _Binary, info: ElfInfo, target: _Target) -> AuditProblem | None:
    needs = [
        (version, name, library)
        for library, names in info.version_needs.items()
        for name in names
        if (version := _version(name, "GLIBC_")) is not None
    ]
    version, name, library = max(needs, default=((0,), "", ""))
    if version <= target.glibc:
        return None
    have = ".".join(map(str, target.glibc))
    tag = "manylinux_{}_{}".format(*target.glibc)
    message = (
        f"{binary.where} needs {name} from {library}, but the target has glibc {have}: "
        f"pin an older version of {binary.package} that publishes {tag} (or older) wheels, "
        f"build it from source in the target's container, or choose a runtime with a newer glibc."
    )
    return _problem(binary, "glibc", message)


def _glibcxx(binary: _Binary, info: ElfInfo, target: _Target) -> AuditProblem | None:
    # Only the system libstdc++ matters: a bundled copy is renamed (libstdc++-1a2b3c4d.so.6.0.29)
    # by auditwheel, and its versions are needed from that file name instead.
    if target.glibcxx is None:
        return None
    too_new = [
        (_libstdcxx_for(name), name)
        for name in info.version_needs.get(_LIBSTDCXX, ())
        if _libstdcxx_for(name) > target.glibcxx
    ]
    if not too_new:
        return None
    _, name = max(too_new)
    have = "GLIBCXX_" + ".".join(map(str, target.glibcxx))
    message = (
        f"{binary.where} needs {name} from {_LIBSTDCXX}, which the target's libstdc++ "
        f"(up to {have}) lacks: pin an older version of {binary.package} built with an older "
        f"compiler, build it from source in the target's container, or choose a runtime with "
        f"a newer libstdc++."
    )
    return _problem(binary, "glibcxx", message)


def _libstdcxx_for(name: str) -> tuple[int, ...]:
    """The oldest libstdc++ (as GLIBCXX_3.4.N) that provides version `name`; (0,) if any does."""
    if (glibcxx := _version(name, "GLIBCXX_")) is not None:
        return glibcxx
    if (cxxabi := _version(name, "CXXABI_")) is not None:
        return CXXABI_SINCE.get(cxxabi, _NEWER_THAN_KNOWN)
    return (0,)  # CXXABI_TM_1, CXXABI_FLOAT128, GLIBCXX_LDBL_3.4: as old as their platform


def _libraries(binary: _Binary, info: ElfInfo, target: _Target) -> AuditProblem | None:
    missing = [name for name in info.needed if name not in target.libraries]
    if not missing:
        return None
    names, verb = _join(missing), "is" if len(missing) == 1 else "are"
    message = (
        f"{binary.where} links {names}, which {verb} neither bundled in the dependencies nor "
        f"part of the target OS: install a manylinux wheel of {binary.package} (those bundle "
        f"what they link), or repair a wheel built from source with auditwheel."
    )
    return _problem(binary, "library", message)


def _version(name: str, prefix: str) -> tuple[int, ...] | None:
    """(2, 17) for ("GLIBC_2.17", "GLIBC_"); None for another prefix or GLIBC_PRIVATE."""
    if not name.startswith(prefix):
        return None
    parts = name.removeprefix(prefix).split(".")
    return tuple(map(int, parts)) if all(p.isdigit() for p in parts) else None


def _join(names: list[str]) -> str:
    return names[0] if len(names) == 1 else f"{', '.join(names[:-1])} and {names[-1]}"
