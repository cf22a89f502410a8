"""Feed the streaming test over MSK: the preprod test records, produced one by one to the Kafka topic.

Plain logic behind ``handler``; the S3 client and the producer are passed in, so tests use fakes.

The records are the batch test's held-out set (``test-data/churn/test.csv`` in the artifacts bucket, copied
there by the model promotion from the training pipeline's split): header-less CSV, the label first and
the 13 features in model order. Each row becomes the stream consumer's input, JSON
``{"id": "<line>", "features": [13 numbers]}``, keyed by its id. Every send is awaited, and each failure
is reported with the record's id and Kafka's reason, so a partial failure is visible rather than averaged
away.
"""

from __future__ import annotations

import contextlib
import csv
import io
import json
import math
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

from botocore.exceptions import ClientError
from common.settings import EnvSettings
from kafka.errors import KafkaError
from kafka_connection import ConfigError, Connection

# boto3 ships no type stubs in the Lambda runtime or this project's dependencies; clients are typed Any.
Client = Any

# The churn model's input width (pipelines/training/steps/preprocess.py).
FEATURE_COUNT = 13
_S3_URI = re.compile(r"s3://([^/]+)/(.+)")
_TOPIC = re.compile(r"[A-Za-z0-9._-]{1,249}")
SEND_TIMEOUT_S = 60.0


class DataError(ValueError):
    """The test records cannot be used; the message names the line and what is wrong."""


@dataclass(frozen=True)
class Config:
    connection: Connection
    topic: str
    bucket: str
    key: str
    max_records: int = 10_000

    @classmethod
    def from_env(cls, env: Mapping[str, str]) -> Config:
        settings = EnvSettings(env, error=ConfigError)
        topic = settings.text("TOPIC", "", pattern=_TOPIC, what="a Kafka topic name")
        location = settings.s3_uri("TEST_DATA_URI", key_required=True)
        return cls(
            connection=Connection.from_env(env),
            topic=topic,
            bucket=location[0],
            key=location[1],
            max_records=settings.integer("MAX_RECORDS", 10_000, low=1, high=1_000_000),
        )


@dataclass(frozen=True)
class Record:
    id: str
    value: bytes


@dataclass
class FeedReport:
    topic: str
    source: str
    sent: int = 0
    failures: list[dict[str, str]] = field(default_factory=list)

    @property
    def passed(self) -> bool:
        return not self.failures and self.sent > 0

    def as_dict(self) -> dict[str, Any]:
        return {
            "status": "passed" if self.passed else "failed",
            "topic": self.topic,
            "source": self.source,
            "sent": self.sent,
            "failed": len(self.failures),
            # The first failures name the records and reasons; the count says how many there were.
            "failures": self.failures[:20],
        }


def read_test_data(s3: Client, bucket: str, key: str) -> str:
    try:
        body = s3.get_object(Bucket=bucket, Key=key)["Body"].read()
    except ClientError as error:
        code = error.response.get("Error", {}).get("Code", "error")
        raise DataError(f"cannot read s3://{bucket}/{key}: {code} (has a model been promoted to preprod?)") from None
    try:
        text: str = body.decode("utf-8")
    except UnicodeDecodeError:
        raise DataError(f"s3://{bucket}/{key} is not UTF-8 text") from None
    return text


def parse_records(text: str, *, max_records: int) -> list[Record]:
    """The test split's rows as stream records; line numbers are 1-based lines of the file."""
    records: list[Record] = []
    for line, row in enumerate(csv.reader(io.StringIO(text)), start=1):
        if not any(cell.strip() for cell in row):
            continue
        if len(row) != FEATURE_COUNT + 1:
            raise DataError(
                f"line {line} has {len(row)} fields; expected {FEATURE_COUNT + 1} (the label, then "
                f"{FEATURE_COUNT} features, no header)"
            )
        features = []
        for position, cell in enumerate(row[1:]):
            try:
                value = float(cell)
            except ValueError:
                raise DataError(f"line {line}, feature {position}: {cell.strip()!r} is not a number") from None
            if not math.isfinite(value):
                raise DataError(f"line {line}, feature {position}: {cell.strip()!r} is not a finite number")
            features.append(value)
        if len(records) == max_records:
            raise DataError(f"the test data has more than MAX_RECORDS ({max_records}) rows")
        identifier = str(line)
        value_bytes = json.dumps({"id": identifier, "features": features}, separators=(",", ":")).encode()
        records.append(Record(id=identifier, value=value_bytes))
    if not records:
        raise DataError("the test data has no rows")
    return records


class Future(Protocol):
    def get(self, timeout: float | None = ...) -> Any: ...


class Producer(Protocol):
    """What this module uses of kafka-python's KafkaProducer."""

    def send(self, topic: str, value: bytes | None = ..., key: bytes | None = ...) -> Future: ...

    def flush(self, timeout: float | None = ...) -> None: ...


def produce(
    producer: Producer, topic: str, records: Sequence[Record], *, source: str, timeout_s: float = SEND_TIMEOUT_S
) -> FeedReport:
    """Send every record to `topic` and wait for each acknowledgement; failures are collected, not raised."""
    report = FeedReport(topic=topic, source=source)
    pending: list[tuple[Record, Future]] = []
    for record in records:
        try:
            pending.append((record, producer.send(topic, value=record.value, key=record.id.encode())))
        except KafkaError as error:
            report.failures.append({"id": record.id, "reason": _reason(error)})
    # A failed flush is not the verdict: each record's own future below says which ones did not make it.
    with contextlib.suppress(KafkaError):
        producer.flush(timeout=timeout_s)
    for record, future in pending:
        try:
            future.get(timeout=timeout_s)
        except KafkaError as error:
            report.failures.append({"id": record.id, "reason": _reason(error)})
        else:
            report.sent += 1
    return report


def _reason(error: KafkaError) -> str:
    """Kafka's error name and message; kafka-python's own messages usually carry the name already."""
    text, name = str(error), type(error).__name__
    return text if name in text else f"{name}: {text}".rstrip(": ")
