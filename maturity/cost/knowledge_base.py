"""What a Bedrock knowledge base costs: at rest (its vectors) and per query, from the synthesized templates.

The knowledge base itself has no charge of its own: with S3 Vectors as its store nothing bills by the hour,
unlike OpenSearch Serverless (a minimum of OCUs while a collection exists) or Aurora (a minimum of ACUs
unless paused). What it costs is usage: the vectors stored (S3 Vectors, per GB-month), the embedding of the
documents at ingestion, and per query the embedding of the question and one QueryVectors call.

Read from each ``AWS::Bedrock::KnowledgeBase`` of the templates: the embedding model, and through its
S3 Vectors index the vector dimension and through its data source the chunk size. Priced with
``usagePrices.s3Vectors`` and ``usagePrices.bedrockTokens`` for a corpus and a question the size of
``knowledgeBaseUsage`` (prices.json). An empty index costs nothing; the storage line says for how many vectors
it was priced. None of this is in the idle totals: it depends on the corpus, which the template does not hold.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

BYTES_PER_FLOAT32 = 4
BYTES_PER_GB = 1e9  # S3 Vectors bills logical GB
CHARACTERS_PER_TOKEN = 4  # what Bedrock stores as the chunk text, roughly, per token of the chunk


@dataclass(frozen=True)
class CostLine:
    what: str
    detail: str
    usd: float | None  # None: no price in prices.json, so not estimated (never counted as free)


@dataclass(frozen=True)
class KnowledgeBaseCost:
    env: str
    stack: str
    logical_id: str
    monthly: tuple[CostLine, ...]
    per_query: tuple[CostLine, ...]
    warnings: tuple[str, ...] = ()

    @property
    def monthly_usd(self) -> float:
        return sum(line.usd for line in self.monthly if line.usd is not None)

    @property
    def per_query_usd(self) -> float:
        return sum(line.usd for line in self.per_query if line.usd is not None)


def _resource(template: Mapping[str, Any], value: Any, attribute: str) -> Mapping[str, Any] | None:
    if isinstance(value, Mapping) and "Fn::GetAtt" in value and value["Fn::GetAtt"][1] == attribute:
        found = template.get("Resources", {}).get(value["Fn::GetAtt"][0])
        return found.get("Properties") if isinstance(found, Mapping) else None
    return None


def knowledge_base_cost(
    env: str, stack: str, logical_id: str, template: Mapping[str, Any], usage: Mapping[str, Any]
) -> KnowledgeBaseCost:
    props = template["Resources"][logical_id].get("Properties") or {}
    warnings: list[str] = []
    s3_vectors = usage.get("s3Vectors") or {}
    size = usage.get("knowledgeBaseUsage") or {}
    vectors = float(size.get("vectors", 0))
    question_tokens = float(size.get("questionTokens", 0))
    model_arn = str(
        ((props.get("KnowledgeBaseConfiguration") or {}).get("VectorKnowledgeBaseConfiguration") or {}).get(
            "EmbeddingModelArn", ""
        )
    )
    model_id = model_arn.rsplit("/", 1)[-1]
    index = _resource(
        template,
        ((props.get("StorageConfiguration") or {}).get("S3VectorsConfiguration") or {}).get("IndexArn"),
        "IndexArn",
    )
    dimension = float(index.get("Dimension", 0)) if index else 0.0
    if not dimension:
        warnings.append("the vector index (and so the dimension) is not in this template: storage not estimated")
    chunk_tokens = 0.0
    for resource in template.get("Resources", {}).values():
        source = resource.get("Properties") or {}
        if resource.get("Type") == "AWS::Bedrock::DataSource" and source.get("KnowledgeBaseId") == {
            "Fn::GetAtt": [logical_id, "KnowledgeBaseId"]
        }:
            chunking = (source.get("VectorIngestionConfiguration") or {}).get("ChunkingConfiguration") or {}
            chunk_tokens = float((chunking.get("FixedSizeChunkingConfiguration") or {}).get("MaxTokens", 0))
    if not chunk_tokens:
        chunk_tokens = float(size.get("chunkTokensIfUnknown", 300))
        warnings.append(f"chunk size not fixed in the template: {chunk_tokens:g} tokens per chunk assumed")
    # A vector: its float32 values, plus the chunk text and metadata Bedrock stores with it (non-filterable).
    bytes_per_vector = (
        dimension * BYTES_PER_FLOAT32
        + chunk_tokens * CHARACTERS_PER_TOKEN
        + float(size.get("metadataBytesPerVector", 0))
    )
    gigabytes = vectors * bytes_per_vector / BYTES_PER_GB
    storage_price = s3_vectors.get("storagePerGbMonthUsd")
    token_price = ((usage.get("bedrockTokens") or {}).get(model_id) or {}).get("inputPer1kUsd")
    query_price = s3_vectors.get("queryPer1MCallsUsd")
    monthly = (
        CostLine("knowledge base (Bedrock)", "no charge of its own; no hourly minimum with S3 Vectors", 0.0),
        CostLine(
            "S3 Vectors storage",
            f"{vectors:g} vectors x {bytes_per_vector:,.0f} bytes = {gigabytes:.3f} GB",
            None if storage_price is None or not dimension else gigabytes * float(storage_price),
        ),
    )
    per_query = (
        CostLine(
            f"embed the question ({model_id})",
            f"{question_tokens:g} input tokens",
            None if token_price is None else question_tokens / 1000 * float(token_price),
        ),
        CostLine("S3 Vectors QueryVectors", "1 call", None if query_price is None else float(query_price) / 1e6),
        CostLine(
            "S3 Vectors data processed",
            "per TB of the index a query scans (tiered by index size): not in prices.json",
            None,
        ),
    )
    if token_price is None:
        warnings.append(f"no price for {model_id} in usagePrices.bedrockTokens")
    return KnowledgeBaseCost(env, stack, logical_id, monthly, per_query, tuple(warnings))


def knowledge_base_costs(
    templates: Mapping[tuple[str, str], Mapping[str, Any]], usage: Mapping[str, Any]
) -> tuple[KnowledgeBaseCost, ...]:
    """One :class:`KnowledgeBaseCost` per knowledge base in ``{(environment, stack): template}``."""
    return tuple(
        knowledge_base_cost(env, stack, logical_id, template, usage)
        for (env, stack), template in sorted(templates.items())
        for logical_id, resource in sorted(template.get("Resources", {}).items())
        if resource.get("Type") == "AWS::Bedrock::KnowledgeBase"
    )


HEADING = (
    "Knowledge bases (usage, not idle: not in the totals above; corpus and question size from prices.json "
    "knowledgeBaseUsage):"
)


def _usd(value: float | None) -> str:
    return "NOT ESTIMATED (no price)" if value is None else f"{value:.6f}"


def table_lines(costs: tuple[KnowledgeBaseCost, ...]) -> list[str]:
    if not costs:
        return []
    lines = ["", HEADING]
    for cost in costs:
        lines.append(
            f"  {cost.env} {cost.stack} {cost.logical_id}: {_usd(cost.monthly_usd)} USD/month stored, "
            f"{_usd(cost.per_query_usd)} USD per query"
        )
        for line in cost.monthly + cost.per_query:
            lines.append(f"    {line.what:<60} {line.detail:<70} {_usd(line.usd)}")
        lines += [f"    WARNING: {warning}" for warning in cost.warnings]
    return lines


def markdown_lines(costs: tuple[KnowledgeBaseCost, ...]) -> list[str]:
    if not costs:
        return []
    lines = ["", "## Knowledge bases", "", f"_{HEADING}_", ""]
    lines += ["| environment | knowledge base | cost | volume | USD |", "|---|---|---|---|---:|"]
    for cost in costs:
        for label, group in (("per month", cost.monthly), ("per query", cost.per_query)):
            for line in group:
                lines.append(
                    f"| {cost.env} | `{cost.logical_id}` | {line.what} ({label}) | {line.detail} | {_usd(line.usd)} |"
                )
        lines.append(f"| {cost.env} | `{cost.logical_id}` | **per month** | | **{_usd(cost.monthly_usd)}** |")
        lines.append(f"| {cost.env} | `{cost.logical_id}` | **per query** | | **{_usd(cost.per_query_usd)}** |")
        lines += [f"| {cost.env} | `{cost.logical_id}` | warning | {w} | |" for w in cost.warnings]
    return lines


def to_dicts(costs: tuple[KnowledgeBaseCost, ...]) -> list[dict[str, Any]]:
    return [
        {
            "environment": cost.env,
            "stack": cost.stack,
            "logicalId": cost.logical_id,
            "monthlyUsd": round(cost.monthly_usd, 6),
            "perQueryUsd": round(cost.per_query_usd, 8),
            "monthly": [{"what": line.what, "detail": line.detail, "usd": line.usd} for line in cost.monthly],
            "perQuery": [{"what": line.what, "detail": line.detail, "usd": line.usd} for line in cost.per_query],
            "warnings": list(cost.warnings),
        }
        for cost in costs
    ]
