"""Level 2 (reliable) checks: model monitoring, CI/CD with manual approval, automated tests."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from maturity.aws import Api, SessionLike
from maturity.checks.base import (
    _MAX_PARENTS,
    _SHOWN,
    MODEL_MONITOR_NAMESPACES,
    Evidence,
    _names,
    _Probes,
)

# --------------------------------------------------------------------------------------------------
# Level 2: reliable


def _alarm_metrics(alarm: dict[str, Any]) -> list[dict[str, Any]]:
    """The metrics an alarm watches: the alarm's own or those of its metric-math expression."""
    if alarm.get("Namespace"):
        return [{"Namespace": alarm["Namespace"], "Dimensions": alarm.get("Dimensions", [])}]
    return [
        query["MetricStat"]["Metric"]
        for query in alarm.get("Metrics", [])
        if isinstance(query.get("MetricStat"), dict) and isinstance(query["MetricStat"].get("Metric"), dict)
    ]


def model_monitoring(session: SessionLike) -> Evidence:
    sagemaker, cloudwatch = Api(session, "sagemaker"), Api(session, "cloudwatch")
    probe = _Probes()
    found: list[str] = []
    schedules = probe.items(sagemaker, "list_monitoring_schedules", "MonitoringScheduleSummaries")
    active = [
        f"{s['MonitoringScheduleName']} ({s.get('MonitoringType', 'DataQuality')} on {s.get('EndpointName', 'batch')})"
        for s in schedules
        if s.get("MonitoringScheduleStatus") == "Scheduled"
    ]
    if active:
        found.append(_names(active, "Model Monitor schedule"))
    alarms = probe.items(cloudwatch, "describe_alarms", "MetricAlarms")
    quality = [
        a["AlarmName"] for a in alarms if any(m["Namespace"] in MODEL_MONITOR_NAMESPACES for m in _alarm_metrics(a))
    ]
    if quality:
        found.append(_names(quality, "alarm") + " on Model Monitor metrics")
    health = [
        a["AlarmName"]
        for a in alarms
        if any(
            m["Namespace"] == "AWS/SageMaker" and any(d.get("Name") == "EndpointName" for d in m.get("Dimensions", []))
            for m in _alarm_metrics(a)
        )
    ]
    endpoints = probe.items(sagemaker, "list_endpoints", "Endpoints")
    absent = "No Model Monitor schedule and no alarm on Model Monitor metrics: nobody notices when answers drift."
    if endpoints:
        absent = (
            f"{_names([e['EndpointName'] for e in endpoints], 'endpoint')} serve(s) traffic without a Model Monitor "
            "schedule"
            + (f"; {len(health)} alarm(s) watch endpoint health only, not answer quality." if health else ".")
        )
    return probe.verdict(
        found,
        present=f"Models are watched continuously: {'; '.join(found)}.",
        absent=absent,
    )


def _pipelines(probe: _Probes, codepipeline: Api) -> list[dict[str, Any]]:
    """Every CodePipeline's structure (``get_pipeline``'s ``pipeline``), up to the cap."""
    summaries = probe.items(codepipeline, "list_pipelines", "pipelines")
    structures = []
    for summary in summaries[:_MAX_PARENTS]:
        name = summary["name"]
        described = probe.call(codepipeline, "get_pipeline", name=name)
        if described:
            structures.append(described["pipeline"])
    return structures


def _actions(pipeline: dict[str, Any]) -> Iterable[tuple[str, dict[str, Any]]]:
    for stage in pipeline.get("stages", []):
        for action in stage.get("actions", []):
            yield stage["name"], action


def cicd_manual_approval(session: SessionLike) -> Evidence:
    probe = _Probes()
    found = []
    for pipeline in _pipelines(probe, Api(session, "codepipeline")):
        approvals = [
            f"{stage}/{action['name']}"
            for stage, action in _actions(pipeline)
            if action.get("actionTypeId", {}).get("category") == "Approval"
            and action.get("actionTypeId", {}).get("provider") == "Manual"
        ]
        if approvals:
            flow = " -> ".join(stage["name"] for stage in pipeline.get("stages", []))
            found.append(f"{pipeline['name']} ({flow}; manual approval at {', '.join(approvals)})")
    return probe.verdict(
        found,
        present=f"Changes are promoted by pipeline with a person's approval: {'; '.join(found[:_SHOWN])}.",
        absent="No CodePipeline with a manual approval action: nothing gates what reaches production.",
    )


def automated_tests(session: SessionLike) -> Evidence:
    probe = _Probes()
    found = []
    for pipeline in _pipelines(probe, Api(session, "codepipeline")):
        builds = [
            f"{stage}/{action.get('configuration', {}).get('ProjectName', action['name'])}"
            for stage, action in _actions(pipeline)
            if action.get("actionTypeId", {}).get("provider") == "CodeBuild"
        ]
        if builds:
            stages = {stage for stage, action in _actions(pipeline)}
            tested = {b.split("/", 1)[0] for b in builds}
            found.append(
                f"{pipeline['name']} runs CodeBuild in {len(tested)} of {len(stages)} stages ({', '.join(builds)})"
            )
    absent = "No CodePipeline runs a CodeBuild action: tests run, if at all, on developers' machines."
    if not found and not probe.failures:
        projects = probe.items(Api(session, "codebuild"), "list_projects", "projects")
        if projects:
            absent = f"{_names(projects, 'CodeBuild project')} exist(s) but no pipeline runs them on every change."
    return probe.verdict(
        found,
        present=f"Tests run automatically in the delivery pipeline: {'; '.join(found[:_SHOWN])}.",
        absent=absent,
    )
