"""The promotion function's configuration: its environment variables, read and validated once per cold start.

Every variable is read through :mod:`common.settings` (one set of rules for all functions); the handler's
docstring says what each one means. A bad value stops the function with one sentence naming the variable.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Literal

from clarify_monitoring import ClarifyMonitorSettings
from common.settings import EnvSettings

Mode = Literal["serverless", "provisioned"]

_ENDPOINT_NAME = re.compile(r"[a-zA-Z0-9](-*[a-zA-Z0-9]){0,62}")


class ConfigError(ValueError):
    """The function's environment is incomplete or invalid; the message names the variable."""


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
        settings = EnvSettings(env, error=ConfigError)
        mode = settings.choice("ENDPOINT_MODE", "serverless", ("serverless", "provisioned"))
        endpoint_name = settings.required("ENDPOINT_NAME")
        if not _ENDPOINT_NAME.fullmatch(endpoint_name):
            raise ConfigError(f"ENDPOINT_NAME {endpoint_name!r} is not a valid SageMaker endpoint name")
        capture_bucket = settings.optional("CAPTURE_BUCKET")
        if mode == "provisioned" and capture_bucket is None:
            raise ConfigError(
                "CAPTURE_BUCKET is required when ENDPOINT_MODE=provisioned (data capture feeds Model Monitor)"
            )
        alarms = settings.names("ROLLBACK_ALARMS")
        if len(alarms) > 10:
            raise ConfigError(f"ROLLBACK_ALARMS lists {len(alarms)} alarms; SageMaker accepts at most 10")
        initial_count = settings.integer("INITIAL_INSTANCE_COUNT", 1, low=1, high=100)
        autoscaling_min = settings.integer("AUTOSCALING_MIN_CAPACITY", initial_count, low=1, high=100)
        autoscaling_max = settings.integer("AUTOSCALING_MAX_CAPACITY", max(4, autoscaling_min), low=1, high=100)
        if autoscaling_max < autoscaling_min:
            raise ConfigError(
                f"AUTOSCALING_MAX_CAPACITY ({autoscaling_max}) is below AUTOSCALING_MIN_CAPACITY ({autoscaling_min})"
            )
        min_auc_text = settings.optional("MIN_AUC")
        test_data_target = settings.optional("TEST_DATA_TARGET_URI")
        settings.optional_s3_uri("TEST_DATA_TARGET_URI", key_required=True)
        return cls(
            endpoint_name=endpoint_name,
            model_execution_role_arn=settings.required("MODEL_EXECUTION_ROLE_ARN"),
            mode="serverless" if mode == "serverless" else "provisioned",
            model_package_group_name=settings.optional("MODEL_PACKAGE_GROUP_NAME"),
            min_auc=None if min_auc_text is None else settings.number("MIN_AUC", 0.0, low=0.0, high=1.0),
            # SageMaker's allowed serverless memory sizes are 1024..6144 in 1024 MB steps.
            serverless_memory_mb=_memory_size(settings),
            serverless_max_concurrency=settings.integer("SERVERLESS_MAX_CONCURRENCY", 5, low=1, high=200),
            instance_type=settings.text("INSTANCE_TYPE", "ml.m5.large"),
            initial_instance_count=initial_count,
            capture_bucket=capture_bucket,
            capture_prefix=settings.raw("CAPTURE_PREFIX").strip("/") or "data-capture",
            capture_sampling_percent=settings.integer("CAPTURE_SAMPLING_PERCENT", 100, low=0, high=100),
            kms_key_id=settings.optional("KMS_KEY_ID"),
            volume_kms_key_id=settings.optional("VOLUME_KMS_KEY_ID"),
            rollback_alarms=alarms,
            canary_percent=settings.integer("CANARY_PERCENT", 10, low=1, high=99),
            canary_wait_seconds=settings.integer("CANARY_WAIT_SECONDS", 600, low=0, high=3600),
            bake_seconds=settings.integer("BAKE_SECONDS", 600, low=0, high=3600),
            autoscaling_min=autoscaling_min,
            autoscaling_max=autoscaling_max,
            autoscaling_target=settings.number("AUTOSCALING_TARGET_INVOCATIONS", 100.0, low=1.0, high=1_000_000.0),
            scale_in_cooldown=settings.integer("SCALE_IN_COOLDOWN_SECONDS", 300, low=0, high=86_400),
            scale_out_cooldown=settings.integer("SCALE_OUT_COOLDOWN_SECONDS", 60, low=0, high=86_400),
            monitor=_monitor_config(settings),
            clarify_monitor=ClarifyMonitorSettings.from_settings(settings),
            test_data_target_uri=test_data_target,
        )


def _monitor_config(settings: EnvSettings) -> MonitorConfig | None:
    names = ("BASELINE_URI", "MONITOR_ROLE_ARN", "MONITOR_IMAGE_URI", "MONITOR_OUTPUT_URI")
    given = [name for name in names if settings.optional(name) is not None]
    if not given:
        return None
    because = f"{given[0]} is set"
    baseline_uri = settings.optional("BASELINE_URI")
    settings.optional_s3_uri("BASELINE_URI", key_required=True)
    output_uri = settings.required("MONITOR_OUTPUT_URI", because=because)
    settings.s3_uri("MONITOR_OUTPUT_URI", key_required=True)
    return MonitorConfig(
        baseline_uri=None if baseline_uri is None else baseline_uri.rstrip("/"),
        role_arn=settings.required("MONITOR_ROLE_ARN", because=because),
        image_uri=settings.required("MONITOR_IMAGE_URI", because=because),
        output_uri=output_uri.rstrip("/"),
        instance_type=settings.text("MONITOR_INSTANCE_TYPE", "ml.m5.large"),
        schedule_expression=settings.text("MONITOR_SCHEDULE", "cron(0 * ? * * *)"),
        # An hourly schedule needs each run to finish within the hour.
        max_runtime_seconds=settings.integer("MONITOR_MAX_RUNTIME_SECONDS", 3600, low=60, high=86_400),
    )


def _memory_size(settings: EnvSettings) -> int:
    """SageMaker's serverless memory sizes: 1024 to 6144 MB in 1024 MB steps."""
    allowed = range(1024, 6145, 1024)
    value: int = settings.integer("SERVERLESS_MEMORY_MB", 2048, low=allowed.start, high=allowed.stop - 1)
    if value not in allowed:
        raise ConfigError(f"SERVERLESS_MEMORY_MB must be one of {', '.join(map(str, allowed))}, got {value}")
    return value
