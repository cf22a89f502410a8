"""The training-serving skew check (lambdas/feature_skew): SQL, Athena result parsing, comparison, the handler.

The online store and the feature group are the emulator's Feature Store stand-in under moto; Athena is a fake
that answers with rows in GetQueryResults' shape (moto's Athena returns no rows for any query).
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from typing import Any

import boto3
import pytest
from moto import mock_aws

from emulator import feature_store
from pipelines.glue import churn_features as cf
from tests.unit.lambdas_path import FakeLambdaContext, load_handler, use

use("feature_skew")
import skew  # noqa: E402 - importable only once its Lambda folder is on sys.path

REGION = "us-east-1"
GROUP = "mlops-test-churn-features"
T1, T2 = "2026-12-01T00:00:00Z", "2026-12-02T00:00:00Z"


class FakeAthena:
    """start/get_query_execution and a get_query_results paginator answering ``rows`` (header first)."""

    def __init__(self, rows: list[dict[str, Any]], *, states: tuple[str, ...] = ("RUNNING", "SUCCEEDED")) -> None:
        self.rows, self.states, self.queries = rows, list(states), []

    def start_query_execution(self, **kwargs: Any) -> dict[str, Any]:
        self.queries.append(kwargs)
        return {"QueryExecutionId": "q-1"}

    def get_query_execution(self, QueryExecutionId: str) -> dict[str, Any]:
        state = self.states.pop(0) if len(self.states) > 1 else self.states[0]
        return {"QueryExecution": {"Status": {"State": state, "StateChangeReason": "boom"}}}

    def get_paginator(self, name: str) -> Any:
        assert name == "get_query_results"
        header = list(self.rows[0]) if self.rows else ["customer_id"]
        table = [header] + [[None if row.get(c) is None else str(row[c]) for c in header] for row in self.rows]
        pages = [
            {
                "ResultSet": {
                    "Rows": [{"Data": [{"VarCharValue": v} if v is not None else {} for v in r]} for r in table]
                }
            }
        ]

        class Paginator:
            def paginate(self, **_kwargs: Any) -> list[dict[str, Any]]:
                return pages

        return Paginator()


def _offline_row(customer: str, event_time: str, **features: Any) -> dict[str, Any]:
    row = {cf.RECORD_IDENTIFIER: customer, cf.EVENT_TIME: event_time, **dict.fromkeys(cf.MODEL_FEATURES, 0)}
    row.update(features)
    return row


@pytest.fixture
def stores() -> Iterator[tuple[Any, Any]]:
    feature_store.apply()
    feature_store.reset()
    with mock_aws():
        from moto.core import DEFAULT_ACCOUNT_ID
        from moto.sagemaker.models import sagemaker_backends

        sagemaker = boto3.client("sagemaker", region_name=REGION)
        boto3.client("s3", region_name=REGION).create_bucket(Bucket="lake")
        arn = sagemaker.create_feature_group(
            FeatureGroupName=GROUP,
            RecordIdentifierFeatureName=cf.RECORD_IDENTIFIER,
            EventTimeFeatureName=cf.EVENT_TIME,
            FeatureDefinitions=[{"FeatureName": f.name, "FeatureType": f.type} for f in cf.CUSTOMER_FEATURES.features],
            OfflineStoreConfig={"S3StorageConfig": {"S3Uri": "s3://lake/feature-store"}},
            RoleArn="arn:aws:iam::123456789012:role/offline",
        )["FeatureGroupArn"]
        sagemaker_backends[DEFAULT_ACCOUNT_ID][REGION].feature_groups[arn].online_store_config = {
            "EnableOnlineStore": True
        }
        runtime = boto3.client("sagemaker-featurestore-runtime", region_name=REGION)
        yield sagemaker, runtime


def _put(runtime: Any, customer: str, event_time: str, **features: Any) -> None:
    values = {name: 0 for name in cf.MODEL_FEATURES} | {"monthly_charges": 0.0, "total_charges": 0.0}
    values.update({"charges_per_tenure_month": 0.0, "support_calls_per_tenure_month": 0.0, **features})
    runtime.put_record(FeatureGroupName=GROUP, Record=cf.to_record(cf.CUSTOMER_FEATURES, customer, event_time, values))


CONFIG = skew.Config(GROUP, cf.MODEL_FEATURES, 20, "wg")


def test_matching_skewed_missing_and_pending_records_are_told_apart(stores):
    sagemaker, runtime = stores
    _put(runtime, "same", T1, monthly_charges=70.79)
    _put(runtime, "drifted", T1, tenure_months=4)
    _put(runtime, "newer-online", T2)
    athena = FakeAthena(
        [
            _offline_row("same", T1, monthly_charges="70.79"),
            _offline_row("drifted", T1, tenure_months=5),
            _offline_row("newer-online", T1),
            _offline_row("gone-online", T1),
        ]
    )
    report = skew.check(sagemaker, athena, runtime, CONFIG, sleep=lambda _s: None)
    assert (report.matching, report.skewed, report.pending) == (1, 2, 1)
    assert report.skew_percent == pytest.approx(200 / 3)
    assert any("drifted: tenure_months online '4' offline '5'" in e for e in report.examples)
    assert any("gone-online: missing from the online store" in e for e in report.examples)
    (query,) = athena.queries
    assert query["WorkGroup"] == "wg" and query["QueryExecutionContext"]["Database"] == "sagemaker_featurestore"
    assert '"sagemaker_featurestore"."mlops_test_churn_features_' in query["QueryString"]


def test_nothing_to_compare_gives_no_percentage(stores):
    sagemaker, runtime = stores
    report = skew.check(sagemaker, FakeAthena([]), runtime, CONFIG, sleep=lambda _s: None)
    assert report.compared == 0 and report.skew_percent is None


def test_a_failed_query_is_an_error_naming_the_state(stores):
    sagemaker, runtime = stores
    with pytest.raises(skew.QueryError, match="q-1 FAILED: boom"):
        skew.check(sagemaker, FakeAthena([], states=("FAILED",)), runtime, CONFIG, sleep=lambda _s: None)


@pytest.mark.parametrize(("database", "table"), [('x"; DROP', "t"), ("db", "T"), ("db", "a b"), ("", "t")])
def test_catalog_names_that_feature_store_does_not_generate_never_reach_sql(database, table):
    with pytest.raises(skew.QueryError, match="refusing to put it in SQL"):
        skew.offline_query(database, table, 10)


def test_the_query_takes_the_latest_non_deleted_row_per_record():
    sql = skew.offline_query("sagemaker_featurestore", "mlops_dev_churn_features_1764763200", 20)
    assert 'PARTITION BY "customer_id" ORDER BY "event_time" DESC, api_invocation_time DESC, write_time DESC' in sql
    assert sql.endswith('WHERE skew_rank = 1 AND NOT is_deleted ORDER BY "event_time" DESC LIMIT 20')


SKEW_ENV = {"FEATURES_GROUP": "g", "FEATURES": "a", "WORKGROUP": "w"}


@pytest.mark.parametrize(
    ("env", "message"),
    [
        ({"FEATURES": "a", "WORKGROUP": "w"}, "FEATURES_GROUP"),
        (
            {**SKEW_ENV, "SAMPLE_SIZE": "101"},
            "SAMPLE_SIZE must be between 1 and 100",
        ),
        ({**SKEW_ENV, "SAMPLE_SIZE": "-1"}, "SAMPLE_SIZE"),
        # str.isdecimal() let the fullwidth '\uff15' through; a setting is plain ASCII digits.
        (
            {**SKEW_ENV, "SAMPLE_SIZE": "\uff15"},
            "SAMPLE_SIZE must be an integer",
        ),
        (
            {**SKEW_ENV, "SAMPLE_SIZE": "1e1"},
            "SAMPLE_SIZE must be an integer",
        ),
        (
            {**SKEW_ENV, "SAMPLE_SIZE": "9" * 5000},
            "SAMPLE_SIZE must be an integer",
        ),
        # Only commas was accepted as a list of no features: nothing would ever be compared.
        ({**SKEW_ENV, "FEATURES": " , ,", "WORKGROUP": "w"}, "FEATURES must list at least one value"),
        ({**SKEW_ENV, "FEATURES": "a,b,a", "WORKGROUP": "w"}, "FEATURES lists 'a' twice"),
        ({**SKEW_ENV, "FEATURES": "a,b c", "WORKGROUP": "w"}, "FEATURES: 'b c' is not a feature name"),
        ({**SKEW_ENV, "FEATURES": 'a,"x"', "WORKGROUP": "w"}, "is not a feature name"),
    ],
)
def test_bad_environment_is_named(env, message):
    with pytest.raises(skew.ConfigError, match=re.escape(message)) as raised:
        skew.Config.from_env(env)
    assert len(str(raised.value)) < 200


def test_settings_are_stripped_and_default():
    config = skew.Config.from_env(
        {"FEATURES_GROUP": " g\n", "FEATURES": " a, b\n", "WORKGROUP": "w", "SAMPLE_SIZE": ""}
    )
    assert (config.features_group, config.features, config.sample_size) == ("g", ("a", "b"), 20)


def test_handler_publishes_the_skew_metrics(stores, monkeypatch, capsys):
    sagemaker, runtime = stores
    _put(runtime, "drifted", T1, tenure_months=4)
    athena = FakeAthena([_offline_row("drifted", T1, tenure_months=5)])
    monkeypatch.setenv("FEATURES_GROUP", GROUP)
    monkeypatch.setenv("FEATURES", ",".join(cf.MODEL_FEATURES))
    monkeypatch.setenv("WORKGROUP", "wg")
    monkeypatch.setenv("POWERTOOLS_METRICS_NAMESPACE", "Mlops/FeatureStore")
    monkeypatch.setenv("POWERTOOLS_SERVICE_NAME", "feature-skew")
    handler = load_handler("feature_skew")
    clients = {"sagemaker": sagemaker, "athena": athena, "sagemaker-featurestore-runtime": runtime}
    monkeypatch.setattr(handler, "_client", clients.__getitem__)
    monkeypatch.setattr(skew.time, "sleep", lambda _s: None)

    summary = handler.handler({}, FakeLambdaContext())
    assert summary["skewPercent"] == 100.0 and summary["compared"] == 1
    emf = [json.loads(line) for line in capsys.readouterr().out.splitlines() if '"_aws"' in line]
    (metrics,) = emf
    assert metrics["FeatureSkewPercent"] == [100.0]
    assert metrics["FeatureGroup"] == GROUP
    assert metrics["_aws"]["CloudWatchMetrics"][0]["Namespace"] == "Mlops/FeatureStore"
