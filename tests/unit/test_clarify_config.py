"""training.clarify in cdk.json: the facet is checked against the churn dataset, thresholds against the metric."""

from __future__ import annotations

import copy
from typing import Any

import pytest

from pipelines.glue.churn_features import MODEL_FEATURES
from pipelines.training.clarify import facet_column, model_feature_names
from pipelines.training.steps import preprocess
from stacks.config import ConfigError, load_environment
from tests.example import EXAMPLE_CONTEXT

CONTEXT = EXAMPLE_CONTEXT  # the pinned example (tests/fixtures/cdk.json): these tests name its environments


def load_with(clarify: dict[str, Any], env: str = "preprod"):
    context = copy.deepcopy(CONTEXT)
    entry = context["mlops:environments"][env]
    entry["training"] = {**entry.get("training", {}), "clarify": clarify}
    return load_environment(context, env)


def valid(**changes: Any) -> dict[str, Any]:
    clarify = {
        "enabled": True,
        "facet": "payment_method",
        "facetValue": "electronic-check",
        "positiveLabel": 1,
        "gates": [{"metric": "DPL", "threshold": 0.5}],
    }
    clarify.update(changes)
    return clarify


def test_a_valid_clarify_block_loads():
    clarify = load_with(valid()).training.clarify
    assert clarify.facet == "payment_method"
    assert clarify.gates[0].metric == "DPL"
    assert clarify.gates[0].threshold == 0.5


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        (
            {"facet": "gender"},
            "environment 'preprod', key 'training.clarify.facet': 'gender' is not a column of the churn dataset",
        ),
        # customer_id is in the dataset but never reaches the model: Clarify could not measure the model on it.
        ({"facet": "customer_id"}, "key 'training.clarify.facet': 'customer_id' is not a column"),
        (
            {"facetValue": "cheque"},
            "key 'training.clarify.facetValue': 'cheque' is not a value of the payment_method column",
        ),
        (
            {"facet": "tenure_months", "facetValue": "a year"},
            "key 'training.clarify.facetValue': 'a year' is not a finite number",
        ),
        ({"facet": "tenure_months", "facetValue": "nan"}, "'nan' is not a finite number"),
        ({"positiveLabel": 2}, "key 'training.clarify.positiveLabel': 2 is not a value of the churned label"),
        (
            {"gates": [{"metric": "DPL", "threshold": 1.5}]},
            "key 'training.clarify.gates[0].threshold': 1.5 is outside the range of DPL",
        ),
        ({"gates": [{"metric": "JS", "threshold": 0.9}]}, "0.9 is outside the range of JS"),
        ({"gates": [{"metric": "CI", "threshold": 0}]}, "key 'training.clarify.gates[0].threshold': 0 is outside"),
        ({"gates": [{"metric": "CI", "threshold": -0.2}]}, "-0.2 is outside the range of CI"),
        ({"gates": [{"metric": "XYZ", "threshold": 0.1}]}, "key 'training.clarify.gates[0].metric': 'XYZ' is not"),
        (
            {"gates": [{"metric": "CI", "threshold": 0.1}, {"metric": "CI", "threshold": 0.2}]},
            "key 'training.clarify.gates[1].metric': CI is gated twice",
        ),
        ({"gates": [{"metric": "CI", "threshold": "high"}]}, "key 'training.clarify.gates[0].threshold': expected"),
        ({"colour": "red"}, "unknown key(s) 'training.clarify.colour'"),
    ],
)
def test_bad_clarify_config_names_environment_and_key(changes, message):
    with pytest.raises(ConfigError) as error:
        load_with(valid(**changes))
    assert message in str(error.value)
    # One sentence: no line breaks for a terminal or a CI log to split.
    assert "\n" not in str(error.value)


def test_kl_has_no_upper_bound_so_any_positive_threshold_is_accepted():
    assert load_with(valid(gates=[{"metric": "KL", "threshold": 12.0}])).training.clarify.gates[0].threshold == 12.0


def test_facet_mapping_to_the_model_input_column():
    categorical = facet_column("contract", "month-to-month")
    assert (categorical.name, categorical.value_or_threshold, categorical.categorical) == (
        "contract_month_to_month",
        1.0,
        True,
    )
    numeric = facet_column("tenure_months", "12")
    assert (numeric.name, numeric.value_or_threshold, numeric.categorical) == ("tenure_months", 12.0, False)
    assert categorical.name in model_feature_names()


def test_feature_names_are_the_columns_preprocess_writes():
    # Clarify's headers name the columns of the splits: the model features the preprocess step reads from the
    # offline store, in the order the ETL wrote them (churn_features.MODEL_FEATURES).
    assert model_feature_names() == preprocess.FEATURE_COLUMNS == MODEL_FEATURES
