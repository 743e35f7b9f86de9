"""A new user's first hour, in the lab: a Flask project laid out by the framework's convention, its
app in a top-level main.py, built for gcp and served by functions-framework as Google's build
installs and launches a bundle (tests/integration/test_gcp.py's `_serve`: the buildpack's pip
install, then functions-framework loading the file GOOGLE_FUNCTION_SOURCE names)."""

from __future__ import annotations

import json
import zipfile
from pathlib import Path

import pytest

from tests.integration import lab
from tests.integration.test_gcp import _send, _serve

pytestmark = pytest.mark.lab

MAIN = '''\
from flask import Flask, request

app = Flask(__name__)


@app.get("/hello")
def hello():
    return {"hello": request.args.get("name", "world"), "module": __name__}
'''


def test_a_flask_project_with_its_own_main_py_builds_and_serves_on_gcp(tmp_path: Path) -> None:
    project = tmp_path / "site"
    project.mkdir()
    (project / "main.py").write_text(MAIN)
    (project / "requirements.txt").write_text("flask\n")
    (project / "fpack.toml").write_text(
        '[project]\nname = "site"\npython = "3.11"\n\n'
        '[functions.web]\nhandler = "main:app"\nstyle = "wsgi"\n\n'
        '[targets.gcp]\nruntime = "python311"\n')
    [manifest] = lab.build(project, "gcp")
    assert manifest["build_env"] == {"GOOGLE_FUNCTION_SOURCE": "fpack_entry.py"}
    with zipfile.ZipFile(project / manifest["path"]) as z:
        assert z.read("main.py").decode() == MAIN  # the project's own, as it is
        assert "from main import app as _handler" in z.read("fpack_entry.py").decode()

    pip_cache = tmp_path / "pip-cache"
    pip_cache.mkdir()
    with _serve(project, lab.IMAGES[(3, 11)], tmp_path / "run", pip_cache,
                vendor=False) as served:
        status, body = _send(served.urls["web"] + "/hello?name=gcp", b"", {}, "GET")
    assert (status, json.loads(body)) == (200, {"hello": "gcp", "module": "main"})
