"""A prompt version's ``retrieval`` block (#16): strict validation in the catalog, kept immutable, shown.

Through the REST handler (the way the API runs it, ``KNOWLEDGE_BASES`` from the environment) and the plain
validator for the filter grammar's attacker cases.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
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
    table_items,
)

# isort: split
from common import retrieval
from common.errors import ValidationError
from common.settings import EnvSettings

TABLE = "prompt-catalog"
ALICE = "arn:aws:iam::123456789012:user/alice"
KB_ID = "KBABCDE123"
TEMPLATE = "Answer from the sources.\nSources:\n{{context}}\nQuestion: {{question}}\n"
RETRIEVAL = {"knowledgeBase": "product-docs", "topK": 4, "contextVariable": "context"}


def body(**overrides: Any) -> dict[str, Any]:
    out: dict[str, Any] = {
        "template": TEMPLATE,
        "variables": ["context", "question"],
        "model_id": "amazon.nova-lite-v1:0",
        "inference": {"maxTokens": 200},
        "reason": "answer support questions from the product docs",
        "retrieval": dict(RETRIEVAL),
    }
    out.update(overrides)
    return out


@pytest.fixture
def ddb(monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    set_catalog_environment(monkeypatch, table=TABLE, max_template_bytes=2000, namespace="Test/PromptCatalog")
    monkeypatch.setenv("KNOWLEDGE_BASES", json.dumps({"product-docs": KB_ID}))
    with fast_mock_aws():
        client = boto3.client("dynamodb", region_name="us-east-1")
        create_prompt_table(client, TABLE)
        yield client


@pytest.fixture
def api(ddb: Any) -> Any:
    module = load_handler("prompt_catalog")

    def call(method: str, path: str, payload: Any = None, **kwargs: Any) -> tuple[int, dict[str, Any]]:
        event = rest_api_event(method, path, payload, user_arn=ALICE, request_id="req-1", **kwargs)
        response = module.handler(event, FakeLambdaContext())
        return response["statusCode"], json.loads(response["body"])

    return call


def test_a_version_keeps_its_retrieval_block_and_shows_it_everywhere(api: Any, ddb: Any) -> None:
    status, created = api("POST", "/prompts/support/versions", body())
    assert status == 201, created
    # queryVariable defaults to the one other variable and is stored explicitly.
    expected = {**RETRIEVAL, "queryVariable": "question"}
    assert created["retrieval"] == expected

    status, fetched = api("GET", "/prompts/support/versions/1")
    assert (status, fetched["retrieval"]) == (200, expected)

    changed = {**RETRIEVAL, "topK": 8, "filter": {"equals": {"key": "product", "value": "widget"}}}
    status, second = api("POST", "/prompts/support/versions", body(retrieval=changed))
    assert status == 201, second
    status, diff = api("GET", "/prompts/support/diff", query={"from": "1", "to": "2"})
    assert status == 200
    assert diff["changed"]["retrieval"] == {"from": expected, "to": {**changed, "queryVariable": "question"}}

    status, alias = api("PUT", "/prompts/support/aliases/staging", {"version": 2, "reason": "try it"})
    assert status == 200
    assert alias["retrieval"]["filter"] == changed["filter"]
    status, rendered = api(
        "POST", "/prompts/support/render", {"alias": "staging", "variables": {"context": "[1] x", "question": "q"}}
    )
    assert status == 200
    assert rendered["retrieval"]["knowledgeBase"] == "product-docs"

    status, audit = api("GET", "/prompts/support/audit")
    assert [entry.get("knowledge_base") for entry in audit["audit"]] == ["product-docs", "product-docs", None]

    # Version 1 is immutable: its block did not change when version 2 was created.
    status, first = api("GET", "/prompts/support/versions/1")
    assert first["retrieval"] == expected


def test_a_version_without_retrieval_is_stored_as_before(api: Any, ddb: Any) -> None:
    status, created = api(
        "POST", "/prompts/plain/versions", body(template="Say {{x}}", variables=["x"], retrieval=None)
    )
    assert status == 201
    assert created["retrieval"] is None
    version_item = next(i for i in table_items(ddb, TABLE) if i["sk"]["S"].startswith("V#"))
    assert "retrieval" not in version_item


@pytest.mark.parametrize(
    ("retrieval_block", "message"),
    [
        ({**RETRIEVAL, "knowledgeBase": "hr-docs"}, "unknown knowledge base 'hr-docs'; configured: ['product-docs']"),
        ({**RETRIEVAL, "knowledgeBase": "product-docs\n"}, "unknown knowledge base"),
        ({**RETRIEVAL, "topK": 0}, "retrieval.topK: must be an integer from 1 to 100, got 0"),
        ({**RETRIEVAL, "topK": 101}, "retrieval.topK: must be an integer from 1 to 100, got 101"),
        ({**RETRIEVAL, "topK": True}, "retrieval.topK"),
        ({**RETRIEVAL, "topK": 4.0}, "retrieval.topK"),
        ({**RETRIEVAL, "topK": 10**400}, "retrieval.topK"),
        ({**RETRIEVAL, "contextVariable": "sources"}, "retrieval.contextVariable: 'sources' is not a declared"),
        ({**RETRIEVAL, "queryVariable": "context"}, "retrieval.queryVariable"),
        ({**RETRIEVAL, "rerank": True}, "retrieval: unknown fields ['rerank']"),
        ("product-docs", "retrieval: must be an object, got str"),
        (
            {**RETRIEVAL, "filter": {"equals": {"key": "a", "value": "b"}, "in": {"key": "a", "value": ["b"]}}},
            "exactly one operator",
        ),
        ({**RETRIEVAL, "filter": {"like": {"key": "a", "value": "b"}}}, "unknown operator 'like'"),
    ],
)
def test_bad_retrieval_blocks_are_refused_and_nothing_is_stored(
    api: Any, ddb: Any, retrieval_block: Any, message: str
) -> None:
    before = table_items(ddb, TABLE)
    status, answer = api("POST", "/prompts/support/versions", body(retrieval=retrieval_block))
    assert status == 400, answer
    assert message in answer["error"]
    assert table_items(ddb, TABLE) == before


def test_retrieval_is_refused_when_no_knowledge_base_is_configured(ddb: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("KNOWLEDGE_BASES", "{}")
    module = load_handler("prompt_catalog")
    event = rest_api_event("POST", "/prompts/support/versions", body(), user_arn=ALICE, request_id="r")
    response = module.handler(event, FakeLambdaContext())
    assert response["statusCode"] == 400
    assert "configured: none (knowledge base disabled)" in json.loads(response["body"])["error"]
    assert table_items(ddb, TABLE) == []


def test_a_malformed_knowledge_bases_variable_is_a_500_naming_it(ddb: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("KNOWLEDGE_BASES", json.dumps({"product-docs": "not-an-id"}))
    module = load_handler("prompt_catalog")
    event = rest_api_event("POST", "/prompts/support/versions", body(), user_arn=ALICE, request_id="r")
    response = module.handler(event, FakeLambdaContext())
    assert response["statusCode"] == 500
    assert "KNOWLEDGE_BASES" in json.loads(response["body"])["error"]


# --------------------------------------------------------------------------------- the filter grammar


def nested(depth: int) -> dict[str, Any]:
    leaf: dict[str, Any] = {"equals": {"key": "k", "value": 1}}
    node = leaf
    for _ in range(depth - 1):
        node = {"andAll": [node, leaf]}
    return node


def test_a_filter_of_every_operator_within_bounds_is_kept_as_written() -> None:
    grammar = {
        "andAll": [
            {
                "orAll": [
                    {"equals": {"key": "product", "value": "widget"}},
                    {"notEquals": {"key": "draft", "value": True}},
                ]
            },
            {"in": {"key": "lang", "value": ["en", "fr"]}},
            {"notIn": {"key": "year", "value": [2019, 2020]}},
            {"greaterThanOrEquals": {"key": "year", "value": 2021}},
            {"lessThan": {"key": "score", "value": 0.5}},
            {"startsWith": {"key": "x-amz-bedrock-kb-source-uri", "value": "s3://docs/faq/"}},
            {"stringContains": {"key": "title", "value": "refund"}},
            {"listContains": {"key": "tags", "value": "billing"}},
        ]
    }
    assert retrieval.validate_filter(grammar) == grammar
    assert retrieval.validate_filter(nested(retrieval.MAX_FILTER_DEPTH)) == nested(retrieval.MAX_FILTER_DEPTH)


@pytest.mark.parametrize(
    ("bad", "message"),
    [
        (nested(retrieval.MAX_FILTER_DEPTH + 1), "nested deeper than 5 levels"),
        ({"andAll": [{"equals": {"key": "k", "value": 1}}]}, "andAll: must be an array of 2 to 10 filters, got 1"),
        ({"orAll": [{"equals": {"key": "k", "value": i}} for i in range(11)]}, "got 11"),
        ({"in": {"key": "k", "value": list(range(101))}}, "at most 100 values, got 101"),
        ({"in": {"key": "k", "value": []}}, "non-empty array"),
        ({"in": {"key": "k", "value": ["a", 1]}}, "mixes strings and numbers"),
        ({"in": {"key": "k", "value": [{"x": 1}]}}, "value[0]: must be a string, number or boolean, got dict"),
        ({"equals": {"key": "k" * 101, "value": 1}}, "key: must be 1 to 100 characters, got 101"),
        ({"equals": {"key": "", "value": 1}}, "key: must be 1 to 100 characters, got 0"),
        ({"equals": {"key": "pro\u200bduct", "value": 1}}, "U+200B"),
        ({"equals": {"key": "product\u202e", "value": 1}}, "U+202E"),
        ({"equals": {"key": "product\n", "value": 1}}, "U+000A"),
        ({"equals": {"key": " product", "value": 1}}, "leading or trailing spaces"),
        ({"equals": {"key": "k", "value": "v" * 1001}}, "at most 1000 characters"),
        ({"equals": {"key": "k", "value": None}}, "got null"),
        ({"equals": {"key": "k", "value": float("nan")}}, "finite"),
        ({"equals": {"key": "k", "value": 2**70}}, "out of range"),
        ({"greaterThan": {"key": "k", "value": "2020"}}, "must be a number, got a string"),
        ({"greaterThan": {"key": "k", "value": True}}, "must not be a boolean"),
        ({"startsWith": {"key": "k", "value": 3}}, "must be a string, got a number"),
        ({"equals": {"key": "k"}}, "exactly the fields 'key' and 'value'"),
        ({"equals": {"key": "k", "value": 1, "extra": 2}}, "exactly the fields"),
        ({}, "exactly one operator"),
        ([], "must be an object with one operator, got list"),
    ],
)
def test_bad_filters_name_the_node(bad: Any, message: str) -> None:
    with pytest.raises(ValidationError, match=None) as caught:
        retrieval.validate_filter(bad)
    assert message in str(caught.value)
    assert str(caught.value).startswith("retrieval.filter")


def test_the_node_count_is_bounded_even_within_depth_and_list_limits() -> None:
    wide = {"andAll": [{"orAll": [{"equals": {"key": "k", "value": i}} for i in range(10)]} for _ in range(10)]}
    with pytest.raises(ValidationError, match="more than 50 filter nodes"):
        retrieval.validate_filter(wide)


def test_the_context_variable_must_be_used_exactly_once() -> None:
    with pytest.raises(ValidationError, match="used 2 times"):
        retrieval.validate_retrieval(
            RETRIEVAL,
            template_variables=["context", "question"],
            template="{{context}} {{question}} {{ context }}",
            knowledge_bases={"product-docs": KB_ID},
        )


def test_the_query_variable_is_required_when_ambiguous() -> None:
    with pytest.raises(ValidationError, match=r"retrieval\.queryVariable: required"):
        retrieval.validate_retrieval(
            RETRIEVAL,
            template_variables=["context", "question", "tone"],
            template="{{tone}} {{context}} {{question}}",
            knowledge_bases={"product-docs": KB_ID},
        )
    spec = retrieval.validate_retrieval(
        {**RETRIEVAL, "queryVariable": "question"},
        template_variables=["context", "question", "tone"],
        template="{{tone}} {{context}} {{question}}",
        knowledge_bases={"product-docs": KB_ID},
    )
    assert spec.query_variable == "question"


class Misconfigured(Exception):
    pass


def knowledge_bases(raw: str | None) -> dict[str, str]:
    env = {} if raw is None else {"KNOWLEDGE_BASES": raw}
    return retrieval.knowledge_bases(EnvSettings(env, error=Misconfigured, context="fn misconfigured"))


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        ("[]", "must be a JSON object"),
        ("null", "must be a JSON object"),
        ("{", "not valid JSON"),
        ('{"docs": "KBABCDE123", "docs": "KBABCDE124"}', "not valid JSON"),  # duplicate key: not last-one-wins
        ("[" * 100 + "]" * 100, "not valid JSON"),
        ('{"Product Docs": "KBABCDE123"}', "name 'Product Docs' is invalid"),
        ('{"docs": "KB1"}', "not a knowledge base id"),
        ('{"docs": 12}', "not a knowledge base id"),
        ('{"docs\\n": "KBABCDE123"}', "is invalid"),
        (json.dumps({f"kb-{i}": KB_ID for i in range(51)}), "names 51 knowledge bases; at most 50"),
    ],
)
def test_knowledge_bases_variable_is_checked(raw: str, message: str) -> None:
    with pytest.raises(Misconfigured, match=r"^fn misconfigured: KNOWLEDGE_BASES") as caught:
        knowledge_bases(raw)
    assert message in str(caught.value)


def test_knowledge_bases_accepts_ids_and_arns_and_empty() -> None:
    arn = "arn:aws:bedrock:eu-west-1:123456789012:knowledge-base/KBABCDE123"
    assert knowledge_bases(json.dumps({"a": KB_ID, "b": arn})) == {"a": KB_ID, "b": arn}
    assert knowledge_bases(" \n") == {}
    assert knowledge_bases(None) == {}
