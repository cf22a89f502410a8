"""Streaming test strategy: score Kinesis records one by one and keep the results as JSON lines in S3.

Plain logic behind the Kinesis handler: ``parse_record`` validates one record's payload
(``{"id": ..., "features": [13 numbers]}``) or raises ``RecordError``; ``score`` calls the endpoint for it
or raises ``EndpointError``; ``write_results`` stores a batch's results as one JSON-lines object.

Delivery is at least once: a failed record makes Lambda retry the shard from that record, so records after
it are scored again. The object key is derived from the shard and the batch's first and last sequence
numbers, so a retry of the same batch overwrites its earlier output, and every line carries its sequence
number so consumers can drop the rare duplicate across differently cut batches.
"""

from __future__ import annotations

import json
import math
import re
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from typing import Any

from botocore.exceptions import ClientError

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


class EndpointError(RuntimeError):
    """The endpoint failed or returned something other than one probability."""


@dataclass(frozen=True)
class Config:
    endpoint_name: str
    output_bucket: str
    output_prefix: str
    kms_key_id: str | None = None

    @classmethod
    def from_env(cls, env: Mapping[str, str]) -> Config:
        endpoint_name = env.get("ENDPOINT_NAME", "").strip()
        if not endpoint_name:
            raise ConfigError("ENDPOINT_NAME must be set")
        output_uri = env.get("OUTPUT_URI", "").strip()
        match = _S3_PREFIX.fullmatch(output_uri)
        if not match:
            raise ConfigError(f"OUTPUT_URI must be an s3://bucket/prefix URI, got {output_uri!r}")
        return cls(
            endpoint_name=endpoint_name,
            output_bucket=match.group(1),
            output_prefix=(match.group(2) or "").strip("/"),
            kms_key_id=env.get("KMS_KEY_ID", "").strip() or None,
        )


@dataclass(frozen=True)
class StreamInput:
    id: str
    features: list[float]


@dataclass(frozen=True)
class Result:
    """One scored record, as written to the output (one JSON object per line)."""

    id: str
    probability: float
    latency_ms: float
    endpoint: str
    shard_id: str
    sequence_number: str
    partition_key: str
    approximate_arrival: str


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
    began = clock()
    try:
        response = runtime.invoke_endpoint(
            EndpointName=endpoint_name,
            ContentType="text/csv",
            Accept="text/csv",
            Body=",".join(repr(value) for value in features).encode(),
        )
        payload = response["Body"].read()
    except ClientError as error:
        details = error.response.get("Error", {})
        raise EndpointError(
            f"endpoint {endpoint_name} failed: {details.get('Code', 'error')}: {details.get('Message', '')}"
        ) from error
    latency_ms = round((clock() - began) * 1000.0, 3)
    try:
        probability = float(payload.decode("utf-8").strip().rstrip(","))
    except (UnicodeDecodeError, ValueError):
        raise EndpointError(f"the endpoint returned {payload[:40]!r}, not one probability") from None
    if not 0.0 <= probability <= 1.0:
        raise EndpointError(f"the endpoint returned {probability}, not a probability")
    return probability, latency_ms


def arrival_time(approximate_arrival_timestamp: float) -> str:
    return datetime.fromtimestamp(approximate_arrival_timestamp, tz=UTC).isoformat(timespec="milliseconds")


def output_key(config: Config, results: Sequence[Result]) -> str:
    """``<prefix>/dt=<day of the first record>/<shard>-<first sequence>-<last sequence>.jsonl``."""
    first, last = results[0], results[-1]
    name = f"dt={first.approximate_arrival[:10]}/{first.shard_id}-{first.sequence_number}-{last.sequence_number}.jsonl"
    return f"{config.output_prefix}/{name}" if config.output_prefix else name


def write_results(s3: Client, config: Config, results: Sequence[Result]) -> str | None:
    """Store the batch's results as one JSON-lines object; returns its URI (None when nothing was scored)."""
    if not results:
        return None
    key = output_key(config, results)
    body = "".join(json.dumps(asdict(result), separators=(",", ":")) + "\n" for result in results).encode()
    extra = {"ServerSideEncryption": "aws:kms", "SSEKMSKeyId": config.kms_key_id} if config.kms_key_id else {}
    s3.put_object(Bucket=config.output_bucket, Key=key, Body=body, ContentType="application/x-ndjson", **extra)
    return f"s3://{config.output_bucket}/{key}"
