"""The Level 1 churn training pipeline as a SageMaker Pipelines definition, built at synth time.

``build_training_pipeline_definition`` returns the pipeline definition (schema version 2020-12-01) as a
JSON-serializable dict, for the stack to hand to ``AWS::SageMaker::Pipeline`` so every change to the
pipeline shows up in ``cdk diff``. The graph:

    Preprocess  Processing, scikit-learn image, steps/preprocess.py: the point-in-time training set from the
                churn feature groups' offline store (the InputDataUri prefix), a stratified split, and the
                train features with a header as the data-quality baseline dataset
    DataQualityBaseline  Processing, SageMaker's Model Monitor analyzer image (no script): statistics.json
                and constraints.json of the baseline dataset, what DefaultModelMonitor.suggest_baseline runs
    Train       Training, the built-in XGBoost algorithm (no script) on the train/validation splits
    Evaluate    Processing, XGBoost image, steps/evaluate.py: test-split metrics -> evaluation.json
    CheckAucThreshold  Condition: the test AUC read from evaluation.json >= the AucThreshold parameter
      true:  RegisterModel      a model package in the group, PendingManualApproval, with the metrics
                                report, the data-quality baseline (DriftCheckBaselines) and lineage
                                (training data URI, code version, execution ARN)
      false: AucBelowThreshold  Fail step whose message names the AUC and the threshold

Every job encrypts its volume and its S3 output with the given KMS key, runs with network isolation and
inter-container traffic encryption, and writes under
``s3://<artifacts bucket>/<artifacts prefix>/<pipeline execution id>/`` so runs never overwrite each other.

No SageMaker SDK here: it needs a boto session and a region lookup, and synth must stay offline. The JSON
is what the SDK's ProcessingStep, TrainingStep, ConditionStep, FailStep and RegisterModel (ModelStep)
serialize to (sagemaker.workflow), so SageMaker's documentation and console read it as usual.

Arguments may be CDK tokens (``${Token[...]}`` strings) at synth time: they are embedded verbatim and
never parsed, and the stack must serialize the result with ``Stack.to_json_string`` so the tokens resolve.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from types import MappingProxyType
from typing import Any

from pipelines.training import clarify_steps
from pipelines.training.clarify_steps import ClarifyChecks
from pipelines.training.tracking_step import ExperimentTracking, run_id_reference, tracking_step

__all__ = [
    "AUC_JSON_PATH",
    "BASELINE_ENVIRONMENT",
    "DEFAULT_AUC_THRESHOLD",
    "DEFAULT_HYPERPARAMETERS",
    "PIPELINE_DEFINITION_VERSION",
    "OfflineStoreInput",
    "StepScript",
    "build_training_pipeline_definition",
]

PIPELINE_DEFINITION_VERSION = "2020-12-01"

# Step names appear in "Get" paths, the Studio graph, EventBridge events and alarms: renaming one is a
# breaking change for anything watching the pipeline.
PREPROCESS_STEP = "Preprocess"
BASELINE_STEP = "DataQualityBaseline"
TRAIN_STEP = "Train"
EVALUATE_STEP = "Evaluate"
CONDITION_STEP = "CheckAucThreshold"
REGISTER_STEP = "RegisterModel"
FAIL_STEP = "AucBelowThreshold"

INPUT_DATA_URI_PARAMETER = "InputDataUri"
PROCESSING_INSTANCE_TYPE_PARAMETER = "ProcessingInstanceType"
TRAINING_INSTANCE_TYPE_PARAMETER = "TrainingInstanceType"
AUC_THRESHOLD_PARAMETER = "AucThreshold"

EVALUATION_PROPERTY_FILE = "EvaluationReport"
EVALUATION_OUTPUT = "evaluation"
EVALUATION_FILE = "evaluation.json"
AUC_JSON_PATH = "binary_classification_metrics.auc.value"

# What the shipped sample clears with a wide margin (see the training tests); raise it as real data
# shows what the model can do. Executions can override it with the AucThreshold parameter.
DEFAULT_AUC_THRESHOLD = 0.75
DEFAULT_PROCESSING_INSTANCE_TYPE = "ml.m5.large"
DEFAULT_TRAINING_INSTANCE_TYPE = "ml.m5.large"
DEFAULT_INFERENCE_INSTANCE_TYPES: tuple[str, ...] = ("ml.m5.large", "ml.m5.xlarge")
DEFAULT_TRANSFORM_INSTANCE_TYPES: tuple[str, ...] = ("ml.m5.large", "ml.m5.xlarge")
DEFAULT_ARTIFACTS_PREFIX = "training-pipeline"
DEFAULT_VOLUME_SIZE_GB = 30
DEFAULT_MAX_RUNTIME_SECONDS = 3600

# Hyperparameters of SageMaker's built-in XGBoost algorithm (all values are strings, as the API requires).
# They are fixed in the definition rather than exposed as pipeline parameters so that changing them is a
# reviewed code change visible in `cdk diff`, not a per-execution knob. Shallow, slowly learning trees
# because the data is small and noisy: on the shipped sample these gave the best mean test AUC over ten
# seeded splits. A fixed seed makes row and column subsampling repeatable.
DEFAULT_HYPERPARAMETERS: Mapping[str, str] = MappingProxyType(
    {
        "objective": "binary:logistic",
        "eval_metric": "auc",
        "num_round": "150",
        "max_depth": "2",
        "eta": "0.05",
        "min_child_weight": "5",
        "subsample": "0.8",
        "colsample_bytree": "0.8",
        "seed": "42",
    }
)

# Container paths. The step scripts' argparse defaults are the same paths (a unit test holds them equal),
# so the definition passes no arguments to the scripts.
_PROCESSING_ROOT = "/opt/ml/processing"
_CODE_DIR = f"{_PROCESSING_ROOT}/input/code"
_PREPROCESS_INPUT_DIR = f"{_PROCESSING_ROOT}/input/data"
_PREPROCESS_OUTPUTS = ("train", "validation", "test", "features", "baseline")
_BASELINE_DATASET_OUTPUT = "baseline"
# What DefaultModelMonitor.suggest_baseline sends the analyzer (sagemaker.model_monitor.model_monitoring:
# _generate_env_map and the _CONTAINER_* paths); the SDK names the input and the output the same way.
BASELINE_INPUT_NAME = "baseline_dataset_input"
BASELINE_OUTPUT_NAME = "monitoring_output"
_BASELINE_INPUT_DIR = f"{_PROCESSING_ROOT}/input/{BASELINE_INPUT_NAME}"
_BASELINE_OUTPUT_DIR = f"{_PROCESSING_ROOT}/output"
BASELINE_ENVIRONMENT: Mapping[str, str] = MappingProxyType(
    {
        # json.dumps of DatasetFormat.csv(header=True, output_columns_position="START"): preprocess writes the
        # header; there is no label column in the baseline dataset, so the position only matters to the SDK.
        "dataset_format": '{"csv": {"header": true, "output_columns_position": "START"}}',
        "dataset_source": _BASELINE_INPUT_DIR,
        "output_path": _BASELINE_OUTPUT_DIR,
        "publish_cloudwatch_metrics": "Disabled",
    }
)
BASELINE_STATISTICS_FILE = "statistics.json"
BASELINE_CONSTRAINTS_FILE = "constraints.json"
_EVALUATE_MODEL_DIR = f"{_PROCESSING_ROOT}/model"
_EVALUATE_TEST_DIR = f"{_PROCESSING_ROOT}/test"
_EVALUATE_OUTPUT_DIR = f"{_PROCESSING_ROOT}/evaluation"

# Transient platform failures are worth a retry; a failure of our own code or data is not.
_JOB_RETRY_EXCEPTIONS = ("SageMaker.JOB_INTERNAL_ERROR", "SageMaker.CAPACITY_ERROR")

_SCRIPT_FILE_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]*\.py")

Json = dict[str, Any]


@dataclass(frozen=True)
class StepScript:
    """A step script uploaded to S3, as a Processing step needs to run it.

    ``s3_uri`` is the object's URI (a token is fine), e.g. ``Asset.s3_object_url``. ``file_name`` is the
    last segment of its key: SageMaker downloads the object into the code directory under that name and
    the step's entrypoint runs it. For a CDK asset that is ``asset.s3_object_key.rsplit("/", 1)[-1]``
    (``<hash>.py``; the key is a plain string at synth time, unlike the bucket), which also means a script
    change shows up in the diff as a new entrypoint.
    """

    s3_uri: str
    file_name: str

    def __post_init__(self) -> None:
        _require_text("StepScript.s3_uri", self.s3_uri)
        if not _SCRIPT_FILE_NAME.fullmatch(self.file_name):
            raise ValueError(
                f"StepScript.file_name must be a plain Python file name such as 'preprocess.py' (the last segment "
                f"of the S3 key), got {self.file_name!r}"
            )


@dataclass(frozen=True)
class OfflineStoreInput:
    """Where the Preprocess step reads its training set: the churn feature groups' offline store.

    ``uri`` is the default of the InputDataUri parameter: the groups' ``S3StorageConfig.S3Uri`` with a trailing
    slash (so a Level 3 team's ``<prefix>-<team>`` store beside it is not under it). Feature Store appends
    ``<account>/sagemaker/<region>/offline-store/<group>-<creation time>/data/``; the creation time is only known
    once the group exists, so the step receives the whole prefix and reads exactly the two named groups of
    ``account`` and ``region`` (tokens are fine).
    """

    uri: str
    features_group: str
    labels_group: str
    account: str
    region: str

    def __post_init__(self) -> None:
        for name in ("uri", "features_group", "labels_group", "account", "region"):
            _require_text(f"OfflineStoreInput.{name}", getattr(self, name))
        if not self.uri.endswith("/"):
            raise ValueError(
                f"OfflineStoreInput.uri must end with '/' (a prefix that does not also match a longer one), "
                f"got {self.uri!r}"
            )
        if self.features_group == self.labels_group:
            raise ValueError(f"OfflineStoreInput: features and labels are both in group {self.features_group!r}")

    def container_arguments(self) -> list[str]:
        return [
            "--features-group",
            self.features_group,
            "--labels-group",
            self.labels_group,
            "--account",
            self.account,
            "--region",
            self.region,
        ]


def build_training_pipeline_definition(
    *,
    role_arn: str,
    training_data: OfflineStoreInput,
    artifacts_bucket_name: str,
    kms_key_arn: str,
    preprocess_script: StepScript,
    evaluate_script: StepScript,
    model_package_group_name: str,
    sklearn_image_uri: str,
    xgboost_image_uri: str,
    model_monitor_image_uri: str,
    code_version: str,
    artifacts_prefix: str = DEFAULT_ARTIFACTS_PREFIX,
    processing_instance_type: str = DEFAULT_PROCESSING_INSTANCE_TYPE,
    training_instance_type: str = DEFAULT_TRAINING_INSTANCE_TYPE,
    auc_threshold: float = DEFAULT_AUC_THRESHOLD,
    hyperparameters: Mapping[str, str] = DEFAULT_HYPERPARAMETERS,
    inference_instance_types: Sequence[str] = DEFAULT_INFERENCE_INSTANCE_TYPES,
    transform_instance_types: Sequence[str] = DEFAULT_TRANSFORM_INSTANCE_TYPES,
    volume_size_gb: int = DEFAULT_VOLUME_SIZE_GB,
    max_runtime_seconds: int = DEFAULT_MAX_RUNTIME_SECONDS,
    clarify: ClarifyChecks | None = None,
    tracking: ExperimentTracking | None = None,
) -> Json:
    """The pipeline definition JSON (as a dict) of the churn training pipeline.

    Args:
        role_arn: execution role of the processing and training jobs (the definition's RoleArn).
        training_data: the feature groups' offline store; its ``uri`` is the default of the InputDataUri
            parameter, which an execution may override with another prefix in the same layout.
        artifacts_bucket_name: bucket receiving every job output (splits, model, evaluation report).
        kms_key_arn: key encrypting job volumes and S3 outputs.
        preprocess_script, evaluate_script: the uploaded step scripts (``steps/preprocess.py``,
            ``steps/evaluate.py``).
        model_package_group_name: Model Registry group the RegisterModel step adds versions to.
        sklearn_image_uri: image of the preprocess step (scikit-learn 1.2-1, see ``images.py``).
        xgboost_image_uri: image of training, the evaluate step and inference (XGBoost 1.7-1).
        model_monitor_image_uri: the region's Model Monitor analyzer image (``images.model_monitor_image_uri``),
            which computes the data-quality baseline.
        code_version: recorded on every registered model version for lineage; must be deterministic at
            synth time (a release version or the scripts' asset hashes, not a git call).
        artifacts_prefix: key prefix under the artifacts bucket, without leading or trailing slash.
        processing_instance_type, training_instance_type: defaults of the instance-type parameters.
            Volume encryption rules out instance types with only NVMe instance storage (e.g. ml.m5d).
        auc_threshold: default of the AucThreshold parameter, the minimum test AUC to register a model.
        hyperparameters: built-in XGBoost hyperparameters; ``num_round`` is required.
        inference_instance_types, transform_instance_types: what the model package declares it supports.
        volume_size_gb, max_runtime_seconds: per job.
        clarify: adds the Clarify checks and the bias gate (see ``clarify_steps.py``); None leaves them out.
        tracking: adds the LogExperimentRun Lambda step (see ``tracking_step.py``) and records its MLflow run
            on the model package; None leaves it out.
    """
    for name, value in (
        ("role_arn", role_arn),
        ("artifacts_bucket_name", artifacts_bucket_name),
        ("kms_key_arn", kms_key_arn),
        ("model_package_group_name", model_package_group_name),
        ("sklearn_image_uri", sklearn_image_uri),
        ("xgboost_image_uri", xgboost_image_uri),
        ("model_monitor_image_uri", model_monitor_image_uri),
        ("code_version", code_version),
        ("processing_instance_type", processing_instance_type),
        ("training_instance_type", training_instance_type),
    ):
        _require_text(name, value)
    _require_text("artifacts_prefix", artifacts_prefix)
    if artifacts_prefix.startswith("/") or artifacts_prefix.endswith("/"):
        raise ValueError(f"artifacts_prefix must not start or end with '/', got {artifacts_prefix!r}")
    if isinstance(auc_threshold, bool) or not 0.0 < auc_threshold <= 1.0:
        raise ValueError(f"auc_threshold must be in (0, 1], got {auc_threshold!r}")
    _check_hyperparameters(hyperparameters)
    for name, types in (
        ("inference_instance_types", inference_instance_types),
        ("transform_instance_types", transform_instance_types),
    ):
        if isinstance(types, str) or not types:
            raise ValueError(f"{name} must be a non-empty sequence of instance types, got {types!r}")
    for name, number in (("volume_size_gb", volume_size_gb), ("max_runtime_seconds", max_runtime_seconds)):
        if isinstance(number, bool) or not isinstance(number, int) or number <= 0:
            raise ValueError(f"{name} must be a positive integer, got {number!r}")

    outputs_root = f"s3://{artifacts_bucket_name}/{artifacts_prefix}"
    job = _JobSettings(
        role_arn=role_arn,
        kms_key_arn=kms_key_arn,
        volume_size_gb=volume_size_gb,
        max_runtime_seconds=max_runtime_seconds,
    )
    preprocess = _preprocess_step(
        job, script=preprocess_script, image_uri=sklearn_image_uri, outputs_root=outputs_root, source=training_data
    )
    baseline = _baseline_step(job, image_uri=model_monitor_image_uri, outputs_root=outputs_root)
    train = _train_step(job, image_uri=xgboost_image_uri, hyperparameters=hyperparameters, outputs_root=outputs_root)
    evaluate = _evaluate_step(job, script=evaluate_script, image_uri=xgboost_image_uri, outputs_root=outputs_root)
    register = _register_step(
        model_package_group_name=model_package_group_name,
        image_uri=xgboost_image_uri,
        code_version=code_version,
        inference_instance_types=inference_instance_types,
        transform_instance_types=transform_instance_types,
        clarify=clarify,
    )
    tracked: list[Json] = []
    if tracking is not None:
        lineage = register["Arguments"]["CustomerMetadataProperties"]
        lineage["mlflow_run_id"] = run_id_reference()
        lineage["mlflow_app_arn"] = tracking.app_arn
        tracked.append(
            tracking_step(
                tracking,
                pipeline_name=_get("Execution.PipelineName"),
                evaluation_uri=_join(_processing_output_uri(EVALUATE_STEP, EVALUATION_OUTPUT), EVALUATION_FILE),
                bias_gate_uri=""
                if clarify is None
                else _join(
                    _processing_output_uri(clarify_steps.BIAS_GATE_STEP, clarify_steps.BIAS_GATE_OUTPUT),
                    clarify_steps.BIAS_GATE_FILE,
                ),
                training_data_uri=_get(f"Parameters.{INPUT_DATA_URI_PARAMETER}"),
                model_artifacts_uri=_model_artifacts_uri(),
                auc_threshold=_get(f"Parameters.{AUC_THRESHOLD_PARAMETER}"),
                code_version=code_version,
                hyperparameters=hyperparameters,
            )
        )
    clarify_before, clarify_after, registration = _clarify_steps(
        job,
        clarify,
        register=register,
        model_package_group_name=model_package_group_name,
        xgboost_image_uri=xgboost_image_uri,
        sklearn_image_uri=sklearn_image_uri,
        outputs_root=outputs_root,
    )
    return {
        "Version": PIPELINE_DEFINITION_VERSION,
        "Metadata": {},
        "Parameters": [
            {"Name": INPUT_DATA_URI_PARAMETER, "Type": "String", "DefaultValue": training_data.uri},
            {"Name": PROCESSING_INSTANCE_TYPE_PARAMETER, "Type": "String", "DefaultValue": processing_instance_type},
            {"Name": TRAINING_INSTANCE_TYPE_PARAMETER, "Type": "String", "DefaultValue": training_instance_type},
            {"Name": AUC_THRESHOLD_PARAMETER, "Type": "Float", "DefaultValue": float(auc_threshold)},
        ],
        # No PipelineExperimentConfig: SageMaker Experiments tracking would need extra permissions on the
        # pipeline role, and lineage is already recorded on the model package and by ML Lineage Tracking.
        "Steps": [
            preprocess,
            baseline,
            *clarify_before,
            train,
            evaluate,
            *clarify_after,
            *tracked,
            _condition_step(if_steps=[registration], else_steps=[_fail_step()]),
        ],
    }


@dataclass(frozen=True)
class _JobSettings:
    """What every processing and training job of the pipeline shares."""

    role_arn: str
    kms_key_arn: str
    volume_size_gb: int
    max_runtime_seconds: int


def _preprocess_step(
    job: _JobSettings, *, script: StepScript, image_uri: str, outputs_root: str, source: OfflineStoreInput
) -> Json:
    # The whole offline-store prefix: the step picks the two groups' newest stores out of it by exact name.
    data_input = _processing_input("data", _get(f"Parameters.{INPUT_DATA_URI_PARAMETER}"), _PREPROCESS_INPUT_DIR)
    outputs = [
        _processing_output(name, _run_uri(outputs_root, "preprocess", name), f"{_PROCESSING_ROOT}/{name}")
        for name in _PREPROCESS_OUTPUTS
    ]
    step = _processing_step(
        job,
        name=PREPROCESS_STEP,
        description="Point-in-time training set from the feature groups' offline store, and a seeded stratified "
        "train/validation/test split.",
        image_uri=image_uri,
        script=script,
        inputs=[data_input],
        outputs=outputs,
    )
    step["Arguments"]["AppSpecification"]["ContainerArguments"] = source.container_arguments()
    return step


def _baseline_step(job: _JobSettings, *, image_uri: str, outputs_root: str) -> Json:
    # The ProcessingJob request of DefaultModelMonitor.suggest_baseline (what the SDK's QualityCheckStep
    # runs for a DataQualityCheckConfig): the analyzer image's own entrypoint, configured by Environment.
    return {
        "Name": BASELINE_STEP,
        "Type": "Processing",
        "Description": "Model Monitor data-quality baseline (statistics and constraints) of the train features.",
        "Arguments": {
            "ProcessingResources": {
                "ClusterConfig": {
                    "InstanceType": _get(f"Parameters.{PROCESSING_INSTANCE_TYPE_PARAMETER}"),
                    "InstanceCount": 1,
                    "VolumeSizeInGB": job.volume_size_gb,
                    "VolumeKmsKeyId": job.kms_key_arn,
                }
            },
            "AppSpecification": {"ImageUri": image_uri},
            "Environment": dict(BASELINE_ENVIRONMENT),
            "RoleArn": job.role_arn,
            "ProcessingInputs": [
                _processing_input(
                    BASELINE_INPUT_NAME,
                    _processing_output_uri(PREPROCESS_STEP, _BASELINE_DATASET_OUTPUT),
                    _BASELINE_INPUT_DIR,
                )
            ],
            "ProcessingOutputConfig": {
                "Outputs": [
                    _processing_output(BASELINE_OUTPUT_NAME, _run_uri(outputs_root, "baseline"), _BASELINE_OUTPUT_DIR)
                ],
                "KmsKeyId": job.kms_key_arn,
            },
            "StoppingCondition": {"MaxRuntimeInSeconds": job.max_runtime_seconds},
            "NetworkConfig": {"EnableNetworkIsolation": True, "EnableInterContainerTrafficEncryption": True},
        },
        "RetryPolicies": _job_retry_policies(),
    }


def _clarify_steps(
    job: _JobSettings,
    clarify: ClarifyChecks | None,
    *,
    register: Json,
    model_package_group_name: str,
    xgboost_image_uri: str,
    sklearn_image_uri: str,
    outputs_root: str,
) -> tuple[list[Json], list[Json], Json]:
    """(steps after the baseline, steps after Evaluate, what the AUC condition runs when it holds)."""
    if clarify is None:
        return [], [], register
    resources = {
        "ClusterConfig": {
            "InstanceType": _get(f"Parameters.{PROCESSING_INSTANCE_TYPE_PARAMETER}"),
            "InstanceCount": 1,
            "VolumeSizeInGB": job.volume_size_gb,
            "VolumeKmsKeyId": job.kms_key_arn,
        }
    }

    def check(name: str, config_key: str, split: str) -> Json:
        return clarify_steps.clarify_check_step(
            name,
            checks=clarify,
            config_key=config_key,
            dataset_uri=_processing_output_uri(PREPROCESS_STEP, split),
            output_uri=_run_uri(outputs_root, "clarify", config_key.replace("_", "-")),
            model_package_group_name=model_package_group_name,
            resources=resources,
            role_arn=job.role_arn,
            kms_key_arn=job.kms_key_arn,
            max_runtime_seconds=job.max_runtime_seconds,
            processing_input=_processing_input,
        )

    gate = _processing_step(
        job,
        name=clarify_steps.BIAS_GATE_STEP,
        description="Compares the Clarify bias metrics with the configured thresholds.",
        image_uri=sklearn_image_uri,
        script=clarify.bias_gate_script,
        inputs=[
            _processing_input(
                "data_bias",
                clarify_steps.check_report(clarify_steps.DATA_BIAS_STEP),
                f"{_PROCESSING_ROOT}/input/data_bias",
            ),
            _processing_input(
                "model_bias",
                clarify_steps.check_report(clarify_steps.MODEL_BIAS_STEP),
                f"{_PROCESSING_ROOT}/input/model_bias",
            ),
            *(
                _processing_input(
                    f"{kind}_config", clarify.analysis_config_uris[kind], f"{_PROCESSING_ROOT}/input/configs/{kind}"
                )
                for kind in clarify_steps.MONITORED_CONFIGS
            ),
        ],
        outputs=[
            _processing_output(
                clarify_steps.BIAS_GATE_OUTPUT, _run_uri(outputs_root, "bias-gate"), f"{_PROCESSING_ROOT}/gate"
            )
        ],
    )
    gate["Arguments"]["AppSpecification"]["ContainerArguments"] = [
        "--gates",
        clarify.gates_argument(),
        "--facet",
        clarify.facet,
    ]
    gate["PropertyFiles"] = [
        {
            "PropertyFileName": clarify_steps.BIAS_GATE_PROPERTY_FILE,
            "OutputName": clarify_steps.BIAS_GATE_OUTPUT,
            "FilePath": clarify_steps.BIAS_GATE_FILE,
        }
    ]
    before = [check(clarify_steps.DATA_BIAS_STEP, "data_bias", "train")]
    after = [
        clarify_steps.create_model_step(
            role_arn=job.role_arn, image_uri=xgboost_image_uri, model_data=_model_artifacts_uri()
        ),
        check(clarify_steps.MODEL_BIAS_STEP, "model_bias", "test"),
        check(clarify_steps.EXPLAINABILITY_STEP, "explainability", "test"),
        gate,
    ]
    return before, after, clarify_steps.gate_condition_step(if_steps=[register])


def _train_step(job: _JobSettings, *, image_uri: str, hyperparameters: Mapping[str, str], outputs_root: str) -> Json:
    return {
        "Name": TRAIN_STEP,
        "Type": "Training",
        "Description": "SageMaker's built-in XGBoost algorithm on the train split, validated on the validation split.",
        "Arguments": {
            # Algorithm mode: the container's own training program, configured by HyperParameters only.
            "AlgorithmSpecification": {"TrainingImage": image_uri, "TrainingInputMode": "File"},
            "OutputDataConfig": {"S3OutputPath": _run_uri(outputs_root, "train"), "KmsKeyId": job.kms_key_arn},
            "StoppingCondition": {"MaxRuntimeInSeconds": job.max_runtime_seconds},
            "ResourceConfig": {
                "VolumeSizeInGB": job.volume_size_gb,
                "InstanceCount": 1,
                "InstanceType": _get(f"Parameters.{TRAINING_INSTANCE_TYPE_PARAMETER}"),
                "VolumeKmsKeyId": job.kms_key_arn,
            },
            "RoleArn": job.role_arn,
            "InputDataConfig": [_training_channel("train"), _training_channel("validation")],
            "HyperParameters": dict(hyperparameters),
            "EnableNetworkIsolation": True,
            "EnableInterContainerTrafficEncryption": True,
        },
        "RetryPolicies": _job_retry_policies(),
    }


def _training_channel(split: str) -> Json:
    return {
        "DataSource": {
            "S3DataSource": {
                "S3DataType": "S3Prefix",
                "S3Uri": _processing_output_uri(PREPROCESS_STEP, split),
                "S3DataDistributionType": "FullyReplicated",
            }
        },
        # Tells the XGBoost container to parse the channel as CSV with the label in the first column.
        "ContentType": "text/csv",
        "ChannelName": split,
    }


def _evaluate_step(job: _JobSettings, *, script: StepScript, image_uri: str, outputs_root: str) -> Json:
    step = _processing_step(
        job,
        name=EVALUATE_STEP,
        description="Test-split metrics of the trained model, in SageMaker's model-quality report format.",
        image_uri=image_uri,
        script=script,
        inputs=[
            _processing_input("model", _model_artifacts_uri(), _EVALUATE_MODEL_DIR),
            _processing_input("test", _processing_output_uri(PREPROCESS_STEP, "test"), _EVALUATE_TEST_DIR),
        ],
        outputs=[_processing_output(EVALUATION_OUTPUT, _run_uri(outputs_root, "evaluate"), _EVALUATE_OUTPUT_DIR)],
    )
    # Lets the condition step read values out of evaluation.json (Std:JsonGet) once the job has finished.
    step["PropertyFiles"] = [
        {"PropertyFileName": EVALUATION_PROPERTY_FILE, "OutputName": EVALUATION_OUTPUT, "FilePath": EVALUATION_FILE}
    ]
    return step


def _condition_step(*, if_steps: list[Json], else_steps: list[Json]) -> Json:
    return {
        "Name": CONDITION_STEP,
        "Type": "Condition",
        "Description": "Register the model only if its test AUC reaches the AucThreshold parameter.",
        "Arguments": {
            "Conditions": [
                {
                    "Type": "GreaterThanOrEqualTo",
                    "LeftValue": _test_auc(),
                    "RightValue": _get(f"Parameters.{AUC_THRESHOLD_PARAMETER}"),
                }
            ],
            "IfSteps": if_steps,
            "ElseSteps": else_steps,
        },
    }


def _register_step(
    *,
    model_package_group_name: str,
    image_uri: str,
    code_version: str,
    inference_instance_types: Sequence[str],
    transform_instance_types: Sequence[str],
    clarify: ClarifyChecks | None = None,
) -> Json:
    # The CreateModelPackage request the SDK's RegisterModel / ModelStep emits (sagemaker.workflow._utils.
    # _RegisterModelStep.arguments), minus CertifyForMarketplace, which the SDK drops because pipelines
    # reject it. Approval stays a human decision: the status is fixed here, not a pipeline parameter an
    # execution could set to Approved.
    request: Json = {
        "Name": REGISTER_STEP,
        "Type": "RegisterModel",
        "Description": "New model package version, pending manual approval, with metrics and lineage.",
        "Arguments": {
            "ModelPackageGroupName": model_package_group_name,
            "ModelMetrics": {
                "ModelQuality": {
                    "Statistics": {
                        "ContentType": "application/json",
                        "S3Uri": _join(_processing_output_uri(EVALUATE_STEP, EVALUATION_OUTPUT), EVALUATION_FILE),
                    }
                }
            },
            # What DriftCheckBaselines(model_data_quality_statistics=..., model_data_quality_constraints=...)
            # serializes to: the promotion function reads these to set up the endpoint's data-quality schedule.
            "DriftCheckBaselines": {
                "ModelDataQuality": {
                    "Statistics": {
                        "ContentType": "application/json",
                        "S3Uri": _baseline_file(BASELINE_STATISTICS_FILE),
                    },
                    "Constraints": {
                        "ContentType": "application/json",
                        "S3Uri": _baseline_file(BASELINE_CONSTRAINTS_FILE),
                    },
                }
            },
            # Lineage a reviewer sees on the version: which data, which code, which run.
            "CustomerMetadataProperties": {
                "training_data_uri": _get(f"Parameters.{INPUT_DATA_URI_PARAMETER}"),
                "code_version": code_version,
                "pipeline_execution_arn": _get("Execution.PipelineExecutionArn"),
            },
            "InferenceSpecification": {
                "Containers": [{"Image": image_uri, "ModelDataUrl": _model_artifacts_uri()}],
                "SupportedContentTypes": ["text/csv"],
                "SupportedResponseMIMETypes": ["text/csv"],
                "SupportedRealtimeInferenceInstanceTypes": list(inference_instance_types),
                "SupportedTransformInstanceTypes": list(transform_instance_types),
            },
            "ModelApprovalStatus": "PendingManualApproval",
            "SkipModelValidation": "None",
        },
    }
    if clarify is not None:
        metrics, baselines = clarify_steps.register_additions(clarify)
        request["Arguments"]["ModelMetrics"].update(metrics)
        request["Arguments"]["DriftCheckBaselines"].update(baselines)
    return request


def _fail_step() -> Json:
    return {
        "Name": FAIL_STEP,
        "Type": "Fail",
        "Description": "Stops the execution as failed when the model misses the AUC threshold.",
        "Arguments": {
            "ErrorMessage": {
                "Std:Join": {
                    "On": "",
                    "Values": [
                        "Model not registered: test AUC ",
                        _test_auc(),
                        f" is below the {AUC_THRESHOLD_PARAMETER} of ",
                        _get(f"Parameters.{AUC_THRESHOLD_PARAMETER}"),
                        ".",
                    ],
                }
            }
        },
    }


def _processing_step(
    job: _JobSettings,
    *,
    name: str,
    description: str,
    image_uri: str,
    script: StepScript,
    inputs: list[Json],
    outputs: list[Json],
) -> Json:
    code_input = _processing_input("code", script.s3_uri, _CODE_DIR)
    return {
        "Name": name,
        "Type": "Processing",
        "Description": description,
        "Arguments": {
            "ProcessingResources": {
                "ClusterConfig": {
                    "InstanceType": _get(f"Parameters.{PROCESSING_INSTANCE_TYPE_PARAMETER}"),
                    # One instance: the scripts read whole datasets, they do not shard.
                    "InstanceCount": 1,
                    "VolumeSizeInGB": job.volume_size_gb,
                    "VolumeKmsKeyId": job.kms_key_arn,
                }
            },
            "AppSpecification": {
                "ImageUri": image_uri,
                "ContainerEntrypoint": ["python3", f"{_CODE_DIR}/{script.file_name}"],
            },
            "RoleArn": job.role_arn,
            "ProcessingInputs": [*inputs, code_input],
            "ProcessingOutputConfig": {"Outputs": outputs, "KmsKeyId": job.kms_key_arn},
            "StoppingCondition": {"MaxRuntimeInSeconds": job.max_runtime_seconds},
            # The scripts need no network: SageMaker itself moves inputs and outputs to and from S3.
            "NetworkConfig": {"EnableNetworkIsolation": True, "EnableInterContainerTrafficEncryption": True},
        },
        "RetryPolicies": _job_retry_policies(),
    }


def _processing_input(name: str, s3_uri: str | Json, local_path: str) -> Json:
    return {
        "InputName": name,
        "AppManaged": False,
        "S3Input": {
            "S3Uri": s3_uri,
            "LocalPath": local_path,
            "S3DataType": "S3Prefix",
            "S3InputMode": "File",
            "S3DataDistributionType": "FullyReplicated",
            "S3CompressionType": "None",
        },
    }


def _processing_output(name: str, s3_uri: Json, local_path: str) -> Json:
    return {
        "OutputName": name,
        "AppManaged": False,
        "S3Output": {"S3Uri": s3_uri, "LocalPath": local_path, "S3UploadMode": "EndOfJob"},
    }


def _job_retry_policies() -> list[Json]:
    return [{"ExceptionType": list(_JOB_RETRY_EXCEPTIONS), "IntervalSeconds": 60, "BackoffRate": 2.0, "MaxAttempts": 3}]


def _test_auc() -> Json:
    return {
        "Std:JsonGet": {
            "PropertyFile": _get(f"Steps.{EVALUATE_STEP}.PropertyFiles.{EVALUATION_PROPERTY_FILE}"),
            "Path": AUC_JSON_PATH,
        }
    }


def _run_uri(outputs_root: str, *segments: str) -> Json:
    """``<outputs_root>/<execution id>/<segments...>``, resolved when the execution starts."""
    return _join(outputs_root, _get("Execution.PipelineExecutionId"), *segments)


def _baseline_file(name: str) -> Json:
    return _join(_processing_output_uri(BASELINE_STEP, BASELINE_OUTPUT_NAME), name)


def _model_artifacts_uri() -> Json:
    """Where the Train step's model.tar.gz landed."""
    return _get(f"Steps.{TRAIN_STEP}.ModelArtifacts.S3ModelArtifacts")


def _processing_output_uri(step: str, output: str) -> Json:
    return _get(f"Steps.{step}.ProcessingOutputConfig.Outputs['{output}'].S3Output.S3Uri")


def _get(path: str) -> Json:
    return {"Get": path}


def _join(*values: str | Json) -> Json:
    return {"Std:Join": {"On": "/", "Values": list(values)}}


def _require_text(name: str, value: object) -> None:
    if not isinstance(value, str) or not value.strip():
        raise ValueError(f"{name} must be a non-empty string, got {value!r}")


def _check_hyperparameters(hyperparameters: Mapping[str, str]) -> None:
    not_text = {key: value for key, value in hyperparameters.items() if not isinstance(value, str)}
    if not_text:
        # The training API takes a string -> string map; a float would fail at execution, not at synth.
        raise ValueError(f"hyperparameter values must be strings, got {not_text!r}")
    if "num_round" not in hyperparameters:
        raise ValueError("hyperparameters must include num_round, which SageMaker's XGBoost algorithm requires")
