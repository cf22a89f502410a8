"""llmops.knowledgeBase in cdk.json: parsed into KnowledgeBaseConfig, and every bad value refused in one sentence
naming the environment and the key (stacks/knowledge_base_config.py)."""

from __future__ import annotations

import copy
import re
from typing import Any

import pytest

import stacks.knowledge_base_config as kb_config
from stacks.config import ConfigError, load_environment
from stacks.model_catalog import parse_catalog
from tests.example import EXAMPLE_CONTEXT

CONTEXT = EXAMPLE_CONTEXT  # the pinned example (tests/fixtures/cdk.json): these tests name its environments


def with_kb(
    env: str = "dev", region: str | None = None, llmops: dict[str, Any] | None = None, **kb: Any
) -> dict[str, Any]:
    context = copy.deepcopy(CONTEXT)
    entry = context["mlops:environments"][env]
    if region:
        entry["region"] = region
    entry["llmops"] = {**entry.get("llmops", {}), **(llmops or {}), "knowledgeBase": kb}
    return context


def test_the_shipped_knowledge_base_loads_with_its_settings():
    kb = load_environment(CONTEXT, "dev").llmops.knowledge_base
    assert kb.enabled and kb.chunking.strategy == "FIXED_SIZE"
    assert kb.embedding_dimensions in kb_config.EMBEDDING_DIMENSIONS[kb.embedding_model_id]
    assert kb.documents_prefix.endswith("/")


@pytest.mark.parametrize(
    ("kb", "key", "message"),
    [
        ({"name": "Product Docs"}, "name", "lowercase letters"),
        ({"name": "docs-"}, "name", "starting and ending"),
        ({"name": "product--docs"}, "name", "single '-'"),
        ({"name": "a" * 41}, "name", "1-40"),
        ({"name": "docs\n"}, "name", "lowercase"),
        ({"name": "dócs"}, "name", "lowercase"),
        ({"embeddingModelId": "amazon.titan-embed-text-v1"}, "embeddingModelId", "not an embedding model a Bedrock"),
        ({"embeddingModelId": "anthropic.claude-haiku-4-5-20251001-v1:0"}, "embeddingModelId", "not an embedding"),
        ({"embeddingDimensions": 1536}, "embeddingDimensions", "not a vector size"),
        ({"embeddingDimensions": 10**30}, "embeddingDimensions", "not a vector size"),
        ({"embeddingDimensions": "1024"}, "embeddingDimensions", "expected an integer"),
        ({"embeddingDimensions": True}, "embeddingDimensions", "expected an integer"),
        ({"embeddingModelId": "cohere.embed-english-v3", "embeddingDimensions": 512}, "embeddingDimensions", "(1024)"),
        ({"documentsPrefix": "knowledge-base"}, "documentsPrefix", "ending with '/'"),
        ({"documentsPrefix": "/knowledge-base/"}, "documentsPrefix", "no leading '/'"),
        ({"documentsPrefix": "a//b/"}, "documentsPrefix", "S3 key prefix"),
        ({"documentsPrefix": "../secrets/"}, "documentsPrefix", "S3 key prefix"),
        ({"documentsPrefix": "docs /"}, "documentsPrefix", "S3 key prefix"),
        ({"documentsPrefix": "x" * 300 + "/"}, "documentsPrefix", "200 characters"),
        ({"chunking": {"strategy": "SEMANTIC"}}, "chunking.strategy", "is not one of"),
        ({"chunking": {"maxTokens": 0}}, "chunking.maxTokens", "outside 20-8192"),
        ({"chunking": {"maxTokens": 100000}}, "chunking.maxTokens", "outside 20-8192"),
        ({"chunking": {"overlapPercentage": 100}}, "chunking.overlapPercentage", "outside 1-99"),
        ({"chunking": {"overlapPercentage": 0}}, "chunking.overlapPercentage", "outside 1-99"),
        ({"chunking": {"extra": 1}}, "chunking.extra", "unknown key"),
        ({"syncDebounceSeconds": 301}, "syncDebounceSeconds", "outside 0-300"),
        ({"syncDebounceSeconds": -1}, "syncDebounceSeconds", "outside 0-300"),
        ({"maxSkewMinutes": 0}, "maxSkewMinutes", "outside 1-"),
        ({"maxSkewMinutes": 10**12}, "maxSkewMinutes", "outside 1-"),
        ({"maxSkewMinutes": 1, "syncDebounceSeconds": 120}, "maxSkewMinutes", "would alarm on every burst"),
        ({"maxFailedDocuments": -1}, "maxFailedDocuments", "outside 0-"),
        ({"flavour": "vanilla"}, "flavour", "unknown key"),
        ({"storagePerGbMonthUsd": 0.06}, "storagePerGbMonthUsd", "unknown key"),
    ],
)
def test_bad_knowledge_base_settings_are_refused_naming_environment_and_key(kb, key, message):
    with pytest.raises(ConfigError) as raised:
        load_environment(with_kb(**kb), "dev")
    text = str(raised.value)
    assert text.startswith("environment 'dev'"), text
    assert f"llmops.knowledgeBase.{key}" in text and message in text, text
    assert "\n" not in text and len(re.findall(r"\. [A-Z]", text)) == 0, "one sentence"


def test_an_embedding_model_not_served_in_the_region_is_refused():
    models = [
        {"id": "global.anthropic.claude-haiku-4-5-20251001-v1:0", "inputPer1kUsd": 0.001, "outputPer1kUsd": 0.005}
    ]
    context = with_kb("preprod", region="us-west-1", llmops={"models": models})
    with pytest.raises(
        ConfigError, match=r"'preprod', key 'llmops.knowledgeBase.embeddingModelId'.*not served in us-west-1"
    ):
        load_environment(context, "preprod")


def test_an_embedding_model_past_its_end_of_life_is_refused(monkeypatch):
    document = {
        "asOf": "2026-12-03",
        "geographies": {"us": ["us-east-1"]},
        "models": {
            "amazon.titan-embed-text-v2:0": {
                "name": "Titan Text Embeddings V2",
                "lifecycle": "EOL",
                "eolDate": "2026-11-30",
                "inRegion": ["eu-west-1"],
                "source": "test fixture",
            }
        },
    }
    monkeypatch.setattr(kb_config, "shipped_catalog", lambda: parse_catalog(document))
    with pytest.raises(
        ConfigError, match=r"embeddingModelId': 'amazon.titan-embed-text-v2:0' .*end of life on Bedrock on 2026-11-30"
    ):
        load_environment(CONTEXT, "dev")


def test_a_disabled_knowledge_base_or_llmops_skips_the_rules():
    assert not load_environment(with_kb(enabled=False, name="NOT VALID"), "dev").llmops.knowledge_base.enabled
    config = load_environment(with_kb(llmops={"enabled": False}, name="NOT VALID"), "dev")
    assert not config.llmops.enabled


def test_other_allowed_values_load():
    config = load_environment(
        with_kb(
            embeddingDimensions=256,
            chunking={"strategy": "NONE"},
            syncDebounceSeconds=0,
            documentsPrefix="docs/product-a/",
            name="a",
        ),
        "dev",
    )
    kb = config.llmops.knowledge_base
    assert (kb.embedding_dimensions, kb.chunking.strategy, kb.sync_debounce_seconds, kb.name) == (256, "NONE", 0, "a")
