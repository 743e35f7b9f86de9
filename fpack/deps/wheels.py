"""The exact wheel files of a resolution, for artifacts that ship wheels rather than an installed
tree (Cloud Functions' vendored dependencies, installed by the buildpack with `--no-index`).

The engine pins one wheel per package (file name and sha256) for the platform; this module makes
those very files available, verified, from a content-addressed store in the cache:
    wheels/<sha256>/<file name>   written to a temporary name and renamed once its sha256 matched
Where a file comes from is read off the resolutions already in the cache (pylock.toml files list
each wheel's URL beside its sha256, so a sha256 names one file wherever it is listed); when none
lists it, the exact pins are resolved again for the same platform, which lists the same files.
Downloads honour the host's CA bundle (the one pip, uv and fpack's build containers use), proxy
variables, and the credentials of the configured index URLs or ~/.netrc for the same host.
"""

from __future__ import annotations

import base64
import hashlib
import netrc
import os
import ssl
import tempfile
import threading
import urllib.error
import urllib.request
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO, Final
from urllib.parse import unquote, urlsplit

from fpack.deps import lock, uv
from fpack.deps.cache import Cache
from fpack.deps.engine import Dependencies, Package
from fpack.deps.spec import DependencySpec
from fpack.errors import DependencyError
from fpack.inputs import BuildInputs
from fpack.proc import redact
from fpack.report import Reporter, human_size

_CHUNK: Final = 1 << 20
_TIMEOUT: Final = 120.0


@dataclass(frozen=True, kw_only=True)
class Wheel:
    name: str
    filename: str
    sha256: str
    path: Path  # the verified file in the cache's wheel store


def fetch(deps: Dependencies, inputs: BuildInputs, reporter: Reporter) -> tuple[Wheel, ...]:
    """The wheel file of every package of `deps`, verified against its pinned sha256."""
    cache = inputs.cache
    unpinned = [p.name for p in deps.packages if not p.sha256]
    if unpinned:
        raise DependencyError(
            f"no sha256 recorded for {', '.join(unpinned)}: fpack ships only wheels it can verify",
            hint="use an index that publishes hashes (PyPI does), or run the build with --refresh",
        )
    missing = [p for p in deps.packages if _stored(cache, p) is None]
    if missing:
        sources = _sources(cache, missing) or _resolve_pins(deps, missing, inputs)
        reporter.step(f"downloading {len(missing)} wheel(s) for {deps.platform.label}")
        total = sum(_store(inputs, p, sources) for p in missing)
        reporter.done(f"downloaded {len(missing)} wheel(s) ({human_size(total)})")
    return tuple(Wheel(name=p.name, filename=p.wheel, sha256=p.sha256,
                       path=_path(cache, p)) for p in deps.packages)


def _path(cache: Cache, package: Package) -> Path:
    return cache.root / "wheels" / package.sha256 / package.wheel


def _stored(cache: Cache, package: Package) -> Path | None:
    """The stored wheel, if it is there and still has its sha256 (a health check, not trust)."""
    path = _path(cache, package)
    if path.is_file() and _sha256(path) == package.sha256:
        return path
    return None


def _sha256(path: Path) -> str:
    h = hashlib.sha256()
    with path.open("rb") as f:
        while chunk := f.read(_CHUNK):
            h.update(chunk)
    return h.hexdigest()


# --- where each wheel comes from -------------------------------------------------------------


def _sources(cache: Cache, wanted: list[Package]) -> dict[str, str]:
    """sha256 -> URL or local path of each wanted wheel, read from the cached resolutions;
    empty unless every wanted wheel was found."""
    need = {p.sha256 for p in wanted}
    found: dict[str, str] = {}
    locks = sorted((cache.root / "resolve").glob("*.toml"), key=_newest_first)
    for path in locks:
        found.update(_lock_sources(path.read_text(encoding="utf-8"), path.parent, need))
        if need <= found.keys():
            return found
    return {}


def _newest_first(path: Path) -> float:
    return -path.stat().st_mtime


def _lock_sources(text: str, base: Path, need: set[str]) -> dict[str, str]:
    """sha256 -> URL or absolute path of the wanted wheels that one pylock.toml lists."""
    try:
        entries = lock.parse(text, base)
    except DependencyError:
        return {}  # a lock fpack cannot read whole: another lock, or a new resolution, will do
    return {e.sha256: e.location for e in entries if e.sha256 in need}


def _resolve_pins(deps: Dependencies, wanted: list[Package],
                  inputs: BuildInputs) -> dict[str, str]:
    """Resolve the exact pins again, for the same platform: the lock lists the same files."""
    pins = "".join(f"{p.name}=={p.version}\n" for p in deps.packages)
    need = {p.sha256 for p in wanted}
    with tempfile.TemporaryDirectory(prefix="fpack-pins-") as tmp:
        path = Path(tmp) / "requirements.txt"
        path.write_text(pins, encoding="utf-8")
        spec = DependencySpec(kind="requirements", path=path, files=())
        resolved = uv.resolve(spec, deps.platform, index=inputs.index)
        found = {e.sha256: e.location for e in resolved.packages if e.sha256 in need}
    lost = [p for p in wanted if p.sha256 not in found]
    if lost:
        listing = ", ".join(f"{p.wheel} (sha256 {p.sha256[:12]}…)" for p in lost)
        raise DependencyError(
            f"the package index no longer lists {listing} for {deps.platform.label}",
            hint="run the build again with --refresh to resolve against what the index serves now",
        )
    return found


# --- storing one wheel ------------------------------------------------------------------------


def _store(inputs: BuildInputs, package: Package, sources: Mapping[str, str]) -> int:
    """Fetch one wheel into the store (under the cache lock); returns its size."""
    cache = inputs.cache
    dest = _path(cache, package)
    with cache.lock(f"wheel-{package.sha256}"):
        if _stored(cache, package) is None:
            dest.parent.mkdir(parents=True, exist_ok=True)
            tmp = dest.with_name(f".tmp-{os.getpid()}-{threading.get_ident()}-{dest.name}")
            try:
                with tmp.open("wb") as out:
                    _copy(sources[package.sha256], out, package, inputs)
                os.replace(tmp, dest)
            finally:
                tmp.unlink(missing_ok=True)
    return dest.stat().st_size


def _copy(location: str, out: BinaryIO, package: Package, inputs: BuildInputs) -> None:
    h = hashlib.sha256()
    for chunk in _read(location, package, inputs):
        h.update(chunk)
        out.write(chunk)
    if h.hexdigest() != package.sha256:
        raise DependencyError(
            f"{package.wheel} from {redact(location)} has sha256 {h.hexdigest()}, but the "
            f"resolution pinned {package.sha256}",
            hint="the index or a proxy served a different file: check it, then run the build "
            "again with --refresh",
        )


def _read(location: str, package: Package, inputs: BuildInputs) -> Iterator[bytes]:
    scheme = urlsplit(location).scheme
    if scheme in ("http", "https"):
        yield from _download(location, package, inputs)
        return
    path = Path(unquote(urlsplit(location).path) if scheme == "file" else location)
    try:
        with path.open("rb") as f:
            while chunk := f.read(_CHUNK):
                yield chunk
    except OSError as e:
        raise DependencyError(f"{package.wheel}: cannot read {path}: {e.strerror}") from e


def _download(url: str, package: Package, inputs: BuildInputs) -> Iterator[bytes]:
    request = urllib.request.Request(url, headers={"User-Agent": "fpack"})  # noqa: S310 - http(s) only
    netrc_file = Path(inputs.environ.get("NETRC") or Path.home() / ".netrc")
    if (auth := authorization(url, inputs.index.urls(), netrc_file)) is not None:
        request.add_unredirected_header("Authorization", auth)
    try:
        with _opener(inputs.ca_bundle).open(request, timeout=_TIMEOUT) as response:
            while chunk := response.read(_CHUNK):
                yield chunk
    except (urllib.error.URLError, OSError) as e:
        reason = getattr(e, "reason", None) or e
        hint = "check the network, proxy variables and the index's credentials"
        if isinstance(reason, ssl.SSLCertVerificationError):
            hint = ("the server's certificate is not trusted: point SSL_CERT_FILE or PIP_CERT at "
                    "your CA bundle")
        raise DependencyError(f"{package.wheel}: cannot download {redact(url)}: "
                              f"{redact(str(reason))}", hint=hint) from e


def _opener(ca: Path | None) -> urllib.request.OpenerDirector:
    """urllib with the proxy variables (its default) and the CA bundle pip and uv would use."""
    context = ssl.create_default_context(cafile=str(ca) if ca is not None else None)
    return urllib.request.build_opener(urllib.request.HTTPSHandler(context=context))


# --- credentials ------------------------------------------------------------------------------


def authorization(url: str, index_urls: Iterable[str], netrc_file: Path) -> str | None:
    """A Basic Authorization header for `url`: the user:password of a configured index URL on the
    same scheme, host and port (as uv and pip match them), else the host's ~/.netrc entry."""
    target = urlsplit(url)
    for index in index_urls:
        parts = urlsplit(index)
        if parts.username and (parts.scheme, parts.hostname, parts.port) == \
                (target.scheme, target.hostname, target.port):
            return _basic(unquote(parts.username), unquote(parts.password or ""))
    return _netrc(target.hostname or "", netrc_file)


def _netrc(host: str, path: Path) -> str | None:
    try:
        entry = netrc.netrc(str(path)).authenticators(host)
    except (OSError, netrc.NetrcParseError):
        return None
    if entry is None:
        return None
    login, _, password = entry
    return _basic(login, password or "")


def _basic(user: str, password: str) -> str:
    return "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode("ascii")

