"""Builders of small binaries for the deps tests: ELF objects with a dynamic section, PE files.

Real system libraries cover what this machine has; these cover what it lacks (aarch64, 32-bit,
big-endian, a glibc newer than the host's) with exact, known contents.
"""

from __future__ import annotations

import struct
from collections.abc import Mapping

EM_X86_64 = 62
EM_AARCH64 = 183
_BASE = 0x10000  # virtual addresses differ from file offsets, as in real objects


def build_elf(
    *,
    machine: int = EM_X86_64,
    elf_class: int = 64,
    big_endian: bool = False,
    needed: tuple[str, ...] = (),
    soname: str | None = None,
    rpath: str | None = None,
    runpath: str | None = None,
    version_needs: Mapping[str, tuple[str, ...]] | None = None,
    dynamic: bool = True,
) -> bytes:
    """A minimal ELF shared object with no section headers: just what the loader reads."""
    o = ">" if big_endian else "<"
    wide = elf_class == 64
    header_size, phdr_size = (64, 56) if wide else (52, 32)
    strings = _StringTable()
    verneed = _verneed(o, strings, version_needs or {})
    tags = [(1, strings.add(n)) for n in needed]
    for tag, value in ((14, soname), (15, rpath), (29, runpath)):
        if value is not None:
            tags.append((tag, strings.add(value)))
    strtab_at = header_size + phdr_size * (2 if dynamic else 1)
    verneed_at = _align(strtab_at + len(strings.data), 8)
    dynamic_at = _align(verneed_at + len(verneed), 8)
    tags += [(5, _BASE + strtab_at), (10, len(strings.data))]
    if version_needs:
        tags += [(0x6FFFFFFE, _BASE + verneed_at), (0x6FFFFFFF, len(version_needs))]
    dyn = b"".join(struct.pack(o + ("qQ" if wide else "iI"), t, v) for t, v in [*tags, (0, 0)])
    end = dynamic_at + len(dyn)
    segments = [(1, 0, end)] + ([(2, dynamic_at, len(dyn))] if dynamic else [])
    head = _header(o, wide, machine, header_size, phdr_size, len(segments))
    phdrs = b"".join(_phdr(o, wide, kind, at, size) for kind, at, size in segments)
    body = head + phdrs + strings.data
    body = body.ljust(verneed_at, b"\0") + verneed
    return body.ljust(dynamic_at, b"\0") + (dyn if dynamic else b"")


def build_pe(*, dll: bool) -> bytes:
    """An MZ stub pointing at a PE header whose COFF Characteristics mark a DLL or an .exe."""
    stub = bytearray(b"MZ".ljust(0x80, b"\0"))
    struct.pack_into("<I", stub, 0x3C, 0x80)
    characteristics = 0x2022 if dll else 0x0022
    coff = struct.pack("<HHIIIHH", 0x8664, 0, 0, 0, 0, 0, characteristics)
    return bytes(stub) + b"PE\0\0" + coff


class _StringTable:
    def __init__(self) -> None:
        self.data = b"\0"

    def add(self, text: str) -> int:
        index = len(self.data)
        self.data += text.encode() + b"\0"
        return index


def _verneed(o: str, strings: _StringTable, needs: Mapping[str, tuple[str, ...]]) -> bytes:
    out = b""
    for i, (library, names) in enumerate(needs.items()):
        last = i == len(needs) - 1
        following = 0 if last else 16 + 16 * len(names)
        out += struct.pack(o + "HHIII", 1, len(names), strings.add(library), 16, following)
        for j, name in enumerate(names):
            aux_next = 0 if j == len(names) - 1 else 16
            out += struct.pack(o + "IHHII", 0, 0, 2 + j, strings.add(name), aux_next)
    return out


def _header(o: str, wide: bool, machine: int, size: int, phdr_size: int, phnum: int) -> bytes:
    ident = b"\x7fELF" + bytes([2 if wide else 1, 2 if o == ">" else 1, 1]).ljust(12, b"\0")
    fields = (3, machine, 1, 0, size, 0, 0, size, phdr_size, phnum, 0, 0, 0)  # ET_DYN, no sections
    return ident + struct.pack(o + ("HHIQQQIHHHHHH" if wide else "HHIIIIIHHHHHH"), *fields)


def _phdr(o: str, wide: bool, kind: int, offset: int, size: int) -> bytes:
    vaddr = _BASE + offset
    if wide:
        return struct.pack(o + "IIQQQQQQ", kind, 4, offset, vaddr, vaddr, size, size, 8)
    return struct.pack(o + "IIIIIIII", kind, offset, vaddr, vaddr, size, size, 4, 4)


def _align(n: int, to: int) -> int:
    return (n + to - 1) // to * to
