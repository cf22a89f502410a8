"""Clarify in the local runner: the real definition with its Clarify checks and bias gate, against moto.

Runs the pipeline twice: on the shipped sample (the gate passes, the package records the bias and
explainability reports and baselines), and on a deliberately biased copy of it (every month-to-month
customer churned, nobody else did), which the gate stops with its reason.
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest
from moto import mock_aws

from emulator import clarify_local
from emulator.pipeline_runner import LocalPipelineRun
from pipelines.training import clarify, images
from pipelines.training.clarify_steps import ClarifyChecks
from pipelines.training.definition import StepScript, build_training_pipeline_definition
from pipelines.training.steps import bias_gate
from tests.unit.offline_store_sample import put_sample_store
from tests.unit.test_pipeline_runner import BUCKET, REGION, STEPS_DIR

FACET = clarify.facet_column("contract", "month-to-month")
GATES = {"CI": 0.9, "DPL": 0.5, "DPPL": 0.5}


def biased(record: Any) -> int:
    """Churn decided by the facet alone: every month-to-month customer churned, nobody else did."""
    return int(record.contract == "month-to-month")


def execute(churned: Callable[[Any], int] | None, execution: str, group: str) -> tuple[LocalPipelineRun, Any, Any]:
    s3 = boto3.client("s3", region_name=REGION)
    sagemaker = boto3.client("sagemaker", region_name=REGION)
    s3.create_bucket(Bucket=BUCKET)
    sagemaker.create_model_package_group(ModelPackageGroupName=group)
    scripts = {}
    for name in ("preprocess", "evaluate", "bias_gate"):
        s3.put_object(Bucket=BUCKET, Key=f"assets/{name}.py", Body=(STEPS_DIR / f"{name}.py").read_bytes())
        scripts[name] = StepScript(s3_uri=f"s3://{BUCKET}/assets/{name}.py", file_name=f"{name}.py")
    configs = {}
    for kind in ("data_bias", "model_bias", "explainability"):
        config = clarify.analysis_config(kind=kind, facet=FACET, positive_label=1, instance_type="ml.m5.large")
        s3.put_object(Bucket=BUCKET, Key=f"assets/{kind}.json", Body=json.dumps(config).encode())
        configs[kind] = f"s3://{BUCKET}/assets/{kind}.json"
    training_data = put_sample_store(s3, BUCKET, churned=churned)
    definition = build_training_pipeline_definition(
        role_arn="arn:aws:iam::123456789012:role/pipeline",
        training_data=training_data,
        artifacts_bucket_name=BUCKET,
        kms_key_arn="arn:aws:kms:us-east-1:123456789012:key/k",
        preprocess_script=scripts["preprocess"],
        evaluate_script=scripts["evaluate"],
        model_package_group_name=group,
        sklearn_image_uri=images.sklearn_image_uri(REGION),
        xgboost_image_uri=images.xgboost_image_uri(REGION),
        model_monitor_image_uri=images.model_monitor_image_uri(REGION),
        code_version="test",
        clarify=ClarifyChecks(
            image_uri=images.clarify_image_uri(REGION),
            analysis_config_uris=configs,
            bias_gate_script=scripts["bias_gate"],
            facet=FACET.name,
            gates=GATES,
        ),
    )
    arn = f"arn:aws:sagemaker:{REGION}:123456789012:pipeline/churn/execution/{execution}"
    run = LocalPipelineRun(s3=s3, sagemaker=sagemaker, definition=json.loads(json.dumps(definition)), execution_arn=arn)
    run.run()
    return run, s3, sagemaker


@pytest.fixture(scope="module")
def fair() -> Iterator[tuple[LocalPipelineRun, Any, Any]]:
    with mock_aws():
        yield execute(None, "fair0001", "fair")


@pytest.fixture(scope="module")
def unfair() -> Iterator[tuple[LocalPipelineRun, Any, Any]]:
    with mock_aws():
        yield execute(biased, "biased01", "biased")


def _read_json(s3: Any, uri: str) -> Any:
    bucket, key = uri.removeprefix("s3://").split("/", 1)
    return json.loads(s3.get_object(Bucket=bucket, Key=key)["Body"].read())


def test_sample_passes_the_gate_and_the_package_records_reports_and_baselines(fair):
    run, s3, sagemaker = fair
    names = [line.split(":", 1)[0] for line in run.log]
    assert names == [
        "Preprocess",
        "DataQualityBaseline",
        "DataBiasCheck",
        "Train",
        "Evaluate",
        "CreateModel",
        "ModelBiasCheck",
        "ExplainabilityCheck",
        "BiasGate",
        "CheckAucThreshold",
        "CheckBiasGate",
        "RegisterModel",
    ], run.log
    assert "Bias gate passed" in next(line for line in run.log if line.startswith("BiasGate:"))
    [summary] = sagemaker.list_model_packages(ModelPackageGroupName="fair")["ModelPackageSummaryList"]
    package = sagemaker.describe_model_package(ModelPackageName=summary["ModelPackageArn"])
    pre = _read_json(s3, package["ModelMetrics"]["Bias"]["PreTrainingReport"]["S3Uri"])
    post = _read_json(s3, package["ModelMetrics"]["Bias"]["PostTrainingReport"]["S3Uri"])
    shap = _read_json(s3, package["ModelMetrics"]["Explainability"]["Report"]["S3Uri"])
    (entry,) = pre["pre_training_bias_metrics"]["facets"]["contract_month_to_month"]
    assert [m["name"] for m in entry["metrics"]] == ["CI", "DPL", "KL", "JS"]
    (entry,) = post["post_training_bias_metrics"]["facets"]["contract_month_to_month"]
    assert [m["name"] for m in entry["metrics"]] == ["DPPL", "AD", "RD"]
    global_shap = shap["explanations"]["kernel_shap"]["label0"]["global_shap_values"]
    assert set(global_shap) == set(clarify.model_feature_names())
    baselines = package["DriftCheckBaselines"]
    # The monitoring schedules' configs: copies in the artifacts bucket, identical to the deployed ones.
    for key, kind in (("Bias", "model_bias"), ("Explainability", "explainability")):
        uri = baselines[key]["ConfigFile"]["S3Uri"]
        assert uri == f"s3://{BUCKET}/training-pipeline/fair0001/bias-gate/{kind}_analysis_config.json"
        assert _read_json(s3, uri) == _read_json(s3, f"s3://{BUCKET}/assets/{kind}.json")
    assert baselines["Explainability"]["Constraints"]["S3Uri"].endswith("explainability/analysis.json")


def test_a_deliberately_biased_sample_is_stopped_by_the_gate_with_its_reason(unfair):
    run, _, sagemaker = unfair
    assert sagemaker.list_model_packages(ModelPackageGroupName="biased")["ModelPackageSummaryList"] == []
    failed = run.log[-1]
    assert failed.startswith("BiasGateFailed: execution fails: Model not registered by the bias gate: ")
    assert "DPL = " in failed and "beyond its threshold of 0.5" in failed


def test_bias_metrics_by_hand():
    # 6 rows: facet d = first 2 (one churned), facet a = last 4 (one churned).
    config = clarify.analysis_config(kind="data_bias", facet=FACET, positive_label=1, instance_type="x")
    columns = {name: [0.0] * 6 for name in config["headers"]}
    columns[FACET.name] = [1, 1, 0, 0, 0, 0]
    columns["churned"] = [1, 0, 1, 0, 0, 0]
    report = clarify_local.analysis_report(config, columns)
    metrics = {m["name"]: m["value"] for m in report["pre_training_bias_metrics"]["facets"][FACET.name][0]["metrics"]}
    assert metrics["CI"] == pytest.approx((4 - 2) / 6)
    assert metrics["DPL"] == pytest.approx(0.25 - 0.5)
    assert metrics["KL"] == pytest.approx(0.25 * math.log(0.25 / 0.5) + 0.75 * math.log(0.75 / 0.5))
    assert 0 < metrics["JS"] < math.log(2)
    model = clarify.analysis_config(kind="model_bias", facet=FACET, positive_label=1, instance_type="x")
    scores = [0.9, 0.1, 0.2, 0.1, 0.8, 0.1]  # predicted: d = [1, 0], a = [0, 0, 1, 0]
    report = clarify_local.analysis_report(model, columns, predict=lambda rows: scores)
    metrics = {m["name"]: m["value"] for m in report["post_training_bias_metrics"]["facets"][FACET.name][0]["metrics"]}
    assert metrics["DPPL"] == pytest.approx(0.25 - 0.5)
    assert metrics["AD"] == pytest.approx(2 / 4 - 1.0)
    assert metrics["RD"] == pytest.approx(0.0 - 1.0)


def test_a_facet_without_rows_gives_undefined_metrics_which_fail_the_gate():
    config = clarify.analysis_config(kind="data_bias", facet=FACET, positive_label=1, instance_type="x")
    columns = {name: [0.0, 0.0] for name in config["headers"]}
    columns["churned"] = [1, 0]
    report = clarify_local.analysis_report(config, columns)
    metrics = bias_gate.report_metrics(report, FACET.name)
    assert metrics["DPL"] is None
    verdict = bias_gate.decide(metrics, {"DPL": 0.5})
    assert verdict["passed"] is False and "DPL is undefined" in verdict["reason"]


@pytest.mark.parametrize("text", ["DPL", "DPL=", "DPL=x", "=0.1", "DPL=-1", "DPL=inf", "DPL=0.1,DPL=0.2"])
def test_bad_gate_arguments_are_rejected(text):
    with pytest.raises(bias_gate.InputError):
        bias_gate.parse_gates(text)


def test_gate_fails_closed_on_a_metric_the_reports_do_not_have(tmp_path: Path):
    for name in ("data", "model"):
        (tmp_path / name).mkdir()
        (tmp_path / name / "analysis.json").write_text("{}", encoding="utf-8")
    args = bias_gate.parse_args(
        [
            "--data-bias-dir",
            str(tmp_path / "data"),
            "--model-bias-dir",
            str(tmp_path / "model"),
            "--gate-dir",
            str(tmp_path / "gate"),
            "--gates",
            "CI=0.5",
            "--facet",
            "f",
        ]
    )
    verdict = bias_gate.run(args)
    assert verdict == {**verdict, "passed": False}
    assert "CI was not reported" in verdict["reason"]
    assert json.loads((tmp_path / "gate" / "bias_gate.json").read_text())["passed"] is False
    (tmp_path / "model" / "analysis.json").write_text("not json", encoding="utf-8")
    assert (
        bias_gate.main(
            [
                *map(
                    str,
                    [
                        "--data-bias-dir",
                        tmp_path / "data",
                        "--model-bias-dir",
                        tmp_path / "model",
                        "--gate-dir",
                        tmp_path / "gate",
                        "--exit-message-file",
                        tmp_path / "x" / "m",
                    ],
                )
            ]
        )
        == 1
    )
