"""Every service-to-service path of every synthesized environment, against the policies AWS evaluates.

Alarm actions, EventBridge targets and dead-letter queues, S3 notifications, subscriptions, Lambda
destinations and event sources, log subscriptions and Step Functions tasks (`emulator/integrations.py`):
the target's resource policy and key policy must allow the calling service with the context it sends, and
the integration's role must allow the call. It runs over the session's synths (every environment of
cdk.json, the opt-in synth and the MSK synth of tests/infra/conftest.py), never synthesizing again.
"""

from __future__ import annotations

import copy
from typing import Any

import pytest

from emulator.integrations import Report, check
from stacks.synth import SynthesizedEnvironment
from tests.infra.conftest import PROJECT_ENV_NAMES

Templates = dict[str, dict[str, Any]]


def environment_templates(templates: dict[tuple[str, str], dict[str, Any]], env: str) -> Templates:
    return {stack: template for (name, stack), template in templates.items() if name == env}


def synth_templates(synth: SynthesizedEnvironment) -> Templates:
    return {stack.stack_name: synth.template(stack) for stack in synth.stacks}


def run(templates: Templates, synth: SynthesizedEnvironment) -> Report:
    return check(templates, account=synth.config.account, region=synth.config.region)


def paths(templates: Templates, cfn_type: str) -> list[str]:
    return [
        resource["Metadata"]["aws:cdk:path"].removesuffix("/Resource")
        for template in templates.values()
        for resource in template["Resources"].values()
        if resource["Type"] == cfn_type
    ]


def assert_clean_and_complete(report: Report, templates: Templates) -> None:
    assert report.refused == [], "\n".join(report.refused)
    # Not vacuous: every alarm, rule, state machine and event source mapping was asked about.
    asked = "\n".join(report.checked)
    for cfn_type, noun in (
        ("AWS::CloudWatch::Alarm", "alarm"),
        ("AWS::Events::Rule", "rule"),
        ("AWS::StepFunctions::StateMachine", "state machine"),
        ("AWS::Lambda::EventSourceMapping", "event source mapping"),
    ):
        for path in paths(templates, cfn_type):
            assert f"for {noun} {path} " in asked or f"for {noun} {path}\n" in asked + "\n", f"{path} not checked"
    for template in templates.values():
        for resource in template["Resources"].values():
            if resource["Type"] == "AWS::CodePipeline::Pipeline" and "NotificationArn" in str(resource):
                assert f"of pipeline {path_of(resource)} on topic " in asked, "the approval notification"


@pytest.mark.parametrize("env", PROJECT_ENV_NAMES)
def test_every_integration_of_every_environment_is_allowed(project_templates, project_synthesized, env):
    ours = environment_templates(project_templates, env)
    report = run(ours, project_synthesized[env])
    assert_clean_and_complete(report, ours)
    assert any(q.startswith("sns:Publish by cloudwatch.amazonaws.com for alarm ") for q in report.checked)
    assert any(q.startswith("kms:GenerateDataKey by cloudwatch.amazonaws.com ") for q in report.checked)


def test_every_integration_of_the_opt_ins_is_allowed(opted_in_dev):
    ours = synth_templates(opted_in_dev)
    assert_clean_and_complete(run(ours, opted_in_dev), ours)


def test_every_integration_with_msk_streaming_is_allowed(msk_synth):
    ours = synth_templates(msk_synth)
    report = run(ours, msk_synth)
    assert_clean_and_complete(report, ours)
    assert any(q.startswith("kafka:DescribeClusterV2 by ") for q in report.checked)


# --- the check fails on the faults it exists for ------------------------------------------------------------
@pytest.fixture
def dev(templates, synthesized) -> tuple[Templates, SynthesizedEnvironment]:
    """A mutable copy of dev's templates: the session's own stay untouched."""
    return copy.deepcopy(environment_templates(templates, "dev")), synthesized["dev"]


def one_of(templates: Templates, cfn_type: str, prefix: str = "") -> tuple[str, str, dict[str, Any]]:
    found = [
        (stack, logical_id, resource)
        for stack, template in templates.items()
        for logical_id, resource in template["Resources"].items()
        if resource["Type"] == cfn_type and logical_id.startswith(prefix)
    ]
    assert found, f"no {cfn_type} {prefix}"
    return found[0]


def path_of(resource: dict[str, Any]) -> str:
    return str(resource["Metadata"]["aws:cdk:path"]).removesuffix("/Resource")


def drop_statements(policy: dict[str, Any], service: str) -> None:
    statements = policy["Statement"]
    kept = [s for s in statements if service not in str(s.get("Principal"))]
    assert len(kept) < len(statements), f"no statement for {service}"
    policy["Statement"] = kept


def test_without_the_topics_cloudwatch_allow_each_alarm_fails_in_one_sentence(dev):
    ours, synth = dev
    _, _, topic = one_of(ours, "AWS::SNS::Topic", "Alerts")
    _, _, topic_policy = one_of(ours, "AWS::SNS::TopicPolicy", "Alerts")
    drop_statements(topic_policy["Properties"]["PolicyDocument"], "cloudwatch.amazonaws.com")

    refused = run(ours, synth).refused

    alarms = paths(ours, "AWS::CloudWatch::Alarm")
    assert len(refused) == len(alarms), "\n".join(refused)
    _, _, alarm = one_of(ours, "AWS::CloudWatch::Alarm")
    (sentence,) = [s for s in refused if f"alarm {path_of(alarm)} " in s]
    assert f"topic {path_of(topic)}" in sentence and "cloudwatch.amazonaws.com" in sentence
    assert "sns:Publish" in sentence and "\n" not in sentence and sentence.endswith(".")


def test_without_the_keys_cloudwatch_grant_alarms_cannot_encrypt(dev):
    ours, synth = dev
    _, _, key = one_of(ours, "AWS::KMS::Key", "AlertsKey")
    drop_statements(key["Properties"]["KeyPolicy"], "cloudwatch.amazonaws.com")

    refused = run(ours, synth).refused

    assert refused and all(f"key {path_of(key)}" in s and "kms:GenerateDataKey" in s for s in refused)


def test_an_unscoped_source_on_the_topic_is_refused_for_another_accounts_alarms(dev):
    """The Allow is scoped: the same alarms in another account would not be allowed to publish."""
    ours, synth = dev
    _, _, topic_policy = one_of(ours, "AWS::SNS::TopicPolicy", "Alerts")
    for statement in topic_policy["Properties"]["PolicyDocument"]["Statement"]:
        if "cloudwatch.amazonaws.com" in str(statement.get("Principal")):
            assert statement["Condition"]["StringEquals"]["aws:SourceAccount"] == synth.config.account
            statement["Condition"]["StringEquals"]["aws:SourceAccount"] = "000000000000"
    assert len(run(ours, synth).refused) == len(paths(ours, "AWS::CloudWatch::Alarm"))


def test_the_promotion_rules_dead_letter_queue_must_let_eventbridge_send(dev):
    ours, synth = dev
    _, _, queue_policy = one_of(ours, "AWS::SQS::QueuePolicy", "EndpointDeadLetters")
    drop_statements(queue_policy["Properties"]["PolicyDocument"], "events.amazonaws.com")
    _, _, rule = one_of(ours, "AWS::Events::Rule", "EndpointOnModelApproved")

    refused = run(ours, synth).refused

    (sentence,) = [s for s in refused if f"rule {path_of(rule)} " in s]
    assert "dead-letter to queue" in sentence and "events.amazonaws.com" in sentence


def test_a_cross_stack_reference_that_no_stack_exports_fails_naming_it(dev):
    ours, synth = dev
    _, _, alarm = one_of(ours, "AWS::CloudWatch::Alarm")
    alarm["Properties"]["AlarmActions"] = [{"Fn::ImportValue": "Mlops-nowhere:TopicArn"}]
    with pytest.raises(ValueError, match="Fn::ImportValue 'Mlops-nowhere:TopicArn'"):
        run(ours, synth)


def test_an_integration_the_check_does_not_know_fails_naming_it(dev):
    ours, synth = dev
    _, _, machine = one_of(ours, "AWS::StepFunctions::StateMachine", "Retraining")
    parts = machine["Properties"]["DefinitionString"]["Fn::Join"][1]
    machine["Properties"]["DefinitionString"]["Fn::Join"][1] = [
        part.replace("glue:startJobRun.sync", "batch:submitJob.sync") if isinstance(part, str) else part
        for part in parts
    ]
    with pytest.raises(ValueError, match=r"task resource arn:aws:states:::batch:submitJob\.sync"):
        run(ours, synth)


def test_the_approval_notification_needs_its_roles_grant_on_the_topics_key(dev):
    ours, synth = dev
    _, _, policy = one_of(ours, "AWS::IAM::Policy", "DeliveryPipelineApproveprodApprove")
    document = policy["Properties"]["PolicyDocument"]
    document["Statement"] = [s for s in document["Statement"] if "kms:Decrypt" not in str(s["Action"])]

    (sentence,) = run(ours, synth).refused

    assert "approval Approve-prod/Approve of pipeline" in sentence and "kms:GenerateDataKey" in sentence


# --- the knowledge base: what Bedrock does with its role ----------------------------------------------------
def knowledge_base_role(templates: Templates) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """dev's knowledge base role (trust policy) and the statements of its policy."""
    _, _, base = one_of(templates, "AWS::Bedrock::KnowledgeBase")
    role_id = base["Properties"]["RoleArn"]["Fn::GetAtt"][0]
    stack = next(s for s, t in templates.items() if role_id in t["Resources"])
    role = templates[stack]["Resources"][role_id]
    (policy,) = [
        r
        for r in templates[stack]["Resources"].values()
        if r["Type"] == "AWS::IAM::Policy" and {"Ref": role_id} in r["Properties"]["Roles"]
    ]
    return role, policy["Properties"]["PolicyDocument"]["Statement"]


def test_the_knowledge_base_role_is_asked_everything_bedrock_does_with_it(dev):
    templates, synth = dev
    asked = "\n".join(run(templates, synth).checked)
    for action in (
        "sts:AssumeRole by bedrock.amazonaws.com",
        "bedrock:InvokeModel by",
        "s3vectors:PutVectors by",
        "s3:GetObject by",
        "s3:ListBucket by",
        "kms:Decrypt by",
    ):
        assert any(line.startswith(action) and "knowledge base" in line for line in asked.splitlines()), action


@pytest.mark.parametrize(
    ("sid", "refused"),
    [
        ("DecryptTheDocumentsThroughS3", "kms:Decrypt"),
        ("ReadTheDocuments", "s3:GetObject"),
        ("UseTheIndex", "s3vectors:GetIndex"),
        ("EmbedWithTheModel", "bedrock:InvokeModel"),
    ],
)
def test_without_each_grant_the_knowledge_base_cannot_ingest(dev, sid, refused):
    templates, synth = dev
    _, statements = knowledge_base_role(templates)
    statements[:] = [s for s in statements if s.get("Sid") != sid]
    report = run(templates, synth)
    assert any("knowledge base" in line and refused in line for line in report.refused), report.refused


def test_a_data_source_prefix_outside_the_grant_is_refused(dev):
    templates, synth = dev
    _, _, source = one_of(templates, "AWS::Bedrock::DataSource")
    source["Properties"]["DataSourceConfiguration"]["S3Configuration"]["InclusionPrefixes"] = ["elsewhere/"]
    report = run(templates, synth)
    assert any("cannot read its documents under 'elsewhere/'" in line for line in report.refused), report.refused


def test_a_trust_for_another_account_keeps_bedrock_out(dev):
    templates, synth = dev
    role, _ = knowledge_base_role(templates)
    (trust,) = role["Properties"]["AssumeRolePolicyDocument"]["Statement"]
    trust["Condition"]["StringEquals"]["aws:SourceAccount"] = "999999999999"
    report = run(templates, synth)
    assert any("sts:AssumeRole" in line and "knowledge base" in line for line in report.refused), report.refused


def test_the_mlflow_default_domain_call_needs_its_grant_on_that_app(dev):
    ours, synth = dev
    _, _, setting = one_of(ours, "Custom::AWS", "MlflowDefaultForDomain")
    asked = "\n".join(run(ours, synth).checked)
    for request in ("Create", "Update", "Delete"):
        assert "sagemaker:UpdateMlflowApp by " in asked and f"{path_of(setting)} ({request})" in asked
    # The grant on another app (or none) leaves the call refused, on create, update and delete alike.
    _, _, policy = one_of(ours, "AWS::IAM::Policy", "MlflowDefaultForDomainCustomResourcePolicy")
    (statement,) = policy["Properties"]["PolicyDocument"]["Statement"]
    statement["Resource"] = "arn:aws:sagemaker:eu-west-1:111111111111:mlflow-app/app-other"

    refused = [s for s in run(ours, synth).refused if path_of(setting) in s]

    assert len(refused) == 3 and all("may not call sagemaker:UpdateMlflowApp" in s for s in refused)


def test_an_sdk_call_the_check_does_not_know_fails_naming_it(dev):
    ours, synth = dev
    _, _, setting = one_of(ours, "Custom::AWS", "MlflowDefaultForDomain")
    parts = setting["Properties"]["Create"]["Fn::Join"][1]
    setting["Properties"]["Create"]["Fn::Join"][1] = [
        part.replace("UpdateMlflowApp", "DeleteMlflowApp") if isinstance(part, str) else part for part in parts
    ]
    with pytest.raises(ValueError, match="sagemaker:DeleteMlflowApp is not known to this check"):
        run(ours, synth)
