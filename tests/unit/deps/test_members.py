"""Per-distribution members: an archive spliced from them is the archive compressed whole, and
a set that differs by one package compresses that package alone (fpack/deps/members.py)."""

from __future__ import annotations

import base64
import hashlib
import shutil
from pathlib import Path

from fpack.archive import ZipWriter
from fpack.deps import dists, members
from fpack.deps.cache import Cache


def record_line(tree: Path, rel: str) -> str:
    data = (tree / rel).read_bytes()
    digest = base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=").decode()
    return f"{rel},sha256={digest},{len(data)}\n"


def install(tree: Path, name: str, version: str, files: dict[str, bytes]) -> None:
    info = f"{name}-{version}.dist-info"
    for rel, data in {**files, f"{info}/METADATA": f"Name: {name}\n".encode()}.items():
        (tree / rel).parent.mkdir(parents=True, exist_ok=True)
        (tree / rel).write_bytes(data)
    lines = [record_line(tree, rel) for rel in sorted({*files, f"{info}/METADATA"})]
    (tree / info / "RECORD").write_text("".join(lines) + f"{info}/RECORD,,\n")


def make_tree(root: Path, lib_version: str) -> Path:
    tree = root / f"tree-{lib_version}"
    install(tree, "lib", lib_version, {"lib/__init__.py": f"V = {lib_version!r}\n".encode() * 50,
                                       "lib/_x.so": b"\x7fELF" + bytes(range(256)) * 40})
    install(tree, "big", "1.0", {"big/__init__.py": b"import os\n" * 500,
                                 "big/data.bin": bytes(4096)})
    (tree / "big" / "__pycache__").mkdir()
    (tree / "big" / "__pycache__" / "__init__.cpython-311.pyc").write_bytes(b"pyc" * 100)
    (tree / "loose.py").write_text("x = 1\n")  # no RECORD claims it
    (tree / "lib" / "_x.so").chmod(0o755)
    return tree


def whole(tree: Path, dest: Path) -> bytes:
    writer = ZipWriter(dest, epoch=315532800)
    writer.add_tree(tree)
    writer.write()
    return dest.read_bytes()


def spliced(tree: Path, dest: Path, cache: Cache) -> tuple[bytes, members.Spliced]:
    writer = ZipWriter(dest, epoch=315532800)
    done = members.fill(writer, tree, cache)
    writer.write()
    return dest.read_bytes(), done


def test_a_spliced_archive_is_the_archive_compressed_whole(tmp_path: Path) -> None:
    tree = make_tree(tmp_path, "1.0")
    cache = Cache(tmp_path / "cache")
    data, done = spliced(tree, tmp_path / "a.zip", cache)
    assert data == whole(tree, tmp_path / "b.zip")
    assert (done.reused, done.compressed) == (0, 2)
    again, done = spliced(tree, tmp_path / "c.zip", cache)
    assert again == data and (done.reused, done.compressed) == (2, 0)


def test_a_set_that_differs_by_one_package_compresses_that_package(tmp_path: Path) -> None:
    cache = Cache(tmp_path / "cache")
    spliced(make_tree(tmp_path, "1.0"), tmp_path / "a.zip", cache)
    newer = make_tree(tmp_path, "2.0")
    data, done = spliced(newer, tmp_path / "b.zip", cache)
    assert (done.reused, done.compressed) == (1, 1)
    assert data == whole(newer, tmp_path / "c.zip")


def test_bytes_that_differ_from_what_record_states_make_another_key(tmp_path: Path) -> None:
    tree = make_tree(tmp_path, "1.0")
    before = {d.name: d.key for d in dists.split(tree).dists}
    (tree / "big" / "data.bin").write_bytes(bytes(4095) + b"\1")  # same size, RECORD now wrong
    (tree / "big" / "__pycache__" / "__init__.cpython-311.pyc").write_bytes(b"cyp" * 100)
    after = {d.name: d.key for d in dists.split(tree).dists}
    assert after["lib-1.0.dist-info"] == before["lib-1.0.dist-info"]
    assert after["big-1.0.dist-info"] != before["big-1.0.dist-info"]  # the pyc is hashed
    shutil.copy(tree / "lib" / "_x.so", tmp_path / "x")
    (tree / "lib" / "_x.so").chmod(0o644)
    assert dists.split(tree).dists[1].key != before["lib-1.0.dist-info"]


def test_bytecode_belongs_to_its_module_and_the_rest_is_loose(tmp_path: Path) -> None:
    parts = dists.split(make_tree(tmp_path, "1.0"))
    big = next(d for d in parts.dists if d.name.startswith("big"))
    assert "big/__pycache__/__init__.cpython-311.pyc" in big.files
    assert parts.loose == ("loose.py",)
    assert dists.source_of("a/__pycache__/m.cpython-311.opt-1.pyc") == "a/m.py"
    assert dists.source_of("a/m.py") is None
