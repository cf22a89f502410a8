"""Batch test strategy (lambdas/test_batch): parsing, grading and the S3 report.

S3 is moto. The endpoint is a fake sagemaker-runtime client that scores each CSV row with a fixed formula:
moto's invoke_endpoint returns the same canned body ("body") whatever the input, which cannot produce
one probability per row; one test uses exactly that canned answer to cover a misbehaving endpoint, and a
botocore Stubber test checks the request against the sagemaker-runtime service model.
"""

from __future__ import annotations

import dataclasses
import io
import json
import math
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import boto3
import pytest
from botocore.exceptions import ClientError
from botocore.response import StreamingBody
from botocore.stub import Stubber
from moto import mock_aws

from tests.unit.lambdas_path import cached_handler, use

use("test_batch")
import batch_strategy  # noqa: E402 - importable only once its Lambda folder is on sys.path

REGION = "us-east-1"
BUCKET = "mlops-preprod-tests"
ENDPOINT = "mlops-preprod-churn"
FEATURES = batch_strategy.FEATURE_COLUMNS
ENV = {
    "ENDPOINT_NAME": ENDPOINT,
    "TEST_DATA_URI": f"s3://{BUCKET}/test/test.csv",
    "REPORT_URI": f"s3://{BUCKET}/reports/",
    "MIN_AUC": "0.8",
    "BATCH_SIZE": "10",
}
_S3 = boto3.client("s3", region_name=REGION)  # created once: moto intercepts it inside each test's mock


def churn_probability(row: list[float]) -> float:
    """The fake model: more support calls per month of tenure, more churn."""
    return 1 / (1 + math.exp(-(row[5] * 4 - 1)))


class FakeRuntime:
    """sagemaker-runtime's invoke_endpoint, scoring text/csv rows with ``churn_probability``."""

    def __init__(self, *, fail_with: str | None = None, answer: Callable[[str], str] | None = None) -> None:
        self.calls: list[dict[str, Any]] = []
        self.fail_with = fail_with
        self.answer = answer

    def invoke_endpoint(self, **request: Any) -> dict[str, Any]:
        self.calls.append(request)
        if self.fail_with:
            error = {"Error": {"Code": self.fail_with, "Message": "Received server error (500) from primary"}}
            raise ClientError(error, "InvokeEndpoint")
        text = request["Body"].decode()
        if self.answer:
            payload = self.answer(text).encode()
        else:
            rows = [[float(cell) for cell in line.split(",")] for line in text.splitlines()]
            payload = "".join(f"{churn_probability(row)}\n" for row in rows).encode()
        return {"Body": StreamingBody(io.BytesIO(payload), len(payload)), "ContentType": "text/csv"}


def make_rows(count: int) -> tuple[list[list[float]], list[int]]:
    """Rows whose label mostly agrees with the fake model, with a few deliberate misses."""
    rows, labels = [], []
    for n in range(count):
        calls_per_month = (n % 10) / 10
        row = [12.0, 50.0, 600.0, calls_per_month * 12, 50.0, calls_per_month, 1, 0, 0, 1, 0, 0, 0]
        rows.append([float(value) for value in row])
        labels.append(int(calls_per_month >= 0.5) if n % 7 else int(calls_per_month < 0.5))
    return rows, labels


def header_csv(rows: list[list[float]], labels: list[int], *, columns: tuple[str, ...] = FEATURES) -> str:
    """A CSV with a header; ``columns`` may reorder the features, and a label and an id column are added."""
    lines = [",".join(["customer_id", *reversed(columns), "churned"])]
    for n, (row, label) in enumerate(zip(rows, labels, strict=True)):
        by_name = dict(zip(FEATURES, row, strict=True))
        lines.append(
            ",".join([f"c{n}", *(repr(by_name[name]) for name in reversed(columns)), "yes" if label else "no"])
        )
    return "\n".join(lines) + "\n"


@dataclass
class Ticks:
    """A clock that advances 2.5 ms per reading, so every endpoint call measures exactly 2.5 ms."""

    now: float = 0.0

    def __call__(self) -> float:
        self.now += 0.0025
        return self.now


@pytest.fixture
def s3() -> Iterator[Any]:
    with mock_aws():
        _S3.create_bucket(Bucket=BUCKET)
        yield _S3


def read_json(s3: Any, key: str) -> Any:
    return json.loads(s3.get_object(Bucket=BUCKET, Key=key)["Body"].read())


def config(**env: str) -> batch_strategy.Config:
    return batch_strategy.Config.from_env({**ENV, **env})


# --- configuration ---------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("env", "message"),
    [
        ({"ENDPOINT_NAME": ""}, "ENDPOINT_NAME must be set"),
        ({"TEST_DATA_URI": "test.csv"}, "TEST_DATA_URI must be an s3://bucket/key URI, got 'test.csv'"),
        ({"TEST_DATA_URI": "s3://bucket/"}, "TEST_DATA_URI must be an s3://bucket/key URI"),
        ({"REPORT_URI": "reports"}, "REPORT_URI must be an s3://bucket/prefix URI, got 'reports'"),
        ({"LABELS_URI": "labels.csv"}, "LABELS_URI must be an s3://bucket/key URI"),
        ({"MIN_AUC": "nan"}, "MIN_AUC must be between 0 and 1"),
        ({"MAX_ROWS": "1e6"}, "MAX_ROWS must be an integer"),
        ({"MIN_AUC": "80"}, "MIN_AUC must be between 0 and 1, got '80'"),
        ({"BATCH_SIZE": "0"}, "BATCH_SIZE must be between 1 and 5000"),
    ],
)
def test_config_errors_name_the_variable(env: dict[str, str], message: str) -> None:
    with pytest.raises(batch_strategy.ConfigError, match=message):
        config(**env)


def test_config_defaults() -> None:
    loaded = batch_strategy.Config.from_env({k: v for k, v in ENV.items() if k not in ("MIN_AUC", "BATCH_SIZE")})
    assert (loaded.min_auc, loaded.batch_size, loaded.report_uri) == (0.75, 100, f"s3://{BUCKET}/reports")


# --- parsing ---------------------------------------------------------------------------------------------


def test_header_columns_are_matched_by_name_and_put_in_model_order() -> None:
    rows, labels = make_rows(4)
    shuffled = FEATURES[5:] + FEATURES[:5]
    data = batch_strategy.parse_test_data(header_csv(rows, labels, columns=shuffled))
    assert data.features == rows
    assert data.labels == labels


def test_features_only_csv_with_a_labels_file() -> None:
    rows, labels = make_rows(3)
    features_only = "\n".join([",".join(FEATURES), *(",".join(map(repr, row)) for row in rows)])
    data = batch_strategy.parse_test_data(features_only, "churned\n" + "\n".join(map(str, labels)))
    assert (data.features, data.labels) == (rows, labels)

    headerless = "\n".join(",".join(map(repr, row)) for row in rows)
    assert batch_strategy.parse_test_data(headerless, "\n".join(map(str, labels))).features == rows


def test_reads_the_test_split_the_training_pipeline_writes(tmp_path: Path) -> None:
    # Producer -> consumer contract: preprocess.py's real feature layout and file format.
    pd = pytest.importorskip("pandas")
    from pipelines.glue import churn_features
    from pipelines.training.steps import preprocess

    rows = [
        {**churn_features.engineer(_Customer(3, 50.5, 151.5, 2, "one-year", "credit-card")), "churned": 1},
        {**churn_features.engineer(_Customer(0, 20.0, 20.0, 0, "month-to-month", "mailed-check")), "churned": 0},
    ]
    features, label = preprocess.model_inputs(pd.DataFrame(rows))
    assert tuple(features.columns) == FEATURES
    preprocess.write_split(tmp_path, "test", features, label)

    data = batch_strategy.parse_test_data((tmp_path / "test.csv").read_text())
    assert data.labels == [1, 0]
    assert data.features == features.to_numpy().tolist()


@pytest.mark.parametrize(
    ("text", "labels", "message"),
    [
        ("", None, "test data is empty"),
        ("\n \n", None, "test data is empty"),
        (",".join([*FEATURES, "churned"]) + "\n", None, "test data has a header but no rows"),
        ("tenure_months,churned\n1,0\n", None, "missing column(s) monthly_charges, total_charges"),
        (",".join(FEATURES) + "\n" + ",".join(["1"] * 13), None, "no 'churned' column and LABELS_URI is not set"),
        (",".join([*FEATURES, "churned"]) + "\n" + ",".join(["1"] * 12 + ["x", "1"]), None,
         "line 2, column payment_method_credit_card: 'x' is not a number"),
        (",".join([*FEATURES, "churned"]) + "\n" + ",".join(["nan"] * 13 + ["1"]), None, "is not a finite number"),
        (",".join([*FEATURES, "churned"]) + "\n" + ",".join(["1"] * 13), None, "line 2 has 13 fields, expected 14"),
        (",".join([*FEATURES, "churned"]) + "\n" + ",".join(["1"] * 13 + ["maybe"]), None,
         "line 2: label 'maybe' is not 0/1"),
        (",".join(["1"] * 5), None, "no header and 5 columns; expected 14 columns (the label, then 13 features)"),
        (",".join(["1"] * 14), "1\n", "no header and 14 columns; expected 13 feature columns"),
        (",".join(["1"] * 13), "1\n0\n", "the labels file has 2 labels for 1 test rows"),
        (",".join(["1"] * 13), "churned\n", "the labels file is empty"),
        (",".join([*FEATURES, *FEATURES[:1], "churned"]) + "\n", None, "header repeats column(s) tenure_months"),
    ],
)  # fmt: skip
def test_unusable_test_data_is_explained(text: str, labels: str | None, message: str) -> None:
    with pytest.raises(batch_strategy.DataError) as raised:
        batch_strategy.parse_test_data(text, labels)
    assert message in str(raised.value)


def test_max_rows_bounds_the_run() -> None:
    rows, labels = make_rows(5)
    with pytest.raises(batch_strategy.DataError, match=r"5 rows, more than MAX_ROWS \(4\)"):
        batch_strategy.parse_test_data(header_csv(rows, labels), max_rows=4)


# --- grading ---------------------------------------------------------------------------------------------


def test_auc_matches_scikit_learn_including_ties() -> None:
    metrics = pytest.importorskip("sklearn.metrics")
    labels = [0, 1, 1, 0, 1, 0, 0, 1, 1, 0]
    scores = [0.1, 0.4, 0.4, 0.4, 0.9, 0.2, 0.9, 0.7, 0.3, 0.05]
    assert batch_strategy.roc_auc(labels, scores) == pytest.approx(metrics.roc_auc_score(labels, scores))
    assert batch_strategy.roc_auc([1, 1], [0.2, 0.9]) is None


def test_predictions_must_be_one_probability_per_row() -> None:
    assert batch_strategy.parse_predictions(b"0.1\n0.9\n", 2) == [0.1, 0.9]
    assert batch_strategy.parse_predictions(b"0.1,0.9", 2) == [0.1, 0.9]
    for payload, message in [
        (b"0.1\n", "returned 1 predictions for 2 rows"),
        (b"0.1\nnope\n", "returned 'nope', not a number"),
        (b"0.1\n1.5\n", "returned 1.5, not a probability"),
        (b"\xff\xfe", "not UTF-8"),
    ]:
        with pytest.raises(batch_strategy.EndpointError, match=message):
            batch_strategy.parse_predictions(payload, 2)


# --- the run against S3 ----------------------------------------------------------------------------------


def run(s3: Any, runtime: Any, settings: batch_strategy.Config, run_id: str = "build-7") -> dict[str, Any]:
    clients = batch_strategy.Clients(s3=s3, runtime=runtime)
    report: dict[str, Any] = batch_strategy.run(clients, settings, run_id=run_id, clock=Ticks())
    return report


def test_passing_run_writes_predictions_and_report(s3: Any) -> None:
    rows, labels = make_rows(25)
    s3.put_object(Bucket=BUCKET, Key="test/test.csv", Body=header_csv(rows, labels).encode())
    runtime = FakeRuntime()

    report = run(s3, runtime, config())

    assert (report["passed"], report["status"], report["reasons"]) == (True, "passed", [])
    assert report["rows"] == {"total": 25, "positives": sum(labels), "negatives": 25 - sum(labels)}
    expected_auc = batch_strategy.roc_auc(labels, [churn_probability(row) for row in rows])
    assert report["metrics"]["auc"] == pytest.approx(expected_auc)
    assert report["metrics"]["auc"] >= 0.8
    assert report["latency_ms"] == {"calls": 3, "min": 2.5, "mean": 2.5, "p50": 2.5, "p90": 2.5, "p99": 2.5, "max": 2.5}
    assert [call["ContentType"] for call in runtime.calls] == ["text/csv"] * 3
    assert [len(call["Body"].splitlines()) for call in runtime.calls] == [10, 10, 5]
    assert read_json(s3, "reports/build-7/report.json") == report
    predictions = s3.get_object(Bucket=BUCKET, Key="reports/build-7/predictions.csv")["Body"].read().decode()
    assert predictions.splitlines()[0] == "row,churned,probability,predicted"
    assert len(predictions.splitlines()) == 26


def test_missed_threshold_fails_the_report_not_the_function(s3: Any) -> None:
    rows, labels = make_rows(25)
    s3.put_object(Bucket=BUCKET, Key="test/test.csv", Body=header_csv(rows, labels).encode())

    report = run(s3, FakeRuntime(), config(MIN_AUC="0.99", MIN_ACCURACY="0.99"))

    assert (report["passed"], report["status"]) == (False, "failed")
    assert report["reasons"][0].startswith("auc 0.")
    assert report["reasons"][0].endswith("is below MIN_AUC 0.9900")
    assert report["reasons"][1].endswith("is below MIN_ACCURACY 0.9900")
    assert read_json(s3, "reports/build-7/report.json")["passed"] is False
    assert s3.head_object(Bucket=BUCKET, Key="reports/build-7/predictions.csv")["ContentLength"] > 0


def test_single_class_test_set_cannot_pass(s3: Any) -> None:
    rows, _ = make_rows(5)
    s3.put_object(Bucket=BUCKET, Key="test/test.csv", Body=header_csv(rows, [0] * 5).encode())

    report = run(s3, FakeRuntime(), config())

    assert report["reasons"] == ["auc undefined: all 5 test labels belong to one class"]
    assert report["metrics"]["auc"] is None


@pytest.mark.parametrize(
    ("body", "runtime", "reason"),
    [
        (None, FakeRuntime(), f"test data s3://{BUCKET}/test/test.csv does not exist"),
        (b"a,b\n1,2\n", FakeRuntime(), "test data is missing column(s) tenure_months"),
        (b"\xff\xfe\x00", FakeRuntime(), "is not UTF-8 text"),
        (None, FakeRuntime(fail_with="ModelError"), "ModelError: Received server error (500)"),
        (None, FakeRuntime(answer=lambda body: "0.5\n"), "the endpoint returned 1 predictions for 10 rows"),
    ],
)
def test_unusable_data_or_endpoint_gives_an_error_report(
    s3: Any, body: bytes | None, runtime: Any, reason: str
) -> None:
    if body is not None:
        s3.put_object(Bucket=BUCKET, Key="test/test.csv", Body=body)
    elif "does not exist" not in reason:
        rows, labels = make_rows(12)
        s3.put_object(Bucket=BUCKET, Key="test/test.csv", Body=header_csv(rows, labels).encode())

    report = run(s3, runtime, config())

    assert (report["passed"], report["status"]) == (False, "error")
    assert len(report["reasons"]) == 1 and reason in report["reasons"][0]
    assert read_json(s3, "reports/build-7/report.json") == report
    assert "Contents" not in s3.list_objects_v2(Bucket=BUCKET, Prefix="reports/build-7/predictions")


def test_moto_canned_endpoint_answer_is_reported_as_an_endpoint_error(s3: Any) -> None:
    # moto's invoke_endpoint answers "body" to everything: exactly the misbehaving endpoint to catch.
    rows, labels = make_rows(1)
    s3.put_object(Bucket=BUCKET, Key="test/test.csv", Body=header_csv(rows, labels).encode())

    report = run(s3, boto3.client("sagemaker-runtime", region_name=REGION), config())

    assert report["reasons"] == ["the endpoint returned 'body', not a number"]


def test_invoke_request_matches_the_service_model() -> None:
    runtime = boto3.client("sagemaker-runtime", region_name=REGION)
    rows = [[float(n) for n in range(13)], [0.5] * 13]
    with Stubber(runtime) as stub:
        stub.add_response(
            "invoke_endpoint",
            {"Body": StreamingBody(io.BytesIO(b"0.25\n0.75\n"), 10), "ContentType": "text/csv"},
            {
                "EndpointName": ENDPOINT,
                "ContentType": "text/csv",
                "Accept": "text/csv",
                "Body": ("0.0,1.0,2.0,3.0,4.0,5.0,6.0,7.0,8.0,9.0,10.0,11.0,12.0\n" + ",".join(["0.5"] * 13)).encode(),
            },
        )
        scores = batch_strategy.score(runtime, ENDPOINT, rows, batch_size=100, clock=Ticks())
    assert scores.probabilities == [0.25, 0.75]


def test_run_id_must_be_a_safe_key_segment(s3: Any) -> None:
    with pytest.raises(ValueError, match=re.escape("run id '../x' must be")):
        run(s3, FakeRuntime(), config(), run_id="../x")


# --- handler ---------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class FakeContext:
    function_name: str = "test-batch"
    memory_limit_in_mb: int = 512
    invoked_function_arn: str = f"arn:aws:lambda:{REGION}:123456789012:function:test-batch"
    aws_request_id: str = "0123456789abcdef"


def test_handler_returns_the_report_and_emits_metrics(
    s3: Any, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    module = cached_handler("test_batch")
    module.settings.cache_clear()  # the module is shared by the tests; each sets its own environment
    monkeypatch.setattr(module.metrics, "namespace", "MLOpsTests")
    monkeypatch.setattr(module, "clients", lambda: batch_strategy.Clients(s3=s3, runtime=FakeRuntime()))
    for name, value in ENV.items():
        monkeypatch.setenv(name, value)
    rows, labels = make_rows(25)
    s3.put_object(Bucket=BUCKET, Key="test/test.csv", Body=header_csv(rows, labels).encode())

    report = module.handler({}, FakeContext())

    assert report["passed"] is True
    assert report["run_id"].endswith("-01234567")
    out = capsys.readouterr().out
    assert "BatchTestsPassed" in out and "BatchTestAUC" in out
    assert module.handler({"run_id": "pipeline-run-3"}, FakeContext())["report_uri"] == (
        f"s3://{BUCKET}/reports/pipeline-run-3/report.json"
    )


@dataclasses.dataclass(frozen=True)
class _Customer:
    tenure_months: int
    monthly_charges: float
    total_charges: float
    support_calls: int
    contract: str
    payment_method: str
