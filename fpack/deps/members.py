"""Compressed archive members, cached per distribution: a new dependency set compresses only the
distributions no earlier set had.

Compressing the tree is the largest fixed cost of a dependency set after the install (numpy and
pandas: about 2 s on two cores). Each distribution's files (`dists.split`) are compressed once
into `members/<key>.zip` under the cache root, keyed by the distribution's content key and the
archive format; a set's archive is then spliced from those zips raw (`ZipWriter.add_zip`: no
byte is decompressed or compressed again) plus the few files no distribution owns. Entries are
rewritten with the archive's own timestamp and order, so the result is the same bytes as
compressing the tree whole. A members zip is written to a temporary name and renamed into place:
two builds making the same one race harmlessly, and a reader never sees half of one.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Final

from fpack import parallel
from fpack.archive import ARCHIVE_VERSION, Entry, ZipWriter, compress, read_entries
from fpack.deps import dists
from fpack.deps.cache import Cache
from fpack.deps.keys import sha

KIND: Final = "members"


@dataclass(frozen=True, kw_only=True)
class Spliced:
    """How an archive's dependency members were made: taken from the cache or compressed."""

    reused: int  # distributions whose compressed members were in the cache
    compressed: int  # distributions compressed now


def fill(writer: ZipWriter, tree: Path, cache: Cache, *, jobs: int | None = None) -> Spliced:
    """Add every file of `tree` to `writer`: each distribution's members from the cache, made
    first where missing, the loose files compressed. Files are compressed on all cores (zlib
    releases the GIL), across distributions: one large package is not one core's work."""
    parts = dists.split(tree)
    todo = [d for d in parts.dists if not _path(cache, d).is_file()]
    done = _make(tree, cache, todo, parts.loose, jobs=jobs)
    for d in parts.dists:
        path = _path(cache, d)
        for entry in read_entries(path):
            writer.add(entry)
        cache.use(path)
    for rel in parts.loose:
        writer.add(done[rel])
    return Spliced(reused=len(parts.dists) - len(todo), compressed=len(todo))


def write_archive(tree: Path, cache: Cache, dest: Path, *, epoch: int) -> Spliced:
    """The archive of `tree` (no prefix), written to `dest` whole or not at all: `fill`."""
    writer = ZipWriter(dest, epoch=epoch)
    spliced = fill(writer, tree, cache)
    writer.write()
    return spliced


def prefill(tree: Path, cache: Cache, *, jobs: int | None = None) -> int:
    """Compress the distributions of `tree` no members entry has yet, ahead of the archive that
    will want them (deps/speculate.py: while the set is still being resolved). How many."""
    todo = [d for d in dists.split(tree).dists if not _path(cache, d).is_file()]
    _make(tree, cache, todo, (), jobs=jobs)
    return len(todo)


def _make(tree: Path, cache: Cache, todo: list[dists.Dist], loose: tuple[str, ...], *,
          jobs: int | None) -> dict[str, Entry]:
    """Compress the files of `todo` and `loose`; write each of `todo` as its members zip."""
    work = [rel for d in todo for rel in d.files] + list(loose)
    # Largest first: one big shared object (pydantic-core's 5 MB, numpy's OpenBLAS) compressed
    # last is a tail no other core can help with; begun first, the small files fill in beside it.
    work.sort(key=lambda rel: -(tree / rel).stat().st_size)
    compressed = parallel.map_ordered(lambda rel: _compress(tree, rel), work,
                                      jobs=max(1, jobs or os.cpu_count() or 2))
    done = dict(zip(work, compressed, strict=True))
    for d in todo:
        members = ZipWriter(_path(cache, d), epoch=0)  # timestamps are the final archive's
        for rel in d.files:
            members.add(done[rel])
        members.write()
    return done


def _path(cache: Cache, d: dists.Dist) -> Path:
    return cache.file(KIND, sha("members", ARCHIVE_VERSION, d.key), ".zip")


def _compress(tree: Path, rel: str) -> Entry:
    path = tree / rel
    return compress(rel, path.read_bytes(), path.stat().st_mode)
