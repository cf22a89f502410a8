"""Run a deployed SageMaker pipeline's definition in this process, against the emulator's S3 and registry.

moto stores pipelines and answers StartPipelineExecution at once ("Succeeded") without running a
step. This runner takes the definition CloudFormation deployed, and executes it the way SageMaker
would, step by step, so the local tour proves that the definition's wiring holds (every ``Get``
resolves, each step finds its inputs, the condition reads the property file, the RegisterModel
request is accepted by the registry API):

- Processing steps: the step's own script is downloaded from the emulator (the asset the CDK CLI
  uploaded), imported, and run with every container path (``/opt/ml/...``) rebased into a temp dir;
  inputs are downloaded from and outputs uploaded to the S3 URIs the definition names.
- Training steps (the built-in XGBoost algorithm has no script): `pipelines.training.local_train`
  trains with the step's hyperparameters and writes ``model.tar.gz`` as SageMaker does.
- Condition and Fail steps are evaluated; RegisterModel calls CreateModelPackage with the step's
  resolved arguments.

It is a stand-in for SageMaker's runtime: instance types, retries, network isolation and KMS are
not exercised, and the summary lines say so.
"""

from __future__ import annotations

import importlib.util
import json
import re
import tempfile
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from pipelines.training.local_train import train_like_sagemaker

CONTAINER_ROOT = Path("/opt/ml")
_OUTPUT_GET = re.compile(r"^Steps\.(\w+)\.ProcessingOutputConfig\.Outputs\['(\w+)'\]\.S3Output\.S3Uri$")


class PipelineRunError(RuntimeError):
    """A step of the definition could not run; the message names the step and why."""


@dataclass
class LocalPipelineRun:
    """One in-process execution of a pipeline definition."""

    s3: Any
    sagemaker: Any
    definition: Mapping[str, Any]
    execution_arn: str
    parameters: dict[str, Any] = field(default_factory=dict)
    step_outputs: dict[str, dict[str, str]] = field(default_factory=dict)
    model_artifacts: dict[str, str] = field(default_factory=dict)
    property_files: dict[str, Any] = field(default_factory=dict)
    log: list[str] = field(default_factory=list)

    @property
    def execution_id(self) -> str:
        return self.execution_arn.rsplit("/", 1)[-1]

    def run(self) -> list[str]:
        """Execute every step in order; returns one line per step (what ran and what it produced)."""
        for parameter in self.definition.get("Parameters", []):
            self.parameters.setdefault(parameter["Name"], parameter.get("DefaultValue"))
        with tempfile.TemporaryDirectory(prefix="pipeline-") as scratch:
            for step in self.definition["Steps"]:
                self._run_step(step, Path(scratch) / step["Name"])
        return self.log

    # -- steps -------------------------------------------------------------------------------------

    def _run_step(self, step: Mapping[str, Any], workdir: Path) -> None:
        handlers: dict[str, Callable[[Mapping[str, Any], Path], None]] = {
            "Processing": self._processing,
            "Training": self._training,
            "Condition": self._condition,
            "RegisterModel": self._register,
            "Fail": self._fail,
        }
        handler = handlers.get(step["Type"])
        if handler is None:
            raise PipelineRunError(f"step {step['Name']}: type {step['Type']!r} is not supported by the local runner")
        handler(step, workdir)

    def _processing(self, step: Mapping[str, Any], workdir: Path) -> None:
        args = self._resolve(step["Arguments"])
        entrypoint = Path(args["AppSpecification"]["ContainerEntrypoint"][-1])
        for source in args["ProcessingInputs"]:
            self._download(source["S3Input"]["S3Uri"], self._local(workdir, source["S3Input"]["LocalPath"]))
        script = self._local(workdir, str(entrypoint))
        if not script.is_file():
            raise PipelineRunError(f"step {step['Name']}: its script {entrypoint.name} was not among its inputs")
        module = _import_file(script)
        namespace = module.parse_args([])
        for name, value in vars(namespace).items():
            if isinstance(value, Path) and value.is_relative_to(CONTAINER_ROOT):
                setattr(namespace, name, self._local(workdir, str(value)))
        result = module.run(namespace)
        outputs: dict[str, str] = {}
        for output in args["ProcessingOutputConfig"]["Outputs"]:
            uri = output["S3Output"]["S3Uri"]
            self._upload(self._local(workdir, output["S3Output"]["LocalPath"]), uri)
            outputs[output["OutputName"]] = uri
        self.step_outputs[step["Name"]] = outputs
        for property_file in step.get("PropertyFiles", []):
            local_dir = next(
                self._local(workdir, o["S3Output"]["LocalPath"])
                for o in args["ProcessingOutputConfig"]["Outputs"]
                if o["OutputName"] == property_file["OutputName"]
            )
            key = f"Steps.{step['Name']}.PropertyFiles.{property_file['PropertyFileName']}"
            self.property_files[key] = json.loads((local_dir / property_file["FilePath"]).read_text())
        self.log.append(f"{step['Name']}: ran {entrypoint.name} from its deployed asset: {_summary(result)}")

    def _training(self, step: Mapping[str, Any], workdir: Path) -> None:
        args = self._resolve(step["Arguments"])
        channels = {}
        for channel in args["InputDataConfig"]:
            local = workdir / "input" / "data" / channel["ChannelName"]
            self._download(channel["DataSource"]["S3DataSource"]["S3Uri"], local)
            channels[channel["ChannelName"]] = local
        model_dir = workdir / "model"
        train_like_sagemaker(
            train_dir=channels["train"],
            validation_dir=channels["validation"],
            hyperparameters=args["HyperParameters"],
            model_dir=model_dir,
        )
        job_name = f"pipelines-{self.execution_id}-{step['Name']}"
        artifact = f"{args['OutputDataConfig']['S3OutputPath'].rstrip('/')}/{job_name}/output/model.tar.gz"
        self._upload(model_dir / "model.tar.gz", artifact)
        self.model_artifacts[step["Name"]] = artifact
        self.log.append(f"{step['Name']}: built-in XGBoost stood in by local_train -> {artifact}")

    def _condition(self, step: Mapping[str, Any], workdir: Path) -> None:
        arguments = step["Arguments"]
        outcomes = [self._compare(c) for c in arguments["Conditions"]]
        branch = "IfSteps" if all(outcomes) else "ElseSteps"
        self.log.append(f"{step['Name']}: {'all conditions hold' if all(outcomes) else 'a condition failed'}")
        for inner in arguments[branch]:
            self._run_step(inner, workdir / inner["Name"])

    def _register(self, step: Mapping[str, Any], workdir: Path) -> None:
        request = self._resolve(step["Arguments"])
        arn = self.sagemaker.create_model_package(**request)["ModelPackageArn"]
        self.log.append(f"{step['Name']}: CreateModelPackage with the step's own arguments -> {arn}")

    def _fail(self, step: Mapping[str, Any], workdir: Path) -> None:
        message = self._resolve(step["Arguments"]["ErrorMessage"])
        self.log.append(f"{step['Name']}: execution fails: {message}")

    def _compare(self, condition: Mapping[str, Any]) -> bool:
        left, right = self._resolve(condition["LeftValue"]), self._resolve(condition["RightValue"])
        comparisons: dict[str, Callable[[Any, Any], bool]] = {
            "GreaterThanOrEqualTo": lambda a, b: float(a) >= float(b),
            "GreaterThan": lambda a, b: float(a) > float(b),
            "LessThanOrEqualTo": lambda a, b: float(a) <= float(b),
            "LessThan": lambda a, b: float(a) < float(b),
            "Equals": lambda a, b: a == b,
        }
        if condition["Type"] not in comparisons:
            raise PipelineRunError(f"condition type {condition['Type']!r} is not supported by the local runner")
        return comparisons[condition["Type"]](left, right)

    # -- expressions -------------------------------------------------------------------------------

    def _resolve(self, value: Any) -> Any:
        if isinstance(value, list):
            return [self._resolve(v) for v in value]
        if not isinstance(value, dict):
            return value
        if set(value) == {"Get"}:
            return self._get(value["Get"])
        if set(value) == {"Std:Join"}:
            join = value["Std:Join"]
            return join["On"].join(str(self._resolve(v)) for v in join["Values"])
        if set(value) == {"Std:JsonGet"}:
            document: Any = self._resolve(value["Std:JsonGet"]["PropertyFile"])
            for part in value["Std:JsonGet"]["Path"].split("."):
                document = document[part]
            return document
        return {k: self._resolve(v) for k, v in value.items()}

    def _get(self, path: str) -> Any:
        if path.startswith("Parameters."):
            return self.parameters[path.removeprefix("Parameters.")]
        if path == "Execution.PipelineExecutionArn":
            return self.execution_arn
        if path == "Execution.PipelineExecutionId":
            return self.execution_id
        if match := _OUTPUT_GET.match(path):
            return self.step_outputs[match[1]][match[2]]
        if path.endswith(".ModelArtifacts.S3ModelArtifacts"):
            return self.model_artifacts[path.split(".")[1]]
        if path in self.property_files:
            return self.property_files[path]
        raise PipelineRunError(f"the local runner cannot resolve {{'Get': {path!r}}}")

    # -- S3 ------------------------------------------------------------------------------------------

    @staticmethod
    def _local(workdir: Path, container_path: str) -> Path:
        return workdir / Path(container_path).relative_to(CONTAINER_ROOT)

    def _download(self, uri: str, local_dir: Path) -> None:
        bucket, prefix = _split(uri)
        local_dir.mkdir(parents=True, exist_ok=True)
        found = 0
        for page in self.s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix):
            for item in page.get("Contents", []):
                relative = item["Key"][len(prefix) :].lstrip("/") or Path(item["Key"]).name
                target = local_dir / relative
                target.parent.mkdir(parents=True, exist_ok=True)
                self.s3.download_file(bucket, item["Key"], str(target))
                found += 1
        if not found:
            raise PipelineRunError(f"nothing to download at {uri}")

    def _upload(self, local: Path, uri: str) -> None:
        bucket, key = _split(uri)
        if local.is_file():
            self.s3.upload_file(str(local), bucket, key)
            return
        for path in sorted(p for p in local.rglob("*") if p.is_file()):
            self.s3.upload_file(str(path), bucket, f"{key.rstrip('/')}/{path.relative_to(local).as_posix()}")


def _split(uri: str) -> tuple[str, str]:
    parts = urlsplit(uri)
    return parts.netloc, parts.path.lstrip("/")


def _import_file(path: Path) -> Any:
    spec = importlib.util.spec_from_file_location(f"_pipeline_step_{path.stem}", path)
    if spec is None or spec.loader is None:  # pragma: no cover - a .py file always has a loader
        raise PipelineRunError(f"cannot import {path}")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _summary(result: Any) -> str:
    """A short account of what a step script returned (split sizes, or the headline metrics)."""
    if isinstance(result, Mapping) and "rows" in result:
        return "rows " + ", ".join(f"{name}={count}" for name, count in result["rows"].items())
    if isinstance(result, Mapping) and "binary_classification_metrics" in result:
        metrics = result["binary_classification_metrics"]
        return ", ".join(
            f"{name}={metrics[name]['value']:.3f}" for name in ("auc", "accuracy", "f1") if name in metrics
        )
    return "done"
