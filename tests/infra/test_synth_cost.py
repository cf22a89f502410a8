"""Synth cost in round trips to the jsii runtime (load-independent, no timing), and that batching the
cdk-nag acknowledgements keeps exactly the acknowledgements, in their order, that one call each made."""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator

import pytest
from aws_cdk import App, ArnFormat, Environment, Stack
from aws_cdk import aws_iam as iam
from aws_cdk import aws_s3 as s3
from jsii._kernel.providers import process

from stacks.components.access import acknowledge_cdk_grants, acknowledge_wildcard_resource, grant_objects
from stacks.jsii_ids import node_path
from stacks.nag import Finding, acknowledge_all, enable_nag
from stacks.partition import format_arn

ACK_METADATA = "aws:cdk:acknowledged-rules"
OBJECTS = ["arn:aws:s3:::a/*", "arn:aws:s3:::b/*", "arn:aws:s3:::c/*"]


@pytest.fixture
def jsii_calls(monkeypatch: pytest.MonkeyPatch) -> Iterator[Callable[[Callable[[], object]], int]]:
    """`count(fn)`: how many requests Python sends to the jsii runtime while `fn` runs."""
    sent = [0]
    send = process._NodeProcess.send

    def counting(self: object, request: object, response_type: object) -> object:
        sent[0] += 1
        return send(self, request, response_type)  # type: ignore[arg-type]

    monkeypatch.setattr(process._NodeProcess, "send", counting)

    def count(fn: Callable[[], object]) -> int:
        before = sent[0]
        fn()
        return sent[0] - before

    yield count


def acknowledged(construct: object) -> list[tuple[str, str]]:
    """The acknowledged rule ids and reasons recorded on `construct`, in the order they were recorded."""
    return [
        (rule, reason)
        for entry in construct.node.metadata  # type: ignore[attr-defined]
        if entry.type == ACK_METADATA
        for rule, reason in entry.data.items()
    ]


def role_with_wildcards(stack: Stack, name: str = "Role") -> iam.Role:
    role = iam.Role(stack, name, assumed_by=iam.ServicePrincipal("glue.amazonaws.com"))
    role.add_to_policy(iam.PolicyStatement(actions=["s3:GetObject"], resources=OBJECTS))
    return role


def test_wildcard_acknowledgements_are_made_at_synth_in_call_order(tmp_path, jsii_calls):
    app = App(outdir=str(tmp_path))
    stack = Stack(app, "Wildcards")
    role = role_with_wildcards(stack)
    reasons = [f"test: objects of bucket {arn[13]} are data written at run time" for arn in OBJECTS]
    first = jsii_calls(lambda: acknowledge_wildcard_resource(role, OBJECTS[2], reasons[2]))
    # Later ones on the same role are kept in Python until synth: no round trip at all.
    assert jsii_calls(lambda: acknowledge_wildcard_resource(role, OBJECTS[0], reasons[0])) == 0 < first
    assert jsii_calls(lambda: acknowledge_wildcard_resource(role, OBJECTS[1], reasons[1])) == 0
    policy = role.node.find_child("DefaultPolicy").node.default_child
    assert acknowledged(policy) == []  # made at synth, once the policy (and any import) is final
    enable_nag(app)
    app.synth()  # passes: each of the three findings is acknowledged
    assert acknowledged(policy) == [
        (f"Annotation::AwsSolutions-IAM5[Resource::{OBJECTS[i]}]", reasons[i]) for i in (2, 0, 1)
    ]


def test_an_unacknowledged_wildcard_still_fails_the_synth(tmp_path):
    app = App(outdir=str(tmp_path))
    role = role_with_wildcards(Stack(app, "OneMissing"))
    for arn in OBJECTS[:2]:
        acknowledge_wildcard_resource(role, arn, "test: objects are data written at run time")
    enable_nag(app)
    with pytest.raises(Exception, match=re.escape(f"AwsSolutions-IAM5[Resource::{OBJECTS[2]}]")) as error:
        app.synth()
    assert OBJECTS[0] not in str(error.value)


def test_cdk_grant_acknowledgements_follow_the_wildcard_ones_on_each_policy(tmp_path):
    app = App(outdir=str(tmp_path))
    stack = Stack(app, "Grants")
    role = iam.Role(stack, "Role", assumed_by=iam.ServicePrincipal("codebuild.amazonaws.com"))
    bucket = s3.Bucket.from_bucket_name(stack, "Artifacts", "artifacts-bucket")
    bucket.grant_read(role)  # s3:GetObject*, s3:GetBucket*, s3:List* on the bucket and its objects
    role.add_to_policy(iam.PolicyStatement(actions=["logs:PutLogEvents"], resources=["arn:aws:logs:*:*:*"]))
    acknowledge_cdk_grants(stack, "test: CDK's own read grant on the pipeline's artifact bucket")
    acknowledge_wildcard_resource(role, "arn:aws:logs:*:*:*", "test: log groups are named at run time")
    enable_nag(app)
    app.synth()
    rules = [rule for rule, _ in acknowledged(role.node.find_child("DefaultPolicy").node.default_child)]
    assert rules[0] == "Annotation::AwsSolutions-IAM5[Resource::arn:aws:logs:*:*:*]"
    assert sorted(rules[1:]) == sorted(
        f"Annotation::AwsSolutions-IAM5[{finding}]"
        for finding in (
            "Action::s3:GetObject*",
            "Action::s3:GetBucket*",
            "Action::s3:List*",
            "Resource::arn:<AWS::Partition>:s3:::artifacts-bucket/*",
        )
    )


def test_acknowledge_all_records_every_finding_in_one_call_and_checks_each_reason(jsii_calls):
    stack = Stack(App(), "Batch")
    bucket = s3.CfnBucket(stack, "Bucket")
    findings = [Finding("AwsSolutions-S1", "test: a reason that is long enough"), Finding("AwsSolutions-S10", "ok")]
    with pytest.raises(ValueError, match="AwsSolutions-S10 on Batch/Bucket needs a specific reason"):
        acknowledge_all(bucket, findings)
    assert acknowledged(bucket) == []  # nothing recorded from a batch with a vague reason
    findings[1] = Finding("AwsSolutions-S10", "test: another reason long enough", None)
    assert jsii_calls(lambda: acknowledge_all(bucket, findings)) == 2  # Validations.of, then acknowledge
    assert acknowledged(bucket) == [
        ("Annotation::AwsSolutions-S1", "test: a reason that is long enough"),
        ("Annotation::AwsSolutions-S10", "test: another reason long enough"),
    ]


def test_grant_objects_writes_the_arn_of_bucket_arn_for_objects(tmp_path):
    stack = Stack(App(outdir=str(tmp_path)), "Objects")
    role = iam.Role(stack, "Role", assumed_by=iam.ServicePrincipal("glue.amazonaws.com"))
    bucket = s3.Bucket(stack, "Bucket")
    grant_objects(role, bucket, None, prefix="in/", purpose="test")
    statements = stack.resolve(role.node.find_child("DefaultPolicy").node.default_child.policy_document)["Statement"]
    assert statements[0]["Resource"] == stack.resolve(bucket.arn_for_objects("in/*"))
    assert statements[1] == {
        "Action": "s3:ListBucket",
        "Condition": {"StringLike": {"s3:prefix": ["in/*"]}},
        "Effect": "Allow",
        "Resource": stack.resolve(bucket.bucket_arn),
    }


def test_node_path_reads_a_construct_path_once(jsii_calls):
    stack = Stack(App(), "Paths")
    bucket = s3.CfnBucket(stack, "Bucket")
    assert jsii_calls(lambda: node_path(bucket)) == 2  # node, then path
    assert jsii_calls(lambda: node_path(bucket)) == 0
    proxy = stack.node.find_child("Bucket")  # another Python proxy of the same construct
    assert jsii_calls(lambda: node_path(proxy)) == 0
    assert node_path(proxy) == bucket.node.path == "Paths/Bucket"


ARN_CASES = [
    {"service": "sagemaker", "resource": "model-package-group", "resource_name": "churn"},
    {"service": "glue", "resource": "catalog"},
    {
        "service": "logs",
        "resource": "log-group",
        "resource_name": "/aws/x/*",
        "arn_format": ArnFormat.COLON_RESOURCE_NAME,
    },
    {"service": "iam", "region": "", "resource": "role", "resource_name": "team-*"},
    {"service": "ecr", "account": "123456789012", "resource": "repository", "resource_name": "image"},
    {"service": "s3", "region": "", "account": "", "resource": "bucket", "arn_format": ArnFormat.SLASH_RESOURCE_NAME},
]


@pytest.mark.parametrize(
    "env", [None, Environment(account="111111111111", region="cn-north-1")], ids=["tokens", "china"]
)
@pytest.mark.parametrize("case", ARN_CASES, ids=[case["service"] for case in ARN_CASES])
def test_format_arn_builds_what_stack_format_arn_builds(case, env, jsii_calls):
    stack = Stack(App(), "Arns", env=env)
    format_arn(stack, service="warm", resource="up")  # the stack's parts are read once
    ours = []
    assert jsii_calls(lambda: ours.append(format_arn(stack, **case))) == 0
    assert stack.resolve(ours[0]) == stack.resolve(stack.format_arn(**case))


def test_format_arn_refuses_the_formats_it_does_not_build():
    stack = Stack(App(), "Arns")
    with pytest.raises(ValueError, match=re.escape("use stack.format_arn")):
        format_arn(stack, service="s3", resource="b", arn_format=ArnFormat.NO_RESOURCE_NAME)
