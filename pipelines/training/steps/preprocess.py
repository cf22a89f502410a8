"""Preprocess step: curated churn records -> XGBoost-ready train / validation / test CSVs.

Runs as a SageMaker Processing job in the scikit-learn 1.2-1 container (Python 3.9, pandas, pyarrow):
self-contained on purpose, standard library plus pandas only (see ``steps/__init__.py``).

Input: every ``*.csv`` and ``*.parquet`` file under ``--input-dir``, searched recursively, so both the
Level 0 curated table (Parquet, Hive-partitioned by signup year/month) and a CSV export work. Columns are
matched by name: customer_id, tenure_months, monthly_charges, total_charges, contract, payment_method,
support_calls and churned are required; others are ignored.

Output, one directory each (all CSVs have no header and the label as first column, the layout the
built-in XGBoost algorithm reads as ``text/csv``):
  --train-dir/train.csv, --validation-dir/validation.csv, --test-dir/test.csv
  --features-dir/features.json: feature names in column order, label name, rows per split
  --baseline-dir/baseline.csv: the train split's features only, WITH a header row and without the label,
    in the model's input order (what the endpoint receives): the data-quality baseline dataset, so
    Model Monitor's statistics and constraints name each feature

The split is stratified on the label and deterministic: rows are ordered by customer_id (the curated
table's part files arrive in no particular order) and shuffled per class with a seeded stdlib RNG, whose
sequence does not change between Python or library versions.

Bad input (no files, no rows, a missing column, a value that cannot be used) ends the job with exit
status 1 and one sentence on stderr, also written to /opt/ml/output/message so SageMaker shows it as the
job's ExitMessage.
"""

from __future__ import annotations

import argparse
import json
import random
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pandas as pd

PROCESSING_ROOT = Path("/opt/ml/processing")
DEFAULT_INPUT_DIR = PROCESSING_ROOT / "input" / "data"
DEFAULT_TRAIN_DIR = PROCESSING_ROOT / "train"
DEFAULT_VALIDATION_DIR = PROCESSING_ROOT / "validation"
DEFAULT_TEST_DIR = PROCESSING_ROOT / "test"
DEFAULT_FEATURES_DIR = PROCESSING_ROOT / "features"
DEFAULT_BASELINE_DIR = PROCESSING_ROOT / "baseline"
BASELINE_FILE = "baseline.csv"
DEFAULT_EXIT_MESSAGE_FILE = Path("/opt/ml/output/message")

DEFAULT_VALIDATION_FRACTION = 0.15
DEFAULT_TEST_FRACTION = 0.15
DEFAULT_SEED = 20250630

ID_COLUMN = "customer_id"
LABEL_COLUMN = "churned"
NUMERIC_COLUMNS = ("tenure_months", "monthly_charges", "total_charges", "support_calls")
# Copies of churn_transform.CONTRACTS and PAYMENT_METHODS (this script cannot import the project; a unit
# test keeps them equal). The one-hot columns come from these lists, not from the values present, so the
# feature layout is the same in every run and for every model version.
CATEGORIES = {
    "contract": ("month-to-month", "one-year", "two-year"),
    "payment_method": ("electronic-check", "mailed-check", "bank-transfer", "credit-card"),
}
REQUIRED_COLUMNS = (ID_COLUMN, *NUMERIC_COLUMNS, *CATEGORIES, LABEL_COLUMN)

# Spellings of the label accepted in CSV input; Parquet input carries a real boolean.
_LABEL_VALUES = {"true": 1, "yes": 1, "1": 1, "false": 0, "no": 0, "0": 0}


class InputError(Exception):
    """The input cannot be turned into a training set; the message is one sentence for the operator."""


def load_records(input_dir: Path) -> pd.DataFrame:
    """All records under ``input_dir``, ordered by customer_id, with only the required columns."""
    if not input_dir.is_dir():
        raise InputError(f"input directory {input_dir} does not exist")
    # Spark and Glue leave markers such as _SUCCESS next to the data; only data files are read.
    files = sorted(path for path in input_dir.rglob("*") if path.is_file() and path.suffix in {".csv", ".parquet"})
    if not files:
        raise InputError(f"no .csv or .parquet files found under {input_dir}")
    frames = [_read(path) for path in files]
    records = pd.concat(frames, ignore_index=True)
    if records.empty:
        raise InputError(f"the {len(files)} input file(s) under {input_dir} contain no rows")
    # mergesort is stable, so rows sharing an id (which curated data should not have) keep file order.
    return records.sort_values(ID_COLUMN, kind="mergesort").reset_index(drop=True)


def _read(path: Path) -> pd.DataFrame:
    try:
        if path.suffix == ".parquet":
            frame = pd.read_parquet(path)
        else:
            # Everything as text and no NA guessing: parsing and its error messages stay in this script.
            frame = pd.read_csv(path, dtype=str, keep_default_na=False)
    except (ValueError, OSError) as error:
        # pandas' EmptyDataError and ParserError and pyarrow's ArrowInvalid are all ValueErrors.
        raise InputError(f"{path.name} could not be read as {path.suffix[1:]}: {error}") from error
    missing = [column for column in REQUIRED_COLUMNS if column not in frame.columns]
    if missing:
        found = ", ".join(map(str, frame.columns)) or "none"
        raise InputError(f"{path.name} is missing required column(s) {', '.join(missing)} (found: {found})")
    return frame[list(REQUIRED_COLUMNS)]


def build_features(records: pd.DataFrame) -> tuple[pd.DataFrame, pd.Series]:
    """Numeric model inputs (all float) and the 0/1 label, row-aligned with ``records``."""
    numeric = {column: _numeric(records[column], column) for column in NUMERIC_COLUMNS}
    features = pd.DataFrame(numeric, index=records.index)
    # Customers in their first month have tenure 0; one month is the smallest meaningful denominator.
    tenure = features["tenure_months"].clip(lower=1)
    features["charges_per_tenure_month"] = features["total_charges"] / tenure
    features["support_calls_per_tenure_month"] = features["support_calls"] / tenure
    for column, values in CATEGORIES.items():
        text = records[column].astype(str).str.strip().str.lower()
        unknown = sorted(set(text) - set(values))
        if unknown:
            raise InputError(
                f"column {column} has value(s) {', '.join(map(repr, unknown[:5]))} outside the known set "
                f"({', '.join(values)}); the feature layout must be extended before training on them"
            )
        for value in values:
            features[f"{column}_{value.replace('-', '_')}"] = (text == value).astype(float)
    return features, _label(records[LABEL_COLUMN])


def _numeric(values: pd.Series, column: str) -> pd.Series:
    parsed = pd.to_numeric(values, errors="coerce")
    bad = int(parsed.isna().sum())
    if bad:
        raise InputError(
            f"column {column} has {bad} empty or non-numeric value(s), e.g. {values[parsed.isna()].iloc[0]!r}"
        )
    return parsed.astype(float)


def _label(values: pd.Series) -> pd.Series:
    if values.dtype == bool:
        return values.astype(int)
    label = values.astype(str).str.strip().str.lower().map(_LABEL_VALUES)
    bad = label.isna()
    if bad.any():
        raise InputError(
            f"column {LABEL_COLUMN} has {int(bad.sum())} value(s) that are not a yes/no flag, "
            f"e.g. {values[bad].iloc[0]!r}"
        )
    return label.astype(int)


def stratified_split(
    labels: Sequence[int], *, validation_fraction: float, test_fraction: float, seed: int
) -> dict[str, list[int]]:
    """Row positions per split ("train", "validation", "test"), each class divided in the same proportions.

    Each split takes round(fraction * class size) rows of every class and train keeps the rest; positions
    are returned in ascending order so the output files follow the input order.
    """
    if validation_fraction <= 0 or test_fraction <= 0 or validation_fraction + test_fraction >= 1:
        raise InputError(
            f"validation and test fractions must be positive and sum to less than 1, got "
            f"{validation_fraction} and {test_fraction}"
        )
    classes = sorted(set(labels))
    if len(classes) < 2:
        raise InputError(f"all {len(labels)} row(s) have the same {LABEL_COLUMN} value: a classifier needs both")
    rng = random.Random(seed)  # noqa: S311 - reproducible sampling, not a security decision
    splits: dict[str, list[int]] = {"train": [], "validation": [], "test": []}
    for value in classes:
        positions = [position for position, label in enumerate(labels) if label == value]
        rng.shuffle(positions)
        test_size = round(len(positions) * test_fraction)
        validation_size = round(len(positions) * validation_fraction)
        if min(test_size, validation_size, len(positions) - test_size - validation_size) < 1:
            raise InputError(
                f"only {len(positions)} row(s) have {LABEL_COLUMN}={value}: too few to put at least one in each "
                "of train, validation and test"
            )
        splits["test"].extend(positions[:test_size])
        splits["validation"].extend(positions[test_size : test_size + validation_size])
        splits["train"].extend(positions[test_size + validation_size :])
    return {name: sorted(positions) for name, positions in splits.items()}


def write_split(directory: Path, name: str, features: pd.DataFrame, label: pd.Series) -> int:
    """Write ``<directory>/<name>.csv`` (label first, no header, no index); return the row count."""
    directory.mkdir(parents=True, exist_ok=True)
    table = pd.concat([label.rename(LABEL_COLUMN), features], axis=1)
    table.to_csv(directory / f"{name}.csv", header=False, index=False)
    return len(table)


def write_baseline(directory: Path, features: pd.DataFrame) -> int:
    """Write ``<directory>/baseline.csv`` (features with a header row, no label, no index); return the row count.

    Model Monitor compares the endpoint's captured requests with this: the same columns in the same order,
    and the header gives its statistics and constraints the feature names.
    """
    directory.mkdir(parents=True, exist_ok=True)
    features.to_csv(directory / BASELINE_FILE, header=True, index=False)
    return len(features)


def run(args: argparse.Namespace) -> dict[str, Any]:
    """The whole step; returns what it wrote to features.json."""
    records = load_records(args.input_dir)
    features, label = build_features(records)
    positions = stratified_split(
        label.tolist(),
        validation_fraction=args.validation_fraction,
        test_fraction=args.test_fraction,
        seed=args.seed,
    )
    directories = {"train": args.train_dir, "validation": args.validation_dir, "test": args.test_dir}
    rows = {}
    positives = {}
    for name, directory in directories.items():
        chosen = positions[name]
        rows[name] = write_split(directory, name, features.iloc[chosen], label.iloc[chosen])
        positives[name] = int(label.iloc[chosen].sum())
    write_baseline(args.baseline_dir, features.iloc[positions["train"]])
    summary: dict[str, Any] = {
        "label": LABEL_COLUMN,
        "features": list(features.columns),
        "rows": rows,
        "positives": positives,
        "seed": args.seed,
    }
    args.features_dir.mkdir(parents=True, exist_ok=True)
    (args.features_dir / "features.json").write_text(json.dumps(summary, indent=2) + "\n", encoding="utf-8")
    return summary


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description="Preprocess step of the churn training pipeline.")
    parser.add_argument("--input-dir", type=Path, default=DEFAULT_INPUT_DIR)
    parser.add_argument("--train-dir", type=Path, default=DEFAULT_TRAIN_DIR)
    parser.add_argument("--validation-dir", type=Path, default=DEFAULT_VALIDATION_DIR)
    parser.add_argument("--test-dir", type=Path, default=DEFAULT_TEST_DIR)
    parser.add_argument("--features-dir", type=Path, default=DEFAULT_FEATURES_DIR)
    parser.add_argument("--baseline-dir", type=Path, default=DEFAULT_BASELINE_DIR)
    parser.add_argument("--exit-message-file", type=Path, default=DEFAULT_EXIT_MESSAGE_FILE)
    parser.add_argument("--validation-fraction", type=float, default=DEFAULT_VALIDATION_FRACTION)
    parser.add_argument("--test-fraction", type=float, default=DEFAULT_TEST_FRACTION)
    parser.add_argument("--seed", type=int, default=DEFAULT_SEED)
    return parser.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    try:
        summary = run(args)
    except InputError as error:
        message = f"preprocess failed: {error}"
        print(message, file=sys.stderr)
        _write_exit_message(args.exit_message_file, message)
        return 1
    counts = ", ".join(
        f"{name} {rows} rows ({summary['positives'][name]} churned)" for name, rows in summary["rows"].items()
    )
    print(f"preprocess wrote {counts}")
    return 0


def _write_exit_message(path: Path, message: str) -> None:
    # Only where SageMaker provides the directory; running elsewhere must not create /opt/ml.
    if path.parent.is_dir():
        path.write_text(message + "\n", encoding="utf-8")


if __name__ == "__main__":
    sys.exit(main())
