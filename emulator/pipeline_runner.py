"""Run a deployed SageMaker pipeline's definition in this process, against the emulator's S3 and registry.

moto stores pipelines and answers StartPipelineExecution at once ("Succeeded") without running a
step. This runner takes the definition CloudFormation deployed, and executes it the way SageMaker
would, step by step, so the local tour proves that the definition's wiring holds (every ``Get``
resolves, each step finds its inputs, the condition reads the property file, the RegisterModel
request is accepted by the registry API):

- Processing steps: the step's own script is downloaded from the emulator (the asset the CDK CLI
  uploaded), imported, and run with every container path (``/opt/ml/...``) rebased into a temp dir;
  inputs are downloaded from and outputs uploaded to the S3 URIs the definition names.
- The data-quality baseline step (SageMaker's Model Monitor analyzer image, no script): an in-process
  stand-in reads the baseline CSV the step is given and writes ``statistics.json`` and
  ``constraints.json`` in Model Monitor's format (a subset: per-feature type, completeness and numeric
  statistics; constraints with the analyzer's default ``monitoring_config``), so RegisterModel can attach
  them and the promotion function can find them.
- Training steps (the built-in XGBoost algorithm has no script): `pipelines.training.local_train`
  trains with the step's hyperparameters and writes ``model.tar.gz`` as SageMaker does.
- Condition and Fail steps are evaluated; RegisterModel calls CreateModelPackage with the step's
  resolved arguments.
- Model steps call CreateModel; ClarifyCheck steps (SageMaker Clarify's image, no script) are stood in by
  ``emulator.clarify_local`` on the step's own analysis config and dataset, with the model the step's
  ModelName names loaded in-process instead of a shadow endpoint.
- Lambda steps call ``invoke_lambda`` (the caller runs the deployed function, see ``emulator.lambda_runner``)
  with the step's resolved arguments, and keep the outputs its OutputParameters name, as SageMaker does.

It is a stand-in for SageMaker's runtime: instance types, retries, network isolation and KMS are
not exercised, and the summary lines say so.
"""

from __future__ import annotations

import csv
import importlib.util
import json
import math
import re
import tempfile
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from emulator import clarify_local
from pipelines.training.local_train import train_like_sagemaker

CONTAINER_ROOT = Path("/opt/ml")
MODEL_MONITOR_IMAGE = "sagemaker-model-monitor-analyzer"
_LAMBDA_OUTPUT_GET = re.compile(r"^Steps\.(\w+)\.OutputParameters\['(\w+)'\]$")
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
    # Model step -> model name; ClarifyCheck step -> the analysis.json it wrote (its CalculatedBaselineConstraints).
    models: dict[str, str] = field(default_factory=dict)
    check_reports: dict[str, str] = field(default_factory=dict)
    log: list[str] = field(default_factory=list)
    # (function ARN, event) -> the function's response; None: a Lambda step stops the run with an error.
    invoke_lambda: Callable[[str, dict[str, Any]], Any] | None = None
    lambda_outputs: dict[str, dict[str, str]] = field(default_factory=dict)

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
            "Model": self._model,
            "ClarifyCheck": self._clarify_check,
            "Lambda": self._lambda,
        }
        handler = handlers.get(step["Type"])
        if handler is None:
            raise PipelineRunError(f"step {step['Name']}: type {step['Type']!r} is not supported by the local runner")
        handler(step, workdir)

    def _processing(self, step: Mapping[str, Any], workdir: Path) -> None:
        args = self._resolve(step["Arguments"])
        for source in args["ProcessingInputs"]:
            self._download(source["S3Input"]["S3Uri"], self._local(workdir, source["S3Input"]["LocalPath"]))
        app = args["AppSpecification"]
        if "ContainerEntrypoint" not in app and _is_model_monitor_image(app["ImageUri"]):
            self._model_monitor_baseline(step, args, workdir)
            return
        if "ContainerEntrypoint" not in app:
            raise PipelineRunError(
                f"step {step['Name']}: image {app['ImageUri']} runs its own entrypoint, which the local runner "
                "cannot stand in for"
            )
        entrypoint = Path(app["ContainerEntrypoint"][-1])
        script = self._local(workdir, str(entrypoint))
        if not script.is_file():
            raise PipelineRunError(f"step {step['Name']}: its script {entrypoint.name} was not among its inputs")
        module = _import_file(script)
        namespace = module.parse_args(list(app.get("ContainerArguments", [])))
        for name, value in vars(namespace).items():
            if isinstance(value, Path) and value.is_relative_to(CONTAINER_ROOT):
                setattr(namespace, name, self._local(workdir, str(value)))
        result = module.run(namespace)
        self._upload_outputs(step, args, workdir)
        for property_file in step.get("PropertyFiles", []):
            local_dir = next(
                self._local(workdir, o["S3Output"]["LocalPath"])
                for o in args["ProcessingOutputConfig"]["Outputs"]
                if o["OutputName"] == property_file["OutputName"]
            )
            key = f"Steps.{step['Name']}.PropertyFiles.{property_file['PropertyFileName']}"
            self.property_files[key] = json.loads((local_dir / property_file["FilePath"]).read_text())
        self.log.append(f"{step['Name']}: ran {entrypoint.name} from its deployed asset: {_summary(result)}")

    def _upload_outputs(self, step: Mapping[str, Any], args: Mapping[str, Any], workdir: Path) -> None:
        outputs: dict[str, str] = {}
        for output in args["ProcessingOutputConfig"]["Outputs"]:
            uri = output["S3Output"]["S3Uri"]
            self._upload(self._local(workdir, output["S3Output"]["LocalPath"]), uri)
            outputs[output["OutputName"]] = uri
        self.step_outputs[step["Name"]] = outputs

    def _model_monitor_baseline(self, step: Mapping[str, Any], args: Mapping[str, Any], workdir: Path) -> None:
        """Stand-in for the Model Monitor analyzer's baselining job (DefaultModelMonitor.suggest_baseline)."""
        environment = args.get("Environment", {})
        try:
            dataset_format = json.loads(environment["dataset_format"])
            source = self._local(workdir, environment["dataset_source"])
            output_dir = self._local(workdir, environment["output_path"])
        except (KeyError, ValueError) as error:
            raise PipelineRunError(
                f"step {step['Name']}: the analyzer needs dataset_format (JSON), dataset_source and output_path in "
                f"its Environment ({error!r})"
            ) from error
        if "csv" not in dataset_format:
            raise PipelineRunError(f"step {step['Name']}: only CSV baselines are stood in, got {dataset_format}")
        header = bool(dataset_format["csv"].get("header", False))
        files = sorted(path for path in source.rglob("*") if path.is_file())
        if not files:
            raise PipelineRunError(f"step {step['Name']}: no baseline dataset under {environment['dataset_source']}")
        statistics, constraints = baseline_statistics_and_constraints(files, header=header)
        output_dir.mkdir(parents=True, exist_ok=True)
        (output_dir / "statistics.json").write_text(json.dumps(statistics, indent=2) + "\n", encoding="utf-8")
        (output_dir / "constraints.json").write_text(json.dumps(constraints, indent=2) + "\n", encoding="utf-8")
        self._upload_outputs(step, args, workdir)
        self.log.append(
            f"{step['Name']}: Model Monitor analyzer stood in by the local runner: statistics.json and "
            f"constraints.json for {len(statistics['features'])} features of {statistics['dataset']['item_count']} "
            "rows"
        )

    def _model(self, step: Mapping[str, Any], workdir: Path) -> None:
        name = f"pipelines-{self.execution_id}-{step['Name']}"
        self.sagemaker.create_model(ModelName=name, **self._resolve(step["Arguments"]))
        self.models[step["Name"]] = name
        self.log.append(f"{step['Name']}: CreateModel with the step's own arguments -> {name}")

    def _clarify_check(self, step: Mapping[str, Any], workdir: Path) -> None:
        args = self._resolve(step["Arguments"])
        inputs = {i["InputName"]: i["S3Input"] for i in args["ProcessingInputs"]}
        for source in inputs.values():
            self._download(source["S3Uri"], self._local(workdir, source["LocalPath"]))
        archive = None
        if "ModelName" in step:
            model = self.sagemaker.describe_model(ModelName=self._resolve(step["ModelName"]))
            archive = workdir / "model" / "model.tar.gz"
            archive.parent.mkdir(parents=True, exist_ok=True)
            self.s3.download_file(*_split(model["PrimaryContainer"]["ModelDataUrl"]), str(archive))
        (output,) = args["ProcessingOutputConfig"]["Outputs"]
        try:
            report = clarify_local.run_clarify_job(
                config_dir=self._local(workdir, inputs["analysis_config"]["LocalPath"]),
                data_dir=self._local(workdir, inputs["dataset"]["LocalPath"]),
                output_dir=self._local(workdir, output["S3Output"]["LocalPath"]),
                model_archive=archive,
            )
        except clarify_local.ClarifyInputError as error:
            raise PipelineRunError(f"step {step['Name']}: {error}") from error
        self._upload_outputs(step, args, workdir)
        self.check_reports[step["Name"]] = f"{output['S3Output']['S3Uri'].rstrip('/')}/analysis.json"
        self.log.append(
            f"{step['Name']}: Clarify {step['CheckType']} stood in by the local runner: {clarify_local.summary(report)}"
        )

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

    def _lambda(self, step: Mapping[str, Any], workdir: Path) -> None:
        if self.invoke_lambda is None:
            raise PipelineRunError(f"step {step['Name']}: a Lambda step needs invoke_lambda (the deployed function)")
        event = self._resolve(step.get("Arguments", {}))
        response = self.invoke_lambda(step["FunctionArn"], event)
        outputs: dict[str, str] = {}
        for output in step.get("OutputParameters", []):
            name = output["OutputName"]
            # SageMaker fails the step when the function's response lacks a declared output.
            if not isinstance(response, Mapping) or name not in response:
                raise PipelineRunError(f"step {step['Name']}: the function's response has no output {name!r}")
            outputs[name] = str(response[name])
        self.lambda_outputs[step["Name"]] = outputs
        shown = ", ".join(f"{k}={v}" for k, v in outputs.items()) or "no outputs"
        self.log.append(f"{step['Name']}: invoked {step['FunctionArn'].rsplit(':', 1)[-1]} (deployed package): {shown}")

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
        if path == "Execution.PipelineName":
            # arn:aws:sagemaker:<region>:<account>:pipeline/<name>/execution/<id>
            return self.execution_arn.split(":pipeline/", 1)[1].split("/", 1)[0]
        if match := _LAMBDA_OUTPUT_GET.match(path):
            return self.lambda_outputs[match[1]][match[2]]
        if match := _OUTPUT_GET.match(path):
            return self.step_outputs[match[1]][match[2]]
        if path.endswith(".ModelArtifacts.S3ModelArtifacts"):
            return self.model_artifacts[path.split(".")[1]]
        if path.endswith((".CalculatedBaselineConstraints", ".BaselineUsedForDriftCheckConstraints")):
            # First version of the group: the baseline used is the one just calculated.
            return self.check_reports[path.split(".")[1]]
        if path.endswith(".ModelName") and path.split(".")[1] in self.models:
            return self.models[path.split(".")[1]]
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


def _is_model_monitor_image(image_uri: str) -> bool:
    repository = image_uri.rsplit("/", 1)[-1].split(":", 1)[0]
    return repository == MODEL_MONITOR_IMAGE


def baseline_statistics_and_constraints(files: list[Path], *, header: bool) -> tuple[dict[str, Any], dict[str, Any]]:
    """Model Monitor's statistics.json and constraints.json (a subset) of CSV files, as the analyzer writes them.

    Per feature: name (from the header, else ``_c<index>`` as the analyzer names them), inferred type
    (Integral, Fractional or String), completeness; numeric features get num_present/num_missing, mean,
    sum, std_dev (population), min and max. Constraints carry the analyzer's default monitoring_config.
    """
    names: list[str] | None = None
    columns: list[list[str]] = []
    for path in files:
        with path.open(newline="", encoding="utf-8") as handle:
            rows = csv.reader(handle)
            if header:
                file_names = next(rows, None)
                if file_names is None:
                    continue
                if names is not None and file_names != names:
                    raise PipelineRunError(f"baseline file {path.name} has a different header than the first file")
                names = file_names
            for row in rows:
                if not row:
                    continue
                if not columns:
                    columns = [[] for _ in row]
                if len(row) != len(columns):
                    raise PipelineRunError(f"baseline file {path.name} has rows of {len(row)} and {len(columns)} cells")
                for column, cell in zip(columns, row, strict=True):
                    column.append(cell.strip())
    if not columns:
        raise PipelineRunError("the baseline dataset has no rows")
    if names is None:
        names = [f"_c{index}" for index in range(len(columns))]
    if len(names) != len(columns):
        raise PipelineRunError(f"the baseline header names {len(names)} columns but rows have {len(columns)}")
    item_count = len(columns[0])
    features: list[dict[str, Any]] = []
    feature_constraints: list[dict[str, Any]] = []
    for name, cells in zip(names, columns, strict=True):
        present = [cell for cell in cells if cell != ""]
        inferred = _inferred_type(present)
        feature: dict[str, Any] = {"name": name, "inferred_type": inferred}
        common = {"num_present": len(present), "num_missing": item_count - len(present)}
        if inferred in {"Integral", "Fractional"}:
            values = [float(cell) for cell in present]
            mean = sum(values) / len(values) if values else 0.0
            variance = sum((value - mean) ** 2 for value in values) / len(values) if values else 0.0
            feature["numerical_statistics"] = {
                "common": common,
                "mean": mean,
                "sum": sum(values),
                "std_dev": math.sqrt(variance),
                "min": min(values, default=0.0),
                "max": max(values, default=0.0),
            }
        else:
            feature["string_statistics"] = {"common": common, "distinct_count": float(len(set(present)))}
        features.append(feature)
        # The analyzer suggests full completeness for complete baseline columns; num_missing is in the statistics.
        constraint: dict[str, Any] = {"name": name, "inferred_type": inferred, "completeness": 1.0}
        if inferred in {"Integral", "Fractional"}:
            constraint["num_constraints"] = {"is_non_negative": all(float(cell) >= 0 for cell in present)}
        feature_constraints.append(constraint)
    statistics = {"version": 0.0, "dataset": {"item_count": item_count}, "features": features}
    constraints = {
        "version": 0.0,
        "features": feature_constraints,
        "monitoring_config": {
            "evaluate_constraints": "Enabled",
            "emit_metrics": "Enabled",
            "datatype_check_threshold": 1.0,
            "domain_content_threshold": 1.0,
            "distribution_constraints": {
                "perform_comparison": "Enabled",
                "comparison_threshold": 0.1,
                "comparison_method": "Robust",
                "categorical_comparison_threshold": 0.1,
                "categorical_drift_method": "LInfinity",
            },
        },
    }
    return statistics, constraints


def _inferred_type(cells: list[str]) -> str:
    def parses(cell: str, kind: type) -> bool:
        try:
            kind(cell)
        except ValueError:
            return False
        return True

    if cells and all(parses(cell, int) for cell in cells):
        return "Integral"
    if cells and all(parses(cell, float) and math.isfinite(float(cell)) for cell in cells):
        return "Fractional"
    return "String"


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
        rows = "rows " + ", ".join(f"{name}={count}" for name, count in result["rows"].items())
        store = result.get("offline_store")
        if isinstance(store, Mapping):
            return (
                f"training set built from the offline store: {store['joined']} labels joined point-in-time, "
                f"{store['without_features']} without features; {rows}"
            )
        return rows
    if isinstance(result, Mapping) and "passed" in result and "reason" in result:
        return str(result["reason"])
    if isinstance(result, Mapping) and "binary_classification_metrics" in result:
        metrics = result["binary_classification_metrics"]
        return ", ".join(
            f"{name}={metrics[name]['value']:.3f}" for name in ("auc", "accuracy", "f1") if name in metrics
        )
    return "done"
