"""The build's inputs from the environment: read once per command, then passed down as data.

Everything a build takes from outside fpack.toml and the source tree sits in `BuildInputs`: the
archive timestamp (SOURCE_DATE_EPOCH), the cache root, the package index and proxy settings, the
CA bundle, the build-image override, the shared cache's settings. `read()` is the only place that
looks at `os.environ` for them; every module below takes what it needs as a parameter, so a plan
is a function of its arguments and a test hands in the environment it wants.

The variable tables live here once: which index variables uv reads, which pip reads (build
containers run pip, which ignores UV_*: a uv setting reaches them translated, never raw), which
proxy and CA variables cross into containers.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import re
import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from types import MappingProxyType
from typing import Final

from fpack.deps.cache import Cache
from fpack.errors import ConfigError
from fpack.stamp import cache_root

# 1980-01-01, zip's epoch: the timestamp of every entry when SOURCE_DATE_EPOCH is unset.
DEFAULT_EPOCH: Final = 315532800
IMAGE_ENV: Final = "FPACK_BUILD_IMAGE"
CACHE_ENV: Final = "FPACK_CACHE_DIR"
# The shared cache (fpack/deps/remote.py): where it is (s3://bucket/prefix, gs://bucket/prefix;
# wins over fpack.toml's [cache] url), pull only (pull requests from forks), the local cache's
# size cap ("2GB"), and the conventional variable that points Cloud Storage clients at an emulator.
CACHE_URL_ENV: Final = "FPACK_CACHE_URL"
CACHE_READONLY_ENV: Final = "FPACK_CACHE_READONLY"
CACHE_MAX_ENV: Final = "FPACK_CACHE_MAX"
GCS_EMULATOR_ENV: Final = "STORAGE_EMULATOR_HOST"
_SIZE_UNITS: Final = {"": 1, "B": 1, "K": 1000, "KB": 1000, "M": 1000**2, "MB": 1000**2,
                      "G": 1000**3, "GB": 1000**3, "T": 1000**4, "TB": 1000**4,
                      "KIB": 1024, "MIB": 1024**2, "GIB": 1024**3, "TIB": 1024**4}
# The index settings that change which wheels a resolution may pick: uv's own, and pip's, which
# fpack translates for uv when the user has no uv ones. https://docs.astral.sh/uv/reference/environment/
UV_INDEX_ENV: Final = ("UV_INDEX_URL", "UV_EXTRA_INDEX_URL", "UV_DEFAULT_INDEX", "UV_INDEX",
                       "UV_FIND_LINKS", "UV_INDEX_STRATEGY", "UV_INSECURE_HOST")
PIP_INDEX_ENV: Final = ("PIP_INDEX_URL", "PIP_EXTRA_INDEX_URL", "PIP_FIND_LINKS",
                        "PIP_TRUSTED_HOST")
# The variables whose values are index URLs (possibly with credentials), for wheel downloads.
INDEX_URL_ENV: Final = ("UV_INDEX_URL", "UV_DEFAULT_INDEX", "UV_EXTRA_INDEX_URL", "UV_INDEX",
                        "PIP_INDEX_URL", "PIP_EXTRA_INDEX_URL")
PROXY_ENV: Final = ("HTTP_PROXY", "HTTPS_PROXY", "NO_PROXY", "ALL_PROXY",
                    "http_proxy", "https_proxy", "no_proxy", "all_proxy")
# Where pip, requests and uv look for a CA bundle, in the order a user would expect to win.
CA_ENV: Final = ("PIP_CERT", "SSL_CERT_FILE", "REQUESTS_CA_BUNDLE", "UV_CERT", "CURL_CA_BUNDLE")
# What the fingerprint of the index settings covers: the list the resolve keys have always hashed,
# in its order, so that cached resolutions stay valid (the order is part of the key).
_FINGERPRINTED: Final = ("UV_INDEX_URL", "UV_EXTRA_INDEX_URL", "UV_DEFAULT_INDEX", "UV_INDEX",
                         "UV_FIND_LINKS", "PIP_INDEX_URL", "PIP_EXTRA_INDEX_URL",
                         "PIP_FIND_LINKS", "UV_INDEX_STRATEGY")


@dataclass(frozen=True, kw_only=True)
class IndexSettings:
    """The package index configuration, as the user set it for uv or pip."""

    values: Mapping[str, str]  # every variable of UV_INDEX_ENV and PIP_INDEX_ENV that is set

    def uv_args(self) -> list[str]:
        """pip's index settings as uv options, when the user has no uv ones."""
        v = self.values
        args: list[str] = []
        if (url := v.get("PIP_INDEX_URL")) and not (v.get("UV_INDEX_URL")
                                                     or v.get("UV_DEFAULT_INDEX")):
            args += ["--index-url", url]
        if (extra := v.get("PIP_EXTRA_INDEX_URL")) and not v.get("UV_EXTRA_INDEX_URL"):
            for url in extra.split():
                args += ["--extra-index-url", url]
        return args

    def pip_env(self) -> dict[str, str]:
        """The settings as pip reads them in a build container: pip's own win, uv's translated
        (pip ignores UV_*, so a uv-only user would otherwise build from the public index)."""
        v = self.values
        env = {k: v[k] for k in PIP_INDEX_ENV if v.get(k)}
        primary = v.get("UV_DEFAULT_INDEX") or v.get("UV_INDEX_URL")
        if primary and "PIP_INDEX_URL" not in env:
            env["PIP_INDEX_URL"] = primary
        extra = [*v.get("UV_EXTRA_INDEX_URL", "").split(), *_named(v.get("UV_INDEX", ""))]
        if extra and "PIP_EXTRA_INDEX_URL" not in env:
            env["PIP_EXTRA_INDEX_URL"] = " ".join(extra)
        if (links := v.get("UV_FIND_LINKS")) and "PIP_FIND_LINKS" not in env:
            env["PIP_FIND_LINKS"] = links
        if (hosts := v.get("UV_INSECURE_HOST")) and "PIP_TRUSTED_HOST" not in env:
            env["PIP_TRUSTED_HOST"] = hosts
        return env

    def urls(self) -> Iterable[str]:
        """Every configured index URL (they may carry user:password for downloads)."""
        for name in INDEX_URL_ENV:
            yield from _named(self.values.get(name, ""))

    def fingerprint(self) -> str:
        """What about the index configuration changes which wheels a resolution may pick."""
        h = hashlib.sha256()
        for name in _FINGERPRINTED:
            h.update(f"{name}={self.values.get(name, '')}\0".encode())
        return h.hexdigest()[:16]


def _named(value: str) -> list[str]:
    """URLs of a space-separated list; UV_INDEX entries may be named: "internal=https://…"."""
    return [v.split("=", 1)[1] if "=" in v.split("://", 1)[0] else v for v in value.split()]


@dataclass(frozen=True, kw_only=True)
class SharedCache:
    """The shared (remote) cache settings from the environment, and this command's identity."""

    url: str | None = None  # FPACK_CACHE_URL; None: fpack.toml's [cache] url, if any, decides
    readonly: bool = False  # FPACK_CACHE_READONLY=1: pull, never push
    max_size: int | None = None  # FPACK_CACHE_MAX in bytes: the local cache's cap after a build
    gcs_endpoint: str | None = None  # STORAGE_EMULATOR_HOST, for a Cloud Storage emulator
    # One per `read()`: a command's stages share one connection, one failure state and one
    # set of counts (fpack cache info reports the last session's).
    session: str = field(default_factory=lambda: os.urandom(16).hex())  # as random as uuid4
    started: float = field(default_factory=time.time)  # entries used since then are this one's


def parse_size(value: str, name: str = CACHE_MAX_ENV) -> int:
    """Bytes of "2GB", "500MB", "1.5GiB" or a plain number."""
    m = re.fullmatch(r"\s*(\d+(?:\.\d+)?)\s*([A-Za-z]*)\s*", value)
    unit = m.group(2).upper() if m else ""
    if m is None or unit not in _SIZE_UNITS:
        raise ConfigError(f"{name}={value!r}: expected a size such as 2GB, 500MB or 1GiB")
    return int(float(m.group(1)) * _SIZE_UNITS[unit])


def _flag(value: str | None) -> bool:
    return (value or "").strip().lower() in ("1", "true", "yes", "on")


@dataclass(frozen=True, kw_only=True)
class BuildInputs:
    """What a build takes from the environment, read once (`read`)."""

    epoch_setting: str  # SOURCE_DATE_EPOCH as given, "" when unset: part of artifact keys
    cache: Cache
    index: IndexSettings
    proxy: Mapping[str, str]  # the proxy variables that are set, carried into containers
    ca_bundle: Path | None  # the host's CA bundle, mounted into containers when set
    build_image: str | None  # FPACK_BUILD_IMAGE: wins over every target's build_image
    environ: Mapping[str, str]  # the rest, read-only: ${VAR} in requirements files, NETRC
    shared: SharedCache = field(default_factory=SharedCache)

    @property
    def epoch(self) -> int:
        """The timestamp of every archive entry, file and SBOM: SOURCE_DATE_EPOCH, else 1980."""
        return int(self.epoch_setting) if self.epoch_setting else DEFAULT_EPOCH


def read(environ: Mapping[str, str] | None = None) -> BuildInputs:
    """The build inputs of this process (or of `environ`, for tests)."""
    env = dict(os.environ if environ is None else environ)
    epoch = env.get("SOURCE_DATE_EPOCH", "").strip()
    if epoch and not (epoch.isascii() and epoch.isdigit()):
        raise ConfigError(f"SOURCE_DATE_EPOCH={epoch!r}: expected a whole number of seconds "
                          "since 1970-01-01 UTC", hint="e.g. SOURCE_DATE_EPOCH=$(git log -1 "
                          "--format=%ct), or unset it")
    return BuildInputs(
        epoch_setting=epoch,
        cache=Cache(cache_root(env)),
        index=IndexSettings(values=MappingProxyType(
            {k: env[k] for k in (*UV_INDEX_ENV, *PIP_INDEX_ENV) if env.get(k)})),
        proxy=MappingProxyType({k: env[k] for k in PROXY_ENV if env.get(k)}),
        ca_bundle=host_ca_bundle(env),
        build_image=env.get(IMAGE_ENV) or None,
        environ=MappingProxyType(env),
        shared=SharedCache(
            url=env.get(CACHE_URL_ENV, "").strip() or None,
            readonly=_flag(env.get(CACHE_READONLY_ENV)),
            max_size=parse_size(env[CACHE_MAX_ENV]) if env.get(CACHE_MAX_ENV, "").strip()
            else None,
            gcs_endpoint=env.get(GCS_EMULATOR_ENV) or None),
    )


def host_ca_bundle(environ: Mapping[str, str]) -> Path | None:
    for name in CA_ENV:
        if (value := environ.get(name)) and Path(value).is_file():
            return Path(value)
    cert = _pip_config_cert(environ)
    return cert if cert is not None and cert.is_file() else None


def _pip_config_cert(environ: Mapping[str, str]) -> Path | None:
    """The `cert` setting of pip's configuration files, if any (global, user, PIP_CONFIG_FILE)."""
    home = Path.home()
    files = [Path("/etc/pip.conf"), Path("/etc/xdg/pip/pip.conf"), home / ".pip/pip.conf",
             home / ".config/pip/pip.conf"]
    # os.path.isfile never raises (Path.is_file does, on 3.11, under an unsearchable parent).
    found = [path for path in files if os.path.isfile(path)]  # noqa: PTH113
    if env := environ.get("PIP_CONFIG_FILE"):
        found.append(Path(env))  # read as it is: process substitution gives a pipe
    if not found:
        return None
    import configparser  # noqa: PLC0415 - only where pip is configured: most builds read none

    cert = None
    for path in found:  # later files override earlier ones, as in pip
        parser = configparser.ConfigParser()
        with contextlib.suppress(OSError, configparser.Error):
            parser.read(path)
            for section in ("global", "install"):
                if parser.has_option(section, "cert"):
                    cert = Path(parser.get(section, "cert"))
    return cert
