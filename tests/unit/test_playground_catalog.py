"""The playground reads the catalog table that the catalog's own code writes (moto DynamoDB)."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from typing import Any

import boto3
import pytest

import tests.unit.playground_path  # noqa: F401 - puts apps/playground on sys.path
from tests.unit.lambdas_path import LAMBDAS, create_prompt_table, fast_mock_aws, table_items

if str(LAMBDAS / "llm_evaluation") not in sys.path:
    sys.path.insert(0, str(LAMBDAS / "llm_evaluation"))

# isort: split
from catalog import PromptCatalog  # lambdas/prompt_catalog: the writer of versions and aliases
from common import prompt_store
from run_evaluation import eval_sk  # lambdas/llm_evaluation: the writer of evaluation summaries

from playground.catalog import CatalogReader

TABLE = "prompt-catalog"
WHO = "arn:aws:iam::123456789012:user/alice"
MODEL = "amazon.nova-lite-v1:0"
GOLDEN_SET_FILE = LAMBDAS / "llm_evaluation" / "data" / "support_tickets_v1.json"


@pytest.fixture
def ddb() -> Iterator[Any]:
    with fast_mock_aws():
        client = boto3.client("dynamodb", region_name="us-east-1")
        create_prompt_table(client, TABLE)
        yield client


def writer(client: Any) -> PromptCatalog:
    return PromptCatalog(client, TABLE, max_template_bytes=4000, sleep=lambda _: None)


def create(catalog: PromptCatalog, name: str, template: str, variables: list[str]) -> int:
    created = catalog.create_version(
        name,
        template=template,
        variables=variables,
        model_id=MODEL,
        inference={"temperature": 0.2, "maxTokens": 200},
        reason="test",
        who=WHO,
    )
    return created.version


def eval_item(prompt: str, version: int, run_id: str, created_at: str, *, passed: bool) -> dict[str, Any]:
    """An EVAL# summary as lambdas/llm_evaluation/run_evaluation.py writes it (same keys and key format)."""
    return prompt_store.serialize(
        {
            "pk": prompt_store.prompt_pk(prompt),
            "sk": eval_sk(version, run_id),
            "kind": "evaluation",
            "run_id": run_id,
            "prompt": prompt,
            "version": version,
            "prompt_model_id": MODEL,
            "golden_set": "support-tickets",
            "golden_version": 1,
            "golden_sha256": "0" * 64,
            "passed": passed,
            "reasons": [] if passed else ["hallucination_rate 0.3 is above max_hallucination_rate 0.2"],
            "checks": [],
            "selected_model": MODEL,
            "explanation": "only one model",
            "judge_model_id": None,
            "compared_with_prod_version": None,
            "models": {MODEL: {"model_id": MODEL, "accuracy": 0.8, "rouge_l": 0.41, "hallucination_rate": 0.3}},
            "report_uri": f"s3://bucket/evaluations/{prompt}/v{version}/support-tickets-v1/{run_id}/",
            "scorecard_uri": f"s3://bucket/evaluations/{prompt}/v{version}/support-tickets-v1/{run_id}/scorecard.json",
            "created_at": created_at,
        }
    )


def test_listing_names_every_prompt_and_alias_and_ignores_other_items(ddb: Any) -> None:
    catalog = writer(ddb)
    create(catalog, "ticket-summary", "Summarize: {{ticket}}", ["ticket"])
    create(catalog, "ticket-summary", "Summarize briefly: {{ticket}}", ["ticket"])
    create(catalog, "reply-draft", "Reply to {{customer}} about {{ticket}}", ["customer", "ticket"])
    create(catalog, "unreleased", "Nothing points here: {{x}}", ["x"])
    catalog.promote("ticket-summary", "dev", version=2, reason="try v2", who=WHO)
    catalog.promote("ticket-summary", "canary", version=1, reason="compare", who=WHO)
    catalog.promote("reply-draft", "dev", version=1, reason="try", who=WHO)
    # A golden set and an evaluation share the table; neither is a prompt or an alias.
    catalog.create_golden_set(GOLDEN_SET_FILE.read_text(), who=WHO)
    ddb.put_item(TableName=TABLE, Item=eval_item("ticket-summary", 2, "r1", "2026-01-01T00:00:00Z", passed=True))

    listing = CatalogReader(ddb, TABLE).listing()

    assert listing.prompts == ("reply-draft", "ticket-summary", "unreleased")
    assert listing.prompts_with_aliases() == ["reply-draft", "ticket-summary"]
    assert listing.aliases_of("ticket-summary") == ["dev", "canary"]
    dev = next(a for a in listing.aliases if a.prompt == "ticket-summary" and a.alias == "dev")
    assert (dev.version, dev.model_id) == (2, MODEL)


def test_listing_follows_scan_pages() -> None:
    pages = [
        {"Items": [{"pk": {"S": "PROMPT#a"}, "sk": {"S": "HEAD"}}], "LastEvaluatedKey": {"pk": {"S": "PROMPT#a"}}},
        {"Items": [{"pk": {"S": "PROMPT#b"}, "sk": {"S": "ALIAS#dev"}, "version": {"N": "3"}}]},
    ]
    calls: list[dict[str, Any]] = []

    class Client:
        def scan(self, **kwargs: Any) -> dict[str, Any]:
            calls.append(dict(kwargs))
            return pages[len(calls) - 1]

        def get_item(self, **kwargs: Any) -> dict[str, Any]:
            raise AssertionError("not called")

        def query(self, **kwargs: Any) -> dict[str, Any]:
            raise AssertionError("not called")

    listing = CatalogReader(Client(), TABLE).listing()
    assert listing.prompts == ("a", "b")
    assert [(a.prompt, a.alias, a.version) for a in listing.aliases] == [("b", "dev", 3)]
    assert "ExclusiveStartKey" not in calls[0] and calls[1]["ExclusiveStartKey"] == {"pk": {"S": "PROMPT#a"}}


def test_alias_gives_template_and_variables_of_the_version_it_points_to(ddb: Any) -> None:
    catalog = writer(ddb)
    create(catalog, "reply-draft", "Reply to {{customer}} about {{ticket}}", ["customer", "ticket"])
    create(
        catalog, "reply-draft", "Reply kindly to {{customer}}: {{ticket}} ({{tone}})", ["customer", "ticket", "tone"]
    )
    catalog.promote("reply-draft", "dev", version=2, reason="try v2", who=WHO)
    before = table_items(ddb, TABLE)

    record = CatalogReader(ddb, TABLE).alias("reply-draft", "dev")

    assert record is not None
    assert record.version == 2
    assert record.template == "Reply kindly to {{customer}}: {{ticket}} ({{tone}})"
    assert record.variables == ("customer", "ticket", "tone")
    assert record.model_id == MODEL
    assert record.reason == "try v2"
    assert CatalogReader(ddb, TABLE).alias("reply-draft", "prod") is None
    assert CatalogReader(ddb, TABLE).alias("no-such-prompt", "dev") is None
    assert table_items(ddb, TABLE) == before, "the reader must never write"


def test_evaluations_are_newest_first_with_metrics(ddb: Any) -> None:
    create(writer(ddb), "ticket-summary", "Summarize: {{ticket}}", ["ticket"])
    for version, run_id, when, passed in (
        (1, "20260101T000000Z-aaaa", "2026-01-01T00:00:00.000000Z", False),
        (1, "20260102T000000Z-bbbb", "2026-01-02T00:00:00.000000Z", True),
        (2, "20260103T000000Z-cccc", "2026-01-03T00:00:00.000000Z", False),
    ):
        ddb.put_item(TableName=TABLE, Item=eval_item("ticket-summary", version, run_id, when, passed=passed))

    runs = CatalogReader(ddb, TABLE).evaluations("ticket-summary")

    assert [(r.version, r.run_id) for r in runs] == [
        (2, "20260103T000000Z-cccc"),
        (1, "20260102T000000Z-bbbb"),
        (1, "20260101T000000Z-aaaa"),
    ]
    latest = runs[0]
    assert latest.passed is False
    assert latest.reasons == ("hallucination_rate 0.3 is above max_hallucination_rate 0.2",)
    assert latest.models[MODEL]["accuracy"] == 0.8 and isinstance(latest.models[MODEL]["accuracy"], float)
    assert latest.scorecard_uri.endswith("/20260103T000000Z-cccc/scorecard.json")
    assert CatalogReader(ddb, TABLE).evaluations("reply-draft") == []
