"""The playground's gateway client: what it sends, what it shows for every answer and every failure."""

from __future__ import annotations

import io
import json
from typing import Any

import boto3
import pytest
from botocore.exceptions import EndpointConnectionError, NoCredentialsError, ReadTimeoutError
from botocore.response import StreamingBody
from botocore.stub import Stubber

import tests.unit.playground_path  # noqa: F401 - puts apps/playground on sys.path
from playground.errors import GatewayError, InputError
from playground.gateway import MAX_VARIABLE_CHARS, GatewayClient, check_variables

FUNCTION = "Mlops-dev-LlmOps-Gateway1234"
OK = {
    "statusCode": 200,
    "prompt": "ticket-summary",
    "alias": "dev",
    "version": 3,
    "model_id": "amazon.nova-lite-v1:0",
    "text": "label: technical\nsummary: the export times out.",
    "usage": {"inputTokens": 40, "outputTokens": 19},
    "cost_usd": 0.0000071,
    "latency_ms": 412.5,
    "stop_reason": "end_turn",
    "guardrail_intervened": False,
}


def lambda_client() -> Any:
    return boto3.client("lambda", region_name="us-east-1")


def body(payload: Any) -> StreamingBody:
    raw = payload if isinstance(payload, bytes) else json.dumps(payload).encode()
    return StreamingBody(io.BytesIO(raw), len(raw))


def ask_with(payload: Any, *, function_error: str | None = None) -> Any:
    """Ask through a real boto3 client whose Invoke answer is stubbed with ``payload``."""
    client = lambda_client()
    response: dict[str, Any] = {"StatusCode": 200, "Payload": body(payload)}
    if function_error:
        response["FunctionError"] = function_error
    with Stubber(client) as stub:
        stub.add_response(
            "invoke",
            response,
            {
                "FunctionName": FUNCTION,
                "InvocationType": "RequestResponse",
                "Payload": json.dumps(
                    {"prompt": "ticket-summary", "alias": "dev", "variables": {"ticket": "CSV export"}, "team": "t"}
                ).encode(),
            },
        )
        answer = GatewayClient(client, FUNCTION).ask(
            prompt="ticket-summary", alias="dev", variables={"ticket": "CSV export"}, team="t"
        )
        stub.assert_no_pending_responses()
    return answer


def test_answer_carries_text_tokens_cost_latency_and_guardrail() -> None:
    answer = ask_with(OK)
    assert answer.text == OK["text"]
    assert (answer.input_tokens, answer.output_tokens) == (40, 19)
    assert answer.cost_usd == pytest.approx(0.0000071)
    assert answer.latency_ms == 412.5
    assert answer.round_trip_ms >= 0
    assert (answer.version, answer.model_id, answer.stop_reason) == (3, "amazon.nova-lite-v1:0", "end_turn")
    assert answer.guardrail_intervened is False
    blocked = ask_with({**OK, "guardrail_intervened": True, "stop_reason": "guardrail_intervened"})
    assert blocked.guardrail_intervened is True


@pytest.mark.parametrize(
    ("payload", "message"),
    [
        (
            {"statusCode": 404, "error": "prompt 'ticket-summary' has no alias 'dev' (or the prompt does not exist)"},
            "The gateway refused the request (HTTP 404): prompt 'ticket-summary' has no alias 'dev' "
            "(or the prompt does not exist).",
        ),
        (
            {"statusCode": 400, "error": "missing variables: 'ticket'"},
            "The gateway refused the request (HTTP 400): missing variables: 'ticket'.",
        ),
        (
            {
                "statusCode": 502,
                "error": "Bedrock Converse failed: ThrottlingException: Too many requests.",
                "code": "x",
            },
            "The model call failed (HTTP 502): Bedrock Converse failed: ThrottlingException: Too many requests.",
        ),
        (
            {"statusCode": 500, "error": "gateway misconfigured: missing environment variables GUARDRAIL_ID"},
            "The gateway failed (HTTP 500): gateway misconfigured: missing environment variables GUARDRAIL_ID.",
        ),
        ({"hello": "world"}, "The gateway answered in an unexpected format (no statusCode); see its log."),
        (b"<html>oops</html>", "The gateway answered with something that is not JSON; see its log."),
        (
            {**OK, "usage": {}},
            "The gateway's answer lacks a field the playground shows ('inputTokens'); see its log.",
        ),
        (
            {**OK, "cost_usd": "NaN"},
            "The gateway's answer has a cost or latency that is not a number; see its log.",
        ),
    ],
)
def test_refusals_and_failures_become_one_sentence(payload: Any, message: str) -> None:
    with pytest.raises(GatewayError) as raised:
        ask_with(payload)
    assert str(raised.value) == message
    assert "\n" not in str(raised.value)


def test_unhandled_function_error_shows_type_and_message_but_no_stack_trace() -> None:
    payload = {
        "errorType": "KeyError",
        "errorMessage": "'TABLE_NAME'",
        "stackTrace": ['  File "/var/task/handler.py", line 1, in handler\n'],
    }
    with pytest.raises(GatewayError) as raised:
        ask_with(payload, function_error="Unhandled")
    assert str(raised.value) == "The gateway function failed (KeyError: 'TABLE_NAME'); see its log."
    assert "handler.py" not in str(raised.value)


def test_aws_errors_name_the_function_and_the_cause() -> None:
    client = lambda_client()
    gateway = GatewayClient(client, FUNCTION)
    with Stubber(client) as stub:
        stub.add_client_error(
            "invoke", "ResourceNotFoundException", f"Function not found: arn:aws:lambda:us-east-1:1:function:{FUNCTION}"
        )
        stub.add_client_error(
            "invoke", "AccessDeniedException", "User is not authorized to perform lambda:InvokeFunction"
        )
        stub.add_client_error("invoke", "TooManyRequestsException", "Rate exceeded")
        messages = []
        for _ in range(3):
            with pytest.raises(GatewayError) as raised:
                gateway.ask(prompt="p", alias="dev", variables={}, team="t")
            messages.append(str(raised.value))
    assert messages[0] == (
        f"Could not call the gateway function {FUNCTION}: Function not found: "
        f"arn:aws:lambda:us-east-1:1:function:{FUNCTION} (check the names the app is configured with)."
    )
    assert messages[1].startswith(
        f"Could not call the gateway function {FUNCTION}: access denied (AccessDeniedException"
    )
    assert messages[1].endswith("check the task role's permissions.")
    assert "throttling" in messages[2]


@pytest.mark.parametrize(
    ("error", "expected"),
    [
        (EndpointConnectionError(endpoint_url="https://lambda.us-east-1.amazonaws.com"), "did not answer"),
        (NoCredentialsError(), "no AWS credentials were found"),
        (ReadTimeoutError(endpoint_url="https://lambda"), "AWS did not answer in time"),
    ],
)
def test_connection_errors_become_one_sentence(error: Exception, expected: str) -> None:
    class Failing:
        def invoke(self, **kwargs: Any) -> dict[str, Any]:
            raise error

    with pytest.raises(GatewayError) as raised:
        GatewayClient(Failing(), FUNCTION).ask(prompt="p", alias="dev", variables={}, team="t")
    assert expected in str(raised.value)
    assert str(raised.value).startswith(f"Could not call the gateway function {FUNCTION}:")


def test_no_prompt_chosen_is_refused_before_any_call() -> None:
    class NeverCalled:
        def invoke(self, **kwargs: Any) -> dict[str, Any]:
            raise AssertionError("must not be called")

    with pytest.raises(InputError, match=r"^Choose a prompt and an alias before sending\.$"):
        GatewayClient(NeverCalled(), FUNCTION).ask(prompt="", alias="dev", variables={}, team="t")


def test_check_variables_names_every_empty_one() -> None:
    declared = ("customer", "ticket", "tone")
    assert check_variables(declared, {"customer": "Ada", "ticket": "CSV", "tone": "warm"}) == {
        "customer": "Ada",
        "ticket": "CSV",
        "tone": "warm",
    }
    with pytest.raises(InputError) as one:
        check_variables(declared, {"customer": "Ada", "ticket": "   \n", "tone": "warm"})
    assert str(one.value) == "Fill in the variable 'ticket' before sending: the prompt needs a value for each."
    with pytest.raises(InputError) as two:
        check_variables(declared, {"ticket": "CSV"})
    assert str(two.value) == (
        "Fill in the variables 'customer', 'tone' before sending: the prompt needs a value for each."
    )
    # Only the declared variables are sent: stale fields of another prompt never reach the gateway.
    assert check_variables(("ticket",), {"ticket": "x", "customer": "old"}) == {"ticket": "x"}
    assert check_variables((), {}) == {}


def test_check_variables_bounds_the_size() -> None:
    with pytest.raises(InputError, match=f"at most {MAX_VARIABLE_CHARS:,} per variable"):
        check_variables(("ticket",), {"ticket": "x" * (MAX_VARIABLE_CHARS + 1)})
