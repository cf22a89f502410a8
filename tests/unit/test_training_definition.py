"""The training pipeline's synth-time definition and the offline image table."""

from __future__ import annotations

import inspect
import json
import re
from collections.abc import Iterator
from pathlib import Path, PurePosixPath
from typing import Any

import numpy as np
import pytest

from pipelines.training import definition, images
from pipelines.training.definition import (
    AUC_JSON_PATH,
    DEFAULT_AUC_THRESHOLD,
    DEFAULT_HYPERPARAMETERS,
    OfflineStoreInput,
    StepScript,
    build_training_pipeline_definition,
)
from pipelines.training.steps import evaluate, preprocess

# What CDK hands a builder at synth time: unresolved tokens, to be embedded untouched.
ROLE = "${Token[TOKEN.101]}"
INPUT_URI = "s3://${Token[TOKEN.102]}/feature-store/mlops-dev/"
TRAINING_DATA = OfflineStoreInput(
    uri=INPUT_URI,
    features_group="mlops-dev-churn-features",
    labels_group="mlops-dev-churn-labels",
    account="${Token[AWS.AccountId.8]}",
    region="${Token[AWS.Region.9]}",
)
BUCKET = "${Token[TOKEN.103]}"
KEY = "${Token[TOKEN.104]}"
PREPROCESS_URI = "s3://${Token[TOKEN.105]}/4613d81d.py"
EVALUATE_URI = "s3://${Token[TOKEN.106]}/9f2c33aa.py"
GROUP = "${Token[TOKEN.107]}"
SKLEARN_IMAGE = images.sklearn_image_uri("eu-west-1")
XGBOOST_IMAGE = images.xgboost_image_uri("eu-west-1")
MONITOR_IMAGE = images.model_monitor_image_uri("eu-west-1")

Json = dict[str, Any]


def build(**overrides: Any) -> Json:
    arguments: dict[str, Any] = {
        "role_arn": ROLE,
        "training_data": TRAINING_DATA,
        "artifacts_bucket_name": BUCKET,
        "kms_key_arn": KEY,
        "preprocess_script": StepScript(s3_uri=PREPROCESS_URI, file_name="4613d81d.py"),
        "evaluate_script": StepScript(s3_uri=EVALUATE_URI, file_name="9f2c33aa.py"),
        "model_package_group_name": GROUP,
        "sklearn_image_uri": SKLEARN_IMAGE,
        "xgboost_image_uri": XGBOOST_IMAGE,
        "model_monitor_image_uri": MONITOR_IMAGE,
        "code_version": "1.4.0",
    }
    arguments.update(overrides)
    return build_training_pipeline_definition(**arguments)


@pytest.fixture(scope="module")
def pipeline() -> Json:
    return build()


def steps_by_name(pipeline: Json) -> dict[str, Json]:
    """Every step, including those nested in the condition's branches."""
    found: dict[str, Json] = {}

    def visit(steps: list[Json]) -> None:
        for step in steps:
            found[step["Name"]] = step
            if step["Type"] == "Condition":
                visit(step["Arguments"]["IfSteps"])
                visit(step["Arguments"]["ElseSteps"])

    visit(pipeline["Steps"])
    return found


def gets(node: Any) -> Iterator[str]:
    """Every {"Get": path} reference inside ``node``."""
    if isinstance(node, dict):
        if set(node) == {"Get"}:
            yield node["Get"]
        for value in node.values():
            yield from gets(value)
    elif isinstance(node, list):
        for item in node:
            yield from gets(item)


def referenced_steps(step: Json) -> set[str]:
    # A condition's branches are steps of their own; only its conditions are its references.
    own = {"Conditions": step["Arguments"]["Conditions"]} if step["Type"] == "Condition" else step
    return {path.split(".")[1] for path in gets(own) if path.startswith("Steps.")}


def job_steps(pipeline: Json) -> list[Json]:
    return [step for step in steps_by_name(pipeline).values() if step["Type"] in {"Processing", "Training"}]


def processing_inputs(step: Json) -> dict[str, Json]:
    return {item["InputName"]: item["S3Input"] for item in step["Arguments"]["ProcessingInputs"]}


def processing_outputs(step: Json) -> dict[str, Json]:
    return {item["OutputName"]: item["S3Output"] for item in step["Arguments"]["ProcessingOutputConfig"]["Outputs"]}


# --- shape and wiring -----------------------------------------------------------------------------------------


def test_definition_is_plain_json_with_tokens_embedded_verbatim(pipeline: Json) -> None:
    text = json.dumps(pipeline)
    assert json.loads(text) == pipeline
    assert pipeline["Version"] == "2020-12-01"
    for token in (ROLE, INPUT_URI, BUCKET, KEY, GROUP, PREPROCESS_URI, EVALUATE_URI):
        assert token in text


def test_steps_run_preprocess_baseline_train_evaluate_then_gate(pipeline: Json) -> None:
    assert [(step["Name"], step["Type"]) for step in pipeline["Steps"]] == [
        ("Preprocess", "Processing"),
        ("DataQualityBaseline", "Processing"),
        ("Train", "Training"),
        ("Evaluate", "Processing"),
        ("CheckAucThreshold", "Condition"),
    ]
    gate = pipeline["Steps"][4]["Arguments"]
    assert [(step["Name"], step["Type"]) for step in gate["IfSteps"]] == [("RegisterModel", "RegisterModel")]
    assert [(step["Name"], step["Type"]) for step in gate["ElseSteps"]] == [("AucBelowThreshold", "Fail")]


def test_data_dependencies_form_the_expected_graph(pipeline: Json) -> None:
    # SageMaker orders steps by the properties they read; no DependsOn is needed or used.
    steps = steps_by_name(pipeline)
    assert {name: referenced_steps(step) for name, step in steps.items()} == {
        "Preprocess": set(),
        "DataQualityBaseline": {"Preprocess"},
        "Train": {"Preprocess"},
        "Evaluate": {"Train", "Preprocess"},
        "CheckAucThreshold": {"Evaluate"},
        "RegisterModel": {"Train", "Evaluate", "DataQualityBaseline"},
        "AucBelowThreshold": {"Evaluate"},
    }
    assert not any("DependsOn" in step for step in steps.values())


def test_every_reference_names_something_that_exists(pipeline: Json) -> None:
    steps = steps_by_name(pipeline)
    parameters = {parameter["Name"] for parameter in pipeline["Parameters"]}
    for path in gets(pipeline):
        kind, name, *rest = path.split(".")
        if kind == "Parameters":
            assert name in parameters, path
        elif kind == "Steps":
            assert name in steps, path
            output = re.fullmatch(r"ProcessingOutputConfig\.Outputs\['(\w+)'\]\.S3Output\.S3Uri", ".".join(rest))
            if output:
                assert output.group(1) in processing_outputs(steps[name]), path
            if rest[0] == "PropertyFiles":
                assert rest[1] in {item["PropertyFileName"] for item in steps[name]["PropertyFiles"]}, path
        else:
            assert path in {"Execution.PipelineExecutionId", "Execution.PipelineExecutionArn"}, path


def test_parameters_and_their_defaults(pipeline: Json) -> None:
    assert pipeline["Parameters"] == [
        {"Name": "InputDataUri", "Type": "String", "DefaultValue": INPUT_URI},
        {"Name": "ProcessingInstanceType", "Type": "String", "DefaultValue": "ml.m5.large"},
        {"Name": "TrainingInstanceType", "Type": "String", "DefaultValue": "ml.m5.large"},
        {"Name": "AucThreshold", "Type": "Float", "DefaultValue": DEFAULT_AUC_THRESHOLD},
    ]
    overridden = build(auc_threshold=0.8, training_instance_type="ml.c5.xlarge")["Parameters"]
    assert {p["Name"]: p["DefaultValue"] for p in overridden}["AucThreshold"] == 0.8
    assert {p["Name"]: p["DefaultValue"] for p in overridden}["TrainingInstanceType"] == "ml.c5.xlarge"


# --- steps ----------------------------------------------------------------------------------------------------


def test_preprocess_reads_the_input_parameter_and_runs_the_uploaded_script(pipeline: Json) -> None:
    step = steps_by_name(pipeline)["Preprocess"]["Arguments"]
    assert step["AppSpecification"] == {
        "ImageUri": SKLEARN_IMAGE,
        "ContainerEntrypoint": ["python3", "/opt/ml/processing/input/code/4613d81d.py"],
        # The whole offline-store prefix comes in; the script reads exactly these groups of this account/region.
        "ContainerArguments": [
            "--features-group",
            "mlops-dev-churn-features",
            "--labels-group",
            "mlops-dev-churn-labels",
            "--account",
            "${Token[AWS.AccountId.8]}",
            "--region",
            "${Token[AWS.Region.9]}",
        ],
    }
    arguments = preprocess.parse_args(step["AppSpecification"]["ContainerArguments"])
    assert (arguments.features_group, arguments.labels_group) == ("mlops-dev-churn-features", "mlops-dev-churn-labels")
    inputs = processing_inputs(steps_by_name(pipeline)["Preprocess"])
    assert inputs["data"]["S3Uri"] == {"Get": "Parameters.InputDataUri"}
    assert inputs["code"]["S3Uri"] == PREPROCESS_URI
    assert inputs["code"]["LocalPath"] == "/opt/ml/processing/input/code"
    assert step["ProcessingResources"]["ClusterConfig"]["InstanceType"] == {"Get": "Parameters.ProcessingInstanceType"}


def test_container_paths_are_the_scripts_defaults(pipeline: Json) -> None:
    # The definition passes no path arguments, so each mounted path must be the script's default.
    steps = steps_by_name(pipeline)
    preprocess_defaults = vars(preprocess.parse_args([]))
    assert processing_inputs(steps["Preprocess"])["data"]["LocalPath"] == str(preprocess_defaults["input_dir"])
    for name, output in processing_outputs(steps["Preprocess"]).items():
        assert output["LocalPath"] == str(preprocess_defaults[f"{name}_dir"])
    evaluate_defaults = vars(evaluate.parse_args([]))
    assert processing_inputs(steps["Evaluate"])["model"]["LocalPath"] == str(evaluate_defaults["model_dir"])
    assert processing_inputs(steps["Evaluate"])["test"]["LocalPath"] == str(evaluate_defaults["test_dir"])
    evaluation = processing_outputs(steps["Evaluate"])["evaluation"]
    assert evaluation["LocalPath"] == str(evaluate_defaults["evaluation_dir"])
    assert "ContainerArguments" not in steps["Evaluate"]["Arguments"]["AppSpecification"]
    # Preprocess gets only which groups to read, never a path.
    passed = steps["Preprocess"]["Arguments"]["AppSpecification"]["ContainerArguments"][::2]
    assert passed == ["--features-group", "--labels-group", "--account", "--region"]


def test_baseline_step_is_the_sdk_s_suggest_baseline_job(pipeline: Json) -> None:
    step = steps_by_name(pipeline)["DataQualityBaseline"]
    arguments = step["Arguments"]
    # The analyzer image runs its own entrypoint; there is no script and no code input.
    assert arguments["AppSpecification"] == {"ImageUri": MONITOR_IMAGE}
    assert MONITOR_IMAGE == "468650794304.dkr.ecr.eu-west-1.amazonaws.com/sagemaker-model-monitor-analyzer"
    assert arguments["Environment"] == {
        "dataset_format": '{"csv": {"header": true, "output_columns_position": "START"}}',
        "dataset_source": "/opt/ml/processing/input/baseline_dataset_input",
        "output_path": "/opt/ml/processing/output",
        "publish_cloudwatch_metrics": "Disabled",
    }
    assert json.loads(arguments["Environment"]["dataset_format"]) == {
        "csv": {"header": True, "output_columns_position": "START"}
    }
    inputs = processing_inputs(step)
    assert list(inputs) == ["baseline_dataset_input"]
    assert inputs["baseline_dataset_input"]["S3Uri"] == {
        "Get": "Steps.Preprocess.ProcessingOutputConfig.Outputs['baseline'].S3Output.S3Uri"
    }
    assert inputs["baseline_dataset_input"]["LocalPath"] == arguments["Environment"]["dataset_source"]
    [(name, output)] = processing_outputs(step).items()
    assert name == "monitoring_output"
    assert output["LocalPath"] == arguments["Environment"]["output_path"]
    assert output["S3Uri"]["Std:Join"]["Values"][1:] == [{"Get": "Execution.PipelineExecutionId"}, "baseline"]
    assert arguments["ProcessingResources"]["ClusterConfig"]["InstanceType"] == {
        "Get": "Parameters.ProcessingInstanceType"
    }


def test_preprocess_writes_the_baseline_dataset_where_the_definition_mounts_it(pipeline: Json) -> None:
    baseline = processing_outputs(steps_by_name(pipeline)["Preprocess"])["baseline"]
    assert baseline["LocalPath"] == str(preprocess.parse_args([]).baseline_dir) == "/opt/ml/processing/baseline"


def test_register_step_attaches_the_data_quality_baseline(pipeline: Json) -> None:
    baselines = steps_by_name(pipeline)["RegisterModel"]["Arguments"]["DriftCheckBaselines"]

    def file(name: str) -> Json:
        output = {"Get": "Steps.DataQualityBaseline.ProcessingOutputConfig.Outputs['monitoring_output'].S3Output.S3Uri"}
        return {"Std:Join": {"On": "/", "Values": [output, name]}}

    assert baselines == {
        "ModelDataQuality": {
            "Statistics": {"ContentType": "application/json", "S3Uri": file("statistics.json")},
            "Constraints": {"ContentType": "application/json", "S3Uri": file("constraints.json")},
        }
    }


def test_training_uses_the_built_in_algorithm_on_the_preprocess_splits(pipeline: Json) -> None:
    train = steps_by_name(pipeline)["Train"]["Arguments"]
    assert train["AlgorithmSpecification"] == {"TrainingImage": XGBOOST_IMAGE, "TrainingInputMode": "File"}
    channels = {channel["ChannelName"]: channel for channel in train["InputDataConfig"]}
    assert set(channels) == {"train", "validation"}
    for name, channel in channels.items():
        assert channel["ContentType"] == "text/csv"
        assert channel["DataSource"]["S3DataSource"]["S3Uri"] == {
            "Get": f"Steps.Preprocess.ProcessingOutputConfig.Outputs['{name}'].S3Output.S3Uri"
        }
    assert train["ResourceConfig"]["InstanceType"] == {"Get": "Parameters.TrainingInstanceType"}


def test_training_hyperparameters_are_the_ones_local_training_uses(pipeline: Json) -> None:
    hyperparameters = steps_by_name(pipeline)["Train"]["Arguments"]["HyperParameters"]
    assert hyperparameters == dict(DEFAULT_HYPERPARAMETERS)
    assert all(isinstance(value, str) for value in hyperparameters.values())
    assert hyperparameters["objective"] == "binary:logistic"
    assert hyperparameters["eval_metric"] == "auc"


def test_evaluate_scores_the_trained_model_on_the_test_split(pipeline: Json) -> None:
    step = steps_by_name(pipeline)["Evaluate"]
    inputs = processing_inputs(step)
    assert inputs["model"]["S3Uri"] == {"Get": "Steps.Train.ModelArtifacts.S3ModelArtifacts"}
    assert inputs["test"]["S3Uri"] == {"Get": "Steps.Preprocess.ProcessingOutputConfig.Outputs['test'].S3Output.S3Uri"}
    assert inputs["code"]["S3Uri"] == EVALUATE_URI
    assert step["Arguments"]["AppSpecification"]["ImageUri"] == XGBOOST_IMAGE


def test_condition_reads_the_auc_from_the_evaluation_property_file(pipeline: Json) -> None:
    evaluate_step = steps_by_name(pipeline)["Evaluate"]
    [property_file] = evaluate_step["PropertyFiles"]
    assert property_file == {
        "PropertyFileName": "EvaluationReport",
        "OutputName": "evaluation",
        "FilePath": evaluate.EVALUATION_FILE,
    }
    assert property_file["OutputName"] in processing_outputs(evaluate_step)
    [condition] = steps_by_name(pipeline)["CheckAucThreshold"]["Arguments"]["Conditions"]
    assert condition == {
        "Type": "GreaterThanOrEqualTo",
        "LeftValue": {
            "Std:JsonGet": {
                "PropertyFile": {"Get": "Steps.Evaluate.PropertyFiles.EvaluationReport"},
                "Path": "binary_classification_metrics.auc.value",
            }
        },
        "RightValue": {"Get": "Parameters.AucThreshold"},
    }


def test_the_gated_path_exists_in_what_evaluate_writes() -> None:
    report = {
        "binary_classification_metrics": evaluate.binary_classification_metrics(
            np.array([0.0, 1.0]), np.array([0.2, 0.7]), decision_threshold=0.5
        )
    }
    value: Any = report
    for key in AUC_JSON_PATH.split("."):
        value = value[key]
    assert value == 1.0


def test_register_step_is_the_sdk_s_create_model_package_request(pipeline: Json) -> None:
    register = steps_by_name(pipeline)["RegisterModel"]["Arguments"]
    assert register["ModelPackageGroupName"] == GROUP
    assert register["ModelApprovalStatus"] == "PendingManualApproval"
    assert register["ModelMetrics"] == {
        "ModelQuality": {
            "Statistics": {
                "ContentType": "application/json",
                "S3Uri": {
                    "Std:Join": {
                        "On": "/",
                        "Values": [
                            {"Get": "Steps.Evaluate.ProcessingOutputConfig.Outputs['evaluation'].S3Output.S3Uri"},
                            "evaluation.json",
                        ],
                    }
                },
            }
        }
    }
    assert register["InferenceSpecification"] == {
        "Containers": [
            {"Image": XGBOOST_IMAGE, "ModelDataUrl": {"Get": "Steps.Train.ModelArtifacts.S3ModelArtifacts"}}
        ],
        "SupportedContentTypes": ["text/csv"],
        "SupportedResponseMIMETypes": ["text/csv"],
        "SupportedRealtimeInferenceInstanceTypes": ["ml.m5.large", "ml.m5.xlarge"],
        "SupportedTransformInstanceTypes": ["ml.m5.large", "ml.m5.xlarge"],
    }
    # The SDK strips this one because SageMaker Pipelines rejects it.
    assert "CertifyForMarketplace" not in register


def test_registered_versions_carry_their_lineage(pipeline: Json) -> None:
    metadata = steps_by_name(pipeline)["RegisterModel"]["Arguments"]["CustomerMetadataProperties"]
    assert metadata == {
        "training_data_uri": {"Get": "Parameters.InputDataUri"},
        "code_version": "1.4.0",
        "pipeline_execution_arn": {"Get": "Execution.PipelineExecutionArn"},
    }
    # CreateModelPackage limits keys to 128 characters from a restricted set.
    assert all(re.fullmatch(r"[\w.:/=+\-@ ]{1,128}", key) for key in metadata)


def test_fail_step_message_names_the_auc_and_the_threshold(pipeline: Json) -> None:
    message = steps_by_name(pipeline)["AucBelowThreshold"]["Arguments"]["ErrorMessage"]["Std:Join"]
    assert message["On"] == ""
    values = message["Values"]
    assert {"Get": "Parameters.AucThreshold"} in values
    [auc] = [value for value in values if isinstance(value, dict) and "Std:JsonGet" in value]
    assert auc["Std:JsonGet"]["Path"] == AUC_JSON_PATH
    rendered = "".join(value if isinstance(value, str) else "<{}>" for value in values)
    assert rendered == "Model not registered: test AUC <{}> is below the AucThreshold of <{}>."


# --- security and storage ---------------------------------------------------------------------------------------


def test_every_job_encrypts_volumes_and_outputs_and_is_isolated(pipeline: Json) -> None:
    jobs = job_steps(pipeline)
    assert len(jobs) == 4
    for step in jobs:
        arguments = step["Arguments"]
        assert arguments["RoleArn"] == ROLE
        if step["Type"] == "Processing":
            assert arguments["ProcessingResources"]["ClusterConfig"]["VolumeKmsKeyId"] == KEY
            assert arguments["ProcessingOutputConfig"]["KmsKeyId"] == KEY
            assert arguments["NetworkConfig"] == {
                "EnableNetworkIsolation": True,
                "EnableInterContainerTrafficEncryption": True,
            }
        else:
            assert arguments["ResourceConfig"]["VolumeKmsKeyId"] == KEY
            assert arguments["OutputDataConfig"]["KmsKeyId"] == KEY
            assert arguments["EnableNetworkIsolation"] is True
            assert arguments["EnableInterContainerTrafficEncryption"] is True
        assert step["RetryPolicies"][0]["ExceptionType"] == ["SageMaker.JOB_INTERNAL_ERROR", "SageMaker.CAPACITY_ERROR"]


def test_every_output_lands_under_the_execution_s_prefix_in_the_artifacts_bucket(pipeline: Json) -> None:
    steps = steps_by_name(pipeline)
    uris = [
        output["S3Uri"]
        for step in job_steps(pipeline)
        if step["Type"] == "Processing"
        for output in processing_outputs(step).values()
    ]
    uris.append(steps["Train"]["Arguments"]["OutputDataConfig"]["S3OutputPath"])
    paths = []
    for uri in uris:
        join = uri["Std:Join"]
        assert join["On"] == "/"
        root, execution, *rest = join["Values"]
        assert root == f"s3://{BUCKET}/training-pipeline"
        assert execution == {"Get": "Execution.PipelineExecutionId"}
        paths.append(PurePosixPath(*rest))
    # Distinct and none inside another, or one job's upload would mix into another's input.
    assert len(set(paths)) == len(paths)
    assert not [(a, b) for a in paths for b in paths if a in b.parents]
    custom = steps_by_name(build(artifacts_prefix="ml/churn"))["Train"]["Arguments"]["OutputDataConfig"]
    assert custom["S3OutputPath"]["Std:Join"]["Values"][0] == f"s3://{BUCKET}/ml/churn"


def test_each_build_returns_independent_objects() -> None:
    first, second = build(), build()
    first["Steps"][2]["Arguments"]["HyperParameters"]["num_round"] = "1"
    first["Steps"][0]["RetryPolicies"][0]["ExceptionType"].append("x")
    first["Steps"][1]["Arguments"]["Environment"]["dataset_source"] = "elsewhere"
    assert second == build()
    assert DEFAULT_HYPERPARAMETERS["num_round"] != "1"


# --- argument validation ------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"role_arn": ""}, "role_arn must be a non-empty string"),
        ({"model_monitor_image_uri": ""}, "model_monitor_image_uri must be a non-empty string"),
        ({"kms_key_arn": "  "}, "kms_key_arn must be a non-empty string"),
        ({"artifacts_prefix": "/training"}, "artifacts_prefix must not start or end with '/'"),
        ({"auc_threshold": 0.0}, r"auc_threshold must be in \(0, 1\]"),
        ({"auc_threshold": 1.5}, r"auc_threshold must be in \(0, 1\]"),
        ({"hyperparameters": {"num_round": 100}}, "hyperparameter values must be strings"),
        ({"hyperparameters": {"max_depth": "3"}}, "must include num_round"),
        ({"inference_instance_types": "ml.m5.large"}, "inference_instance_types must be a non-empty sequence"),
        ({"transform_instance_types": ()}, "transform_instance_types must be a non-empty sequence"),
        ({"max_runtime_seconds": 0}, "max_runtime_seconds must be a positive integer"),
    ],
)
def test_invalid_arguments_are_rejected_at_synth(overrides: dict[str, Any], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        build(**overrides)


@pytest.mark.parametrize("file_name", ["", "preprocess", "code/preprocess.py", "${Token[TOKEN.9]}", ".py"])
def test_step_script_needs_the_plain_file_name_of_its_object(file_name: str) -> None:
    with pytest.raises(ValueError, match="plain Python file name"):
        StepScript(s3_uri="s3://bucket/code/preprocess.py", file_name=file_name)


def test_builder_arguments_are_keyword_only() -> None:
    parameters = inspect.signature(build_training_pipeline_definition).parameters.values()
    assert all(parameter.kind is inspect.Parameter.KEYWORD_ONLY for parameter in parameters)


# --- images -----------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("region", "account"),
    [
        ("us-east-1", "683313688378"),
        ("us-east-2", "257758044811"),
        ("us-west-2", "246618743249"),
        ("eu-west-1", "141502667606"),
        ("eu-central-1", "492215442770"),
        ("eu-west-2", "764974769150"),
        ("ap-southeast-2", "783357654285"),
        ("ap-northeast-1", "354813040037"),
    ],
)
def test_image_uris_match_the_sagemaker_sdk(region: str, account: str) -> None:
    # Accounts as listed in the SageMaker Python SDK's image_uri_config/sklearn.json and xgboost.json.
    registry = f"{account}.dkr.ecr.{region}.amazonaws.com"
    assert images.sklearn_image_uri(region) == f"{registry}/sagemaker-scikit-learn:1.2-1-cpu-py3"
    assert images.xgboost_image_uri(region) == f"{registry}/sagemaker-xgboost:1.7-1"


@pytest.mark.parametrize(
    ("region", "account"),
    [
        ("us-east-1", "156813124566"),
        ("us-east-2", "777275614652"),
        ("us-west-2", "159807026194"),
        ("eu-west-1", "468650794304"),
        ("eu-central-1", "048819808253"),
        ("ap-northeast-1", "574779866223"),
    ],
)
def test_model_monitor_image_matches_the_sagemaker_sdk(region: str, account: str) -> None:
    # image_uri_config/model-monitor.json, version "1": untagged, as image_uris.retrieve returns it.
    expected = f"{account}.dkr.ecr.{region}.amazonaws.com/sagemaker-model-monitor-analyzer"
    assert images.model_monitor_image_uri(region) == expected


def test_every_supported_region_has_a_model_monitor_image() -> None:
    for region in images.SUPPORTED_REGIONS:
        uri = images.model_monitor_image_uri(region)
        assert uri.endswith(f".{region}.amazonaws.com/sagemaker-model-monitor-analyzer")


@pytest.mark.parametrize("region", ["mars-north-1", "", "${Token[AWS.Region.12]}", "US-EAST-1"])
def test_unknown_region_names_itself_and_the_supported_ones(region: str) -> None:
    for resolve in (images.sklearn_image_uri, images.xgboost_image_uri, images.model_monitor_image_uri):
        with pytest.raises(ValueError) as raised:
            resolve(region)
        assert repr(region) in str(raised.value)
        assert "us-east-1, us-east-2, us-west-1, us-west-2" in str(raised.value)


def test_definition_module_has_no_cdk_or_aws_dependency() -> None:
    text = "".join(Path(str(module.__file__)).read_text(encoding="utf-8") for module in (definition, images))
    assert not re.search(r"^\s*(from|import)\s+(aws_cdk|boto3|botocore|sagemaker)\b", text, re.MULTILINE)


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"uri": "s3://bucket/feature-store/mlops-dev"}, "must end with '/'"),
        ({"labels_group": "mlops-dev-churn-features"}, "both in group"),
        ({"account": " "}, "OfflineStoreInput.account must be a non-empty string"),
    ],
)
def test_the_offline_store_input_refuses_reading_the_wrong_data(overrides: dict[str, str], message: str) -> None:
    fields = {**vars(TRAINING_DATA), **overrides}
    with pytest.raises(ValueError, match=re.escape(message)):
        OfflineStoreInput(**fields)
