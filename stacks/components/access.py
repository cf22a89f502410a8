"""Least-privilege grants on the data lake, with their cdk-nag acknowledgements in the same place.

CDK's ``bucket.grant_*`` methods grant wildcard action groups (``s3:GetObject*``, ``s3:List*``,
``kms:GenerateDataKey*`` ...). These helpers grant the exact actions instead. What remains is the
object-level resource wildcard (``bucket/prefix/*``), which object access needs by nature because
object keys are data; each helper acknowledges exactly that finding, on the one policy it wrote to.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import jsii
from aws_cdk import ArnFormat, Stack
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from aws_cdk import aws_s3 as s3
from constructs import IConstruct, IValidation

from stacks.jsii_ids import jsii_id
from stacks.nag import Finding, acknowledge_all
from stacks.partition import format_arn

IAM_WILDCARD_RULE = "AwsSolutions-IAM5"

_READ_ACTIONS = ["s3:GetObject", "s3:GetObjectVersion"]
_WRITE_ACTIONS = ["s3:PutObject", "s3:DeleteObject", "s3:AbortMultipartUpload"]


def grant_objects(
    role: iam.Role,
    bucket: s3.IBucket,
    key: kms.IKey | None,
    *,
    prefix: str = "",
    write: bool = False,
    purpose: str,
) -> None:
    """Let `role` read (and with `write`, write) the objects under `prefix` of `bucket`.

    Listing is allowed on the bucket, narrowed to `prefix` by condition. `purpose` says why the
    role needs the access; it becomes part of the acknowledgement's reason.
    """
    bucket_arn = _bucket_arn(bucket)
    objects_arn = f"{bucket_arn}/{prefix}*"  # what bucket.arn_for_objects returns, without a round trip
    role.add_to_policy(
        iam.PolicyStatement(actions=_READ_ACTIONS + (_WRITE_ACTIONS if write else []), resources=[objects_arn])
    )
    role.add_to_policy(
        iam.PolicyStatement(
            actions=["s3:ListBucket"],
            resources=[bucket_arn],
            conditions={"StringLike": {"s3:prefix": [f"{prefix}*"]}} if prefix else None,
        )
    )
    if key is not None:
        key.grant(role, "kms:Decrypt", *(["kms:GenerateDataKey"] if write else []))
    where = f"under '{prefix}'" if prefix else "anywhere in this one bucket"
    acknowledge_wildcard_resource(
        role,
        objects_arn,
        f"{purpose}: object keys {where} are data written at run time, so object-level access needs "
        "a key wildcard; the bucket (and prefix) are fixed.",
    )


_BUCKET_ARNS: dict[str, str] = {}


def _bucket_arn(bucket: s3.IBucket) -> str:
    """`bucket`'s ARN (a token for a bucket of the app), read once per bucket."""
    key = jsii_id(bucket)
    arn = _BUCKET_ARNS.get(key)
    if arn is None:
        arn = _BUCKET_ARNS[key] = bucket.bucket_arn
    return arn


def trusted_roles_principal(role_arns: Sequence[str]) -> iam.IPrincipal:
    """Who may assume a cross-account role: exactly `role_arns` (``arn:aws:iam::<account>:role/<name>``).

    Trusting an account's root alone lets any principal of that account with ``sts:AssumeRole`` in: the
    trust names the accounts and a condition on ``aws:PrincipalArn`` (the role behind a session) narrows
    it to these roles. Roles by name rather than as principals, so a role deleted and recreated under the
    same name is trusted again (a principal ARN would be pinned to the old role's unique id).
    """
    if not role_arns:
        raise ValueError("trusted_roles_principal needs at least one role ARN")
    accounts = sorted({arn.split(":")[4] for arn in role_arns})
    principal: iam.IPrincipal = (
        iam.AccountPrincipal(accounts[0])
        if len(accounts) == 1
        else iam.CompositePrincipal(*(iam.AccountPrincipal(account) for account in accounts))
    )
    return iam.PrincipalWithConditions(principal, {"ArnEquals": {"aws:PrincipalArn": sorted(role_arns)}})


def acknowledge_wildcard_resource(role: iam.Role, resource_arn: str, reason: str) -> None:
    """Acknowledge the IAM5 finding for one wildcard resource ARN in `role`'s default policy.

    The finding names the ARN as it is finally written into the template. A reference to another
    stack's resource only becomes an ``Fn::ImportValue`` when the app is prepared for synthesis, so
    the acknowledgement is made then, from a construct validation (which CDK runs after preparing
    and before cdk-nag): one validation per stack, for all of its policies (see `_SynthAcknowledgements`).
    """
    known = _ROLE_POLICIES.get(jsii_id(role))
    if known is None:
        policy = role.node.try_find_child("DefaultPolicy")
        if policy is None:  # pragma: no cover - every caller has just added a statement
            raise ValueError(f"{role.node.path} has no default policy to acknowledge on")
        known = _ROLE_POLICIES[jsii_id(role)] = (policy, _synth_acknowledgements(Stack.of(role)))
    policy, pending = known
    pending.wildcards.append((policy, resource_arn, reason))


# A role's default policy and its stack's pending acknowledgements, found once per role (each lookup is a
# round trip to the CDK's Node.js runtime); the pending acknowledgements of each stack.
_ROLE_POLICIES: dict[str, tuple[IConstruct, _SynthAcknowledgements]] = {}
_STACK_ACKNOWLEDGEMENTS: dict[str, _SynthAcknowledgements] = {}


def _synth_acknowledgements(stack: Stack) -> _SynthAcknowledgements:
    key = jsii_id(stack)
    pending = _STACK_ACKNOWLEDGEMENTS.get(key)
    if pending is None:
        pending = _STACK_ACKNOWLEDGEMENTS[key] = _SynthAcknowledgements(stack)
        stack.node.add_validation(pending)
    return pending


@jsii.implements(IValidation)
class _SynthAcknowledgements:
    """The acknowledgements of one stack that can only be made once its policies are final (at synth).

    One validation for the whole stack rather than one per finding: it resolves every pending ARN and
    policy document in one call and acknowledges each policy's findings in one call. On each policy the
    acknowledgements keep their order: the wildcard resources first, as when a validation on each policy
    (which CDK visits before the policy's own resource) recorded them, then CDK's grants.
    """

    def __init__(self, stack: Stack) -> None:
        self._stack = stack
        self.wildcards: list[tuple[IConstruct, str, str]] = []  # (default policy, resource ARN, reason)
        self.cdk_grants: list[tuple[iam.CfnPolicy, str]] = []  # (policy, reason)

    def validate(self) -> list[str]:
        if self.wildcards:
            arns = self._stack.resolve([arn for _, arn, _ in self.wildcards])
            by_policy: dict[str, tuple[IConstruct, list[Finding]]] = {}
            for (policy, _, reason), arn in zip(self.wildcards, arns, strict=True):
                finding = Finding(IAM_WILDCARD_RULE, reason, "Resource::" + nag_rendering(arn))
                by_policy.setdefault(jsii_id(policy), (policy, []))[1].append(finding)
            for policy, findings in by_policy.values():
                acknowledge_all(policy, findings)
        if self.cdk_grants:
            documents = self._stack.resolve([policy.policy_document for policy, _ in self.cdk_grants])
            for (policy, reason), document in zip(self.cdk_grants, documents, strict=True):
                acknowledge_all(policy, _cdk_grant_findings(document, reason))
        return []  # nothing to report: this validation only records the acknowledgements


def nag_rendering(value: Any) -> str:
    """Render a resolved CloudFormation value the way cdk-nag names it in a finding ID.

    cdk-nag writes ``Fn::GetAtt`` as ``<LogicalId.Attribute>``, ``Ref`` as ``<LogicalId>``, an
    ``Fn::ImportValue`` as the export's name, and joins ``Fn::Join`` parts; literal strings stay.
    """
    if isinstance(value, str):
        return value
    if isinstance(value, dict) and len(value) == 1:
        ((function, argument),) = value.items()
        if function == "Fn::GetAtt":
            return f"<{argument[0]}.{argument[1]}>"
        if function == "Ref":
            return f"<{argument}>"
        if function == "Fn::ImportValue":  # a resource of a lower level's stack: cdk-nag shows the export
            return str(argument)
        if function == "Fn::Join":
            separator, parts = argument
            return str(separator).join(nag_rendering(part) for part in parts)
    raise ValueError(f"cannot render {value!r} as a cdk-nag finding")


# Wildcard actions CDK's own grants use (bucket.grant_read_write, key.grant_encrypt_decrypt, ...): the
# CodePipeline and CodeBuild constructs wire their roles with them and offer no narrower option.
CDK_GRANT_ACTIONS = frozenset(
    {
        "s3:Abort*",
        "s3:DeleteObject*",
        "s3:GetBucket*",
        "s3:GetObject*",
        "s3:List*",
        "kms:GenerateDataKey*",
        "kms:ReEncrypt*",
    }
)
# Resources those constructs grant with wildcards: objects of the pipeline's artifact bucket, CodeBuild's
# own log groups and report groups (named after the project at run time).
_CDK_GRANT_RESOURCES = ("/*", ":log-group:/aws/codebuild/", ":report-group/")


def acknowledge_cdk_grants(scope: IConstruct, reason: str) -> None:
    """Acknowledge, on every IAM policy under `scope` (a construct of one stack), the wildcard findings of
    CDK's built-in grants.

    Only the known grant patterns are acknowledged, one finding at a time, at synth (when the
    policies are final); any other wildcard in those policies still fails cdk-nag.
    """
    pending = _synth_acknowledgements(Stack.of(scope))
    for construct in scope.node.find_all():
        if isinstance(construct, iam.CfnPolicy):
            pending.cdk_grants.append((construct, reason))


def _cdk_grant_findings(document: dict[str, Any], reason: str) -> list[Finding]:
    findings = []
    for statement in document.get("Statement", []):
        actions = statement.get("Action", [])
        for action in [actions] if isinstance(actions, str) else actions:
            if action in CDK_GRANT_ACTIONS:
                findings.append(Finding(IAM_WILDCARD_RULE, reason, f"Action::{action}"))
        resources = statement.get("Resource", [])
        for resource in resources if isinstance(resources, list) else [resources]:
            rendered = nag_rendering(resource)
            if "*" in rendered and any(marker in rendered for marker in _CDK_GRANT_RESOURCES):
                findings.append(Finding(IAM_WILDCARD_RULE, reason, f"Resource::{rendered}"))
    return findings


def grant_sagemaker_job_basics(role: iam.Role, *, image_uris: Sequence[str], metric_namespaces: Sequence[str]) -> None:
    """What a role SageMaker runs jobs or models under needs besides data: pull the given images, write the
    job's logs under ``/aws/sagemaker/``, publish metrics to the given namespaces only.
    """
    stack = Stack.of(role)
    repositories = sorted({ecr_repository_arn(stack, uri) for uri in image_uris})
    role.add_to_policy(
        iam.PolicyStatement(
            sid="PullSageMakerImages",
            actions=["ecr:BatchGetImage", "ecr:GetDownloadUrlForLayer", "ecr:BatchCheckLayerAvailability"],
            resources=repositories,
        )
    )
    role.add_to_policy(
        iam.PolicyStatement(sid="AuthenticateToEcr", actions=["ecr:GetAuthorizationToken"], resources=["*"])
    )
    job_logs = format_arn(
        stack,
        service="logs",
        resource="log-group",
        resource_name="/aws/sagemaker/*",
        arn_format=ArnFormat.COLON_RESOURCE_NAME,
    )
    role.add_to_policy(
        iam.PolicyStatement(
            sid="WriteJobLogs",
            actions=["logs:CreateLogGroup", "logs:CreateLogStream", "logs:PutLogEvents"],
            resources=[job_logs],
        )
    )
    role.add_to_policy(
        iam.PolicyStatement(
            sid="PublishJobMetrics",
            actions=["cloudwatch:PutMetricData"],
            resources=["*"],
            conditions={"StringLike": {"cloudwatch:namespace": list(metric_namespaces)}},
        )
    )
    acknowledge_wildcard_resource(
        role, job_logs, "SageMaker jobs and endpoints write to log groups and streams they name under /aws/sagemaker/."
    )
    acknowledge_wildcard_resource(
        role,
        "*",
        "ecr:GetAuthorizationToken has no resource-level permissions; PutMetricData is bound by condition to "
        f"{', '.join(metric_namespaces)}.",
    )


def ecr_repository_arn(stack: Stack, image_uri: str) -> str:
    """The ECR repository ARN of an image URI ``<account>.dkr.ecr.<region>.amazonaws.com/<name>[:tag]``."""
    account, _, rest = image_uri.partition(".")
    return format_arn(
        stack,
        service="ecr",
        account=account,
        resource="repository",
        resource_name=rest.split("/", 1)[1].split(":", 1)[0],
    )


def member_principal(stack: Stack, member: str) -> iam.IPrincipal:
    """The principal of a configured member: an IAM role ARN, or an Identity Center permission set.

    Identity Center provisions a role named ``AWSReservedSSO_<Name>_<random>`` in each account, so a
    permission set (``sso:<Name>``) is trusted through the account with a condition on the caller's
    role ARN.
    """
    if not member.startswith("sso:"):
        return iam.ArnPrincipal(member)
    pattern = format_arn(
        stack,
        service="iam",
        region="",
        resource="role",
        resource_name=f"aws-reserved/sso.amazonaws.com/*AWSReservedSSO_{member.removeprefix('sso:')}_*",
    )
    return iam.AccountPrincipal(stack.account).with_conditions({"ArnLike": {"aws:PrincipalArn": pattern}})
