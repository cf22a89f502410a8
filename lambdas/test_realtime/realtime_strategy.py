"""Real-time test strategy: validate a JSON prediction request, call the endpoint, time it.

Plain logic behind the API handler: ``parse_request`` turns the request body into rows of 13 numbers or
raises ``RequestError`` (the handler's 400), ``predict`` calls the endpoint and raises ``EndpointError`` (the
handler's 502) when it fails or answers with something other than one probability per row.
"""

from __future__ import annotations

import json
import math
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from common.xgboost_csv import invoke, parse_predictions

# boto3 ships no type stubs in the Lambda runtime or this project's dependencies; clients are typed Any.
Client = Any

# The churn model's input width (pipelines/training/steps/preprocess.py).
FEATURE_COUNT = 13


class RequestError(ValueError):
    """The request is not a valid prediction request; the message is returned to the caller."""


class ConfigError(ValueError):
    """The function's environment is incomplete or invalid; the message names the variable."""


@dataclass(frozen=True)
class Config:
    endpoint_name: str
    max_instances: int = 100

    @classmethod
    def from_env(cls, env: Mapping[str, str]) -> Config:
        endpoint_name = env.get("ENDPOINT_NAME", "").strip()
        if not endpoint_name:
            raise ConfigError("ENDPOINT_NAME must be set")
        text = env.get("MAX_INSTANCES", "").strip() or "100"
        # 1000 rows of 13 numbers stay well inside invoke_endpoint's payload limit (6 MB, serverless 4 MB).
        if not text.isdigit() or not 1 <= int(text) <= 1000:
            raise ConfigError(f"MAX_INSTANCES must be an integer between 1 and 1000, got {text!r}")
        return cls(endpoint_name=endpoint_name, max_instances=int(text))


@dataclass(frozen=True)
class Prediction:
    probabilities: list[float]
    latency_ms: float


def parse_request(body: str | None, *, max_instances: int) -> list[list[float]]:
    """``{"instances": [[13 numbers], ...]}`` as rows of floats."""
    if not body:
        raise RequestError('request body is empty; expected {"instances": [[13 numbers], ...]}')
    try:
        # parse_constant rejects the NaN/Infinity literals Python's json accepts but JSON does not define.
        document = json.loads(body, parse_constant=_reject_constant)
    except (json.JSONDecodeError, ValueError) as error:
        raise RequestError(f"request body is not valid JSON: {error}") from None
    if not isinstance(document, dict) or "instances" not in document:
        raise RequestError('request body must be a JSON object with an "instances" array')
    instances = document["instances"]
    if not isinstance(instances, list) or not instances:
        raise RequestError('"instances" must be a non-empty array of rows')
    if len(instances) > max_instances:
        raise RequestError(f'"instances" has {len(instances)} rows; at most {max_instances} are accepted per request')
    rows = []
    for index, row in enumerate(instances):
        if not isinstance(row, list) or len(row) != FEATURE_COUNT:
            found = f"{len(row)} values" if isinstance(row, list) else f"a {_json_type(row)}"
            raise RequestError(f"instances[{index}] must be an array of {FEATURE_COUNT} numbers, got {found}")
        for position, value in enumerate(row):
            # bool is an int in Python but not a feature value.
            if isinstance(value, bool) or not isinstance(value, int | float):
                raise RequestError(f"instances[{index}][{position}] must be a number, got {_json_type(value)}")
            if not math.isfinite(value):
                raise RequestError(f"instances[{index}][{position}] is too large to be a feature value")
        rows.append([float(value) for value in row])
    return rows


def _reject_constant(name: str) -> Any:
    raise ValueError(f"{name} is not a JSON number")


def _json_type(value: Any) -> str:
    names = {bool: "boolean", str: "string", dict: "object", list: "array", type(None): "null"}
    return names.get(type(value), type(value).__name__)


def predict(
    runtime: Client,
    endpoint_name: str,
    rows: Sequence[Sequence[float]],
    *,
    clock: Callable[[], float] = time.perf_counter,
) -> Prediction:
    """One invoke_endpoint call for all rows; the latency includes reading the response body."""
    payload, latency_ms = invoke(runtime, endpoint_name, rows, clock=clock)
    return Prediction(probabilities=parse_predictions(payload, len(rows)), latency_ms=round(latency_ms, 3))
