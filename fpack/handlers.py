"""Finding a function's handler in the source snapshot, by reading code, never importing it.

Importing user code would run it (and need its dependencies installed on the host, for the host's
platform: exactly what fpack avoids). The AST tells whether the module exists, whether it defines
the attribute, and how many positional parameters a function takes.
"""

from __future__ import annotations

import ast
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from fpack.sources import SourceFile


@dataclass(frozen=True, kw_only=True)
class HandlerInfo:
    path: str  # the module's file, relative to the project root
    line: int
    kind: str  # "function", "async function", "class", "assignment", "import"
    positional: int | None  # positional parameters of a function; None when unknown


@dataclass(frozen=True, kw_only=True)
class HandlerProblem:
    path: str | None
    line: int
    message: str


def module_candidates(module: str) -> tuple[str, str]:
    base = module.replace(".", "/")
    return f"{base}.py", f"{base}/__init__.py"


def find(module: str, attr: str, files: Iterable[SourceFile]) -> HandlerInfo | HandlerProblem:
    """Where `module:attr` is defined among the packaged files, or why it cannot be found."""
    by_path = {f.path: f for f in files}
    source = next((by_path[c] for c in module_candidates(module) if c in by_path), None)
    if source is None:
        a, b = module_candidates(module)
        return HandlerProblem(path=None, line=0, message=(
            f'module "{module}" is not among the packaged files (looked for {a} and {b}); '
            "check the handler's module path and [project] include"))
    try:
        tree = ast.parse(Path(source.abspath).read_bytes(), filename=source.path)
    except SyntaxError as e:
        return HandlerProblem(path=source.path, line=e.lineno or 0,
                              message=f"syntax error: {e.msg}")
    defined = _top_level(tree)
    if attr not in defined:
        names = ", ".join(sorted(n for n in defined if not n.startswith("_"))) or "nothing public"
        return HandlerProblem(path=source.path, line=1, message=(
            f'module "{module}" has no attribute "{attr}"; it defines: {names}'))
    node = defined[attr]
    return HandlerInfo(path=source.path, line=getattr(node, "lineno", 1), kind=_kind(node),
                       positional=_positional(node))


def _top_level(tree: ast.Module) -> dict[str, ast.AST]:
    names: dict[str, ast.AST] = {}
    for node in tree.body:
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            names[node.name] = node
        elif isinstance(node, ast.Assign):
            for target in node.targets:
                if isinstance(target, ast.Name):
                    names[target.id] = node
        elif isinstance(node, (ast.AnnAssign, ast.AugAssign)) and isinstance(node.target, ast.Name):
            names[node.target.id] = node
        elif isinstance(node, (ast.Import, ast.ImportFrom)):
            for alias in node.names:
                names[(alias.asname or alias.name).split(".")[0]] = node
    return names


def _kind(node: ast.AST) -> str:
    match node:
        case ast.FunctionDef():
            return "function"
        case ast.AsyncFunctionDef():
            return "async function"
        case ast.ClassDef():
            return "class"
        case ast.Import() | ast.ImportFrom():
            return "import"
        case _:
            return "assignment"


def _positional(node: ast.AST) -> int | None:
    if not isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
        return None
    args = node.args
    if args.vararg is not None:
        return None
    return len(args.posonlyargs) + len(args.args)
