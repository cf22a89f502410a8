"""Real-time test strategy (lambdas/test_realtime): request validation and the API handler.

The endpoint is a fake sagemaker-runtime client (moto's invoke_endpoint returns one canned body whatever
the input, which is used below as the misbehaving-endpoint case); a botocore Stubber checks the request
against the sagemaker-runtime service model.
"""

from __future__ import annotations

import base64
import io
import json
from dataclasses import dataclass
from typing import Any

import boto3
import pytest
from botocore.exceptions import ClientError
from botocore.response import StreamingBody
from botocore.stub import Stubber
from moto import mock_aws

from tests.unit.lambdas_path import cached_handler, use

use("test_realtime")
import realtime_strategy  # noqa: E402 - importable only once its Lambda folder is on sys.path

REGION = "us-east-1"
ENDPOINT = "mlops-preprod-churn"
ROW = [12.0, 50.0, 600.0, 2.0, 50.0, 0.1667, 1.0, 0.0, 0.0, 1.0, 0.0, 0.0, 0.0]


class FakeRuntime:
    """invoke_endpoint answering ``answer`` (default: 0.25 for every row) or raising ``fail_with``."""

    def __init__(self, *, answer: bytes | None = None, fail_with: str | None = None) -> None:
        self.answer = answer
        self.fail_with = fail_with
        self.calls: list[dict[str, Any]] = []

    def invoke_endpoint(self, **request: Any) -> dict[str, Any]:
        self.calls.append(request)
        if self.fail_with:
            raise ClientError({"Error": {"Code": self.fail_with, "Message": "model container crashed"}}, "Invoke")
        payload = self.answer if self.answer is not None else b"0.25\n" * len(request["Body"].splitlines())
        return {"Body": StreamingBody(io.BytesIO(payload), len(payload)), "ContentType": "text/csv"}


@dataclass(frozen=True)
class FakeContext:
    function_name: str = "test-realtime"
    memory_limit_in_mb: int = 256
    invoked_function_arn: str = f"arn:aws:lambda:{REGION}:123456789012:function:test-realtime"
    aws_request_id: str = "req-1"


def api_event(
    body: str | None, *, method: str = "POST", path: str = "/predict", base64_body: bool = False
) -> dict[str, Any]:
    """An API Gateway REST API proxy-integration event, as Lambda receives it."""
    if base64_body and body is not None:
        body = base64.b64encode(body.encode()).decode()
    return {
        "resource": path,
        "path": path,
        "httpMethod": method,
        "headers": {"Content-Type": "application/json"},
        "multiValueHeaders": {"Content-Type": ["application/json"]},
        "queryStringParameters": None,
        "multiValueQueryStringParameters": None,
        "pathParameters": None,
        "stageVariables": None,
        "requestContext": {
            "resourcePath": path,
            "httpMethod": method,
            "path": f"/preprod{path}",
            "stage": "preprod",
            "requestId": "c6af9ac6-7b61-11e6-9a41-93e8deadbeef",
            "identity": {"sourceIp": "127.0.0.1"},
        },
        "body": body,
        "isBase64Encoded": base64_body,
    }


@pytest.fixture
def api(monkeypatch: pytest.MonkeyPatch) -> Any:
    module = cached_handler("test_realtime")
    monkeypatch.setattr(module.metrics, "namespace", "MLOpsTests")
    module.settings.cache_clear()  # the module is shared by the tests; each fixture sets its own environment
    monkeypatch.setenv("ENDPOINT_NAME", ENDPOINT)
    monkeypatch.setenv("MAX_INSTANCES", "3")
    return module


def call(api: Any, runtime: Any, event: dict[str, Any], monkeypatch: pytest.MonkeyPatch) -> tuple[int, Any]:
    monkeypatch.setattr(api, "runtime", lambda: runtime)
    response = api.handler(event, FakeContext())
    return response["statusCode"], json.loads(response["body"])


# --- request validation ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("body", "message"),
    [
        (None, "request body is empty"),
        ("", "request body is empty"),
        ("{", "request body is not valid JSON"),
        ('{"instances": [[NaN]]}', "not valid JSON: NaN is not a JSON number"),
        ("[[1, 2]]", 'must be a JSON object with an "instances" array'),
        ('{"rows": []}', 'must be a JSON object with an "instances" array'),
        ('{"instances": []}', '"instances" must be a non-empty array'),
        ('{"instances": {"a": 1}}', '"instances" must be a non-empty array'),
        (json.dumps({"instances": [ROW] * 4}), '"instances" has 4 rows; at most 3 are accepted'),
        (json.dumps({"instances": [ROW[:12]]}), "instances[0] must be an array of 13 numbers, got 12 values"),
        (json.dumps({"instances": [ROW, "1,2,3"]}), "instances[1] must be an array of 13 numbers, got a string"),
        (json.dumps({"instances": [[*ROW[:12], "7"]]}), "instances[0][12] must be a number, got string"),
        (json.dumps({"instances": [[True, *ROW[1:]]]}), "instances[0][0] must be a number, got boolean"),
        (json.dumps({"instances": [[None, *ROW[1:]]]}), "instances[0][0] must be a number, got null"),
        ('{"instances": [[1e999' + ", 0" * 12 + "]]}", "instances[0][0] is too large"),
    ],
)
def test_invalid_requests_are_explained(body: str | None, message: str) -> None:
    with pytest.raises(realtime_strategy.RequestError) as raised:
        realtime_strategy.parse_request(body, max_instances=3)
    assert message in str(raised.value)


def test_integers_are_accepted_as_numbers() -> None:
    assert realtime_strategy.parse_request(json.dumps({"instances": [[1] * 13]}), max_instances=1) == [[1.0] * 13]


@pytest.mark.parametrize(("value", "message"), [("", "ENDPOINT_NAME must be set"), ("x", None)])
def test_config_requires_the_endpoint(value: str, message: str | None) -> None:
    if message:
        with pytest.raises(realtime_strategy.ConfigError, match=message):
            realtime_strategy.Config.from_env({"ENDPOINT_NAME": value})
    else:
        assert realtime_strategy.Config.from_env({"ENDPOINT_NAME": value}).max_instances == 100
    with pytest.raises(realtime_strategy.ConfigError, match="MAX_INSTANCES must be between 1 and 1000, got 5000"):
        realtime_strategy.Config.from_env({"ENDPOINT_NAME": "x", "MAX_INSTANCES": "5000"})


@pytest.mark.parametrize(
    ("value", "message"),
    [
        # str.isdigit() let '\uff15' (fullwidth 5) through and '\u00b2' (superscript 2) crash int().
        ("\uff15", "MAX_INSTANCES must be an integer, got '\uff15'"),
        ("\u00b2", "MAX_INSTANCES must be an integer, got '\u00b2'"),
        ("1e2", "MAX_INSTANCES must be an integer, got '1e2'"),
        ("nan", "MAX_INSTANCES must be an integer, got 'nan'"),
        ("-5", "MAX_INSTANCES must be between 1 and 1000, got -5"),
        ("9" * 5000, "MAX_INSTANCES must be an integer, got '999"),
    ],
)
def test_max_instances_refuses_what_is_not_a_plain_integer(value: str, message: str) -> None:
    with pytest.raises(realtime_strategy.ConfigError, match=f"^{message}") as raised:
        realtime_strategy.Config.from_env({"ENDPOINT_NAME": "x", "MAX_INSTANCES": value})
    assert len(str(raised.value)) < 200


def test_settings_are_stripped() -> None:
    config = realtime_strategy.Config.from_env({"ENDPOINT_NAME": " ep\n", "MAX_INSTANCES": " 5\n"})
    assert (config.endpoint_name, config.max_instances) == ("ep", 5)


def test_the_settings_are_read_once_per_cold_start(api: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    first = api.settings()
    monkeypatch.setenv("MAX_INSTANCES", "7")
    assert api.settings() is first
    api.settings.cache_clear()
    assert api.settings().max_instances == 7


@pytest.mark.filterwarnings("ignore:No application metrics to publish")
def test_a_bad_setting_fails_every_request_naming_it(api: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MAX_INSTANCES", "lots")
    for _ in range(2):  # a failed validation is not cached: no request runs with a default instead
        with pytest.raises(realtime_strategy.ConfigError, match="MAX_INSTANCES must be an integer, got 'lots'"):
            api.handler(api_event(json.dumps({"instances": [ROW]})), FakeContext())


# --- the API ---------------------------------------------------------------------------------------------


def test_predict_returns_probabilities_and_latency(
    api: Any, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    runtime = FakeRuntime(answer=b"0.25\n0.75\n")
    status, body = call(api, runtime, api_event(json.dumps({"instances": [ROW, ROW]})), monkeypatch)

    assert status == 200
    assert (body["endpoint"], body["count"], body["probabilities"]) == (ENDPOINT, 2, [0.25, 0.75])
    assert isinstance(body["latency_ms"], float) and body["latency_ms"] >= 0
    [request] = runtime.calls
    assert (request["EndpointName"], request["ContentType"], request["Accept"]) == (ENDPOINT, "text/csv", "text/csv")
    assert request["Body"].decode().splitlines() == [",".join(map(repr, ROW))] * 2
    assert "RealtimePredictions" in capsys.readouterr().out


def test_base64_encoded_bodies_are_decoded(api: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    event = api_event(json.dumps({"instances": [ROW]}), base64_body=True)
    assert call(api, FakeRuntime(), event, monkeypatch) == (200, {
        "endpoint": ENDPOINT, "count": 1, "probabilities": [0.25], "latency_ms": pytest.approx(0, abs=1000.0),
    })  # fmt: skip


def test_bad_request_is_400_with_the_reason(
    api: Any, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    runtime = FakeRuntime()
    status, body = call(api, runtime, api_event('{"instances": [[1, 2]]}'), monkeypatch)

    assert (status, body) == (400, {"message": "instances[0] must be an array of 13 numbers, got 2 values"})
    assert runtime.calls == []
    assert "RealtimeBadRequests" in capsys.readouterr().out


def test_endpoint_failure_is_502(api: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    status, body = call(
        api, FakeRuntime(fail_with="ModelError"), api_event(json.dumps({"instances": [ROW]})), monkeypatch
    )
    assert (status, body) == (502, {"message": f"endpoint {ENDPOINT} failed: ModelError: model container crashed"})


def test_moto_canned_endpoint_answer_is_502(api: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    with mock_aws():
        runtime = boto3.client("sagemaker-runtime", region_name=REGION)
        status, body = call(api, runtime, api_event(json.dumps({"instances": [ROW, ROW]})), monkeypatch)
    assert (status, body) == (502, {"message": "the endpoint returned 1 predictions for 2 rows"})


@pytest.mark.filterwarnings("ignore:No application metrics to publish")
def test_other_routes_are_not_served(api: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    status, _ = call(api, FakeRuntime(), api_event(None, method="GET", path="/predict"), monkeypatch)
    assert status in (404, 405)
    status, _ = call(api, FakeRuntime(), api_event("{}", path="/train"), monkeypatch)
    assert status == 404


def test_invoke_request_matches_the_service_model() -> None:
    runtime = boto3.client("sagemaker-runtime", region_name=REGION)
    with Stubber(runtime) as stub:
        stub.add_response(
            "invoke_endpoint",
            {"Body": StreamingBody(io.BytesIO(b"0.5\n"), 4)},
            {
                "EndpointName": ENDPOINT,
                "ContentType": "text/csv",
                "Accept": "text/csv",
                "Body": ",".join(map(repr, ROW)).encode(),
            },
        )
        assert realtime_strategy.predict(runtime, ENDPOINT, [ROW]).probabilities == [0.5]
