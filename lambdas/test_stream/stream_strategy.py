"""Streaming test strategy: score stream records one by one and keep the results as JSON lines in S3.

Plain logic behind the handler, shared by its two sources, Kinesis Data Streams and Kafka (Amazon MSK):
``event_source`` says which one sent an event (or raises ``EventError`` for anything else);
``parse_record`` validates one record's payload (``{"id": ..., "features": [13 numbers]}``) or raises
``RecordError``; ``score`` calls the endpoint for it or raises ``EndpointError``; ``write_results``
stores a batch's results as one JSON-lines object per shard (Kinesis) or topic partition (Kafka).

Delivery is at least once: a failed record makes Lambda retry the shard (or partition) from that record,
so records after it are scored again. The object key is derived from the shard and the first and last
sequence numbers (Kafka: the topic partition and offsets), so a retry of the same batch overwrites its
earlier output, and every line carries its sequence number so consumers can drop the rare duplicate
across differently cut batches.
"""

from __future__ import annotations

import base64
import binascii
import json
import math
import re
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from typing import Any, Literal

from common.settings import EnvSettings
from common.xgboost_csv import EndpointError, invoke

# boto3 ships no type stubs in the Lambda runtime or this project's dependencies; clients are typed Any.
Client = Any

# The churn model's input width (pipelines/training/steps/preprocess.py).
FEATURE_COUNT = 13
MAX_ID_LENGTH = 256
_S3_PREFIX = re.compile(r"s3://([^/]+)(?:/(.*))?")


class ConfigError(ValueError):
    """The function's environment is incomplete or invalid; the message names the variable."""


class RecordError(ValueError):
    """A record's payload is not a valid scoring request; retrying will not fix it."""


class EventError(ValueError):
    """The invocation event is neither a Kinesis nor a Kafka batch; nothing in it can be scored."""


@dataclass(frozen=True)
class Config:
    endpoint_name: str
    output_bucket: str
    output_prefix: str
    kms_key_id: str | None = None

    @classmethod
    def from_env(cls, env: Mapping[str, str]) -> Config:
        settings = EnvSettings(env, error=ConfigError)
        endpoint_name = settings.required("ENDPOINT_NAME")
        bucket, prefix = settings.s3_uri("OUTPUT_URI")
        return cls(
            endpoint_name=endpoint_name,
            output_bucket=bucket,
            output_prefix=prefix.strip("/"),
            kms_key_id=settings.optional("KMS_KEY_ID"),
        )


@dataclass(frozen=True)
class StreamInput:
    id: str
    features: list[float]


Source = Literal["kinesis", "kafka"]
# eventSource of the two Kafka event shapes Lambda sends: Amazon MSK and self-managed Apache Kafka.
KAFKA_EVENT_SOURCES = ("aws:kafka", "SelfManagedKafka")


@dataclass(frozen=True)
class Result:
    """One scored record, as written to the output (one JSON object per line).

    For Kafka records the stream position fields carry Kafka's equivalents: ``shard_id`` is the
    topic partition (``<topic>-<partition>``), ``sequence_number`` the offset and ``partition_key``
    the record key ("" when it has none).
    """

    source: Source
    id: str
    probability: float
    latency_ms: float
    endpoint: str
    shard_id: str
    sequence_number: str
    partition_key: str
    approximate_arrival: str


def event_source(event: object) -> Source:
    """Which source sent this batch, after checking it has the shape Lambda gives that source."""
    if not isinstance(event, Mapping):
        raise EventError(f"the event must be a JSON object, got {type(event).__name__}")
    if "records" in event:
        source = event.get("eventSource")
        if source not in KAFKA_EVENT_SOURCES:
            raise EventError(f"a Kafka event must have eventSource 'aws:kafka' or 'SelfManagedKafka', got {source!r}")
        partitions = event["records"]
        if not isinstance(partitions, Mapping) or not partitions:
            raise EventError('a Kafka event needs "records": a non-empty object of topic partitions')
        for name, batch in partitions.items():
            if not isinstance(batch, list) or not batch:
                raise EventError(f'Kafka event "records" of {name!r} must be a non-empty list of records')
            for position, record in enumerate(batch):
                # A missing value is one bad record (reported, not retried forever), not a malformed batch.
                if not isinstance(record, Mapping) or not {"topic", "partition", "offset"} <= set(record):
                    raise EventError(f'Kafka record {position} of {name!r} must have "topic", "partition" and "offset"')
        return "kafka"
    if "Records" in event:
        records = event["Records"]
        if not isinstance(records, list) or not records:
            raise EventError('a Kinesis event needs "Records": a non-empty list')
        return "kinesis"
    raise EventError('the event has neither Kinesis "Records" nor Kafka "records": not a stream batch')


def decode_kafka_record(record: Mapping[str, Any]) -> tuple[bytes, str]:
    """A Kafka record's value and key as Lambda delivers them (base64) back to what the producer wrote.

    Returns (value bytes, key text; "" without a key). A missing value (a tombstone) or a field that is
    not base64 makes the record a bad record.
    """
    value = record.get("value")
    if not isinstance(value, str):
        raise RecordError("Kafka record value is missing (a tombstone or a null value)")
    key = record.get("key")
    try:
        data = base64.b64decode(value, validate=True)
        key_bytes = base64.b64decode(key, validate=True) if isinstance(key, str) else b""
    except binascii.Error:
        raise RecordError("Kafka record value or key is not base64, as Lambda delivers them") from None
    return data, key_bytes.decode("utf-8", errors="replace")


def parse_record(data: bytes) -> StreamInput:
    """A record's decoded data blob as a scoring request."""
    try:
        # parse_constant rejects the NaN/Infinity literals Python's json accepts but JSON does not define.
        document = json.loads(data.decode("utf-8"), parse_constant=_reject_constant)
    except UnicodeDecodeError:
        raise RecordError("record data is not UTF-8 text") from None
    except ValueError as error:
        raise RecordError(f"record data is not valid JSON: {error}") from None
    if not isinstance(document, dict):
        raise RecordError('record must be a JSON object {"id": ..., "features": [13 numbers]}')
    identifier = document.get("id")
    if isinstance(identifier, bool) or not isinstance(identifier, str | int) or identifier == "":
        raise RecordError('record "id" must be a non-empty string or an integer')
    identifier = str(identifier)
    if len(identifier) > MAX_ID_LENGTH:
        raise RecordError(f'record "id" is longer than {MAX_ID_LENGTH} characters')
    features = document.get("features")
    if not isinstance(features, list) or len(features) != FEATURE_COUNT:
        found = f"{len(features)} values" if isinstance(features, list) else "none" if features is None else "no array"
        raise RecordError(f'record {identifier}: "features" must be an array of {FEATURE_COUNT} numbers, got {found}')
    for position, value in enumerate(features):
        # bool is an int in Python but not a feature value.
        if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
            raise RecordError(f"record {identifier}: features[{position}] must be a finite number, got {value!r}")
    return StreamInput(id=identifier, features=[float(value) for value in features])


def _reject_constant(name: str) -> Any:
    raise ValueError(f"{name} is not a JSON number")


def score(
    runtime: Client, endpoint_name: str, features: Sequence[float], *, clock: Callable[[], float] = time.perf_counter
) -> tuple[float, float]:
    """The probability for one row and the call's latency in milliseconds (including reading the body)."""
    payload, latency = invoke(runtime, endpoint_name, [features], clock=clock)
    latency_ms = round(latency, 3)
    try:
        probability = float(payload.decode("utf-8").strip().rstrip(","))
    except (UnicodeDecodeError, ValueError):
        raise EndpointError(f"the endpoint returned {payload[:40]!r}, not one probability") from None
    if not 0.0 <= probability <= 1.0:
        raise EndpointError(f"the endpoint returned {probability}, not a probability")
    return probability, latency_ms


def arrival_time(approximate_arrival_timestamp: float) -> str:
    """Kinesis' approximate arrival (seconds since the epoch) as an ISO-8601 UTC time."""
    return datetime.fromtimestamp(approximate_arrival_timestamp, tz=UTC).isoformat(timespec="milliseconds")


def kafka_time(timestamp_ms: int) -> str:
    """A Kafka record's timestamp (milliseconds since the epoch) as an ISO-8601 UTC time."""
    return arrival_time(timestamp_ms / 1000.0)


def output_key(config: Config, results: Sequence[Result]) -> str:
    """``<prefix>/dt=<day of the first record>/<shard>-<first sequence>-<last sequence>.jsonl``.

    `results` come from one shard (or topic partition), in stream order.
    """
    first, last = results[0], results[-1]
    name = f"dt={first.approximate_arrival[:10]}/{first.shard_id}-{first.sequence_number}-{last.sequence_number}.jsonl"
    return f"{config.output_prefix}/{name}" if config.output_prefix else name


def write_results(s3: Client, config: Config, results: Sequence[Result]) -> list[str]:
    """Store the batch's results as one JSON-lines object per shard or topic partition; returns their URIs.

    A Kinesis batch comes from one shard, so it is one object; a Kafka batch may span partitions, and a
    retry re-delivers each partition from its own failed offset, so each partition gets its own object.
    """
    by_shard: dict[str, list[Result]] = {}
    for result in results:
        by_shard.setdefault(result.shard_id, []).append(result)
    extra = {"ServerSideEncryption": "aws:kms", "SSEKMSKeyId": config.kms_key_id} if config.kms_key_id else {}
    uris = []
    for shard_results in by_shard.values():
        key = output_key(config, shard_results)
        body = "".join(json.dumps(asdict(result), separators=(",", ":")) + "\n" for result in shard_results).encode()
        s3.put_object(Bucket=config.output_bucket, Key=key, Body=body, ContentType="application/x-ndjson", **extra)
        uris.append(f"s3://{config.output_bucket}/{key}")
    return uris
