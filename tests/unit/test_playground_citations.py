"""The playground for prompts that retrieve (#16): the form leaves the context to the gateway, answers show
their citations, an empty retrieval says the model was not called, and scorecards show retrieval metrics."""

from __future__ import annotations

import json
from typing import Any

import pytest

import tests.unit.playground_path  # noqa: F401 - puts apps/playground on sys.path
from tests.unit import test_playground_pages as pages
from tests.unit.test_playground_pages import (
    ANSWER,
    MODEL,
    TABLE,
    WHO,
    app,
    assert_no_trace,
    page_text,
    send,
)

# isort: split
from catalog import PromptCatalog

from playground.catalog import EvaluationSummary
from playground.errors import GatewayError
from playground.gateway import _answer, citation_lines
from playground.scorecards import quality_rows

backend = pages.backend  # the fixture, used by name by the tests below
KB_ID = "KBABCDE123"
CITATIONS = [
    {
        "n": 1,
        "documentUri": "s3://curated/knowledge-base/faq/reset.md",
        "chunkId": "c-1",
        "score": 0.91,
        "text": "Hold the *reset* button for five seconds. [click](https://evil.test)",
    },
    {"n": 2, "documentUri": "s3://curated/knowledge-base/manual.md", "chunkId": None, "score": None, "text": "LED."},
]
RAG_ANSWER = {
    **ANSWER,
    "prompt": "support-answer",
    "text": "Hold the reset button for five seconds [1].",
    "retrieval": {"status": "ok", "knowledgeBase": "product-docs", "chunks": 2, "latencyMs": 30.0, "truncated": 0},
    "citations": CITATIONS,
}


def seed_rag_prompt(dynamodb: Any) -> None:
    catalog = PromptCatalog(
        dynamodb, TABLE, max_template_bytes=4000, sleep=lambda _: None, knowledge_bases={"product-docs": KB_ID}
    )
    catalog.create_version(
        "support-answer",
        template="Sources:\n{{context}}\nQuestion: {{question}}",
        variables=["context", "question"],
        model_id=MODEL,
        inference={},
        reason="t",
        who=WHO,
        retrieval={"knowledgeBase": "product-docs", "topK": 3, "contextVariable": "context"},
    )
    catalog.promote("support-answer", "dev", version=1, reason="t", who=WHO)


def test_the_form_asks_only_the_question_and_the_answer_shows_its_sources(backend: dict[str, Any]) -> None:
    seed_rag_prompt(backend["dynamodb"])
    backend["lambda"].answers = [RAG_ANSWER]
    at = app()
    at.selectbox(key="prompt").select("support-answer").run()
    assert [t.key for t in at.text_area] == ["var:support-answer:dev:question"]
    assert "Retrieves from knowledge base product-docs" in page_text(at)
    at.text_area(key="var:support-answer:dev:question").input("How do I reset it?")
    at = send(at)

    assert_no_trace(at)
    assert backend["lambda"].requests[0]["variables"] == {"question": "How do I reset it?"}
    text = page_text(at)
    assert "**Sources**" in text
    assert "[1] `s3://curated/knowledge-base/faq/reset.md` · chunk `c-1` · score 0.91" in text
    assert "[2] `s3://curated/knowledge-base/manual.md` · score n/a" in text
    # Document text is escaped: it cannot put a link on the page.
    assert "\\[click\\]\\(https://evil\\.test\\)" in text


def test_an_empty_retrieval_says_the_model_was_not_called(backend: dict[str, Any]) -> None:
    seed_rag_prompt(backend["dynamodb"])
    backend["lambda"].answers = [
        {**RAG_ANSWER, "text": None, "citations": [], "retrieval": {**RAG_ANSWER["retrieval"], "status": "empty"}}
    ]
    at = app()
    at.selectbox(key="prompt").select("support-answer").run()
    at.text_area(key="var:support-answer:dev:question").input("Unrelated?")
    at = send(at)
    assert_no_trace(at)
    assert [w.value for w in at.warning] == [
        "The knowledge base returned no passages for this question, so the model was not called: "
        "there is nothing to ground an answer in."
    ]


def test_a_retrieval_error_is_one_sentence() -> None:
    payload = {"statusCode": 502, "error": "knowledge base retrieval failed: ThrottlingException; see the log"}
    with pytest.raises(GatewayError, match=r"^The knowledge base retrieval failed \(HTTP 502\)"):
        _answer({**payload, "retrieval": {"status": "error", "reason": "ThrottlingException"}}, 1.0)


@pytest.mark.parametrize("bad", [{"citations": "s3://x"}, {"citations": [1]}, {"citations": [{"n": 1}]}])
def test_malformed_citations_are_a_clear_error(bad: dict[str, Any]) -> None:
    with pytest.raises(GatewayError, match="lacks a field the playground shows"):
        _answer({**RAG_ANSWER, **bad}, 1.0)


def test_citation_lines_escape_markdown_and_newlines() -> None:
    answer = _answer(
        {**RAG_ANSWER, "citations": [{**CITATIONS[0], "documentUri": "s3://b/a`b.md", "text": "x\n# heading"}]}, 1.0
    )
    (line,) = citation_lines(answer)
    assert line.startswith("[1] `s3://b/a'b.md`")
    assert line.endswith("> x \\# heading")


def test_scorecards_chart_the_retrieval_metrics_of_a_retrieving_version() -> None:
    summary = EvaluationSummary(
        prompt="support-answer",
        version=1,
        run_id="r",
        golden_set="g",
        golden_version=1,
        passed=True,
        reasons=(),
        selected_model=MODEL,
        explanation="",
        created_at="",
        scorecard_uri="",
        report_uri="",
        models={MODEL: {"accuracy": None, "recall_at_k": 0.75, "context_relevance": 0.6, "faithfulness": 0.9}},
    )
    assert quality_rows(summary) == [
        {"metric": "recall@k", "model": MODEL, "value": 0.75},
        {"metric": "context relevance", "model": MODEL, "value": 0.6},
        {"metric": "faithfulness", "model": MODEL, "value": 0.9},
    ]
    assert json.dumps(quality_rows(summary))  # chart rows are plain JSON
