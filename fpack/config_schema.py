"""The vocabulary fpack.toml is checked with: each key's type, near-miss suggestions, and the
reader whose errors name the file, the table and the key (used by fpack.config)."""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path
from typing import Any, Final, TypeVar

from fpack.errors import ConfigError

# --- the schema: key -> (checker, description of what is expected) -------------------------------

Checker = Callable[[Any], bool]
# A closed set of strings, usually a Literal alias: `Reader.choice` returns the member it matched.
C = TypeVar("C", bound=str)


def _is_str(v: Any) -> bool:
    return isinstance(v, str)


def _is_int(v: Any) -> bool:
    return isinstance(v, int) and not isinstance(v, bool)


def _is_bool(v: Any) -> bool:
    return isinstance(v, bool)


def _is_str_list(v: Any) -> bool:
    return isinstance(v, list) and all(isinstance(x, str) for x in v)


def _is_str_table(v: Any) -> bool:
    return isinstance(v, dict) and all(isinstance(x, str) for x in v.values())


def _is_table(v: Any) -> bool:
    return isinstance(v, dict)


STR: Final = (_is_str, "a string")
INT: Final = (_is_int, "an integer")
BOOL: Final = (_is_bool, "true or false")
STR_LIST: Final = (_is_str_list, "a list of strings")
STR_TABLE: Final = (_is_str_table, 'a table of strings, e.g. { KEY = "value" }')
TABLE: Final = (_is_table, "a table")

SCHEMA: Final[dict[str, dict[str, tuple[Checker, str]]]] = {
    "project": {"name": STR, "python": STR, "dependencies": STR, "include": STR_LIST,
                "exclude": STR_LIST, "groups": STR_LIST},
    "functions": {"handler": STR, "trigger": STR, "style": STR, "memory": INT,
                  "timeout": INT, "env": STR_TABLE, "url": BOOL, "bucket": STR,
                  "queue": STR, "topic": STR, "schedule": STR, "max_instances": INT,
                  "base_path": STR, "concurrency": INT, "warm": INT,
                  "stream": STR, "start": STR, "batch_size": INT,
                  # a function of its own directory (monorepos): where its files and spec are
                  "dir": STR, "include": STR_LIST, "exclude": STR_LIST, "dependencies": STR},
    "aws": {"runtime": STR, "arch": STR, "layer": BOOL, "region": STR, "role": STR,
            "build_image": STR, "base_image": STR, "alias": STR, "artifact_bucket": STR,
            "create_bucket": BOOL, "compile": BOOL, "snap_start": BOOL,
            "slim": BOOL, "slim_keep": STR_LIST, "sdk": STR},
    "gcp": {"runtime": STR, "region": STR, "project": STR, "vendor": BOOL,
            "build_image": STR, "base_image": STR, "api_endpoint": STR, "compile": BOOL},
    "docker": {"flavor": STR, "arch": STR, "python": STR, "base_image": STR,
               "build_image": STR, "repository": STR, "compile": BOOL, "cloud_run": TABLE,
               "slim": BOOL, "slim_keep": STR_LIST},
    # [targets.docker] cloud_run = { ... }: where deploy runs the http images
    "cloud_run": {"project": STR, "region": STR, "api_endpoint": STR},
    "check": {"allow": STR_LIST},
    # [cache] url = "s3://bucket/prefix" or "gs://…": the shared cache (FPACK_CACHE_URL wins)
    "cache": {"url": STR},
}  # fmt: skip

NAME_RE: Final = re.compile(r"^[A-Za-z][A-Za-z0-9_-]{0,63}$")
HANDLER_RE: Final = re.compile(r"^[A-Za-z_][\w]*(\.[A-Za-z_]\w*)*:[A-Za-z_]\w*$")
PY_RE: Final = re.compile(r"^3\.(\d+)$")


def quote(values: tuple[str, ...] | list[str]) -> str:
    quoted = [f'"{v}"' for v in values]
    return quoted[0] if len(quoted) == 1 else ", ".join(quoted[:-1]) + " or " + quoted[-1]


# Names people use for the same thing: difflib alone would map "amd64" to "arm64".
ALIASES: Final = {
    "amd64": "x86_64",
    "x64": "x86_64",
    "x86-64": "x86_64",
    "aarch64": "arm64",
    "armv8": "arm64",
    "py312": "python3.12",
    "cron": "schedule",
    "sqs": "queue",
    "s3": "storage",
    "pubsub": "queue",
    "gcs": "storage",
}


def suggest(value: str, choices: tuple[str, ...] | list[str]) -> str:
    import difflib  # noqa: PLC0415 - only a config error needs it

    alias = ALIASES.get(value.lower())
    close = (
        [alias]
        if alias in choices
        else difflib.get_close_matches(value, list(choices), n=1, cutoff=0.5)
    )
    return f' Did you mean "{close[0]}"?' if close else ""


class Reader:
    """Validates one parsed fpack.toml; `where` strings are how errors name a place."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def fail(self, where: str, message: str) -> ConfigError:
        return ConfigError(f"{self.path}: {where}{message}")

    def table(self, data: Any, where: str, schema: str) -> dict[str, Any]:
        if not isinstance(data, dict):
            raise self.fail(where, ": expected a table")
        allowed = SCHEMA[schema]
        for key, value in data.items():
            if key not in allowed:
                raise self.fail(
                    where,
                    f': unknown key "{key}".{suggest(key, list(allowed))} '
                    f"Allowed keys: {', '.join(allowed)}.",
                )
            check, expected = allowed[key]
            if not check(value):
                raise self.fail(where, f" {key} = {toml_value(value)}: expected {expected}.")
        return data

    def choice(self, where: str, key: str, value: str, choices: tuple[C, ...]) -> C:
        """The member of `choices` equal to `value`, typed as the set it was checked against."""
        for member in choices:  # returning the member, not `value`, is what narrows str to C
            if member == value:
                return member
        raise self.fail(
            where, f' {key} = "{value}": expected {quote(choices)}.{suggest(value, choices)}'
        )


def toml_value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return f'"{value}"'
    return repr(value)
