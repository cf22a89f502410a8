"""Evaluation of a prompt version that retrieves (#16): per-item retrieval, recall@k, relevance, faithfulness, gate.

Models, judge, embedder and guardrail are the local Bedrock stand-in (loopback); Retrieve is a botocore
Stubber on a real ``bedrock-agent-runtime`` client, so requests and canned answers match the service model.
"""

from __future__ import annotations

import dataclasses
import json
import os
from typing import Any

import boto3
import pytest
from botocore.stub import Stubber

from tests.unit import test_llm_evaluation_handler as base
from tests.unit.test_llm_evaluation_handler import FM1, TABLE, WHO

# isort: split
import quality_gate
import retrieval_eval
from catalog import PromptCatalog
from common import golden_sets
from run_evaluation import EvaluationConfig, EvaluationRequest, Evaluator
from scorecard import ModelScore, Scorecard

# The evaluation function's fixtures: moto DynamoDB and S3, the loopback Bedrock stand-in.
fake = base.fake
world = base.world
KB_ID = "KBABCDE123"
TEMPLATE = "Answer the question from the sources only.\nSources:\n{{context}}\nQuestion: {{question}}"
QUESTIONS = {
    "Q-1": ("How do I reset the widget?", ["faq/reset.md"]),
    "Q-2": ("What is the refund window?", ["policies/refunds.md", "faq/billing.md"]),
    "Q-3": ("Is there a dark mode?", []),
}
GOLDEN = golden_sets.GoldenSet.from_dict(
    {
        "format": "golden-set/v1",
        "name": "support-answers",
        "version": 1,
        "items": [
            {
                "id": item_id,
                "inputs": {"question": question},
                "reference": f"The answer to: {question}",
                **({"expectedDocuments": docs} if docs else {}),
            }
            for item_id, (question, docs) in QUESTIONS.items()
        ],
    }
)


def passage(key: str, text: str, score: float = 0.8) -> dict[str, Any]:
    return {
        "content": {"type": "TEXT", "text": text},
        "location": {"type": "S3", "s3Location": {"uri": f"s3://curated-bucket/knowledge-base/{key}"}},
        "metadata": {"x-amz-bedrock-kb-chunk-id": f"{key}#0"},
        "score": score,
    }


def expect(stubber: Stubber, question: str, results: list[dict[str, Any]] | None, error: str | None = None) -> None:
    params = {
        "knowledgeBaseId": KB_ID,
        "retrievalQuery": {"text": question},
        "retrievalConfiguration": {"vectorSearchConfiguration": {"numberOfResults": 3}},
    }
    if error:
        stubber.add_client_error("retrieve", service_error_code=error, http_status_code=429, expected_params=params)
    else:
        stubber.add_response("retrieve", {"retrievalResults": results or []}, params)


def rag_version(world: dict[str, Any], monkeypatch: pytest.MonkeyPatch, gate: dict[str, Any]) -> Evaluator:
    monkeypatch.setenv("KNOWLEDGE_BASES", json.dumps({"product-docs": KB_ID}))
    monkeypatch.setenv("GATE_JSON", json.dumps({"min_judge_relevance": 1.0, **gate}))
    catalog = PromptCatalog(
        world["dynamodb"],
        TABLE,
        max_template_bytes=2000,
        min_golden_set_items=3,
        knowledge_bases={"product-docs": KB_ID},
    )
    catalog.create_version(
        "triage",
        template=TEMPLATE,
        variables=["context", "question"],
        model_id=FM1,
        inference={"maxTokens": 200, "temperature": 0.0},
        reason="answer from the docs",
        who=WHO,
        golden_sets=[{"name": GOLDEN.name, "version": 1, "min_items": 3}],
        retrieval={"knowledgeBase": "product-docs", "topK": 3, "contextVariable": "context"},
    )
    world["dynamodb"].put_item(
        **golden_sets.put_version_request(TABLE, GOLDEN, created_by=WHO, created_at="2024-05-02")
    )
    agent = boto3.client("bedrock-agent-runtime", region_name="us-east-1")
    world["agent"] = Stubber(agent)
    world["agent"].activate()
    return Evaluator(
        dynamodb=world["dynamodb"],
        s3=world["s3"],
        bedrock=boto3.client("bedrock-runtime", region_name="us-east-1"),
        config=EvaluationConfig.from_env(dict(os.environ)),
        agent_runtime=lambda: agent,
    )


def scorecard(world: dict[str, Any], uri: str) -> Scorecard:
    bucket, key = uri.removeprefix("s3://").split("/", 1)
    return Scorecard.from_json(world["s3"].get_object(Bucket=bucket, Key=key)["Body"].read().decode())


def test_each_item_records_what_was_retrieved_and_the_run_scores_recall_relevance_and_faithfulness(
    world: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    evaluator = rag_version(world, monkeypatch, {"min_recall_at_k": 0.5})
    stub = world["agent"]
    expect(stub, QUESTIONS["Q-1"][0], [passage("faq/reset.md", "Hold the reset button for five seconds.")])
    # One of the two expected documents found: recall 0.5 for this item.
    expect(stub, QUESTIONS["Q-2"][0], [passage("policies/refunds.md", "Refunds within 30 days.", 0.6)])
    expect(stub, QUESTIONS["Q-3"][0], [])  # nothing retrieved: relevance 0, no recall (nothing expected)

    outcome = evaluator.run(EvaluationRequest("triage", 2, GOLDEN.name, 1, (FM1,), "rag-1"))
    stub.assert_no_pending_responses()

    card = scorecard(world, outcome.scorecard_uri)
    by_item = {r["item_id"]: r for r in card.retrieval}
    assert [by_item[i]["status"] for i in ("Q-1", "Q-2", "Q-3")] == ["ok", "ok", "empty"]
    assert by_item["Q-1"]["chunks"] == [
        {
            "n": 1,
            "documentUri": "s3://curated-bucket/knowledge-base/faq/reset.md",
            "chunkId": "faq/reset.md#0",
            "score": 0.8,
        }
    ]
    assert (by_item["Q-1"]["recall_at_k"], by_item["Q-2"]["recall_at_k"], by_item["Q-3"]["recall_at_k"]) == (
        1.0,
        0.5,
        None,
    )
    assert by_item["Q-3"]["context_relevance"] == 0.0
    score = card.model(FM1)
    assert score.retrieval_items == 3
    assert score.recall_at_k == pytest.approx(0.75)
    assert score.context_relevance is not None and 0 <= score.context_relevance <= 1
    assert score.faithfulness is not None  # the grounding of the two answered-with-sources items
    # The scorecard names the golden set as stored, not the copy with the context filled in.
    assert card.golden_set_sha256 == GOLDEN.sha256()
    assert outcome.passed, outcome.reasons
    bucket, prefix = outcome.report_uri.removeprefix("s3://").split("/", 1)
    report = world["s3"].get_object(Bucket=bucket, Key=prefix + "report.md")["Body"].read().decode()
    assert "## Retrieval" in report
    assert f"| {FM1} | 0.750 |" in report
    assert "| Q-3 | empty | 0 | n/a | 0.00 | - |" in report
    assert any(check.startswith("ok   recall_at_k 0.75 >= min_recall_at_k") for check in world_checks(world))


def world_checks(world: dict[str, Any]) -> list[str]:
    items = world["dynamodb"].scan(TableName=TABLE)["Items"]
    [summary] = [i for i in items if i["sk"]["S"].startswith("EVAL#00000002")]
    return [c["S"] for c in summary["checks"]["L"]]


def test_the_gate_fails_a_version_below_the_recall_minimum(
    world: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    evaluator = rag_version(world, monkeypatch, {"min_recall_at_k": 0.9})
    stub = world["agent"]
    expect(stub, QUESTIONS["Q-1"][0], [passage("faq/other.md", "Unrelated.")])
    expect(stub, QUESTIONS["Q-2"][0], None, error="ThrottlingException")  # recorded, scores 0: fails closed
    expect(stub, QUESTIONS["Q-3"][0], [passage("faq/dark.md", "Dark mode is in settings.")])

    outcome = evaluator.run(EvaluationRequest("triage", 2, GOLDEN.name, 1, (FM1,), "rag-2"))

    assert not outcome.passed
    assert any("recall_at_k 0 is below min_recall_at_k 0.9" in reason for reason in outcome.reasons)
    card = scorecard(world, outcome.scorecard_uri)
    errored = next(r for r in card.retrieval if r["item_id"] == "Q-2")
    assert (errored["status"], errored["reason"]) == ("error", "ThrottlingException")


def test_golden_items_may_not_supply_the_retrieved_context(
    world: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    from common.errors import ValidationError

    evaluator = rag_version(world, monkeypatch, {})
    bad = dataclasses.replace(
        GOLDEN, version=2, items=(dataclasses.replace(GOLDEN.items[0], inputs={"question": "q", "context": "mine"}),)
    )
    world["dynamodb"].put_item(**golden_sets.put_version_request(TABLE, bad, created_by=WHO, created_at="2024-05-03"))
    with pytest.raises(ValidationError, match="supply 'context'"):
        evaluator.run(EvaluationRequest("triage", 2, GOLDEN.name, 2, (FM1,), "rag-3"))


# ------------------------------------------------------------------------------------------- the pieces


@pytest.mark.parametrize(
    ("expected", "uris", "recall"),
    [
        (["faq/reset.md"], ["s3://b/knowledge-base/faq/reset.md"], 1.0),
        (["reset.md"], ["s3://b/knowledge-base/faq/reset.md"], 1.0),
        (["set.md"], ["s3://b/knowledge-base/faq/reset.md"], 0.0),  # a suffix of a name is not a match
        (["s3://b/knowledge-base/faq/reset.md"], ["s3://b/knowledge-base/faq/reset.md"], 1.0),
        (["s3://other/faq/reset.md"], ["s3://b/knowledge-base/faq/reset.md"], 0.0),
        (["a.md", "b.md"], ["s3://b/a.md", "s3://b/a.md"], 0.5),  # two chunks of one document count once
        ([], ["s3://b/a.md"], None),
    ],
)
def test_recall_at_k(expected: list[str], uris: list[str], recall: float | None) -> None:
    assert retrieval_eval.recall_at_k(expected, uris) == recall


def score(**values: Any) -> ModelScore:
    base = {f.name: None for f in dataclasses.fields(ModelScore)}
    base.update(model_id="m", items=3, errors=0, judge_unparseable=0, total_cost_usd=0.0, cost_per_item_usd=0.0)
    base.update(cost_per_1k_items_usd=0.0, human_reviewed=0, red_team_items=0, red_team_cost_usd=0.0)
    base.update(retrieval_items=0, accuracy=0.9)
    base.update(values)
    return ModelScore(**base)


def test_retrieval_minimums_are_skipped_for_a_version_that_does_not_retrieve() -> None:
    gate = {"min_accuracy": 0.5, "min_recall_at_k": 0.8, "min_context_relevance": 0.5, "min_faithfulness": 0.7}
    decision = quality_gate.evaluate(score(), gate)
    assert decision.passed
    assert sum(check.startswith("skip ") for check in decision.checks) == 3


def test_retrieval_minimums_fail_closed_when_not_measured() -> None:
    gate = {"min_accuracy": 0.5, "min_faithfulness": 0.7}
    decision = quality_gate.evaluate(score(retrieval_items=3, recall_at_k=None, faithfulness=None), gate)
    assert not decision.passed
    assert decision.reasons == ["faithfulness: not measured, but min_faithfulness = 0.7 is required"]
    passing = quality_gate.evaluate(score(retrieval_items=3, faithfulness=0.7, context_relevance=0.2), gate)
    assert passing.passed
    with pytest.raises(quality_gate.GateConfigError, match="min_recall_at_k"):
        quality_gate.evaluate(score(), {"min_accuracy": 0.5, "min_recall_at_k": "high"})


def test_a_retrieving_version_is_called_as_the_gateway_calls_it_and_answered_from_its_passages(
    world: dict[str, Any], monkeypatch: pytest.MonkeyPatch, fake: Any
) -> None:
    # Before: the evaluation sent the rendered prompt as one text block, so Converse's guardrail could not
    # check grounding as it does for the gateway, and the stand-in answered with a summary of the prompt.
    evaluator = rag_version(world, monkeypatch, {"min_recall_at_k": 0.5})
    stub = world["agent"]
    reset = "To reset the widget, hold the reset button for five seconds. The light then blinks twice."
    expect(stub, QUESTIONS["Q-1"][0], [passage("faq/reset.md", reset)])
    expect(stub, QUESTIONS["Q-2"][0], [passage("policies/refunds.md", "Refunds are paid within 30 days.")])
    expect(stub, QUESTIONS["Q-3"][0], [])
    before = len(fake.requests)
    outcome = evaluator.run(EvaluationRequest("triage", 2, GOLDEN.name, 1, (FM1,), "rag-guard"))
    calls = [r.body for r in fake.requests[before:] if r.model_id == FM1]
    [q1] = [c for c in calls if QUESTIONS["Q-1"][0] in json.dumps(c)]
    blocks = q1["messages"][0]["content"]
    assert all(set(b) == {"guardContent"} for b in blocks)
    kinds = {b["guardContent"]["text"]["qualifiers"][0]: b["guardContent"]["text"]["text"] for b in blocks}
    assert kinds["query"] == QUESTIONS["Q-1"][0]
    assert kinds["grounding_source"].startswith("[1] (source: s3://curated-bucket/knowledge-base/faq/reset.md)")
    assert "".join(b["guardContent"]["text"]["text"] for b in blocks).startswith("Answer the question from")
    answer = next(r for r in scorecard(world, outcome.scorecard_uri).items if r.item_id == "Q-1").answer
    assert answer == "[local stand-in model] To reset the widget, hold the reset button for five seconds. [1]"
