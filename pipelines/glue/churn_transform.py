"""Row-level cleaning for the Level 0 customer-churn ETL.

The Glue job (``etl_job.py``) is a thin Spark shell around this module. Every decision about what a
valid customer row looks like lives here, in plain Python with no Spark or AWS dependency, so it can be
unit-tested in milliseconds and reused unchanged when later maturity levels run the same step elsewhere.

Contract: every input row becomes exactly one ``CleanRecord`` or exactly one ``Rejection``; nothing is
dropped silently. ``transform_rows`` also collapses repeated ``customer_id`` values and counts what it
collapsed, so ``len(records) + len(rejections) + duplicates == input_rows`` always holds.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import asdict, dataclass, field
from datetime import date
from typing import TypeAlias

__all__ = [
    "CONTRACTS",
    "PARTITION_KEYS",
    "PAYMENT_METHODS",
    "RAW_COLUMNS",
    "REJECTION_SCHEMA_FIELDS",
    "SPARK_SCHEMA_FIELDS",
    "CleanRecord",
    "RawRow",
    "Rejection",
    "SparkValue",
    "TransformResult",
    "clean_row",
    "record_to_dict",
    "rejection_to_dict",
    "transform_rows",
]

RAW_COLUMNS: tuple[str, ...] = (
    "customer_id",
    "signup_date",
    "tenure_months",
    "monthly_charges",
    "total_charges",
    "contract",
    "payment_method",
    "support_calls",
    "churned",
)
CONTRACTS: tuple[str, ...] = ("month-to-month", "one-year", "two-year")
PAYMENT_METHODS: tuple[str, ...] = ("electronic-check", "mailed-check", "bank-transfer", "credit-card")

# Column names and Spark SQL type names of the curated table, in write order. The Glue script builds its
# StructType from this so the Parquet schema cannot drift from CleanRecord (a unit test pins the two).
SPARK_SCHEMA_FIELDS: tuple[tuple[str, str], ...] = (
    ("customer_id", "string"),
    ("signup_date", "date"),
    ("tenure_months", "int"),
    ("monthly_charges", "double"),
    ("total_charges", "double"),
    ("contract", "string"),
    ("payment_method", "string"),
    ("support_calls", "int"),
    ("churned", "boolean"),
    ("signup_year", "int"),
    ("signup_month", "int"),
)
PARTITION_KEYS: tuple[str, str] = ("signup_year", "signup_month")

# Schema of the rejects feed, same conventions as SPARK_SCHEMA_FIELDS.
REJECTION_SCHEMA_FIELDS: tuple[tuple[str, str], ...] = (
    ("row_number", "bigint"),
    ("customer_id", "string"),
    ("column", "string"),
    ("value", "string"),
    ("reason", "string"),
)

_CHURNED_TRUE = frozenset({"yes", "true", "1"})
_CHURNED_FALSE = frozenset({"no", "false", "0"})

# int(), float() and date.fromisoformat() accept far more than a CSV export should contain ("1_000",
# "nan", "inf", non-ASCII digits, "20240101", "2024-W01-1"). Each of those would turn a corrupt cell into
# a plausible-looking value, so the shape is checked first and the builtins only do the conversion.
_INTEGER = re.compile(r"[+-]?\d+", re.ASCII)
_DECIMAL = re.compile(r"[+-]?(?:\d+(?:\.\d*)?|\.\d+)", re.ASCII)
_ISO_DATE = re.compile(r"\d{4}-\d{2}-\d{2}", re.ASCII)

SparkValue: TypeAlias = str | int | float | bool | date
# What csv.DictReader and Spark's Row.asDict() both produce for an all-string CSV read.
RawRow: TypeAlias = Mapping[str, str | None]


@dataclass(frozen=True)
class CleanRecord:
    """One validated customer, typed and ready to be written to the curated layer."""

    customer_id: str
    signup_date: date
    tenure_months: int
    monthly_charges: float
    total_charges: float
    contract: str
    payment_method: str
    support_calls: int
    churned: bool
    # Partition columns of the curated table. Derived rather than passed in, so they can never disagree
    # with signup_date.
    signup_year: int = field(init=False)
    signup_month: int = field(init=False)

    def __post_init__(self) -> None:
        # frozen=True blocks ordinary assignment; object.__setattr__ is the sanctioned way to fill
        # derived fields of a frozen dataclass.
        object.__setattr__(self, "signup_year", self.signup_date.year)
        object.__setattr__(self, "signup_month", self.signup_date.month)


@dataclass(frozen=True)
class Rejection:
    """Why one input row did not make it into the curated layer.

    Only the first problem found (in ``RAW_COLUMNS`` order) is reported, so a bad row is rejected exactly
    once. ``reason`` is self-contained (it names the column and the offending value) because it is what an
    operator reads in the rejects feed; ``column`` and ``value`` are there for grouping and querying.
    """

    # 1-based position among the input's data rows (header excluded), when the caller knows it.
    row_number: int | None
    # None when customer_id is itself the missing or empty cell.
    customer_id: str | None
    column: str
    # The cell exactly as received, so whitespace and encoding problems stay visible.
    value: str | None
    reason: str

    def __str__(self) -> str:
        where = [f"row {self.row_number}"] if self.row_number is not None else []
        if self.customer_id is not None:
            where.append(f"customer_id {self.customer_id!r}")
        return f"{', '.join(where) or 'unidentified row'}: {self.reason}"


@dataclass(frozen=True)
class TransformResult:
    """Outcome of a batch: what survived, what was rejected and how many duplicates were collapsed."""

    records: tuple[CleanRecord, ...]
    rejections: tuple[Rejection, ...]
    input_rows: int
    # Valid rows superseded by a later valid row with the same customer_id.
    duplicates: int


class _InvalidCell(Exception):
    """Raised by the cell parsers; clean_row turns it into a Rejection."""

    def __init__(self, column: str, value: str | None, reason: str) -> None:
        super().__init__(reason)
        self.column = column
        self.value = value
        self.reason = reason


def clean_row(row: RawRow, row_number: int | None = None) -> CleanRecord | Rejection:
    """Validate and type one raw CSV row (all values strings, as read with a header).

    Surrounding whitespace is ignored everywhere, and contract, payment_method and churned are
    case-insensitive. Columns not in ``RAW_COLUMNS`` are ignored. A cell that is None (how Spark and
    csv.DictReader represent an empty or absent trailing cell) is treated as empty.
    """
    try:
        # Keyword arguments are evaluated left to right, so the first failing column in RAW_COLUMNS
        # order is the one reported.
        return CleanRecord(
            customer_id=_required(row, "customer_id").strip(),
            signup_date=_signup_date(row, "signup_date"),
            tenure_months=_non_negative_int(row, "tenure_months"),
            monthly_charges=_non_negative_amount(row, "monthly_charges"),
            total_charges=_non_negative_amount(row, "total_charges"),
            contract=_one_of(row, "contract", CONTRACTS),
            payment_method=_one_of(row, "payment_method", PAYMENT_METHODS),
            support_calls=_non_negative_int(row, "support_calls"),
            churned=_churned(row, "churned"),
        )
    except _InvalidCell as invalid:
        raw_id = row.get("customer_id")
        return Rejection(
            row_number=row_number,
            customer_id=raw_id.strip() if raw_id is not None and raw_id.strip() else None,
            column=invalid.column,
            value=invalid.value,
            reason=invalid.reason,
        )


def transform_rows(rows: Iterable[RawRow]) -> TransformResult:
    """Clean a batch of raw rows and collapse repeated customer_ids, keeping the last valid occurrence.

    The input is treated as an append-only export, so a later row for the same customer is the newer
    state. Rejected rows never take part in deduplication: a row that cannot be parsed cannot be trusted to
    supersede a valid one, and it is already reported as a rejection.
    """
    latest: dict[str, CleanRecord] = {}
    rejections: list[Rejection] = []
    input_rows = 0
    duplicates = 0
    for row in rows:
        input_rows += 1
        outcome = clean_row(row, row_number=input_rows)
        if isinstance(outcome, Rejection):
            rejections.append(outcome)
            continue
        # Pop before re-inserting so the output is ordered by each kept row's position in the input.
        if latest.pop(outcome.customer_id, None) is not None:
            duplicates += 1
        latest[outcome.customer_id] = outcome
    return TransformResult(
        records=tuple(latest.values()),
        rejections=tuple(rejections),
        input_rows=input_rows,
        duplicates=duplicates,
    )


def record_to_dict(record: CleanRecord) -> dict[str, SparkValue]:
    """Column name -> value, in ``SPARK_SCHEMA_FIELDS`` order, for building Spark rows."""
    return asdict(record)


def rejection_to_dict(rejection: Rejection) -> dict[str, str | int | None]:
    """Column name -> value, in ``REJECTION_SCHEMA_FIELDS`` order, for building Spark rows."""
    return asdict(rejection)


def _required(row: RawRow, column: str) -> str:
    if column not in row:
        raise _InvalidCell(column, None, f"missing column {column!r}")
    value = row[column]
    if value is None or not value.strip():
        raise _InvalidCell(column, value, f"{column} is empty")
    return value


def _non_negative_int(row: RawRow, column: str) -> int:
    raw = _required(row, column)
    text = raw.strip()
    if not _INTEGER.fullmatch(text):
        raise _InvalidCell(column, raw, f"{column} is not an integer: {raw!r}")
    number = int(text)
    if number < 0:
        raise _InvalidCell(column, raw, f"{column} must not be negative: {raw!r}")
    return number


def _non_negative_amount(row: RawRow, column: str) -> float:
    raw = _required(row, column)
    text = raw.strip()
    if not _DECIMAL.fullmatch(text):
        raise _InvalidCell(column, raw, f"{column} is not a number: {raw!r}")
    amount = float(text)
    # A negative charge is a refund or a sign error upstream: not a price, and not a lifetime spend.
    if amount < 0:
        raise _InvalidCell(column, raw, f"{column} must not be negative: {raw!r}")
    return amount


def _one_of(row: RawRow, column: str, allowed: tuple[str, ...]) -> str:
    raw = _required(row, column)
    value = raw.strip().lower()
    if value not in allowed:
        raise _InvalidCell(column, raw, f"{column} has unknown value {raw!r} (expected one of: {', '.join(allowed)})")
    return value


def _signup_date(row: RawRow, column: str) -> date:
    raw = _required(row, column)
    text = raw.strip()
    if _ISO_DATE.fullmatch(text):
        try:
            return date.fromisoformat(text)
        except ValueError:  # the right shape but not a calendar date, e.g. 2023-02-30
            pass
    raise _InvalidCell(column, raw, f"{column} is not a valid YYYY-MM-DD date: {raw!r}")


def _churned(row: RawRow, column: str) -> bool:
    raw = _required(row, column)
    value = raw.strip().lower()
    if value in _CHURNED_TRUE:
        return True
    if value in _CHURNED_FALSE:
        return False
    raise _InvalidCell(column, raw, f"{column} is not a yes/no flag: {raw!r} (expected yes/no, true/false or 1/0)")
