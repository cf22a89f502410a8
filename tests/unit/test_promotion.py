"""Model promotion logic (lambdas/model_promotion/promotion.py) against moto, plus the thin handler.

moto 5.2.5 implements the model registry (model package groups, packages, approval), CreateModel,
CreateEndpointConfig, CreateEndpoint / DescribeEndpoint (a new endpoint is InService at once), the
data-quality job definition calls, S3 and Application Auto Scaling. It does not implement UpdateEndpoint or
the monitoring-schedule calls (Describe/Create/UpdateMonitoringSchedule): those go to a botocore Stubber,
which still validates every request against the SageMaker service model.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import boto3
import pytest
from botocore.stub import ANY, Stubber
from moto import mock_aws

from tests.unit.lambdas_path import cached_handler, use

use("model_promotion")
import promotion  # noqa: E402 - importable only once its Lambda folder is on sys.path

REGION = "us-east-1"
GROUP = "mlops-dev-churn"
ENDPOINT = "mlops-preprod-churn"
ARTIFACTS = "mlops-artifacts-bucket"
CAPTURE = "mlops-capture-bucket"
ROLE = "arn:aws:iam::123456789012:role/model-execution"
EVALUATION = {
    "binary_classification_metrics": {
        "auc": {"value": 0.91, "standard_deviation": "NaN"},
        "accuracy": {"value": 0.85, "standard_deviation": "NaN"},
        "confusion_matrix": {"0": {"0": 40, "1": 5}, "1": {"0": 10, "1": 45}},
    }
}
BASE_ENV = {
    "ENDPOINT_NAME": ENDPOINT,
    "MODEL_EXECUTION_ROLE_ARN": ROLE,
    "MODEL_PACKAGE_GROUP_NAME": GROUP,
}
PROVISIONED_ENV = {
    **BASE_ENV,
    "ENDPOINT_MODE": "provisioned",
    "INSTANCE_TYPE": "ml.m5.large",
    "INITIAL_INSTANCE_COUNT": "2",
    "CAPTURE_BUCKET": CAPTURE,
    "CAPTURE_PREFIX": "/captured/",
    "CAPTURE_SAMPLING_PERCENT": "50",
    "KMS_KEY_ID": "arn:aws:kms:us-east-1:123456789012:key/capture",
    "VOLUME_KMS_KEY_ID": "arn:aws:kms:us-east-1:123456789012:key/volume",
    "ROLLBACK_ALARMS": "churn-5xx, churn-latency",
    "AUTOSCALING_MAX_CAPACITY": "6",
    "AUTOSCALING_TARGET_INVOCATIONS": "250",
}
MONITOR_ENV = {
    "BASELINE_URI": f"s3://{ARTIFACTS}/baselines/churn/",
    "MONITOR_ROLE_ARN": "arn:aws:iam::123456789012:role/model-monitor",
    "MONITOR_IMAGE_URI": "156813124566.dkr.ecr.us-east-1.amazonaws.com/sagemaker-model-monitor-analyzer",
    "MONITOR_OUTPUT_URI": f"s3://{ARTIFACTS}/monitoring/churn",
}


# Creating a boto3 client costs tens of milliseconds, so each module creates its clients once; moto
# intercepts them whenever a test's mock_aws() is active and starts every test from empty backends.
_MOTO = {
    service: boto3.client(service, region_name=REGION) for service in ("sagemaker", "s3", "application-autoscaling")
}
_STUBBED = [boto3.client("sagemaker", region_name=REGION) for _ in range(2)]


class SageMakerWithStubs:
    """moto's SageMaker client, except that the named operations go to a botocore Stubber."""

    def __init__(self, moto_client: Any, operations: set[str], stubbed_client: Any) -> None:
        self._moto = moto_client
        self._operations = operations
        self._stubbed = stubbed_client
        self.stub = Stubber(stubbed_client)
        self.stub.activate()

    def __getattr__(self, name: str) -> Any:
        return getattr(self._stubbed if name in self._operations else self._moto, name)


class Forbidden:
    """A client that fails the test if the logic calls it at all: proof of "no side effects"."""

    def __getattr__(self, name: str) -> Any:
        raise AssertionError(f"unexpected AWS call {name}")


NO_CLIENTS = promotion.Clients(sagemaker=Forbidden(), s3=Forbidden(), autoscaling=Forbidden())


@dataclass
class Aws:
    sagemaker: Any
    s3: Any
    autoscaling: Any
    stubbed: SageMakerWithStubs

    @property
    def clients(self) -> promotion.Clients:
        return promotion.Clients(sagemaker=self.stubbed, s3=self.s3, autoscaling=self.autoscaling)

    def register(
        self,
        *,
        metrics: Any = EVALUATION,
        status: str = "Approved",
        with_metrics: bool = True,
        key: str = "",
        baseline_prefix: str = "",
        execution_arn: str = "",
    ) -> str:
        """Register a package the way the training pipeline does, then set its approval status."""
        groups = self.sagemaker.list_model_package_groups()["ModelPackageGroupSummaryList"]
        if not any(group["ModelPackageGroupName"] == GROUP for group in groups):
            self.sagemaker.create_model_package_group(ModelPackageGroupName=GROUP)
        key = key or f"evaluation/{len(self.sagemaker.list_model_packages()['ModelPackageSummaryList'])}.json"
        if metrics is not None:
            body = metrics if isinstance(metrics, bytes) else json.dumps(metrics).encode()
            self.s3.put_object(Bucket=ARTIFACTS, Key=key, Body=body)
        request: dict[str, Any] = {
            "ModelPackageGroupName": GROUP,
            "InferenceSpecification": {
                "Containers": [{"Image": "xgboost:1.7-1", "ModelDataUrl": f"s3://{ARTIFACTS}/model.tar.gz"}],
                "SupportedContentTypes": ["text/csv"],
                "SupportedResponseMIMETypes": ["text/csv"],
            },
            "CustomerMetadataProperties": {"code_version": "abc123", "training_data_uri": f"s3://{ARTIFACTS}/cur"},
            "ModelApprovalStatus": "PendingManualApproval",
        }
        if with_metrics:
            statistics = {"ContentType": "application/json", "S3Uri": f"s3://{ARTIFACTS}/{key}"}
            request["ModelMetrics"] = {"ModelQuality": {"Statistics": statistics}}
        if baseline_prefix:
            # What the training pipeline's RegisterModel step attaches (see pipelines/training/definition.py).
            request["DriftCheckBaselines"] = {
                "ModelDataQuality": {
                    name.capitalize(): {"ContentType": "application/json", "S3Uri": f"{baseline_prefix}/{name}.json"}
                    for name in ("statistics", "constraints")
                }
            }
        if execution_arn:
            request["CustomerMetadataProperties"]["pipeline_execution_arn"] = execution_arn
        arn: str = self.sagemaker.create_model_package(**request)["ModelPackageArn"]
        if status != "PendingManualApproval":
            # moto 5.2.5 replaces the metadata with what UpdateModelPackage sends (SageMaker merges), so resend it.
            self.sagemaker.update_model_package(
                ModelPackageArn=arn,
                ModelApprovalStatus=status,
                CustomerMetadataProperties=request["CustomerMetadataProperties"],
            )
        return arn

    def counts(self) -> tuple[int, int, int]:
        return (
            len(self.sagemaker.list_models()["Models"]),
            len(self.sagemaker.list_endpoint_configs()["EndpointConfigs"]),
            len(self.sagemaker.list_endpoints()["Endpoints"]),
        )


@pytest.fixture
def aws() -> Iterator[Aws]:
    with mock_aws():
        _MOTO["s3"].create_bucket(Bucket=ARTIFACTS)
        operations = {"update_endpoint", "describe_monitoring_schedule", "create_monitoring_schedule",
                      "update_monitoring_schedule"}  # fmt: skip
        stubbed = SageMakerWithStubs(_MOTO["sagemaker"], operations, _STUBBED[0])
        yield Aws(_MOTO["sagemaker"], _MOTO["s3"], _MOTO["application-autoscaling"], stubbed)
        stubbed.stub.deactivate()
        stubbed.stub.assert_no_pending_responses()


def package_event(arn: str | None, status: str | None = "Approved") -> dict[str, Any]:
    detail: dict[str, Any] = {"ModelPackageGroupName": GROUP}
    if arn is not None:
        detail["ModelPackageArn"] = arn
    if status is not None:
        detail["ModelApprovalStatus"] = status
    return {
        "version": "0",
        "id": "4c1a8c5e-0000-0000-0000-000000000000",
        "source": "aws.sagemaker",
        "detail-type": "SageMaker Model Package State Change",
        "account": "123456789012",
        "region": REGION,
        "resources": [arn] if arn else [],
        "detail": detail,
    }


def endpoint_event(name: str = ENDPOINT, status: str = "IN_SERVICE") -> dict[str, Any]:
    return {
        "source": "aws.sagemaker",
        "detail-type": "SageMaker Endpoint State Change",
        "detail": {"EndpointName": name, "EndpointStatus": status, "EndpointConfigName": "whatever"},
    }


def config(**env: str) -> promotion.Config:
    return promotion.Config.from_env({**BASE_ENV, **env})


# --- configuration ---------------------------------------------------------------------------------------


def test_config_defaults_to_serverless() -> None:
    loaded = promotion.Config.from_env(BASE_ENV)
    assert (loaded.mode, loaded.serverless_memory_mb, loaded.rollback_alarms, loaded.monitor) == (
        "serverless",
        2048,
        (),
        None,
    )


def test_config_reads_provisioned_settings() -> None:
    loaded = promotion.Config.from_env({**PROVISIONED_ENV, **MONITOR_ENV})
    assert loaded.rollback_alarms == ("churn-5xx", "churn-latency")
    assert (loaded.autoscaling_min, loaded.autoscaling_max, loaded.autoscaling_target) == (2, 6, 250.0)
    assert loaded.capture_prefix == "captured"
    assert loaded.monitor is not None and loaded.monitor.baseline_uri == f"s3://{ARTIFACTS}/baselines/churn"


@pytest.mark.parametrize(
    ("env", "message"),
    [
        ({"ENDPOINT_NAME": ""}, "ENDPOINT_NAME must be set"),
        ({"ENDPOINT_NAME": "bad_name"}, "not a valid SageMaker endpoint name"),
        ({"ENDPOINT_MODE": "async"}, "ENDPOINT_MODE must be"),
        ({"ENDPOINT_MODE": "provisioned"}, "CAPTURE_BUCKET is required"),
        ({"SERVERLESS_MEMORY_MB": "1500"}, "SERVERLESS_MEMORY_MB must be one of"),
        ({"MIN_AUC": "high"}, "MIN_AUC must be a number"),
        ({"MIN_AUC": "1.5"}, "MIN_AUC must be between"),
        ({"ROLLBACK_ALARMS": ",".join(f"a{i}" for i in range(11))}, "at most 10"),
        ({"AUTOSCALING_MIN_CAPACITY": "5", "AUTOSCALING_MAX_CAPACITY": "2"}, "below AUTOSCALING_MIN_CAPACITY"),
        ({"BASELINE_URI": "s3://baselines/base"}, "MONITOR_OUTPUT_URI must be set because BASELINE_URI is set"),
        ({"BASELINE_URI": "baselines/"}, "BASELINE_URI must be an s3://bucket/key URI, got 'baselines/'"),
        ({"BASELINE_URI": "s3://b/base"}, "BASELINE_URI must be an s3://bucket/key URI"),  # S3 names are 3+ chars
        ({"SERVERLESS_MEMORY_MB": "2048.0"}, "SERVERLESS_MEMORY_MB must be an integer"),
        (
            {"MONITOR_ROLE_ARN": "arn:aws:iam::1:role/m"},
            "MONITOR_OUTPUT_URI must be set because MONITOR_ROLE_ARN is set",
        ),
        (
            {"TEST_DATA_TARGET_URI": "test-data/test.csv"},
            "TEST_DATA_TARGET_URI must be an s3://bucket/key URI, got 'test-data/test.csv'",
        ),
    ],
)
def test_config_errors_name_the_variable(env: dict[str, str], message: str) -> None:
    with pytest.raises(promotion.ConfigError, match=message):
        config(**env)


# --- events that must not touch AWS ----------------------------------------------------------------------

PACKAGE_ARN = f"arn:aws:sagemaker:{REGION}:123456789012:model-package/{GROUP}/3"


@pytest.mark.parametrize(
    ("event", "action", "reason"),
    [
        (["not", "an", "object"], "rejected", "malformed event: expected a JSON object, got list"),
        ({**package_event(PACKAGE_ARN), "detail": None}, "rejected", "'detail' is missing"),
        (package_event(None), "rejected", "malformed event: detail.ModelPackageArn is missing"),
        (package_event("arn:aws:s3:::bucket/key"), "rejected", "is not a versioned model package ARN"),
        (package_event(PACKAGE_ARN, status=None), "rejected", "detail.ModelApprovalStatus is missing"),
        ({**package_event(PACKAGE_ARN), "source": "custom.app"}, "ignored", "unsupported event: source 'custom.app'"),
        ({**package_event(PACKAGE_ARN), "detail-type": "Other"}, "ignored", "detail-type 'Other'"),
        (package_event(PACKAGE_ARN, "Rejected"), "ignored", "model package status is 'Rejected', not 'Approved'"),
        (package_event(PACKAGE_ARN, "PendingManualApproval"), "ignored", "'PendingManualApproval', not"),
        (endpoint_event(status="UPDATING"), "ignored", "status is 'UPDATING', not IN_SERVICE"),
        (endpoint_event(name="someone-elses"), "ignored", "is not managed here"),
        (
            {**endpoint_event(), "detail": {"EndpointStatus": "IN_SERVICE"}},
            "rejected",
            "detail.EndpointName is missing",
        ),
    ],
)
def test_events_decided_without_any_aws_call(event: Any, action: str, reason: str) -> None:
    decision = promotion.handle_event(event, NO_CLIENTS, config())
    assert decision.action == action
    assert reason in decision.reason
    assert decision.summary.startswith(f"{action}: ")


# --- promotion against moto ------------------------------------------------------------------------------


def test_approved_package_creates_serverless_endpoint(aws: Aws) -> None:
    arn = aws.register()
    decision = promotion.handle_event(package_event(arn), aws.clients, config())

    assert (decision.action, decision.deployment, decision.mode) == ("deployed", "created", "serverless")
    assert decision.metrics == {"auc": 0.91, "accuracy": 0.85}
    assert decision.model_package_arn == arn
    model = aws.sagemaker.describe_model(ModelName=decision.model_name)
    assert model["PrimaryContainer"] == {"ModelPackageName": arn}
    assert model["ExecutionRoleArn"] == ROLE
    endpoint_config = aws.sagemaker.describe_endpoint_config(EndpointConfigName=decision.endpoint_config_name)
    [variant] = endpoint_config["ProductionVariants"]
    assert variant["ServerlessConfig"] == {"MemorySizeInMB": 2048, "MaxConcurrency": 5}
    assert "InstanceType" not in variant
    # SageMaker rejects data capture on serverless endpoints, so none is requested.
    assert not endpoint_config.get("DataCaptureConfig")
    assert decision.data_capture == "not supported on serverless endpoints"
    assert aws.sagemaker.describe_endpoint(EndpointName=ENDPOINT)["EndpointConfigName"] == decision.endpoint_config_name


def test_approved_package_creates_provisioned_endpoint_with_data_capture(aws: Aws) -> None:
    arn = aws.register()
    decision = promotion.handle_event(package_event(arn), aws.clients, promotion.Config.from_env(PROVISIONED_ENV))

    assert (decision.action, decision.deployment, decision.mode) == ("deployed", "created", "provisioned")
    assert decision.autoscaling == "registered when the endpoint reports IN_SERVICE"
    endpoint_config = aws.sagemaker.describe_endpoint_config(EndpointConfigName=decision.endpoint_config_name)
    [variant] = endpoint_config["ProductionVariants"]
    assert (variant["VariantName"], variant["InstanceType"], variant["InitialInstanceCount"]) == (
        "AllTraffic",
        "ml.m5.large",
        2,
    )
    assert "ServerlessConfig" not in variant
    assert endpoint_config["DataCaptureConfig"] == {
        "EnableCapture": True,
        "InitialSamplingPercentage": 50,
        "DestinationS3Uri": f"s3://{CAPTURE}/captured",
        "KmsKeyId": PROVISIONED_ENV["KMS_KEY_ID"],
        "CaptureOptions": [{"CaptureMode": "Input"}, {"CaptureMode": "Output"}],
        "CaptureContentTypeHeader": {"CsvContentTypes": ["text/csv"]},
    }
    assert endpoint_config["KmsKeyId"] == PROVISIONED_ENV["VOLUME_KMS_KEY_ID"]


def test_new_version_updates_the_endpoint_blue_green_with_rollback_alarms(aws: Aws) -> None:
    settings = promotion.Config.from_env({**PROVISIONED_ENV, "CANARY_WAIT_SECONDS": "300", "BAKE_SECONDS": "900"})
    first = promotion.handle_event(package_event(aws.register()), aws.clients, settings)
    second_arn = aws.register()
    assert second_arn.endswith("/2")
    aws.stubbed.stub.add_response(
        "update_endpoint",
        {"EndpointArn": f"arn:aws:sagemaker:{REGION}:123456789012:endpoint/{ENDPOINT}"},
        {
            "EndpointName": ENDPOINT,
            "EndpointConfigName": ANY,
            "DeploymentConfig": {
                "BlueGreenUpdatePolicy": {
                    "TrafficRoutingConfiguration": {
                        "Type": "CANARY",
                        "CanarySize": {"Type": "CAPACITY_PERCENT", "Value": 10},
                        "WaitIntervalInSeconds": 300,
                    },
                    "TerminationWaitInSeconds": 900,
                },
                "AutoRollbackConfiguration": {"Alarms": [{"AlarmName": "churn-5xx"}, {"AlarmName": "churn-latency"}]},
            },
        },
    )

    second = promotion.handle_event(package_event(second_arn), aws.clients, settings)

    assert (second.action, second.deployment) == ("deployed", "updated")
    assert second.endpoint_config_name != first.endpoint_config_name
    assert second.endpoint_config_name is not None and "-v2-" in second.endpoint_config_name
    assert "rollback alarms: churn-5xx, churn-latency" in second.reason
    assert second.autoscaling == "unchanged: same instance type, the registered policy carries over"
    assert aws.counts() == (2, 2, 1)


def test_instance_type_change_deregisters_autoscaling_before_the_update(aws: Aws) -> None:
    promotion.handle_event(package_event(aws.register()), aws.clients, promotion.Config.from_env(PROVISIONED_ENV))
    promotion.handle_event(endpoint_event(), aws.clients, promotion.Config.from_env(PROVISIONED_ENV))
    assert aws.autoscaling.describe_scalable_targets(ServiceNamespace="sagemaker")["ScalableTargets"]
    aws.stubbed.stub.add_response("update_endpoint", {"EndpointArn": f"arn:aws:sagemaker:{REGION}:1:endpoint/x"})

    bigger = promotion.Config.from_env({**PROVISIONED_ENV, "INSTANCE_TYPE": "ml.c5.xlarge"})
    decision = promotion.handle_event(package_event(aws.register()), aws.clients, bigger)

    assert decision.deployment == "updated"
    assert decision.autoscaling is not None and decision.autoscaling.startswith("deregistered for the instance type")
    assert aws.autoscaling.describe_scalable_targets(ServiceNamespace="sagemaker")["ScalableTargets"] == []


def test_duplicate_event_reuses_what_the_first_created(aws: Aws) -> None:
    arn = aws.register()
    first = promotion.handle_event(package_event(arn), aws.clients, config())
    again = promotion.handle_event(package_event(arn), aws.clients, config())

    assert (again.action, again.deployment) == ("deployed", "unchanged")
    assert (again.model_name, again.endpoint_config_name) == (first.model_name, first.endpoint_config_name)
    assert aws.counts() == (1, 1, 1)


def test_a_redelivered_approval_of_an_older_package_never_rolls_the_endpoint_back(aws: Aws) -> None:
    # Fault 12: v2 is live; the approval event of v1 arrives again (EventBridge delivers at least once).
    old, new = aws.register(), aws.register()
    live = promotion.handle_event(package_event(new), aws.clients, config())
    assert (live.action, live.deployment) == ("deployed", "created")
    counts = aws.counts()

    replayed = promotion.handle_event(package_event(old), aws.clients, config())

    assert replayed.action == "ignored"
    assert replayed.reason.startswith(
        f"endpoint {ENDPOINT} serves model package version 2, newer than version 1: promotion never downgrades"
    )
    assert aws.counts() == counts  # no model, no endpoint config, no UpdateEndpoint (the stub has no answer)
    assert aws.sagemaker.describe_endpoint(EndpointName=ENDPOINT)["EndpointConfigName"] == live.endpoint_config_name


def test_an_explicit_rollback_deploys_the_older_package(aws: Aws) -> None:
    old, new = aws.register(), aws.register()
    promotion.handle_event(package_event(new), aws.clients, config())
    aws.stubbed.stub.add_response("update_endpoint", {"EndpointArn": f"arn:aws:sagemaker:{REGION}:1:endpoint/x"})

    event = {**package_event(old), "rollback": {"reason": "v2 breaks checkout"}}
    decision = promotion.handle_event(event, aws.clients, config())

    assert (decision.action, decision.deployment) == ("deployed", "updated")
    assert decision.reason.startswith("explicit rollback (v2 breaks checkout): updating endpoint")


@pytest.mark.parametrize("rollback", [True, {}, {"reason": " "}, {"reason": "x", "force": True}, "yes"])
def test_a_malformed_rollback_request_is_rejected_without_any_call(rollback: Any) -> None:
    event = {**package_event(PACKAGE_ARN), "rollback": rollback}
    decision = promotion.handle_event(event, NO_CLIENTS, config())
    assert (decision.action, decision.reason) == (
        "rejected",
        'malformed event: rollback must be {"reason": "<why, non-empty>"}',
    )


def test_missing_package_is_rejected_with_the_reason(aws: Aws) -> None:
    decision = promotion.handle_event(package_event(PACKAGE_ARN), aws.clients, config())

    assert decision.action == "rejected"
    assert decision.reason.startswith(f"model package not found: {PACKAGE_ARN}")
    assert aws.counts() == (0, 0, 0)


def test_package_without_metrics_is_rejected(aws: Aws) -> None:
    decision = promotion.handle_event(package_event(aws.register(with_metrics=False)), aws.clients, config())

    assert (decision.action, decision.reason) == (
        "rejected",
        "no metrics: the model package has no ModelMetrics.ModelQuality.Statistics.S3Uri",
    )
    assert aws.counts() == (0, 0, 0)


@pytest.mark.parametrize(
    ("metrics", "reason"),
    [
        (None, "metrics unreadable: s3://mlops-artifacts-bucket/evaluation/0.json does not exist (NoSuchKey)"),
        (b"{not json", "metrics unreadable: s3://mlops-artifacts-bucket/evaluation/0.json is not valid JSON"),
        ([0.9], "metrics unreadable: s3://mlops-artifacts-bucket/evaluation/0.json holds a JSON list"),
        ({"binary_classification_metrics": {"auc": {"value": 1.7}}}, "reports auc 1.7, outside [0, 1]"),
        ({"binary_classification_metrics": {"auc": {"value": "0.9"}}}, "no metrics: s3://"),
        ({"regression_metrics": {"mse": {"value": 0.1}}}, "has no numeric binary_classification_metrics.auc.value"),
    ],
)
def test_unusable_metrics_are_rejected(aws: Aws, metrics: Any, reason: str) -> None:
    decision = promotion.handle_event(package_event(aws.register(metrics=metrics)), aws.clients, config())

    assert decision.action == "rejected"
    assert reason in decision.reason
    assert aws.counts() == (0, 0, 0)


def test_auc_below_min_auc_is_rejected(aws: Aws) -> None:
    decision = promotion.handle_event(package_event(aws.register()), aws.clients, config(MIN_AUC="0.95"))

    assert (decision.action, decision.reason) == ("rejected", "auc below threshold: 0.9100 < MIN_AUC 0.9500")
    assert decision.metrics["auc"] == 0.91
    assert aws.counts() == (0, 0, 0)


def test_stale_approval_event_is_ignored(aws: Aws) -> None:
    arn = aws.register(status="Rejected")
    decision = promotion.handle_event(package_event(arn, "Approved"), aws.clients, config())

    assert (decision.action, decision.reason) == (
        "ignored",
        "model package is now 'Rejected' although the event said 'Approved'",
    )
    assert aws.counts() == (0, 0, 0)


def test_package_of_another_group_is_ignored(aws: Aws) -> None:
    decision = promotion.handle_event(package_event(aws.register()), aws.clients, config(MODEL_PACKAGE_GROUP_NAME="x"))
    assert decision.action == "ignored"
    assert decision.reason == f"model package group {GROUP!r} is not 'x'"


@pytest.fixture
def endpoint_in_state(aws: Aws) -> Iterator[Callable[[str], promotion.Clients]]:
    """Clients whose DescribeEndpoint (stubbed: moto endpoints are always InService) reports a given state."""
    stubbed = SageMakerWithStubs(aws.sagemaker, {"describe_endpoint"}, _STUBBED[1])

    def clients(status: str) -> promotion.Clients:
        described = {
            "EndpointName": ENDPOINT,
            "EndpointArn": f"arn:aws:sagemaker:{REGION}:123456789012:endpoint/{ENDPOINT}",
            "EndpointStatus": status,
            "CreationTime": "2025-01-01T00:00:00Z",
            "LastModifiedTime": "2025-01-01T00:00:00Z",
        }
        if status == "Failed":
            described["FailureReason"] = "image pull failed"
        stubbed.stub.add_response("describe_endpoint", described, {"EndpointName": ENDPOINT})
        return promotion.Clients(sagemaker=stubbed, s3=aws.s3, autoscaling=aws.autoscaling)

    yield clients
    stubbed.stub.deactivate()
    stubbed.stub.assert_no_pending_responses()


def test_busy_endpoint_raises_so_the_invocation_is_retried(aws: Aws, endpoint_in_state: Any) -> None:
    arn = aws.register()
    with pytest.raises(promotion.EndpointBusyError, match="is Updating"):
        promotion.handle_event(package_event(arn), endpoint_in_state("Updating"), config())
    assert aws.counts() == (0, 0, 0)


def test_failed_endpoint_is_left_to_an_operator(aws: Aws, endpoint_in_state: Any) -> None:
    decision = promotion.handle_event(package_event(aws.register()), endpoint_in_state("Failed"), config())

    assert decision.action == "rejected"
    assert decision.reason == (
        f"endpoint {ENDPOINT} is Failed (image pull failed); delete it, then approve the package again"
    )
    assert aws.counts() == (0, 0, 0)


def test_instance_based_endpoint_is_not_converted_to_serverless(aws: Aws) -> None:
    promotion.handle_event(package_event(aws.register()), aws.clients, promotion.Config.from_env(PROVISIONED_ENV))
    decision = promotion.handle_event(package_event(aws.register()), aws.clients, config())

    assert decision.action == "rejected"
    assert "cannot be converted to serverless" in decision.reason
    assert aws.counts() == (1, 1, 1)


def test_long_endpoint_names_still_give_valid_resource_names() -> None:
    name = promotion.resource_name("a" * 62 + "-", "v12", "deadbeef")
    assert len(name) == 63
    assert name.endswith("a-v12-deadbeef")


def test_reads_the_report_the_pipeline_evaluate_step_writes(aws: Aws) -> None:
    # The contract between producer and consumer: evaluate.py's real output, not a hand-written copy.
    np = pytest.importorskip("numpy")
    from pipelines.training.steps import evaluate

    report = {
        "binary_classification_metrics": evaluate.binary_classification_metrics(
            np.array([0, 0, 1, 1]), np.array([0.1, 0.6, 0.4, 0.9]), decision_threshold=0.5
        )
    }
    decision = promotion.handle_event(package_event(aws.register(metrics=report)), aws.clients, config())
    assert decision.action == "deployed"
    assert decision.metrics == {"auc": 0.75, "accuracy": 0.5, "precision": 0.5, "recall": 0.5, "f1": 0.5}


# --- endpoint IN_SERVICE follow-up -----------------------------------------------------------------------


def put_baseline(aws: Aws) -> None:
    for name in ("constraints.json", "statistics.json"):
        aws.s3.put_object(Bucket=ARTIFACTS, Key=f"baselines/churn/{name}", Body=b"{}")


def test_in_service_registers_autoscaling_and_monitoring_once(aws: Aws) -> None:
    settings = promotion.Config.from_env({**PROVISIONED_ENV, **MONITOR_ENV})
    promotion.handle_event(package_event(aws.register()), aws.clients, settings)
    put_baseline(aws)
    schedule = f"{ENDPOINT}-data-quality"
    aws.stubbed.stub.add_client_error(
        "describe_monitoring_schedule", "ResourceNotFound", "Monitoring schedule not found", 400
    )
    aws.stubbed.stub.add_response(
        "create_monitoring_schedule",
        {"MonitoringScheduleArn": f"arn:aws:sagemaker:{REGION}:123456789012:monitoring-schedule/{schedule}"},
        {"MonitoringScheduleName": schedule, "MonitoringScheduleConfig": ANY},
    )

    decision = promotion.handle_event(endpoint_event(), aws.clients, settings)

    assert (decision.action, decision.mode) == ("configured", "provisioned")
    assert decision.autoscaling == "registered (2-6 instances, target 250 invocations per instance per minute)"
    assert decision.monitoring is not None and decision.monitoring.startswith(f"created schedule {schedule}")
    [target] = aws.autoscaling.describe_scalable_targets(ServiceNamespace="sagemaker")["ScalableTargets"]
    assert (target["ResourceId"], target["MinCapacity"], target["MaxCapacity"]) == (
        f"endpoint/{ENDPOINT}/variant/AllTraffic",
        2,
        6,
    )
    [policy] = aws.autoscaling.describe_scaling_policies(ServiceNamespace="sagemaker")["ScalingPolicies"]
    tracking = policy["TargetTrackingScalingPolicyConfiguration"]
    assert tracking["TargetValue"] == 250.0
    assert tracking["PredefinedMetricSpecification"] == {
        "PredefinedMetricType": "SageMakerVariantInvocationsPerInstance"
    }
    [definition] = aws.sagemaker.list_data_quality_job_definitions()["JobDefinitionSummaries"]
    assert decision.monitoring.endswith(f"with {definition['MonitoringJobDefinitionName']}, baseline of BASELINE_URI")
    described = aws.sagemaker.describe_data_quality_job_definition(
        JobDefinitionName=definition["MonitoringJobDefinitionName"]
    )
    assert described["DataQualityJobInput"]["EndpointInput"]["EndpointName"] == ENDPOINT
    assert described["RoleArn"] == MONITOR_ENV["MONITOR_ROLE_ARN"]
    assert described["DataQualityAppSpecification"]["ImageUri"] == MONITOR_ENV["MONITOR_IMAGE_URI"]

    # The next IN_SERVICE event (every scaling activity sends one) finds everything in place.
    aws.stubbed.stub.add_response(
        "describe_monitoring_schedule",
        {
            "MonitoringScheduleArn": f"arn:aws:sagemaker:{REGION}:123456789012:monitoring-schedule/{schedule}",
            "MonitoringScheduleName": schedule,
            "MonitoringScheduleStatus": "Scheduled",
            "CreationTime": "2025-01-01T00:00:00Z",
            "LastModifiedTime": "2025-01-01T00:00:00Z",
            "MonitoringScheduleConfig": {
                "ScheduleConfig": {"ScheduleExpression": "cron(0 * ? * * *)"},
                "MonitoringJobDefinitionName": definition["MonitoringJobDefinitionName"],
                "MonitoringType": "DataQuality",
            },
        },
    )
    again = promotion.handle_event(endpoint_event(), aws.clients, settings)
    assert again.autoscaling is not None and again.autoscaling.startswith("up to date")
    assert again.monitoring == f"schedule {schedule} up to date"


def test_in_service_points_an_existing_schedule_at_a_changed_definition(aws: Aws) -> None:
    settings = promotion.Config.from_env({**PROVISIONED_ENV, **MONITOR_ENV, "MONITOR_INSTANCE_TYPE": "ml.m5.xlarge"})
    promotion.handle_event(package_event(aws.register()), aws.clients, settings)
    put_baseline(aws)
    schedule = f"{ENDPOINT}-data-quality"
    aws.stubbed.stub.add_response(
        "describe_monitoring_schedule",
        {
            "MonitoringScheduleArn": f"arn:aws:sagemaker:{REGION}:123456789012:monitoring-schedule/{schedule}",
            "MonitoringScheduleName": schedule,
            "MonitoringScheduleStatus": "Scheduled",
            "CreationTime": "2025-01-01T00:00:00Z",
            "LastModifiedTime": "2025-01-01T00:00:00Z",
            "MonitoringScheduleConfig": {
                "ScheduleConfig": {"ScheduleExpression": "cron(0 * ? * * *)"},
                "MonitoringJobDefinitionName": f"{ENDPOINT}-dq-00000000",
                "MonitoringType": "DataQuality",
            },
        },
    )
    aws.stubbed.stub.add_response(
        "update_monitoring_schedule",
        {"MonitoringScheduleArn": f"arn:aws:sagemaker:{REGION}:123456789012:monitoring-schedule/{schedule}"},
        {"MonitoringScheduleName": schedule, "MonitoringScheduleConfig": ANY},
    )

    decision = promotion.handle_event(endpoint_event(), aws.clients, settings)

    [definition] = aws.sagemaker.list_data_quality_job_definitions()["JobDefinitionSummaries"]
    assert decision.monitoring == (
        f"updated schedule {schedule} to {definition['MonitoringJobDefinitionName']}, baseline of BASELINE_URI"
    )
    described = aws.sagemaker.describe_data_quality_job_definition(
        JobDefinitionName=definition["MonitoringJobDefinitionName"]
    )
    assert described["JobResources"]["ClusterConfig"]["InstanceType"] == "ml.m5.xlarge"


def test_in_service_without_baseline_says_so(aws: Aws) -> None:
    settings = promotion.Config.from_env({**PROVISIONED_ENV, **MONITOR_ENV})
    promotion.handle_event(package_event(aws.register()), aws.clients, settings)

    decision = promotion.handle_event(endpoint_event(), aws.clients, settings)

    assert decision.monitoring == (
        f"no baseline yet (constraints.json, statistics.json missing under s3://{ARTIFACTS}/baselines/churn)"
    )
    assert "monitoring no baseline yet" in decision.reason
    not_configured = promotion.handle_event(endpoint_event(), aws.clients, promotion.Config.from_env(PROVISIONED_ENV))
    assert not_configured.monitoring == (
        "not configured (MONITOR_ROLE_ARN, MONITOR_IMAGE_URI and MONITOR_OUTPUT_URI unset)"
    )


MONITOR_ONLY_ENV = {name: value for name, value in MONITOR_ENV.items() if name != "BASELINE_URI"}
EXECUTION_ID = "p1a2b3c4d5e6"
EXECUTION_ARN = f"arn:aws:sagemaker:{REGION}:123456789012:pipeline/mlops-dev-training/execution/{EXECUTION_ID}"
RUN_PREFIX = f"training-pipeline/{EXECUTION_ID}"
PACKAGE_BASELINE = f"s3://{ARTIFACTS}/{RUN_PREFIX}/baseline"


def put_package_baseline(aws: Aws) -> None:
    for name in ("constraints.json", "statistics.json"):
        aws.s3.put_object(Bucket=ARTIFACTS, Key=f"{RUN_PREFIX}/baseline/{name}", Body=b"{}")


def test_in_service_schedules_monitoring_with_the_served_package_s_baseline(aws: Aws) -> None:
    settings = promotion.Config.from_env({**PROVISIONED_ENV, **MONITOR_ONLY_ENV})
    arn = aws.register(baseline_prefix=PACKAGE_BASELINE)
    deployed = promotion.handle_event(package_event(arn), aws.clients, settings)
    assert deployed.monitoring == (
        f"scheduled with the package's baseline {PACKAGE_BASELINE}/constraints.json when the endpoint reports "
        "IN_SERVICE"
    )
    put_package_baseline(aws)
    schedule = f"{ENDPOINT}-data-quality"
    aws.stubbed.stub.add_client_error("describe_monitoring_schedule", "ResourceNotFound", "not found", 400)
    aws.stubbed.stub.add_response(
        "create_monitoring_schedule",
        {"MonitoringScheduleArn": f"arn:aws:sagemaker:{REGION}:123456789012:monitoring-schedule/{schedule}"},
        {"MonitoringScheduleName": schedule, "MonitoringScheduleConfig": ANY},
    )

    decision = promotion.handle_event(endpoint_event(), aws.clients, settings)

    assert decision.monitoring is not None
    assert decision.monitoring.startswith(f"created schedule {schedule}")
    assert decision.monitoring.endswith(f"baseline of model package {arn}")
    [definition] = aws.sagemaker.list_data_quality_job_definitions()["JobDefinitionSummaries"]
    described = aws.sagemaker.describe_data_quality_job_definition(
        JobDefinitionName=definition["MonitoringJobDefinitionName"]
    )
    assert described["DataQualityBaselineConfig"] == {
        "ConstraintsResource": {"S3Uri": f"{PACKAGE_BASELINE}/constraints.json"},
        "StatisticsResource": {"S3Uri": f"{PACKAGE_BASELINE}/statistics.json"},
    }


def test_the_package_s_baseline_wins_over_baseline_uri(aws: Aws) -> None:
    settings = promotion.Config.from_env({**PROVISIONED_ENV, **MONITOR_ENV})
    promotion.handle_event(package_event(aws.register(baseline_prefix=PACKAGE_BASELINE)), aws.clients, settings)
    # Only the package's files exist; BASELINE_URI's do not, and are not looked at.
    put_package_baseline(aws)
    endpoint = aws.sagemaker.describe_endpoint(EndpointName=ENDPOINT)
    baseline = promotion.find_baseline(aws.sagemaker, endpoint, settings.monitor)
    assert isinstance(baseline, promotion.Baseline)
    assert baseline.constraints_uri == f"{PACKAGE_BASELINE}/constraints.json"


def test_in_service_names_what_is_missing_of_the_package_s_baseline(aws: Aws) -> None:
    settings = promotion.Config.from_env({**PROVISIONED_ENV, **MONITOR_ONLY_ENV})
    arn = aws.register(baseline_prefix=PACKAGE_BASELINE)
    promotion.handle_event(package_event(arn), aws.clients, settings)

    decision = promotion.handle_event(endpoint_event(), aws.clients, settings)

    assert decision.monitoring == (
        f"no baseline yet (constraints.json, statistics.json missing at {PACKAGE_BASELINE}/constraints.json, "
        f"{PACKAGE_BASELINE}/statistics.json (model package {arn}))"
    )


def test_in_service_without_any_baseline_names_the_package(aws: Aws) -> None:
    settings = promotion.Config.from_env({**PROVISIONED_ENV, **MONITOR_ONLY_ENV})
    arn = aws.register()
    deployed = promotion.handle_event(package_event(arn), aws.clients, settings)
    assert deployed.monitoring == (
        "no baseline: the package has no DriftCheckBaselines.ModelDataQuality and BASELINE_URI is unset"
    )

    decision = promotion.handle_event(endpoint_event(), aws.clients, settings)

    assert decision.monitoring == (
        f"no baseline yet (model package {arn} has no DriftCheckBaselines.ModelDataQuality and BASELINE_URI is unset)"
    )


def test_serverless_deployments_say_monitoring_is_not_supported(aws: Aws) -> None:
    decision = promotion.handle_event(
        package_event(aws.register(baseline_prefix=PACKAGE_BASELINE)), aws.clients, config(**MONITOR_ONLY_ENV)
    )
    assert decision.monitoring == "not supported on serverless endpoints"


# --- test data for the batch test strategy ---------------------------------------------------------------

TEST_DATA_TARGET = f"s3://{ARTIFACTS}/test-data/churn/test.csv"


def register_run(aws: Aws, **overrides: Any) -> str:
    arguments: dict[str, Any] = {"key": f"{RUN_PREFIX}/evaluate/evaluation.json", "execution_arn": EXECUTION_ARN}
    arguments.update(overrides)
    return aws.register(**arguments)


def test_deploying_copies_the_package_s_test_split_to_the_batch_test_s_key(aws: Aws) -> None:
    aws.s3.put_object(Bucket=ARTIFACTS, Key=f"{RUN_PREFIX}/preprocess/test/test.csv", Body=b"1,2.0,3.0\n")
    aws.s3.put_object(Bucket=ARTIFACTS, Key="test-data/churn/test.csv", Body=b"old version's split")

    decision = promotion.handle_event(
        package_event(register_run(aws)), aws.clients, config(TEST_DATA_TARGET_URI=TEST_DATA_TARGET)
    )

    source = f"s3://{ARTIFACTS}/{RUN_PREFIX}/preprocess/test/test.csv"
    assert decision.action == "deployed"
    assert decision.test_data == f"copied {source} to {TEST_DATA_TARGET}"
    assert f"test data: copied {source} to {TEST_DATA_TARGET}" in decision.reason
    copied = aws.s3.get_object(Bucket=ARTIFACTS, Key="test-data/churn/test.csv")["Body"].read()
    assert copied == b"1,2.0,3.0\n"


def test_the_copy_is_kms_encrypted_with_the_configured_key(aws: Aws) -> None:
    aws.s3.put_object(Bucket=ARTIFACTS, Key=f"{RUN_PREFIX}/preprocess/test/test.csv", Body=b"1,2.0\n")
    calls: list[dict[str, Any]] = []

    class RecordingS3:
        def __getattr__(self, name: str) -> Any:
            return getattr(aws.s3, name)

        def copy_object(self, **kwargs: Any) -> Any:
            calls.append(kwargs)
            return aws.s3.copy_object(**kwargs)

    settings = config(TEST_DATA_TARGET_URI=TEST_DATA_TARGET, KMS_KEY_ID="arn:aws:kms:us-east-1:123456789012:key/k")
    clients = promotion.Clients(sagemaker=aws.stubbed, s3=RecordingS3(), autoscaling=aws.autoscaling)
    promotion.handle_event(package_event(register_run(aws)), clients, settings)
    assert calls == [
        {
            "CopySource": {"Bucket": ARTIFACTS, "Key": f"{RUN_PREFIX}/preprocess/test/test.csv"},
            "Bucket": ARTIFACTS,
            "Key": "test-data/churn/test.csv",
            "ServerSideEncryption": "aws:kms",
            "SSEKMSKeyId": "arn:aws:kms:us-east-1:123456789012:key/k",
        }
    ]


@pytest.mark.parametrize(
    ("env", "overrides", "reason"),
    [
        ({}, {}, "skipped (TEST_DATA_TARGET_URI unset)"),
        (
            {"TEST_DATA_TARGET_URI": TEST_DATA_TARGET},
            {},
            f"skipped (s3://{ARTIFACTS}/{RUN_PREFIX}/preprocess/test/test.csv does not exist: NoSuchKey)",
        ),
        (
            {"TEST_DATA_TARGET_URI": TEST_DATA_TARGET},
            {"execution_arn": ""},
            "skipped (the model package records no pipeline_execution_arn)",
        ),
        (
            {"TEST_DATA_TARGET_URI": TEST_DATA_TARGET},
            {"key": "evaluation/elsewhere.json"},
            f"skipped (the metrics report s3://{ARTIFACTS}/evaluation/elsewhere.json is not under execution "
            f"{EXECUTION_ID}'s prefix)",
        ),
    ],
)
def test_test_data_is_skipped_with_the_reason(
    aws: Aws, env: dict[str, str], overrides: dict[str, Any], reason: str
) -> None:
    decision = promotion.handle_event(package_event(register_run(aws, **overrides)), aws.clients, config(**env))
    assert decision.action == "deployed"
    assert decision.test_data == reason
    assert f"test data: {reason}" in decision.reason
    assert "Contents" not in aws.s3.list_objects_v2(Bucket=ARTIFACTS, Prefix="test-data/")


def test_in_service_serverless_endpoint_needs_nothing(aws: Aws) -> None:
    promotion.handle_event(package_event(aws.register()), aws.clients, config())
    decision = promotion.handle_event(endpoint_event(), aws.clients, config())

    assert (decision.action, decision.mode) == ("configured", "serverless")
    assert decision.monitoring == "not supported on serverless endpoints"
    assert aws.autoscaling.describe_scalable_targets(ServiceNamespace="sagemaker")["ScalableTargets"] == []


def test_in_service_event_for_a_deleted_endpoint_is_ignored(aws: Aws) -> None:
    decision = promotion.handle_event(endpoint_event(), aws.clients, config())
    assert (decision.action, decision.reason) == ("ignored", f"endpoint {ENDPOINT} is now deleted")


# --- handler ---------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class FakeContext:
    function_name: str = "model-promotion"
    memory_limit_in_mb: int = 256
    invoked_function_arn: str = f"arn:aws:lambda:{REGION}:123456789012:function:model-promotion"
    aws_request_id: str = "req-1"


@pytest.fixture
def handler_module(monkeypatch: pytest.MonkeyPatch, aws: Aws) -> Any:
    module = cached_handler("model_promotion")
    module.settings.cache_clear()  # the module is shared by the tests; each sets its own environment
    monkeypatch.setattr(module.metrics, "namespace", "MLOpsTests")
    monkeypatch.setattr(module, "clients", lambda: aws.clients)
    for name, value in BASE_ENV.items():
        monkeypatch.setenv(name, value)
    return module


def test_handler_returns_the_decision_and_emits_promotions(
    handler_module: Any, aws: Aws, capsys: pytest.CaptureFixture[str]
) -> None:
    result = handler_module.handler(package_event(aws.register()), FakeContext())

    assert (result["action"], result["deployment"], result["endpoint"]) == ("deployed", "created", ENDPOINT)
    assert json.loads(json.dumps(result)) == result
    emitted = [json.loads(line) for line in capsys.readouterr().out.splitlines() if '"_aws"' in line]
    assert any(line.get("Promotions") == [1.0] or line.get("Promotions") == 1.0 for line in emitted)


def test_handler_counts_rejections(handler_module: Any, capsys: pytest.CaptureFixture[str]) -> None:
    result = handler_module.handler(package_event(PACKAGE_ARN), FakeContext())

    assert result["action"] == "rejected"
    assert "Rejections" in capsys.readouterr().out


@pytest.mark.filterwarnings("ignore:No application metrics to publish")
def test_handler_fails_loudly_on_missing_configuration(handler_module: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("MODEL_EXECUTION_ROLE_ARN")
    with pytest.raises(promotion.ConfigError, match="MODEL_EXECUTION_ROLE_ARN must be set"):
        handler_module.handler(package_event(PACKAGE_ARN), FakeContext())
