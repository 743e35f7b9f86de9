"""Cloud Functions this project deployed that fpack.toml no longer names ("orphans"): found by
their labels, kept and named, or with --prune deleted (their Cloud Scheduler job first). Also the
names and labels that mark what fpack deploys, which the rest of the gcp deployer uses.

Ownership is what makes deleting safe: every function fpack deploys carries the labels
`fpack-project` and `fpack-function`, and only a function with this project's label is ever an
orphan; a job is deleted only if its description says fpack made it.
"""

from __future__ import annotations

from collections.abc import Collection, Sequence
from dataclasses import dataclass, replace
from typing import Final

from fpack.cloud.gcp_client import GcpClient, LiveFunction
from fpack.cloud.gcp_scheduler import SchedulerClient
from fpack.config import Project
from fpack.deploy.models import Change, Deployment, Orphans
from fpack.errors import ConfigError, DeployError
from fpack.report import Reporter

LABEL_PROJECT: Final = "fpack-project"
LABEL_FUNCTION: Final = "fpack-function"
JOB_MARK: Final = "fpack: "  # how the description of a job fpack made starts


def label(text: str) -> str:
    """A name as a function ID or label value allows: lower case, [a-z0-9-], at most 63."""
    return text.lower().replace("_", "-")[:63]


def function_id(project: str, function: str) -> str:
    return label(f"{project}-{function}")


def parent_of(project: Project) -> str:
    if not project.gcp.project or not project.gcp.region:
        raise ConfigError(f'{project.config_path}: [targets.gcp]: deploy needs "project" and '
                          '"region", e.g. project = "my-project", region = "us-central1"')
    return f"projects/{project.gcp.project}/locations/{project.gcp.region}"


@dataclass(frozen=True, kw_only=True)
class GcpOrphan:
    """A function fpack deployed for this project that fpack.toml no longer names."""

    function: str  # its fpack-function label
    name: str  # projects/P/locations/R/functions/ID
    job: str | None = None  # the name of its Cloud Scheduler job, if fpack made one (--prune only)

    @property
    def function_id(self) -> str:
        return self.name.rsplit("/", 1)[1]


@dataclass(frozen=True, kw_only=True)
class OrphanStep:
    orphan: GcpOrphan
    delete: bool

    def changes(self) -> tuple[Change, ...]:
        fid = self.orphan.function_id
        if not self.delete:
            return (Change(resource=f"function {fid}", action="keep",
                           detail="not in fpack.toml; --prune deletes it"),)
        job = (Change(resource=f"scheduler job {fid}", action="delete"),) if self.orphan.job else ()
        return (*job, Change(resource=f"function {fid}", action="delete"))

    def result(self) -> Deployment:
        return Deployment(function=self.orphan.function, target="gcp", name=self.orphan.name,
                          action="delete" if self.delete else "keep", changes=self.changes())


def look_for_orphans(gcp: GcpClient, project: Project, orphans: Orphans,
                      reporter: Reporter) -> tuple[GcpOrphan, ...]:
    """Without --prune, looking is a courtesy: an identity that may not list functions
    (cloudfunctions.functions.list) still deploys, with a warning."""
    if orphans == "ignore":
        return ()
    try:
        return read_orphans(gcp, project, reporter)
    except DeployError as e:
        if orphans == "delete":
            raise
        reporter.warn(f"{e.message}: functions removed from fpack.toml were not looked for")
        return ()


def read_orphans(gcp: GcpClient, project: Project, reporter: Reporter) -> tuple[GcpOrphan, ...]:
    """The functions labelled with this project, in its region, that fpack.toml no longer names."""
    parent = parent_of(project)
    reporter.step(f"looking for functions labelled {LABEL_PROJECT}={label(project.name)} "
                  "that fpack.toml no longer names")
    found = gcp.labeled(parent, LABEL_PROJECT, label(project.name))
    wanted = {f"{parent}/functions/{function_id(project.name, fn)}" for fn in project.functions}
    return orphans(label(project.name), wanted, found)


def orphans(project_label: str, wanted: Collection[str],
            found: Sequence[LiveFunction]) -> tuple[GcpOrphan, ...]:
    """Those of `found` labelled with the project and not named by fpack.toml (pure)."""
    return tuple(GcpOrphan(function=f.config.labels.get(LABEL_FUNCTION, ""), name=f.name)
                 for f in sorted(found, key=lambda f: f.name)
                 if f.config.labels.get(LABEL_PROJECT) == project_label and f.name not in wanted)


def with_job(scheduler: SchedulerClient | None, o: GcpOrphan) -> GcpOrphan:
    """The orphan with its Cloud Scheduler job, when one with its ID exists and fpack made it."""
    assert scheduler is not None, "deploy connects a SchedulerClient to prune"
    name = f"{o.name.split('/functions/')[0]}/jobs/{o.function_id}"
    job = scheduler.get_job(name)
    return replace(o, job=name) if job and job.description.startswith(JOB_MARK) else o


def prune(gcp: GcpClient, scheduler: SchedulerClient | None, step: OrphanStep,
          reporter: Reporter) -> None:
    """Delete the job (it would fire into a topic nobody reads), then the function."""
    if not step.delete:
        return
    for change in step.changes():
        reporter.step(change.line())
    if step.orphan.job is not None:
        assert scheduler is not None
        scheduler.delete_job(step.orphan.job)
    gcp.delete(step.orphan.name)
