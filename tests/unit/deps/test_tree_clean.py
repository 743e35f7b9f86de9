"""The installed tree after cleaning: every dist-info RECORD lists exactly the files shipped, and
the lines it keeps are the installer's, byte for byte (their hashes depend only on the wheels)."""

from __future__ import annotations

import csv
import os
import posixpath
from pathlib import Path

import pytest

from fpack.deps import dists

# idna as uv installs it into a --target directory, with the forms other installers write too.
IDNA_RECORD = (
    b"bin/idna,sha256=FT7suQLtvwmeFfJ9fLgYPKemML9SqaaAc_rAmuGtjzA,313\n"
    b"../../bin/idna-pip,sha256=aaaa,300\n"
    b"/usr/local/bin/idna-abs,sha256=bbbb,300\n"
    b"idna-3.20.dist-info/INSTALLER,sha256=5hhM4Q4mYTT9z6QB6PGpUAW81PGNFrYrdXMj4oM_6ak,2\n"
    b"idna-3.20.dist-info/RECORD,,\n"
    b"idna-3.20.dist-info/uv_cache.json,sha256=cccc,40\n"
    b"idna-3.20.dist-info/direct_url.json,sha256=dddd,60\n"
    b"idna/__init__.py,sha256=hRTD7VMTajWW699RL6SHu919pama3K7YLgNj0sMG068,944\n"
    b"./idna/core.py,sha256=PdTD_-5P8iMgf6xl84EqHmiVrorR56btYBFXaPNVFSA,32580\r\n"
    b'"idna/odd,name.txt",sha256=eeee,3\n'
    b"idna/__pycache__/core.cpython-312.pyc,sha256=ffff,900\n"
    b"idna/../../outside.py,sha256=gggg,1\n"
    b"idna/gone.py,sha256=hhhh,1"
)
SIX_RECORD = b"six-1.17.0.dist-info/RECORD,,\nsix.py,sha256=iiii,5\n"


def _tree(root: Path) -> Path:
    files = {
        "bin/idna": "#!/root/.pyenv/versions/3.11.7/bin/python\n",
        "bin/idna-pip": "#!/usr/bin/python3\n",
        ".lock": "",
        "idna-3.20.dist-info/INSTALLER": "uv",
        "idna-3.20.dist-info/uv_cache.json": '{"timestamp":{"secs_since_epoch":1}}',
        "idna-3.20.dist-info/direct_url.json": '{"url":"file:///root/.cache/fpack/x.whl"}',
        "idna/__init__.py": "",
        "idna/core.py": "",
        "idna/odd,name.txt": "odd",
        "idna/__pycache__/core.cpython-312.pyc": "",
        "six.py": "",
    }
    for name, text in files.items():
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).write_text(text)
    (root / "idna-3.20.dist-info/RECORD").write_bytes(IDNA_RECORD)
    (root / "six-1.17.0.dist-info").mkdir()
    (root / "six-1.17.0.dist-info/RECORD").write_bytes(SIX_RECORD)
    return root


def _recorded(tree: Path) -> set[str]:
    names = set()
    for record in tree.glob("*.dist-info/RECORD"):
        with record.open(newline="", encoding="utf-8") as f:
            names |= {posixpath.normpath(row[0]) for row in csv.reader(f) if row}
    return names


def test_record_lists_exactly_the_files_left_after_cleaning(tmp_path: Path) -> None:
    tree = _tree(tmp_path / "tree")
    dists.clean(tree)
    shipped = {p.relative_to(tree).as_posix() for p in tree.rglob("*") if p.is_file()}
    assert _recorded(tree) == shipped
    assert (tree / "idna-3.20.dist-info/RECORD").read_bytes() == (
        b"idna-3.20.dist-info/INSTALLER,sha256=5hhM4Q4mYTT9z6QB6PGpUAW81PGNFrYrdXMj4oM_6ak,2\n"
        b"idna-3.20.dist-info/RECORD,,\n"
        b"idna/__init__.py,sha256=hRTD7VMTajWW699RL6SHu919pama3K7YLgNj0sMG068,944\n"
        b"./idna/core.py,sha256=PdTD_-5P8iMgf6xl84EqHmiVrorR56btYBFXaPNVFSA,32580\r\n"
        b'"idna/odd,name.txt",sha256=eeee,3\n'
    )


def test_a_pruned_record_is_a_new_file_so_its_links_elsewhere_keep_theirs(
        tmp_path: Path) -> None:
    """Trees share inodes with uv's cache and with earlier trees (hard links): cleaning
    replaces RECORD rather than writing into it."""
    tree = _tree(tmp_path / "tree")
    record = tree / "idna-3.20.dist-info/RECORD"
    elsewhere = tmp_path / "uv-cache-RECORD"
    os.link(record, elsewhere)
    before = elsewhere.read_bytes()
    dists.clean(tree)
    assert elsewhere.read_bytes() == before
    assert record.read_bytes() != before
    assert not list(record.parent.glob(".*.tmp"))


def test_a_record_with_nothing_dropped_is_left_as_it_was(tmp_path: Path) -> None:
    tree = _tree(tmp_path / "tree")
    dists.clean(tree)
    assert (tree / "six-1.17.0.dist-info/RECORD").read_bytes() == SIX_RECORD


@pytest.mark.parametrize(("line", "ships"), [
    (b"pkg/mod.py,sha256=x,1\n", True),
    (b"pkg/./sub/../mod.py,sha256=x,1\n", True),
    (b"pkg/missing.py,sha256=x,1\n", False),
    (b"pkg,,\n", False),  # a directory is not a shipped file
    (b"bin/tool,sha256=x,1\n", False),
    (b"../../../bin/tool,sha256=x,1\n", False),
    (b"../tree/pkg/mod.py,sha256=x,1\n", False),  # climbs out: not a path in site-packages
    (b"/abs/pkg/mod.py,sha256=x,1\n", False),
    (b"\n", True),  # names nothing: left alone
])
def test_which_record_lines_name_a_shipped_file(tmp_path: Path, line: bytes, ships: bool) -> None:
    tree = tmp_path / "tree"
    (tree / "pkg" / "sub").mkdir(parents=True)
    (tree / "pkg" / "mod.py").write_text("")
    assert dists._ships(tree, line) is ships
