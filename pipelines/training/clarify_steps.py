"""The Clarify part of the training pipeline definition: checks, the bias gate, and what registration records.

What the SageMaker SDK's ``ModelStep`` (CreateModel), ``ClarifyCheckStep`` (DataBiasCheckConfig,
ModelBiasCheckConfig, ModelExplainabilityCheckConfig) and a ``ProcessingStep`` serialize to, written out
so synth stays offline:

    CreateModel          Model step: the trained artifact as a SageMaker model, for Clarify's shadow endpoint
    DataBiasCheck        ClarifyCheck DATA_BIAS on the train split (pre-training bias on the facet)
    ModelBiasCheck       ClarifyCheck MODEL_BIAS on the test split, predictions from a shadow endpoint
    ExplainabilityCheck  ClarifyCheck MODEL_EXPLAINABILITY (SHAP) on the test split
    BiasGate             Processing, steps/bias_gate.py: reads both bias reports, writes bias_gate.json
    CheckBiasGate        Condition on bias_gate.json's ``passed``: register, or BiasGateFailed (Fail) whose
                         message is the gate's ``reason`` (which metric crossed which threshold)

The ClarifyCheck steps run with FailOnViolation false: they compare against the last approved version's
baseline, which the first version does not have; the thresholds a team chooses are the BiasGate's job.
Each check registers its result as the new baseline, and RegisterModel records the reports
(ModelMetrics.Bias / Explainability) and the baselines (DriftCheckBaselines.Bias / Explainability) that the
promotion function hands to the endpoint's model-bias and explainability monitoring schedules.

The analysis configs are files uploaded at deploy time (CDK assets): SageMaker Pipelines puts the model
name from the step's ``ModelName`` into the config's ``predictor`` at run time, as the SDK relies on.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

__all__ = [
    "BIAS_GATE_FILE",
    "BIAS_GATE_STEP",
    "CHECK_BIAS_GATE_STEP",
    "CREATE_MODEL_STEP",
    "DATA_BIAS_STEP",
    "EXPLAINABILITY_STEP",
    "GATE_FAILED_STEP",
    "MODEL_BIAS_STEP",
    "ClarifyChecks",
]

CREATE_MODEL_STEP = "CreateModel"
DATA_BIAS_STEP = "DataBiasCheck"
MODEL_BIAS_STEP = "ModelBiasCheck"
EXPLAINABILITY_STEP = "ExplainabilityCheck"
BIAS_GATE_STEP = "BiasGate"
CHECK_BIAS_GATE_STEP = "CheckBiasGate"
GATE_FAILED_STEP = "BiasGateFailed"
BIAS_GATE_PROPERTY_FILE = "BiasGateReport"
BIAS_GATE_OUTPUT = "gate"
BIAS_GATE_FILE = "bias_gate.json"
# The analysis configs the monitoring schedules need; the BiasGate step copies them into its output.
MONITORED_CONFIGS = ("model_bias", "explainability")

# SageMakerClarifyProcessor's container paths and names (sagemaker.clarify).
CLARIFY_CONFIG_INPUT = "/opt/ml/processing/input/config"
CLARIFY_DATA_INPUT = "/opt/ml/processing/input/data"
CLARIFY_OUTPUT = "/opt/ml/processing/output"
CLARIFY_RESULT_OUTPUT = "analysis_result"
CHECK_TYPES = {DATA_BIAS_STEP: "DATA_BIAS", MODEL_BIAS_STEP: "MODEL_BIAS", EXPLAINABILITY_STEP: "MODEL_EXPLAINABILITY"}

Json = dict[str, Any]


@dataclass(frozen=True)
class ClarifyChecks:
    """What the definition needs to add the Clarify checks and the bias gate.

    ``analysis_config_uris``: S3 URIs of the three analysis_config.json files, keyed data_bias, model_bias,
    explainability (from ``pipelines.training.clarify.analysis_config``). ``gates``: metric -> threshold.
    ``facet``: the model input column the reports are keyed by. ``bias_gate_script``: the uploaded
    ``steps/bias_gate.py`` (a ``definition.StepScript``).
    """

    image_uri: str
    analysis_config_uris: Mapping[str, str]
    bias_gate_script: Any
    facet: str
    gates: Mapping[str, float]

    def __post_init__(self) -> None:
        missing = {"data_bias", "model_bias", "explainability"} - set(self.analysis_config_uris)
        if missing:
            raise ValueError(f"ClarifyChecks.analysis_config_uris lacks {', '.join(sorted(missing))}")
        if not self.facet:
            raise ValueError("ClarifyChecks.facet must name the facet column")

    def gates_argument(self) -> str:
        return ",".join(f"{code}={threshold:g}" for code, threshold in self.gates.items())


def create_model_step(*, role_arn: str, image_uri: str, model_data: Json) -> Json:
    # The CreateModel request of ModelStep(step_args=model.create()), ModelName left to SageMaker Pipelines.
    return {
        "Name": CREATE_MODEL_STEP,
        "Type": "Model",
        "Description": "The trained model as a SageMaker model, for Clarify's shadow endpoint.",
        "Arguments": {
            "ExecutionRoleArn": role_arn,
            "PrimaryContainer": {"Image": image_uri, "ModelDataUrl": model_data},
            "EnableNetworkIsolation": True,
        },
    }


def clarify_check_step(
    name: str,
    *,
    checks: ClarifyChecks,
    config_key: str,
    dataset_uri: Json,
    output_uri: Json,
    model_package_group_name: str,
    resources: Json,
    role_arn: str,
    kms_key_arn: str,
    max_runtime_seconds: int,
    processing_input: Callable[[str, Any, str], Json],
) -> Json:
    step: Json = {
        "Name": name,
        "Type": "ClarifyCheck",
        "Description": {
            DATA_BIAS_STEP: "Clarify pre-training bias of the train split on the configured facet.",
            MODEL_BIAS_STEP: "Clarify post-training bias of the model's test-split predictions on the facet.",
            EXPLAINABILITY_STEP: "Clarify SHAP feature attributions of the model on the test split.",
        }[name],
        "Arguments": {
            "ProcessingResources": resources,
            "AppSpecification": {"ImageUri": checks.image_uri},
            "RoleArn": role_arn,
            "ProcessingInputs": [
                processing_input("analysis_config", checks.analysis_config_uris[config_key], CLARIFY_CONFIG_INPUT),
                processing_input("dataset", dataset_uri, CLARIFY_DATA_INPUT),
            ],
            "ProcessingOutputConfig": {
                "Outputs": [
                    {
                        "OutputName": CLARIFY_RESULT_OUTPUT,
                        "AppManaged": False,
                        "S3Output": {"S3Uri": output_uri, "LocalPath": CLARIFY_OUTPUT, "S3UploadMode": "EndOfJob"},
                    }
                ],
                "KmsKeyId": kms_key_arn,
            },
            "StoppingCondition": {"MaxRuntimeInSeconds": max_runtime_seconds},
            # The model checks create and call a shadow endpoint through the SageMaker API: no network isolation.
            "NetworkConfig": {
                "EnableNetworkIsolation": name == DATA_BIAS_STEP,
                "EnableInterContainerTrafficEncryption": True,
            },
        },
        "CheckType": CHECK_TYPES[name],
        "ModelPackageGroupName": model_package_group_name,
        "SkipCheck": False,
        "FailOnViolation": False,
        "RegisterNewBaseline": True,
    }
    if name != DATA_BIAS_STEP:
        step["ModelName"] = {"Get": f"Steps.{CREATE_MODEL_STEP}.ModelName"}
    return step


def check_report(step: str) -> Json:
    """The analysis.json a ClarifyCheck step computed (its CalculatedBaselineConstraints)."""
    return {"Get": f"Steps.{step}.CalculatedBaselineConstraints"}


def check_baseline(step: str) -> Json:
    return {"Get": f"Steps.{step}.BaselineUsedForDriftCheckConstraints"}


def gate_condition_step(*, if_steps: list[Json]) -> Json:
    verdict = {"Get": f"Steps.{BIAS_GATE_STEP}.PropertyFiles.{BIAS_GATE_PROPERTY_FILE}"}
    return {
        "Name": CHECK_BIAS_GATE_STEP,
        "Type": "Condition",
        "Description": "Register the model only if every gated Clarify bias metric is within its threshold.",
        "Arguments": {
            "Conditions": [
                {
                    "Type": "Equals",
                    "LeftValue": {"Std:JsonGet": {"PropertyFile": verdict, "Path": "passed"}},
                    "RightValue": True,
                }
            ],
            "IfSteps": if_steps,
            "ElseSteps": [
                {
                    "Name": GATE_FAILED_STEP,
                    "Type": "Fail",
                    "Description": "Stops the execution as failed when a bias metric is beyond its threshold.",
                    "Arguments": {"ErrorMessage": {"Std:JsonGet": {"PropertyFile": verdict, "Path": "reason"}}},
                }
            ],
        },
    }


def register_additions(checks: ClarifyChecks) -> tuple[Json, Json]:
    """(ModelMetrics additions, DriftCheckBaselines additions) of the RegisterModel request."""

    def source(uri: Any) -> Json:
        return {"ContentType": "application/json", "S3Uri": uri}

    metrics = {
        "Bias": {
            "PreTrainingReport": source(check_report(DATA_BIAS_STEP)),
            "PostTrainingReport": source(check_report(MODEL_BIAS_STEP)),
        },
        "Explainability": {"Report": source(check_report(EXPLAINABILITY_STEP))},
    }

    def copied_config(kind: str) -> Json:
        gate_output = {
            "Get": f"Steps.{BIAS_GATE_STEP}.ProcessingOutputConfig.Outputs['{BIAS_GATE_OUTPUT}'].S3Output.S3Uri"
        }
        return {"Std:Join": {"On": "/", "Values": [gate_output, f"{kind}_analysis_config.json"]}}

    baselines = {
        "Bias": {
            "ConfigFile": source(copied_config("model_bias")),
            "PreTrainingConstraints": source(check_baseline(DATA_BIAS_STEP)),
            "PostTrainingConstraints": source(check_baseline(MODEL_BIAS_STEP)),
        },
        "Explainability": {
            "ConfigFile": source(copied_config("explainability")),
            "Constraints": source(check_baseline(EXPLAINABILITY_STEP)),
        },
    }
    return metrics, baselines
