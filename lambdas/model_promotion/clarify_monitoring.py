"""Model-bias and explainability monitoring schedules for a promoted instance-based endpoint.

Called by ``promotion.configure_endpoint`` on IN_SERVICE, after the data-quality schedule. The baselines
are the ones the training pipeline's Clarify checks registered on the served model package
(``DriftCheckBaselines.Bias`` and ``.Explainability``: the analysis config and the constraints), so each
model version is monitored against its own reports. Like the data-quality schedule: idempotent (a
changed job definition gets a new name and the schedule is pointed at it), nothing on serverless
endpoints (SageMaker supports neither data capture nor Model Monitor there; ``promotion`` says so before
calling this), and a package without Clarify baselines is reported, not guessed around.

Model-bias monitoring needs ground truth: labels the business uploads under ``GROUND_TRUTH_URI`` (Model
Monitor's merge job joins them to captured requests by inference id). Until they arrive the bias jobs
report missing ground truth; explainability needs none.

Settings (environment, read with :mod:`common.settings`' rules): CLARIFY_IMAGE_URI (the region's Clarify
image; unset: not configured), GROUND_TRUTH_URI (s3://..., required with it), MODEL_BIAS_SCHEDULE_NAME and
EXPLAINABILITY_SCHEDULE_NAME (required with it: the stack names the schedules, because its alarms filter
SageMaker's metrics on the ``MonitoringSchedule`` dimension), CLARIFY_MONITOR_SCHEDULE (default daily,
``cron(0 0 ? * * *)``: each job starts a shadow endpoint, hourly would cost 24 of them a day).
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from botocore.exceptions import ClientError
from common.settings import EnvSettings

__all__ = ["ClarifyMonitorSettings", "ensure_clarify_monitoring", "job_definitions"]

DEFAULT_SCHEDULE = "cron(0 0 ? * * *)"
LOCAL_INPUT = "/opt/ml/processing/input/endpoint"
LOCAL_OUTPUT = "/opt/ml/processing/output"
MAX_NAME_LENGTH = 63
_NOT_FOUND = {"ValidationException", "ResourceNotFound", "ResourceNotFoundException"}
# SageMaker's MonitoringScheduleName: 1-63 letters, digits and hyphens, starting and ending alphanumeric.
_SCHEDULE_NAME = re.compile(r"[a-zA-Z0-9](-*[a-zA-Z0-9]){0,62}")
_SCHEDULE_VARIABLES = {"bias": "MODEL_BIAS_SCHEDULE_NAME", "explainability": "EXPLAINABILITY_SCHEDULE_NAME"}


@dataclass(frozen=True)
class ClarifyMonitorSettings:
    image_uri: str
    ground_truth_uri: str
    schedule_expression: str
    # {"bias": ..., "explainability": ...}: the monitoring schedules' names, as the stack's alarms expect them.
    schedule_names: Mapping[str, str]

    @classmethod
    def from_settings(cls, settings: EnvSettings) -> ClarifyMonitorSettings | None:
        """The Clarify monitoring settings of the promotion function's environment; None when not configured."""
        image = settings.optional("CLARIFY_IMAGE_URI")
        if image is None:
            return None
        because = "CLARIFY_IMAGE_URI is set"
        bucket, prefix = settings.s3_uri("GROUND_TRUTH_URI", key_required=True, because=because)
        # A trailing slash is not part of the prefix the schedules are given; a prefix of only slashes is none.
        if not prefix.rstrip("/"):
            raise settings.fail(f"GROUND_TRUTH_URI must be an s3://bucket/prefix URI because {because}")
        names = {}
        for kind, variable in _SCHEDULE_VARIABLES.items():
            name = settings.raw(variable)
            if not _SCHEDULE_NAME.fullmatch(name):
                raise settings.fail(
                    f"{variable} must be a monitoring schedule name (1-63 letters, digits and hyphens, starting "
                    f"and ending with a letter or digit) because {because}, got {name[:80]!r}"
                )
            names[kind] = name
        if names["bias"] == names["explainability"]:
            raise settings.fail(
                f"MODEL_BIAS_SCHEDULE_NAME and EXPLAINABILITY_SCHEDULE_NAME must differ, both are {names['bias']!r}"
            )
        schedule = settings.text("CLARIFY_MONITOR_SCHEDULE", DEFAULT_SCHEDULE)
        return cls(
            image_uri=image,
            ground_truth_uri=f"s3://{bucket}/{prefix.rstrip('/')}",
            schedule_expression=schedule,
            schedule_names=names,
        )


def package_clarify_baselines(package: Mapping[str, Any]) -> dict[str, dict[str, str]] | str:
    """{"bias": {config, constraints}, "explainability": {...}} from the package, or why they are missing."""
    baselines = package.get("DriftCheckBaselines", {})
    found: dict[str, dict[str, str]] = {}
    for kind, key, constraints in (
        ("bias", "Bias", "PostTrainingConstraints"),
        ("explainability", "Explainability", "Constraints"),
    ):
        section = baselines.get(key, {})
        config_uri = section.get("ConfigFile", {}).get("S3Uri")
        constraints_uri = section.get(constraints, {}).get("S3Uri")
        if not (isinstance(config_uri, str) and config_uri and isinstance(constraints_uri, str) and constraints_uri):
            return f"the package has no DriftCheckBaselines.{key} (ConfigFile and {constraints})"
        found[kind] = {"config": config_uri, "constraints": constraints_uri}
    return found


def job_definitions(
    *, config: Any, settings: ClarifyMonitorSettings, baselines: Mapping[str, Mapping[str, str]]
) -> dict[str, dict[str, Any]]:
    """CreateModelBiasJobDefinition / CreateModelExplainabilityJobDefinition arguments (without names)."""
    monitor = config.monitor
    cluster: dict[str, Any] = {"InstanceCount": 1, "InstanceType": monitor.instance_type, "VolumeSizeInGB": 20}
    if config.kms_key_id:
        cluster["VolumeKmsKeyId"] = config.kms_key_id

    def output(kind: str) -> dict[str, Any]:
        spec: dict[str, Any] = {
            "MonitoringOutputs": [
                {
                    "S3Output": {
                        "S3Uri": f"{monitor.output_uri}/{kind}",
                        "LocalPath": LOCAL_OUTPUT,
                        "S3UploadMode": "EndOfJob",
                    }
                }
            ]
        }
        if config.kms_key_id:
            spec["KmsKeyId"] = config.kms_key_id
        return spec

    endpoint_input = {
        "EndpointName": config.endpoint_name,
        "LocalPath": LOCAL_INPUT,
        "S3InputMode": "File",
        "S3DataDistributionType": "FullyReplicated",
    }
    common = {
        "JobResources": {"ClusterConfig": cluster},
        "RoleArn": monitor.role_arn,
        "StoppingCondition": {"MaxRuntimeInSeconds": monitor.max_runtime_seconds},
    }
    return {
        "bias": {
            "ModelBiasBaselineConfig": {"ConstraintsResource": {"S3Uri": baselines["bias"]["constraints"]}},
            "ModelBiasAppSpecification": {
                "ImageUri": settings.image_uri,
                "ConfigUri": baselines["bias"]["config"],
                "Environment": {"publish_cloudwatch_metrics": "Enabled"},
            },
            "ModelBiasJobInput": {
                # The endpoint answers one probability; at or above 0.5 it is the positive label, as in the check.
                "EndpointInput": {**endpoint_input, "ProbabilityThresholdAttribute": 0.5},
                "GroundTruthS3Input": {"S3Uri": settings.ground_truth_uri},
            },
            "ModelBiasJobOutputConfig": output("model-bias"),
            **common,
        },
        "explainability": {
            "ModelExplainabilityBaselineConfig": {
                "ConstraintsResource": {"S3Uri": baselines["explainability"]["constraints"]}
            },
            "ModelExplainabilityAppSpecification": {
                "ImageUri": settings.image_uri,
                "ConfigUri": baselines["explainability"]["config"],
                "Environment": {"publish_cloudwatch_metrics": "Enabled"},
            },
            "ModelExplainabilityJobInput": {"EndpointInput": endpoint_input},
            "ModelExplainabilityJobOutputConfig": output("explainability"),
            **common,
        },
    }


_API = {
    "bias": ("create_model_bias_job_definition", "describe_model_bias_job_definition", "ModelBias", "mb"),
    "explainability": (
        "create_model_explainability_job_definition",
        "describe_model_explainability_job_definition",
        "ModelExplainability",
        "me",
    ),
}


def ensure_clarify_monitoring(sagemaker: Any, config: Any, package_arn: str | None) -> str:
    """Create or update both schedules for the served package; returns what was done, for the decision."""
    settings = config.clarify_monitor
    if settings is None:
        return "not configured (CLARIFY_IMAGE_URI unset)"
    if config.monitor is None:
        return "not configured (the data-quality monitor settings are unset)"
    if package_arn is None:
        return "no Clarify baselines (the endpoint's model was not created from a model package)"
    try:
        package = sagemaker.describe_model_package(ModelPackageName=package_arn)
    except ClientError as error:
        if str(error.response.get("Error", {}).get("Code", "")) not in _NOT_FOUND:
            raise
        return f"no Clarify baselines (model package {package_arn} no longer exists)"
    baselines = package_clarify_baselines(package)
    if isinstance(baselines, str):
        return f"no Clarify baselines ({baselines})"
    outcomes = []
    for kind, request in job_definitions(config=config, settings=settings, baselines=baselines).items():
        create, describe, monitoring_type, short = _API[kind]
        definition_name = _name(config.endpoint_name, short, _digest(request))
        if not _exists(getattr(sagemaker, describe), JobDefinitionName=definition_name):
            getattr(sagemaker, create)(JobDefinitionName=definition_name, **request)
        schedule_name = settings.schedule_names[kind]
        schedule_config = {
            "ScheduleConfig": {"ScheduleExpression": settings.schedule_expression},
            "MonitoringJobDefinitionName": definition_name,
            "MonitoringType": monitoring_type,
        }
        try:
            current = sagemaker.describe_monitoring_schedule(MonitoringScheduleName=schedule_name)
        except ClientError as error:
            if str(error.response.get("Error", {}).get("Code", "")) not in _NOT_FOUND:
                raise
            sagemaker.create_monitoring_schedule(
                MonitoringScheduleName=schedule_name, MonitoringScheduleConfig=schedule_config
            )
            outcomes.append(f"created {schedule_name}")
            continue
        existing = current.get("MonitoringScheduleConfig", {})
        if (
            existing.get("MonitoringJobDefinitionName") == definition_name
            and existing.get("ScheduleConfig", {}).get("ScheduleExpression") == settings.schedule_expression
        ):
            outcomes.append(f"{schedule_name} up to date")
        else:
            sagemaker.update_monitoring_schedule(
                MonitoringScheduleName=schedule_name, MonitoringScheduleConfig=schedule_config
            )
            outcomes.append(f"updated {schedule_name}")
    return f"{', '.join(outcomes)} ({settings.schedule_expression}) with the package's Clarify baselines"


def _exists(describe: Any, **kwargs: str) -> bool:
    try:
        describe(**kwargs)
    except ClientError as error:
        if str(error.response.get("Error", {}).get("Code", "")) in _NOT_FOUND:
            return False
        raise
    return True


def _name(base: str, *parts: str) -> str:
    suffix = "".join(f"-{part}" for part in parts)
    return f"{base[: MAX_NAME_LENGTH - len(suffix)].rstrip('-')}{suffix}"


def _digest(request: Mapping[str, Any]) -> str:
    return hashlib.sha256(json.dumps(request, sort_keys=True).encode()).hexdigest()[:8]
