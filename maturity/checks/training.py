"""Level 1 (repeatable) checks: automated ETL, the training pipeline, the model registry and lineage."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any

from maturity.aws import Api, SessionLike
from maturity.checks.base import (
    _MAX_PARENTS,
    _SHOWN,
    Evidence,
    _arn_name,
    _names,
    _Probes,
)

# --------------------------------------------------------------------------------------------------
# Level 1: repeatable


def etl_automated(session: SessionLike) -> Evidence:
    """An active Glue trigger runs a job, or an enabled rule on the default event bus starts a Glue job or a
    state machine whose definition calls ``glue:startJobRun``. A scheduled crawler alone refreshes the
    catalog, not the data, so it does not count here."""
    glue, events, states = Api(session, "glue"), Api(session, "events"), Api(session, "stepfunctions")
    probe = _Probes()
    found: list[str] = []
    for trigger in probe.items(glue, "get_triggers", "Triggers"):
        jobs = [action["JobName"] for action in trigger.get("Actions", []) if action.get("JobName")]
        active = trigger.get("State") in ("ACTIVATED", "ACTIVATING")
        if jobs and active and trigger.get("Type") in ("SCHEDULED", "CONDITIONAL", "EVENT"):
            found.append(f"Glue trigger {trigger['Name']} ({trigger['Type'].lower()}) runs job {', '.join(jobs)}")
    runs_etl: dict[str, bool] = {}

    def state_machine_runs_etl(arn: str) -> bool:
        if arn not in runs_etl:
            described = probe.call(states, "describe_state_machine", stateMachineArn=arn)
            runs_etl[arn] = described is not None and "glue:startJobRun" in str(described.get("definition", ""))
        return runs_etl[arn]

    rules = probe.items(events, "list_rules", "Rules")
    for rule in [r for r in rules if r.get("State") == "ENABLED"][:_MAX_PARENTS]:
        name = rule["Name"]
        targets = probe.items(events, "list_targets_by_rule", "Targets", Rule=name)
        trigger_kind = f"schedule {rule['ScheduleExpression']}" if rule.get("ScheduleExpression") else "event pattern"
        for target in targets:
            arn = str(target.get("Arn", ""))
            if ":glue:" in arn:
                found.append(f"EventBridge rule {name} ({trigger_kind}) starts Glue {_arn_name(arn)}")
            elif ":states:" in arn and state_machine_runs_etl(arn):
                found.append(
                    f"EventBridge rule {name} ({trigger_kind}) starts state machine {_arn_name(arn)}, "
                    "which runs a Glue job"
                )
    return probe.verdict(
        found,
        present=f"ETL runs without a person: {'; '.join(found[:_SHOWN])}.",
        absent="No active Glue trigger runs a job and no enabled EventBridge rule starts a Glue job or a state "
        "machine that runs one: curated data is refreshed by hand.",
    )


def training_pipeline(session: SessionLike) -> Evidence:
    sagemaker = Api(session, "sagemaker")
    probe = _Probes()
    pipelines = probe.items(sagemaker, "list_pipelines", "PipelineSummaries")
    names = [p["PipelineName"] for p in pipelines]
    return probe.verdict(
        [_names(names, "SageMaker pipeline")] if names else [],
        present=f"Training is a pipeline: {_names(names, 'SageMaker pipeline')}.",
        absent="No SageMaker pipeline: models are trained by hand in notebooks.",
    )


def _model_groups(probe: _Probes, sagemaker: Api) -> dict[str, list[dict[str, Any]]]:
    """Model package group name -> its newest versions (newest first; at most a few)."""
    groups = probe.items(sagemaker, "list_model_package_groups", "ModelPackageGroupSummaryList")
    versions: dict[str, list[dict[str, Any]]] = {}
    for group in groups[:_MAX_PARENTS]:
        name = group["ModelPackageGroupName"]
        listed = probe.call(
            sagemaker,
            "list_model_packages",
            ModelPackageGroupName=name,
            SortBy="CreationTime",
            SortOrder="Descending",
            MaxResults=_SHOWN,
        )
        if listed is not None:
            versions[name] = listed.get("ModelPackageSummaryList", [])
    return versions


def _newest_described(
    probe: _Probes, sagemaker: Api, groups: Mapping[str, list[dict[str, Any]]]
) -> Iterator[tuple[str, dict[str, Any]]]:
    """``("<group> v<version>", DescribeModelPackage answer)`` of each group's newest version. A group without
    versions is skipped; a describe that fails is recorded by ``probe`` and skipped."""
    for name, versions in groups.items():
        if not versions:
            continue
        described = probe.call(sagemaker, "describe_model_package", ModelPackageName=versions[0]["ModelPackageArn"])
        if described is not None:
            yield f"{name} v{described.get('ModelPackageVersion', '?')}", described


_RUN_PIPELINE_HINT = (
    "Run the training pipeline once (`aws sagemaker start-pipeline-execution --pipeline-name <name>`): "
    "it registers the first model version, with its lineage"
)


def model_registry(session: SessionLike) -> Evidence:
    probe = _Probes()
    groups = _model_groups(probe, Api(session, "sagemaker"))
    found = [f"{name}: {len(v)}{'+' if len(v) >= _SHOWN else ''} version(s)" for name, v in groups.items() if v]
    empty = [name for name, v in groups.items() if not v]
    if empty and not found and not probe.failures:
        return Evidence(
            "missing",
            f"{_names(empty, 'model package group')} but no model version in any: nothing has been registered.",
            hint=_RUN_PIPELINE_HINT,
        )
    return probe.verdict(
        found,
        present=f"Models are versioned in the Model Registry: {'; '.join(found[:_SHOWN])}.",
        absent="No model package group: trained models live as files, not as registered versions.",
    )


def model_lineage(session: SessionLike) -> Evidence:
    sagemaker = Api(session, "sagemaker")
    probe = _Probes()
    groups = _model_groups(probe, sagemaker)
    found: list[str] = []
    without: list[str] = []
    for label, described in _newest_described(probe, sagemaker, groups):
        keys = sorted(described.get("CustomerMetadataProperties") or {}) + sorted(
            f"MetadataProperties.{k}" for k in described.get("MetadataProperties") or {}
        )
        if keys:
            found.append(f"{label} records {', '.join(keys)}")
        else:
            without.append(label)
    if not found and not probe.failures:
        if without:
            return Evidence(
                "missing",
                f"The newest versions ({', '.join(without[:_SHOWN])}) record no lineage "
                "(no CustomerMetadataProperties or MetadataProperties): which data and code made them is lost.",
            )
        if groups:
            return Evidence(
                "missing", "No model version is registered, so none records lineage.", hint=_RUN_PIPELINE_HINT
            )
    return probe.verdict(
        found,
        present=f"Lineage is kept on model versions: {'; '.join(found[:_SHOWN])}.",
        absent="No model package group, so no model version records which data and code produced it.",
    )
