"""FP105/FP205: what breaks under Lambda SnapStart, checked when `[targets.aws] snap_start = true`
and aws is among the checked targets.

SnapStart runs a function's init once, snapshots the initialised memory, and restores every new
instance from that snapshot. So:
- FP105, configuration Lambda refuses with SnapStart: `warm` on a function (provisioned
  concurrency, which Lambda does not combine with SnapStart), and container images
  (`[targets.docker] flavor = "lambda"` with `[targets.aws] role` deploys images to Lambda with the
  aws settings).
  Ephemeral storage over 512 MB and EFS, Lambda's other refusals, are settings fpack.toml does not
  have, so nothing fpack deploys can cross them.
- FP205, code that works until it is restored: a handler's module that makes, at import time, a
  value each instance must have its own (`random.*`, `uuid.uuid1`/`uuid4`, `secrets.*`,
  `os.urandom`, an unseeded `random.Random()`) gives every restored instance the same one.
  Read from the AST, never imported; calls inside functions run per invocation and are fine.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator, Sequence
from typing import Final

from fpack import handlers
from fpack.checks import Problem, toml_line
from fpack.config import Project
from fpack.platforms import Target
from fpack.sources import SourceFile

# module -> the names whose call at import time makes a value that must be unique per instance
# (None: any attribute of the module).
UNIQUE: Final[dict[str, frozenset[str] | None]] = {
    "random": None,
    "secrets": None,
    "uuid": frozenset({"uuid1", "uuid4"}),
    "os": frozenset({"urandom"}),
}


def check(project: Project, files: Sequence[SourceFile], targets: Sequence[Target],
          toml: str) -> list[Problem]:
    if "aws" not in targets or not project.aws.snap_start:
        return []
    return [*_config(project, toml), *_modules(project, files)]


def _config(project: Project, toml: str) -> list[Problem]:
    problems = [
        Problem(path=project.config_path, line=toml_line(toml, f"functions.{fn.name}", "warm"),
                code="FP105", message=f"[functions.{fn.name}] warm = {fn.warm}: Lambda does not "
                "combine provisioned concurrency with SnapStart ([targets.aws] snap_start = "
                "true); SnapStart's restores are the cold-start cure: remove warm, or snap_start")
        for fn in project.functions.values() if fn.warm is not None]
    if project.docker.flavor == "lambda" and project.aws.role and "docker" in project.targets:
        problems.append(Problem(
            path=project.config_path, line=toml_line(toml, "targets.docker", "flavor"),
            code="FP105", message='[targets.docker] flavor = "lambda": its images are deployed '
            "to Lambda with [targets.aws]'s settings, and SnapStart (snap_start = true) takes "
            "zip packages only; deploy the zips with --target aws, or remove snap_start"))
    return problems


def _modules(project: Project, files: Sequence[SourceFile]) -> list[Problem]:
    by_path = {f.path: f for f in files}
    problems: list[Problem] = []
    seen: set[str] = set()
    for fn in project.functions.values():
        source = next((by_path[c] for c in handlers.module_candidates(fn.module)
                       if c in by_path), None)
        if source is None or source.path in seen:
            continue  # a missing module is FP201's
        seen.add(source.path)
        try:
            tree = ast.parse(source.data, filename=source.path)
        except SyntaxError:
            continue  # FP203's
        problems += [Problem(
            path=project.root / source.path, line=line, code="FP205",
            message=f"{call}() at import time: under SnapStart ([targets.aws] snap_start = true) "
            "every instance is restored from one snapshot of the imported module and gets the "
            "same value; make it inside the handler")
            for line, call in import_time_calls(tree)]
    return problems


def import_time_calls(tree: ast.Module) -> Iterator[tuple[int, str]]:
    """(line, dotted name) of each call that makes a per-instance value while the module is
    imported: its top level and class bodies, not function bodies or lambdas."""
    aliases = _aliases(tree)
    for node in _import_time_nodes(tree):
        if isinstance(node, ast.Call) and (name := _called(node.func, aliases)) is not None:
            if name == "random.Random" and (node.args or node.keywords):
                continue  # seeded: the same sequence in every instance is what was asked for
            yield node.lineno, name


def _aliases(tree: ast.Module) -> dict[str, str]:
    """Local name -> the dotted name it stands for, for the modules in UNIQUE."""
    names: dict[str, str] = {}
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names |= {(a.asname or a.name): a.name for a in node.names if a.name in UNIQUE}
        elif isinstance(node, ast.ImportFrom) and node.module in UNIQUE and node.level == 0:
            names |= {(a.asname or a.name): f"{node.module}.{a.name}" for a in node.names}
    return names


def _import_time_nodes(tree: ast.Module) -> Iterator[ast.AST]:
    stack: list[ast.AST] = list(tree.body)
    while stack:
        node = stack.pop()
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.Lambda):
            # Its decorators and defaults run at import; its body runs when called.
            stack += [*getattr(node, "decorator_list", ()), *node.args.defaults,
                      *(d for d in node.args.kw_defaults if d is not None)]
            continue
        yield node
        stack += ast.iter_child_nodes(node)


def _called(func: ast.expr, aliases: dict[str, str]) -> str | None:
    """The dotted name a call's function stands for, when it is one UNIQUE lists."""
    if isinstance(func, ast.Name):
        dotted = aliases.get(func.id)
    elif isinstance(func, ast.Attribute) and isinstance(func.value, ast.Name) \
            and func.value.id in aliases:
        dotted = f"{aliases[func.value.id]}.{func.attr}"
    else:
        return None
    if dotted is None or "." not in dotted:
        return None
    module, _, attr = dotted.partition(".")
    allowed = UNIQUE.get(module, frozenset())
    return dotted if allowed is None or attr in allowed else None
