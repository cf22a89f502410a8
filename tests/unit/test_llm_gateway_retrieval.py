"""The gateway for a prompt version that retrieves (#16): Retrieve, numbered context, grounding, citations.

bedrock-agent-runtime and bedrock-runtime are botocore Stubbers, so every Retrieve and Converse request
(and every canned response) is checked against the real service models; moto has no Retrieve.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from types import SimpleNamespace
from typing import Any

import boto3
import pytest
from botocore.stub import Stubber

from tests.unit.lambdas_path import create_prompt_table, fast_mock_aws, load_handler
from tests.unit.test_llm_gateway import (
    ENV,
    MODEL,
    TABLE,
    Harness,
    aggregates,
    alias_record,
    converse_response,
    emf,
)

# isort: split
from common import retrieval
from common.retrieval import RetrievalSpec

KB_ID = "KBABCDE123"
TEMPLATE = "Answer from the sources only.\nSources:\n{{context}}\nQuestion: {{question}}"
SPEC = RetrievalSpec(knowledge_base="product-docs", top_k=3, context_variable="context", query_variable="question")
QUESTION = "How do I reset the widget?"
REQUEST = {"prompt": "summarize", "alias": "prod", "variables": {"question": QUESTION}, "team": "support"}


def rag_record(**overrides: Any) -> Any:
    values: dict[str, Any] = {"template": TEMPLATE, "variables": ("context", "question"), "retrieval": SPEC}
    values.update(overrides)
    return alias_record(**values)


def result(n: int, text: str, score: float = 0.8) -> dict[str, Any]:
    return {
        "content": {"type": "TEXT", "text": text},
        "location": {"type": "S3", "s3Location": {"uri": f"s3://curated/knowledge-base/doc{n}.md"}},
        "metadata": {"x-amz-bedrock-kb-chunk-id": f"chunk-{n}", "x-amz-bedrock-kb-source-uri": f"doc{n}.md"},
        "score": score,
    }


def expected_retrieve(top_k: int = 3, filter_: dict[str, Any] | None = None) -> dict[str, Any]:
    vector: dict[str, Any] = {"numberOfResults": top_k}
    if filter_ is not None:
        vector["filter"] = filter_
    return {
        "knowledgeBaseId": KB_ID,
        "retrievalQuery": {"text": QUESTION},
        "retrievalConfiguration": {"vectorSearchConfiguration": vector},
    }


class RagHarness(Harness):
    def __init__(self, *args: Any, agent: Stubber) -> None:
        super().__init__(*args)
        self.agent = agent


@pytest.fixture
def rag(monkeypatch: pytest.MonkeyPatch) -> Iterator[RagHarness]:
    for name, value in ENV.items():
        monkeypatch.setenv(name, value)
    monkeypatch.setenv("KNOWLEDGE_BASES", json.dumps({"product-docs": KB_ID}))
    with fast_mock_aws():
        dynamodb = boto3.client("dynamodb", region_name="us-east-1")
        create_prompt_table(dynamodb, TABLE)
        bedrock = boto3.client("bedrock-runtime", region_name="us-east-1")
        agent = boto3.client("bedrock-agent-runtime", region_name="us-east-1")
        module = load_handler("llm_gateway")
        clients = {"dynamodb": dynamodb, "bedrock-runtime": bedrock, "bedrock-agent-runtime": agent}
        monkeypatch.setattr(module, "boto3", SimpleNamespace(client=lambda service, **_: clients[service]))
        with Stubber(bedrock) as stubber, Stubber(agent) as agent_stubber:
            h = RagHarness(module, dynamodb, bedrock, stubber, agent=agent_stubber)
            h.put_alias(rag_record())
            yield h
            stubber.assert_no_pending_responses()
            agent_stubber.assert_no_pending_responses()


def test_a_cited_answer_grounded_in_the_retrieved_passages(rag: RagHarness, capsys: pytest.CaptureFixture[str]) -> None:
    passages = [result(1, "Hold the reset button for five seconds.", 0.91), result(2, "The LED blinks twice.", 0.7)]
    rag.agent.add_response("retrieve", {"retrievalResults": passages}, expected_retrieve())
    context = (
        "[1] (source: s3://curated/knowledge-base/doc1.md)\nHold the reset button for five seconds.\n\n"
        "[2] (source: s3://curated/knowledge-base/doc2.md)\nThe LED blinks twice."
    )
    # The rendered prompt, cut into guardContent blocks: the passages are the grounding source, the
    # question the grounding query, the rest still evaluated by the guardrail's filters. Nothing twice.
    content = [
        {
            "guardContent": {
                "text": {"text": "Answer from the sources only.\nSources:\n", "qualifiers": ["guard_content"]}
            }
        },
        {"guardContent": {"text": {"text": context, "qualifiers": ["grounding_source"]}}},
        {"guardContent": {"text": {"text": "\nQuestion: ", "qualifiers": ["guard_content"]}}},
        {"guardContent": {"text": {"text": QUESTION, "qualifiers": ["query"]}}},
    ]
    rag.stubber.add_response(
        "converse",
        converse_response("Hold the reset button for five seconds [1]."),
        {
            "modelId": MODEL,
            "messages": [{"role": "user", "content": content}],
            "inferenceConfig": {"temperature": 0.2, "maxTokens": 256},
            "guardrailConfig": {"guardrailIdentifier": "gr-abc123", "guardrailVersion": "3", "trace": "enabled"},
        },
    )
    answer = rag(REQUEST)

    assert answer["statusCode"] == 200, answer
    assert "".join(block["guardContent"]["text"]["text"] for block in content) == TEMPLATE.replace(
        "{{context}}", context
    ).replace("{{question}}", QUESTION)
    assert answer["text"] == "Hold the reset button for five seconds [1]."
    assert answer["citations"] == [
        {
            "n": 1,
            "documentUri": "s3://curated/knowledge-base/doc1.md",
            "chunkId": "chunk-1",
            "score": 0.91,
            "text": "Hold the reset button for five seconds.",
        },
        {
            "n": 2,
            "documentUri": "s3://curated/knowledge-base/doc2.md",
            "chunkId": "chunk-2",
            "score": 0.7,
            "text": "The LED blinks twice.",
        },
    ]
    assert answer["retrieval"]["status"] == "ok"
    assert (answer["retrieval"]["knowledgeBase"], answer["retrieval"]["chunks"]) == ("product-docs", 2)
    out = capsys.readouterr().out
    blob = emf(out)
    assert blob["RetrievedChunks"] == [2.0]
    assert blob["RetrievalEmpty"] == [0.0]
    assert blob["RetrievalErrors"] == [0.0]
    assert len(blob["RetrievalLatencyMs"]) == 1
    assert blob["prompt"] == "summarize"
    assert aggregates(out)["RetrievedChunks"] == [2.0]


def test_zero_results_is_an_explicit_empty_answer_and_the_model_is_not_called(
    rag: RagHarness, capsys: pytest.CaptureFixture[str]
) -> None:
    rag.agent.add_response("retrieve", {"retrievalResults": []}, expected_retrieve())
    answer = rag(REQUEST)  # no Converse response is stubbed: a call would fail the Stubber

    assert answer["statusCode"] == 200
    assert answer["text"] is None
    assert answer["retrieval"]["status"] == "empty"
    assert answer["citations"] == []
    assert answer["stop_reason"] == "no_sources"
    blob = emf(capsys.readouterr().out)
    assert blob["RetrievalEmpty"] == [1.0]
    assert blob["RetrievedChunks"] == [0.0]
    assert "InputTokens" not in blob and "LatencyMs" not in blob


def test_passages_without_text_count_as_empty() -> None:
    response = {"retrievalResults": [{"content": {"type": "TEXT", "text": "  "}, "location": {"type": "S3"}}]}
    chunks, dropped = retrieval.chunks_from_response(response)
    assert (chunks, dropped) == ([], 1)


@pytest.mark.parametrize(
    ("code", "status"),
    [("ThrottlingException", 429), ("ResourceNotFoundException", 404), ("AccessDeniedException", 403)],
)
def test_a_retrieval_error_is_a_502_with_a_retrieval_error_state(
    rag: RagHarness, capsys: pytest.CaptureFixture[str], code: str, status: int
) -> None:
    rag.agent.add_client_error(
        "retrieve",
        service_error_code=code,
        service_message="arn:aws:iam::123456789012:role/gateway is not authorized",
        http_status_code=status,
        expected_params=expected_retrieve(),
    )
    answer = rag(REQUEST)

    assert answer["statusCode"] == 502
    assert answer["retrieval"] == {"status": "error", "reason": code}
    assert code in answer["error"] and "arn:aws:iam" not in answer["error"]
    blob = emf(capsys.readouterr().out)
    assert blob["RetrievalErrors"] == [1.0]
    assert blob["Errors"] == [1.0]


@pytest.mark.parametrize(
    ("variables", "extra", "message"),
    [
        ({"question": QUESTION, "context": "my own facts"}, {}, "variables.context: filled by the gateway"),
        ({"question": QUESTION}, {"context": "reference"}, "retrieves its context from knowledge base"),
        ({}, {}, "missing variables: 'question'"),
        ({"question": "   "}, {}, "variables.question: required, a non-blank string"),
        ({"question": 42}, {}, "variables.question: required, a non-blank string"),
        ({"question": "q" * 1001}, {}, "reads at most 1000"),
    ],
)
def test_bad_requests_are_4xx_before_any_retrieval(
    rag: RagHarness, variables: dict[str, Any], extra: dict[str, Any], message: str
) -> None:
    answer = rag({**REQUEST, "variables": variables, **extra})  # nothing stubbed: no AWS call may happen
    assert answer["statusCode"] == 400, answer
    assert message in answer["error"]


def test_the_filter_and_top_k_reach_retrieve(rag: RagHarness) -> None:
    filter_ = {
        "andAll": [{"equals": {"key": "product", "value": "widget"}}, {"greaterThan": {"key": "year", "value": 2020}}]
    }
    spec = RetrievalSpec("product-docs", 7, "context", "question", filter_)
    rag.put_alias(rag_record(retrieval=spec))
    rag.agent.add_response("retrieve", {"retrievalResults": []}, expected_retrieve(7, filter_))
    assert rag(REQUEST)["retrieval"]["status"] == "empty"


def test_a_prompt_naming_an_unconfigured_knowledge_base_is_a_500(rag: RagHarness) -> None:
    rag.put_alias(rag_record(retrieval=RetrievalSpec("hr-docs", 3, "context", "question")))
    answer = rag(REQUEST)
    assert answer["statusCode"] == 500
    assert "'hr-docs', which KNOWLEDGE_BASES does not configure" in answer["error"]


def test_the_context_is_bounded_and_citation_excerpts_are_short() -> None:
    big = "x" * 40_000
    response = {"retrievalResults": [result(i, big) for i in range(1, 6)]}
    chunks, dropped = retrieval.chunks_from_response(response)
    assert (len(chunks), dropped) == (2, 3)
    assert len(retrieval.format_context(chunks)) <= retrieval.MAX_CONTEXT_CHARS
    assert len(chunks[0].citation()["text"]) == retrieval.MAX_EXCERPT_CHARS
    assert [c.n for c in chunks] == [1, 2]


def test_results_from_other_locations_and_without_metadata_are_cited_by_what_they_have() -> None:
    response = {
        "retrievalResults": [
            {"content": {"text": "web page"}, "location": {"type": "WEB", "webLocation": {"url": "https://x.test/a"}}},
            {"content": {"text": "custom"}, "location": {"type": "CUSTOM"}, "documentId": "doc-7"},
        ]
    }
    chunks, _ = retrieval.chunks_from_response(response)
    assert [(c.document_uri, c.chunk_id, c.score) for c in chunks] == [
        ("https://x.test/a", None, None),
        ("doc-7", None, None),
    ]
