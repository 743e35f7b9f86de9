"""The uv adapter: resolve a dependency spec for a target platform, and install an exact lock.

Resolution asks uv for a PEP 751 lock (`pylock.toml`) for the target's Python version and manylinux
ceiling, normally wheels only: uv then records exactly one wheel per package, with its URL and
sha256. The host's own interpreter and site-packages never take part. When some package has no
wheel, the engine also asks for a resolution that admits source (to learn what must be built) and,
once it is built, one whose overrides point those packages at the built wheels. Installation
replays that lock into a directory with `--no-deps`, so what is installed is what was locked.
"""

from __future__ import annotations

import functools
import hashlib
import os
import re
import shutil
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Final

from fpack.deps import freshness, lock, lockfiles
from fpack.deps import spec as dep_spec
from fpack.deps.cache import Cache
from fpack.deps.lock import Locked
from fpack.deps.names import canonical
from fpack.deps.spec import DependencySpec
from fpack.errors import DependencyError
from fpack.inputs import IndexSettings
from fpack.platforms import Platform
from fpack.proc import Result, redact, run

# uv's wordings for "no wheel fits": "X has no usable wheels" (a source distribution exists) and,
# since uv 0.13, "all versions of X have no wheels with a matching platform tag"; fpack's own
# NoWheelError message matches too, which is how `fpack check` recognises it.
NO_WHEEL: Final = re.compile(
    r"(?:Because (?:all versions of |only )?)?([A-Za-z0-9][A-Za-z0-9_.\-]*)(?:[<>=!~]=?\S*)? "
    r"(?:has|have) no (?:usable )?wheels?\b"
)
_ELSEWHERE: Final = re.compile(r"Wheels are available for `[^`]+` \(v[^)]*\) on the following "
                               r"platforms: ([^\n]+?)\.?$", re.MULTILINE)
_NOT_FOUND: Final = re.compile(r"Because ([A-Za-z0-9_.\-]+) was not found in the package registry")
_NO_VERSION: Final = re.compile(r"Because there is no version of ([A-Za-z0-9_.\-]+)(\S*)")


# The spec kinds whose derived requirements pin every package to install (deps/lockfiles.py).
COMPLETE: Final = ("pdm", "pylock", "pipfile")
# Rounds of page fetches (`_probe`) before a resolution from uv's cache gives way to one online:
# the requirements just added, then what they depend on, then theirs.
PROBES: Final = 3


class NoWheelError(DependencyError):
    """A wheels-only resolution failed because some package has no wheel for the target."""


# The first call may come from several build workers at once, and the uv package's finder reads
# sysconfig, whose lazy set-up is not thread-safe (a racing thread reads None for EXE).
_FINDING: Final = threading.Lock()


@functools.cache
def binary() -> str:
    """The uv executable: FPACK_UV, the `uv` Python package fpack depends on, or PATH."""
    with _FINDING:
        return _find()


def _find() -> str:
    if env := os.environ.get("FPACK_UV"):
        return env
    # Where the uv package installs its binary, and the first place its find_uv_bin looks:
    # this interpreter's scripts directory. Looked at here first, because find_uv_bin works
    # out all five of its places before it looks at any (8 ms, on the way to the first
    # resolution).
    import sysconfig  # noqa: PLC0415

    beside = Path(sysconfig.get_path("scripts"), "uv.exe" if os.name == "nt" else "uv")
    if beside.is_file():
        return str(beside)
    try:
        from uv import find_uv_bin  # noqa: PLC0415 - optional; falls back to PATH

        return str(find_uv_bin())
    except (ImportError, FileNotFoundError):
        pass
    found = shutil.which("uv")
    if not found:
        raise DependencyError("uv is not installed", hint="pip install uv (fpack resolves with it)")
    return found


@functools.cache
def version() -> str:
    return _check(run([binary(), "--version"]), "uv --version").stdout.strip()


def cached_version(cache: Cache) -> str:
    """`uv --version`, remembered per uv binary (path, size, mtime): running it costs more than
    everything else a build or check with nothing changed does."""
    path_of = binary()
    st = Path(path_of).stat()
    key = hashlib.sha256(f"{path_of}\0{st.st_size}\0{st.st_mtime_ns}".encode()).hexdigest()[:32]
    path = cache.file("resolve", f"uv-version.{key}", ".txt")
    if path.is_file():
        return path.read_text(encoding="utf-8")
    found = version()
    cache.write_file("resolve", f"uv-version.{key}", ".txt", found.encode())
    return found


def _platform_args(platform: Platform, *, wheels_only: bool = True) -> list[str]:
    args = [
        "--python-platform",
        platform.uv_platform,
        "--python-version",
        platform.python_version,
        # Without this uv tries to download a managed interpreter of the target's version on
        # every call (8+ s of retries where that host is unreachable); the host's Python only
        # runs uv's resolver, it never decides which wheels fit.
        "--no-python-downloads",
        # Named rather than found: uv's search of PATH ends at whatever `python` is there, and
        # asking a pyenv shim (a shell script) costs 0.22 s per call, more than a resolution
        # from uv's cache. uv caches what it learns of this one (by path and mtime).
        *(["--python", sys.executable] if sys.executable else []),
    ]
    return [*args, "--only-binary", ":all:"] if wheels_only else args


@dataclass(frozen=True, kw_only=True)
class Resolution:
    """A lock uv wrote, and its entries."""

    text: str  # the pylock.toml uv wrote
    packages: tuple[Locked, ...]  # its entries, with paths made absolute
    # When uv began reading its cache for an answer made offline (0: not known): what was seen
    # online after that may be newer than what the answer rests on (`_stands`).
    made_at: float = 0.0


def resolve(spec: DependencySpec, platform: Platform, *, index: IndexSettings,
            refresh: bool = False,
            wheels_only: bool = True, overrides: Sequence[str] = (),
            requirements: str | None = None, constraints: str = "",
            fresh: freshness.Window | None = None,
            before: Callable[[], Resolution | None] | None = None) -> Resolution:
    """A pylock.toml pinning one file per package for `platform`.

    `wheels_only` keeps source distributions out (a local directory or git URL is still let in:
    it is named by the user, and uv reads its metadata); `overrides` are requirement lines that
    replace every requirement on their package (fpack points them at wheels it built);
    `requirements` is text to resolve in place of the spec's file (an exported uv.lock);
    `constraints`: pins no resolution may leave (a poetry.lock's versions);
    `index`: the user's index settings (uv reads its own UV_* ones; pip's are translated).
    A pdm.lock, pylock.toml or Pipfile.lock pins every package it installs: resolved with
    `--no-deps`, the set is exactly theirs (deps/lockfiles.py).
    `fresh`: what was seen online lately, to try uv's cache first (deps/freshness.py);
    `before`: this very resolution made from uv's cache meanwhile (deps/ahead.py's guess), or
    None: taken in place of a second one when the pages fetched since do not change it.
    """
    with tempfile.TemporaryDirectory(prefix="fpack-resolve-") as tmp:
        args, out = _compile_args(spec, platform, Path(tmp), index=index, refresh=refresh,
                                  wheels_only=wheels_only, overrides=overrides,
                                  requirements=requirements, constraints=constraints)
        if fresh is not None and not refresh and (found := _from_cache(
                spec, args, out, Path(tmp), fresh, requirements=requirements,
                probing=not overrides and spec.kind not in COMPLETE, before=before)):
            return found
        started = time.time()
        _check(run(args, cwd=spec.directory), "resolving dependencies", spec, platform)
        text = out.read_text(encoding="utf-8")
        resolved = Resolution(text=text, packages=lock.parse(text, Path(tmp)))
        if fresh is not None:
            fresh.record((p.name for p in resolved.packages), started)
        return resolved


def resolve_offline(spec: DependencySpec, platform: Platform, *, index: IndexSettings,
                    environ: Mapping[str, str], requirements: str | None = None,
                    constraints: str = "") -> Resolution | None:
    """`resolve`'s first, wheels-only resolution from uv's cache alone, however long ago its
    pages were seen; None when uv cannot make it or warns of anything. A guess for what the
    online resolution will pin (deps/ahead.py installs it meanwhile): only a tree that fits
    the lock the index gave is ever used."""
    with tempfile.TemporaryDirectory(prefix="fpack-resolve-") as tmp:
        args, out = _compile_args(spec, platform, Path(tmp), index=index,
                                  requirements=requirements, constraints=constraints)
        return _offline(args, out, Path(tmp), cwd=spec.directory, environ=environ)


def fresh_enough(spec: DependencySpec, fresh: freshness.Window,
                 requirements: str | None = None) -> bool:
    """Whether everything the resolution of `spec` rests on was seen online within the
    window: then uv's cache is asked first (`resolve`)."""
    read = _texts(spec, requirements)
    return _not_seen(read[0] if read else None, fresh) == []


def _compile_args(spec: DependencySpec, platform: Platform, tmp: Path, *, index: IndexSettings,
                  refresh: bool = False, wheels_only: bool = True,
                  overrides: Sequence[str] = (), requirements: str | None = None,
                  constraints: str = "") -> tuple[list[str | Path], Path]:
    """uv pip compile's arguments for `resolve` and its output file, with the files they name
    written into `tmp`."""
    assert spec.path is not None
    source = spec.path
    if requirements is not None:
        source = tmp / "requirements.txt"
        source.write_text(requirements, encoding="utf-8")
    out = tmp / "pylock.toml"
    args: list[str | Path] = [
        binary(), "pip", "compile", source, "-o", out, "--format", "pylock.toml",
        "--no-header", "--quiet", *_platform_args(platform, wheels_only=wheels_only),
        *index.uv_args(),
    ]
    if overrides:
        (tmp / "overrides.txt").write_text("\n".join(overrides) + "\n")
        args += ["--overrides", tmp / "overrides.txt"]
    if constraints:
        (tmp / "constraints.txt").write_text(constraints, encoding="utf-8")
        args += ["--constraints", tmp / "constraints.txt"]
    if refresh:
        args.append("--refresh")
    if spec.kind in COMPLETE:
        args.append("--no-deps")
    return args, out


def _from_cache(spec: DependencySpec, args: list[str | Path], out: Path, base: Path,
                fresh: freshness.Window, *, requirements: str | None, probing: bool,
                before: Callable[[], Resolution | None] | None = None) -> Resolution | None:
    """The resolution from uv's cache, taken when everything in it was seen online within the
    window (deps/freshness.py); None to resolve online. A set of which some was seen a moment
    ago and some not (a requirement just added, a package its cached result rests on) has the
    pages of the rest fetched first (`_probe`: with `probing`), up to PROBES times. An answer
    from uv's cache made before a probe stands when the probe picked what it pins (`_stands`):
    `before` is the first such answer, made beside this resolution."""
    read = _texts(spec, requirements)
    pending = _not_seen(read[0] if read else None, fresh)
    if pending is None:
        return None
    probing = probing and read is not None and freshness.probeable(read[1])
    extra: list[str] = []
    last: Resolution | None = None
    for attempt in range(PROBES + 1):
        if pending:
            probed = _probe(args, base, fresh, extra, attempt, cwd=spec.directory) \
                if probing and attempt < PROBES else None
            if probed is None:
                return None
            earlier = last if last is not None else before() if before is not None else None
            if earlier is not None and _stands(earlier, probed, fresh):
                return earlier
        last = _offline(args, out, base, cwd=spec.directory, environ=fresh.environ)
        if last is None:
            return None
        pending = fresh.unseen(p.name for p in last.packages)
        if not pending:
            return last
        extra = sorted({*extra, *pending})
    return None


def _not_seen(texts: Sequence[str] | None, fresh: freshness.Window) -> list[str] | None:
    """The set's requirements not seen within the window; None when none of them was: the
    resolution goes online as a whole. A spec whose names cannot be read (a pyproject.toml)
    counts as seen when anything was, as before: its answer is checked package by package."""
    names = [n for text in texts or () for n in freshness.names_in(text)]
    if not names:
        return [] if fresh.seen() else None
    pending = fresh.unseen(names)
    return None if len(pending) == len({canonical(n) for n in names}) else pending


def _stands(earlier: Resolution, probed: Sequence[Locked], fresh: freshness.Window) -> bool:
    """Whether an answer from uv's cache made before a probe is the one uv's cache gives after
    it. The probe fetched the pages of the packages it resolved, and picked for each the best
    version and wheel their requirements allow; the answer pins a version that meets those
    requirements and more. If it pins that very wheel of every probed package, no page the
    probe fetched offers anything the answer would have preferred, and nothing else changed.
    (Any other difference, a newer release or a better wheel, sends it to uv's cache again.)"""
    pins = {canonical(p.name): (p.version, p.sha256) for p in earlier.packages}
    if not all(p.sha256 and pins.get(canonical(p.name)) == (p.version, p.sha256)
               for p in probed):
        return False
    # What the probe did not fetch must have been seen before uv read its cache for the answer
    # (and lately): a page another build fetched since (another platform of the same set, a
    # CI job sharing this cache) may offer what the answer never saw.
    fetched = {canonical(p.name) for p in probed}
    seen, now = fresh.seen(), fresh.clock()
    return all(n in fetched or (n in seen and seen[n] <= earlier.made_at
                                and now - seen[n] <= fresh.max_age) for n in pins)


def _probe(args: list[str | Path], base: Path, fresh: freshness.Window, extra: Sequence[str],
           attempt: int, *, cwd: Path | None) -> tuple[Locked, ...] | None:
    """Fetch the index pages of the set's direct requirements and of `extra` (names), online,
    and nothing more: with --no-deps, uv reads no wheel's metadata. What it saw is recorded,
    and returned (what it picked for each). None when uv fails (the resolution online will
    say why, in its words)."""
    where = base / f"probe-{attempt}"
    where.mkdir()
    out = where / "pylock.toml"
    probe = [*args]
    probe[probe.index("-o") + 1] = out
    if extra:  # a second requirements file beside the spec's: its index options hold for both
        listed = where / "requirements.txt"
        listed.write_text("".join(f"{n}\n" for n in extra), encoding="utf-8")
        probe.insert(4, listed)
    if "--no-deps" not in probe:
        probe.append("--no-deps")
    started = time.time()
    if run(probe, cwd=cwd).returncode != 0:
        return None
    try:
        packages = lock.parse(out.read_text(encoding="utf-8"), where)
    except (OSError, DependencyError):
        return None
    fresh.record((p.name for p in packages), started)
    return packages


def _texts(spec: DependencySpec,
           requirements: str | None) -> tuple[list[str], list[str]] | None:
    """What the resolution reads, each file once: its requirement lines (`requirements`, or the
    spec's file and those it includes with -r; not its -c constraints, which name packages a set
    may never hold, so no resolution would record them as seen), and every text (constraints
    too: a probe reads them all). None for a spec of another kind, or an unreadable one."""
    if requirements is not None:
        return [requirements], [requirements]
    if spec.kind != "requirements" or spec.path is None:
        return None
    every = {name: _read_requirements(Path(name)) for name, _ in spec.files}
    read = {name: text for name, text in every.items() if text is not None}
    if len(read) < len(every):
        return None
    texts = dep_spec.requirement_texts(spec.path, read)
    return (texts, list(read.values())) if texts is not None else None


def _offline(args: list[str | Path], out: Path, base: Path, *, cwd: Path | None,
             environ: Mapping[str, str]) -> Resolution | None:
    """The resolution from uv's cache alone (uv's environment is `environ`); None when uv cannot
    make it or warns of anything."""
    # Offline, uv takes a version whose metadata it never fetched for unavailable and quietly
    # falls back to an older one it has (`idna>=3.4` after a resolution of `idna==3.4`: 3.4,
    # where the index offers 3.20). It says so in a warning ("`idna==3.20` needs to be
    # downloaded from a registry"), which --quiet hides and RUST_LOG=warn shows: any warning
    # at all sends the resolution online.
    made_at = time.time()
    result = run([*args, "--offline"], cwd=cwd, env={**environ, "RUST_LOG": "warn"})
    if result.returncode != 0 or result.stderr.strip():
        return None
    try:
        text = out.read_text(encoding="utf-8")
        packages = lock.parse(text, base)
    except (OSError, DependencyError):
        return None
    return Resolution(text=text, packages=packages, made_at=made_at)


def _read_requirements(path: Path) -> str | None:
    try:
        return path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError):
        return None


def derived(spec: DependencySpec) -> tuple[str | None, str]:
    """What to resolve in place of a spec's file uv cannot read as it is, and the pins that
    constrain it: a uv.lock's export; a Poetry project's dependencies and its poetry.lock's
    versions; a pdm.lock's, pylock.toml's or Pipfile.lock's packages, pinned with their hashes.
    (None, "") for a file uv reads itself."""
    assert spec.path is not None
    if spec.kind == "uvlock":
        return export_uvlock(spec.path, spec.member), ""
    if spec.kind == "poetry" and spec.path.name == "pyproject.toml":  # no poetry.lock
        from fpack.deps import poetry  # noqa: PLC0415 - Poetry projects only

        found = poetry.read(spec.path, spec.groups)
        return found.requirements, found.constraints
    if (kind := lockfiles.kind_of(spec.path)) is not None:
        locked = lockfiles.derive(kind, spec.path, spec.groups)
        return locked.requirements, locked.constraints
    return None, ""


def export_uvlock(path: Path, package: str | None = None) -> str:
    """The packages of a uv.lock as a requirements file, with the hashes the lock records;
    `package`: a workspace member, whose own dependencies only (its workspace libraries among
    them, as paths relative to the workspace root) are exported."""
    member = ["--package", package] if package else []
    result = run(
        [
            binary(),
            "export",
            *member,
            "--frozen",
            "--format",
            "requirements-txt",
            "--no-dev",
            "--no-emit-project",
            "--no-header",
            "--quiet",
            "--project",
            path.parent,
        ]
    )
    return _check(result, f"reading {path}" + (f" for member {package}" if package else "")).stdout


def install(lock: Path, platform: Platform, target: Path, *, settings: IndexSettings,
            index: Sequence[str] = (), cwd: Path | None = None,
            offline_only: bool = False, started: threading.Event | None = None) -> None:
    """Install exactly the wheels of `lock` into `target` (no resolution, no dependencies).

    `index`: the requirements file's index options. The lock names each file by URL, without the
    credentials an index URL may carry; given the index again, uv sends them to its host.
    `offline_only`: from uv's cache or not at all (a guess, deps/ahead.py: fetching wheels the
    build may not use would compete with the resolution it waits for). `started`: set once uv
    runs (proc.run)."""
    # uv checks the lock's requires-python against the interpreter it runs with (the host's), not
    # against --python-version: drop the line; the wheels were already chosen for the target.
    text = "".join(
        line
        for line in lock.read_text(encoding="utf-8").splitlines(keepends=True)
        if not line.startswith("requires-python")
    )
    with tempfile.TemporaryDirectory(prefix="fpack-install-") as tmp:
        replay = Path(tmp) / "pylock.toml"
        replay.write_text(text, encoding="utf-8")
        args = [*_install_args(target, platform, settings), "--no-deps", *_as_extra(index),
                "-r", replay]
        # Offline first: the lock names every file by URL and hash, and uv's cache usually has
        # them (a warm cache), so asking the index whether its pages changed costs a round trip
        # per package for nothing. A miss is retried online: uv fetches every file before it
        # installs any, so a failed offline run has written nothing into `target`.
        if run([*args, "--offline"], cwd=cwd, started=started).returncode != 0:
            if offline_only:
                raise DependencyError("the lock's wheels are not all in uv's cache")
            _check(run(args, cwd=cwd), "installing dependencies", None, platform)


def install_requirements(requirements: Path, platform: Platform, target: Path, *,
                         settings: IndexSettings, cwd: Path | None = None) -> bool:
    """Resolve and install a plain requirements file into `target` in one call, as the lock's
    install would lay it out (deps/speculate.py); whether uv succeeded. Its errors are not
    reported: the resolution of the same file, made meanwhile, reports them. Offline: from
    what uv's cache knows, which is fast and only a guess; the online resolution decides
    whether the guess is the set (a newer release it did not know makes it another set)."""
    args = [*_install_args(target, platform, settings), "--offline", "-r", requirements]
    return run(args, cwd=cwd).returncode == 0


def _install_args(target: Path, platform: Platform, settings: IndexSettings,
                  ) -> list[str | Path]:
    """`uv pip install` into `target` for `platform`, hard-linking files out of uv's cache as
    uv does for a virtualenv (where the cache is on another filesystem, uv copies). uv never
    writes a cache entry again (it unpacks into a new directory and renames it), and fpack
    never writes a tree's file in place (`dists.prune_record` replaces RECORD, a file uv wrote
    for this install anyway): so sharing inodes is safe, and installing FastAPI + Mangum takes
    0.09 s instead of 0.52 s of copying."""
    return [binary(), "pip", "install", "--target", target, "--quiet", "--link-mode", "hardlink",
            *_platform_args(platform), *settings.uv_args()]


def _as_extra(options: Sequence[str]) -> list[str]:
    # Every index only lends its credentials here: extra indexes, so none clashes with
    # --index-url from the environment.
    return [("--extra-index-url" if o == "--index-url" else o) for o in options]


def _check(
    result: Result, doing: str, spec: DependencySpec | None = None, platform: Platform | None = None
) -> Result:
    if result.returncode == 0:
        return result
    text = redact(result.stderr.strip() or result.stdout.strip())
    where = f" for {platform.label}" if platform else ""
    source = f"{spec.shown}: " if spec and spec.shown else ""
    if platform and (m := NO_WHEEL.search(text)):
        elsewhere = _ELSEWHERE.search(text)
        raise NoWheelError(
            f"{source}{m.group(1)} has no wheel{where} (Python {platform.python_version}, "
            f"{platform.uv_platform.replace('-', ' ')} or older)"
            + (f"; its wheels are for {elsewhere.group(1).replace('`', '')}" if elsewhere else ""),
            hint=f"pin a version of {m.group(1)} that publishes such wheels, or change the "
            "target's runtime or arch",
        )
    if m := _NOT_FOUND.search(text):
        raise DependencyError(
            f"{source}{m.group(1)} was not found on the package index",
            hint="check the name, and the index settings (UV_INDEX_URL, "
            "PIP_INDEX_URL) if it is a private package",
        )
    raise DependencyError(f"{source}{doing}{where} failed:\n{_indent(text)}")


def _indent(text: str, lines: Sequence[str] = ()) -> str:
    return "\n".join("    " + line for line in (text.splitlines() or lines)[-25:])
