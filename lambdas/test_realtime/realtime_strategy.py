"""Real-time test strategy: validate a JSON prediction request, call the endpoint, time it.

Plain logic behind the API handler: ``parse_request`` turns the request body into rows of 13 numbers or
raises ``RequestError`` (the handler's 400), ``predict`` calls the endpoint and raises ``EndpointError`` (the
handler's 502) when it fails or answers with something other than one probability per row.

A request may instead name customers (``{"customer_ids": [...]}``) when the function has a feature group
(``FEATURES_GROUP``, ``FEATURES``): ``read_features`` reads their features from the online store with one
``BatchGetRecord`` (what serving reads, the same values the ETL wrote for training), in the model's order; an
unknown customer is the caller's error (400), a store failure or an unusable record is a 502
(``FeatureStoreError``).
"""

from __future__ import annotations

import json
import math
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from botocore.exceptions import ClientError
from common.settings import EnvSettings
from common.xgboost_csv import invoke, parse_predictions

# boto3 ships no type stubs in the Lambda runtime or this project's dependencies; clients are typed Any.
Client = Any

# The churn model's input width (pipelines/training/steps/preprocess.py).
FEATURE_COUNT = 13
# BatchGetRecord reads at most 100 record identifiers per call.
MAX_CUSTOMER_IDS = 100
# Feature Store's limit for a String record identifier value.
MAX_CUSTOMER_ID_LENGTH = 256


class RequestError(ValueError):
    """The request is not a valid prediction request; the message is returned to the caller."""


class ConfigError(ValueError):
    """The function's environment is incomplete or invalid; the message names the variable."""


class FeatureStoreError(RuntimeError):
    """The online store failed or returned a record the model cannot use; the message says which."""


@dataclass(frozen=True)
class Config:
    endpoint_name: str
    max_instances: int = 100
    features_group: str | None = None
    features: tuple[str, ...] = ()

    @classmethod
    def from_env(cls, env: Mapping[str, str]) -> Config:
        """Read and validate the configuration (:mod:`common.settings`' rules); see the handler's docstring."""
        settings = EnvSettings(env, error=ConfigError)
        endpoint_name = settings.required("ENDPOINT_NAME")
        # 1000 rows of 13 numbers stay well inside invoke_endpoint's payload limit (6 MB, serverless 4 MB).
        max_instances = settings.integer("MAX_INSTANCES", 100, low=1, high=1000)
        group = settings.optional("FEATURES_GROUP")
        features = settings.names("FEATURES", unique=group is not None)
        if group is not None and len(features) != FEATURE_COUNT:
            raise ConfigError(
                f"FEATURES must name the model's {FEATURE_COUNT} features in order when FEATURES_GROUP is set, "
                f"got {len(features)}"
            )
        return cls(endpoint_name=endpoint_name, max_instances=max_instances, features_group=group, features=features)


@dataclass(frozen=True)
class Request:
    """What to score: rows given by the caller, or customers whose rows come from the online store."""

    rows: list[list[float]] | None = None
    customer_ids: list[str] | None = None


@dataclass(frozen=True)
class Prediction:
    probabilities: list[float]
    latency_ms: float


def parse_request(body: str | None, *, max_instances: int) -> list[list[float]]:
    """``{"instances": [[13 numbers], ...]}`` as rows of floats."""
    request = parse_any_request(body, max_instances=max_instances, customer_ids=False)
    assert request.rows is not None  # customer_ids=False: only rows are accepted
    return request.rows


def parse_any_request(body: str | None, *, max_instances: int, customer_ids: bool) -> Request:
    """``{"instances": [[13 numbers], ...]}``, or where ``customer_ids`` is allowed ``{"customer_ids": [...]}``."""
    shapes = '{"instances": [[13 numbers], ...]}' + (' or {"customer_ids": ["id", ...]}' if customer_ids else "")
    if not body:
        raise RequestError(f"request body is empty; expected {shapes}")
    try:
        # parse_constant rejects the NaN/Infinity literals Python's json accepts but JSON does not define.
        document = json.loads(body, parse_constant=_reject_constant)
    except (json.JSONDecodeError, ValueError, RecursionError) as error:
        raise RequestError(f"request body is not valid JSON: {error}") from None
    if customer_ids and isinstance(document, dict) and "customer_ids" in document:
        if "instances" in document:
            raise RequestError('request body must have "instances" or "customer_ids", not both')
        return Request(customer_ids=_parse_customer_ids(document["customer_ids"], max_instances))
    if not isinstance(document, dict) or "instances" not in document:
        if customer_ids:
            raise RequestError(f"request body must be a JSON object: {shapes}")
        raise RequestError('request body must be a JSON object with an "instances" array')
    return Request(rows=_parse_rows(document["instances"], max_instances))


def _parse_customer_ids(value: Any, max_instances: int) -> list[str]:
    if not isinstance(value, list) or not value:
        raise RequestError('"customer_ids" must be a non-empty array of strings')
    limit = min(max_instances, MAX_CUSTOMER_IDS)
    if len(value) > limit:
        raise RequestError(f'"customer_ids" has {len(value)} entries; at most {limit} are accepted per request')
    seen: set[str] = set()
    for index, customer in enumerate(value):
        if not isinstance(customer, str) or not customer or customer != customer.strip():
            raise RequestError(f"customer_ids[{index}] must be a non-empty string without surrounding spaces")
        if len(customer) > MAX_CUSTOMER_ID_LENGTH or not customer.isprintable():
            raise RequestError(f"customer_ids[{index}] must be at most {MAX_CUSTOMER_ID_LENGTH} printable characters")
        if customer in seen:
            raise RequestError(f"customer_ids[{index}] repeats {customer!r}")
        seen.add(customer)
    return list(value)


def _parse_rows(instances: Any, max_instances: int) -> list[list[float]]:
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


def read_features(
    featurestore: Client, features_group: str, features: Sequence[str], customer_ids: Sequence[str]
) -> list[list[float]]:
    """The model rows of ``customer_ids`` from the online store (one ``BatchGetRecord``), in request order."""
    try:
        answer = featurestore.batch_get_record(
            Identifiers=[
                {
                    "FeatureGroupName": features_group,
                    "RecordIdentifiersValueAsString": list(customer_ids),
                    "FeatureNames": list(features),
                }
            ]
        )
    except ClientError as error:
        raise FeatureStoreError(f"BatchGetRecord on {features_group} failed: {error}") from None
    errors = answer.get("Errors") or []
    if errors:
        first = errors[0]
        raise FeatureStoreError(
            f"BatchGetRecord on {features_group} failed for {first.get('RecordIdentifierValueAsString')!r}: "
            f"{first.get('ErrorCode')} {first.get('ErrorMessage')}"
        )
    if answer.get("UnprocessedIdentifiers"):
        raise FeatureStoreError(f"BatchGetRecord on {features_group} left identifiers unprocessed; try again")
    found: dict[str, dict[str, str]] = {}
    for record in answer.get("Records") or []:
        found[record["RecordIdentifierValueAsString"]] = {
            item["FeatureName"]: item["ValueAsString"] for item in record["Record"]
        }
    missing = [customer for customer in customer_ids if customer not in found]
    if missing:
        raise RequestError(f"no features in {features_group} for customer(s) {', '.join(map(repr, missing[:5]))}")
    rows = []
    for customer in customer_ids:
        values = found[customer]
        row = []
        for name in features:
            text = values.get(name)
            try:
                number = float(text) if text is not None else math.nan
            except ValueError:
                number = math.nan
            if not math.isfinite(number):
                raise FeatureStoreError(f"customer {customer!r} has no usable value for {name!r} in {features_group}")
            row.append(number)
        rows.append(row)
    return rows


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
