"""Regenerate customers.csv, the sample raw input for the churn ETL.

    .venv/bin/python -m pipelines.glue.sample.generate

The output is byte-for-byte reproducible (fixed seed, stdlib only) and a unit test holds the committed CSV
to it, so change this script rather than editing the CSV by hand.

The sample serves two consumers:

* the Level 0 ETL and its tests: 400 rows, of which 5 are deliberately invalid (one per kind of bad cell)
  and 2 re-export an earlier customer with a newer state, leaving 393 curated records;
* the Level 1 model: churn (about 25%) is driven by month-to-month contracts, support calls, short tenure
  and, more weakly, paying by electronic check, with enough noise that the model has something to learn
  rather than a lookup table to memorise.
"""

from __future__ import annotations

import csv
import io
import math
import random
from datetime import date
from pathlib import Path

from pipelines.glue.churn_transform import CONTRACTS, PAYMENT_METHODS, RAW_COLUMNS

SEED = 20250630
AS_OF = date(2025, 6, 30)
CUSTOMERS = 398
OUTPUT = Path(__file__).with_name("customers.csv")

# customer number -> (column, bad value). One of each kind of cell the ETL must reject.
CORRUPTIONS: dict[int, tuple[str, str]] = {
    37: ("tenure_months", "-4"),
    118: ("contract", "weekly"),
    205: ("signup_date", "2023-02-30"),
    289: ("monthly_charges", "$45.10"),
    356: ("total_charges", "-120.00"),
}
# Active customer re-exported a month later -> customer it is emitted after. Both rows are valid, so the
# ETL must keep the later one. Only non-churned customers qualify: a churned customer's tenure stops.
REEXPORTS: dict[int, int] = {15: 250, 154: 360}

_CONTRACT_MIX = (55, 25, 20)
_PAYMENT_MIX = (34, 20, 22, 24)
_SUPPORT_CALL_MIX = (30, 25, 18, 11, 7, 5, 3, 1)  # 0..7 calls
# Churn model, in log-odds. The baseline is tuned so that about a quarter of the sample churns.
_BASELINE_LOG_ODDS = -2.0
_CONTRACT_EFFECT = {"month-to-month": 0.8, "one-year": -0.4, "two-year": -1.0}
_PER_SUPPORT_CALL = 0.55
_PER_MONTH_OF_TENURE = -0.03
_ELECTRONIC_CHECK_EFFECT = 0.4


Row = dict[str, str]


def _months_before(day: date, months: int, day_of_month: int) -> date:
    index = day.year * 12 + (day.month - 1) - months
    return date(index // 12, index % 12 + 1, day_of_month)


def _customer(rng: random.Random, number: int) -> Row:
    contract = rng.choices(CONTRACTS, weights=_CONTRACT_MIX)[0]
    payment_method = rng.choices(PAYMENT_METHODS, weights=_PAYMENT_MIX)[0]
    support_calls = rng.choices(range(len(_SUPPORT_CALL_MIX)), weights=_SUPPORT_CALL_MIX)[0]
    if contract == "month-to-month":
        # Most rolling-contract customers are recent; a few stay for years.
        tenure = min(int(rng.expovariate(1 / 14)), 72)
    elif contract == "one-year":
        tenure = rng.randint(6, 60)
    else:
        tenure = rng.randint(12, 72)
    monthly = round(rng.uniform(19.5, 118.0), 2)

    log_odds = (
        _BASELINE_LOG_ODDS
        + _CONTRACT_EFFECT[contract]
        + _PER_SUPPORT_CALL * support_calls
        + _PER_MONTH_OF_TENURE * tenure
        + (_ELECTRONIC_CHECK_EFFECT if payment_method == "electronic-check" else 0.0)
    )
    churned = rng.random() < 1 / (1 + math.exp(-log_odds))

    # Tenure stops counting when a customer leaves, so churned customers signed up correspondingly earlier.
    months_since_churn = rng.randint(0, 11) if churned else 0
    signup = _months_before(AS_OF, tenure + months_since_churn, rng.randint(1, 28))
    total = round(monthly * tenure * rng.uniform(0.95, 1.05), 2)
    return {
        "customer_id": f"CUST-{number:05d}",
        "signup_date": signup.isoformat(),
        "tenure_months": str(tenure),
        "monthly_charges": f"{monthly:.2f}",
        "total_charges": f"{total:.2f}",
        "contract": contract,
        "payment_method": payment_method,
        "support_calls": str(support_calls),
        "churned": "yes" if churned else "no",
    }


def _one_month_later(row: Row) -> Row:
    tenure = int(row["tenure_months"]) + 1
    total = float(row["total_charges"]) + float(row["monthly_charges"])
    return {
        **row,
        "tenure_months": str(tenure),
        "total_charges": f"{total:.2f}",
        "support_calls": str(int(row["support_calls"]) + 1),
    }


def rows() -> list[Row]:
    """The sample rows, in file order."""
    rng = random.Random(SEED)  # noqa: S311 - reproducible sample data, not a security decision
    customers = {number: _customer(rng, number) for number in range(1, CUSTOMERS + 1)}
    for number, (column, bad_value) in CORRUPTIONS.items():
        customers[number][column] = bad_value
    reexport_after = {after: number for number, after in REEXPORTS.items()}

    ordered: list[Row] = []
    for number, row in customers.items():
        ordered.append(row)
        if number in reexport_after:
            ordered.append(_one_month_later(customers[reexport_after[number]]))
    return ordered


def render() -> str:
    """The sample as CSV text with a header row and LF line endings."""
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=RAW_COLUMNS, lineterminator="\n")
    writer.writeheader()
    writer.writerows(rows())
    return buffer.getvalue()


def main() -> None:
    OUTPUT.write_text(render(), encoding="utf-8")
    print(f"wrote {OUTPUT}")


if __name__ == "__main__":
    main()
