"""Dependencies for one platform, from spec to a cached archive: resolve, install, audit, zip.

Each stage is keyed by what determines it, so a build with nothing changed reads three small cache
files and touches neither uv, Docker nor the network:
    resolve key = spec files + platform + uv version + index settings + build image -> pylock.toml
    tree key    = pylock text + platform + tree format + bytecode setting  -> tree + meta.json
    archive key = tree key + archive format + SOURCE_DATE_EPOCH             -> deterministic zip
Packages without a wheel for the target are built in a container during resolution
(`resolution`, `builder`); the final lock then names the built wheels in the cache's wheelhouse.
With a shared cache (FPACK_CACHE_URL, [cache] url) each stage looks its entry up there before
making it and uploads what it made (`shared`, `remote`): a CI runner with an empty local cache
builds from the entries another runner made, without the index or a Docker engine.
"""

from __future__ import annotations

import base64
import csv
import hashlib
import json
import os
import posixpath
import shutil
import subprocess
import tempfile
from collections.abc import Callable, Collection
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Final

from fpack.deps import (
    ahead,
    audit,
    builder,
    bytecode,
    dists,
    keys,
    lock,
    members,
    remote,
    resolution,
    reuse,
    shared,
    speculate,
    uv,
)
from fpack.deps.cache import MARKER, Cache
from fpack.deps.lock import Locked
from fpack.deps.names import canonical
from fpack.deps.settings import Settings
from fpack.deps.spec import DependencySpec
from fpack.errors import DependencyError
from fpack.inputs import BuildInputs
from fpack.platforms import Platform
from fpack.report import Reporter, human_size, plural

if TYPE_CHECKING:
    from fpack.deps import sdk as sdk_rules
    from fpack.deps import slim

# slim.py and sdk.py are imported where they are used: most builds use neither, and every
# build pays for what it imports before it can start (deps/ahead.py).

_LOCAL: Final = ".local.json"  # beside a cached lock: the local directories it was built from


@dataclass(frozen=True, kw_only=True)
class Package:
    """One installed package of a set, as manifests and SBOMs list it."""

    name: str
    version: str
    wheel: str
    sha256: str
    size: int  # unpacked bytes
    source: str = "index"  # "index", "url" (a wheel named by URL) or "built in <image>"


def shared_store(inputs: BuildInputs, settings: Settings, reporter: Reporter,
                 ) -> remote.Store | None:
    """This command's shared cache, if one is configured (the environment wins)."""
    s = inputs.shared
    return remote.store_for(s.url or settings.cache_url, session=s.session, readonly=s.readonly,
                            gcs_endpoint=s.gcs_endpoint, reporter=reporter)


@dataclass(frozen=True, kw_only=True)
class Dependencies:
    """A prepared dependency set: its packages and its archive, for one platform."""

    platform: Platform
    packages: tuple[Package, ...]
    archive: Path | None  # the installed tree as a zip with no prefix; None without dependencies
    unpacked_size: int
    key: str
    slim: slim.Saving | None = None  # what slim = true removed, when it is on
    sdk: sdk_rules.Provided | None = None  # what sdk = "runtime" left to the Lambda runtime


def prepare(
    spec: DependencySpec,
    platform: Platform,
    inputs: BuildInputs,
    reporter: Reporter,
    *,
    refresh: bool = False,
    settings: Settings = Settings(),
    zipped: bool = True,
) -> Dependencies:
    """The dependencies of `spec` for `platform`, from the cache when nothing changed. With
    `zipped=False` (a gcp bundle ships requirements, not the tree) no archive is made: the tree
    is still installed, for the audit, the sizes and the manifest's packages."""
    if spec.kind == "none":
        return Dependencies(
            platform=platform,
            packages=(),
            archive=None,
            unpacked_size=0,
            key=keys.sha("none", platform.key()),
        )
    store = shared_store(inputs, settings, reporter)
    try:
        return _prepare(spec, platform, inputs, reporter, refresh=refresh, settings=settings,
                        zipped=zipped, store=store)
    finally:
        finish(inputs, store, reporter)


def finish(inputs: BuildInputs, store: remote.Store | None, reporter: Reporter) -> None:
    """After the stages: record the shared cache's counts, apply FPACK_CACHE_MAX (never to an
    entry this command used)."""
    remote.record(inputs.cache, store)
    cap = inputs.shared.max_size
    if cap is None:
        return
    done = inputs.cache.gc(max_size=cap, protect_since=inputs.shared.started)
    if done.removed:
        entries = "entry" if done.removed == 1 else "entries"
        reporter.done(f"local cache over {human_size(cap)}: removed {done.removed} {entries} "
                      f"({human_size(done.freed)})")


def _prepare(spec: DependencySpec, platform: Platform, inputs: BuildInputs, reporter: Reporter,
             *, refresh: bool, settings: Settings, zipped: bool,
             store: remote.Store | None) -> Dependencies:
    # Started already if the CLI knew this set before importing the engine (deps/ahead.py).
    started = ahead.begin(spec, platform, inputs, settings=settings, refresh=refresh,
                          zipped=zipped, shared=store is not None)
    try:
        prepared = _prepare_set(spec, platform, inputs, reporter, settings=settings,
                                zipped=zipped, store=store, refresh=refresh, started=started)
    except BaseException:
        ahead.done(started, failed=True)
        raise
    ahead.done(started)
    return prepared


def _prepare_set(spec: DependencySpec, platform: Platform, inputs: BuildInputs,
                 reporter: Reporter, *, refresh: bool, settings: Settings, zipped: bool,
                 store: remote.Store | None, started: ahead.Started) -> Dependencies:
    cache = inputs.cache
    image, guess = started.image, started.guess
    early = started.take()
    pylock = _lock(spec, platform, inputs, started.key, reporter=reporter, refresh=refresh,
                   image=image, store=store, first=early.result if early is not None else None)
    tree_key = keys.tree_key(pylock.read_text(encoding="utf-8"), platform, settings.compile)
    # slim = true ships its own tree entry, made from the installed one (left as it is).
    key = slim_key(tree_key, settings.slim_keep) if settings.slim else tree_key

    def base() -> tuple[dict[str, Any], Path | None]:
        """The tree `key` names before sdk = "runtime": installed, then slimmed if asked."""
        meta, tree = _tree_meta(pylock, platform, inputs, tree_key, reporter=reporter,
                                settings=settings, image=image, spec=spec, store=store,
                                guess=guess)
        if settings.slim:
            meta, tree = _slim_tree(inputs.cache, tree_key, key, settings.slim_keep,
                                    platform=platform, spec=spec, reporter=reporter)
        return meta, tree

    made: _Made | None = None
    decision: sdk_rules.Decision | None = None
    base_key = key
    if settings.sdk == "runtime":
        decision, made = _sdk_decision(cache, key, platform, spec, base)
        if decision.leave_out:  # its own entry, derived from the base tree (left as it is)
            key = sdk_key(base_key, platform)
    archive_key = keys.archive_key(key, inputs.epoch_setting)
    found = _without_tree(cache, key, archive_key, zipped=zipped, store=store,
                          reporter=reporter)
    if found is not None:
        meta, archive = found
    else:
        meta, tree = made if made is not None else base()
        if decision is not None and decision.leave_out:
            if tree is not None and store is not None:  # the base made here: share it too
                shared.push_tree(store, base_key, meta, tree, archive=None, reporter=reporter)
            meta, tree = _sdk_tree(cache, base_key, key, decision, platform=platform,
                                   spec=spec, reporter=reporter)
        # A head start's tree, taken as it is, may come with its archive made meanwhile.
        ready = guess.archive if guess is not None and guess.taken and key == tree_key \
            else None
        archive = _archive(inputs, key, reporter, spec, store=store, ready=ready) if zipped \
            else None
        if tree is not None and store is not None:  # made here: share it
            shared.push_tree(store, key, meta, tree, archive=archive, reporter=reporter)
    packages = tuple(Package(**p) for p in meta["packages"])
    saving: slim.Saving | None = None
    if settings.slim and "slim" in meta:
        from fpack.deps import slim  # noqa: PLC0415

        saving = slim.Saving.from_json(meta["slim"])
        reporter.done(f"slim: {human_size(saving.saved)} removed from {spec.name} "
                      f"({human_size(int(meta['unpacked_size']))} left)")
    provided: sdk_rules.Provided | None = None
    if decision is not None:
        from fpack.deps import sdk as sdk_rules  # noqa: PLC0415

        if decision.leave_out and "sdk" in meta:
            provided = sdk_rules.Provided.from_json(meta["sdk"])
            reporter.done(sdk_rules.provided_line(provided.names, provided.runtime,
                                                  human_size(provided.saved), spec.name))
        if decision.conflicts:
            reporter.warn(sdk_rules.conflict_warning(decision))
    return Dependencies(
        platform=platform,
        packages=packages,
        archive=archive,
        unpacked_size=int(meta["unpacked_size"]),
        key=key,
        slim=saving,
        sdk=provided,
    )


_Made = tuple[dict[str, Any], Path | None]  # a tree's meta, and the tree when made by this call


def sdk_key(base_key: str, platform: Platform) -> str:
    """What decides a tree without the runtime's SDK: the tree it comes from and the rules.
    (The decision to leave it out has its own key, `_sdk_decision`.)"""
    from fpack.deps import sdk as sdk_rules  # noqa: PLC0415

    return keys.sha("sdk", base_key, sdk_rules.RULES_VERSION, platform.runtime.name)


def _sdk_decision(cache: Cache, base_key: str, platform: Platform, spec: DependencySpec,
                  base: Callable[[], _Made]) -> tuple[sdk_rules.Decision, _Made | None]:
    """Whether sdk = "runtime" leaves the SDK out of tree `base_key`, and the base tree's
    (meta, tree) when deciding had to make or find it. The decision reads the tree's METADATA
    and the spec's files, so it is cached under both (a direct `boto3>=...` edit is a new spec
    key with the same resolution) and the runtime's table row: a rebuild reads one small file."""
    from fpack.deps import sdk as sdk_rules  # noqa: PLC0415

    row = sdk_rules.runtime_sdk(platform.runtime.name)
    key = keys.sha("sdk-decision", base_key, sdk_rules.RULES_VERSION, platform.runtime.name,
                   row.boto3, row.botocore, spec.key())
    path = cache.file("trees", key, ".sdk.json")
    cached = _read_json(path)
    if cached is not None:
        cache.use(path)
        return sdk_rules.Decision.from_json(cached), None
    made = base()
    tree = cache.tree(base_key)
    if tree is None:
        raise DependencyError(f"the installed tree {base_key} of {spec.name} is gone",
                              hint="run the build again")
    decision = sdk_rules.decide_tree(tree, platform, [f for f, _ in spec.files])
    cache.write_file("trees", key, ".sdk.json", json.dumps(decision.to_json()).encode())
    return decision, made


def _sdk_tree(cache: Cache, base_key: str, key: str, decision: sdk_rules.Decision, *,
              platform: Platform, spec: DependencySpec, reporter: Reporter,
              ) -> tuple[dict[str, Any], Path | None]:
    """Tree `base_key` without the packages `decision` leaves out, as its own entry `key`:
    hard links of every other file (RECORDs of the packages kept are theirs, unchanged)."""
    from fpack.deps import sdk as sdk_rules  # noqa: PLC0415

    def make(base: Path, base_meta: dict[str, Any], tmp: Path) -> dict[str, Any]:
        files = dists.files(base)
        dropped = sdk_rules.files_of(base, files, decision.leave_out)
        dists.link(base, tmp, [rel for rel in files if rel not in dropped])
        _audit(tmp, platform)
        left = set(decision.leave_out)
        meta = _describe(tmp, _pins_of(base_meta, without=left))
        if "slim" in base_meta:  # what slimming saved stays on record
            meta["slim"] = base_meta["slim"]
        sizes = {p["name"]: (p["name"], p["version"], int(p["size"]))
                 for p in base_meta["packages"] if p["name"] in left}
        meta["sdk"] = sdk_rules.Provided(
            runtime=platform.runtime.name,
            packages=tuple(sizes[n] for n in decision.leave_out if n in sizes),
            saved=int(base_meta["unpacked_size"]) - int(meta["unpacked_size"])).to_json()
        reporter.step(f"left the runtime's SDK out of the dependencies of {spec.name}")
        return meta

    return _derived(cache, base_key, key, spec, make)


def _made_tree(cache: Cache, key: str) -> dict[str, Any] | None:
    """The meta of tree `key` if the tree was completed and described, used now; else None."""
    meta_path = cache.file("trees", key, ".json")
    if cache.tree(key) is None or not meta_path.is_file():
        return None
    cache.use(cache.root / "trees" / f"{key}{MARKER}", meta_path)
    return dict(json.loads(meta_path.read_text()))


def _pins_of(meta: dict[str, Any], without: Collection[str] = ()) -> dict[str, dict[str, Any]]:
    """name -> {version, wheel, sha256, source} of a tree's packages, as `_describe` takes them."""
    return {p["name"]: {k: p[k] for k in ("version", "wheel", "sha256", "source")}
            for p in meta["packages"] if p["name"] not in without}


def _derived(cache: Cache, base_key: str, key: str, spec: DependencySpec,
             make: Callable[[Path, dict[str, Any], Path], dict[str, Any]],
             ) -> tuple[dict[str, Any], Path | None]:
    """Tree `key` derived from the installed tree `base_key` as its own entry: the cached one
    (and None for the tree: not made here), else what `make(base, base meta, new tree)` lays
    out and describes, under the entry's lock."""
    if (found := _made_tree(cache, key)) is not None:
        return found, None
    with cache.lock(f"tree-{key}"):
        if (found := _made_tree(cache, key)) is not None:
            return found, None
        base = cache.tree(base_key)
        base_meta = _read_json(cache.file("trees", base_key, ".json"))
        if base is None or base_meta is None:
            raise DependencyError(f"the installed tree {base_key} of {spec.name} is gone",
                                  hint="run the build again")
        with cache.new_tree(key) as tmp:
            meta = make(base, base_meta, tmp)
            cache.write_file("trees", key, ".json", json.dumps(meta, indent=1).encode())
        return meta, cache.tree(key)


def slim_key(tree_key: str, keep: tuple[str, ...]) -> str:
    """What decides a slimmed tree: the installed tree, the rules, the keep list, and the tool
    that strips debug sections (another binutils may write other bytes)."""
    from fpack.deps import slim  # noqa: PLC0415

    return keys.sha("slim", tree_key, slim.RULES_VERSION, *sorted(set(keep)), _strip_tool())


def _strip_tool() -> str:
    """objcopy as the slim key sees it: its size (one stat, no process), or "none"."""
    found = shutil.which("objcopy")
    try:
        return f"objcopy:{Path(found).stat().st_size}" if found else "none"
    except OSError:
        return "none"


def _slim_tree(cache: Cache, base_key: str, key: str, keep: tuple[str, ...], *,
               platform: Platform, spec: DependencySpec, reporter: Reporter,
               ) -> tuple[dict[str, Any], Path | None]:
    """The slimmed variant of tree `base_key` as its own entry `key`: the files the rules keep
    (hard links where the bytes are unchanged), shared objects without debug sections, every
    RECORD listing exactly what it ships (stripped files with their new hash and size)."""
    from fpack.deps import slim  # noqa: PLC0415

    def make(base: Path, base_meta: dict[str, Any], tmp: Path) -> dict[str, Any]:
        reporter.step(f"slimming the dependencies of {spec.name}")
        files = dists.files(base)
        removal = slim.plan(files, lambda p: (base / p).read_text("utf-8", errors="replace"),
                            keep)
        dropped = removal.paths
        removed: dict[str, tuple[int, int]] = {}
        for rule, paths in removal.files.items():
            removed[rule] = (len(paths), sum((base / p).stat().st_size for p in paths))
        dists.link(base, tmp, [rel for rel in files if rel not in dropped])
        stripped = _strip_debug(tmp, [f for f in files if f not in dropped
                                      and slim.is_shared_object(f)], reporter)
        removed["debug-sections"] = (len(stripped), sum(stripped.values()))
        for info in tmp.glob("*.dist-info"):
            dists.prune_record(tmp, info / "RECORD")
            _rehash_record(tmp, info / "RECORD", set(stripped))
        _audit(tmp, platform)
        meta = _describe(tmp, _pins_of(base_meta))
        meta["slim"] = slim.Saving(
            saved=int(base_meta["unpacked_size"]) - int(meta["unpacked_size"]),
            removed=removed, test_dirs=removal.test_dirs,
            keep=tuple(sorted(set(keep)))).to_json()
        return meta

    return _derived(cache, base_key, key, spec, make)


def _strip_debug(tree: Path, objects: list[str], reporter: Reporter) -> dict[str, int]:
    """`objcopy --strip-debug` on each shared object that has debug sections (symbols stay);
    a result is kept only when objcopy succeeded and it is smaller. rel -> bytes saved."""
    from fpack.deps import slim  # noqa: PLC0415

    candidates = []
    for rel in objects:
        path = tree / rel
        with path.open("rb") as f:
            def read(offset: int, size: int, f: Any = f) -> bytes:
                f.seek(offset)
                return bytes(f.read(size))
            if slim.has_debug_sections(f.read(64), read):
                candidates.append(rel)
    if not candidates:
        return {}
    tool = shutil.which("objcopy")
    if tool is None:
        reporter.warn(f"slim: objcopy not found, {plural(len(candidates), 'shared object')} "
                      "keep their debug sections")
        return {}
    saved: dict[str, int] = {}
    for rel in candidates:
        path = tree / rel
        fd, tmp_name = tempfile.mkstemp(dir=path.parent, prefix=".strip-")
        os.close(fd)
        tmp = Path(tmp_name)
        try:
            done = subprocess.run(  # noqa: S603 - argv is built by fpack, never by a shell
                [tool, "--strip-debug", str(path), str(tmp)], capture_output=True, check=False)
            before, after = path.stat().st_size, tmp.stat().st_size
            if done.returncode == 0 and 0 < after < before:
                tmp.chmod(path.stat().st_mode & 0o7777)
                os.replace(tmp, path)  # a new inode: the installed tree's link is untouched
                saved[rel] = before - after
        finally:
            tmp.unlink(missing_ok=True)
    return saved


def _rehash_record(tree: Path, record: Path, changed: set[str]) -> None:
    """Rewrite the RECORD lines of files whose bytes slimming changed (stripped shared
    objects) with their new sha256 and size; every other line stays byte for byte."""
    if not changed or not record.is_file():
        return
    out = []
    for line in record.read_bytes().splitlines(keepends=True):
        row = next(csv.reader([line.decode("utf-8", "surrogateescape")]), [])
        path = posixpath.normpath(row[0]) if row else ""
        if path in changed:
            data = (tree / path).read_bytes()
            digest = base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=")
            end = b"\r\n" if line.endswith(b"\r\n") else b"\n"
            out.append(f"{row[0]},sha256={digest.decode()},{len(data)}".encode() + end)
        else:
            out.append(line)
    record.write_bytes(b"".join(out))


def _without_tree(cache: Cache, tree_key: str, archive_key: str, *, zipped: bool,
                  store: remote.Store | None, reporter: Reporter,
                  ) -> tuple[dict[str, Any], Path | None] | None:
    """(meta, archive) when the build needs no installed tree: the tree's meta and, for a zip,
    its archive are in the local cache or the shared one. None: the tree is needed."""
    meta_path = cache.file("trees", tree_key, ".json")
    archive: Path | None = cache.file("archives", archive_key, ".zip") if zipped else None
    meta = _read_json(meta_path)
    if archive is not None and not archive.is_file():
        if store is None:
            return None
        archive = shared.pull_archive(store, cache, archive_key, reporter)
        if archive is None:
            return None
    if meta is None and store is not None:
        meta = shared.pull_tree_meta(store, cache, tree_key, reporter)
        if meta is not None:
            cache.write_file("trees", tree_key, ".json", json.dumps(meta, indent=1).encode())
    if meta is None:
        return None
    cache.use(meta_path, *(p for p in (archive, cache.root / "trees" / f"{tree_key}.ok") if p))
    return meta, archive


def _read_json(path: Path) -> dict[str, Any] | None:
    try:
        return dict(json.loads(path.read_text(encoding="utf-8")))
    except (OSError, ValueError, TypeError):
        return None


def _lock(
    spec: DependencySpec,
    platform: Platform,
    inputs: BuildInputs,
    key: str,
    *,
    reporter: Reporter,
    refresh: bool,
    image: str,
    store: remote.Store | None = None,
    first: Callable[[], uv.Resolution] | None = None,
) -> Path:
    """The set's lock: cached, pulled from the shared cache, or resolved (`first`: uv's first
    resolution, already started by deps/ahead.py)."""
    cache = inputs.cache
    path = cache.file("resolve", f"pylock.{key}", ".toml")
    if not refresh and _healthy(path, spec.directory):
        return _used_lock(cache, path)
    with cache.lock(f"resolve-{key}"):
        if not refresh and _healthy(path, spec.directory):
            return _used_lock(cache, path)
        if not refresh and store is not None:
            pulled = shared.pull_lock(store, cache, key, spec.directory, reporter)
            if pulled is not None and _healthy_text(pulled[0], path.parent, pulled[1],
                                                    spec.directory):
                cache.write_file("resolve", f"pylock.{key}", _LOCAL,
                                 json.dumps(pulled[1]).encode())
                return cache.write_file("resolve", f"pylock.{key}", ".toml", pulled[0].encode())
        reporter.step(f"resolving {spec.name} for {platform.label}")
        resolved = resolution.resolve(spec, platform, image=image, inputs=inputs,
                                      reporter=reporter, refresh=refresh, store=store,
                                      started=first)
        # The local sources' digests first, the lock last: the lock is the entry's marker.
        found = [{"path": p, "digest": d} for p, d in resolved.local]
        local = [{**e, "path": _relative(e["path"], spec.directory)} for e in found]
        cache.write_file("resolve", f"pylock.{key}", _LOCAL, json.dumps(local).encode())
        written = cache.write_file("resolve", f"pylock.{key}", ".toml", resolved.text.encode())
        if store is not None:
            shared.push_lock(store, cache, key, written, directory=spec.directory, local=found,
                             reporter=reporter)
        return written


def _used_lock(cache: Cache, path: Path) -> Path:
    """A lock found healthy: it and the built wheels it names were used now (`gc` reads it)."""
    text = path.read_text(encoding="utf-8")
    cache.use(path, *(cache.root / builder.KIND / f"{k}{MARKER}"
                      for k in shared.built_keys(text, cache, path.parent)))
    return path


def _relative(directory: str, base: Path | None) -> str:
    """A local library's directory as `.local.json` records it: relative to the spec's
    directory when it is below the same root, so that it means the same library in every
    checkout that shares this cache (git worktrees, a cache restored at another path)."""
    if base is None:
        return directory
    return os.path.relpath(directory, base)


def _healthy(path: Path, directory: Path | None = None) -> bool:
    """A cached lock is usable if it exists, every local wheel it names still does, and every
    local directory built for it still has the content it was built from. The key does not
    name the checkout, so the directories are this checkout's: read relative to `directory`,
    the spec's own (a second checkout's library edit is seen, not the first checkout's)."""
    if not path.is_file():
        return False
    try:
        local = json.loads(path.with_name(path.name.removesuffix(".toml") + _LOCAL).read_text())
    except (OSError, ValueError):
        return False
    return _healthy_text(path.read_text(encoding="utf-8"), path.parent, local, directory)


def _healthy_text(text: str, base: Path, local: list[dict[str, str]],
                  directory: Path | None = None) -> bool:
    packages = lock.parse(text, base)
    if not all(Path(p.location).is_file() for p in packages if "://" not in p.location):
        return False
    here = directory or Path("/")
    return all((here / e["path"]).is_dir() and
               "tree:" + builder.tree_digest(here / e["path"]) == e["digest"] for e in local)


def _tree_meta(
    pylock: Path, platform: Platform, inputs: BuildInputs, key: str, *, reporter: Reporter,
    settings: Settings, image: str, spec: DependencySpec, store: remote.Store | None = None,
    guess: speculate.Speculation | None = None,
) -> tuple[dict[str, Any], Path | None]:
    """The tree's meta, and the tree itself when this call made it (else None)."""
    cache = inputs.cache
    if (found := _made_tree(cache, key)) is not None:
        return found, None
    with cache.lock(f"tree-{key}"):
        if (found := _made_tree(cache, key)) is not None:
            return found, None
        if store is not None and (pulled := shared.pull_tree(store, cache, key, reporter)):
            return pulled, None
        locked = lock.parse(pylock.read_text(encoding="utf-8"), pylock.parent)
        reporter.step(f"installing {plural(len(locked), 'package')} of {spec.name} for "
                      f"{platform.label}")
        with cache.new_tree(key) as tmp:
            guessed = guess.take(locked) if guess is not None else None
            audited = None
            if guessed is not None and guess is not None:  # installed and cleaned ahead of the
                meanwhile, audited = guess.meanwhile, guess.audited  # engine: the lock's tree
                for child in guessed.iterdir():
                    child.rename(tmp / child.name)
            else:
                meanwhile = reuse.install(pylock, locked, platform, tmp, inputs=inputs,
                                          spec=spec, reporter=reporter)  # cleaned, too
            _audit(tmp, platform, audited)
            if settings.compile:
                reporter.step(f"compiling bytecode with Python {platform.python_version}")
                bytecode.compile_cached(tmp, platform, image, cache)
            meta = _describe(tmp, _pins(locked, cache))
            meta["platform"] = platform.key()  # an installed tree, which later ones may seed from
            cache.write_file("trees", key, ".json", json.dumps(meta, indent=1).encode())
        reporter.done(f"installed {plural(len(locked), 'package')} of {spec.name} "
                      f"({human_size(meta['unpacked_size'])}){meanwhile}")
        return meta, cache.tree(key)


def _audit(tree: Path, platform: Platform,
           problems: list[audit.AuditProblem] | None = None) -> None:
    """Refuse a tree with any shared object the target cannot load: the field's most common
    failure (GLIBC_2.28 not found, invalid ELF header) caught on the build machine instead.
    `problems`: the tree's audit, made already (a head start's, deps/ahead.py)."""
    if problems is None:
        problems = audit.for_platform(tree, platform)
    if problems:
        listing = "\n".join(f"  - {p.message}" for p in problems[:20])
        more = f"\n  ... and {len(problems) - 20} more" if len(problems) > 20 else ""
        raise DependencyError(
            f"{len(problems)} shared object(s) cannot run on {platform.label}:\n{listing}{more}")


def _pins(locked: tuple[Locked, ...], cache: Cache) -> dict[str, dict[str, Any]]:
    """name -> {version, wheel, sha256, source} for every package of a final lock."""
    built = resolution.built_sources(locked, cache)
    out: dict[str, dict[str, Any]] = {}
    for pkg in locked:
        if pkg.needs_build:  # the final lock holds wheels only; anything else is a stale cache
            raise DependencyError(f"{pkg.name}: the resolution names a {pkg.kind}, not a wheel",
                                  hint="run the build again with --refresh")
        source = "index" if pkg.kind == "wheel" else "url"
        if pkg.name in built:
            image = built[pkg.name].image
            source = "built on the host (pure Python)" if image == builder.HOST \
                else f"built in {image}"
        out[canonical(pkg.name)] = {"version": pkg.version or "", "wheel": pkg.filename,
                                    "sha256": pkg.sha256, "source": source}
    return out


def _describe(tree: Path, locked: dict[str, dict[str, Any]]) -> dict[str, Any]:
    """Package list with unpacked sizes (from each dist-info RECORD) and the tree's total size."""
    total, sizes = dists.record_sizes(tree)
    packages = []
    for info, size in sorted(sizes.items()):
        name = canonical(info[: -len(".dist-info")].rsplit("-", 1)[0])
        pin = locked.get(name)
        if pin is None:
            raise DependencyError(
                f"{info} was installed but is not in the resolution",
                hint="run the build again with --refresh",
            )
        packages.append(asdict(Package(name=name, size=size, **pin)))
    return {"packages": packages, "unpacked_size": total}


def _archive(inputs: BuildInputs, tree_key: str, reporter: Reporter, spec: DependencySpec, *,
             store: remote.Store | None = None, ready: Path | None = None) -> Path:
    """The tree's archive: cached, or made (`ready`: made already, from the same tree, for
    this build's epoch: moved in)."""
    cache = inputs.cache
    key = keys.archive_key(tree_key, inputs.epoch_setting)
    path = cache.file("archives", key, ".zip")
    if path.is_file():
        cache.use(path)
        return path
    with cache.lock(f"archive-{key}"):
        if path.is_file():
            return path
        tree = cache.tree(tree_key)
        if tree is None:  # the meta alone was here (a gc'd tree): the tree comes back first
            raise DependencyError(f"the installed tree {tree_key} of {spec.name} is gone",
                                  hint="run the build again")
        if ready is not None and ready.is_file():
            path.parent.mkdir(parents=True, exist_ok=True)
            ready.replace(path)  # the same filesystem: the cache's trees/ and archives/
        else:
            reporter.step(f"compressing the dependencies of {spec.name}")
            spliced = members.write_archive(tree, cache, path, epoch=inputs.epoch)
            if spliced.reused and spliced.compressed:
                reporter.done(f"compressed {plural(spliced.compressed, 'package')} of "
                              f"{spec.name}; {plural(spliced.reused, 'package')} reused, "
                              "compressed earlier")
    if store is not None:
        shared.push_archive(store, key, path, reporter)
    return path
