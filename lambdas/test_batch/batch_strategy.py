"""Batch test strategy: score a labelled test set through the endpoint and grade it against thresholds.

Plain logic: boto3 clients and the configuration are passed in, a report dict comes out. The run

1. reads the test data from TEST_DATA_URI (and the labels from LABELS_URI when set), in one of these shapes:
   * CSV with a header naming the 13 feature columns (any order, extra columns ignored) and ``churned``;
   * the same without ``churned`` plus a labels file (one label per line, optional ``churned`` header);
   * header-less, the label first and the 13 features in model order (the training pipeline's test split);
   * header-less, only the 13 features, plus a labels file;
   labels may be 0/1, true/false or yes/no;
2. invokes the endpoint with ``text/csv`` batches of BATCH_SIZE rows and times each call;
3. computes AUC, accuracy, precision, recall and the confusion matrix, and passes when AUC >= MIN_AUC (and
   accuracy >= MIN_ACCURACY when set);
4. writes ``<REPORT_URI>/<run_id>/predictions.csv`` and ``<REPORT_URI>/<run_id>/report.json``.

A missed threshold, unusable test data or a failing endpoint all produce a report with ``passed: false`` and
the reasons; only a misconfiguration or a failure to write the report raises. The caller (a pipeline test
stage) decides what a failed report means.

No pandas or numpy: the Lambda ships only the standard library, boto3 and Powertools, so AUC is computed
here with the rank-sum formula.
"""

from __future__ import annotations

import csv
import io
import json
import math
import re
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from botocore.exceptions import ClientError
from common.settings import EnvSettings
from common.xgboost_csv import EndpointError, invoke, parse_predictions

# boto3 ships no type stubs in the Lambda runtime or this project's dependencies; clients are typed Any.
Client = Any

# The model's input columns, in the order the training pipeline's preprocess step writes them
# (pipelines/training/steps/preprocess.py; a unit test keeps the two equal).
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
LABEL_COLUMN = "churned"
_LABEL_VALUES = {"1": 1, "0": 0, "1.0": 1, "0.0": 0, "true": 1, "false": 0, "yes": 1, "no": 0}
_RUN_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,127}")
_S3_URI = re.compile(r"s3://([^/]+)/(.+)")


class ConfigError(ValueError):
    """The function's environment is incomplete or invalid; the message names the variable."""


class DataError(ValueError):
    """The test data cannot be used; the message is one sentence for the report."""


@dataclass(frozen=True)
class Config:
    endpoint_name: str
    test_data_uri: str
    report_uri: str
    min_auc: float
    labels_uri: str | None = None
    min_accuracy: float | None = None
    decision_threshold: float = 0.5
    batch_size: int = 100
    max_rows: int = 100_000
    kms_key_id: str | None = None

    @classmethod
    def from_env(cls, env: Mapping[str, str]) -> Config:
        """Read and validate the configuration; see the handler's docstring for each variable."""
        settings = EnvSettings(env, error=ConfigError)
        test_data_uri = settings.required("TEST_DATA_URI")
        settings.s3_uri("TEST_DATA_URI", key_required=True)
        report_uri = settings.required("REPORT_URI").rstrip("/")
        settings.s3_uri("REPORT_URI")
        labels_uri = settings.optional("LABELS_URI")
        settings.optional_s3_uri("LABELS_URI", key_required=True)
        return cls(
            endpoint_name=settings.required("ENDPOINT_NAME"),
            test_data_uri=test_data_uri,
            report_uri=report_uri,
            # Same default as the training pipeline's quality gate.
            min_auc=settings.number("MIN_AUC", 0.75, low=0, high=1),
            labels_uri=labels_uri,
            min_accuracy=settings.number("MIN_ACCURACY", 0.0, low=0, high=1) if settings.raw("MIN_ACCURACY") else None,
            decision_threshold=settings.number("DECISION_THRESHOLD", 0.5, low=0, high=1),
            # A real-time endpoint accepts up to 6 MB per request (serverless 4 MB); 13 numbers a row stay
            # far below that even at the maximum.
            batch_size=settings.integer("BATCH_SIZE", 100, low=1, high=5000),
            max_rows=settings.integer("MAX_ROWS", 100_000, low=1, high=10_000_000),
            kms_key_id=settings.optional("KMS_KEY_ID"),
        )


def _split_s3_uri(uri: str, what: str, error: type[Exception]) -> tuple[str, str]:
    match = _S3_URI.fullmatch(uri)
    if not match:
        raise error(f"{what} {uri!r} is not an s3://bucket/key URI")
    return match.group(1), match.group(2)


# --- test data -------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class LabelledData:
    features: list[list[float]]
    labels: list[int]


def parse_test_data(text: str, labels_text: str | None = None, *, max_rows: int = 100_000) -> LabelledData:
    """Features in model order and 0/1 labels from CSV text; ``labels_text`` overrides an in-file label."""
    rows = [row for row in csv.reader(io.StringIO(text)) if any(cell.strip() for cell in row)]
    if not rows:
        raise DataError("test data is empty")
    first_row_numeric = all(_is_float(cell) for cell in rows[0])
    if first_row_numeric:
        feature_index, label_index, body, first_line = _headerless_layout(rows, labels_text is not None)
    else:
        feature_index, label_index, body, first_line = _header_layout(rows, labels_text is not None)
    if not body:
        raise DataError("test data has a header but no rows")
    if len(body) > max_rows:
        raise DataError(f"test data has {len(body)} rows, more than MAX_ROWS ({max_rows})")

    width = len(rows[0])
    features: list[list[float]] = []
    labels: list[int] = []
    for line, row in enumerate(body, start=first_line):
        if len(row) != width:
            raise DataError(f"line {line} has {len(row)} fields, expected {width}")
        features.append([_feature(row[index], line, FEATURE_COLUMNS[n]) for n, index in enumerate(feature_index)])
        if label_index is not None:
            labels.append(_label(row[label_index], f"line {line}"))
    if labels_text is not None:
        labels = parse_labels(labels_text)
        if len(labels) != len(features):
            raise DataError(f"the labels file has {len(labels)} labels for {len(features)} test rows")
    return LabelledData(features=features, labels=labels)


def _header_layout(rows: list[list[str]], external_labels: bool) -> tuple[list[int], int | None, list[list[str]], int]:
    names = [cell.strip() for cell in rows[0]]
    duplicates = sorted({name for name in names if names.count(name) > 1})
    if duplicates:
        raise DataError(f"test data header repeats column(s) {', '.join(duplicates)}")
    missing = [name for name in FEATURE_COLUMNS if name not in names]
    if missing:
        raise DataError(f"test data is missing column(s) {', '.join(missing)} (found: {', '.join(names)})")
    label_index = None
    if not external_labels:
        if LABEL_COLUMN not in names:
            raise DataError(f"test data has no {LABEL_COLUMN!r} column and LABELS_URI is not set")
        label_index = names.index(LABEL_COLUMN)
    return [names.index(name) for name in FEATURE_COLUMNS], label_index, rows[1:], 2


def _headerless_layout(
    rows: list[list[str]], external_labels: bool
) -> tuple[list[int], int | None, list[list[str]], int]:
    width, features = len(rows[0]), len(FEATURE_COLUMNS)
    if width == features + 1 and not external_labels:
        # The training pipeline's split layout: label first, then the features in model order.
        return list(range(1, width)), 0, rows, 1
    if width == features and external_labels:
        return list(range(width)), None, rows, 1
    expected = (
        f"{features} feature columns"
        if external_labels
        else f"{features + 1} columns (the label, then {features} features)"
    )
    raise DataError(f"test data has no header and {width} columns; expected {expected}")


def parse_labels(text: str) -> list[int]:
    """One label per line; a first line ``churned`` is a header."""
    lines = [line.strip().split(",")[0].strip() for line in text.splitlines() if line.strip()]
    if lines and lines[0].lower() == LABEL_COLUMN:
        lines = lines[1:]
    if not lines:
        raise DataError("the labels file is empty")
    return [_label(value, f"labels line {number}") for number, value in enumerate(lines, start=1)]


def _feature(text: str, line: int, column: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise DataError(f"line {line}, column {column}: {text.strip()!r} is not a number") from None
    if not math.isfinite(value):
        raise DataError(f"line {line}, column {column}: {text.strip()!r} is not a finite number")
    return value


def _label(text: str, where: str) -> int:
    value = _LABEL_VALUES.get(text.strip().lower())
    if value is None:
        raise DataError(f"{where}: label {text.strip()!r} is not 0/1, true/false or yes/no")
    return value


def _is_float(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True


# --- endpoint --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Scores:
    probabilities: list[float]
    latencies_ms: list[float]


def score(
    runtime: Client,
    endpoint_name: str,
    features: Sequence[Sequence[float]],
    *,
    batch_size: int,
    clock: Callable[[], float] = time.perf_counter,
) -> Scores:
    """Invoke the endpoint batch by batch; each call's latency includes reading the response body."""
    probabilities: list[float] = []
    latencies: list[float] = []
    for start in range(0, len(features), batch_size):
        chunk = features[start : start + batch_size]
        payload, latency_ms = invoke(
            runtime,
            endpoint_name,
            chunk,
            failure=f"invoking {endpoint_name} for rows {start + 1}-{start + len(chunk)}",
            clock=clock,
        )
        latencies.append(latency_ms)
        probabilities.extend(parse_predictions(payload, len(chunk)))
    return Scores(probabilities=probabilities, latencies_ms=latencies)


# --- grading ---------------------------------------------------------------------------------------------


def roc_auc(labels: Sequence[int], scores: Sequence[float]) -> float | None:
    """Area under the ROC curve (Mann-Whitney U with average ranks for ties); None with a single class."""
    positives = sum(labels)
    negatives = len(labels) - positives
    if positives == 0 or negatives == 0:
        return None
    order = sorted(range(len(scores)), key=scores.__getitem__)
    ranks = [0.0] * len(scores)
    start = 0
    while start < len(order):
        end = start
        while end + 1 < len(order) and scores[order[end + 1]] == scores[order[start]]:
            end += 1
        for position in range(start, end + 1):
            ranks[order[position]] = (start + end) / 2 + 1  # 1-based average rank of the tie group
        start = end + 1
    positive_rank_sum = sum(rank for rank, label in zip(ranks, labels, strict=True) if label == 1)
    return (positive_rank_sum - positives * (positives + 1) / 2) / (positives * negatives)


def grade(labels: Sequence[int], scores: Sequence[float], *, threshold: float) -> dict[str, Any]:
    """The evaluate step's metrics, computed on what the endpoint returned."""
    predicted = [1 if value >= threshold else 0 for value in scores]
    pairs = list(zip(labels, predicted, strict=True))
    tp = sum(1 for actual, guess in pairs if actual == 1 and guess == 1)
    tn = sum(1 for actual, guess in pairs if actual == 0 and guess == 0)
    fp = sum(1 for actual, guess in pairs if actual == 0 and guess == 1)
    fn = sum(1 for actual, guess in pairs if actual == 1 and guess == 0)
    return {
        "auc": roc_auc(labels, scores),
        "accuracy": (tp + tn) / len(pairs),
        "precision": tp / (tp + fp) if tp + fp else 0.0,
        "recall": tp / (tp + fn) if tp + fn else 0.0,
        "confusion_matrix": {"0": {"0": tn, "1": fp}, "1": {"0": fn, "1": tp}},
        "decision_threshold": threshold,
    }


def latency_summary(latencies_ms: Sequence[float]) -> dict[str, Any]:
    """Per-call latency in milliseconds: nearest-rank percentiles, enough for a pass/fail report."""
    if not latencies_ms:
        return {"calls": 0}
    ordered = sorted(latencies_ms)

    def percentile(p: float) -> float:
        return round(ordered[max(0, math.ceil(p / 100 * len(ordered)) - 1)], 3)

    return {
        "calls": len(ordered),
        "min": round(ordered[0], 3),
        "mean": round(sum(ordered) / len(ordered), 3),
        "p50": percentile(50),
        "p90": percentile(90),
        "p99": percentile(99),
        "max": round(ordered[-1], 3),
    }


def failure_reasons(metrics: Mapping[str, Any], config: Config, rows: int) -> list[str]:
    reasons = []
    auc = metrics["auc"]
    if auc is None:
        reasons.append(f"auc undefined: all {rows} test labels belong to one class")
    elif auc < config.min_auc:
        reasons.append(f"auc {auc:.4f} is below MIN_AUC {config.min_auc:.4f}")
    if config.min_accuracy is not None and metrics["accuracy"] < config.min_accuracy:
        reasons.append(f"accuracy {metrics['accuracy']:.4f} is below MIN_ACCURACY {config.min_accuracy:.4f}")
    return reasons


# --- the run ---------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Clients:
    s3: Client
    runtime: Client


def valid_run_id(run_id: str) -> bool:
    """Run ids become S3 key segments, so they are restricted to a safe alphabet."""
    return bool(_RUN_ID.fullmatch(run_id))


def run(
    clients: Clients, config: Config, *, run_id: str, clock: Callable[[], float] = time.perf_counter
) -> dict[str, Any]:
    """Score the test set, write predictions and report to S3, and return the report."""
    if not valid_run_id(run_id):
        raise ValueError(f"run id {run_id!r} must be 1-128 characters of letters, digits, '.', '_' or '-'")
    prefix = f"{config.report_uri}/{run_id}"
    report: dict[str, Any] = {
        "run_id": run_id,
        "endpoint": config.endpoint_name,
        "test_data_uri": config.test_data_uri,
        "labels_uri": config.labels_uri,
        "thresholds": {"min_auc": config.min_auc, "min_accuracy": config.min_accuracy},
        "report_uri": f"{prefix}/report.json",
        "predictions_uri": None,
        "metrics": None,
        "rows": None,
        "latency_ms": None,
    }
    try:
        data = load(clients.s3, config)
        scores = score(clients.runtime, config.endpoint_name, data.features, batch_size=config.batch_size, clock=clock)
    except (DataError, EndpointError) as error:
        report.update(passed=False, status="error", reasons=[str(error)])
        _put(clients.s3, report["report_uri"], json.dumps(report, indent=2).encode(), "application/json", config)
        return report

    metrics = grade(data.labels, scores.probabilities, threshold=config.decision_threshold)
    reasons = failure_reasons(metrics, config, len(data.labels))
    positives = sum(data.labels)
    report.update(
        passed=not reasons,
        status="passed" if not reasons else "failed",
        reasons=reasons,
        metrics=metrics,
        rows={"total": len(data.labels), "positives": positives, "negatives": len(data.labels) - positives},
        latency_ms=latency_summary(scores.latencies_ms),
        predictions_uri=f"{prefix}/predictions.csv",
    )
    _put(
        clients.s3,
        report["predictions_uri"],
        predictions_csv(data.labels, scores.probabilities, config),
        "text/csv",
        config,
    )
    _put(clients.s3, report["report_uri"], json.dumps(report, indent=2).encode(), "application/json", config)
    return report


def load(s3: Client, config: Config) -> LabelledData:
    text = _read_text(s3, config.test_data_uri, "test data")
    labels = _read_text(s3, config.labels_uri, "labels") if config.labels_uri else None
    return parse_test_data(text, labels, max_rows=config.max_rows)


def predictions_csv(labels: Sequence[int], probabilities: Sequence[float], config: Config) -> bytes:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(["row", LABEL_COLUMN, "probability", "predicted"])
    for number, (label, probability) in enumerate(zip(labels, probabilities, strict=True), start=1):
        writer.writerow([number, label, repr(probability), int(probability >= config.decision_threshold)])
    return out.getvalue().encode()


def _read_text(s3: Client, uri: str, what: str) -> str:
    bucket, key = _split_s3_uri(uri, what, DataError)
    try:
        body: bytes = s3.get_object(Bucket=bucket, Key=key)["Body"].read()
    except ClientError as error:
        code = error.response.get("Error", {}).get("Code", "")
        if code in {"NoSuchKey", "NoSuchBucket", "404"}:
            raise DataError(f"{what} {uri} does not exist") from error
        raise
    try:
        # utf-8-sig drops the byte-order mark spreadsheet exports put in front of the header.
        return body.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise DataError(f"{what} {uri} is not UTF-8 text") from None


def _put(s3: Client, uri: str, body: bytes, content_type: str, config: Config) -> None:
    bucket, key = _split_s3_uri(uri, "report", ValueError)
    extra = {"ServerSideEncryption": "aws:kms", "SSEKMSKeyId": config.kms_key_id} if config.kms_key_id else {}
    s3.put_object(Bucket=bucket, Key=key, Body=body, ContentType=content_type, **extra)
