"""A uv workspace with three services and two shared libraries, made on the spot for the monorepo
lab tests (tests/integration/test_monorepo.py).

```
mono/
  fpack.toml                 orders, users, billing (each `dir = "services/<name>"`)
  pyproject.toml             [tool.uv.workspace] members = ["services/orders", "libs/*"]
  uv.lock                    written by `uv lock` (the host's uv, from PyPI)
  libs/cmath/                fpklab-cmath: a C extension (setuptools ext_modules) + a Python part
  libs/text/                 fpklab-text: pure Python, depends on fpklab-cmath (workspace = true)
  services/orders/           a workspace member: fpklab-text (workspace = true), six
  services/users/            requirements.txt: ../../libs/text and ../../libs/cmath, idna
  services/billing/          the same requirements.txt as users: the same dependency set
```

The graph: orders -> fpklab-text -> fpklab-cmath; users, billing -> fpklab-text, fpklab-cmath.
Every handler calls into both libraries and answers with what proves the C code ran where it ran:
`add(2, 3)` from the extension, the extension's file name (its ABI and machine tag), the machine,
and where each library was imported from (inside the artifact, never the developer's tree).

`control=True` adds a fourth function, `ping`, that uses neither library (requirements.txt:
idna only): what a library edit must not rebuild.

The names `fpklab-*` are not on PyPI: a resolution that looked there instead of the local
directory would fail, not pick up a stranger's package.
"""

from __future__ import annotations

import os
import subprocess
import textwrap
from pathlib import Path
from typing import Final

from tests.integration import lab

SERVICES: Final = ("orders", "users", "billing")
LIBRARIES: Final = {"fpklab-cmath": "libs/cmath", "fpklab-text": "libs/text"}
REQUIREMENTS: Final = "../../libs/text\n../../libs/cmath\nidna==3.7\n"
# The third-party packages each service's set holds, besides the two libraries.
THIRD_PARTY: Final = {"orders": {"six"}, "users": {"idna"}, "billing": {"idna"}}

C_SOURCE: Final = textwrap.dedent("""\
    #include <Python.h>

    static PyObject *add(PyObject *self, PyObject *args) {
        long a, b;
        if (!PyArg_ParseTuple(args, "ll", &a, &b)) return NULL;
        return PyLong_FromLong(a + b);
    }

    static PyObject *mul(PyObject *self, PyObject *args) {
        long a, b;
        if (!PyArg_ParseTuple(args, "ll", &a, &b)) return NULL;
        return PyLong_FromLong(a * b);
    }

    static PyMethodDef methods[] = {
        {"add", add, METH_VARARGS, "a + b, in C"},
        {"mul", mul, METH_VARARGS, "a * b, in C"},
        {NULL, NULL, 0, NULL}};
    static struct PyModuleDef module = {PyModuleDef_HEAD_INIT, "_native", NULL, -1, methods};
    PyMODINIT_FUNC PyInit__native(void) { return PyModule_Create(&module); }
""")

CMATH_INIT: Final = textwrap.dedent('''\
    """fpklab-cmath: arithmetic done by a C extension."""
    from fpklab_cmath import _native
    from fpklab_cmath._native import add, mul

    VERSION = "1"


    def native_file():
        """The extension's file name: its ABI and machine tag."""
        return _native.__file__.rsplit("/", 1)[-1]
''')

TEXT_INIT: Final = textwrap.dedent('''\
    """fpklab-text: pure Python, on top of fpklab-cmath."""
    import fpklab_cmath

    VERSION = "1"


    def shout(text):
        return text.upper() + "!"


    def total(numbers):
        """A sum computed by fpklab-cmath's C add: this library calls the other."""
        result = 0
        for n in numbers:
            result = fpklab_cmath.add(result, n)
        return result
''')

HANDLER: Final = textwrap.dedent('''\
    import importlib.metadata
    import platform

    import fpack
    import fpklab_cmath
    import fpklab_text
    {extra_import}

    SERVICE = "{service}"


    def handler(request: fpack.Request) -> fpack.Response:
        return fpack.Response.json({{
            "service": SERVICE,
            "add": fpklab_cmath.add(2, 3),
            "mul": fpklab_cmath.mul(6, 7),
            "native": fpklab_cmath.native_file(),
            "machine": platform.machine(),
            "total": fpklab_text.total([1, 2, 3, 4]),
            "shout": fpklab_text.shout(request.query.get("name", "mono")),
            "cmath_version": fpklab_cmath.VERSION,
            "text_version": fpklab_text.VERSION,
            "dists": {{name: importlib.metadata.version(name)
                      for name in ("fpklab-cmath", "fpklab-text")}},
            "files": {{"cmath": fpklab_cmath.__file__, "text": fpklab_text.__file__}},
            "third_party": {extra_value},
        }})
''')

PING: Final = textwrap.dedent('''\
    import fpack
    import idna


    def handler(request: fpack.Request) -> fpack.Response:
        return fpack.Response.json({"service": "ping", "idna": idna.__version__})
''')


def fpack_toml(*, control: bool = False, layer: bool = True, repository: str = "fpack-test/mono",
               ) -> str:
    functions = "".join(f'[functions.{s}]\ndir = "services/{s}"\nhandler = "app:handler"\n\n'
                        for s in (*SERVICES, *(("ping",) if control else ())))
    return textwrap.dedent("""\
        [project]
        name = "mono"
        python = "3.11"

        """) + functions + textwrap.dedent(f"""\
        [targets.aws]
        runtime = "python3.11"
        arch = "x86_64"
        layer = {str(layer).lower()}
        build_image = "{lab.BUILD_IMAGES["3.11"]}"

        [targets.gcp]
        runtime = "python311"
        vendor = true
        build_image = "{lab.BUILD_IMAGES["3.11"]}"

        [targets.docker]
        flavor = "http"
        python = "3.11"
        base_image = "{lab.IMAGES[(3, 11)]}"
        build_image = "{lab.BUILD_IMAGES["3.11"]}"
        repository = "{repository}"
        """)


def _write(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)


def write(root: Path, *, control: bool = False) -> Path:
    """The workspace's files under `root` (no lock: see `lock`)."""
    _write(root / "fpack.toml", fpack_toml(control=control))
    _write(root / "pyproject.toml", textwrap.dedent("""\
        [project]
        name = "mono"
        version = "0"
        requires-python = ">=3.9"

        [tool.uv.workspace]
        members = ["services/orders", "libs/*"]
    """))
    cmath = root / LIBRARIES["fpklab-cmath"]
    _write(cmath / "pyproject.toml", textwrap.dedent("""\
        [build-system]
        requires = ["setuptools>=61"]
        build-backend = "setuptools.build_meta"

        [project]
        name = "fpklab-cmath"
        version = "1.0"
        requires-python = ">=3.9"
    """))
    _write(cmath / "setup.py", textwrap.dedent("""\
        from setuptools import Extension, setup

        setup(
            packages=["fpklab_cmath"],
            package_dir={"": "src"},
            ext_modules=[Extension("fpklab_cmath._native", ["src/fpklab_cmath/_native.c"])],
        )
    """))
    _write(cmath / "src/fpklab_cmath/__init__.py", CMATH_INIT)
    _write(cmath / "src/fpklab_cmath/_native.c", C_SOURCE)
    text = root / LIBRARIES["fpklab-text"]
    _write(text / "pyproject.toml", textwrap.dedent("""\
        [build-system]
        requires = ["setuptools>=61"]
        build-backend = "setuptools.build_meta"

        [project]
        name = "fpklab-text"
        version = "1.0"
        requires-python = ">=3.9"
        dependencies = ["fpklab-cmath"]

        [tool.uv.sources]
        fpklab-cmath = { workspace = true }
    """))
    _write(text / "src/fpklab_text/__init__.py", TEXT_INIT)
    orders = root / "services/orders"
    _write(orders / "pyproject.toml", textwrap.dedent("""\
        [project]
        name = "orders"
        version = "0.1.0"
        requires-python = ">=3.9"
        dependencies = ["fpklab-text", "six==1.16.0"]

        [tool.uv.sources]
        fpklab-text = { workspace = true }
    """))
    _write(orders / "app.py", HANDLER.format(
        service="orders", extra_import="import six", extra_value='{"six": six.__version__}'))
    for service in ("users", "billing"):
        _write(root / "services" / service / "requirements.txt", REQUIREMENTS)
        _write(root / "services" / service / "app.py", HANDLER.format(
            service=service, extra_import="import idna",
            extra_value='{"idna": idna.__version__}'))
    if control:
        _write(root / "services/ping/requirements.txt", "idna==3.7\n")
        _write(root / "services/ping/app.py", PING)
    return root


def uv(root: Path, *args: str) -> subprocess.CompletedProcess[str]:
    """The host's uv (the one fpack runs) in `root`, with no Python download."""
    from fpack.deps import uv as fpack_uv

    return subprocess.run([fpack_uv.binary(), *args], cwd=root, capture_output=True, text=True,
                          check=False, timeout=300,
                          env={**os.environ, "UV_PYTHON_DOWNLOADS": "never"})


def lock(root: Path) -> Path:
    """`uv lock` in the workspace: the lock a user would commit."""
    proc = uv(root, "lock", "--quiet")
    if proc.returncode != 0:
        raise AssertionError(f"uv lock in {root}:\n{proc.stderr}")
    return root / "uv.lock"


def make(root: Path, *, control: bool = False) -> Path:
    write(root, control=control)
    lock(root)
    return root


def git_commit_all(root: Path, message: str = "fixture") -> None:
    """A git repository holding the workspace as committed (for --changed-since)."""
    env = {**os.environ, "GIT_AUTHOR_NAME": "lab", "GIT_AUTHOR_EMAIL": "lab@example.invalid",
           "GIT_COMMITTER_NAME": "lab", "GIT_COMMITTER_EMAIL": "lab@example.invalid"}
    (root / ".gitignore").write_text("dist/\ndist-*/\n")
    for args in (["init", "--quiet", "--initial-branch=main"], ["add", "--all"],
                 ["commit", "--quiet", "--no-gpg-sign", "-m", message]):
        proc = subprocess.run(["git", *args], cwd=root, capture_output=True, text=True,
                              check=False, env=env, timeout=60)
        if proc.returncode != 0:
            raise AssertionError(f"git {' '.join(args)} in {root}:\n{proc.stderr}")
