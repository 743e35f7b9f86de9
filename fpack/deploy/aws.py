"""`fpack deploy --target aws`: build manifests → specs → live state → plan → executor.

Stages, each small and with its collaborators passed in (the AwsClient adapter, the reporter):
`specs` turns fpack.toml and the build manifests into what Lambda should have (pure); `read_state`
asks AWS what it has; `aws_plan.plan` decides the steps (pure); `Executor` applies them in order
(layers, then per function: code, settings, release, concurrency, triggers), or `display` only
lists them for --dry-run. With `[targets.aws] snap_start`, the release waits for the new version's
SnapStart snapshot before it moves the alias. Lambda functions are named `<project>-<function>`;
the layer keeps its zip's name. The docker target's lambda flavor comes through `deploy` too,
with `images` (function → pushed image URI by digest) in place of zips.

A whole-project deploy (`orphans` "keep" or "delete") also lists the functions named
`<project>-*`, reads the tags of those fpack.toml does not name, and plans the ones tagged
`fpack:project=<project>` as orphans (aws_plan's docstring); with --prune (`orphans="delete"`) it
reads their triggers too and deletes all of it after every create and update succeeded.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Final, assert_never

from fpack import limits, schedules
from fpack.cloud.aws_client import AwsClient, Code, Settings
from fpack.cloud.aws_wiring import StartingPosition, StreamMapping, points_at
from fpack.config import Project
from fpack.deploy import aws_plan as p
from fpack.deploy import aws_prune
from fpack.deploy.models import Deployment, Orphans, Outcome, Secrets
from fpack.errors import ConfigError, DeployError
from fpack.manifest import AwsFunction, AwsLayer, DockerImage, Manifest
from fpack.report import Reporter, human_size

DIRECT_UPLOAD_MAX: Final = limits.LAMBDA_DIRECT_UPLOAD_MAX


def deploy(project: Project, manifests: Sequence[Manifest], *, dry_run: bool,
           reporter: Reporter, client: AwsClient | None = None,
           images: Mapping[str, str] | None = None,
           direct_upload_max: int = DIRECT_UPLOAD_MAX, orphans: Orphans = "ignore") -> Outcome:
    layers, functions = specs(project, manifests, images=images)
    placement = p.Placement(direct_max=direct_upload_max, bucket=project.aws.artifact_bucket,
                            create_bucket=project.aws.create_bucket)
    _check_placement(project, layers, functions, placement)
    secrets = Secrets.of(f.settings.env for f in functions)
    aws = client or AwsClient.connect(project.aws.region, secrets=secrets)
    reporter.step(f"reading the state of {len(functions)} function(s) in {aws.region}")
    live_layers = {layer.name: tuple(aws.layer_versions(layer.name)) for layer in layers}
    live = {f.name: read_live(aws, f) for f in functions}
    found = _look_for_orphans(aws, project, orphans, reporter)
    plan = p.plan(layers, functions, live_layers, live, placement, orphans=found,
                  prune=orphans == "delete")
    done = display(plan) if dry_run else Executor(aws, plan, reporter).run()
    return Outcome(dry_run=dry_run, changes=plan.changes(), deployments=done)


def specs(project: Project, manifests: Sequence[Manifest], *,
          images: Mapping[str, str] | None = None,
          ) -> tuple[tuple[p.LayerSpec, ...], tuple[p.FunctionSpec, ...]]:
    """What Lambda should have, from fpack.toml and the build manifests (pure)."""
    layers = tuple(
        p.LayerSpec(name=m.function, path=m.path, sha256=m.sha256, size=m.size,
                    runtime=m.runtime, arch=m.arch)
        for m in manifests if isinstance(m, AwsLayer)
    )
    functions = tuple(_function_spec(project, m, images)
                      for m in manifests if isinstance(m, AwsFunction | DockerImage))
    return layers, functions


def _function_spec(project: Project, m: AwsFunction | DockerImage,
                   images: Mapping[str, str] | None) -> p.FunctionSpec:
    fn = project.functions[m.function]
    name = f"{project.name}-{fn.name}"
    if len(name) > 64:
        raise ConfigError(f'{project.config_path}: [functions.{fn.name}]: the Lambda function name '
                          f'"{name}" is {len(name)} characters; AWS allows 64',
                          hint="shorten [project] name or the function's name")
    image = images[m.function] if images is not None else None
    zipped = m if isinstance(m, AwsFunction) and image is None else None
    _check_snap_start(project, fn.name, image=zipped is None)
    settings = Settings(
        runtime=None if image else m.runtime, handler=None if image else m.handler, arch=m.arch,
        memory=fn.memory, timeout=fn.timeout, role=_role(project), env=dict(fn.env),
        layers=tuple(path.stem for path in zipped.layers) if zipped else (),
        snap_start=project.aws.snap_start,
    )
    return p.FunctionSpec(function=fn.name, name=name, alias=project.aws.alias,
                          code_sha256=zipped.code_sha256 if zipped else "",
                          zip_path=zipped.path if zipped else None, size=m.size, image_uri=image,
                          settings=settings, wirings=_wirings(project, fn.name),
                          tags=aws_prune.owner_tags(project.name, fn.name),
                          concurrency=fn.concurrency, warm=fn.warm)


def _check_snap_start(project: Project, name: str, *, image: bool) -> None:
    """What Lambda refuses with SnapStart, refused before anything changes (fpack check's FP105
    says the same): provisioned concurrency, and images. config.py has refused runtimes before
    python3.12; warm is not refused there because gcp and Cloud Run take it."""
    if not project.aws.snap_start:
        return
    fn = project.functions[name]
    where = f"{project.config_path}: [functions.{name}]"
    if fn.warm is not None:
        raise ConfigError(
            f"{where} warm = {fn.warm}: Lambda does not combine provisioned concurrency with "
            "SnapStart ([targets.aws] snap_start = true)",
            hint="remove warm (SnapStart's restores are the cold-start cure), or snap_start")
    if image:  # registry.py refuses this first; here so that no caller can send an image
        raise ConfigError(
            f"{where}: [targets.aws] snap_start = true: Lambda SnapStart works on zip packages "
            "only, and this function is deployed as a container image",
            hint="deploy the zips with fpack deploy --target aws, or remove snap_start")


def _role(project: Project) -> str:
    if project.aws.role is None:
        raise ConfigError(f"{project.config_path}: [targets.aws]: missing key \"role\": deploy "
                          "needs the execution role of the functions, e.g. "
                          'role = "arn:aws:iam::123456789012:role/photos"')
    return project.aws.role


def _wirings(project: Project, name: str) -> tuple[p.Wiring, ...]:
    """What triggers the function on AWS, from its fpack.toml keys."""
    fn = project.functions[name]
    wirings: list[p.Wiring] = []
    match fn.trigger:
        case "http":
            wirings += [p.Wiring(kind="url", source="")] if fn.url else []
        case "storage":
            wirings += [p.Wiring(kind="bucket", source=fn.bucket)] if fn.bucket else []
        case "queue":
            wirings += [p.Wiring(kind="queue", source=fn.queue)] if fn.queue else []
            # A topic that is not an SNS ARN is a Pub/Sub topic: gcp's, nothing to wire here.
            if fn.topic and fn.topic.startswith("arn:"):
                wirings.append(p.Wiring(kind="topic", source=fn.topic))
        case "schedule":
            where = f"{project.config_path}: [functions.{name}]"
            wirings += [p.Wiring(kind="schedule", source=schedules.eventbridge(
                fn.schedule, where=where))] if fn.schedule else []
        case "stream":
            start: StartingPosition = "TRIM_HORIZON" if fn.start == "trim_horizon" else "LATEST"
            wirings += [p.Wiring(kind="stream", source=fn.stream, mapping=StreamMapping(
                start=start, batch_size=fn.batch_size))] if fn.stream else []
        case _:
            assert_never(fn.trigger)
    return tuple(wirings)


def _check_placement(project: Project, layers: tuple[p.LayerSpec, ...],
                     functions: tuple[p.FunctionSpec, ...], placement: p.Placement) -> None:
    sizes = [(layer.path.name, layer.size) for layer in layers]
    sizes += [(f.zip_path.name, f.size) for f in functions if f.zip_path is not None]
    for name, size in sizes:
        if size > placement.direct_max and placement.bucket is None:
            raise ConfigError(
                f"{project.config_path}: [targets.aws]: {name} is {human_size(size)}, over "
                f"Lambda's {human_size(placement.direct_max)} direct-upload limit, and no "
                '"artifact_bucket" is set to upload it through',
                hint='set artifact_bucket = "my-bucket" (and create_bucket = true to have fpack '
                "create it)")


def read_live(aws: AwsClient, spec: p.FunctionSpec) -> p.LiveFunction:
    """What AWS has for one function: $LATEST, the alias's version, and its triggers."""
    latest = aws.function(spec.name)
    if latest is None:
        return p.LiveFunction()
    version = aws.alias_version(spec.name, spec.alias)
    if version is None:
        return p.LiveFunction(latest=latest)
    target = f"{latest.arn}:{spec.alias}"
    triggers: dict[p.WiringKind, p.LiveTrigger] = {}
    for w in spec.wirings:
        found: p.LiveTrigger | None = None
        match w.kind:
            case "bucket":
                found = aws.notification(w.source, notification_id(spec))
            case "queue":
                found = aws.sqs_mapping(w.source, target)
            case "schedule":
                found = aws.schedule(spec.rule)
            case "stream":
                found = aws.stream_mapping(w.source, target)
            case "topic":
                subscription = aws.subscription(w.source, target)
                found = None if subscription is None else (subscription, ())
            case "url":
                pass
            case _:
                assert_never(w.kind)
        if found is not None:
            triggers[w.kind] = found
    kinds = {w.kind for w in spec.wirings}
    return p.LiveFunction(
        latest=latest, alias_version=version, released=aws.function(spec.name, version),
        url=aws.url(spec.name, spec.alias) if "url" in kinds else None,
        permissions=aws.permission_sids(spec.name, spec.alias) if kinds else frozenset(),
        triggers=triggers,
        # Read even without `warm`: one removed from fpack.toml is removed from the alias.
        warm=aws.provisioned(spec.name, spec.alias),
    )


def notification_id(spec: p.FunctionSpec) -> str:
    return f"fpack-{spec.name}"


def _look_for_orphans(aws: AwsClient, project: Project, orphans: Orphans,
                      reporter: Reporter) -> tuple[aws_prune.Orphan, ...]:
    """Without --prune, looking is a courtesy: an identity that may not list functions or read
    tags (lambda:ListFunctions, lambda:ListTags) still deploys, with a warning."""
    if orphans == "ignore":
        return ()
    try:
        return read_orphans(aws, project, orphans, reporter)
    except DeployError as e:
        if orphans == "delete":
            raise
        reporter.warn(f"{e.message}: functions removed from fpack.toml were not looked for")
        return ()


def read_orphans(aws: AwsClient, project: Project, orphans: Orphans,
                 reporter: Reporter) -> tuple[aws_prune.Orphan, ...]:
    """This project's functions that fpack.toml no longer names; their triggers when deleting."""
    prefix = f"{project.name}-"
    wanted = {f"{prefix}{name}" for name in project.functions}
    reporter.step(f"looking for functions {prefix}* that fpack.toml no longer names")
    arns = {n: arn for n, arn in aws.functions_named(prefix).items() if n not in wanted}
    tags = {n: aws.tags_of(arn) for n, arn in arns.items()}
    return tuple(_orphan(aws, name, arns[name], tags[name], read=orphans == "delete")
                 for name in aws_prune.orphan_names(project.name, wanted, tags))


def _orphan(aws: AwsClient, name: str, arn: str, tags: Mapping[str, str], *,
            read: bool) -> aws_prune.Orphan:
    """The orphan, with (when `read`) what fpack wired to it: its rule's targets that invoke it,
    the mappings of the function and its aliases, and the buckets its policies let invoke it."""
    orphan = aws_prune.Orphan(name=name, function=tags.get(aws_prune.OWNER_FUNCTION, name), arn=arn)
    if not read:
        return orphan
    aliases = aws.aliases(name)
    targets = aws.rule_targets(aws_prune.rule_of(name)) or {}
    mine = tuple(sorted(i for i, t in targets.items() if points_at(t, arn)))
    mappings = {k: v for q in (arn, *aliases.values()) for k, v in aws.mappings_of(q).items()}
    buckets = {b for q in (None, *aliases) for b in aws.policy_buckets(name, q)}
    # The topics its policies let invoke it are where to look: SNS lists subscriptions by topic.
    topics = sorted({t for q in (None, *aliases) for t in aws.policy_topics(name, q)})
    subscriptions = {k: v for t in topics for k, v in aws.subscriptions_to(t, arn).items()}
    return aws_prune.Orphan(name=name, function=orphan.function, arn=arn, rule_targets=mine,
                            rule_shared=len(mine) < len(targets), mappings=mappings,
                            buckets=tuple(sorted(b for b in buckets if aws.notifies(b, arn))),
                            subscriptions=subscriptions)


def display(plan: p.AwsPlan) -> tuple[Deployment, ...]:
    """The display-only executor: what each function would undergo, nothing called."""
    return tuple(_result(fp, version=fp.live.alias_version, url=fp.live.url)
                 for fp in plan.functions) + tuple(_orphan_result(op) for op in plan.orphans)


def _orphan_result(op: aws_prune.OrphanPlan) -> Deployment:
    return Deployment(function=op.orphan.function, target="aws", name=op.orphan.name,
                      action="delete" if op.delete else "keep",
                      changes=tuple(s.change() for s in op.steps))


def _result(fp: p.FunctionPlan, *, version: str | None, url: str | None) -> Deployment:
    created = any(isinstance(s, p.CreateFunction) for s in fp.steps)
    return Deployment(function=fp.spec.function, target="aws", name=fp.spec.name,
                      action="create" if created else "update" if fp.steps else "unchanged",
                      version=version, url=url, changes=tuple(s.change() for s in fp.steps))


class Executor:
    """Applies a plan's steps in order; a failure stops it with the alias where it was."""

    def __init__(self, aws: AwsClient, plan: p.AwsPlan, reporter: Reporter) -> None:
        self.aws = aws
        self.plan = plan
        self.reporter = reporter
        self.layer_arns = dict(plan.layer_arns)
        self.arns = {fp.spec.name: fp.live.latest.arn for fp in plan.functions if fp.live.latest}
        self.versions: dict[str, str] = {}
        self.urls: dict[str, str] = {}

    def run(self) -> tuple[Deployment, ...]:
        for step in self.plan.layer_steps:
            self.reporter.step(step.change().line())
            self.apply(step)
        done = []
        for fp in self.plan.functions:
            for step in fp.steps:
                self.reporter.step(step.change().line())
                self.apply(step)
            name = fp.spec.name
            done.append(_result(fp, version=self.versions.get(name, fp.live.alias_version),
                                url=self.urls.get(name, fp.live.url)))
        for op in self.plan.orphans:  # only once every create and update has succeeded
            for orphan_step in op.steps:
                self.reporter.step(orphan_step.change().line())
                self.prune(orphan_step)
            done.append(_orphan_result(op))
        return tuple(done)

    def prune(self, step: aws_prune.PruneStep) -> None:
        """One step; every call takes "not found" as done: a stopped deploy converges when rerun."""
        o = step.orphan
        match step:
            case aws_prune.Keep():
                pass
            case aws_prune.Unschedule():
                self.aws.unschedule(aws_prune.rule_of(o.name), o.rule_targets,
                                    delete_rule=not o.rule_shared)
            case aws_prune.Unmap():
                self.aws.delete_mapping(step.uuid)
            case aws_prune.Unnotify():
                self.aws.remove_notifications(step.bucket, o.arn)
            case aws_prune.Unsubscribe():
                self.aws.unsubscribe(step.subscription)
            case aws_prune.Delete():
                self.aws.delete_function(o.name)
            case _:
                assert_never(step)

    def apply(self, step: p.Step) -> None:
        match step:
            case p.Upload():
                self._upload(step)
            case p.PublishLayer():
                layer = step.layer
                version = self.aws.publish_layer(
                    layer.name, Code(zip_path=layer.path, s3=step.s3),
                    description=layer.description, runtime=layer.runtime, arch=layer.arch)
                self.layer_arns[layer.name] = version.arn
            case p.CreateFunction() | p.UpdateCode() | p.UpdateSettings():
                self._function(step)
            case p.Release():
                self._release(step)
            case p.Reserve():
                self.aws.reserve(step.spec.name, step.count)
            case p.Provision():
                self.aws.provision(step.spec.name, step.spec.alias, step.count)
            case p.CreateUrl():
                self.urls[step.spec.name] = self.aws.create_url(step.spec.name, step.spec.alias)
            case p.Permit():
                self.aws.add_permission(step.spec.name, step.spec.alias, sid=step.sid,
                                        principal=step.principal, source_arn=self._source(step))
            case p.Wire():
                self._wire(step)
            case p.Tag():
                self.aws.tag(self.arns[step.spec.name], step.tags)
            case _:
                assert_never(step)

    def _upload(self, step: p.Upload) -> None:
        if not self.aws.bucket_exists(step.bucket):
            if not step.create_bucket:
                raise ConfigError(f"[targets.aws] artifact_bucket = \"{step.bucket}\": no such "
                                  "bucket (or no access to it)",
                                  hint="create it, or set create_bucket = true")
            self.aws.create_bucket(step.bucket, self.aws.region)
        if not self.aws.object_exists(step.bucket, step.key):  # a re-run skips what is there
            self.aws.upload(step.path, step.bucket, step.key)

    def _function(self, step: p.CreateFunction | p.UpdateCode | p.UpdateSettings) -> None:
        spec = step.spec
        settings = p.with_layer_arns(spec, self.layer_arns)
        if isinstance(step, p.UpdateSettings):
            self.aws.update_settings(spec.name, settings, image=spec.image_uri is not None,
                                     snap_start_changed="snap_start" in step.fields)
        else:
            code = Code(zip_path=spec.zip_path, s3=step.s3, image_uri=spec.image_uri)
            if isinstance(step, p.CreateFunction):
                self.arns[spec.name] = self.aws.create_function(spec.name, settings, code,
                                                                spec.tags).arn
            else:
                self.aws.update_code(spec.name, code, spec.settings.arch)
        self.aws.wait_ready(spec.name)

    def _release(self, step: p.Release) -> None:
        spec = step.spec
        ready = self.aws.wait_ready(spec.name)
        version = self.aws.publish_version(spec.name, spec.code_sha256 or ready.code_sha256)
        if spec.settings.snap_start:
            self.reporter.step(f"waiting for SnapStart to optimise version {version} of "
                               f"{spec.name}")
            self.aws.wait_snap_start(spec.name, version, alias=spec.alias)
        self.aws.point_alias(spec.name, spec.alias, version, exists=step.alias_exists)
        self.versions[spec.name] = version

    def _source(self, step: p.Permit) -> str | None:
        """The one source the permission lets invoke the function (None: a public URL)."""
        w = step.wiring
        _, partition, _, region, account, *_ = self.arns[step.spec.name].split(":")
        if w.kind == "bucket":
            return f"arn:{partition}:s3:::{w.source}"
        if w.kind == "schedule":
            return f"arn:{partition}:events:{region}:{account}:rule/{step.spec.rule}"
        if w.kind == "topic":
            return w.source
        return None

    def _wire(self, step: p.Wire) -> None:
        spec, w = step.spec, step.wiring
        target = f"{self.arns[spec.name]}:{spec.alias}"
        match w.kind:
            case "bucket":
                self.aws.put_notification(w.source, notification_id(spec), target)
            case "queue":
                have = self.aws.sqs_mapping(w.source, target)
                self.aws.put_sqs_mapping(w.source, target, have[0] if have else None)
            case "schedule":
                self.aws.put_schedule(spec.rule, w.source, target)
            case "stream":
                assert w.mapping is not None, "a stream wiring carries its mapping settings"
                found = self.aws.stream_mapping(w.source, target)
                self.aws.put_stream_mapping(w.source, target, w.mapping,
                                            found.uuid if found else None)
            case "topic":
                self.aws.subscribe(w.source, target)
            case "url":
                pass
            case _:
                assert_never(w.kind)
