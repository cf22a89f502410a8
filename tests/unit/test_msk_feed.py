"""MSK feed functions (lambdas/msk_feed): the topic custom resource, the test-record producer, IAM auth.

No broker here: the Kafka admin client and producer are fakes that raise kafka-python's own errors
(TopicAlreadyExistsError, UnknownTopicOrPartitionError, ...), so the logic is tested against the
exceptions the real client raises. The produced payloads are checked with the stream consumer's own
parser, so the feed and the consumer cannot drift apart.
"""

from __future__ import annotations

import base64
import importlib.util
import io
import json
import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qs, urlparse

import pytest
from botocore.exceptions import ClientError
from kafka.errors import (
    KafkaTimeoutError,
    NotLeaderForPartitionError,
    TopicAlreadyExistsError,
    TopicAuthorizationFailedError,
    UnknownTopicOrPartitionError,
)
from kafka.net.sasl.oauth import AbstractTokenProvider

from tests.unit.lambdas_path import LAMBDAS, cached_handler, use

use("test_stream")
use("msk_feed")
import feed  # noqa: E402 - importable only once its Lambda folder is on sys.path
import kafka_connection  # noqa: E402
import stream_strategy  # noqa: E402
import topic  # noqa: E402

REGION = "eu-west-1"
CLUSTER_ARN = "arn:aws:kafka:eu-west-1:222222222222:cluster/mlops-preprod-test-stream/0a1b2c3d-4e5f-s1"
OTHER_CLUSTER_ARN = "arn:aws:kafka:eu-west-1:222222222222:cluster/mlops-preprod-test-stream/9f8e7d6c-5b4a-s1"
BOOTSTRAP = "boot-abcd.c1.kafka-serverless.eu-west-1.amazonaws.com:9098"
TOPIC = "churn-test-records"
PROPERTIES = {"ClusterArn": CLUSTER_ARN, "BootstrapServers": BOOTSTRAP, "Topic": TOPIC, "Partitions": "1"}
FEATURES = ["12", "50.5", "606", "2", "50.5", "0.1667", "1", "0", "0", "1", "0", "0", "0"]


class FakeAdmin:
    """KafkaAdminClient's topic calls over an in-memory set of topics, raising kafka-python's errors."""

    def __init__(self, topics: set[str] | None = None, *, fail_with: Exception | None = None) -> None:
        self.topics = set(topics or ())
        self.created: list[dict[str, Any]] = []
        self.deleted: list[list[str]] = []
        self.closed = False
        self._fail_with = fail_with

    def create_topics(self, new_topics: Any, timeout_ms: int | None = None) -> Any:
        if self._fail_with:
            raise self._fail_with
        (name,) = new_topics
        if name in self.topics:
            raise TopicAlreadyExistsError(f"Topic '{name}' already exists.")
        self.topics.add(name)
        self.created.append(new_topics)
        return {"topics": [{"name": name, "error_code": 0}]}

    def delete_topics(self, topics: Any, timeout_ms: int | None = None) -> Any:
        if self._fail_with:
            raise self._fail_with
        (name,) = topics
        if name not in self.topics:
            raise UnknownTopicOrPartitionError(name)
        self.topics.remove(name)
        self.deleted.append(topics)
        return {"topics": [{"name": name, "error_code": 0}]}

    def close(self) -> None:
        self.closed = True


@dataclass
class AdminFactory:
    admin: FakeAdmin
    connections: list[kafka_connection.Connection] = field(default_factory=list)

    def __call__(self, connection: kafka_connection.Connection) -> FakeAdmin:
        self.connections.append(connection)
        return self.admin


def event(request_type: str, properties: Any = None, **extra: Any) -> dict[str, Any]:
    return {
        "RequestType": request_type,
        "ResourceType": "Custom::MskTopic",
        "ResourceProperties": {"ServiceToken": "arn:aws:lambda:...", **(properties or PROPERTIES)},
        **extra,
    }


PHYSICAL_ID = f"{CLUSTER_ARN}/topic/{TOPIC}"


# --- topic custom resource ------------------------------------------------------------------------------


def test_create_makes_the_topic_with_its_partitions_and_closes_the_client() -> None:
    factory = AdminFactory(FakeAdmin())
    response = topic.on_event(event("Create"), REGION, factory)
    assert response == {"PhysicalResourceId": PHYSICAL_ID, "Data": {"Topic": TOPIC, "Outcome": "created"}}
    assert factory.admin.created == [{TOPIC: {"num_partitions": 1}}]
    assert factory.admin.closed
    (connection,) = factory.connections
    assert connection == kafka_connection.Connection(bootstrap_servers=(BOOTSTRAP,), region=REGION)


def test_create_of_a_topic_that_exists_succeeds_without_creating_another() -> None:
    factory = AdminFactory(FakeAdmin({TOPIC}))
    response = topic.on_event(event("Create"), REGION, factory)
    assert response["PhysicalResourceId"] == PHYSICAL_ID
    assert response["Data"]["Outcome"] == "already existed"
    assert factory.admin.created == [] and factory.admin.topics == {TOPIC}


def test_update_with_the_same_name_and_cluster_touches_nothing() -> None:
    factory = AdminFactory(FakeAdmin({TOPIC}))
    changed = {**PROPERTIES, "Partitions": "3", "BootstrapServers": BOOTSTRAP + ",b-2.example.com:9098"}
    response = topic.on_event(
        event("Update", changed, OldResourceProperties=PROPERTIES, PhysicalResourceId=PHYSICAL_ID), REGION, factory
    )
    assert response == {"PhysicalResourceId": PHYSICAL_ID, "Data": {"Topic": TOPIC, "Outcome": "unchanged"}}
    assert factory.connections == []


def test_update_with_a_new_name_creates_it_under_a_new_id_and_leaves_the_old_topic_to_the_delete() -> None:
    factory = AdminFactory(FakeAdmin({TOPIC}))
    renamed = {**PROPERTIES, "Topic": "churn-test-records-v2"}
    response = topic.on_event(
        event("Update", renamed, OldResourceProperties=PROPERTIES, PhysicalResourceId=PHYSICAL_ID), REGION, factory
    )
    assert response["PhysicalResourceId"] == f"{CLUSTER_ARN}/topic/churn-test-records-v2"
    assert response["Data"] == {"Topic": "churn-test-records-v2", "Outcome": "created"}
    assert factory.admin.topics == {TOPIC, "churn-test-records-v2"}
    # CloudFormation then deletes the old physical ID with the old properties.
    delete = event("Delete", PROPERTIES, PhysicalResourceId=PHYSICAL_ID)
    assert topic.on_event(delete, REGION, factory)["Data"]["Outcome"] == "deleted"
    assert factory.admin.topics == {"churn-test-records-v2"}


def test_update_to_another_cluster_creates_the_topic_there() -> None:
    factory = AdminFactory(FakeAdmin())
    moved = {**PROPERTIES, "ClusterArn": OTHER_CLUSTER_ARN}
    response = topic.on_event(
        event("Update", moved, OldResourceProperties=PROPERTIES, PhysicalResourceId=PHYSICAL_ID), REGION, factory
    )
    assert response["PhysicalResourceId"] == f"{OTHER_CLUSTER_ARN}/topic/{TOPIC}"
    assert factory.admin.created == [{TOPIC: {"num_partitions": 1}}]


def test_delete_removes_the_topic() -> None:
    factory = AdminFactory(FakeAdmin({TOPIC, "unrelated"}))
    response = topic.on_event(event("Delete", PhysicalResourceId=PHYSICAL_ID), REGION, factory)
    assert response == {"PhysicalResourceId": PHYSICAL_ID, "Data": {"Topic": TOPIC, "Outcome": "deleted"}}
    assert factory.admin.deleted == [[TOPIC]]
    assert factory.admin.topics == {"unrelated"}
    assert factory.admin.closed


def test_delete_of_a_missing_topic_succeeds() -> None:
    factory = AdminFactory(FakeAdmin())
    response = topic.on_event(event("Delete", PhysicalResourceId=PHYSICAL_ID), REGION, factory)
    assert response["Data"]["Outcome"] == "already absent"


def test_delete_after_a_failed_create_does_not_touch_kafka() -> None:
    # The provider framework reports a failed Create under an ID that is not ours; the rollback's Delete
    # must not remove a topic that this resource never created.
    factory = AdminFactory(FakeAdmin({TOPIC}))
    response = topic.on_event(event("Delete", PhysicalResourceId="a1b2-request-id"), REGION, factory)
    assert response["PhysicalResourceId"] == "a1b2-request-id"
    assert factory.connections == [] and factory.admin.topics == {TOPIC}


@pytest.mark.parametrize("failure", [TopicAuthorizationFailedError("denied"), KafkaTimeoutError("no broker answered")])
def test_other_kafka_errors_fail_the_request_and_still_close_the_client(failure: Exception) -> None:
    factory = AdminFactory(FakeAdmin(fail_with=failure))
    with pytest.raises(type(failure)):
        topic.on_event(event("Create"), REGION, factory)
    assert factory.admin.closed
    with pytest.raises(type(failure)):
        topic.on_event(event("Delete", PhysicalResourceId=PHYSICAL_ID), REGION, factory)


@pytest.mark.parametrize(
    ("bad_event", "message"),
    [
        ([], "the event must be a JSON object, got list"),
        (event("Replace"), "RequestType must be Create, Update or Delete, got 'Replace'"),
        ({"RequestType": "Create"}, "ResourceProperties must be an object"),
        (event("Create", {**PROPERTIES, "Topic": "churn test"}), "ResourceProperties.Topic must be 1-249 of"),
        (event("Create", {**PROPERTIES, "Topic": ""}), "ResourceProperties.Topic must be 1-249 of"),
        (event("Create", {**PROPERTIES, "Partitions": "one"}), "ResourceProperties.Partitions must be an integer"),
        (event("Create", {**PROPERTIES, "Partitions": "0"}), "Partitions must be between 1 and 1000, got 0"),
        (event("Create", {**PROPERTIES, "ClusterArn": "cluster"}), "ClusterArn must be an MSK cluster ARN"),
        (event("Create", {**PROPERTIES, "BootstrapServers": ""}), "BootstrapServers must list the cluster's brokers"),
        (
            event("Create", {**PROPERTIES, "BootstrapServers": "boot.example.com"}),
            "BootstrapServers: 'boot.example.com' is not host:port",
        ),
        (event("Update", PhysicalResourceId=PHYSICAL_ID), "OldResourceProperties must be an object"),
    ],
)
def test_bad_requests_are_refused_with_what_is_wrong(bad_event: Any, message: str) -> None:
    factory = AdminFactory(FakeAdmin())
    with pytest.raises(topic.RequestError, match=message.replace("(", r"\(")):
        topic.on_event(bad_event, REGION, factory)
    assert factory.connections == []


def test_a_region_that_is_not_one_is_refused() -> None:
    with pytest.raises(topic.RequestError, match="AWS_REGION must be an AWS region name, got ''"):
        topic.on_event(event("Create"), "", AdminFactory(FakeAdmin()))


# --- IAM authentication ---------------------------------------------------------------------------------


def test_the_token_provider_is_kafka_pythons_kind_and_signs_for_the_region() -> None:
    calls: list[str] = []

    def sign(region: str) -> tuple[str, int]:
        calls.append(region)
        return "signed-token", 1_700_000_000_000

    provider = kafka_connection.MskIamTokenProvider(REGION, sign)
    # kafka-python 3 refuses an OAUTHBEARER provider that does not subclass its AbstractTokenProvider.
    assert isinstance(provider, AbstractTokenProvider)
    assert provider.token() == "signed-token"
    assert calls == [REGION]


def test_the_default_token_is_a_locally_presigned_connect_url(monkeypatch: pytest.MonkeyPatch) -> None:
    """The signer needs credentials only, no network: any socket use fails this test."""
    import socket

    def no_network(*args: Any, **kwargs: Any) -> Any:
        raise AssertionError("the token signer tried to use the network")

    monkeypatch.setattr(socket, "create_connection", no_network)
    monkeypatch.setattr(socket.socket, "connect", no_network)
    token = kafka_connection.MskIamTokenProvider(REGION).token()
    url = urlparse(base64.urlsafe_b64decode(token + "=" * (-len(token) % 4)).decode())
    query = parse_qs(url.query)
    assert url.hostname == f"kafka.{REGION}.amazonaws.com"
    assert query["Action"] == ["kafka-cluster:Connect"]
    assert (
        query["X-Amz-Credential"][0].startswith("testing/")
        and f"/{REGION}/kafka-cluster/" in query["X-Amz-Credential"][0]
    )
    assert query["X-Amz-Expires"] == ["900"]


def test_client_settings_use_sasl_ssl_with_oauthbearer() -> None:
    connection = kafka_connection.Connection.parse(f"{BOOTSTRAP},b-2.example.com:9098", REGION)
    settings = kafka_connection.client_settings(connection, client_id="fn")
    assert settings["bootstrap_servers"] == [BOOTSTRAP, "b-2.example.com:9098"]
    assert (settings["security_protocol"], settings["sasl_mechanism"]) == ("SASL_SSL", "OAUTHBEARER")
    assert isinstance(settings["sasl_oauth_token_provider"], kafka_connection.MskIamTokenProvider)
    assert settings["client_id"] == "fn"


# --- test records ---------------------------------------------------------------------------------------


def csv_rows(*rows: list[str]) -> str:
    return "".join(",".join(row) + "\n" for row in rows)


def test_records_are_the_consumers_input_one_per_line() -> None:
    text = csv_rows(["1", *FEATURES], ["0", *FEATURES[:-1], "1"]) + "\n"
    records = feed.parse_records(text, max_records=10)
    assert [record.id for record in records] == ["1", "2"]
    # What the stream consumer will parse from each Kafka value.
    first = stream_strategy.parse_record(records[0].value)
    assert first == stream_strategy.StreamInput(id="1", features=[float(value) for value in FEATURES])
    assert stream_strategy.parse_record(records[1].value).features[-1] == 1.0
    assert "churned" not in json.loads(records[0].value)  # the label stays out of the scoring request


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("", "the test data has no rows"),
        ("\n\n", "the test data has no rows"),
        (csv_rows(["churned", "tenure_months"]), "line 1 has 2 fields; expected 14 .the label, then 13 features"),
        (csv_rows(["1", *FEATURES], ["1", *FEATURES[:-1]]), "line 2 has 13 fields; expected 14"),
        (csv_rows(["1", "x", *FEATURES[1:]]), "line 1, feature 0: 'x' is not a number"),
        (csv_rows(["1", *FEATURES[:-1], "nan"]), "line 1, feature 12: 'nan' is not a finite number"),
        (csv_rows(*[["1", *FEATURES]] * 3), r"more than MAX_RECORDS \(2\) rows"),
    ],
)
def test_unusable_test_data_is_refused_with_the_line(text: str, message: str) -> None:
    with pytest.raises(feed.DataError, match=message):
        feed.parse_records(text, max_records=2)


class FakeS3:
    def __init__(self, objects: dict[tuple[str, str], bytes]) -> None:
        self.objects = objects

    def get_object(self, Bucket: str, Key: str) -> dict[str, Any]:
        if (Bucket, Key) not in self.objects:
            raise ClientError({"Error": {"Code": "NoSuchKey", "Message": "missing"}}, "GetObject")
        return {"Body": io.BytesIO(self.objects[(Bucket, Key)])}


def test_missing_or_binary_test_data_is_a_clear_error() -> None:
    s3 = FakeS3({("bucket", "bin.csv"): b"\xff\xfe"})
    with pytest.raises(feed.DataError, match=r"cannot read s3://bucket/test.csv: NoSuchKey \(has a model been"):
        feed.read_test_data(s3, "bucket", "test.csv")
    with pytest.raises(feed.DataError, match=r"s3://bucket/bin\.csv is not UTF-8 text"):
        feed.read_test_data(s3, "bucket", "bin.csv")


# --- producing ------------------------------------------------------------------------------------------


class FakeFuture:
    def __init__(self, error: Exception | None) -> None:
        self.error = error

    def get(self, timeout: float | None = None) -> Any:
        if self.error:
            raise self.error
        return "metadata"


class FakeProducer:
    """KafkaProducer.send/flush; `fail` decides per record value what send or the future raises."""

    def __init__(self, fail: Callable[[bytes], tuple[str, Exception] | None] = lambda value: None) -> None:
        self.sent: list[tuple[str, bytes, bytes | None]] = []
        self.flushed = 0
        self.closed = False
        self._fail = fail

    def send(self, topic: str, value: bytes | None = None, key: bytes | None = None) -> FakeFuture:
        assert value is not None
        failure = self._fail(value)
        if failure and failure[0] == "send":
            raise failure[1]
        self.sent.append((topic, value, key))
        return FakeFuture(failure[1] if failure else None)

    def flush(self, timeout: float | None = None) -> None:
        self.flushed += 1

    def close(self, timeout: float | None = None) -> None:
        self.closed = True


def records(count: int) -> list[feed.Record]:
    return feed.parse_records(csv_rows(*[["1", *FEATURES]] * count), max_records=count)


def test_every_record_is_sent_keyed_by_its_id_and_awaited() -> None:
    producer = FakeProducer()
    report = feed.produce(producer, TOPIC, records(3), source="s3://b/k")
    assert [(topic_name, key) for topic_name, _, key in producer.sent] == [(TOPIC, b"1"), (TOPIC, b"2"), (TOPIC, b"3")]
    assert producer.flushed == 1
    assert report.as_dict() == {
        "status": "passed",
        "topic": TOPIC,
        "source": "s3://b/k",
        "sent": 3,
        "failed": 0,
        "failures": [],
    }


def test_failed_records_are_reported_by_id_and_reason() -> None:
    def fail(value: bytes) -> tuple[str, Exception] | None:
        record_id = json.loads(value)["id"]
        if record_id == "2":
            return "future", NotLeaderForPartitionError("leader moved")
        if record_id == "3":
            return "send", KafkaTimeoutError("Failed to update metadata after 60.0 secs.")
        return None

    report = feed.produce(FakeProducer(fail), TOPIC, records(4), source="s3://b/k")
    result = report.as_dict()
    assert (result["status"], result["sent"], result["failed"]) == ("failed", 2, 2)
    assert sorted(result["failures"], key=lambda f: f["id"]) == [
        {"id": "2", "reason": "[Error 6] NotLeaderForPartitionError: leader moved"},
        {"id": "3", "reason": "KafkaTimeoutError: Failed to update metadata after 60.0 secs."},
    ]


@pytest.mark.parametrize(
    ("env", "message"),
    [
        ({"TOPIC": ""}, "TOPIC must be a Kafka topic name, got ''"),
        ({"TEST_DATA_URI": "test-data/churn/test.csv"}, "TEST_DATA_URI must be an s3://bucket/key URI"),
        ({"MAX_RECORDS": "0"}, "MAX_RECORDS must be between 1 and 1000000, got 0"),
        ({"MAX_RECORDS": "many"}, "MAX_RECORDS must be an integer, got 'many'"),
        ({"BOOTSTRAP_SERVERS": ""}, "BOOTSTRAP_SERVERS must list the cluster's brokers"),
        ({"AWS_REGION": "Ireland"}, "AWS_REGION must be an AWS region name, got 'Ireland'"),
        ({"AWS_REGION": "eu-west-\uff11"}, "AWS_REGION must be an AWS region name"),  # fullwidth 1
        ({"BOOTSTRAP_SERVERS": f"{BOOTSTRAP}\nx:1"}, "is not host:port"),
        ({"BOOTSTRAP_SERVERS": " , "}, "BOOTSTRAP_SERVERS must list the cluster's brokers"),
        ({"MAX_RECORDS": "\uff15"}, "MAX_RECORDS must be an integer"),
        ({"MAX_RECORDS": "1e3"}, "MAX_RECORDS must be an integer"),
    ],
)
def test_feed_configuration_errors_name_the_variable(env: dict[str, str], message: str) -> None:
    good = {
        "TOPIC": TOPIC,
        "TEST_DATA_URI": "s3://artifacts/test-data/churn/test.csv",
        "BOOTSTRAP_SERVERS": BOOTSTRAP,
        "AWS_REGION": REGION,
    }
    assert feed.Config.from_env(good).key == "test-data/churn/test.csv"
    with pytest.raises(kafka_connection.ConfigError, match=message):
        feed.Config.from_env({**good, **env})


def test_feed_settings_are_stripped() -> None:
    env = {
        "TOPIC": f" {TOPIC}\n",
        "TEST_DATA_URI": "s3://artifacts/test-data/churn/test.csv\n",
        "BOOTSTRAP_SERVERS": f" {BOOTSTRAP}\n",
        "AWS_REGION": f"{REGION}\n",
    }
    config = feed.Config.from_env(env)
    assert (config.topic, config.connection.region) == (TOPIC, REGION)


# --- handlers -------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class FakeContext:
    function_name: str = "msk-feed"
    memory_limit_in_mb: int = 256
    invoked_function_arn: str = f"arn:aws:lambda:{REGION}:222222222222:function:msk-feed"
    aws_request_id: str = "req-1"


def load_topic_handler() -> Any:
    name = "msk_feed_topic_handler"
    if name not in sys.modules:
        spec = importlib.util.spec_from_file_location(name, LAMBDAS / "msk_feed" / "topic_handler.py")
        assert spec is not None and spec.loader is not None
        module = importlib.util.module_from_spec(spec)
        sys.modules[name] = module
        spec.loader.exec_module(module)
    return sys.modules[name]


def test_topic_handler_connects_with_iam_auth_and_creates_the_topic(monkeypatch: pytest.MonkeyPatch) -> None:
    module = load_topic_handler()
    admin = FakeAdmin()
    settings: list[dict[str, Any]] = []

    def admin_client(**kwargs: Any) -> FakeAdmin:
        settings.append(kwargs)
        return admin

    monkeypatch.setattr(module, "KafkaAdminClient", admin_client)
    monkeypatch.setenv("AWS_REGION", REGION)
    response = module.handler(event("Create"), FakeContext())
    assert response["Data"]["Outcome"] == "created" and admin.topics == {TOPIC}
    (used,) = settings
    assert used["bootstrap_servers"] == [BOOTSTRAP] and used["sasl_mechanism"] == "OAUTHBEARER"


def test_feed_handler_reads_s3_and_produces_every_row(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("POWERTOOLS_METRICS_NAMESPACE", "Mlops/Tests")
    module = cached_handler("msk_feed")
    module.settings.cache_clear()  # the module is shared by the tests; each sets its own environment
    monkeypatch.setattr(module.metrics, "namespace", "Mlops/Tests")
    producer = FakeProducer()
    settings: list[dict[str, Any]] = []

    def kafka_producer(**kwargs: Any) -> FakeProducer:
        settings.append(kwargs)
        return producer

    body = csv_rows(["1", *FEATURES], ["0", *FEATURES]).encode()
    monkeypatch.setattr(module, "KafkaProducer", kafka_producer)
    monkeypatch.setattr(
        module.boto3, "client", lambda service: FakeS3({("artifacts", "test-data/churn/test.csv"): body})
    )
    for name, value in {
        "TOPIC": TOPIC,
        "TEST_DATA_URI": "s3://artifacts/test-data/churn/test.csv",
        "BOOTSTRAP_SERVERS": BOOTSTRAP,
        "AWS_REGION": REGION,
    }.items():
        monkeypatch.setenv(name, value)
    result = module.handler({}, FakeContext())
    assert result["status"] == "passed" and result["sent"] == 2
    assert result["source"] == "s3://artifacts/test-data/churn/test.csv"
    assert [json.loads(value)["id"] for _, value, _ in producer.sent] == ["1", "2"]
    assert producer.closed
    (used,) = settings
    # Bounded retries and timeouts: an unreachable cluster fails the invocation instead of hanging.
    assert used["retries"] == 5 and used["delivery_timeout_ms"] == used["max_block_ms"] == 60_000
    assert used["security_protocol"] == "SASL_SSL"
