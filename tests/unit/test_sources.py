"""What gets packaged: include/exclude globs, default excludes, and the snapshot's digest."""

from __future__ import annotations

import hashlib
import zipfile
from pathlib import Path

from fpack import build, config, executor, inputs
from fpack.outputs import Outputs
from fpack.report import NullReporter
from fpack.sources import default_include, digest, matches, runtime_snapshot, snapshot


def tree(root: Path, *paths: str) -> None:
    for p in paths:
        (root / p).parent.mkdir(parents=True, exist_ok=True)
        (root / p).write_text(p)


def test_glob_semantics() -> None:
    assert matches("app/x/y.py", ["app/**"])
    assert matches("app/x/y.py", ["app"])  # a directory means everything under it
    assert matches("a.py", ["*.py"]) and not matches("app/a.py", ["*.py"])
    assert matches("deep/tests/t.py", ["**/tests/**"])
    assert matches(".env", ["**/.env"]) and matches("lib/.env", ["**/.env"])
    assert not matches("app/envoy.py", ["**/.env"])


def test_default_include_is_top_level_modules_and_packages(tmp_path: Path) -> None:
    tree(
        tmp_path,
        "app.py",
        "pkg/__init__.py",
        "pkg/data/logo.png",
        "scripts/run.py",
        "tests/test_app.py",
        ".env",
        ".git/config",
        ".venv/lib/x.py",
        "pkg/__pycache__/a.pyc",
        "dist/aws/x.zip",
        "pkg/.env.local",
        "pkg/tests/test_pkg.py",
    )
    files = snapshot(tmp_path, default_include(tmp_path), ())
    # An included .env is kept in the snapshot so the build refuses it loudly (fpack/secrets.py)
    # instead of dropping it silently; the top-level one is simply not included.
    assert [f.path for f in files] == [
        "app.py", "pkg/.env.local", "pkg/__init__.py", "pkg/data/logo.png"
    ]


def test_explicit_include_and_exclude(tmp_path: Path) -> None:
    tree(tmp_path, "src/a.py", "src/b.py", "src/gen/c.py", "other.py")
    files = snapshot(tmp_path, ["src/**"], ["src/gen/**", "src/b.py"])
    assert [f.path for f in files] == ["src/a.py"]


def test_digest_sees_names_modes_and_content(tmp_path: Path) -> None:
    tree(tmp_path, "a.py", "b.py")
    base = digest(snapshot(tmp_path, ["*.py"], ()))
    (tmp_path / "b.py").chmod(0o755)
    chmodded = digest(snapshot(tmp_path, ["*.py"], ()))
    (tmp_path / "b.py").rename(tmp_path / "c.py")
    renamed = digest(snapshot(tmp_path, ["*.py"], ()))
    assert len({base, chmodded, renamed}) == 3
    (tmp_path / "c.py").chmod(0o700)  # any executable bit normalises to 0755: no change
    assert digest(snapshot(tmp_path, ["*.py"], ())) == renamed


def test_runtime_snapshot_is_only_the_portable_runtime() -> None:
    paths = [f.path for f in runtime_snapshot()]
    assert paths[0] == "fpack/__init__.py"
    assert all(p == "fpack/__init__.py" or p.startswith("fpack/runtime/") for p in paths)
    assert "fpack/runtime/aws.py" in paths and "fpack/cli.py" not in paths


def test_a_snapshot_holds_each_files_bytes_read_once(tmp_path: Path) -> None:
    tree(tmp_path, "a.py")
    [f] = snapshot(tmp_path, ["*.py"], ())
    assert (f.data, f.size, f.sha256) == (b"a.py", 4, hashlib.sha256(b"a.py").hexdigest())
    (tmp_path / "a.py").write_text("changed on disk")
    assert f.data == b"a.py" and f.sha256 == hashlib.sha256(f.data).hexdigest()
    # the bytes are the hash's: equality and repr go by path, mode, size and digest
    [again] = snapshot(tmp_path, ["*.py"], ())
    assert again != f and "changed" not in repr(again)


def test_the_bytes_packaged_are_the_bytes_hashed(tmp_path: Path) -> None:
    """A file that changes between the snapshot and the zip cannot make them disagree."""
    root = tmp_path / "proj"
    tree(root, "app.py")
    (root / "app.py").write_text("def hello(request):\n    return {}\n")
    (root / "fpack.toml").write_text('[functions.hello]\nhandler = "app:hello"\n')
    project = config.load(root / "fpack.toml")
    build_inputs = inputs.read({"FPACK_CACHE_DIR": str(tmp_path / "cache")})
    out = root / "dist"
    [plan] = build.plan_artifacts(project, "aws", inputs=build_inputs, out=out,
                                  reporter=NullReporter())
    snapshotted = (root / "app.py").read_bytes()
    (root / "app.py").write_text("def hello(request):\n    return {'edited': 'mid-build'}\n")
    with Outputs(out / "aws") as outputs:
        [built] = executor.run([plan], outputs, NullReporter(), epoch=build_inputs.epoch)
    assert built.rebuilt
    with zipfile.ZipFile(out / "aws" / "hello.zip") as z:
        assert z.read("app.py") == snapshotted
