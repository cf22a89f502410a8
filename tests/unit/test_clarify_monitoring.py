"""Model-bias and explainability schedules the promotion function sets up for a provisioned endpoint.

SageMaker's Clarify monitoring APIs (Create/DescribeModelBiasJobDefinition, ...ExplainabilityJobDefinition)
are not in moto, so the SageMaker client is a small recorder that answers with the real API's error shape
(ValidationException / ResourceNotFound) for what does not exist.
"""

from __future__ import annotations

from typing import Any

import pytest
from botocore.exceptions import ClientError

from tests.unit.lambdas_path import use

use("model_promotion")
import clarify_monitoring  # noqa: E402
import promotion  # noqa: E402

ENV = {
    "ENDPOINT_NAME": "mlops-prod-churn",
    "ENDPOINT_MODE": "provisioned",
    "MODEL_EXECUTION_ROLE_ARN": "arn:aws:iam::123456789012:role/model",
    "CAPTURE_BUCKET": "artifacts",
    "KMS_KEY_ID": "arn:aws:kms:eu-west-1:123456789012:key/k",
    "MONITOR_ROLE_ARN": "arn:aws:iam::123456789012:role/model",
    "MONITOR_IMAGE_URI": "468650794304.dkr.ecr.eu-west-1.amazonaws.com/sagemaker-model-monitor-analyzer",
    "MONITOR_OUTPUT_URI": "s3://artifacts/data-capture/monitoring-reports",
    "CLARIFY_IMAGE_URI": "131013547314.dkr.ecr.eu-west-1.amazonaws.com/sagemaker-clarify-processing:1.0",
    "GROUND_TRUTH_URI": "s3://artifacts/ground-truth/churn/",
    "MODEL_BIAS_SCHEDULE_NAME": "mlops-prod-churn-model-bias",
    "EXPLAINABILITY_SCHEDULE_NAME": "mlops-prod-churn-explainability",
}
PACKAGE_ARN = "arn:aws:sagemaker:eu-west-1:123456789012:model-package/churn/3"
RUN = "s3://artifacts/training-pipeline/exec1"
PACKAGE = {
    "DriftCheckBaselines": {
        "Bias": {
            "ConfigFile": {"S3Uri": "s3://assets/model_bias.json"},
            "PreTrainingConstraints": {"S3Uri": f"{RUN}/clarify/data-bias/analysis.json"},
            "PostTrainingConstraints": {"S3Uri": f"{RUN}/clarify/model-bias/analysis.json"},
        },
        "Explainability": {
            "ConfigFile": {"S3Uri": "s3://assets/explainability.json"},
            "Constraints": {"S3Uri": f"{RUN}/clarify/explainability/analysis.json"},
        },
    }
}


def not_found(operation: str) -> ClientError:
    return ClientError({"Error": {"Code": "ValidationException", "Message": "not found"}}, operation)


class RecordingSageMaker:
    def __init__(self, package: dict[str, Any] | None = PACKAGE) -> None:
        self.package = package
        self.definitions: dict[str, dict[str, Any]] = {}
        self.schedules: dict[str, dict[str, Any]] = {}
        self.calls: list[str] = []

    def describe_model_package(self, ModelPackageName: str) -> dict[str, Any]:
        if self.package is None:
            raise not_found("DescribeModelPackage")
        return self.package

    def _describe_definition(self, JobDefinitionName: str) -> dict[str, Any]:
        if JobDefinitionName not in self.definitions:
            raise not_found("DescribeJobDefinition")
        return self.definitions[JobDefinitionName]

    describe_model_bias_job_definition = _describe_definition
    describe_model_explainability_job_definition = _describe_definition

    def _create_definition(self, JobDefinitionName: str, **request: Any) -> dict[str, Any]:
        self.calls.append(f"create {JobDefinitionName}")
        self.definitions[JobDefinitionName] = request
        return {}

    create_model_bias_job_definition = _create_definition
    create_model_explainability_job_definition = _create_definition

    def describe_monitoring_schedule(self, MonitoringScheduleName: str) -> dict[str, Any]:
        if MonitoringScheduleName not in self.schedules:
            raise not_found("DescribeMonitoringSchedule")
        return {"MonitoringScheduleConfig": self.schedules[MonitoringScheduleName]}

    def create_monitoring_schedule(self, MonitoringScheduleName: str, MonitoringScheduleConfig: Any) -> None:
        self.calls.append(f"create schedule {MonitoringScheduleName}")
        self.schedules[MonitoringScheduleName] = MonitoringScheduleConfig

    def update_monitoring_schedule(self, MonitoringScheduleName: str, MonitoringScheduleConfig: Any) -> None:
        self.calls.append(f"update schedule {MonitoringScheduleName}")
        self.schedules[MonitoringScheduleName] = MonitoringScheduleConfig


def test_both_schedules_are_created_once_with_the_package_s_clarify_baselines():
    config = promotion.Config.from_env(ENV)
    sagemaker = RecordingSageMaker()
    outcome = clarify_monitoring.ensure_clarify_monitoring(sagemaker, config, PACKAGE_ARN)
    assert outcome == (
        "created mlops-prod-churn-model-bias, created mlops-prod-churn-explainability (cron(0 0 ? * * *)) with the "
        "package's Clarify baselines"
    )
    types = {name: schedule["MonitoringType"] for name, schedule in sagemaker.schedules.items()}
    assert types == {
        "mlops-prod-churn-model-bias": "ModelBias",
        "mlops-prod-churn-explainability": "ModelExplainability",
    }
    bias = sagemaker.definitions[sagemaker.schedules["mlops-prod-churn-model-bias"]["MonitoringJobDefinitionName"]]
    assert bias["ModelBiasBaselineConfig"]["ConstraintsResource"]["S3Uri"].endswith("model-bias/analysis.json")
    assert bias["ModelBiasAppSpecification"]["ConfigUri"] == "s3://assets/model_bias.json"
    assert bias["ModelBiasAppSpecification"]["ImageUri"] == ENV["CLARIFY_IMAGE_URI"]
    assert bias["ModelBiasJobInput"]["GroundTruthS3Input"] == {"S3Uri": "s3://artifacts/ground-truth/churn"}
    assert bias["ModelBiasJobInput"]["EndpointInput"]["EndpointName"] == "mlops-prod-churn"
    assert bias["JobResources"]["ClusterConfig"]["VolumeKmsKeyId"] == ENV["KMS_KEY_ID"]
    shap = sagemaker.definitions[sagemaker.schedules["mlops-prod-churn-explainability"]["MonitoringJobDefinitionName"]]
    assert shap["ModelExplainabilityAppSpecification"]["ConfigUri"] == "s3://assets/explainability.json"
    # What the endpoint's bias alarms and dashboard read: SageMaker publishes them unless this says Disabled.
    for spec in (bias["ModelBiasAppSpecification"], shap["ModelExplainabilityAppSpecification"]):
        assert spec["Environment"] == {"publish_cloudwatch_metrics": "Enabled"}
    assert "GroundTruthS3Input" not in shap["ModelExplainabilityJobInput"]

    calls = len(sagemaker.calls)
    again = clarify_monitoring.ensure_clarify_monitoring(sagemaker, config, PACKAGE_ARN)
    assert again.startswith("mlops-prod-churn-model-bias up to date, mlops-prod-churn-explainability up to date")
    assert len(sagemaker.calls) == calls  # idempotent: repeated IN_SERVICE events change nothing


def test_a_new_version_s_baselines_point_the_schedules_at_new_definitions():
    config = promotion.Config.from_env(ENV)
    sagemaker = RecordingSageMaker()
    clarify_monitoring.ensure_clarify_monitoring(sagemaker, config, PACKAGE_ARN)
    newer = {"DriftCheckBaselines": {**PACKAGE["DriftCheckBaselines"]}}
    newer["DriftCheckBaselines"]["Explainability"] = {
        "ConfigFile": {"S3Uri": "s3://assets/explainability.json"},
        "Constraints": {"S3Uri": "s3://artifacts/training-pipeline/exec2/clarify/explainability/analysis.json"},
    }
    sagemaker.package = newer
    outcome = clarify_monitoring.ensure_clarify_monitoring(sagemaker, config, PACKAGE_ARN)
    assert outcome.startswith("mlops-prod-churn-model-bias up to date, updated mlops-prod-churn-explainability")


@pytest.mark.parametrize(
    ("env", "package", "arn", "expected"),
    [
        ({"CLARIFY_IMAGE_URI": ""}, PACKAGE, PACKAGE_ARN, "not configured (CLARIFY_IMAGE_URI unset)"),
        ({}, PACKAGE, None, "no Clarify baselines (the endpoint's model was not created from a model package)"),
        (
            {},
            {"DriftCheckBaselines": {}},
            PACKAGE_ARN,
            "no Clarify baselines (the package has no DriftCheckBaselines.Bias",
        ),
        ({}, None, PACKAGE_ARN, f"no Clarify baselines (model package {PACKAGE_ARN} no longer exists)"),
    ],
)
def test_what_is_missing_is_said_not_guessed(env, package, arn, expected):
    config = promotion.Config.from_env({**ENV, **env})
    sagemaker = RecordingSageMaker(package)
    assert clarify_monitoring.ensure_clarify_monitoring(sagemaker, config, arn).startswith(expected)
    assert sagemaker.calls == []


@pytest.mark.parametrize(
    "uri",
    [
        "",
        " \n",
        "artifacts/ground-truth",
        "s3://",
        "s3:// spaced/x",
        "s3://bucket",
        "s3://bucket/",
        "s3://bucket//",
        "s3://Bucket/x",
        "s3://\uff42ucket/x",
        "s3://" + "b" * 5000 + "/x",
    ],
)
def test_clarify_image_without_a_ground_truth_uri_is_a_config_error(uri):
    # The message names the variable and why it is needed, in the shared wording (common.settings).
    expected = r"^GROUND_TRUTH_URI must be .*because CLARIFY_IMAGE_URI is set"
    with pytest.raises(promotion.ConfigError, match=expected) as raised:
        promotion.Config.from_env({**ENV, "GROUND_TRUTH_URI": uri})
    assert len(str(raised.value)) < 200


def test_the_ground_truth_prefix_is_stripped_of_whitespace_and_trailing_slashes():
    config = promotion.Config.from_env({**ENV, "GROUND_TRUTH_URI": " s3://bucket/ground-truth//\n"})
    assert config.clarify_monitor.ground_truth_uri == "s3://bucket/ground-truth"


def test_decision_reports_clarify_monitoring():
    decision = promotion.Decision(action="configured", reason="r", clarify_monitoring="created x")
    assert decision.to_dict()["clarify_monitoring"] == "created x"


def test_the_schedules_get_the_names_the_stack_gave_them():
    """The stack's alarms filter on MonitoringSchedule: the function must not derive a name of its own."""
    config = promotion.Config.from_env(
        {**ENV, "MODEL_BIAS_SCHEDULE_NAME": "team-a-bias", "EXPLAINABILITY_SCHEDULE_NAME": "team-a-shap"}
    )
    sagemaker = RecordingSageMaker()
    clarify_monitoring.ensure_clarify_monitoring(sagemaker, config, PACKAGE_ARN)
    assert {name: s["MonitoringType"] for name, s in sagemaker.schedules.items()} == {
        "team-a-bias": "ModelBias",
        "team-a-shap": "ModelExplainability",
    }


@pytest.mark.parametrize(
    ("variable", "value"),
    [
        ("MODEL_BIAS_SCHEDULE_NAME", None),
        ("MODEL_BIAS_SCHEDULE_NAME", ""),
        ("MODEL_BIAS_SCHEDULE_NAME", "mlops-prod-churn-model-bias\nother"),
        ("EXPLAINABILITY_SCHEDULE_NAME", "-leading-hyphen"),
        ("EXPLAINABILITY_SCHEDULE_NAME", "x" * 64),
        ("EXPLAINABILITY_SCHEDULE_NAME", "with_underscore"),
        ("EXPLAINABILITY_SCHEDULE_NAME", "caf\u00e9-explainability"),
    ],
)
def test_a_missing_or_malformed_schedule_name_is_a_config_error_naming_the_variable(variable, value):
    env = {**ENV, variable: value} if value is not None else {k: v for k, v in ENV.items() if k != variable}
    with pytest.raises(promotion.ConfigError, match=f"^{variable} must be a monitoring schedule name"):
        promotion.Config.from_env(env)


def test_the_two_schedules_may_not_share_a_name():
    with pytest.raises(promotion.ConfigError, match="must differ"):
        promotion.Config.from_env({**ENV, "EXPLAINABILITY_SCHEDULE_NAME": ENV["MODEL_BIAS_SCHEDULE_NAME"]})


def test_63_characters_is_a_valid_schedule_name():
    name = "a" * 63
    config = promotion.Config.from_env({**ENV, "MODEL_BIAS_SCHEDULE_NAME": name})
    assert config.clarify_monitor is not None and config.clarify_monitor.schedule_names["bias"] == name


def test_a_schedule_name_is_stripped_like_every_setting():
    config = promotion.Config.from_env({**ENV, "MODEL_BIAS_SCHEDULE_NAME": " mlops-prod-churn-model-bias\n"})
    assert config.clarify_monitor is not None
    assert config.clarify_monitor.schedule_names["bias"] == "mlops-prod-churn-model-bias"
