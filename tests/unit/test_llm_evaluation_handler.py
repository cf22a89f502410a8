"""The evaluation function end to end: moto (DynamoDB, S3) and the local Bedrock stand-in (models and judge)."""

from __future__ import annotations

import csv
import dataclasses
import io
import json
import os
import re
import sys
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType
from typing import Any

import boto3
import pytest

from emulator.fake_bedrock import JUDGE_LABEL, FakeBedrock
from tests.unit.lambdas_path import LAMBDAS, FakeLambdaContext, create_prompt_table, fast_mock_aws, load_handler

if str(LAMBDAS / "llm_evaluation") not in sys.path:
    sys.path.insert(0, str(LAMBDAS / "llm_evaluation"))

# isort: split
import red_team
from catalog import GateRefused, PromptCatalog
from common import golden_sets, prompt_store
from run_evaluation import ConfigError, EvaluationConfig, parse_event

TABLE = "prompt-catalog"
BUCKET = "eval-reports"
WHO = "arn:aws:iam::123456789012:user/alice"
FM1, FM2, JUDGE = "fm1.large-v1:0", "fm2.small-v1:0", "judge.model-v1:0"
TEMPLATE = (
    "Classify the support ticket as one of billing, technical, account, shipping, other, and summarize it in one "
    "sentence.\nReply with a 'label: <label>' line and a 'summary: <sentence>' line.\nTicket: {{ticket}}"
)
# The first items of the shipped set: the handler's wiring is under test here, and every model and judge
# call crosses loopback HTTP (the library's own end-to-end test runs the whole set with in-process fakes).
SHIPPED = golden_sets.load(LAMBDAS / "llm_evaluation" / "data" / "support_tickets_v1.json")
GOLDEN = dataclasses.replace(SHIPPED, items=SHIPPED.items[:8])
RED_TEAM = red_team.load(LAMBDAS / "llm_evaluation" / "data" / "red_team_v1.json")
ENV = {
    "TABLE_NAME": TABLE,
    "REPORT_BUCKET": BUCKET,
    "PRICE_TABLE_JSON": json.dumps(
        {FM1: {"input_per_1k": 0.003, "output_per_1k": 0.015}, FM2: {"input_per_1k": 0.0002, "output_per_1k": 0.001}}
    ),
    "ALLOWED_MODELS": f"{FM1},{FM2}",
    "JUDGE_MODEL_ID": JUDGE,
    "EMBEDDING_MODEL_ID": "amazon.titan-embed-text-v2:0",
    "EMBEDDING_PRICE_PER_1K": "0.00002",
    "GUARDRAIL_ID": "gr-eval",
    "GUARDRAIL_VERSION": "3",
    "GATE_JSON": json.dumps({"min_accuracy": 0.1, "min_judge_relevance": 4.0}),
    "WEIGHTS_JSON": json.dumps({"speed": 1, "precision": 2, "cost": 1}),
    "POWERTOOLS_METRICS_NAMESPACE": "Test/Evaluation",
}
EVENT = {"prompt": "triage", "version": 1, "golden_set": GOLDEN.name, "golden_version": 1}
REQUIREMENT = {"name": GOLDEN.name, "version": 1, "min_items": len(GOLDEN.items)}


@pytest.fixture
def fake() -> Iterator[FakeBedrock]:
    with FakeBedrock(lifetime_seconds=120) as server:
        yield server


@pytest.fixture
def world(fake: FakeBedrock, monkeypatch: pytest.MonkeyPatch) -> Iterator[dict[str, Any]]:
    for name, value in {**ENV, **fake.env()}.items():
        monkeypatch.setenv(name, value)
    with fast_mock_aws(passthrough_urls=[re.escape(fake.endpoint_url)]):
        dynamodb = boto3.client("dynamodb", region_name="us-east-1")
        s3 = boto3.client("s3", region_name="us-east-1")
        create_prompt_table(dynamodb, TABLE)
        s3.create_bucket(Bucket=BUCKET)
        catalog = PromptCatalog(dynamodb, TABLE, max_template_bytes=2000, min_golden_set_items=len(GOLDEN.items))
        catalog.create_version(
            "triage",
            template=TEMPLATE,
            variables=["ticket"],
            model_id=FM1,
            inference={"maxTokens": 200, "temperature": 0.0},
            reason="first",
            who=WHO,
            golden_sets=[REQUIREMENT],
        )
        dynamodb.put_item(**golden_sets.put_version_request(TABLE, GOLDEN, created_by=WHO, created_at="2024-05-01"))
        yield {"dynamodb": dynamodb, "s3": s3, "catalog": catalog, "handler": load_handler("llm_evaluation")}


def call(module: ModuleType, event: Any) -> dict[str, Any]:
    result: dict[str, Any] = module.handler(event, FakeLambdaContext())
    return result


def eval_items(dynamodb: Any) -> list[dict[str, Any]]:
    response = dynamodb.query(
        TableName=TABLE,
        KeyConditionExpression="pk = :pk AND begins_with(sk, :prefix)",
        ExpressionAttributeValues={":pk": {"S": "PROMPT#triage"}, ":prefix": {"S": "EVAL#"}},
    )
    return [prompt_store.deserialize(i) for i in response["Items"]]


def verdict(dynamodb: Any, model_id: str, version: int = 1) -> dict[str, Any]:
    """The gate verdict of (triage v``version``, ``model_id``, the golden set v1) the catalog reads."""
    sk = prompt_store.gate_sk(version, GOLDEN.name, 1, model_id)
    item = dynamodb.get_item(TableName=TABLE, Key={"pk": {"S": "PROMPT#triage"}, "sk": {"S": sk}}).get("Item")
    return prompt_store.deserialize(item) if item else {}


def test_run_writes_reports_and_summary_and_unlocks_prod(world: dict[str, Any], fake: FakeBedrock) -> None:
    result = call(world["handler"], {**EVENT, "run_id": "run-1"})

    assert result["statusCode"] == 200, result
    assert (result["passed"], result["reasons"], result["run_id"]) == (True, [], "run-1")
    assert result["selected_model"] in (FM1, FM2)
    assert (result["gated_model"], result["gates"]) == (FM1, {FM1: True, FM2: True})
    base = f"evaluations/triage/v1/{GOLDEN.name}-v1/run-1/"
    assert result["scorecard_uri"] == f"s3://{BUCKET}/{base}scorecard.json"
    listed = world["s3"].list_objects_v2(Bucket=BUCKET, Prefix=base)
    assert sorted(o["Key"].removeprefix(base) for o in listed["Contents"]) == [
        "report.md",
        "review_sheet.csv",
        "scorecard.json",
    ]
    card = json.loads(world["s3"].get_object(Bucket=BUCKET, Key=base + "scorecard.json")["Body"].read())
    assert [m["model_id"] for m in card["models"]] == [FM1, FM2]
    for model in card["models"]:
        # The stand-in judge always says 4, and every verdict parsed.
        assert (model["judge_relevance"], model["judge_unparseable"], model["items"]) == (4.0, 0, len(GOLDEN.items))
        assert model["accuracy"] >= 0.1
    first = card["items"][0]
    assert "\nlabel: " in first["answer"] and "[local stand-in model]" in first["answer"]
    assert first["judge"]["rationale"].startswith(JUDGE_LABEL)
    report = world["s3"].get_object(Bucket=BUCKET, Key=base + "report.md")["Body"].read().decode()
    assert f"## Quality gate: PASSED (run run-1, on {FM1}: the model v1 pins" in report and "## Selection" in report
    sheet = world["s3"].get_object(Bucket=BUCKET, Key=base + "review_sheet.csv")["Body"].read().decode()
    assert len(list(csv.DictReader(io.StringIO(sheet)))) == 2 * len(GOLDEN.items)

    # The scorecard names what measured it, and says "stand-in" because the local stand-in answered.
    assert card["embedder"] == "amazon.titan-embed-text-v2:0/512 (stand-in: lexical hashing, not embeddings)"
    assert card["grounding_method"] == (
        "bedrock guardrail contextual grounding (gr-eval v3) (stand-in: token overlap, not contextual grounding)"
    )
    assert card["red_team_set"] == f"red-team v1 ({len(RED_TEAM.items)} items)"
    for model in card["models"]:
        assert model["red_team_items"] == len(RED_TEAM.items)
        assert model["red_team_block_rate"] == pytest.approx(15 / 16)  # the stand-in's patterns miss RT-011
        assert model["cosine"] is not None and model["hallucination_rate"] is not None
    spent = card["evaluation_cost"]
    assert spent["embedding_tokens"] > 0 and spent["embedding_usd"] == pytest.approx(
        spent["embedding_tokens"] * 0.00002 / 1000
    )
    assert spent["guardrail_text_units"] > 0 and spent["judge_usd"] is None  # the judge is not in the price table
    assert "- embedding model (cosine): `amazon.titan-embed-text-v2:0/512 (stand-in" in report
    assert "- grounding method (groundedness, hallucination rate): `bedrock guardrail contextual grounding" in report

    # Every metric went through the Bedrock call it names: Converse (candidates with the guardrail, judge
    # without), InvokeModel of the embedding model, ApplyGuardrail with the grounding source and query.
    embeddings = [r for r in fake.requests if r.model_id == "amazon.titan-embed-text-v2:0"]
    groundings = [r for r in fake.requests if r.model_id == "guardrail/gr-eval/3"]
    judge_calls = [r for r in fake.requests if r.model_id == JUDGE]
    model_calls = [r for r in fake.requests if r.model_id in (FM1, FM2)]
    assert len(judge_calls) == 2 * len(GOLDEN.items)
    assert len(model_calls) == 2 * (len(GOLDEN.items) + len(RED_TEAM.items))
    assert len(groundings) == 2 * len(GOLDEN.items)
    assert {b["text"]["qualifiers"][0] for b in groundings[0].body["content"]} == {
        "grounding_source",
        "query",
        "guard_content",
    }
    assert embeddings and all(r.body["dimensions"] == 512 for r in embeddings)
    assert all(
        r.body["guardrailConfig"] == {"guardrailIdentifier": "gr-eval", "guardrailVersion": "3"} for r in model_calls
    )
    assert all("guardrailConfig" not in r.body for r in judge_calls)
    assert model_calls[0].body["inferenceConfig"] == {"maxTokens": 200, "temperature": 0.0}

    [item] = eval_items(world["dynamodb"])
    assert item["sk"] == "EVAL#00000001#run-1"
    assert (item["passed"], item["reasons"], item["selected_model"]) == (True, [], result["selected_model"])
    assert set(item["models"]) == {FM1, FM2}
    assert item["report_uri"] == f"s3://{BUCKET}/{base}"
    assert item["created_at"].endswith("Z")
    assert (item["gated_model"], item["golden_items"]) == (FM1, len(GOLDEN.items))
    for model_id in (FM1, FM2):
        gate = verdict(world["dynamodb"], model_id)
        assert (gate["run_id"], gate["passed"], gate["golden_items"], gate["created_at"]) == (
            "run-1",
            True,
            len(GOLDEN.items),
            item["created_at"],
        )

    record = world["catalog"].promote("triage", "prod", version=1, reason="eval run-1 passed", who=WHO)
    assert record.version == 1

    # A second run compares with what prod runs now (v1's passed evaluation).
    again = call(world["handler"], {**EVENT, "models": [FM1]})
    assert again["statusCode"] == 200 and again["passed"] is True
    assert re.fullmatch(r"\d{8}T\d{6}Z-[0-9a-f]{8}", again["run_id"])
    newest = next(i for i in eval_items(world["dynamodb"]) if i["run_id"] == again["run_id"])
    assert newest["compared_with_prod_version"] == 1


def test_failed_gate_is_recorded_and_blocks_prod(world: dict[str, Any], monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("GATE_JSON", json.dumps({"min_accuracy": 0.99}))
    handler = load_handler("llm_evaluation")

    result = call(handler, {**EVENT, "run_id": "strict"})

    assert result["statusCode"] == 200
    assert result["passed"] is False
    assert result["reasons"][0].startswith("accuracy ") and "below min_accuracy 0.99" in result["reasons"][0]
    [item] = eval_items(world["dynamodb"])
    assert (item["passed"], item["reasons"]) == (False, result["reasons"])
    refusal = f"evaluation strict of v1 on {FM1} over golden set {GOLDEN.name} v1 failed: {result['reasons'][0]}"
    with pytest.raises(GateRefused, match=re.escape(refusal)):
        world["catalog"].promote("triage", "prod", version=1, reason="ship anyway", who=WHO)


def test_without_judge_model_no_judge_runs(
    world: dict[str, Any], fake: FakeBedrock, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("JUDGE_MODEL_ID")
    monkeypatch.setenv("GATE_JSON", json.dumps({"min_judge_relevance": 4.0}))
    result = call(load_handler("llm_evaluation"), {**EVENT, "models": [FM1]})

    assert result["statusCode"] == 200
    # Fails closed: the judge threshold cannot pass without a judge.
    assert result["passed"] is False
    assert result["reasons"] == ["judge_relevance: not measured, but min_judge_relevance = 4 is required"]
    assert JUDGE not in {r.model_id for r in fake.requests}


def test_the_verdict_is_on_the_versions_own_model_not_the_winner(world: dict[str, Any], fake: FakeBedrock) -> None:
    # Fault 1: FM1 (the model v1 pins and prod calls) answers nothing, FM2 answers well. Before, the gate ran
    # on the selected model (FM2), the run "passed" and the catalog let prod point at v1, which calls FM1.
    fake.models = frozenset({FM2, JUDGE})

    result = call(world["handler"], {**EVENT, "run_id": "fm1-down"})

    assert result["statusCode"] == 200
    assert (result["selected_model"], result["gated_model"]) == (FM2, FM1)
    assert (result["passed"], result["gates"]) == (False, {FM1: False, FM2: True})
    assert result["reasons"][0].startswith("accuracy 0 is below min_accuracy 0.1")
    assert (verdict(world["dynamodb"], FM1)["passed"], verdict(world["dynamodb"], FM2)["passed"]) == (False, True)
    report_key = f"evaluations/triage/v1/{GOLDEN.name}-v1/fm1-down/report.md"
    report = world["s3"].get_object(Bucket=BUCKET, Key=report_key)["Body"].read().decode()
    assert f"## Quality gate: FAILED (run fm1-down, on {FM1}" in report
    assert f"Selection prefers {FM2}; to use it, publish a version pinned to it" in report
    with pytest.raises(GateRefused, match=re.escape(f"evaluation fm1-down of v1 on {FM1} over golden set")):
        world["catalog"].promote("triage", "prod", version=1, reason="FM2 won", who=WHO)


def test_an_evaluation_without_the_versions_model_cannot_pass(world: dict[str, Any]) -> None:
    result = call(world["handler"], {**EVENT, "models": [FM2], "run_id": "only-fm2"})

    assert (result["passed"], result["gates"]) == (False, {FM2: True})
    assert result["reasons"] == [
        f"model {FM1}, which v1 pins and its aliases call, was not evaluated (evaluated: {FM2}); the gate decides "
        "on that model"
    ]
    with pytest.raises(GateRefused, match=re.escape(f"no evaluation of v1 on {FM1} (the model 'prod' would call)")):
        world["catalog"].promote("triage", "prod", version=1, reason="FM2 passed", who=WHO)


def test_a_verdict_only_moves_forward_in_time(world: dict[str, Any], monkeypatch: pytest.MonkeyPatch) -> None:
    from datetime import UTC, datetime

    from run_evaluation import EvaluationRequest, Evaluator

    def evaluator(at: datetime) -> Evaluator:
        return Evaluator(
            dynamodb=world["dynamodb"],
            s3=world["s3"],
            bedrock=boto3.client("bedrock-runtime", region_name="us-east-1"),
            config=EvaluationConfig.from_env(dict(os.environ)),
            now=lambda: at,
        )

    def request(run_id: str) -> EvaluationRequest:
        return EvaluationRequest("triage", 1, GOLDEN.name, 1, (FM1,), run_id)

    assert evaluator(datetime(2024, 6, 2, tzinfo=UTC)).run(request("newer")).passed
    # A run that started earlier but finishes later (here: fails a stricter gate) does not replace the verdict.
    monkeypatch.setenv("GATE_JSON", json.dumps({"min_accuracy": 0.99}))
    assert not evaluator(datetime(2024, 6, 1, tzinfo=UTC)).run(request("older")).passed

    assert verdict(world["dynamodb"], FM1)["run_id"] == "newer"
    assert {i["run_id"] for i in eval_items(world["dynamodb"])} == {"newer", "older"}
    assert world["catalog"].promote("triage", "prod", version=1, reason="newest passed", who=WHO).version == 1


@pytest.mark.parametrize(
    ("event", "status", "message"),
    [
        ({**EVENT, "version": 2}, 404, "prompt 'triage' has no version 2"),
        ({**EVENT, "prompt": "ghost"}, 404, "prompt 'ghost' has no version 1"),
        ({**EVENT, "golden_version": 9}, 404, f"golden set '{GOLDEN.name}' has no version 9"),
        ({**EVENT, "models": [FM1, "evil.model-v1:0"]}, 403, "models: ['evil.model-v1:0'] not allowed"),
        ({**EVENT, "version": "1"}, 400, "version: must be a positive integer, got '1'"),
        ({**EVENT, "version": True}, 400, "version: must be a positive integer, got True"),
        ({**EVENT, "team": "x"}, 400, "event: unknown fields ['team']"),
        ({"version": 1}, 400, "prompt: required"),
        ({**EVENT, "prompt": "Triage"}, 400, "prompt: 'Triage' is invalid"),
        ({**EVENT, "models": []}, 400, "models: must be a non-empty list"),
        ({**EVENT, "models": [FM1, FM1]}, 400, "models: duplicates"),
        ({**EVENT, "run_id": "../x"}, 400, "run_id: '../x' is invalid"),
        (["not", "an", "object"], 400, "event: must be a JSON object, got list"),
    ],
)
def test_bad_input_is_a_clear_4xx_and_writes_nothing(
    world: dict[str, Any], fake: FakeBedrock, event: Any, status: int, message: str
) -> None:
    result = call(world["handler"], event)

    assert result["statusCode"] == status
    assert message in result["error"]
    assert set(result) == {"statusCode", "error"}
    assert eval_items(world["dynamodb"]) == []
    assert fake.requests == []


def test_golden_set_that_does_not_fit_the_prompt_is_400(world: dict[str, Any]) -> None:
    world["catalog"].create_version(
        "triage",
        template="Answer {{question}}",
        variables=["question"],
        model_id=FM1,
        inference={},
        reason="other variables",
        who=WHO,
    )
    result = call(world["handler"], {**EVENT, "version": 2})

    assert result["statusCode"] == 400
    assert "does not fit the prompt" in result["error"]


def test_run_id_cannot_be_reused(world: dict[str, Any]) -> None:
    assert call(world["handler"], {**EVENT, "models": [FM2], "run_id": "once"})["statusCode"] == 200

    result = call(world["handler"], {**EVENT, "models": [FM2], "run_id": "once"})

    assert result == {"statusCode": 409, "error": "evaluation 'once' of prompt 'triage' v1 already exists"}


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"TABLE_NAME": "", "REPORT_BUCKET": ""}, "missing environment variables TABLE_NAME, REPORT_BUCKET"),
        ({"GATE_JSON": "{"}, "GATE_JSON is not valid JSON"),
        ({"GATE_JSON": '{"min_acuracy": 1}'}, "unknown keys ['min_acuracy']"),
        ({"GATE_JSON": "{}"}, "no quality floor is set"),
        ({"GATE_JSON": '{"max_cost_per_1k_usd": 1}'}, "no quality floor is set"),
        ({"WEIGHTS_JSON": '{"speed": 1}'}, "WEIGHTS_JSON must be"),
        ({"WEIGHTS_JSON": '{"speed": 0, "precision": 0, "cost": 0}'}, "at least one of speed"),
        (
            {"PRICE_TABLE_JSON": json.dumps({FM1: {"input_per_1k": 1, "output_per_1k": 1}})},
            f"for allowed model '{FM2}'",
        ),
        ({"GUARDRAIL_VERSION": ""}, "set both GUARDRAIL_ID and GUARDRAIL_VERSION"),
    ],
)
def test_misconfiguration_is_a_500_naming_the_variable(
    world: dict[str, Any], monkeypatch: pytest.MonkeyPatch, overrides: dict[str, str], message: str
) -> None:
    for name, value in overrides.items():
        monkeypatch.setenv(name, value)

    result = call(load_handler("llm_evaluation"), EVENT)

    assert result["statusCode"] == 500
    assert message in result["error"]


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        # float() read every one of these prices; the shared rules refuse them (the stack's config takes [0, 1)).
        ({"EMBEDDING_PRICE_PER_1K": "nan"}, "EMBEDDING_PRICE_PER_1K must be between 0 and 1, got 'nan'"),
        ({"EMBEDDING_PRICE_PER_1K": "inf"}, "EMBEDDING_PRICE_PER_1K must be between 0 and 1, got 'inf'"),
        ({"EMBEDDING_PRICE_PER_1K": "1e9"}, "EMBEDDING_PRICE_PER_1K must be between 0 and 1, got '1e9'"),
        ({"EMBEDDING_PRICE_PER_1K": "-0.1"}, "EMBEDDING_PRICE_PER_1K must be between 0 and 1"),
        ({"EMBEDDING_PRICE_PER_1K": "\uff10.1"}, "EMBEDDING_PRICE_PER_1K must be a number"),  # fullwidth 0
        ({"EMBEDDING_PRICE_PER_1K": "0." + "1" * 200}, "EMBEDDING_PRICE_PER_1K must be a number"),
        ({"ALLOWED_MODELS": " , ,"}, "ALLOWED_MODELS must list at least one value"),
        ({"GUARDRAIL_VERSION": "draft"}, "GUARDRAIL_VERSION must be a guardrail version"),
        ({"GATE_JSON": '{"min_accuracy": 0.5, "min_accuracy": 0.1}'}, "GATE_JSON is not valid JSON"),
        ({"WEIGHTS_JSON": '{"speed": NaN, "precision": 1, "cost": 1}'}, "WEIGHTS_JSON is not valid JSON"),
        ({"KNOWLEDGE_BASES": "[]"}, "KNOWLEDGE_BASES must be a JSON object"),
    ],
)
def test_bad_values_fail_the_cold_start_naming_the_variable(overrides: dict[str, str], message: str) -> None:
    with pytest.raises(ConfigError) as raised:
        EvaluationConfig.from_env({**ENV, **overrides})
    assert str(raised.value).startswith("evaluation misconfigured: ")
    assert message in str(raised.value)
    assert len(str(raised.value)) < 200


def test_values_are_stripped_and_empty_means_unset() -> None:
    config = EvaluationConfig.from_env({**ENV, "EMBEDDING_PRICE_PER_1K": " 0.00002\n", "REPORT_PREFIX": ""})
    assert (config.embedding_price_per_1k, config.report_prefix) == (0.00002, "evaluations/")


def test_unexpected_errors_hide_the_traceback(world: dict[str, Any], monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("REPORT_BUCKET", "no-such-bucket")

    result = call(load_handler("llm_evaluation"), {**EVENT, "models": [FM2]})

    assert result == {
        "statusCode": 500,
        "error": "internal error; see the log for request 00000000-0000-0000-0000-000000000000",
    }
    assert eval_items(world["dynamodb"]) == []


def test_parse_event_and_config_defaults() -> None:
    request = parse_event(EVENT)
    assert (request.models, request.run_id) == (None, None)
    config = EvaluationConfig.from_env({**ENV, "JUDGE_MODEL_ID": "", "GUARDRAIL_ID": "", "GUARDRAIL_VERSION": ""})
    assert (config.report_prefix, config.judge_model_id, config.guardrail_id) == ("evaluations/", None, None)
    assert config.allowed_models == (FM1, FM2)
    assert EvaluationConfig.from_env({**ENV, "REPORT_PREFIX": "/team-a/evals"}).report_prefix == "team-a/evals/"


def test_handler_imports_only_what_the_asset_ships(tmp_path: Path) -> None:
    from tests.unit.lambdas_path import BUNDLED_PACKAGES, LAMBDA_RUNTIME_PACKAGES, third_party_imports_in_lambda_layout

    loaded = third_party_imports_in_lambda_layout("llm_evaluation", tmp_path)
    assert loaded <= {*BUNDLED_PACKAGES, *LAMBDA_RUNTIME_PACKAGES, "common"} | {
        p.stem for p in (LAMBDAS / "llm_evaluation").glob("*.py")
    }
