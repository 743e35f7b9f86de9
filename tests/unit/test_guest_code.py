"""Guest code keeps the runtime's rules: what runs inside artifacts (fpack/__init__.py,
fpack/runtime/) and inside containers (fpack/guest/) parses as Python 3.9 and imports the standard
library only, the runtime also itself (fpack/runtime/DESIGN.md, fpack/guest/DESIGN.md); and the
build scripts are pinned to the cache format that names what they build."""

from __future__ import annotations

import ast
import hashlib
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from fpack import guest

PACKAGE = Path(__file__).resolve().parents[2] / "fpack"
RUNTIME_FILES = [PACKAGE / "__init__.py", *sorted((PACKAGE / "runtime").rglob("*.py"))]
GUEST_FILES = sorted((PACKAGE / "guest").rglob("*.py"))
# In the host's sys.stdlib_module_names but not in Python 3.9's standard library
# (https://docs.python.org/3/whatsnew/3.11.html#new-modules, .../3.14.html#new-modules).
NEWER_THAN_39 = frozenset({"tomllib", "annotationlib", "compression"})
# The one third-party code the runtime may import, and only inside the function that needs it:
# the docker image's application server (fpack/runtime/DESIGN.md).
LAZY_THIRD_PARTY = {"runtime/appserver.py": frozenset({"uvicorn", "gunicorn"})}
BUILTIN_TYPES = frozenset({"bool", "bytes", "dict", "float", "frozenset", "int", "list", "object",
                           "set", "str", "tuple", "type"})

# sha256 of each build script, with the cache format its output is stored under. A change to a
# script fails here: if it changes what a build produces, bump the format, then the hash.
SCRIPTS = {
    "build_wheel.sh": ("b7086a873e78253fcec1cc88a3d42c1fc26ba072559928a2d55da87937302746",
                       "BUILD_FORMAT 1"),
    "compile.sh": ("6a93e17158ae620a4863b9a7542881f55bab8fd8d4084504ba9f26a857822d19",
                   "compiled trees are keyed by keys.TREE_FORMAT"),
}


def _name(path: Path) -> str:
    return path.relative_to(PACKAGE).as_posix()


def _parse(path: Path) -> ast.Module:
    try:
        return ast.parse(path.read_text(encoding="utf-8"), str(path), feature_version=(3, 9))
    except SyntaxError as e:
        pytest.fail(f"fpack/{_name(path)}:{e.lineno}: not Python 3.9: {e.msg}")


def _package_of(path: Path) -> list[str]:
    return ["fpack", *path.relative_to(PACKAGE).parent.parts]


def imported(path: Path, tree: ast.Module) -> Iterator[tuple[int, str, bool]]:
    """(line, dotted module, inside a function) of every import in the file, however nested."""
    functions = [n for n in ast.walk(tree) if isinstance(n, (ast.FunctionDef,
                                                             ast.AsyncFunctionDef))]
    nested = {id(n) for f in functions for n in ast.walk(f) if n is not f}
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield node.lineno, alias.name, id(node) in nested
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:  # relative: from the file's own package up
                package = _package_of(path)
                package = package[:len(package) - node.level + 1]
                base = ".".join([*package, *([base] if base else [])])
            for alias in node.names:
                sub = f"{base}.{alias.name}"
                is_module = (PACKAGE.parent / sub.replace(".", "/")).with_suffix(".py").is_file() \
                    or (PACKAGE.parent / sub.replace(".", "/")).is_dir()
                yield node.lineno, sub if is_module else base, id(node) in nested


def import_problems(path: Path, *, runtime: bool) -> list[str]:
    problems = []
    where = _name(path)
    for line, module, in_function in imported(path, _parse(path)):
        top = module.partition(".")[0]
        if top in sys.stdlib_module_names and top not in NEWER_THAN_39:
            continue
        if runtime and (module in ("fpack", "fpack.runtime") or
                        module.startswith("fpack.runtime.")):
            continue
        if in_function and top in LAZY_THIRD_PARTY.get(where, ()):
            continue
        rule = "the runtime imports the standard library and fpack.runtime only" if runtime \
            else "guest scripts import the standard library only"
        problems.append(f"fpack/{where}:{line}: imports {module}: {rule}")
    return problems


def _annotations(tree: ast.Module) -> set[int]:
    """ids of the nodes in annotations, which `from __future__ import annotations` leaves as
    strings, never evaluated."""
    roots: list[ast.expr | None] = []
    for node in ast.walk(tree):
        if isinstance(node, (ast.AnnAssign, ast.arg)):
            roots.append(node.annotation)
        elif isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
            roots.append(node.returns)
    return {id(n) for root in roots if root is not None for n in ast.walk(root)}


def _is_type(node: ast.expr) -> bool:
    return (isinstance(node, ast.Constant) and node.value is None) or \
        isinstance(node, ast.Subscript) or \
        (isinstance(node, ast.Name) and node.id in BUILTIN_TYPES)


def union_problems(path: Path) -> list[str]:
    """`X | Y` of types where Python evaluates it: a TypeError on 3.9."""
    tree = _parse(path)
    where = _name(path)
    if not any(isinstance(n, ast.ImportFrom) and n.module == "__future__" and
               any(a.name == "annotations" for a in n.names) for n in tree.body):
        return [f"fpack/{where}:1: no `from __future__ import annotations`: Python 3.9 would "
                "evaluate its annotations"]
    skip = _annotations(tree)
    return [f"fpack/{where}:{node.lineno}: `{ast.unparse(node)}` is evaluated at run time: "
            "spell it Optional[...] / Union[...] for Python 3.9"
            for node in ast.walk(tree)
            if isinstance(node, ast.BinOp) and isinstance(node.op, ast.BitOr)
            and id(node) not in skip and (_is_type(node.left) or _is_type(node.right))]


def test_there_is_guest_and_runtime_code_to_check() -> None:
    assert {p.name for p in GUEST_FILES} >= {"lambda_rapi.py", "http_probe.py", "__init__.py"}
    assert {p.name for p in RUNTIME_FILES} >= {"__init__.py", "api.py", "server.py",
                                                "appserver.py"}


@pytest.mark.parametrize("path", RUNTIME_FILES, ids=_name)
def test_the_runtime_imports_the_standard_library_and_itself_only(path: Path) -> None:
    assert import_problems(path, runtime=True) == []


@pytest.mark.parametrize("path", GUEST_FILES, ids=_name)
def test_guest_scripts_import_the_standard_library_only(path: Path) -> None:
    assert import_problems(path, runtime=False) == []


@pytest.mark.parametrize("path", RUNTIME_FILES + GUEST_FILES, ids=_name)
def test_no_union_of_types_is_evaluated_at_run_time(path: Path) -> None:
    assert union_problems(path) == []


def test_the_checks_catch_what_they_are_for(tmp_path: Path, monkeypatch: pytest.MonkeyPatch
                                            ) -> None:
    fake = tmp_path / "fpack"
    (fake / "guest").mkdir(parents=True)
    monkeypatch.setattr(f"{__name__}.PACKAGE", fake)
    script = fake / "guest" / "probe.py"
    script.write_text("from __future__ import annotations\nimport json\n\n"
                      "def main() -> None:\n    try:\n        import requests\n"
                      "    except ImportError:\n        from fpack import config\n"
                      "Alias = dict[str, int] | None\n")
    assert import_problems(script, runtime=False) == [
        "fpack/guest/probe.py:6: imports requests: guest scripts import the standard library only",
        "fpack/guest/probe.py:8: imports fpack: guest scripts import the standard library only",
    ]
    assert union_problems(script) == [
        "fpack/guest/probe.py:9: `dict[str, int] | None` is evaluated at run time: spell it "
        "Optional[...] / Union[...] for Python 3.9"]
    script.write_text("match x:\n    case 1:\n        pass\n")
    with pytest.raises(pytest.fail.Exception,
                       match=r"^fpack/guest/probe.py:\d+: not Python 3.9: Pattern matching"):
        import_problems(script, runtime=False)


def test_the_build_scripts_are_the_ones_their_cache_keys_name() -> None:
    from fpack.deps import builder, bytecode  # here: the checks above need nothing but the files

    assert (builder.SCRIPT, bytecode.SCRIPT) == ("build_wheel.sh", "compile.sh")
    assert f"BUILD_FORMAT {builder.BUILD_FORMAT}" == SCRIPTS["build_wheel.sh"][1]
    for name, (sha256, _) in SCRIPTS.items():
        text = guest.text(name)
        assert hashlib.sha256(text.encode()).hexdigest() == sha256, (
            f"fpack/guest/{name} changed: if builds now produce something else, bump the cache "
            "format that names their output, then update the sha256 here")
        assert text.startswith("set -eu\n") and "\r" not in text
