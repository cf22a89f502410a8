"""The maturity self-assessment against moto accounts prepared at levels 0, 1 and 2, and its failure modes.

Where moto lacks an API (Feature Store listing, Model Monitor schedules, Studio user profiles, Bedrock),
a check must say "unknown", never "missing"; tests that want AWS's behaviour for those APIs answer
them with empty lists through :class:`Scripted`, which is also how access denied is simulated.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping
from datetime import UTC, datetime, timedelta
from typing import Any

import boto3
import pytest
from botocore.awsrequest import AWSResponse
from botocore.exceptions import ClientError, EndpointConnectionError, UnknownServiceError
from botocore.stub import Stubber
from moto import mock_aws
from moto.server import ThreadedMotoServer

from emulator import feature_store
from maturity.__main__ import main
from maturity.assess import assess, render
from maturity.aws import Api, CachingSession, CredentialsError, iam_action
from maturity.checks import CHECKS, GATEWAY_NAMESPACE, SCORECARDS_PREFIX, Check, Evidence
from maturity.checks.feature_store import features_in_feature_store
from maturity.scoring import _ENABLE, RULES, Answer, score
from pipelines.glue import churn_features as cf

REGION = "us-east-1"
ACCOUNT = "123456789012"
ROLE = f"arn:aws:iam::{ACCOUNT}:role/any"

# moto has feature groups but neither ListFeatureGroups nor their records: the emulator's stand-in adds them.
feature_store.apply()

#: What AWS answers for the list calls moto does not implement, in an account that has none of them.
AWS_EMPTY: dict[tuple[str, str], Any] = {
    ("sagemaker", "ListMonitoringSchedules"): {"MonitoringScheduleSummaries": []},
    ("sagemaker", "ListUserProfiles"): {"UserProfiles": []},
    ("sagemaker", "ListMlflowApps"): {"Summaries": []},
    ("sagemaker", "ListMlflowTrackingServers"): {"TrackingServerSummaries": []},
    ("bedrock", "ListGuardrails"): {"guardrails": []},
    ("bedrock", "ListEvaluationJobs"): {"jobSummaries": []},
    ("bedrock-agent", "ListPrompts"): {"promptSummaries": []},
}


def denied(operation: str) -> ClientError:
    return ClientError({"Error": {"Code": "AccessDeniedException", "Message": "not authorized"}}, operation)


class Scripted:
    """A boto3 session whose clients answer some operations from a script; moto answers the rest.

    A script entry is a response dict, or an exception to raise (access denied, no endpoint ...).
    """

    def __init__(self, session: boto3.Session, script: Mapping[tuple[str, str], Any]) -> None:
        self._session = session
        self._script = script
        self.calls: list[str] = []

    @property
    def region_name(self) -> str | None:
        return self._session.region_name

    def client(self, service_name: str, **kwargs: Any) -> Any:
        client = self._session.client(service_name, **kwargs)
        service_id = client.meta.service_model.service_id.hyphenize()
        client.meta.events.register(f"before-call.{service_id}", self._answer(service_name))
        return client

    def _answer(self, service: str) -> Any:
        def handler(model: Any, **_: Any) -> Any:
            self.calls.append(f"{service}:{model.name}")
            outcome = self._script.get((service, model.name))
            if outcome is None:
                return None  # moto answers
            if isinstance(outcome, Exception):
                raise outcome
            return AWSResponse("https://scripted", 200, {}, None), outcome

        return handler


# One session for the module: it caches the service models each new session would load again. moto
# intercepts at request time, so every test still starts from an empty account.
_SESSION = boto3.Session(region_name=REGION)


@pytest.fixture
def aws() -> Iterator[boto3.Session]:
    with mock_aws():
        yield _SESSION


def evidence(result: Any, check_id: str) -> Evidence:
    return next(a.evidence for a in result.answers if a.check.id == check_id)


# --------------------------------------------------------------------------------------------------
# Accounts at each level, built with moto


def build_feature_group(session: boto3.Session, name: str = "mlops-dev-churn-features", *, records: int = 1) -> None:
    """A feature group with an offline store in the lake, and `records` records written through PutRecord."""
    session.client("s3").create_bucket(Bucket="curated")
    session.client("sagemaker").create_feature_group(
        FeatureGroupName=name,
        RecordIdentifierFeatureName=cf.RECORD_IDENTIFIER,
        EventTimeFeatureName=cf.EVENT_TIME,
        FeatureDefinitions=[{"FeatureName": f.name, "FeatureType": f.type} for f in cf.CHURN_LABELS.features],
        OfflineStoreConfig={"S3StorageConfig": {"S3Uri": "s3://curated/feature-store"}},
        RoleArn=ROLE,
    )
    runtime = session.client("sagemaker-featurestore-runtime")
    for index in range(records):
        record = cf.to_record(cf.CHURN_LABELS, f"c-{index}", "2026-12-01T00:00:00Z", {cf.LABEL: 1})
        runtime.put_record(FeatureGroupName=name, Record=record)


def build_level0(session: boto3.Session) -> None:
    """What Level0Exploration deploys that the checks look at: the churn feature group the ETL job fills, the
    catalog database kept by a crawler and the ETL job."""
    build_feature_group(session)
    glue = session.client("glue")
    glue.create_database(DatabaseInput={"Name": "mlops_dev_lake"})
    glue.create_crawler(
        Name="mlops-dev-raw",
        Role=ROLE,
        DatabaseName="mlops_dev_lake",
        Targets={"S3Targets": [{"Path": "s3://raw/churn/"}]},
        Schedule="cron(0 3 * * ? *)",
    )
    glue.create_job(Name="mlops-dev-etl", Role=ROLE, Command={"Name": "glueetl", "ScriptLocation": "s3://a/etl.py"})


def build_level1(session: boto3.Session, *, register: bool = True) -> None:
    """Level 0 plus what Level1Repeatable deploys: retraining rule -> state machine -> ETL, pipeline, registry."""
    build_level0(session)
    definition = {
        "StartAt": "Etl",
        "States": {
            "Etl": {
                "Type": "Task",
                "Resource": "arn:aws:states:::glue:startJobRun.sync",
                "Parameters": {"JobName": "mlops-dev-etl"},
                "End": True,
            }
        },
    }
    machine = session.client("stepfunctions").create_state_machine(
        name="retraining", definition=json.dumps(definition), roleArn=ROLE
    )["stateMachineArn"]
    events = session.client("events")
    events.put_rule(Name="retrain-weekly", ScheduleExpression="cron(0 4 ? * MON *)", State="ENABLED")
    events.put_targets(Rule="retrain-weekly", Targets=[{"Id": "1", "Arn": machine, "RoleArn": ROLE}])
    sagemaker = session.client("sagemaker")
    sagemaker.create_pipeline(PipelineName="mlops-dev-churn-training", PipelineDefinition="{}", RoleArn=ROLE)
    sagemaker.create_model_package_group(ModelPackageGroupName="mlops-dev-churn")
    if register:
        sagemaker.create_model_package(
            ModelPackageGroupName="mlops-dev-churn",
            ModelApprovalStatus="PendingManualApproval",
            CustomerMetadataProperties={
                "training_data_uri": "s3://curated/churn/",
                "code_version": "abc123",
                "pipeline_execution_arn": "arn:aws:sagemaker:us-east-1:123456789012:pipeline/p/execution/1",
                # What the LogExperimentRun step records (mlflow.enabled).
                "mlflow_run_id": "0f1e2d3c4b5a69788796a5b4c3d2e1f0",
                "mlflow_app_arn": "arn:aws:sagemaker:us-east-1:123456789012:mlflow-app/app-0123456789ab",
            },
            # What the pipeline's Clarify checks register (training.clarify.enabled).
            ModelMetrics={
                "Bias": {
                    "PreTrainingReport": {"ContentType": "application/json", "S3Uri": "s3://a/data-bias/analysis.json"},
                    "PostTrainingReport": {
                        "ContentType": "application/json",
                        "S3Uri": "s3://a/model-bias/analysis.json",
                    },
                },
                "Explainability": {"Report": {"ContentType": "application/json", "S3Uri": "s3://a/shap/analysis.json"}},
            },
            InferenceSpecification={
                "Containers": [{"Image": "xgboost"}],
                "SupportedContentTypes": ["text/csv"],
                "SupportedResponseMIMETypes": ["text/csv"],
            },
        )


def build_level2(session: boto3.Session) -> None:
    """Level 1 plus a delivery pipeline: CodeBuild tests, a manual approval before production."""
    build_level1(session)
    trust = {
        "Version": "2012-10-17",
        "Statement": [
            {"Effect": "Allow", "Principal": {"Service": "codepipeline.amazonaws.com"}, "Action": "sts:AssumeRole"}
        ],
    }
    role = session.client("iam").create_role(RoleName="delivery", AssumeRolePolicyDocument=json.dumps(trust))
    session.client("codebuild").create_project(
        name="mlops-tests",
        source={"type": "S3", "location": "artifacts-bucket/source.zip"},
        artifacts={"type": "NO_ARTIFACTS"},
        environment={"type": "LINUX_CONTAINER", "image": "standard:7.0", "computeType": "BUILD_GENERAL1_SMALL"},
        serviceRole=ROLE,
    )

    def action(name: str, category: str, provider: str, **configuration: str) -> dict[str, Any]:
        return {
            "name": name,
            "actionTypeId": {"category": category, "owner": "AWS", "provider": provider, "version": "1"},
            "configuration": configuration,
        }

    session.client("codepipeline").create_pipeline(
        pipeline={
            "name": "mlops-delivery",
            "roleArn": role["Role"]["Arn"],
            "artifactStore": {"type": "S3", "location": "artifacts-bucket"},
            "stages": [
                {
                    "name": "Source",
                    "actions": [
                        {
                            **action("Repository", "Source", "S3", S3Bucket="artifacts-bucket", S3ObjectKey="s.zip"),
                            "outputArtifacts": [{"name": "src"}],
                        }
                    ],
                },
                {"name": "Dev", "actions": [action("Test", "Test", "CodeBuild", ProjectName="mlops-tests")]},
                {"name": "Preprod", "actions": [action("Test", "Test", "CodeBuild", ProjectName="mlops-tests")]},
                {"name": "ApproveProd", "actions": [action("Approve", "Approval", "Manual")]},
                {"name": "Prod", "actions": [action("Deploy", "Build", "CodeBuild", ProjectName="mlops-tests")]},
            ],
        }
    )


# --------------------------------------------------------------------------------------------------
# Levels


def test_empty_account_is_level_0_and_every_answer_names_what_is_missing(aws):
    result = assess(Scripted(aws, AWS_EMPTY), env="dev")

    assert (result.score.level, result.score.possible_level) == (0, 0)
    assert result.account == ACCOUNT
    assert {a.check.id: a.evidence.status for a in result.answers} == {c.id: "missing" for c in CHECKS}
    assert "No SageMaker Feature Store feature group" in evidence(result, "features-tracked").summary
    assert evidence(result, "model-registry").summary.startswith("No model package group")
    assert "No CodePipeline with a manual approval action" in evidence(result, "cicd-manual-approval").summary
    assert f"No metric in the gateway namespace {GATEWAY_NAMESPACE}" in evidence(result, "llm-cost-metrics").summary
    step = result.score.next_step
    assert step is not None and step.check_id == "features-tracked"
    assert step.stack == "Mlops-dev-Level0Exploration"
    assert step.action.startswith("Deploy Mlops-dev-Level0Exploration:")


def test_apis_moto_lacks_are_unknown_never_missing(aws):
    result = assess(aws, env="dev")

    for check_id in ("model-monitoring", "team-isolation", "guardrails", "llm-evaluation", "prompt-versioning"):
        assert evidence(result, check_id).status == "unknown", check_id
    assert evidence(result, "training-pipeline").status == "missing"  # moto implements ListPipelines
    # ListFeatureGroups comes from the emulator's Feature Store stand-in: answered, and nothing is there.
    assert evidence(result, "features-tracked").status == "missing"
    assert result.score.level == 0


def test_level_0_account(aws):
    build_level0(aws)
    result = assess(Scripted(aws, AWS_EMPTY), env="dev")

    features = evidence(result, "features-tracked")
    assert features.status == "pass"
    assert features.found == ("1 feature group (mlops-dev-churn-features (offline, offline data written 0 min ago))",)
    assert result.score.level == 0
    assert evidence(result, "etl-automated").status == "missing"  # a job exists, nothing starts it
    step = result.score.next_step
    assert step is not None and step.check_id == "etl-automated"
    assert step.stack == "Mlops-dev-Level1Repeatable"
    assert "set maxLevel >= 1 in cdk.json" in step.action


def test_a_glue_catalog_alone_does_not_track_features(aws):
    aws.client("glue").create_database(DatabaseInput={"Name": "lake"})
    aws.client("glue").create_table(DatabaseName="lake", TableInput={"Name": "churn"})
    assert evidence(assess(Scripted(aws, AWS_EMPTY)), "features-tracked").status == "missing"


def test_a_feature_group_without_fresh_offline_data_is_missing_and_says_when(aws):
    build_feature_group(aws, "empty-group", records=0)
    build_feature_group(aws, "old-group")
    later = datetime.now(UTC) + timedelta(days=30)
    features = features_in_feature_store(aws, now=later)
    assert features.status == "missing"
    assert features.summary == (
        "Feature groups exist but none has offline data from the last 7 days: 2 stale feature groups "
        "(empty-group (no offline data yet), old-group (last written 30 days ago))."
    )
    assert features_in_feature_store(aws).found == (
        "1 feature group (old-group (offline, offline data written 0 min ago))",
    )


def test_level_1_account(aws):
    build_level1(aws)
    result = assess(Scripted(aws, AWS_EMPTY), env="dev")

    assert result.score.level == 1
    assert evidence(result, "etl-automated").found == (
        "EventBridge rule retrain-weekly (schedule cron(0 4 ? * MON *)) starts state machine retraining, "
        "which runs a Glue job",
    )
    assert evidence(result, "model-registry").found == ("mlops-dev-churn: 1 version(s)",)
    assert evidence(result, "model-lineage").found == (
        "mlops-dev-churn v1 records code_version, mlflow_app_arn, mlflow_run_id, pipeline_execution_arn, "
        "training_data_uri",
    )
    step = result.score.next_step
    assert step is not None and step.check_id == "model-monitoring"
    assert step.stack == "Mlops-dev-Level2Reliable"
    # The step says how to turn the level on.
    assert "set maxLevel >= 2 in cdk.json" in step.action


def test_glue_trigger_counts_as_automated_etl(aws):
    build_level0(aws)
    aws.client("glue").create_trigger(
        Name="nightly",
        Type="SCHEDULED",
        Schedule="cron(0 5 * * ? *)",
        Actions=[{"JobName": "mlops-dev-etl"}],
        StartOnCreation=True,
    )
    result = assess(Scripted(aws, AWS_EMPTY))
    assert evidence(result, "etl-automated").found == ("Glue trigger nightly (scheduled) runs job mlops-dev-etl",)


def test_a_state_machine_that_runs_no_glue_job_is_not_etl(aws):
    machine = aws.client("stepfunctions").create_state_machine(
        name="other",
        definition=json.dumps({"StartAt": "P", "States": {"P": {"Type": "Pass", "End": True}}}),
        roleArn=ROLE,
    )["stateMachineArn"]
    aws.client("events").put_rule(Name="hourly", ScheduleExpression="rate(1 hour)", State="ENABLED")
    aws.client("events").put_targets(Rule="hourly", Targets=[{"Id": "1", "Arn": machine}])
    assert evidence(assess(Scripted(aws, AWS_EMPTY)), "etl-automated").status == "missing"


def test_a_registry_without_versions_says_run_the_pipeline(aws):
    build_level1(aws, register=False)
    result = assess(Scripted(aws, AWS_EMPTY), env="dev")

    registry = evidence(result, "model-registry")
    assert registry.status == "missing"
    assert registry.summary == (
        "1 model package group (mlops-dev-churn) but no model version in any: nothing has been registered."
    )
    assert evidence(result, "model-lineage").status == "missing"
    assert result.score.level == 0
    step = result.score.next_step
    assert step is not None and step.check_id == "model-registry"
    assert step.action.startswith("Run the training pipeline once")


def test_level_2_ish_account_monitoring_is_unknown_where_moto_lacks_the_api(aws):
    build_level2(aws)
    script = {k: v for k, v in AWS_EMPTY.items() if k != ("sagemaker", "ListMonitoringSchedules")}
    result = assess(Scripted(aws, script), env="dev")

    assert evidence(result, "cicd-manual-approval").found == (
        "mlops-delivery (Source -> Dev -> Preprod -> ApproveProd -> Prod; manual approval at ApproveProd/Approve)",
    )
    assert evidence(result, "automated-tests").found == (
        "mlops-delivery runs CodeBuild in 3 of 5 stages (Dev/mlops-tests, Preprod/mlops-tests, Prod/mlops-tests)",
    )
    monitoring = evidence(result, "model-monitoring")
    assert monitoring.status == "unknown"
    assert monitoring.unknown == ("sagemaker:ListMonitoringSchedules is not implemented by this endpoint",)
    # Unknown never counts as a pass: level 1 for sure, level 2 if monitoring turns out to be there.
    assert (result.score.level, result.score.possible_level) == (1, 2)
    step = result.score.next_step
    assert step is not None and step.check_id == "model-monitoring" and step.stack is None
    assert "sagemaker:ListMonitoringSchedules" in step.action


def test_an_alarm_on_model_monitor_metrics_passes_monitoring_even_when_schedules_are_unknown(aws):
    build_level2(aws)
    aws.client("cloudwatch").put_metric_alarm(
        AlarmName="churn-feature-drift",
        Namespace="aws/sagemaker/Endpoints/data-metrics",
        MetricName="feature_baseline_drift_tenure",
        Dimensions=[{"Name": "Endpoint", "Value": "churn"}, {"Name": "MonitoringSchedule", "Value": "churn-dq"}],
        Statistic="Maximum",
        Period=3600,
        EvaluationPeriods=1,
        Threshold=0.1,
        ComparisonOperator="GreaterThanThreshold",
    )
    script = {k: v for k, v in AWS_EMPTY.items() if k != ("sagemaker", "ListMonitoringSchedules")}
    result = assess(Scripted(aws, script), env="dev")

    assert evidence(result, "model-monitoring").status == "pass"
    assert result.score.level == 2
    step = result.score.next_step
    assert step is not None and step.stack == "Mlops-dev-Level3Scalable"
    assert "set maxLevel >= 3 in cdk.json" in step.action and "planned" not in step.action


def test_monitoring_schedules_and_health_only_alarms(aws):
    aws.client("cloudwatch").put_metric_alarm(
        AlarmName="churn-5xx",
        Namespace="AWS/SageMaker",
        MetricName="Invocation5XXErrors",
        Dimensions=[{"Name": "EndpointName", "Value": "churn"}, {"Name": "VariantName", "Value": "AllTraffic"}],
        Statistic="Sum",
        Period=300,
        EvaluationPeriods=1,
        Threshold=1,
        ComparisonOperator="GreaterThanOrEqualToThreshold",
    )
    endpoints = {
        ("sagemaker", "ListEndpoints"): {
            "Endpoints": [
                {
                    "EndpointName": "churn",
                    "EndpointArn": f"arn:aws:sagemaker:{REGION}:{ACCOUNT}:endpoint/churn",
                    "CreationTime": "2026-01-01T00:00:00Z",
                    "LastModifiedTime": "2026-01-01T00:00:00Z",
                    "EndpointStatus": "InService",
                }
            ]
        }
    }
    result = assess(Scripted(aws, {**AWS_EMPTY, **endpoints}))
    assert evidence(result, "model-monitoring").summary == (
        "1 endpoint (churn) serve(s) traffic without a Model Monitor schedule; 1 alarm(s) watch endpoint health "
        "only, not answer quality."
    )

    schedules = {
        ("sagemaker", "ListMonitoringSchedules"): {
            "MonitoringScheduleSummaries": [
                {
                    "MonitoringScheduleName": "churn-dq",
                    "MonitoringScheduleArn": f"arn:aws:sagemaker:{REGION}:{ACCOUNT}:monitoring-schedule/churn-dq",
                    "CreationTime": "2026-01-01T00:00:00Z",
                    "LastModifiedTime": "2026-01-01T00:00:00Z",
                    "MonitoringScheduleStatus": "Scheduled",
                    "EndpointName": "churn",
                    "MonitoringType": "DataQuality",
                }
            ]
        }
    }
    result = assess(Scripted(aws, {**AWS_EMPTY, **schedules}))
    assert evidence(result, "model-monitoring").found == ("1 Model Monitor schedule (churn-dq (DataQuality on churn))",)


# --------------------------------------------------------------------------------------------------
# Level 3 and LLMOps


def test_team_isolation_needs_two_bounded_roles():
    session = _SESSION
    sagemaker = session.client("sagemaker")
    iam = session.client("iam")
    profiles = [("d-1", "alice", "team-a"), ("d-1", "bob", "team-b"), ("d-1", "carol", "team-a")]
    with Stubber(sagemaker) as sm_stub, Stubber(iam) as iam_stub:
        sm_stub.add_response(
            "list_user_profiles",
            {"UserProfiles": [{"DomainId": d, "UserProfileName": n, "Status": "InService"} for d, n, _ in profiles]},
        )
        for domain, name, role in profiles:
            sm_stub.add_response(
                "describe_user_profile",
                {"DomainId": domain, "UserProfileName": name, "UserSettings": {"ExecutionRole": f"{ROLE}/{role}"}},
                {"DomainId": domain, "UserProfileName": name},
            )
        for role in ("team-a", "team-b"):
            iam_stub.add_response(
                "get_role",
                {
                    "Role": {
                        "Path": "/",
                        "RoleName": role,
                        "RoleId": "AROAEXAMPLEEXAMPLE1",
                        "Arn": f"{ROLE}/{role}",
                        "CreateDate": "2026-01-01T00:00:00Z",
                        "PermissionsBoundary": {
                            "PermissionsBoundaryType": "Policy",
                            "PermissionsBoundaryArn": f"arn:aws:iam::{ACCOUNT}:policy/team-boundary",
                        },
                    }
                },
                {"RoleName": role},
            )
        clients = {"sagemaker": sagemaker, "iam": iam}

        class Stubbed:
            region_name = REGION

            def client(self, service_name: str, **kwargs: Any) -> Any:
                return clients[service_name]

        result = next(c for c in CHECKS if c.id == "team-isolation").run(Stubbed())

    assert result.status == "pass"
    assert result.found == (
        "2 bounded team roles: team-a (bounded by team-boundary; alice, carol); team-b (bounded by team-boundary; bob)",
    )


def test_llmops_readiness(aws):
    dynamodb = aws.client("dynamodb")
    dynamodb.create_table(
        TableName="Mlops-dev-LlmOps-PromptTableABC123",
        KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}, {"AttributeName": "sk", "KeyType": "RANGE"}],
        AttributeDefinitions=[
            {"AttributeName": "pk", "AttributeType": "S"},
            {"AttributeName": "sk", "AttributeType": "S"},
        ],
        BillingMode="PAY_PER_REQUEST",
    )
    aws.client("s3").create_bucket(Bucket="mlops-dev-artifacts")
    aws.client("s3").put_object(
        Bucket="mlops-dev-artifacts", Key=f"{SCORECARDS_PREFIX}2026-11-23/claude.json", Body=b"{}"
    )
    aws.client("cloudwatch").put_metric_data(
        Namespace=GATEWAY_NAMESPACE,
        MetricData=[{"MetricName": "CostUSD", "Value": 0.02}, {"MetricName": "LatencyMs", "Value": 800}],
    )
    guardrail = {
        ("bedrock", "ListGuardrails"): {
            "guardrails": [
                {
                    "id": "gr1",
                    "arn": f"arn:aws:bedrock:{REGION}:{ACCOUNT}:guardrail/gr1",
                    "status": "READY",
                    "name": "mlops-dev-llm",
                    "version": "1",
                    "createdAt": "2026-01-01T00:00:00Z",
                    "updatedAt": "2026-01-01T00:00:00Z",
                }
            ]
        }
    }
    result = assess(Scripted(aws, {**AWS_EMPTY, **guardrail}))

    assert (result.score.llmops_passed, result.score.llmops_total) == (4, 4)
    assert evidence(result, "prompt-versioning").found == (
        "DynamoDB prompt catalog Mlops-dev-LlmOps-PromptTableABC123 (versions under sort key sk)",
    )
    assert evidence(result, "guardrails").found == ("1 Bedrock guardrail (mlops-dev-llm (v1, READY))",)
    assert evidence(result, "llm-evaluation").found == (
        f"1 scorecard prefix (s3://mlops-dev-artifacts/{SCORECARDS_PREFIX})",
    )
    assert evidence(result, "llm-cost-metrics").found == (f"2 {GATEWAY_NAMESPACE} metrics (CostUSD, LatencyMs)",)
    assert result.score.level == 0  # LLMOps readiness never moves the ladder


def test_a_prompt_table_without_versions_or_tagged_tables(aws):
    dynamodb = aws.client("dynamodb")
    dynamodb.create_table(
        TableName="prompts",
        KeySchema=[{"AttributeName": "name", "KeyType": "HASH"}],
        AttributeDefinitions=[{"AttributeName": "name", "AttributeType": "S"}],
        BillingMode="PAY_PER_REQUEST",
    )
    assert evidence(assess(Scripted(aws, AWS_EMPTY)), "prompt-versioning").summary == (
        "Prompt table(s) prompts have no sort key: one item per prompt, no versions."
    )
    dynamodb.create_table(
        TableName="catalog",
        KeySchema=[{"AttributeName": "id", "KeyType": "HASH"}, {"AttributeName": "version", "KeyType": "RANGE"}],
        AttributeDefinitions=[
            {"AttributeName": "id", "AttributeType": "S"},
            {"AttributeName": "version", "AttributeType": "N"},
        ],
        BillingMode="PAY_PER_REQUEST",
        Tags=[{"Key": "mlops:purpose", "Value": "prompt-catalog"}],
    )
    assert evidence(assess(Scripted(aws, AWS_EMPTY)), "prompt-versioning").found == (
        "DynamoDB prompt catalog catalog (versions under sort key version)",
    )


# --------------------------------------------------------------------------------------------------
# Failures: access denied, service not in region, no credentials


def test_access_denied_is_unknown_and_names_the_action(aws):
    build_level1(aws)
    script = {**AWS_EMPTY, ("sagemaker", "ListModelPackageGroups"): denied("ListModelPackageGroups")}
    result = assess(Scripted(aws, script), env="dev")

    for check_id in ("model-registry", "model-lineage"):
        answer = evidence(result, check_id)
        assert answer.status == "unknown"
        assert answer.unknown == ("access denied to sagemaker:ListModelPackageGroups",)
        assert answer.summary == "unknown: access denied to sagemaker:ListModelPackageGroups"
    assert (result.score.level, result.score.possible_level) == (0, 1)
    step = result.score.next_step
    assert step is not None and step.check_id == "model-registry"
    assert "access denied to sagemaker:ListModelPackageGroups" in step.action


def test_a_pass_found_elsewhere_wins_over_a_denied_call(aws):
    build_level1(aws)
    script = {**AWS_EMPTY, ("glue", "GetTriggers"): denied("GetTriggers")}
    etl = evidence(assess(Scripted(aws, script)), "etl-automated")
    assert etl.status == "pass"  # the EventBridge rule answers it


def test_service_not_available_in_region(aws):
    script = {
        **AWS_EMPTY,
        ("bedrock", "ListGuardrails"): EndpointConnectionError(endpoint_url="https://bedrock.xx-east-9.amazonaws.com"),
    }
    assert evidence(assess(Scripted(aws, script)), "guardrails").summary == (
        "unknown: service not available in region (no endpoint answered)"
    )


def test_a_service_unknown_to_the_sdk_is_unknown(aws):
    class NoBedrockAgent(Scripted):
        def client(self, service_name: str, **kwargs: Any) -> Any:
            if service_name == "bedrock-agent":
                raise UnknownServiceError(service_name=service_name, known_service_names=[])
            return super().client(service_name, **kwargs)

    answer = evidence(assess(NoBedrockAgent(aws, AWS_EMPTY)), "prompt-versioning")
    assert answer.status == "unknown"
    assert answer.unknown == ("service not available in region (unknown to this SDK)",)


def _without_credentials(monkeypatch: pytest.MonkeyPatch, tmp_path: Any) -> None:
    for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "AWS_PROFILE"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "none"))
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "none"))
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")


def test_no_credentials_is_one_clear_error(monkeypatch, tmp_path, capsys):
    _without_credentials(monkeypatch, tmp_path)
    with pytest.raises(CredentialsError, match=r"^No AWS credentials found"):
        assess(boto3.Session(region_name=REGION))

    assert main(["assess", "--region", REGION]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("error: No AWS credentials found") and err.count("\n") == 0


def test_unknown_profile_and_no_region(monkeypatch, tmp_path, capsys):
    _without_credentials(monkeypatch, tmp_path)
    assert main(["assess", "--profile", "nope"]) == 2
    assert "The config profile (nope) could not be found" in capsys.readouterr().err

    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.delenv("AWS_DEFAULT_REGION", raising=False)
    monkeypatch.delenv("AWS_REGION", raising=False)
    assert main(["assess"]) == 2
    assert capsys.readouterr().err.strip() == "error: No AWS region is configured: pass --region or set AWS_REGION."


def test_rejected_credentials_stop_the_assessment(aws):
    rejected = ClientError({"Error": {"Code": "ExpiredToken", "Message": "expired"}}, "GetCallerIdentity")
    with pytest.raises(CredentialsError, match=r"rejected \(ExpiredToken\)"):
        assess(Scripted(aws, {("sts", "GetCallerIdentity"): rejected}))


# --------------------------------------------------------------------------------------------------
# Output


def test_json_output_shape(aws, tmp_path):
    build_level1(aws)
    document = json.loads(render(assess(Scripted(aws, AWS_EMPTY), env="dev"), "json"))

    assert set(document) == {
        "account",
        "region",
        "environment",
        "level",
        "levelName",
        "possibleLevel",
        "llmops",
        "nextStep",
        "checks",
        "rules",
    }
    assert (document["level"], document["levelName"], document["region"]) == (1, "repeatable", REGION)
    assert document["nextStep"]["stack"] == "Mlops-dev-Level2Reliable"
    assert [c["id"] for c in document["checks"]] == [c.id for c in CHECKS]
    first = document["checks"][0]
    assert set(first) == {"id", "question", "level", "status", "summary", "found", "unknown", "calls", "providedBy"}
    assert first["calls"] == list(CHECKS[0].calls)
    assert document["rules"] == RULES


def test_markdown_and_table_output(aws):
    build_level1(aws)
    result = assess(Scripted(aws, AWS_EMPTY), env="dev")

    markdown = render(result, "markdown")
    assert markdown.startswith(f"# MLOps maturity of account {ACCOUNT}, region {REGION}\n")
    assert "**Level 1 (repeatable)**" in markdown
    rows = [line for line in markdown.splitlines() if line.startswith("| ") and "`" in line]
    assert len(rows) == len(CHECKS)
    assert "| 1 | `model-registry` | Is the trained model kept in a model registry? | pass |" in markdown
    assert "## How the level is scored" in markdown

    table = render(result, "table")
    assert "Level 1 (repeatable)" in table and "LLMOps readiness: 0 of 4 checks pass" in table
    assert "Next step (model-monitoring): Deploy Mlops-dev-Level2Reliable" in table
    assert all(check.question.split()[0] in table for check in CHECKS)


def test_cli_writes_the_report_to_a_file(aws, tmp_path, monkeypatch):
    build_level0(aws)
    out = tmp_path / "assessment.json"
    # The CLI builds its own boto3 session; under mock_aws that is the moto account.
    assert main(["assess", "--region", REGION, "--env", "dev", "--format", "json", "--output", str(out)]) == 0
    assert json.loads(out.read_text())["environment"] == "dev"


# --------------------------------------------------------------------------------------------------
# The checklist is data: every call declared, read-only


def test_checks_only_make_the_read_only_calls_they_declare(aws):
    build_level2(aws)
    for check in CHECKS:
        recorder = Scripted(aws, AWS_EMPTY)
        check.run(CachingSession(recorder))
        made = {iam_action(*_snake(call)) for call in recorder.calls}
        assert made <= set(check.calls), f"{check.id} made undeclared calls {made - set(check.calls)}"
        assert made, f"{check.id} made no call"
        for action in check.calls:
            assert action.split(":", 1)[1].startswith(("Describe", "List", "Get", "BatchGet")), action


def _snake(call: str) -> tuple[str, str]:
    from botocore import xform_name

    service, operation = call.split(":")
    return service, xform_name(operation)


def test_api_refuses_anything_but_reads(aws):
    with pytest.raises(ValueError, match="not a read-only"):
        Api(aws, "s3").call("create_bucket", Bucket="nope")


def test_checklist_is_well_formed():
    ids = [check.id for check in CHECKS]
    assert len(ids) == len(set(ids))
    assert {check.level for check in CHECKS} == {0, 1, 2, 3, "llmops"}
    assert all(check.stack in _ENABLE for check in CHECKS)
    assert all(check.question.endswith("?") for check in CHECKS)


def test_the_ladder_is_additive():
    def answer(level: Any, status: str) -> Answer:
        check = Check(f"c{level}{status}", "q?", level, ("s:ListX",), "Level1Repeatable", "it", lambda s: None)  # type: ignore[arg-type,return-value]
        return Answer(check, Evidence(status, status))  # type: ignore[arg-type]

    # Levels 2 and 3 in place but a level 1 gap: still level 0.
    gap = score([answer(0, "pass"), answer(1, "missing"), answer(2, "pass"), answer(3, "pass")])
    assert (gap.level, gap.possible_level) == (0, 0)
    unknown = score([answer(0, "pass"), answer(1, "unknown"), answer(2, "pass"), answer(3, "missing")])
    assert (unknown.level, unknown.possible_level) == (0, 2)
    full = score([answer(0, "pass"), answer(1, "pass"), answer(2, "pass"), answer(3, "pass"), answer("llmops", "pass")])
    assert (full.level, full.next_step, full.llmops_passed) == (3, None, 1)


# --------------------------------------------------------------------------------------------------
# Against an endpoint (how the demo runs it after `make demo`)


@pytest.fixture(scope="module")
def moto_server() -> Iterator[str]:
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    _host, port = server.get_host_and_port()
    yield f"http://localhost:{port}"
    server.stop()


def test_assess_through_an_endpoint_url(moto_server, monkeypatch):
    import urllib.request

    with urllib.request.urlopen(urllib.request.Request(f"{moto_server}/moto-api/reset", method="POST")):
        pass  # every test starts from an empty account
    session = boto3.Session(region_name=REGION, aws_access_key_id="testing", aws_secret_access_key="testing")
    build_level1(_EndpointSession(session, moto_server))

    result = assess(session, env="local", endpoint_url=moto_server, max_attempts=1)
    assert result.score.level == 1
    assert evidence(result, "features-tracked").status == "pass"
    assert evidence(result, "model-lineage").status == "pass"
    assert evidence(result, "guardrails").status == "unknown"
    assert evidence(result, "guardrails").unknown == ("bedrock:ListGuardrails failed on the service side (HTTP 500)",)

    # The same through boto3's own configuration (AWS_ENDPOINT_URL), as the demo's subprocesses see it.
    monkeypatch.setenv("AWS_ENDPOINT_URL", moto_server)
    via_env = assess(boto3.Session(region_name=REGION), env="local", max_attempts=1)
    assert [a.evidence.status for a in via_env.answers] == [a.evidence.status for a in result.answers]


class _EndpointSession:
    def __init__(self, session: boto3.Session, url: str) -> None:
        self._session, self._url = session, url
        self.region_name = session.region_name

    def client(self, service_name: str, **kwargs: Any) -> Any:
        return self._session.client(service_name, endpoint_url=self._url, **kwargs)


def test_bias_checks_pass_on_clarify_reports_and_name_versions_without_them(aws):
    build_level1(aws)
    evidence = next(c for c in CHECKS if c.id == "bias-checks").run(aws)
    assert evidence.status == "pass", evidence
    assert "mlops-dev-churn v1 carries Bias.PostTrainingReport, Bias.PreTrainingReport, Explainability.Report" in (
        evidence.found
    )
    sagemaker = aws.client("sagemaker")
    sagemaker.create_model_package(
        ModelPackageGroupName="mlops-dev-churn",
        ModelApprovalStatus="PendingManualApproval",
        InferenceSpecification={
            "Containers": [{"Image": "xgboost"}],
            "SupportedContentTypes": ["text/csv"],
            "SupportedResponseMIMETypes": ["text/csv"],
        },
    )
    evidence = next(c for c in CHECKS if c.id == "bias-checks").run(aws)
    assert evidence.status == "missing"
    assert "(mlops-dev-churn v2) carry no Clarify bias or explainability report" in evidence.summary


def _cdk_json_with_prefix(tmp_path: Any, prefix: object) -> Any:
    from tests.example import EXAMPLE_CONTEXT

    path = tmp_path / "cdk.json"
    path.write_text(json.dumps({"context": {**EXAMPLE_CONTEXT, "mlops:namePrefix": prefix}}))
    return path


def test_the_next_step_names_the_stack_with_the_projects_prefix(aws, tmp_path, monkeypatch):
    build_level0(aws)
    result = assess(Scripted(aws, AWS_EMPTY), env="dev", stack_prefix="Acme-ml")
    step = result.score.next_step
    assert step is not None and step.stack == "Acme-ml-dev-Level1Repeatable"
    assert step.action.startswith("Deploy Acme-ml-dev-Level1Repeatable")

    # The CLI takes the prefix from cdk.json's mlops:namePrefix, capitalized as the app names stacks.
    seen: dict[str, Any] = {}

    def recording_assess(session: Any, **kwargs: Any) -> Any:
        seen.update(kwargs)
        return result

    monkeypatch.setattr("maturity.assess.assess", recording_assess)
    cdk_json = _cdk_json_with_prefix(tmp_path, "acme-ml")
    assert main(["assess", "--region", REGION, "--cdk-json", str(cdk_json), "--output", str(tmp_path / "a.txt")]) == 0
    assert seen["stack_prefix"] == "Acme-ml"


def test_a_bad_prefix_in_cdk_json_is_one_clear_error(aws, tmp_path, capsys):
    cdk_json = _cdk_json_with_prefix(tmp_path, "Bad_Prefix")
    assert main(["assess", "--region", REGION, "--cdk-json", str(cdk_json)]) == 2
    err = capsys.readouterr().err.strip()
    assert "mlops:namePrefix" in err and "'Bad_Prefix'" in err and err.count("\n") == 0


def test_experiment_tracking_passes_on_a_version_linked_to_its_run_and_lists_the_apps(aws):
    build_level1(aws)
    app = {"Name": "mlops-dev-mlflow", "Status": "Created"}
    result = assess(Scripted(aws, {**AWS_EMPTY, ("sagemaker", "ListMlflowApps"): {"Summaries": [app]}}), env="dev")
    found = evidence(result, "experiment-tracking")
    assert found.status == "pass", found
    assert found.found == (
        "mlops-dev-churn v1 came from MLflow run 0f1e2d3c4b5a69788796a5b4c3d2e1f0",
        "MLflow app mlops-dev-mlflow (Created)",
    )


def test_experiment_tracking_names_an_app_whose_runs_no_version_links_to(aws):
    build_level1(aws, register=False)
    aws.client("sagemaker").create_model_package(
        ModelPackageGroupName="mlops-dev-churn",
        ModelApprovalStatus="PendingManualApproval",
        InferenceSpecification={
            "Containers": [{"Image": "xgboost"}],
            "SupportedContentTypes": ["text/csv"],
            "SupportedResponseMIMETypes": ["text/csv"],
        },
    )
    app = {"Name": "mlops-dev-mlflow", "Status": "Created"}
    script = {**AWS_EMPTY, ("sagemaker", "ListMlflowApps"): {"Summaries": [app]}}
    found = evidence(assess(Scripted(aws, script), env="dev"), "experiment-tracking")
    assert found.status == "missing"
    assert found.summary.startswith(
        "MLflow app mlops-dev-mlflow (Created), but the newest versions (mlops-dev-churn v1)"
    )
    assert "mlflow.enabled" in (found.hint or "")
    empty = evidence(assess(Scripted(aws, AWS_EMPTY), env="dev"), "experiment-tracking")
    assert empty.summary == "No MLflow app or tracking server: experiments are not tracked."
