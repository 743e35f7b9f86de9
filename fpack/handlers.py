"""Finding a function's handler in the source snapshot, by reading code, never importing it.

Importing user code would run it (and need its dependencies installed on the host, for the host's
platform: exactly what fpack avoids). The AST tells whether the module exists, whether it defines
the attribute, and how many positional parameters a function takes; `signature_problem` judges that
against how the handler's style and trigger call it (used by planning and by `fpack check`).
"""

from __future__ import annotations

import ast
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Final, Literal

from fpack.sources import SourceFile


@dataclass(frozen=True, kw_only=True)
class HandlerInfo:
    path: str  # the module's file, relative to the project root
    line: int
    kind: str  # "function", "async function", "class", "assignment", "import"
    positional: int | None  # positional parameters of a function; None when unknown
    required: int | None = None  # of those, the ones without a default
    annotation: str | None = None  # the first parameter's annotation, e.g. "fpack.Request"


@dataclass(frozen=True, kw_only=True)
class HandlerProblem:
    path: str | None
    line: int
    message: str
    reason: Literal["no-module", "syntax", "no-attribute"]


def module_candidates(module: str) -> tuple[str, str]:
    base = module.replace(".", "/")
    return f"{base}.py", f"{base}/__init__.py"


def find(module: str, attr: str, files: Iterable[SourceFile]) -> HandlerInfo | HandlerProblem:
    """Where `module:attr` is defined among the packaged files, or why it cannot be found."""
    by_path = {f.path: f for f in files}
    source = next((by_path[c] for c in module_candidates(module) if c in by_path), None)
    if source is None:
        a, b = module_candidates(module)
        return HandlerProblem(path=None, line=0, reason="no-module", message=(
            f'module "{module}" is not among the packaged files (looked for {a} and {b}); '
            "check the handler's module path and [project] include"))
    try:
        tree = ast.parse(source.data, filename=source.path)
    except SyntaxError as e:
        return HandlerProblem(path=source.path, line=e.lineno or 0, reason="syntax",
                              message=f"syntax error: {e.msg}")
    defined = _top_level(tree)
    if attr not in defined:
        names = ", ".join(sorted(n for n in defined if not n.startswith("_"))) or "nothing public"
        return HandlerProblem(path=source.path, line=1, reason="no-attribute", message=(
            f'module "{module}" has no attribute "{attr}"; it defines: {names}'))
    node = defined[attr]
    positional, required, annotation = _parameters(node)
    return HandlerInfo(path=source.path, line=getattr(node, "lineno", 1), kind=_kind(node),
                       positional=positional, required=required, annotation=annotation)


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


def _parameters(node: ast.AST) -> tuple[int | None, int | None, str | None]:
    """(positional, required positional, first annotation) of a function; Nones when unknown."""
    if not isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
        return None, None, None
    args = node.args
    params = [*args.posonlyargs, *args.args]
    first = params[0].annotation if params else None
    annotation = ast.unparse(first) if first is not None else None
    if args.vararg is not None:
        return None, None, annotation
    return len(params), len(params) - len(args.defaults), annotation


# How the runtime calls a handler of each style: positional arguments, and the parameter list to
# suggest per trigger. Styles not listed here (an app object, say) are not judged by signature.
CALLS: Final[dict[str, tuple[int, dict[str, str]]]] = {
    "portable": (1, {"http": "(request)", "storage": "(event)", "queue": "(message)",
                     "schedule": "(event)", "stream": "(record)"}),
    "lambda": (2, {}),
    "functions-framework": (1, {"http": "(request)"}),
    "asgi": (3, {"http": "(scope, receive, send)"}),  # usually an instance: app = FastAPI()
    "wsgi": (2, {"http": "(environ, start_response)"}),  # usually an instance: app = Flask(...)
}
_DEFAULT_SHAPE: Final = {"lambda": "(event, context)", "functions-framework": "(cloud_event)"}
# What a portable handler receives, by trigger (fpack/runtime/api.py).
PORTABLE_TYPES: Final[dict[str, str]] = {
    "http": "Request", "storage": "StorageEvent", "queue": "Message", "schedule": "ScheduleEvent",
    "stream": "Record",
}


def signature_problem(info: HandlerInfo, attr: str, *, style: str, trigger: str) -> str | None:
    """Why a handler of this shape cannot be called the way `style` and `trigger` call it."""
    if style not in CALLS or info.kind not in ("function", "async function"):
        return None
    want, shapes = CALLS[style]
    shape = shapes.get(trigger) or _DEFAULT_SHAPE.get(style, "(event)")
    if info.kind == "async function" and style in ("portable", "lambda"):
        return (f"{attr} is an async function; a {style} handler is called synchronously and "
                f"must be a plain function: def {attr}{shape}")
    if info.positional is not None and not (info.required or 0) <= want <= info.positional:
        count = (str(info.positional) if info.required in (None, info.positional)
                 else f"{info.required} to {info.positional}")
        return (f"{attr} takes {count} positional parameter(s); a {style} {trigger} handler "
                f"takes {want}: def {attr}{shape}")
    return _annotation_problem(info, attr, style=style, trigger=trigger)


def _annotation_problem(info: HandlerInfo, attr: str, *, style: str, trigger: str) -> str | None:
    """A portable handler annotated with another trigger's type was written for that trigger."""
    written = (info.annotation or "").rsplit(".", 1)[-1].strip("'\"")
    expected = PORTABLE_TYPES.get(trigger)
    if style != "portable" or written not in PORTABLE_TYPES.values() or written == expected:
        return None
    return (f"{attr}'s parameter is annotated {info.annotation}, but a {trigger} handler receives "
            f"fpack.{expected}: check trigger = \"{trigger}\" or the handler")
