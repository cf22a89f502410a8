"""`maturity assess` evidence for experiment tracking (issue 17: "hyperparameters, datasets, metrics,
comparable runs").

Passes when the newest version of a model package group names the MLflow run it came from (``mlflow_run_id``
in CustomerMetadataProperties), which is what the Level 1 training pipeline registers when ``mlflow.enabled``;
the account's MLflow apps and tracking servers are listed as evidence next to it. An app without any version
linked to a run is reported as such: runs nobody can trace a model back to are not yet tracking.
Registered in ``checks.CHECKS``.
"""

from __future__ import annotations

from maturity.aws import Api, SessionLike
from maturity.checks.base import _SHOWN, Check, Evidence, _Probes
from maturity.checks.training import _RUN_PIPELINE_HINT, _model_groups, _newest_described

__all__ = ["RUN_ID_PROPERTY", "TRACKING_CHECK", "experiment_tracking"]

RUN_ID_PROPERTY = "mlflow_run_id"
_ENABLE_HINT = "set mlflow.enabled in cdk.json, deploy Level 0 and Level 1, and run the training pipeline"


def experiment_tracking(session: SessionLike) -> Evidence:
    sagemaker = Api(session, "sagemaker")
    probe = _Probes()
    servers = [
        f"MLflow app {app.get('Name', '?')} ({app.get('Status', '?')})"
        for app in probe.items(sagemaker, "list_mlflow_apps", "Summaries")
    ]
    servers += [
        f"MLflow tracking server {server.get('TrackingServerName', '?')} ({server.get('TrackingServerStatus', '?')})"
        for server in probe.items(sagemaker, "list_mlflow_tracking_servers", "TrackingServerSummaries")
    ]
    linked: list[str] = []
    unlinked: list[str] = []
    for label, described in _newest_described(probe, sagemaker, _model_groups(probe, sagemaker)):
        run_id = (described.get("CustomerMetadataProperties") or {}).get(RUN_ID_PROPERTY)
        (linked if run_id else unlinked).append(f"{label} came from MLflow run {run_id}" if run_id else label)
    if linked:
        # The run id on the version is the proof that runs were logged; the app list adds where (it may be
        # unreadable, or in another account for a shared tracking server).
        return Evidence(
            "pass",
            f"Runs are tracked and models trace back to them: {'; '.join((linked + servers)[:_SHOWN])}.",
            tuple(linked + servers),
        )
    if probe.failures:
        return Evidence("unknown", f"unknown: {'; '.join(probe.failures)}", unknown=tuple(probe.failures))
    if not servers:
        return Evidence("missing", "No MLflow app or tracking server: experiments are not tracked.", hint=_ENABLE_HINT)
    if unlinked:
        return Evidence(
            "missing",
            f"{'; '.join(servers[:_SHOWN])}, but the newest versions ({', '.join(unlinked[:_SHOWN])}) name no MLflow "
            "run: nobody can compare a registered model with the runs behind it.",
            hint=_ENABLE_HINT,
        )
    return Evidence(
        "missing", f"{'; '.join(servers[:_SHOWN])}, but no model version is registered yet.", hint=_RUN_PIPELINE_HINT
    )


TRACKING_CHECK = Check(
    "experiment-tracking",
    "Are training runs tracked (parameters, metrics, data and code versions) and is each model linked to its run?",
    1,
    (
        "sagemaker:ListMlflowApps",
        "sagemaker:ListMlflowTrackingServers",
        "sagemaker:ListModelPackageGroups",
        "sagemaker:ListModelPackages",
        "sagemaker:DescribeModelPackage",
    ),
    "Level1Repeatable",
    "a managed MLflow app (Level 0) and one MLflow run per training-pipeline execution, linked from the model package",
    experiment_tracking,
)
