"""The LLM gateway: handler, logic and pricing, with moto's DynamoDB and botocore's Stubber for Bedrock."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType, SimpleNamespace
from typing import Any

import boto3
import pytest
from botocore.exceptions import EndpointConnectionError
from botocore.stub import Stubber

from tests.unit.lambdas_path import (
    BUNDLED_PACKAGES,
    LAMBDA_RUNTIME_PACKAGES,
    FakeLambdaContext,
    create_prompt_table,
    fast_mock_aws,
    load_handler,
    third_party_imports_in_lambda_layout,
)

# isort: split
from common.errors import Forbidden, NotFound, ValidationError
from common.prompt_store import AliasRecord
from gateway import BedrockError, ConfigError, Gateway, GatewayConfig, GatewayRequest, parse_request
from pricing import PriceTable, PricingError

TABLE = "prompt-catalog"
MODEL = "anthropic.claude-3-haiku-20240307-v1:0"
CHEAP = "amazon.nova-micro-v1:0"
BANNED = "meta.llama3-70b-instruct-v1:0"
PRICES = {
    MODEL: {"input_per_1k": 0.00025, "output_per_1k": 0.00125},
    CHEAP: {"input_per_1k": 0.000035, "output_per_1k": 0.00014},
}
ENV = {
    "TABLE_NAME": TABLE,
    "GUARDRAIL_ID": "gr-abc123",
    "GUARDRAIL_VERSION": "3",
    "ALLOWED_MODELS": f"{MODEL}, {CHEAP}",
    "PRICE_TABLE_JSON": json.dumps(PRICES),
    "PROMPT_CACHE_SECONDS": "30",
    "POWERTOOLS_METRICS_NAMESPACE": "Test/LlmGateway",
}
REQUEST = {"prompt": "summarize", "alias": "prod", "variables": {"text": "The quarter went well."}, "team": "risk"}


def alias_record(model_id: str = MODEL, alias: str = "prod", **overrides: Any) -> AliasRecord:
    values: dict[str, Any] = {
        "name": "summarize",
        "alias": alias,
        "version": 4,
        "template": "Summarize in one sentence: {{text}}",
        "variables": ("text",),
        "model_id": model_id,
        "inference": {"temperature": 0.2, "maxTokens": 256},
        "sha256": "0" * 64,
        "updated_by": "arn:aws:iam::123456789012:user/alice",
        "updated_at": "2024-05-01T12:00:00.000000Z",
        "reason": "eval passed",
    }
    values.update(overrides)
    return AliasRecord(**values)


def converse_response(
    text: str = "Revenue grew.", stop: str = "end_turn", tokens: tuple[int, int] = (1200, 80)
) -> dict[str, Any]:
    return {
        "output": {"message": {"role": "assistant", "content": [{"text": text}]}},
        "stopReason": stop,
        "usage": {"inputTokens": tokens[0], "outputTokens": tokens[1], "totalTokens": sum(tokens)},
        "metrics": {"latencyMs": 420},
    }


def expected_converse(text: str = "Summarize in one sentence: The quarter went well.") -> dict[str, Any]:
    return {
        "modelId": MODEL,
        "messages": [{"role": "user", "content": [{"text": text}]}],
        "inferenceConfig": {"temperature": 0.2, "maxTokens": 256},
        "guardrailConfig": {"guardrailIdentifier": "gr-abc123", "guardrailVersion": "3", "trace": "enabled"},
    }


class Harness:
    """The handler wired to moto's DynamoDB (GetItem calls counted) and a stubbed bedrock-runtime client."""

    def __init__(self, module: ModuleType, dynamodb: Any, bedrock: Any, stubber: Stubber) -> None:
        self.module = module
        self.dynamodb = dynamodb
        self.bedrock = bedrock
        self.stubber = stubber
        self.get_items = 0
        dynamodb.meta.events.register("before-call.dynamodb.GetItem", self._count)

    def _count(self, **_: Any) -> None:
        self.get_items += 1

    def put_alias(self, record: AliasRecord) -> None:
        self.dynamodb.put_item(TableName=TABLE, Item=record.to_item())

    def __call__(self, event: Any) -> dict[str, Any]:
        response: dict[str, Any] = self.module.handler(event, FakeLambdaContext())
        return response


@pytest.fixture
def harness(monkeypatch: pytest.MonkeyPatch) -> Iterator[Harness]:
    for name, value in ENV.items():
        monkeypatch.setenv(name, value)
    with fast_mock_aws():
        dynamodb = boto3.client("dynamodb", region_name="us-east-1")
        create_prompt_table(dynamodb, TABLE)
        bedrock = boto3.client("bedrock-runtime", region_name="us-east-1")
        module = load_handler("llm_gateway")
        clients = {"dynamodb": dynamodb, "bedrock-runtime": bedrock}
        # The handler builds its clients with boto3.client(service, ...): hand it these two instead.
        monkeypatch.setattr(module, "boto3", SimpleNamespace(client=lambda service, **_: clients[service]))
        with Stubber(bedrock) as stubber:
            h = Harness(module, dynamodb, bedrock, stubber)
            h.put_alias(alias_record())
            yield h


def emf_documents(output: str) -> list[dict[str, Any]]:
    """Every EMF document the handler printed (log lines are JSON too, without ``_aws``)."""
    return [doc for doc in map(json.loads, filter(None, output.splitlines())) if "_aws" in doc]


def dimension_sets(doc: dict[str, Any]) -> list[list[str]]:
    return [dims for directive in doc["_aws"]["CloudWatchMetrics"] for dims in directive["Dimensions"]]


def emf(output: str) -> dict[str, Any]:
    """The one EMF document with the per-prompt dimensions."""
    [blob] = [doc for doc in emf_documents(output) if any("prompt" in dims for dims in dimension_sets(doc))]
    return blob


def aggregates(output: str) -> dict[str, list[float]]:
    """Metric name -> values of the documents that carry no dimension but ``service`` (what alarms watch)."""
    found: dict[str, list[float]] = {}
    for doc in emf_documents(output):
        if all(set(dims) <= {"service"} for dims in dimension_sets(doc)):
            for directive in doc["_aws"]["CloudWatchMetrics"]:
                for metric in directive["Metrics"]:
                    found.setdefault(metric["Name"], []).extend(doc[metric["Name"]])
    return found


# ---------------------------------------------------------------------------------------------- handler


def test_happy_path_calls_converse_with_the_guardrail_and_prices_the_call(
    harness: Harness, capsys: pytest.CaptureFixture[str]
) -> None:
    harness.stubber.add_response("converse", converse_response(), expected_converse())

    response = harness(REQUEST)

    harness.stubber.assert_no_pending_responses()
    assert response["statusCode"] == 200
    assert response["text"] == "Revenue grew."
    assert response["usage"] == {"inputTokens": 1200, "outputTokens": 80}
    # 1200 * 0.00025 / 1000 + 80 * 0.00125 / 1000
    assert response["cost_usd"] == pytest.approx(0.0004)
    assert response["latency_ms"] >= 0
    assert (response["version"], response["model_id"], response["guardrail_intervened"]) == (4, MODEL, False)
    assert response["stop_reason"] == "end_turn"


def test_emf_document_has_the_metrics_and_dimensions(harness: Harness, capsys: pytest.CaptureFixture[str]) -> None:
    harness.stubber.add_response("converse", converse_response(), expected_converse())
    capsys.readouterr()

    harness(REQUEST)

    output = capsys.readouterr().out
    # Every metric also goes out once with no per-prompt dimension, for the gateway-wide alarms.
    assert {name: values for name, values in aggregates(output).items()} == {
        "InputTokens": [1200.0],
        "OutputTokens": [80.0],
        "CostUSD": [pytest.approx(0.0004)],
        "LatencyMs": aggregates(output)["LatencyMs"],
        "GuardrailInterventions": [0.0],
        "Errors": [0.0],
    }
    blob = emf(output)
    [directive] = blob["_aws"]["CloudWatchMetrics"]
    assert directive["Namespace"] == "Test/LlmGateway"
    assert directive["Dimensions"] == [["prompt", "model", "team"]]
    assert {m["Name"]: m["Unit"] for m in directive["Metrics"]} == {
        "InputTokens": "Count",
        "OutputTokens": "Count",
        "CostUSD": "None",
        "LatencyMs": "Milliseconds",
        "GuardrailInterventions": "Count",
        "Errors": "Count",
    }
    assert (blob["prompt"], blob["model"], blob["team"]) == ("summarize", MODEL, "risk")
    assert blob["InputTokens"] == [1200.0]
    assert blob["OutputTokens"] == [80.0]
    assert blob["CostUSD"] == [pytest.approx(0.0004)]
    assert blob["GuardrailInterventions"] == [0.0]
    assert blob["Errors"] == [0.0]
    assert len(blob["LatencyMs"]) == 1


def test_second_call_within_the_ttl_does_not_read_dynamodb(harness: Harness) -> None:
    harness.stubber.add_response("converse", converse_response(), expected_converse())
    harness.stubber.add_response("converse", converse_response(), expected_converse())

    assert harness(REQUEST)["statusCode"] == 200
    assert harness(REQUEST)["statusCode"] == 200

    assert harness.get_items == 1


def test_cache_can_be_disabled(harness: Harness, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PROMPT_CACHE_SECONDS", "0")
    harness.module.gateway_from_env.cache_clear()
    for _ in range(2):
        harness.stubber.add_response("converse", converse_response(), expected_converse())
        assert harness(REQUEST)["statusCode"] == 200
    assert harness.get_items == 2


def test_guardrail_intervention_is_reported_and_counted(harness: Harness, capsys: pytest.CaptureFixture[str]) -> None:
    blocked = converse_response("Sorry, I can't help with that.", stop="guardrail_intervened", tokens=(15, 0))
    harness.stubber.add_response("converse", blocked, expected_converse())
    capsys.readouterr()

    response = harness(REQUEST)

    assert response["statusCode"] == 200
    assert response["guardrail_intervened"] is True
    assert response["text"] == "Sorry, I can't help with that."
    output = capsys.readouterr().out
    assert emf(output)["GuardrailInterventions"] == [1.0]
    assert aggregates(output)["GuardrailInterventions"] == [1.0]


def test_bedrock_throttling_is_a_502_with_the_code_and_an_error_metric(
    harness: Harness, capsys: pytest.CaptureFixture[str]
) -> None:
    harness.stubber.add_client_error(
        "converse", service_error_code="ThrottlingException", service_message="Rate exceeded", http_status_code=429
    )
    capsys.readouterr()

    response = harness(REQUEST)

    assert response == {
        "statusCode": 502,
        "error": "Bedrock Converse failed: ThrottlingException; see the gateway log for request "
        + FakeLambdaContext.aws_request_id,
        "code": "ThrottlingException",
    }
    blob = emf(capsys.readouterr().out)
    assert blob["Errors"] == [1.0]
    assert (blob["prompt"], blob["model"], blob["team"]) == ("summarize", MODEL, "risk")
    assert "InputTokens" not in blob


def test_bedrock_access_denied_keeps_the_role_arn_in_the_log_only(
    harness: Harness, caplog: pytest.LogCaptureFixture
) -> None:
    role = "arn:aws:sts::123456789012:assumed-role/Mlops-dev-LlmOps-GatewayRole-ABC/gateway-fn"
    detail = f"User: {role} is not authorized to perform: bedrock:InvokeModel on resource: {MODEL}"
    harness.stubber.add_client_error(
        "converse", service_error_code="AccessDeniedException", service_message=detail, http_status_code=403
    )

    response = harness(REQUEST)

    assert response["statusCode"] == 502
    assert response["code"] == "AccessDeniedException"
    assert "AccessDeniedException" in response["error"] and FakeLambdaContext.aws_request_id in response["error"]
    assert "123456789012" not in json.dumps(response) and "assumed-role" not in json.dumps(response)
    [logged] = [record for record in caplog.records if record.getMessage() == "bedrock call failed"]
    assert role in logged.reason


@pytest.mark.parametrize(
    ("request_", "status", "message"),
    [
        ({**REQUEST, "alias": "staging"}, 404, "prompt 'summarize' has no alias 'staging'"),
        ({**REQUEST, "prompt": "nothing-here"}, 404, "prompt 'nothing-here' has no alias 'prod'"),
        ({**REQUEST, "variables": {}}, 400, "missing variables: 'text'"),
        (
            {**REQUEST, "variables": {"text": "x", "tone": "dry"}},
            400,
            "unexpected variables (not declared by the prompt): 'tone'",
        ),
        (
            {**REQUEST, "variables": {"text": {"nested": 1}}},
            400,
            "variables.text: must be a string or a number, got dict",
        ),
        ({**REQUEST, "variables": ["x"]}, 400, "variables: must be an object, got list"),
        ({k: v for k, v in REQUEST.items() if k != "team"}, 400, "team: required"),
        ({**REQUEST, "team": "Risk Team"}, 400, "team: 'Risk Team' is invalid"),
        ({**REQUEST, "prompt": 7}, 400, "prompt: must be a string, got int"),
        ({**REQUEST, "temperature": 1}, 400, "request: unknown fields ['temperature']"),
        ("summarize", 400, "request: must be a JSON object, got str"),
    ],
)
def test_bad_requests_are_4xx_naming_the_problem_without_calling_bedrock(
    harness: Harness, capsys: pytest.CaptureFixture[str], request_: Any, status: int, message: str
) -> None:
    capsys.readouterr()

    response = harness(request_)

    assert response == {"statusCode": status, "error": response["error"]}
    assert message in response["error"]
    harness.stubber.assert_no_pending_responses()
    blob = emf(capsys.readouterr().out)
    assert blob["ClientErrors"] == [1.0]
    # Unresolved prompts never become dimension values.
    resolved = message.startswith(("missing variables", "unexpected variables", "variables.text"))
    assert blob["prompt"] == ("summarize" if resolved else "none")


def test_a_prompt_on_a_model_outside_allowed_models_is_refused(harness: Harness) -> None:
    harness.put_alias(alias_record(model_id=BANNED, alias="canary"))

    response = harness({**REQUEST, "alias": "canary"})

    assert response["statusCode"] == 403
    assert f"model '{BANNED}' is not allowed for this gateway (ALLOWED_MODELS: {CHEAP}, {MODEL})" == response["error"]


def test_function_url_events_get_function_url_responses(harness: Harness) -> None:
    harness.stubber.add_response("converse", converse_response(), expected_converse())
    url_event = {"requestContext": {"http": {"method": "POST"}}, "body": json.dumps(REQUEST), "isBase64Encoded": False}

    response = harness(url_event)
    bad = harness({**url_event, "body": "{oops"})

    assert response["statusCode"] == 200
    assert json.loads(response["body"])["text"] == "Revenue grew."
    assert response["headers"] == {"content-type": "application/json"}
    assert bad["statusCode"] == 400
    assert "request body: invalid JSON" in json.loads(bad["body"])["error"]


@pytest.mark.parametrize(
    ("variable", "value", "message"),
    [
        ("GUARDRAIL_ID", "", "missing environment variable GUARDRAIL_ID"),
        ("PRICE_TABLE_JSON", "{", "PRICE_TABLE_JSON is not valid JSON"),
        ("PRICE_TABLE_JSON", json.dumps({MODEL: PRICES[MODEL]}), f"no price in PRICE_TABLE_JSON: {CHEAP}"),
        ("PROMPT_CACHE_SECONDS", "soon", "PROMPT_CACHE_SECONDS must be a number, got 'soon'"),
        ("PROMPT_CACHE_SECONDS", "nan", "PROMPT_CACHE_SECONDS must be between 0 and 3600, got 'nan'"),
        ("GUARDRAIL_VERSION", "draft", "GUARDRAIL_VERSION must be a guardrail version (DRAFT or 1-99999999)"),
    ],
)
def test_misconfiguration_is_a_500_naming_the_variable(
    harness: Harness,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    variable: str,
    value: str,
    message: str,
) -> None:
    monkeypatch.setenv(variable, value)
    capsys.readouterr()

    response = harness(REQUEST)

    assert response["statusCode"] == 500
    assert message in response["error"]
    output = capsys.readouterr().out
    assert emf(output)["Errors"] == [1.0]
    # The gateway-wide copy feeds the error-rate alarm.
    assert aggregates(output)["Errors"] == [1.0]


def test_unexpected_failures_are_a_json_500(harness: Harness, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TABLE_NAME", "no-such-table")
    response = harness(REQUEST)
    assert response == {
        "statusCode": 500,
        "error": "internal error; see the log for request 00000000-0000-0000-0000-000000000000",
    }


def test_handler_imports_only_what_the_lambda_runtime_and_the_asset_provide(tmp_path: Path) -> None:
    imported = third_party_imports_in_lambda_layout("llm_gateway", tmp_path)
    own = {"handler", "gateway", "pricing", "common"}
    assert own <= imported
    assert imported - own <= {*LAMBDA_RUNTIME_PACKAGES, *BUNDLED_PACKAGES}


# ------------------------------------------------------------------------------------------------ logic


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


class CountingTable:
    """A DynamoDB stand-in holding alias items; counts GetItem calls."""

    def __init__(self, *records: AliasRecord) -> None:
        self.items = {(r.to_item()["pk"]["S"], r.to_item()["sk"]["S"]): r.to_item() for r in records}
        self.get_items = 0

    def get_item(self, **kwargs: Any) -> dict[str, Any]:
        self.get_items += 1
        item = self.items.get((kwargs["Key"]["pk"]["S"], kwargs["Key"]["sk"]["S"]))
        return {"Item": item} if item else {}

    def query(self, **kwargs: Any) -> dict[str, Any]:
        raise NotImplementedError

    scan = transact_write_items = query


class CannedBedrock:
    def __init__(self, error: Exception | None = None) -> None:
        self.calls: list[dict[str, Any]] = []
        self.error = error

    def converse(self, **kwargs: Any) -> dict[str, Any]:
        self.calls.append(kwargs)
        if self.error:
            raise self.error
        return converse_response()


def make_gateway(table: CountingTable, bedrock: CannedBedrock, clock: FakeClock, ttl: str = "30") -> Gateway:
    config = GatewayConfig.from_env({**ENV, "PROMPT_CACHE_SECONDS": ttl})
    return Gateway(dynamodb=table, bedrock=bedrock, config=config, clock=clock)


def test_cache_entries_expire_after_the_ttl() -> None:
    table, clock = CountingTable(alias_record()), FakeClock()
    gateway = make_gateway(table, CannedBedrock(), clock)

    gateway.resolve("summarize", "prod")
    clock.now += 29.9
    gateway.resolve("summarize", "prod")
    assert table.get_items == 1
    clock.now += 0.2
    gateway.resolve("summarize", "prod")
    assert table.get_items == 2


def test_misses_are_not_cached() -> None:
    table, clock = CountingTable(), FakeClock()
    gateway = make_gateway(table, CannedBedrock(), clock)
    for _ in range(2):
        with pytest.raises(NotFound):
            gateway.resolve("summarize", "prod")
    assert table.get_items == 2


def test_connection_failures_become_bedrock_errors_named_after_the_exception() -> None:
    error = EndpointConnectionError(endpoint_url="https://bedrock-runtime.us-east-1.amazonaws.com")
    gateway = make_gateway(CountingTable(alias_record()), CannedBedrock(error), FakeClock())
    request = parse_request(REQUEST)
    with pytest.raises(BedrockError) as raised:
        gateway.invoke(request, gateway.resolve("summarize", "prod"))
    assert raised.value.code == "EndpointConnectionError"


def test_model_policy_is_checked_before_rendering_or_calling() -> None:
    bedrock = CannedBedrock()
    gateway = make_gateway(CountingTable(), bedrock, FakeClock())
    with pytest.raises(Forbidden):
        gateway.invoke(GatewayRequest("summarize", "prod", {}, "risk"), alias_record(model_id=BANNED))
    with pytest.raises(ValidationError, match="missing variables"):
        gateway.invoke(GatewayRequest("summarize", "prod", {}, "risk"), alias_record())
    assert bedrock.calls == []


def test_guardrail_is_mandatory() -> None:
    with pytest.raises(ConfigError, match="missing environment variables GUARDRAIL_ID, GUARDRAIL_VERSION"):
        GatewayConfig.from_env({k: v for k, v in ENV.items() if not k.startswith("GUARDRAIL")})


# ---------------------------------------------------------------------------------------------- pricing


def test_cost_is_exact_decimal_arithmetic() -> None:
    table = PriceTable.from_document(PRICES)
    assert table.cost_usd(CHEAP, 1_000_000, 1_000_000) == pytest.approx(0.035 + 0.14)
    assert table.cost_usd(MODEL, 3, 0) == 0.00000075
    assert table.cost_usd(MODEL, 0, 0) == 0.0


def test_unknown_model_has_no_price() -> None:
    with pytest.raises(
        PricingError, match=f"no price for model 'x.y' in PRICE_TABLE_JSON \\(priced: {CHEAP}, {MODEL}\\)"
    ):
        PriceTable.from_document(PRICES).cost_usd("x.y", 1, 1)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("[]", "must be a non-empty object"),
        ("{}", "must be a non-empty object"),
        (json.dumps({MODEL: {"input_per_1k": -1, "output_per_1k": 1}}), f"PRICE_TABLE_JSON['{MODEL}'].input_per_1k"),
        (json.dumps({MODEL: {"input_per_1k": 1}}), f"PRICE_TABLE_JSON['{MODEL}'].output_per_1k"),
        (
            json.dumps({MODEL: {"input_per_1k": True, "output_per_1k": 1}}),
            "input_per_1k: must be a non-negative number",
        ),
        (json.dumps({MODEL: {"input_per_1k": 1, "output_per_1k": 1, "per_image": 2}}), "unknown fields ['per_image']"),
        (json.dumps({MODEL: 0.1}), f"PRICE_TABLE_JSON['{MODEL}'].input_per_1k"),
    ],
)
def test_malformed_price_tables_are_rejected(text: str, message: str) -> None:
    with pytest.raises(PricingError) as raised:
        PriceTable.from_document(json.loads(text))
    assert message in str(raised.value)


def test_allowed_models_parsing() -> None:
    assert GatewayConfig.from_env({**ENV, "ALLOWED_MODELS": f" {MODEL},,{CHEAP} "}).allowed_models == {MODEL, CHEAP}
    with pytest.raises(ConfigError, match="gateway misconfigured: ALLOWED_MODELS must list at least one value"):
        GatewayConfig.from_env({**ENV, "ALLOWED_MODELS": " , "})


@pytest.mark.parametrize(
    "ttl",
    ["nan", "inf", "-1", "3600.5", "1e9", "\uff15", "\u0665", "9" * 5000, "5 seconds", "0x10", "True"],
)
def test_the_cache_ttl_refuses_what_float_would_have_read(ttl: str) -> None:
    # float() reads " 5\n", "\uff15" (fullwidth 5), "inf" and "nan"; the shared rules take only finite ASCII
    # numbers in range, and quote no more than a short prefix of a long value.
    with pytest.raises(ConfigError, match=r"^gateway misconfigured: PROMPT_CACHE_SECONDS must be") as raised:
        GatewayConfig.from_env({**ENV, "PROMPT_CACHE_SECONDS": ttl})
    assert len(str(raised.value)) < 200


def test_the_cache_ttl_is_stripped_and_defaults_when_empty() -> None:
    assert GatewayConfig.from_env({**ENV, "PROMPT_CACHE_SECONDS": " 5\n"}).cache_seconds == 5.0
    assert GatewayConfig.from_env({**ENV, "PROMPT_CACHE_SECONDS": ""}).cache_seconds == 30.0


@pytest.mark.parametrize("version", ["draft", "0", "03", "1.0", "\uff13", "1" * 9, "3\n4"])
def test_the_guardrail_version_must_be_one_bedrock_accepts(version: str) -> None:
    with pytest.raises(ConfigError, match="GUARDRAIL_VERSION must be a guardrail version"):
        GatewayConfig.from_env({**ENV, "GUARDRAIL_VERSION": version})


def test_the_guardrail_version_is_stripped() -> None:
    assert GatewayConfig.from_env({**ENV, "GUARDRAIL_VERSION": " 3\n"}).guardrail_version == "3"
    assert GatewayConfig.from_env({**ENV, "GUARDRAIL_VERSION": "DRAFT"}).guardrail_version == "DRAFT"


# ------------------------------------------------------------------------------ contextual grounding


def test_a_context_reaches_the_guardrail_as_grounding_source_and_the_prompt_as_its_query(harness: Harness) -> None:
    context = "Q3 revenue was 12 million euros, up 8 percent on Q2."
    # Botocore's Stubber checks the request against the bedrock-runtime model: guardContent blocks with the
    # grounding_source and query qualifiers are what Converse accepts for contextual grounding.
    expected = {
        **expected_converse(),
        "messages": [
            {
                "role": "user",
                "content": [
                    {"guardContent": {"text": {"text": context, "qualifiers": ["grounding_source"]}}},
                    {
                        "guardContent": {
                            "text": {
                                "text": "Summarize in one sentence: The quarter went well.",
                                "qualifiers": ["query"],
                            }
                        }
                    },
                ],
            }
        ],
    }
    harness.stubber.add_response("converse", converse_response(), expected)

    response = harness({**REQUEST, "context": context})

    harness.stubber.assert_no_pending_responses()
    assert response["statusCode"] == 200


@pytest.mark.parametrize(
    ("context", "message"),
    [
        (7, "context: must be a string, got int"),
        (" \n", "context: must not be blank"),
        ("x" * 100_001, "context: 100001 characters; the guardrail's grounding check reads at most 100000"),
    ],
)
def test_a_context_the_guardrail_cannot_read_is_a_400(harness: Harness, context: Any, message: str) -> None:
    response = harness({**REQUEST, "context": context})

    assert response["statusCode"] == 400
    assert message in response["error"]
    harness.stubber.assert_no_pending_responses()


def test_a_grounded_prompt_longer_than_the_grounding_query_limit_is_a_400_before_bedrock(harness: Harness) -> None:
    response = harness({**REQUEST, "variables": {"text": "word " * 300}, "context": "A source."})

    assert response["statusCode"] == 400
    assert (
        "with a context, the rendered prompt is the guardrail's grounding query, which it reads up to 1000"
        in (response["error"])
    )
    harness.stubber.assert_no_pending_responses()
