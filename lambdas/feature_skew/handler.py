"""Scheduled training-serving skew check of the churn feature group (EventBridge schedule -> this function).

Compares a sample of the online store's records with the offline store's latest rows for the same records
(see ``skew.py``) and publishes, per feature group:

    FeatureSkewPercent   skewed / compared records * 100 (not published when nothing could be compared)
    FeatureSkewCompared  records compared
    FeatureSkewPending   records whose newest event has not reached the offline store yet

An alarm on FeatureSkewPercent (stacks/components/feature_skew.py) tells the environment's alarm topic.

Environment:
    FEATURES_GROUP   the feature group (with online and offline store) to check
    FEATURES         comma-separated features to compare
    SAMPLE_SIZE      records per check (1-100, default 20)
    WORKGROUP        Athena workgroup the offline-store query runs in
    POWERTOOLS_SERVICE_NAME, POWERTOOLS_METRICS_NAMESPACE, LOG_LEVEL   Powertools settings
"""

from __future__ import annotations

import functools
import os
from typing import Any

import boto3
import skew
from aws_lambda_powertools import Logger, Metrics
from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.typing import LambdaContext

logger = Logger()
metrics = Metrics()


@functools.cache
def _client(service: str) -> Any:
    return boto3.client(service)


@functools.cache
def settings() -> skew.Config:
    """The function's settings, validated once per execution environment (a bad one fails every run)."""
    return skew.Config.from_env(os.environ)


@logger.inject_lambda_context
@metrics.log_metrics
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    config = settings()
    report = skew.check(_client("sagemaker"), _client("athena"), _client("sagemaker-featurestore-runtime"), config)
    metrics.add_dimension(name="FeatureGroup", value=report.feature_group)
    metrics.add_metric(name="FeatureSkewCompared", unit=MetricUnit.Count, value=report.compared)
    metrics.add_metric(name="FeatureSkewPending", unit=MetricUnit.Count, value=report.pending)
    if report.skew_percent is not None:
        metrics.add_metric(name="FeatureSkewPercent", unit=MetricUnit.Percent, value=report.skew_percent)
    summary: dict[str, Any] = {
        "featureGroup": report.feature_group,
        "compared": report.compared,
        "skewed": report.skewed,
        "pending": report.pending,
        "skewPercent": report.skew_percent,
        "examples": report.examples,
    }
    if report.skewed:
        logger.warning("training-serving skew", extra=summary)
    else:
        logger.info("no training-serving skew", extra=summary)
    return summary
