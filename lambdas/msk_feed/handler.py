"""MSK feed Lambda: produce the preprod test records to the streaming test's Kafka topic.

Entry point ``handler.handler``, invoked by the pipeline's preprod check (``delivery/preprod_check.py``)
with an empty event. It reads TEST_DATA_URI, sends every row to TOPIC (see ``feed``) and returns
``{"status": "passed"|"failed", "topic", "source", "sent", "failed", "failures": [{"id", "reason"}]}``.
Unusable test data or configuration raises (the invocation fails with the message).

Runs in the MSK cluster's isolated subnets with the producers' security group; S3 is reached through the
VPC's gateway endpoint and the IAM token is signed locally (``kafka_connection``).

Environment:
    BOOTSTRAP_SERVERS   the cluster's IAM bootstrap brokers, host:port,...
    TOPIC               the topic to produce to
    TEST_DATA_URI       s3://bucket/key of the test records
    MAX_RECORDS         optional, default 10000
    POWERTOOLS_SERVICE_NAME, POWERTOOLS_METRICS_NAMESPACE, LOG_LEVEL   Powertools settings

Metrics: MskRecordsSent, MskRecordsFailed (counts).
"""

from __future__ import annotations

import functools
import os
from typing import Any

import boto3
import feed
from aws_lambda_powertools import Logger, Metrics
from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.typing import LambdaContext
from kafka import KafkaProducer
from kafka_connection import client_settings

logger = Logger()
metrics = Metrics()


@functools.cache
def settings() -> feed.Config:
    """The function's settings, validated once per execution environment (a bad one fails every invocation)."""
    return feed.Config.from_env(os.environ)


@logger.inject_lambda_context
@metrics.log_metrics
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    config = settings()
    source = f"s3://{config.bucket}/{config.key}"
    records = feed.parse_records(
        feed.read_test_data(boto3.client("s3"), config.bucket, config.key), max_records=config.max_records
    )
    producer = KafkaProducer(
        # Bounded: an unreachable or unauthorized cluster fails the invocation instead of retrying forever.
        retries=5,
        delivery_timeout_ms=int(feed.SEND_TIMEOUT_S * 1000),
        max_block_ms=int(feed.SEND_TIMEOUT_S * 1000),
        **client_settings(config.connection, client_id=context.function_name),
    )
    try:
        report = feed.produce(producer, config.topic, records, source=source)
    finally:
        producer.close(timeout=10)
    metrics.add_metric(name="MskRecordsSent", unit=MetricUnit.Count, value=report.sent)
    metrics.add_metric(name="MskRecordsFailed", unit=MetricUnit.Count, value=len(report.failures))
    result: dict[str, Any] = report.as_dict()
    logger.info("test records produced", **{k: v for k, v in result.items() if k != "failures"})
    if report.failures:
        logger.warning("records not produced", failures=result["failures"])
    return result
