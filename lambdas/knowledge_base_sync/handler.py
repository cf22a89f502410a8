"""Knowledge base sync: SQS batches of document changes -> at most one ingestion job (see `kb_sync`).

Entry point ``handler.handler``, behind an SQS event source mapping with ``ReportBatchItemFailures`` and a
batching window of ``syncDebounceSeconds``. Answers the partial-batch response: messages not yet covered by
a COMPLETE ingestion job go back to the queue.

Environment: KNOWLEDGE_BASE_NAME, KNOWLEDGE_BASE_ID, DATA_SOURCE_ID, DOCUMENTS_BUCKET, DOCUMENTS_PREFIX,
POWERTOOLS_SERVICE_NAME, POWERTOOLS_METRICS_NAMESPACE.

Metrics (dimension KnowledgeBase): SyncChangesReceived, SyncChangesPending, SyncChangesRejected,
IngestionJobsStarted.
"""

from __future__ import annotations

import functools
import os
from typing import Any

import boto3
import kb_sync
from aws_lambda_powertools import Logger, Metrics
from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.data_classes import SQSEvent
from aws_lambda_powertools.utilities.typing import LambdaContext
from botocore.config import Config as BotoConfig
from kb_settings import Settings

logger = Logger()
metrics = Metrics()


@functools.cache
def agent_client() -> Any:
    return boto3.client("bedrock-agent", config=BotoConfig(retries={"mode": "standard"}))


@functools.cache
def environment() -> Settings:
    """The function's settings, validated once per execution environment (a bad one fails every invocation)."""
    return Settings.from_env(os.environ)


@logger.inject_lambda_context
@metrics.log_metrics
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    settings = environment()
    records = [(record.message_id, record.body) for record in SQSEvent(event).records]
    outcome = kb_sync.sync_batch(
        agent_client(), settings.source, records, bucket=settings.bucket, prefix=settings.prefix
    )
    for message_id, reason in outcome.rejected:
        logger.error("dropped a message that is not a document change", message_id=message_id, reason=reason)
    metrics.add_dimension(name="KnowledgeBase", value=settings.name)
    metrics.add_metric(name="SyncChangesReceived", unit=MetricUnit.Count, value=len(records))
    metrics.add_metric(name="SyncChangesPending", unit=MetricUnit.Count, value=len(outcome.retry))
    metrics.add_metric(name="SyncChangesRejected", unit=MetricUnit.Count, value=len(outcome.rejected))
    metrics.add_metric(name="IngestionJobsStarted", unit=MetricUnit.Count, value=1 if outcome.started_job else 0)
    logger.info(
        "sync batch",
        received=len(records),
        done=len(outcome.done),
        pending=len(outcome.retry),
        started_job=outcome.started_job,
        waiting_for=outcome.waiting_for,
    )
    response: dict[str, Any] = outcome.response()
    return response
