"""The pages as a user meets them (Streamlit's AppTest, no browser): answers, metrics, and every bad input
ending as one clear sentence on the page, never an exception or a stack trace."""

from __future__ import annotations

import io
import json
from collections.abc import Iterator
from typing import Any

import boto3
import pytest
from streamlit.testing.v1 import AppTest

import tests.unit.playground_path  # noqa: F401 - puts apps/playground on sys.path
from tests.unit.lambdas_path import create_prompt_table, fast_mock_aws

# isort: split
from catalog import PromptCatalog  # lambdas/prompt_catalog: writes the items the pages read
from common import prompt_store

import playground.ui
from tests.unit.playground_path import APP_DIR

TABLE = "prompt-catalog"
BUCKET = "artifacts"
GATEWAY = "gateway-fn"
MODEL = "amazon.nova-lite-v1:0"
WHO = "arn:aws:iam::123456789012:user/test"
SCORECARD_KEY = "evaluations/ticket-summary/v1/support-tickets-v1/run-1/scorecard.json"
ANSWER = {
    "statusCode": 200,
    "prompt": "ticket-summary",
    "alias": "dev",
    "version": 1,
    "model_id": MODEL,
    "text": "label: technical\nsummary: The CSV export times out.",
    "usage": {"inputTokens": 40, "outputTokens": 19},
    "cost_usd": 0.0000071,
    "latency_ms": 412.0,
    "stop_reason": "end_turn",
    "guardrail_intervened": False,
}
TIMEOUT = 30


class FakeLambda:
    """Stands in for the boto3 lambda client: records requests, answers with the queued payloads."""

    def __init__(self, *answers: dict[str, Any]) -> None:
        self.answers = list(answers)
        self.requests: list[dict[str, Any]] = []

    def invoke(self, **kwargs: Any) -> dict[str, Any]:
        self.requests.append(json.loads(kwargs["Payload"]))
        return {"StatusCode": 200, "Payload": io.BytesIO(json.dumps(self.answers.pop(0)).encode())}


@pytest.fixture
def backend(monkeypatch: pytest.MonkeyPatch) -> Iterator[dict[str, Any]]:
    """moto DynamoDB and S3 with the catalog table, a fake gateway, and the app's environment."""
    with fast_mock_aws():
        clients: dict[str, Any] = {
            "dynamodb": boto3.client("dynamodb", region_name="us-east-1"),
            "s3": boto3.client("s3", region_name="us-east-1"),
            "lambda": FakeLambda(ANSWER),
        }
        create_prompt_table(clients["dynamodb"], TABLE)
        monkeypatch.setattr(playground.ui, "_clients", lambda region: clients)
        monkeypatch.setenv("TABLE_NAME", TABLE)
        monkeypatch.setenv("GATEWAY_FUNCTION_NAME", GATEWAY)
        monkeypatch.setenv("AWS_REGION", "us-east-1")
        playground.ui._listing.clear()
        playground.ui._items.clear()
        yield clients


def seed_prompts(dynamodb: Any) -> None:
    catalog = PromptCatalog(dynamodb, TABLE, max_template_bytes=4000, sleep=lambda _: None)
    for name, template, variables in (
        ("ticket-summary", "Summarize: {{ticket}}", ["ticket"]),
        ("reply-draft", "Reply to {{customer}} about {{ticket}}", ["customer", "ticket"]),
    ):
        catalog.create_version(
            name, template=template, variables=variables, model_id=MODEL, inference={}, reason="t", who=WHO
        )
        catalog.promote(name, "dev", version=1, reason="t", who=WHO)


def app() -> AppTest:
    return AppTest.from_file(str(APP_DIR / "streamlit_app.py"), default_timeout=TIMEOUT).run()


def send(at: AppTest) -> AppTest:
    (button,) = [b for b in at.button if b.label == "Send"]
    return button.click().run()


def page_text(at: AppTest) -> str:
    parts = [
        e.value for kind in ("error", "warning", "info", "success", "markdown", "caption", "text") for e in at.get(kind)
    ]
    return "\n".join(str(p) for p in parts)


def assert_no_trace(at: AppTest) -> None:
    assert not at.exception, f"the page raised: {[e.value for e in at.exception]}"
    assert "Traceback" not in page_text(at) and 'File "' not in page_text(at)


# ------------------------------------------------------------------------------------------ playground


def test_answer_and_metrics_are_shown(backend: dict[str, Any]) -> None:
    seed_prompts(backend["dynamodb"])
    at = app()
    at.selectbox(key="prompt").select("ticket-summary").run()
    at.text_area(key="var:ticket-summary:dev:ticket").input("The CSV export fails since Monday.")
    at = send(at)

    assert_no_trace(at)
    assert not at.error
    assert backend["lambda"].requests == [
        {
            "prompt": "ticket-summary",
            "alias": "dev",
            "variables": {"ticket": "The CSV export fails since Monday."},
            "team": "playground",
        }
    ]
    assert ANSWER["text"] in [t.value for t in at.text]
    metrics = {m.label: m.value for m in at.metric}
    assert metrics == {"Input tokens": "40", "Output tokens": "19", "Cost (USD)": "$0.000007", "Latency": "412 ms"}
    assert "guardrail intervened: no" in page_text(at)


def test_guardrail_intervention_is_called_out(backend: dict[str, Any]) -> None:
    seed_prompts(backend["dynamodb"])
    backend["lambda"].answers = [{**ANSWER, "guardrail_intervened": True, "stop_reason": "guardrail_intervened"}]
    at = app()
    at.selectbox(key="prompt").select("ticket-summary").run()
    at.text_area(key="var:ticket-summary:dev:ticket").input("the forbidden workaround")
    at = send(at)
    assert_no_trace(at)
    assert [w.value for w in at.warning] == [
        "The guardrail intervened: the request or the answer was blocked, and this is its message."
    ]


def test_empty_variable_is_named_and_nothing_is_sent(backend: dict[str, Any]) -> None:
    seed_prompts(backend["dynamodb"])
    at = app()
    at.selectbox(key="prompt").select("reply-draft").run()
    at.text_area(key="var:reply-draft:dev:customer").input("Ada")
    at = send(at)  # ticket left empty
    assert_no_trace(at)
    assert [e.value for e in at.error] == [
        "Fill in the variable 'ticket' before sending: the prompt needs a value for each."
    ]
    assert backend["lambda"].requests == []
    assert not at.metric


def test_gateway_refusal_is_one_sentence(backend: dict[str, Any]) -> None:
    seed_prompts(backend["dynamodb"])
    backend["lambda"].answers = [
        {"statusCode": 502, "error": "Bedrock Converse failed: ThrottlingException: slow down"}
    ]
    at = app()
    at.selectbox(key="prompt").select("ticket-summary").run()
    at.text_area(key="var:ticket-summary:dev:ticket").input("x")
    at = send(at)
    assert_no_trace(at)
    assert [e.value for e in at.error] == [
        "The model call failed (HTTP 502): Bedrock Converse failed: ThrottlingException: slow down."
    ]


def test_empty_catalog_says_what_to_do(backend: dict[str, Any]) -> None:
    at = app()
    assert_no_trace(at)
    assert len(at.info) == 1 and at.info[0].value.startswith("The catalog has no prompt with an alias yet")
    assert not [b for b in at.button if b.label == "Send"]


def test_missing_configuration_names_the_variables(backend: dict[str, Any], monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("TABLE_NAME")
    monkeypatch.delenv("GATEWAY_FUNCTION_NAME")
    at = app()
    assert_no_trace(at)
    assert [e.value for e in at.error] == [
        "The playground is not configured: set TABLE_NAME and GATEWAY_FUNCTION_NAME "
        "(the prompt-catalog table and the LLM gateway function of the LlmOps stack)."
    ]


def test_missing_table_is_one_sentence(backend: dict[str, Any], monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TABLE_NAME", "no-such-table")
    at = app()
    assert_no_trace(at)
    (error,) = at.error
    assert error.value.startswith("Could not read the prompt catalog (table no-such-table): ")
    assert error.value.endswith("(check the names the app is configured with).")


def test_unexpected_failure_shows_no_stack_trace(backend: dict[str, Any]) -> None:
    class Broken:
        def scan(self, **kwargs: Any) -> dict[str, Any]:
            raise RuntimeError("secret internals at 0xdeadbeef")

    backend["dynamodb"] = Broken()
    at = app()
    assert_no_trace(at)
    assert [e.value for e in at.error] == [
        "Something went wrong on this page (RuntimeError); the details are in the app's log."
    ]
    assert "0xdeadbeef" not in page_text(at)


# ------------------------------------------------------------------------------------------ scorecards


def scorecards() -> AppTest:
    def script() -> None:
        from playground.ui import scorecards_page

        scorecards_page()

    return AppTest.from_function(script, default_timeout=TIMEOUT).run()


def seed_evaluation(clients: dict[str, Any], *, passed: bool, with_object: bool = True) -> None:
    seed_prompts(clients["dynamodb"])
    models = {
        MODEL: {"model_id": MODEL, "accuracy": 0.8, "rouge_l": 0.43, "hallucination_rate": 0.27, "items": 2},
        "fm2": {"model_id": "fm2", "accuracy": 0.6, "rouge_l": None, "hallucination_rate": 0.1, "items": 2},
    }
    item = {
        "pk": "PROMPT#ticket-summary",
        "sk": "EVAL#00000001#run-1",
        "run_id": "run-1",
        "version": 1,
        "golden_set": "support-tickets",
        "golden_version": 1,
        "passed": passed,
        "reasons": [] if passed else ["hallucination_rate 0.27 is above max_hallucination_rate 0.2"],
        "selected_model": MODEL,
        "explanation": "nova ranks first",
        "models": models,
        "scorecard_uri": f"s3://{BUCKET}/{SCORECARD_KEY}",
        "created_at": "2026-11-23T19:40:02Z",
    }
    clients["dynamodb"].put_item(TableName=TABLE, Item=prompt_store.serialize(item))
    clients["s3"].create_bucket(Bucket=BUCKET)
    if with_object:
        items = [
            {"item_id": "T-001", "model_id": MODEL, "expected_label": "billing", "predicted_label": "billing"},
            {"item_id": "T-002", "model_id": MODEL, "expected_label": "technical", "predicted_label": "billing"},
        ]
        clients["s3"].put_object(Bucket=BUCKET, Key=SCORECARD_KEY, Body=json.dumps({"items": items}).encode())


def test_scorecard_shows_verdict_chart_costs_and_items(backend: dict[str, Any]) -> None:
    seed_evaluation(backend, passed=False)
    at = scorecards()
    at.selectbox(key="scorecard_prompt").select("ticket-summary").run()
    assert_no_trace(at)
    assert [w.value for w in at.warning] == [
        "Quality gate failed: hallucination_rate 0.27 is above max_hallucination_rate 0.2"
    ]
    assert len(at.get("vega_lite_chart")) == 1
    costs, items = (frame.value for frame in at.dataframe)
    assert list(costs["model"]) == [MODEL, "fm2"] and list(costs["selected"]) == [True, False]
    assert list(items["item_id"]) == ["T-001", "T-002"]
    assert list(items["predicted_label"]) == ["billing", "billing"]


def test_scorecard_object_missing_is_one_sentence_and_the_rest_still_shows(backend: dict[str, Any]) -> None:
    seed_evaluation(backend, passed=True, with_object=False)
    at = scorecards()
    at.selectbox(key="scorecard_prompt").select("ticket-summary").run()
    assert_no_trace(at)
    assert [s.value for s in at.success] == ["Quality gate passed: this version may be promoted to prod."]
    (error,) = at.error
    assert error.value.startswith(f"Could not read the scorecard s3://{BUCKET}/{SCORECARD_KEY}: ")
    assert len(at.get("vega_lite_chart")) == 1


def test_prompt_without_evaluation_says_so(backend: dict[str, Any]) -> None:
    seed_prompts(backend["dynamodb"])
    at = scorecards()
    at.selectbox(key="scorecard_prompt").select("reply-draft").run()
    assert_no_trace(at)
    assert [i.value for i in at.info] == [
        "Prompt 'reply-draft' has no evaluation yet: run the evaluation state machine on one of its versions."
    ]
