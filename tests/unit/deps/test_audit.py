"""fpack.deps.audit: small installed trees in tmp_path, with real and built binaries and RECORDs."""

from __future__ import annotations

import _struct
import os
import platform
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pytest

from fpack.deps.audit import (
    MANYLINUX_LIBRARIES,
    AuditProblem,
    audit,
    owners_from_record,
)
from fpack.deps.elf import ElfInfo, read_elf
from tests.unit.deps import EM_AARCH64, build_elf, build_pe

LIBZ = Path("/usr/lib/x86_64-linux-gnu/libz.so.1")
# Where the interpreter really loads its extension modules from (a virtualenv has no copy).
LIB_DYNLOAD = Path(_struct.__file__).parent
EXT = "_core.cpython-312-x86_64-linux-gnu.so"
FIX_GLIBC = (
    "pin an older version of fastlib that publishes manylinux_2_26 (or older) wheels, build it "
    "from source in the target's container, or choose a runtime with a newer glibc."
)


def _install(tree: Path, dist: str, files: Mapping[str, bytes]) -> None:
    """Write `files` under `tree` and list them in a RECORD, as an installer does."""
    record = tree / f"{dist}-1.0.dist-info" / "RECORD"
    record.parent.mkdir(parents=True, exist_ok=True)
    for name, data in files.items():
        (tree / name).parent.mkdir(parents=True, exist_ok=True)
        (tree / name).write_bytes(data)
    rows = [f"{name},sha256=x,{len(data)}" for name, data in files.items()]
    record.write_text("\n".join([*rows, f"{record.relative_to(tree).as_posix()},,"]) + "\n")


def _audit(tree: Path, **target: Any) -> list[AuditProblem]:
    defaults: dict[str, Any] = {
        "machine": "x86_64",
        "glibc": (2, 26),
        "os_libraries": MANYLINUX_LIBRARIES,
        "glibcxx": (3, 4, 24),
    }
    return audit(tree, **(defaults | target))


def _fastlib(tree: Path, core: bytes) -> None:
    _install(tree, "fastlib", {"fastlib/__init__.py": b"", f"fastlib/{EXT}": core})


def test_a_tree_that_fits_has_no_problems(tmp_path: Path) -> None:
    core = build_elf(
        needed=("libc.so.6", "libstdc++.so.6", "libfastblas-1a2b3c4d.so.1", "ld-linux-x86-64.so.2"),
        version_needs={
            "libc.so.6": ("GLIBC_2.2.5", "GLIBC_2.17", "GLIBC_PRIVATE"),
            "libstdc++.so.6": ("GLIBCXX_3.4.19", "CXXABI_1.3.7", "CXXABI_TM_1"),
        },
    )
    files = {
        "fastlib/__init__.py": b"",
        f"fastlib/{EXT}": core,
        "fastlib.libs/libfastblas-1a2b3c4d.so.1": LIBZ.read_bytes(),
        "fastlib/_struct.cpython-312-x86_64-linux-gnu.so": (
            LIB_DYNLOAD / "_struct.cpython-311-x86_64-linux-gnu.so"
        ).read_bytes(),
    }
    _install(tmp_path, "fastlib", files)
    # setuptools ships Windows launchers in every wheel; nothing on Linux runs them.
    _install(tmp_path, "setuptools", {"setuptools/cli-64.exe": build_pe(dll=False)})

    assert _audit(tmp_path) == []


def test_glibc_newer_than_the_target(tmp_path: Path) -> None:
    core = build_elf(
        needed=("libc.so.6", "libm.so.6"),
        version_needs={"libm.so.6": ("GLIBC_2.29",), "libc.so.6": ("GLIBC_2.17", "GLIBC_2.28")},
    )
    _fastlib(tmp_path, core)

    assert _audit(tmp_path) == [
        AuditProblem(
            package="fastlib",
            file=f"fastlib/{EXT}",
            kind="glibc",
            message=f"fastlib/{EXT} (fastlib) needs GLIBC_2.29 from libm.so.6, but the target has "
            f"glibc 2.26: {FIX_GLIBC}",
        )
    ]
    assert _audit(tmp_path, glibc=(2, 29)) == []


def test_libstdcxx_newer_than_the_target(tmp_path: Path) -> None:
    core = build_elf(
        needed=("libstdc++.so.6",),
        version_needs={"libstdc++.so.6": ("CXXABI_1.3.13", "GLIBCXX_3.4.29", "GLIBCXX_3.4.21")},
    )
    _fastlib(tmp_path, core)

    assert [p.message for p in _audit(tmp_path)] == [
        f"fastlib/{EXT} (fastlib) needs GLIBCXX_3.4.29 from libstdc++.so.6, which the target's "
        "libstdc++ (up to GLIBCXX_3.4.24) lacks: pin an older version of fastlib built with an "
        "older compiler, build it from source in the target's container, or choose a runtime "
        "with a newer libstdc++."
    ]
    assert _audit(tmp_path, glibcxx=(3, 4, 29)) == []
    assert _audit(tmp_path, glibcxx=None) == []


@pytest.mark.parametrize(
    ("cxxabi", "glibcxx", "fits"),
    [
        ("CXXABI_1.3.13", (3, 4, 28), False),  # GCC 11 introduced both 1.3.13 and 3.4.29
        ("CXXABI_1.3.13", (3, 4, 29), True),
        ("CXXABI_1.3.11", (3, 4, 24), True),  # Amazon Linux 2: GCC 7
        ("CXXABI_1.3.99", (3, 4, 33), False),  # newer than the table: assume it does not fit
    ],
)
def test_cxxabi_is_checked_against_the_libstdcxx_that_brought_it(
    tmp_path: Path, cxxabi: str, glibcxx: tuple[int, int, int], fits: bool
) -> None:
    core = build_elf(needed=("libstdc++.so.6",), version_needs={"libstdc++.so.6": (cxxabi,)})
    _fastlib(tmp_path, core)

    problems = _audit(tmp_path, glibcxx=glibcxx)

    assert [p.kind for p in problems] == ([] if fits else ["glibcxx"])
    assert all(f"needs {cxxabi} from libstdc++.so.6" in p.message for p in problems)


def test_a_bundled_libstdcxx_is_not_the_targets(tmp_path: Path) -> None:
    # auditwheel renames a bundled libstdc++, and the version needs follow the new name.
    core = build_elf(
        needed=("libstdc++-9a8b7c6d.so.6.0.33",),
        version_needs={"libstdc++-9a8b7c6d.so.6.0.33": ("GLIBCXX_3.4.33",)},
    )
    _install(
        tmp_path,
        "fastlib",
        {f"fastlib/{EXT}": core, "fastlib.libs/libstdc++-9a8b7c6d.so.6.0.33": build_elf()},
    )

    assert _audit(tmp_path) == []


def test_binary_for_another_cpu(tmp_path: Path) -> None:
    core = build_elf(machine=EM_AARCH64, needed=("ld-linux-aarch64.so.1", "libnothere.so"))
    _fastlib(tmp_path, core)

    assert _audit(tmp_path) == [
        AuditProblem(
            package="fastlib",
            file=f"fastlib/{EXT}",
            kind="arch",
            message=f"fastlib/{EXT} (fastlib) is built for aarch64, but the target runs on "
            "x86_64: install the x86_64 wheel of fastlib (check the target's arch), or build it "
            "from source in the target's container.",
        )
    ]
    assert _audit(tmp_path, machine="aarch64", os_libraries=frozenset({"libnothere.so"})) == []


def test_32_bit_binary(tmp_path: Path) -> None:
    _fastlib(tmp_path, build_elf(machine=3, elf_class=32))

    (problem,) = _audit(tmp_path)

    assert problem.message.startswith(f"fastlib/{EXT} (fastlib) is built for i386 (32-bit), but")


def test_library_neither_bundled_nor_on_the_os(tmp_path: Path) -> None:
    core = build_elf(needed=("libc.so.6", "libgfortran.so.5", "libquadmath.so.0"))
    _fastlib(tmp_path, core)

    assert _audit(tmp_path) == [
        AuditProblem(
            package="fastlib",
            file=f"fastlib/{EXT}",
            kind="library",
            message=f"fastlib/{EXT} (fastlib) links libgfortran.so.5 and libquadmath.so.0, which "
            "are neither bundled in the dependencies nor part of the target OS: install a "
            "manylinux wheel of fastlib (those bundle what they link), or repair a wheel built "
            "from source with auditwheel.",
        )
    ]
    on_os = MANYLINUX_LIBRARIES | {"libgfortran.so.5", "libquadmath.so.0"}
    assert _audit(tmp_path, os_libraries=on_os) == []


def test_a_library_is_bundled_by_any_file_of_that_name(tmp_path: Path) -> None:
    core = build_elf(needed=("libopenblas64_p-r0-1a2b3c4d.so",))
    _fastlib(tmp_path, core)
    # another distribution's, and a symlink: the loader finds either through an rpath
    _install(tmp_path, "blas", {"blas/lib/libopenblas64_p-r0-1a2b3c4d.so.0": LIBZ.read_bytes()})
    os.symlink(
        "libopenblas64_p-r0-1a2b3c4d.so.0", tmp_path / "blas/lib/libopenblas64_p-r0-1a2b3c4d.so"
    )

    assert _audit(tmp_path) == []


@pytest.mark.parametrize(
    ("data", "what"),
    [
        (b"\xcf\xfa\xed\xfe\x07\x00\x00\x01" + bytes(56), "a macOS binary (Mach-O)"),
        (b"\xca\xfe\xba\xbe\x00\x00\x00\x02" + bytes(56), "a macOS binary (Mach-O)"),
        (build_pe(dll=True), "a Windows binary (PE DLL)"),
    ],
)
def test_binary_for_another_os(tmp_path: Path, data: bytes, what: str) -> None:
    _fastlib(tmp_path, data)

    assert _audit(tmp_path, machine="aarch64") == [
        AuditProblem(
            package="fastlib",
            file=f"fastlib/{EXT}",
            kind="foreign",
            message=f"fastlib/{EXT} (fastlib) is {what}, but the target is Linux on aarch64: the "
            "wheel was built for another OS; install a manylinux wheel of fastlib for aarch64, or "
            "build it from source in the target's container.",
        )
    ]


def test_unreadable_elf(tmp_path: Path) -> None:
    _fastlib(tmp_path, build_elf(needed=("libc.so.6",))[:100])

    assert [p.message for p in _audit(tmp_path)] == [
        f"fastlib/{EXT} (fastlib) starts like an ELF file but cannot be read (truncated: 112 bytes "
        "wanted at offset 64, 36 there): reinstall fastlib; its wheel or the download may be "
        "corrupt."
    ]


def test_problems_are_sorted_by_file_and_credited_to_their_distribution(tmp_path: Path) -> None:
    old = build_elf(needed=("libc.so.6",), version_needs={"libc.so.6": ("GLIBC_2.34",)})
    _install(tmp_path, "Pydantic_Core", {"pydantic_core/_pydantic_core.so": old})
    _install(
        tmp_path, "numpy", {"numpy/_core/_umath.so": old, "numpy.libs/libscipy_openblas.so": old}
    )
    (tmp_path / "loose").mkdir()
    (tmp_path / "loose/unrecorded.so").write_bytes(old)
    (tmp_path / "numpy.libs/unrecorded.so").write_bytes(old)

    problems = _audit(tmp_path)

    assert [(p.file, p.package) for p in problems] == [
        ("loose/unrecorded.so", "loose"),
        ("numpy.libs/libscipy_openblas.so", "numpy"),
        ("numpy.libs/unrecorded.so", "numpy"),
        ("numpy/_core/_umath.so", "numpy"),
        ("pydantic_core/_pydantic_core.so", "pydantic-core"),
    ]


def test_owners_from_record(tmp_path: Path) -> None:
    _install(tmp_path, "Pydantic_Core", {"pydantic_core/__init__.py": b""})
    record = tmp_path / "PyYAML-6.0.2.dist-info" / "RECORD"
    record.parent.mkdir()
    record.write_text(
        'yaml/__init__.py,sha256=x,1\n"yaml/a,b.py",,\n./yaml/_yaml.so,,\n'
        "../../../bin/yamlcheck,,\n\n"
    )

    assert owners_from_record(tmp_path) == {
        "Pydantic_Core-1.0.dist-info/RECORD": "pydantic-core",
        "pydantic_core/__init__.py": "pydantic-core",
        "yaml/__init__.py": "pyyaml",
        "yaml/a,b.py": "pyyaml",
        "yaml/_yaml.so": "pyyaml",
    }


def test_an_explicit_owner_map_wins(tmp_path: Path) -> None:
    _fastlib(tmp_path, build_elf(machine=EM_AARCH64))

    (problem,) = _audit(tmp_path, owners={f"fastlib/{EXT}": "fast-lib-ng"})

    assert problem.package == "fast-lib-ng"


def test_real_extension_modules(tmp_path: Path) -> None:
    modules = {m.name: _info(m) for m in sorted(LIB_DYNLOAD.glob("*.so"))}
    _install(tmp_path, "stdlib", {f"stdlib/{m}": (LIB_DYNLOAD / m).read_bytes() for m in modules})
    versioned = {
        f"stdlib/{m}"
        for m, info in modules.items()
        if any(v.startswith("GLIBC_2") for vs in info.version_needs.values() for v in vs)
    }
    host = tuple(int(n) for n in platform.libc_ver()[1].split("."))
    linked = frozenset(n for info in modules.values() for n in info.needed)

    # They run on this machine, so its glibc is new enough for all of them ...
    assert _audit(tmp_path, glibc=host, os_libraries=linked) == []
    # ... and glibc 2.0 is too old for every one that names a glibc version.
    old = _audit(tmp_path, glibc=(2, 0), os_libraries=linked)
    assert {p.file for p in old} == versioned
    assert {p.kind for p in old} == {"glibc"}
    assert len(versioned) > 10


def test_binaries_are_found_by_magic_not_suffix(tmp_path: Path) -> None:
    files = {
        "fastlib/bin/helper": build_elf(machine=EM_AARCH64),  # an executable, no suffix
        "fastlib/lib/libc.so": b"GROUP ( /lib/libc.so.6 )\n",  # a linker script
        "fastlib/__pycache__/x.cpython-312.pyc": build_elf(machine=EM_AARCH64),
    }
    _install(tmp_path, "fastlib", files)

    assert [(p.file, p.kind) for p in _audit(tmp_path)] == [("fastlib/bin/helper", "arch")]


def _info(path: Path) -> ElfInfo:
    info = read_elf(path)
    assert info is not None
    return info
