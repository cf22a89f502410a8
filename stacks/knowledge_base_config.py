"""The knowledge base's settings (``llmops.knowledgeBase`` in cdk.json) and the rules they must follow.

Kept apart from `stacks.config` (which parses them into these dataclasses and calls
:func:`check_knowledge_base`) so the knowledge base's rules live next to what they describe.
"""

from __future__ import annotations

import re
import typing
from dataclasses import dataclass
from typing import Literal

from stacks.model_catalog import shipped_catalog

ChunkingStrategy = Literal["FIXED_SIZE", "NONE"]

# Embedding models a Bedrock knowledge base accepts, with the vector sizes each can produce (model cards:
# Titan Text Embeddings V2 outputs 1024 (default), 512 or 256; Cohere Embed v3 outputs 1024).
EMBEDDING_DIMENSIONS: dict[str, tuple[int, ...]] = {
    "amazon.titan-embed-text-v2:0": (256, 512, 1024),
    "cohere.embed-english-v3": (1024,),
    "cohere.embed-multilingual-v3": (1024,),
}
# Bedrock's fixed-size chunking: maxTokens at least 1, overlapPercentage 1-99 (CreateDataSource's limits);
# Titan V2 embeds at most 8,192 tokens per call, so a chunk above that could never be embedded.
MAX_CHUNK_TOKENS = 8192
# The SQS event source's batching window (MaximumBatchingWindowInSeconds) is what debounces a burst:
# Lambda accepts 0-300 seconds.
MAX_DEBOUNCE_SECONDS = 300
MAX_SKEW_MINUTES = 7 * 24 * 60
MAX_FAILED_DOCUMENTS = 1_000_000
# The knowledge base's Bedrock name is "<prefix>-<name>", and Bedrock allows no two '-' or '_' in a row.
_NAME_RE = re.compile(r"^[a-z0-9](?:[a-z0-9-]{0,38}[a-z0-9])?\Z")
# An S3 key prefix: printable ASCII without spaces, ending with '/', no '..' or '//' segments, no leading '/'.
_PREFIX_RE = re.compile(r"^(?!/)(?!.*//)(?!.*(?:^|/)\.\.?/)[A-Za-z0-9!_.*'()/-]{1,200}/\Z")


@dataclass(frozen=True)
class ChunkingConfig:
    """How the data source splits documents before embedding them."""

    strategy: ChunkingStrategy
    max_tokens: int
    overlap_percentage: int


@dataclass(frozen=True)
class KnowledgeBaseConfig:
    """A Bedrock knowledge base over a prefix of the curated data-lake bucket, its sync and its alarms.

    ``name`` is what prompt versions refer to (``retrieval.knowledgeBase``); ``documentsPrefix`` is the key
    prefix in the curated bucket; ``syncDebounceSeconds`` gathers a burst of uploads into one ingestion
    job; ``maxSkewMinutes`` and ``maxFailedDocuments`` are the alarm thresholds. Prices are not config:
    `make cost` reads them from maturity/prices.json like every other price.
    """

    enabled: bool
    name: str
    embedding_model_id: str
    embedding_dimensions: int
    documents_prefix: str
    chunking: ChunkingConfig
    sync_debounce_seconds: int
    max_skew_minutes: int
    max_failed_documents: int


def check_knowledge_base(
    kb: KnowledgeBaseConfig, *, region: str, llmops_enabled: bool, fail: typing.Callable[[str, str], typing.NoReturn]
) -> None:
    """Raise (through `fail(key, message)`) on the first setting AWS would refuse or that cannot work."""
    if not (kb.enabled and llmops_enabled):
        return  # without LLMOps there is no knowledge base to deploy, whatever the settings say
    key = "llmops.knowledgeBase"
    if not _NAME_RE.match(kb.name) or "--" in kb.name:
        fail(
            f"{key}.name",
            f"{kb.name!r} must be 1-40 lowercase letters, digits or single '-', starting and ending with a letter "
            "or digit",
        )
    dimensions = EMBEDDING_DIMENSIONS.get(kb.embedding_model_id)
    if dimensions is None:
        fail(
            f"{key}.embeddingModelId",
            f"{kb.embedding_model_id!r} is not an embedding model a Bedrock knowledge base accepts "
            f"({', '.join(sorted(EMBEDDING_DIMENSIONS))})",
        )
    problem = shipped_catalog().problem(kb.embedding_model_id, region)
    if problem:
        fail(f"{key}.embeddingModelId", problem)
    if kb.embedding_dimensions not in dimensions:
        fail(
            f"{key}.embeddingDimensions",
            f"{kb.embedding_dimensions} is not a vector size {kb.embedding_model_id} produces "
            f"({', '.join(map(str, dimensions))})",
        )
    if not _PREFIX_RE.match(kb.documents_prefix):
        fail(
            f"{key}.documentsPrefix",
            f"{kb.documents_prefix!r} must be an S3 key prefix ending with '/' (letters, digits and !_.*'()-, "
            "no leading '/', no empty or '.'/'..' segments, at most 200 characters)",
        )
    chunking = kb.chunking
    if chunking.strategy == "FIXED_SIZE":
        if not 20 <= chunking.max_tokens <= MAX_CHUNK_TOKENS:
            fail(f"{key}.chunking.maxTokens", f"{chunking.max_tokens} is outside 20-{MAX_CHUNK_TOKENS}")
        if not 1 <= chunking.overlap_percentage <= 99:
            fail(f"{key}.chunking.overlapPercentage", f"{chunking.overlap_percentage} is outside 1-99")
    if not 0 <= kb.sync_debounce_seconds <= MAX_DEBOUNCE_SECONDS:
        fail(
            f"{key}.syncDebounceSeconds",
            f"{kb.sync_debounce_seconds} is outside 0-{MAX_DEBOUNCE_SECONDS} (the longest batching window "
            "Lambda's SQS event source allows)",
        )
    if not 1 <= kb.max_skew_minutes <= MAX_SKEW_MINUTES:
        fail(f"{key}.maxSkewMinutes", f"{kb.max_skew_minutes} is outside 1-{MAX_SKEW_MINUTES}")
    if kb.max_skew_minutes * 60 <= kb.sync_debounce_seconds:
        fail(
            f"{key}.maxSkewMinutes",
            f"{kb.max_skew_minutes} minutes would alarm on every burst, which waits syncDebounceSeconds "
            f"({kb.sync_debounce_seconds} s) before its ingestion job starts",
        )
    if not 0 <= kb.max_failed_documents <= MAX_FAILED_DOCUMENTS:
        fail(f"{key}.maxFailedDocuments", f"{kb.max_failed_documents} is outside 0-{MAX_FAILED_DOCUMENTS}")
