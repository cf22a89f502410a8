"""Batch test Lambda: grade the preprod endpoint on a labelled test set and report pass/fail.

Entry point ``handler.handler``. Invoke it synchronously from the pipeline's test stage, e.g.
``aws lambda invoke --function-name <fn> --payload '{"run_id": "build-42"}' out.json`` then fail the stage
unless ``.passed`` is true. The event is optional: ``run_id`` (letters, digits, ``.``, ``_``, ``-``) names the
report folder and defaults to the UTC time plus the request id. The function returns the report; it fails
(raises) only for a misconfiguration or when it cannot write to S3, never for a missed threshold.

Environment:
    ENDPOINT_NAME        endpoint under test (required)
    TEST_DATA_URI        s3://bucket/key of the test CSV (required; layouts in batch_strategy.py)
    LABELS_URI           optional s3://bucket/key of the labels, one per line, for a features-only CSV
    REPORT_URI           s3://bucket/prefix for <run_id>/predictions.csv and <run_id>/report.json (required)
    MIN_AUC              pass threshold on AUC (default 0.75, the training pipeline's gate)
    MIN_ACCURACY         optional second threshold
    DECISION_THRESHOLD   probability at or above which a row counts as churn (default 0.5)
    BATCH_SIZE           rows per invoke_endpoint call (default 100)
    MAX_ROWS             refuse larger test sets (default 100000)
    KMS_KEY_ID           optional; SSE-KMS key for the objects written
    POWERTOOLS_SERVICE_NAME, POWERTOOLS_METRICS_NAMESPACE, LOG_LEVEL   Powertools settings

Metrics: BatchTestsPassed, BatchTestsFailed, BatchTestErrors (counts), BatchTestAUC, BatchTestLatencyP90.
"""

from __future__ import annotations

import functools
import os
import time
from typing import Any

import batch_strategy
import boto3
from aws_lambda_powertools import Logger, Metrics
from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.typing import LambdaContext
from botocore.config import Config as BotoConfig

logger = Logger()
metrics = Metrics()


@functools.cache
def clients() -> batch_strategy.Clients:
    """Created on first use, not at import, so tests and cold starts pay only for what runs."""
    return batch_strategy.Clients(
        s3=boto3.client("s3", config=BotoConfig(retries={"mode": "standard", "max_attempts": 5})),
        # Endpoints may take up to 60 s per call; max_attempts counts the first try, so one retry at most.
        runtime=boto3.client(
            "sagemaker-runtime", config=BotoConfig(read_timeout=70, retries={"mode": "standard", "max_attempts": 2})
        ),
    )


@functools.cache
def settings() -> batch_strategy.Config:
    """The function's settings, validated once per execution environment (a bad one fails every invocation)."""
    return batch_strategy.Config.from_env(os.environ)


@logger.inject_lambda_context(log_event=True)
@metrics.log_metrics
def handler(event: Any, context: LambdaContext) -> dict[str, Any]:
    config = settings()
    requested = event.get("run_id") if isinstance(event, dict) else None
    run_id = requested or f"{time.strftime('%Y%m%dT%H%M%SZ', time.gmtime())}-{context.aws_request_id[:8]}"
    report: dict[str, Any] = batch_strategy.run(clients(), config, run_id=str(run_id))

    metric = {"passed": "BatchTestsPassed", "failed": "BatchTestsFailed"}.get(report["status"], "BatchTestErrors")
    metrics.add_metric(name=metric, unit=MetricUnit.Count, value=1)
    if report["metrics"] and report["metrics"]["auc"] is not None:
        metrics.add_metric(name="BatchTestAUC", unit=MetricUnit.NoUnit, value=report["metrics"]["auc"])
    if report["latency_ms"] and report["latency_ms"]["calls"]:
        metrics.add_metric(name="BatchTestLatencyP90", unit=MetricUnit.Milliseconds, value=report["latency_ms"]["p90"])
    summary = {key: report[key] for key in ("run_id", "status", "reasons", "metrics", "rows", "report_uri")}
    if report["passed"]:
        logger.info("batch test passed", report=summary)
    else:
        logger.warning("batch test did not pass", report=summary)
    return report
