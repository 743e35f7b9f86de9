"""The AWS calls around a Lambda function, as methods `AwsClient` inherits: the artifact bucket for
large zips, Function URLs, resource-policy permissions, S3 notifications, SQS, Kinesis and DynamoDB
Streams event source mappings, SNS subscriptions, EventBridge schedules and ECR repositories; and,
for --prune, finding and removing the triggers of a function fpack is about to delete (only
entries that point at that function).

Split from aws_client.py only to keep modules small; every call goes through `AwsClient.call`, so
retries and error messages are the same. Each read returns None (or empty) for "not there yet".
"""

from __future__ import annotations

import base64
import json
import re
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final, Literal

from fpack.errors import DeployError

# The events a storage function receives: the portable StorageEvent has kind "created"/"deleted".
S3_EVENTS: Final = ("s3:ObjectCreated:*", "s3:ObjectRemoved:*")
RESPONSE_TYPES: Final = ("ReportBatchItemFailures",)  # a failed message is retried alone
_S3_SOURCE: Final = re.compile(r"^arn:[^:]+:s3:::([^/]+)$")
_SNS_SOURCE: Final = re.compile(r"^arn:[^:]+:sns:[^:]+:\d+:[^:/]+$")
# What an event source mapping reads from, by the service in its source's ARN.
MAPPING_SOURCES: Final = {"sqs": "SQS", "kinesis": "Kinesis", "dynamodb": "DynamoDB stream"}
StartingPosition = Literal["LATEST", "TRIM_HORIZON"]


@dataclass(frozen=True, kw_only=True)
class StreamMapping:
    """How an event source mapping reads a Kinesis or DynamoDB stream: what fpack sets, and
    what it reads back. A failed record is reported by the function (ReportBatchItemFailures)
    and a failing batch split in two until the bad record is alone (BisectBatchOnFunctionError),
    so that one bad record does not hold back the records around it."""

    start: StartingPosition  # where a new mapping starts reading; AWS cannot change it later
    batch_size: int
    bisect: bool = True
    response_types: tuple[str, ...] = RESPONSE_TYPES


@dataclass(frozen=True, kw_only=True)
class LiveMapping:
    uuid: str
    settings: StreamMapping


@dataclass(frozen=True, kw_only=True)
class Provisioned:
    """An alias's provisioned concurrency: what was asked for, and how Lambda's allocation went
    ("IN_PROGRESS", "READY", or "FAILED" with a reason)."""

    count: int
    status: str
    reason: str = ""


def mapping_source(arn: str) -> str:
    """What a mapping reads from ("SQS", "Kinesis", "DynamoDB stream"), by its source's ARN."""
    service = arn.split(":")[2] if arn.count(":") >= 5 else ""
    return MAPPING_SOURCES.get(service, "event source")


def points_at(arn: str, function_arn: str) -> bool:
    """Whether `arn` is the function's (unqualified) ARN or one of its versions or aliases."""
    return arn == function_arn or arn.startswith(f"{function_arn}:")


class WiringCalls:
    """Mixed into AwsClient; `call` is AwsClient's."""

    call: Callable[..., Any]  # AwsClient.call: one boto3 operation, with retries and errors

    # --- the artifact bucket --------------------------------------------------------------------

    def bucket_exists(self, bucket: str) -> bool:
        got = self.call("s3", "head_bucket", what=f"bucket {bucket}", missing_ok=True,
                        Bucket=bucket)
        return got is not None

    def create_bucket(self, bucket: str, region: str) -> None:
        extra: dict[str, Any] = {}
        if region != "us-east-1":  # us-east-1 refuses an explicit LocationConstraint
            extra["CreateBucketConfiguration"] = {"LocationConstraint": region}
        self.call("s3", "create_bucket", what=f"bucket {bucket}", Bucket=bucket, **extra)

    def object_exists(self, bucket: str, key: str) -> bool:
        got = self.call("s3", "head_object", what=f"s3://{bucket}/{key}", missing_ok=True,
                        Bucket=bucket, Key=key)
        return got is not None

    def upload(self, path: Path, bucket: str, key: str) -> None:
        with path.open("rb") as body:
            self.call("s3", "put_object", what=f"s3://{bucket}/{key}", Bucket=bucket, Key=key,
                      Body=body)

    # --- Function URLs and permissions ---------------------------------------------------------

    def url(self, name: str, alias: str) -> str | None:
        got = self.call("lambda", "get_function_url_config", what=f"URL of {name}:{alias}",
                        missing_ok=True, FunctionName=name, Qualifier=alias)
        return None if got is None else str(got["FunctionUrl"])

    def create_url(self, name: str, alias: str) -> str:
        got = self.call("lambda", "create_function_url_config", what=f"URL of {name}:{alias}",
                        FunctionName=name, Qualifier=alias, AuthType="NONE")
        return str(got["FunctionUrl"])

    def permission_sids(self, name: str, alias: str) -> frozenset[str]:
        got = self.call("lambda", "get_policy", what=f"policy of {name}:{alias}", missing_ok=True,
                        FunctionName=name, Qualifier=alias)
        if got is None:
            return frozenset()
        return frozenset(s.get("Sid", "") for s in json.loads(got["Policy"]).get("Statement", []))

    def add_permission(self, name: str, alias: str, *, sid: str, principal: str,
                       source_arn: str | None) -> None:
        params: dict[str, Any] = {"Action": "lambda:InvokeFunction"}
        if principal == "*":  # a public Function URL
            params = {"Action": "lambda:InvokeFunctionUrl", "FunctionUrlAuthType": "NONE"}
        if source_arn is not None:
            params["SourceArn"] = source_arn
        self.call("lambda", "add_permission", what=f"policy of {name}:{alias}", FunctionName=name,
                  Qualifier=alias, StatementId=sid, Principal=principal, **params)

    # --- concurrency: reserved on the function, provisioned on the alias ------------------------

    def reserve(self, name: str, count: int | None) -> None:
        """At most `count` instances of the function at once (None: no reservation, the
        account's unreserved pool)."""
        if count is None:
            self.call("lambda", "delete_function_concurrency",
                      what=f"reserved concurrency of {name}", missing_ok=True, FunctionName=name)
        else:
            self.call("lambda", "put_function_concurrency", what=f"reserved concurrency of {name}",
                      FunctionName=name, ReservedConcurrentExecutions=count)

    def provisioned(self, name: str, alias: str) -> Provisioned | None:
        got = self.call("lambda", "get_provisioned_concurrency_config",
                        what=f"provisioned concurrency of {name}:{alias}", missing_ok=True,
                        FunctionName=name, Qualifier=alias)
        if got is None:
            return None
        return Provisioned(count=int(got["RequestedProvisionedConcurrentExecutions"]),
                           status=str(got.get("Status", "")),
                           reason=str(got.get("StatusReason", "")))

    def provision(self, name: str, alias: str, count: int | None) -> None:
        """Keep `count` instances of the alias's version initialised (None: none). Lambda
        allocates them in the background (minutes); the alias serves meanwhile."""
        what = f"provisioned concurrency of {name}:{alias}"
        if count is None:
            self.call("lambda", "delete_provisioned_concurrency_config", what=what,
                      missing_ok=True, FunctionName=name, Qualifier=alias)
        else:
            self.call("lambda", "put_provisioned_concurrency_config", what=what,
                      FunctionName=name, Qualifier=alias, ProvisionedConcurrentExecutions=count)

    # --- triggers -------------------------------------------------------------------------------

    def notification(self, bucket: str, notification_id: str) -> tuple[str, tuple[str, ...]] | None:
        """(function ARN, events) of fpack's notification on `bucket`, if there is one."""
        got = self.call("s3", "get_bucket_notification_configuration", what=f"bucket {bucket}",
                        Bucket=bucket)
        for entry in got.get("LambdaFunctionConfigurations", []):
            if entry.get("Id") == notification_id:
                return str(entry["LambdaFunctionArn"]), tuple(entry.get("Events", ()))
        return None

    def put_notification(self, bucket: str, notification_id: str, function_arn: str) -> None:
        """Add or replace fpack's entry, keeping every other notification of the bucket."""
        got = self.call("s3", "get_bucket_notification_configuration", what=f"bucket {bucket}",
                        Bucket=bucket)
        config = {k: v for k, v in got.items() if k != "ResponseMetadata"}
        others = [e for e in config.get("LambdaFunctionConfigurations", [])
                  if e.get("Id") != notification_id]
        config["LambdaFunctionConfigurations"] = [*others, {
            "Id": notification_id, "LambdaFunctionArn": function_arn, "Events": list(S3_EVENTS)}]
        self.call("s3", "put_bucket_notification_configuration", what=f"bucket {bucket}",
                  Bucket=bucket, NotificationConfiguration=config)

    def sqs_mapping(self, queue_arn: str, function_arn: str) -> tuple[str, tuple[str, ...]] | None:
        """(UUID, FunctionResponseTypes) of the mapping from the queue to the function."""
        got = self.call("lambda", "list_event_source_mappings", what=f"queue {queue_arn}",
                        EventSourceArn=queue_arn, FunctionName=function_arn)
        for m in got.get("EventSourceMappings", []):
            return str(m["UUID"]), tuple(m.get("FunctionResponseTypes", ()))
        return None

    def put_sqs_mapping(self, queue_arn: str, function_arn: str, uuid: str | None) -> None:
        if uuid is None:
            self.call("lambda", "create_event_source_mapping", what=f"queue {queue_arn}",
                      EventSourceArn=queue_arn, FunctionName=function_arn,
                      FunctionResponseTypes=list(RESPONSE_TYPES))
        else:
            self.call("lambda", "update_event_source_mapping", what=f"queue {queue_arn}",
                      UUID=uuid, FunctionResponseTypes=list(RESPONSE_TYPES))

    def stream_mapping(self, stream_arn: str, function_arn: str) -> LiveMapping | None:
        """The mapping from a Kinesis or DynamoDB stream to the function (alias), as it is."""
        got = self.call("lambda", "list_event_source_mappings", what=f"stream {stream_arn}",
                        EventSourceArn=stream_arn, FunctionName=function_arn)
        for m in got.get("EventSourceMappings", []):
            return LiveMapping(uuid=str(m["UUID"]), settings=StreamMapping(
                start="TRIM_HORIZON" if m.get("StartingPosition") == "TRIM_HORIZON" else "LATEST",
                batch_size=int(m.get("BatchSize") or 0),
                bisect=bool(m.get("BisectBatchOnFunctionError")),
                response_types=tuple(m.get("FunctionResponseTypes") or ())))
        return None

    def put_stream_mapping(self, stream_arn: str, function_arn: str, want: StreamMapping,
                           uuid: str | None) -> None:
        """Create the mapping, or update one: its starting position stays as it was created
        (UpdateEventSourceMapping does not take one; the mapping's checkpoint is its own)."""
        settings = {"BatchSize": want.batch_size, "BisectBatchOnFunctionError": want.bisect,
                    "FunctionResponseTypes": list(want.response_types)}
        if uuid is None:
            self.call("lambda", "create_event_source_mapping", what=f"stream {stream_arn}",
                      EventSourceArn=stream_arn, FunctionName=function_arn,
                      StartingPosition=want.start, **settings)
        else:
            self.call("lambda", "update_event_source_mapping", what=f"stream {stream_arn}",
                      UUID=uuid, **settings)

    def subscription(self, topic_arn: str, endpoint: str) -> str | None:
        """The ARN of the topic's lambda subscription to `endpoint`, if there is one."""
        return next((arn for arn, sub in self._subscriptions(topic_arn).items()
                     if sub == endpoint), None)

    def subscribe(self, topic_arn: str, endpoint: str) -> str:
        # Subscribe is idempotent for the same topic, protocol and endpoint: a rerun after a
        # failure makes no second subscription.
        got = self.call("sns", "subscribe", what=f"topic {topic_arn}", TopicArn=topic_arn,
                        Protocol="lambda", Endpoint=endpoint, ReturnSubscriptionArn=True)
        return str(got["SubscriptionArn"])

    def _subscriptions(self, topic_arn: str) -> dict[str, str]:
        """Subscription ARN -> endpoint of the topic's lambda subscriptions ({} for no topic)."""
        found: dict[str, str] = {}
        token: str | None = None
        while True:
            extra = {"NextToken": token} if token else {}
            got = self.call("sns", "list_subscriptions_by_topic", what=f"topic {topic_arn}",
                            missing_ok=True, TopicArn=topic_arn, **extra)
            found.update((str(s["SubscriptionArn"]), str(s.get("Endpoint", "")))
                         for s in (got or {}).get("Subscriptions", [])
                         if s.get("Protocol") == "lambda")
            token = (got or {}).get("NextToken")
            if not token:
                return found

    def schedule(self, rule: str) -> tuple[str, tuple[str, ...]] | None:
        """(schedule expression, target ARNs) of an EventBridge rule."""
        got = self.call("events", "describe_rule", what=f"rule {rule}", missing_ok=True, Name=rule)
        if got is None:
            return None
        targets = self.call("events", "list_targets_by_rule", what=f"rule {rule}", Rule=rule)
        return (str(got.get("ScheduleExpression", "")),
                tuple(t["Arn"] for t in targets.get("Targets", [])))

    def put_schedule(self, rule: str, expression: str, function_arn: str) -> str:
        """Create or update the rule and its target; returns the rule's ARN."""
        got = self.call("events", "put_rule", what=f"rule {rule}", Name=rule,
                        ScheduleExpression=expression, State="ENABLED")
        self.call("events", "put_targets", what=f"rule {rule}", Rule=rule,
                  Targets=[{"Id": "fpack", "Arn": function_arn}])
        return str(got["RuleArn"])

    # --- removing a deleted function's triggers (--prune) ----------------------------------------

    def rule_targets(self, rule: str) -> dict[str, str] | None:
        """Target id -> ARN of an EventBridge rule; None when there is no such rule."""
        if self.call("events", "describe_rule", what=f"rule {rule}", missing_ok=True,
                     Name=rule) is None:
            return None
        got = self.call("events", "list_targets_by_rule", what=f"rule {rule}", missing_ok=True,
                        Rule=rule)
        return {t["Id"]: t["Arn"] for t in (got or {}).get("Targets", [])}

    def unschedule(self, rule: str, target_ids: tuple[str, ...], *, delete_rule: bool) -> None:
        """Remove the targets (a rule with targets cannot be deleted), then the rule if asked."""
        if target_ids:
            self.call("events", "remove_targets", what=f"rule {rule}", missing_ok=True,
                      Rule=rule, Ids=list(target_ids))
        if delete_rule:
            self.call("events", "delete_rule", what=f"rule {rule}", missing_ok=True, Name=rule)

    def mappings_of(self, function_arn: str) -> dict[str, str]:
        """UUID -> event source ARN of the event source mappings that invoke `function_arn`."""
        found: dict[str, str] = {}
        marker: str | None = None
        while True:
            extra = {"Marker": marker} if marker else {}
            got = self.call("lambda", "list_event_source_mappings", missing_ok=True,
                            what=f"function {function_arn}", FunctionName=function_arn, **extra)
            found.update((m["UUID"], m.get("EventSourceArn", ""))
                         for m in (got or {}).get("EventSourceMappings", []))
            marker = (got or {}).get("NextMarker")
            if not marker:
                return found

    def delete_mapping(self, uuid: str) -> None:
        self.call("lambda", "delete_event_source_mapping", what=f"event source mapping {uuid}",
                  missing_ok=True, UUID=uuid)

    def policy_buckets(self, name: str, qualifier: str | None) -> frozenset[str]:
        """The S3 buckets the function's (or alias's) resource policy lets invoke it."""
        return frozenset(m.group(1) for arn in self._policy_sources(name, qualifier)
                         if (m := _S3_SOURCE.match(arn)))

    def policy_topics(self, name: str, qualifier: str | None) -> frozenset[str]:
        """The SNS topics the function's (or alias's) resource policy lets invoke it."""
        return frozenset(a for a in self._policy_sources(name, qualifier) if _SNS_SOURCE.match(a))

    def _policy_sources(self, name: str, qualifier: str | None) -> frozenset[str]:
        """The source ARNs in the conditions of the function's (or alias's) resource policy."""
        extra = {"Qualifier": qualifier} if qualifier else {}
        got = self.call("lambda", "get_policy", what=f"policy of {name}", missing_ok=True,
                        FunctionName=name, **extra)
        if got is None:
            return frozenset()
        return frozenset(v for statement in json.loads(got["Policy"]).get("Statement", [])
                         for condition in (statement.get("Condition") or {}).values()
                         for v in condition.values() if isinstance(v, str))

    def subscriptions_to(self, topic_arn: str, function_arn: str) -> dict[str, str]:
        """Subscription ARN -> topic ARN of the topic's subscriptions that invoke the function
        (or one of its versions or aliases)."""
        return {arn: topic_arn for arn, endpoint in self._subscriptions(topic_arn).items()
                if points_at(endpoint, function_arn)}

    def unsubscribe(self, subscription_arn: str) -> None:
        self.call("sns", "unsubscribe", what=f"subscription {subscription_arn}", missing_ok=True,
                  SubscriptionArn=subscription_arn)

    def notifies(self, bucket: str, function_arn: str) -> bool:
        """Whether any of the bucket's notifications invokes the function (or a version/alias)."""
        got = self.call("s3", "get_bucket_notification_configuration", what=f"bucket {bucket}",
                        missing_ok=True, Bucket=bucket)
        return any(points_at(str(e.get("LambdaFunctionArn", "")), function_arn)
                   for e in (got or {}).get("LambdaFunctionConfigurations", []))

    def remove_notifications(self, bucket: str, function_arn: str) -> None:
        """Drop the entries that invoke the function, keeping every other notification."""
        got = self.call("s3", "get_bucket_notification_configuration", what=f"bucket {bucket}",
                        missing_ok=True, Bucket=bucket)
        if got is None:
            return  # the bucket is gone: so are its notifications
        config = {k: v for k, v in got.items() if k != "ResponseMetadata"}
        entries = config.get("LambdaFunctionConfigurations", [])
        kept = [e for e in entries if not points_at(str(e.get("LambdaFunctionArn", "")),
                                                    function_arn)]
        if len(kept) == len(entries):
            return
        config["LambdaFunctionConfigurations"] = kept
        self.call("s3", "put_bucket_notification_configuration", what=f"bucket {bucket}",
                  Bucket=bucket, NotificationConfiguration=config)

    # --- ECR ----------------------------------------------------------------------------------

    def ecr_repository(self, name: str) -> str:
        """The URI of ECR repository `name`, created when missing."""
        got = self.call("ecr", "describe_repositories", what=f"ECR repository {name}",
                        missing_ok=True, repositoryNames=[name])
        if got is None:
            got = {"repositories": [self.call("ecr", "create_repository",
                                              what=f"ECR repository {name}",
                                              repositoryName=name)["repository"]]}
        return str(got["repositories"][0]["repositoryUri"])

    def ecr_login(self) -> tuple[str, str]:
        """(user, password) for `docker push` to this account's ECR registry."""
        got = self.call("ecr", "get_authorization_token", what="ECR authorization token")
        token = got["authorizationData"][0]["authorizationToken"]
        user, sep, password = base64.b64decode(token).decode().partition(":")
        if not sep:
            raise DeployError("ECR returned an authorization token fpack cannot read")
        return user, password
