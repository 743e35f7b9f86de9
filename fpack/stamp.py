"""The build stamp: what a finished `fpack build` read, so that the next identical command can say
"up to date" from stat calls and content hashes alone, before importing anything heavy.

A build with nothing changed used to cost 0.4 to 0.5 s, nearly all of it imports (Typer, Jinja2,
the dependency engine) needed only to reach the same answer. Now a successful build of a zip
target (aws, gcp) records, under the cache root (`stamps/<command key>.json`):
  - the command: its argument vector as `command` reads it, the working directory, the
    environment variables a build reads, the interpreter, fpack's own code (every file's size and
    mtime) and the packages installed beside it (uv among them);
  - every file the build opened for reading, with its size, mode, mtime and sha256, and the
    names in every directory it listed or read a file from (a new `uv.lock` or a new source file
    changes a listing). These are seen by an audit hook (`sys.addaudithook`: the "open",
    "os.scandir" and "os.listdir" events), so the stamp holds what the build really read, not a
    second list of inputs that could drift from the first;
  - every file in the output directory, with its size and mtime.
`up_to_date` (called by `fpack/__main__.py` before the CLI is imported) checks all of it. A file
whose mtime moved but whose bytes did not (a checkout, `touch`) still counts as unchanged. Any
doubt (an option it does not know, --json, --dry-run, a docker target whose image lives in an
engine, a stamp it cannot read) means the full build runs, which then decides for itself.

Files under the cache root, the output directory, the interpreter's prefixes and fpack's own
directory are not inputs (fpack's code is covered by the tool digest). A file that changed while
the build ran, or that the build wrote, is never stamped: the next build looks again.
This module imports only the standard library (and build_command's parser, which does too):
it runs before everything else.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import sys
import threading
import time
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Final

STAMP_VERSION: Final = "1"
STAMPED_TARGETS: Final = ("aws", "gcp")  # zip outputs: a docker image's freshness is the engine's
# What a build reads from the environment, by name or prefix (fpack/inputs.py, uv, pip, Docker,
# proxies, CA bundles, PATH for uv, objcopy and a local pythonX.Y). A variable named here that
# changes makes the next build a full one; an unrelated one does not.
_ENV_NAMES: Final = ("PATH", "HOME", "XDG_CACHE_HOME", "SOURCE_DATE_EPOCH", "SSL_CERT_FILE",
                     "SSL_CERT_DIR", "REQUESTS_CA_BUNDLE", "CURL_CA_BUNDLE",
                     "STORAGE_EMULATOR_HOST")
_ENV_PREFIXES: Final = ("FPACK_", "UV_", "PIP_", "DOCKER_", "CONTAINER_", "AWS_", "GOOGLE_",
                        "CLOUDSDK_")
_ENV_SUFFIXES: Final = ("_PROXY", "_proxy")
_NOT_INPUTS: Final = ("/proc/", "/sys/", "/dev/")


@dataclass(frozen=True, kw_only=True)
class Command:
    """A `fpack build` invocation the stamp can vouch for: its key and where its outputs go."""

    key: str
    target: str
    out: str  # the --out value as given ("dist" unless set): relative to the project root
    quiet: bool


def command(argv: Sequence[str], *, cwd: str, environ: Mapping[str, str] | None = None,
            ) -> Command | None:
    """The build `argv` asks for, if the stamp can vouch for it; else None. `argv` is read as
    the build reads it (`build_command.parse`); --json, --dry-run, --refresh and
    --changed-since are left to the full build, and --debug, --quiet and --jobs change how it
    runs, not what it makes. `environ` is this process's environment unless given (the stamp
    runs before fpack.inputs reads it, and keys what a build would read from it)."""
    from fpack.build_command import parse  # noqa: PLC0415 - standard library only, as here

    environ = os.environ if environ is None else environ
    o = parse(argv)
    if o is None or o.target not in STAMPED_TARGETS or \
            o.as_json or o.dry_run or o.refresh or o.changed_since is not None:
        return None
    keyed: list[object] = [str(o.config or ""), o.target, list(o.function), str(o.out),
                          o.arch or "", o.sbom]
    digest = _sha(json.dumps([STAMP_VERSION, cwd, keyed, _environment(environ),
                              sys.version, sys.prefix]))
    return Command(key=digest, target=o.target, out=str(o.out), quiet=o.quiet)


def _environment(environ: Mapping[str, str]) -> list[tuple[str, str]]:
    return sorted((k, v) for k, v in environ.items()
                  if k in _ENV_NAMES or k.startswith(_ENV_PREFIXES) or k.endswith(_ENV_SUFFIXES))


def cache_root(environ: Mapping[str, str]) -> Path:
    """FPACK_CACHE_DIR, else $XDG_CACHE_HOME/fpack, else ~/.cache/fpack (fpack/inputs.py uses
    this one definition too)."""
    if env := environ.get("FPACK_CACHE_DIR"):
        return Path(env)
    base = environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "fpack"


def stamp_path(root: Path, cmd: Command) -> Path:
    return root / "stamps" / f"{cmd.key}.json"


def tool_digest() -> str:
    """fpack's own code (every file's size and mtime, the templates too) and the names of the
    packages installed beside it: an edit of fpack or an upgrade of uv, Typer or Jinja2 makes
    the next build a full one."""
    here = Path(__file__).resolve().parent
    parts: list[str] = []
    for top in (here, here.parent / "templates"):
        for path, st in _walk(top):
            parts.append(f"{path}:{st.st_size}:{st.st_mtime_ns}")
    # The environment's site-packages (a venv's layout): a package installed or upgraded there
    # changes its listing.
    site = Path(sys.prefix, "lib", f"python{sys.version_info[0]}.{sys.version_info[1]}",
                "site-packages")
    with contextlib.suppress(OSError):
        parts += sorted(p.name for p in site.iterdir())
    return _sha("\n".join(parts))


def _walk(top: Path) -> Iterator[tuple[str, os.stat_result]]:
    try:
        entries = list(os.scandir(top))
    except OSError:
        return
    for entry in sorted(entries, key=lambda e: e.name):
        if entry.name == "__pycache__":
            continue
        if entry.is_dir(follow_symlinks=False):
            yield from _walk(Path(entry.path))
        elif entry.name.endswith((".py", ".j2", ".sh", ".json", ".toml", ".txt", ".md")) \
                or "." not in entry.name:
            yield entry.path, entry.stat()


# --- recording ---------------------------------------------------------------------------

@dataclass
class Recorder:
    """What the build `command` read and wrote, as the audit hook saw it (absolute paths)."""

    command: Command
    started_ns: int = field(default_factory=time.time_ns)
    reads: set[str] = field(default_factory=set)
    writes: set[str] = field(default_factory=set)
    listed: set[str] = field(default_factory=set)
    warnings: list[str] = field(default_factory=list)


_ACTIVE: list[Recorder] = []  # the recorder the audit hook feeds, if any (one build at a time)
_HOOKED = threading.Lock()
_INSTALLED: list[bool] = []  # an audit hook cannot be removed: it is installed once


def _hook(event: str, args: tuple[Any, ...]) -> None:
    # Called for every audited event of the process, so it returns at once for all but three.
    if not _ACTIVE or event not in ("open", "os.scandir", "os.listdir"):
        return
    rec = _ACTIVE[0]
    target = args[0] if args else None
    if target is None or isinstance(target, int):
        return
    try:
        # abspath, not Path.resolve: this runs for every file the build opens, imports included.
        path = os.path.abspath(os.fsdecode(os.fspath(target)))  # noqa: PTH100
    except (TypeError, ValueError):
        return
    if event != "open":
        rec.listed.add(path)
        return
    mode, flags = args[1], args[2] if len(args) > 2 else 0
    writing = (isinstance(mode, str) and any(c in mode for c in "wax+")) or \
        (mode is None and isinstance(flags, int) and flags & (os.O_WRONLY | os.O_RDWR | os.O_CREAT))
    (rec.writes if writing else rec.reads).add(path)


def record(argv: Sequence[str], *, cwd: str, environ: Mapping[str, str] | None = None,
           ) -> Recorder | None:
    """Start recording what this process reads (until `stop`), if the stamp can vouch for the
    build `argv` asks for (`command`); None otherwise."""
    cmd = command(argv, cwd=cwd, environ=environ)
    if cmd is None:
        return None
    with _HOOKED:
        if not _INSTALLED:
            sys.addaudithook(_hook)
            _INSTALLED.append(True)
    rec = Recorder(command=cmd)
    _ACTIVE[:] = [rec]
    return rec


def stop() -> None:
    _ACTIVE.clear()


def write(rec: Recorder, *, cache: Path, out_dir: Path, artifacts: int, shown: str) -> bool:
    """Stamp the build `rec` saw, if it can be trusted; whether a stamp was written."""
    stop()
    mine = Path(__file__).resolve().parent
    places = (cache, out_dir, sys.prefix, sys.base_prefix, sys.exec_prefix, mine,
              mine.parent / "templates")
    skip = {f(p) for p in places for f in (os.path.abspath, os.path.realpath)}

    def counts(path: str) -> bool:
        """Whether `path` is an input: not the cache, the outputs, Python or fpack itself."""
        return not path.startswith(_NOT_INPUTS) and not any(
            path == s or path.startswith(s + os.sep) for s in skip)

    files: dict[str, list[Any]] = {}
    for path in sorted(rec.reads - rec.writes):
        if not counts(path) or not Path(path).is_file():
            continue  # gone (a temporary file) or not an input
        st = Path(path).stat()
        if st.st_mtime_ns >= rec.started_ns or st.st_ctime_ns >= rec.started_ns:
            return False  # changed while the build ran: what was built may predate it
        files[path] = [st.st_size, st.st_mode, st.st_mtime_ns, _file_sha(path)]
    listed: dict[str, str] = {}
    for path in sorted(rec.listed | {str(Path(p).parent) for p in files}):
        if counts(path) and Path(path).is_dir():
            listed[path] = _listing(path)
    outputs = _outputs(out_dir)
    if not files or not outputs:
        return False  # a build that read nothing or wrote nothing is not one to vouch for
    data = {"version": STAMP_VERSION, "tool": tool_digest(), "files": files, "listed": listed,
            "out_dir": str(out_dir), "outputs": outputs, "artifacts": artifacts,
            "shown": shown, "warnings": rec.warnings}
    dest = stamp_path(cache, rec.command)
    dest.parent.mkdir(parents=True, exist_ok=True)
    tmp = dest.with_name(f".{dest.name}.{os.getpid()}.tmp")
    try:
        tmp.write_text(json.dumps(data), encoding="utf-8")
        os.replace(tmp, dest)
    finally:
        tmp.unlink(missing_ok=True)
    return True


def _outputs(out_dir: Path) -> dict[str, list[int]]:
    found: dict[str, list[int]] = {}
    for path, st in _every_file(str(out_dir)):
        found[os.path.relpath(path, out_dir)] = [st.st_size, st.st_mtime_ns]
    return found


def _every_file(top: str) -> Iterator[tuple[str, os.stat_result]]:
    try:
        entries = list(os.scandir(top))
    except OSError:
        return
    for entry in entries:
        if entry.is_dir(follow_symlinks=False):
            yield from _every_file(entry.path)
        else:
            yield entry.path, entry.stat(follow_symlinks=False)


def _listing(path: str) -> str:
    try:
        return _sha("\0".join(sorted(p.name for p in Path(path).iterdir())))
    except OSError:
        return ""


def _file_sha(path: str) -> str:
    h = hashlib.sha256()
    with Path(path).open("rb") as f:
        while chunk := f.read(1 << 20):
            h.update(chunk)
    return h.hexdigest()


def _sha(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8", "surrogateescape")).hexdigest()


# --- checking ----------------------------------------------------------------------------

@dataclass(frozen=True, kw_only=True)
class Verdict:
    """An up-to-date build, said without building: what `fpack build` would have printed."""

    message: str
    warnings: tuple[str, ...]


def up_to_date(argv: Sequence[str], environ: Mapping[str, str] | None = None,
               cwd: str | None = None) -> Verdict | None:
    """The verdict for `fpack <argv>` if its stamp still holds in every point; None otherwise
    (then the full build runs and decides)."""
    env = os.environ if environ is None else environ
    cmd = command(argv, cwd=cwd or str(Path.cwd()), environ=env)
    if cmd is None:
        return None
    try:
        data = json.loads(stamp_path(cache_root(env), cmd).read_text(encoding="utf-8"))
        return _holds(data)
    except (OSError, ValueError, KeyError, TypeError, IndexError):
        return None


def _same_file(path: str, size: int, mode: int, mtime: int, digest: str) -> bool:
    """The file as stamped: same size and mode, and same mtime or else the same bytes."""
    try:
        st = Path(path).stat()
    except OSError:
        return False
    if st.st_size != size or st.st_mode != mode:
        return False
    return st.st_mtime_ns == mtime or _file_sha(path) == digest


def _holds(data: dict[str, Any]) -> Verdict | None:
    if data["version"] != STAMP_VERSION or _outputs(Path(data["out_dir"])) != data["outputs"]:
        return None
    for path, (size, mode, mtime, digest) in data["files"].items():
        if not _same_file(path, size, mode, mtime, digest):
            return None
    if any(_listing(path) != digest for path, digest in data["listed"].items()):
        return None
    if data["tool"] != tool_digest():
        return None
    n = int(data["artifacts"])
    noun = "artifact" if n == 1 else "artifacts"
    return Verdict(message=f"up to date: {n} {noun} in {data['shown']}, nothing changed",
                   warnings=tuple(data["warnings"]))
