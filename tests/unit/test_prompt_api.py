"""The prompt catalog's Lambda handler, driven with API Gateway REST proxy events against moto."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType
from typing import Any

import boto3
import pytest

from emulator.lambda_runner import rest_api_event
from tests.unit.lambdas_path import (
    BUNDLED_PACKAGES,
    GOLDEN_REQUIREMENT,
    LAMBDA_RUNTIME_PACKAGES,
    FakeLambdaContext,
    create_prompt_table,
    fast_mock_aws,
    load_handler,
    put_gate_verdict,
    set_catalog_environment,
    table_items,
    third_party_imports_in_lambda_layout,
)

TABLE = "prompt-catalog"
ALICE = "arn:aws:iam::123456789012:user/alice"
MODEL = "anthropic.claude-3-haiku-20240307-v1:0"
VERSION_BODY = {
    "template": "Translate to {{language}}: {{text}}",
    "variables": ["language", "text"],
    "model_id": MODEL,
    "inference": {"temperature": 0.1, "maxTokens": 200},
    "reason": "initial",
}


def api_event(
    method: str,
    path: str,
    body: Any = None,
    *,
    query: dict[str, str] | None = None,
    user_arn: str | None = ALICE,
    raw_body: str | None = None,
    base64_body: bool = False,
) -> dict[str, Any]:
    """The API Gateway event for a call by `user_arn` (Alice unless said otherwise), request id req-123."""
    return rest_api_event(
        method,
        path,
        body,
        query=query,
        user_arn=user_arn,
        raw_body=raw_body,
        base64_body=base64_body,
        request_id="req-123",
    )


class Api:
    """Calls the handler and decodes its answer."""

    def __init__(self, module: ModuleType) -> None:
        self.module = module

    def __call__(self, method: str, path: str, body: Any = None, **kwargs: Any) -> tuple[int, dict[str, Any]]:
        response = self.module.handler(api_event(method, path, body, **kwargs), FakeLambdaContext())
        # REST (v1) proxy responses carry headers as multiValueHeaders.
        assert response["multiValueHeaders"]["Content-Type"] == ["application/json"]
        return response["statusCode"], json.loads(response["body"])


@pytest.fixture
def ddb(monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    set_catalog_environment(monkeypatch, table=TABLE, max_template_bytes=1000, namespace="Test/PromptCatalog")
    with fast_mock_aws():
        client = boto3.client("dynamodb", region_name="us-east-1")
        create_prompt_table(client, TABLE)
        yield client


@pytest.fixture
def api(ddb: Any) -> Api:
    return Api(load_handler("prompt_catalog"))


@pytest.fixture
def seeded(api: Api) -> Api:
    status, _ = api("POST", "/prompts/translate/versions", VERSION_BODY)
    assert status == 201
    return api


def emf_blobs(output: str) -> list[dict[str, Any]]:
    """The EMF documents among the JSON lines a handler printed (logs are JSON lines too)."""
    blobs = []
    for line in output.splitlines():
        if line.startswith("{"):
            document = json.loads(line)
            if "_aws" in document:
                blobs.append(document)
    return blobs


# ----------------------------------------------------------------------------------------- happy paths


def test_create_version_records_the_iam_caller(api: Api, ddb: Any, capsys: pytest.CaptureFixture[str]) -> None:
    status, body = api("POST", "/prompts/translate/versions", VERSION_BODY)

    assert status == 201
    assert (body["name"], body["version"], body["created_by"]) == ("translate", 1, ALICE)
    assert body["inference"] == {"temperature": 0.1, "maxTokens": 200}
    assert len(table_items(ddb, TABLE)) == 3  # HEAD, version, audit
    [blob] = emf_blobs(capsys.readouterr().out)
    assert blob["VersionsCreated"] == [1.0]
    assert blob["_aws"]["CloudWatchMetrics"][0]["Namespace"] == "Test/PromptCatalog"


def test_versions_aliases_render_diff_and_audit(seeded: Api) -> None:
    api = seeded
    v2 = {
        **VERSION_BODY,
        "template": "Translate into {{language}}, formally: {{text}}",
        "reason": "formal",
        "golden_sets": [GOLDEN_REQUIREMENT],
    }
    assert api("POST", "/prompts/translate/versions", v2)[0] == 201

    status, listing = api("GET", "/prompts/translate/versions")
    assert status == 200
    assert [v["version"] for v in listing["versions"]] == [1, 2]

    status, version = api("GET", "/prompts/translate/versions/2")
    assert (status, version["template"]) == (200, v2["template"])

    assert version["golden_sets"] == [GOLDEN_REQUIREMENT]
    # The prod gate: a passed verdict of v2 on its model (see test_prompt_gate.py).
    put_gate_verdict(boto3.client("dynamodb", region_name="us-east-1"), "translate", 2, MODEL, table=TABLE)
    status, alias = api("PUT", "/prompts/translate/aliases/prod", {"version": 2, "reason": "eval ok"})
    assert (status, alias["version"], alias["updated_by"], alias["revision"]) == (200, 2, ALICE, 1)
    assert api("GET", "/prompts/translate/aliases/prod")[1] == alias

    status, rendered = api(
        "POST", "/prompts/translate/render", {"alias": "prod", "variables": {"language": "French", "text": "hi"}}
    )
    assert (status, rendered["text"], rendered["version"]) == (200, "Translate into French, formally: hi", 2)
    status, rendered = api(
        "POST", "/prompts/translate/render", {"version": 1, "variables": {"language": "x", "text": 1}}
    )
    assert (status, rendered["text"]) == (200, "Translate to x: 1")

    status, diff = api("GET", "/prompts/translate/diff", query={"from": "1", "to": "2"})
    assert status == 200
    assert "+Translate into {{language}}, formally: {{text}}" in diff["template_diff"]

    status, prompts = api("GET", "/prompts")
    assert (status, prompts["prompts"][0]["name"], prompts["prompts"][0]["latest_version"]) == (200, "translate", 2)

    status, audit = api("GET", "/prompts/translate/audit")
    assert [(a["action"], a["version"], a["who"]) for a in audit["audit"]] == [
        ("create_version", 1, ALICE),
        ("create_version", 2, ALICE),
        ("promote", 2, ALICE),
    ]


def test_pagination_through_the_api(seeded: Api) -> None:
    api = seeded
    for _ in range(2):
        api("POST", "/prompts/translate/versions", VERSION_BODY)

    status, first = api("GET", "/prompts/translate/versions", query={"limit": "2"})
    _, second = api("GET", "/prompts/translate/versions", query={"limit": "2", "next_token": first["next_token"]})

    assert status == 200
    assert [v["version"] for v in first["versions"] + second["versions"]] == [1, 2, 3]


def test_base64_bodies_are_decoded(api: Api) -> None:
    status, body = api("POST", "/prompts/translate/versions", VERSION_BODY, base64_body=True)
    assert (status, body["version"]) == (201, 1)


# ------------------------------------------------------------------------------------------ bad input


@pytest.mark.parametrize(
    ("method", "path", "kwargs", "status", "message"),
    [
        ("POST", "/prompts/translate/versions", {"raw_body": "{not json"}, 400, "request body: invalid JSON"),
        ("POST", "/prompts/translate/versions", {"raw_body": ""}, 400, "request body: required"),
        ("POST", "/prompts/translate/versions", {"raw_body": "[1]"}, 400, "must be a JSON object, got array"),
        (
            "POST",
            "/prompts/translate/versions",
            {"body": {**VERSION_BODY, "varaibles": []}},
            400,
            "unknown fields ['varaibles']",
        ),
        (
            "POST",
            "/prompts/translate/versions",
            {"body": {k: v for k, v in VERSION_BODY.items() if k != "model_id"}},
            400,
            "model_id: required",
        ),
        (
            "POST",
            "/prompts/translate/versions",
            {"body": {**VERSION_BODY, "template": 42}},
            400,
            "template: must be a string, got integer",
        ),
        (
            "POST",
            "/prompts/translate/versions",
            {"body": {**VERSION_BODY, "variables": "language"}},
            400,
            "variables: must be an array of strings, got string",
        ),
        (
            "POST",
            "/prompts/translate/versions",
            {"body": {**VERSION_BODY, "variables": ["language", 7]}},
            400,
            "variables[1]: must be a string, got integer",
        ),
        (
            "POST",
            "/prompts/translate/versions",
            {"body": {**VERSION_BODY, "inference": [0.1]}},
            400,
            "inference: must be an object, got array",
        ),
        (
            "POST",
            "/prompts/translate/versions",
            {"body": {**VERSION_BODY, "variables": ["language"]}},
            400,
            "template uses undeclared variables: 'text'",
        ),
        (
            "POST",
            "/prompts/translate/versions",
            {"body": {**VERSION_BODY, "template": "{{text}} {{language}}" + "x" * 1000}},
            413,
            "exceeds the limit of 1000 bytes (MAX_TEMPLATE_BYTES)",
        ),
        ("POST", "/prompts/Translate/versions", {"body": VERSION_BODY}, 400, "prompt name 'Translate' is invalid"),
        (
            "POST",
            "/prompts/translate/versions",
            {"body": VERSION_BODY, "user_arn": None},
            403,
            "caller identity missing",
        ),
        ("GET", "/prompts/unknown/versions", {}, 404, "prompt 'unknown' not found"),
        ("GET", "/prompts/translate/versions/9", {}, 404, "prompt 'translate' has no version 9 (latest version is 1)"),
        ("GET", "/prompts/translate/versions/one", {}, 400, "version: must be a positive integer, got 'one'"),
        ("GET", "/prompts/translate/aliases/prod", {}, 404, "prompt 'translate' has no alias 'prod'"),
        (
            "PUT",
            "/prompts/translate/aliases/prod",
            {"body": {"version": 3, "reason": "go"}},
            404,
            "prompt 'translate' has no version 3",
        ),
        (
            "PUT",
            "/prompts/unknown/aliases/prod",
            {"body": {"version": 1, "reason": "go"}},
            404,
            "prompt 'unknown' not found",
        ),
        (
            "PUT",
            "/prompts/translate/aliases/prod",
            {"body": {"version": "1", "reason": "go"}},
            400,
            "version: must be an integer, got string",
        ),
        (
            "PUT",
            "/prompts/translate/aliases/prod",
            {"body": {"version": True, "reason": "go"}},
            400,
            "version: must be an integer, got boolean",
        ),
        ("PUT", "/prompts/translate/aliases/prod", {"body": {"version": 1}}, 400, "reason: required"),
        (
            "PUT",
            "/prompts/translate/aliases/PROD",
            {"body": {"version": 1, "reason": "go"}},
            400,
            "alias 'PROD' is invalid",
        ),
        (
            "POST",
            "/prompts/translate/render",
            {"body": {"version": 1, "variables": {"language": "fr"}}},
            400,
            "missing variables: 'text'",
        ),
        (
            "POST",
            "/prompts/translate/render",
            {"body": {"version": 1, "variables": {"language": "fr", "text": "x", "tone": "y"}}},
            400,
            "unexpected variables (not declared by the prompt): 'tone'",
        ),
        ("POST", "/prompts/translate/render", {"body": {"version": 1}}, 400, "variables: required"),
        ("POST", "/prompts/translate/render", {"body": {"alias": "prod", "variables": {}}}, 404, "has no alias 'prod'"),
        (
            "POST",
            "/prompts/unknown/render",
            {"body": {"version": 1, "variables": {}}},
            404,
            "prompt 'unknown' not found",
        ),
        ("GET", "/prompts/translate/diff", {"query": {"from": "1"}}, 400, "query parameter 'to': required"),
        (
            "GET",
            "/prompts/translate/diff",
            {"query": {"from": "1", "to": "x"}},
            400,
            "query parameter 'to': must be an integer, got 'x'",
        ),
        ("GET", "/prompts", {"query": {"limit": "0"}}, 400, "limit: must be an integer from 1 to 100"),
        ("GET", "/prompts", {"query": {"next_token": "%%%"}}, 400, "next_token: invalid"),
        ("DELETE", "/prompts/translate", {}, 404, "no route for DELETE /prompts/translate"),
    ],
)
def test_bad_requests_name_the_problem_and_change_nothing(
    seeded: Api,
    ddb: Any,
    capsys: pytest.CaptureFixture[str],
    method: str,
    path: str,
    kwargs: dict[str, Any],
    status: int,
    message: str,
) -> None:
    before = table_items(ddb, TABLE)
    capsys.readouterr()

    got_status, body = seeded(method, path, **kwargs)

    assert (got_status, set(body)) == (status, {"error"})
    assert message in body["error"]
    assert table_items(ddb, TABLE) == before
    if status != 404 or "no route" not in message:
        [blob] = emf_blobs(capsys.readouterr().out)
        assert blob["ClientErrors"] == [1.0]


def test_misconfiguration_is_a_500_naming_the_variable(ddb: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("MAX_TEMPLATE_BYTES")
    status, body = Api(load_handler("prompt_catalog"))("GET", "/prompts")
    assert status == 500
    assert body["error"] == "catalog misconfigured: missing environment variable MAX_TEMPLATE_BYTES"


@pytest.mark.parametrize(
    ("variable", "value", "message"),
    [
        # int() read all of these but the last two; the gate settings now take plain decimal digits in range.
        ("MAX_TEMPLATE_BYTES", "\uff15", "MAX_TEMPLATE_BYTES must be an integer, got '\uff15'"),
        ("MAX_TEMPLATE_BYTES", "1_000", "MAX_TEMPLATE_BYTES must be an integer, got '1_000'"),
        ("MAX_TEMPLATE_BYTES", "1e3", "MAX_TEMPLATE_BYTES must be an integer, got '1e3'"),
        ("MAX_TEMPLATE_BYTES", "300001", "MAX_TEMPLATE_BYTES must be between 1 and 300000, got 300001"),
        ("MIN_GOLDEN_SET_ITEMS", "0", "MIN_GOLDEN_SET_ITEMS must be between 1 and 5000, got 0"),
        ("MIN_GOLDEN_SET_ITEMS", "9" * 5000, "MIN_GOLDEN_SET_ITEMS must be an integer, got '999"),
        ("MIN_GOLDEN_SET_ITEMS", "nan", "MIN_GOLDEN_SET_ITEMS must be an integer, got 'nan'"),
        ("TABLE_NAME", " \n", "catalog misconfigured: TABLE_NAME must be set"),
        ("KNOWLEDGE_BASES", '{"docs": "KB1"}', "catalog misconfigured: KNOWLEDGE_BASES: 'docs' maps to 'KB1'"),
    ],
)
def test_bad_settings_are_a_500_naming_the_variable(
    ddb: Any, monkeypatch: pytest.MonkeyPatch, variable: str, value: str, message: str
) -> None:
    monkeypatch.setenv(variable, value)
    status, body = Api(load_handler("prompt_catalog"))("GET", "/prompts")
    assert status == 500
    assert message in body["error"]
    assert len(body["error"]) < 200


def test_settings_are_stripped(ddb: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MAX_TEMPLATE_BYTES", " 1000\n")
    status, _ = Api(load_handler("prompt_catalog"))("GET", "/prompts")
    assert status == 200


def test_unexpected_errors_are_a_json_500(ddb: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TABLE_NAME", "table-that-does-not-exist")
    status, body = Api(load_handler("prompt_catalog"))("GET", "/prompts")
    assert status == 500
    assert body == {"error": "internal error; see the function log for request req-123"}


def test_handler_imports_only_what_the_lambda_runtime_and_the_asset_provide(tmp_path: Path) -> None:
    imported = third_party_imports_in_lambda_layout("prompt_catalog", tmp_path)
    own = {"handler", "catalog", "catalog_api", "common"}
    assert own <= imported
    assert imported - own <= {*LAMBDA_RUNTIME_PACKAGES, *BUNDLED_PACKAGES}


# --- golden sets ----------------------------------------------------------------------------------------


GOLDEN_DOCUMENT = {
    "name": "triage-golden",
    "version": 1,
    "labels": ["billing", "other"],
    "items": [
        {"id": "T-1", "inputs": {"ticket": "I was charged twice."}, "expected_label": "billing"},
        {"id": "T-2", "inputs": {"ticket": "Hello there."}, "expected_label": "other"},
    ],
}


def test_golden_sets_are_created_once_and_validated(api: Api, ddb: Any) -> None:
    status, body = api("POST", "/evalsets", GOLDEN_DOCUMENT)
    assert (status, body) == (201, {"name": "triage-golden", "version": 1, "items": 2, "created": True})
    stored = ddb.get_item(TableName=TABLE, Key={"pk": {"S": "EVALSET#triage-golden"}, "sk": {"S": "V#00000001"}})
    assert stored["Item"]["created_by"]["S"] == ALICE
    # Publishing exactly the stored version again changes nothing (a release may run twice).
    status, body = api("POST", "/evalsets", GOLDEN_DOCUMENT)
    assert (status, body["created"]) == (200, False)
    # Versions are immutable: the same version with other content is refused, and the stored one is unchanged.
    status, body = api("POST", "/evalsets", {**GOLDEN_DOCUMENT, "description": "changed"})
    assert status == 409 and "already has version 1 with different content" in body["error"]
    assert (
        ddb.get_item(TableName=TABLE, Key={"pk": {"S": "EVALSET#triage-golden"}, "sk": {"S": "V#00000001"}})["Item"]
        == stored["Item"]
    )
    broken = {**GOLDEN_DOCUMENT, "version": 2, "items": [{"id": "T-1", "inputs": {}}]}
    status, body = api("POST", "/evalsets", broken)
    assert status == 400 and "T-1" in body["error"]
    status, body = api("POST", "/evalsets", raw_body="{not json")
    assert status == 400
    items = ddb.query(
        TableName=TABLE,
        KeyConditionExpression="pk = :pk",
        ExpressionAttributeValues={":pk": {"S": "EVALSET#triage-golden"}},
    )["Items"]
    assert [item["sk"]["S"] for item in items] == ["V#00000001"]
