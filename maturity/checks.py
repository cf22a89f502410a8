"""The production-readiness checklist as data: one :class:`Check` per question, each a pure function.

Every check takes a session (see :class:`maturity.aws.SessionLike`), makes only the read-only calls it
declares in ``calls``, and returns :class:`Evidence`: ``pass`` with the resources that answer the
question, ``missing`` with what was looked for and not found, or ``unknown`` with the reason a call
could not be answered (access denied names the action). One rule holds for every check: a resource
found anywhere passes it; otherwise any unanswered call makes it ``unknown``; only when every call
answered and nothing was found is it ``missing``.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any, Literal

from maturity.aws import Api, CallFailed, SessionLike

__all__ = [
    "CHECKS",
    "GATEWAY_NAMESPACE",
    "MODEL_MONITOR_NAMESPACES",
    "PROMPT_CATALOG_TAG",
    "SCORECARDS_PREFIX",
    "Check",
    "Evidence",
    "Level",
    "Status",
]

Status = Literal["pass", "missing", "unknown"]
#: A maturity level (0-3) or the LLMOps track, which sits beside the ladder.
Level = Literal[0, 1, 2, 3, "llmops"]

#: CloudWatch namespace of the LLM gateway's token, cost and latency metrics (stacks/llmops.py).
GATEWAY_NAMESPACE = "Mlops/LLMOps"
#: Namespaces Model Monitor publishes its data-quality and model-quality metrics to.
MODEL_MONITOR_NAMESPACES = (
    "aws/sagemaker/Endpoints/data-metrics",
    "aws/sagemaker/Endpoints/model-metrics",
    "aws/sagemaker/Endpoints/bias-metrics",
    "aws/sagemaker/Endpoints/explainability-metrics",
)
#: A DynamoDB table is a prompt catalog if its name contains "prompt" or it carries this tag (key, value).
PROMPT_CATALOG_TAG = ("mlops:purpose", "prompt-catalog")
#: Key prefix under which LLM evaluation scorecards are written to a bucket.
SCORECARDS_PREFIX = "scorecards/"

# Bounds on how much one check reads: enough to answer yes/no with examples.
_MAX_PARENTS = 50  # databases, groups, pipelines, rules, tables ... whose children are read
_MAX_BUCKETS = 25
_SHOWN = 5  # examples listed in the evidence


@dataclass(frozen=True)
class Evidence:
    """A check's answer: the status, one sentence saying why, and the resources behind it."""

    status: Status
    summary: str
    found: tuple[str, ...] = ()
    unknown: tuple[str, ...] = ()
    #: A next step more specific than the check's default remedy (e.g. "run the pipeline once").
    hint: str | None = None


@dataclass(frozen=True)
class Check:
    """One question of the checklist: what it asks, which level needs it, what it calls, what provides it."""

    id: str
    question: str
    level: Level
    calls: tuple[str, ...]
    #: The stack of this project that provides it, without the ``Mlops-<env>-`` prefix.
    stack: str
    #: What that stack deploys to answer the question (the next step names it).
    provides: str
    run: Callable[[SessionLike], Evidence] = field(repr=False)


class _Probes:
    """Runs the calls of one check, remembering why any failed, so that one failure does not hide a pass."""

    def __init__(self) -> None:
        self.failures: list[str] = []

    def items(self, api: Api, operation: str, key: str, **kwargs: Any) -> list[Any]:
        """``api.items(...)``; an empty list if the call failed (the failure is remembered)."""
        try:
            return api.items(operation, key, **kwargs)
        except CallFailed as failure:
            self.record(failure)
            return []

    def call(self, api: Api, operation: str, **kwargs: Any) -> dict[str, Any] | None:
        """``api.call(...)``; None if the call failed (the failure is remembered)."""
        try:
            return api.call(operation, **kwargs)
        except CallFailed as failure:
            self.record(failure)
            return None

    def record(self, failure: CallFailed) -> None:
        if failure.reason not in self.failures:
            self.failures.append(failure.reason)

    def verdict(self, found: list[str], *, present: str, absent: str, hint: str | None = None) -> Evidence:
        """``present``/``absent`` are the summary when something was/nothing was found."""
        if found:
            return Evidence("pass", present, tuple(found))
        if self.failures:
            return Evidence(
                "unknown",
                f"unknown: {'; '.join(self.failures)}",
                unknown=tuple(self.failures),
            )
        return Evidence("missing", absent, hint=hint)


def _names(items: Iterable[str], noun: str) -> str:
    """``3 Glue tables (a, b, c)``; long lists end with ``+N more``."""
    listed = list(items)
    shown = ", ".join(listed[:_SHOWN]) + (f", +{len(listed) - _SHOWN} more" if len(listed) > _SHOWN else "")
    return f"{len(listed)} {noun}{'' if len(listed) == 1 else 's'} ({shown})"


def _arn_name(arn: str) -> str:
    return arn.rsplit("/", 1)[-1].rsplit(":", 1)[-1]


# --------------------------------------------------------------------------------------------------
# Level 0: exploration


def features_tracked(session: SessionLike) -> Evidence:
    """Glue catalog tables, a scheduled crawler that keeps a catalog database current (tables appear on its
    first run), or SageMaker Feature Store feature groups."""
    glue, sagemaker = Api(session, "glue"), Api(session, "sagemaker")
    probe = _Probes()
    found: list[str] = []
    databases = probe.items(glue, "get_databases", "DatabaseList")
    tables: list[str] = []
    for database in databases[:_MAX_PARENTS]:
        name = database["Name"]
        listed = probe.items(glue, "get_tables", "TableList", DatabaseName=name)
        tables += [f"{name}.{table['Name']}" for table in listed]
    if tables:
        found.append(_names(tables, "Glue catalog table"))
    crawlers = probe.items(glue, "get_crawlers", "Crawlers")
    scheduled = [
        f"{crawler['Name']} -> {crawler['DatabaseName']} ({_schedule(crawler)})"
        for crawler in crawlers
        if crawler.get("DatabaseName") and _schedule(crawler)
    ]
    if scheduled:
        found.append(_names(scheduled, "scheduled crawler") + " keeping the catalog current")
    groups = probe.items(sagemaker, "list_feature_groups", "FeatureGroupSummaries")
    if groups:
        found.append(_names([g["FeatureGroupName"] for g in groups], "Feature Store feature group"))
    return probe.verdict(
        found,
        present="Features are catalogued: " + "; ".join(found) + ".",
        absent="No Glue catalog table, no scheduled crawler and no Feature Store feature group: "
        "nothing tracks the features models are trained on.",
    )


def _schedule(crawler: dict[str, Any]) -> str | None:
    schedule = crawler.get("Schedule")
    if isinstance(schedule, dict):
        if schedule.get("State") == "NOT_SCHEDULED":
            return None
        expression = schedule.get("ScheduleExpression")
        return str(expression) if expression else None
    return str(schedule) if schedule else None


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
    for name, versions in groups.items():
        if not versions:
            continue
        arn = versions[0]["ModelPackageArn"]
        described = probe.call(sagemaker, "describe_model_package", ModelPackageName=arn)
        if described is None:
            continue
        keys = sorted(described.get("CustomerMetadataProperties") or {}) + sorted(
            f"MetadataProperties.{k}" for k in described.get("MetadataProperties") or {}
        )
        label = f"{name} v{described.get('ModelPackageVersion', '?')}"
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


# --------------------------------------------------------------------------------------------------
# Level 3: scalable


def _role_name(arn: str) -> str:
    return arn.rsplit("/", 1)[-1]


def team_isolation(session: SessionLike) -> Evidence:
    sagemaker, iam = Api(session, "sagemaker"), Api(session, "iam")
    probe = _Probes()
    profiles = probe.items(sagemaker, "list_user_profiles", "UserProfiles")
    domain_roles: dict[str, str | None] = {}
    roles: dict[str, list[str]] = {}  # execution role name -> profiles using it
    for profile in profiles[:_MAX_PARENTS]:
        domain, name = profile["DomainId"], profile["UserProfileName"]
        described = probe.call(sagemaker, "describe_user_profile", DomainId=domain, UserProfileName=name)
        if described is None:
            continue
        role = (described.get("UserSettings") or {}).get("ExecutionRole")
        if not role:
            if domain not in domain_roles:
                domain_described = probe.call(sagemaker, "describe_domain", DomainId=domain)
                domain_roles[domain] = ((domain_described or {}).get("DefaultUserSettings") or {}).get("ExecutionRole")
            role = domain_roles[domain]
        if role:
            roles.setdefault(_role_name(role), []).append(name)
    bounded: list[str] = []
    for role_name, users in roles.items():
        got = probe.call(iam, "get_role", RoleName=role_name)
        boundary = ((got or {}).get("Role", {}).get("PermissionsBoundary") or {}).get("PermissionsBoundaryArn")
        if boundary:
            bounded.append(f"{role_name} (bounded by {_arn_name(boundary)}; {', '.join(users)})")
    found = [f"{len(bounded)} bounded team roles: {'; '.join(bounded[:_SHOWN])}"] if len(bounded) >= 2 else []
    return probe.verdict(
        found,
        present=f"Teams work in their own, bounded roles: {found[0] if found else ''}.",
        absent=(
            f"{len(profiles)} Studio user profile(s) use {len(roles)} execution role(s), {len(bounded)} with a "
            "permissions boundary: teams are not separated (two or more bounded roles are needed)."
            if profiles
            else "No SageMaker Studio user profile: no team has its own workspace and role."
        ),
    )


# --------------------------------------------------------------------------------------------------
# LLMOps


def prompt_versioning(session: SessionLike) -> Evidence:
    dynamodb, agent = Api(session, "dynamodb"), Api(session, "bedrock-agent")
    probe = _Probes()
    found: list[str] = []
    unversioned: list[str] = []
    for table in (probe.items(dynamodb, "list_tables", "TableNames"))[:_MAX_PARENTS]:
        described = probe.call(dynamodb, "describe_table", TableName=table)
        if described is None:
            continue
        arn = described["Table"]["TableArn"]
        is_catalog = "prompt" in table.lower()
        if not is_catalog:
            tags = probe.items(dynamodb, "list_tags_of_resource", "Tags", ResourceArn=arn)
            is_catalog = any((t.get("Key"), t.get("Value")) == PROMPT_CATALOG_TAG for t in tags)
        if not is_catalog:
            continue
        sort_keys = [k["AttributeName"] for k in described["Table"].get("KeySchema", []) if k["KeyType"] == "RANGE"]
        if sort_keys:
            found.append(f"DynamoDB prompt catalog {table} (versions under sort key {sort_keys[0]})")
        else:
            unversioned.append(table)
    prompts = probe.items(agent, "list_prompts", "promptSummaries")
    if prompts:
        found.append(_names([p["name"] for p in prompts], "Bedrock managed prompt"))
    absent = "No prompt catalog (a DynamoDB table named or tagged as one, or Bedrock prompt management)."
    if unversioned:
        absent = f"Prompt table(s) {', '.join(unversioned)} have no sort key: one item per prompt, no versions."
    return probe.verdict(found, present=f"Prompts are versioned: {'; '.join(found)}.", absent=absent)


def guardrails(session: SessionLike) -> Evidence:
    bedrock = Api(session, "bedrock")
    probe = _Probes()
    listed = probe.items(bedrock, "list_guardrails", "guardrails")
    names = [f"{g['name']} (v{g.get('version', 'DRAFT')}, {g.get('status', '?')})" for g in listed]
    return probe.verdict(
        [_names(names, "Bedrock guardrail")] if names else [],
        present=f"Model input and output are filtered: {_names(names, 'Bedrock guardrail')}.",
        absent="No Bedrock guardrail: prompts and answers are not filtered for harmful content, PII or attacks.",
    )


_REDIRECT_CODES = frozenset({"PermanentRedirect", "AuthorizationHeaderMalformed", "301", "IllegalLocationConstraint"})


def llm_evaluation(session: SessionLike) -> Evidence:
    bedrock, s3 = Api(session, "bedrock"), Api(session, "s3")
    probe = _Probes()
    found: list[str] = []
    jobs = probe.items(bedrock, "list_evaluation_jobs", "jobSummaries")
    if jobs:
        found.append(_names([j["jobName"] for j in jobs], "Bedrock evaluation job"))
    region = session.region_name
    buckets = probe.items(s3, "list_buckets", "Buckets")
    local = [b["Name"] for b in buckets if b.get("BucketRegion", region) == region][:_MAX_BUCKETS]
    with_scorecards = []
    for bucket in local:
        try:
            listed = s3.call("list_objects_v2", Bucket=bucket, Prefix=SCORECARDS_PREFIX, MaxKeys=1)
        except CallFailed as failure:
            if not any(code in failure.reason for code in _REDIRECT_CODES):  # a bucket in another region
                probe.record(failure)
            continue
        if listed.get("KeyCount", len(listed.get("Contents", []))):
            with_scorecards.append(f"s3://{bucket}/{SCORECARDS_PREFIX}")
    if with_scorecards:
        found.append(_names(with_scorecards, "scorecard prefix"))
    return probe.verdict(
        found,
        present=f"Models are evaluated before use: {'; '.join(found)}.",
        absent=f"No Bedrock evaluation job and no {SCORECARDS_PREFIX} prefix in this region's buckets: "
        "models are chosen without a scorecard.",
    )


def llm_cost_metrics(session: SessionLike) -> Evidence:
    cloudwatch = Api(session, "cloudwatch")
    probe = _Probes()
    metrics = probe.items(cloudwatch, "list_metrics", "Metrics", Namespace=GATEWAY_NAMESPACE)
    names = sorted({m["MetricName"] for m in metrics})
    return probe.verdict(
        [_names(names, f"{GATEWAY_NAMESPACE} metric")] if names else [],
        present=f"Token, cost and latency are measured: {_names(names, 'gateway metric')} in {GATEWAY_NAMESPACE}.",
        absent=f"No metric in the gateway namespace {GATEWAY_NAMESPACE}: LLM spend is only visible on the bill.",
    )


# --------------------------------------------------------------------------------------------------
# The checklist, in ladder order (the next step is the first gap in this order).

_LEVEL1 = "Level1Repeatable"
_LEVEL2 = "Level2Reliable"
_LEVEL3 = "Level3Scalable"
_LLMOPS = "LlmOps"

CHECKS: tuple[Check, ...] = (
    Check(
        "features-tracked",
        "Are the model's features kept separate and tracked?",
        0,
        ("glue:GetDatabases", "glue:GetTables", "glue:GetCrawlers", "sagemaker:ListFeatureGroups"),
        "Level0Exploration",
        "the data lake with a Glue database kept current by a scheduled crawler",
        features_tracked,
    ),
    Check(
        "etl-automated",
        "Does ETL load data automatically, so ML engineers do not wait for data teams?",
        1,
        ("glue:GetTriggers", "events:ListRules", "events:ListTargetsByRule", "states:DescribeStateMachine"),
        _LEVEL1,
        "retraining: new raw data and a schedule run the Glue ETL job, then the pipeline",
        etl_automated,
    ),
    Check(
        "training-pipeline",
        "Is training an automated pipeline rather than a notebook run?",
        1,
        ("sagemaker:ListPipelines",),
        _LEVEL1,
        "the SageMaker training pipeline (preprocess, train, evaluate, register)",
        training_pipeline,
    ),
    Check(
        "model-registry",
        "Is the trained model kept in a model registry?",
        1,
        ("sagemaker:ListModelPackageGroups", "sagemaker:ListModelPackages"),
        _LEVEL1,
        "the Model Registry group the pipeline registers versions in",
        model_registry,
    ),
    Check(
        "model-lineage",
        "Is model lineage kept (which data and code made which version)?",
        1,
        ("sagemaker:ListModelPackageGroups", "sagemaker:ListModelPackages", "sagemaker:DescribeModelPackage"),
        _LEVEL1,
        "model versions that record training data, code version and pipeline run",
        model_lineage,
    ),
    Check(
        "model-monitoring",
        "Is the model watched all the time to make sure it keeps giving correct answers?",
        2,
        ("sagemaker:ListMonitoringSchedules", "cloudwatch:DescribeAlarms", "sagemaker:ListEndpoints"),
        _LEVEL2,
        "endpoints with data capture, Model Monitor schedules and drift alarms",
        model_monitoring,
    ),
    Check(
        "cicd-manual-approval",
        "Do CI/CD pipelines move code from dev to preprod to prod, with manual approval?",
        2,
        ("codepipeline:ListPipelines", "codepipeline:GetPipeline"),
        _LEVEL2,
        "CodePipeline dev -> preprod -> prod with a manual approval before production",
        cicd_manual_approval,
    ),
    Check(
        "automated-tests",
        "Is testing automated in every environment?",
        2,
        ("codepipeline:ListPipelines", "codepipeline:GetPipeline", "codebuild:ListProjects"),
        _LEVEL2,
        "CodeBuild test actions in every stage of the delivery pipeline",
        automated_tests,
    ),
    Check(
        "team-isolation",
        "Do several teams work side by side, each in its own bounded role?",
        3,
        ("sagemaker:ListUserProfiles", "sagemaker:DescribeUserProfile", "sagemaker:DescribeDomain", "iam:GetRole"),
        _LEVEL3,
        "per-team Studio profiles and roles with permission boundaries",
        team_isolation,
    ),
    Check(
        "prompt-versioning",
        "Are prompts kept in a catalog with immutable versions?",
        "llmops",
        ("dynamodb:ListTables", "dynamodb:DescribeTable", "dynamodb:ListTagsOfResource", "bedrock:ListPrompts"),
        _LLMOPS,
        "the DynamoDB prompt catalog with immutable versions and aliases",
        prompt_versioning,
    ),
    Check(
        "guardrails",
        "Do guardrails filter what goes into and comes out of the models?",
        "llmops",
        ("bedrock:ListGuardrails",),
        _LLMOPS,
        "a Bedrock guardrail (content, topics, PII, prompt attacks, grounding)",
        guardrails,
    ),
    Check(
        "llm-evaluation",
        "Are foundation models evaluated (accuracy, similarity, LLM-as-judge, human review) before use?",
        "llmops",
        ("bedrock:ListEvaluationJobs", "s3:ListAllMyBuckets", "s3:ListBucket"),
        _LLMOPS,
        "evaluation runs that write scorecards",
        llm_evaluation,
    ),
    Check(
        "llm-cost-metrics",
        "Are token cost and latency measured per call?",
        "llmops",
        ("cloudwatch:ListMetrics",),
        _LLMOPS,
        "the LLM gateway's token, cost and latency metrics with alarms",
        llm_cost_metrics,
    ),
)

# Checks kept in their own modules (imported last: they build on the helpers above).
from maturity.checks_bias import BIAS_CHECK  # noqa: E402
from maturity.checks_tracking import TRACKING_CHECK  # noqa: E402

CHECKS = (
    *CHECKS[: [c.id for c in CHECKS].index("model-lineage") + 1],
    BIAS_CHECK,
    TRACKING_CHECK,
    *CHECKS[[c.id for c in CHECKS].index("model-lineage") + 1 :],
)
