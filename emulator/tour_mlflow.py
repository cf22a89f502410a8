"""The tour's experiment-tracking part: the deployed LogExperimentRun function against a stand-in MLflow app.

moto has no MLflow apps. The training pipeline's Lambda step is run by the local pipeline runner through
:func:`experiment_tracking`: the deployed function (its package and environment from the emulator) is invoked
with the step's resolved arguments, and ``MLFLOW_ENDPOINT_URL`` (set only here) points it at the loopback
stand-in of its app (``emulator.mlflow_local``), which checks the SigV4 scope and the app header the real app
routes on. The tour labels the run "in-process" and names the stand-in.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any, Literal

from emulator.lambda_runner import deployed_function
from emulator.mlflow_local import MlflowStandIn, mlflow_stand_in
from emulator.shims.mlflow import recorded_app
from pipelines.training.tracking_step import RUN_ID_OUTPUT, TRACKING_STEP

STEP_RUN = "MLflow run of the registered version"
STEP_DEFAULT = "Studio domain's default MLflow app"


def default_domain_line(out: dict[str, str]) -> tuple[str, str, Literal["in-process"]] | None:
    """(step, outcome, fidelity): which Studio domains open Level 0's app by default; None without the app.

    The setting is made at deploy time by the stack's Custom::AWS resource (UpdateMlflowApp); here the
    emulator's shim made that call on the recorded app, in place of CDK's provider function.
    """
    arn = out.get("MlflowAppArn")
    if arn is None:
        return None
    _, _, _, region, account, _ = arn.split(":", 5)
    app = recorded_app(account, region, arn)
    if app is None:
        return STEP_DEFAULT, f"{arn} is not recorded by the emulator", "in-process"
    domains = ", ".join(app.default_domain_ids) or "none"
    mark = "" if out["StudioDomainId"] in app.default_domain_ids else f" (not this stack's {out['StudioDomainId']})"
    return STEP_DEFAULT, f"{app.name} is the default for Studio domain(s) {domains}{mark}", "in-process"


@dataclass(frozen=True)
class Tracking:
    invoke_lambda: Callable[[str, dict[str, Any]], Any]
    stand_in: MlflowStandIn


@contextmanager
def experiment_tracking(aws: Any, definition: dict[str, Any]) -> Iterator[Tracking | None]:
    """A Lambda invoker for the pipeline runner and the MLflow stand-in it logs to; None without the step."""
    step = next((s for s in definition["Steps"] if s["Type"] == "Lambda" and s["Name"] == TRACKING_STEP), None)
    if step is None:
        yield None
        return
    function = deployed_function(aws, "experiment_tracking", step["FunctionArn"])
    with mlflow_stand_in(function.environment["MLFLOW_APP_ARN"]) as stand_in:

        def invoke(function_arn: str, event: dict[str, Any]) -> Any:
            if function_arn != step["FunctionArn"]:
                raise RuntimeError(f"the tour runs only {step['FunctionArn']}, not {function_arn}")
            # The emulator's endpoint and dummy credentials (as for every deployed function the tour runs),
            # and the app's API on the loopback stand-in.
            extra_env = {**aws.env(base={}), "MLFLOW_ENDPOINT_URL": stand_in.endpoint}
            return function.invoke(event, extra_env=extra_env).response

        yield Tracking(invoke, stand_in)


def run_lines(sagemaker: Any, group: str, tracking: Tracking | None) -> Iterator[tuple[str, str, str]]:
    """(step, outcome, fidelity): the run the latest registered version links to, read from the stand-in."""
    if tracking is None:
        yield STEP_RUN, "mlflow.enabled is false in this environment: no MLflow app, no runs", "real"
        return
    packages = sagemaker.list_model_packages(ModelPackageGroupName=group)["ModelPackageSummaryList"]
    if not packages:
        yield STEP_RUN, "no model version registered, so none links to a run", "in-process"
        return
    package = sagemaker.describe_model_package(ModelPackageName=packages[0]["ModelPackageArn"])
    run_id = package.get("CustomerMetadataProperties", {}).get(f"mlflow_{RUN_ID_OUTPUT}")
    run = tracking.stand_in.runs.get(run_id or "")
    if run is None:
        missing = f"v{package['ModelPackageVersion']} names run {run_id!r}, which the app does not hold"
        yield STEP_RUN, missing, "in-process"
        return
    experiment_id = run["info"]["experiment_id"]
    experiment = next(name for name, eid in tracking.stand_in.experiments.items() if eid == experiment_id)
    metrics = {m["key"]: m["value"] for m in run["data"]["metrics"]}
    shown = ", ".join(f"{k}={metrics[k]:.3f}" for k in sorted(metrics) if k == "test_auc" or k.startswith("bias_"))
    (dataset,) = run["inputs"]["dataset_inputs"]
    yield (
        STEP_RUN,
        f"v{package['ModelPackageVersion']} -> run {run_id} ({run['info']['status']}) in experiment {experiment}: "
        f"{len(run['data']['params'])} params, {shown}; dataset digest {dataset['dataset']['digest']}; "
        f"{len(tracking.stand_in.runs)} run(s) logged, {len(tracking.stand_in.refused)} request(s) refused "
        f"(MLflow app stood in on loopback {tracking.stand_in.endpoint}: SigV4 scope and app header checked)",
        "in-process",
    )
