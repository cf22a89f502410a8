"""The catalog's prod gate: ``prod`` may only point at a version whose own model (the one the alias will
call) passed every golden set the version names, and the move is one transaction conditioned on what was
checked."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import boto3
import pytest

from tests.unit.lambdas_path import (
    GOLDEN_REQUIREMENT,
    create_prompt_table,
    fast_mock_aws,
    put_gate_verdict,
    table_items,
)
from tests.unit.test_prompt_api import Api
from tests.unit.test_prompt_catalog import MODEL, TABLE, WHO, create, make_catalog

# isort: split
from catalog import GATED_ALIASES, PROD_ALIAS, Conflict, GateRefused, PromptCatalog, ValidationError
from common import prompt_store

OTHER_MODEL = "amazon.nova-lite-v1:0"


def put_evaluation(
    client: Any,
    name: str,
    version: int,
    *,
    model_id: str = MODEL,
    passed: bool = True,
    run_id: str = "run-1",
    reasons: tuple[str, ...] = (),
    created_at: str = "2024-05-01T13:00:00.000000Z",
    golden_items: int = 20,
    golden_set: str = "golden",
) -> None:
    """The gate verdict the evaluation function writes for (version, model, golden set v1)."""
    put_gate_verdict(
        client,
        name,
        version,
        model_id,
        table=TABLE,
        passed=passed,
        run_id=run_id,
        reasons=reasons,
        created_at=created_at,
        golden_items=golden_items,
        golden_set=golden_set,
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


def alias_and_newest_promotion(catalog: PromptCatalog, alias: str = "prod") -> tuple[int, int, int | None]:
    """The alias's version and revision, and the version the newest promotion of it in the trail names."""
    record = catalog.get_alias("summarize", alias)
    promotions = [a for a in catalog.list_audit("summarize").items if a["action"] == "promote" and a["alias"] == alias]
    return record.version, record.revision, promotions[-1]["version"] if promotions else None


def test_prod_is_the_gated_alias() -> None:
    assert PROD_ALIAS == "prod"
    assert frozenset({"prod"}) == GATED_ALIASES


def test_no_evaluation_is_refused_and_changes_nothing(catalog: PromptCatalog, ddb: Any) -> None:
    before = table_items(ddb, TABLE)

    with pytest.raises(
        GateRefused,
        match=rf"cannot point 'prod' at v2: no evaluation of v2 on {MODEL} \(the model 'prod' would call\) over "
        r"golden set golden v1 \(run the evaluation first\)",
    ):
        catalog.promote("summarize", "prod", version=2, reason="ship", who=WHO)

    assert table_items(ddb, TABLE) == before


def test_an_evaluation_of_another_version_does_not_count(catalog: PromptCatalog, ddb: Any) -> None:
    put_evaluation(ddb, "summarize", 1)
    put_evaluation(ddb, "other-prompt", 2)

    with pytest.raises(GateRefused, match="no evaluation of v2"):
        catalog.promote("summarize", "prod", version=2, reason="ship", who=WHO)


def test_a_pass_of_another_model_does_not_count_for_the_alias_model(catalog: PromptCatalog, ddb: Any) -> None:
    # Fault 1: the evaluation gated the model selection chose (B) while prod calls the version's own (A).
    put_evaluation(ddb, "summarize", 2, model_id=OTHER_MODEL, passed=True)
    put_evaluation(ddb, "summarize", 2, model_id=MODEL, passed=False, reasons=("accuracy 0 is below min_accuracy 0.8",))

    with pytest.raises(
        GateRefused, match=rf"evaluation run-1 of v2 on {MODEL} over golden set golden v1 failed: accuracy 0"
    ):
        catalog.promote("summarize", "prod", version=2, reason="B passed", who=WHO)

    put_evaluation(ddb, "summarize", 2, model_id=MODEL, run_id="run-2", created_at="2024-05-02T00:00:00.000000Z")
    record = catalog.promote("summarize", "prod", version=2, reason="A passed", who=WHO)
    assert (record.version, record.model_id) == (2, MODEL)


def test_only_the_golden_sets_the_version_names_count(ddb: Any) -> None:
    # Fault 2: any evaluation, over any set (one item published through the API), unlocked prod.
    catalog = make_catalog(ddb, min_golden_set_items=5)
    create(catalog, golden_sets=[])
    put_evaluation(ddb, "summarize", 1, golden_set="golden")
    with pytest.raises(GateRefused, match="v1 names no golden set it must pass"):
        catalog.promote("summarize", "prod", version=1, reason="ship", who=WHO)

    create(
        catalog,
        golden_sets=[
            {"name": "golden", "version": 1, "min_items": 10},
            {"name": "red-team", "version": 1, "min_items": 5},
        ],
    )
    put_evaluation(ddb, "summarize", 2, golden_set="tiny", golden_items=1)
    put_evaluation(ddb, "summarize", 2, golden_set="golden", golden_items=9)
    with pytest.raises(GateRefused, match="over golden set golden v1 covered 9 items; at least 10 are required"):
        catalog.promote("summarize", "prod", version=2, reason="ship", who=WHO)
    put_evaluation(
        ddb, "summarize", 2, golden_set="golden", golden_items=10, run_id="run-2", created_at="2024-06-01T00:00:00Z"
    )
    with pytest.raises(GateRefused, match=r"no evaluation of v2 .* over golden set red-team v1"):
        catalog.promote("summarize", "prod", version=2, reason="ship", who=WHO)
    put_evaluation(ddb, "summarize", 2, golden_set="red-team", golden_items=5)
    assert catalog.promote("summarize", "prod", version=2, reason="ship", who=WHO).version == 2


def test_the_deployment_floor_applies_to_old_requirements_too(ddb: Any) -> None:
    make_catalog(ddb, min_golden_set_items=5).create_version(
        "summarize",
        template="{{text}}",
        variables=["text"],
        model_id=MODEL,
        inference={},
        reason="r",
        who=WHO,
        golden_sets=[{"name": "golden", "version": 1, "min_items": 5}],
    )
    put_evaluation(ddb, "summarize", 1, golden_items=5)
    # MIN_GOLDEN_SET_ITEMS was raised since: the version's own 5 no longer suffice.
    with pytest.raises(GateRefused, match="covered 5 items; at least 20 are required"):
        make_catalog(ddb, min_golden_set_items=20).promote("summarize", "prod", version=1, reason="ship", who=WHO)


@pytest.mark.parametrize(
    ("golden_sets", "message"),
    [
        ([{"name": "golden", "version": 1, "min_items": 1}], r"golden_sets\[0\].min_items: must be an integer from 20"),
        ([{"name": "golden", "version": 1}], r"golden_sets\[0\].min_items: must be an integer from 20"),
        ([{"name": "golden", "version": 1, "min_items": True}], r"min_items: must be an integer"),
        ([{"name": "golden\n", "version": 1, "min_items": 20}], r"golden_sets\[0\].name: 'golden\\n' is not"),
        ([{"name": "golden", "version": 0, "min_items": 20}], r"golden_sets\[0\].version: must be an integer from 1"),
        ([{"name": "golden", "version": 10**40, "min_items": 20}], r"golden_sets\[0\].version"),
        ([GOLDEN_REQUIREMENT, GOLDEN_REQUIREMENT], r"golden_sets\[1\]: golden set 'golden' v1 is listed twice"),
        ([{**GOLDEN_REQUIREMENT, "sha": "x"}], r"golden_sets\[0\]: unknown fields \['sha'\]"),
        (["golden"], r"golden_sets\[0\]: must be an object"),
        ({"name": "golden"}, "golden_sets: must be an array of objects"),
        ([GOLDEN_REQUIREMENT | {"version": v} for v in range(1, 12)], "golden_sets: at most 10 entries"),
    ],
)
def test_golden_set_requirements_are_validated(
    catalog: PromptCatalog, ddb: Any, golden_sets: Any, message: str
) -> None:
    before = table_items(ddb, TABLE)
    with pytest.raises(ValidationError, match=message):
        create(catalog, golden_sets=golden_sets)
    assert table_items(ddb, TABLE) == before


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
        GateRefused,
        match=r"evaluation 20240501T130000Z-abc of v2 on .* failed: accuracy 0.8 is below min_accuracy 0.85$",
    ):
        catalog.promote("summarize", "prod", version=2, reason="ship", who=WHO)

    assert table_items(ddb, TABLE) == before


def test_passed_evaluation_promotes_and_audits_with_the_revision(catalog: PromptCatalog, ddb: Any) -> None:
    put_evaluation(ddb, "summarize", 2)

    record = catalog.promote("summarize", "prod", version=2, reason="eval passed", who=WHO)

    assert record == catalog.get_alias("summarize", "prod")
    assert record.revision == 1
    trail = catalog.list_audit("summarize").items
    assert [(a["action"], a["version"], a["alias"], a["why"], a["revision"]) for a in trail][-1] == (
        "promote",
        2,
        "prod",
        "eval passed",
        1,
    )
    put_evaluation(ddb, "summarize", 1)
    assert catalog.promote("summarize", "prod", version=1, reason="back", who=WHO).revision == 2


def test_other_aliases_are_not_gated(catalog: PromptCatalog) -> None:
    assert catalog.promote("summarize", "dev", version=2, reason="try it", who=WHO).version == 2
    assert catalog.promote("summarize", "staging", version=1, reason="try it", who=WHO).version == 1


def test_missing_version_is_still_not_found_before_the_gate(catalog: PromptCatalog) -> None:
    from catalog import NotFound

    with pytest.raises(NotFound, match="has no version 7"):
        catalog.promote("summarize", "prod", version=7, reason="ship", who=WHO)


# ------------------------------------------------------------------------------- races (fault 4)


class Interleaved:
    """A DynamoDB client that runs ``between`` once, just before the catalog's TransactWriteItems: what
    another writer does after this promotion read the table and before it writes."""

    def __init__(self, client: Any, between: Callable[[], None]) -> None:
        self._client = client
        self._between: Callable[[], None] | None = between

    def __getattr__(self, name: str) -> Any:
        return getattr(self._client, name)

    def transact_write_items(self, **kwargs: Any) -> dict[str, Any]:
        if self._between is not None:
            between, self._between = self._between, None
            between()
        result: dict[str, Any] = self._client.transact_write_items(**kwargs)
        return result


def test_a_failed_evaluation_landing_between_read_and_write_stops_the_promotion(
    catalog: PromptCatalog, ddb: Any
) -> None:
    put_evaluation(ddb, "summarize", 2, run_id="passed-run")
    before = table_items(ddb, TABLE)

    def newer_failed_run() -> None:
        put_evaluation(
            ddb,
            "summarize",
            2,
            run_id="failed-run",
            passed=False,
            reasons=("hallucination",),
            created_at="2024-05-02T00:00:00Z",
        )

    racing = make_catalog(Interleaved(ddb, newer_failed_run))
    with pytest.raises(GateRefused, match="landed during the promotion; nothing was written"):
        racing.promote("summarize", "prod", version=2, reason="ship", who=WHO)

    after = {i["sk"]["S"] for i in table_items(ddb, TABLE)}
    assert after == {i["sk"]["S"] for i in before}  # no alias, no audit entry
    with pytest.raises(GateRefused, match=r"evaluation failed-run of v2 .* failed: hallucination"):
        catalog.promote("summarize", "prod", version=2, reason="ship", who=WHO)


def test_concurrent_promotions_cannot_both_land_and_the_audit_agrees_with_the_alias(
    catalog: PromptCatalog, ddb: Any
) -> None:
    put_evaluation(ddb, "summarize", 1)
    put_evaluation(ddb, "summarize", 2)
    catalog.promote("summarize", "prod", version=1, reason="first", who=WHO)

    def other_promotion() -> None:
        catalog.promote("summarize", "prod", version=2, reason="the other one", who=WHO)

    # This one read revision 1, then the other promotion moved prod to v2 (revision 2) before it wrote.
    racing = make_catalog(Interleaved(ddb, other_promotion))
    with pytest.raises(Conflict, match="alias 'prod' was moved by another promotion while this one was checked"):
        racing.promote("summarize", "prod", version=1, reason="stale", who=WHO)

    assert alias_and_newest_promotion(catalog) == (2, 2, 2)


def test_the_newest_audit_entry_is_the_alias_even_when_the_writers_clock_is_behind(ddb: Any) -> None:
    fast = make_catalog(ddb)
    create(fast)
    create(fast, template="v2 {{audience}} {{text}}")
    put_evaluation(ddb, "summarize", 1)
    put_evaluation(ddb, "summarize", 2)
    fast.promote("summarize", "prod", version=2, reason="ahead", who=WHO)
    fast.promote("summarize", "prod", version=2, reason="ahead again", who=WHO)

    from datetime import UTC, datetime

    behind = make_catalog(ddb, now=lambda: datetime(2020, 1, 1, tzinfo=UTC))
    record = behind.promote("summarize", "prod", version=1, reason="clock behind", who=WHO)

    assert record.updated_at > "2024-05-01"  # after the write it follows, whatever this writer's clock says
    assert alias_and_newest_promotion(behind) == (1, 3, 1)


def test_an_alias_written_before_revisions_is_moved_conditionally(catalog: PromptCatalog, ddb: Any) -> None:
    legacy = prompt_store.AliasRecord.pointing_at(
        catalog.get_version("summarize", 1), alias="dev", who=WHO, when="2024-01-01T00:00:00.000000Z", reason="old"
    )
    item = legacy.to_item()
    del item["revision"]
    ddb.put_item(TableName=TABLE, Item=item)
    assert catalog.get_alias("summarize", "dev").revision == 0

    def other_promotion() -> None:
        catalog.promote("summarize", "dev", version=2, reason="other", who=WHO)

    with pytest.raises(Conflict):
        make_catalog(Interleaved(ddb, other_promotion)).promote("summarize", "dev", version=1, reason="x", who=WHO)
    assert catalog.get_alias("summarize", "dev").revision == 1


def test_api_answers_409_with_the_reason(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    from tests.unit.lambdas_path import load_handler, set_catalog_environment
    from tests.unit.test_prompt_api import VERSION_BODY, emf_blobs

    set_catalog_environment(monkeypatch, table=TABLE, max_template_bytes=1000, namespace="Test/PromptCatalog")
    with fast_mock_aws():
        client = boto3.client("dynamodb", region_name="us-east-1")
        create_prompt_table(client, TABLE)
        api = Api(load_handler("prompt_catalog"))
        body = {**VERSION_BODY, "golden_sets": [{"name": "golden", "version": 1, "min_items": 2}]}
        assert api("POST", "/prompts/translate/versions", body)[0] == 201
        model = VERSION_BODY["model_id"]
        capsys.readouterr()

        status, answer = api("PUT", "/prompts/translate/aliases/prod", {"version": 1, "reason": "ship"})
        assert (status, answer) == (
            409,
            {
                "error": f"prompt 'translate': cannot point 'prod' at v1: no evaluation of v1 on {model} (the model "
                "'prod' would call) over golden set golden v1 (run the evaluation first)"
            },
        )
        [blob] = emf_blobs(capsys.readouterr().out)
        assert blob["PromotionsRefused"] == [1.0]

        put_gate_verdict(
            client, "translate", 1, model, table=TABLE, passed=False, run_id="r2", reasons=("cost too high",)
        )
        status, answer = api("PUT", "/prompts/translate/aliases/prod", {"version": 1, "reason": "ship"})
        assert (status, answer["error"]) == (
            409,
            f"prompt 'translate': cannot point 'prod' at v1: evaluation r2 of v1 on {model} over golden set golden v1 "
            "failed: cost too high",
        )

        put_gate_verdict(client, "translate", 1, model, table=TABLE, run_id="r3", created_at="2024-06-01T00:00:00Z")
        status, answer = api("PUT", "/prompts/translate/aliases/prod", {"version": 1, "reason": "ship"})
        assert (status, answer["version"]) == (200, 1)

        status, answer = api(
            "POST",
            "/prompts/translate/versions",
            {**VERSION_BODY, "golden_sets": [{"name": "g", "version": 1, "min_items": 1}]},
        )
        assert (status, answer["error"]) == (
            400,
            "golden_sets[0].min_items: must be an integer from 2 (MIN_GOLDEN_SET_ITEMS) to 5000, got 1",
        )
