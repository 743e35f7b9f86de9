"""What a deploy does about functions gone from fpack.toml, decided from the command line."""

from __future__ import annotations

from pathlib import Path

import pytest

from fpack import config
from fpack.deploy import aws, orphan_policy
from fpack.errors import DeployError, UsageError


def test_a_whole_project_deploy_keeps_or_prunes_and_a_partial_one_does_not_look() -> None:
    assert orphan_policy("aws", only=(), prune=False) == "keep"
    assert orphan_policy("gcp", only=(), prune=True) == "delete"
    assert orphan_policy("aws", only=("hello",), prune=False) == "ignore"
    assert orphan_policy("docker", only=(), prune=False) == "keep"  # its deployer never looks


def test_prune_with_function_is_a_usage_error() -> None:
    with pytest.raises(UsageError) as e:
        orphan_policy("aws", only=("hello",), prune=True)
    assert str(e.value) == (
        "--prune needs the whole project, to know which functions fpack.toml no longer names; "
        "it cannot be used with --function\n"
        "  hint: drop --function to prune, or --prune to deploy only some functions")
    assert e.value.exit_code == 2


def test_prune_for_docker_names_the_targets_it_works_for() -> None:
    with pytest.raises(UsageError) as e:
        orphan_policy("docker", only=(), prune=True)
    assert str(e.value) == (
        "--prune works with --target aws or gcp, not docker: the docker target pushes images and "
        "deletes nothing (its lambda flavor included) unless [targets.docker] cloud_run is set\n"
        "  hint: drop --prune, or deploy with --target aws or --target gcp")
    # With cloud_run, the docker target has Cloud Run services to prune.
    assert orphan_policy("docker", only=(), prune=True, cloud_run=True) == "delete"


class Recorder:
    def __init__(self) -> None:
        self.warnings: list[str] = []

    def step(self, message: str) -> None:
        pass

    def done(self, message: str) -> None:
        pass

    def warn(self, message: str) -> None:
        self.warnings.append(message)


class DeniedAws:
    """An identity without lambda:ListFunctions."""

    def functions_named(self, prefix: str) -> dict[str, str]:
        raise DeployError(f"AWS list_functions on functions {prefix}* failed: AccessDenied")


def test_without_prune_a_denied_listing_is_a_warning_and_with_prune_an_error(
        tmp_path: Path) -> None:
    (tmp_path / "fpack.toml").write_text('[project]\nname = "photos"\n\n[functions.hello]\n'
                                         'handler = "app:hello"\n')
    project = config.load(tmp_path / "fpack.toml")
    reporter = Recorder()

    assert aws._look_for_orphans(DeniedAws(), project, "keep", reporter) == ()  # type: ignore[arg-type]

    assert reporter.warnings == ["AWS list_functions on functions photos-* failed: AccessDenied: "
                                 "functions removed from fpack.toml were not looked for"]
    with pytest.raises(DeployError, match="AccessDenied"):
        aws._look_for_orphans(DeniedAws(), project, "delete", reporter)  # type: ignore[arg-type]
