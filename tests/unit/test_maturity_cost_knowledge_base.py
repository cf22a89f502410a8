"""`make cost` for knowledge bases (maturity/cost/knowledge_base.py): no charge of their own, storage by the
corpus, per query the question's embedding and one QueryVectors call, read from the templates."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from maturity import cost
from maturity.cost.knowledge_base import knowledge_base_cost

ROOT = Path(__file__).resolve().parents[2]
USAGE = {
    "s3Vectors": {"storagePerGbMonthUsd": 0.06, "queryPer1MCallsUsd": 2.5},
    "bedrockTokens": {"amazon.titan-embed-text-v2:0": {"inputPer1kUsd": 0.00002}},
    "knowledgeBaseUsage": {"vectors": 1_000_000, "metadataBytesPerVector": 0, "questionTokens": 1000},
}


def template(
    *, dimension: int = 1024, max_tokens: int | None = 250, model: str = "amazon.titan-embed-text-v2:0"
) -> dict[str, Any]:
    chunking: dict[str, Any] = {"ChunkingStrategy": "NONE"}
    if max_tokens is not None:
        chunking = {
            "ChunkingStrategy": "FIXED_SIZE",
            "FixedSizeChunkingConfiguration": {"MaxTokens": max_tokens, "OverlapPercentage": 20},
        }
    return {
        "Resources": {
            "Index": {"Type": "AWS::S3Vectors::Index", "Properties": {"Dimension": dimension}},
            "Kb": {
                "Type": "AWS::Bedrock::KnowledgeBase",
                "Properties": {
                    "KnowledgeBaseConfiguration": {
                        "VectorKnowledgeBaseConfiguration": {
                            "EmbeddingModelArn": f"arn:aws:bedrock:eu-west-1::foundation-model/{model}"
                        }
                    },
                    "StorageConfiguration": {
                        "Type": "S3_VECTORS",
                        "S3VectorsConfiguration": {"IndexArn": {"Fn::GetAtt": ["Index", "IndexArn"]}},
                    },
                },
            },
            "Source": {
                "Type": "AWS::Bedrock::DataSource",
                "Properties": {
                    "KnowledgeBaseId": {"Fn::GetAtt": ["Kb", "KnowledgeBaseId"]},
                    "VectorIngestionConfiguration": {"ChunkingConfiguration": chunking},
                },
            },
        }
    }


def test_storage_is_priced_from_the_index_dimension_and_the_chunk_size():
    priced = knowledge_base_cost("dev", "Stack", "Kb", template(), USAGE)
    # 1,000,000 vectors x (1024 x 4 bytes + 250 tokens x 4 characters) = 5.096 GB at 0.06 USD
    assert priced.monthly_usd == pytest.approx(5.096 * 0.06)
    assert priced.monthly[0].usd == 0.0  # the knowledge base itself
    smaller = knowledge_base_cost("dev", "Stack", "Kb", template(dimension=256), USAGE)
    assert smaller.monthly_usd < priced.monthly_usd


def test_a_query_is_the_questions_embedding_and_one_query_call_and_data_processed_is_not_guessed():
    priced = knowledge_base_cost("dev", "Stack", "Kb", template(), USAGE)
    assert priced.per_query_usd == pytest.approx(1000 / 1000 * 0.00002 + 2.5 / 1e6)
    assert [line.usd for line in priced.per_query][-1] is None


def test_an_unknown_model_or_chunk_size_is_reported_not_priced_as_free():
    priced = knowledge_base_cost(
        "dev", "Stack", "Kb", template(model="cohere.embed-english-v3", max_tokens=None), USAGE
    )
    assert priced.per_query[0].usd is None
    assert any("no price for cohere.embed-english-v3" in w for w in priced.warnings)
    assert any("chunk size not fixed" in w for w in priced.warnings)


def test_the_shipped_prices_price_the_shipped_embedding_model_and_the_report_carries_it():
    raw = json.loads((ROOT / "maturity" / "prices.json").read_text())
    usage = raw["usagePrices"]
    assert usage["s3Vectors"]["source"].startswith("https://aws.amazon.com/")
    kb = json.loads((ROOT / "cdk.json").read_text())["context"]["mlops:defaults"]["llmops"]["knowledgeBase"]
    assert kb["embeddingModelId"] in usage["bedrockTokens"]
    report = cost.estimate({("dev", "Stack"): template()}, budgets={"dev": 10.0})
    assert report.total_usd == 0  # storage and queries are usage, never in the idle total
    (priced,) = report.knowledge_bases
    assert priced.monthly_usd > 0 and priced.per_query_usd > 0
    rendered = json.loads(cost.render(report, "json"))
    assert rendered["knowledgeBases"][0]["logicalId"] == "Kb"
    assert "S3 Vectors storage" in cost.render(report, "table")
    assert "## Knowledge bases" in cost.render(report, "markdown")
