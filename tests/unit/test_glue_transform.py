"""Row cleaning for the Level 0 Glue job, tested without Spark."""

from __future__ import annotations

import csv
import pickle
from collections import Counter
from dataclasses import FrozenInstanceError, fields
from datetime import date
from pathlib import Path

import pytest

from pipelines.glue import churn_transform
from pipelines.glue.churn_transform import (
    PARTITION_KEYS,
    RAW_COLUMNS,
    REJECTION_SCHEMA_FIELDS,
    SPARK_SCHEMA_FIELDS,
    CleanRecord,
    Rejection,
    clean_row,
    record_to_dict,
    rejection_to_dict,
    transform_rows,
)
from pipelines.glue.sample import generate

SAMPLE_CSV = Path(churn_transform.__file__).with_name("sample") / "customers.csv"

# Python types Spark expects for each SQL type name used in the schemas.
PYTHON_TYPE_FOR_SPARK_TYPE: dict[str, type] = {
    "string": str,
    "date": date,
    "int": int,
    "bigint": int,
    "double": float,
    "boolean": bool,
}


def raw_row(**overrides: str | None) -> dict[str, str | None]:
    row: dict[str, str | None] = {
        "customer_id": "CUST-00042",
        "signup_date": "2023-04-17",
        "tenure_months": "26",
        "monthly_charges": "70.35",
        "total_charges": "1812.40",
        "contract": "month-to-month",
        "payment_method": "electronic-check",
        "support_calls": "3",
        "churned": "yes",
    }
    row.update(overrides)
    return row


def expect_record(outcome: CleanRecord | Rejection) -> CleanRecord:
    assert isinstance(outcome, CleanRecord), f"unexpected rejection: {outcome}"
    return outcome


def expect_rejection(outcome: CleanRecord | Rejection) -> Rejection:
    assert isinstance(outcome, Rejection), f"expected a rejection, got {outcome}"
    return outcome


def read_sample() -> list[dict[str, str]]:
    with SAMPLE_CSV.open(newline="", encoding="utf-8") as sample:
        return list(csv.DictReader(sample))


# --- type conversion -------------------------------------------------------------------------------------


def test_valid_row_becomes_a_typed_record() -> None:
    record = expect_record(clean_row(raw_row()))

    assert record == CleanRecord(
        customer_id="CUST-00042",
        signup_date=date(2023, 4, 17),
        tenure_months=26,
        monthly_charges=70.35,
        total_charges=1812.40,
        contract="month-to-month",
        payment_method="electronic-check",
        support_calls=3,
        churned=True,
    )
    assert type(record.tenure_months) is int
    assert type(record.support_calls) is int
    assert type(record.monthly_charges) is float
    assert type(record.total_charges) is float
    assert type(record.churned) is bool


@pytest.mark.parametrize(
    ("flag", "expected"),
    [
        ("yes", True),
        ("no", False),
        ("true", True),
        ("false", False),
        ("1", True),
        ("0", False),
        ("YES", True),
        (" False ", False),
    ],
)
def test_churned_accepts_each_documented_spelling(flag: str, expected: bool) -> None:
    assert expect_record(clean_row(raw_row(churned=flag))).churned is expected


def test_whitespace_and_case_are_normalised() -> None:
    record = expect_record(
        clean_row(
            raw_row(
                customer_id="  CUST-00042 ",
                signup_date=" 2023-04-17",
                tenure_months=" 26 ",
                monthly_charges="70.35 ",
                contract=" Month-To-Month ",
                payment_method="Credit-Card",
            )
        )
    )

    assert record.customer_id == "CUST-00042"
    assert record.signup_date == date(2023, 4, 17)
    assert record.tenure_months == 26
    assert record.monthly_charges == 70.35
    assert record.contract == "month-to-month"
    assert record.payment_method == "credit-card"


def test_zero_is_a_valid_value_for_counts_and_amounts() -> None:
    record = expect_record(clean_row(raw_row(tenure_months="0", total_charges="0.00", support_calls="0")))

    assert (record.tenure_months, record.total_charges, record.support_calls) == (0, 0.0, 0)


def test_columns_outside_the_contract_are_ignored() -> None:
    with_extra_column = {**raw_row(), "region": "eu-west-1"}

    assert expect_record(clean_row(with_extra_column)) == expect_record(clean_row(raw_row()))


# --- partition columns -----------------------------------------------------------------------------------


def test_partition_columns_come_from_signup_date() -> None:
    record = expect_record(clean_row(raw_row(signup_date="2021-11-03")))

    assert (record.signup_year, record.signup_month) == (2021, 11)


def test_partition_columns_cannot_be_set_independently_of_signup_date() -> None:
    record = expect_record(clean_row(raw_row()))
    arguments = {f.name: getattr(record, f.name) for f in fields(CleanRecord) if f.init}

    with pytest.raises(TypeError, match="signup_year"):
        CleanRecord(**arguments, signup_year=1999)  # type: ignore[call-arg]  # mypy rejects it statically too


def test_records_are_immutable() -> None:
    record = expect_record(clean_row(raw_row()))

    with pytest.raises(FrozenInstanceError):
        record.signup_year = 1999  # type: ignore[misc]


# --- rejections ------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("column", "bad_value", "complaint"),
    [
        ("tenure_months", "-4", "must not be negative"),
        ("tenure_months", "twelve", "is not an integer"),
        ("tenure_months", "12.5", "is not an integer"),
        ("tenure_months", "1_000", "is not an integer"),
        ("support_calls", "-1", "must not be negative"),
        ("support_calls", "three", "is not an integer"),
        ("monthly_charges", "$45.10", "is not a number"),
        ("monthly_charges", "45,10", "is not a number"),
        ("monthly_charges", "nan", "is not a number"),
        ("monthly_charges", "inf", "is not a number"),
        ("monthly_charges", "-5.00", "must not be negative"),
        ("total_charges", "-120.00", "must not be negative"),
        ("total_charges", "1e3", "is not a number"),
        ("contract", "weekly", "has unknown value"),
        ("payment_method", "cash", "has unknown value"),
        ("signup_date", "2023-02-30", "is not a valid YYYY-MM-DD date"),
        ("signup_date", "2023/02/01", "is not a valid YYYY-MM-DD date"),
        ("signup_date", "20230201", "is not a valid YYYY-MM-DD date"),
        ("signup_date", "17-04-2023", "is not a valid YYYY-MM-DD date"),
        ("churned", "maybe", "is not a yes/no flag"),
    ],
)
def test_bad_cell_is_rejected_naming_column_and_value(column: str, bad_value: str, complaint: str) -> None:
    rejection = expect_rejection(clean_row(raw_row(**{column: bad_value}), row_number=7))

    assert rejection.column == column
    assert rejection.value == bad_value
    assert rejection.reason.startswith(f"{column} {complaint}")
    assert repr(bad_value) in rejection.reason
    assert rejection.customer_id == "CUST-00042"
    assert rejection.row_number == 7


@pytest.mark.parametrize("column", ["contract", "payment_method"])
def test_unknown_category_lists_the_allowed_values(column: str) -> None:
    rejection = expect_rejection(clean_row(raw_row(**{column: "other"})))

    allowed = churn_transform.CONTRACTS if column == "contract" else churn_transform.PAYMENT_METHODS
    assert all(value in rejection.reason for value in allowed)


@pytest.mark.parametrize("column", RAW_COLUMNS)
def test_missing_column_is_rejected(column: str) -> None:
    row = raw_row()
    del row[column]

    rejection = expect_rejection(clean_row(row))

    assert rejection.column == column
    assert rejection.value is None
    assert rejection.reason == f"missing column {column!r}"


@pytest.mark.parametrize("empty", ["", "   ", None])
@pytest.mark.parametrize("column", RAW_COLUMNS)
def test_empty_cell_is_rejected(column: str, empty: str | None) -> None:
    rejection = expect_rejection(clean_row(raw_row(**{column: empty})))

    assert rejection.column == column
    assert rejection.value == empty
    assert rejection.reason == f"{column} is empty"


def test_first_bad_column_in_input_order_is_the_one_reported() -> None:
    rejection = expect_rejection(clean_row(raw_row(churned="maybe", tenure_months="-1", contract="weekly")))

    assert rejection.column == "tenure_months"


def test_rejection_is_identified_by_customer_id_and_row_number() -> None:
    rejection = expect_rejection(clean_row(raw_row(contract="weekly"), row_number=12))

    assert str(rejection) == (
        "row 12, customer_id 'CUST-00042': contract has unknown value 'weekly' "
        "(expected one of: month-to-month, one-year, two-year)"
    )


def test_rejection_without_customer_id_falls_back_to_row_number() -> None:
    rejection = expect_rejection(clean_row(raw_row(customer_id=" "), row_number=5))

    assert rejection.customer_id is None
    assert str(rejection) == "row 5: customer_id is empty"


def test_rejection_keeps_the_raw_value_so_whitespace_problems_stay_visible() -> None:
    rejection = expect_rejection(clean_row(raw_row(tenure_months=" -4 ")))

    assert rejection.value == " -4 "
    assert "' -4 '" in rejection.reason


# --- batches and dedupe ----------------------------------------------------------------------------------


def test_duplicate_customer_ids_keep_the_last_occurrence() -> None:
    result = transform_rows(
        [
            raw_row(customer_id="A", support_calls="1"),
            raw_row(customer_id="B"),
            raw_row(customer_id="A", support_calls="2"),
            raw_row(customer_id="A", support_calls="5"),
        ]
    )

    assert [record.customer_id for record in result.records] == ["B", "A"]
    assert result.records[1].support_calls == 5
    assert result.duplicates == 2
    assert result.rejections == ()


def test_rejected_row_never_supersedes_a_valid_one() -> None:
    result = transform_rows(
        [
            raw_row(customer_id="A", support_calls="1"),
            raw_row(customer_id="A", support_calls="lots"),
        ]
    )

    assert [(record.customer_id, record.support_calls) for record in result.records] == [("A", 1)]
    assert [(rejection.customer_id, rejection.row_number) for rejection in result.rejections] == [("A", 2)]
    assert result.duplicates == 0


def test_rows_are_numbered_from_one_in_input_order() -> None:
    result = transform_rows([raw_row(), raw_row(contract="x"), raw_row(), raw_row(churned="x")])

    assert [rejection.row_number for rejection in result.rejections] == [2, 4]


def test_every_input_row_is_accounted_for() -> None:
    rows = [
        raw_row(customer_id="A"),
        raw_row(customer_id="B", tenure_months="-1"),
        raw_row(customer_id="C"),
        raw_row(customer_id="A"),
        raw_row(customer_id="D", signup_date="yesterday"),
        raw_row(customer_id="C"),
        raw_row(customer_id="C"),
        raw_row(customer_id="E"),
    ]

    result = transform_rows(rows)

    assert result.input_rows == len(rows) == 8
    assert (len(result.records), len(result.rejections), result.duplicates) == (3, 2, 3)
    assert len(result.records) + len(result.rejections) + result.duplicates == result.input_rows


def test_empty_input_yields_an_empty_result() -> None:
    result = transform_rows([])

    assert (result.records, result.rejections, result.input_rows, result.duplicates) == ((), (), 0, 0)


def test_transform_rows_accepts_a_one_shot_iterator() -> None:
    result = transform_rows(iter([raw_row(customer_id="A"), raw_row(customer_id="B")]))

    assert result.input_rows == 2
    assert len(result.records) == 2


# --- Spark schema contract -------------------------------------------------------------------------------


def test_spark_schema_matches_record_fields_in_order() -> None:
    record = expect_record(clean_row(raw_row()))

    assert [name for name, _ in SPARK_SCHEMA_FIELDS] == [f.name for f in fields(CleanRecord)]
    assert list(record_to_dict(record)) == [name for name, _ in SPARK_SCHEMA_FIELDS]


def test_spark_schema_types_match_record_values() -> None:
    values = record_to_dict(expect_record(clean_row(raw_row())))

    for name, spark_type in SPARK_SCHEMA_FIELDS:
        assert type(values[name]) is PYTHON_TYPE_FOR_SPARK_TYPE[spark_type], name


def test_partition_keys_are_schema_columns() -> None:
    assert PARTITION_KEYS == ("signup_year", "signup_month")
    assert set(PARTITION_KEYS) <= {name for name, _ in SPARK_SCHEMA_FIELDS}


def test_rejection_schema_matches_rejection_dicts() -> None:
    values = rejection_to_dict(expect_rejection(clean_row(raw_row(contract="weekly"), row_number=3)))

    assert list(values) == [name for name, _ in REJECTION_SCHEMA_FIELDS]
    for name, spark_type in REJECTION_SCHEMA_FIELDS:
        assert type(values[name]) is PYTHON_TYPE_FOR_SPARK_TYPE[spark_type], name


def test_outcomes_survive_pickling_as_spark_ships_them_between_processes() -> None:
    record = expect_record(clean_row(raw_row()))
    rejection = expect_rejection(clean_row(raw_row(contract="weekly"), row_number=1))

    assert pickle.loads(pickle.dumps(record)) == record
    assert pickle.loads(pickle.dumps(rejection)) == rejection


# --- shipped sample --------------------------------------------------------------------------------------


def test_sample_csv_has_the_expected_counts() -> None:
    result = transform_rows(read_sample())

    assert result.input_rows == 400
    assert len(result.rejections) == 5
    assert result.duplicates == 2
    assert len(result.records) == 393


def test_sample_csv_rejects_one_row_per_kind_of_bad_cell() -> None:
    result = transform_rows(read_sample())

    assert sorted((r.customer_id, r.column, r.value) for r in result.rejections) == [
        ("CUST-00037", "tenure_months", "-4"),
        ("CUST-00118", "contract", "weekly"),
        ("CUST-00205", "signup_date", "2023-02-30"),
        ("CUST-00289", "monthly_charges", "$45.10"),
        ("CUST-00356", "total_charges", "-120.00"),
    ]


def test_sample_csv_duplicates_resolve_to_the_later_export() -> None:
    rows = read_sample()
    occurrences = Counter(row["customer_id"] for row in rows)
    repeated = sorted(customer_id for customer_id, count in occurrences.items() if count > 1)
    last_row_for = {row["customer_id"]: row for row in rows}

    records = {record.customer_id: record for record in transform_rows(rows).records}

    assert repeated == ["CUST-00015", "CUST-00154"]
    for customer_id in repeated:
        assert records[customer_id] == expect_record(clean_row(last_row_for[customer_id]))


def test_sample_csv_carries_a_learnable_churn_signal() -> None:
    records = transform_rows(read_sample()).records

    def churn_rate(group: list[CleanRecord]) -> float:
        return sum(record.churned for record in group) / len(group)

    assert 0.2 <= churn_rate(list(records)) <= 0.3
    month_to_month = [r for r in records if r.contract == "month-to-month"]
    two_year = [r for r in records if r.contract == "two-year"]
    assert churn_rate(month_to_month) > 3 * churn_rate(two_year)
    assert churn_rate([r for r in records if r.support_calls >= 3]) > churn_rate(
        [r for r in records if r.support_calls <= 1]
    )
    assert churn_rate([r for r in records if r.tenure_months < 12]) > churn_rate(
        [r for r in records if r.tenure_months >= 36]
    )


def test_sample_csv_is_exactly_what_the_generator_produces() -> None:
    # The generator is the source of truth; a hand edit to the CSV would silently skew the counts above.
    assert SAMPLE_CSV.read_text(encoding="utf-8") == generate.render()
