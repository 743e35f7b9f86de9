"""The build stamp: which commands it vouches for, and that any change of what a build read, of
its outputs or of its environment makes the next build a full one (fpack/stamp.py)."""

from __future__ import annotations

import os
import time
from pathlib import Path

import pytest

from fpack import stamp

ENV = {"PATH": "/usr/bin", "HOME": "/home/u"}


def key(argv: list[str], env: dict[str, str] | None = None, cwd: str = "/p") -> str | None:
    cmd = stamp.command(argv, cwd=cwd, environ=env or ENV)
    return None if cmd is None else cmd.key


@pytest.mark.parametrize("argv", [
    ["build", "--target", "aws"],
    ["build", "-t", "gcp", "-f", "a", "--function", "b", "--out", "out", "--arch", "arm64"],
    ["-q", "--config", "x/fpack.toml", "build", "--target=aws", "--sbom", "-j", "3"],
])
def test_the_builds_it_vouches_for(argv: list[str]) -> None:
    assert key(argv) is not None


@pytest.mark.parametrize("argv", [
    ["build", "--target", "docker"],  # an image's freshness is the engine's to say
    ["build", "--target", "aws", "--json"],
    ["build", "--target", "aws", "--dry-run"],
    ["build", "--target", "aws", "--refresh"],
    ["build", "--target", "aws", "--changed-since", "main"],
    ["build", "--target", "aws", "--bogus"],
    ["build", "--target"],
    ["build"],
    ["deploy", "--target", "aws"],
    ["--version"],
    ["build", "--target", "aws", "--sbom=yes"],
])
def test_anything_else_is_left_to_the_full_build(argv: list[str]) -> None:
    assert key(argv) is None


def test_the_key_covers_what_changes_the_build_and_only_that() -> None:
    base = key(["build", "--target", "aws"])
    assert key(["-q", "build", "-t", "aws", "-j", "2"]) == base  # output and parallelism only
    assert key(["build", "--target", "aws", "-f", "a"]) != base
    assert key(["build", "--target", "aws"], cwd="/q") != base
    assert key(["build", "--target", "aws"], {**ENV, "UV_INDEX_URL": "https://x"}) != base
    assert key(["build", "--target", "aws"], {**ENV, "HTTPS_PROXY": "http://p"}) != base
    assert key(["build", "--target", "aws"], {**ENV, "SOURCE_DATE_EPOCH": "1"}) != base
    assert key(["build", "--target", "aws"], {**ENV, "TERM": "xterm", "PWD": "/x"}) == base


@pytest.fixture
def project(tmp_path: Path) -> Path:
    src = tmp_path / "proj"
    (src / "app").mkdir(parents=True)
    (src / "fpack.toml").write_text("[project]\n")
    (src / "app" / "main.py").write_text("def h(): ...\n")
    time.sleep(0.01)  # the sources predate the build, as they do in life
    return src


def build(project: Path, cache: Path, *, warnings: tuple[str, ...] = ()) -> bool:
    """What a build does that the stamp sees: read the sources, list a directory, write dist."""
    rec = stamp.record(["build", "--target", "aws"], cwd=str(project),
                       environ={**ENV, "FPACK_CACHE_DIR": str(cache)})
    assert rec is not None
    (project / "fpack.toml").read_text()
    os.listdir(project / "app")
    (project / "app" / "main.py").read_bytes()
    (cache / "resolve").mkdir(parents=True, exist_ok=True)
    (cache / "resolve" / "x.toml").write_text("lock")  # the cache is not an input
    (cache / "resolve" / "x.toml").read_text()
    out = project / "dist" / "aws"
    out.mkdir(parents=True, exist_ok=True)
    (out / "fn.zip").write_bytes(b"zip")
    rec.warnings = list(warnings)
    return stamp.write(rec, cache=cache, out_dir=out, artifacts=1, shown="dist/aws")


def verdict(project: Path, cache: Path) -> stamp.Verdict | None:
    return stamp.up_to_date(["build", "--target", "aws"], cwd=str(project),
                            environ={**ENV, "FPACK_CACHE_DIR": str(cache)})


def test_a_stamped_build_is_up_to_date_until_an_input_changes(project: Path,
                                                              tmp_path: Path) -> None:
    cache = tmp_path / "cache"
    assert build(project, cache, warnings=("fn: a warning",))
    v = verdict(project, cache)
    assert v is not None
    assert v.message == "up to date: 1 artifact in dist/aws, nothing changed"
    assert v.warnings == ("fn: a warning",)  # said again, as the full build would
    main = project / "app" / "main.py"
    os.utime(main, ns=(1, 1))  # a checkout: new mtime, same bytes
    assert verdict(project, cache) is not None
    main.write_text("def h(): return 1\n")
    assert verdict(project, cache) is None


@pytest.mark.parametrize("change", ["new source", "chmod", "output", "extra output",
                                    "config gone"])
def test_what_makes_the_next_build_a_full_one(project: Path, tmp_path: Path,
                                              change: str) -> None:
    cache = tmp_path / "cache"
    assert build(project, cache)
    match change:
        case "new source":
            (project / "app" / "other.py").write_text("")
        case "chmod":
            (project / "app" / "main.py").chmod(0o755)
        case "output":
            (project / "dist" / "aws" / "fn.zip").write_bytes(b"zap")
        case "extra output":
            (project / "dist" / "aws" / "stray.zip").write_bytes(b"")
        case "config gone":
            (project / "fpack.toml").unlink()
    assert verdict(project, cache) is None


def test_the_cache_and_the_outputs_are_not_inputs(project: Path, tmp_path: Path) -> None:
    cache = tmp_path / "cache"
    assert build(project, cache)
    (cache / "resolve" / "x.toml").write_text("another lock")
    assert verdict(project, cache) is not None


def test_a_file_that_changed_while_the_build_ran_is_never_stamped(project: Path,
                                                                  tmp_path: Path) -> None:
    cache = tmp_path / "cache"
    rec = stamp.record(["build", "--target", "aws"], cwd=str(project),
                       environ={**ENV, "FPACK_CACHE_DIR": str(cache)})
    assert rec is not None
    (project / "app" / "main.py").read_text()
    (project / "app" / "main.py").write_text("edited meanwhile\n")
    out = project / "dist" / "aws"
    out.mkdir(parents=True)
    (out / "fn.zip").write_bytes(b"zip")
    assert not stamp.write(rec, cache=cache, out_dir=out, artifacts=1, shown="dist/aws")
    assert verdict(project, cache) is None


def test_a_build_that_wrote_nothing_is_not_stamped(project: Path, tmp_path: Path) -> None:
    cache = tmp_path / "cache"
    rec = stamp.record(["build", "--target", "aws"], cwd=str(project),
                       environ={**ENV, "FPACK_CACHE_DIR": str(cache)})
    assert rec is not None
    (project / "fpack.toml").read_text()
    assert not stamp.write(rec, cache=cache, out_dir=project / "dist" / "aws",
                           artifacts=0, shown="dist/aws")


def test_a_damaged_stamp_means_a_full_build(project: Path, tmp_path: Path) -> None:
    cache = tmp_path / "cache"
    assert build(project, cache)
    for path in (cache / "stamps").iterdir():
        path.write_text("{not json")
    assert verdict(project, cache) is None
