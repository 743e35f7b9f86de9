"""The build's inputs from the environment, read once (fpack/inputs.py): the archive timestamp,
the cache root, the index settings as uv and as the build containers' pip read them; and the rule
that nothing below the inputs record reads the environment itself."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

from fpack import container, inputs
from fpack.errors import ConfigError

ROOT = Path(__file__).resolve().parents[2]
EPOCH_HINT = "e.g. SOURCE_DATE_EPOCH=$(git log -1 --format=%ct), or unset it"


# --- SOURCE_DATE_EPOCH ---------------------------------------------------------------------------


def test_an_unset_source_date_epoch_is_zips_1980() -> None:
    record = inputs.read({})
    assert (record.epoch_setting, record.epoch) == ("", 315532800)
    assert inputs.DEFAULT_EPOCH == 315532800


@pytest.mark.parametrize("value", ["1700000000", " 1700000000\n"])
def test_a_source_date_epoch_is_read_into_the_record(value: str) -> None:
    record = inputs.read({"SOURCE_DATE_EPOCH": value})
    assert (record.epoch_setting, record.epoch) == ("1700000000", 1700000000)


# "\u00b2" (superscript two) is a digit to str.isdigit() but not a number to int()
@pytest.mark.parametrize("value", ["soon", "-1", "1.5", "1700000000s", "0x10", "\u00b2"])
def test_a_source_date_epoch_that_is_not_a_number_is_a_config_error(value: str) -> None:
    with pytest.raises(ConfigError) as e:
        inputs.read({"SOURCE_DATE_EPOCH": value})
    assert str(e.value) == (f"SOURCE_DATE_EPOCH={value!r}: expected a whole number of seconds "
                            f"since 1970-01-01 UTC\n  hint: {EPOCH_HINT}")
    assert e.value.exit_code == 2


def test_the_process_environment_is_read_once_into_a_read_only_record(
        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SOURCE_DATE_EPOCH", "1700000000")
    record = inputs.read()
    monkeypatch.setenv("SOURCE_DATE_EPOCH", "1")  # later changes do not reach the record
    assert (record.epoch, record.environ["SOURCE_DATE_EPOCH"]) == (1700000000, "1700000000")
    given = {"NETRC": "/n", "FPACK_BUILD_IMAGE": "lab/build"}
    record = inputs.read(given)
    given["NETRC"] = "/other"
    assert (record.environ["NETRC"], record.build_image) == ("/n", "lab/build")
    with pytest.raises(TypeError):
        record.environ["NETRC"] = "/x"  # type: ignore[index]


# --- the cache root ------------------------------------------------------------------------------


def test_the_cache_root_is_fpack_cache_dir_then_xdg_then_home(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    both = {"FPACK_CACHE_DIR": "/c/fpack-cache", "XDG_CACHE_HOME": "/x"}
    assert inputs.cache_root(both) == Path("/c/fpack-cache")
    assert inputs.cache_root({"XDG_CACHE_HOME": "/x"}) == Path("/x/fpack")
    assert inputs.cache_root({}) == tmp_path / "home" / ".cache" / "fpack"
    # set but empty is unset, as in a shell's FPACK_CACHE_DIR= fpack build
    assert inputs.cache_root({"FPACK_CACHE_DIR": "", "XDG_CACHE_HOME": ""}) == (
        tmp_path / "home" / ".cache" / "fpack")
    assert inputs.read(both).cache.root == Path("/c/fpack-cache")
    assert inputs.read({"XDG_CACHE_HOME": "/x"}).cache.root == Path("/x/fpack")


# --- the index settings, for uv and for the build containers' pip --------------------------------


def test_a_uv_index_reaches_build_containers_as_pips_never_as_uvs() -> None:
    record = inputs.read({"UV_INDEX_URL": "https://u:p@pypi.internal/simple",
                          "UV_EXTRA_INDEX_URL": "https://extra.internal/simple",
                          "UV_FIND_LINKS": "https://wheels.internal/",
                          "UV_INSECURE_HOST": "pypi.internal"})
    env = container.build_settings(record).env
    # (the CA variables name the copied bundle, when the host has one: see below)
    assert {k: v for k, v in env.items()
            if k.startswith(("PIP_", "UV_")) and k not in inputs.CA_ENV} == {
        "PIP_INDEX_URL": "https://u:p@pypi.internal/simple",
        "PIP_EXTRA_INDEX_URL": "https://extra.internal/simple",
        "PIP_FIND_LINKS": "https://wheels.internal/",
        "PIP_TRUSTED_HOST": "pypi.internal",
        "PIP_DISABLE_PIP_VERSION_CHECK": "1",
    }
    default_index = inputs.read({"UV_DEFAULT_INDEX": "https://pypi.internal/simple"})
    env = container.build_settings(default_index).env
    assert env["PIP_INDEX_URL"] == "https://pypi.internal/simple"
    assert "UV_DEFAULT_INDEX" not in env


def test_pips_own_settings_win_over_translated_uv_ones() -> None:
    record = inputs.read({
        "UV_INDEX_URL": "https://uv.example/simple", "PIP_INDEX_URL": "https://pip.example/simple",
        "UV_EXTRA_INDEX_URL": "https://uv-extra.example", "UV_INDEX": "a=https://uv-named.example",
        "PIP_EXTRA_INDEX_URL": "https://pip-extra.example",
        "UV_FIND_LINKS": "/uv-wheels", "PIP_FIND_LINKS": "/pip-wheels",
        "UV_INSECURE_HOST": "uv.example", "PIP_TRUSTED_HOST": "pip.example",
    })
    assert record.index.pip_env() == {
        "PIP_INDEX_URL": "https://pip.example/simple",
        "PIP_EXTRA_INDEX_URL": "https://pip-extra.example",
        "PIP_FIND_LINKS": "/pip-wheels",
        "PIP_TRUSTED_HOST": "pip.example",
    }
    env = container.build_settings(record).env
    assert env["PIP_INDEX_URL"] == "https://pip.example/simple"
    assert not [k for k in env if k.startswith("UV_") and k not in inputs.CA_ENV]


def test_named_uv_indexes_become_urls() -> None:
    record = inputs.read({
        "UV_EXTRA_INDEX_URL": "https://extra.example/simple",
        "UV_INDEX": "internal=https://u:p@pypi.internal/simple https://plain.example/simple "
                    "q=https://q.example/simple?token=abc",
    })
    urls = ["https://extra.example/simple", "https://u:p@pypi.internal/simple",
            "https://plain.example/simple", "https://q.example/simple?token=abc"]
    assert record.index.pip_env() == {"PIP_EXTRA_INDEX_URL": " ".join(urls)}
    assert list(record.index.urls()) == urls  # the URLs wheel downloads take credentials from


def test_a_url_with_an_equals_sign_after_its_scheme_is_not_a_name() -> None:
    record = inputs.read({"UV_INDEX": "https://idx.example/simple?a=b"})
    assert list(record.index.urls()) == ["https://idx.example/simple?a=b"]


@pytest.mark.parametrize("name", ["UV_INDEX_URL", "UV_EXTRA_INDEX_URL", "UV_DEFAULT_INDEX",
                                  "UV_INDEX", "UV_FIND_LINKS", "PIP_INDEX_URL",
                                  "PIP_EXTRA_INDEX_URL", "PIP_FIND_LINKS", "UV_INDEX_STRATEGY"])
def test_the_fingerprint_changes_with_an_index_variable(name: str) -> None:
    base = inputs.read({}).index.fingerprint()
    assert inputs.read({name: "https://idx.example/simple"}).index.fingerprint() != base
    other = inputs.read({name: "https://other.example/simple"}).index.fingerprint()
    assert other != inputs.read({name: "https://idx.example/simple"}).index.fingerprint()


def test_the_fingerprint_ignores_unrelated_variables() -> None:
    base = inputs.read({"UV_INDEX_URL": "https://idx.example/simple"}).index.fingerprint()
    unrelated = {"UV_INDEX_URL": "https://idx.example/simple", "HOME": "/elsewhere",
                 "PATH": "/usr/bin", "UV_CACHE_DIR": "/tmp/uv", "HTTPS_PROXY": "http://proxy:3128",
                 "SOURCE_DATE_EPOCH": "1700000000", "FPACK_CACHE_DIR": "/c"}
    assert inputs.read(unrelated).index.fingerprint() == base
    # the same settings, named in another order, are the same settings
    a = inputs.read({"PIP_INDEX_URL": "https://a", "UV_INDEX": "https://b"})
    b = inputs.read({"UV_INDEX": "https://b", "PIP_INDEX_URL": "https://a"})
    assert a.index.fingerprint() == b.index.fingerprint()


def test_uv_args_translate_pips_index_only_when_no_uv_index_is_set() -> None:
    pip = {"PIP_INDEX_URL": "https://pip.example/simple"}
    assert inputs.read(pip).index.uv_args() == ["--index-url", "https://pip.example/simple"]
    for uv_index in ("UV_INDEX_URL", "UV_DEFAULT_INDEX"):
        record = inputs.read({**pip, uv_index: "https://uv.example/simple"})
        assert record.index.uv_args() == []  # uv reads its own setting itself
    extra = {"PIP_EXTRA_INDEX_URL": "https://a.example https://b.example"}
    assert inputs.read(extra).index.uv_args() == [
        "--extra-index-url", "https://a.example", "--extra-index-url", "https://b.example"]
    record = inputs.read({**extra, "UV_EXTRA_INDEX_URL": "https://uv-extra.example"})
    assert record.index.uv_args() == []
    assert inputs.read({}).index.uv_args() == []


# --- what else crosses into build containers -----------------------------------------------------


def test_build_containers_get_the_proxy_the_epoch_and_the_ca_bundle(tmp_path: Path) -> None:
    ca = tmp_path / "ca.pem"
    ca.write_text("-----BEGIN CERTIFICATE-----\n")
    record = inputs.read({"HTTPS_PROXY": "http://proxy:3128", "no_proxy": "localhost",
                          "SOURCE_DATE_EPOCH": "1700000000", "SSL_CERT_FILE": str(ca),
                          "AWS_SECRET_ACCESS_KEY": "never-crosses", "HOME": str(tmp_path)})
    assert record.ca_bundle == ca
    settings = container.build_settings(record)
    # copied in to one fixed path (an engine on another machine cannot see the host's path)
    assert settings.files == {container.CA_IN_CONTAINER: ca.resolve()}
    assert settings.env == {
        "HTTPS_PROXY": "http://proxy:3128", "no_proxy": "localhost",
        "SOURCE_DATE_EPOCH": "1700000000", "PIP_DISABLE_PIP_VERSION_CHECK": "1",
        **dict.fromkeys(inputs.CA_ENV, container.CA_IN_CONTAINER),
    }
    assert container.build_settings(inputs.read({"SSL_CERT_FILE": str(ca)})).env[
        "SOURCE_DATE_EPOCH"] == "315532800"


def test_a_ca_bundle_that_does_not_exist_is_not_copied(tmp_path: Path) -> None:
    conf = tmp_path / "pip.conf"
    conf.write_text(f"[global]\ncert = {tmp_path / 'pip-ca.pem'}\n")
    record = inputs.read({"SSL_CERT_FILE": str(tmp_path / "missing.pem"),
                          "PIP_CONFIG_FILE": str(conf)})
    assert record.ca_bundle is None  # neither the variable's file nor pip.conf's exists
    (tmp_path / "pip-ca.pem").write_text("pem")
    assert inputs.read({"PIP_CONFIG_FILE": str(conf)}).ca_bundle == tmp_path / "pip-ca.pem"


# --- nothing below the inputs record reads the environment ----------------------------------------

# Modules that may: the inputs record itself; code that runs in the function's runtime, a build
# container or a local server (the environment there is the function's); the cloud adapters and
# deployers (credentials, endpoints, read by the SDKs' own rules).
# fpack/stamp.py runs before the inputs are read (the nothing-changed fast path) and keys the
# environment a build would read, as a whole.
EXEMPT = ("fpack/inputs.py", "fpack/stamp.py", "fpack/runtime/", "fpack/guest/", "fpack/local/",
          "fpack/cloud/", "fpack/deploy/")
# Modules that may read one variable, and no other: NO_COLOR for the console; FPACK_UV, which
# names the uv binary to run rather than an input of what it builds; DOCKER_CONTEXT, which names
# the engine to talk to (the SDK reads DOCKER_HOST itself).
ONE_VARIABLE = {"fpack/report.py": "NO_COLOR", "fpack/deps/uv.py": "FPACK_UV",
                "fpack/container.py": "DOCKER_CONTEXT"}
_ENV_NAMES = frozenset({"environ", "environb", "getenv", "getenvb", "putenv", "unsetenv"})


def environment_reads(source: str, filename: str, allowed: str | None = None) -> list[str]:
    """`file:line` of every os.environ / os.getenv access in `source` (however os is named),
    but for reads of the one variable `allowed`, named by a literal."""
    tree = ast.parse(source, filename)
    parents = {child: node for node in ast.walk(tree) for child in ast.iter_child_nodes(node)}
    os_names = {"os"}
    found: list[int] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            os_names |= {a.asname or a.name for a in node.names if a.name == "os"}
        elif isinstance(node, ast.ImportFrom) and node.module == "os":
            found += [node.lineno for a in node.names if a.name in _ENV_NAMES]
    for node in ast.walk(tree):
        if (isinstance(node, ast.Attribute) and node.attr in _ENV_NAMES
                and isinstance(node.value, ast.Name) and node.value.id in os_names
                and (allowed is None or _variable(node, parents) != allowed)):
            found.append(node.lineno)
    return [f"{filename}:{line}" for line in sorted(found)]


def _variable(node: ast.Attribute, parents: dict[ast.AST, ast.AST]) -> str | None:
    """The literal name `os.environ.get("X")`, `os.environ["X"]` or `os.getenv("X")` reads."""
    call: ast.AST | None = parents.get(node)
    if node.attr == "environ" and isinstance(call, ast.Subscript):
        key = call.slice
        return key.value if isinstance(key, ast.Constant) and isinstance(key.value, str) else None
    if node.attr == "environ" and isinstance(call, ast.Attribute) and call.attr == "get":
        call = parents.get(call)
    elif node.attr != "getenv":
        return None
    if isinstance(call, ast.Call) and call.args and isinstance(call.args[0], ast.Constant):
        return call.args[0].value if isinstance(call.args[0].value, str) else None
    return None


def scanned() -> list[str]:
    modules = sorted(p.relative_to(ROOT).as_posix() for p in (ROOT / "fpack").rglob("*.py"))
    return [m for m in modules if not m.startswith(EXEMPT)]


def test_the_scan_sees_every_way_of_reading_the_environment() -> None:
    source = ("import os\nimport os as system\nfrom os import getenv\n"
              "a = os.environ['A']\nb = system.getenv('B')\nc = os.path.join('x')\n"
              "d = {}.get('environ')\ne = dict(os.environ)\n")
    assert environment_reads(source, "m.py") == ["m.py:3", "m.py:4", "m.py:5", "m.py:8"]
    one = ("import os\nx = os.environ.get('X')\ny = os.environ['X']\nz = os.getenv('X')\n"
           "w = os.environ.get('W')\nv = os.environ.get(name)\nu = os.environ\n")
    assert environment_reads(one, "m.py", "X") == ["m.py:5", "m.py:6", "m.py:7"]
    assert len(scanned()) > 40 and "fpack/build.py" in scanned()
    assert {"fpack/deps/keys.py", "fpack/container.py", *ONE_VARIABLE} <= set(scanned())


@pytest.mark.parametrize("module", scanned())
def test_nothing_below_the_inputs_record_reads_the_environment(module: str) -> None:
    source = (ROOT / module).read_text(encoding="utf-8")
    found = environment_reads(source, module, ONE_VARIABLE.get(module))
    assert found == [], ("reads the environment; take it from fpack.inputs.BuildInputs: "
                         + ", ".join(found))
