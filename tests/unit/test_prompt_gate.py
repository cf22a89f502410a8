"""The catalog's prod gate: ``prod`` may only point at a version whose newest evaluation passed."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import boto3
import pytest

from tests.unit.lambdas_path import create_prompt_table, fast_mock_aws, table_items
from tests.unit.test_prompt_api import Api
from tests.unit.test_prompt_catalog import TABLE, WHO, create, make_catalog

# isort: split
from catalog import GATED_ALIASES, PROD_ALIAS, GateRefused, PromptCatalog
from common import prompt_store


def put_evaluation(
    client: Any,
    name: str,
    version: int,
    *,
    passed: bool = True,
    run_id: str = "run-1",
    reasons: tuple[str, ...] = (),
    created_at: str = "2024-05-01T13:00:00.000000Z",
    table: str = TABLE,
) -> None:
    """The summary item the evaluation function writes (only the attributes the gate reads, plus a few)."""
    client.put_item(
        TableName=table,
        Item=prompt_store.serialize(
            {
                "pk": f"PROMPT#{name}",
                "sk": f"EVAL#{version:08d}#{run_id}",
                "run_id": run_id,
                "version": version,
                "passed": passed,
                "reasons": list(reasons),
                "selected_model": "amazon.nova-lite-v1:0",
                "created_at": created_at,
            }
        ),
    )


@pytest.fixture
def ddb() -> Iterator[Any]:
    with fast_mock_aws():
        client = boto3.client("dynamodb", region_name="us-east-1")
        create_prompt_table(client, TABLE)
        yield client


@pytest.fixture
def catalog(ddb: Any) -> PromptCatalog:
    catalog = make_catalog(ddb)
    create(catalog)
    create(catalog, template="v2 {{audience}} {{text}}", reason="v2")
    return catalog


def test_prod_is_the_gated_alias() -> None:
    assert PROD_ALIAS == "prod"
    assert frozenset({"prod"}) == GATED_ALIASES


def test_no_evaluation_is_refused_and_changes_nothing(catalog: PromptCatalog, ddb: Any) -> None:
    before = table_items(ddb, TABLE)

    with pytest.raises(GateRefused, match=r"cannot point 'prod' at v2: no evaluation of v2"):
        catalog.promote("summarize", "prod", version=2, reason="ship", who=WHO)

    assert table_items(ddb, TABLE) == before


def test_an_evaluation_of_another_version_does_not_count(catalog: PromptCatalog, ddb: Any) -> None:
    put_evaluation(ddb, "summarize", 1)
    put_evaluation(ddb, "other-prompt", 2)

    with pytest.raises(GateRefused, match="no evaluation of v2"):
        catalog.promote("summarize", "prod", version=2, reason="ship", who=WHO)


def test_failed_evaluation_is_refused_with_its_first_reason(catalog: PromptCatalog, ddb: Any) -> None:
    put_evaluation(
        ddb,
        "summarize",
        2,
        passed=False,
        run_id="20240501T130000Z-abc",
        reasons=("accuracy 0.8 is below min_accuracy 0.85", "rouge_l 0.2 is below min_rouge_l 0.35"),
    )
    before = table_items(ddb, TABLE)

    with pytest.raises(
        GateRefused, match=r"evaluation 20240501T130000Z-abc failed: accuracy 0.8 is below min_accuracy 0.85$"
    ):
        catalog.promote("summarize", "prod", version=2, reason="ship", who=WHO)

    assert table_items(ddb, TABLE) == before


def test_the_newest_evaluation_decides(catalog: PromptCatalog, ddb: Any) -> None:
    # Run ids need not sort by time: "a-late" is newer than "z-early" by created_at.
    put_evaluation(ddb, "summarize", 2, run_id="z-early", passed=True, created_at="2024-05-01T13:00:00.000000Z")
    put_evaluation(
        ddb, "summarize", 2, run_id="a-late", passed=False, reasons=("regressed",), created_at="2024-05-02T09:00:00Z"
    )
    with pytest.raises(GateRefused, match="evaluation a-late failed: regressed"):
        catalog.promote("summarize", "prod", version=2, reason="ship", who=WHO)

    put_evaluation(ddb, "summarize", 2, run_id="m-fixed", passed=True, created_at="2024-05-03T09:00:00Z")
    assert catalog.promote("summarize", "prod", version=2, reason="ship", who=WHO).version == 2


def test_passed_evaluation_promotes_and_audits_as_before(catalog: PromptCatalog, ddb: Any) -> None:
    put_evaluation(ddb, "summarize", 2)

    record = catalog.promote("summarize", "prod", version=2, reason="eval passed", who=WHO)

    assert record == catalog.get_alias("summarize", "prod")
    trail = catalog.list_audit("summarize").items
    assert [(a["action"], a["version"], a["alias"], a["why"]) for a in trail][-1] == (
        "promote",
        2,
        "prod",
        "eval passed",
    )


def test_other_aliases_are_not_gated(catalog: PromptCatalog) -> None:
    assert catalog.promote("summarize", "dev", version=2, reason="try it", who=WHO).version == 2
    assert catalog.promote("summarize", "staging", version=1, reason="try it", who=WHO).version == 1


def test_missing_version_is_still_not_found_before_the_gate(catalog: PromptCatalog) -> None:
    from catalog import NotFound

    with pytest.raises(NotFound, match="has no version 7"):
        catalog.promote("summarize", "prod", version=7, reason="ship", who=WHO)


def test_api_answers_409_with_the_reason(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    from tests.unit.lambdas_path import load_handler
    from tests.unit.test_prompt_api import VERSION_BODY, emf_blobs

    monkeypatch.setenv("TABLE_NAME", TABLE)
    monkeypatch.setenv("MAX_TEMPLATE_BYTES", "1000")
    monkeypatch.setenv("POWERTOOLS_METRICS_NAMESPACE", "Test/PromptCatalog")
    with fast_mock_aws():
        client = boto3.client("dynamodb", region_name="us-east-1")
        create_prompt_table(client, TABLE)
        api = Api(load_handler("prompt_catalog"))
        assert api("POST", "/prompts/translate/versions", VERSION_BODY)[0] == 201
        capsys.readouterr()

        status, body = api("PUT", "/prompts/translate/aliases/prod", {"version": 1, "reason": "ship"})
        assert (status, body) == (
            409,
            {"error": "prompt 'translate': cannot point 'prod' at v1: no evaluation of v1 (run the evaluation first)"},
        )
        [blob] = emf_blobs(capsys.readouterr().out)
        assert blob["PromotionsRefused"] == [1.0]

        put_evaluation(client, "translate", 1, passed=False, run_id="r2", reasons=("cost too high",))
        status, body = api("PUT", "/prompts/translate/aliases/prod", {"version": 1, "reason": "ship"})
        assert (status, body["error"]) == (
            409,
            "prompt 'translate': cannot point 'prod' at v1: evaluation r2 failed: cost too high",
        )

        put_evaluation(client, "translate", 1, passed=True, run_id="r3", created_at="2024-06-01T00:00:00Z")
        status, body = api("PUT", "/prompts/translate/aliases/prod", {"version": 1, "reason": "ship"})
        assert (status, body["version"]) == (200, 1)
