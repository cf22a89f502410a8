"""The emulator's in-process pipeline runner on the real training definition, against moto.

The whole definition runs as the local tour runs it (step scripts downloaded from S3, local XGBoost
training, the Model Monitor analyzer stood in), and the registered package carries the data-quality
baseline the DataQualityBaseline step wrote.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest
from moto import mock_aws

from emulator.pipeline_runner import LocalPipelineRun, PipelineRunError, baseline_statistics_and_constraints
from pipelines.glue import churn_transform
from pipelines.training import images
from pipelines.training.definition import StepScript, build_training_pipeline_definition
from pipelines.training.steps import preprocess
from tests.unit.offline_store_sample import put_sample_store

REGION = "us-east-1"
BUCKET = "artifacts"
GROUP = "churn"
STEPS_DIR = Path(preprocess.__file__).parent
SAMPLE_CSV = Path(churn_transform.__file__).with_name("sample") / "customers.csv"
EXECUTION_ARN = f"arn:aws:sagemaker:{REGION}:123456789012:pipeline/churn/execution/abc123def456"


@pytest.fixture(scope="module")
def executed() -> Iterator[tuple[LocalPipelineRun, Any, Any]]:
    with mock_aws():
        s3 = boto3.client("s3", region_name=REGION)
        sagemaker = boto3.client("sagemaker", region_name=REGION)
        s3.create_bucket(Bucket=BUCKET)
        sagemaker.create_model_package_group(ModelPackageGroupName=GROUP)
        scripts = {}
        for name in ("preprocess", "evaluate"):
            s3.put_object(Bucket=BUCKET, Key=f"assets/{name}.py", Body=(STEPS_DIR / f"{name}.py").read_bytes())
            scripts[name] = StepScript(s3_uri=f"s3://{BUCKET}/assets/{name}.py", file_name=f"{name}.py")
        training_data = put_sample_store(s3, BUCKET)
        definition = build_training_pipeline_definition(
            role_arn="arn:aws:iam::123456789012:role/pipeline",
            training_data=training_data,
            artifacts_bucket_name=BUCKET,
            kms_key_arn="arn:aws:kms:us-east-1:123456789012:key/k",
            preprocess_script=scripts["preprocess"],
            evaluate_script=scripts["evaluate"],
            model_package_group_name=GROUP,
            sklearn_image_uri=images.sklearn_image_uri(REGION),
            xgboost_image_uri=images.xgboost_image_uri(REGION),
            model_monitor_image_uri=images.model_monitor_image_uri(REGION),
            code_version="test",
        )
        # What the tour does: the definition as deployed JSON, run step by step.
        run = LocalPipelineRun(
            s3=s3, sagemaker=sagemaker, definition=json.loads(json.dumps(definition)), execution_arn=EXECUTION_ARN
        )
        run.run()
        yield run, s3, sagemaker


def _read_json(s3: Any, uri: str) -> Any:
    bucket, key = uri.removeprefix("s3://").split("/", 1)
    return json.loads(s3.get_object(Bucket=bucket, Key=key)["Body"].read())


def test_the_baseline_step_is_stood_in_and_says_so(executed: tuple[LocalPipelineRun, Any, Any]) -> None:
    run, _, _ = executed
    names = [line.split(":", 1)[0] for line in run.log]
    assert names[:3] == ["Preprocess", "DataQualityBaseline", "Train"]
    [line] = [line for line in run.log if line.startswith("DataQualityBaseline:")]
    assert line.startswith("DataQualityBaseline: Model Monitor analyzer stood in")
    assert "13 features" in line
    assert run.log[-1].startswith("RegisterModel: CreateModelPackage")


def test_preprocess_built_the_training_set_from_the_offline_store(executed: tuple[LocalPipelineRun, Any, Any]) -> None:
    run, s3, _ = executed
    [line] = [line for line in run.log if line.startswith("Preprocess:")]
    assert "training set built from the offline store: 393 labels joined point-in-time, 0 without features" in line
    features = _read_json(s3, f"s3://{BUCKET}/training-pipeline/abc123def456/preprocess/features/features.json")
    assert features["offline_store"]["labels"] == features["offline_store"]["joined"] == 393
    assert sum(features["rows"].values()) == 393


def test_registered_package_points_at_the_baseline_it_produced(executed: tuple[LocalPipelineRun, Any, Any]) -> None:
    _, s3, sagemaker = executed
    [summary] = sagemaker.list_model_packages(ModelPackageGroupName=GROUP)["ModelPackageSummaryList"]
    package = sagemaker.describe_model_package(ModelPackageName=summary["ModelPackageArn"])
    quality = package["DriftCheckBaselines"]["ModelDataQuality"]
    prefix = f"s3://{BUCKET}/training-pipeline/abc123def456/baseline"
    assert quality["Statistics"] == {"ContentType": "application/json", "S3Uri": f"{prefix}/statistics.json"}
    assert quality["Constraints"] == {"ContentType": "application/json", "S3Uri": f"{prefix}/constraints.json"}

    statistics = _read_json(s3, quality["Statistics"]["S3Uri"])
    constraints = _read_json(s3, quality["Constraints"]["S3Uri"])
    features = _read_json(s3, f"s3://{BUCKET}/training-pipeline/abc123def456/preprocess/features/features.json")
    assert [feature["name"] for feature in statistics["features"]] == features["features"]
    assert [feature["name"] for feature in constraints["features"]] == features["features"]
    assert statistics["dataset"]["item_count"] == features["rows"]["train"]
    tenure = statistics["features"][0]
    assert tenure["name"] == "tenure_months"
    assert tenure["inferred_type"] == "Fractional"
    assert tenure["numerical_statistics"]["min"] >= 0
    assert constraints["monitoring_config"]["distribution_constraints"]["comparison_threshold"] == 0.1


def test_statistics_and_constraints_of_a_tiny_dataset(tmp_path: Path) -> None:
    (tmp_path / "a.csv").write_text("count,ratio,plan\n1,0.5,gold\n3,1.5,silver\n", encoding="utf-8")
    (tmp_path / "b.csv").write_text("count,ratio,plan\n2,,gold\n", encoding="utf-8")

    statistics, constraints = baseline_statistics_and_constraints([tmp_path / "a.csv", tmp_path / "b.csv"], header=True)

    assert statistics["dataset"] == {"item_count": 3}
    count, ratio, plan = statistics["features"]
    assert (count["name"], count["inferred_type"]) == ("count", "Integral")
    assert count["numerical_statistics"] == {
        "common": {"num_present": 3, "num_missing": 0},
        "mean": 2.0,
        "sum": 6.0,
        "std_dev": pytest.approx((2 / 3) ** 0.5),
        "min": 1.0,
        "max": 3.0,
    }
    assert ratio["inferred_type"] == "Fractional"
    assert ratio["numerical_statistics"]["common"] == {"num_present": 2, "num_missing": 1}
    assert ratio["numerical_statistics"]["mean"] == 1.0
    assert plan == {
        "name": "plan",
        "inferred_type": "String",
        "string_statistics": {"common": {"num_present": 3, "num_missing": 0}, "distinct_count": 2.0},
    }
    assert [(f["name"], f["inferred_type"], f["completeness"]) for f in constraints["features"]] == [
        ("count", "Integral", 1.0),
        ("ratio", "Fractional", 1.0),
        ("plan", "String", 1.0),
    ]
    assert constraints["monitoring_config"]["evaluate_constraints"] == "Enabled"


def test_headerless_baselines_get_the_analyzer_s_column_names(tmp_path: Path) -> None:
    (tmp_path / "a.csv").write_text("1,2\n3,4\n", encoding="utf-8")
    statistics, _ = baseline_statistics_and_constraints([tmp_path / "a.csv"], header=False)
    assert [feature["name"] for feature in statistics["features"]] == ["_c0", "_c1"]


def test_an_empty_baseline_is_an_error(tmp_path: Path) -> None:
    (tmp_path / "a.csv").write_text("count,ratio\n", encoding="utf-8")
    with pytest.raises(PipelineRunError, match="no rows"):
        baseline_statistics_and_constraints([tmp_path / "a.csv"], header=True)
