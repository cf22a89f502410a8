"""The Kafka topic of the streaming test, as a CloudFormation custom resource (MSK Serverless has no topic API).

Plain logic behind ``topic_handler``; the admin client is passed in, so tests use a fake.

- Create: create the topic; a topic that already exists is success (a retried or re-created resource).
- Update: nothing, unless the topic name or the cluster changed: then create the new topic and return a
  new physical ID, so CloudFormation deletes the old one (with its old properties) after the update.
  A changed partition count alone is not applied: Kafka can only add partitions, and the test does not
  need more.
- Delete: delete the topic; a topic that does not exist is success.

The physical resource ID is ``<cluster ARN>/topic/<name>``.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, Protocol

from kafka.errors import TopicAlreadyExistsError, UnknownTopicOrPartitionError
from kafka_connection import Connection

# Kafka's legal topic names (the broker rejects anything else, with a less helpful message).
_TOPIC = re.compile(r"[A-Za-z0-9._-]{1,249}")
_CLUSTER_ARN = re.compile(r"arn:aws[a-z-]*:kafka:[a-z0-9-]+:[0-9]{12}:cluster/[^/]+/[^/]+")
MAX_PARTITIONS = 1000


class RequestError(ValueError):
    """The custom resource event is not one this function can act on; the message names what is wrong."""


class Admin(Protocol):
    """What this module uses of kafka-python's KafkaAdminClient."""

    def create_topics(self, new_topics: Any, timeout_ms: int | None = ...) -> Any: ...

    def delete_topics(self, topics: Any, timeout_ms: int | None = ...) -> Any: ...

    def close(self) -> None: ...


@dataclass(frozen=True)
class TopicSpec:
    cluster_arn: str
    connection: Connection
    topic: str
    partitions: int

    @property
    def physical_id(self) -> str:
        return f"{self.cluster_arn}/topic/{self.topic}"

    @classmethod
    def from_properties(cls, properties: object, region: str, *, what: str = "ResourceProperties") -> TopicSpec:
        if not isinstance(properties, Mapping):
            raise RequestError(f"{what} must be an object")
        cluster_arn = str(properties.get("ClusterArn", ""))
        if not _CLUSTER_ARN.fullmatch(cluster_arn):
            raise RequestError(f"{what}.ClusterArn must be an MSK cluster ARN, got {cluster_arn!r}")
        topic = str(properties.get("Topic", ""))
        if not _TOPIC.fullmatch(topic):
            raise RequestError(f"{what}.Topic must be 1-249 of A-Z a-z 0-9 . _ -, got {topic!r}")
        text = str(properties.get("Partitions", ""))
        try:
            partitions = int(text)  # CloudFormation passes every property as a string
        except ValueError:
            raise RequestError(f"{what}.Partitions must be an integer, got {text!r}") from None
        if not 1 <= partitions <= MAX_PARTITIONS:
            raise RequestError(f"{what}.Partitions must be between 1 and {MAX_PARTITIONS}, got {partitions}")
        try:
            connection = Connection.parse(
                str(properties.get("BootstrapServers", "")), region, what=f"{what}.BootstrapServers"
            )
        except ValueError as error:
            raise RequestError(str(error)) from None
        return cls(cluster_arn=cluster_arn, connection=connection, topic=topic, partitions=partitions)


def create_topic(admin: Admin, topic: str, partitions: int) -> bool:
    """Create `topic`; True if it was created, False if it already existed."""
    try:
        admin.create_topics({topic: {"num_partitions": partitions}})
    except TopicAlreadyExistsError:
        return False
    return True


def delete_topic(admin: Admin, topic: str) -> bool:
    """Delete `topic`; True if it was deleted, False if it did not exist."""
    try:
        admin.delete_topics([topic])
    except UnknownTopicOrPartitionError:
        return False
    return True


def on_event(event: object, region: str, admin_for: Callable[[Connection], Admin]) -> dict[str, Any]:
    """Handle one custom resource event (CDK provider framework shape); returns its response."""
    if not isinstance(event, Mapping):
        raise RequestError(f"the event must be a JSON object, got {type(event).__name__}")
    request_type = event.get("RequestType")
    if request_type not in ("Create", "Update", "Delete"):
        raise RequestError(f"RequestType must be Create, Update or Delete, got {request_type!r}")
    spec = TopicSpec.from_properties(event.get("ResourceProperties"), region)

    if request_type == "Update":
        old = TopicSpec.from_properties(event.get("OldResourceProperties"), region, what="OldResourceProperties")
        if (old.cluster_arn, old.topic) == (spec.cluster_arn, spec.topic):
            return _response(spec, "unchanged")
    if request_type == "Delete":
        physical_id = event.get("PhysicalResourceId")
        if physical_id != spec.physical_id:
            # A failed Create reports no ID of ours: nothing of this resource exists to delete.
            return {"PhysicalResourceId": physical_id, "Data": {"Topic": spec.topic, "Outcome": "not ours"}}
        admin = admin_for(spec.connection)
        try:
            outcome = "deleted" if delete_topic(admin, spec.topic) else "already absent"
        finally:
            admin.close()
        return _response(spec, outcome)

    admin = admin_for(spec.connection)
    try:
        outcome = "created" if create_topic(admin, spec.topic, spec.partitions) else "already existed"
    finally:
        admin.close()
    return _response(spec, outcome)


def _response(spec: TopicSpec, outcome: str) -> dict[str, Any]:
    return {"PhysicalResourceId": spec.physical_id, "Data": {"Topic": spec.topic, "Outcome": outcome}}
