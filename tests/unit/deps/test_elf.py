"""fpack.deps.elf: real system libraries, built objects of other arches and byte orders, garbage."""

from __future__ import annotations

import _struct
import contextlib
import random
import re
from pathlib import Path

import pytest

from fpack.deps.elf import ElfInfo, binary_format, is_macho_or_pe, read_elf
from tests.unit.deps import EM_AARCH64, build_elf, build_pe

LIBDIR = Path("/usr/lib/x86_64-linux-gnu")
LIBC = Path("/lib/x86_64-linux-gnu/libc.so.6")
LIBZ = LIBDIR / "libz.so.1"
LIBSTDCXX = LIBDIR / "libstdc++.so.6"
# Where the interpreter really loads its extension modules from (a virtualenv has no copy).
LIB_DYNLOAD = Path(_struct.__file__).parent


def _write(tmp_path: Path, data: bytes, name: str = "lib.so") -> Path:
    path = tmp_path / name
    path.write_bytes(data)
    return path


def test_reads_zlib() -> None:
    info = read_elf(LIBZ)

    assert info is not None
    assert (info.elf_class, info.machine, info.soname) == (64, "x86_64", "libz.so.1")
    assert info.needed == ("libc.so.6",)
    assert list(info.version_needs) == ["libc.so.6"]
    assert "GLIBC_2.2.5" in info.version_needs["libc.so.6"]


def test_reads_libc_which_needs_the_loader() -> None:
    info = read_elf(LIBC)

    assert info is not None
    assert info.soname == "libc.so.6"
    assert info.needed == ("ld-linux-x86-64.so.2",)
    assert "GLIBC_PRIVATE" in info.version_needs["ld-linux-x86-64.so.2"]


def test_reads_libstdcxx_needs_from_several_libraries() -> None:
    info = read_elf(LIBSTDCXX)  # a symlink, as system libraries usually are

    assert info is not None
    assert info.soname == "libstdc++.so.6"
    assert {"libm.so.6", "libc.so.6", "libgcc_s.so.1"} <= set(info.needed)
    assert "GCC_3.0" in info.version_needs["libgcc_s.so.1"]
    assert set(info.version_needs) <= set(info.needed)


def test_reads_extension_modules() -> None:
    modules = sorted(LIB_DYNLOAD.glob("*.so"))
    infos = [read_elf(m) for m in modules]

    assert len(infos) > 10
    assert all(i is not None and i.machine == "x86_64" and i.soname is None for i in infos)


@pytest.mark.parametrize(
    ("elf_class", "big_endian", "machine", "name"),
    [
        (64, False, EM_AARCH64, "aarch64"),
        (64, False, 62, "x86_64"),
        (32, False, 3, "i386"),
        (32, False, 40, "arm"),
        (32, True, 8, "mips"),
        (64, True, 21, "ppc64"),
        (64, False, 21, "ppc64le"),
        (64, True, 22, "s390x"),
        (64, False, 9999, "EM_9999"),
    ],
)
def test_reads_every_class_byte_order_and_machine(
    tmp_path: Path, elf_class: int, big_endian: bool, machine: int, name: str
) -> None:
    data = build_elf(
        machine=machine,
        elf_class=elf_class,
        big_endian=big_endian,
        needed=("libc.so.6", "libstdc++.so.6", "libfoo-1a2b3c4d.so.1"),
        soname="libbar.so.2",
        rpath="$ORIGIN/../bar.libs",
        runpath="$ORIGIN",
        version_needs={
            "libc.so.6": ("GLIBC_2.17", "GLIBC_2.28"),
            "libstdc++.so.6": ("GLIBCXX_3.4.29", "CXXABI_1.3.9"),
        },
    )

    assert read_elf(_write(tmp_path, data)) == ElfInfo(
        elf_class=32 if elf_class == 32 else 64,
        machine=name,
        needed=("libc.so.6", "libstdc++.so.6", "libfoo-1a2b3c4d.so.1"),
        soname="libbar.so.2",
        rpath="$ORIGIN/../bar.libs",
        runpath="$ORIGIN",
        version_needs={
            "libc.so.6": ("GLIBC_2.17", "GLIBC_2.28"),
            "libstdc++.so.6": ("GLIBCXX_3.4.29", "CXXABI_1.3.9"),
        },
    )


def test_an_object_without_a_dynamic_segment_needs_nothing(tmp_path: Path) -> None:
    path = _write(tmp_path, build_elf(machine=EM_AARCH64, dynamic=False))

    assert read_elf(path) == ElfInfo(elf_class=64, machine="aarch64")


@pytest.mark.parametrize("content", [b"", b"\x7fEL", b"#!/bin/sh\n", b"MZ not really", b"\0" * 64])
def test_not_elf_is_none(tmp_path: Path, content: bytes) -> None:
    assert read_elf(_write(tmp_path, content)) is None


@pytest.mark.parametrize(
    ("size", "reason"),
    [
        (10, "truncated ELF identification"),
        (40, "truncated: 48 bytes wanted at offset 16, 24 there"),
        (100, "truncated: 112 bytes wanted at offset 64, 36 there"),
    ],
)
def test_truncated_elf_raises(tmp_path: Path, size: int, reason: str) -> None:
    path = _write(tmp_path, build_elf(needed=("libc.so.6",))[:size])

    with pytest.raises(ValueError, match=f"^{re.escape(reason)}$"):
        read_elf(path)


def test_truncated_real_library_raises(tmp_path: Path) -> None:
    path = _write(tmp_path, LIBZ.read_bytes()[:4096])

    with pytest.raises(ValueError, match=r"^truncated: "):
        read_elf(path)


def test_unknown_class_raises(tmp_path: Path) -> None:
    path = _write(tmp_path, b"\x7fELF\x03\x01\x01" + b"\0" * 100)

    with pytest.raises(ValueError, match=r"^unknown ELF class 3 or byte order 1$"):
        read_elf(path)


def test_corrupted_objects_raise_only_value_error(tmp_path: Path) -> None:
    # Wheels are downloads: a damaged one must give a clear error, never a crash or a hang.
    original = build_elf(
        needed=("libc.so.6",), soname="libx.so.1", version_needs={"libc.so.6": ("GLIBC_2.17",)}
    )
    rng = random.Random(600)
    for _ in range(500):
        data = bytearray(original)
        for _ in range(rng.randint(1, 8)):
            data[rng.randrange(4, len(data))] = rng.randrange(256)
        path = _write(tmp_path, bytes(data))
        with contextlib.suppress(ValueError):
            read_elf(path)


def test_binary_format_of_real_elf_files() -> None:
    assert binary_format(LIBZ) == "ELF"
    assert not is_macho_or_pe(LIBZ)


@pytest.mark.parametrize(
    "head",
    [
        b"\xcf\xfa\xed\xfe\x07\x00\x00\x01",  # 64-bit little-endian, the common case
        b"\xce\xfa\xed\xfe\x07\x00\x00\x00",
        b"\xfe\xed\xfa\xcf\x01\x00\x00\x07",
        b"\xfe\xed\xfa\xce\x00\x00\x00\x07",
        b"\xca\xfe\xba\xbe\x00\x00\x00\x02",  # fat: universal2 x86_64 + arm64
        b"\xca\xfe\xba\xbf\x00\x00\x00\x02",
        b"\xbe\xba\xfe\xca\x02\x00\x00\x00",
    ],
)
def test_recognises_mach_o(tmp_path: Path, head: bytes) -> None:
    path = _write(tmp_path, head + b"\0" * 56, "_core.cpython-312-darwin.so")

    assert binary_format(path) == "Mach-O"
    assert is_macho_or_pe(path)


def test_a_java_class_is_not_a_fat_mach_o(tmp_path: Path) -> None:
    path = _write(tmp_path, b"\xca\xfe\xba\xbe\x00\x00\x00\x34" + b"\0" * 56, "Main.class")

    assert binary_format(path) is None


@pytest.mark.parametrize(("dll", "kind"), [(True, "PE DLL"), (False, "PE executable")])
def test_recognises_pe(tmp_path: Path, dll: bool, kind: str) -> None:
    path = _write(tmp_path, build_pe(dll=dll), "_core.cp312-win_amd64.pyd")

    assert binary_format(path) == kind
    assert is_macho_or_pe(path)


@pytest.mark.parametrize("content", [b"MZ" + b" " * 100, b"MZ", b"", b"hello"])
def test_other_files_have_no_binary_format(tmp_path: Path, content: bytes) -> None:
    path = _write(tmp_path, content, "notes.txt")

    assert binary_format(path) is None
    assert not is_macho_or_pe(path)
