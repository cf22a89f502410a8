"""The prompt release tool (delivery/prompt_release.py) against the real catalog and evaluation handlers.

The catalog API is the deployed handler driven in-process with API Gateway events (moto DynamoDB); the
evaluation is the deployed evaluation handler (moto DynamoDB and S3) calling the local Bedrock stand-in,
with the state machine's verdict mapping. The deployed-AWS pieces (SigV4 transport, state-machine polling)
are tested on their own: a loopback HTTP server that records what was signed, and botocore's Stubber.
"""

from __future__ import annotations

import dataclasses
import json
import re
import sys
import threading
from collections.abc import Iterator
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from types import ModuleType
from typing import Any, ClassVar

import boto3
import pytest
from botocore.credentials import Credentials
from botocore.stub import ANY, Stubber

from delivery import prompt_release
from delivery.prompt_release import (
    Catalog,
    CatalogUnavailable,
    EvaluationResult,
    PromptFileError,
    ReleaseError,
    SigV4Transport,
    StateMachineEvaluations,
    load_prompt_file,
    load_prompt_files,
    main,
    release,
)
from emulator.fake_bedrock import FakeBedrock
from stacks.config import load_all_environments, load_environment, read_cdk_context
from tests.example import EXAMPLE_CDK_JSON, EXAMPLE_CONTEXT
from tests.unit.lambdas_path import (
    LAMBDAS,
    FakeLambdaContext,
    create_prompt_table,
    fast_mock_aws,
    load_handler,
    table_items,
)
from tests.unit.test_prompt_api import api_event

if str(LAMBDAS / "llm_evaluation") not in sys.path:
    sys.path.insert(0, str(LAMBDAS / "llm_evaluation"))

# isort: split
from common import golden_sets

TABLE = "prompt-catalog"
BUCKET = "eval-reports"
RELEASER = "arn:aws:sts::222222222222:assumed-role/mlops-preprod-prompt-release/prompt-release"
# `main --env preprod` checks prompt files against cdk.json's preprod models: the candidates are those, and the
# stand-in Bedrock serves them the way preprod's Region does.
PREPROD = load_environment(EXAMPLE_CONTEXT, "preprod")
(FM1, FM2), JUDGE = [m.id for m in PREPROD.llmops.models][:2], "judge.model-v1:0"
SHIPPED = golden_sets.load(LAMBDAS / "llm_evaluation" / "data" / "support_tickets_v1.json")
# A small set keeps every evaluation here to a few dozen loopback calls; the shipped set is checked below.
GOLDEN = dataclasses.replace(SHIPPED, name="tickets-small", items=SHIPPED.items[:3])
TEMPLATE = (
    "Classify the support ticket as billing, technical, account, shipping or other and summarize it in one "
    "sentence; answer with two lines, label: <label> and summary: <sentence>.\n{{ticket}}"
)
PROMPT = {
    "name": "triage",
    "template": TEMPLATE,
    "variables": ["ticket"],
    "model_id": FM1,
    "inference": {"temperature": 0.2, "maxTokens": 200},
    "evaluation": {"golden_set_file": "golden/tickets_small_v1.json", "golden_set": GOLDEN.name, "golden_version": 1},
    "aliases": {"preprod": ["preprod"], "prod": ["prod"]},
}
PASSING_GATE = {"min_accuracy": 0.1}
FAILING_GATE = {"min_judge_relevance": 4.5}  # the stand-in judge always says 4
EVALUATOR_ENV = {
    "TABLE_NAME": TABLE,
    "REPORT_BUCKET": BUCKET,
    "PRICE_TABLE_JSON": json.dumps(
        {
            FM1: {"input_per_1k": 0.00006, "output_per_1k": 0.00024},
            FM2: {"input_per_1k": 0.001, "output_per_1k": 0.005},
        }
    ),
    "ALLOWED_MODELS": f"{FM1},{FM2}",
    "JUDGE_MODEL_ID": JUDGE,
    "EMBEDDING_MODEL_ID": "amazon.titan-embed-text-v2:0",
    "EMBEDDING_PRICE_PER_1K": "0.00002",
    "WEIGHTS_JSON": json.dumps({"speed": 1, "precision": 2, "cost": 1}),
    "POWERTOOLS_METRICS_NAMESPACE": "Test/PromptRelease",
}


# ----------------------------------------------------------------------------------------- test doubles


class InProcessCatalog:
    """A Transport that calls the catalog's Lambda handler with the events API Gateway would send."""

    def __init__(self, handler: ModuleType) -> None:
        self.handler = handler
        self.calls: list[tuple[str, str]] = []

    def __call__(self, method: str, path: str, body: Any = None, query: Any = None) -> tuple[int, Any]:
        self.calls.append((method, path))
        event = api_event(method, path, body, query=dict(query) if query else None, user_arn=RELEASER)
        response = self.handler.handler(event, FakeLambdaContext())
        return response["statusCode"], json.loads(response["body"])

    def writes(self) -> list[tuple[str, str]]:
        return [call for call in self.calls if call[0] in ("POST", "PUT")]


class InProcessEvaluations:
    """The evaluation handler, with the verdicts the evaluation state machine turns its answer into."""

    def __init__(self, handler: ModuleType) -> None:
        self.handler = handler
        self.runs: list[dict[str, Any]] = []

    def evaluate(self, *, prompt: str, version: int, golden_set: str, golden_version: int) -> EvaluationResult:
        event = {"prompt": prompt, "version": version, "golden_set": golden_set, "golden_version": golden_version}
        answer = self.handler.handler(event, FakeLambdaContext())
        self.runs.append(answer)
        if "error" in answer:  # the machine's EvaluationError state
            raise ReleaseError(f"The evaluation could not run: {answer['error']}")
        if answer["passed"]:  # ReadyForProd
            return EvaluationResult(True, f"scorecard {answer['scorecard_uri']}", answer["run_id"])
        # GateFailed: its cause, as the CausePath of stacks/llmops.py formats it.
        cause = (
            f"The quality gate refused this prompt version (evaluation {answer['run_id']}): "
            f"{json.dumps(answer['reasons'], separators=(',', ':'))}"
        )
        return EvaluationResult(False, cause, answer["run_id"])


@dataclasses.dataclass
class World:
    root: Path
    dynamodb: Any
    catalog: InProcessCatalog
    fake: FakeBedrock
    monkeypatch: pytest.MonkeyPatch

    def evaluations(self, gate: dict[str, Any]) -> InProcessEvaluations:
        self.monkeypatch.setenv("GATE_JSON", json.dumps(gate))
        return InProcessEvaluations(load_handler("llm_evaluation"))

    def write_prompt(self, prompt: dict[str, Any] | str, name: str = "triage") -> Path:
        path = self.root / "prompts" / f"{name}.json"
        path.write_text(prompt if isinstance(prompt, str) else json.dumps(prompt, indent=2))
        return path

    def release(
        self, env: str, gate: dict[str, Any] = PASSING_GATE
    ) -> tuple[prompt_release.ReleaseReport, InProcessEvaluations]:
        evaluations = self.evaluations(gate)
        prompts = load_prompt_files(self.root / "prompts", root=self.root)
        report = release(
            prompts, env_name=env, catalog=Catalog(self.catalog), evaluations=evaluations, source_version="abc123"
        )
        return report, evaluations

    def alias(self, alias: str, name: str = "triage") -> int | None:
        return Catalog(self.catalog).alias_version(name, alias)

    main_runs: list[dict[str, Any]] = dataclasses.field(default_factory=list)

    def main(self, *argv: str, gate: dict[str, Any] = PASSING_GATE) -> int:
        evaluations = self.evaluations(gate)
        self.main_runs = evaluations.runs
        return main(
            [
                *argv,
                "--prompts-dir",
                str(self.root / "prompts"),
                "--root",
                str(self.root),
                "--source-version",
                "abc123",
                "--cdk-json",
                str(EXAMPLE_CDK_JSON),
            ],
            connect=lambda config: (Catalog(self.catalog), evaluations),
        )


@pytest.fixture
def world(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[World]:
    (tmp_path / "prompts").mkdir()
    (tmp_path / "golden").mkdir()
    golden_sets.save(GOLDEN, tmp_path / "golden" / "tickets_small_v1.json")
    with FakeBedrock(region=PREPROD.region, lifetime_seconds=120) as fake:
        for name, value in {
            **EVALUATOR_ENV,
            **fake.env(),
            "MAX_TEMPLATE_BYTES": "4000",
            "MIN_GOLDEN_SET_ITEMS": "2",
        }.items():
            monkeypatch.setenv(name, value)
        with fast_mock_aws(passthrough_urls=[re.escape(fake.endpoint_url)]):
            dynamodb = boto3.client("dynamodb", region_name="us-east-1")
            create_prompt_table(dynamodb, TABLE)
            boto3.client("s3", region_name="us-east-1").create_bucket(Bucket=BUCKET)
            yield World(tmp_path, dynamodb, InProcessCatalog(load_handler("prompt_catalog")), fake, monkeypatch)


# ---------------------------------------------------------------------------------------------- release


def test_new_prompt_is_published_evaluated_and_promoted(world: World) -> None:
    world.write_prompt(PROMPT)

    report, evaluations = world.release("preprod")

    assert report.ok, report.failures
    assert report.lines[0] == "triage: published v1 (new prompt)"
    assert f"golden set {GOLDEN.name} v1: published" in report.lines
    assert [run["passed"] for run in evaluations.runs] == [True]
    assert world.alias("preprod") == 1
    assert world.alias("prod") is None  # prod is the prod environment's alias, not preprod's
    version = world.catalog.handler.handler(api_event("GET", "/prompts/triage/versions/1"), FakeLambdaContext())
    created = json.loads(version["body"])
    assert (created["template"], created["model_id"], created["inference"]) == (
        TEMPLATE,
        FM1,
        {"temperature": 0.2, "maxTokens": 200},
    )
    assert created["reason"] == "prompt release to preprod from prompts/triage.json at abc123"
    assert created["created_by"] == RELEASER
    # Every model of the environment was evaluated on every item (and judged).
    assert {r.model_id for r in world.fake.requests} == {FM1, FM2, JUDGE, "amazon.titan-embed-text-v2:0"}


def test_a_second_run_changes_nothing(world: World) -> None:
    world.write_prompt(PROMPT)
    first, _ = world.release("preprod")
    assert first.ok
    before, calls_before = table_items(world.dynamodb, TABLE), len(world.catalog.calls)

    again, evaluations = world.release("preprod")

    assert again.ok
    assert again.lines == [
        "triage: unchanged, catalog v1 has the content of prompts/triage.json",
        "triage: nothing to promote (preprod already at v1)",
    ]
    assert evaluations.runs == []
    assert table_items(world.dynamodb, TABLE) == before
    assert [c for c in world.catalog.calls[calls_before:] if c[0] != "GET"] == []


def test_changed_template_publishes_a_new_version_and_moves_the_alias(world: World) -> None:
    world.write_prompt(PROMPT)
    world.release("preprod")
    world.write_prompt({**PROMPT, "template": TEMPLATE.replace("one sentence", "one short sentence")})

    report, evaluations = world.release("preprod")

    assert report.ok, report.failures
    assert report.lines[0] == "triage: published v2 (content changed)"
    assert f"golden set {GOLDEN.name} v1: already published" in report.lines
    assert len(evaluations.runs) == 1 and evaluations.runs[0]["passed"]
    assert world.alias("preprod") == 2


def test_a_golden_set_edited_without_a_new_version_fails_the_release_with_the_catalogs_reason(
    world: World, capsys: pytest.CaptureFixture[str]
) -> None:
    world.write_prompt(PROMPT)
    world.release("preprod")
    # Same name and version, one item fewer: evaluating against the stored copy would hide the edit.
    edited = dataclasses.replace(GOLDEN, items=GOLDEN.items[:2])
    golden_sets.save(edited, world.root / "golden" / "tickets_small_v1.json")
    world.write_prompt({**PROMPT, "template": TEMPLATE.replace("one sentence", "one short sentence")})

    assert world.main("--env", "preprod") == 2

    error = capsys.readouterr().err
    assert "golden set 'tickets-small' already has version 1 with different content" in error
    assert "publish a new version number" in error


@pytest.mark.parametrize(
    "change",
    [
        {"variables": ["ticket"], "model_id": FM2},
        {"inference": {"temperature": 0.5, "maxTokens": 200}},
        {"inference": {"temperature": 0.2}},
    ],
)
def test_any_changed_field_is_a_new_version(world: World, change: dict[str, Any]) -> None:
    # dev: the file lists no alias there, so the release publishes and evaluates nothing else.
    world.write_prompt(PROMPT)
    world.release("dev")
    world.write_prompt({**PROMPT, **change})

    report, evaluations = world.release("dev")

    assert report.ok
    assert report.lines == [
        "triage: published v2 (content changed)",
        "triage: nothing to promote (the file lists no alias for dev)",
    ]
    assert evaluations.runs == []


def test_failed_evaluation_keeps_preprod_where_it_is_and_says_why(world: World) -> None:
    world.write_prompt(PROMPT)

    report, evaluations = world.release("preprod", gate=FAILING_GATE)

    assert not report.ok
    (failure,) = report.failures
    reason = evaluations.runs[0]["reasons"][0]
    assert reason == "judge_relevance 4 is below min_judge_relevance 4.5"
    assert failure.startswith("triage: 'preprod' not moved to v1: its evaluation failed: The quality gate refused")
    assert reason in failure
    assert world.alias("preprod") is None


def test_prod_is_refused_by_the_catalog_when_the_evaluation_fails(
    world: World, capsys: pytest.CaptureFixture[str]
) -> None:
    world.write_prompt(PROMPT)

    status = world.main("--env", "prod", gate=FAILING_GATE)

    assert status == 1
    err = capsys.readouterr().err
    # The catalog's refusal, verbatim: it names the failed score and the threshold.
    assert re.search(
        r"triage: the catalog refused to move 'prod' to v1: prompt 'triage': cannot point 'prod' at v1: "
        rf"evaluation \S+ of v1 on {re.escape(FM1)} over golden set tickets-small v1 failed: judge_relevance 4 is "
        r"below min_judge_relevance 4\.5",
        err,
    ), err
    assert world.alias("prod") is None
    assert ("PUT", "/prompts/triage/aliases/prod") in world.catalog.calls  # the catalog decided, not the tool


def test_the_default_model_list_cannot_send_a_version_to_prod_on_another_models_score(
    world: World, capsys: pytest.CaptureFixture[str]
) -> None:
    # Fault 1, as the release ran it: FM1 (the file's model) scored 0, FM2 scored well and was selected,
    # and prod moved to the version that calls FM1.
    world.fake.models = frozenset({FM2, JUDGE})
    world.write_prompt(PROMPT)

    assert world.main("--env", "prod") == 1

    (run,) = world.main_runs
    assert (run["selected_model"], run["gated_model"], run["gates"]) == (FM2, FM1, {FM1: False, FM2: True})
    assert world.alias("prod") is None
    err = capsys.readouterr().err
    assert f"cannot point 'prod' at v1: evaluation {run['run_id']} of v1 on {FM1} over golden set" in err


def test_the_version_names_the_files_golden_set_and_its_minimum(world: World) -> None:
    world.write_prompt({**PROMPT, "evaluation": {**PROMPT["evaluation"], "min_items": 3}})
    world.release("dev")
    version = json.loads(
        world.catalog.handler.handler(api_event("GET", "/prompts/triage/versions/1"), FakeLambdaContext())["body"]
    )
    assert version["golden_sets"] == [{"name": GOLDEN.name, "version": 1, "min_items": 3}]


def test_prod_moves_after_a_passed_evaluation(world: World, capsys: pytest.CaptureFixture[str]) -> None:
    world.write_prompt(PROMPT)

    assert world.main("--env", "prod") == 0

    assert world.alias("prod") == 1
    out = capsys.readouterr().out
    assert "triage: prod -> v1" in out and "prompt release: prod is up to date (1 prompts)" in out


def test_a_prompt_refused_does_not_stop_the_others(world: World) -> None:
    world.write_prompt(PROMPT)
    world.write_prompt({**PROMPT, "name": "other", "aliases": {"prod": ["dev"]}}, name="other")

    report, _ = world.release("prod", gate=FAILING_GATE)

    assert [f.split(":")[0] for f in report.failures] == ["other", "triage"]
    assert world.alias("prod") is None and world.alias("dev", name="other") is None


# ----------------------------------------------------------------------------------- bad prompt files


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (
            '{"name": "triage",',
            "prompts/triage.json: invalid JSON (Expecting property name enclosed in double quotes at line 1",
        ),
        ("[1, 2]", "prompts/triage.json: must be a JSON object, got an array"),
        ({k: v for k, v in PROMPT.items() if k != "template"}, "prompts/triage.json: key 'template': required"),
        (
            {**PROMPT, "template": TEMPLATE + " {{customer}}"},
            "prompts/triage.json: key 'template': template uses undeclared variables: 'customer'",
        ),
        (
            {**PROMPT, "variables": ["ticket", "team"]},
            "key 'template': variables declared but not used in the template: 'team'",
        ),
        (
            {**PROMPT, "variables": "ticket"},
            "prompts/triage.json: key 'variables': must be an array of strings, got a string",
        ),
        ({**PROMPT, "variables": [1]}, "prompts/triage.json: key 'variables[0]': must be a string, got an integer"),
        ({**PROMPT, "model_id": 7}, "prompts/triage.json: key 'model_id': must be a string, got an integer"),
        (
            {**PROMPT, "inference": {"temperature": "hot"}},
            "key 'inference.temperature': must be a number, got a string",
        ),
        ({**PROMPT, "inference": {"maxTokens": 0}}, "key 'inference.maxTokens': must be a positive integer of at most"),
        ({**PROMPT, "inference": {"maxTokens": 10**40}}, "key 'inference.maxTokens': must be a positive integer of"),
        ({**PROMPT, "inference": {"temperature": 10**400}}, "'inference.temperature': must be between 0 and 1, got a"),
        ({**PROMPT, "inference": {"top_k": 5}}, "key 'inference.top_k': unknown setting"),
        ({**PROMPT, "name": "Triage"}, "key 'name': 'Triage' is not a valid prompt name"),
        ({**PROMPT, "name": "other"}, "key 'name': 'other' must equal the file name without .json ('triage')"),
        ({**PROMPT, "temperature": 0.1}, "prompts/triage.json: unknown keys ['temperature']"),
        ({**PROMPT, "aliases": {"prod": "prod"}}, "key 'aliases.prod': must be an array of alias names, got a string"),
        ({**PROMPT, "aliases": {"prod": ["Prod"]}}, "key 'aliases.prod[0]': 'Prod' is not a valid alias"),
        (
            {**PROMPT, "evaluation": {**PROMPT["evaluation"], "golden_version": "1"}},
            "key 'evaluation.golden_version': must be an integer, got a string",
        ),
        (
            {**PROMPT, "evaluation": {**PROMPT["evaluation"], "golden_version": 2}},
            "key 'evaluation': golden_set 'tickets-small' v2 does not match",
        ),
        (
            {**PROMPT, "evaluation": {**PROMPT["evaluation"], "min_items": 4}},
            "key 'evaluation.min_items': must be from 1 to the 3 items of 'golden/tickets_small_v1.json', got 4",
        ),
        (
            {**PROMPT, "evaluation": {**PROMPT["evaluation"], "min_items": "3"}},
            "key 'evaluation.min_items': must be an integer, got a string",
        ),
        (
            {**PROMPT, "evaluation": {**PROMPT["evaluation"], "golden_set_file": "golden/none.json"}},
            "key 'evaluation.golden_set_file': cannot read 'golden/none.json'",
        ),
        (
            {**PROMPT, "template": "Summarize {{text}}", "variables": ["text"]},
            "item 'T-001' of 'golden/tickets_small_v1.json' has inputs ['ticket'], "
            "but the template's variables are ['text']",
        ),
    ],
)
def test_bad_prompt_file_names_the_file_and_key_and_publishes_nothing(
    world: World, capsys: pytest.CaptureFixture[str], content: Any, message: str
) -> None:
    path = world.write_prompt(content)
    with pytest.raises(PromptFileError) as raised:
        load_prompt_file(path, root=world.root)
    assert message in str(raised.value)

    assert world.main("--env", "preprod") == 2

    assert message in capsys.readouterr().err
    assert world.catalog.calls == []
    assert table_items(world.dynamodb, TABLE) == []


def test_every_bad_file_is_reported_and_a_good_one_is_not_published(
    world: World, capsys: pytest.CaptureFixture[str]
) -> None:
    world.write_prompt(PROMPT)
    world.write_prompt({**PROMPT, "name": "broken", "variables": []}, name="broken")
    world.write_prompt("not json", name="worse")

    assert world.main("--env", "preprod") == 2

    err = capsys.readouterr().err
    assert "bad prompt files, nothing was published" in err
    assert "prompts/broken.json: key 'template'" in err and "prompts/worse.json: invalid JSON" in err
    assert world.catalog.calls == []


def test_model_must_be_allowed_in_the_environment(world: World, capsys: pytest.CaptureFixture[str]) -> None:
    world.write_prompt({**PROMPT, "model_id": "meta.llama3-8b-instruct-v1:0"})

    assert world.main("--env", "preprod") == 2

    assert "prompts/triage.json: key 'model_id': 'meta.llama3-8b-instruct-v1:0' is not allowed in preprod" in (
        capsys.readouterr().err
    )
    assert world.catalog.calls == []


def test_golden_set_versions_must_agree_across_prompt_files(world: World) -> None:
    changed = dataclasses.replace(GOLDEN, items=GOLDEN.items[:2])
    golden_sets.save(changed, world.root / "golden" / "changed.json")
    world.write_prompt(PROMPT)
    other = {
        **PROMPT,
        "name": "other",
        "evaluation": {**PROMPT["evaluation"], "golden_set_file": "golden/changed.json"},
    }
    world.write_prompt(other, name="other")

    with pytest.raises(
        PromptFileError,
        match=r"prompts/triage.json: key 'evaluation.golden_set_file': golden set "
        r"'tickets-small' v1 differs from the one prompts/other.json uses",
    ):
        load_prompt_files(world.root / "prompts", root=world.root)


def test_unknown_environment_and_empty_directory(world: World, capsys: pytest.CaptureFixture[str]) -> None:
    assert world.main("--env", "staging") == 2
    assert "'staging'" in capsys.readouterr().err
    assert world.main("--env", "preprod") == 2
    assert "prompts: no prompt files (*.json)" in capsys.readouterr().err


# -------------------------------------------------------------------------------- catalog unreachable


def test_catalog_server_error_stops_the_release_with_a_clear_message(
    world: World, capsys: pytest.CaptureFixture[str]
) -> None:
    world.write_prompt(PROMPT)

    def broken(method: str, path: str, body: Any = None, query: Any = None) -> tuple[int, Any]:
        return 502, {"message": "Internal server error"}

    evaluations = world.evaluations(PASSING_GATE)
    status = main(
        [
            *("--env", "preprod", "--prompts-dir", str(world.root / "prompts"), "--root", str(world.root)),
            *("--cdk-json", str(EXAMPLE_CDK_JSON)),
        ],
        connect=lambda config: (Catalog(broken), evaluations),
    )

    assert status == 2
    assert (
        "prompt release: GET /prompts/triage/versions: the prompt catalog answered HTTP 502: Internal server error"
        in (capsys.readouterr().err)
    )
    assert evaluations.runs == []


def test_unreachable_catalog_is_a_clear_error() -> None:
    transport = SigV4Transport(
        "http://127.0.0.1:9/v1/",
        credentials=Credentials("AKIDEXAMPLE", "secret"),
        region="eu-west-1",
        timeout_seconds=2,
    )
    with pytest.raises(CatalogUnavailable, match=r"prompt catalog at http://127.0.0.1:9/v1 is unreachable"):
        Catalog(transport).latest_version("triage")


class _Recorder(BaseHTTPRequestHandler):
    seen: ClassVar[list[dict[str, Any]]] = []

    def log_message(self, format: str, *args: Any) -> None:
        pass

    def _answer(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length).decode() if length else ""
        self.seen.append({"method": self.command, "path": self.path, "headers": dict(self.headers), "body": body})
        payload = json.dumps({"name": "triage", "version": 4}).encode()
        self.send_response(201)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        self.wfile.write(payload)

    do_GET = do_POST = do_PUT = _answer


def test_sigv4_transport_signs_for_execute_api() -> None:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Recorder)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        base = f"http://127.0.0.1:{server.server_address[1]}/v1/"
        transport = SigV4Transport(base, credentials=Credentials("AKIDEXAMPLE", "secret", "token"), region="eu-west-1")
        status, payload = transport("POST", "/prompts/triage/versions", {"template": "x"}, {"limit": "1"})
    finally:
        server.shutdown()
    assert (status, payload) == (201, {"name": "triage", "version": 4})
    (request,) = _Recorder.seen
    assert request["method"] == "POST" and request["path"] == "/v1/prompts/triage/versions?limit=1"
    assert json.loads(request["body"]) == {"template": "x"}
    authorization = request["headers"]["Authorization"]
    assert re.match(
        r"AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/\d{8}/eu-west-1/execute-api/aws4_request, ", authorization
    )
    assert request["headers"]["X-Amz-Security-Token"] == "token"


# ------------------------------------------------------------------------------ evaluation state machine

ARN = "arn:aws:states:eu-west-1:222222222222:stateMachine:Evaluation"
EXECUTION = "arn:aws:states:eu-west-1:222222222222:execution:Evaluation:release-triage-v3-0a1b2c3d"
START = {"executionArn": EXECUTION, "startDate": datetime(2026, 1, 1, tzinfo=UTC)}


def described(status: str, **extra: Any) -> dict[str, Any]:
    return {
        "executionArn": EXECUTION,
        "stateMachineArn": ARN,
        "status": status,
        "startDate": datetime(2026, 1, 1, tzinfo=UTC),
        **extra,
    }


def machine(*responses: dict[str, Any], timeout: float = 60) -> tuple[StateMachineEvaluations, Stubber, list[float]]:
    client = boto3.client("stepfunctions", region_name="eu-west-1")
    stubber = Stubber(client)
    stubber.add_response(
        "start_execution",
        START,
        {
            "stateMachineArn": ARN,
            "name": ANY,
            "input": json.dumps(
                {"prompt": "triage", "version": 3, "golden_set": "support-tickets", "golden_version": 1}
            ),
        },
    )
    for response in responses:
        stubber.add_response("describe_execution", response, {"executionArn": EXECUTION})
    slept: list[float] = []
    clock = iter(range(0, 10_000, 10))
    evaluations = StateMachineEvaluations(
        client, ARN, poll_seconds=10, timeout_seconds=timeout, sleep=slept.append, clock=lambda: float(next(clock))
    )
    return evaluations, stubber, slept


def run(evaluations: StateMachineEvaluations) -> EvaluationResult:
    return evaluations.evaluate(prompt="triage", version=3, golden_set="support-tickets", golden_version=1)


def test_state_machine_success_is_polled_to_completion() -> None:
    output = {
        "evaluation": {
            "statusCode": 200,
            "passed": True,
            "reasons": [],
            "run_id": "r1",
            "selected_model": FM1,
            "scorecard_uri": "s3://b/evaluations/triage/v3/scorecard.json",
        }
    }
    evaluations, stubber, slept = machine(
        described("RUNNING"), described("RUNNING"), described("SUCCEEDED", output=json.dumps(output))
    )
    with stubber:
        result = run(evaluations)
    stubber.assert_no_pending_responses()
    assert result == EvaluationResult(
        True, f"selected {FM1}; scorecard s3://b/evaluations/triage/v3/scorecard.json", "r1"
    )
    assert slept == [10, 10]


def test_state_machine_gate_failure_carries_the_reasons() -> None:
    cause = 'The quality gate refused this prompt version (evaluation r2): ["accuracy 0.5 is below min_accuracy 0.8"]'
    evaluations, stubber, _ = machine(described("FAILED", error="QualityGateFailed", cause=cause))
    with stubber:
        result = run(evaluations)
    assert result == EvaluationResult(False, cause)


@pytest.mark.parametrize(
    ("response", "message"),
    [
        (
            described(
                "FAILED", error="EvaluationError", cause="The evaluation could not run: golden set 'x' has no version 1"
            ),
            "FAILED: EvaluationError The evaluation could not run: golden set 'x' has no version 1",
        ),
        (described("TIMED_OUT"), "TIMED_OUT: no cause recorded"),
        (described("ABORTED", error="States.Aborted"), "ABORTED: States.Aborted no cause recorded"),
    ],
)
def test_state_machine_errors_stop_the_release(response: dict[str, Any], message: str) -> None:
    evaluations, stubber, _ = machine(response)
    with stubber, pytest.raises(ReleaseError, match=re.escape(f"evaluation {EXECUTION} {message}")):
        run(evaluations)


def test_state_machine_that_never_finishes_times_out() -> None:
    evaluations, stubber, slept = machine(*(described("RUNNING") for _ in range(3)), timeout=30)
    with stubber, pytest.raises(ReleaseError, match="still running after 30 s"):
        run(evaluations)
    stubber.assert_no_pending_responses()
    assert slept == [10, 10]


def test_state_machine_start_refused_is_a_release_error() -> None:
    client = boto3.client("stepfunctions", region_name="eu-west-1")
    stubber = Stubber(client)
    stubber.add_client_error(
        "start_execution", "AccessDeniedException", "not authorized to perform states:StartExecution"
    )
    with stubber, pytest.raises(ReleaseError, match="not authorized to perform states:StartExecution"):
        run(StateMachineEvaluations(client, ARN))


# --------------------------------------------------------------------------------------- shipped files


def test_the_shipped_prompts_are_valid_for_every_environment_they_name(capsys: pytest.CaptureFixture[str]) -> None:
    prompts = load_prompt_files(prompt_release.PROJECT_ROOT / "prompts")
    shipped = {p.name: p for p in prompts}
    triage = shipped["ticket-summary"]
    assert triage.golden_set.name == SHIPPED.name and len(triage.golden_set.items) == len(SHIPPED.items)
    assert triage.aliases == {"preprod": ("preprod",), "prod": ("prod",), "local": ("dev", "prod")}
    # Against the project's own cdk.json: the environments it has that the prompt files name (a fork that
    # renames its environments renames them in prompts/ too, docs/fork.md).
    project = {config.name for config in load_all_environments(read_cdk_context())}
    for env in sorted({env for p in prompts for env in p.aliases} & project):
        assert main(["--env", env, "--check"]) == 0, env
        assert f"prompt files valid for {env}" in capsys.readouterr().out


@pytest.mark.parametrize("module", ["delivery.prompt_release", "delivery.preprod_check", "delivery.source_commit"])
def test_pipeline_scripts_run_without_the_cdk(module: str) -> None:
    # CodeBuild runs them with plain python3 and boto3: importing aws_cdk (or constructs) there would fail.
    import subprocess

    probe = f"import sys; sys.modules['aws_cdk'] = None; sys.modules['constructs'] = None; import {module}"
    done = subprocess.run(
        [sys.executable, "-c", probe], cwd=prompt_release.PROJECT_ROOT, capture_output=True, text=True, check=False
    )
    assert done.returncode == 0, done.stderr
