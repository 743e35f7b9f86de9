"""Monorepos without Docker or uv: functions in directories of their own, their dependency specs,
workspace members, local libraries found from the files alone, groups and layers, and the builds
of functions without third-party dependencies (which need no resolver)."""

from __future__ import annotations

import json
import textwrap
import zipfile
from pathlib import Path

import pytest

from fpack import build as building
from fpack import cli, config, inputs
from fpack import plan as planning
from fpack.deps import locals as local_libraries
from fpack.deps import spec as dep_spec
from fpack.errors import ConfigError

HANDLER = "def handler(request):\n    return {'service': %r}\n"


def write(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(textwrap.dedent(text))
    return path


def repo(root: Path, functions: str, *, targets: str = "[targets.aws]\n") -> Path:
    write(root / "fpack.toml", '[project]\nname = "shop"\npython = "3.11"\n\n'
          + textwrap.dedent(functions) + "\n" + targets)
    return root / "fpack.toml"


def service(root: Path, name: str, requirements: str | None = None) -> Path:
    write(root / "services" / name / "app.py", HANDLER % name)
    if requirements is not None:
        write(root / "services" / name / "requirements.txt", requirements)
    return root / "services" / name


TWO = """\
[functions.orders]
dir = "services/orders"
handler = "app:handler"

[functions.users]
dir = "services/users"
handler = "app:handler"
"""


@pytest.fixture(autouse=True)
def _environment(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FPACK_CACHE_DIR", str(tmp_path / "cache"))
    monkeypatch.setenv("SOURCE_DATE_EPOCH", "1700000000")
    monkeypatch.delenv("FPACK_BUILD_IMAGE", raising=False)


# --- configuration --------------------------------------------------------------------------


def test_a_function_dir_finds_its_spec_there_and_others_keep_the_projects(tmp_path: Path) -> None:
    service(tmp_path, "orders", "six==1.16.0\n")
    service(tmp_path, "users")
    write(tmp_path / "requirements.txt", "idna==3.7\n")
    write(tmp_path / "legacy.py", HANDLER % "legacy")
    project = config.load(repo(tmp_path, TWO + '[functions.legacy]\nhandler = "legacy:handler"\n'))
    orders, users, legacy = project.functions.values()
    assert (orders.dir, orders.dependencies) == ("services/orders",
                                                 tmp_path / "services/orders/requirements.txt")
    assert (users.dir, users.dependencies) == ("services/users", None)  # none there: none
    assert (legacy.dir, legacy.dependencies) == ("", tmp_path / "requirements.txt")


@pytest.mark.parametrize(("value", "message"), [
    ("services/nope", 'dir = "services/nope": no such directory {root}/services/nope. Create it, '
                      "or correct the path (it is relative to fpack.toml)."),
    ("../elsewhere", 'dir = "../elsewhere": expected a directory inside the project ({root}), '
                     'relative to fpack.toml, e.g. "services/orders".'),
])
def test_a_bad_dir_names_the_function_and_the_fix(tmp_path: Path, value: str,
                                                  message: str) -> None:
    (tmp_path / "elsewhere").mkdir()
    root = tmp_path / "repo"
    path = repo(root, f'[functions.orders]\ndir = "{value}"\nhandler = "app:handler"\n')
    with pytest.raises(ConfigError) as e:
        config.load(path)
    assert str(e.value) == f"{path}: [functions.orders] " + message.format(root=root)


def test_dependencies_per_function_are_relative_to_its_dir(tmp_path: Path) -> None:
    service(tmp_path, "orders")
    write(tmp_path / "services/orders/deps/prod.txt", "six\n")
    path = repo(tmp_path, '[functions.orders]\ndir = "services/orders"\nhandler = "app:handler"\n'
                'dependencies = "deps/prod.txt"\n')
    assert config.load(path).functions["orders"].dependencies == \
        tmp_path / "services/orders/deps/prod.txt"
    path.write_text(path.read_text().replace("deps/prod.txt", "deps/nope.txt"))
    with pytest.raises(ConfigError) as e:
        config.load(path)
    assert str(e.value) == (
        f'{path}: [functions.orders] dependencies = "deps/nope.txt": no such file '
        f"{tmp_path}/services/orders/deps/nope.txt. Expected a requirements file, a "
        "pyproject.toml or a uv.lock.")


WORKSPACE = """\
[project]
name = "shop"
version = "0"
requires-python = ">=3.9"

[tool.uv.workspace]
members = ["services/*", "libs/*"]
"""
MEMBER = """\
[project]
name = "orders"
version = "0.1.0"
dependencies = ["common", "six==1.16.0"]

[tool.uv.sources]
common = { workspace = true }
"""
LIBRARY = """\
[project]
name = "common"
version = "0.2.0"
"""
LOCK = """\
version = 1
requires-python = ">=3.9"

[[package]]
name = "common"
version = "0.2.0"
source = { editable = "libs/common" }

[[package]]
name = "orders"
version = "0.1.0"
source = { virtual = "services/orders" }
dependencies = [{ name = "common" }, { name = "six" }]

[package.metadata]
requires-dist = [
    { name = "common", editable = "libs/common" },
    { name = "six", specifier = "==1.16.0" },
]

[[package]]
name = "six"
version = "1.16.0"
source = { registry = "https://pypi.org/simple" }
"""


def workspace(root: Path, lock: str = LOCK) -> Path:
    write(root / "pyproject.toml", WORKSPACE)
    write(root / "uv.lock", lock)
    write(root / "services/orders/pyproject.toml", MEMBER)
    write(root / "services/orders/app.py", HANDLER % "orders")
    write(root / "libs/common/pyproject.toml", LIBRARY)
    write(root / "libs/common/common/__init__.py", "X = 1\n")
    return repo(root, '[functions.orders]\ndir = "services/orders"\nhandler = "app:handler"\n')


def test_a_workspace_member_takes_its_set_from_the_workspace_lock(tmp_path: Path) -> None:
    fn = config.load(workspace(tmp_path)).functions["orders"]
    assert (fn.dependencies, fn.member) == (tmp_path / "uv.lock", "orders")
    spec = dep_spec.read(fn.dependencies, tmp_path / "fpack.toml", fn.member)
    assert (spec.kind, spec.member) == ("uvlock", "orders")
    assert local_libraries.libraries(fn.dependencies, fn.member) == (tmp_path / "libs/common",)


def test_a_member_missing_from_the_lock_says_to_run_uv_lock(tmp_path: Path) -> None:
    path = workspace(tmp_path, LOCK.replace('source = { virtual = "services/orders" }',
                                            'source = { virtual = "services/other" }'))
    with pytest.raises(ConfigError) as e:
        config.load(path)
    assert str(e.value) == (f'{tmp_path}/uv.lock: the workspace member services/orders (package '
                            f'"orders") is not in the lock\n  hint: run `uv lock` in {tmp_path} '
                            "to add it")


def test_a_lock_out_of_date_with_a_member_names_both_and_the_change(tmp_path: Path) -> None:
    path = workspace(tmp_path)
    member = tmp_path / "services/orders/pyproject.toml"
    member.write_text(MEMBER.replace("six==1.16.0", "six==1.17.0"))
    with pytest.raises(ConfigError) as e:
        config.load(path)
    assert str(e.value) == (
        f"{tmp_path}/uv.lock is out of date with {member} (added six==1.17.0; removed "
        f"six==1.16.0)\n  hint: run `uv lock` in {tmp_path}, then build again")


# --- local libraries ------------------------------------------------------------------------


def test_local_libraries_are_followed_through_libraries(tmp_path: Path) -> None:
    spec = write(tmp_path / "services/a/requirements.txt",
                 "-e ../../libs/api\nsix==1.16.0  # pinned\n")
    write(tmp_path / "libs/api/pyproject.toml", '[project]\nname = "api"\n'
          'dependencies = ["core"]\n[tool.uv.sources]\ncore = { path = "../core" }\n')
    write(tmp_path / "libs/core/pyproject.toml", '[project]\nname = "core"\n')
    assert local_libraries.libraries(spec) == (tmp_path / "libs/core", tmp_path / "libs/api")


def test_a_missing_local_library_names_the_file_and_the_line(tmp_path: Path) -> None:
    spec = write(tmp_path / "services/a/requirements.txt", "../../libs/nope\n")
    with pytest.raises(ConfigError) as e:
        local_libraries.libraries(spec)
    assert str(e.value) == (
        f"{spec}: ../../libs/nope: no such directory {tmp_path}/libs/nope\n"
        f"  hint: correct the path (relative to {spec.parent}) or create the library")


def test_a_cycle_between_local_libraries_is_refused(tmp_path: Path) -> None:
    spec = write(tmp_path / "services/a/requirements.txt", "../../libs/a\n")
    write(tmp_path / "libs/a/pyproject.toml", '[project]\nname = "a"\n'
          '[tool.uv.sources]\nb = { path = "../b" }\n')
    write(tmp_path / "libs/b/pyproject.toml", '[project]\nname = "b"\n'
          '[tool.poetry.dependencies]\na = { path = "../a", develop = true }\n')
    with pytest.raises(ConfigError) as e:
        local_libraries.libraries(spec)
    assert str(e.value) == (
        f'{tmp_path}/libs/b/pyproject.toml: [tool.poetry.dependencies] a = {{ path = "../a" }}: '
        "local libraries depend on each other in a cycle: a -> b -> a\n"
        "  hint: a library cannot need itself: move what both need into a third library")


# --- groups, sets and layers ----------------------------------------------------------------


def test_specs_that_say_the_same_thing_are_one_set(tmp_path: Path) -> None:
    a = service(tmp_path, "a", "six==1.16.0\n")
    b = service(tmp_path, "b", "six==1.16.0\n")
    c = service(tmp_path, "c", "six==1.17.0\n")
    keys = [dep_spec.read(d / "requirements.txt", tmp_path / "fpack.toml").key()
            for d in (a, b, c)]
    assert keys[0] == keys[1] != keys[2]


def test_each_set_is_one_layer_named_after_it_and_shared(tmp_path: Path) -> None:
    for name, req in (("a", "six\n"), ("b", "six\n"), ("c", "idna\n")):
        service(tmp_path, name, req)
    functions = "".join(f'[functions.{n}]\ndir = "services/{n}"\nhandler = "app:handler"\n'
                        for n in "abc")
    project = config.load(repo(tmp_path, functions, targets="[targets.aws]\nlayer = true\n"))
    plans = building.make_plans(project, "aws", inputs=inputs.read(), out=tmp_path / "dist")
    assert [[fp.function.name for fp in bp.functions] for bp in plans] == [["a"], ["b"], ["c"]]
    layers = [bp.layer.name for bp in plans if bp.layer]
    assert layers[0] == layers[1] != layers[2]
    assert all(name.startswith("shop-deps-") for name in layers)
    # Packaged from its own directory: app.py at the zip's root, nothing of the others.
    assert [f.path for f in plans[0].sources] == ["app.py"]


def test_functions_of_one_directory_are_one_group(tmp_path: Path) -> None:
    service(tmp_path, "a")
    write(tmp_path / "services/a/other.py", "def handler(request):\n    return 1\n")
    functions = ('[functions.one]\ndir = "services/a"\nhandler = "app:handler"\n'
                 '[functions.two]\ndir = "services/a"\nhandler = "other:handler"\n')
    project = config.load(repo(tmp_path, functions))
    [group] = planning.groups(project)
    assert [f.name for f in group.functions] == ["one", "two"]


# --- builds of functions without third-party dependencies ---------------------------------


def _zips(dist: Path) -> dict[str, tuple[int, bytes]]:
    return {p.name: (p.stat().st_mtime_ns, p.read_bytes()) for p in sorted(dist.glob("*.zip"))}


def test_only_the_edited_function_is_rewritten(tmp_path: Path,
                                               capsys: pytest.CaptureFixture[str],
                                               monkeypatch: pytest.MonkeyPatch) -> None:
    service(tmp_path, "orders")
    service(tmp_path, "users")
    repo(tmp_path, TWO)
    monkeypatch.chdir(tmp_path)
    assert cli.main(["build", "--target", "aws", "-j", "4"]) == 0
    first = _zips(tmp_path / "dist/aws")
    with zipfile.ZipFile(tmp_path / "dist/aws/orders.zip") as z:
        assert "app.py" in z.namelist() and "fpack_entry.py" in z.namelist()
        assert "orders" in z.read("app.py").decode()
    capsys.readouterr()
    assert cli.main(["build", "--target", "aws"]) == 0
    assert capsys.readouterr().out == "up to date: 2 artifacts in dist/aws, nothing changed\n"
    assert _zips(tmp_path / "dist/aws") == first
    (tmp_path / "services/orders/app.py").write_text(HANDLER % "orders v2")
    assert cli.main(["build", "--target", "aws"]) == 0
    second = _zips(tmp_path / "dist/aws")
    assert second["users.zip"] == first["users.zip"]
    assert second["orders.zip"] != first["orders.zip"]


def test_ls_lists_each_function_with_its_directory_and_set(
        tmp_path: Path, capsys: pytest.CaptureFixture[str],
        monkeypatch: pytest.MonkeyPatch) -> None:
    service(tmp_path, "orders", "../../libs/common\n")
    service(tmp_path, "users")
    write(tmp_path / "libs/common/pyproject.toml", '[project]\nname = "common"\n')
    repo(tmp_path, TWO, targets='[targets.aws]\nlayer = true\n[targets.gcp]\n')
    monkeypatch.chdir(tmp_path)
    assert cli.main(["ls", "--json"]) == 0
    rows = json.loads(capsys.readouterr().out)
    key = dep_spec.read(tmp_path / "services/orders/requirements.txt",
                        tmp_path / "fpack.toml").key()[:10]
    assert rows == [
        {"function": "orders", "dir": "services/orders", "handler": "app:handler",
         "trigger": "http", "style": "portable",
         "dependencies": "services/orders/requirements.txt", "member": None, "set": key,
         "libraries": ["libs/common"],
         "targets": ["aws python3.11 x86_64 layer", "gcp python311"]},
        {"function": "users", "dir": "services/users", "handler": "app:handler",
         "trigger": "http", "style": "portable", "dependencies": None, "member": None,
         "set": "-", "libraries": [], "targets": ["aws python3.11 x86_64 layer", "gcp python311"]},
    ]
    assert cli.main(["ls"]) == 0
    out = capsys.readouterr().out.splitlines()
    assert out[0].split() == ["function", "dir", "handler", "trigger", "dependencies", "set",
                              "targets"]
    assert out[1].split()[:6] == ["orders", "services/orders", "app:handler", "http",
                                  "services/orders/requirements.txt", key]


def test_a_missing_library_stops_the_build_with_exit_2(
        tmp_path: Path, capsys: pytest.CaptureFixture[str],
        monkeypatch: pytest.MonkeyPatch) -> None:
    spec = service(tmp_path, "orders", "../../libs/gone\n") / "requirements.txt"
    service(tmp_path, "users")
    repo(tmp_path, TWO)
    monkeypatch.chdir(tmp_path)
    assert cli.main(["build", "--target", "aws"]) == 2
    err = capsys.readouterr().err
    assert err == (f"error: {spec}: ../../libs/gone: no such directory {tmp_path}/libs/gone\n"
                   f"  hint: correct the path (relative to {spec.parent}) or create the library\n")
    assert not (tmp_path / "dist").exists()


def test_check_judges_each_function_against_its_own_directory(
        tmp_path: Path, capsys: pytest.CaptureFixture[str],
        monkeypatch: pytest.MonkeyPatch) -> None:
    service(tmp_path, "orders")
    (tmp_path / "services/users").mkdir(parents=True)
    write(tmp_path / "app.py", HANDLER % "root")  # not the users function's app.py
    repo(tmp_path, TWO)
    monkeypatch.chdir(tmp_path)
    assert cli.main(["check", "--target", "aws"]) == 1
    out = capsys.readouterr().out
    assert "FP201" in out and "[functions.users]" in out and "orders" not in out.split("FP201")[0]


def test_a_full_build_removes_what_fpack_toml_no_longer_names(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    service(tmp_path, "orders")
    service(tmp_path, "users")
    toml = repo(tmp_path, TWO)
    (tmp_path / "dist/aws").mkdir(parents=True)
    (tmp_path / "dist/aws/notes.txt").write_text("mine")  # not fpack's: left alone
    monkeypatch.chdir(tmp_path)
    assert cli.main(["build", "--target", "aws"]) == 0
    toml.write_text(toml.read_text().split("[functions.users]")[0] + "[targets.aws]\n")
    assert cli.main(["build", "--target", "aws", "--function", "orders"]) == 0
    assert (tmp_path / "dist/aws/users.zip").is_file()  # a partial build removes nothing
    assert cli.main(["build", "--target", "aws"]) == 0
    assert sorted(p.name for p in (tmp_path / "dist/aws").iterdir()) == [
        ".fpack-state.json", "notes.txt", "orders.manifest.json", "orders.zip"]


def test_a_failing_set_names_its_functions_and_leaves_dist_alone(
        tmp_path: Path, capsys: pytest.CaptureFixture[str],
        monkeypatch: pytest.MonkeyPatch) -> None:
    """Sets are prepared in parallel; the one that fails names the functions that use it, and
    nothing of the others is written (dist/ is all or nothing)."""
    from fpack.deps import ahead, engine
    from fpack.errors import DependencyError

    service(tmp_path, "orders", "six==1.16.0\n")
    service(tmp_path, "carts", "six==1.16.0\n")
    service(tmp_path, "users")
    repo(tmp_path, TWO.replace("users", "carts") + '[functions.users]\ndir = "services/users"\n'
         'handler = "app:handler"\n')
    real = engine.prepare

    def prepare(spec: dep_spec.DependencySpec, *args: object, **kwargs: object) -> object:
        if spec.kind == "requirements":
            raise DependencyError("six 1.16.0 has no wheel for the target",
                                  hint="pin another version")
        return real(spec, *args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(engine, "prepare", prepare)
    monkeypatch.setattr(ahead, "start", lambda *_a, **_k: None)  # it would start uv for them
    monkeypatch.chdir(tmp_path)
    assert cli.main(["build", "--target", "aws", "-j", "2"]) == 1
    assert capsys.readouterr().err.endswith(
        "error: functions orders, carts: six 1.16.0 has no wheel for the target\n"
        "  hint: pin another version\n")
    assert not (tmp_path / "dist").exists()
