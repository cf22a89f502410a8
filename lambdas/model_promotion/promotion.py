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

import hashlib
import json
import math
import re
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from typing import Any, Literal, TypeGuard

from botocore.exceptions import ClientError
from clarify_monitoring import ClarifyMonitorConfigError, ClarifyMonitorSettings, ensure_clarify_monitoring
from common import safe_json
from common.errors import ValidationError

# boto3 ships no type stubs in the Lambda runtime or this project's dependencies; clients are typed Any.
Client = Any

SOURCE = "aws.sagemaker"
MODEL_PACKAGE_EVENT = "SageMaker Model Package State Change"
ENDPOINT_EVENT = "SageMaker Endpoint State Change"
APPROVED = "Approved"
IN_SERVICE_EVENT_STATUS = "IN_SERVICE"

# Blue/green updates require the new endpoint config to keep the variant name of the old one.
VARIANT_NAME = "AllTraffic"
SCALABLE_DIMENSION = "sagemaker:variant:DesiredInstanceCount"
AUC_PATH = ("binary_classification_metrics", "auc", "value")
# evaluation.json is a few hundred bytes; anything far larger is not a model-quality report.
MAX_METRICS_BYTES = 1_000_000
# SageMaker resource names: 63 characters, alphanumerics and single hyphens.
MAX_NAME_LENGTH = 63
BASELINE_FILES = ("constraints.json", "statistics.json")
# Where the training pipeline's preprocess step leaves the held-out split, under <artifacts prefix>/<execution id>/.
TEST_SPLIT_PATH = "preprocess/test/test.csv"
_MISSING_OBJECT_CODES = {"NoSuchKey", "NoSuchBucket", "404", "NotFound"}
MONITOR_LOCAL_INPUT = "/opt/ml/processing/input/endpoint"
MONITOR_LOCAL_OUTPUT = "/opt/ml/processing/output"

_MODEL_PACKAGE_ARN = re.compile(r"^arn:aws[a-z-]*:sagemaker:[a-z0-9-]+:[0-9]{12}:model-package/[^/]+/[0-9]+\Z")
_NOT_FOUND_CODES = {"ValidationException", "ResourceNotFound", "ResourceNotFoundException"}
# Transitional endpoint states: the change in flight must finish before another update is accepted.
_BUSY_STATUSES = {"Creating", "Updating", "SystemUpdating", "RollingBack", "Deleting"}

Action = Literal["deployed", "rejected", "ignored", "configured"]
Mode = Literal["serverless", "provisioned"]


class ConfigError(ValueError):
    """The function's environment is incomplete or invalid; the message names the variable."""


class EndpointBusyError(RuntimeError):
    """The endpoint is mid-change; raised so the invocation fails and is retried later."""


# --- configuration ---------------------------------------------------------------------------------------


@dataclass(frozen=True)
class MonitorConfig:
    """Model Monitor data-quality settings; present when any MONITOR_* variable or BASELINE_URI is set.

    ``baseline_uri`` is only the fallback: a package registered with DriftCheckBaselines brings its own.
    """

    baseline_uri: str | None
    role_arn: str
    image_uri: str
    output_uri: str
    instance_type: str
    schedule_expression: str
    max_runtime_seconds: int


@dataclass(frozen=True)
class Config:
    endpoint_name: str
    model_execution_role_arn: str
    mode: Mode
    model_package_group_name: str | None = None
    min_auc: float | None = None
    serverless_memory_mb: int = 2048
    serverless_max_concurrency: int = 5
    instance_type: str = "ml.m5.large"
    initial_instance_count: int = 1
    capture_bucket: str | None = None
    capture_prefix: str = "data-capture"
    capture_sampling_percent: int = 100
    kms_key_id: str | None = None
    volume_kms_key_id: str | None = None
    rollback_alarms: tuple[str, ...] = ()
    canary_percent: int = 10
    canary_wait_seconds: int = 600
    bake_seconds: int = 600
    autoscaling_min: int = 1
    autoscaling_max: int = 4
    autoscaling_target: float = 100.0
    scale_in_cooldown: int = 300
    scale_out_cooldown: int = 60
    monitor: MonitorConfig | None = None
    clarify_monitor: ClarifyMonitorSettings | None = None
    test_data_target_uri: str | None = None

    @classmethod
    def from_env(cls, env: Mapping[str, str]) -> Config:
        """Read and validate the configuration; see the handler's docstring for each variable."""
        mode = env.get("ENDPOINT_MODE", "serverless").strip().lower()
        if mode not in ("serverless", "provisioned"):
            raise ConfigError(f"ENDPOINT_MODE must be 'serverless' or 'provisioned', got {mode!r}")
        endpoint_name = _required(env, "ENDPOINT_NAME")
        if not re.fullmatch(r"[a-zA-Z0-9](-*[a-zA-Z0-9]){0,62}", endpoint_name):
            raise ConfigError(f"ENDPOINT_NAME {endpoint_name!r} is not a valid SageMaker endpoint name")
        capture_bucket = _optional(env, "CAPTURE_BUCKET")
        if mode == "provisioned" and capture_bucket is None:
            raise ConfigError(
                "CAPTURE_BUCKET is required when ENDPOINT_MODE=provisioned (data capture feeds Model Monitor)"
            )
        alarms = tuple(name.strip() for name in env.get("ROLLBACK_ALARMS", "").split(",") if name.strip())
        if len(alarms) > 10:
            raise ConfigError(f"ROLLBACK_ALARMS lists {len(alarms)} alarms; SageMaker accepts at most 10")
        initial_count = _int(env, "INITIAL_INSTANCE_COUNT", 1, low=1, high=100)
        autoscaling_min = _int(env, "AUTOSCALING_MIN_CAPACITY", initial_count, low=1, high=100)
        autoscaling_max = _int(env, "AUTOSCALING_MAX_CAPACITY", max(4, autoscaling_min), low=1, high=100)
        if autoscaling_max < autoscaling_min:
            raise ConfigError(
                f"AUTOSCALING_MAX_CAPACITY ({autoscaling_max}) is below AUTOSCALING_MIN_CAPACITY ({autoscaling_min})"
            )
        min_auc_text = _optional(env, "MIN_AUC")
        test_data_target = _optional(env, "TEST_DATA_TARGET_URI")
        if test_data_target is not None:
            _split_s3_uri(test_data_target, what="TEST_DATA_TARGET_URI", error=ConfigError)
        return cls(
            endpoint_name=endpoint_name,
            model_execution_role_arn=_required(env, "MODEL_EXECUTION_ROLE_ARN"),
            mode="serverless" if mode == "serverless" else "provisioned",
            model_package_group_name=_optional(env, "MODEL_PACKAGE_GROUP_NAME"),
            min_auc=None if min_auc_text is None else _float(env, "MIN_AUC", 0.0, low=0.0, high=1.0),
            # SageMaker's allowed serverless memory sizes are 1024..6144 in 1024 MB steps.
            serverless_memory_mb=_choice(env, "SERVERLESS_MEMORY_MB", 2048, range(1024, 6145, 1024)),
            serverless_max_concurrency=_int(env, "SERVERLESS_MAX_CONCURRENCY", 5, low=1, high=200),
            instance_type=env.get("INSTANCE_TYPE", "ml.m5.large").strip() or "ml.m5.large",
            initial_instance_count=initial_count,
            capture_bucket=capture_bucket,
            capture_prefix=env.get("CAPTURE_PREFIX", "data-capture").strip().strip("/") or "data-capture",
            capture_sampling_percent=_int(env, "CAPTURE_SAMPLING_PERCENT", 100, low=0, high=100),
            kms_key_id=_optional(env, "KMS_KEY_ID"),
            volume_kms_key_id=_optional(env, "VOLUME_KMS_KEY_ID"),
            rollback_alarms=alarms,
            canary_percent=_int(env, "CANARY_PERCENT", 10, low=1, high=99),
            canary_wait_seconds=_int(env, "CANARY_WAIT_SECONDS", 600, low=0, high=3600),
            bake_seconds=_int(env, "BAKE_SECONDS", 600, low=0, high=3600),
            autoscaling_min=autoscaling_min,
            autoscaling_max=autoscaling_max,
            autoscaling_target=_float(env, "AUTOSCALING_TARGET_INVOCATIONS", 100.0, low=1.0, high=1_000_000.0),
            scale_in_cooldown=_int(env, "SCALE_IN_COOLDOWN_SECONDS", 300, low=0, high=86_400),
            scale_out_cooldown=_int(env, "SCALE_OUT_COOLDOWN_SECONDS", 60, low=0, high=86_400),
            monitor=_monitor_config(env),
            clarify_monitor=_clarify_monitor_config(env),
            test_data_target_uri=test_data_target,
        )


def _clarify_monitor_config(env: Mapping[str, str]) -> ClarifyMonitorSettings | None:
    try:
        return ClarifyMonitorSettings.from_env(env)
    except ClarifyMonitorConfigError as error:
        raise ConfigError(str(error)) from error


def _monitor_config(env: Mapping[str, str]) -> MonitorConfig | None:
    names = ("BASELINE_URI", "MONITOR_ROLE_ARN", "MONITOR_IMAGE_URI", "MONITOR_OUTPUT_URI")
    given = [name for name in names if _optional(env, name) is not None]
    if not given:
        return None
    because = f"{given[0]} is set"
    baseline_uri = _optional(env, "BASELINE_URI")
    if baseline_uri is not None:
        _split_s3_uri(baseline_uri, what="BASELINE_URI", error=ConfigError)
    output_uri = _required(env, "MONITOR_OUTPUT_URI", because=because)
    _split_s3_uri(output_uri, what="MONITOR_OUTPUT_URI", error=ConfigError)
    return MonitorConfig(
        baseline_uri=None if baseline_uri is None else baseline_uri.rstrip("/"),
        role_arn=_required(env, "MONITOR_ROLE_ARN", because=because),
        image_uri=_required(env, "MONITOR_IMAGE_URI", because=because),
        output_uri=output_uri.rstrip("/"),
        instance_type=env.get("MONITOR_INSTANCE_TYPE", "ml.m5.large").strip() or "ml.m5.large",
        schedule_expression=env.get("MONITOR_SCHEDULE", "cron(0 * ? * * *)").strip() or "cron(0 * ? * * *)",
        # An hourly schedule needs each run to finish within the hour.
        max_runtime_seconds=_int(env, "MONITOR_MAX_RUNTIME_SECONDS", 3600, low=60, high=86_400),
    )


def _required(env: Mapping[str, str], name: str, *, because: str = "") -> str:
    value = env.get(name, "").strip()
    if not value:
        raise ConfigError(f"{name} must be set" + (f" because {because}" if because else ""))
    return value


def _optional(env: Mapping[str, str], name: str) -> str | None:
    return env.get(name, "").strip() or None


def _int(env: Mapping[str, str], name: str, default: int, *, low: int, high: int) -> int:
    text = env.get(name, "").strip()
    if not text:
        return default
    try:
        value = int(text)
    except ValueError:
        raise ConfigError(f"{name} must be an integer, got {text!r}") from None
    if not low <= value <= high:
        raise ConfigError(f"{name} must be between {low} and {high}, got {value}")
    return value


def _float(env: Mapping[str, str], name: str, default: float, *, low: float, high: float) -> float:
    text = env.get(name, "").strip()
    if not text:
        return default
    try:
        value = float(text)
    except ValueError:
        raise ConfigError(f"{name} must be a number, got {text!r}") from None
    if not (math.isfinite(value) and low <= value <= high):
        raise ConfigError(f"{name} must be between {low} and {high}, got {text}")
    return value


def _choice(env: Mapping[str, str], name: str, default: int, allowed: range) -> int:
    value = _int(env, name, default, low=allowed.start, high=allowed.stop - 1)
    if value not in allowed:
        raise ConfigError(f"{name} must be one of {', '.join(map(str, allowed))}, got {value}")
    return value


# --- decision --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Clients:
    sagemaker: Client
    s3: Client
    autoscaling: Client


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
        if _code(error) in _NOT_FOUND_CODES:
            return _rejected(f"model package not found: {arn} ({_message(error)})", config, model_package_arn=arn)
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
        bucket, key = _split_s3_uri(uri, what="ModelQuality.Statistics.S3Uri", error=ValueError)
    except ValueError as error:
        return f"metrics unreadable: {error}"
    try:
        body = s3.get_object(Bucket=bucket, Key=key)["Body"].read(MAX_METRICS_BYTES + 1)
    except ClientError as error:
        # A missing report is the model's problem; throttling or AccessDenied is ours, so those are retried.
        if _code(error) in {"NoSuchKey", "NoSuchBucket", "404", "NotFound"}:
            return f"metrics unreadable: {uri} does not exist ({_code(error)})"
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
    endpoint = _describe_endpoint(sagemaker, config.endpoint_name)

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
        if config.mode == "serverless" and not _is_serverless(endpoint):
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
    model_name = _resource_name(config.endpoint_name, f"v{version}", _digest(model_request))
    if not _exists(sagemaker.describe_model, ModelName=model_name):
        sagemaker.create_model(ModelName=model_name, **model_request)

    config_request = endpoint_config_request(model_name, config)
    config_name = _resource_name(config.endpoint_name, f"v{version}", _digest(config_request))
    if not _exists(sagemaker.describe_endpoint_config, EndpointConfigName=config_name):
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
        bucket, key = _split_s3_uri(str(metrics_uri), what="ModelQuality.Statistics.S3Uri", error=ValueError)
    except ValueError as error:
        return f"skipped ({error})"
    segments = key.split("/")
    if execution_id not in segments[:-1]:
        return f"skipped (the metrics report {metrics_uri} is not under execution {execution_id}'s prefix)"
    prefix = segments[: segments.index(execution_id) + 1]
    source_key = "/".join([*prefix, TEST_SPLIT_PATH])
    target_bucket, target_key = _split_s3_uri(target, what="TEST_DATA_TARGET_URI", error=ConfigError)
    encryption: dict[str, str] = {}
    if config.kms_key_id:
        encryption = {"ServerSideEncryption": "aws:kms", "SSEKMSKeyId": config.kms_key_id}
    try:
        s3.copy_object(
            CopySource={"Bucket": bucket, "Key": source_key}, Bucket=target_bucket, Key=target_key, **encryption
        )
    except ClientError as error:
        # A missing split is the package's problem (skipped); throttling or AccessDenied is retried.
        if _code(error) in _MISSING_OBJECT_CODES:
            return f"skipped (s3://{bucket}/{source_key} does not exist: {_code(error)})"
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
    if config.mode == "serverless" or _is_serverless(endpoint):
        # Serverless needs none; a serverless -> provisioned conversion has nothing registered yet.
        return _pending_autoscaling(config)
    current = clients.sagemaker.describe_endpoint_config(EndpointConfigName=endpoint["EndpointConfigName"])
    current_types = {variant.get("InstanceType") for variant in current.get("ProductionVariants", [])}
    if current_types == {config.instance_type}:
        return "unchanged: same instance type, the registered policy carries over"
    resource_id = _scaling_resource_id(config.endpoint_name)
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
    endpoint = _describe_endpoint(clients.sagemaker, name)
    # Re-check: the event can lag behind a newer update that already started.
    if endpoint is None or endpoint.get("EndpointStatus") != "InService":
        now = "deleted" if endpoint is None else endpoint.get("EndpointStatus")
        return Decision(action="ignored", reason=f"endpoint {name} is now {now}", endpoint=name)
    if _is_serverless(endpoint):
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
    resource_id = _scaling_resource_id(config.endpoint_name)
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

    policy_name = _resource_name(config.endpoint_name, "invocations-per-instance")
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


def ensure_monitoring(clients: Clients, config: Config, endpoint: Mapping[str, Any]) -> str:
    """Create or update the hourly data-quality schedule with the served package's baseline (or BASELINE_URI)."""
    monitor = config.monitor
    if monitor is None:
        return "not configured (MONITOR_ROLE_ARN, MONITOR_IMAGE_URI and MONITOR_OUTPUT_URI unset)"
    baseline = find_baseline(clients.sagemaker, endpoint, monitor)
    if isinstance(baseline, str):
        return f"no baseline yet ({baseline})"
    uris = {"constraints.json": baseline.constraints_uri, "statistics.json": baseline.statistics_uri}
    missing = [name for name, uri in uris.items() if not _s3_object_exists(clients.s3, uri)]
    if missing:
        where = (
            f"under {monitor.baseline_uri}"
            if baseline.source == "BASELINE_URI"
            else f"at {', '.join(uris[name] for name in missing)} ({baseline.source})"
        )
        return f"no baseline yet ({', '.join(missing)} missing {where})"

    sagemaker = clients.sagemaker
    definition = data_quality_job_definition(config, monitor, baseline)
    definition_name = _resource_name(config.endpoint_name, "dq", _digest(definition))
    # Job definitions are immutable; a changed definition gets a new name and the schedule is pointed at it.
    if not _exists(sagemaker.describe_data_quality_job_definition, JobDefinitionName=definition_name):
        sagemaker.create_data_quality_job_definition(JobDefinitionName=definition_name, **definition)

    schedule_name = _resource_name(config.endpoint_name, "data-quality")
    schedule_config = {
        "ScheduleConfig": {"ScheduleExpression": monitor.schedule_expression},
        "MonitoringJobDefinitionName": definition_name,
        "MonitoringType": "DataQuality",
    }
    try:
        schedule = sagemaker.describe_monitoring_schedule(MonitoringScheduleName=schedule_name)
    except ClientError as error:
        if _code(error) not in _NOT_FOUND_CODES:
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
            if _code(error) not in _NOT_FOUND_CODES:
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
        if _code(error) in _NOT_FOUND_CODES:
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


# --- helpers ---------------------------------------------------------------------------------------------


def _describe_endpoint(sagemaker: Client, name: str) -> dict[str, Any] | None:
    try:
        response: dict[str, Any] = sagemaker.describe_endpoint(EndpointName=name)
    except ClientError as error:
        if _code(error) in _NOT_FOUND_CODES:
            return None
        raise
    return response


def _is_serverless(endpoint: Mapping[str, Any]) -> bool:
    return any(
        "CurrentServerlessConfig" in variant or "DesiredServerlessConfig" in variant
        for variant in endpoint.get("ProductionVariants", [])
    )


def _exists(describe: Any, **kwargs: str) -> bool:
    """Whether a describe call finds its resource; SageMaker reports absence as a ValidationException."""
    try:
        describe(**kwargs)
    except ClientError as error:
        if _code(error) in _NOT_FOUND_CODES:
            return False
        raise
    return True


def _s3_object_exists(s3: Client, uri: str) -> bool:
    bucket, key = _split_s3_uri(uri, what="baseline", error=ValueError)
    try:
        s3.head_object(Bucket=bucket, Key=key)
    except ClientError as error:
        if _code(error) in _MISSING_OBJECT_CODES:
            return False
        raise
    return True


def _scaling_resource_id(endpoint_name: str) -> str:
    return f"endpoint/{endpoint_name}/variant/{VARIANT_NAME}"


def _resource_name(base: str, *parts: str) -> str:
    """``<base>-<parts...>`` cut to SageMaker's 63 characters by shortening the base, never the suffix."""
    suffix = "".join(f"-{part}" for part in parts)
    head = base[: MAX_NAME_LENGTH - len(suffix)].rstrip("-")
    return f"{head}{suffix}"


def _digest(request: Mapping[str, Any]) -> str:
    return hashlib.sha256(json.dumps(request, sort_keys=True).encode()).hexdigest()[:8]


def _split_s3_uri(uri: str, *, what: str, error: type[Exception]) -> tuple[str, str]:
    match = re.fullmatch(r"s3://([^/]+)/(.+)", uri.strip())
    if not match:
        raise error(f"{what} {uri!r} is not an s3://bucket/key URI")
    return match.group(1), match.group(2)


def _code(error: ClientError) -> str:
    return str(error.response.get("Error", {}).get("Code", ""))


def _message(error: ClientError) -> str:
    return str(error.response.get("Error", {}).get("Message", ""))
