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
    """What a handler's module says about it, read without importing the module."""

    path: str  # the module's file, relative to the project root
    line: int
    kind: str  # "function", "async function", "class", "assignment", "import"
    positional: int | None  # positional parameters of a function; None when unknown
    required: int | None = None  # of those, the ones without a default
    annotation: str | None = None  # the first parameter's annotation, e.g. "fpack.Request"
    params: tuple[str, ...] = ()  # a function's positional parameters' names
    decorators: tuple[str, ...] = ()  # a function's decorators, dotted: "functions_framework.http"
    value: str | None = None  # an assignment's callee, dotted: "FastAPI" for app = FastAPI()


@dataclass(frozen=True, kw_only=True)
class HandlerProblem:
    """Why a handler cannot be found: no module, a syntax error, or no such attribute."""

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
    params: tuple[str, ...] = ()
    decorators: tuple[str, ...] = ()
    if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
        params = tuple(a.arg for a in (*node.args.posonlyargs, *node.args.args))
        decorators = tuple(_dotted(d) for d in node.decorator_list)
    value = _dotted(node.value) if isinstance(node, (ast.Assign, ast.AnnAssign)) and \
        isinstance(node.value, ast.Call) else None
    return HandlerInfo(path=source.path, line=getattr(node, "lineno", 1), kind=_kind(node),
                       positional=positional, required=required, annotation=annotation,
                       params=params, decorators=tuple(d for d in decorators if d),
                       value=value or None)


def _dotted(node: ast.AST | None) -> str:
    """`a.b.c` of a name, an attribute chain or a call of one (`functions_framework.http`,
    `FastAPI()` -> "FastAPI"); "" for anything else."""
    if isinstance(node, ast.Call):
        node = node.func
    parts = []
    while isinstance(node, ast.Attribute):
        parts.append(node.attr)
        node = node.value
    if not isinstance(node, ast.Name):
        return ""
    return ".".join([node.id, *reversed(parts)])


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


# Web application objects by their constructor (the last part of the callee's dotted name; a
# dotted name for those that differ by module: falcon.App is WSGI, falcon.asgi.App ASGI).
WEB_APPS: Final[dict[str, str]] = {
    "FastAPI": "asgi", "Starlette": "asgi", "Quart": "asgi", "Litestar": "asgi", "Sanic": "asgi",
    "get_asgi_application": "asgi", "falcon.asgi.App": "asgi",
    "Flask": "wsgi", "Bottle": "wsgi", "get_wsgi_application": "wsgi", "make_wsgi_app": "wsgi",
    "falcon.App": "wsgi", "falcon.API": "wsgi",
}
# Where each style runs (config.STYLE_TARGETS), as the fix names it.
_RUNS_ON: Final = {"lambda": "aws and docker", "functions-framework": "gcp and docker",
                   "asgi": "aws, gcp and docker; http only",
                   "wsgi": "aws, gcp and docker; http only"}
_FF_DECORATORS: Final = ("http", "cloud_event", "typed")


def signature_problem(info: HandlerInfo, attr: str, *, style: str, trigger: str) -> str | None:
    """Why a handler of this shape cannot be called the way `style` and `trigger` call it; when
    the handler is written for another style (Lambda's, functions-framework's, an ASGI or WSGI
    app), the message says which `style = "..."` packages it as it is."""
    if style not in CALLS:
        return None
    if info.kind not in ("function", "async function"):
        return _app_problem(info, attr, style=style)
    want, shapes = CALLS[style]
    shape = shapes.get(trigger) or _DEFAULT_SHAPE.get(style, "(event)")
    other = _written_for(info) if style == "portable" else None
    if other == "functions-framework":
        decorator = next(d for d in info.decorators if _is_ff(d))
        return (f"{attr} is a functions-framework handler (@{decorator}); a portable handler "
                f"takes an fpack.{PORTABLE_TYPES.get(trigger, 'Request')}: def {attr}{shape}. "
                f"{_set_style(other)}")
    if info.kind == "async function" and style in ("portable", "lambda"):
        fix = f". {_set_style(other)}" if other == "asgi" else ""
        return (f"{attr} is an async function; a {style} handler is called synchronously and "
                f"must be a plain function: def {attr}{shape}{fix}")
    if info.positional is not None and not (info.required or 0) <= want <= info.positional:
        count = (str(info.positional) if info.required in (None, info.positional)
                 else f"{info.required} to {info.positional}")
        noun = "parameter" if count == "1" else "parameters"
        fix = f". {_set_style(other)}" if other else ""
        return (f"{attr} takes {count} positional {noun}; a {style} {trigger} handler "
                f"takes {want}: def {attr}{shape}{fix}")
    return _annotation_problem(info, attr, style=style, trigger=trigger)


def _written_for(info: HandlerInfo) -> str | None:
    """The style a function handler was evidently written for, from its decorators and its
    parameters: functions-framework's decorators, ASGI's (scope, receive, send), WSGI's
    (environ, start_response), Lambda's (event, context)."""
    if any(_is_ff(d) for d in info.decorators):
        return "functions-framework"
    if info.kind == "async function" and info.positional == 3:
        return "asgi"
    if info.params[:2] == ("environ", "start_response"):
        return "wsgi"
    if info.required == 2 or (info.positional == 2 and info.required in (None, 2)):
        return "lambda"
    return None


def _is_ff(decorator: str) -> bool:
    module, _, name = decorator.rpartition(".")
    return module == "functions_framework" and name in _FF_DECORATORS


def _set_style(style: str) -> str:
    what = {"lambda": "a Lambda handler", "functions-framework": "a functions-framework handler",
            "asgi": "an ASGI app", "wsgi": "a WSGI app"}[style]
    return (f'To package it as {what}, set style = "{style}" in its [functions] table '
            f"(runs on {_RUNS_ON[style]})")


def _app_problem(info: HandlerInfo, attr: str, *, style: str) -> str | None:
    """An ASGI or WSGI application object (app = FastAPI(), app = Flask(__name__)) served under
    a style that is not its own."""
    if info.value is None or style not in ("portable", "asgi", "wsgi"):
        return None
    kind = WEB_APPS.get(info.value) or WEB_APPS.get(info.value.rpartition(".")[2])
    if kind is None or kind == style:
        return None
    an = "an ASGI" if kind == "asgi" else "a WSGI"
    if style == "portable":
        return (f"{attr} is {an} application ({info.value}), not a portable handler function. "
                f"{_set_style(kind)}")
    return (f"{attr} is {an} application ({info.value}), but style = \"{style}\" serves "
            f"{style.upper()} applications. {_set_style(kind)}")


def _annotation_problem(info: HandlerInfo, attr: str, *, style: str, trigger: str) -> str | None:
    """A portable handler annotated with another trigger's type was written for that trigger."""
    written = (info.annotation or "").rsplit(".", 1)[-1].strip("'\"")
    expected = PORTABLE_TYPES.get(trigger)
    if style != "portable" or written not in PORTABLE_TYPES.values() or written == expected:
        return None
    return (f"{attr}'s parameter is annotated {info.annotation}, but a {trigger} handler receives "
            f"fpack.{expected}: check trigger = \"{trigger}\" or the handler")
