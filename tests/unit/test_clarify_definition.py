"""The Clarify checks and the bias gate in the synth-time pipeline definition, and their analysis configs."""

from __future__ import annotations

import json
from typing import Any

import pytest

from pipelines.training import clarify, clarify_steps, images
from pipelines.training.clarify_steps import ClarifyChecks
from pipelines.training.definition import StepScript
from tests.unit.test_training_definition import build, gets, steps_by_name

CLARIFY_IMAGE = images.clarify_image_uri("eu-west-1")
CHECKS = ClarifyChecks(
    image_uri=CLARIFY_IMAGE,
    analysis_config_uris={
        "data_bias": "s3://${Token[TOKEN.201]}/a1.json",
        "model_bias": "s3://${Token[TOKEN.202]}/a2.json",
        "explainability": "s3://${Token[TOKEN.203]}/a3.json",
    },
    bias_gate_script=StepScript(s3_uri="s3://${Token[TOKEN.204]}/77aa.py", file_name="77aa.py"),
    facet="contract_month_to_month",
    gates={"CI": 0.9, "DPPL": 0.4},
)


@pytest.fixture(scope="module")
def steps() -> dict[str, Any]:
    return steps_by_name(build(clarify=CHECKS))


def test_clarify_image_is_the_regions_clarify_registry():
    assert CLARIFY_IMAGE == "131013547314.dkr.ecr.eu-west-1.amazonaws.com/sagemaker-clarify-processing:1.0"
    assert images.clarify_image_uri("us-east-1").startswith("205585389593.dkr.ecr.us-east-1.amazonaws.com/")
    with pytest.raises(ValueError, match="no SageMaker image registry is known for region 'mars-1'"):
        images.clarify_image_uri("mars-1")


def test_without_clarify_the_pipeline_has_no_clarify_steps():
    names = set(steps_by_name(build()))
    assert not names & {"CreateModel", "DataBiasCheck", "ModelBiasCheck", "ExplainabilityCheck", "BiasGate"}


def test_three_clarify_checks_with_their_types_datasets_and_model(steps):
    expected = {"DataBiasCheck": ("DATA_BIAS", "train"), "ModelBiasCheck": ("MODEL_BIAS", "test")}
    expected["ExplainabilityCheck"] = ("MODEL_EXPLAINABILITY", "test")
    for name, (check_type, split) in expected.items():
        step = steps[name]
        assert step["Type"] == "ClarifyCheck"
        assert step["CheckType"] == check_type
        assert step["FailOnViolation"] is False and step["RegisterNewBaseline"] is True
        assert step["Arguments"]["AppSpecification"] == {"ImageUri": CLARIFY_IMAGE}
        inputs = {i["InputName"]: i["S3Input"] for i in step["Arguments"]["ProcessingInputs"]}
        assert inputs["analysis_config"]["LocalPath"] == "/opt/ml/processing/input/config"
        assert inputs["dataset"]["LocalPath"] == "/opt/ml/processing/input/data"
        assert f"Outputs['{split}']" in inputs["dataset"]["S3Uri"]["Get"]
        (output,) = step["Arguments"]["ProcessingOutputConfig"]["Outputs"]
        assert output["OutputName"] == "analysis_result"
        assert output["S3Output"]["LocalPath"] == "/opt/ml/processing/output"
    assert "ModelName" not in steps["DataBiasCheck"]
    for name in ("ModelBiasCheck", "ExplainabilityCheck"):
        assert steps[name]["ModelName"] == {"Get": "Steps.CreateModel.ModelName"}
        # The shadow endpoint is created through the SageMaker API from inside the job.
        assert steps[name]["Arguments"]["NetworkConfig"]["EnableNetworkIsolation"] is False
    model = steps["CreateModel"]
    assert model["Type"] == "Model"
    model_data = model["Arguments"]["PrimaryContainer"]["ModelDataUrl"]
    assert model_data == {"Get": "Steps.Train.ModelArtifacts.S3ModelArtifacts"}


def test_the_gate_reads_both_bias_reports_and_stops_registration_with_its_reason(steps):
    gate = steps["BiasGate"]
    inputs = {i["InputName"]: i["S3Input"]["S3Uri"] for i in gate["Arguments"]["ProcessingInputs"]}
    assert inputs["data_bias"] == {"Get": "Steps.DataBiasCheck.CalculatedBaselineConstraints"}
    assert inputs["model_bias"] == {"Get": "Steps.ModelBiasCheck.CalculatedBaselineConstraints"}
    app = gate["Arguments"]["AppSpecification"]
    assert app["ContainerEntrypoint"] == ["python3", "/opt/ml/processing/input/code/77aa.py"]
    assert app["ContainerArguments"] == ["--gates", "CI=0.9,DPPL=0.4", "--facet", "contract_month_to_month"]
    auc = steps["CheckAucThreshold"]["Arguments"]
    assert [s["Name"] for s in auc["IfSteps"]] == ["CheckBiasGate"]
    bias = steps["CheckBiasGate"]["Arguments"]
    assert [s["Name"] for s in bias["IfSteps"]] == ["RegisterModel"]
    (failed,) = bias["ElseSteps"]
    assert failed["Type"] == "Fail"
    assert failed["Arguments"]["ErrorMessage"]["Std:JsonGet"]["Path"] == "reason"
    (condition,) = bias["Conditions"]
    assert condition["Type"] == "Equals" and condition["RightValue"] is True
    assert condition["LeftValue"]["Std:JsonGet"]["Path"] == "passed"


def test_registration_records_the_reports_and_the_baselines(steps):
    arguments = steps["RegisterModel"]["Arguments"]
    metrics, baselines = arguments["ModelMetrics"], arguments["DriftCheckBaselines"]
    report = clarify_steps.check_report
    assert metrics["Bias"]["PreTrainingReport"]["S3Uri"] == report("DataBiasCheck")
    assert metrics["Bias"]["PostTrainingReport"]["S3Uri"] == report("ModelBiasCheck")
    assert metrics["Explainability"]["Report"]["S3Uri"] == report("ExplainabilityCheck")
    assert report("DataBiasCheck") == {"Get": "Steps.DataBiasCheck.CalculatedBaselineConstraints"}
    assert "ModelQuality" in metrics and "ModelDataQuality" in baselines
    # The configs as the BiasGate copied them next to the run's artifacts (what the endpoint's role can read).
    gate_output = {"Get": "Steps.BiasGate.ProcessingOutputConfig.Outputs['gate'].S3Output.S3Uri"}
    assert baselines["Bias"]["ConfigFile"]["S3Uri"] == {
        "Std:Join": {"On": "/", "Values": [gate_output, "model_bias_analysis_config.json"]}
    }
    assert baselines["Bias"]["PostTrainingConstraints"]["S3Uri"] == {
        "Get": "Steps.ModelBiasCheck.BaselineUsedForDriftCheckConstraints"
    }
    assert baselines["Explainability"]["ConfigFile"]["S3Uri"] == {
        "Std:Join": {"On": "/", "Values": [gate_output, "explainability_analysis_config.json"]}
    }
    gate_inputs = {i["InputName"]: i["S3Input"] for i in steps["BiasGate"]["Arguments"]["ProcessingInputs"]}
    assert gate_inputs["model_bias_config"]["S3Uri"] == CHECKS.analysis_config_uris["model_bias"]
    assert gate_inputs["explainability_config"]["LocalPath"] == "/opt/ml/processing/input/configs/explainability"


def test_every_reference_points_to_a_step_listed_before_it():
    # The local runner executes in list order; SageMaker orders by references. Both agree only if every
    # step a Get names comes earlier in the list.
    pipeline = build(clarify=CHECKS)
    seen: set[str] = set()

    def visit(steps: list[dict[str, Any]]) -> None:
        for step in steps:
            for path in gets(step):
                if path.startswith("Steps."):
                    assert path.split(".")[1] in seen, f"{step['Name']} reads {path} before it runs"
            seen.add(step["Name"])
            if step["Type"] == "Condition":
                visit(step["Arguments"]["IfSteps"])
                visit(step["Arguments"]["ElseSteps"])

    visit(pipeline["Steps"])


def test_analysis_configs():
    facet = clarify.facet_column("contract", "month-to-month")
    data = clarify.analysis_config(kind="data_bias", facet=facet, positive_label=1, instance_type="ml.m5.large")
    assert data["headers"][0] == "churned" and data["headers"][1:] == list(clarify.model_feature_names())
    assert data["facet"] == [{"name_or_index": "contract_month_to_month", "value_or_threshold": [1.0]}]
    assert data["methods"]["pre_training_bias"]["methods"] == ["CI", "DPL", "KL", "JS"]
    assert "predictor" not in data
    model = clarify.analysis_config(kind="model_bias", facet=facet, positive_label=1, instance_type="ml.m5.large")
    assert model["methods"]["post_training_bias"]["methods"] == ["DPPL", "AD", "RD"]
    assert model["predictor"]["endpoint_name_prefix"] == "sm-clarify"
    assert model["probability_threshold"] == 0.5
    shap = clarify.analysis_config(kind="explainability", facet=facet, positive_label=1, instance_type="ml.m5.large")
    assert shap["methods"]["shap"]["agg_method"] == "mean_abs"
    json.dumps(shap)  # what the asset holds must be plain JSON
    with pytest.raises(ValueError, match="kind must be"):
        clarify.analysis_config(kind="fairness", facet=facet, positive_label=1, instance_type="ml.m5.large")


def test_checks_need_all_three_configs():
    with pytest.raises(ValueError, match="lacks explainability"):
        ClarifyChecks(
            image_uri=CLARIFY_IMAGE,
            analysis_config_uris={"data_bias": "s3://b/1", "model_bias": "s3://b/2"},
            bias_gate_script=CHECKS.bias_gate_script,
            facet="f",
            gates={},
        )
    assert clarify_steps.ClarifyChecks is ClarifyChecks
