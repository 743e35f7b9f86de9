"""pylock.toml entries as uv writes them, read into `Locked` (golden texts, whole messages)."""

from __future__ import annotations

from pathlib import Path

import pytest

from fpack.deps.lock import Locked, parse
from fpack.errors import DependencyError

SIX_WHEEL = (
    'wheels = [{ url = "https://files.example/six-1.17.0-py2.py3-none-any.whl", '
    'hashes = { sha256 = "aa" } }]'
)


def test_a_wheel_entry() -> None:
    text = f'[[packages]]\nname = "Six"\nversion = "1.17.0"\n{SIX_WHEEL}\n'
    assert parse(text, Path("/tmp")) == (Locked(
        name="six", version="1.17.0", kind="wheel",
        location="https://files.example/six-1.17.0-py2.py3-none-any.whl", sha256="aa"),)
    assert not parse(text, Path("/tmp"))[0].needs_build


def test_a_resolution_admitting_source_lists_the_sdist_beside_the_wheel() -> None:
    text = ('[[packages]]\nname = "six"\nversion = "1.17.0"\n'
            'sdist = { url = "https://files.example/six-1.17.0.tar.gz", '
            'hashes = { sha256 = "bb" } }\n'
            f"{SIX_WHEEL}\n")
    (entry,) = parse(text, Path("/tmp"))
    assert (entry.kind, entry.sha256, entry.filename) == (
        "wheel", "aa", "six-1.17.0-py2.py3-none-any.whl")


def test_source_entries_need_a_build(tmp_path: Path) -> None:
    text = """
[[packages]]
name = "only-sdist"
version = "2.0"
sdist = { url = "https://files.example/only_sdist-2.0.tar.gz", hashes = { sha256 = "cc" } }

[[packages]]
name = "local"
directory = { path = "../src/local" }

[[packages]]
name = "from-git"
version = "0.1"
vcs = { type = "git", url = "https://git.example/repo", commit-id = "abc123", subdirectory = "py" }

[[packages]]
name = "built"
version = "1.0"
archive = { path = "/c/built-1.0-cp311-cp311-linux_x86_64.whl", hashes = { sha256 = "dd" } }

[[packages]]
name = "tarball"
version = "3.0"
archive = { url = "https://files.example/tarball-3.0.tar.gz", hashes = { sha256 = "ee" } }
"""
    base = tmp_path / "lockdir"
    entries = parse(text, base)
    assert [(e.name, e.kind, e.needs_build) for e in entries] == [
        ("only-sdist", "sdist", True), ("local", "directory", True), ("from-git", "vcs", True),
        ("built", "archive", False), ("tarball", "archive", True)]
    assert entries[1] == Locked(name="local", version=None, kind="directory",
                                location=str((base / "../src/local").resolve()))
    assert (entries[2].commit, entries[2].subdirectory) == ("abc123", "py")


def test_of_several_wheels_the_one_an_installer_would_pick_is_kept() -> None:
    # simplejson publishes a pure wheel beside the compiled one; watchdog one wheel under two
    # equivalent tags. uv lists them all; pip and uv install the compiled / PEP 600-tagged one.
    text = (
        '[[packages]]\nname = "simplejson"\nversion = "3.20.1"\nwheels = ['
        '{ url = "https://x/simplejson-3.20.1-py3-none-any.whl" }, '
        '{ url = "https://x/simplejson-3.20.1-cp312-cp312-manylinux_2_17_x86_64.whl" }]\n'
        '[[packages]]\nname = "watchdog"\nversion = "7.1.0"\nwheels = ['
        '{ url = "https://x/watchdog-7.1.0-py3-none-manylinux2014_x86_64.whl" }, '
        '{ url = "https://x/watchdog-7.1.0-py3-none-manylinux_2_17_x86_64.whl" }]\n'
    )
    simplejson, watchdog = parse(text, Path("/tmp"))
    assert simplejson.filename == "simplejson-3.20.1-cp312-cp312-manylinux_2_17_x86_64.whl"
    assert watchdog.filename == "watchdog-7.1.0-py3-none-manylinux_2_17_x86_64.whl"


def test_an_entry_without_any_source_is_refused() -> None:
    with pytest.raises(DependencyError) as e:
        parse('[[packages]]\nname = "ghost"\nversion = "1"\n', Path("/tmp"))
    assert e.value.message == "ghost: expected one source in the resolution, found none"
