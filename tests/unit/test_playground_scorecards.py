"""Chart rows from an evaluation summary, and per-item results from scorecard.json in S3 (moto)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import boto3
import pytest

import tests.unit.playground_path  # noqa: F401 - puts apps/playground on sys.path
from playground.catalog import EvaluationSummary
from playground.config import AppConfig
from playground.errors import ConfigError, PlaygroundError
from playground.scorecards import ITEM_COLUMNS, MAX_SCORECARD_BYTES, cost_rows, load_items, parse_s3_uri, quality_rows
from tests.unit.lambdas_path import fast_mock_aws

BUCKET = "artifacts"
KEY = "evaluations/p/v1/set-v1/run/scorecard.json"


def summary(**models: dict[str, Any]) -> EvaluationSummary:
    return EvaluationSummary(
        prompt="p",
        version=1,
        run_id="run",
        golden_set="set",
        golden_version=1,
        passed=True,
        reasons=(),
        selected_model="b",
        explanation="",
        created_at="2026-01-01T00:00:00Z",
        scorecard_uri=f"s3://{BUCKET}/{KEY}",
        report_uri=f"s3://{BUCKET}/evaluations/p/v1/set-v1/run/",
        models=models,
    )


def test_quality_rows_skip_unmeasured_metrics_and_keep_labels() -> None:
    card = summary(
        b={"accuracy": 0.9, "rouge_l": None, "hallucination_rate": 0.1, "judge_pass_rate": 1, "items": 30},
        a={"accuracy": 0.5, "cosine": 0.25, "latency_p50_ms": 40.0},
    )
    assert quality_rows(card) == [
        {"metric": "accuracy", "model": "a", "value": 0.5},
        {"metric": "cosine similarity", "model": "a", "value": 0.25},
        {"metric": "accuracy", "model": "b", "value": 0.9},
        {"metric": "judge pass rate", "model": "b", "value": 1.0},
        {"metric": "hallucination rate", "model": "b", "value": 0.1},
    ]
    assert quality_rows(summary()) == []


def test_cost_rows_mark_the_selected_model() -> None:
    card = summary(a={"latency_p95_ms": 52.0, "cost_per_1k_items_usd": 0.03, "items": 30, "errors": 1}, b={})
    rows = cost_rows(card)
    assert [(r["model"], r["selected"]) for r in rows] == [("a", False), ("b", True)]
    assert rows[0]["latency p95 (ms)"] == 52.0 and rows[0]["errors"] == 1
    assert rows[1]["cost per 1k items (USD)"] is None


@pytest.mark.parametrize("uri", ["", "https://bucket/key", "s3://bucket", "s3://bucket/", "s3:///key"])
def test_bad_scorecard_uri_is_named(uri: str) -> None:
    with pytest.raises(PlaygroundError, match="is not an s3://bucket/key URI"):
        parse_s3_uri(uri)


@pytest.fixture
def s3() -> Iterator[Any]:
    with fast_mock_aws():
        client = boto3.client("s3", region_name="us-east-1")
        client.create_bucket(Bucket=BUCKET)
        yield client


def test_items_are_read_with_the_shown_columns(s3: Any) -> None:
    items = [
        {"item_id": "T-1", "model_id": "a", "answer": "long text", "correct": True, "judge": {"relevance": 4}},
        {"item_id": "T-2", "model_id": "a", "correct": False, "error": "ThrottlingException: slow down"},
    ]
    s3.put_object(Bucket=BUCKET, Key=KEY, Body=json.dumps({"models": [], "items": items}).encode())
    rows = load_items(s3, f"s3://{BUCKET}/{KEY}")
    assert [list(row) for row in rows] == [list(ITEM_COLUMNS)] * 2
    assert [(r["item_id"], r["correct"], r["error"]) for r in rows] == [
        ("T-1", True, None),
        ("T-2", False, "ThrottlingException: slow down"),
    ]


@pytest.mark.parametrize(
    ("body", "message"),
    [
        (b"not json", f"The scorecard s3://{BUCKET}/{KEY} is not JSON."),
        (b'{"items": "none"}', f"The scorecard s3://{BUCKET}/{KEY} has no list of items."),
        (b"[1, 2]", f"The scorecard s3://{BUCKET}/{KEY} has no list of items."),
    ],
)
def test_unreadable_scorecard_is_one_sentence(s3: Any, body: bytes, message: str) -> None:
    s3.put_object(Bucket=BUCKET, Key=KEY, Body=body)
    with pytest.raises(PlaygroundError) as raised:
        load_items(s3, f"s3://{BUCKET}/{KEY}")
    assert str(raised.value) == message


def test_missing_object_and_oversized_object(s3: Any) -> None:
    with pytest.raises(PlaygroundError) as missing:
        load_items(s3, f"s3://{BUCKET}/{KEY}")
    assert str(missing.value).startswith(f"Could not read the scorecard s3://{BUCKET}/{KEY}: ")

    class Huge:
        def get_object(self, **kwargs: Any) -> dict[str, Any]:
            return {"ContentLength": MAX_SCORECARD_BYTES + 1, "Body": None}

    with pytest.raises(PlaygroundError, match="the page shows at most"):
        load_items(Huge(), f"s3://{BUCKET}/{KEY}")


# ------------------------------------------------------------------------------------------ configuration


def test_configuration_from_the_environment() -> None:
    config = AppConfig.from_env(
        {"TABLE_NAME": " prompts ", "GATEWAY_FUNCTION_NAME": "gw", "AWS_DEFAULT_REGION": "eu-west-1"}
    )
    assert config == AppConfig(table_name="prompts", gateway_function_name="gw", team="playground", region="eu-west-1")
    assert AppConfig.from_env(
        {"TABLE_NAME": "t", "GATEWAY_FUNCTION_NAME": "g", "AWS_REGION": "us-east-2", "PLAYGROUND_TEAM": "risk"}
    ) == AppConfig("t", "g", "risk", "us-east-2")


@pytest.mark.parametrize(
    ("env", "message"),
    [
        ({}, "set TABLE_NAME and GATEWAY_FUNCTION_NAME (the prompt-catalog table"),
        ({"TABLE_NAME": "t"}, "set GATEWAY_FUNCTION_NAME (the prompt-catalog"),
        ({"TABLE_NAME": "  ", "GATEWAY_FUNCTION_NAME": "g"}, "set TABLE_NAME (the prompt-catalog"),
        (
            {"TABLE_NAME": "t", "GATEWAY_FUNCTION_NAME": "g", "PLAYGROUND_TEAM": "Risk Team"},
            "PLAYGROUND_TEAM='Risk Team' is invalid: use 1-64 lowercase letters, digits, '-' or '_'.",
        ),
    ],
)
def test_configuration_errors_name_the_variable(env: dict[str, str], message: str) -> None:
    with pytest.raises(ConfigError) as raised:
        AppConfig.from_env(env)
    assert message in str(raised.value)
