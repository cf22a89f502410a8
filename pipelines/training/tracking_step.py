"""The training pipeline's LogExperimentRun step: one MLflow run per execution (experiment = pipeline).

The processing and training jobs run with network isolation and Train is the built-in XGBoost algorithm, so
no job can reach a tracking server. A Lambda step can: SageMaker Pipelines invokes the function (with the
pipeline's role) after Evaluate and, with Clarify checks, after BiasGate; it logs the hyperparameters, the
test metrics from evaluation.json, the bias metrics and verdict from bias_gate.json, the training data (with
a digest of its objects) and the code version, and returns the run id. RegisterModel records it on the model
package as ``mlflow_run_id`` (CustomerMetadataProperties), next to ``mlflow_app_arn``.

What the SDK's ``LambdaStep(outputs=[LambdaOutput("run_id", LambdaOutputTypeEnum.String)])`` serializes to.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

__all__ = ["RUN_ID_OUTPUT", "TRACKING_STEP", "ExperimentTracking", "run_id_reference", "tracking_step"]

TRACKING_STEP = "LogExperimentRun"
RUN_ID_OUTPUT = "run_id"

Json = dict[str, Any]


@dataclass(frozen=True)
class ExperimentTracking:
    """``function_arn``: the deployed lambdas/experiment_tracking function; ``app_arn``: its MLflow app."""

    function_arn: str
    app_arn: str


def run_id_reference() -> Json:
    return {"Get": f"Steps.{TRACKING_STEP}.OutputParameters['{RUN_ID_OUTPUT}']"}


def tracking_step(
    tracking: ExperimentTracking,
    *,
    pipeline_name: Json,
    evaluation_uri: Json,
    bias_gate_uri: Json | str,
    training_data_uri: Json,
    model_artifacts_uri: Json,
    auc_threshold: Json,
    code_version: str,
    hyperparameters: Mapping[str, str],
) -> Json:
    return {
        "Name": TRACKING_STEP,
        "Type": "Lambda",
        "Description": "Logs this execution as an MLflow run (params, test and bias metrics, data and code versions).",
        "Arguments": {
            "experiment_name": pipeline_name,
            "execution_arn": {"Get": "Execution.PipelineExecutionArn"},
            "evaluation_uri": evaluation_uri,
            "bias_gate_uri": bias_gate_uri,
            "training_data_uri": training_data_uri,
            "model_artifacts_uri": model_artifacts_uri,
            "code_version": code_version,
            "hyperparameters": json.dumps(dict(hyperparameters), sort_keys=True),
            "auc_threshold": auc_threshold,
        },
        "FunctionArn": tracking.function_arn,
        "OutputParameters": [{"OutputName": RUN_ID_OUTPUT, "OutputType": "String"}],
    }
