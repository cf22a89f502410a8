"""The churn use case's features, defined once: what the feature groups hold and how a feature is computed.

Read by everything that touches the Feature Store, so none of them can drift from another:

* the infrastructure (``stacks/components/feature_store.py``) builds each ``AWS::SageMaker::FeatureGroup``'s
  feature definitions, record identifier and event time from :data:`FEATURE_GROUPS`, and hands the model's
  feature names to the Lambdas that read the online store (as environment variables);
* the Glue ETL job (``etl_job.py``, which gets this file in its ``--extra-py-files`` zip) computes every
  feature with :func:`engineer` and writes it with :func:`to_record`: the one transformation, run once, whose
  output training (offline store) and serving (online store) both read;
* the training set is built with :func:`point_in_time_join` (labels joined to the features as they were at
  the label's event time) and the skew check compares stores with :func:`compare_records`.

Plain Python, no Spark, pandas or AWS import: Glue imports it as a top-level module, the tests as
``pipelines.glue.churn_features``, and synth reads it without touching AWS.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Literal, Protocol

__all__ = [
    "CHURN_LABELS",
    "CUSTOMER_FEATURES",
    "EVENT_TIME",
    "FEATURE_GROUPS",
    "FEATURE_GROUP_NAME_MAX_LENGTH",
    "LABEL",
    "MODEL_FEATURES",
    "RECORD_IDENTIFIER",
    "RESERVED_FEATURE_NAMES",
    "FeatureDefinition",
    "FeatureGroupSpec",
    "Mismatch",
    "PointInTimeResult",
    "compare_records",
    "engineer",
    "event_time_of",
    "feature_group_name",
    "feature_group_name_error",
    "from_record",
    "point_in_time_join",
    "to_record",
]

FeatureType = Literal["Integral", "Fractional", "String"]

RECORD_IDENTIFIER = "customer_id"
# ISO-8601 UTC with a Z, one of the two String formats Feature Store accepts for an event time
# (yyyy-MM-dd'T'HH:mm:ssZ); a String event time reads naturally in Athena and sorts as text.
EVENT_TIME = "event_time"
LABEL = "churned"
_EVENT_TIME_FORMAT = "%Y-%m-%dT%H:%M:%SZ"

# CreateFeatureGroup: FeatureGroupName is 1-64 characters matching this pattern (the API reference).
FEATURE_GROUP_NAME_MAX_LENGTH = 64
_FEATURE_GROUP_NAME = re.compile(r"[a-zA-Z0-9](-*[a-zA-Z0-9]){0,63}")
# FeatureDefinition.FeatureName: same length, underscores and hyphens allowed between alphanumerics.
_FEATURE_NAME = re.compile(r"[a-zA-Z0-9]([-_]*[a-zA-Z0-9]){0,63}")
# Columns Feature Store adds to every offline-store row; a feature must not use these names.
RESERVED_FEATURE_NAMES = frozenset({"is_deleted", "write_time", "api_invocation_time"})

# Categories of the one-hot features: the same lists as churn_transform's validation, so every category
# the ETL accepts has a column and the layout does not depend on which values one run happens to see.
_CATEGORIES: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("contract", ("month-to-month", "one-year", "two-year")),
    ("payment_method", ("electronic-check", "mailed-check", "bank-transfer", "credit-card")),
)


@dataclass(frozen=True)
class FeatureDefinition:
    name: str
    type: FeatureType


@dataclass(frozen=True)
class FeatureGroupSpec:
    """One feature group: its name suffix, its features (identifier and event time first) and its stores."""

    suffix: str
    description: str
    features: tuple[FeatureDefinition, ...]
    online: bool

    @property
    def value_names(self) -> tuple[str, ...]:
        """The features other than the record identifier and the event time, in definition order."""
        return tuple(f.name for f in self.features if f.name not in (RECORD_IDENTIFIER, EVENT_TIME))

    def type_of(self, name: str) -> FeatureType:
        for feature in self.features:
            if feature.name == name:
                return feature.type
        raise KeyError(f"feature group {self.suffix!r} has no feature {name!r}")


def _one_hot_names() -> tuple[str, ...]:
    return tuple(f"{column}_{value.replace('-', '_')}" for column, values in _CATEGORIES for value in values)


_KEYS = (FeatureDefinition(RECORD_IDENTIFIER, "String"), FeatureDefinition(EVENT_TIME, "String"))

CUSTOMER_FEATURES = FeatureGroupSpec(
    suffix="churn-features",
    description="Engineered churn features per customer (written by the ETL job; training and serving read them)",
    features=(
        *_KEYS,
        FeatureDefinition("tenure_months", "Integral"),
        FeatureDefinition("monthly_charges", "Fractional"),
        FeatureDefinition("total_charges", "Fractional"),
        FeatureDefinition("support_calls", "Integral"),
        FeatureDefinition("charges_per_tenure_month", "Fractional"),
        FeatureDefinition("support_calls_per_tenure_month", "Fractional"),
        *(FeatureDefinition(name, "Integral") for name in _one_hot_names()),
    ),
    online=True,
)
CHURN_LABELS = FeatureGroupSpec(
    suffix="churn-labels",
    description="Observed churn outcome per customer and time (offline only: training reads it, serving never)",
    features=(*_KEYS, FeatureDefinition(LABEL, "Integral")),
    online=False,
)
FEATURE_GROUPS: tuple[FeatureGroupSpec, ...] = (CUSTOMER_FEATURES, CHURN_LABELS)
# The model's input columns, in order: what training writes after the label and what an endpoint receives.
MODEL_FEATURES: tuple[str, ...] = CUSTOMER_FEATURES.value_names


def feature_group_name(prefix: str, spec: FeatureGroupSpec) -> str:
    return f"{prefix}-{spec.suffix}"


def feature_group_name_error(name: str) -> str | None:
    """Why ``name`` cannot be a feature group name, or None if CreateFeatureGroup accepts it."""
    if len(name) > FEATURE_GROUP_NAME_MAX_LENGTH:
        return (
            f"feature group name {name!r} is {len(name)} characters, over the limit of {FEATURE_GROUP_NAME_MAX_LENGTH}"
        )
    if not _FEATURE_GROUP_NAME.fullmatch(name):
        return f"feature group name {name!r} may only hold letters, digits and single hyphens between them"
    return None


class CustomerRecord(Protocol):
    """What :func:`engineer` reads: churn_transform.CleanRecord has these attributes."""

    tenure_months: int
    monthly_charges: float
    total_charges: float
    support_calls: int
    contract: str
    payment_method: str


def engineer(record: CustomerRecord) -> dict[str, int | float]:
    """The model features of one cleaned customer, named and ordered as :data:`MODEL_FEATURES`."""
    # Customers in their first month have tenure 0; one month is the smallest meaningful denominator.
    tenure = max(record.tenure_months, 1)
    values: dict[str, int | float] = {
        "tenure_months": record.tenure_months,
        "monthly_charges": record.monthly_charges,
        "total_charges": record.total_charges,
        "support_calls": record.support_calls,
        "charges_per_tenure_month": record.total_charges / tenure,
        "support_calls_per_tenure_month": record.support_calls / tenure,
    }
    chosen = {"contract": record.contract, "payment_method": record.payment_method}
    for column, categories in _CATEGORIES:
        if chosen[column] not in categories:
            raise ValueError(f"{column} {chosen[column]!r} has no feature column (known: {', '.join(categories)})")
        for value in categories:
            values[f"{column}_{value.replace('-', '_')}"] = int(chosen[column] == value)
    return values


def event_time_of(moment: datetime) -> str:
    """The event-time string of ``moment`` (an aware datetime), as the feature groups store it."""
    if moment.tzinfo is None:
        raise ValueError("event times must be timezone-aware")
    return moment.astimezone(UTC).strftime(_EVENT_TIME_FORMAT)


def _parse_event_time(text: str) -> datetime:
    try:
        return datetime.strptime(text, _EVENT_TIME_FORMAT).replace(tzinfo=UTC)
    except ValueError as error:
        raise ValueError(f"{EVENT_TIME} {text!r} is not of the form YYYY-MM-DDTHH:MM:SSZ") from error


def _as_string(value: object, feature_type: FeatureType, name: str) -> str:
    if feature_type == "Integral":
        if isinstance(value, bool):
            return str(int(value))
        if isinstance(value, int):
            return str(value)
        raise ValueError(f"feature {name} is Integral, got {value!r}")
    if feature_type == "Fractional":
        if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
            raise ValueError(f"feature {name} is Fractional and finite, got {value!r}")
        return repr(float(value))
    if not isinstance(value, str) or not value:
        raise ValueError(f"feature {name} is a non-empty String, got {value!r}")
    return value


def to_record(
    spec: FeatureGroupSpec, customer_id: str, event_time: str, values: Mapping[str, object]
) -> list[dict[str, str]]:
    """A PutRecord ``Record``: every feature of ``spec`` as ``{"FeatureName", "ValueAsString"}``."""
    _parse_event_time(event_time)
    missing = [name for name in spec.value_names if name not in values]
    unknown = sorted(set(values) - set(spec.value_names))
    if missing or unknown:
        raise ValueError(f"{spec.suffix}: missing feature(s) {missing}, unknown feature(s) {unknown}")
    record = [
        {"FeatureName": RECORD_IDENTIFIER, "ValueAsString": _as_string(customer_id, "String", RECORD_IDENTIFIER)},
        {"FeatureName": EVENT_TIME, "ValueAsString": event_time},
    ]
    record.extend(
        {"FeatureName": name, "ValueAsString": _as_string(values[name], spec.type_of(name), name)}
        for name in spec.value_names
    )
    return record


def from_record(record: Iterable[Mapping[str, str]]) -> dict[str, str]:
    """A GetRecord ``Record`` as ``{feature name: value string}``."""
    return {item["FeatureName"]: item["ValueAsString"] for item in record}


@dataclass(frozen=True)
class PointInTimeResult:
    rows: tuple[dict[str, object], ...]
    # Labels for which no feature row existed at (or before) the label's event time.
    labels_without_features: int


def point_in_time_join(
    labels: Iterable[Mapping[str, object]], features: Iterable[Mapping[str, object]]
) -> PointInTimeResult:
    """Join each label to its customer's features as they were at the label's event time.

    Offline-store rows are history: per customer and event time, the row written last (``write_time``, then
    ``api_invocation_time``, then input order) is that record's value, as the online store would have answered;
    a row marked ``is_deleted`` (a DeleteRecord tombstone) means the record was deleted. So a label whose last
    write is a tombstone is no label. Every other label is joined to its customer's feature record with the
    latest event time not after the label's; a tombstone there ends the customer's history (until a later write),
    and such a label, like one with no earlier feature row, is left out and counted, never joined to a future
    value: that would leak what happened after the label into training.

    The training pipeline's Preprocess step carries a pandas copy of this (``steps/preprocess.py``); a unit test
    holds the two equal.
    """
    history = {customer: sorted(rows.items()) for customer, rows in _latest_writes(features).items()}
    joined: list[dict[str, object]] = []
    missing = 0
    for (customer, moment), label in sorted(
        (key, row) for key, row in _flatten(_latest_writes(labels)) if not _is_true(row.get("is_deleted"))
    ):
        candidates = [row for event, row in history.get(customer, ()) if event <= moment]
        latest = candidates[-1] if candidates else None
        if latest is None or _is_true(latest.get("is_deleted")):
            missing += 1
            continue
        row: dict[str, object] = {RECORD_IDENTIFIER: customer, EVENT_TIME: label[EVENT_TIME], LABEL: label[LABEL]}
        row.update({name: latest[name] for name in MODEL_FEATURES})
        joined.append(row)
    return PointInTimeResult(rows=tuple(joined), labels_without_features=missing)


def _latest_writes(rows: Iterable[Mapping[str, object]]) -> dict[str, dict[datetime, Mapping[str, object]]]:
    """customer -> event time -> the row written last for that record (by write time, invocation time, order)."""
    ordered = sorted(
        enumerate(rows),
        key=lambda item: (_written(item[1].get("write_time")), _written(item[1].get("api_invocation_time")), item[0]),
    )
    latest: dict[str, dict[datetime, Mapping[str, object]]] = {}
    for _, row in ordered:
        moment = _parse_event_time(str(row[EVENT_TIME]))
        latest.setdefault(str(row[RECORD_IDENTIFIER]), {})[moment] = row
    return latest


def _flatten(
    latest: Mapping[str, Mapping[datetime, Mapping[str, object]]],
) -> Iterable[tuple[tuple[str, datetime], Mapping[str, object]]]:
    for customer, rows in latest.items():
        for moment, row in rows.items():
            yield (customer, moment), row


def _written(value: object) -> datetime:
    """A write or invocation time (a datetime, or ISO-8601 text) as an aware UTC datetime; missing sorts first."""
    if value is None or value == "":
        return datetime.min.replace(tzinfo=UTC)
    if isinstance(value, str):
        value = datetime.fromisoformat(value.strip().replace("Z", "+00:00"))
    if not isinstance(value, datetime):
        raise ValueError(f"write time {value!r} is neither a timestamp nor ISO-8601 text")
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def _is_true(value: object) -> bool:
    # Parquet read through pandas gives numpy booleans, which are not Python's True.
    if type(value).__name__ in ("bool", "bool_"):
        return bool(value)
    return isinstance(value, str) and value.strip().lower() == "true"


@dataclass(frozen=True)
class Mismatch:
    feature: str
    online: str | None
    offline: str | None


def compare_records(
    online: Mapping[str, str], offline: Mapping[str, object], features: Iterable[str], *, tolerance: float = 1e-9
) -> list[Mismatch]:
    """Features whose online value differs from the offline store's for the same record and event time.

    Numbers are compared as numbers (the offline store's Parquet holds 0.1 as a double, the online store
    as the string "0.1"), within a relative ``tolerance``; anything else as text.
    """
    mismatches = []
    for name in features:
        left = online.get(name)
        right = offline.get(name)
        right_text = None if right is None else str(right)
        if left is None or right_text is None:
            if left != right_text:
                mismatches.append(Mismatch(name, left, right_text))
            continue
        try:
            equal = math.isclose(float(left), float(right_text), rel_tol=tolerance, abs_tol=tolerance)
        except ValueError:
            equal = left == right_text
        if not equal:
            mismatches.append(Mismatch(name, left, right_text))
    return mismatches
