"""Resolving a spec for a platform, building what has no wheel, and checking the user's hashes.

1. Resolve wheels only. Usually that is the end: one wheel per package, no build.
2. If it fails because a package has no wheel for the target, resolve again admitting source
   distributions, to learn which packages need a build and from which exact source. A local
   directory, a git URL or a source archive named by the user shows up in step 1 already.
3. Build each of those in a container of the target (`builder`), once per source and platform.
4. Resolve wheels only again, with overrides pointing those packages at the built wheels: everything
   else stays exactly as the wheels-only resolver picks it.
Hashes from the requirements (`--hash`, `--require-hashes`, a uv.lock's) are checked against the
files chosen: a source before it is built, every wheel in the final resolution.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

from fpack.deps import builder, freshness, hashes, lockfiles, uv
from fpack.deps import spec as dep_spec
from fpack.deps.builder import Built
from fpack.deps.cache import Cache
from fpack.deps.lock import Locked
from fpack.deps.spec import DependencySpec
from fpack.errors import DependencyError
from fpack.inputs import BuildInputs, IndexSettings
from fpack.platforms import Platform
from fpack.report import Reporter

if TYPE_CHECKING:
    from fpack.deps.remote import Store


@dataclass(frozen=True, kw_only=True)
class Resolved:
    """A set's final lock, and the local sources built for it."""

    text: str  # the final pylock.toml
    local: tuple[tuple[str, str], ...] = ()  # (directory, tree digest) of local sources built


def resolve(spec: DependencySpec, platform: Platform, *, image: str, inputs: BuildInputs,
            reporter: Reporter, refresh: bool = False, store: Store | None = None,
            started: Callable[[], uv.Resolution] | None = None) -> Resolved:
    """The final pylock.toml for `spec` on `platform`: wheels only, some built from source.
    `started`: the first resolution, started earlier with these very arguments (deps/ahead.py)."""
    assert spec.path is not None
    requirements, constraints = uv.derived(spec)
    rules = policy(spec, requirements)
    where = f"for {platform.label}"
    fresh = freshness.window(inputs.cache, inputs.index, inputs.environ, spec)
    first = _first(spec, platform, inputs.index, refresh=refresh, requirements=requirements,
                   constraints=constraints, reporter=reporter, started=started, fresh=fresh)
    sources = [p for p in first.packages if p.needs_build]
    if not sources:
        hashes.verify(rules, first.packages, where)
        return Resolved(text=first.text)
    hashes.verify(rules, sources, where)
    index = dep_spec.index_options(spec, inputs.environ)
    built = [_build(s, platform, image, inputs, reporter, index=index, store=store)
             for s in sources]
    final = uv.resolve(spec, platform, index=inputs.index, requirements=requirements,
                       constraints=constraints, fresh=fresh,
                       overrides=[f"{b.name} @ {b.wheel.as_uri()}" for b in built])
    names = {b.name for b in built}
    _check_final(final.packages, names)
    hashes.verify(rules, (p for p in final.packages if p.name not in names), where)
    # A local directory's content is not part of the spec's key: the engine re-checks it.
    local = tuple((s.location, builder.source_digest(s)) for s in sources
                  if s.kind == "directory")
    return Resolved(text=final.text, local=local)


def _build(source: Locked, platform: Platform, image: str, inputs: BuildInputs,
           reporter: Reporter, *, index: Sequence[str], store: Store | None) -> Built:
    """`builder.build`, but a wheel another runner built is pulled from the shared cache first,
    and one built here is shared."""
    if store is None:
        return builder.build(source, platform, image, inputs, reporter, index=index)
    from fpack.deps import shared  # noqa: PLC0415 - the engine's shared-cache adapters

    cache = inputs.cache
    key = builder.key(source, builder.source_digest(source), platform, image)
    here = builder.cached(cache, key) is not None or shared.pull_built(store, cache, key,
                                                                         reporter)
    built = builder.build(source, platform, image, inputs, reporter, index=index)
    if not here:
        shared.push_built(store, cache, key, reporter)
    return built


def policy(spec: DependencySpec, requirements: str | None) -> hashes.HashPolicy:
    """The hash policy of the spec: its requirements files', the exported uv.lock's, or another
    tool's lock's (which also refuses a lock out of date with its project: deps/lockfiles.py)."""
    assert spec.path is not None
    if lockfiles.kind_of(spec.path) is not None:
        return lockfiles.policy(spec.path, spec.groups)
    if requirements is not None:
        return hashes.policy(str(spec.path), [requirements])
    if spec.kind != "requirements":
        return hashes.HashPolicy(source=str(spec.path))
    texts = [_read(name) for name, _ in spec.files]
    return hashes.policy(str(spec.path), texts)


def _read(name: str) -> str:
    try:
        with open(name, encoding="utf-8") as f:  # noqa: PTH123 - spec.files holds path strings
            return f.read()
    except OSError as e:
        raise DependencyError(f"{name}: cannot read: {e.strerror}") from e


def _first(spec: DependencySpec, platform: Platform, index: IndexSettings, *, refresh: bool,
           requirements: str | None, constraints: str, reporter: Reporter,
           started: Callable[[], uv.Resolution] | None = None,
           fresh: freshness.Window | None = None) -> uv.Resolution:
    try:
        if started is not None:
            return started()
        return uv.resolve(spec, platform, index=index, refresh=refresh,
                          requirements=requirements, constraints=constraints, fresh=fresh)
    except uv.NoWheelError as e:
        reporter.step(f"{e.message}: finding its source to build it in a container")
        try:
            found = uv.resolve(spec, platform, index=index, refresh=refresh,
                               requirements=requirements, constraints=constraints,
                               wheels_only=False, fresh=fresh)
        except DependencyError as again:
            raise again from e
        if not any(p.needs_build for p in found.packages):
            raise  # admitting source changed nothing: the wheels-only error says it best
        return found


def _check_final(packages: Iterable[Locked], built: set[str]) -> None:
    for pkg in packages:
        if pkg.needs_build:
            raise DependencyError(
                f"{pkg.name}: still a {pkg.kind} after building {', '.join(sorted(built))}; "
                "fpack cannot install it as a wheel",
                hint="run the build again with --refresh; if it persists, pin the package to a "
                "version with wheels for the target",
            )


def built_sources(packages: Iterable[Locked], cache: Cache) -> dict[str, Built]:
    """The built wheels among a final resolution's packages, by name (they live in the cache)."""
    wheels = cache.root / builder.KIND
    out: dict[str, Built] = {}
    for pkg in packages:
        if pkg.kind == "archive" and pkg.location.startswith(str(wheels)):
            key = pkg.location[len(str(wheels)) + 1:].split("/", 1)[0]
            if (hit := builder.cached(cache, key)) is not None:
                out[pkg.name] = hit
    return out
