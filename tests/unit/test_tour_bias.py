"""The tour's Clarify lines: the registered version's bias report, and a biased run the gate stops."""

from __future__ import annotations

import json

from moto import mock_aws

from emulator.tour_bias import STEP_BIASED, STEP_REPORT, tour_bias
from tests.unit.test_clarify_local import execute
from tests.unit.test_pipeline_runner import BUCKET


def test_tour_shows_the_report_and_the_gate_stopping_a_biased_sample():
    with mock_aws():
        run, s3, sagemaker = execute(None, "tourfair", "tour")
        sagemaker.create_pipeline(
            PipelineName="churn",
            PipelineDefinition=json.dumps(run.definition),
            RoleArn="arn:aws:iam::123456789012:role/pipeline",
        )
        lines = list(
            tour_bias(
                s3=s3,
                sagemaker=sagemaker,
                pipeline_name="churn",
                group="tour",
                definition=dict(run.definition),
                curated_bucket=BUCKET,
            )
        )
        packages = sagemaker.list_model_packages(ModelPackageGroupName="tour")["ModelPackageSummaryList"]
    steps = [step for step, _, _ in lines]
    assert steps == [STEP_REPORT, STEP_BIASED, STEP_BIASED]
    report = lines[0][1]
    assert report.startswith("v1 pre-training: contract_month_to_month CI=")
    assert "post-training: contract_month_to_month DPPL=" in report and "top SHAP: " in report
    assert "Clarify stood in by the local runner" in report
    assert "Model not registered by the bias gate" in lines[1][1]
    assert lines[2][1].startswith("BiasGateFailed: execution fails: Model not registered by the bias gate: ")
    assert lines[2][1].endswith("(model versions before 1, after 1)")
    assert len(packages) == 1
