"""cdk-nag is on for every stack, and every acknowledgement is narrow and explained."""

from __future__ import annotations

import re

import pytest
from aws_cdk import App, CfnResource, Stack
from aws_cdk import aws_iam as iam
from aws_cdk import aws_s3 as s3

from stacks.nag import acknowledge, enable_nag
from tests.infra.conftest import PROJECT_ENV_NAMES

ACK_METADATA = "aws:cdk:acknowledged-rules"
OUR_RULES = re.compile(r"^Annotation::AwsSolutions-")


def test_nag_fails_the_synth_of_an_insecure_stack(tmp_path):
    # Proves the plugin is wired as this project wires it: without this, "no findings" means nothing.
    app = App(outdir=str(tmp_path))
    stack = Stack(app, "Insecure")
    s3.Bucket(stack, "PlainBucket")
    enable_nag(app)
    with pytest.raises(Exception, match=r"AwsSolutions-S1|AwsSolutions-S10"):
        app.synth()


def test_an_acknowledgement_silences_exactly_its_finding(tmp_path):
    app = App(outdir=str(tmp_path))
    stack = Stack(app, "Acknowledged")
    role = iam.Role(stack, "Role", assumed_by=iam.ServicePrincipal("glue.amazonaws.com"))
    role.add_to_principal_policy(iam.PolicyStatement(actions=["s3:GetObject"], resources=["arn:aws:s3:::b/*"]))
    role.add_to_principal_policy(iam.PolicyStatement(actions=["s3:PutObject"], resources=["arn:aws:s3:::c/*"]))
    policy = role.node.find_child("DefaultPolicy")
    acknowledge(policy, "AwsSolutions-IAM5", "test: one finding acknowledged", finding="Resource::arn:aws:s3:::b/*")
    enable_nag(app)
    with pytest.raises(Exception, match=re.escape("AwsSolutions-IAM5[Resource::arn:aws:s3:::c/*]")) as error:
        app.synth()
    assert "arn:aws:s3:::b/*]" not in str(error.value)


def test_acknowledge_rejects_vague_reasons_and_non_resources():
    stack = Stack(App(), "Guard")
    bucket = s3.Bucket(stack, "Bucket")
    with pytest.raises(ValueError, match="specific reason"):
        acknowledge(bucket, "AwsSolutions-S1", "n/a")
    with pytest.raises(TypeError, match="not one CloudFormation resource"):
        acknowledge(stack, "AwsSolutions-S1", "a reason long enough to pass the length check")


@pytest.mark.parametrize("env", PROJECT_ENV_NAMES)
def test_every_environment_synthesizes_with_nag_and_acknowledgements_are_scoped(project_synthesized, env):
    synthesized = project_synthesized
    # The session synth ran with cdk-nag: reaching here means zero unacknowledged findings.
    acknowledged = []
    for construct in synthesized[env].app.node.find_all():
        for entry in construct.node.metadata:
            if entry.type != ACK_METADATA:
                continue
            for rule_id, reason in entry.data.items():
                if not OUR_RULES.match(rule_id):
                    continue  # CDK's own acknowledgements of its validation plugin
                acknowledged.append(rule_id)
                assert isinstance(construct, CfnResource), f"{rule_id} is on {construct.node.path}, not a resource"
                if rule_id.startswith(("Annotation::AwsSolutions-IAM4", "Annotation::AwsSolutions-IAM5")):
                    assert "[" in rule_id, f"{rule_id} on {construct.node.path} must name one finding"
                assert len(reason) >= 20, f"{rule_id} on {construct.node.path} needs a real reason"
    assert acknowledged, "expected the documented acknowledgements (e.g. the access-log bucket's S1)"
