"""The shared cache: the engine's expensive, portable entries in S3 or Cloud Storage, for CI fleets.

`FPACK_CACHE_URL=s3://bucket/prefix` or `gs://bucket/prefix` (or fpack.toml's `[cache] url`; the
environment wins). Before the engine makes a resolution, a built wheel, an installed tree or an
archive it looks the entry up here; after making one it uploads it (never with
FPACK_CACHE_READONLY=1). Layout under the prefix:

    fpack-cache/v1/blobs/<sha256>          content, named by its own sha256 (immutable)
    fpack-cache/v1/<kind>/<key>.json       the entry: format, kind, key, each file's name,
                                           sha256 and size, and the engine's info; written last

Keys are the engine's content addresses, which name no local path (`keys.lock_identity`, and the
lock itself is stored with its local paths made relative to anchors: `portable_lock`). An entry
is used only if its metadata is this entry's (format, kind, key) and every file it lists has the
recorded size and sha256; anything else (corrupt, truncated, foreign) is ignored with a warning
naming it, made locally and replaced. Blobs are uploaded before the metadata that names them, and
a blob's name is its content: two runners writing one entry at once each leave a metadata object
whose blobs exist, so whichever PUT lands last, the entry is valid (a PUT is atomic per object).

The remote never fails a build: every call has short timeouts and a small retry budget; the first
failure (unreachable, denied, slow, no credentials) is one warning and the build goes on with the
local cache alone. Credentials come from boto3's and google-auth's own chains and are never shown.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import re
import tempfile
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Final, Protocol
from urllib.parse import quote

from fpack.deps.cache import Cache
from fpack.proc import redact
from fpack.report import Reporter, human_size

FORMAT: Final = 1
ROOT: Final = "fpack-cache/v1"
STATS: Final = "shared-cache.json"  # in the local cache root: the last build's counts
CONNECT_TIMEOUT: Final = 3.0  # seconds to open a connection
READ_TIMEOUT: Final = 20.0  # seconds without a byte before a read gives up
ATTEMPTS: Final = 2  # per call: one retry of a transient failure, then the remote is off
_CHUNK: Final = 1 << 20
# A file name in an entry: no "/", no "..".
_NAME: Final = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._+-]*$")
_ANCHOR: Final = re.compile(r"\{fpack:([a-z]+)\}")
# A local file a lock names: `path = "/abs"` or `url = "file:///abs"` (TOML basic strings).
_LOCAL_FILE: Final = re.compile(r'(?P<field>path|url) = "(?P<value>(?:file://)?/[^"]*)"')


class RemoteError(Exception):
    """The remote cache could not answer (a message fit to print: no credentials in it)."""


class Backend(Protocol):
    where: str  # s3://bucket/prefix, for messages

    def get(self, name: str, dest: Path) -> bool:
        """Write object `name` to `dest`; False if it does not exist."""
        ...

    def put(self, name: str, source: Path) -> None: ...


# --- locks without local paths ---------------------------------------------------------------


def portable_lock(text: str, anchors: Sequence[tuple[str, Path]]) -> str | None:
    """`text` with each local path rewritten relative to the first anchor that holds it
    (`{fpack:cache}/built/<k>/x.whl`, `{fpack:spec}/vendor/y.whl`); None when some path is under
    no anchor (a wheel somewhere else on this machine: such a lock is not shared)."""
    ok = True

    def one(m: re.Match[str]) -> str:
        nonlocal ok
        value = m["value"]
        scheme = "file://" if value.startswith("file://") else ""
        path = value.removeprefix("file://")
        for name, root in anchors:
            base = str(root).rstrip("/")
            if path == base or path.startswith(base + "/"):
                return f'{m["field"]} = "{scheme}{{fpack:{name}}}{path[len(base):]}"'
        ok = False
        return m.group(0)

    out = _LOCAL_FILE.sub(one, text)
    return out if ok and "\\" not in out else None


def anchored_lock(text: str, anchors: Mapping[str, Path]) -> str | None:
    """A portable lock with its anchors replaced by this machine's directories; None if it names
    an anchor this machine has not got."""
    names = set(_ANCHOR.findall(text))
    if not names <= set(anchors):
        return None
    return _ANCHOR.sub(lambda m: str(anchors[m[1]]).rstrip("/"), text)


# --- the verified, counted store -------------------------------------------------------------


@dataclass
class Stats:
    """What one command did with the remote: `fpack cache info` shows the last one's."""

    url: str
    readonly: bool
    session: str
    hits: dict[str, int] = field(default_factory=dict)
    misses: dict[str, int] = field(default_factory=dict)
    pushed: dict[str, int] = field(default_factory=dict)
    corrupt: list[str] = field(default_factory=list)
    bytes_down: int = 0
    bytes_up: int = 0
    error: str | None = None  # why the remote was turned off for the rest of the command

    def as_json(self) -> dict[str, Any]:
        return {"url": self.url, "readonly": self.readonly, "session": self.session,
                "hits": self.hits, "misses": self.misses, "pushed": self.pushed,
                "corrupt": self.corrupt, "bytes_down": self.bytes_down,
                "bytes_up": self.bytes_up, "error": self.error,
                "at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())}


class Store:
    """One remote cache for one command: verified reads, marker-last writes, one failure state."""

    def __init__(self, backend: Backend, *, readonly: bool, session: str) -> None:
        self.backend = backend
        self.readonly = readonly
        self.stats = Stats(url=backend.where, readonly=readonly, session=session)
        self._lock = threading.Lock()
        self._pushed_blobs: set[str] = set()
        self._pushed_entries: set[tuple[str, str]] = set()

    @property
    def where(self) -> str:
        return self.backend.where

    @property
    def up(self) -> bool:
        return self.stats.error is None

    def pushed(self, kind: str, key: str) -> bool:
        """Whether this command uploaded entry `key` of `kind` already."""
        with self._lock:
            return (kind, key) in self._pushed_entries

    def entry_name(self, kind: str, key: str) -> str:
        return f"{ROOT}/{kind}/{key}.json"

    def _count(self, table: dict[str, int], kind: str) -> None:
        with self._lock:
            table[kind] = table.get(kind, 0) + 1

    def _fail(self, e: RemoteError, reporter: Reporter) -> None:
        with self._lock:
            first = self.stats.error is None
            if first:
                self.stats.error = str(e)
        if first:
            reporter.warn(f"shared cache {self.where}: {e}; going on with the local cache only")

    def pull(self, kind: str, key: str, dest: Path, reporter: Reporter,
             *, files: bool = True) -> dict[str, Any] | None:
        """The entry's info, its files verified into `dest` (with `files=False`, the info
        alone); None when it is not there, is not valid (warned) or the remote is off."""
        if not self.up:
            return None
        name = self.entry_name(kind, key)
        try:
            meta = self._meta(kind, key, dest)
            if meta is None:
                self._count(self.stats.misses, kind)
                return None
            problem = _invalid(meta, kind, key)
            if problem is None and files:
                problem = self._files(meta["files"], dest)
        except RemoteError as e:
            self._fail(e, reporter)
            return None
        if problem is not None:
            with self._lock:
                self.stats.corrupt.append(f"{kind}/{key}")
            self._count(self.stats.misses, kind)
            reporter.warn(f"shared cache entry {self.where}/{name} is not valid ({problem}): "
                          "ignored; it is made here and replaced")
            return None
        self._count(self.stats.hits, kind)
        return dict(meta.get("info") or {})

    def _meta(self, kind: str, key: str, dest: Path) -> Any:
        dest.mkdir(parents=True, exist_ok=True)
        path = dest / f".meta-{os.getpid()}-{threading.get_ident()}.json"
        try:
            if not self.backend.get(self.entry_name(kind, key), path):
                return None
            data = path.read_bytes()
        finally:
            path.unlink(missing_ok=True)
        with self._lock:
            self.stats.bytes_down += len(data)
        try:
            return json.loads(data)
        except ValueError:
            return {}  # not JSON: _invalid says so

    def _files(self, listed: Mapping[str, Any], dest: Path) -> str | None:
        for fname, want in listed.items():
            path = dest / fname
            if not self.backend.get(blob_name(want["sha256"]), path):
                return f"{fname}: its content {want['sha256'][:12]}… is missing"
            size = path.stat().st_size
            with self._lock:
                self.stats.bytes_down += size
            if size != want["size"]:
                return f"{fname}: {size} bytes where {want['size']} were recorded"
            if (got := sha256_file(path)) != want["sha256"]:
                return f"{fname}: sha256 {got[:12]}… where {want['sha256'][:12]}… was recorded"
        return None

    def push(self, kind: str, key: str, files: Mapping[str, Path], info: Mapping[str, Any],
             reporter: Reporter) -> None:
        """Upload an entry made here: its files first, its metadata last. Nothing with
        FPACK_CACHE_READONLY=1 or once the remote is off."""
        if self.readonly or not self.up:
            return
        listed: dict[str, dict[str, Any]] = {}
        try:
            for fname, path in sorted(files.items()):
                assert _NAME.match(fname), fname
                digest = sha256_file(path)
                size = path.stat().st_size
                listed[fname] = {"sha256": digest, "size": size}
                with self._lock:
                    done = digest in self._pushed_blobs
                if not done:
                    self.backend.put(blob_name(digest), path)
                    with self._lock:
                        self._pushed_blobs.add(digest)
                        self.stats.bytes_up += size
            meta = {"format": FORMAT, "kind": kind, "key": key, "files": listed,
                    "info": dict(info)}
            data = json.dumps(meta, indent=1, sort_keys=True).encode()
            with tempfile.NamedTemporaryFile(prefix="fpack-meta-", suffix=".json") as f:
                f.write(data)
                f.flush()
                self.backend.put(self.entry_name(kind, key), Path(f.name))
            with self._lock:
                self.stats.bytes_up += len(data)
        except RemoteError as e:
            self._fail(e, reporter)
            return
        with self._lock:
            self._pushed_entries.add((kind, key))
        self._count(self.stats.pushed, kind)


def _invalid(meta: Any, kind: str, key: str) -> str | None:
    """Why metadata is not this entry's (None when it is)."""
    if not isinstance(meta, dict) or not meta:
        return "its metadata is not JSON"
    if meta.get("format") != FORMAT:
        return f"format {meta.get('format')!r}, expected {FORMAT}"
    if meta.get("kind") != kind or meta.get("key") != key:
        return f"it describes {meta.get('kind')}/{meta.get('key')}"
    listed = meta.get("files")
    if not isinstance(listed, dict) or not all(
            isinstance(n, str) and _NAME.match(n) and isinstance(v, dict)
            and isinstance(v.get("sha256"), str) and re.fullmatch(r"[0-9a-f]{64}", v["sha256"])
            and isinstance(v.get("size"), int) for n, v in listed.items()):
        return "its file list is malformed"
    if not isinstance(meta.get("info", {}), dict):
        return "its info is malformed"
    return None


def blob_name(digest: str) -> str:
    return f"{ROOT}/blobs/{digest}"


def sha256_file(path: Path) -> str:
    h = hashlib.sha256()
    with path.open("rb") as f:
        while chunk := f.read(_CHUNK):
            h.update(chunk)
    return h.hexdigest()


# --- backends --------------------------------------------------------------------------------


def split_url(url: str) -> tuple[str, str, str]:
    """(scheme, bucket, prefix) of s3://bucket/prefix or gs://bucket/prefix."""
    m = re.fullmatch(r"(s3|gs)://([^/]+)/?(.*)", url.strip())
    if m is None or not m[2]:
        raise ValueError(f"{url!r}: expected s3://BUCKET/PREFIX or gs://BUCKET/PREFIX")
    return m[1], m[2], m[3].strip("/")


def _join(prefix: str, name: str) -> str:
    return f"{prefix}/{name}" if prefix else name


class S3Backend:
    """S3 through boto3 (its usual credential chain, region and AWS_ENDPOINT_URL)."""

    def __init__(self, bucket: str, prefix: str) -> None:
        import boto3  # noqa: PLC0415 - heavy, and only with a shared cache
        from botocore.config import Config  # noqa: PLC0415

        self.where = f"s3://{bucket}" + (f"/{prefix}" if prefix else "")
        self.bucket, self.prefix = bucket, prefix
        self.client = boto3.session.Session().client("s3", config=Config(
            connect_timeout=CONNECT_TIMEOUT, read_timeout=READ_TIMEOUT,
            retries={"max_attempts": ATTEMPTS, "mode": "standard"}))

    def _error(self, e: Exception) -> RemoteError:
        from botocore.exceptions import ClientError  # noqa: PLC0415

        if isinstance(e, ClientError):
            err = e.response.get("Error", {})
            return RemoteError(f"{err.get('Code', 'error')}: {err.get('Message', '')}".strip())
        return RemoteError(redact(f"{type(e).__name__}: {e}"))

    def get(self, name: str, dest: Path) -> bool:
        from botocore.exceptions import BotoCoreError, ClientError  # noqa: PLC0415

        try:
            obj = self.client.get_object(Bucket=self.bucket, Key=_join(self.prefix, name))
            with dest.open("wb") as f:
                for chunk in obj["Body"].iter_chunks(_CHUNK):
                    f.write(chunk)
        except ClientError as e:
            code = str(e.response.get("Error", {}).get("Code", ""))
            if code in ("NoSuchKey", "404", "NotFound"):
                return False
            raise self._error(e) from None
        except (BotoCoreError, OSError) as e:
            raise self._error(e) from None
        return True

    def put(self, name: str, source: Path) -> None:
        from botocore.exceptions import BotoCoreError, ClientError  # noqa: PLC0415

        try:
            with source.open("rb") as f:
                self.client.put_object(Bucket=self.bucket, Key=_join(self.prefix, name), Body=f)
        except (ClientError, BotoCoreError, OSError) as e:
            raise self._error(e) from None


class GcsBackend:
    """Cloud Storage's JSON API through google-auth (Application Default Credentials), or an
    emulator (STORAGE_EMULATOR_HOST, anonymous)."""

    def __init__(self, bucket: str, prefix: str, *, emulator: str | None = None,
                 session: Any = None) -> None:
        self.where = f"gs://{bucket}" + (f"/{prefix}" if prefix else "")
        self.bucket, self.prefix = bucket, prefix
        if emulator:
            self.base = emulator if "://" in emulator else f"http://{emulator}"
        else:
            self.base = "https://storage.googleapis.com"
        self.base = self.base.rstrip("/")
        self._session = session
        self._anonymous = bool(emulator)

    def _http(self) -> Any:
        if self._session is None:
            import requests  # noqa: PLC0415

            if self._anonymous:
                self._session = requests.Session()
            else:
                import google.auth  # noqa: PLC0415
                from google.auth.exceptions import GoogleAuthError  # noqa: PLC0415
                from google.auth.transport.requests import AuthorizedSession  # noqa: PLC0415

                try:
                    credentials, _ = google.auth.default(
                        scopes=["https://www.googleapis.com/auth/devstorage.read_write"])
                except GoogleAuthError as e:
                    raise RemoteError(f"no Google credentials ({type(e).__name__})") from None
                self._session = AuthorizedSession(credentials)  # type: ignore[no-untyped-call]
        return self._session

    def _call(self, send: Callable[[], Any]) -> Any:
        import requests  # noqa: PLC0415

        last = ""
        for attempt in range(ATTEMPTS):
            try:
                response = send()
            except requests.RequestException as e:
                last = redact(f"{type(e).__name__}")
            except Exception as e:  # noqa: BLE001 - google-auth refresh errors, and the like
                raise RemoteError(redact(f"{type(e).__name__}")) from None
            else:
                if response.status_code < 500 and response.status_code != 429:
                    return response
                last = f"HTTP {response.status_code}"
            if attempt + 1 < ATTEMPTS:
                time.sleep(0.2 * (attempt + 1))
        raise RemoteError(last)

    def get(self, name: str, dest: Path) -> bool:
        url = f"{self.base}/storage/v1/b/{self.bucket}/o/{quote(_join(self.prefix, name), safe='')}"
        http = self._http()
        response = self._call(lambda: http.get(url, params={"alt": "media"}, stream=True,
                                               timeout=(CONNECT_TIMEOUT, READ_TIMEOUT)))
        with contextlib.closing(response):
            if response.status_code == 404:
                return False
            if response.status_code != 200:
                raise RemoteError(f"HTTP {response.status_code} reading {name}")
            try:
                with dest.open("wb") as f:
                    for chunk in response.iter_content(_CHUNK):
                        f.write(chunk)
            except Exception as e:  # noqa: BLE001 - a connection dropped mid-body
                raise RemoteError(f"reading {name}: {type(e).__name__}") from None
        return True

    def put(self, name: str, source: Path) -> None:
        url = f"{self.base}/upload/storage/v1/b/{self.bucket}/o"
        http = self._http()

        def send() -> Any:
            with source.open("rb") as f:
                return http.post(url, params={"uploadType": "media",
                                              "name": _join(self.prefix, name)},
                                 data=f, headers={"Content-Type": "application/octet-stream"},
                                 timeout=(CONNECT_TIMEOUT, READ_TIMEOUT))

        response = self._call(send)
        with contextlib.closing(response):
            if response.status_code not in (200, 201):
                raise RemoteError(f"HTTP {response.status_code} writing {name}")


# --- one store per command -------------------------------------------------------------------

_STORES: dict[tuple[str, str], Store | None] = {}
_STORES_LOCK = threading.Lock()


def store_for(url: str | None, *, session: str, readonly: bool, gcs_endpoint: str | None,
              reporter: Reporter) -> Store | None:
    """The store of `url` for this command (one per session), or None without a shared cache.
    A URL that cannot be used (malformed, SDK missing) is a warning, not a failure."""
    if not url:
        return None
    with _STORES_LOCK:
        if (session, url) in _STORES:
            return _STORES[(session, url)]
        store: Store | None = None
        try:
            scheme, bucket, prefix = split_url(url)
            backend: Backend = S3Backend(bucket, prefix) if scheme == "s3" \
                else GcsBackend(bucket, prefix, emulator=gcs_endpoint)
            store = Store(backend, readonly=readonly, session=session)
        except (ValueError, ImportError) as e:
            reporter.warn(f"shared cache {redact(url)}: {e}; going on with the local cache only")
        _STORES[(session, url)] = store
        return store


def record(cache: Cache, store: Store | None) -> None:
    """Write the command's counts to the local cache (`fpack cache info` reads them)."""
    if store is None:
        return
    with store._lock:
        data = json.dumps(store.stats.as_json(), indent=1).encode()
    with contextlib.suppress(OSError):
        cache.write_file("", STATS.removesuffix(".json"), ".json", data)


def describe(url: str | None, readonly: bool, last: Mapping[str, Any] | None) -> list[str]:
    """`fpack cache info`'s lines about the shared cache: where, and the last build's counts."""
    if not url:
        return ["shared cache: none (set FPACK_CACHE_URL or [cache] url)"]
    lines = [f"shared cache: {redact(url)}" + (" (read-only: FPACK_CACHE_READONLY)"
                                                if readonly else "")]
    if not last:
        return [*lines, "  last build: no record yet"]
    hits, misses = dict(last.get("hits") or {}), dict(last.get("misses") or {})
    pushed = dict(last.get("pushed") or {})
    kinds = sorted(set(hits) | set(misses) | set(pushed))
    lines.append(f"  last build ({last.get('at', '?')}, {last.get('url', '?')}): "
                 f"{sum(hits.values())} hits, {sum(misses.values())} misses, "
                 f"{sum(pushed.values())} uploaded")
    lines += [f"    {kind:<9} {hits.get(kind, 0)} hits, {misses.get(kind, 0)} misses, "
              f"{pushed.get(kind, 0)} uploaded" for kind in kinds]
    lines.append(f"  moved: {human_size(int(last.get('bytes_down', 0)))} down, "
                 f"{human_size(int(last.get('bytes_up', 0)))} up")
    lines += [f"  not valid, rebuilt: {entry}" for entry in last.get("corrupt") or ()]
    if last.get("error"):
        lines.append(f"  turned off during the build: {last['error']}")
    return lines


def last_stats(cache: Cache) -> dict[str, Any] | None:
    try:
        return dict(json.loads((cache.root / STATS).read_text(encoding="utf-8")))
    except (OSError, ValueError):
        return None
