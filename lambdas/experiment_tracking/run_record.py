"""What the training pipeline's LogExperimentRun step hands the function, and the MLflow run made of it.

The step's arguments (SageMaker Pipelines resolves them before invoking the function):

    experiment_name      the pipeline's name: one MLflow experiment per pipeline
    execution_arn        the pipeline execution: one run per execution (its tag makes the run idempotent)
    evaluation_uri       s3:// URI of the Evaluate step's evaluation.json (model-quality report)
    bias_gate_uri        s3:// URI of the BiasGate step's bias_gate.json, or "" without Clarify checks
    training_data_uri    the InputDataUri parameter: the dataset, versioned by a digest of its objects
    model_artifacts_uri  the Train step's model.tar.gz
    code_version         what the pipeline definition was built from
    hyperparameters      JSON object of the Train step's hyperparameters (strings, as the API takes them)
    auc_threshold        the AucThreshold parameter of this execution
"""

from __future__ import annotations

import hashlib
import json
import math
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from tracking import Dataset, RunRecord

MAX_REPORT_BYTES = 1_000_000
_FIELDS = (
    "experiment_name",
    "execution_arn",
    "evaluation_uri",
    "bias_gate_uri",
    "training_data_uri",
    "model_artifacts_uri",
    "code_version",
    "hyperparameters",
    "auc_threshold",
)


class EventError(ValueError):
    """The step's arguments are not what the pipeline sends; the message names the argument."""


@dataclass(frozen=True)
class StepArguments:
    experiment_name: str
    execution_arn: str
    evaluation_uri: str
    bias_gate_uri: str | None
    training_data_uri: str
    model_artifacts_uri: str
    code_version: str
    hyperparameters: dict[str, str]
    auc_threshold: float

    @classmethod
    def from_event(cls, event: object) -> StepArguments:
        if not isinstance(event, Mapping):
            raise EventError(f"the event must be an object of the step's arguments, got {type(event).__name__}")
        unknown = sorted(set(event) - set(_FIELDS))
        if unknown:
            raise EventError(f"unknown argument(s): {', '.join(map(repr, unknown))}")
        missing = [name for name in _FIELDS if name not in event]
        if missing:
            raise EventError(f"missing argument(s): {', '.join(missing)}")
        text = {name: event[name] for name in _FIELDS if name not in ("auc_threshold",)}
        for name, value in text.items():
            if not isinstance(value, str) or (not value.strip() and name != "bias_gate_uri"):
                raise EventError(f"argument {name} must be a non-empty string, got {value!r}")
        for name in ("evaluation_uri", "training_data_uri", "model_artifacts_uri") + (
            ("bias_gate_uri",) if event["bias_gate_uri"] else ()
        ):
            split_s3_uri(event[name], name)
        try:
            hyperparameters = json.loads(event["hyperparameters"])
        except json.JSONDecodeError as error:
            raise EventError(f"argument hyperparameters is not JSON: {error.msg}") from None
        if not isinstance(hyperparameters, dict) or not all(
            isinstance(k, str) and isinstance(v, str) for k, v in hyperparameters.items()
        ):
            raise EventError("argument hyperparameters must be a JSON object of strings")
        threshold = _number(event["auc_threshold"])
        if threshold is None:
            raise EventError(f"argument auc_threshold must be a finite number, got {event['auc_threshold']!r}")
        return cls(
            experiment_name=event["experiment_name"],
            execution_arn=event["execution_arn"],
            evaluation_uri=event["evaluation_uri"],
            bias_gate_uri=event["bias_gate_uri"] or None,
            training_data_uri=event["training_data_uri"],
            model_artifacts_uri=event["model_artifacts_uri"],
            code_version=event["code_version"],
            hyperparameters=hyperparameters,
            auc_threshold=threshold,
        )


def split_s3_uri(uri: str, name: str = "uri") -> tuple[str, str]:
    if not uri.startswith("s3://") or "/" not in uri[5:] or not uri[5:].split("/", 1)[0]:
        raise EventError(f"argument {name} must be an s3://bucket/key URI, got {uri!r}")
    bucket, key = uri[5:].split("/", 1)
    return bucket, key


def _number(value: Any) -> float | None:
    if isinstance(value, bool):
        return None
    try:
        number = float(value)
    except (TypeError, ValueError):
        return None
    return number if math.isfinite(number) else None


def dataset_digest(objects: Iterable[tuple[str, str, int]]) -> str:
    """A version of a dataset prefix: a digest of its objects' keys, ETags and sizes (order-independent)."""
    digest = hashlib.sha256()
    for key, etag, size in sorted(objects):
        digest.update(f"{key}\0{etag}\0{size}\n".encode())
    return digest.hexdigest()[:16]


def build_record(
    arguments: StepArguments,
    *,
    evaluation: Mapping[str, Any],
    bias_gate: Mapping[str, Any] | None,
    data_digest: str,
) -> RunRecord:
    """The run of one execution: hyperparameters as params; test and bias metrics; data and code versions."""
    section = evaluation.get("binary_classification_metrics")
    if not isinstance(section, Mapping):
        raise EventError("evaluation.json has no binary_classification_metrics section")
    metrics: dict[str, float] = {}
    for name, entry in section.items():
        value = _number(entry.get("value")) if isinstance(entry, Mapping) else None
        if value is not None:
            metrics[f"test_{name}"] = value
    if "test_auc" not in metrics:
        raise EventError("evaluation.json has no numeric binary_classification_metrics.auc.value")
    tags = {
        "code_version": arguments.code_version,
        "training_data_uri": arguments.training_data_uri,
        "model_artifacts_uri": arguments.model_artifacts_uri,
        "mlflow.source.type": "JOB",
        "mlflow.source.name": arguments.execution_arn,
    }
    if bias_gate is not None:
        passed = bias_gate.get("passed")
        if not isinstance(passed, bool):
            raise EventError("bias_gate.json has no boolean 'passed'")
        metrics["bias_gate_passed"] = 1.0 if passed else 0.0
        for code, value in (bias_gate.get("metrics") or {}).items():
            number = _number(value)
            if number is not None:  # Clarify reports undefined metrics as null: nothing to log
                metrics[f"bias_{code}"] = number
        if not passed:
            tags["bias_gate_reason"] = str(bias_gate.get("reason", ""))[:1000]
    params = {**arguments.hyperparameters, "auc_threshold": repr(arguments.auc_threshold)}
    return RunRecord(
        experiment_name=arguments.experiment_name,
        run_name=arguments.execution_arn.rsplit("/", 1)[-1],
        execution_arn=arguments.execution_arn,
        params=params,
        metrics=metrics,
        tags=tags,
        datasets=(
            Dataset(
                name="churn-training-data", digest=data_digest, source=arguments.training_data_uri, context="training"
            ),
        ),
    )


def read_json(get_object: Callable[[str, str], bytes], uri: str, name: str) -> dict[str, Any]:
    bucket, key = split_s3_uri(uri, name)
    raw = get_object(bucket, key)
    if len(raw) > MAX_REPORT_BYTES:
        raise EventError(f"{name} ({uri}) is larger than {MAX_REPORT_BYTES} bytes")
    try:
        document = json.loads(raw)
    except (json.JSONDecodeError, UnicodeDecodeError):
        raise EventError(f"{name} ({uri}) is not JSON") from None
    if not isinstance(document, dict):
        raise EventError(f"{name} ({uri}) is not a JSON object")
    return document
