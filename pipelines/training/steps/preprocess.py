"""Preprocess step: the churn feature groups' offline store -> XGBoost-ready train / validation / test CSVs.

Runs as a SageMaker Processing job in the scikit-learn 1.2-1 container (Python 3.9, pandas, pyarrow):
self-contained on purpose, standard library plus pandas only (see ``steps/__init__.py``).

Input: ``--input-dir`` holds what the pipeline's InputDataUri prefix holds, the Feature Store offline stores of
the churn feature groups in Feature Store's own layout (Glue table format)::

    <account>/sagemaker/<region>/offline-store/<group name>-<creation epoch>/data/year=/month=/day=/hour=/*.parquet

Only the stores of ``--features-group`` and ``--labels-group`` in ``--account`` and ``--region`` are read: the
directory name must be exactly ``<group>-<digits>``, so another group under the same prefix (``<group>-v2``,
a Level 3 team's ``<prefix>-<team>-churn-features``) is never mixed in. A group deleted and created again
leaves an older store next to the new one; only the newest creation epoch is read (its schema is the group's
current one) and the summary counts the others. Columns are matched by name; Feature Store's own
``write_time``, ``api_invocation_time`` (optional) and ``is_deleted`` are used, others ignored.

The training set is built point-in-time, the semantics of ``churn_features.point_in_time_join`` (a unit test
runs both on the same generated inputs and holds them equal; this copy exists because the script cannot
import the project):

* per customer and event time, the row written last (``write_time``, then ``api_invocation_time``, then file
  order) is that record's value; a label whose last write is a DeleteRecord tombstone (``is_deleted``) is no
  label;
* each label is joined to its customer's feature record with the latest event time at or before the label's;
  a tombstone there ends the customer's history until a later write, so such a label has no features;
* a label without features is counted (features.json ``offline_store.without_features``) and left out: it is
  never joined to a later feature row, which would leak the future into training.

The model's inputs are :data:`FEATURE_COLUMNS`, the ETL's engineered features (``churn_features.MODEL_FEATURES``,
the same transformation serving reads from the online store) in that order; nothing is re-engineered here.

Output, one directory each (all CSVs have no header and the label as first column, the layout the
built-in XGBoost algorithm reads as ``text/csv``):
  --train-dir/train.csv, --validation-dir/validation.csv, --test-dir/test.csv
  --features-dir/features.json: feature names in column order, label name, rows per split, and how the
    training set was built from the offline store (labels, joined, without features, stores read)
  --baseline-dir/baseline.csv: the train split's features only, WITH a header row and without the label,
    in the model's input order (what the endpoint receives): the data-quality baseline dataset, so
    Model Monitor's statistics and constraints name each feature

The split is by customer (all of a customer's labelled rows in one split: the store keeps a label per ETL run),
stratified on each customer's latest label, and deterministic: rows are ordered by customer_id and event time
(the offline store's files arrive in no particular order) and customers shuffled per class with a seeded stdlib
RNG, whose sequence does not change between Python or library versions.

Bad input (no store, no rows, a missing column, a value that cannot be used) ends the job with exit
status 1 and one sentence on stderr, also written to /opt/ml/output/message so SageMaker shows it as the
job's ExitMessage.
"""

from __future__ import annotations

import argparse
import json
import random
import re
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

# Copies of churn_features' names (this script cannot import the project; a unit test keeps them equal).
ID_COLUMN = "customer_id"
EVENT_TIME_COLUMN = "event_time"
LABEL_COLUMN = "churned"
EVENT_TIME_FORMAT = "%Y-%m-%dT%H:%M:%SZ"
FEATURE_COLUMNS = (
    "tenure_months",
    "monthly_charges",
    "total_charges",
    "support_calls",
    "charges_per_tenure_month",
    "support_calls_per_tenure_month",
    "contract_month_to_month",
    "contract_one_year",
    "contract_two_year",
    "payment_method_electronic_check",
    "payment_method_mailed_check",
    "payment_method_bank_transfer",
    "payment_method_credit_card",
)
# Columns Feature Store adds to every offline-store row.
WRITE_TIME = "write_time"
API_INVOCATION_TIME = "api_invocation_time"
IS_DELETED = "is_deleted"
_STORE_COLUMNS = (WRITE_TIME, IS_DELETED)
_KEYS = (ID_COLUMN, EVENT_TIME_COLUMN)
# Account ids are 12 digits; a region is lower-case letters, digits and hyphens.
_ACCOUNT = re.compile(r"[0-9]{12}")
_REGION = re.compile(r"[a-z]{2}(-[a-z0-9]+)+")
_ORDER = "_file_order"

# Spellings of a label and of is_deleted accepted from text columns; Parquet carries real integers and booleans.
_LABEL_VALUES = {"true": 1, "yes": 1, "1": 1, "false": 0, "no": 0, "0": 0}
_FLAG_VALUES = {"true": True, "false": False}


class InputError(Exception):
    """The input cannot be turned into a training set; the message is one sentence for the operator."""


def store_files(input_dir: Path, group: str, *, account: str, region: str) -> tuple[list[Path], int]:
    """The Parquet files of ``group``'s newest offline store under ``input_dir``, and how many older stores exist.

    Only ``<account>/sagemaker/<region>/offline-store/<group>-<digits>/data/**.parquet`` counts.
    """
    if not input_dir.is_dir():
        raise InputError(f"input directory {input_dir} does not exist")
    base = input_dir / account / "sagemaker" / region / "offline-store"
    stores: dict[int, Path] = {}
    pattern = re.compile(re.escape(group) + r"-([0-9]+)")
    if base.is_dir():
        for child in base.iterdir():
            match = pattern.fullmatch(child.name)
            if match and child.is_dir():
                stores[int(match.group(1))] = child
    if not stores:
        raise InputError(
            f"no offline store of feature group {group} under {input_dir} (expected {account}/sagemaker/{region}/"
            f"offline-store/{group}-<creation time>/data/): has the ETL job written the group, and has Feature Store "
            "flushed it to S3 (up to 15 minutes after PutRecord)?"
        )
    newest = stores[max(stores)]
    files = sorted(path for path in (newest / "data").rglob("*.parquet") if path.is_file())
    if not files:
        raise InputError(f"the offline store {newest.name} of feature group {group} holds no .parquet files yet")
    return files, len(stores) - 1


def read_store(files: Sequence[Path], group: str, columns: Sequence[str]) -> pd.DataFrame:
    """Every row of ``files`` with ``columns`` (plus ``api_invocation_time`` where present) and the file order."""
    frames = []
    optional = [API_INVOCATION_TIME]
    for path in files:
        try:
            frame = pd.read_parquet(path)
        except (ValueError, OSError) as error:
            # pyarrow's ArrowInvalid is a ValueError; a truncated or non-Parquet file lands here.
            raise InputError(f"{path.name} of feature group {group} could not be read as Parquet: {error}") from error
        missing = [column for column in columns if column not in frame.columns]
        if missing:
            found = ", ".join(map(str, frame.columns)) or "none"
            raise InputError(
                f"{path.name} of feature group {group} is missing column(s) {', '.join(missing)} (found: {found})"
            )
        frames.append(frame[[*columns, *(c for c in optional if c in frame.columns)]])
    rows = pd.concat(frames, ignore_index=True, sort=False)
    # Files are in path order and rows in file order: the last tie-breaker, as input order is churn_features'.
    rows[_ORDER] = range(len(rows))
    if rows.empty:
        raise InputError(f"the {len(files)} offline-store file(s) of feature group {group} contain no rows")
    if API_INVOCATION_TIME not in rows.columns:
        rows[API_INVOCATION_TIME] = pd.NaT
    return rows


def _times(values: pd.Series, column: str, group: str, *, text_format: str | None) -> pd.Series:
    """``values`` as UTC timestamps; an empty or unparseable value is an InputError naming it."""
    if text_format is not None:
        # The event time is a String feature: exactly the format the groups store, nothing looser.
        text = values.map(lambda value: value if isinstance(value, str) else None)
        parsed = pd.to_datetime(text, format=text_format, utc=True, errors="coerce")
    else:
        parsed = pd.to_datetime(values, utc=True, errors="coerce")
    bad = parsed.isna()
    if bad.any():
        raise InputError(
            f"column {column} of feature group {group} has {int(bad.sum())} empty or unparseable value(s), "
            f"e.g. {_shown(values[bad].iloc[0])}"
            + (" (expected YYYY-MM-DDTHH:MM:SSZ)" if text_format is not None else "")
        )
    return parsed.astype("datetime64[ns, UTC]")


def _shown(value: Any) -> str:
    """``repr`` of a cell as the operator wrote it: numpy scalars as the Python value they hold."""
    item = getattr(value, "item", None)
    return repr(item() if callable(item) and not isinstance(value, (str, bytes)) else value)


def _flags(values: pd.Series, group: str) -> pd.Series:
    def flag(value: Any) -> bool | None:
        if isinstance(value, str):
            return _FLAG_VALUES.get(value.strip().lower())
        if type(value).__name__ in ("bool", "bool_"):
            return bool(value)
        return None

    parsed = values.map(flag)
    bad = parsed.isna()
    if bad.any():
        raise InputError(
            f"column {IS_DELETED} of feature group {group} has {int(bad.sum())} value(s) that are not true/false, "
            f"e.g. {_shown(values[bad].iloc[0])}"
        )
    return parsed.astype(bool)


def _identifiers(values: pd.Series, group: str) -> pd.Series:
    bad = values.map(lambda value: not isinstance(value, str) or not value)
    if bad.any():
        raise InputError(
            f"column {ID_COLUMN} of feature group {group} has {int(bad.sum())} value(s) that are not a non-empty "
            f"string, e.g. {_shown(values[bad].iloc[0])}"
        )
    return values.astype(object)


def latest_writes(rows: pd.DataFrame, group: str) -> pd.DataFrame:
    """One row per (customer, event time): the one written last; typed keys and flags, ordered by the keys."""
    table = rows.copy()
    table[ID_COLUMN] = _identifiers(table[ID_COLUMN], group)
    # One unit for every time column, whatever unit each file's Parquet or the parser chose.
    table["_event"] = _times(table[EVENT_TIME_COLUMN], EVENT_TIME_COLUMN, group, text_format=EVENT_TIME_FORMAT)
    table["_written"] = _times(table[WRITE_TIME], WRITE_TIME, group, text_format=None)
    invoked = pd.to_datetime(table[API_INVOCATION_TIME], utc=True, errors="coerce")
    # A missing invocation time sorts first, like churn_features' missing values.
    table["_invoked"] = invoked.astype("datetime64[ns, UTC]").fillna(pd.Timestamp.min.tz_localize("UTC"))
    table["_deleted"] = _flags(table[IS_DELETED], group)
    table = table.sort_values([ID_COLUMN, "_event", "_written", "_invoked", _ORDER], kind="mergesort")
    return table.drop_duplicates([ID_COLUMN, "_event"], keep="last").reset_index(drop=True)


def point_in_time(labels: pd.DataFrame, features: pd.DataFrame) -> tuple[pd.DataFrame, int]:
    """The labelled rows joined to their features as of each label's event time, and the labels without features.

    ``labels`` and ``features`` are what :func:`latest_writes` returns. The result has customer_id, event_time,
    the 0/1 label and :data:`FEATURE_COLUMNS`, ordered by customer and event time.
    """
    live = labels[~labels["_deleted"]]
    left = live[[ID_COLUMN, "_event", EVENT_TIME_COLUMN, LABEL_COLUMN]].sort_values("_event", kind="mergesort")
    right = features[[ID_COLUMN, "_event", "_deleted", *FEATURE_COLUMNS]].rename(columns={"_deleted": "_gone"})
    right = right.sort_values("_event", kind="mergesort")
    # Backward as-of join: for each label, the customer's feature record with the latest event time <= the label's.
    joined = pd.merge_asof(left, right, on="_event", by=ID_COLUMN, direction="backward", allow_exact_matches=True)
    # Unmatched labels get NaN; a matched tombstone True: both mean no features at the label's time.
    has_features = joined["_gone"].eq(False)
    kept = joined[has_features].sort_values([ID_COLUMN, "_event"], kind="mergesort").reset_index(drop=True)
    return kept[[ID_COLUMN, EVENT_TIME_COLUMN, LABEL_COLUMN, *FEATURE_COLUMNS]], int((~has_features).sum())


def model_inputs(training: pd.DataFrame) -> tuple[pd.DataFrame, pd.Series]:
    """The numeric model inputs (all float, in :data:`FEATURE_COLUMNS` order) and the 0/1 label."""
    features = pd.DataFrame(
        {column: _numeric(training[column], column) for column in FEATURE_COLUMNS}, index=training.index
    )
    return features, _label(training[LABEL_COLUMN])


def _numeric(values: pd.Series, column: str) -> pd.Series:
    def number(value: Any) -> float | None:
        if isinstance(value, bool) or type(value).__name__ == "bool_":
            return None
        try:
            parsed = float(value)
        except (TypeError, ValueError):
            return None
        # NaN and infinities are not usable inputs (and NaN != NaN).
        return parsed if parsed == parsed and abs(parsed) != float("inf") else None

    parsed = values.map(number)
    bad = parsed.isna()
    if bad.any():
        raise InputError(
            f"feature {column} has {int(bad.sum())} empty, non-numeric or non-finite value(s) in the joined training "
            f"set, e.g. {_shown(values[bad].iloc[0])}"
        )
    return parsed.astype(float)


def _label(values: pd.Series) -> pd.Series:
    def label(value: Any) -> int | None:
        if isinstance(value, str):
            return _LABEL_VALUES.get(value.strip().lower())
        if type(value).__name__ in ("bool", "bool_"):
            return int(value)
        try:
            number = float(value)
        except (TypeError, ValueError):
            return None
        return int(number) if number in (0.0, 1.0) else None

    label_values = values.map(label)
    bad = label_values.isna()
    if bad.any():
        raise InputError(
            f"column {LABEL_COLUMN} has {int(bad.sum())} value(s) that are not a 0/1 (yes/no) flag, "
            f"e.g. {_shown(values[bad].iloc[0])}"
        )
    return label_values.astype(int)


def load_training_set(args: argparse.Namespace) -> tuple[pd.DataFrame, dict[str, Any]]:
    """The point-in-time training set from the offline store, and the account of how it was built."""
    for name in ("features_group", "labels_group", "account", "region"):
        if not getattr(args, name):
            raise InputError(f"--{name.replace('_', '-')} is required (the pipeline definition passes it)")
    if not _ACCOUNT.fullmatch(args.account):
        raise InputError(f"--account must be a 12-digit AWS account id, got {args.account!r}")
    if not _REGION.fullmatch(args.region):
        raise InputError(f"--region must be an AWS region name such as eu-west-1, got {args.region!r}")
    if args.features_group == args.labels_group:
        raise InputError(f"--features-group and --labels-group are both {args.features_group!r}")
    where = {"account": args.account, "region": args.region}
    feature_files, older_features = store_files(args.input_dir, args.features_group, **where)
    label_files, older_labels = store_files(args.input_dir, args.labels_group, **where)
    features = latest_writes(
        read_store(feature_files, args.features_group, [*_KEYS, *FEATURE_COLUMNS, *_STORE_COLUMNS]),
        args.features_group,
    )
    labels = latest_writes(
        read_store(label_files, args.labels_group, [*_KEYS, LABEL_COLUMN, *_STORE_COLUMNS]), args.labels_group
    )
    label_count = int((~labels["_deleted"]).sum())
    if not label_count:
        raise InputError(f"every record of feature group {args.labels_group} is deleted: there are no labels")
    training, without = point_in_time(labels, features)
    if training.empty:
        raise InputError(
            f"none of the {label_count} label(s) in {args.labels_group} has a feature record in "
            f"{args.features_group} at or before its event time"
        )
    account = {
        "features_group": args.features_group,
        "labels_group": args.labels_group,
        "feature_files": len(feature_files),
        "label_files": len(label_files),
        "older_stores_ignored": older_features + older_labels,
        "labels": label_count,
        "joined": len(training),
        "customers": int(training[ID_COLUMN].nunique()),
        "without_features": without,
    }
    return training, account


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


def customer_split(
    customers: Sequence[str], labels: Sequence[int], *, validation_fraction: float, test_fraction: float, seed: int
) -> dict[str, list[int]]:
    """Row positions per split with all of a customer's rows in one split.

    The offline store keeps history, so a customer has a label per ETL run; splitting rows would put the same
    customer in train and test and flatter the test metrics. Customers are split as :func:`stratified_split`
    splits rows, each by its latest label (``rows`` are ordered by customer, then event time); with one row per
    customer this is exactly the row split.
    """
    order: list[str] = []
    latest: dict[str, int] = {}
    if len(customers) != len(labels):
        raise InputError(f"{len(customers)} customer id(s) for {len(labels)} label(s)")
    # No zip(strict=...): the container runs Python 3.9.
    for position, customer in enumerate(customers):
        if customer not in latest:
            order.append(customer)
        latest[customer] = labels[position]
    by_customer = stratified_split(
        [latest[customer] for customer in order],
        validation_fraction=validation_fraction,
        test_fraction=test_fraction,
        seed=seed,
    )
    split_of = {order[position]: name for name, positions in by_customer.items() for position in positions}
    return {name: [row for row, customer in enumerate(customers) if split_of[customer] == name] for name in by_customer}


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
    training, offline_store = load_training_set(args)
    features, label = model_inputs(training)
    positions = customer_split(
        training[ID_COLUMN].tolist(),
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
        "offline_store": offline_store,
    }
    args.features_dir.mkdir(parents=True, exist_ok=True)
    (args.features_dir / "features.json").write_text(json.dumps(summary, indent=2) + "\n", encoding="utf-8")
    return summary


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description="Preprocess step of the churn training pipeline.")
    parser.add_argument("--input-dir", type=Path, default=DEFAULT_INPUT_DIR)
    parser.add_argument("--features-group", default=None, help="feature group of the model features")
    parser.add_argument("--labels-group", default=None, help="feature group of the churn labels")
    parser.add_argument("--account", default=None, help="account id in the offline-store layout")
    parser.add_argument("--region", default=None, help="region in the offline-store layout")
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
        # One line: SageMaker shows the message file as the job's ExitMessage.
        message = " ".join(f"preprocess failed: {error}".split())
        print(message, file=sys.stderr)
        _write_exit_message(args.exit_message_file, message)
        return 1
    store = summary["offline_store"]
    counts = ", ".join(
        f"{name} {rows} rows ({summary['positives'][name]} churned)" for name, rows in summary["rows"].items()
    )
    print(
        f"preprocess built the training set from the offline store: {store['joined']} labels joined point-in-time, "
        f"{store['without_features']} without features; wrote {counts}"
    )
    return 0


def _write_exit_message(path: Path, message: str) -> None:
    # Only where SageMaker provides the directory; running elsewhere must not create /opt/ml.
    if path.parent.is_dir():
        path.write_text(message + "\n", encoding="utf-8")


if __name__ == "__main__":
    sys.exit(main())
