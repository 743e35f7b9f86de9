"""Pure planning for AWS Lambda: desired specs and the live state read from AWS → steps.

No I/O. The plan decides, per function, what would be created, updated or left alone:
- a layer is published only when no existing version carries its content hash (recorded in the
  layer version's Description as `fpack sha256:<hex>`), so an unchanged layer is never re-published;
- code is sent only when the zip's CodeSha256 (or image URI, or arch) differs from $LATEST, or when
  the last update of $LATEST failed; settings only when a compared field differs;
- a version is published and the alias moved when anything changed, or when the alias does not
  yet point at a version with exactly this code and settings: so a deploy interrupted between the
  update and the release converges when run again, and a failed one leaves the alias alone. A new
  layer version is a settings change (the function's Layers), so it publishes a function version
  too, and the alias serves the new layer (SAM's AutoPublishAlias hashes the code alone and misses
  it: serverless-application-model#3802);
- SnapStart (`[targets.aws] snap_start`) is a setting, so turning it on or off publishes a version;
  with it on, the alias moves only once the new version is optimised (the executor waits), and a
  version that never was is released again;
- reserved concurrency (the function's) and provisioned concurrency (the alias's `warm`) are set,
  changed or removed when they differ from fpack.toml, after the release; they publish nothing;
- triggers (Function URL, S3 notification, SQS mapping, Kinesis or DynamoDB stream mapping, SNS
  subscription, EventBridge schedule) and the permissions they need are added only when missing
  or different; a function may have more than one (a queue function: an SQS queue and an SNS
  topic). They always point at the alias;
- ownership: every function is tagged `fpack:project` and `fpack:function` (on create, or when a
  tag is missing: a function that has them gets no write). Only a function with the project's name
  prefix AND its `fpack:project` tag is ever an orphan (deployed by fpack, gone from fpack.toml);
  orphans are kept and named, or with --prune deleted after every create and update (planned in
  aws_prune.py).
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Final, Literal

from fpack.cloud.aws_client import LambdaConfig, LayerVersion, Settings
from fpack.cloud.aws_wiring import (
    RESPONSE_TYPES,
    S3_EVENTS,
    LiveMapping,
    Provisioned,
    StreamMapping,
    mapping_source,
)
from fpack.deploy.aws_prune import Orphan, OrphanPlan, plan_orphan, rule_of
from fpack.deploy.models import Change, env_changes

LAYER_MARK: Final = "fpack sha256:"
WiringKind = Literal["url", "bucket", "queue", "schedule", "stream", "topic"]
# What AWS has for one trigger (see `_trigger_ok`): a stream's mapping, or for the others two
# facts (an id or ARN, and what it lists).
LiveTrigger = tuple[str, tuple[str, ...]] | LiveMapping
# Who invokes the function for each kind, granted in its resource policy ("" for none: Lambda
# itself polls SQS queues and streams, with the function's role).
PRINCIPALS: Final[dict[WiringKind, str]] = {
    "url": "*", "bucket": "s3.amazonaws.com", "schedule": "events.amazonaws.com",
    "topic": "sns.amazonaws.com", "queue": "", "stream": ""}


@dataclass(frozen=True, kw_only=True)
class LayerSpec:
    name: str
    path: Path
    sha256: str  # hex
    size: int
    runtime: str
    arch: str

    @property
    def description(self) -> str:
        return f"{LAYER_MARK}{self.sha256}"


@dataclass(frozen=True, kw_only=True)
class Wiring:
    kind: WiringKind
    source: str  # the bucket, queue, stream or topic ARN, or schedule expression ("" for a URL)
    mapping: StreamMapping | None = None  # stream: how its event source mapping reads

    def what(self) -> str:
        """The trigger's name in a plan line."""
        if self.kind in ("queue", "stream"):
            return f"{mapping_source(self.source)} mapping from"
        return {"bucket": "S3 notification on bucket", "schedule": "EventBridge rule",
                "topic": "SNS subscription to", "url": "URL"}[self.kind]


@dataclass(frozen=True, kw_only=True)
class FunctionSpec:
    """What one function should look like in Lambda. `settings.layers` holds layer *names*."""

    function: str  # the name in fpack.toml
    name: str  # the Lambda function name
    alias: str
    code_sha256: str  # base64, as Lambda reports it ("" for an image)
    zip_path: Path | None
    size: int
    image_uri: str | None
    settings: Settings
    wirings: tuple[Wiring, ...] = ()
    tags: Mapping[str, str] = field(default_factory=dict)  # see `owner_tags`
    # Neither is part of a version, so neither publishes one: reserved concurrency is the
    # function's, provisioned concurrency (`warm`) the alias's.
    concurrency: int | None = None
    warm: int | None = None

    @property
    def rule(self) -> str:
        return rule_of(self.name)


@dataclass(frozen=True, kw_only=True)
class LiveFunction:
    """What AWS has for one function; `released` is the configuration of the alias's version,
    `warm` the alias's provisioned concurrency (its reserved concurrency is `latest.reserved`)."""

    latest: LambdaConfig | None = None
    alias_version: str | None = None
    released: LambdaConfig | None = None
    url: str | None = None
    permissions: frozenset[str] = frozenset()
    triggers: Mapping[WiringKind, LiveTrigger] = field(default_factory=dict)  # see `_trigger_ok`
    warm: Provisioned | None = None


# --- steps: each is one call (or a short, fixed sequence) of the executor -------------------------


@dataclass(frozen=True, kw_only=True)
class Upload:
    bucket: str
    key: str
    path: Path
    create_bucket: bool

    def change(self) -> Change:
        return Change(resource=f"object s3://{self.bucket}/{self.key}", action="create",
                      detail=f"{self.path.name}, over the direct-upload limit")


@dataclass(frozen=True, kw_only=True)
class PublishLayer:
    layer: LayerSpec
    s3: tuple[str, str] | None

    def change(self) -> Change:
        return Change(resource=f"layer {self.layer.name}", action="create",
                      detail=f"new version, content sha256 {self.layer.sha256[:12]}")


@dataclass(frozen=True, kw_only=True)
class CreateFunction:
    spec: FunctionSpec
    s3: tuple[str, str] | None

    def change(self) -> Change:
        return Change(resource=f"function {self.spec.name}", action="create")


@dataclass(frozen=True, kw_only=True)
class UpdateCode:
    spec: FunctionSpec
    s3: tuple[str, str] | None

    def change(self) -> Change:
        return Change(resource=f"function {self.spec.name}", action="update", detail="code")


@dataclass(frozen=True, kw_only=True)
class UpdateSettings:
    spec: FunctionSpec
    fields: tuple[str, ...]

    def change(self) -> Change:
        return Change(resource=f"function {self.spec.name}", action="update",
                      detail=", ".join(self.fields))


@dataclass(frozen=True, kw_only=True)
class Release:
    """Wait for the update, publish a version, then move the alias to it (with SnapStart, once
    Lambda has snapshotted the version: before that it would serve cold starts, or fail)."""

    spec: FunctionSpec
    alias_exists: bool

    def change(self) -> Change:
        snap = ", once SnapStart has optimised it" if self.spec.settings.snap_start else ""
        return Change(resource=f"alias {self.spec.name}:{self.spec.alias}",
                      action="update" if self.alias_exists else "create",
                      detail=f"to a new version{snap}")


def _count_change(resource: str, count: int | None, was: int | None) -> Change:
    if count is None:
        return Change(resource=resource, action="delete", detail=f"was {was}")
    if was is None:
        return Change(resource=resource, action="create", detail=str(count))
    return Change(resource=resource, action="update",
                  detail=str(count) if count == was else f"{count}, was {was}")


@dataclass(frozen=True, kw_only=True)
class Reserve:
    """Reserved concurrency (`concurrency`): set, changed, or removed (`count` None)."""

    spec: FunctionSpec
    count: int | None
    was: int | None

    def change(self) -> Change:
        return _count_change(f"reserved concurrency of function {self.spec.name}", self.count,
                             self.was)


@dataclass(frozen=True, kw_only=True)
class Provision:
    """Provisioned concurrency on the alias (`warm`): set, changed, removed (`count` None), or
    asked again after Lambda's allocation failed (`failed`)."""

    spec: FunctionSpec
    count: int | None
    was: int | None
    failed: bool = False

    def change(self) -> Change:
        c = _count_change(f"provisioned concurrency of alias {self.spec.name}:{self.spec.alias}",
                          self.count, self.was)
        return replace(c, detail=f"{c.detail}, the last allocation failed") if self.failed else c


@dataclass(frozen=True, kw_only=True)
class CreateUrl:
    spec: FunctionSpec

    def change(self) -> Change:
        return Change(resource=f"function URL of {self.spec.name}:{self.spec.alias}",
                      action="create", detail="public (auth NONE)")


@dataclass(frozen=True, kw_only=True)
class Permit:
    spec: FunctionSpec
    wiring: Wiring
    sid: str
    principal: str

    def change(self) -> Change:
        return Change(resource=f"permission {self.sid} on {self.spec.name}:{self.spec.alias}",
                      action="create", detail=f"for {self.principal}")


@dataclass(frozen=True, kw_only=True)
class Wire:
    spec: FunctionSpec
    wiring: Wiring
    exists: bool

    def change(self) -> Change:
        w = self.wiring
        name = self.spec.rule if w.kind == "schedule" else w.source
        detail = w.source if w.kind == "schedule" else ""
        if w.mapping is not None:
            start = "" if self.exists else f"{w.mapping.start}, "  # set at creation only
            detail = f"{start}batch {w.mapping.batch_size}, bisect on error, partial failures"
        return Change(resource=f"{w.what()} {name}", action="update" if self.exists else "create",
                      detail=detail)


@dataclass(frozen=True, kw_only=True)
class Tag:
    """Add the ownership tags a function lacks (one deployed before fpack tagged, or by hand)."""

    spec: FunctionSpec
    tags: Mapping[str, str]

    def change(self) -> Change:
        return Change(resource=f"function {self.spec.name}", action="update",
                      detail="tags " + " ".join(sorted(self.tags)))


Step = Upload | PublishLayer | CreateFunction | UpdateCode | UpdateSettings | Release | Reserve \
    | Provision | CreateUrl | Permit | Wire | Tag


@dataclass(frozen=True, kw_only=True)
class FunctionPlan:
    spec: FunctionSpec
    live: LiveFunction
    steps: tuple[Step, ...]


@dataclass(frozen=True, kw_only=True)
class AwsPlan:
    layer_steps: tuple[Step, ...]
    layer_arns: Mapping[str, str]  # layer name -> the version to attach, when it already exists
    functions: tuple[FunctionPlan, ...]
    orphans: tuple[OrphanPlan, ...] = ()

    def changes(self) -> tuple[Change, ...]:
        lines = [s.change() for s in self.layer_steps]
        lines += [Change(resource=f"layer {name}", action="unchanged",
                         detail=f"version {arn.rsplit(':', 1)[1]}")
                  for name, arn in self.layer_arns.items()]
        for fp in self.functions:
            lines += [s.change() for s in fp.steps] or [
                Change(resource=f"function {fp.spec.name}", action="unchanged")]
        lines += [s.change() for op in self.orphans for s in op.steps]
        return tuple(lines)


@dataclass(frozen=True, kw_only=True)
class Placement:
    """Where code is sent from: direct upload, or through the artifact bucket."""

    direct_max: int
    bucket: str | None
    create_bucket: bool

    def s3(self, name: str, path: Path, sha256: str, size: int) -> tuple[str, str] | None:
        if size <= self.direct_max:
            return None
        assert self.bucket is not None, "checked when the specs were made"
        return self.bucket, f"fpack/{name}/{sha256}{path.suffix}"


def plan(layers: tuple[LayerSpec, ...], functions: tuple[FunctionSpec, ...],
         live_layers: Mapping[str, tuple[LayerVersion, ...]],
         live: Mapping[str, LiveFunction], placement: Placement, *,
         orphans: Sequence[Orphan] = (), prune: bool = False) -> AwsPlan:
    """Everything a deploy would do, given what AWS has now (and the orphans found)."""
    layer_steps: list[Step] = []
    known: dict[str, str] = {}
    for layer in layers:
        found = [v for v in live_layers.get(layer.name, ()) if v.description == layer.description]
        if found:
            known[layer.name] = max(found, key=lambda v: v.version).arn
            continue
        s3 = placement.s3(layer.name, layer.path, layer.sha256, layer.size)
        layer_steps += [*_uploads(s3, layer.path, placement), PublishLayer(layer=layer, s3=s3)]
    fplans = tuple(_function(spec, live.get(spec.name, LiveFunction()), known, placement)
                   for spec in functions)
    return AwsPlan(layer_steps=tuple(layer_steps), layer_arns=known, functions=fplans,
                   orphans=tuple(plan_orphan(o, prune=prune) for o in orphans))


def _uploads(s3: tuple[str, str] | None, path: Path | None, placement: Placement) -> list[Step]:
    if s3 is None or path is None:
        return []
    return [Upload(bucket=s3[0], key=s3[1], path=path, create_bucket=placement.create_bucket)]


def _function(spec: FunctionSpec, live: LiveFunction, known: Mapping[str, str],
              placement: Placement) -> FunctionPlan:
    s3 = None
    if spec.zip_path is not None:
        s3 = placement.s3(spec.name, spec.zip_path, spec.code_sha256, spec.size)
    steps: list[Step] = []
    if live.latest is None:
        steps += [*_uploads(s3, spec.zip_path, placement),
                  CreateFunction(spec=spec, s3=s3), Release(spec=spec, alias_exists=False)]
        return FunctionPlan(spec=spec, live=live,
                            steps=(*steps, *_scaling(spec, live), *_wiring(spec, live)))
    code = code_differs(spec, live.latest) or live.latest.last_update_status == "Failed"
    fields = settings_differ(spec, live.latest, known)
    if missing := {k: v for k, v in spec.tags.items() if live.latest.tags.get(k) != v}:
        steps.append(Tag(spec=spec, tags=missing))  # first: ownership even if the update fails
    if code:
        steps += [*_uploads(s3, spec.zip_path, placement),
                  UpdateCode(spec=spec, s3=s3)]
    if fields:
        steps.append(UpdateSettings(spec=spec, fields=fields))
    released = live.released is not None and not code_differs(spec, live.released) \
        and not settings_differ(spec, live.released, known) \
        and (not spec.settings.snap_start or live.released.optimization == "On")
    if code or fields or not released:  # a Tag alone needs no new version: tags are the function's
        steps.append(Release(spec=spec, alias_exists=live.alias_version is not None))
    return FunctionPlan(spec=spec, live=live,
                        steps=(*steps, *_scaling(spec, live), *_wiring(spec, live)))


def code_differs(spec: FunctionSpec, have: LambdaConfig) -> bool:
    if have.arch != spec.settings.arch:
        return True  # the architecture is set with the code
    if spec.image_uri is not None:
        return have.package_type != "Image" or have.image_uri != spec.image_uri
    return have.package_type != "Zip" or have.code_sha256 != spec.code_sha256


def settings_differ(spec: FunctionSpec, have: LambdaConfig,
                    known: Mapping[str, str]) -> tuple[str, ...]:
    """The names of the settings that differ; a layer being published counts as different."""
    want = spec.settings
    fields = [name for name, a, b in (
        ("memory", want.memory, have.memory), ("timeout", want.timeout, have.timeout),
        ("role", want.role, have.role)) if a != b]
    if spec.image_uri is None:
        fields += [name for name, a, b in (
            ("runtime", want.runtime, have.runtime), ("handler", want.handler, have.handler),
            ("snap_start", want.snap_start, have.snap_start),
        ) if a != b]
        layers = tuple(known.get(n, f"(new version of {n})") for n in want.layers)
        if layers != have.layers:
            fields.append("layers")
    if env := env_changes(want.env, have.env):
        fields.append("environment: " + " ".join(env))
    return tuple(fields)


def _scaling(spec: FunctionSpec, live: LiveFunction) -> list[Step]:
    """Reserved and provisioned concurrency, after the release (the alias must exist, and
    serve the new version, before it is kept warm) and before the triggers send it work.

    Lambda refuses, at every moment, more provisioned concurrency than is reserved; fpack.toml's
    warm <= concurrency holds for the end state, so when the new reservation is below what is
    provisioned now, the warm count is lowered first."""
    reserved = live.latest.reserved if live.latest else None
    have = live.warm
    steps: list[Step] = []
    if spec.concurrency != reserved:
        steps.append(Reserve(spec=spec, count=spec.concurrency, was=reserved))
    failed = have is not None and have.status == "FAILED" and spec.warm is not None
    if spec.warm != (have.count if have else None) or failed:
        warm = Provision(spec=spec, count=spec.warm, was=have.count if have else None,
                         failed=failed)
        below = have is not None and spec.concurrency is not None and spec.concurrency < have.count
        steps.insert(0 if below else len(steps), warm)
    return steps


def with_layer_arns(spec: FunctionSpec, arns: Mapping[str, str]) -> Settings:
    return replace(spec.settings, layers=tuple(arns[n] for n in spec.settings.layers))


def sid(kind: str, source: str) -> str:
    """A statement id Lambda accepts ([A-Za-z0-9-_], at most 100 characters)."""
    return re.sub(r"[^A-Za-z0-9_-]", "-", f"fpack-{kind}-{source}".rstrip("-"))[:100]


def _wiring(spec: FunctionSpec, live: LiveFunction) -> list[Step]:
    """Per trigger: the URL, then the permission to invoke (before the trigger that needs it:
    SNS and S3 check it when the subscription or notification is made), then the trigger."""
    steps: list[Step] = []
    for w in spec.wirings:
        if w.kind == "url" and live.url is None:
            steps.append(CreateUrl(spec=spec))
        name = sid(w.kind, spec.rule if w.kind == "schedule" else w.source)
        principal = PRINCIPALS[w.kind]
        if principal and name not in live.permissions:
            steps.append(Permit(spec=spec, wiring=w, sid=name, principal=principal))
        have = live.triggers.get(w.kind)
        if w.kind != "url" and not _trigger_ok(spec, w, have):
            steps.append(Wire(spec=spec, wiring=w, exists=have is not None))
    return steps


def alias_suffix(spec: FunctionSpec) -> str:
    return f":function:{spec.name}:{spec.alias}"


def _trigger_ok(spec: FunctionSpec, w: Wiring, have: LiveTrigger | None) -> bool:
    """Whether the live trigger is already what fpack would make.

    `have` is, per kind: bucket (function ARN, events); queue (mapping UUID, response types);
    schedule (expression, target ARNs); topic (subscription ARN, ()); stream, the mapping. A
    stream mapping's starting position is not compared: AWS sets it once, at creation.
    """
    if have is None:
        return False
    if isinstance(have, LiveMapping):
        return _mapping_ok(w.mapping, have)
    first, rest = have
    match w.kind:
        case "bucket":
            return first.endswith(alias_suffix(spec)) and set(rest) == set(S3_EVENTS)
        case "queue":
            return set(RESPONSE_TYPES) <= set(rest)
        case "schedule":
            return first == w.source and any(t.endswith(alias_suffix(spec)) for t in rest)
        case "url" | "stream" | "topic":
            # topic: found by topic and endpoint (the alias), so it is fpack's subscription
            return True


def _mapping_ok(want: StreamMapping | None, have: LiveMapping) -> bool:
    return want is not None and have.settings.batch_size == want.batch_size \
        and have.settings.bisect == want.bisect \
        and set(want.response_types) <= set(have.settings.response_types)
