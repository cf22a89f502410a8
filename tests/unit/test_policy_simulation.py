"""The strict policy evaluator's resource- and key-policy paths, and the integration check, on small templates.

Every template here is written by hand so each rule of AWS's evaluation is pinned on its own: a service
principal needs the resource policy; a role needs its identity policy (or a statement naming it); a key
policy must name the role or delegate to the account; an explicit deny wins; and what the evaluator does
not understand raises.
"""

from __future__ import annotations

import copy
from typing import Any

import pytest

from emulator.integrations import check
from emulator.policy_simulation import PolicySimulator, decide_request, principal_match, resource_decision

ACCOUNT, REGION = "123456789012", "eu-west-1"
ALARM = f"arn:aws:cloudwatch:{REGION}:{ACCOUNT}:alarm:disk-full"
TOPIC = f"arn:aws:sns:{REGION}:{ACCOUNT}:alerts"
ROLE = f"arn:aws:iam::{ACCOUNT}:role/worker"
CLOUDWATCH = "cloudwatch.amazonaws.com"


def allow_cloudwatch(**condition: Any) -> dict[str, Any]:
    return {
        "Sid": "Alarms",
        "Effect": "Allow",
        "Principal": {"Service": CLOUDWATCH},
        "Action": "sns:Publish",
        "Resource": TOPIC,
        "Condition": condition
        or {
            "StringEquals": {"aws:SourceAccount": ACCOUNT},
            "ArnLike": {"aws:SourceArn": f"arn:aws:cloudwatch:{REGION}:{ACCOUNT}:alarm:*"},
        },
    }


SSL_ONLY = {
    "Sid": "SslOnly",
    "Effect": "Deny",
    "Principal": "*",
    "Action": "sns:Publish",
    "Resource": TOPIC,
    "Condition": {"Bool": {"aws:SecureTransport": "false"}},
}
FROM_ALARM = {"aws:SourceAccount": ACCOUNT, "aws:SourceArn": ALARM}


def publish(statements: list[dict[str, Any]], principal: str = CLOUDWATCH, context: Any = None, **kwargs: Any):
    return decide_request(
        principal,
        "sns:Publish",
        TOPIC,
        FROM_ALARM if context is None else context,
        resource_policy=statements,
        **kwargs,
    )


# --- resource policies, service principals ---------------------------------------------------------------------
def test_a_service_is_allowed_only_by_a_statement_naming_it_with_matching_source():
    assert publish([SSL_ONLY, allow_cloudwatch()]).allowed
    assert not publish([SSL_ONLY]).allowed, "the SSL-only policy alone lets nobody publish"
    assert not publish([SSL_ONLY, allow_cloudwatch()], principal="events.amazonaws.com").allowed
    other_account = {"aws:SourceAccount": "000000000000", "aws:SourceArn": ALARM.replace(ACCOUNT, "000000000000")}
    assert not publish([allow_cloudwatch()], context=other_account).allowed
    assert not publish([allow_cloudwatch()], context={}).allowed, "a missing key never matches"


def test_the_account_root_does_not_let_a_service_in():
    root = {"Effect": "Allow", "Principal": {"AWS": f"arn:aws:iam::{ACCOUNT}:root"}, "Action": "sns:*", "Resource": "*"}
    assert not publish([root]).allowed


def test_an_explicit_deny_wins_and_insecure_transport_is_denied():
    decision = publish([SSL_ONLY, allow_cloudwatch()], context={**FROM_ALARM, "aws:SecureTransport": "false"})
    assert not decision.allowed and "SslOnly" in decision.why


def test_condition_keys_are_case_insensitive():
    statement = allow_cloudwatch(StringEquals={"AWS:SourceAccount": ACCOUNT})
    assert publish([statement], context={"aws:sourceaccount": ACCOUNT}).allowed


@pytest.mark.parametrize("operator", ["StringEqualsIgnoreCase", "ArnLikeIfExists", "Null", "ForEveryValue:StringLike"])
def test_an_unknown_condition_operator_raises_naming_it(operator):
    statement = allow_cloudwatch(**{operator: {"aws:SourceArn": ALARM}})
    with pytest.raises(ValueError, match=f"condition operator '{operator}' is not supported"):
        publish([statement])


def test_not_principal_and_unknown_principal_types_raise():
    with pytest.raises(ValueError, match="NotPrincipal"):
        publish([{**allow_cloudwatch(), "NotPrincipal": {"AWS": ROLE}}])
    with pytest.raises(ValueError, match="'CanonicalUser' is not supported"):
        publish([{**allow_cloudwatch(), "Principal": {"CanonicalUser": "abc"}}])
    with pytest.raises(ValueError, match="names no Principal"):
        resource_decision([{"Effect": "Allow", "Action": "*", "Resource": "*"}], CLOUDWATCH, "sns:Publish", TOPIC, {})


def test_a_principal_is_a_role_arn_or_a_service_nothing_else():
    with pytest.raises(ValueError, match="neither a role ARN nor a service principal"):
        principal_match({"Principal": "*"}, "arn:aws:iam::123456789012:user/alice")


# --- roles and key policies ---------------------------------------------------------------------------------
KEY = f"arn:aws:kms:{REGION}:{ACCOUNT}:key/abc"
ROOT_DELEGATES = {
    "Effect": "Allow",
    "Principal": {"AWS": f"arn:aws:iam::{ACCOUNT}:root"},
    "Action": "kms:*",
    "Resource": "*",
}
ROLE_MAY_ENCRYPT = {"Effect": "Allow", "Action": ["kms:GenerateDataKey*", "kms:Decrypt"], "Resource": KEY}


def encrypt(key_policy: list[dict[str, Any]], identity: list[dict[str, Any]], boundary: Any = None):
    return decide_request(
        ROLE,
        "kms:GenerateDataKey",
        KEY,
        {},
        resource_policy=key_policy,
        identity=identity,
        boundary=boundary,
        key_policy=True,
    )


def test_a_key_policy_delegating_to_the_account_lets_the_roles_identity_policy_decide():
    assert encrypt([ROOT_DELEGATES], [ROLE_MAY_ENCRYPT]).allowed
    assert not encrypt([ROOT_DELEGATES], []).allowed
    assert not encrypt([ROOT_DELEGATES], [ROLE_MAY_ENCRYPT], boundary=[]).allowed, "outside the boundary"


def test_without_the_account_in_the_key_policy_an_identity_grant_is_not_enough():
    other = {**ROOT_DELEGATES, "Principal": {"AWS": "arn:aws:iam::000000000000:root"}}
    decision = encrypt([other], [ROLE_MAY_ENCRYPT])
    assert not decision.allowed and "neither names the role" in decision.why
    naming_the_role = {**ROOT_DELEGATES, "Principal": {"AWS": ROLE}}
    assert encrypt([naming_the_role], []).allowed


def test_a_role_reaches_a_same_account_topic_by_identity_or_by_a_statement_naming_it():
    may_publish = {"Effect": "Allow", "Action": "sns:Publish", "Resource": TOPIC}
    assert decide_request(ROLE, "sns:Publish", TOPIC, {}, resource_policy=[SSL_ONLY], identity=[may_publish]).allowed
    assert not decide_request(ROLE, "sns:Publish", TOPIC, {}, resource_policy=[SSL_ONLY], identity=[]).allowed
    naming = {**may_publish, "Principal": {"AWS": ROLE}}
    assert decide_request(ROLE, "sns:Publish", TOPIC, {}, resource_policy=[naming], identity=[]).allowed
    deny = {"Effect": "Deny", "Action": "sns:*", "Resource": "*"}
    assert not decide_request(ROLE, "sns:Publish", TOPIC, {}, resource_policy=[naming], identity=[deny]).allowed


def test_a_service_principal_has_no_identity_policy():
    with pytest.raises(ValueError, match="has no identity policy"):
        decide_request(CLOUDWATCH, "sns:Publish", TOPIC, {}, resource_policy=[], identity=[{"Effect": "Allow"}])


def test_a_trust_policy_has_no_resource_element_and_still_matches():
    trust = [{"Effect": "Allow", "Principal": {"Service": "states.amazonaws.com"}, "Action": "sts:AssumeRole"}]
    assert decide_request("states.amazonaws.com", "sts:AssumeRole", ROLE, {}, resource_policy=trust).allowed
    assert not decide_request("events.amazonaws.com", "sts:AssumeRole", ROLE, {}, resource_policy=trust).allowed


# --- templates: permissions, imports ---------------------------------------------------------------------------
FUNCTION_TEMPLATE: dict[str, Any] = {
    "Resources": {
        "Fn": {"Type": "AWS::Lambda::Function", "Properties": {"Role": {"Fn::GetAtt": ["FnRole", "Arn"]}}},
        "FnRole": {"Type": "AWS::IAM::Role", "Properties": {"AssumeRolePolicyDocument": {"Statement": []}}},
        "Rule": {"Type": "AWS::Events::Rule", "Properties": {}},
        "Invoke": {
            "Type": "AWS::Lambda::Permission",
            "Properties": {
                "Action": "lambda:InvokeFunction",
                "FunctionName": {"Fn::GetAtt": ["Fn", "Arn"]},
                "Principal": "events.amazonaws.com",
                "SourceArn": {"Fn::GetAtt": ["Rule", "Arn"]},
            },
        },
    }
}


def test_a_lambda_permission_is_read_as_the_statement_lambda_writes():
    simulator = PolicySimulator(FUNCTION_TEMPLATE, account=ACCOUNT, region=REGION, stack_name="S")
    policy = simulator.resource_policy("Fn")
    function, rule = simulator.arn_of("Fn"), simulator.arn_of("Rule")

    def invoke(source_arn: str):
        context = {"aws:SourceAccount": ACCOUNT, "aws:SourceArn": source_arn}
        return decide_request(
            "events.amazonaws.com", "lambda:InvokeFunction", function, context, resource_policy=policy
        )

    assert invoke(rule).allowed
    assert not invoke(rule.replace("rule/", "rule/other-")).allowed


def test_a_lambda_permission_with_a_setting_the_evaluator_does_not_know_raises():
    template = copy.deepcopy(FUNCTION_TEMPLATE)
    template["Resources"]["Invoke"]["Properties"]["PrincipalOrgID"] = "o-abc"
    with pytest.raises(ValueError, match="PrincipalOrgID"):
        PolicySimulator(template, account=ACCOUNT, region=REGION).resource_policy("Fn")


def test_an_import_resolves_through_the_given_exports_and_an_unknown_one_raises():
    simulator = PolicySimulator({"Resources": {}}, account=ACCOUNT, region=REGION, imports={"Base:TopicArn": TOPIC})
    assert simulator.resolve({"Fn::ImportValue": "Base:TopicArn"}) == TOPIC
    with pytest.raises(ValueError, match="Fn::ImportValue 'Base:Missing'"):
        simulator.resolve({"Fn::ImportValue": "Base:Missing"})


def test_refs_have_the_shape_cloudformation_gives_them():
    template = {
        "Resources": {
            "T": {"Type": "AWS::SNS::Topic", "Properties": {}},
            "Q": {"Type": "AWS::SQS::Queue", "Properties": {"QueueName": "jobs"}},
        }
    }
    simulator = PolicySimulator(template, account=ACCOUNT, region=REGION, stack_name="S")
    assert simulator.resolve({"Ref": "T"}) == simulator.resolve({"Fn::GetAtt": ["T", "TopicArn"]})
    assert simulator.resolve({"Ref": "T"}).startswith(f"arn:aws:sns:{REGION}:{ACCOUNT}:")
    assert simulator.resolve({"Ref": "Q"}) == f"https://sqs.{REGION}.amazonaws.com/{ACCOUNT}/jobs"
    assert simulator.resolve({"Fn::GetAtt": ["Q", "Arn"]}) == f"arn:aws:sqs:{REGION}:{ACCOUNT}:jobs"
    with pytest.raises(ValueError, match=r"Fn::GetAtt Q\.Unknown"):
        simulator.resolve({"Fn::GetAtt": ["Q", "Unknown"]})


# --- the integration check on paths the project's templates do not (yet) have -----------------------------------
def function_stack(**extra: dict[str, Any]) -> dict[str, Any]:
    resources = copy.deepcopy(FUNCTION_TEMPLATE["Resources"])
    resources["Fn"]["Properties"]["FunctionName"] = "worker"
    resources.update(extra)
    return {"Resources": resources}


def test_a_log_subscription_to_a_function_needs_a_permission_for_the_regional_logs_principal():
    subscription = {
        "Type": "AWS::Logs::SubscriptionFilter",
        "Properties": {"LogGroupName": "/app", "DestinationArn": {"Fn::GetAtt": ["Fn", "Arn"]}, "FilterPattern": ""},
    }
    report = check({"S": function_stack(Sub=subscription)}, account=ACCOUNT, region=REGION)
    (sentence,) = report.refused
    assert "log subscription S/Sub" in sentence and f"logs.{REGION}.amazonaws.com" in sentence
    permission = {
        "Type": "AWS::Lambda::Permission",
        "Properties": {
            "Action": "lambda:InvokeFunction",
            "FunctionName": "worker",
            "Principal": f"logs.{REGION}.amazonaws.com",
            "SourceArn": f"arn:aws:logs:{REGION}:{ACCOUNT}:log-group:/app:*",
        },
    }
    assert check({"S": function_stack(Sub=subscription, Logs=permission)}, account=ACCOUNT, region=REGION).refused == []


def test_an_s3_notification_to_a_queue_needs_the_queue_policy():
    bucket = {
        "Type": "AWS::S3::Bucket",
        "Properties": {
            "BucketName": "landing",
            "NotificationConfiguration": {
                "QueueConfigurations": [{"Event": "s3:ObjectCreated:*", "Queue": {"Fn::GetAtt": ["Q", "Arn"]}}]
            },
        },
    }
    queue = {"Type": "AWS::SQS::Queue", "Properties": {}}
    (sentence,) = check({"S": {"Resources": {"B": bucket, "Q": queue}}}, account=ACCOUNT, region=REGION).refused
    assert "bucket S/B" in sentence and "s3.amazonaws.com" in sentence and "sqs:SendMessage" in sentence


def test_a_lambda_destination_needs_the_functions_role_to_send():
    config = {
        "Type": "AWS::Lambda::EventInvokeConfig",
        "Properties": {
            "FunctionName": {"Ref": "Fn"},
            "Qualifier": "$LATEST",
            "DestinationConfig": {"OnFailure": {"Destination": {"Fn::GetAtt": ["Q", "Arn"]}}},
        },
    }
    template = function_stack(Cfg=config, Q={"Type": "AWS::SQS::Queue", "Properties": {}})
    (sentence,) = check({"S": template}, account=ACCOUNT, region=REGION).refused
    assert "function S/Fn" in sentence and "sqs:SendMessage" in sentence and "S/FnRole" in sentence
    template["Resources"]["Grant"] = {
        "Type": "AWS::IAM::Policy",
        "Properties": {
            "Roles": [{"Ref": "FnRole"}],
            "PolicyDocument": {
                "Statement": [
                    {"Effect": "Allow", "Action": "sqs:SendMessage", "Resource": {"Fn::GetAtt": ["Q", "Arn"]}}
                ]
            },
        },
    }
    assert check({"S": template}, account=ACCOUNT, region=REGION).refused == []


def test_notifications_set_by_a_custom_resource_are_refused_rather_than_skipped():
    custom = {"Type": "Custom::S3BucketNotifications", "Properties": {}}
    with pytest.raises(ValueError, match="custom resource"):
        check({"S": {"Resources": {"N": custom}}}, account=ACCOUNT, region=REGION)
