"""The tour's Clarify part: the bias report of the registered model, and a run the bias gate stops.

Called by ``tour.tour_level1`` after the deployed pipeline has run on the curated data:

1. The registered version's Clarify reports (ModelMetrics.Bias / Explainability), read back from S3: the
   pre- and post-training bias metrics on the configured facet, and the top SHAP features.
2. The same deployed definition run again on a deliberately biased copy of the shipped sample (the label
   set to the facet: every customer in the facet churned, nobody else did), written as an offline store of the
   same feature groups (Feature Store's layout, ``emulator/offline_store.py``) under its own prefix and passed as
   the execution's InputDataUri. The gate must stop it, with its reason as the execution's failure message, and
   no model version is registered.

Clarify itself is stood in by the local runner (``emulator/clarify_local.py``); the tour lines say so.
The biased store lives under its own prefix of the curated bucket, which the pipeline role on AWS may not
read (it is granted the feature groups' offline-store prefix only): the demo passes it here, where IAM is not
evaluated.
"""

from __future__ import annotations

import csv
import json
import time
import uuid
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from emulator.offline_store import write_churn_stores
from emulator.pipeline_runner import LocalPipelineRun
from pipelines.glue import churn_features, churn_transform
from pipelines.training import clarify
from pipelines.training.steps import preprocess

SAMPLE_CSV = Path(churn_transform.__file__).with_name("sample") / "customers.csv"
BIASED_PREFIX = "bias-demo/"
STEP_REPORT = "Clarify bias report"
STEP_BIASED = "bias gate on a deliberately biased sample"


def _read_json(s3: Any, uri: str) -> Any:
    bucket, key = uri.removeprefix("s3://").split("/", 1)
    return json.loads(s3.get_object(Bucket=bucket, Key=key)["Body"].read())


def _metrics(report: dict[str, Any], section: str) -> str:
    parts = []
    for facet, entries in report.get(section, {}).get("facets", {}).items():
        for entry in entries:
            values = ", ".join(
                f"{m['name']}={m['value']:.3f}" if m["value"] is not None else f"{m['name']}=undefined"
                for m in entry["metrics"]
            )
            parts.append(f"{facet} {values}")
    return "; ".join(parts) or "none"


def facet_membership(facet: dict[str, Any]) -> Callable[[Any], int]:
    """A record's label in the biased sample: 1 if the Clarify facet selects it (its engineered feature), else 0."""
    name, (value,) = facet["name_or_index"], facet["value_or_threshold"]
    # A numeric facet selects the rows above its threshold, a one-hot column those equal to the value (Clarify).
    categorical = name not in clarify.NUMERIC_COLUMNS

    def churned(record: Any) -> int:
        feature = float(churn_features.engineer(record)[name])
        return int(feature == float(value) if categorical else feature > float(value))

    return churned


def write_biased_store(s3: Any, *, bucket: str, definition: dict[str, Any], facet: dict[str, Any]) -> str:
    """The shipped sample, cleaned and engineered as the ETL does, as an offline store of the pipeline's feature
    groups with churned = facet membership; returns the prefix URI to pass as InputDataUri."""
    steps = {step["Name"]: step for step in definition["Steps"]}
    arguments = preprocess.parse_args(steps["Preprocess"]["Arguments"]["AppSpecification"]["ContainerArguments"])
    with SAMPLE_CSV.open(newline="", encoding="utf-8") as sample:
        records = churn_transform.transform_rows(csv.DictReader(sample)).records
    uri = f"s3://{bucket}/{BIASED_PREFIX}"
    write_churn_stores(
        lambda target, key, body: s3.put_object(Bucket=target, Key=key, Body=body),
        base_uri=uri,
        account=arguments.account,
        region=arguments.region,
        group_names={
            churn_features.CUSTOMER_FEATURES.suffix: arguments.features_group,
            churn_features.CHURN_LABELS.suffix: arguments.labels_group,
        },
        records=records,
        event_time=churn_features.event_time_of(datetime.now(UTC)),
        creation_epoch=int(time.time()),
        churned=facet_membership(facet),
    )
    return uri


def tour_bias(
    *,
    s3: Any,
    sagemaker: Any,
    pipeline_name: str,
    group: str,
    definition: dict[str, Any],
    curated_bucket: str,
    invoke_lambda: Any = None,
) -> Iterator[tuple[str, str, str]]:
    """(step, outcome, fidelity) lines for the tour."""
    steps = {step["Name"]: step for step in definition["Steps"]}
    if "DataBiasCheck" not in steps:
        yield STEP_REPORT, "training.clarify.enabled is false in this environment: no Clarify checks", "real"
        return
    packages = sagemaker.list_model_packages(ModelPackageGroupName=group)["ModelPackageSummaryList"]
    if packages:
        package = sagemaker.describe_model_package(ModelPackageName=packages[0]["ModelPackageArn"])
        bias = package.get("ModelMetrics", {}).get("Bias", {})
        pre = _read_json(s3, bias["PreTrainingReport"]["S3Uri"])
        post = _read_json(s3, bias["PostTrainingReport"]["S3Uri"])
        shap = _read_json(s3, package["ModelMetrics"]["Explainability"]["Report"]["S3Uri"])
        top = list(shap["explanations"]["kernel_shap"]["label0"]["global_shap_values"].items())[:3]
        yield (
            STEP_REPORT,
            f"v{package['ModelPackageVersion']} pre-training: {_metrics(pre, 'pre_training_bias_metrics')}; "
            f"post-training: {_metrics(post, 'post_training_bias_metrics')}; top SHAP: "
            + ", ".join(f"{name}={value:.3f}" for name, value in top)
            + " (Clarify stood in by the local runner: TreeSHAP, in-process predictions)",
            "in-process",
        )
    # The facet as the deployed data-bias analysis config names it.
    config_input = next(
        i["S3Input"]["S3Uri"]
        for i in steps["DataBiasCheck"]["Arguments"]["ProcessingInputs"]
        if i["InputName"] == "analysis_config"
    )
    (facet,) = _read_json(s3, config_input)["facet"]
    biased_uri = write_biased_store(s3, bucket=curated_bucket, definition=definition, facet=facet)
    execution_arn = sagemaker.start_pipeline_execution(
        PipelineName=pipeline_name,
        ClientRequestToken=str(uuid.uuid4()),
        PipelineParameters=[{"Name": "InputDataUri", "Value": biased_uri}],
    )["PipelineExecutionArn"]
    run = LocalPipelineRun(
        s3=s3,
        sagemaker=sagemaker,
        definition=definition,
        execution_arn=execution_arn,
        parameters={"InputDataUri": biased_uri},
        invoke_lambda=invoke_lambda,
    )
    before = len(packages)
    log = run.run()
    after = len(sagemaker.list_model_packages(ModelPackageGroupName=group)["ModelPackageSummaryList"])
    gate = next((line for line in log if line.startswith("BiasGate:")), "BiasGate: did not run")
    yield STEP_BIASED, f"churned set to {facet['name_or_index']} membership; {gate}", "in-process"
    yield STEP_BIASED, f"{log[-1]} (model versions before {before}, after {after})", "in-process"
