"""SageMaker Clarify for the churn training pipeline: the bias metrics, the facet, and the analysis configs.

One place for what Clarify is asked to compute, so the pipeline definition (synth time), the config
validation (``stacks/clarify_config.py``), the bias-gate step script and the local runner's stand-in all
agree:

- ``model_feature_names``: the model's input columns in order, derived from the churn dataset's schema
  (``pipelines/glue/churn_transform.py``) exactly as ``steps/preprocess.py`` builds them (a unit test
  holds the two equal). The preprocess step's splits are headerless CSVs, label first, so the Clarify
  analysis config names the columns with ``headers``.
- ``facet_column``: a configured facet (a raw dataset column and a category, or a numeric column and a
  threshold) mapped to the model input column Clarify looks at: ``contract`` = ``month-to-month`` becomes the
  one-hot column ``contract_month_to_month`` with value 1; ``tenure_months`` > 12 stays ``tenure_months`` with
  threshold 12 (Clarify's facet is then the rows above the threshold).
- ``METRICS``: the Clarify bias metrics the gate may use, with their ranges (SageMaker Clarify documentation,
  "Pre-training bias metrics" and "Post-training data and model bias metrics").
- ``analysis_config``: the analysis configuration JSON a Clarify processing job reads from
  ``/opt/ml/processing/input/config/analysis_config.json`` (what the SageMaker SDK's ClarifyCheckStep
  uploads; the model name is left out because SageMaker Pipelines fills it in from the step's ``ModelName``).

No AWS or CDK import here: this module is plain data and arithmetic.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from types import MappingProxyType
from typing import Any

from pipelines.glue.churn_transform import CONTRACTS, PAYMENT_METHODS

__all__ = [
    "CATEGORICAL_COLUMNS",
    "LABEL_COLUMN",
    "METRICS",
    "NUMERIC_COLUMNS",
    "SHADOW_ENDPOINT_PREFIX",
    "BiasMetric",
    "FacetColumn",
    "analysis_config",
    "facet_column",
    "facet_columns",
    "model_feature_names",
]

LABEL_COLUMN = "churned"
# Clarify names its shadow endpoints and endpoint configs with this prefix; the pipeline role's endpoint
# permissions are scoped to it.
SHADOW_ENDPOINT_PREFIX = "sm-clarify"
# The raw columns that reach the model (customer_id and signup_date do not), as preprocess reads them.
NUMERIC_COLUMNS: tuple[str, ...] = ("tenure_months", "monthly_charges", "total_charges", "support_calls")
CATEGORICAL_COLUMNS: Mapping[str, tuple[str, ...]] = MappingProxyType(
    {"contract": CONTRACTS, "payment_method": PAYMENT_METHODS}
)
_DERIVED_COLUMNS = ("charges_per_tenure_month", "support_calls_per_tenure_month")


def model_feature_names() -> tuple[str, ...]:
    """The model's input columns, in the order preprocess writes them after the label."""
    one_hot = tuple(
        f"{column}_{value.replace('-', '_')}" for column, values in CATEGORICAL_COLUMNS.items() for value in values
    )
    return (*NUMERIC_COLUMNS, *_DERIVED_COLUMNS, *one_hot)


def facet_columns() -> tuple[str, ...]:
    """The dataset columns a facet may name: those the model sees, numeric or categorical."""
    return (*NUMERIC_COLUMNS, *CATEGORICAL_COLUMNS)


@dataclass(frozen=True)
class FacetColumn:
    """The facet as Clarify sees it: a model input column and the value (or threshold) selecting the facet."""

    name: str
    value_or_threshold: float
    # True for a one-hot column (facet = rows equal to the value), False for a threshold (rows above it).
    categorical: bool


def facet_column(facet: str, value_or_threshold: str) -> FacetColumn:
    """Map a configured facet to the model input column; ValueError names what is wrong."""
    if facet in CATEGORICAL_COLUMNS:
        values = CATEGORICAL_COLUMNS[facet]
        if value_or_threshold not in values:
            raise ValueError(
                f"{value_or_threshold!r} is not a value of the {facet} column (one of: {', '.join(values)})"
            )
        return FacetColumn(f"{facet}_{value_or_threshold.replace('-', '_')}", 1.0, categorical=True)
    if facet in NUMERIC_COLUMNS:
        try:
            threshold = float(value_or_threshold)
        except ValueError:
            threshold = math.nan
        if not math.isfinite(threshold):
            raise ValueError(f"{value_or_threshold!r} is not a finite number, which a threshold on {facet} must be")
        return FacetColumn(facet, threshold, categorical=False)
    raise ValueError(
        f"{facet!r} is not a column of the churn dataset the model sees (one of: {', '.join(facet_columns())})"
    )


@dataclass(frozen=True)
class BiasMetric:
    """A Clarify bias metric: when it is computed and the range of its values."""

    code: str
    stage: str  # "pre_training" (data) or "post_training" (model predictions)
    low: float
    high: float
    description: str


METRICS: Mapping[str, BiasMetric] = MappingProxyType(
    {
        metric.code: metric
        for metric in (
            BiasMetric("CI", "pre_training", -1.0, 1.0, "class imbalance"),
            BiasMetric("DPL", "pre_training", -1.0, 1.0, "difference in proportions of labels"),
            BiasMetric("KL", "pre_training", 0.0, math.inf, "Kullback-Leibler divergence"),
            BiasMetric("JS", "pre_training", 0.0, math.log(2), "Jensen-Shannon divergence"),
            BiasMetric("DPPL", "post_training", -1.0, 1.0, "difference in positive proportions in predicted labels"),
            BiasMetric("AD", "post_training", -1.0, 1.0, "accuracy difference"),
            BiasMetric("RD", "post_training", -1.0, 1.0, "recall difference"),
        )
    }
)


def metrics_for(stage: str, codes: Sequence[str]) -> list[str]:
    """The codes of ``codes`` computed at ``stage``, in METRICS order."""
    return [code for code in METRICS if code in codes and METRICS[code].stage == stage]


def analysis_config(
    *,
    kind: str,
    facet: FacetColumn,
    positive_label: int,
    instance_type: str,
    shap_samples: int = 100,
    probability_threshold: float = 0.5,
) -> dict[str, Any]:
    """The analysis_config.json of one Clarify job: ``kind`` is data_bias, model_bias or explainability."""
    features = list(model_feature_names())
    config: dict[str, Any] = {"dataset_type": "text/csv"}
    if kind == "explainability":
        # Explainability reads the same headerless test split; the label column is named so Clarify drops it
        # from what it sends to the model.
        config["headers"] = [LABEL_COLUMN, *features]
        config["label"] = LABEL_COLUMN
        config["methods"] = {
            "shap": {
                # No baseline given: Clarify computes one with K-means over the dataset.
                "num_samples": shap_samples,
                "agg_method": "mean_abs",
                "use_logit": False,
                "save_local_shap_values": False,
            },
            "report": {"name": "report", "title": "Analysis Report"},
        }
    elif kind in {"data_bias", "model_bias"}:
        config["headers"] = [LABEL_COLUMN, *features]
        config["label"] = LABEL_COLUMN
        config["label_values_or_threshold"] = [positive_label]
        config["facet"] = [{"name_or_index": facet.name, "value_or_threshold": [facet.value_or_threshold]}]
        stage = "pre_training" if kind == "data_bias" else "post_training"
        config["methods"] = {
            f"{stage}_bias": {"methods": metrics_for(stage, list(METRICS))},
            "report": {"name": "report", "title": "Analysis Report"},
        }
        if kind == "model_bias":
            # The XGBoost endpoint answers one probability per row; at or above this it is the positive label.
            config["probability_threshold"] = probability_threshold
    else:
        raise ValueError(f"kind must be data_bias, model_bias or explainability, got {kind!r}")
    if kind != "data_bias":
        config["predictor"] = {
            "instance_type": instance_type,
            "initial_instance_count": 1,
            "content_type": "text/csv",
            "accept_type": "text/csv",
            "endpoint_name_prefix": SHADOW_ENDPOINT_PREFIX,
        }
    return config
