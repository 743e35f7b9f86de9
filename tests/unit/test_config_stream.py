"""Stream and SNS wiring in fpack.toml: what `trigger = "stream"`, `stream`, `start`,
`batch_size` and an SNS `topic` accept, the errors for what they do not, and `fpack check`
refusing a stream function on a target with no stream source (FP104) or annotated for another
trigger (FP204)."""

from __future__ import annotations

from pathlib import Path

import pytest

from fpack import cli, config
from fpack.errors import ConfigError

KINESIS = "arn:aws:kinesis:us-east-1:123456789012:stream/clicks"
DDB_STREAM = "arn:aws:dynamodb:us-east-1:123456789012:table/photos/stream/2024-03-13T15:00:00.000"
TOPIC = "arn:aws:sns:us-east-1:123456789012:orders"


def load(tmp_path: Path, function: str, tail: str = "") -> config.Function:
    (tmp_path / "fpack.toml").write_text(
        f'[project]\nname = "shop"\n\n[functions.f]\nhandler = "app:f"\n{function}\n{tail}')
    return config.load(tmp_path / "fpack.toml").functions["f"]


def refused(tmp_path: Path, function: str) -> str:
    with pytest.raises(ConfigError) as info:
        load(tmp_path, function)
    assert info.value.exit_code == 2
    message = str(info.value)
    prefix = f"{tmp_path / 'fpack.toml'}: [functions.f] "
    assert message.startswith(prefix)
    return message[len(prefix):]


def test_a_kinesis_stream_function_with_its_mapping_settings(tmp_path: Path) -> None:
    fn = load(tmp_path, f'trigger = "stream"\nstream = "{KINESIS}"\nstart = "trim_horizon"\n'
                        "batch_size = 500")
    assert (fn.trigger, fn.stream, fn.start, fn.batch_size) == ("stream", KINESIS,
                                                                 "trim_horizon", 500)


def test_a_dynamodb_stream_defaults_to_latest_and_lambdas_batch_size(tmp_path: Path) -> None:
    fn = load(tmp_path, f'trigger = "stream"\nstream = "{DDB_STREAM}"')
    assert (fn.stream, fn.start, fn.batch_size) == (DDB_STREAM, "latest", 100)


def test_an_sns_topic_wires_a_queue_function(tmp_path: Path) -> None:
    fn = load(tmp_path, f'trigger = "queue"\ntopic = "{TOPIC}"')
    assert (fn.trigger, fn.topic) == ("queue", TOPIC)


@pytest.mark.parametrize(("function", "message"), [
    ('trigger = "stream"\nstream = "arn:aws:dynamodb:us-east-1:123456789012:table/photos"',
     'stream = "arn:aws:dynamodb:us-east-1:123456789012:table/photos": expected a Kinesis stream '
     'ARN, e.g. "arn:aws:kinesis:us-east-1:123456789012:stream/clicks", or a DynamoDB stream ARN, '
     'e.g. "arn:aws:dynamodb:us-east-1:123456789012:table/orders/stream/2024-01-01T00:00:00.000". '
     "That is the table's ARN: the mapping reads its stream's, which ends in /stream/LABEL (aws "
     "dynamodb describe-table --table-name photos --query Table.LatestStreamArn)."),
    ('trigger = "stream"\nstream = "clicks"',
     'stream = "clicks": expected a Kinesis stream ARN, e.g. '
     '"arn:aws:kinesis:us-east-1:123456789012:stream/clicks", or a DynamoDB stream ARN, e.g. '
     '"arn:aws:dynamodb:us-east-1:123456789012:table/orders/stream/2024-01-01T00:00:00.000".'),
    ('trigger = "stream"\nstart = "oldest"',
     'start = "oldest": expected "latest" or "trim_horizon". Did you mean "latest"?'),
    ('trigger = "stream"\nbatch_size = 20000',
     "batch_size = 20000: expected 1 to 10,000 records (Lambda's limit for Kinesis and DynamoDB "
     "Streams)."),
    ('trigger = "stream"\nbatch_size = "10"', 'batch_size = "10": expected an integer.'),
    (f'trigger = "queue"\nstream = "{KINESIS}"',
     f'stream = "{KINESIS}": only for trigger = "stream", and this function\'s trigger is '
     '"queue".'),
    ('trigger = "http"\nbatch_size = 10',
     "batch_size = 10: only for trigger = \"stream\", and this function's trigger is \"http\"."),
    ('trigger = "queue"\ntopic = "arn:aws:sqs:us-east-1:123456789012:orders"',
     'topic = "arn:aws:sqs:us-east-1:123456789012:orders": expected an SNS topic ARN, e.g. '
     '"arn:aws:sns:us-east-1:123456789012:orders", or a Pub/Sub topic name (gcp). An SQS '
     "queue's ARN goes in queue = ..."),
    (f'trigger = "schedule"\ntopic = "{TOPIC}"',
     f'topic = "{TOPIC}": an SNS topic delivers messages to a queue function on aws, and this '
     'function\'s trigger is "schedule". Use trigger = "queue", or a Pub/Sub topic name for a '
     "schedule function on gcp."),
])  # fmt: skip
def test_bad_stream_and_topic_settings_name_the_key_and_the_fix(tmp_path: Path, function: str,
                                                                message: str) -> None:
    assert refused(tmp_path, function) == message


def test_a_pubsub_topic_name_is_still_a_queue_or_schedule_topic(tmp_path: Path) -> None:
    assert load(tmp_path, 'trigger = "schedule"\ntopic = "ticks"').topic == "ticks"


@pytest.mark.parametrize(("target", "flavor", "fits"), [
    ("aws", None, True), ("gcp", None, False), ("docker", "http", False),
    ("docker", "lambda", True),
])
def test_only_lambda_delivers_streams(target: str, flavor: str | None, fits: bool) -> None:
    assert config.trigger_fits("stream", target, flavor) is fits  # type: ignore[arg-type]
    assert config.trigger_fits("queue", target, flavor)  # type: ignore[arg-type]


# --- fpack check --------------------------------------------------------------------------------

TOML = f"""\
[project]
name = "shop"

[functions.clicks]
handler = "app:on_click"
trigger = "stream"
stream = "{KINESIS}"

[targets.aws]
[targets.gcp]
[targets.docker]
"""


def check(tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch,
          source: str, toml: str = TOML, *args: str) -> tuple[int, list[str]]:
    (tmp_path / "app.py").write_text(source)
    (tmp_path / "fpack.toml").write_text(toml)
    monkeypatch.chdir(tmp_path)
    code = cli.main(["check", *args])
    return code, capsys.readouterr().out.splitlines()


def test_check_refuses_a_stream_function_where_no_stream_reaches_it(
        tmp_path: Path, capsys: pytest.CaptureFixture[str],
        monkeypatch: pytest.MonkeyPatch) -> None:
    code, out = check(tmp_path, capsys, monkeypatch,
                      "import fpack\n\n\ndef on_click(record: fpack.Record) -> None:\n    pass\n")
    assert code == 1
    assert out == [  # ordered by place, then message
        'fpack.toml:6: FP104 [functions.clicks] trigger = "stream" has no source on target '
        '"docker" (flavor "http"): Kinesis and DynamoDB streams reach functions through '
        'Lambda\'s event source mappings only; use [targets.docker] flavor = "lambda" or '
        "--target aws, or check with --target for the others",
        'fpack.toml:6: FP104 [functions.clicks] trigger = "stream" has no source on target '
        '"gcp": Kinesis and DynamoDB streams reach functions through Lambda\'s event source '
        "mappings only; build it with --target aws, or check with --target for the others",
    ]
    lambda_image = TOML.replace("[targets.docker]", '[targets.docker]\nflavor = "lambda"')
    assert check(tmp_path, capsys, monkeypatch, "def on_click(record):\n    pass\n",
                 lambda_image, "--target", "aws", "--target", "docker")[0] == 0


def test_check_knows_what_a_stream_handler_receives(
        tmp_path: Path, capsys: pytest.CaptureFixture[str],
        monkeypatch: pytest.MonkeyPatch) -> None:
    code, out = check(tmp_path, capsys, monkeypatch,
                      "import fpack\n\n\ndef on_click(message: fpack.Message) -> None:\n    pass\n",
                      TOML, "--target", "aws")
    assert code == 1
    assert out == [
        'app.py:4: FP204 [functions.clicks] handler = "app:on_click": on_click\'s parameter is '
        "annotated fpack.Message, but a stream handler receives fpack.Record: check trigger = "
        '"stream" or the handler']
    code, out = check(tmp_path, capsys, monkeypatch, "def on_click(record, context):\n    pass\n",
                      TOML, "--target", "aws")
    assert out == [
        'app.py:1: FP204 [functions.clicks] handler = "app:on_click": on_click takes 2 '
        "positional parameters; a portable stream handler takes 1: def on_click(record). To "
        'package it as a Lambda handler, set style = "lambda" in its [functions] table (runs on '
        'aws and docker)']
