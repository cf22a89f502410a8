"""The evaluation scorecards: chart data from an ``EVAL#`` summary, and the per-item results from S3.

The evaluation function (``lambdas/llm_evaluation``) writes ``scorecard.json`` (every item's answer and
scores) under ``evaluations/`` in the artifacts bucket and a summary item with per-model metrics to the
catalog table. The chart needs only the summary; the item table reads the JSON.

AWS calls: ``s3:GetObject`` on the scorecard objects (and ``kms:Decrypt`` on the bucket's key).
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Protocol
from urllib.parse import urlparse

from botocore.exceptions import BotoCoreError, ClientError

from playground.catalog import EvaluationSummary
from playground.errors import PlaygroundError, describe_aws_error

#: Quality metrics in [0, 1] that share one chart (higher is better, except the hallucination rate: the page
#: says so under the chart).
QUALITY_METRICS = {
    "accuracy": "accuracy",
    "rouge_l": "ROUGE-L",
    "cosine": "cosine similarity",
    "judge_pass_rate": "judge pass rate",
    "groundedness_rate": "groundedness",
    "hallucination_rate": "hallucination rate",
    # Retrieval (#16): only prompt versions that retrieve have them.
    "recall_at_k": "recall@k",
    "context_relevance": "context relevance",
    "faithfulness": "faithfulness",
}
#: Speed and cost, shown as a table (different units).
COST_METRICS = {
    "latency_p50_ms": "latency p50 (ms)",
    "latency_p95_ms": "latency p95 (ms)",
    "cost_per_1k_items_usd": "cost per 1k items (USD)",
    "items": "items",
    "errors": "errors",
}
MAX_SCORECARD_BYTES = 10 * 1024 * 1024
ITEM_COLUMNS = (
    "item_id",
    "model_id",
    "expected_label",
    "predicted_label",
    "correct",
    "rouge_l",
    "cosine",
    "grounded",
    "latency_ms",
    "cost_usd",
    "error",
)


class S3Reader(Protocol):
    """The call this module makes on a boto3 ``s3`` client."""

    def get_object(self, **kwargs: Any) -> dict[str, Any]: ...


def quality_rows(summary: EvaluationSummary) -> list[dict[str, Any]]:
    """Long-form chart rows ``{"metric", "model", "value"}`` for the metrics each model has a value for."""
    rows = []
    for model, metrics in sorted(summary.models.items()):
        for name, label in QUALITY_METRICS.items():
            value = metrics.get(name)
            if isinstance(value, int | float) and not isinstance(value, bool):
                rows.append({"metric": label, "model": model, "value": float(value)})
    return rows


def cost_rows(summary: EvaluationSummary) -> list[dict[str, Any]]:
    """One row per model: speed, cost and error counts, the selected model marked."""
    rows = []
    for model, metrics in sorted(summary.models.items()):
        row: dict[str, Any] = {"model": model, "selected": model == summary.selected_model}
        row.update({label: metrics.get(name) for name, label in COST_METRICS.items()})
        rows.append(row)
    return rows


@dataclass(frozen=True)
class S3Location:
    bucket: str
    key: str


def parse_s3_uri(uri: str) -> S3Location:
    """``s3://bucket/key`` to its parts.

    Raises:
        PlaygroundError: not an S3 URI with a bucket and a key.
    """
    parsed = urlparse(uri)
    if parsed.scheme != "s3" or not parsed.netloc or not parsed.path.strip("/"):
        raise PlaygroundError(f"The evaluation's scorecard location {uri!r} is not an s3://bucket/key URI.")
    return S3Location(parsed.netloc, parsed.path.lstrip("/"))


def load_items(s3: S3Reader, scorecard_uri: str) -> list[dict[str, Any]]:
    """The per-item rows of ``scorecard.json`` (one per golden item and model), columns :data:`ITEM_COLUMNS`.

    Raises:
        PlaygroundError: the object cannot be read, is too large or is not a scorecard.
    """
    where = parse_s3_uri(scorecard_uri)
    try:
        response = s3.get_object(Bucket=where.bucket, Key=where.key)
        size = int(response.get("ContentLength") or 0)
        if size > MAX_SCORECARD_BYTES:
            raise PlaygroundError(
                f"The scorecard {scorecard_uri} is {size:,} bytes; the page shows at most {MAX_SCORECARD_BYTES:,}."
            )
        body = response["Body"].read()
    except (BotoCoreError, ClientError) as error:
        raise PlaygroundError(describe_aws_error(error, f"read the scorecard {scorecard_uri}")) from None
    try:
        document = json.loads(body)
    except RecursionError:
        raise PlaygroundError(f"The scorecard {scorecard_uri} is nested too deeply to be a scorecard.") from None
    except ValueError:
        # JSONDecodeError, UnicodeDecodeError, and integers over Python's 4300-digit limit.
        raise PlaygroundError(f"The scorecard {scorecard_uri} is not JSON.") from None
    items = document.get("items") if isinstance(document, Mapping) else None
    if not isinstance(items, list):
        raise PlaygroundError(f"The scorecard {scorecard_uri} has no list of items.")
    return [{column: item.get(column) for column in ITEM_COLUMNS} for item in items if isinstance(item, Mapping)]
