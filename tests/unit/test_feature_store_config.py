"""featureStore in cdk.json: bad values stop synth with one sentence naming the environment and the key."""

from __future__ import annotations

import copy
from typing import Any, NoReturn

import pytest

from pipelines.glue.churn_features import MODEL_FEATURES
from stacks.config import ConfigError, load_environment
from stacks.feature_store_config import _name_problem, feature_group_names
from tests.example import EXAMPLE_CONTEXT

CONTEXT = EXAMPLE_CONTEXT  # the pinned example (tests/fixtures/cdk.json): these tests name its environments


def _load(env: str, **feature_store: Any) -> Any:
    context = copy.deepcopy(CONTEXT)
    entry = context["mlops:environments"][env]
    merged = {**context["mlops:defaults"]["featureStore"], **entry.get("featureStore", {}), **feature_store}
    entry["featureStore"] = merged
    return load_environment(context, env)


@pytest.mark.parametrize(
    ("settings", "message"),
    [
        (
            {"skewFeatures": ["tenure_months", "tenure"]},
            "environment 'dev', key 'featureStore.skewFeatures[1]': 'tenure' is not a churn feature (known: ",
        ),
        (
            {"skewFeatures": ["tenure_months", "tenure_months"]},
            "key 'featureStore.skewFeatures[1]': 'tenure_months' is listed twice",
        ),
        ({"skewSampleSize": 0}, "key 'featureStore.skewSampleSize': 0 is outside 1-100"),
        ({"skewSampleSize": 101}, "key 'featureStore.skewSampleSize': 101 is outside 1-100"),
        ({"maxSkewPercent": 100.5}, "key 'featureStore.maxSkewPercent': 100.5 is not a percentage (0-100)"),
        ({"maxSkewPercent": -1}, "key 'featureStore.maxSkewPercent': -1.0 is not a percentage"),
        (
            {"skewCheckSchedule": "every hour"},
            "key 'featureStore.skewCheckSchedule': 'every hour' is not an EventBridge",
        ),
        ({"skewCheckSchedule": "rate(0 hours)"}, "key 'featureStore.skewCheckSchedule'"),
        ({"skewCheckSchedule": "rate(1 hour)\n"}, "key 'featureStore.skewCheckSchedule'"),
        ({"onlineStore": "yes"}, "key 'featureStore.onlineStore': expected true or false"),
        ({"unknownKey": 1}, "unknown key(s) 'featureStore.unknownKey'"),
    ],
)
def test_bad_feature_store_settings_name_environment_and_key(settings, message):
    with pytest.raises(ConfigError) as error:
        _load("dev", **settings)
    assert message in str(error.value)
    assert str(error.value).count("\n") == 0


def test_levels_that_serve_need_the_online_store():
    assert load_environment(CONTEXT, "dev").max_level >= 2  # the fixture's premise
    with pytest.raises(ConfigError, match=r"environment 'dev', key 'featureStore\.onlineStore': Level 2 serves"):
        _load("dev", onlineStore=False)


def test_skew_features_may_name_any_model_feature():
    config = _load("dev", skewFeatures=list(MODEL_FEATURES[:2]))
    assert config.feature_store.skew_features == MODEL_FEATURES[:2]


def test_a_feature_group_name_over_the_limit_is_named():
    # The longest names config allows (prefix 10, environment 16, team 20 characters) stay within 64; the check
    # still guards the limit should any of those bounds grow.
    problem = _name_problem("p" * 40 + "-mlops-production-team")
    assert problem is not None and "over the limit of 64" in problem
    assert all(len(name) <= 64 for name in feature_group_names("p" * 10 + "-" + "e" * 16 + "-" + "t" * 20).values())


def test_the_check_reports_through_fail_with_the_key():
    from stacks.feature_store_config import check_feature_store

    config = _load("dev")
    calls: list[tuple[str, str]] = []

    def fail(key: str, message: str) -> NoReturn:
        calls.append((key, message))
        raise ConfigError(message)

    long_name = config.__class__(**{**config.__dict__, "name": "x" * 60})
    with pytest.raises(ConfigError):
        check_feature_store(long_name, fail)
    assert calls[0][0] == "featureStore" and "use a shorter name prefix or environment name" in calls[0][1]
