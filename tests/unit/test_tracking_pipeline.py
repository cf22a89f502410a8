"""The LogExperimentRun Lambda step in the training definition, and the local runner executing it: the
registered model package names the MLflow run its execution logged."""

from __future__ import annotations

import json
from typing import Any

import boto3
import pytest

from emulator.lambda_runner import LocalFunction
from emulator.mlflow_local import mlflow_stand_in
from emulator.pipeline_runner import LocalPipelineRun, PipelineRunError
from pipelines.training import images
from pipelines.training.definition import StepScript, build_training_pipeline_definition
from pipelines.training.tracking_step import TRACKING_STEP, ExperimentTracking
from tests.unit.lambdas_path import fast_mock_aws
from tests.unit.offline_store_sample import offline_store_input, put_sample_store
from tests.unit.test_pipeline_runner import BUCKET, REGION, STEPS_DIR

FUNCTION_ARN = f"arn:aws:lambda:{REGION}:123456789012:function:log-experiment-run"
APP_ARN = f"arn:aws:sagemaker:{REGION}:123456789012:mlflow-app/app-0123456789ab"
PIPELINE = "churn-training"
EXECUTION_ARN = f"arn:aws:sagemaker:{REGION}:123456789012:pipeline/{PIPELINE}/execution/abc123def456"
GROUP = "churn"


def definition(tracking: ExperimentTracking | None, scripts: dict[str, StepScript] | None = None) -> dict[str, Any]:
    scripts = scripts or {
        n: StepScript(s3_uri=f"s3://{BUCKET}/assets/{n}.py", file_name=f"{n}.py") for n in ("preprocess", "evaluate")
    }
    built = build_training_pipeline_definition(
        role_arn="arn:aws:iam::123456789012:role/pipeline",
        training_data=offline_store_input(BUCKET),
        artifacts_bucket_name=BUCKET,
        kms_key_arn=f"arn:aws:kms:{REGION}:123456789012:key/k",
        preprocess_script=scripts["preprocess"],
        evaluate_script=scripts["evaluate"],
        model_package_group_name=GROUP,
        sklearn_image_uri=images.sklearn_image_uri(REGION),
        xgboost_image_uri=images.xgboost_image_uri(REGION),
        model_monitor_image_uri=images.model_monitor_image_uri(REGION),
        code_version="test-version",
        tracking=tracking,
    )
    return json.loads(json.dumps(built))  # as deployed


def test_the_step_runs_after_evaluate_and_registration_records_its_run():
    steps = definition(ExperimentTracking(function_arn=FUNCTION_ARN, app_arn=APP_ARN))["Steps"]
    names = [step["Name"] for step in steps]
    # After Evaluate, before the condition that registers (its run id must exist by then).
    assert names.index(TRACKING_STEP) == names.index("Evaluate") + 1 == len(names) - 2
    step = steps[names.index(TRACKING_STEP)]
    assert step["Type"] == "Lambda" and step["FunctionArn"] == FUNCTION_ARN
    assert step["OutputParameters"] == [{"OutputName": "run_id", "OutputType": "String"}]
    assert step["Arguments"]["experiment_name"] == {"Get": "Execution.PipelineName"}
    assert step["Arguments"]["bias_gate_uri"] == ""  # no Clarify checks in this definition
    register = steps[-1]["Arguments"]["IfSteps"][-1]
    lineage = register["Arguments"]["CustomerMetadataProperties"]
    assert lineage["mlflow_run_id"] == {"Get": f"Steps.{TRACKING_STEP}.OutputParameters['run_id']"}
    assert lineage["mlflow_app_arn"] == APP_ARN


def test_without_tracking_there_is_no_step_and_no_run_on_the_package():
    steps = definition(None)["Steps"]
    assert all(step["Type"] != "Lambda" for step in steps)
    register = steps[-1]["Arguments"]["IfSteps"][-1]
    assert not [key for key in register["Arguments"]["CustomerMetadataProperties"] if key.startswith("mlflow")]


def test_the_runner_refuses_a_lambda_step_it_cannot_invoke_or_a_response_without_the_output():
    tracked = definition(ExperimentTracking(function_arn=FUNCTION_ARN, app_arn=APP_ARN))
    step = next(s for s in tracked["Steps"] if s["Name"] == TRACKING_STEP)
    run = LocalPipelineRun(s3=None, sagemaker=None, definition=tracked, execution_arn=EXECUTION_ARN)
    run.property_files = {}
    with pytest.raises(PipelineRunError, match="needs invoke_lambda"):
        run._lambda({**step, "Arguments": {}}, workdir=None)  # type: ignore[arg-type]
    run.invoke_lambda = lambda arn, event: {"something": "else"}
    with pytest.raises(PipelineRunError, match="has no output 'run_id'"):
        run._lambda({**step, "Arguments": {}}, workdir=None)  # type: ignore[arg-type]


def test_the_registered_package_links_the_run_the_deployed_function_logged(monkeypatch):
    monkeypatch.setenv("AWS_DEFAULT_REGION", REGION)
    with fast_mock_aws(), mlflow_stand_in(APP_ARN) as stand_in:
        s3 = boto3.client("s3", region_name=REGION)
        sagemaker = boto3.client("sagemaker", region_name=REGION)
        s3.create_bucket(Bucket=BUCKET)
        sagemaker.create_model_package_group(ModelPackageGroupName=GROUP)
        scripts = {}
        for name in ("preprocess", "evaluate"):
            s3.put_object(Bucket=BUCKET, Key=f"assets/{name}.py", Body=(STEPS_DIR / f"{name}.py").read_bytes())
            scripts[name] = StepScript(s3_uri=f"s3://{BUCKET}/assets/{name}.py", file_name=f"{name}.py")
        put_sample_store(s3, BUCKET)
        function = LocalFunction("experiment_tracking", "log-experiment-run", {"MLFLOW_APP_ARN": APP_ARN})
        invoked: list[str] = []

        def invoke(arn: str, event: dict[str, Any]) -> Any:
            invoked.append(arn)
            return function.invoke(event, extra_env={"MLFLOW_ENDPOINT_URL": stand_in.endpoint}).response

        tracked = definition(ExperimentTracking(function_arn=FUNCTION_ARN, app_arn=APP_ARN), scripts)
        run = LocalPipelineRun(
            s3=s3, sagemaker=sagemaker, definition=tracked, execution_arn=EXECUTION_ARN, invoke_lambda=invoke
        )
        log = run.run()
        assert invoked == [FUNCTION_ARN]
        (package,) = sagemaker.list_model_packages(ModelPackageGroupName=GROUP)["ModelPackageSummaryList"]
        lineage = sagemaker.describe_model_package(ModelPackageName=package["ModelPackageArn"])[
            "CustomerMetadataProperties"
        ]
        (run_id,) = stand_in.runs
        assert lineage["mlflow_run_id"] == run_id and lineage["mlflow_app_arn"] == APP_ARN
        assert stand_in.experiments == {PIPELINE: "1"}  # Execution.PipelineName, from the execution ARN
        logged = stand_in.runs[run_id]
        metrics = {m["key"]: m["value"] for m in logged["data"]["metrics"]}
        evaluation = json.loads(
            s3.get_object(Bucket=BUCKET, Key="training-pipeline/abc123def456/evaluate/evaluation.json")["Body"].read()
        )
        assert metrics["test_auc"] == evaluation["binary_classification_metrics"]["auc"]["value"]
        assert {"key": "num_round", "value": "150"} in logged["data"]["params"]
        assert {"key": "code_version", "value": "test-version"} in logged["data"]["tags"]
        assert any(line.startswith(f"{TRACKING_STEP}: invoked log-experiment-run") for line in log)
