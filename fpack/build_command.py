"""`fpack build` as a function of its options: parsed, run and printed without Typer.

Typer and the click command tree it builds cost about 70 ms of every command here, a sixth of a
build that finds its dependencies cached. `fpack/__main__.py` hands a build whose every word
`parse` understands to `main` directly; anything else (--help, a typo, a value Typer would
reject) goes through the CLI, which calls the same `run`, so both paths build and print alike.
Only the standard library and fpack's own light modules are imported here.
"""

from __future__ import annotations

import contextlib
import json
import sys
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Final

from fpack.errors import UsageError, shown_failure

if TYPE_CHECKING:
    from fpack.build import Planned
    from fpack.config import Project
    from fpack.executor import Built
    from fpack.inputs import BuildInputs
    from fpack.platforms import Arch, Target
    from fpack.report import ConsoleReporter


@dataclass(frozen=True, kw_only=True)
class BuildOptions:
    """What `fpack build` was asked for, as its command line says it."""

    target: str
    function: tuple[str, ...] = ()
    out: Path = Path("dist")
    arch: str | None = None
    refresh: bool = False
    as_json: bool = False
    sbom: bool = False
    dry_run: bool = False
    changed_since: str | None = None
    jobs: int | None = None
    config: Path | None = None
    quiet: bool = False
    debug: bool = False
    argv: tuple[str, ...] = field(default=())  # as given, for the build stamp


# The options `parse` knows: does it take a value. Global ones come before `build`.
_GLOBAL: Final = {"--debug": False, "--quiet": False, "-q": False, "--config": True, "-c": True}
_BUILD: Final = {"--target": True, "-t": True, "--function": True, "-f": True, "--out": True,
                 "-o": True, "--arch": True, "--refresh": False, "--json": False,
                 "--sbom": False, "--dry-run": False, "--changed-since": True, "--jobs": True,
                 "-j": True}
_LONG: Final = {"-q": "--quiet", "-c": "--config", "-t": "--target", "-f": "--function",
                "-o": "--out", "-j": "--jobs"}


def parse(argv: Sequence[str]) -> BuildOptions | None:
    """The build `argv` asks for, if every word is one of the options above with a value Typer
    would take as well; else None (the CLI then parses it and says what is wrong)."""
    values: dict[str, list[str]] = {}
    args, i = list(argv), 0
    while i < len(args) and args[i].startswith("-"):
        name, value, i = _option(args, i, _GLOBAL)
        if name is None:
            return None
        values.setdefault(name, []).append(value)
    if i >= len(args) or args[i] != "build":
        return None
    i += 1
    while i < len(args):
        name, value, i = _option(args, i, _BUILD)
        if name is None:
            return None
        values.setdefault(name, []).append(value)
    one = {k: v[-1] for k, v in values.items()}  # as click: the last of a repeated option
    jobs = one.get("--jobs")
    if "--target" not in one or (jobs is not None and not (jobs.isdigit() and int(jobs) >= 1)):
        return None
    return BuildOptions(
        target=one["--target"], function=tuple(values.get("--function", ())),
        out=Path(one.get("--out") or "dist"), arch=one.get("--arch"),
        refresh="--refresh" in one, as_json="--json" in one, sbom="--sbom" in one,
        dry_run="--dry-run" in one, changed_since=one.get("--changed-since"),
        jobs=int(jobs) if jobs is not None else None,
        config=Path(one["--config"]) if one.get("--config") else None,
        quiet="--quiet" in one, debug="--debug" in one, argv=tuple(argv))


def _option(args: list[str], i: int, known: dict[str, bool]) -> tuple[str | None, str, int]:
    """(long name, value, next index) of the option at `i`; (None, "", i) if not known.
    As click reads them: `--out=dir` is a long option and its value, `-o=dir` is "-o" given
    "=dir" (left to the CLI, as an empty value is)."""
    name, eq, inline = args[i].partition("=") if args[i].startswith("--") else (args[i], "", "")
    if name not in known or (eq and not (known[name] and inline)):
        return None, "", i
    long = _LONG.get(name, name)
    if not known[name]:
        return long, "", i + 1
    if eq:
        return long, inline, i + 1
    if i + 1 >= len(args) or args[i + 1].startswith("-"):
        return None, "", i  # a missing value: click's message says so
    return long, args[i + 1], i + 2


def main(options: BuildOptions) -> int:
    """Run the build, and turn its failure into a message and an exit code as the CLI does."""
    try:
        run(options)
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    except Exception as e:  # noqa: BLE001 - FpackError and the last line of defence
        return shown_failure(e, debug=options.debug)
    return 0


def run(o: BuildOptions) -> None:
    """Build the artifacts of every function (or o.function) for one target, and print them."""
    from fpack import stamp  # noqa: PLC0415
    from fpack.platforms import ARCHES  # noqa: PLC0415

    # Recorded from the start, fpack.toml's reading included: the stamp lists what was read.
    recorder = None if o.dry_run else stamp.record(o.argv, cwd=str(Path.cwd()))
    built: list[Built] | None = None
    try:
        project = load_project(o.config)
        function = changed(project, list(o.function) or None, o.changed_since)
        if function == []:
            return
        chosen = next((a for a in ARCHES if a == o.arch), None)
        if o.arch is not None and chosen is None:
            raise UsageError(f'--arch {o.arch}: expected "x86_64" or "arm64"')
        out_dir = o.out if o.out.is_absolute() else project.root / o.out
        target = target_of(o.target)
        inputs = read_inputs()
        _start_sets(project, target, inputs, function=function, arch=chosen, refresh=o.refresh)
        from fpack import build as building  # noqa: PLC0415 - imported while uv resolves

        if o.dry_run:
            with reporting(o.quiet) as reporter:
                planned = building.dry_run(project, target, inputs=inputs, out=out_dir,
                                           reporter=reporter, only=function or (),
                                           arch=chosen, refresh=o.refresh, jobs=o.jobs)
            print_planned(planned, o.as_json, project.root)
            return
        with reporting(o.quiet) as reporter:
            built = building.build(project, target, inputs=inputs, out=out_dir,
                                   reporter=reporter, only=function or (), arch=chosen,
                                   refresh=o.refresh, sbom=o.sbom, jobs=o.jobs)
        if recorder is not None:
            recorder.warnings = list(reporter.warnings)
            stamp.write(recorder, cache=inputs.cache.root,
                        out_dir=out_dir / target, artifacts=len(built),
                        shown=shown(out_dir / target, project.root))
    finally:
        stamp.stop()
        _finish_sets(failed=built is None)
    print_built(built, o.as_json, project.root, out_dir / target)


def _start_sets(project: Project, target: Target, inputs: BuildInputs, *,
                function: list[str] | None, arch: Arch | None, refresh: bool) -> None:
    """Start resolving the dependency sets now, before the engine and the targets are imported:
    uv works on them meanwhile (fpack/deps/ahead.py)."""
    from fpack.deps import ahead  # noqa: PLC0415

    ahead.start(project, target, inputs, only=function or (), arch=arch, refresh=refresh)


def _finish_sets(*, failed: bool) -> None:
    if "fpack.deps.ahead" in sys.modules:  # nothing was started if it was never imported
        sys.modules["fpack.deps.ahead"].finish(failed=failed)


def load_project(config_path: Path | None) -> Project:
    from fpack import config  # noqa: PLC0415

    return config.load(config_path or config.find_config(Path.cwd()))


def target_of(value: str) -> Target:
    from fpack.platforms import TARGETS  # noqa: PLC0415

    for target in TARGETS:
        if value == target:
            return target
    raise UsageError(f'--target {value}: expected "aws", "gcp" or "docker"')


def read_inputs() -> BuildInputs:
    """The environment's part of a build, read once per command (fpack/inputs.py)."""
    from fpack import inputs  # noqa: PLC0415

    return inputs.read()


@contextlib.contextmanager
def reporting(quiet: bool) -> Iterator[ConsoleReporter]:
    """The command's reporter; its live progress lines are cleared however the work ends."""
    from fpack.report import ConsoleReporter  # noqa: PLC0415

    reporter = ConsoleReporter(quiet=quiet)
    try:
        yield reporter
    finally:
        reporter.close()


def changed(project: Project, function: list[str] | None, ref: str | None) -> list[str] | None:
    """--changed-since: the functions (of --function, if given) whose inputs changed since
    `ref`; [] (after saying so) when there are none, so the command has nothing to do."""
    if ref is None:
        return function
    from fpack import changes  # noqa: PLC0415

    found = [f for f in changes.changed_functions(project, ref)
             if not function or f in function]
    if not found:
        print(f"nothing changed since {ref}: no function to consider", file=sys.stderr)
        return []
    print(f"changed since {ref}: {', '.join(found)}", file=sys.stderr)
    return found


def print_built(built: list[Built], as_json: bool, root: Path, out_dir: Path) -> None:
    from fpack.manifest import DockerImage  # noqa: PLC0415
    from fpack.report import human_size, plural  # noqa: PLC0415

    if as_json:
        print(json.dumps([b.manifest.to_json(root) for b in built], indent=2))
        return
    if built and not any(b.rebuilt for b in built):
        print(f"up to date: {plural(len(built), 'artifact')} in {shown(out_dir, root)}, "
              "nothing changed")
        return
    images = any(b.manifest.kind == "image" for b in built)
    # An image's size is the image's, and its id stands where a zip's sha256 would.
    rows = [("artifact", "runtime", "arch", "handler", "image" if images else "zipped",
             "app + deps" if images else "unzipped", "build", "image id" if images else "sha256")]
    for b in built:
        m = b.manifest
        name = m.image if isinstance(m, DockerImage) else shown(m.path, root)
        rows.append((name, m.runtime, m.arch, m.handler or "(layer)", human_size(m.size),
                     human_size(m.unpacked_size), "rebuilt" if b.rebuilt else "up to date",
                     m.sha256))
    table(rows)


def print_planned(planned: list[Planned], as_json: bool, root: Path) -> None:
    from fpack.build import entries  # noqa: PLC0415
    from fpack.report import human_size  # noqa: PLC0415

    if as_json:
        print(json.dumps([{
            "path": shown(p.plan.path, root), "up_to_date": not p.reasons,
            "reasons": list(p.reasons), "zipped": p.zipped, "unpacked": p.unpacked,
            "entries": entries(p.plan)} for p in planned], indent=2))
        return
    rows = [("artifact", "zipped", "unzipped", "would")]
    for p in planned:
        would = "stay (up to date)" if not p.reasons else "rebuild: " + "; ".join(p.reasons)
        rows.append((shown(p.plan.path, root),
                     "-" if p.zipped is None else human_size(p.zipped), human_size(p.unpacked),
                     would))
    table(rows)
    print("(--dry-run: nothing was written; sizes are before bytecode)", file=sys.stderr)


def shown(path: Path, root: Path) -> str:
    return str(path.relative_to(root) if path.is_relative_to(root) else path)


def table(rows: Sequence[Sequence[str]]) -> None:
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    for row in rows:
        print("  ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=True)).rstrip())

