"""Model Monitor data-quality schedules for a promoted endpoint, built from the served package's baseline.

The training pipeline attaches the baseline to the model package (``DriftCheckBaselines.ModelDataQuality``); it is
found through endpoint config -> model -> container ModelPackageName, so nothing is remembered between events.
Serverless endpoints support neither data capture nor Model Monitor: the caller reports that instead.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from botocore.exceptions import ClientError
from promotion_config import Config, MonitorConfig
from sagemaker_calls import (
    NOT_FOUND_CODES,
    Client,
    Clients,
    digest,
    error_code,
    exists,
    resource_name,
    s3_object_exists,
)

BASELINE_FILES = ("constraints.json", "statistics.json")


MONITOR_LOCAL_INPUT = "/opt/ml/processing/input/endpoint"


MONITOR_LOCAL_OUTPUT = "/opt/ml/processing/output"


@dataclass(frozen=True)
class Baseline:
    """The data-quality baseline a monitoring schedule compares captured requests with."""

    statistics_uri: str
    constraints_uri: str
    source: str


def package_baseline(package: Mapping[str, Any]) -> Baseline | None:
    """The package's DriftCheckBaselines.ModelDataQuality (what the training pipeline registers), if complete."""
    quality = package.get("DriftCheckBaselines", {}).get("ModelDataQuality", {})
    statistics = quality.get("Statistics", {}).get("S3Uri")
    constraints = quality.get("Constraints", {}).get("S3Uri")
    if not (isinstance(statistics, str) and statistics and isinstance(constraints, str) and constraints):
        return None
    return Baseline(statistics, constraints, f"model package {package.get('ModelPackageArn')}")


def ensure_monitoring(clients: Clients, config: Config, endpoint: Mapping[str, Any]) -> str:
    """Create or update the hourly data-quality schedule with the served package's baseline (or BASELINE_URI)."""
    monitor = config.monitor
    if monitor is None:
        return "not configured (MONITOR_ROLE_ARN, MONITOR_IMAGE_URI and MONITOR_OUTPUT_URI unset)"
    baseline = find_baseline(clients.sagemaker, endpoint, monitor)
    if isinstance(baseline, str):
        return f"no baseline yet ({baseline})"
    uris = {"constraints.json": baseline.constraints_uri, "statistics.json": baseline.statistics_uri}
    missing = [name for name, uri in uris.items() if not s3_object_exists(clients.s3, uri)]
    if missing:
        where = (
            f"under {monitor.baseline_uri}"
            if baseline.source == "BASELINE_URI"
            else f"at {', '.join(uris[name] for name in missing)} ({baseline.source})"
        )
        return f"no baseline yet ({', '.join(missing)} missing {where})"

    sagemaker = clients.sagemaker
    definition = data_quality_job_definition(config, monitor, baseline)
    definition_name = resource_name(config.endpoint_name, "dq", digest(definition))
    # Job definitions are immutable; a changed definition gets a new name and the schedule is pointed at it.
    if not exists(sagemaker.describe_data_quality_job_definition, JobDefinitionName=definition_name):
        sagemaker.create_data_quality_job_definition(JobDefinitionName=definition_name, **definition)

    schedule_name = resource_name(config.endpoint_name, "data-quality")
    schedule_config = {
        "ScheduleConfig": {"ScheduleExpression": monitor.schedule_expression},
        "MonitoringJobDefinitionName": definition_name,
        "MonitoringType": "DataQuality",
    }
    try:
        schedule = sagemaker.describe_monitoring_schedule(MonitoringScheduleName=schedule_name)
    except ClientError as error:
        if error_code(error) not in NOT_FOUND_CODES:
            raise
        sagemaker.create_monitoring_schedule(
            MonitoringScheduleName=schedule_name, MonitoringScheduleConfig=schedule_config
        )
        return (
            f"created schedule {schedule_name} ({monitor.schedule_expression}) with {definition_name}, baseline of "
            f"{baseline.source}"
        )
    current = schedule.get("MonitoringScheduleConfig", {})
    if (
        current.get("MonitoringJobDefinitionName") == definition_name
        and current.get("ScheduleConfig", {}).get("ScheduleExpression") == monitor.schedule_expression
    ):
        return f"schedule {schedule_name} up to date"
    sagemaker.update_monitoring_schedule(MonitoringScheduleName=schedule_name, MonitoringScheduleConfig=schedule_config)
    return f"updated schedule {schedule_name} to {definition_name}, baseline of {baseline.source}"


def find_baseline(sagemaker: Client, endpoint: Mapping[str, Any], monitor: MonitorConfig) -> Baseline | str:
    """The served package's baseline, else BASELINE_URI's; or why there is none.

    The endpoint does not record the package directly: its config names the model, whose container was created
    from the package (ModelPackageName), so the package is found from the endpoint alone.
    """
    package_arn = served_model_package(sagemaker, endpoint)
    reason = "the endpoint's model was not created from a model package"
    if package_arn is not None:
        try:
            package = sagemaker.describe_model_package(ModelPackageName=package_arn)
        except ClientError as error:
            if error_code(error) not in NOT_FOUND_CODES:
                raise
            package = None
            reason = f"model package {package_arn} no longer exists"
        if package is not None:
            baseline = package_baseline(package)
            if baseline is not None:
                return baseline
            reason = f"model package {package_arn} has no DriftCheckBaselines.ModelDataQuality"
    if monitor.baseline_uri is None:
        return f"{reason} and BASELINE_URI is unset"
    return Baseline(
        statistics_uri=f"{monitor.baseline_uri}/statistics.json",
        constraints_uri=f"{monitor.baseline_uri}/constraints.json",
        source="BASELINE_URI",
    )


def served_model_package(sagemaker: Client, endpoint: Mapping[str, Any]) -> str | None:
    """The ModelPackageName of the model the endpoint's current config serves, if it came from a package."""
    config_name = endpoint.get("EndpointConfigName")
    if not config_name:
        return None
    try:
        endpoint_config = sagemaker.describe_endpoint_config(EndpointConfigName=config_name)
        variants = endpoint_config.get("ProductionVariants", [])
        model_name = variants[0].get("ModelName") if variants else None
        if not model_name:
            return None
        model = sagemaker.describe_model(ModelName=model_name)
    except ClientError as error:
        if error_code(error) in NOT_FOUND_CODES:
            return None
        raise
    containers = [model.get("PrimaryContainer") or {}, *model.get("Containers", [])]
    names = [c.get("ModelPackageName") for c in containers if isinstance(c, Mapping) and c.get("ModelPackageName")]
    return str(names[0]) if names else None


def data_quality_job_definition(config: Config, monitor: MonitorConfig, baseline: Baseline) -> dict[str, Any]:
    """CreateDataQualityJobDefinition arguments (without the name) for the managed endpoint."""
    cluster: dict[str, Any] = {"InstanceCount": 1, "InstanceType": monitor.instance_type, "VolumeSizeInGB": 20}
    outputs: dict[str, Any] = {
        "MonitoringOutputs": [
            {"S3Output": {"S3Uri": monitor.output_uri, "LocalPath": MONITOR_LOCAL_OUTPUT, "S3UploadMode": "EndOfJob"}}
        ]
    }
    if config.kms_key_id:
        cluster["VolumeKmsKeyId"] = config.kms_key_id
        outputs["KmsKeyId"] = config.kms_key_id
    return {
        "DataQualityBaselineConfig": {
            "ConstraintsResource": {"S3Uri": baseline.constraints_uri},
            "StatisticsResource": {"S3Uri": baseline.statistics_uri},
        },
        # CloudWatch metrics are what the drift alarms (and the retraining trigger behind them) watch.
        "DataQualityAppSpecification": {
            "ImageUri": monitor.image_uri,
            "Environment": {"publish_cloudwatch_metrics": "Enabled"},
        },
        "DataQualityJobInput": {
            "EndpointInput": {
                "EndpointName": config.endpoint_name,
                "LocalPath": MONITOR_LOCAL_INPUT,
                "S3InputMode": "File",
                "S3DataDistributionType": "FullyReplicated",
            }
        },
        "DataQualityJobOutputConfig": outputs,
        "JobResources": {"ClusterConfig": cluster},
        "RoleArn": monitor.role_arn,
        "StoppingCondition": {"MaxRuntimeInSeconds": monitor.max_runtime_seconds},
    }
