"""Every input class an attacker would try, thrown at every handler: each answers 4xx naming what is wrong.

Handlers: the prompt catalog API (REST proxy events), the LLM gateway (direct invocation and function URL),
the evaluation function (direct invocation), model promotion (EventBridge events) and the playground's
scorecard reader. Input classes (issue 15, items 8, 9 and 13): nesting deeper than any document we take,
integers of thousands of digits, numbers that overflow a float, NaN/Infinity, duplicate keys, unpaired
surrogates, bodies over the size limit, unbounded numeric settings, odd digits in paths, wrong methods and
base64-encoded bodies. Nothing here needs a model: every request is refused before one would be called.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Iterator
from types import ModuleType, SimpleNamespace
from typing import Any

import boto3
import pytest

from emulator.lambda_runner import rest_api_event
from tests.unit.lambdas_path import (
    FakeLambdaContext,
    create_prompt_table,
    fast_mock_aws,
    load_handler,
    set_catalog_environment,
    use,
)

use("model_promotion")
use("llm_evaluation")
# isort: split
from common import golden_sets, safe_json  # noqa: E402

TABLE = "prompt-catalog"
ALICE = "arn:aws:iam::123456789012:user/alice"
MODEL = "anthropic.claude-3-haiku-20240307-v1:0"
VERSION_BODY = {
    "template": "Summarize: {{text}}",
    "variables": ["text"],
    "model_id": MODEL,
    "inference": {"temperature": 0.1, "maxTokens": 200},
    "reason": "initial",
}
GATEWAY_REQUEST = {"prompt": "summarize", "alias": "prod", "variables": {"text": "hello"}, "team": "risk"}
EVAL_EVENT = {"prompt": "summarize", "version": 1, "golden_set": "tickets", "golden_version": 1}
PACKAGE_EVENT = {
    "source": "aws.sagemaker",
    "detail-type": "SageMaker Model Package State Change",
    "detail": {
        "ModelPackageArn": "arn:aws:sagemaker:us-east-1:123456789012:model-package/churn/3",
        "ModelApprovalStatus": "Approved",
        "ModelPackageVersion": 3,
    },
}
GOLDEN = {
    "name": "tickets",
    "version": 1,
    "items": [{"id": "T-1", "inputs": {"text": "hello"}, "reference": "hi"}],
}

# --- the input classes, as JSON text (bodies) ---------------------------------------------------------------

DEEP_TEXT = "[" * 100_000 + "]" * 100_000
HUGE_INT = "1" * 5000
LONG_INT = "1" * 400  # under Python's 4300-digit limit: parses, then overflows float() and DynamoDB


def with_literal(document: dict[str, Any], field_path: tuple[str, ...], literal: str) -> str:
    """``document`` as JSON text with the value at ``field_path`` replaced by the raw ``literal``."""
    marker = "__LITERAL__"
    target = document = json.loads(json.dumps(document))
    for name in field_path[:-1]:
        target = target[name]
    target[field_path[-1]] = marker
    return json.dumps(document).replace(f'"{marker}"', literal)


#: input class -> (HTTP status, words the error must contain)
BODY_CLASSES = {
    "deep-nesting": (400, "nested deeper than"),
    "nesting-40": (400, "nested deeper than"),
    "5000-digit-int": (400, "too long"),
    "400-digit-int": (400, "too long"),
    "float-overflow": (400, "out of range"),
    "nan": (400, "NaN and Infinity"),
    "infinity": (400, "NaN and Infinity"),
    "surrogate": (400, "unpaired surrogate"),
    "duplicate-key": (400, "duplicate key"),
    "over-1-mib": (413, "exceeds the limit"),
}


def bad_body(kind: str, document: dict[str, Any], number_field: tuple[str, ...], text_field: tuple[str, ...]) -> str:
    """``document`` as JSON text, spoiled the ``kind`` way (numbers at ``number_field``, text at ``text_field``)."""
    text = json.dumps(document)
    spoiled = {
        "deep-nesting": lambda: DEEP_TEXT,
        "nesting-40": lambda: text[:-1] + ', "x": ' + "[" * 40 + "]" * 40 + "}",
        "5000-digit-int": lambda: with_literal(document, number_field, HUGE_INT),
        "400-digit-int": lambda: with_literal(document, number_field, LONG_INT),
        "float-overflow": lambda: with_literal(document, number_field, "1e400"),
        "nan": lambda: with_literal(document, number_field, "NaN"),
        "infinity": lambda: with_literal(document, number_field, "-Infinity"),
        "surrogate": lambda: with_literal(document, text_field, '"bad \\ud800 text"'),
        "duplicate-key": lambda: text[:-1] + f', "{text_field[0]}": "again"}}',
        "over-1-mib": lambda: json.dumps({**document, "pad": "x" * safe_json.MAX_BODY_BYTES}),
    }
    return spoiled[kind]()


# --- the prompt catalog API ---------------------------------------------------------------------------------


@pytest.fixture
def catalog(monkeypatch: pytest.MonkeyPatch) -> Iterator[ModuleType]:
    set_catalog_environment(monkeypatch, table=TABLE, max_template_bytes=300000, namespace="Test/BadInput")
    with fast_mock_aws():
        create_prompt_table(boto3.client("dynamodb", region_name="us-east-1"), TABLE)
        yield load_handler("prompt_catalog")


def call_catalog(module: ModuleType, method: str, path: str, **kwargs: Any) -> tuple[int, dict[str, Any], dict]:
    event = rest_api_event(method, path, user_arn=ALICE, request_id="req-1", **kwargs)
    response = module.handler(event, FakeLambdaContext())
    return response["statusCode"], json.loads(response["body"]), response.get("multiValueHeaders") or {}


@pytest.mark.parametrize(
    ("method", "path", "document", "number_field", "text_field"),
    [
        ("POST", "/prompts/p/versions", VERSION_BODY, ("inference", "maxTokens"), ("reason",)),
        ("PUT", "/prompts/p/aliases/prod", {"version": 1, "reason": "go"}, ("version",), ("reason",)),
        ("POST", "/prompts/p/render", {"version": 1, "variables": {"text": "x"}}, ("version",), ("variables", "text")),
        ("POST", "/evalsets", GOLDEN, ("version",), ("name",)),
    ],
    ids=["create-version", "promote", "render", "evalsets"],
)
@pytest.mark.parametrize("kind", BODY_CLASSES)
def test_catalog_bodies(
    catalog: ModuleType,
    method: str,
    path: str,
    document: dict[str, Any],
    number_field: tuple[str, ...],
    text_field: tuple[str, ...],
    kind: str,
) -> None:
    status, words = BODY_CLASSES[kind]
    got_status, answer, _ = call_catalog(
        catalog, method, path, raw_body=bad_body(kind, document, number_field, text_field)
    )
    assert (got_status, set(answer)) == (status, {"error"}), answer
    assert words in answer["error"], answer


def test_catalog_path_versions_are_ascii_digits_of_bounded_length(catalog: ModuleType) -> None:
    assert call_catalog(catalog, "POST", "/prompts/p/versions", body=VERSION_BODY)[0] == 201
    for raw in ("²", "\u0661", "1" * 5000, "0x1", "+1", " 1"):  # \u0661: ARABIC-INDIC DIGIT ONE
        status, answer, _ = call_catalog(catalog, "GET", f"/prompts/p/versions/{raw}")
        assert status == 400, (raw, answer)
        assert answer["error"].startswith("version: must be a positive integer, got"), answer
        assert len(answer["error"]) < 200  # a 5000-digit path is not echoed back whole
    for query in ({"from": "²", "to": "1"}, {"from": "1", "to": "9" * 5000}, {"from": "1", "to": "\u0663"}):
        status, answer, _ = call_catalog(catalog, "GET", "/prompts/p/diff", query=query)
        assert status == 400 and "must be an integer" in answer["error"], answer
    assert call_catalog(catalog, "GET", "/prompts/p/versions/1")[0] == 200


@pytest.mark.parametrize(
    ("method", "path", "body", "words"),
    [
        ("PUT", "/prompts/p/aliases/prod", {"version": 10**20, "reason": "go"}, "version: must be a positive integer"),
        ("PUT", "/prompts/p/aliases/prod", {"version": 10**40, "reason": "go"}, "$.version: number 1000"),
        ("POST", "/prompts/p/render", {"version": 100_000_000, "variables": {"text": "x"}}, "(at most 99999999)"),
        ("POST", "/prompts/p/versions", {**VERSION_BODY, "inference": {"maxTokens": 10**30}}, "inference.maxTokens"),
        ("POST", "/prompts/p/versions", {**VERSION_BODY, "inference": {"maxTokens": 131_073}}, "at most 131072"),
        ("POST", "/prompts/p/versions", {**VERSION_BODY, "inference": {"temperature": 10**30}}, "between 0 and 1"),
        ("POST", "/prompts/p/versions", {**VERSION_BODY, "inference": {"topP": -(10**30)}}, "between 0 and 1"),
        ("POST", "/evalsets", {**GOLDEN, "version": 10**30}, "version: must be an integer from 1 to 99999999"),
    ],
)
def test_catalog_numeric_settings_are_bounded(
    catalog: ModuleType, method: str, path: str, body: dict[str, Any], words: str
) -> None:
    status, answer, _ = call_catalog(catalog, method, path, body=body)
    assert status == 400 and words in answer["error"], answer


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("PUT", "/prompts/p/aliases/prod\n"),
        ("GET", "/prompts/p/versions/1\n"),
        ("POST", "/prompts/p\n/versions"),
        ("GET", "/prompts/p/audit\r"),
    ],
)
def test_catalog_paths_with_a_trailing_newline_are_refused(catalog: ModuleType, method: str, path: str) -> None:
    assert call_catalog(catalog, "POST", "/prompts/p/versions", body=VERSION_BODY)[0] == 201
    status, answer, _ = call_catalog(catalog, method, path, body={"version": 1, "reason": "go"})
    assert (status, answer["error"][:38]) == (400, "path: contains the control character U"), answer


def test_catalog_wrong_methods_are_405_with_allow(catalog: ModuleType) -> None:
    for method, path, allowed in (
        ("DELETE", "/prompts/p/versions", "GET, POST"),
        ("PATCH", "/prompts/p/aliases/prod", "GET, PUT"),
        ("GET", "/evalsets", "POST"),
        ("PUT", "/prompts", "GET"),
    ):
        status, answer, headers = call_catalog(catalog, method, path, body={})
        assert status == 405, (method, path, answer)
        assert headers["Allow"] == [allowed]
        assert answer["error"] == f"method not allowed: {method} {path}; allowed: {allowed}"
    status, answer, _ = call_catalog(catalog, "GET", "/nothing/here")
    assert (status, answer) == (404, {"error": "no route for GET /nothing/here"})


def test_evalsets_reads_base64_encoded_bodies(catalog: ModuleType) -> None:
    status, answer, _ = call_catalog(catalog, "POST", "/evalsets", body=GOLDEN, base64_body=True)
    assert (status, answer) == (201, {"name": "tickets", "version": 1, "items": 1, "created": True})
    event = rest_api_event("POST", "/evalsets", user_arn=ALICE, raw_body="not base64 ***")
    event["isBase64Encoded"] = True
    response = catalog.handler(event, FakeLambdaContext())
    assert response["statusCode"] == 400
    assert "not valid base64" in json.loads(response["body"])["error"]


def test_golden_set_over_the_dynamodb_item_limit_is_413(catalog: ModuleType) -> None:
    # Under the body limit, over DynamoDB's 400 KB item: the description counts as much as the items.
    big = {**GOLDEN, "description": "d" * golden_sets.MAX_ITEM_BYTES}
    status, answer, _ = call_catalog(catalog, "POST", "/evalsets", body=big)
    assert status == 413 and "exceed its 400000-byte limit" in answer["error"], answer
    # Just under the budget: stored (the emulator's DynamoDB, stricter than AWS, accepts it too).
    fits = {**GOLDEN, "description": "d" * (golden_sets.MAX_ITEM_BYTES - 1000)}
    assert call_catalog(catalog, "POST", "/evalsets", body=fits)[0] == 201
    many = {**GOLDEN, "items": [{**GOLDEN["items"][0], "id": f"T-{i}", "reference": "r" * 200} for i in range(2000)]}
    status, answer, _ = call_catalog(catalog, "POST", "/evalsets", body=many)
    assert status == 413 and "item budget" in answer["error"], answer


def test_golden_set_item_size_matches_what_dynamodb_counts() -> None:
    golden = golden_sets.GoldenSet.from_dict(GOLDEN)
    item = golden.to_item(created_by=ALICE, created_at="2026-01-01T00:00:00Z")
    # Names + string values + numbers (digits + 1) + the empty labels list (3 bytes).
    expected = sum(len(k) for k in item)
    expected += sum(len(v["S"].encode()) for v in item.values() if "S" in v)
    expected += sum(len(v["N"]) + 1 for v in item.values() if "N" in v) + 3
    assert golden_sets.item_size(item) == expected


# --- direct invocations: events the Lambda runtime has already parsed -----------------------------------------


def nested(depth: int) -> list[Any]:
    """A list nested ``depth`` levels deep (built iteratively: the value itself must not need recursion)."""
    value: list[Any] = []
    for _ in range(depth - 1):
        value = [value]
    return value


#: input class -> (a value to put in a request field, words the error must contain). The runtime's own JSON
#: parser gives up near depth 1000 and past 4300 digits, so these are the worst events that can arrive.
EVENT_CLASSES = {
    "nesting-500": (nested(500), "nested deeper than"),
    "4000-digit-int": (10**3999, "integer too large"),
    "nan": (float("nan"), "not a finite number"),
    "infinity": (float("inf"), "not a finite number"),
    "surrogate": ("bad \ud800 text", "unpaired surrogate (\\ud800)"),
    "surrogate-key": ({"\udfff": "x"}, "the key contains an unpaired surrogate"),
}


@pytest.fixture
def gateway(monkeypatch: pytest.MonkeyPatch) -> ModuleType:
    for name, value in {
        "TABLE_NAME": TABLE,
        "GUARDRAIL_ID": "gr-1",
        "GUARDRAIL_VERSION": "1",
        "ALLOWED_MODELS": MODEL,
        "PRICE_TABLE_JSON": json.dumps({MODEL: {"input_per_1k": 0.001, "output_per_1k": 0.002}}),
        "POWERTOOLS_METRICS_NAMESPACE": "Test/BadInput",
    }.items():
        monkeypatch.setenv(name, value)
    module = load_handler("llm_gateway")

    def no_aws(service: str, **_: Any) -> Any:
        raise AssertionError(f"bad input reached {service}")

    monkeypatch.setattr(module, "boto3", SimpleNamespace(client=no_aws))
    return module


@pytest.mark.parametrize("kind", EVENT_CLASSES)
@pytest.mark.parametrize("field", ["variables", "team"])
def test_gateway_direct_invocations(gateway: ModuleType, kind: str, field: str) -> None:
    value, words = EVENT_CLASSES[kind]
    event = {**GATEWAY_REQUEST, field: {"text": value} if field == "variables" else value}
    response = gateway.handler(event, FakeLambdaContext())
    assert response["statusCode"] == 400, response
    assert words in response["error"] and "request: at $." in response["error"], response


def url_event(body: str, *, method: str = "POST", base64_body: bool = False) -> dict[str, Any]:
    if base64_body:
        body = base64.b64encode(body.encode()).decode()
    return {"requestContext": {"http": {"method": method}}, "body": body, "isBase64Encoded": base64_body}


@pytest.mark.parametrize("kind", BODY_CLASSES)
def test_gateway_function_url_bodies(gateway: ModuleType, kind: str) -> None:
    status, words = BODY_CLASSES[kind]
    for base64_body in (False, True):
        body = bad_body(kind, GATEWAY_REQUEST, ("variables", "text"), ("team",))
        response = gateway.handler(url_event(body, base64_body=base64_body), FakeLambdaContext())
        assert response["statusCode"] == status, response
        assert words in json.loads(response["body"])["error"], response


def test_gateway_function_url_wrong_method_is_405_with_allow(gateway: ModuleType) -> None:
    for method in ("GET", "PUT", "DELETE"):
        response = gateway.handler(url_event("", method=method), FakeLambdaContext())
        assert (response["statusCode"], response["headers"]["allow"]) == (405, "POST"), response
        assert json.loads(response["body"]) == {"error": f"method not allowed: '{method}'; the gateway takes POST"}


@pytest.fixture
def evaluator(monkeypatch: pytest.MonkeyPatch) -> ModuleType:
    monkeypatch.setenv("POWERTOOLS_METRICS_NAMESPACE", "Test/BadInput")
    module = load_handler("llm_evaluation")

    def no_evaluator() -> Any:
        raise AssertionError("bad input reached the evaluator")

    monkeypatch.setattr(module, "evaluator_from_env", no_evaluator)
    return module


@pytest.mark.parametrize("kind", EVENT_CLASSES)
@pytest.mark.parametrize("field", ["models", "run_id"])
def test_evaluator_events(evaluator: ModuleType, kind: str, field: str) -> None:
    value, words = EVENT_CLASSES[kind]
    result = evaluator.handler({**EVAL_EVENT, field: [value] if field == "models" else value}, FakeLambdaContext())
    assert result["statusCode"] == 400, result
    assert words in result["error"] and "event: at $." in result["error"], result


@pytest.mark.parametrize(
    ("field", "value", "words"),
    [
        ("version", 10**20, "version: must be a positive integer, got a larger number (at most 99999999)"),
        ("version", 10**40, "event: at $.version: integer too large (at most 32 digits)"),
        ("version", 100_000_000, "version: must be a positive integer, got 100000000 (at most 99999999)"),
        ("golden_version", 0, "golden_version: must be a positive integer, got 0 (at most 99999999)"),
        ("run_id", "run-1\n", "run_id: 'run-1\\n' is invalid"),
        ("golden_set", "tickets\n", "golden_set: 'tickets\\n' is invalid"),
        ("prompt", "summarize\n", "prompt: 'summarize\\n' is invalid"),
    ],
)
def test_evaluator_numbers_and_names_are_bounded(evaluator: ModuleType, field: str, value: Any, words: str) -> None:
    result = evaluator.handler({**EVAL_EVENT, field: value}, FakeLambdaContext())
    assert (result["statusCode"], result["error"][: len(words)]) == (400, words)


@pytest.fixture
def promotion_handler(monkeypatch: pytest.MonkeyPatch) -> ModuleType:
    monkeypatch.setenv("ENDPOINT_NAME", "churn")
    monkeypatch.setenv("MODEL_EXECUTION_ROLE_ARN", "arn:aws:iam::123456789012:role/model-execution")
    monkeypatch.setenv("POWERTOOLS_METRICS_NAMESPACE", "Test/BadInput")
    module = load_handler("model_promotion")

    class NoAws:
        def __getattr__(self, name: str) -> Any:
            raise AssertionError(f"bad input reached {name}")

    monkeypatch.setattr(module, "clients", lambda: SimpleNamespace(sagemaker=NoAws(), s3=NoAws(), autoscaling=NoAws()))
    return module


@pytest.mark.parametrize("kind", EVENT_CLASSES)
def test_promotion_events(promotion_handler: ModuleType, kind: str) -> None:
    value, words = EVENT_CLASSES[kind]
    event = {**PACKAGE_EVENT, "detail": {**PACKAGE_EVENT["detail"], "CustomerMetadataProperties": {"k": value}}}
    decision = promotion_handler.handler(event, FakeLambdaContext())
    assert decision["action"] == "rejected", decision
    assert words in decision["reason"] and "at $.detail.CustomerMetadataProperties.k" in decision["reason"]


@pytest.mark.parametrize(
    "arn",
    [
        "arn:aws:sagemaker:us-east-1:123456789012:model-package/churn/3\n",
        "arn:aws:sagemaker:us-east-1:123456789012:model-package/churn/\u0663",  # ARABIC-INDIC DIGIT THREE
        "arn:aws:sagemaker:us-east-1:\u0661\u0662\u0663456789012:model-package/churn/3",
    ],
)
def test_promotion_package_arns_are_full_ascii_matches(promotion_handler: ModuleType, arn: str) -> None:
    event = {**PACKAGE_EVENT, "detail": {**PACKAGE_EVENT["detail"], "ModelPackageArn": arn}}
    decision = promotion_handler.handler(event, FakeLambdaContext())
    assert decision["action"] == "rejected" and "is not a versioned model package ARN" in decision["reason"]


# --- scorecards, as the playground serves them -----------------------------------------------------------------


@pytest.mark.parametrize(
    ("body", "words"),
    [
        (DEEP_TEXT.encode(), "nested too deeply"),
        (b'{"items": [' + HUGE_INT.encode() + b"]}", "is not JSON"),
        (b"\xff\xfe", "is not JSON"),
    ],
    ids=["deep-nesting", "5000-digit-int", "not-utf8"],
)
def test_scorecard_reader_refuses_hostile_documents(body: bytes, words: str) -> None:
    import tests.unit.playground_path  # noqa: F401 - puts apps/playground on sys.path
    from playground.errors import PlaygroundError
    from playground.scorecards import load_items

    class Reader:
        def get_object(self, **_: Any) -> dict[str, Any]:
            return {"ContentLength": len(body), "Body": SimpleNamespace(read=lambda: body)}

    with pytest.raises(PlaygroundError, match=words):
        load_items(Reader(), "s3://bucket/evaluations/p/v1/set-v1/run/scorecard.json")


@pytest.mark.parametrize(
    ("inference", "words"),
    [
        ({"temperature": 10**400}, "inference.temperature: must be between 0 and 1, got a larger number"),
        ({"topP": float("nan")}, "inference.topP: must be between 0 and 1, got nan"),
        ({"maxTokens": 10**40}, "inference.maxTokens: must be a positive integer of at most 131072, got a larger"),
    ],
)
def test_inference_settings_are_range_checked_without_overflowing(inference: dict[str, Any], words: str) -> None:
    # The catalog logic itself, for callers that do not come through the bounded parser.
    from catalog import ValidationError, validate_inference

    with pytest.raises(ValidationError) as raised:
        validate_inference(inference)
    assert str(raised.value).startswith(words)


@pytest.mark.parametrize("field", ["template", "reason"])
def test_unpaired_surrogates_in_templates_and_reasons_are_400(catalog: ModuleType, field: str) -> None:
    # The JSON escape arrives as a Python str that cannot be encoded: UTF-8 sizing, hashing and boto3 fail.
    body = json.dumps(VERSION_BODY).replace(
        json.dumps(VERSION_BODY[field]), json.dumps(VERSION_BODY[field])[:-1] + '\\udc80"'
    )
    status, answer, _ = call_catalog(catalog, "POST", "/prompts/p/versions", raw_body=body)
    assert (status, answer["error"]) == (
        400,
        f"request body: at $.{field}: the string contains an unpaired surrogate (\\udc80); send valid Unicode text",
    )


def test_evaluator_keeps_bedrock_messages_out_of_the_scorecard(caplog: pytest.LogCaptureFixture) -> None:
    from botocore.exceptions import ClientError
    from run_evaluation import Evaluator

    role = "arn:aws:sts::123456789012:assumed-role/Mlops-dev-LlmOps-EvaluationRole-XYZ/evaluation-fn"

    class Denied:
        def converse(self, **_: Any) -> dict[str, Any]:
            message = f"User: {role} is not authorized to perform: bedrock:InvokeModel"
            raise ClientError({"Error": {"Code": "AccessDeniedException", "Message": message}}, "Converse")

    with pytest.raises(RuntimeError) as raised:
        Evaluator._converse(SimpleNamespace(_bedrock=Denied()), {"modelId": MODEL})  # type: ignore[arg-type]
    # What evaluation.run records on the item, and so what the scorecard's readers see.
    assert (
        str(raised.value) == "AccessDeniedException: the model call failed (details in the evaluation function's log)"
    )
    assert any(role in record.getMessage() for record in caplog.records)
