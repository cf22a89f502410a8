"""The churn feature definitions, the one feature transformation, the point-in-time join and the skew comparison."""

from __future__ import annotations

import csv
import dataclasses
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path

import pytest

from pipelines.glue import churn_features as cf
from pipelines.glue import churn_transform

SAMPLE_CSV = Path(churn_transform.__file__).with_name("sample") / "customers.csv"


def _records() -> tuple[churn_transform.CleanRecord, ...]:
    with SAMPLE_CSV.open(newline="", encoding="utf-8") as sample:
        return churn_transform.transform_rows(csv.DictReader(sample)).records


def test_engineer_rejects_a_category_without_a_column() -> None:
    record = _records()[0]
    odd = dataclasses.replace(record, contract="weekly")
    with pytest.raises(ValueError, match="contract 'weekly' has no feature column"):
        cf.engineer(odd)


def test_every_feature_group_starts_with_identifier_and_event_time_and_uses_valid_names() -> None:
    for spec in cf.FEATURE_GROUPS:
        assert [f.name for f in spec.features[:2]] == [cf.RECORD_IDENTIFIER, cf.EVENT_TIME]
        assert spec.type_of(cf.EVENT_TIME) == "String"
        names = [f.name for f in spec.features]
        assert len(names) == len(set(names))
        assert not set(names) & cf.RESERVED_FEATURE_NAMES
        assert all(cf._FEATURE_NAME.fullmatch(name) for name in names)
    assert not cf.CHURN_LABELS.online and cf.CUSTOMER_FEATURES.online
    assert cf.LABEL not in cf.MODEL_FEATURES


@pytest.mark.parametrize(
    ("name", "problem"),
    [
        ("a" * 65, "65 characters, over the limit of 64"),
        ("team_a-churn-features", "letters, digits and single hyphens"),
        ("-leading", "letters, digits and single hyphens"),
        ("trailing-", "letters, digits and single hyphens"),
        ("caf\u00e9-features", "letters, digits and single hyphens"),
        ("name\n", "letters, digits and single hyphens"),
    ],
)
def test_feature_group_name_error_names_the_problem(name: str, problem: str) -> None:
    error = cf.feature_group_name_error(name)
    assert error is not None and problem in error


def test_feature_group_name_at_the_limit_is_accepted() -> None:
    assert cf.feature_group_name_error("a" * 64) is None
    assert cf.feature_group_name_error(cf.feature_group_name("mlops-dev", cf.CUSTOMER_FEATURES)) is None


def test_to_record_writes_integral_as_integers_and_round_trips() -> None:
    values = cf.engineer(_records()[0])
    record = cf.to_record(cf.CUSTOMER_FEATURES, "c-1", "2026-12-03T10:00:00Z", values)
    assert [item["FeatureName"] for item in record] == [f.name for f in cf.CUSTOMER_FEATURES.features]
    parsed = cf.from_record(record)
    assert "." not in parsed["tenure_months"] and "." not in parsed["contract_one_year"]
    assert float(parsed["charges_per_tenure_month"]) == values["charges_per_tenure_month"]


@pytest.mark.parametrize(
    ("values", "message"),
    [
        ({"churned": 1.5}, "Integral"),
        ({"churned": 1, "extra": 2}, "unknown feature"),
        ({}, "missing feature"),
    ],
)
def test_to_record_rejects_bad_values(values: dict[str, object], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        cf.to_record(cf.CHURN_LABELS, "c-1", "2026-12-03T10:00:00Z", values)


def test_to_record_rejects_nan_and_bad_event_time() -> None:
    values = dict(cf.engineer(_records()[0]), monthly_charges=float("nan"))
    with pytest.raises(ValueError, match="Fractional and finite"):
        cf.to_record(cf.CUSTOMER_FEATURES, "c-1", "2026-12-03T10:00:00Z", values)
    with pytest.raises(ValueError, match="YYYY-MM-DDTHH:MM:SSZ"):
        cf.to_record(cf.CHURN_LABELS, "c-1", "2026-12-03 10:00:00", {"churned": 1})


def test_event_time_is_utc_and_requires_a_zone() -> None:
    moment = datetime(2026, 12, 3, 12, 0, tzinfo=timezone(timedelta(hours=2)))
    assert cf.event_time_of(moment) == "2026-12-03T10:00:00Z"
    with pytest.raises(ValueError, match="timezone-aware"):
        cf.event_time_of(datetime(2026, 12, 3))


def _features(customer: str, event_time: str, tenure: int, **extra: object) -> dict[str, object]:
    row: dict[str, object] = {name: 0 for name in cf.MODEL_FEATURES}
    row.update({cf.RECORD_IDENTIFIER: customer, cf.EVENT_TIME: event_time, "tenure_months": tenure, **extra})
    return row


def _label(customer: str, event_time: str, churned: int = 1) -> dict[str, object]:
    return {cf.RECORD_IDENTIFIER: customer, cf.EVENT_TIME: event_time, cf.LABEL: churned}


def test_point_in_time_join_takes_the_latest_features_not_after_the_label() -> None:
    features = [
        _features("a", "2026-01-01T00:00:00Z", 1),
        _features("a", "2026-03-01T00:00:00Z", 3),
        _features("a", "2026-02-01T00:00:00Z", 2),
        _features("b", "2026-05-01T00:00:00Z", 9),
    ]
    labels = [
        _label("a", "2026-02-15T00:00:00Z"),
        _label("a", "2026-03-01T00:00:00Z"),
        _label("b", "2026-04-01T00:00:00Z"),
    ]
    result = cf.point_in_time_join(labels, features)
    assert [(row[cf.EVENT_TIME], row["tenure_months"]) for row in result.rows] == [
        ("2026-02-15T00:00:00Z", 2),
        ("2026-03-01T00:00:00Z", 3),
    ]
    # b's only features come after its label: joining them would leak the future into training.
    assert result.labels_without_features == 1


def test_point_in_time_join_breaks_ties_by_write_time_and_honours_deletes() -> None:
    features = [
        _features("a", "2026-01-01T00:00:00Z", 5, write_time="2026-01-01 00:00:02"),
        _features("a", "2026-01-01T00:00:00Z", 4, write_time="2026-01-01 00:00:01"),
        _features("b", "2026-01-01T00:00:00Z", 1),
        _features("b", "2026-01-02T00:00:00Z", 1, is_deleted="true"),
    ]
    result = cf.point_in_time_join([_label("a", "2026-01-05T00:00:00Z"), _label("b", "2026-01-05T00:00:00Z")], features)
    assert [row["tenure_months"] for row in result.rows] == [5]
    assert result.labels_without_features == 1


def test_compare_records_finds_changed_and_missing_features() -> None:
    online = {"tenure_months": "3", "monthly_charges": "0.1", "total_charges": "10.0"}
    offline = {"tenure_months": 3, "monthly_charges": 0.1, "total_charges": 12.5, "support_calls": 1}
    mismatches = cf.compare_records(
        online, offline, ["tenure_months", "monthly_charges", "total_charges", "support_calls"]
    )
    assert mismatches == [cf.Mismatch("total_charges", "10.0", "12.5"), cf.Mismatch("support_calls", None, "1")]


def test_event_time_string_sorts_like_time() -> None:
    earlier = cf.event_time_of(datetime(2026, 1, 9, tzinfo=UTC))
    later = cf.event_time_of(datetime(2026, 1, 10, tzinfo=UTC))
    assert earlier < later
