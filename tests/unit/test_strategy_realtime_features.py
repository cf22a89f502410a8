"""Real-time test strategy reading its test records' features from the online store (issue 17).

``{"customer_ids": [...]}`` requests: the function reads the customers' features with one BatchGetRecord (a
botocore Stubber on a real sagemaker-featurestore-runtime client checks the request and the response against
the service model) in the model's feature order, then scores them through the endpoint.
"""

from __future__ import annotations

import json
from typing import Any

import boto3
import pytest
from botocore.stub import Stubber

from pipelines.glue.churn_features import MODEL_FEATURES
from tests.unit.lambdas_path import use
from tests.unit.test_strategy_realtime import ENDPOINT, REGION, FakeContext, FakeRuntime, api_event

use("test_realtime")
import realtime_strategy  # noqa: E402 - importable only once its Lambda folder is on sys.path

GROUP = "mlops-preprod-churn-features"


def values(seed: float) -> dict[str, str]:
    return {name: str(seed + index) for index, name in enumerate(MODEL_FEATURES)}


def batch_answer(records: dict[str, dict[str, str]]) -> dict[str, Any]:
    return {
        "Records": [
            {
                "FeatureGroupName": GROUP,
                "RecordIdentifierValueAsString": customer,
                "Record": [{"FeatureName": k, "ValueAsString": v} for k, v in features.items()],
            }
            for customer, features in records.items()
        ],
        "Errors": [],
        "UnprocessedIdentifiers": [],
    }


def stubbed(answer: dict[str, Any], ids: list[str]) -> tuple[Any, Stubber]:
    client = boto3.client(
        "sagemaker-featurestore-runtime", region_name=REGION, aws_access_key_id="x", aws_secret_access_key="x"
    )
    stub = Stubber(client)
    expected = {
        "Identifiers": [
            {"FeatureGroupName": GROUP, "RecordIdentifiersValueAsString": ids, "FeatureNames": list(MODEL_FEATURES)}
        ]
    }
    stub.add_response("batch_get_record", answer, expected)
    stub.activate()
    return client, stub


def test_features_are_read_in_the_models_order_whatever_order_the_store_returns() -> None:
    # The store answers in its own order and with features in any order: rows follow the request and the model.
    shuffled = {name: value for name, value in reversed(values(1.0).items())}
    client, stub = stubbed(batch_answer({"c-2": values(10.0), "c-1": shuffled}), ["c-1", "c-2"])
    rows = realtime_strategy.read_features(client, GROUP, MODEL_FEATURES, ["c-1", "c-2"])
    stub.assert_no_pending_responses()
    assert rows == [[1.0 + i for i in range(13)], [10.0 + i for i in range(13)]]


def test_an_unknown_customer_is_the_callers_error() -> None:
    client, _ = stubbed(batch_answer({"c-1": values(1.0)}), ["c-1", "nobody"])
    with pytest.raises(realtime_strategy.RequestError, match=r"no features in .* for customer\(s\) 'nobody'"):
        realtime_strategy.read_features(client, GROUP, MODEL_FEATURES, ["c-1", "nobody"])


@pytest.mark.parametrize(
    ("answer", "message"),
    [
        (
            {
                "Records": [],
                "Errors": [
                    {
                        "FeatureGroupName": GROUP,
                        "RecordIdentifierValueAsString": "c-1",
                        "ErrorCode": "AccessDenied",
                        "ErrorMessage": "not authorized",
                    }
                ],
                "UnprocessedIdentifiers": [],
            },
            "failed for 'c-1': AccessDenied not authorized",
        ),
        (
            {
                "Records": [],
                "Errors": [],
                "UnprocessedIdentifiers": [{"FeatureGroupName": GROUP, "RecordIdentifiersValueAsString": ["c-1"]}],
            },
            "left identifiers unprocessed",
        ),
        (
            batch_answer({"c-1": {**values(1.0), MODEL_FEATURES[3]: "abc"}}),
            f"no usable value for '{MODEL_FEATURES[3]}'",
        ),
        (
            batch_answer({"c-1": {**values(1.0), MODEL_FEATURES[0]: "inf"}}),
            f"no usable value for '{MODEL_FEATURES[0]}'",
        ),
        (
            batch_answer({"c-1": {k: v for k, v in values(1.0).items() if k != MODEL_FEATURES[5]}}),
            f"no usable value for '{MODEL_FEATURES[5]}'",
        ),
    ],
)
def test_store_failures_and_unusable_records_are_feature_store_errors(answer: dict[str, Any], message: str) -> None:
    client, _ = stubbed(answer, ["c-1"])
    with pytest.raises(realtime_strategy.FeatureStoreError, match=message):
        realtime_strategy.read_features(client, GROUP, MODEL_FEATURES, ["c-1"])


def test_a_client_error_is_a_feature_store_error() -> None:
    client = boto3.client(
        "sagemaker-featurestore-runtime", region_name=REGION, aws_access_key_id="x", aws_secret_access_key="x"
    )
    stub = Stubber(client)
    stub.add_client_error("batch_get_record", "ResourceNotFound", "feature group not found")
    stub.activate()
    with pytest.raises(realtime_strategy.FeatureStoreError, match="ResourceNotFound"):
        realtime_strategy.read_features(client, GROUP, MODEL_FEATURES, ["c-1"])


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ('{"customer_ids": []}', '"customer_ids" must be a non-empty array'),
        ('{"customer_ids": "c-1"}', '"customer_ids" must be a non-empty array'),
        ('{"customer_ids": ["c-1"], "instances": [[1]]}', "not both"),
        ('{"customer_ids": [1]}', "customer_ids\\[0\\] must be a non-empty string"),
        ('{"customer_ids": [""]}', "customer_ids\\[0\\] must be a non-empty string"),
        ('{"customer_ids": ["c-1\\n"]}', "customer_ids\\[0\\] must be a non-empty string without surrounding"),
        ('{"customer_ids": ["c\\u0000x"]}', "customer_ids\\[0\\] must be at most 256 printable"),
        (json.dumps({"customer_ids": ["x" * 257]}), "customer_ids\\[0\\] must be at most 256"),
        ('{"customer_ids": ["a", "a"]}', "customer_ids\\[1\\] repeats 'a'"),
        (json.dumps({"customer_ids": [f"c-{i}" for i in range(101)]}), "has 101 entries; at most 100"),
        ("[" * 100_000 + "]" * 100_000, "not valid JSON"),
        ("[]", 'must be a JSON object: {"instances"'),
    ],
)
def test_bad_customer_id_requests_are_explained(body: str, message: str) -> None:
    with pytest.raises(realtime_strategy.RequestError, match=message):
        realtime_strategy.parse_any_request(body, max_instances=1000, customer_ids=True)


def test_customer_ids_are_refused_without_a_feature_group() -> None:
    with pytest.raises(realtime_strategy.RequestError, match='"instances" array'):
        realtime_strategy.parse_any_request('{"customer_ids": ["c-1"]}', max_instances=10, customer_ids=False)


@pytest.mark.parametrize(
    ("env", "message"),
    [
        ({"FEATURES_GROUP": GROUP}, "FEATURES must name the model's 13 features in order when FEATURES_GROUP"),
        ({"FEATURES_GROUP": GROUP, "FEATURES": ",".join(MODEL_FEATURES[:12])}, "got 12"),
        ({"FEATURES_GROUP": GROUP, "FEATURES": ",".join([*MODEL_FEATURES[:12], MODEL_FEATURES[0]])}, "twice"),
    ],
)
def test_config_needs_the_features_with_a_group(env: dict[str, str], message: str) -> None:
    with pytest.raises(realtime_strategy.ConfigError, match=message):
        realtime_strategy.Config.from_env({"ENDPOINT_NAME": ENDPOINT, **env})


@pytest.fixture
def api(monkeypatch: pytest.MonkeyPatch) -> Any:
    from tests.unit.lambdas_path import cached_handler

    module = cached_handler("test_realtime")
    monkeypatch.setattr(module.metrics, "namespace", "MLOpsTests")
    module.settings.cache_clear()  # the module is shared by the tests; each fixture sets its own environment
    monkeypatch.setenv("ENDPOINT_NAME", ENDPOINT)
    monkeypatch.setenv("FEATURES_GROUP", GROUP)
    monkeypatch.setenv("FEATURES", ",".join(MODEL_FEATURES))
    return module


def test_the_api_scores_customers_from_the_online_store(api: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    client, stub = stubbed(batch_answer({"c-1": values(1.0), "c-2": values(2.0)}), ["c-2", "c-1"])
    runtime = FakeRuntime()
    monkeypatch.setattr(api, "featurestore", lambda: client)
    monkeypatch.setattr(api, "runtime", lambda: runtime)
    response = api.handler(api_event(json.dumps({"customer_ids": ["c-2", "c-1"]})), FakeContext())
    body = json.loads(response["body"])
    assert response["statusCode"] == 200, body
    assert body["customer_ids"] == ["c-2", "c-1"] and body["probabilities"] == [0.25, 0.25]
    stub.assert_no_pending_responses()
    sent = runtime.calls[0]["Body"].decode().splitlines()
    assert sent[0].split(",")[:2] == ["2.0", "3.0"] and sent[1].split(",")[:2] == ["1.0", "2.0"]


def test_the_api_answers_400_for_an_unknown_customer_and_502_for_a_store_failure(
    api: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    client, _ = stubbed(batch_answer({}), ["nobody"])
    monkeypatch.setattr(api, "featurestore", lambda: client)
    monkeypatch.setattr(api, "runtime", lambda: FakeRuntime())
    response = api.handler(api_event('{"customer_ids": ["nobody"]}'), FakeContext())
    assert response["statusCode"] == 400 and "nobody" in json.loads(response["body"])["message"]
    client, _ = stubbed(batch_answer({"c-1": {**values(1.0), MODEL_FEATURES[0]: "x"}}), ["c-1"])
    monkeypatch.setattr(api, "featurestore", lambda: client)
    response = api.handler(api_event('{"customer_ids": ["c-1"]}'), FakeContext())
    assert response["statusCode"] == 502 and MODEL_FEATURES[0] in json.loads(response["body"])["message"]
