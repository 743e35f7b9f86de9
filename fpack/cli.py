"""The command line: thin. Parses arguments, calls the library, prints results; one exit path.

Heavy modules (the build machinery, jinja2, boto3, docker, google) are imported inside commands,
so `fpack --help` and `fpack check` start fast. Progress goes to stderr, results to stdout.
"""

from __future__ import annotations

import contextlib
import json
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Optional

import typer

try:  # typer >= 0.16 vendors click; older releases use the click package
    from typer._click import exceptions as click_exceptions
except ImportError:  # pragma: no cover
    from click import exceptions as click_exceptions  # type: ignore[no-redef]

from fpack import build_command
from fpack.errors import FpackError, UsageError, shown_failure

if TYPE_CHECKING:
    from fpack.config import Project
    from fpack.report import ConsoleReporter

# Typer's pretty tracebacks print local variables, which may hold credentials: never enable them.
# Help is click's plain text (rich_markup_mode=None), the same under every typer release: typer's
# rich panels print a type column whose wording changes between releases (0.29 writes `<bool>`
# after every flag). Every option that takes a value names it (metavar), so no type name shows.
# add_completion: `fpack --install-completion` installs completion for the user's shell.
app = typer.Typer(add_completion=True, pretty_exceptions_enable=False, no_args_is_help=True,
                  rich_markup_mode=None,
                  help="Package one Python function for AWS Lambda, Cloud Functions and Docker.")
cache_app = typer.Typer(help="Inspect or empty fpack's cache of resolutions, trees and archives.",
                        no_args_is_help=True, rich_markup_mode=None)
app.add_typer(cache_app, name="cache")


@dataclass
class Options:
    debug: bool = False
    quiet: bool = False
    config: Path | None = None


OPTIONS = Options()
TargetOpt = Annotated[str, typer.Option("--target", "-t", metavar="TARGET",
                                         help="aws, gcp or docker")]
FunctionOpt = Annotated[
    Optional[list[str]],  # noqa: UP045 - typer needs Optional at runtime
    typer.Option("--function", "-f", metavar="NAME", help="Only this function (repeatable)"),
]
OutOpt = Annotated[Path, typer.Option("--out", "-o", metavar="DIR", help="Output directory")]
ChangedOpt = Annotated[Optional[str], typer.Option(  # noqa: UP045
    "--changed-since", metavar="REF",
    help="Only the functions whose files, dependencies, local libraries or fpack.toml tables "
    "changed since this git ref (a branch, tag or commit)")]
JobsOpt = Annotated[Optional[int], typer.Option(  # noqa: UP045
    "--jobs", "-j", min=1, metavar="N", help="Steps run at once (default: the number of cores)")]


def _version(value: bool) -> None:
    """--version: fpack's and the uv it resolves with (run once: `uv --version`)."""
    if not value:
        return
    from fpack import __version__  # noqa: PLC0415
    from fpack.deps import uv  # noqa: PLC0415 - runs uv; only for --version

    try:
        found = uv.version()
    except FpackError as e:
        found = f"uv: {e}"
    typer.echo(f"fpack {__version__}\n{found}")
    raise typer.Exit(0)


@app.callback()
def _global(
    debug: Annotated[bool, typer.Option("--debug", help="Show tracebacks")] = False,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="Only warnings and errors")] = False,
    config: Annotated[Optional[Path], typer.Option("--config", "-c",  # noqa: UP045
                                                  metavar="PATH", help="Path to fpack.toml")
                      ] = None,
    version: Annotated[bool, typer.Option(
        "--version", callback=_version, is_eager=True,
        help="Print fpack's version and uv's, then exit")] = False,
) -> None:
    OPTIONS.debug, OPTIONS.quiet, OPTIONS.config = debug, quiet, config


def _reporter() -> ConsoleReporter:
    from fpack.report import ConsoleReporter  # noqa: PLC0415

    return ConsoleReporter(quiet=OPTIONS.quiet)


def _config_path() -> Path:
    from fpack import config  # noqa: PLC0415

    return OPTIONS.config or config.find_config(Path.cwd())


def _project() -> Project:
    return build_command.load_project(OPTIONS.config)


_target = build_command.target_of
_inputs = build_command.read_inputs  # the environment's part of a command, read once


@app.command(short_help="Scaffold fpack.toml, a handler and requirements.txt.")
def init(directory: Annotated[Path, typer.Argument(metavar="DIR",
                                                   help="Where to create the project")] = Path(),
         name: Annotated[Optional[str], typer.Option(  # noqa: UP045
             metavar="NAME", help="Project name")] = None,
         monorepo: Annotated[bool, typer.Option(
             "--monorepo", help="A uv workspace instead: two functions in services/, each in "
             "a directory of its own, sharing one library in libs/common")] = False) -> None:
    """Scaffold fpack.toml, a portable handler and requirements.txt (or, with --monorepo, a
    two-function uv workspace with one shared library)."""
    from fpack import scaffold  # noqa: PLC0415

    for path in scaffold.init(directory, name=name, monorepo=monorepo):
        typer.echo(f"created {path}")


@app.command(short_help="Build the artifacts of every function for one target.")
def build(
    target: TargetOpt,
    function: FunctionOpt = None,
    out: OutOpt = Path("dist"),
    arch: Annotated[Optional[str], typer.Option(  # noqa: UP045
        metavar="ARCH", help="Override the target's arch: x86_64 or arm64")] = None,
    refresh: Annotated[bool, typer.Option("--refresh", help="Resolve dependencies again")
                       ] = False,
    as_json: Annotated[bool, typer.Option("--json", help="Print results as JSON")] = False,
    sbom: Annotated[bool, typer.Option(
        "--sbom", help="Also write a CycloneDX JSON SBOM beside each artifact")] = False,
    dry_run: Annotated[bool, typer.Option(
        "--dry-run", help="Write nothing: show each artifact, whether it is up to date or why "
        "it would be rebuilt, and its expected sizes")] = False,
    changed_since: ChangedOpt = None,
    jobs: JobsOpt = None,
) -> None:
    """Build the artifacts of every function (or --function) for one target."""
    build_command.run(build_command.BuildOptions(
        target=target, function=tuple(function or ()), out=out, arch=arch, refresh=refresh,
        as_json=as_json, sbom=sbom, dry_run=dry_run, changed_since=changed_since, jobs=jobs,
        config=OPTIONS.config, quiet=OPTIONS.quiet, debug=OPTIONS.debug, argv=tuple(ARGV)))


@app.command(name="ls", short_help="List the functions, their dependency sets and targets.")
def list_functions(
    changed_since: ChangedOpt = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print the list as JSON")] = False,
) -> None:
    """List the functions: directory, handler, trigger, dependency set and target settings."""
    from fpack import inventory  # noqa: PLC0415

    project = _project()
    only = build_command.changed(project, None, changed_since)
    if only == []:
        if as_json:
            typer.echo("[]")
        return
    rows = inventory.describe(project, only or ())
    if as_json:
        typer.echo(json.dumps([r.as_json() for r in rows], indent=2))
        return
    table = [("function", "dir", "handler", "trigger", "dependencies", "set", "targets")]
    table += [(r.name, r.dir or ".", r.handler, r.trigger,
               (f"{r.dependencies} (member {r.member})" if r.member else r.dependencies)
               or "(none)",
               r.set_id, "; ".join(r.targets)) for r in rows]
    build_command.table(table)


@app.command(short_help="Build what is stale, then deploy it to one target.")
def deploy(
    target: TargetOpt,
    function: FunctionOpt = None,
    out: OutOpt = Path("dist"),
    dry_run: Annotated[bool, typer.Option("--dry-run", help="Print the plan only")] = False,
    as_json: Annotated[bool, typer.Option("--json", help="Print what was done as JSON")] = False,
    prune: Annotated[bool, typer.Option(
        "--prune", help="Delete the functions (and their triggers) fpack deployed for this "
        "project that fpack.toml no longer names (aws, gcp; not with --function)")] = False,
    changed_since: ChangedOpt = None,
) -> None:
    """Build what is stale, then deploy every function (or --function) to one target."""
    from fpack import deploy as deploying  # noqa: PLC0415

    project = _project()
    if prune and changed_since:
        raise UsageError("--prune needs the whole project; it cannot be used with "
                         "--changed-since", hint="deploy the whole project to prune")
    function = build_command.changed(project, function, changed_since)
    if function == []:
        return
    out_dir = out if out.is_absolute() else project.root / out
    outcome = deploying.run(project, _target(target), inputs=_inputs(), out=out_dir,
                            reporter=_reporter(), only=function or (), dry_run=dry_run,
                            prune=prune)
    if as_json:
        typer.echo(json.dumps({"dry_run": outcome.dry_run,
                               "plan": [c.line() for c in outcome.changes],
                               "deployments": [d.as_json() for d in outcome.deployments]},
                              indent=2))
        return
    if dry_run:
        typer.echo("plan (--dry-run: nothing was changed):")
        for change in outcome.changes:
            typer.echo(f"  {change.line()}")
    for d in outcome.deployments:
        extra = "  ".join(x for x in (d.version and f"version {d.version}", d.digest, d.url) if x)
        done = {"unchanged": "unchanged", "keep": "kept (not in fpack.toml; --prune deletes it)"
                }.get(d.action, f"{d.action}d")
        done = f"would be {done}" if dry_run and d.action != "unchanged" else done
        typer.echo(f"{d.function}: {d.name} {done}" + (f"  {extra}" if extra else ""))


@app.command(short_help="Build what is stale, then run a function once, locally.")
def invoke(
    name: Annotated[str, typer.Argument(metavar="NAME", help="The function to run")],
    target: TargetOpt,
    event: Annotated[Optional[Path], typer.Option(  # noqa: UP045
        "--event", "-e", metavar="FILE",
        help="A JSON event: Lambda event, CloudEvent or HTTP request")] = None,
    sample: Annotated[Optional[str], typer.Option(  # noqa: UP045
        metavar="NAME", help="A packaged sample instead: a trigger (http, storage, queue, "
        "schedule, stream) or "
        "a name (apigw-v1, apigw-v2, function-url, s3, s3-delete, sqs, sns, eventbridge, "
        "kinesis, dynamodb, gcs, gcs-delete, pubsub, scheduler)")] = None,
    out: Annotated[Path, typer.Option("--out", "-o", metavar="DIR",
                                      help="Where the build writes")] = Path("dist"),
) -> None:
    """Build the function if it is stale (as `fpack build` would), then run it once, locally, on
    its target's runtime; print its answer as JSON."""
    from fpack.local import invoke as invoking  # noqa: PLC0415

    project = _project()
    out_dir = out if out.is_absolute() else project.root / out
    invoked = invoking.invoke(project, _target(target), name, inputs=_inputs(), out=out_dir,
                              reporter=_reporter(), event_file=event, sample=sample)
    if invoked.logs and not OPTIONS.quiet:
        typer.echo(invoked.logs, err=True)
    typer.echo(json.dumps(invoked.reply.to_json(), indent=2))
    if not invoked.reply.ok:
        raise typer.Exit(1)


@app.command(short_help="Build what is stale, then serve an http function locally.")
def serve(
    name: Annotated[str, typer.Argument(metavar="NAME", help="The http function to serve")],
    target: TargetOpt,
    port: Annotated[int, typer.Option(metavar="N", help="Port on 127.0.0.1")] = 8080,
    out: Annotated[Path, typer.Option("--out", "-o", metavar="DIR",
                                      help="Where the build writes")] = Path("dist"),
) -> None:
    """Build the function if it is stale (as `fpack build` would), then serve it on localhost
    from its artifact, until Ctrl-C."""
    from fpack.local.serve import serve as serve_function  # noqa: PLC0415

    project = _project()
    out_dir = out if out.is_absolute() else project.root / out
    serve_function(project, _target(target), name, inputs=_inputs(), out=out_dir, port=port,
                   reporter=_reporter())


@app.command(short_help="Check the project without building (pre-commit hook).")
def check(
    target: Annotated[Optional[list[str]], typer.Option(  # noqa: UP045
        "--target", "-t", metavar="TARGET",
        help="Only this target (repeatable); default: the [targets] configured")
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print the problems as JSON")] = False,
) -> None:
    """Check the project without building: exit 1 with one line per problem (pre-commit hook)."""
    from fpack import check as checking  # noqa: PLC0415
    from fpack.checks import display_path  # noqa: PLC0415
    from fpack.errors import CheckFailed  # noqa: PLC0415

    targets = [_target(t) for t in target or ()]
    report = checking.run(_config_path(), targets=targets, inputs=_inputs(),
                          reporter=_reporter())
    cwd = Path.cwd()
    if as_json:
        typer.echo(json.dumps([{"path": display_path(p.path, cwd), "line": p.line,
                                "code": p.code, "message": p.message} for p in report.problems],
                              indent=2))
    else:
        for problem in report.problems:
            typer.echo(problem.render(cwd))
    if report.problems:
        raise CheckFailed(checking.summary(report))
    if not OPTIONS.quiet and not as_json:
        typer.echo(checking.summary(report))


@cache_app.command("info")
def cache_info() -> None:
    """Where the cache is, how much it holds, and the shared cache's counts for the last build."""
    from fpack.deps import remote  # noqa: PLC0415
    from fpack.report import human_size  # noqa: PLC0415

    inputs = _inputs()
    cache = inputs.cache
    typer.echo(f"cache: {cache.root}")
    for kind, size in cache.size().items():
        typer.echo(f"  {kind:<9} {human_size(size)}")
    url = inputs.shared.url
    if url is None:  # fpack.toml's [cache] url, when there is a project here
        with contextlib.suppress(FpackError):
            url = _project().cache.url
    for line in remote.describe(url, inputs.shared.readonly, remote.last_stats(cache)):
        typer.echo(line)


@cache_app.command("gc")
def cache_gc(
    older_than: Annotated[float, typer.Option(
        "--older-than", metavar="DAYS", min=0,
        help="Remove what no build used in this many days")] = 30,
    max_size: Annotated[Optional[str], typer.Option(  # noqa: UP045
        "--max", metavar="SIZE",
        help="Then remove the least recently used until the cache holds at most this much "
        "(e.g. 2GB; default: FPACK_CACHE_MAX)")] = None,
) -> None:
    """Remove cache entries no build used recently (under the builds' own locks)."""
    from fpack.inputs import parse_size  # noqa: PLC0415
    from fpack.report import human_size  # noqa: PLC0415

    inputs = _inputs()
    cap = parse_size(max_size, "--max") if max_size else inputs.shared.max_size
    done = inputs.cache.gc(older_than=older_than * 86400, max_size=cap)
    entries = "entry" if done.removed == 1 else "entries"
    typer.echo(f"removed {done.removed} {entries} ({human_size(done.freed)}) from "
               f"{inputs.cache.root}; {human_size(done.kept)} kept")


@cache_app.command("clean")
def cache_clean() -> None:
    """Remove everything fpack cached (uv keeps its own cache)."""
    cache = _inputs().cache
    cache.clean()
    typer.echo(f"emptied {cache.root}")


# This run's arguments, for the build stamp (fpack/stamp.py): click does not keep them.
ARGV: list[str] = []


def main(argv: list[str] | None = None) -> int:
    """Run the CLI; the one place that turns errors into messages and exit codes."""
    ARGV[:] = sys.argv[1:] if argv is None else argv
    command = typer.main.get_command(app)
    try:
        # Without standalone mode, click returns (not raises) the code of a `typer.Exit(code)`.
        result = command.main(args=argv, prog_name="fpack", standalone_mode=False)
    except FpackError as e:
        return shown_failure(e, debug=OPTIONS.debug)
    except typer.Exit as e:
        return int(e.exit_code)
    except SystemExit as e:  # --install-completion and shell completion end with sys.exit
        return e.code if isinstance(e.code, int) else 0 if e.code is None else 1
    except typer.Abort:
        print("interrupted", file=sys.stderr)
        return 130
    except click_exceptions.ClickException as e:
        e.show()
        return 2
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    except Exception as e:  # noqa: BLE001 - the last line of defence: a bug, reported as such
        return shown_failure(e, debug=OPTIONS.debug)
    return result if isinstance(result, int) else 0


def run() -> None:
    sys.exit(main())
