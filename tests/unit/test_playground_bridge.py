"""The playground's gateway client through the local Lambda Invoke bridge to the real gateway handler.

The chain `make app` runs, without the CDK: the emulator holds the table, the function's configuration
and the metrics; the bridge runs ``lambdas/llm_gateway`` in-process on Invoke; the stand-in model answers.
"""

from __future__ import annotations

import io
import json
import socket
import time
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import boto3
import pytest

import tests.unit.playground_path  # noqa: F401 - puts apps/playground on sys.path
from emulator.fake_bedrock import LABEL, FakeBedrock
from emulator.lambda_bridge import LambdaBridge, function_name
from emulator.server import LocalAws
from stacks.components.python_function import bundle_files
from tests.unit.lambdas_path import LAMBDAS, create_prompt_table

# isort: split
from catalog import PromptCatalog  # lambdas/prompt_catalog (on sys.path through lambdas_path)

from playground.errors import GatewayError
from playground.gateway import GatewayClient

TABLE = "prompt-catalog"
GATEWAY = "local-llm-gateway"
BROKEN = "local-broken-function"
MODEL = "amazon.nova-lite-v1:0"
GATEWAY_ENV = {
    "TABLE_NAME": TABLE,
    "GUARDRAIL_ID": "gr-local",
    "GUARDRAIL_VERSION": "1",
    "ALLOWED_MODELS": MODEL,
    "PRICE_TABLE_JSON": json.dumps({MODEL: {"input_per_1k": 0.00006, "output_per_1k": 0.00024}}),
    "PROMPT_CACHE_SECONDS": "0",
    "POWERTOOLS_METRICS_NAMESPACE": "Test/Playground",
    "POWERTOOLS_SERVICE_NAME": "llm-gateway",
}


@dataclass
class Chain:
    aws: LocalAws
    bridge: LambdaBridge
    client: Any  # boto3 lambda client pointed at the bridge, as the app's is by AWS_ENDPOINT_URL_LAMBDA


def gateway_package() -> bytes:
    """The gateway's deployment package, built from the files the CDK bundler copies."""
    code = io.BytesIO()
    with zipfile.ZipFile(code, "w") as archive:
        for in_bundle, source in bundle_files(LAMBDAS / "llm_gateway"):
            archive.write(source, str(in_bundle))
    return code.getvalue()


def broken_package() -> bytes:
    code = io.BytesIO()
    with zipfile.ZipFile(code, "w") as archive:
        archive.writestr("handler.py", "def handler(event, context):\n    raise FileNotFoundError('no_such_file')\n")
    return code.getvalue()


def create_function(aws: LocalAws, name: str, environment: dict[str, str], package: bytes) -> None:
    role = aws.client("iam").create_role(
        RoleName=f"{name}-role",
        AssumeRolePolicyDocument=json.dumps({"Version": "2012-10-17", "Statement": []}),
    )["Role"]["Arn"]
    code = io.BytesIO(package)
    aws.client("lambda").create_function(
        FunctionName=name,
        Runtime="python3.12",
        Role=role,
        Handler="handler.handler",
        Code={"ZipFile": code.getvalue()},
        Environment={"Variables": environment},
    )


@pytest.fixture(scope="module")
def chain() -> Iterator[Chain]:
    with LocalAws(region="us-east-1") as aws:
        dynamodb = aws.client("dynamodb")
        create_prompt_table(dynamodb, TABLE)
        catalog = PromptCatalog(dynamodb, TABLE, max_template_bytes=4000, sleep=lambda _: None)
        who = "arn:aws:iam::123456789012:user/test"
        catalog.create_version(
            "ticket-summary",
            template="Summarize this support ticket in one sentence: {{ticket}}",
            variables=["ticket"],
            model_id=MODEL,
            inference={"maxTokens": 100},
            reason="test",
            who=who,
        )
        catalog.promote("ticket-summary", "dev", version=1, reason="test", who=who)
        create_function(aws, GATEWAY, GATEWAY_ENV, gateway_package())
        create_function(aws, BROKEN, {}, broken_package())
        with (
            FakeBedrock(denied_words=("forbidden",), lifetime_seconds=120) as model,
            LambdaBridge(aws, {GATEWAY: "llm_gateway", BROKEN: "broken"}, extra_env=model.env()) as bridge,
        ):
            client = boto3.session.Session().client(
                "lambda",
                region_name="us-east-1",
                endpoint_url=bridge.endpoint_url,
                aws_access_key_id="testing",
                aws_secret_access_key="testing",
            )
            yield Chain(aws, bridge, client)


def test_answer_through_the_real_gateway_handler(chain: Chain) -> None:
    answer = GatewayClient(chain.client, GATEWAY).ask(
        prompt="ticket-summary", alias="dev", variables={"ticket": "CSV export times out"}, team="playground"
    )
    assert answer.text.startswith(f"{LABEL} Summary: Summarize this support ticket")
    assert (answer.version, answer.model_id, answer.stop_reason) == (1, MODEL, "end_turn")
    # Word counts (the stand-in's tokens) priced with the function's own price table.
    assert answer.input_tokens == 11  # "Summarize this support ticket in one sentence: CSV export times out"
    expected_cost = answer.input_tokens * 0.00006 / 1000 + answer.output_tokens * 0.00024 / 1000
    assert answer.cost_usd == pytest.approx(expected_cost, rel=1e-6)
    assert answer.latency_ms >= 0 and answer.guardrail_intervened is False
    # The handler's EMF lines became metrics in the emulator, as CloudWatch Logs does with them in AWS.
    metrics = chain.aws.client("cloudwatch").list_metrics(Namespace="Test/Playground")["Metrics"]
    assert {"InputTokens", "CostUSD", "LatencyMs"} <= {m["MetricName"] for m in metrics}


def test_guardrail_intervention_is_reported(chain: Chain) -> None:
    answer = GatewayClient(chain.client, f"arn:aws:lambda:us-east-1:123456789012:function:{GATEWAY}").ask(
        prompt="ticket-summary", alias="dev", variables={"ticket": "the forbidden workaround"}, team="playground"
    )
    assert answer.guardrail_intervened is True
    assert answer.stop_reason == "guardrail_intervened"
    assert (answer.input_tokens, answer.output_tokens) == (0, 0)


def test_gateway_refusal_reaches_the_page_as_one_sentence(chain: Chain) -> None:
    with pytest.raises(GatewayError) as raised:
        GatewayClient(chain.client, GATEWAY).ask(
            prompt="ticket-summary", alias="prod", variables={"ticket": "x"}, team="playground"
        )
    assert str(raised.value) == (
        "The gateway refused the request (HTTP 404): prompt 'ticket-summary' has no alias 'prod' "
        "(or the prompt does not exist)."
    )


def test_unknown_function_is_resource_not_found(chain: Chain) -> None:
    with pytest.raises(GatewayError) as raised:
        GatewayClient(chain.client, "no-such-function").ask(
            prompt="ticket-summary", alias="dev", variables={"ticket": "x"}, team="playground"
        )
    message = str(raised.value)
    assert message.startswith("Could not call the gateway function no-such-function: Function not found: no-such")
    assert "\n" not in message


def test_handler_that_raises_answers_like_lambda(chain: Chain) -> None:
    response = chain.client.invoke(FunctionName=BROKEN, Payload=b"{}")
    assert response["FunctionError"] == "Unhandled"
    payload = json.loads(response["Payload"].read())
    assert payload["errorType"] == "FileNotFoundError" and "no_such_file" in payload["errorMessage"]
    with pytest.raises(GatewayError, match=r"^The gateway function failed \(FileNotFoundError: "):
        GatewayClient(chain.client, BROKEN).ask(prompt="p", alias="dev", variables={}, team="t")


def test_bridge_listens_on_loopback_only_and_stops(chain: Chain) -> None:
    assert chain.bridge.endpoint_url.startswith("http://127.0.0.1:")
    with LambdaBridge(chain.aws, {GATEWAY: "llm_gateway"}, lifetime_seconds=0.2) as short_lived:
        port = int(short_lived.endpoint_url.rsplit(":", 1)[1])
        time.sleep(0.6)  # past its lifetime: it has stopped by itself
        with socket.socket() as probe:
            assert probe.connect_ex(("127.0.0.1", port)) != 0


def test_only_request_response_invocations_are_bridged(chain: Chain) -> None:
    with pytest.raises(chain.client.exceptions.InvalidParameterValueException, match="only RequestResponse"):
        chain.client.invoke(FunctionName=GATEWAY, InvocationType="Event", Payload=b"{}")


@pytest.mark.parametrize(
    ("identifier", "name"),
    [
        ("my-function", "my-function"),
        ("my-function:live", "my-function"),
        ("123456789012:function:my-function", "my-function"),
        ("arn:aws:lambda:us-east-1:123456789012:function:my-function", "my-function"),
        ("arn:aws:lambda:us-east-1:123456789012:function:my-function:7", "my-function"),
        ("arn%3Aaws%3Alambda%3Aus-east-1%3A123456789012%3Afunction%3Amy-function", "my-function"),
    ],
)
def test_function_name_from_any_identifier(identifier: str, name: str) -> None:
    assert function_name(identifier) == name
