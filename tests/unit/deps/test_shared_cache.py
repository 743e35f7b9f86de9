"""The shared cache's pure parts: path-free locks and tree keys, verified entries, marker-last
writes, read-only runners, a remote that fails, `fpack cache info`'s lines, and local gc."""

from __future__ import annotations

import hashlib
import json
import os
import socket
import threading
import time
from pathlib import Path

import pytest

from fpack import inputs
from fpack.deps import keys, remote
from fpack.deps.cache import Cache
from fpack.errors import ConfigError
from fpack.platforms import RUNTIMES, Platform

SHA = "a" * 64
BUILT = "c33df0281f56a4e243509eda2f5878e0"


def lock_text(cache: Path, spec: Path) -> str:
    return (
        'lock-version = "1.0"\n'
        "[[packages]]\nname = \"ext\"\nversion = \"1.0\"\n"
        f'archive = {{ path = "{cache}/built/{BUILT}/ext-1.0-cp311-cp311-linux_x86_64.whl", '
        f'hashes = {{ sha256 = "{SHA}" }} }}\n'
        "[[packages]]\nname = \"vendored\"\nversion = \"2.0\"\n"
        f'archive = {{ url = "file://{spec}/vendor/vendored-2.0-py3-none-any.whl", '
        f'hashes = {{ sha256 = "{"b" * 64}" }} }}\n'
        "[[packages]]\nname = \"idna\"\nversion = \"3.7\"\n"
        'wheels = [{ url = "https://files.example/idna-3.7-py3-none-any.whl", '
        f'hashes = {{ sha256 = "{"c" * 64}" }} }}]\n')


def test_a_tree_key_names_no_local_path() -> None:
    platform = Platform(runtime=RUNTIMES["aws"]["python3.11"], arch="x86_64")
    a = lock_text(Path("/home/runner-a/.cache/fpack"), Path("/home/runner-a/work/svc"))
    b = lock_text(Path("/tmp/ci-7/cache"), Path("/builds/x/svc"))
    assert keys.tree_key(a, platform, False) == keys.tree_key(b, platform, False)
    assert "/home/runner-a" not in keys.lock_identity(a)
    # the content still decides: another wheel (another sha256) is another tree
    assert keys.tree_key(a.replace(SHA, "d" * 64), platform, False) != \
        keys.tree_key(a, platform, False)
    # a path with no pinned hash keeps its place in the key: nothing vouches for its content
    unpinned = 'archive = { path = "/somewhere/x-1.0-py3-none-any.whl" }\n'
    assert keys.lock_identity(unpinned) == unpinned


def test_a_lock_travels_without_paths_and_is_anchored_on_arrival() -> None:
    cache_a, spec_a = Path("/home/a/.cache/fpack"), Path("/home/a/work/svc")
    cache_b, spec_b = Path("/ci/cache"), Path("/builds/7/svc")
    portable = remote.portable_lock(lock_text(cache_a, spec_a),
                                    [("cache", cache_a), ("spec", spec_a)])
    assert portable is not None
    assert "/home/a" not in portable
    assert f'path = "{{fpack:cache}}/built/{BUILT}/' in portable
    assert 'url = "file://{fpack:spec}/vendor/' in portable
    assert remote.anchored_lock(portable, {"cache": cache_b, "spec": spec_b}) == \
        lock_text(cache_b, spec_b)
    # a path under no anchor: the lock is not shared
    assert remote.portable_lock(lock_text(Path("/elsewhere"), spec_a),
                                [("cache", cache_a), ("spec", spec_a)]) is None
    # an anchor this machine has not got
    assert remote.anchored_lock(portable, {"cache": cache_b}) is None


class MemoryBackend:
    """A dict as a bucket; `fail` makes every call raise, as an unreachable remote does."""

    where = "s3://bucket/prefix"

    def __init__(self) -> None:
        self.objects: dict[str, bytes] = {}
        self.puts: list[str] = []
        self.fail: str | None = None
        self.lock = threading.Lock()

    def get(self, name: str, dest: Path) -> bool:
        if self.fail:
            raise remote.RemoteError(self.fail)
        with self.lock:
            data = self.objects.get(name)
        if data is None:
            return False
        dest.write_bytes(data)
        return True

    def put(self, name: str, source: Path) -> None:
        if self.fail:
            raise remote.RemoteError(self.fail)
        data = source.read_bytes()
        with self.lock:
            self.objects[name] = data
            self.puts.append(name)


class Warnings:
    def __init__(self) -> None:
        self.warnings: list[str] = []

    def step(self, message: str) -> None:
        pass

    def done(self, message: str) -> None:
        pass

    def warn(self, message: str) -> None:
        self.warnings.append(message)


def _store(backend: MemoryBackend, readonly: bool = False) -> remote.Store:
    return remote.Store(backend, readonly=readonly, session="test")


def test_an_entry_round_trips_content_first_metadata_last(tmp_path: Path) -> None:
    backend, r = MemoryBackend(), Warnings()
    (tmp_path / "archive.zip").write_bytes(b"zip bytes")
    store = _store(backend)
    store.push("archives", "k1", {"archive.zip": tmp_path / "archive.zip"}, {"n": 1}, r)
    digest = hashlib.sha256(b"zip bytes").hexdigest()
    assert backend.puts == [f"{remote.ROOT}/blobs/{digest}", f"{remote.ROOT}/archives/k1.json"]
    got = _store(backend).pull("archives", "k1", tmp_path / "out", r)
    assert got == {"n": 1}
    assert (tmp_path / "out" / "archive.zip").read_bytes() == b"zip bytes"
    assert r.warnings == []


@pytest.mark.parametrize(("damage", "says"), [
    ("truncate", "archive.zip: 4 bytes where 9 were recorded"),
    ("flip", "archive.zip: sha256"),
    ("drop", "its content"),
    ("foreign", "it describes archives/other"),
    ("garbage", "its metadata is not JSON"),
    ("format", "format 99, expected 1"),
])
def test_a_bad_entry_is_ignored_with_a_warning_naming_it(tmp_path: Path, damage: str,
                                                         says: str) -> None:
    backend, r = MemoryBackend(), Warnings()
    (tmp_path / "archive.zip").write_bytes(b"zip bytes")
    _store(backend).push("archives", "k1", {"archive.zip": tmp_path / "archive.zip"}, {}, r)
    blob = f"{remote.ROOT}/blobs/{hashlib.sha256(b'zip bytes').hexdigest()}"
    meta_name = f"{remote.ROOT}/archives/k1.json"
    meta = json.loads(backend.objects[meta_name])
    match damage:
        case "truncate":
            backend.objects[blob] = b"zip "
        case "flip":
            backend.objects[blob] = b"zip bytez"
        case "drop":
            del backend.objects[blob]
        case "foreign":
            backend.objects[meta_name] = json.dumps({**meta, "key": "other"}).encode()
        case "garbage":
            backend.objects[meta_name] = b"\x00not json"
        case "format":
            backend.objects[meta_name] = json.dumps({**meta, "format": 99}).encode()
    store = _store(backend)
    assert store.pull("archives", "k1", tmp_path / "out", r) is None
    (warning,) = r.warnings
    assert warning.startswith(f"shared cache entry s3://bucket/prefix/{meta_name} is not valid (")
    assert says in warning
    assert store.stats.corrupt == ["archives/k1"]
    assert store.up  # a bad entry is not a bad remote
    # made here and pushed again: the entry is whole once more
    store.push("archives", "k1", {"archive.zip": tmp_path / "archive.zip"}, {}, r)
    assert _store(backend).pull("archives", "k1", tmp_path / "again", Warnings()) == {}


def test_concurrent_writers_of_one_entry_leave_a_valid_one(tmp_path: Path) -> None:
    backend = MemoryBackend()
    contents = []
    for n in range(8):  # eight runners, each with its own (not reproducible) build
        path = tmp_path / f"w{n}" / "archive.zip"
        path.parent.mkdir()
        path.write_bytes(os.urandom(1000 + n))
        contents.append(path.read_bytes())

    def write(n: int) -> None:
        _store(backend).push("archives", "k", {"archive.zip": tmp_path / f"w{n}" / "archive.zip"},
                             {"writer": n}, Warnings())

    threads = [threading.Thread(target=write, args=(n,)) for n in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    r = Warnings()
    info = _store(backend).pull("archives", "k", tmp_path / "out", r)
    assert r.warnings == [] and info is not None
    assert (tmp_path / "out" / "archive.zip").read_bytes() == contents[info["writer"]]


def test_a_read_only_runner_pulls_and_never_pushes(tmp_path: Path) -> None:
    backend = MemoryBackend()
    (tmp_path / "f").write_bytes(b"x")
    _store(backend).push("trees", "k", {"tree.zip": tmp_path / "f"}, {}, Warnings())
    before = dict(backend.objects)
    ro = _store(backend, readonly=True)
    assert ro.pull("trees", "k", tmp_path / "out", Warnings()) == {}
    ro.push("trees", "k2", {"tree.zip": tmp_path / "f"}, {}, Warnings())
    assert backend.objects == before
    assert inputs.read({"FPACK_CACHE_READONLY": "1"}).shared.readonly
    assert not inputs.read({"FPACK_CACHE_READONLY": "0"}).shared.readonly


def test_a_failing_remote_is_one_warning_then_off(tmp_path: Path) -> None:
    backend, r = MemoryBackend(), Warnings()
    backend.fail = "AccessDenied: Access Denied"
    store = _store(backend)
    assert store.pull("resolve", "k", tmp_path / "a", r) is None
    assert store.pull("trees", "k", tmp_path / "b", r) is None
    (tmp_path / "f").write_bytes(b"x")
    store.push("trees", "k", {"tree.zip": tmp_path / "f"}, {}, r)
    assert r.warnings == ["shared cache s3://bucket/prefix: AccessDenied: Access Denied; going "
                          "on with the local cache only"]
    assert not store.up and store.stats.error == "AccessDenied: Access Denied"


def test_an_unreachable_s3_endpoint_fails_fast_and_shows_no_credentials(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]  # closed once the block ends
    monkeypatch.setenv("AWS_ENDPOINT_URL", f"http://127.0.0.1:{port}")
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "AKIDSHOULDNOTSHOW")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "secret-should-not-show")
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    r = Warnings()
    store = remote.store_for("s3://bucket/p", session=f"unreachable-{port}", readonly=False,
                             gcs_endpoint=None, reporter=r)
    assert store is not None
    started = time.monotonic()
    assert store.pull("archives", "k", tmp_path, r) is None
    assert time.monotonic() - started < 15
    (warning,) = r.warnings
    assert "going on with the local cache only" in warning
    assert "SHOULDNOTSHOW" not in warning and "should-not-show" not in warning


def test_an_unreachable_gcs_endpoint_fails_fast(tmp_path: Path) -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    r = Warnings()
    store = remote.store_for("gs://bucket/p", session=f"gcs-{port}", readonly=False,
                             gcs_endpoint=f"127.0.0.1:{port}", reporter=r)
    assert store is not None
    assert store.pull("archives", "k", tmp_path, r) is None
    assert len(r.warnings) == 1 and not store.up


def test_a_malformed_url_is_a_warning_not_a_failure() -> None:
    r = Warnings()
    assert remote.store_for("s3://", session="bad", readonly=False, gcs_endpoint=None,
                            reporter=r) is None
    assert "expected s3://BUCKET/PREFIX" in r.warnings[0]


def test_the_environment_is_read_once_and_sizes_parse() -> None:
    record = inputs.read({"FPACK_CACHE_URL": "gs://b/ci", "FPACK_CACHE_MAX": "2GB",
                          "STORAGE_EMULATOR_HOST": "127.0.0.1:9023"})
    assert record.shared.url == "gs://b/ci"
    assert record.shared.max_size == 2_000_000_000
    assert record.shared.gcs_endpoint == "127.0.0.1:9023"
    assert inputs.read({}).shared.url is None
    assert inputs.parse_size("1.5GiB") == int(1.5 * 1024**3)
    assert inputs.parse_size("500") == 500
    with pytest.raises(ConfigError, match="FPACK_CACHE_MAX='lots'"):
        inputs.read({"FPACK_CACHE_MAX": "lots"})


def test_cache_info_lines() -> None:
    assert remote.describe(None, False, None) == [
        "shared cache: none (set FPACK_CACHE_URL or [cache] url)"]
    last = {"url": "s3://b/ci", "at": "2026-12-01T10:00:00Z", "hits": {"archives": 1,
            "resolve": 1}, "misses": {"trees": 1}, "pushed": {"trees": 1},
            "bytes_down": 2048, "bytes_up": 10, "corrupt": ["trees/k"], "error": None}
    lines = remote.describe("s3://b/ci", True, last)
    assert lines[0] == "shared cache: s3://b/ci (read-only: FPACK_CACHE_READONLY)"
    assert lines[1] == ("  last build (2026-12-01T10:00:00Z, s3://b/ci): 2 hits, 1 misses, "
                        "1 uploaded")
    assert "    archives  1 hits, 0 misses, 0 uploaded" in lines
    assert "  not valid, rebuilt: trees/k" in lines
    assert any(line.startswith("  moved: ") for line in lines)


def test_stats_are_recorded_in_the_local_cache(tmp_path: Path) -> None:
    cache = Cache(tmp_path)
    backend = MemoryBackend()
    store = _store(backend)
    store.pull("archives", "k", tmp_path / "x", Warnings())
    remote.record(cache, store)
    last = remote.last_stats(cache)
    assert last is not None and last["misses"] == {"archives": 1} and last["session"] == "test"


# --- local gc ------------------------------------------------------------------------------


def _entry(cache: Cache, kind: str, key: str, size: int, age: float) -> list[Path]:
    root = cache.root
    paths: list[Path]
    match kind:
        case "archives":
            paths = [root / "archives" / f"{key}.zip"]
            paths[0].parent.mkdir(parents=True, exist_ok=True)
            paths[0].write_bytes(b"z" * size)
        case "trees":
            tree = root / "trees" / key
            tree.mkdir(parents=True)
            (tree / "m.py").write_bytes(b"t" * size)
            paths = [root / "trees" / f"{key}.ok", root / "trees" / f"{key}.json", tree,
                     tree / "m.py"]
            paths[0].write_text("ok\n")
            paths[1].write_text("{}")
        case _:
            raise AssertionError(kind)
    stamp = time.time() - age
    for p in paths:
        os.utime(p, (stamp, stamp))
    return paths


def test_gc_removes_what_no_build_used_recently_marker_first(tmp_path: Path) -> None:
    cache = Cache(tmp_path)
    day = 86400.0
    _entry(cache, "archives", "old", 10, 40 * day)
    _entry(cache, "archives", "new", 10, 1 * day)
    _entry(cache, "trees", "oldtree", 10, 40 * day)
    (tmp_path / "trees" / ".tmp-123-1-x").mkdir()
    os.utime(tmp_path / "trees" / ".tmp-123-1-x", (time.time() - 2 * day,) * 2)
    done = cache.gc(older_than=30 * day)
    assert done.removed == 2
    assert sorted(p.name for p in (tmp_path / "archives").iterdir()) == ["new.zip"]
    assert list((tmp_path / "trees").iterdir()) == []


def test_gc_keeps_a_used_entry_and_one_a_build_holds(tmp_path: Path) -> None:
    cache = Cache(tmp_path)
    (zip_path,) = _entry(cache, "archives", "held", 10, 100 * 86400.0)
    _entry(cache, "archives", "used", 10, 100 * 86400.0)
    Cache.use(tmp_path / "archives" / "used.zip")  # a build used it just now
    with cache.lock("archive-held"):
        done = cache.gc(older_than=86400.0)
    assert done.removed == 0
    assert zip_path.is_file()


def test_the_size_cap_removes_least_recently_used_first_but_not_this_builds(
        tmp_path: Path) -> None:
    cache = Cache(tmp_path)
    started = time.time() - 60
    _entry(cache, "archives", "oldest", 100, 3000)
    _entry(cache, "archives", "older", 100, 2000)
    _entry(cache, "archives", "mine", 100, 0)  # used by the running build
    done = cache.gc(max_size=150, protect_since=started)
    assert done.removed == 2
    assert sorted(p.name for p in (tmp_path / "archives").iterdir()) == ["mine.zip"]
    assert done.kept == 100

