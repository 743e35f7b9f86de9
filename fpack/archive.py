"""Deterministic zip archives: the same entries give the same bytes on any machine.

Entries are written in sorted order with one fixed timestamp (the build's SOURCE_DATE_EPOCH, else
1980-01-01, handed in by the caller: this module reads no environment),
modes normalised to 0644 / 0755 (executables and directories), no owner names, no extra fields.
Entries can be copied raw (already compressed) from another zip, so a cached dependency archive is
spliced into a function zip without decompressing or recompressing anything. The archive is written
to a temporary file beside its destination and renamed into place: readers never see half a zip.
"""

from __future__ import annotations

import os
import struct
import threading
import time
import zlib
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO, Final

from fpack import parallel
from fpack.errors import BuildError

_LOCAL: Final = struct.Struct("<IHHHHHIIIHH")
_CENTRAL: Final = struct.Struct("<IHHHHHHIIIHHHHHII")
_END: Final = struct.Struct("<IHHHHIIH")
_UNIX_VERSION: Final = (3 << 8) | 20  # made by Unix, zip spec 2.0
_UTF8_FLAG: Final = 0x800
_MAX_32: Final = 0xFFFFFFFF
_MAX_ENTRIES: Final = 0xFFFF
# Bump when the bytes this module writes change, so cached archives are rebuilt.
ARCHIVE_VERSION: Final = "1"
DEFLATED: Final = 8
STORED: Final = 0
# Deflate level 6 is zlib's default: a fair trade of size for speed on large dependency trees.
_LEVEL: Final = 6


def normal_mode(mode: int) -> int:
    """0755 for anything executable by anyone, 0644 otherwise: the umask never leaks in."""
    return 0o755 if mode & 0o111 else 0o644


def dos_timestamp(epoch: int) -> tuple[int, int]:
    """(time, date) in DOS format of `epoch`, clamped to zip's 1980 epoch."""
    t = time.gmtime(max(epoch, 315532800))
    return (t.tm_hour << 11) | (t.tm_min << 5) | (t.tm_sec // 2), (
        ((t.tm_year - 1980) << 9) | (t.tm_mon << 5) | t.tm_mday
    )


@dataclass(frozen=True, kw_only=True)
class Entry:
    """One compressed member, ready to be written: its bytes come from memory or another zip."""

    name: str
    mode: int
    crc: int
    compressed_size: int
    size: int
    method: int
    data: bytes | None = None  # compressed bytes, or None when read from `source`
    source: Path | None = None
    source_offset: int = 0


def compress(name: str, payload: bytes, mode: int) -> Entry:
    """An entry for `payload`, deflated unless that does not make it smaller."""
    c = zlib.compressobj(_LEVEL, zlib.DEFLATED, -15)
    packed = c.compress(payload) + c.flush()
    method = DEFLATED
    if len(packed) >= len(payload):
        packed, method = payload, STORED
    return Entry(
        name=name,
        mode=normal_mode(mode),
        crc=zlib.crc32(payload),
        compressed_size=len(packed),
        size=len(payload),
        method=method,
        data=packed,
    )


def read_entries(path: Path, prefix: str = "") -> Iterator[Entry]:
    """The file members of an existing zip, as raw entries renamed under `prefix`."""
    with path.open("rb") as f:
        f.seek(0, os.SEEK_END)
        end = f.tell()
        f.seek(max(0, end - 22))
        tail = f.read()
        sig, _, _, _, count, cd_size, cd_offset, _ = _END.unpack(tail[-22:])
        if sig != 0x06054B50:
            raise BuildError(f"{path}: not a zip written by fpack (no end record); delete it")
        f.seek(cd_offset)
        directory = f.read(cd_size)
    pos = 0
    for _ in range(count):
        fields = _CENTRAL.unpack_from(directory, pos)
        (_, _, _, flags, method, _, _, crc, csize, usize, nlen, xlen, clen, _, _, attr, off) = (
            fields
        )
        name = directory[pos + 46 : pos + 46 + nlen].decode(
            "utf-8" if flags & _UTF8_FLAG else "cp437"
        )
        pos += 46 + nlen + xlen + clen
        if name.endswith("/"):
            continue
        yield Entry(
            name=prefix + name,
            mode=(attr >> 16) & 0o777,
            crc=crc,
            compressed_size=csize,
            size=usize,
            method=method,
            source=path,
            source_offset=off,
        )


def _local_data_offset(f: BinaryIO, header_offset: int) -> int:
    f.seek(header_offset)
    fields = _LOCAL.unpack(f.read(_LOCAL.size))
    name_len, extra_len = int(fields[9]), int(fields[10])
    return header_offset + _LOCAL.size + name_len + extra_len


class ZipWriter:
    """Collects entries, then writes them sorted into `dest` atomically (temp file + rename).

    `dest` names the artifact in every error, also when the bytes go to a temporary file first;
    `epoch` is every entry's timestamp."""

    def __init__(self, dest: Path, *, epoch: int) -> None:
        self.dest = dest
        self.epoch = epoch
        self._entries: dict[str, Entry] = {}

    def add(self, entry: Entry) -> None:
        if entry.name in self._entries:
            raise BuildError(f"{self.dest.name}: two files would be packaged as {entry.name}; "
                             "rename one of them")
        self._entries[entry.name] = entry

    def add_bytes(self, name: str, payload: bytes, mode: int = 0o644) -> None:
        self.add(compress(name, payload, mode))

    def add_tree(self, root: Path, prefix: str = "") -> None:
        """Every file under `root`, compressed on all cores (zlib releases the GIL)."""
        files = sorted(p for p in root.rglob("*") if p.is_file() and not p.is_symlink())

        def one(path: Path) -> Entry:
            name = prefix + path.relative_to(root).as_posix()
            return compress(name, path.read_bytes(), path.stat().st_mode)

        for entry in parallel.map_ordered(one, files, jobs=os.cpu_count() or 2):
            self.add(entry)

    def add_zip(self, path: Path, prefix: str = "") -> None:
        for entry in read_entries(path, prefix):
            self.add(entry)

    @property
    def unpacked_size(self) -> int:
        return sum(e.size for e in self._entries.values())

    def names(self) -> list[str]:
        return sorted(self._entries)

    def write(self) -> None:
        """Write the archive to `dest`; on any failure the destination is left as it was."""
        self.dest.parent.mkdir(parents=True, exist_ok=True)
        tmp = self.dest.with_name(f".{self.dest.name}.{os.getpid()}-{threading.get_ident()}.tmp")
        try:
            self.write_file(tmp)
            os.replace(tmp, self.dest)
        finally:
            tmp.unlink(missing_ok=True)

    def write_file(self, path: Path) -> None:
        """Write the archive to `path` as it is (the caller renames it into place)."""
        with path.open("wb") as out:
            self._write_to(out)

    def compressed_size(self) -> int:
        """The archive's size before writing it: members, headers and the central directory."""
        return (
            sum(e.compressed_size + 76 + 2 * len(e.name.encode()) for e in self._all_entries()) + 22
        )

    def _all_entries(self) -> list[Entry]:
        dirs: set[str] = set()
        for name in self._entries:
            parts = name.split("/")[:-1]
            dirs.update("/".join(parts[: i + 1]) + "/" for i in range(len(parts)))
        entries = list(self._entries.values())
        entries += [
            Entry(name=d, mode=0o755, crc=0, compressed_size=0, size=0, method=STORED, data=b"")
            for d in dirs
        ]
        return sorted(entries, key=lambda e: e.name)

    def _write_to(self, out: BinaryIO) -> None:
        dos_time, dos_date = dos_timestamp(self.epoch)
        entries = self._all_entries()
        if len(entries) > _MAX_ENTRIES:
            raise BuildError(
                f"{self.dest.name}: {len(entries)} entries; fpack writes at most "
                f"{_MAX_ENTRIES} (no ZIP64): exclude files you do not need"
            )
        central = bytearray()
        sources: dict[Path, BinaryIO] = {}
        try:
            for e in entries:
                offset = out.tell()
                name = e.name.encode("utf-8")
                flags = 0 if name.isascii() else _UTF8_FLAG
                out.write(
                    _LOCAL.pack(
                        0x04034B50,
                        20,
                        flags,
                        e.method,
                        dos_time,
                        dos_date,
                        e.crc,
                        e.compressed_size,
                        e.size,
                        len(name),
                        0,
                    )
                )
                out.write(name)
                self._copy_data(e, out, sources)
                is_dir = e.name.endswith("/")
                attr = ((0o040000 if is_dir else 0o100000) | e.mode) << 16 | (0x10 if is_dir else 0)
                central += _CENTRAL.pack(
                    0x02014B50,
                    _UNIX_VERSION,
                    20,
                    flags,
                    e.method,
                    dos_time,
                    dos_date,
                    e.crc,
                    e.compressed_size,
                    e.size,
                    len(name),
                    0,
                    0,
                    0,
                    0,
                    attr,
                    offset,
                )
                central += name
        finally:
            for f in sources.values():
                f.close()
        cd_offset = out.tell()
        if cd_offset > _MAX_32:
            raise BuildError(f"{self.dest.name}: over 4 GiB; fpack does not write ZIP64 archives")
        out.write(central)
        out.write(
            _END.pack(0x06054B50, 0, 0, len(entries), len(entries), len(central), cd_offset, 0)
        )

    def _copy_data(self, e: Entry, out: BinaryIO, sources: dict[Path, BinaryIO]) -> None:
        if e.data is not None:
            out.write(e.data)
            return
        assert e.source is not None
        f = sources.get(e.source)
        if f is None:
            f = sources[e.source] = e.source.open("rb")
        f.seek(_local_data_offset(f, e.source_offset))
        remaining = e.compressed_size
        while remaining:
            chunk = f.read(min(remaining, 1 << 20))
            if not chunk:
                raise BuildError(f"{e.source}: truncated archive, read while writing "
                                 f"{self.dest.name}; delete it and build again")
            out.write(chunk)
            remaining -= len(chunk)
