"""Knowledge base skew monitor: a scheduled function that publishes how far the index lags its documents.

Entry point ``monitor.handler`` (EventBridge schedule). Metrics (dimension KnowledgeBase):
KnowledgeBaseSkewSeconds (age of the oldest change no COMPLETE ingestion job covers; 0 in sync),
KnowledgeBaseUnsyncedChanges, KnowledgeBaseFailedDocuments (of the last finished job; its failure
reasons are logged). Returns the measurement as JSON-able data (`make assess` reads the same metric).
"""

from __future__ import annotations

import functools
import os
from datetime import UTC, datetime
from typing import Any

import boto3
import kb_skew
from aws_lambda_powertools import Logger, Metrics
from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.typing import LambdaContext
from botocore.config import Config as BotoConfig
from kb_settings import Settings

logger = Logger()
metrics = Metrics()


@functools.cache
def clients() -> tuple[Any, Any]:
    config = BotoConfig(retries={"mode": "standard"})
    return boto3.client("s3", config=config), boto3.client("bedrock-agent", config=config)


@functools.cache
def environment() -> Settings:
    """The function's settings, validated once per execution environment (a bad one fails every invocation)."""
    return Settings.from_env(os.environ)


@logger.inject_lambda_context
@metrics.log_metrics
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    settings = environment()
    s3, agent = clients()
    result = kb_skew.measure(
        s3, agent, settings.source, bucket=settings.bucket, prefix=settings.prefix, now=datetime.now(UTC)
    )
    metrics.add_dimension(name="KnowledgeBase", value=settings.name)
    metrics.add_metric(name="KnowledgeBaseSkewSeconds", unit=MetricUnit.Seconds, value=result.oldest_change_age_seconds)
    metrics.add_metric(name="KnowledgeBaseUnsyncedChanges", unit=MetricUnit.Count, value=result.unsynced_changes)
    metrics.add_metric(name="KnowledgeBaseFailedDocuments", unit=MetricUnit.Count, value=result.failed_documents)
    if result.failure_reasons:
        logger.warning(
            "the last ingestion job could not ingest some documents",
            job_id=result.last_job_id,
            failed_documents=result.failed_documents,
            failure_reasons=result.failure_reasons,
        )
    if not result.listing_complete:
        logger.warning("the documents listing was cut short; the skew covers the first pages only")
    return {
        "skewSeconds": result.oldest_change_age_seconds,
        "unsyncedChanges": result.unsynced_changes,
        "lastCompleteStartedAt": result.last_complete_started_at.isoformat()
        if result.last_complete_started_at
        else None,
        "lastJobId": result.last_job_id,
        "lastJobStatus": result.last_job_status,
        "failedDocuments": result.failed_documents,
        "listingComplete": result.listing_complete,
    }
