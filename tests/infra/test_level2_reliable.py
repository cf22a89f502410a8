"""Assertions on Level 2: promotion on approval, alarms that roll back and retrain, tests, the pipeline."""

from __future__ import annotations

import dataclasses
import json
from typing import Any

import pytest

from emulator.policy_simulation import PolicySimulator
from pipelines.glue import churn_features as cf
from tests.infra.conftest import ENV_NAMES


def level2(templates: dict[tuple[str, str], dict[str, Any]], env: str) -> dict[str, Any]:
    return templates[(env, f"Mlops-{env}-Level2Reliable")]


def of_type(template: dict[str, Any], cfn_type: str) -> dict[str, dict[str, Any]]:
    return {lid: r for lid, r in template["Resources"].items() if r["Type"] == cfn_type}


def function_env(template: dict[str, Any], prefix: str) -> dict[str, Any]:
    (function,) = [r for lid, r in of_type(template, "AWS::Lambda::Function").items() if lid.startswith(prefix)]
    variables: dict[str, Any] = function["Properties"]["Environment"]["Variables"]
    return variables


@pytest.mark.parametrize("env", ENV_NAMES)
def test_approval_deploys_through_the_promotion_function(templates, synthesized, env):
    template = level2(templates, env)
    settings = synthesized[env].config.endpoint
    variables = function_env(template, "EndpointPromotion")
    assert variables["ENDPOINT_NAME"] == f"mlops-{env}-churn"
    assert variables["ENDPOINT_MODE"] == settings.mode
    assert variables["MIN_AUC"] == str(settings.min_auc)
    assert variables["MODEL_PACKAGE_GROUP_NAME"] == f"mlops-{env}-churn"
    patterns = [r["Properties"].get("EventPattern") for r in of_type(template, "AWS::Events::Rule").values()]
    approved = [p for p in patterns if p and p.get("detail-type") == ["SageMaker Model Package State Change"]]
    assert approved and approved[0]["detail"]["ModelApprovalStatus"] == ["Approved"]
    in_service = [p for p in patterns if p and p.get("detail-type") == ["SageMaker Endpoint State Change"]]
    assert in_service and in_service[0]["detail"]["EndpointStatus"] == ["IN_SERVICE"]


def target_id(arn: Any) -> str | None:
    """The logical ID behind ``{"Fn::GetAtt": [id, "Arn"]}``; None for a literal ARN or a reference."""
    return str(arn["Fn::GetAtt"][0]) if isinstance(arn, dict) and "Fn::GetAtt" in arn else None


@pytest.mark.parametrize("env", ENV_NAMES)
@pytest.mark.parametrize("level", ["Level2Reliable", "Level3Scalable"])
def test_a_promotion_event_that_cannot_be_delivered_waits_in_an_alarmed_dead_letter_queue(templates, env, level):
    """After its retries EventBridge drops an event whose target has no dead-letter queue: an approval would
    then never deploy, silently. (That EventBridge may send to the queue and use its key is proven by
    tests/infra/test_integrations.py.)"""
    template = templates[(env, f"Mlops-{env}-{level}")]
    functions = of_type(template, "AWS::Lambda::Function")
    promotion_rules = [
        rule
        for rule in of_type(template, "AWS::Events::Rule").values()
        if any(target_id(t["Arn"]) in functions for t in rule["Properties"]["Targets"])
    ]
    assert len(promotion_rules) % 2 == 0 and promotion_rules, "approval and in-service rules per endpoint"
    queues = of_type(template, "AWS::SQS::Queue")
    alarms = of_type(template, "AWS::CloudWatch::Alarm").values()
    for rule in promotion_rules:
        (target,) = rule["Properties"]["Targets"]
        assert target["RetryPolicy"]["MaximumRetryAttempts"] >= 1
        assert 0 < target["RetryPolicy"]["MaximumEventAgeInSeconds"] <= 24 * 3600
        queue_id = target["DeadLetterConfig"]["Arn"]["Fn::GetAtt"][0]
        assert "KmsMasterKeyId" in queues[queue_id]["Properties"], "encrypted with a customer-managed key"
        (watching,) = [
            a["Properties"]
            for a in alarms
            if a["Properties"].get("MetricName") == "ApproximateNumberOfMessagesVisible"
            and a["Properties"]["Dimensions"]
            == [{"Name": "QueueName", "Value": {"Fn::GetAtt": [queue_id, "QueueName"]}}]
        ]
        assert watching["Threshold"] == 1 and watching["AlarmActions"]


def test_serverless_in_dev_provisioned_with_autoscaling_in_prod(templates):
    assert function_env(level2(templates, "dev"), "EndpointPromotion")["ENDPOINT_MODE"] == "serverless"
    prod = function_env(level2(templates, "prod"), "EndpointPromotion")
    assert prod["ENDPOINT_MODE"] == "provisioned"
    assert int(prod["AUTOSCALING_MIN_CAPACITY"]) >= 2 and int(prod["AUTOSCALING_MAX_CAPACITY"]) >= 4


@pytest.mark.parametrize("env", ENV_NAMES)
def test_rollback_alarms_are_the_5xx_and_latency_alarms(templates, env):
    template = level2(templates, env)
    rollback = function_env(template, "EndpointPromotion")["ROLLBACK_ALARMS"]
    refs = {part["Ref"] for part in rollback["Fn::Join"][1] if isinstance(part, dict)}
    # Logical IDs are the construct path plus an 8-character hash.
    assert sorted(r[:-8] for r in refs) == ["EndpointEndpoint5xx", "EndpointEndpointLatencyP99"]
    alarms = of_type(template, "AWS::CloudWatch::Alarm")
    assert refs <= set(alarms)
    for logical_id in refs:
        assert alarms[logical_id]["Properties"]["Namespace"] == "AWS/SageMaker"


@pytest.mark.parametrize("env", ENV_NAMES)
def test_drift_alarm_starts_the_level1_retraining(templates, env):
    template = level2(templates, env)
    alarms = of_type(template, "AWS::CloudWatch::Alarm")
    (drift_id,) = [lid for lid in alarms if lid.startswith("EndpointDataDrift")]
    rules = [
        r["Properties"]
        for r in of_type(template, "AWS::Events::Rule").values()
        if (r["Properties"].get("EventPattern") or {}).get("detail-type") == ["CloudWatch Alarm State Change"]
    ]
    (rule,) = rules
    assert rule["EventPattern"]["resources"] == [{"Fn::GetAtt": [drift_id, "Arn"]}]
    assert rule["EventPattern"]["detail"] == {"state": {"value": ["ALARM"]}}
    (target,) = rule["Targets"]
    assert "Fn::ImportValue" in json.dumps(target["Arn"])  # the Level 1 state machine


def test_test_strategies_and_pipeline_role_only_where_configured(templates, synthesized):
    for env in ENV_NAMES:
        config = synthesized[env].config
        template = level2(templates, env)
        streams = of_type(template, "AWS::Kinesis::Stream")
        assert bool(streams) is config.test_strategies, env
        apis = of_type(template, "AWS::ApiGateway::RestApi")
        assert bool(apis) is config.test_strategies, env
        pipelines = of_type(template, "AWS::CodePipeline::Pipeline")
        assert bool(pipelines) is config.delivery.pipeline, env
    # preprod is tested by dev's pipeline: its role trusts dev's account and may only run the batch test.
    roles = of_type(level2(templates, "preprod"), "AWS::IAM::Role")
    (test_role,) = [r for lid, r in roles.items() if lid.startswith("PipelineTestRole")]
    assert test_role["Properties"]["RoleName"] == "mlops-preprod-pipeline-tests"
    (trust,) = test_role["Properties"]["AssumeRolePolicyDocument"]["Statement"]
    assert "111111111111" in json.dumps(trust["Principal"]["AWS"])
    # Not any principal of dev's account: its pipeline's test-stage role, and the GitHub deploy role.
    assert trust["Condition"] == {
        "ArnEquals": {
            "aws:PrincipalArn": [
                "arn:aws:iam::111111111111:role/mlops-dev-run-tests-preprod",
                "arn:aws:iam::111111111111:role/mlops-github-deploy",
            ]
        }
    }


def test_dev_pipeline_deploys_preprod_then_waits_for_approval_before_prod(templates):
    (pipeline,) = of_type(level2(templates, "dev"), "AWS::CodePipeline::Pipeline").values()
    props = pipeline["Properties"]
    assert props["PipelineType"] == "V2"
    stages = [s["Name"] for s in props["Stages"]]
    assert stages == [
        "Source",
        "Build",
        "Deploy-preprod",
        "Test-preprod",
        "Prompts-preprod",
        "Approve-prod",
        "Deploy-prod",
        "Prompts-prod",
    ]
    approve = next(s for s in props["Stages"] if s["Name"] == "Approve-prod")
    (action,) = approve["Actions"]
    assert action["ActionTypeId"]["Category"] == "Approval"
    assert "NotificationArn" in action["Configuration"]
    assert props["ArtifactStore"]["EncryptionKey"]["Type"] == "KMS"


@pytest.mark.parametrize(("target", "account"), [("preprod", "222222222222"), ("prod", "333333333333")])
def test_prompt_stage_runs_the_release_tool_through_the_targets_release_role(templates, target, account):
    template = level2(templates, "dev")
    (pipeline,) = of_type(template, "AWS::CodePipeline::Pipeline").values()
    stage = next(s for s in pipeline["Properties"]["Stages"] if s["Name"] == f"Prompts-{target}")
    (action,) = stage["Actions"]
    assert action["ActionTypeId"]["Provider"] == "CodeBuild"
    project_id = action["Configuration"]["ProjectName"]["Ref"]
    project = template["Resources"][project_id]["Properties"]
    spec = json.loads(project["Source"]["BuildSpec"])
    assert spec["phases"]["build"]["commands"] == [
        'CODE_VERSION="$(python3 -m delivery.source_commit)"',
        f"python3 -m delivery.prompt_release --env {target} --source-version $CODE_VERSION",
    ]
    role_id = project["ServiceRole"]["Fn::GetAtt"][0]
    assumed = [
        statement
        for policy in of_type(template, "AWS::IAM::Policy").values()
        if {"Ref": role_id} in policy["Properties"]["Roles"]
        for statement in policy["Properties"]["PolicyDocument"]["Statement"]
        if statement["Action"] == "sts:AssumeRole"
    ]
    # Only the target's prompt-release role: not the deploy roles, not another environment's.
    assert [s["Resource"] for s in assumed] == [f"arn:aws:iam::{account}:role/mlops-{target}-prompt-release"]


def test_no_prompt_stage_for_a_target_without_llmops():
    from aws_cdk import App, Environment, RemovalPolicy, Stack
    from aws_cdk import aws_logs as logs
    from aws_cdk import aws_s3 as s3

    from stacks.components.delivery_pipeline import DeliveryPipeline
    from stacks.config import load_all_environments
    from tests.example import EXAMPLE_CONTEXT

    configs = {c.name: c for c in load_all_environments(EXAMPLE_CONTEXT)}
    no_llmops = dataclasses.replace(configs["prod"], llmops=dataclasses.replace(configs["prod"].llmops, enabled=False))
    stack = Stack(App(), "PipelineOnly", env=Environment(account="111111111111", region="eu-west-1"))
    pipeline = DeliveryPipeline(
        stack,
        "Delivery",
        environment_name="dev",
        settings=configs["dev"].delivery,
        targets=[configs["preprod"], no_llmops],
        removal_policy=RemovalPolicy.DESTROY,
        log_retention=logs.RetentionDays.ONE_WEEK,
        access_log_bucket=s3.Bucket(stack, "Logs"),
    )
    names = [stage.stage_name for stage in pipeline.pipeline.stages]
    assert names == [
        "Source",
        "Build",
        "Deploy-preprod",
        "Test-preprod",
        "Prompts-preprod",
        "Approve-prod",
        "Deploy-prod",
    ]


def test_the_realtime_test_reads_the_churn_features_group_online_and_nothing_else(templates, synthesized):
    tested = [env for env in ENV_NAMES if synthesized[env].config.test_strategies]
    assert tested, "no environment with test strategies to check"
    for env in tested:
        config = synthesized[env].config
        template = level2(templates, env)
        variables = function_env(template, "TestsRealtime")
        group = cf.feature_group_name(config.resource_prefix, cf.CUSTOMER_FEATURES)
        # The same name Level 0 gives its features group (one place names them).
        level0 = templates[(env, f"Mlops-{env}-Level0Exploration")]
        names = {r["Properties"]["FeatureGroupName"] for r in of_type(level0, "AWS::SageMaker::FeatureGroup").values()}
        assert group in names
        assert variables["FEATURES_GROUP"] == group
        assert variables["FEATURES"].split(",") == list(cf.MODEL_FEATURES)
        simulator = PolicySimulator(template, account=config.account, region=config.region)
        (role,) = [lid for lid in of_type(template, "AWS::IAM::Role") if lid.startswith("TestsRealtime")]
        arn = f"arn:aws:sagemaker:{config.region}:{config.account}:feature-group/"
        for action in ("sagemaker:GetRecord", "sagemaker:BatchGetRecord"):
            assert simulator.decide(role, action, arn + group.lower()).allowed, (env, action)
            labels = cf.feature_group_name(config.resource_prefix, cf.CHURN_LABELS).lower()
            assert not simulator.decide(role, action, arn + labels).allowed, (env, action)
        assert not simulator.decide(role, "sagemaker:PutRecord", arn + group.lower()).allowed
        statements = json.dumps(
            [
                r["Properties"]["PolicyDocument"]
                for r in of_type(template, "AWS::IAM::Policy").values()
                if any(ref.get("Ref") == role for ref in r["Properties"].get("Roles", []))
            ]
        )
        assert '"kms:Decrypt"' in statements  # the online store's data plane needs it on the group's key
