"""Streaming test Lambda: scores each record of a Kinesis or Kafka (Amazon MSK) batch on the preprod endpoint.

Entry point ``handler.handler``. Each record's data (Kafka: its value) is JSON
``{"id": "...", "features": [13 numbers]}``; good records are scored and written, per invocation, as one
JSON-lines object per shard or topic partition under OUTPUT_URI. A bad record (invalid payload) or a
failed endpoint call is logged with its reason and reported as a batch item failure (Powertools
BatchProcessor: the sequence number for Kinesis, the topic partition and offset for Kafka), so the good
records of the batch are not failed with it. An event that is neither shape raises ``EventError``.

Event source mappings to wire: ``report_batch_item_failures=True`` (``FunctionResponseTypes:
ReportBatchItemFailures``), plus ``retry_attempts`` (e.g. 2) and an ``on_failure`` destination (SQS): Lambda
retries a shard from its first failed record, and an invalid record fails every time, so without a retry
limit it would hold up its shard until the record expires. For Kafka these error-handling controls need
the mapping's provisioned mode.

Environment:
    ENDPOINT_NAME   endpoint to call (required)
    OUTPUT_URI      s3://bucket/prefix for the results (required)
    KMS_KEY_ID      optional; SSE-KMS key for the objects written
    POWERTOOLS_SERVICE_NAME, POWERTOOLS_METRICS_NAMESPACE, LOG_LEVEL   Powertools settings

Metrics: StreamRecordsScored, StreamRecordsFailed (counts), StreamLatencyMean and StreamLatencyMax (ms),
with the dimension Source (kinesis or kafka).
"""

from __future__ import annotations

import functools
import os
from collections.abc import Callable
from typing import Any

import boto3
import stream_strategy
from aws_lambda_powertools import Logger, Metrics
from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.batch import BatchProcessor, EventType, process_partial_response
from aws_lambda_powertools.utilities.data_classes.kafka_event import KafkaEventRecord
from aws_lambda_powertools.utilities.data_classes.kinesis_stream_event import KinesisStreamRecord
from aws_lambda_powertools.utilities.typing import LambdaContext
from botocore.config import Config as BotoConfig
from common.xgboost_csv import EndpointError

logger = Logger()
metrics = Metrics()
# Not raising when every record fails keeps the response shape the same: the failures are reported and
# Lambda retries from the first of them, exactly as for a partial failure.
processors = {
    "kinesis": BatchProcessor(event_type=EventType.KinesisDataStreams, raise_on_entire_batch_failure=False),
    "kafka": BatchProcessor(event_type=EventType.Kafka, raise_on_entire_batch_failure=False),
}


@functools.cache
def clients() -> tuple[Any, Any]:
    """(sagemaker-runtime, s3), created on first use so tests and cold starts pay only for what runs."""
    return (
        boto3.client("sagemaker-runtime", config=BotoConfig(read_timeout=70, retries={"mode": "standard"})),
        boto3.client("s3", config=BotoConfig(retries={"mode": "standard", "max_attempts": 5})),
    )


@functools.cache
def settings() -> stream_strategy.Config:
    """The function's settings, validated once per execution environment (a bad one fails every invocation)."""
    return stream_strategy.Config.from_env(os.environ)


@logger.inject_lambda_context
@metrics.log_metrics
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    source = stream_strategy.event_source(event)
    config = settings()
    runtime, s3 = clients()
    results: list[stream_strategy.Result] = []

    def score(data: Callable[[], bytes], where: dict[str, Any]) -> tuple[stream_strategy.StreamInput, float, float]:
        """Parse and score one record's payload; `data` decodes it (it may itself raise RecordError)."""
        try:
            item = stream_strategy.parse_record(data())
            probability, latency_ms = stream_strategy.score(runtime, config.endpoint_name, item.features)
        except stream_strategy.RecordError as error:
            logger.warning("bad record", reason=str(error), source=source, **where)
            raise
        except EndpointError as error:
            logger.error("endpoint error", reason=str(error), source=source, **where)
            raise
        return item, probability, latency_ms

    def score_kinesis(record: KinesisStreamRecord) -> None:
        payload = record.kinesis
        sequence_number, partition_key = payload.sequence_number, payload.partition_key
        where = {"sequence_number": sequence_number, "partition_key": partition_key}
        item, probability, latency_ms = score(payload.data_as_bytes, where)
        results.append(
            stream_strategy.Result(
                source="kinesis",
                id=item.id,
                probability=probability,
                latency_ms=latency_ms,
                endpoint=config.endpoint_name,
                shard_id=record.event_id.split(":", 1)[0],
                sequence_number=sequence_number,
                partition_key=partition_key,
                approximate_arrival=stream_strategy.arrival_time(payload.approximate_arrival_timestamp),
            )
        )

    def score_kafka(record: KafkaEventRecord) -> None:
        topic_partition = f"{record.topic}-{record.partition}"
        where = {"topic_partition": topic_partition, "offset": record.offset}
        decoded: dict[str, str] = {}

        def payload() -> bytes:
            value, key = stream_strategy.decode_kafka_record(record.raw_event)
            decoded["key"] = key
            return bytes(value)

        item, probability, latency_ms = score(payload, where)
        results.append(
            stream_strategy.Result(
                source="kafka",
                id=item.id,
                probability=probability,
                latency_ms=latency_ms,
                endpoint=config.endpoint_name,
                shard_id=topic_partition,
                sequence_number=str(record.offset),
                partition_key=decoded["key"],
                approximate_arrival=stream_strategy.kafka_time(record.timestamp),
            )
        )

    response = process_partial_response(
        event=event,
        record_handler=score_kafka if source == "kafka" else score_kinesis,
        processor=processors[source],
        context=context,
    )
    # Written after the batch so one object per shard holds it; if this fails the invocation fails and
    # the whole batch is retried, which the deterministic keys make safe.
    outputs = stream_strategy.write_results(s3, config, results)

    failures = len(response.get("batchItemFailures", []))
    metrics.add_dimension(name="Source", value=source)
    metrics.add_metric(name="StreamRecordsScored", unit=MetricUnit.Count, value=len(results))
    metrics.add_metric(name="StreamRecordsFailed", unit=MetricUnit.Count, value=failures)
    if results:
        latencies = [result.latency_ms for result in results]
        metrics.add_metric(name="StreamLatencyMean", unit=MetricUnit.Milliseconds, value=sum(latencies) / len(results))
        metrics.add_metric(name="StreamLatencyMax", unit=MetricUnit.Milliseconds, value=max(latencies))
    logger.info("batch scored", source=source, scored=len(results), failed=failures, outputs=outputs)
    return dict(response)
