"""Lambda entry point of the prompt catalog API (``handler.handler``).

Deployed as its own asset (this folder, with ``common/``, ``aws_lambda_powertools`` and
``typing_extensions`` copied next to it), so modules import each other and ``common`` as top-level
modules; tests put the folders on ``sys.path`` (tests/unit/lambdas_path.py).

Environment:
    TABLE_NAME                    the prompt-catalog DynamoDB table (required)
    MAX_TEMPLATE_BYTES            largest template accepted, in UTF-8 bytes (required, 1..300000)
    MIN_GOLDEN_SET_ITEMS          fewest items a golden set needs to count for ``prod`` (required, 1..5000)
    KNOWLEDGE_BASES               {"<name>": "<knowledgeBaseId>"}: what a version's ``retrieval`` may name
                                  (unset or {}: no knowledge base, every retrieval block is refused)
    POWERTOOLS_METRICS_NAMESPACE  CloudWatch namespace of the EMF metrics (read by Powertools)
    POWERTOOLS_SERVICE_NAME       optional: service name in logs and a ``service`` metric dimension
"""

from __future__ import annotations

import functools
import os
import warnings
from typing import Any

import boto3
from aws_lambda_powertools import Logger, Metrics
from aws_lambda_powertools.logging import correlation_paths
from aws_lambda_powertools.utilities.typing import LambdaContext
from catalog import MAX_TEMPLATE_BYTES_CEILING, PromptCatalog
from catalog_api import ServerError, build_app
from common import retrieval
from common.golden_sets import MAX_ITEMS
from common.settings import EnvSettings

# Read-only requests publish no metric; Powertools would warn about that on every such request.
warnings.filterwarnings("ignore", message="No application metrics to publish")

logger = Logger()
metrics = Metrics()


@functools.cache
def catalog_from_env() -> PromptCatalog:
    """The catalog configured from the environment; built once per execution environment."""
    settings = EnvSettings(os.environ, error=ServerError, context="catalog misconfigured")
    table = settings.required("TABLE_NAME")
    # A missing gate setting is a misconfiguration, never an open gate: both are required.
    settings.require_all("MAX_TEMPLATE_BYTES", "MIN_GOLDEN_SET_ITEMS")
    return PromptCatalog(
        boto3.client("dynamodb"),
        table,
        max_template_bytes=settings.integer("MAX_TEMPLATE_BYTES", 0, low=1, high=MAX_TEMPLATE_BYTES_CEILING),
        min_golden_set_items=settings.integer("MIN_GOLDEN_SET_ITEMS", 0, low=1, high=MAX_ITEMS),
        knowledge_bases=retrieval.knowledge_bases(settings),
    )


app = build_app(catalog_from_env, logger=logger, metrics=metrics)


@logger.inject_lambda_context(correlation_id_path=correlation_paths.API_GATEWAY_REST)
@metrics.log_metrics
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    """Route an API Gateway REST proxy event."""
    response: dict[str, Any] = app.resolve(event, context)
    return response
