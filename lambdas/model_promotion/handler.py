"""Model promotion Lambda: EventBridge SageMaker events in, a deployment decision out.

Entry point ``handler.handler``. Wire two EventBridge rules (default bus) to this function:

    {"source": ["aws.sagemaker"], "detail-type": ["SageMaker Model Package State Change"],
     "detail": {"ModelPackageGroupName": ["<group>"], "ModelApprovalStatus": ["Approved"]}}
    {"source": ["aws.sagemaker"], "detail-type": ["SageMaker Endpoint State Change"],
     "detail": {"EndpointName": ["<ENDPOINT_NAME>"], "EndpointStatus": ["IN_SERVICE"]}}

The first deploys an approved package; the second, fired when a create or update has finished, registers
autoscaling and the Model Monitor schedule. The logic (``promotion.py``) re-checks everything the patterns
filter on, so a broader rule only produces ``ignored`` decisions. An approval of a package older than the one
the endpoint serves (a redelivered or late event) is ignored: to roll back, invoke the function directly with
the package event plus ``"rollback": {"reason": "<why>"}``. Transient failures (throttling, an endpoint
still updating) raise, so configure the function's asynchronous retries and an on-failure destination.

Environment (required unless a default is shown):
    ENDPOINT_NAME                    endpoint to create or update
    MODEL_EXECUTION_ROLE_ARN         role SageMaker assumes to run the model (the function needs iam:PassRole)
    ENDPOINT_MODE                    serverless | provisioned (default serverless)
    MODEL_PACKAGE_GROUP_NAME         optional; packages of other groups are ignored
    MIN_AUC                          optional; reject packages whose evaluation AUC is lower
    SERVERLESS_MEMORY_MB             1024..6144 in steps of 1024 (default 2048)
    SERVERLESS_MAX_CONCURRENCY       default 5
    INSTANCE_TYPE                    provisioned instance type (default ml.m5.large)
    INITIAL_INSTANCE_COUNT           default 1
    CAPTURE_BUCKET                   data-capture bucket; required when provisioned (serverless cannot capture)
    CAPTURE_PREFIX                   default data-capture
    CAPTURE_SAMPLING_PERCENT         0..100 (default 100)
    KMS_KEY_ID                       optional; encrypts captured data and monitoring output / volumes
    VOLUME_KMS_KEY_ID                optional; endpoint instance volumes (not for instance types with local
                                     NVMe storage, which SageMaker rejects)
    ROLLBACK_ALARMS                  comma-separated CloudWatch alarm names (at most 10) that roll back an update
    CANARY_PERCENT                   default 10; CANARY_WAIT_SECONDS default 600; BAKE_SECONDS default 600
    AUTOSCALING_MIN_CAPACITY         default INITIAL_INSTANCE_COUNT; AUTOSCALING_MAX_CAPACITY default 4
    AUTOSCALING_TARGET_INVOCATIONS   SageMakerVariantInvocationsPerInstance target (default 100 per minute)
    SCALE_IN_COOLDOWN_SECONDS        default 300; SCALE_OUT_COOLDOWN_SECONDS default 60
    MONITOR_ROLE_ARN, MONITOR_IMAGE_URI (the regional Model Monitor analyzer image), MONITOR_OUTPUT_URI
                                     optional, all three or none: the data-quality schedule of provisioned
                                     endpoints, with the served package's DriftCheckBaselines.ModelDataQuality;
    MONITOR_INSTANCE_TYPE (default ml.m5.large), MONITOR_SCHEDULE (default hourly),
    MONITOR_MAX_RUNTIME_SECONDS (default 3600)
    BASELINE_URI                     optional s3:// prefix holding constraints.json and statistics.json, used for
                                     packages registered without a baseline (needs the three MONITOR_* above)
    TEST_DATA_TARGET_URI             optional s3://bucket/key: each deployed package's held-out test split is
                                     copied there (the batch test strategy's input)
    POWERTOOLS_SERVICE_NAME, POWERTOOLS_METRICS_NAMESPACE, LOG_LEVEL   Powertools settings

Metrics (namespace POWERTOOLS_METRICS_NAMESPACE): Promotions, Rejections, IgnoredEvents,
EndpointConfigurations, PromotionsDeferred (the endpoint was busy; the invocation fails and is retried).
"""

from __future__ import annotations

import functools
import os
from typing import Any

import boto3
import promotion
import promotion_config
import sagemaker_calls
from aws_lambda_powertools import Logger, Metrics
from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.typing import LambdaContext
from botocore.config import Config as BotoConfig

logger = Logger()
metrics = Metrics()

_METRIC_BY_ACTION = {
    "deployed": "Promotions",
    "rejected": "Rejections",
    "ignored": "IgnoredEvents",
    "configured": "EndpointConfigurations",
}


@functools.cache
def clients() -> sagemaker_calls.Clients:
    """Created on first use, not at import, so tests and cold starts pay only for what runs."""
    retries = BotoConfig(retries={"mode": "standard", "max_attempts": 5})
    return sagemaker_calls.Clients(
        sagemaker=boto3.client("sagemaker", config=retries),
        s3=boto3.client("s3", config=retries),
        autoscaling=boto3.client("application-autoscaling", config=retries),
    )


@functools.cache
def settings() -> promotion_config.Config:
    """The function's settings, validated once per execution environment (a bad one fails every invocation)."""
    return promotion_config.Config.from_env(os.environ)


@logger.inject_lambda_context(log_event=True)
@metrics.log_metrics
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    config = settings()
    try:
        decision = promotion.handle_event(event, clients(), config)
    except promotion.EndpointBusyError as error:
        metrics.add_metric(name="PromotionsDeferred", unit=MetricUnit.Count, value=1)
        logger.warning("deferred: endpoint busy, failing the invocation so it is retried", reason=str(error))
        raise
    metrics.add_metric(name=_METRIC_BY_ACTION[decision.action], unit=MetricUnit.Count, value=1)
    result: dict[str, Any] = decision.to_dict()
    if decision.action == "rejected":
        logger.warning(decision.summary, decision=result)
    else:
        logger.info(decision.summary, decision=result)
    return result
