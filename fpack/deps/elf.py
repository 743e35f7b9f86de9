"""Read what a dependency audit needs from ELF files, and recognise Mach-O and PE files by magic.

`read_elf` returns an `ElfInfo`: class, machine, and the dynamic section's DT_NEEDED, DT_SONAME,
DT_RPATH/DT_RUNPATH and version needs (DT_VERNEED, e.g. libc.so.6 → GLIBC_2.17). It follows the
program headers, as the dynamic loader does, so stripped section headers do not matter, and it reads
only the headers and the few strings it needs, never a whole file. `binary_format` sniffs a file's
first bytes so the auditor parses only binaries. Layouts: the System V gABI, ch. 4 and 5
(https://refspecs.linuxfoundation.org/elf/gabi4+/contents.html) and the LSB's symbol versioning
(https://refspecs.linuxfoundation.org/LSB_5.0.0/LSB-Core-generic/LSB-Core-generic/symversion.html).

Pure: reads files with `struct`, standard library only, no subprocess. A truncated or inconsistent
ELF file raises `ValueError` with the reason.
"""

from __future__ import annotations

import struct
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import BinaryIO, Final, Literal

ElfClass = Literal[32, 64]
BinaryFormat = Literal["ELF", "Mach-O", "PE DLL", "PE executable"]

ELF_MAGIC: Final = b"\x7fELF"
# Thin and fat Mach-O headers, both byte orders, as the first four bytes appear on disk
# (<mach-o/loader.h>, <mach-o/fat.h>).
_MACHO_THIN: Final = frozenset(
    {b"\xfe\xed\xfa\xce", b"\xce\xfa\xed\xfe", b"\xfe\xed\xfa\xcf", b"\xcf\xfa\xed\xfe"}
)
_MACHO_FAT: Final = {
    b"\xca\xfe\xba\xbe": ">I", b"\xca\xfe\xba\xbf": ">I",
    b"\xbe\xba\xfe\xca": "<I", b"\xbf\xba\xfe\xca": "<I",
}  # fmt: skip
# Java class files also start with CAFEBABE; their next word is the class-file version (>= 45),
# a fat Mach-O's is its number of architectures (a handful). file(1) tells them apart the same way.
_MAX_FAT_ARCHES: Final = 45
_PE_DLL: Final = 0x2000  # IMAGE_FILE_DLL in the COFF header's Characteristics
_HEAD_SIZE: Final = 64  # enough for every magic and the MZ header's e_lfanew at 0x3C
_FAT_HEADER_SIZE: Final = 8  # magic + nfat_arch
_PE_HEADER_SIZE: Final = 24  # "PE\0\0" + the 20-byte COFF header
_IDENT_SIZE: Final = 16  # e_ident
_CLASSES: Final[Mapping[int, ElfClass]] = {1: 32, 2: 64}  # EI_CLASS
_ELFCLASS64: Final = 2
_BYTE_ORDERS: Final[Mapping[int, str]] = {1: "<", 2: ">"}  # EI_DATA, as struct spells them

# e_machine → the name `uname -m` and the manylinux tags use. Others are reported as EM_<n>.
_MACHINES: Final[Mapping[int, str]] = {
    3: "i386", 8: "mips", 20: "ppc", 21: "ppc64", 22: "s390", 40: "arm", 62: "x86_64",
    183: "aarch64", 243: "riscv64", 258: "loongarch64",
}  # fmt: skip

_PT_LOAD: Final = 1
_PT_DYNAMIC: Final = 2
_DT_NEEDED: Final = 1
_DT_STRTAB: Final = 5
_DT_STRSZ: Final = 10
_DT_SONAME: Final = 14
_DT_RPATH: Final = 15
_DT_RUNPATH: Final = 29
_DT_VERNEED: Final = 0x6FFFFFFE
_DT_VERNEEDNUM: Final = 0x6FFFFFFF
# Bounds that no real object reaches; they keep a garbage file from looping or allocating much.
_MAX_PHDRS: Final = 4096
_MAX_DYNAMIC: Final = 1 << 20
_MAX_VERNEED: Final = 4096
_MAX_STRING: Final = 1 << 16
_STRING_CHUNK: Final = 128


@dataclass(frozen=True, kw_only=True)
class ElfInfo:
    """What the dynamic loader will ask of the target when it loads this object."""

    elf_class: ElfClass
    machine: str
    needed: tuple[str, ...] = ()
    soname: str | None = None
    rpath: str | None = None
    runpath: str | None = None
    # library file name (as in DT_NEEDED) → version names needed from it, in file order
    version_needs: Mapping[str, tuple[str, ...]] = field(default_factory=dict, hash=False)


@dataclass(frozen=True, kw_only=True)
class _Layout:
    """The struct formats of one ELF class and byte order."""

    wide: bool  # ELFCLASS64
    order: str  # "<" or ">", as struct spells byte order
    header: str
    phdr: str
    dyn: str
    verneed: str
    vernaux: str

    @classmethod
    def of(cls, *, wide: bool, order: str) -> _Layout:
        return cls(
            wide=wide,
            order=order,
            header=order + ("HHIQQQIHHHHHH" if wide else "HHIIIIIHHHHHH"),
            phdr=order + ("IIQQQQQQ" if wide else "IIIIIIII"),
            dyn=order + ("qQ" if wide else "iI"),
            verneed=order + "HHIII",  # the same in both classes
            vernaux=order + "IHHII",
        )


@dataclass(frozen=True, kw_only=True)
class _Segment:
    """One program header: what the loader maps, and from where in the file."""

    kind: int
    offset: int
    vaddr: int
    filesz: int


def binary_format(path: Path) -> BinaryFormat | None:
    """The kind of binary `path` is, by its magic number; None for anything else."""
    with path.open("rb") as f:
        head = f.read(_HEAD_SIZE)
        if head[:4] == ELF_MAGIC:
            return "ELF"
        if _is_macho(head):
            return "Mach-O"
        if head[:2] == b"MZ" and len(head) == _HEAD_SIZE:
            return _pe_kind(f, head)
    return None


def is_macho_or_pe(path: Path) -> bool:
    """Whether `path` is a macOS (Mach-O, thin or fat) or Windows (PE) binary."""
    return binary_format(path) in ("Mach-O", "PE DLL", "PE executable")


def _is_macho(head: bytes) -> bool:
    magic = head[:4]
    if magic in _MACHO_THIN:
        return True
    if magic in _MACHO_FAT and len(head) >= _FAT_HEADER_SIZE:
        arches: int = struct.unpack_from(_MACHO_FAT[magic], head, 4)[0]
        return 0 < arches < _MAX_FAT_ARCHES
    return False


def _pe_kind(f: BinaryIO, head: bytes) -> BinaryFormat | None:
    # An MZ stub alone proves little (a text file may start with "MZ"): follow e_lfanew to the
    # "PE\0\0" signature and read the COFF Characteristics to tell a DLL (.pyd) from an .exe.
    (pe_offset,) = struct.unpack_from("<I", head, 0x3C)
    f.seek(pe_offset)
    coff = f.read(_PE_HEADER_SIZE)
    if len(coff) < _PE_HEADER_SIZE or coff[:4] != b"PE\0\0":
        return None
    (characteristics,) = struct.unpack_from("<H", coff, 22)
    return "PE DLL" if characteristics & _PE_DLL else "PE executable"


def read_elf(path: Path) -> ElfInfo | None:
    """The class, machine and dynamic linking needs of an ELF file; None if it is not ELF.

    Raises ValueError when the file starts like ELF but is truncated or inconsistent.
    """
    with path.open("rb") as f:
        ident = f.read(_IDENT_SIZE)
        if ident[:4] != ELF_MAGIC:
            return None
        return _parse(f, ident)


def _parse(f: BinaryIO, ident: bytes) -> ElfInfo:
    if len(ident) < _IDENT_SIZE:
        raise ValueError("truncated ELF identification")
    if ident[4] not in _CLASSES or ident[5] not in _BYTE_ORDERS:
        raise ValueError(f"unknown ELF class {ident[4]} or byte order {ident[5]}")
    layout = _Layout.of(wide=ident[4] == _ELFCLASS64, order=_BYTE_ORDERS[ident[5]])
    header = struct.unpack(layout.header, _read(f, _IDENT_SIZE, struct.calcsize(layout.header)))
    base = ElfInfo(elf_class=_CLASSES[ident[4]], machine=_machine_name(header[1], layout))
    segments = _segments(f, layout, phoff=header[4], phentsize=header[8], phnum=header[9])
    dynamic = next((s for s in segments if s.kind == _PT_DYNAMIC), None)
    if dynamic is None:  # static executables and relocatable objects link nothing at load time
        return base
    return _dynamic_info(f, layout, segments, dynamic, base)


def _machine_name(e_machine: int, layout: _Layout) -> str:
    name = _MACHINES.get(e_machine, f"EM_{e_machine}")
    if name == "ppc64" and layout.order == "<":
        return "ppc64le"
    if name == "s390" and layout.wide:
        return "s390x"
    return name


def _segments(
    f: BinaryIO, layout: _Layout, *, phoff: int, phentsize: int, phnum: int
) -> list[_Segment]:
    if phnum == 0:
        return []
    size = struct.calcsize(layout.phdr)
    if phentsize != size or phnum > _MAX_PHDRS:
        raise ValueError(f"bad program header table ({phnum} entries of {phentsize} bytes)")
    table = _read(f, phoff, size * phnum)
    return [_phdr(layout, fields) for fields in struct.iter_unpack(layout.phdr, table)]


def _phdr(layout: _Layout, fields: tuple[int, ...]) -> _Segment:
    if layout.wide:  # Elf64_Phdr moves p_flags second to keep the 8-byte fields aligned
        return _Segment(kind=fields[0], offset=fields[2], vaddr=fields[3], filesz=fields[5])
    # Elf32_Phdr: type, offset, vaddr, paddr, filesz, ...
    return _Segment(kind=fields[0], offset=fields[1], vaddr=fields[2], filesz=fields[4])


def _dynamic_info(
    f: BinaryIO,
    layout: _Layout,
    segments: list[_Segment],
    dynamic: _Segment,
    base: ElfInfo,
) -> ElfInfo:
    entries = _dynamic_entries(f, layout, dynamic)
    if _DT_STRTAB not in {tag for tag, _ in entries}:
        raise ValueError("dynamic section has no string table")
    tags = dict(entries)  # single-valued tags; DT_NEEDED repeats and is read from `entries`
    strings = _Strings(f, _file_offset(segments, tags[_DT_STRTAB]), tags.get(_DT_STRSZ))
    optional = {tag: strings.get(tags[tag]) if tag in tags else None for tag in _SINGLE_STRINGS}
    needs: dict[str, tuple[str, ...]] = {}
    if _DT_VERNEED in tags:
        start = _file_offset(segments, tags[_DT_VERNEED])
        needs = _version_needs(f, layout, strings, start, tags.get(_DT_VERNEEDNUM, _MAX_VERNEED))
    return replace(
        base,
        needed=tuple(strings.get(value) for tag, value in entries if tag == _DT_NEEDED),
        soname=optional[_DT_SONAME],
        rpath=optional[_DT_RPATH],
        runpath=optional[_DT_RUNPATH],
        version_needs=needs,
    )


_SINGLE_STRINGS: Final = (_DT_SONAME, _DT_RPATH, _DT_RUNPATH)


def _dynamic_entries(f: BinaryIO, layout: _Layout, dynamic: _Segment) -> list[tuple[int, int]]:
    if dynamic.filesz > _MAX_DYNAMIC:
        raise ValueError(f"dynamic segment of {dynamic.filesz} bytes")
    size = struct.calcsize(layout.dyn)
    raw = _read(f, dynamic.offset, dynamic.filesz - dynamic.filesz % size)
    entries = []
    for tag, value in struct.iter_unpack(layout.dyn, raw):
        if tag == 0:  # DT_NULL ends the array; the segment is often padded past it
            break
        entries.append((tag, value))
    return entries


def _file_offset(segments: list[_Segment], vaddr: int) -> int:
    """Where in the file the loadable segment holding `vaddr` keeps it."""
    for s in segments:
        if s.kind == _PT_LOAD and s.vaddr <= vaddr < s.vaddr + s.filesz:
            return vaddr - s.vaddr + s.offset
    raise ValueError(f"address {vaddr:#x} is in no loadable segment")


def _version_needs(
    f: BinaryIO, layout: _Layout, strings: _Strings, start: int, count: int
) -> dict[str, tuple[str, ...]]:
    needs: dict[str, tuple[str, ...]] = {}
    offset = start
    for _ in range(min(count, _MAX_VERNEED)):
        _, aux_count, file_name, aux, following = struct.unpack(
            layout.verneed, _read(f, offset, 16)
        )
        names, aux_offset = [], offset + aux
        for _ in range(aux_count):
            _, _, _, name, aux_next = struct.unpack(layout.vernaux, _read(f, aux_offset, 16))
            names.append(strings.get(name))
            if aux_next == 0:
                break
            aux_offset += aux_next
        needs[strings.get(file_name)] = tuple(names)
        if following == 0:
            break
        offset += following
    return needs


class _Strings:
    """Lazy reads from the dynamic string table: a handful of strings, not the whole table."""

    def __init__(self, f: BinaryIO, offset: int, size: int | None) -> None:
        self._f, self._offset, self._size = f, offset, size

    def get(self, index: int) -> str:
        if self._size is not None and index >= self._size:
            raise ValueError(f"string {index} is past the string table's {self._size} bytes")
        _seek(self._f, self._offset + index)
        raw = b""
        while len(raw) < _MAX_STRING:  # most names fit the first chunk
            chunk = self._f.read(_STRING_CHUNK)
            end = chunk.find(b"\0")
            if end >= 0:
                return (raw + chunk[:end]).decode("utf-8", errors="replace")
            if not chunk:
                break
            raw += chunk
        raise ValueError(f"string {index} is not terminated")


def _read(f: BinaryIO, offset: int, size: int) -> bytes:
    _seek(f, offset)
    data = f.read(size)
    if len(data) != size:
        raise ValueError(f"truncated: {size} bytes wanted at offset {offset}, {len(data)} there")
    return data


def _seek(f: BinaryIO, offset: int) -> None:
    try:
        f.seek(offset)
    except (OverflowError, OSError) as e:  # a garbage 64-bit offset
        raise ValueError(f"offset {offset:#x} is out of range") from e
