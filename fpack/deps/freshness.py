"""Index pages seen a moment ago, trusted for a moment: a resolution tried offline first.

uv revalidates every index page it reads unless the index said how long the page stays fresh.
PyPI says ten minutes (`Cache-Control: max-age=600` on its simple pages); many private indexes
and proxies say nothing, so every resolution costs a round trip per package (pydantic + requests:
0.6 to 0.9 s online against 0.25 s offline, through such a proxy). A changed requirement is
resolved again, so the build after an edit paid it in full.

fpack keeps PyPI's promise for every index: after an online resolution it records, per index
configuration and uv cache, when each package of the result was seen online. A later resolution
is tried offline first, from uv's cache, when every requirement it names was seen within
`max_age` (600 s; FPACK_INDEX_MAX_AGE, in seconds, 0 turns it off), and its result is taken only
if every package in it was: what uv itself does with PyPI's pages. Otherwise, or if the offline
attempt fails, the resolution runs online as before, and records what it saw.

A set resolved a moment ago that gains a requirement (or whose cached result rests on a package
not seen lately) does not go online as a whole: uv, online, revalidates every page and every
wheel's metadata it reads, one wheel after another as its resolver picks them (Pillow plus one
new package: two HEAD requests in a row, 0.15 s of a 0.23 s resolution, through a proxy that
sends no caching headers). Only pages are fetched: those of the set's own requirements and of
what was not seen (`uv pip compile --no-deps` reads no metadata: 0.06 s), and the set is tried
from uv's cache again; `probeable` says which specs may.
"""

from __future__ import annotations

import json
import os
import re
import threading
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Final

from fpack.deps import spec as dep_spec
from fpack.deps.cache import Cache
from fpack.deps.keys import sha
from fpack.deps.names import canonical
from fpack.deps.spec import DependencySpec
from fpack.errors import ConfigError
from fpack.inputs import IndexSettings

DEFAULT_MAX_AGE: Final = 600.0  # seconds: PyPI's max-age for its simple pages
ENV: Final = "FPACK_INDEX_MAX_AGE"
# The name a requirement line starts with ("pydantic[email]>=2", "idna==3.7 ; python_version…");
# options (-r, --index-url), paths and URLs name nothing this can check.
_NAME: Final = re.compile(r"^([A-Za-z0-9][A-Za-z0-9._-]*)\s*(?:\[|[<>=!~;]|$)")
# What makes a requirement line more than a name on an index: a path (`./lib`, `libs/shared`,
# `dist/x-1.0-py3-none-any.whl`), a URL (`name @ url`). No project name holds a slash.
_LOCAL: Final = re.compile(r"^[.~]|[/\\]|://|@|\.(?:whl|zip|tgz|tar(?:\.\w+)?)\b")
_EDITABLE: Final = re.compile(r"^(?:-e|--editable)\b")
_WRITING = threading.Lock()  # one record update at a time within the process


@dataclass(frozen=True, kw_only=True)
class Window:
    """The packages seen online for one index configuration, and how long that holds."""

    path: Path  # {"seen": {canonical name: unix time}}
    max_age: float
    clock: Callable[[], float] = field(default=time.time)
    environ: Mapping[str, str] = field(default_factory=dict)  # uv's, for the offline attempt

    def seen(self) -> dict[str, float]:
        try:
            data = json.loads(self.path.read_text(encoding="utf-8"))
            return {str(k): float(v) for k, v in dict(data["seen"]).items()}
        except (OSError, ValueError, KeyError, TypeError):
            return {}

    def fresh(self, names: Iterable[str]) -> bool:
        """Whether every one of `names` was seen online within max_age (and there is one)."""
        wanted = {canonical(n) for n in names}
        if not wanted:
            return False
        seen, now = self.seen(), self.clock()
        return all(now - seen.get(n, float("-inf")) <= self.max_age for n in wanted)

    def unseen(self, names: Iterable[str]) -> list[str]:
        """Those of `names` not seen online within max_age, canonical and sorted."""
        seen, now = self.seen(), self.clock()
        return sorted(n for n in {canonical(n) for n in names}
                      if now - seen.get(n, float("-inf")) > self.max_age)

    def record(self, names: Iterable[str], at: float) -> None:
        """`names` were seen online at `at`; entries older than max_age are dropped. A record
        that cannot be written (a full disk, another process) only costs speed: the next
        resolution runs online."""
        with _WRITING:
            seen = {n: t for n, t in self.seen().items() if self.clock() - t <= self.max_age}
            seen.update({canonical(n): at for n in names})
            tmp = self.path.with_name(
                f".tmp-{os.getpid()}-{threading.get_ident()}-{self.path.name}")
            try:
                self.path.parent.mkdir(parents=True, exist_ok=True)
                tmp.write_text(json.dumps({"seen": seen}, sort_keys=True), encoding="utf-8")
                tmp.replace(self.path)
            except OSError:
                pass
            finally:
                tmp.unlink(missing_ok=True)


def window(cache: Cache, index: IndexSettings, environ: Mapping[str, str],
           spec: DependencySpec) -> Window | None:
    """The record for this index configuration, uv cache and project; None when turned off.
    The index options inside the spec (`--index-url` lines) and the directory uv runs in (its
    uv.toml or [tool.uv] indexes) are part of the configuration: a package seen on one index
    says nothing of another's pages."""
    max_age = max_age_of(environ)
    if max_age <= 0 or environ.get("UV_NO_CACHE") or environ.get("UV_OFFLINE"):
        return None
    key = sha("seen", index.fingerprint(), environ.get("UV_CACHE_DIR", ""),
              " ".join(dep_spec.index_options(spec, environ)), str(spec.directory or ""))
    return Window(path=cache.file("resolve", f"seen.{key}", ".json"), max_age=max_age,
                  environ=environ)


def max_age_of(environ: Mapping[str, str]) -> float:
    raw = environ.get(ENV, "").strip()
    if not raw:
        return DEFAULT_MAX_AGE
    try:
        value = float(raw)
    except ValueError:
        value = -1.0
    if value < 0:
        raise ConfigError(f"{ENV}={raw}: expected a number of seconds, 0 or more",
                          hint=f"set {ENV}=0 to resolve online every time, or unset it for "
                          f"{int(DEFAULT_MAX_AGE)} s")
    return value


def probeable(texts: Iterable[str]) -> bool:
    """Whether the pages of a set's direct requirements can be fetched without anything else:
    every line names a package on an index (or is an option, a comment, a hash). A path, a URL
    or an editable is read, built or cloned by uv to learn its metadata, even with --no-deps;
    a line that might be one (a slash in a marker, say) only costs the probe."""
    for text in texts:
        for line in text.splitlines():
            words = line.split(" #", 1)[0].strip().removesuffix("\\").strip()  # a continuation
            if words.startswith("#"):
                continue
            if _EDITABLE.match(words) or (not words.startswith("-") and _LOCAL.search(words)):
                return False
    return True


def names_in(requirements: str) -> list[str]:
    """The package names of requirement lines that start with one."""
    found = []
    for line in requirements.splitlines():
        text = line.split("#", 1)[0].strip()
        if text and (m := _NAME.match(text)):
            found.append(m.group(1))
    return found
