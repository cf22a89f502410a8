"""lambdas/experiment_tracking: the run a pipeline execution logs, the stores, and the MLflow app's REST API
(SigV4 for 'sagemaker', routed by x-sm-mlflow-app-arn) against the emulator's loopback stand-in."""

from __future__ import annotations

import json
import math
from typing import Any

import boto3
import pytest
from botocore.credentials import Credentials

from emulator.mlflow_local import mlflow_stand_in
from tests.unit.lambdas_path import FakeLambdaContext, fast_mock_aws, load_handler, use

use("experiment_tracking")
import run_record  # noqa: E402
import tracking  # noqa: E402

APP_ARN = "arn:aws:sagemaker:eu-west-1:123456789012:mlflow-app/app-0123456789ab"
EXECUTION = "arn:aws:sagemaker:eu-west-1:123456789012:pipeline/mlops-dev-churn-training/execution/abc123"
EVALUATION = {
    "binary_classification_metrics": {
        "auc": {"value": 0.83, "standard_deviation": "NaN"},
        "accuracy": {"value": 0.78, "standard_deviation": "NaN"},
        "confusion_matrix": {"0": {"0": 10}},
    }
}
GATE_FAILED = {
    "passed": False,
    "reason": "DPL = -0.68 is beyond its threshold of 0.5.",
    "metrics": {"DPL": -0.68, "CI": None},
}


def event(**changes: Any) -> dict[str, Any]:
    base = {
        "experiment_name": "mlops-dev-churn-training",
        "execution_arn": EXECUTION,
        "evaluation_uri": "s3://artifacts/training-pipeline/abc123/evaluate/evaluation.json",
        "bias_gate_uri": "s3://artifacts/training-pipeline/abc123/bias-gate/bias_gate.json",
        "training_data_uri": "s3://curated/churn/",
        "model_artifacts_uri": "s3://artifacts/training-pipeline/abc123/model/model.tar.gz",
        "code_version": "0123abc",
        "hyperparameters": json.dumps({"max_depth": "2", "num_round": "150"}),
        "auc_threshold": 0.75,
    }
    base.update(changes)
    return base


def record(**changes: Any) -> tracking.RunRecord:
    arguments = run_record.StepArguments.from_event(event(**changes))
    return run_record.build_record(arguments, evaluation=EVALUATION, bias_gate=GATE_FAILED, data_digest="d1")


# -- what the run holds ----------------------------------------------------------------------------------


def test_the_run_holds_hyperparameters_test_and_bias_metrics_and_the_data_and_code_versions():
    run = record()
    assert run.params == {"max_depth": "2", "num_round": "150", "auc_threshold": "0.75"}
    # Numeric report values only; Clarify's null (undefined) metrics are not logged as numbers.
    assert run.metrics == {"test_auc": 0.83, "test_accuracy": 0.78, "bias_gate_passed": 0.0, "bias_DPL": -0.68}
    assert run.tags["code_version"] == "0123abc" and run.tags["training_data_uri"] == "s3://curated/churn/"
    assert run.tags["bias_gate_reason"].startswith("DPL = -0.68")
    assert run.run_name == "abc123" and run.experiment_name == "mlops-dev-churn-training"
    assert run.datasets[0].digest == "d1" and run.datasets[0].source == "s3://curated/churn/"


def test_without_clarify_the_run_has_no_bias_metrics():
    arguments = run_record.StepArguments.from_event(event(bias_gate_uri=""))
    run = run_record.build_record(arguments, evaluation=EVALUATION, bias_gate=None, data_digest="d1")
    assert arguments.bias_gate_uri is None
    assert not [key for key in run.metrics if key.startswith("bias_")]


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"extra": "x"}, "unknown argument(s): 'extra'"),
        ({"evaluation_uri": "https://example.com/e.json"}, "evaluation_uri must be an s3://bucket/key URI"),
        ({"training_data_uri": "s3:///churn/"}, "training_data_uri must be an s3://bucket/key URI"),
        ({"hyperparameters": "{"}, "hyperparameters is not JSON"),
        ({"hyperparameters": json.dumps({"max_depth": 2})}, "hyperparameters must be a JSON object of strings"),
        ({"auc_threshold": True}, "auc_threshold must be a finite number"),
        ({"auc_threshold": "nan"}, "auc_threshold must be a finite number"),
        ({"code_version": ""}, "code_version must be a non-empty string"),
        ({"execution_arn": 7}, "execution_arn must be a non-empty string"),
    ],
)
def test_bad_step_arguments_are_refused_with_the_argument_named(changes, message):
    with pytest.raises(run_record.EventError, match=message.replace("(", r"\(").replace(")", r"\)")):
        run_record.StepArguments.from_event(event(**changes))


def test_a_missing_argument_and_a_non_object_event_are_refused():
    partial = event()
    del partial["code_version"]
    with pytest.raises(run_record.EventError, match="missing argument"):
        run_record.StepArguments.from_event(partial)
    with pytest.raises(run_record.EventError, match="must be an object"):
        run_record.StepArguments.from_event(["not", "an", "object"])


def test_an_evaluation_report_without_auc_or_a_gate_without_a_verdict_is_refused():
    arguments = run_record.StepArguments.from_event(event())
    with pytest.raises(run_record.EventError, match="auc"):
        run_record.build_record(
            arguments, evaluation={"binary_classification_metrics": {}}, bias_gate=None, data_digest="d"
        )
    with pytest.raises(run_record.EventError, match="passed"):
        run_record.build_record(arguments, evaluation=EVALUATION, bias_gate={"metrics": {}}, data_digest="d")


def test_the_dataset_digest_versions_the_objects_not_their_order():
    objects = [("churn/a.parquet", '"e1"', 10), ("churn/b.parquet", '"e2"', 20)]
    assert run_record.dataset_digest(objects) == run_record.dataset_digest(list(reversed(objects)))
    changed = [("churn/a.parquet", '"e3"', 10), objects[1]]
    assert run_record.dataset_digest(changed) != run_record.dataset_digest(objects)


def test_reports_that_are_too_large_or_not_json_objects_are_refused():
    with pytest.raises(run_record.EventError, match="larger than"):
        run_record.read_json(lambda b, k: b"x" * (run_record.MAX_REPORT_BYTES + 1), "s3://b/k", "evaluation_uri")
    with pytest.raises(run_record.EventError, match="not a JSON object"):
        run_record.read_json(lambda b, k: b"[1]", "s3://b/k", "evaluation_uri")


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"metrics": {"auc": math.nan}}, "finite number"),
        ({"metrics": {"auc": True}}, "finite number"),
        ({"params": {"bad\nkey": "1"}}, "is not an MLflow key"),
        ({"params": {"../up": "1"}}, "is not an MLflow key"),
        ({"params": {"k": "x" * (tracking.MAX_PARAM_VALUE_LENGTH + 1)}}, "at most"),
        ({"params": {f"p{i}": "1" for i in range(tracking.MAX_ENTRIES + 1)}}, "more than"),
        ({"experiment_name": " "}, "experiment_name"),
    ],
)
def test_run_records_respect_mlflows_limits(changes, message):
    fields = {"experiment_name": "e", "run_name": "r", "execution_arn": EXECUTION, "params": {}, "metrics": {}}
    with pytest.raises(ValueError, match=message):
        tracking.RunRecord(**{**fields, **changes})


# -- stores ----------------------------------------------------------------------------------------------


def test_the_file_store_logs_one_run_per_execution(tmp_path):
    store = tracking.FileTrackingStore(tmp_path)
    first, created = tracking.log_run_once(store, record())
    again, created_again = tracking.log_run_once(store, record())
    assert created and not created_again and again == first
    other, _ = tracking.log_run_once(store, record(execution_arn=EXECUTION.replace("abc123", "def456")))
    assert other != first
    assert store.get_run("mlops-dev-churn-training", first)["metrics"]["test_auc"] == 0.83


def test_the_app_endpoint_comes_from_its_arn_and_other_arns_are_refused():
    assert tracking.app_endpoint(APP_ARN) == "https://mlflow.sagemaker.eu-west-1.app.aws"
    for wrong in (
        "arn:aws:sagemaker:eu-west-1:123456789012:mlflow-tracking-server/x",
        "arn:aws-cn:sagemaker:cn-north-1:123456789012:mlflow-app/app-1",
        APP_ARN + "\n",
    ):
        with pytest.raises(ValueError, match="is not the ARN of a SageMaker MLflow app"):
            tracking.app_endpoint(wrong)


def test_the_rest_store_refuses_plain_http_off_loopback():
    with pytest.raises(ValueError, match="must be https"):
        tracking.RestTrackingStore(app_arn=APP_ARN, transport=lambda *a: (200, {}), endpoint="http://example.com")


def signed(region: str = "eu-west-1") -> tracking.Transport:
    return tracking.sigv4_transport(Credentials("AKIDEXAMPLE", "secret", "token"), region)


def test_the_rest_store_logs_a_run_over_signed_requests_once_per_execution():
    with mlflow_stand_in(APP_ARN) as stand_in:
        store = tracking.RestTrackingStore(app_arn=APP_ARN, transport=signed(), endpoint=stand_in.endpoint)
        run_id, created = tracking.log_run_once(store, record())
        again, created_again = tracking.log_run_once(store, record())
        assert created and not created_again and again == run_id
        assert stand_in.refused == [] and len(stand_in.runs) == 1
        run = stand_in.runs[run_id]
        assert run["info"]["status"] == "FINISHED"
        assert {"key": "max_depth", "value": "2"} in run["data"]["params"]
        assert {m["key"]: m["value"] for m in run["data"]["metrics"]}["test_auc"] == 0.83
        assert {"key": tracking.EXECUTION_TAG, "value": EXECUTION} in run["data"]["tags"]
        assert run["inputs"]["dataset_inputs"][0]["dataset"]["digest"] == "d1"


def test_the_stand_in_refuses_what_the_app_would_and_the_store_reports_it():
    with mlflow_stand_in(APP_ARN) as stand_in:
        wrong_region = tracking.RestTrackingStore(
            app_arn=APP_ARN, transport=signed("us-east-1"), endpoint=stand_in.endpoint
        )
        with pytest.raises(tracking.TrackingError, match="HTTP 403"):
            tracking.log_run_once(wrong_region, record())
        other_app = APP_ARN.replace("app-0123456789ab", "app-ffffffffffff")
        wrong_app = tracking.RestTrackingStore(app_arn=other_app, transport=signed(), endpoint=stand_in.endpoint)
        with pytest.raises(tracking.TrackingError, match="HTTP 403"):
            tracking.log_run_once(wrong_app, record())
        assert stand_in.refused[0].startswith("the signature is scoped to sagemaker in us-east-1")
        assert "not this app" in stand_in.refused[1]
        assert stand_in.runs == {}


# -- the handler, with S3 in moto and the app stood in -------------------------------------------------


def test_the_handler_logs_the_execution_and_returns_the_run_id_for_the_model_package(monkeypatch):
    with fast_mock_aws(), mlflow_stand_in(APP_ARN) as stand_in:
        s3 = boto3.client("s3", region_name="eu-west-1")
        for bucket in ("artifacts", "curated"):
            s3.create_bucket(Bucket=bucket, CreateBucketConfiguration={"LocationConstraint": "eu-west-1"})
        s3.put_object(Bucket="curated", Key="churn/part-0.parquet", Body=b"rows")
        s3.put_object(
            Bucket="artifacts", Key="training-pipeline/abc123/evaluate/evaluation.json", Body=json.dumps(EVALUATION)
        )
        s3.put_object(
            Bucket="artifacts", Key="training-pipeline/abc123/bias-gate/bias_gate.json", Body=json.dumps(GATE_FAILED)
        )
        monkeypatch.setenv("MLFLOW_APP_ARN", APP_ARN)
        monkeypatch.setenv("MLFLOW_ENDPOINT_URL", stand_in.endpoint)
        monkeypatch.setenv("AWS_DEFAULT_REGION", "eu-west-1")
        handler = load_handler("experiment_tracking")
        response = handler.handler(event(), FakeLambdaContext())
        replay = handler.handler(event(), FakeLambdaContext())
        assert replay == response and set(response) == {"run_id"}
        run = stand_in.runs[response["run_id"]]
        assert {m["key"]: m["value"] for m in run["data"]["metrics"]}["bias_DPL"] == -0.68
        assert len(run["inputs"]["dataset_inputs"][0]["dataset"]["digest"]) == 16
        with pytest.raises(run_record.EventError, match="unknown argument"):
            handler.handler({**event(), "x": 1}, FakeLambdaContext())


@pytest.mark.parametrize(
    ("env", "message"),
    [
        ({}, "MLFLOW_APP_ARN must be set"),
        ({"MLFLOW_APP_ARN": " \n"}, "MLFLOW_APP_ARN must be set"),
        ({"MLFLOW_APP_ARN": "arn:aws:sagemaker:eu-west-1:123:mlflow-app/x"}, "MLFLOW_APP_ARN must be the ARN of"),
        ({"MLFLOW_APP_ARN": APP_ARN + "\nx"}, "MLFLOW_APP_ARN must be the ARN of"),
        ({"MLFLOW_APP_ARN": APP_ARN.replace("1", "\uff11")}, "MLFLOW_APP_ARN must be the ARN of"),
        ({"MLFLOW_APP_ARN": APP_ARN + "x" * 5000}, "MLFLOW_APP_ARN must be the ARN of"),
        ({"MLFLOW_APP_ARN": APP_ARN, "MLFLOW_ENDPOINT_URL": "ftp://127.0.0.1"}, "MLFLOW_ENDPOINT_URL must be an http"),
    ],
)
def test_a_bad_setting_fails_the_step_before_any_call_naming_the_variable(monkeypatch, env, message):
    # Before, an unset or malformed ARN surfaced only after the reports had been read from S3.
    for name in ("MLFLOW_APP_ARN", "MLFLOW_ENDPOINT_URL"):
        monkeypatch.delenv(name, raising=False)
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    handler = load_handler("experiment_tracking")
    monkeypatch.setattr(handler.boto3, "client", lambda *a, **k: pytest.fail("no AWS call before the settings"))
    with pytest.raises(handler.ConfigError, match=message) as raised:
        handler.handler(event(), FakeLambdaContext())
    assert len(str(raised.value)) < 200


def test_the_settings_are_stripped_and_read_once(monkeypatch):
    monkeypatch.setenv("MLFLOW_APP_ARN", f" {APP_ARN}\n")
    monkeypatch.setenv("MLFLOW_ENDPOINT_URL", "")
    handler = load_handler("experiment_tracking")
    assert handler.settings() == (APP_ARN, None)
    monkeypatch.setenv("MLFLOW_APP_ARN", "changed")
    assert handler.settings() == (APP_ARN, None)
