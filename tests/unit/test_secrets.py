"""Secrets among the packaged files: by name, by content, allowed by glob or marker; the build
refuses them with the very lines `fpack check` prints."""

from __future__ import annotations

from pathlib import Path

import pytest

from fpack import build, config, inputs, secrets
from fpack.errors import BuildError
from fpack.sources import snapshot

# Built at run time so this file does not itself look like it holds secrets.
AKIA = "AKIA" + "Z7VXQ3J5R2MHL4PA"
SECRET_KEY = "Zx9" + "k" * 37
GITHUB = "ghp_" + "a1B2" * 9
PEM = "-----BEGIN " + "RSA PRIVATE KEY-----\nMIIE...\n-----END RSA PRIVATE KEY-----\n"


def scan(root: Path, files: dict[str, str | bytes], allow: tuple[str, ...] = ()) -> list[str]:
    for name, content in files.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        if isinstance(content, bytes):
            path.write_bytes(content)
        else:
            path.write_text(content)
    return [p.render(root) for p in secrets.scan(snapshot(root, ["**"], ()), allow)]


FIX = "exclude the file or allow it in [check] allow"


@pytest.mark.parametrize(("name", "what"), [
    ("app/.env", "a .env file"),
    (".env.production", "a .env file"),
    ("deploy/id_ed25519", "an SSH private key"),
    ("certs/client.p12", "a PKCS#12 key store"),
    (".netrc", "a .netrc file (login passwords)"),
    ("home/.aws/credentials", "an AWS credentials file"),
])  # fmt: skip
def test_secret_files_by_name(tmp_path: Path, name: str, what: str) -> None:
    assert scan(tmp_path, {name: "x=1\n"}) == [f"{name}:1: FP601 {what} would be packaged; {FIX}"]


def test_env_templates_are_not_secrets(tmp_path: Path) -> None:
    assert scan(tmp_path, {".env.example": "TOKEN=\n", "app/.env.sample": "TOKEN=\n"}) == []


@pytest.mark.parametrize(("content", "code", "what"), [
    (PEM, "FP602", "a private key"),
    ('{"type": "service_account", "private_key": "-----BEGIN PRIVATE KEY-----\\nMII"}', "FP602",
     "a private key"),
    (f'KEY = "{AKIA}"', "FP603", "an AWS access key id"),
    (f"aws_secret_access_key = {SECRET_KEY}", "FP604", "an AWS secret access key"),
    (f"token = '{GITHUB}'", "FP604", "a GitHub token"),
    ("DB = 'postgresql://app:" + "s3cr3t-Value" + "@db.internal/app'", "FP604",
     "a password in a URL"),
])  # fmt: skip
def test_credentials_by_content_with_their_line(tmp_path: Path, content: str, code: str,
                                                what: str) -> None:
    found = scan(tmp_path, {"app/settings.py": f"import os\n\n{content}\n"})
    assert found == [f"app/settings.py:3: {code} {what} would be packaged; {FIX}"]


@pytest.mark.parametrize("content", [
    "KEY = 'AKIAIOSFODNN7EXAMPLE'",  # AWS's documented example key
    "aws_secret_access_key = wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY",
    "URL = 'postgresql://user:password@localhost/db'",
    "URL = f'postgresql://{user}:{password}@{host}/db'",
    "URL = 'redis://:${REDIS_PASSWORD}@cache:6379'",
    "PUBLIC = '-----BEGIN PUBLIC KEY-----'",
    f'KEY = "{AKIA}"  # fpack: allow-secret (a revoked key, kept as a test fixture)',
])  # fmt: skip
def test_placeholders_public_keys_and_marked_lines_pass(tmp_path: Path, content: str) -> None:
    assert scan(tmp_path, {"app/conf.py": content + "\n"}) == []


def test_binary_files_are_not_read_as_text(tmp_path: Path) -> None:
    assert scan(tmp_path, {"app/logo.png": b"\x89PNG\0\0" + AKIA.encode()}) == []


def test_allow_globs(tmp_path: Path) -> None:
    files = {"app/.env": "A=1\n", "fixtures/key.pem": PEM, "app/main.py": f"K = '{AKIA}'\n"}
    assert scan(tmp_path, files, allow=("app/.env", "fixtures/**")) == [
        f"app/main.py:1: FP603 an AWS access key id would be packaged; {FIX}"
    ]


def test_every_finding_is_reported_never_the_secret(tmp_path: Path) -> None:
    found = scan(tmp_path, {"a.py": f"X = '{AKIA}'\nY = 1\nZ = '{GITHUB}'\n"})
    assert [f.split(" ", 2)[:2] for f in found] == [["a.py:1:", "FP603"], ["a.py:3:", "FP604"]]
    assert not any(AKIA in f or GITHUB in f for f in found)


def test_build_refuses_with_the_lines_check_prints(tmp_path: Path,
                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "app").mkdir()
    (tmp_path / "app" / "__init__.py").write_text("def hello(request):\n    return {}\n")
    (tmp_path / "app" / ".env").write_text("TOKEN=abc\n")
    (tmp_path / "fpack.toml").write_text('[functions.hello]\nhandler = "app:hello"\n')
    monkeypatch.chdir(tmp_path)
    project = config.load(tmp_path / "fpack.toml")
    with pytest.raises(BuildError) as info:
        build.make_plan(project, "aws", inputs=inputs.read(), out=Path("dist"))
    assert str(info.value) == (
        "refusing to package 1 file(s) that look like secrets:\n"
        f"  app/.env:1: FP601 a .env file would be packaged; {FIX}\n"
        '  hint: exclude them ([project] exclude = ["path"]), or allow them: [check] allow = '
        '["path/glob"] in fpack.toml, or "fpack: allow-secret" in a comment on the line'
    )
    (tmp_path / "fpack.toml").write_text(
        '[functions.hello]\nhandler = "app:hello"\n\n[check]\nallow = ["app/.env"]\n')
    plan = build.make_plan(config.load(tmp_path / "fpack.toml"), "aws", inputs=inputs.read(),
                            out=Path("dist"))
    assert "app/.env" in [f.path for f in plan.sources]  # allowed: packaged as asked
