"""Model promotion: an approved model package becomes the endpoint's live model, behind guardrails.

Plain logic, no Lambda or Powertools types: the handler passes the EventBridge event, the boto3 clients and
the configuration in, and gets a ``Decision`` back. Two events drive it:

``SageMaker Model Package State Change`` with ModelApprovalStatus ``Approved``
    1. validate the event; anything else (other status, other group) is ignored, a malformed event rejected;
    2. describe the package and re-check that it is *still* Approved (events can arrive late or twice);
    3. read the evaluation report behind ModelMetrics.ModelQuality.Statistics.S3Uri and require the AUC
       (``binary_classification_metrics.auc.value``), optionally at least MIN_AUC;
    4. CreateModel from the package, CreateEndpointConfig (serverless or provisioned);
    5. copy the package's held-out test split (``<artifacts prefix>/<execution id>/preprocess/test/test.csv``)
       to TEST_DATA_TARGET_URI, where the batch test strategy reads it (skipped when unset);
    6. CreateEndpoint if the endpoint does not exist, else UpdateEndpoint with a blue/green canary that rolls
       back on alarms. Never to an older version of the package group than the endpoint serves: approval
       events can be redelivered, late or replayed, so an older package is ``ignored`` unless the invocation
       asks for a rollback explicitly (``{"rollback": {"reason": "..."}}`` next to the event's ``detail``,
       which only a direct invocation can add: EventBridge's envelope has no such field).

``SageMaker Endpoint State Change`` with EndpointStatus ``IN_SERVICE``
    Endpoint creation and update are asynchronous, and autoscaling can only be registered on an InService
    endpoint, so the follow-up work happens on this event rather than in a wait loop: register target-tracking
    autoscaling (provisioned endpoints) and create or update the Model Monitor data-quality schedule when a
    baseline exists. The baseline is the one the training pipeline attached to the served model package
    (``DriftCheckBaselines.ModelDataQuality``), found through endpoint config -> model -> its container's
    ModelPackageName, so nothing is remembered between the two events; BASELINE_URI is the fallback for
    packages registered without one. Both steps are idempotent, so repeated IN_SERVICE events (every scaling
    activity emits one) change nothing.

Serverless endpoints support neither data capture nor Model Monitor (SageMaker rejects both), and an
instance-based endpoint cannot be converted to serverless; the logic says so in the decision instead of
sending requests SageMaker would refuse.

Errors that a retry can fix (throttling, access denied, an endpoint that is still updating) are raised, so
the Lambda invocation fails and its asynchronous retry / on-failure destination takes over. Problems with the
model itself end in a ``rejected`` decision and nothing is created.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from typing import Any, Literal, TypeGuard

from botocore.exceptions import ClientError
from clarify_monitoring import ensure_clarify_monitoring
from common import safe_json
from common.errors import ValidationError
from data_quality_monitoring import Baseline as Baseline
from data_quality_monitoring import ensure_monitoring, package_baseline, served_model_package
from data_quality_monitoring import find_baseline as find_baseline
from promotion_config import Config as Config
from promotion_config import ConfigError as ConfigError
from promotion_config import Mode
from sagemaker_calls import (
    MISSING_OBJECT_CODES,
    NOT_FOUND_CODES,
    SCALABLE_DIMENSION,
    VARIANT_NAME,
    Client,
    Clients,
    describe_endpoint,
    digest,
    error_code,
    error_message,
    exists,
    is_serverless,
    scaling_resource_id,
    split_s3_uri,
)
from sagemaker_calls import resource_name as resource_name

SOURCE = "aws.sagemaker"
MODEL_PACKAGE_EVENT = "SageMaker Model Package State Change"
ENDPOINT_EVENT = "SageMaker Endpoint State Change"
APPROVED = "Approved"
IN_SERVICE_EVENT_STATUS = "IN_SERVICE"

AUC_PATH = ("binary_classification_metrics", "auc", "value")
# evaluation.json is a few hundred bytes; anything far larger is not a model-quality report.
MAX_METRICS_BYTES = 1_000_000
# Where the training pipeline's preprocess step leaves the held-out split, under <artifacts prefix>/<execution id>/.
TEST_SPLIT_PATH = "preprocess/test/test.csv"

_MODEL_PACKAGE_ARN = re.compile(r"^arn:aws[a-z-]*:sagemaker:[a-z0-9-]+:[0-9]{12}:model-package/[^/]+/[0-9]+\Z")
# Transitional endpoint states: the change in flight must finish before another update is accepted.
_BUSY_STATUSES = {"Creating", "Updating", "SystemUpdating", "RollingBack", "Deleting"}

Action = Literal["deployed", "rejected", "ignored", "configured"]


class EndpointBusyError(RuntimeError):
    """The endpoint is mid-change; raised so the invocation fails and is retried later."""


# --- decision --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Decision:
    """What the function decided and did; the handler logs it and returns ``to_dict()``."""

    action: Action
    reason: str
    model_package_arn: str | None = None
    endpoint: str | None = None
    mode: Mode | None = None
    metrics: dict[str, float] = field(default_factory=dict)
    model_name: str | None = None
    endpoint_config_name: str | None = None
    # created | updated | unchanged (promotion events only)
    deployment: str | None = None
    data_capture: str | None = None
    autoscaling: str | None = None
    monitoring: str | None = None
    # Model-bias and explainability schedules (clarify_monitoring.py), IN_SERVICE events only.
    clarify_monitoring: str | None = None
    test_data: str | None = None

    @property
    def summary(self) -> str:
        return f"{self.action}: {self.reason}"

    def to_dict(self) -> dict[str, Any]:
        return {
            "action": self.action,
            "reason": self.reason,
            "model_package_arn": self.model_package_arn,
            "endpoint": self.endpoint,
            "mode": self.mode,
            "metrics": dict(self.metrics),
            "model_name": self.model_name,
            "endpoint_config_name": self.endpoint_config_name,
            "deployment": self.deployment,
            "data_capture": self.data_capture,
            "autoscaling": self.autoscaling,
            "monitoring": self.monitoring,
            "clarify_monitoring": self.clarify_monitoring,
            "test_data": self.test_data,
        }


def handle_event(event: Any, clients: Clients, config: Config) -> Decision:
    """Route an EventBridge event to the promotion or the endpoint follow-up.

    A model package event may carry ``"rollback": {"reason": "<why>"}`` (direct invocations only): the one
    way to deploy a package older than the one the endpoint serves.
    """
    if not isinstance(event, Mapping):
        return _rejected(f"malformed event: expected a JSON object, got {type(event).__name__}", config)
    try:
        # Same bounds as every handler's input: nesting, numbers, unpaired surrogates (common.safe_json).
        safe_json.check(event, where="malformed event")
    except ValidationError as error:
        return _rejected(str(error), config)
    source, detail_type = event.get("source"), event.get("detail-type")
    if source != SOURCE or detail_type not in (MODEL_PACKAGE_EVENT, ENDPOINT_EVENT):
        return Decision(
            action="ignored",
            reason=f"unsupported event: source {source!r}, detail-type {detail_type!r}; expected {SOURCE!r} with "
            f"{MODEL_PACKAGE_EVENT!r} or {ENDPOINT_EVENT!r}",
            endpoint=config.endpoint_name,
        )
    detail = event.get("detail")
    if not isinstance(detail, Mapping):
        return _rejected("malformed event: 'detail' is missing or not an object", config)
    if detail_type == MODEL_PACKAGE_EVENT:
        rollback = event.get("rollback")
        if rollback is None:
            return promote(detail, clients, config)
        reason = rollback.get("reason") if isinstance(rollback, Mapping) else None
        if not isinstance(reason, str) or not reason.strip() or set(rollback) != {"reason"}:
            return _rejected('malformed event: rollback must be {"reason": "<why, non-empty>"}', config)
        return promote(detail, clients, config, rollback_reason=reason.strip()[:500])
    return configure_endpoint(detail, clients, config)


def _rejected(reason: str, config: Config, **fields: Any) -> Decision:
    return Decision(action="rejected", reason=reason, endpoint=config.endpoint_name, mode=config.mode, **fields)


# --- promotion -------------------------------------------------------------------------------------------


def promote(
    detail: Mapping[str, Any], clients: Clients, config: Config, *, rollback_reason: str | None = None
) -> Decision:
    """Deploy the approved model package named in a Model Package State Change event's detail.

    ``rollback_reason`` (an explicit rollback) is the only way to deploy a version older than the served one.
    """
    arn = detail.get("ModelPackageArn")
    if not isinstance(arn, str) or not arn:
        return _rejected("malformed event: detail.ModelPackageArn is missing", config)
    if not _MODEL_PACKAGE_ARN.match(arn):
        return _rejected(
            f"malformed event: detail.ModelPackageArn {arn!r} is not a versioned model package ARN", config
        )
    status = detail.get("ModelApprovalStatus")
    if not isinstance(status, str) or not status:
        return _rejected("malformed event: detail.ModelApprovalStatus is missing", config, model_package_arn=arn)
    if status != APPROVED:
        return Decision(
            action="ignored",
            reason=f"model package status is {status!r}, not {APPROVED!r}",
            model_package_arn=arn,
            endpoint=config.endpoint_name,
            mode=config.mode,
        )

    try:
        package = clients.sagemaker.describe_model_package(ModelPackageName=arn)
    except ClientError as error:
        if error_code(error) in NOT_FOUND_CODES:
            return _rejected(f"model package not found: {arn} ({error_message(error)})", config, model_package_arn=arn)
        raise
    group = package.get("ModelPackageGroupName")
    if config.model_package_group_name and group != config.model_package_group_name:
        return Decision(
            action="ignored",
            reason=f"model package group {group!r} is not {config.model_package_group_name!r}",
            model_package_arn=arn,
            endpoint=config.endpoint_name,
            mode=config.mode,
        )
    # The event can be stale: a reviewer may have revoked the approval before this invocation ran.
    live_status = package.get("ModelApprovalStatus")
    if live_status != APPROVED:
        return Decision(
            action="ignored",
            reason=f"model package is now {live_status!r} although the event said {APPROVED!r}",
            model_package_arn=arn,
            endpoint=config.endpoint_name,
            mode=config.mode,
        )

    metrics_or_reason = read_metrics(package, clients.s3)
    if isinstance(metrics_or_reason, str):
        return _rejected(metrics_or_reason, config, model_package_arn=arn)
    metrics = metrics_or_reason
    if config.min_auc is not None and metrics["auc"] < config.min_auc:
        return _rejected(
            f"auc below threshold: {metrics['auc']:.4f} < MIN_AUC {config.min_auc:.4f}",
            config,
            model_package_arn=arn,
            metrics=metrics,
        )
    return deploy(package, metrics, clients, config, rollback_reason=rollback_reason)


def read_metrics(package: Mapping[str, Any], s3: Client) -> dict[str, float] | str:
    """The package's evaluation metrics (``auc`` guaranteed), or the reason they cannot be used."""
    uri = package.get("ModelMetrics", {}).get("ModelQuality", {}).get("Statistics", {}).get("S3Uri")
    if not uri:
        return "no metrics: the model package has no ModelMetrics.ModelQuality.Statistics.S3Uri"
    try:
        bucket, key = split_s3_uri(uri, what="ModelQuality.Statistics.S3Uri", error=ValueError)
    except ValueError as error:
        return f"metrics unreadable: {error}"
    try:
        body = s3.get_object(Bucket=bucket, Key=key)["Body"].read(MAX_METRICS_BYTES + 1)
    except ClientError as error:
        # A missing report is the model's problem; throttling or AccessDenied is ours, so those are retried.
        if error_code(error) in {"NoSuchKey", "NoSuchBucket", "404", "NotFound"}:
            return f"metrics unreadable: {uri} does not exist ({error_code(error)})"
        raise
    if len(body) > MAX_METRICS_BYTES:
        return f"metrics unreadable: {uri} is larger than {MAX_METRICS_BYTES} bytes"
    try:
        report = json.loads(body)
    except (UnicodeDecodeError, json.JSONDecodeError) as error:
        return f"metrics unreadable: {uri} is not valid JSON ({error})"
    if not isinstance(report, dict):
        return f"metrics unreadable: {uri} holds a JSON {type(report).__name__}, not an object"
    section = report.get(AUC_PATH[0])
    metrics: dict[str, float] = {}
    if isinstance(section, dict):
        for name, entry in section.items():
            value = entry.get("value") if isinstance(entry, dict) else None
            if _is_number(value):
                metrics[name] = float(value)
    auc = metrics.get("auc")
    if auc is None:
        return f"no metrics: {uri} has no numeric {'.'.join(AUC_PATH)}"
    if not 0.0 <= auc <= 1.0:
        return f"metrics unreadable: {uri} reports auc {auc}, outside [0, 1]"
    return metrics


def _is_number(value: object) -> TypeGuard[int | float]:
    # bool is an int subclass, and NaN or infinity is not a usable score.
    return isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)


# --- deployment ------------------------------------------------------------------------------------------


def _package_version(arn: str) -> tuple[str, int] | None:
    """(group ARN, version) of a versioned model package ARN."""
    if not _MODEL_PACKAGE_ARN.match(arn):
        return None
    group, _, version = arn.rpartition("/")
    return group, int(version)


def deploy(
    package: Mapping[str, Any],
    metrics: dict[str, float],
    clients: Clients,
    config: Config,
    *,
    rollback_reason: str | None = None,
) -> Decision:
    """Create model and endpoint config for the package, then create or blue/green-update the endpoint.

    An update to an older version of the same package group than the endpoint serves happens only with
    ``rollback_reason``; otherwise the decision is ``ignored`` and nothing is created.
    """
    sagemaker = clients.sagemaker
    arn: str = package["ModelPackageArn"]
    version = str(package.get("ModelPackageVersion") or arn.rsplit("/", 1)[-1])
    endpoint = describe_endpoint(sagemaker, config.endpoint_name)

    if endpoint is not None:
        status = endpoint.get("EndpointStatus")
        if status in _BUSY_STATUSES:
            raise EndpointBusyError(
                f"endpoint {config.endpoint_name} is {status}; model package {arn} will be deployed on retry"
            )
        if status != "InService":
            # Failed, OutOfService or UpdateRollbackFailed: only an operator can tell what the endpoint needs.
            failure = endpoint.get("FailureReason") or "no failure reason given"
            remedy = "delete it" if status == "Failed" else "restore it to InService"
            return _rejected(
                f"endpoint {config.endpoint_name} is {status} ({failure}); {remedy}, then approve the package again",
                config,
                model_package_arn=arn,
                metrics=metrics,
            )
        if config.mode == "serverless" and not is_serverless(endpoint):
            # SageMaker refuses to convert an instance-based endpoint to serverless (the reverse is allowed).
            return _rejected(
                f"endpoint {config.endpoint_name} is instance-based and cannot be converted to serverless; "
                "set ENDPOINT_MODE=provisioned or delete the endpoint",
                config,
                model_package_arn=arn,
                metrics=metrics,
            )
        served = served_model_package(sagemaker, endpoint)
        served_version = _package_version(served) if served else None
        wanted = _package_version(arn)
        older = bool(served_version and wanted and served_version[0] == wanted[0] and served_version[1] > wanted[1])
        if older and rollback_reason is None:
            assert served_version is not None and wanted is not None  # for the type checker: `older` says so
            return Decision(
                action="ignored",
                reason=f"endpoint {config.endpoint_name} serves model package version {served_version[1]}, "
                f"newer than version {wanted[1]}: promotion never downgrades (a redelivered or late approval "
                'event); to roll back, invoke with "rollback": {"reason": "..."}',
                model_package_arn=arn,
                endpoint=config.endpoint_name,
                mode=config.mode,
                metrics=metrics,
            )

    model_request: dict[str, Any] = {
        "PrimaryContainer": {"ModelPackageName": arn},
        "ExecutionRoleArn": config.model_execution_role_arn,
    }
    # Names are derived from the request, so a retried or duplicate event reuses what the first one created.
    model_name = resource_name(config.endpoint_name, f"v{version}", digest(model_request))
    if not exists(sagemaker.describe_model, ModelName=model_name):
        sagemaker.create_model(ModelName=model_name, **model_request)

    config_request = endpoint_config_request(model_name, config)
    config_name = resource_name(config.endpoint_name, f"v{version}", digest(config_request))
    if not exists(sagemaker.describe_endpoint_config, EndpointConfigName=config_name):
        sagemaker.create_endpoint_config(EndpointConfigName=config_name, **config_request)

    data_capture = (
        f"enabled: {config.capture_sampling_percent}% to {_capture_uri(config)}"
        if config.mode == "provisioned"
        else "not supported on serverless endpoints"
    )
    # Before the endpoint changes: a failed copy (raised, retried) then leaves the endpoint as it was.
    test_data = copy_test_data(package, clients.s3, config)
    deployed = Decision(
        action="deployed",
        reason="",
        model_package_arn=arn,
        endpoint=config.endpoint_name,
        mode=config.mode,
        metrics=metrics,
        model_name=model_name,
        endpoint_config_name=config_name,
        data_capture=data_capture,
        monitoring=_pending_monitoring(package, config),
        test_data=test_data,
    )
    if endpoint is None:
        sagemaker.create_endpoint(EndpointName=config.endpoint_name, EndpointConfigName=config_name)
        return replace(
            deployed,
            reason=f"creating endpoint {config.endpoint_name} with model package version {version}; "
            f"test data: {test_data}",
            deployment="created",
            autoscaling=_pending_autoscaling(config),
        )
    if endpoint.get("EndpointConfigName") == config_name:
        return replace(
            deployed,
            reason=f"endpoint {config.endpoint_name} already serves model package version {version}; "
            f"test data: {test_data}",
            deployment="unchanged",
        )

    autoscaling = _prepare_autoscaling_for_update(clients, config, endpoint)
    sagemaker.update_endpoint(
        EndpointName=config.endpoint_name,
        EndpointConfigName=config_name,
        DeploymentConfig=deployment_config(config),
    )
    alarms = ", ".join(config.rollback_alarms) or "none configured"
    return replace(
        deployed,
        reason=(
            (f"explicit rollback ({rollback_reason}): " if rollback_reason else "")
            + f"updating endpoint {config.endpoint_name} to model package version {version}: blue/green, "
            f"{config.canary_percent}% canary for {config.canary_wait_seconds}s, then all at once, baking "
            f"{config.bake_seconds}s; rollback alarms: {alarms}; test data: {test_data}"
        ),
        deployment="updated",
        autoscaling=autoscaling,
    )


def _pending_monitoring(package: Mapping[str, Any], config: Config) -> str:
    if config.mode == "serverless":
        return "not supported on serverless endpoints"
    baseline = package_baseline(package)
    if baseline is not None:
        source = f"the package's baseline {baseline.constraints_uri}"
    elif config.monitor is not None and config.monitor.baseline_uri is not None:
        source = f"BASELINE_URI {config.monitor.baseline_uri} (the package has no DriftCheckBaselines)"
    else:
        return "no baseline: the package has no DriftCheckBaselines.ModelDataQuality and BASELINE_URI is unset"
    if config.monitor is None:
        return f"not configured (MONITOR_* unset), although {source} exists"
    return f"scheduled with {source} when the endpoint reports IN_SERVICE"


def copy_test_data(package: Mapping[str, Any], s3: Client, config: Config) -> str:
    """Copy the package's held-out test split to TEST_DATA_TARGET_URI; say what happened.

    The split lies at ``<artifacts prefix>/<execution id>/preprocess/test/test.csv``; the execution id is the last
    segment of the package's pipeline_execution_arn, and bucket and prefix come from its metrics report's URI,
    which the same execution wrote under the same prefix.
    """
    target = config.test_data_target_uri
    if target is None:
        return "skipped (TEST_DATA_TARGET_URI unset)"
    execution_arn = package.get("CustomerMetadataProperties", {}).get("pipeline_execution_arn")
    if not isinstance(execution_arn, str) or not execution_arn.strip("/"):
        return "skipped (the model package records no pipeline_execution_arn)"
    execution_id = execution_arn.rstrip("/").rsplit("/", 1)[-1]
    metrics_uri = package.get("ModelMetrics", {}).get("ModelQuality", {}).get("Statistics", {}).get("S3Uri", "")
    try:
        bucket, key = split_s3_uri(str(metrics_uri), what="ModelQuality.Statistics.S3Uri", error=ValueError)
    except ValueError as error:
        return f"skipped ({error})"
    segments = key.split("/")
    if execution_id not in segments[:-1]:
        return f"skipped (the metrics report {metrics_uri} is not under execution {execution_id}'s prefix)"
    prefix = segments[: segments.index(execution_id) + 1]
    source_key = "/".join([*prefix, TEST_SPLIT_PATH])
    target_bucket, target_key = split_s3_uri(target, what="TEST_DATA_TARGET_URI", error=ConfigError)
    encryption: dict[str, str] = {}
    if config.kms_key_id:
        encryption = {"ServerSideEncryption": "aws:kms", "SSEKMSKeyId": config.kms_key_id}
    try:
        s3.copy_object(
            CopySource={"Bucket": bucket, "Key": source_key}, Bucket=target_bucket, Key=target_key, **encryption
        )
    except ClientError as error:
        # A missing split is the package's problem (skipped); throttling or AccessDenied is retried.
        if error_code(error) in MISSING_OBJECT_CODES:
            return f"skipped (s3://{bucket}/{source_key} does not exist: {error_code(error)})"
        raise
    return f"copied s3://{bucket}/{source_key} to {target}"


def endpoint_config_request(model_name: str, config: Config) -> dict[str, Any]:
    """The CreateEndpointConfig arguments (without the name) for the configured mode."""
    variant: dict[str, Any] = {"VariantName": VARIANT_NAME, "ModelName": model_name}
    request: dict[str, Any] = {"ProductionVariants": [variant]}
    if config.mode == "serverless":
        variant["ServerlessConfig"] = {
            "MemorySizeInMB": config.serverless_memory_mb,
            "MaxConcurrency": config.serverless_max_concurrency,
        }
        # Serverless endpoints reject DataCaptureConfig and a volume KmsKeyId, so neither is sent.
        return request
    variant.update(
        InstanceType=config.instance_type,
        InitialInstanceCount=config.initial_instance_count,
        InitialVariantWeight=1.0,
    )
    capture: dict[str, Any] = {
        "EnableCapture": True,
        "InitialSamplingPercentage": config.capture_sampling_percent,
        "DestinationS3Uri": _capture_uri(config),
        "CaptureOptions": [{"CaptureMode": "Input"}, {"CaptureMode": "Output"}],
        # Without this SageMaker base64-encodes CSV payloads, which Model Monitor then cannot parse as CSV.
        "CaptureContentTypeHeader": {"CsvContentTypes": ["text/csv"]},
    }
    if config.kms_key_id:
        capture["KmsKeyId"] = config.kms_key_id
    request["DataCaptureConfig"] = capture
    if config.volume_kms_key_id:
        request["KmsKeyId"] = config.volume_kms_key_id
    return request


def deployment_config(config: Config) -> dict[str, Any]:
    """Blue/green: a canary slice first, the rest after the wait, and alarms that roll it all back."""
    policy: dict[str, Any] = {
        "TrafficRoutingConfiguration": {
            "Type": "CANARY",
            "CanarySize": {"Type": "CAPACITY_PERCENT", "Value": config.canary_percent},
            "WaitIntervalInSeconds": config.canary_wait_seconds,
        },
        # The old fleet stays up this long after full shift, so a late alarm can still roll back instantly.
        "TerminationWaitInSeconds": config.bake_seconds,
    }
    deployment: dict[str, Any] = {"BlueGreenUpdatePolicy": policy}
    if config.rollback_alarms:
        deployment["AutoRollbackConfiguration"] = {"Alarms": [{"AlarmName": name} for name in config.rollback_alarms]}
    return deployment


def _capture_uri(config: Config) -> str:
    return f"s3://{config.capture_bucket}/{config.capture_prefix}"


def _pending_autoscaling(config: Config) -> str:
    if config.mode == "serverless":
        return "not applicable: serverless endpoints scale themselves"
    return "registered when the endpoint reports IN_SERVICE"


def _prepare_autoscaling_for_update(clients: Clients, config: Config, endpoint: Mapping[str, Any]) -> str | None:
    """Deregister autoscaling when the update changes the instance type, which SageMaker otherwise refuses.

    Changing only the model of an autoscaled variant is allowed, so the common case leaves scaling alone.
    """
    if config.mode == "serverless" or is_serverless(endpoint):
        # Serverless needs none; a serverless -> provisioned conversion has nothing registered yet.
        return _pending_autoscaling(config)
    current = clients.sagemaker.describe_endpoint_config(EndpointConfigName=endpoint["EndpointConfigName"])
    current_types = {variant.get("InstanceType") for variant in current.get("ProductionVariants", [])}
    if current_types == {config.instance_type}:
        return "unchanged: same instance type, the registered policy carries over"
    resource_id = scaling_resource_id(config.endpoint_name)
    targets = clients.autoscaling.describe_scalable_targets(
        ServiceNamespace="sagemaker", ResourceIds=[resource_id], ScalableDimension=SCALABLE_DIMENSION
    )["ScalableTargets"]
    if not targets:
        return _pending_autoscaling(config)
    # Deregistering a target deletes its scaling policies too.
    clients.autoscaling.deregister_scalable_target(
        ServiceNamespace="sagemaker", ResourceId=resource_id, ScalableDimension=SCALABLE_DIMENSION
    )
    return (
        f"deregistered for the instance type change ({', '.join(sorted(map(str, current_types)))} -> "
        f"{config.instance_type}); registered again when the endpoint reports IN_SERVICE"
    )


# --- endpoint follow-up ----------------------------------------------------------------------------------


def configure_endpoint(detail: Mapping[str, Any], clients: Clients, config: Config) -> Decision:
    """On IN_SERVICE: register autoscaling and the data-quality monitoring schedule (both idempotent)."""
    name = detail.get("EndpointName")
    if not isinstance(name, str) or not name:
        return _rejected("malformed event: detail.EndpointName is missing", config)
    status = detail.get("EndpointStatus")
    if status != IN_SERVICE_EVENT_STATUS:
        return Decision(action="ignored", reason=f"endpoint {name} status is {status!r}, not IN_SERVICE", endpoint=name)
    if name != config.endpoint_name:
        return Decision(action="ignored", reason=f"endpoint {name} is not managed here ({config.endpoint_name} is)")
    endpoint = describe_endpoint(clients.sagemaker, name)
    # Re-check: the event can lag behind a newer update that already started.
    if endpoint is None or endpoint.get("EndpointStatus") != "InService":
        now = "deleted" if endpoint is None else endpoint.get("EndpointStatus")
        return Decision(action="ignored", reason=f"endpoint {name} is now {now}", endpoint=name)
    if is_serverless(endpoint):
        return Decision(
            action="configured",
            reason=f"endpoint {name} is serverless: nothing to register",
            endpoint=name,
            mode="serverless",
            endpoint_config_name=endpoint.get("EndpointConfigName"),
            autoscaling="not applicable: serverless endpoints scale themselves",
            monitoring="not supported on serverless endpoints",
            clarify_monitoring="not supported on serverless endpoints",
        )
    autoscaling = ensure_autoscaling(clients.autoscaling, config)
    monitoring = ensure_monitoring(clients, config, endpoint)
    clarify_monitoring = ensure_clarify_monitoring(
        clients.sagemaker, config, served_model_package(clients.sagemaker, endpoint)
    )
    return Decision(
        action="configured",
        reason=f"endpoint {name} is InService: autoscaling {autoscaling}; monitoring {monitoring}",
        endpoint=name,
        mode="provisioned",
        endpoint_config_name=endpoint.get("EndpointConfigName"),
        autoscaling=autoscaling,
        monitoring=monitoring,
        clarify_monitoring=clarify_monitoring,
    )


def ensure_autoscaling(autoscaling: Client, config: Config) -> str:
    """Register the variant as a scalable target with a target-tracking policy, unless already so."""
    resource_id = scaling_resource_id(config.endpoint_name)
    scope = {"ServiceNamespace": "sagemaker", "ResourceId": resource_id, "ScalableDimension": SCALABLE_DIMENSION}
    targets = autoscaling.describe_scalable_targets(
        ServiceNamespace="sagemaker", ResourceIds=[resource_id], ScalableDimension=SCALABLE_DIMENSION
    )["ScalableTargets"]
    target_current = bool(targets) and (
        targets[0].get("MinCapacity") == config.autoscaling_min
        and targets[0].get("MaxCapacity") == config.autoscaling_max
    )
    if not target_current:
        autoscaling.register_scalable_target(
            **scope, MinCapacity=config.autoscaling_min, MaxCapacity=config.autoscaling_max
        )

    policy_name = resource_name(config.endpoint_name, "invocations-per-instance")
    wanted = {
        "TargetValue": config.autoscaling_target,
        "PredefinedMetricSpecification": {"PredefinedMetricType": "SageMakerVariantInvocationsPerInstance"},
        "ScaleInCooldown": config.scale_in_cooldown,
        "ScaleOutCooldown": config.scale_out_cooldown,
    }
    policies = autoscaling.describe_scaling_policies(PolicyNames=[policy_name], **scope)["ScalingPolicies"]
    current = policies[0].get("TargetTrackingScalingPolicyConfiguration") if policies else None
    policy_current = isinstance(current, dict) and all(current.get(key) == value for key, value in wanted.items())
    if not policy_current:
        autoscaling.put_scaling_policy(
            PolicyName=policy_name,
            PolicyType="TargetTrackingScaling",
            TargetTrackingScalingPolicyConfiguration=wanted,
            **scope,
        )
    summary = (
        f"{config.autoscaling_min}-{config.autoscaling_max} instances, target {config.autoscaling_target:g} "
        "invocations per instance per minute"
    )
    return f"up to date ({summary})" if target_current and policy_current else f"registered ({summary})"


# --- helpers ---------------------------------------------------------------------------------------------
