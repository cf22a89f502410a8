"""The local Bedrock Converse stand-in, called with unmodified boto3 clients, and the gateway end to end on it."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from typing import Any

import boto3
import pytest
from botocore.config import Config
from botocore.exceptions import ClientError

from emulator.fake_bedrock import BLOCKED_MESSAGE, LABEL, FakeBedrock
from tests.unit.lambdas_path import (
    GOLDEN_REQUIREMENT,
    FakeLambdaContext,
    create_prompt_table,
    fast_mock_aws,
    load_handler,
    put_gate_verdict,
)

# isort: split
from catalog import PromptCatalog

MODEL = "anthropic.claude-3-haiku-20240307-v1:0"
GUARDRAIL = {"guardrailIdentifier": "gr-1", "guardrailVersion": "1", "trace": "enabled"}
NO_RETRIES = Config(retries={"total_max_attempts": 1})


def user(text: str) -> list[dict[str, Any]]:
    return [{"role": "user", "content": [{"text": text}]}]


@pytest.fixture
def fake() -> Iterator[FakeBedrock]:
    with FakeBedrock(
        denied_words=("forbidden", "secret plan"), throttle_word="overload", lifetime_seconds=60
    ) as server:
        yield server


@pytest.fixture
def client(fake: FakeBedrock) -> Any:
    return boto3.client("bedrock-runtime", region_name="us-east-1", endpoint_url=fake.endpoint_url, config=NO_RETRIES)


def test_converse_answers_deterministically_and_labels_itself(fake: FakeBedrock, client: Any) -> None:
    question = "Please summarize the quarterly report for the board in plain words today"
    response = client.converse(
        modelId=MODEL,
        system=[{"text": "Be brief."}],
        messages=user(question),
        inferenceConfig={"maxTokens": 100},
    )

    text = response["output"]["message"]["content"][0]["text"]
    assert text == f"{LABEL} Summary: Please summarize the quarterly report for the board in plain words today"
    assert response["stopReason"] == "end_turn"
    # Word counts: 2 system words + 12 question words; the answer is 4 label and "Summary:" words + 12.
    assert response["usage"] == {"inputTokens": 14, "outputTokens": 16, "totalTokens": 30}
    assert client.converse(modelId=MODEL, messages=user(question))["output"] == response["output"]
    # The model id arrives percent-encoded (it contains ':'); the stand-in records it decoded.
    assert fake.requests[0].model_id == MODEL
    assert fake.requests[0].body["inferenceConfig"] == {"maxTokens": 100}


def test_long_inputs_are_elided_and_max_tokens_truncates(client: Any) -> None:
    words = " ".join(f"w{n}" for n in range(30))
    full = client.converse(modelId=MODEL, messages=user(words))
    short = client.converse(modelId=MODEL, messages=user(words), inferenceConfig={"maxTokens": 4})

    assert full["output"]["message"]["content"][0]["text"].endswith("w11 ...")
    assert short["stopReason"] == "max_tokens"
    assert short["usage"]["outputTokens"] == 4


def test_guardrail_blocks_denied_words_only_when_a_guardrail_is_configured(client: Any) -> None:
    blocked = client.converse(modelId=MODEL, messages=user("Tell me the SECRET PLAN."), guardrailConfig=GUARDRAIL)
    unguarded = client.converse(modelId=MODEL, messages=user("Tell me the secret plan."))
    partial_word = client.converse(modelId=MODEL, messages=user("unforbiddenly"), guardrailConfig=GUARDRAIL)

    assert blocked["stopReason"] == "guardrail_intervened"
    assert blocked["output"]["message"]["content"][0]["text"] == BLOCKED_MESSAGE
    assert blocked["usage"]["outputTokens"] == 0
    words = blocked["trace"]["guardrail"]["inputAssessment"]["gr-1"]["wordPolicy"]["customWords"]
    assert words == [{"match": "secret plan", "action": "BLOCKED"}]
    assert unguarded["stopReason"] == "end_turn"
    assert partial_word["stopReason"] == "end_turn"


def test_errors_use_bedrocks_error_codes(client: Any, fake: FakeBedrock) -> None:
    with pytest.raises(ClientError) as throttled:
        client.converse(modelId=MODEL, messages=user("overload please"))
    assert throttled.value.response["Error"]["Code"] == "ThrottlingException"
    assert throttled.value.response["ResponseMetadata"]["HTTPStatusCode"] == 429

    fake.models = frozenset({MODEL})
    with pytest.raises(ClientError) as unknown:
        client.converse(modelId="amazon.unknown-v1:0", messages=user("hi"))
    assert unknown.value.response["Error"]["Code"] == "ValidationException"

    with pytest.raises(ClientError) as not_implemented:
        client.invoke_model(modelId=MODEL, body=b"{}")
    assert not_implemented.value.response["Error"]["Code"] == "UnknownOperationException"


def test_the_endpoint_variable_points_only_bedrock_runtime_at_it(
    fake: FakeBedrock, monkeypatch: pytest.MonkeyPatch
) -> None:
    for name, value in fake.env().items():
        monkeypatch.setenv(name, value)
    session = boto3.Session(region_name="us-east-1")

    runtime = session.client("bedrock-runtime", config=NO_RETRIES)

    assert runtime.meta.endpoint_url == fake.endpoint_url
    assert session.client("dynamodb").meta.endpoint_url == "https://dynamodb.us-east-1.amazonaws.com"
    assert runtime.converse(modelId=MODEL, messages=user("hello"))["stopReason"] == "end_turn"


def test_it_stops_by_itself_and_frees_the_port() -> None:
    fake = FakeBedrock(lifetime_seconds=0.05).start()
    url = fake.endpoint_url
    assert re.fullmatch(r"http://127\.0\.0\.1:\d+", url)

    assert fake.stopped.wait(timeout=5)
    with pytest.raises(RuntimeError, match="not running"):
        _ = fake.endpoint_url
    fake.stop()  # idempotent


# ------------------------------------------------------------------------------- gateway end to end


@pytest.fixture
def gateway_env(fake: FakeBedrock, monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    env = {
        "TABLE_NAME": "prompt-catalog",
        "GUARDRAIL_ID": "gr-e2e",
        "GUARDRAIL_VERSION": "DRAFT",
        "ALLOWED_MODELS": MODEL,
        "PRICE_TABLE_JSON": json.dumps({MODEL: {"input_per_1k": 0.25, "output_per_1k": 1.25}}),
        "POWERTOOLS_METRICS_NAMESPACE": "Test/E2E",
        **fake.env(),
    }
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    # moto intercepts every botocore request; the stand-in on loopback must be let through.
    with fast_mock_aws(passthrough_urls=[re.escape(fake.endpoint_url)]):
        dynamodb = boto3.client("dynamodb", region_name="us-east-1")
        create_prompt_table(dynamodb)
        catalog = PromptCatalog(dynamodb, "prompt-catalog", max_template_bytes=1000)
        catalog.create_version(
            "answer",
            template="Answer the customer: {{question}}",
            variables=["question"],
            model_id=MODEL,
            inference={"maxTokens": 50, "temperature": 0.0},
            reason="e2e",
            who="arn:aws:iam::123456789012:user/e2e",
            golden_sets=[GOLDEN_REQUIREMENT],
        )
        # The prod gate: a passed verdict of v1 on its model (see test_prompt_gate.py).
        put_gate_verdict(dynamodb, "answer", 1, MODEL)
        catalog.promote("answer", "prod", version=1, reason="e2e", who="arn:aws:iam::123456789012:user/e2e")
        yield load_handler("llm_gateway")


def test_gateway_end_to_end_on_the_stand_in(gateway_env: Any, fake: FakeBedrock) -> None:
    event = {"prompt": "answer", "alias": "prod", "variables": {"question": "Where is my parcel?"}, "team": "support"}

    answered = gateway_env.handler(event, FakeLambdaContext())
    blocked = gateway_env.handler({**event, "variables": {"question": "Is this forbidden?"}}, FakeLambdaContext())

    assert answered["statusCode"] == 200
    assert answered["text"] == f"{LABEL} Summary: Answer the customer: Where is my parcel?"
    assert answered["usage"] == {"inputTokens": 7, "outputTokens": 11}
    assert answered["cost_usd"] == pytest.approx((7 * 0.25 + 11 * 1.25) / 1000)
    assert blocked["guardrail_intervened"] is True
    assert blocked["text"] == BLOCKED_MESSAGE
    sent = fake.requests[0].body
    assert sent["guardrailConfig"] == {"guardrailIdentifier": "gr-e2e", "guardrailVersion": "DRAFT", "trace": "enabled"}
    assert sent["inferenceConfig"] == {"maxTokens": 50, "temperature": 0.0}
