"""Streaming test strategy (lambdas/test_stream): record validation, partial batch failures, S3 output.

Kinesis and S3 are moto: one test puts records on a moto stream and builds the Lambda event from what
get_records returns, so the event carries real sequence numbers and data blobs. The endpoint is a fake
sagemaker-runtime client, since moto's invoke_endpoint returns one canned body ("body") whatever the
input; that canned answer is used as the misbehaving-endpoint case, and a botocore Stubber checks the
request against the sagemaker-runtime service model.
"""

from __future__ import annotations

import base64
import io
import json
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import boto3
import pytest
from botocore.exceptions import ClientError
from botocore.response import StreamingBody
from botocore.stub import Stubber
from moto import mock_aws

from tests.unit.lambdas_path import cached_handler, use

use("test_stream")
import stream_strategy  # noqa: E402 - importable only once its Lambda folder is on sys.path

REGION = "us-east-1"
BUCKET = "mlops-preprod-stream-results"
ENDPOINT = "mlops-preprod-churn"
STREAM_ARN = f"arn:aws:kinesis:{REGION}:123456789012:stream/churn-test"
FEATURES = [12.0, 50.0, 600.0, 2.0, 50.0, 0.1667, 1.0, 0.0, 0.0, 1.0, 0.0, 0.0, 0.0]
_CLIENTS = {service: boto3.client(service, region_name=REGION) for service in ("s3", "kinesis")}


class FakeRuntime:
    """invoke_endpoint scoring one CSV row: the first feature / 100, or failing for a poisoned row."""

    def __init__(self) -> None:
        self.calls: list[dict[str, Any]] = []

    def invoke_endpoint(self, **request: Any) -> dict[str, Any]:
        self.calls.append(request)
        row = [float(value) for value in request["Body"].decode().split(",")]
        if row[0] == 99:
            raise ClientError({"Error": {"Code": "ModelError", "Message": "container crashed"}}, "InvokeEndpoint")
        payload = f"{row[0] / 100}\n".encode()
        return {"Body": StreamingBody(io.BytesIO(payload), len(payload)), "ContentType": "text/csv"}


@dataclass(frozen=True)
class FakeContext:
    function_name: str = "test-stream"
    memory_limit_in_mb: int = 256
    invoked_function_arn: str = f"arn:aws:lambda:{REGION}:123456789012:function:test-stream"
    aws_request_id: str = "req-1"


def record(data: bytes, sequence: str, *, arrival: float = 1735689600.25, key: str = "pk") -> dict[str, Any]:
    """One record of a Kinesis event as Lambda delivers it (data base64-encoded)."""
    return {
        "kinesis": {
            "kinesisSchemaVersion": "1.0",
            "partitionKey": key,
            "sequenceNumber": sequence,
            "data": base64.b64encode(data).decode(),
            "approximateArrivalTimestamp": arrival,
        },
        "eventSource": "aws:kinesis",
        "eventVersion": "1.0",
        "eventID": f"shardId-000000000000:{sequence}",
        "eventName": "aws:kinesis:record",
        "invokeIdentityArn": "arn:aws:iam::123456789012:role/test-stream",
        "awsRegion": REGION,
        "eventSourceARN": STREAM_ARN,
    }


def request(identifier: Any, features: Any = FEATURES) -> bytes:
    return json.dumps({"id": identifier, "features": features}).encode()


@pytest.fixture
def aws() -> Iterator[dict[str, Any]]:
    with mock_aws():
        _CLIENTS["s3"].create_bucket(Bucket=BUCKET)
        yield _CLIENTS


@pytest.fixture
def runtime() -> FakeRuntime:
    return FakeRuntime()


@pytest.fixture
def stream_handler(monkeypatch: pytest.MonkeyPatch, aws: dict[str, Any], runtime: FakeRuntime) -> Any:
    module = cached_handler("test_stream")
    module.settings.cache_clear()  # the module is shared by the tests; each sets its own environment
    monkeypatch.setattr(module.metrics, "namespace", "MLOpsTests")
    monkeypatch.setattr(module, "clients", lambda: (runtime, aws["s3"]))
    monkeypatch.setenv("ENDPOINT_NAME", ENDPOINT)
    monkeypatch.setenv("OUTPUT_URI", f"s3://{BUCKET}/scored/")
    return module


def output_lines(s3: Any) -> dict[str, list[dict[str, Any]]]:
    listing = s3.list_objects_v2(Bucket=BUCKET).get("Contents", [])
    return {
        item["Key"]: [
            json.loads(line) for line in s3.get_object(Bucket=BUCKET, Key=item["Key"])["Body"].read().splitlines()
        ]
        for item in listing
    }


# --- record validation -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (b"\xff\xfe", "record data is not UTF-8 text"),
        (b"id=1", "record data is not valid JSON"),
        (b'{"id": "a", "features": [NaN]}', "NaN is not a JSON number"),
        (b"[1, 2]", 'record must be a JSON object {"id": ..., "features": [13 numbers]}'),
        (json.dumps({"features": FEATURES}).encode(), 'record "id" must be a non-empty string or an integer'),
        (request(True), 'record "id" must be a non-empty string'),
        (request(""), 'record "id" must be a non-empty string'),
        (request("x" * 257), 'record "id" is longer than 256 characters'),
        (json.dumps({"id": "c1"}).encode(), 'record c1: "features" must be an array of 13 numbers, got none'),
        (request("c1", FEATURES[:3]), 'record c1: "features" must be an array of 13 numbers, got 3 values'),
        (request("c1", "1,2,3"), "got no array"),
        (request("c1", [*FEATURES[:12], "0"]), "record c1: features[12] must be a finite number, got '0'"),
        (request("c1", [False, *FEATURES[1:]]), "features[0] must be a finite number, got False"),
        (b'{"id": "c1", "features": [1e999' + b", 0" * 12 + b"]}", "features[0] must be a finite number, got inf"),
    ],
)
def test_invalid_records_are_explained(data: bytes, message: str) -> None:
    with pytest.raises(stream_strategy.RecordError) as raised:
        stream_strategy.parse_record(data)
    assert message in str(raised.value)


def test_integer_ids_are_accepted() -> None:
    assert stream_strategy.parse_record(request(42)) == stream_strategy.StreamInput(id="42", features=FEATURES)


def test_config() -> None:
    loaded = stream_strategy.Config.from_env({"ENDPOINT_NAME": ENDPOINT, "OUTPUT_URI": f"s3://{BUCKET}/a/b/"})
    assert (loaded.output_bucket, loaded.output_prefix) == (BUCKET, "a/b")
    with pytest.raises(stream_strategy.ConfigError, match="OUTPUT_URI must be an s3://bucket/prefix URI"):
        stream_strategy.Config.from_env({"ENDPOINT_NAME": ENDPOINT, "OUTPUT_URI": "results/"})
    with pytest.raises(stream_strategy.ConfigError, match="ENDPOINT_NAME must be set"):
        stream_strategy.Config.from_env({"OUTPUT_URI": f"s3://{BUCKET}"})


# --- endpoint --------------------------------------------------------------------------------------------


def test_endpoint_answers_must_be_one_probability(aws: dict[str, Any]) -> None:
    # moto's canned invoke_endpoint answer ("body") stands in for a misbehaving endpoint.
    with pytest.raises(stream_strategy.EndpointError, match="returned b'body', not one probability"):
        stream_strategy.score(boto3.client("sagemaker-runtime", region_name=REGION), ENDPOINT, FEATURES)
    with pytest.raises(stream_strategy.EndpointError, match="ModelError: container crashed"):
        stream_strategy.score(FakeRuntime(), ENDPOINT, [99.0, *FEATURES[1:]])
    assert stream_strategy.score(FakeRuntime(), ENDPOINT, FEATURES)[0] == 0.12


def test_invoke_request_matches_the_service_model() -> None:
    runtime = boto3.client("sagemaker-runtime", region_name=REGION)
    with Stubber(runtime) as stub:
        stub.add_response(
            "invoke_endpoint",
            {"Body": StreamingBody(io.BytesIO(b"0.5\n"), 4)},
            {
                "EndpointName": ENDPOINT,
                "ContentType": "text/csv",
                "Accept": "text/csv",
                "Body": ",".join(map(repr, FEATURES)).encode(),
            },
        )
        assert stream_strategy.score(runtime, ENDPOINT, FEATURES)[0] == 0.5


# --- the handler -----------------------------------------------------------------------------------------


def test_bad_records_are_batch_item_failures_and_good_ones_are_written(
    stream_handler: Any, aws: dict[str, Any], capsys: pytest.CaptureFixture[str], caplog: pytest.LogCaptureFixture
) -> None:
    event = {
        "Records": [
            record(request("c1"), "101"),
            record(b"not json", "102"),
            record(request("c3", [30.0, *FEATURES[1:]]), "103", key="other"),
            record(request("c4", FEATURES[:5]), "104"),
            record(request("c5", [99.0, *FEATURES[1:]]), "105"),
        ]
    }

    response = stream_handler.handler(event, FakeContext())

    assert response == {
        "batchItemFailures": [{"itemIdentifier": "102"}, {"itemIdentifier": "104"}, {"itemIdentifier": "105"}]
    }
    [(key, lines)] = output_lines(aws["s3"]).items()
    assert key == "scored/dt=2025-01-01/shardId-000000000000-101-103.jsonl"
    assert [(line["id"], line["probability"], line["sequence_number"]) for line in lines] == [
        ("c1", 0.12, "101"),
        ("c3", 0.3, "103"),
    ]
    assert lines[1]["partition_key"] == "other"
    assert lines[0]["approximate_arrival"] == "2025-01-01T00:00:00.250+00:00"
    assert lines[0]["endpoint"] == ENDPOINT
    reasons = {
        getattr(entry, "sequence_number", None): getattr(entry, "reason", None)
        for entry in caplog.records
        if entry.getMessage() in ("bad record", "endpoint error")
    }
    assert str(reasons["102"]).startswith("record data is not valid JSON")
    assert reasons["104"] == 'record c4: "features" must be an array of 13 numbers, got 5 values'
    assert reasons["105"] == f"endpoint {ENDPOINT} failed: ModelError: container crashed"
    [emf] = [json.loads(line) for line in capsys.readouterr().out.splitlines() if '"_aws"' in line]
    assert (emf["StreamRecordsScored"], emf["StreamRecordsFailed"]) == ([2.0], [3.0])


def test_all_bad_batch_reports_every_record_without_raising(
    stream_handler: Any, aws: dict[str, Any], runtime: FakeRuntime
) -> None:
    event = {"Records": [record(b"{}", "201"), record(b"[]", "202")]}

    response = stream_handler.handler(event, FakeContext())

    assert response == {"batchItemFailures": [{"itemIdentifier": "201"}, {"itemIdentifier": "202"}]}
    assert output_lines(aws["s3"]) == {}
    assert runtime.calls == []


def test_a_retried_batch_overwrites_its_own_output(stream_handler: Any, aws: dict[str, Any]) -> None:
    event = {"Records": [record(request("c1"), "301"), record(request("c2"), "302")]}

    stream_handler.handler(event, FakeContext())
    stream_handler.handler(event, FakeContext())

    [lines] = output_lines(aws["s3"]).values()
    assert [line["id"] for line in lines] == ["c1", "c2"]


def test_event_built_from_a_moto_kinesis_stream(stream_handler: Any, aws: dict[str, Any]) -> None:
    kinesis = aws["kinesis"]
    kinesis.create_stream(StreamName="churn-test", ShardCount=1)
    kinesis.put_records(
        StreamName="churn-test",
        Records=[{"Data": request(f"k{n}", [float(n), *FEATURES[1:]]), "PartitionKey": f"k{n}"} for n in range(3)]
        + [{"Data": b"garbage", "PartitionKey": "bad"}],
    )
    shard = kinesis.list_shards(StreamName="churn-test")["Shards"][0]["ShardId"]
    iterator = kinesis.get_shard_iterator(StreamName="churn-test", ShardId=shard, ShardIteratorType="TRIM_HORIZON")
    fetched = kinesis.get_records(ShardIterator=iterator["ShardIterator"])["Records"]
    event = {
        "Records": [
            {
                **record(item["Data"], item["SequenceNumber"], key=item["PartitionKey"]),
                "eventID": f"{shard}:{item['SequenceNumber']}",
                "kinesis": {
                    "kinesisSchemaVersion": "1.0",
                    "partitionKey": item["PartitionKey"],
                    "sequenceNumber": item["SequenceNumber"],
                    "data": base64.b64encode(item["Data"]).decode(),
                    "approximateArrivalTimestamp": item["ApproximateArrivalTimestamp"].timestamp(),
                },
            }
            for item in fetched
        ]
    }

    response = stream_handler.handler(event, FakeContext())

    assert response == {"batchItemFailures": [{"itemIdentifier": fetched[3]["SequenceNumber"]}]}
    [(key, lines)] = output_lines(aws["s3"]).items()
    assert key.endswith(f"/{shard}-{fetched[0]['SequenceNumber']}-{fetched[2]['SequenceNumber']}.jsonl")
    assert [(line["id"], line["probability"]) for line in lines] == [("k0", 0.0), ("k1", 0.01), ("k2", 0.02)]


# --- Kafka (Amazon MSK) events ------------------------------------------------------------------------------

TOPIC = "churn-test-records"
MSK_ARN = f"arn:aws:kafka:{REGION}:123456789012:cluster/mlops-preprod-test-stream/abcd-1234-s1"


def kafka_record(
    value: bytes | None, offset: int, *, partition: int = 0, key: bytes | None = b"k", timestamp: int = 1735689600250
) -> dict[str, Any]:
    """One record of an MSK event as Lambda delivers it (key and value base64-encoded)."""
    item: dict[str, Any] = {
        "topic": TOPIC,
        "partition": partition,
        "offset": offset,
        "timestamp": timestamp,
        "timestampType": "CREATE_TIME",
        "value": None if value is None else base64.b64encode(value).decode(),
        "headers": [],
    }
    if key is not None:
        item["key"] = base64.b64encode(key).decode()
    return item


def kafka_event(*records: dict[str, Any]) -> dict[str, Any]:
    partitions: dict[str, list[dict[str, Any]]] = {}
    for item in records:
        partitions.setdefault(f"{item['topic']}-{item['partition']}", []).append(item)
    return {
        "eventSource": "aws:kafka",
        "eventSourceArn": MSK_ARN,
        "bootstrapServers": "boot-abcd.c1.kafka-serverless.us-east-1.amazonaws.com:9098",
        "records": partitions,
    }


def test_kafka_records_are_scored_and_bad_ones_are_batch_item_failures(
    stream_handler: Any, aws: dict[str, Any], runtime: FakeRuntime, caplog: pytest.LogCaptureFixture
) -> None:
    event = kafka_event(
        kafka_record(request("m1"), 10),
        kafka_record(b"not json", 11),
        kafka_record(request("m3", [40.0, *FEATURES[1:]]), 12, key=None),
        kafka_record(request("m4", [99.0, *FEATURES[1:]]), 5, partition=1),
        kafka_record(request("m5", [7.0, *FEATURES[1:]]), 6, partition=1, key=b"other"),
        {key: value for key, value in kafka_record(None, 7, partition=1).items() if key != "value"},
    )

    response = stream_handler.handler(event, FakeContext())

    assert response == {
        "batchItemFailures": [
            {"itemIdentifier": {"partition": f"{TOPIC}-0", "offset": 11}},
            {"itemIdentifier": {"partition": f"{TOPIC}-1", "offset": 5}},
            {"itemIdentifier": {"partition": f"{TOPIC}-1", "offset": 7}},
        ]
    }
    outputs = output_lines(aws["s3"])
    # One object per topic partition: a retry re-delivers each partition from its own failed offset.
    assert sorted(outputs) == [
        f"scored/dt=2025-01-01/{TOPIC}-0-10-12.jsonl",
        f"scored/dt=2025-01-01/{TOPIC}-1-6-6.jsonl",
    ]
    first = outputs[f"scored/dt=2025-01-01/{TOPIC}-0-10-12.jsonl"]
    assert [(line["id"], line["probability"], line["sequence_number"], line["partition_key"]) for line in first] == [
        ("m1", 0.12, "10", "k"),
        ("m3", 0.4, "12", ""),
    ]
    assert first[0]["source"] == "kafka"
    assert first[0]["shard_id"] == f"{TOPIC}-0"
    assert first[0]["approximate_arrival"] == "2025-01-01T00:00:00.250+00:00"
    [second] = outputs[f"scored/dt=2025-01-01/{TOPIC}-1-6-6.jsonl"]
    assert (second["id"], second["partition_key"]) == ("m5", "other")
    reasons = {
        (getattr(entry, "topic_partition", None), getattr(entry, "offset", None)): getattr(entry, "reason", None)
        for entry in caplog.records
        if entry.getMessage() in ("bad record", "endpoint error")
    }
    assert str(reasons[(f"{TOPIC}-0", 11)]).startswith("record data is not valid JSON")
    assert reasons[(f"{TOPIC}-1", 5)] == f"endpoint {ENDPOINT} failed: ModelError: container crashed"
    assert reasons[(f"{TOPIC}-1", 7)] == "Kafka record value is missing (a tombstone or a null value)"
    assert len(runtime.calls) == 4


def test_kafka_value_and_key_are_decoded_and_non_base64_is_a_bad_record() -> None:
    record = kafka_record(b"{}", 1, key=b"customer-7")
    assert stream_strategy.decode_kafka_record(record) == (b"{}", "customer-7")
    assert stream_strategy.decode_kafka_record(kafka_record(b"{}", 1, key=None)) == (b"{}", "")
    for broken in ({"value": "not base64!"}, {"key": "%%%"}):
        with pytest.raises(stream_strategy.RecordError, match="Kafka record value or key is not base64"):
            stream_strategy.decode_kafka_record({**record, **broken})


def test_kinesis_results_say_their_source(stream_handler: Any, aws: dict[str, Any]) -> None:
    stream_handler.handler({"Records": [record(request("c1"), "401")]}, FakeContext())
    [lines] = output_lines(aws["s3"]).values()
    assert lines[0]["source"] == "kinesis"


# The handler stops before any record: Powertools then warns that it has no metrics to publish.
@pytest.mark.filterwarnings("ignore:No application metrics to publish")
@pytest.mark.parametrize(
    ("event", "message"),
    [
        ({}, 'the event has neither Kinesis "Records" nor Kafka "records"'),
        ([], "the event must be a JSON object, got list"),
        ({"Records": []}, 'a Kinesis event needs "Records": a non-empty list'),
        ({"eventSource": "aws:kafka", "records": {}}, 'a Kafka event needs "records": a non-empty object'),
        ({"eventSource": "aws:kafka", "records": []}, 'a Kafka event needs "records": a non-empty object'),
        (
            {"eventSource": "aws:sqs", "records": {"t-0": []}},
            "eventSource 'aws:kafka' or 'SelfManagedKafka', got 'aws:sqs'",
        ),
        (
            {"eventSource": "aws:kafka", "records": {"t-0": []}},
            "Kafka event \"records\" of 't-0' must be a non-empty list",
        ),
        (
            {"eventSource": "aws:kafka", "records": {"t-0": [{"topic": "t", "offset": 1}]}},
            'Kafka record 0 of \'t-0\' must have "topic", "partition" and "offset"',
        ),
    ],
)
def test_events_that_are_not_stream_batches_are_refused_clearly(
    stream_handler: Any, aws: dict[str, Any], runtime: FakeRuntime, event: Any, message: str
) -> None:
    with pytest.raises(stream_strategy.EventError) as raised:
        stream_handler.handler(event, FakeContext())
    assert message in str(raised.value)
    assert runtime.calls == []
    assert output_lines(aws["s3"]) == {}
