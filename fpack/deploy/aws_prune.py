"""Functions this project deployed that fpack.toml no longer names ("orphans"), planned: kept
and named, or with --prune deleted, their triggers first. Pure, like the rest of the plan.

Ownership is what makes deleting safe: every function fpack deploys is tagged `fpack:project` and
`fpack:function`, and only a function with the project's name prefix AND that project tag can be an
orphan. A function someone made by hand under the same prefix is never one.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping
from dataclasses import dataclass, field
from typing import Final

from fpack.cloud.aws_wiring import mapping_source
from fpack.deploy.models import Change

OWNER_PROJECT: Final = "fpack:project"
OWNER_FUNCTION: Final = "fpack:function"


def rule_of(name: str) -> str:
    """The EventBridge rule fpack makes for a schedule function."""
    return f"{name}-schedule"[:64]


def owner_tags(project: str, function: str) -> dict[str, str]:
    """The tags that mark a function as deployed by fpack for `project`."""
    return {OWNER_PROJECT: project, OWNER_FUNCTION: function}


@dataclass(frozen=True, kw_only=True)
class Orphan:
    """A function fpack deployed for this project that fpack.toml no longer names. Its triggers
    are read only when it is to be deleted; each points at this function (or its versions)."""

    name: str
    function: str  # its fpack:function tag
    arn: str  # unqualified
    rule_targets: tuple[str, ...] = ()  # ids of the targets of `rule_of(name)` that invoke it
    rule_shared: bool = False  # that rule has other targets too: keep the rule itself
    mappings: Mapping[str, str] = field(default_factory=dict)  # UUID -> event source ARN
    buckets: tuple[str, ...] = ()  # buckets with notification entries that invoke it
    # subscription ARN -> topic ARN: SNS subscriptions that invoke it. A deleted function's
    # subscription stays on its topic (SNS keeps trying to deliver): so it is removed first.
    subscriptions: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True, kw_only=True)
class Keep:
    orphan: Orphan

    def change(self) -> Change:
        return Change(resource=f"function {self.orphan.name}", action="keep",
                      detail="not in fpack.toml; --prune deletes it")


@dataclass(frozen=True, kw_only=True)
class Unschedule:
    orphan: Orphan

    def change(self) -> Change:
        rule = rule_of(self.orphan.name)
        if self.orphan.rule_shared:
            return Change(resource=f"EventBridge rule {rule}", action="update",
                          detail="its target removed; the rule has others, so it stays")
        return Change(resource=f"EventBridge rule {rule}", action="delete")


@dataclass(frozen=True, kw_only=True)
class Unmap:
    orphan: Orphan
    uuid: str

    def change(self) -> Change:
        source = self.orphan.mappings[self.uuid]
        return Change(resource=f"{mapping_source(source)} mapping from {source}",
                      action="delete", detail=self.uuid)


@dataclass(frozen=True, kw_only=True)
class Unsubscribe:
    orphan: Orphan
    subscription: str  # its ARN

    def change(self) -> Change:
        topic = self.orphan.subscriptions[self.subscription]
        return Change(resource=f"SNS subscription to {topic}", action="delete",
                      detail=self.subscription.rsplit(":", 1)[-1])


@dataclass(frozen=True, kw_only=True)
class Unnotify:
    orphan: Orphan
    bucket: str

    def change(self) -> Change:
        return Change(resource=f"S3 notification on bucket {self.bucket}", action="delete",
                      detail=f"the entries that invoke {self.orphan.name}")


@dataclass(frozen=True, kw_only=True)
class Delete:
    orphan: Orphan

    def change(self) -> Change:
        return Change(resource=f"function {self.orphan.name}", action="delete")


PruneStep = Keep | Unschedule | Unmap | Unnotify | Unsubscribe | Delete


@dataclass(frozen=True, kw_only=True)
class OrphanPlan:
    orphan: Orphan
    steps: tuple[PruneStep, ...]

    @property
    def delete(self) -> bool:
        return any(isinstance(s, Delete) for s in self.steps)


def orphan_names(project: str, wanted: Collection[str],
                 tags: Mapping[str, Mapping[str, str]]) -> tuple[str, ...]:
    """The functions, among those with the project's name prefix (name -> tags), that fpack
    deployed for `project` and fpack.toml no longer names. One without the tag is never one."""
    return tuple(sorted(name for name, t in tags.items()
                        if name.startswith(f"{project}-") and name not in wanted
                        and t.get(OWNER_PROJECT) == project))


def plan_orphan(orphan: Orphan, *, prune: bool) -> OrphanPlan:
    """Keep it (named in the plan), or delete its triggers and then it."""
    if not prune:
        return OrphanPlan(orphan=orphan, steps=(Keep(orphan=orphan),))
    steps: list[PruneStep] = [Unschedule(orphan=orphan)] if orphan.rule_targets else []
    steps += [Unmap(orphan=orphan, uuid=uuid) for uuid in sorted(orphan.mappings)]
    steps += [Unnotify(orphan=orphan, bucket=b) for b in orphan.buckets]
    steps += [Unsubscribe(orphan=orphan, subscription=arn) for arn in sorted(orphan.subscriptions)]
    return OrphanPlan(orphan=orphan, steps=(*steps, Delete(orphan=orphan)))
