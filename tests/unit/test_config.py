"""fpack.toml validation: every error names the file, the table and key, and what is expected."""

from __future__ import annotations

from pathlib import Path

import pytest

from fpack import config, config_schema
from fpack.errors import ConfigError
from fpack.runtime import web

GOOD = """
[project]
name = "photos"
python = "3.11"

[functions.hello]
handler = "app:hello"
"""


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "fpack.toml"
    path.write_text(text)
    (tmp_path / "app.py").write_text("def hello(request):\n    return 'hi'\n")
    return path


def error(tmp_path: Path, text: str) -> str:
    path = write(tmp_path, text)
    with pytest.raises(ConfigError) as info:
        config.load(path)
    assert info.value.exit_code == 2
    return str(info.value).replace(str(path), "fpack.toml")


def test_defaults_follow_the_project_python(tmp_path: Path) -> None:
    project = config.load(write(tmp_path, GOOD))
    assert project.name == "photos" and project.python == (3, 11)
    assert project.aws.runtime == "python3.11" and project.aws.arch == "x86_64"
    assert project.gcp.runtime == "python311" and project.docker.runtime == "3.11"
    fn = project.functions["hello"]
    assert (fn.module, fn.attr, fn.trigger, fn.style) == ("app", "hello", "http", "portable")
    assert project.dependencies is None and project.include is None


def test_requirements_are_found_automatically(tmp_path: Path) -> None:
    (tmp_path / "requirements.txt").write_text("requests\n")
    assert config.load(write(tmp_path, GOOD)).dependencies == tmp_path / "requirements.txt"


def test_pyproject_counts_only_with_dependencies(tmp_path: Path) -> None:
    (tmp_path / "pyproject.toml").write_text("[project]\nname = 'x'\n")
    assert config.load(write(tmp_path, GOOD)).dependencies is None
    (tmp_path / "pyproject.toml").write_text("[project]\nname = 'x'\ndependencies = ['six']\n")
    assert config.load(write(tmp_path, GOOD)).dependencies == tmp_path / "pyproject.toml"


def test_unknown_key_suggests_the_right_one(tmp_path: Path) -> None:
    allowed = ", ".join(config_schema.SCHEMA["aws"])
    assert error(tmp_path, GOOD + '[targets.aws]\nruntim = "python3.12"\n') == (
        'fpack.toml: [targets.aws]: unknown key "runtim". Did you mean "runtime"? '
        f"Allowed keys: {allowed}."
    )


def test_wrong_arch_names_the_allowed_values(tmp_path: Path) -> None:
    assert error(tmp_path, GOOD + '[targets.aws]\narch = "amd64"\n') == (
        'fpack.toml: [targets.aws] arch = "amd64": expected "x86_64" or "arm64". '
        'Did you mean "x86_64"?'
    )
    assert error(tmp_path, GOOD + '[targets.aws]\narch = "arm65"\n') == (
        'fpack.toml: [targets.aws] arch = "arm65": expected "x86_64" or "arm64". '
        'Did you mean "arm64"?'
    )


def test_unknown_runtime(tmp_path: Path) -> None:
    assert error(tmp_path, GOOD + '[targets.aws]\nruntime = "python3.8"\n') == (
        'fpack.toml: [targets.aws] runtime = "python3.8": expected "python3.9", "python3.10", '
        '"python3.11", "python3.12", "python3.13" or "python3.14". Did you mean "python3.9"?'
    )


def test_wrong_type(tmp_path: Path) -> None:
    assert error(tmp_path, GOOD + '[targets.aws]\nlayer = "yes"\n') == (
        'fpack.toml: [targets.aws] layer = "yes": expected true or false.'
    )
    assert error(
        tmp_path, GOOD.replace('handler = "app:hello"', 'handler = "app:hello"\nmemory = "512"')
    ) == ('fpack.toml: [functions.hello] memory = "512": expected an integer.')


def test_bad_handler_format(tmp_path: Path) -> None:
    # Lambda's spelling: refused, with fpack's ready to paste
    assert error(tmp_path, GOOD.replace("app:hello", "app.hello")) == (
        'fpack.toml: [functions.hello] handler = "app.hello": expected "module:attribute". '
        'Did you mean "app:hello"? (fpack separates the module from the function with a colon, '
        "where Lambda uses a dot)"
    )
    assert error(tmp_path, GOOD.replace("app:hello", "hello")) == (
        'fpack.toml: [functions.hello] handler = "hello": expected "module:attribute", '
        'e.g. "app.images:resize" (a dotted module path, a colon, a function name).'
    )


def test_unknown_trigger_and_style(tmp_path: Path) -> None:
    assert error(tmp_path, GOOD + 'trigger = "cron"\n') == (
        'fpack.toml: [functions.hello] trigger = "cron": expected "http", "storage", "queue", '
        '"schedule" or "stream". Did you mean "schedule"?'
    )
    assert error(tmp_path, GOOD + 'style = "lamda"\n') == (
        'fpack.toml: [functions.hello] style = "lamda": expected "portable", "lambda", '
        '"functions-framework", "asgi" or "wsgi". Did you mean "lambda"?'
    )


def test_unknown_docker_flavor(tmp_path: Path) -> None:
    assert error(tmp_path, GOOD + '[targets.docker]\nflavor = "lamda"\n') == (
        'fpack.toml: [targets.docker] flavor = "lamda": expected "http" or "lambda". '
        'Did you mean "lambda"?'
    )
    project = config.load(write(tmp_path, GOOD + '[targets.docker]\nflavor = "lambda"\n'))
    assert project.docker.flavor == "lambda"


def test_the_runtimes_web_styles_are_config_styles() -> None:
    # fpack.runtime.web defines them as plain strings (it cannot import fpack.config); config checks
    # them against Style, which the type checker cannot tie to the runtime's tuple.
    assert set(web.WEB_STYLES) <= set(config.STYLES)


def test_no_functions(tmp_path: Path) -> None:
    assert error(tmp_path, '[project]\nname = "x"\n') == (
        "fpack.toml: no functions: add at least one [functions.NAME] table with a handler, e.g.\n"
        '  [functions.hello]\n  handler = "app:hello"'
    )


def test_missing_dependency_file(tmp_path: Path) -> None:
    text = GOOD.replace('python = "3.11"', 'python = "3.11"\ndependencies = "reqs.txt"')
    message = error(tmp_path, text)
    assert message == (
        f'fpack.toml: [project] dependencies = "reqs.txt": no such file {tmp_path}/reqs.txt. '
        "Expected a requirements file, a pyproject.toml or a uv.lock."
    )


def test_invalid_toml_and_unknown_tables(tmp_path: Path) -> None:
    assert error(tmp_path, "[project\n").startswith("fpack.toml: not valid TOML: ")
    assert error(tmp_path, GOOD + "[target.aws]\n") == (
        'fpack.toml: unknown table [target]. Did you mean "targets"? Allowed: [project], '
        "[functions.NAME], [targets.aws|gcp|docker], [check], [cache]."
    )
    assert error(tmp_path, GOOD + "[targets.azure]\n") == (
        'fpack.toml: unknown target [targets.azure]. Allowed: "aws", "gcp", "docker".'
    )


def test_style_fits() -> None:
    assert config.style_fits("lambda", "aws")
    assert not config.style_fits("lambda", "gcp")
    assert config.style_fits("lambda", "docker", "lambda")
    assert not config.style_fits("lambda", "docker", "http")
    assert config.style_fits("functions-framework", "docker", "http")
    assert not config.style_fits("functions-framework", "aws")


def test_find_config_walks_up(tmp_path: Path) -> None:
    path = write(tmp_path, GOOD)
    sub = tmp_path / "a" / "b"
    sub.mkdir(parents=True)
    assert config.find_config(sub) == path
    with pytest.raises(ConfigError, match=r"no fpack\.toml in"):
        config.find_config(Path("/"))


def test_web_app_styles_serve_http_and_take_a_base_path(tmp_path: Path) -> None:
    project = config.load(write(tmp_path, GOOD + 'style = "asgi"\nbase_path = "/api/"\n'))
    assert project.functions["hello"].base_path == "/api"
    assert config.style_fits("wsgi", "gcp") and config.style_fits("asgi", "docker", "http")
    assert error(tmp_path, GOOD + 'style = "wsgi"\ntrigger = "queue"\n') == (
        'fpack.toml: [functions.hello] style = "wsgi": a web app serves http requests, and this '
        'function\'s trigger is "queue". Use trigger = "http".'
    )
    assert error(tmp_path, GOOD + 'base_path = "/api"\n') == (
        'fpack.toml: [functions.hello] base_path = "/api": only for style = "asgi" or "wsgi", '
        'and this function\'s style is "portable".'
    )
    assert error(tmp_path, GOOD + 'style = "asgi"\nbase_path = "api"\n') == (
        'fpack.toml: [functions.hello] base_path = "api": expected a URL path starting with "/", '
        'e.g. "/api" (the custom domain\'s base path mapping).'
    )


def test_the_web_styles_are_the_runtimes() -> None:
    """config.py keeps its own copy so that reading fpack.toml does not load fpack.runtime."""
    from fpack.runtime.web import WEB_STYLES

    assert config.WEB_STYLES == WEB_STYLES
