"""Deterministic zips: same entries, same bytes; modes normalised; raw splicing is lossless."""

from __future__ import annotations

import hashlib
import zipfile
from pathlib import Path

import pytest

from fpack import inputs
from fpack.archive import ZipWriter, dos_timestamp, normal_mode
from fpack.errors import BuildError

EPOCH = inputs.DEFAULT_EPOCH  # what a build without SOURCE_DATE_EPOCH hands the writer


def build(path: Path, files: dict[str, tuple[bytes, int]], epoch: int = EPOCH) -> str:
    writer = ZipWriter(path, epoch=epoch)
    for name, (data, mode) in files.items():
        writer.add_bytes(name, data, mode)
    writer.write()
    return hashlib.sha256(path.read_bytes()).hexdigest()


FILES = {
    "b/x.py": (b"print(1)\n" * 50, 0o600),
    "a.sh": (b"#!/bin/sh\n", 0o775),
    "b/c/d.txt": (b"d", 0o644),
    "\u00fc.txt": (b"u", 0o640),
}


def test_insertion_order_and_modes_do_not_change_bytes(tmp_path: Path) -> None:
    first = build(tmp_path / "1.zip", FILES)
    reordered = dict(reversed(list(FILES.items())))
    reordered["b/x.py"] = (FILES["b/x.py"][0], 0o644)  # another umask: same normalised mode
    assert build(tmp_path / "2.zip", reordered) == first


def test_entries_are_sorted_with_fixed_dates_and_normal_modes(tmp_path: Path) -> None:
    build(tmp_path / "a.zip", FILES)
    with zipfile.ZipFile(tmp_path / "a.zip") as z:
        assert z.testzip() is None
        infos = z.infolist()
    assert [i.filename for i in infos] == [
        "a.sh",
        "b/",
        "b/c/",
        "b/c/d.txt",
        "b/x.py",
        "\u00fc.txt",
    ]
    modes = {i.filename: oct(i.external_attr >> 16) for i in infos}
    assert modes == {
        "a.sh": "0o100755",
        "b/": "0o40755",
        "b/c/": "0o40755",
        "b/c/d.txt": "0o100644",
        "b/x.py": "0o100644",
        "\u00fc.txt": "0o100644",
    }
    assert {i.date_time for i in infos} == {(1980, 1, 1, 0, 0, 0)}
    assert {i.create_system for i in infos} == {3}


def test_source_date_epoch_sets_the_timestamp(tmp_path: Path) -> None:
    assert inputs.read({}).epoch == EPOCH
    epoch = inputs.read({"SOURCE_DATE_EPOCH": "1700000000"}).epoch  # 2023-11-14 22:13:20 UTC
    assert epoch == 1700000000
    assert dos_timestamp(epoch) == (
        (22 << 11) | (13 << 5) | 10, ((2023 - 1980) << 9) | (11 << 5) | 14)
    assert dos_timestamp(0) == dos_timestamp(EPOCH)  # clamped to zip's 1980 epoch
    build(tmp_path / "a.zip", {"f": (b"x", 0o644)}, epoch=epoch)
    with zipfile.ZipFile(tmp_path / "a.zip") as z:
        assert z.infolist()[0].date_time == (2023, 11, 14, 22, 13, 20)


def test_splicing_copies_members_raw_under_a_prefix(tmp_path: Path) -> None:
    build(tmp_path / "deps.zip", FILES)
    writer = ZipWriter(tmp_path / "layer.zip", epoch=EPOCH)
    writer.add_zip(tmp_path / "deps.zip", prefix="python/")
    writer.add_bytes("handler.py", b"def f(e, c): pass\n")
    writer.write()
    with zipfile.ZipFile(tmp_path / "layer.zip") as z:
        assert z.testzip() is None
        assert z.read("python/b/x.py") == FILES["b/x.py"][0]
        assert oct(z.getinfo("python/a.sh").external_attr >> 16) == "0o100755"
    assert writer.unpacked_size == sum(len(d) for d, _ in FILES.values()) + 18


def test_compressed_size_is_known_before_writing(tmp_path: Path) -> None:
    writer = ZipWriter(tmp_path / "a.zip", epoch=EPOCH)
    for name, (data, mode) in FILES.items():
        writer.add_bytes(name, data, mode)
    expected = writer.compressed_size()
    writer.write()
    assert expected == (tmp_path / "a.zip").stat().st_size


def test_duplicate_names_are_refused(tmp_path: Path) -> None:
    writer = ZipWriter(tmp_path / "hello.zip", epoch=EPOCH)
    writer.add_bytes("x.py", b"1")
    with pytest.raises(BuildError) as info:
        writer.add_bytes("x.py", b"2")
    assert str(info.value) == "hello.zip: two files would be packaged as x.py; rename one of them"


def test_a_failed_write_leaves_the_old_archive(tmp_path: Path) -> None:
    dest = tmp_path / "a.zip"
    dest.write_bytes(b"old")
    writer = ZipWriter(dest, epoch=EPOCH)
    writer.add(writer_entry_from_missing_source(tmp_path))
    with pytest.raises(FileNotFoundError):
        writer.write()
    assert dest.read_bytes() == b"old"
    assert list(tmp_path.iterdir()) == [dest]


def writer_entry_from_missing_source(tmp_path: Path):
    from fpack.archive import Entry

    return Entry(
        name="gone",
        mode=0o644,
        crc=0,
        compressed_size=1,
        size=1,
        method=0,
        source=tmp_path / "missing.zip",
    )


def test_normal_mode() -> None:
    assert normal_mode(0o100600) == 0o644
    assert normal_mode(0o100700) == 0o755
    assert normal_mode(0o100744) == 0o755
