"""Real-time test Lambda: an API Gateway (REST, proxy integration) front door to the preprod endpoint.

Entry point ``handler.handler``; route ``POST /predict`` with body ``{"instances": [[13 numbers], ...]}``, or
where the function has a feature group ``{"customer_ids": ["id", ...]}`` (features read from the online store).
Answers
    200 ``{"endpoint", "count", "probabilities": [...], "latency_ms"}`` (and ``"customer_ids"`` when given)
    400 ``{"message"}`` for a request that is not that shape, or a customer the online store does not have
    502 ``{"message"}`` when the endpoint or the online store fails, or the endpoint returns something other than
        one probability per row
Other paths and methods get Powertools' 404.

Environment:
    ENDPOINT_NAME    endpoint to call (required)
    MAX_INSTANCES    most rows per request (default 100, at most 1000)
    FEATURES_GROUP   optional: the feature group whose online store holds the customers' features
    FEATURES         with FEATURES_GROUP: the model's 13 feature names, in input order, comma-separated
    POWERTOOLS_SERVICE_NAME, POWERTOOLS_METRICS_NAMESPACE, LOG_LEVEL   Powertools settings

Metrics: RealtimePredictions (rows), RealtimeLatency (ms per call), RealtimeBadRequests,
RealtimeEndpointErrors, RealtimeFeatureStoreErrors.
"""

from __future__ import annotations

import functools
import json
import os
from typing import Any

import boto3
import realtime_strategy
from aws_lambda_powertools import Logger, Metrics
from aws_lambda_powertools.event_handler import APIGatewayRestResolver, Response, content_types
from aws_lambda_powertools.logging import correlation_paths
from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.typing import LambdaContext
from botocore.config import Config as BotoConfig
from common.xgboost_csv import EndpointError

logger = Logger()
metrics = Metrics()
app = APIGatewayRestResolver()


@functools.cache
def runtime() -> Any:
    """Created on first use, not at import, so tests and cold starts pay only for what runs."""
    # API Gateway gives up after 29 s, so a slow endpoint gets one short retry, not the SDK's default three.
    return boto3.client(
        "sagemaker-runtime",
        config=BotoConfig(connect_timeout=3, read_timeout=12, retries={"mode": "standard", "max_attempts": 2}),
    )


@functools.cache
def featurestore() -> Any:
    return boto3.client(
        "sagemaker-featurestore-runtime",
        config=BotoConfig(connect_timeout=3, read_timeout=5, retries={"mode": "standard", "max_attempts": 2}),
    )


@functools.cache
def settings() -> realtime_strategy.Config:
    """The function's settings, validated once per execution environment (a bad one fails every request)."""
    return realtime_strategy.Config.from_env(os.environ)


@app.post("/predict")
def predict() -> Response[str]:
    config = settings()
    try:
        request = realtime_strategy.parse_any_request(
            app.current_event.decoded_body,
            max_instances=config.max_instances,
            customer_ids=config.features_group is not None,
        )
        if request.customer_ids is not None:
            assert config.features_group is not None  # parse_any_request accepts ids only with a group
            rows = realtime_strategy.read_features(
                featurestore(), config.features_group, config.features, request.customer_ids
            )
        else:
            assert request.rows is not None
            rows = request.rows
    except realtime_strategy.FeatureStoreError as error:
        metrics.add_metric(name="RealtimeFeatureStoreErrors", unit=MetricUnit.Count, value=1)
        logger.error("feature store error", reason=str(error))
        return _error(502, str(error))
    except realtime_strategy.RequestError as error:
        metrics.add_metric(name="RealtimeBadRequests", unit=MetricUnit.Count, value=1)
        logger.info("bad request", reason=str(error))
        return _error(400, str(error))
    try:
        prediction = realtime_strategy.predict(runtime(), config.endpoint_name, rows)
    except EndpointError as error:
        metrics.add_metric(name="RealtimeEndpointErrors", unit=MetricUnit.Count, value=1)
        logger.error("endpoint error", reason=str(error))
        return _error(502, str(error))
    metrics.add_metric(name="RealtimePredictions", unit=MetricUnit.Count, value=len(rows))
    metrics.add_metric(name="RealtimeLatency", unit=MetricUnit.Milliseconds, value=prediction.latency_ms)
    body: dict[str, Any] = {
        "endpoint": config.endpoint_name,
        "count": len(rows),
        "probabilities": prediction.probabilities,
        "latency_ms": prediction.latency_ms,
    }
    if request.customer_ids is not None:
        body["customer_ids"] = request.customer_ids
    return Response(status_code=200, content_type=content_types.APPLICATION_JSON, body=json.dumps(body))


def _error(status: int, message: str) -> Response[str]:
    return Response(
        status_code=status, content_type=content_types.APPLICATION_JSON, body=json.dumps({"message": message})
    )


@logger.inject_lambda_context(correlation_id_path=correlation_paths.API_GATEWAY_REST)
@metrics.log_metrics
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    return app.resolve(event, context)
