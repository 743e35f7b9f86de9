"""Files that look like secrets, among the files a build would package.

A credential inside a zip that is uploaded to a cloud, pushed to a registry or attached to a
release is a leaked credential. `scan` looks at what the source snapshot selected: names first
(.env files, SSH and PKCS#12 keys, .netrc), then the content of every text file for private keys,
AWS access keys and well-known token formats. `fpack check` reports the findings as FP6xx problems;
`refuse` turns the same findings, word for word, into the error `fpack build` stops with.
Let a file through with a glob in `[check] allow`, or a line with the marker `fpack: allow-secret`.
Messages never repeat the secret itself: they end up in CI logs.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Final

from fpack.checks import Problem
from fpack.errors import BuildError
from fpack.sources import SourceFile, glob_source, matches

ALLOW_MARKER: Final = b"fpack: allow-secret"
# Files that hold credentials by their very name: (glob, what it is).
SECRET_FILES: Final[tuple[tuple[str, str], ...]] = (
    ("**/.env", "a .env file"),
    ("**/.env.*", "a .env file"),
    ("**/id_rsa", "an SSH private key"),
    ("**/id_dsa", "an SSH private key"),
    ("**/id_ecdsa", "an SSH private key"),
    ("**/id_ed25519", "an SSH private key"),
    ("**/*.p12", "a PKCS#12 key store"),
    ("**/*.pfx", "a PKCS#12 key store"),
    ("**/*.jks", "a Java key store"),
    ("**/.netrc", "a .netrc file (login passwords)"),
    ("**/.pypirc", "a .pypirc file (package index passwords)"),
    ("**/.git-credentials", "a git credential store"),
    ("**/.aws/credentials", "an AWS credentials file"),
)
# `.env.example` and friends are templates that document the variables, without values.
_ENV_TEMPLATES: Final = (".example", ".sample", ".template", ".dist")
# (code, what it is, pattern). Token formats as their issuers document them.
CONTENT_PATTERNS: Final[tuple[tuple[str, str, re.Pattern[bytes]], ...]] = (
    ("FP602", "a private key",
     re.compile(rb"-----BEGIN (?:[A-Z0-9]+ )*PRIVATE KEY(?: BLOCK)?-----")),
    # https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_identifiers.html#identifiers-unique-ids
    ("FP603", "an AWS access key id",
     re.compile(rb"(?<![A-Z0-9])(?:AKIA|ASIA|ABIA|ACCA)[A-Z2-7]{16}(?![A-Z0-9])")),
    ("FP604", "an AWS secret access key", re.compile(
        rb"(?i)aws_?secret_?access_?key['\"]?\s*[:=]\s*['\"]?[A-Za-z0-9/+]{40}(?![A-Za-z0-9/+])")),
    ("FP604", "a GitHub token",
     re.compile(rb"\b(?:gh[pousr]_[A-Za-z0-9]{36}|github_pat_[A-Za-z0-9_]{82})\b")),
    ("FP604", "a GitLab token", re.compile(rb"\bglpat-[A-Za-z0-9_\-]{20}\b")),
    ("FP604", "a Slack token", re.compile(rb"\bxox[abposr]-[A-Za-z0-9-]{10,}")),
    ("FP604", "a Google API key", re.compile(rb"\bAIza[0-9A-Za-z_\-]{35}(?![0-9A-Za-z_\-])")),
    ("FP604", "a Stripe secret key", re.compile(rb"\b[rs]k_live_[0-9A-Za-z]{24,}")),
    ("FP604", "a PyPI token", re.compile(rb"\bpypi-AgEIcHlwaS5vcmc[A-Za-z0-9_\-]{50,}")),
    ("FP604", "a password in a URL",
     re.compile(rb"\b[a-z][a-z0-9+.\-]*://[^/\s:@'\"]*:(?P<password>[^/\s@'\"]+)@[\w.\-]")),
)
# Values that document a credential's place rather than hold one.
_PLACEHOLDERS: Final = re.compile(
    rb"EXAMPLE|^(?:\$|\{|<|%|\*|\.\.\.)|^(?:password|passwd|pass|pwd|secret|token|changeme|xxx+)$",
    re.IGNORECASE,
)
_FIX: Final = "exclude the file or allow it in [check] allow"


def scan(files: Iterable[SourceFile], allow: Sequence[str]) -> list[Problem]:
    """Every file of `files` (not matched by an `allow` glob) that looks like it holds a secret."""
    problems: list[Problem] = []
    for f in files:
        if allow and matches(f.path, allow):
            continue
        named = _by_name(f)
        problems += [named] if named else _by_content(f)
    return problems


def refuse(files: Iterable[SourceFile], allow: Sequence[str], *, cwd: Path | None = None) -> None:
    """Stop a build that would package a secret, with the lines `fpack check` prints."""
    problems = scan(files, allow)
    if not problems:
        return
    here = cwd or Path.cwd()
    listing = "\n".join("  " + p.render(here) for p in problems)
    raise BuildError(
        f"refusing to package {len(problems)} file(s) that look like secrets:\n{listing}",
        hint='exclude them ([project] exclude = ["path"]), or allow them: [check] allow = '
        '["path/glob"] in fpack.toml, or "fpack: allow-secret" in a comment on the line',
    )


def _by_name(f: SourceFile) -> Problem | None:
    if f.path.endswith(_ENV_TEMPLATES):
        return None
    found = _secret_names().match(f.path)
    if found is None or found.lastgroup is None:
        return None
    what = SECRET_FILES[int(found.lastgroup.removeprefix("n"))][1]
    return Problem(path=f.abspath, line=1, code="FP601",
                   message=f"{what} would be packaged; {_FIX}")


@functools.cache
def _secret_names() -> re.Pattern[str]:
    """SECRET_FILES as one regex, a group per glob: the first that matches names the file, as
    a loop over them would, at the cost of one compile rather than thirteen."""
    return re.compile("|".join(f"(?P<n{i}>{glob_source(pattern)})"
                               for i, (pattern, _) in enumerate(SECRET_FILES)))


def _by_content(f: SourceFile) -> list[Problem]:
    data = f.abspath.read_bytes()
    if b"\0" in data[:8192]:  # binary: key stores are caught by name, not by content
        return []
    problems = []
    for code, what, pattern in CONTENT_PATTERNS:
        for m in pattern.finditer(data):
            value = m.group("password") if "password" in pattern.groupindex else m.group(0)
            if _PLACEHOLDERS.search(value) or ALLOW_MARKER in _line_at(data, m.start()):
                continue
            problems.append(Problem(path=f.abspath, line=data.count(b"\n", 0, m.start()) + 1,
                                    code=code, message=f"{what} would be packaged; {_FIX}"))
    return problems


def _line_at(data: bytes, pos: int) -> bytes:
    end = data.find(b"\n", pos)
    return data[data.rfind(b"\n", 0, pos) + 1 : end if end >= 0 else len(data)]
