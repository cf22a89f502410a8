"""The scoped CloudFormation execution policy (bootstrap/cloudformation-execution-policy.json, docs/delivery.md's
alternative to AdministratorAccess for `cdk bootstrap --cloudformation-execution-policies`) covers every
resource the synthesized stacks create, so it cannot silently fall behind a new resource type."""

from __future__ import annotations

import fnmatch
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from scripts.execution_policy import render as render_policy
from stacks.config import name_prefix
from tests.infra.conftest import PROJECT_CONTEXT

ROOT = Path(__file__).resolve().parents[2]
POLICY_FILE = ROOT / "bootstrap" / "cloudformation-execution-policy.json"
# CloudFormation's namespace -> the service's IAM action prefix, where the two differ (otherwise: lower case).
IAM_PREFIX = {
    "ApiGateway": "apigateway",
    "ApplicationAutoScaling": "application-autoscaling",
    "CertificateManager": "acm",
    "CodeStarConnections": "codestar-connections",
    "Cognito": "cognito-idp",
    "DocDB": "rds",
    "ElasticLoadBalancingV2": "elasticloadbalancing",
    "KinesisFirehose": "firehose",
    "MSK": "kafka",
    "StepFunctions": "states",
    "WAFv2": "wafv2",
}
# Resource types CloudFormation handles itself: metadata, and custom resources (it invokes their Lambda).
NOT_A_SERVICE = {"AWS::CDK::Metadata"}
PARTITION_REF = {"Ref": "AWS::Partition"}


def _statements(prefix: str) -> list[dict[str, Any]]:
    # As an account is bootstrapped with it: written for the name prefix (scripts/execution_policy.py).
    document = render_policy(json.loads(POLICY_FILE.read_text()), prefix)
    assert document["Version"] == "2012-10-17"
    statements: list[dict[str, Any]] = document["Statement"]
    assert all(s["Effect"] == "Allow" for s in statements)
    assert not any(a in ("*", "iam:*") for s in statements for a in as_list(s["Action"])), "not AdministratorAccess"
    return statements


@pytest.fixture(scope="module")
def policy() -> list[dict[str, Any]]:
    """The policy for the project's cdk.json."""
    return _statements(name_prefix(PROJECT_CONTEXT))


@pytest.fixture(scope="module")
def policy_of_stack(policy, project_templates, opted_in_dev) -> dict[str, list[dict[str, Any]]]:
    """Stack name -> the policy its account is bootstrapped with: the project's, or for the example's opt-in
    synth the one for the example's prefix (the same policy unless a fork changed mlops:namePrefix)."""
    example = _statements(opted_in_dev.config.name_prefix)
    return {s.stack_name: example for s in opted_in_dev.stacks} | {stack: policy for _, stack in project_templates}


@pytest.fixture(scope="module")
def all_templates(project_templates, opted_in_dev) -> list[tuple[str, dict[str, Any]]]:
    """(stack name, template) of every environment of the project's cdk.json and of the example's dev with
    every opt-in on."""
    stacks = [(stack, template) for (_, stack), template in project_templates.items()]
    stacks += [(s.stack_name, opted_in_dev.template(s)) for s in opted_in_dev.stacks]
    return stacks


def as_list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [value]


def render(value: Any) -> Any:
    """A template value with the partition filled in and joins joined."""
    if value == PARTITION_REF:
        return "aws"
    if isinstance(value, dict) and "Fn::Join" in value:
        separator, parts = value["Fn::Join"]
        return separator.join(str(render(part)) for part in parts)
    if isinstance(value, dict) and "Fn::Sub" in value and isinstance(value["Fn::Sub"], str):
        return value["Fn::Sub"].replace("${AWS::Partition}", "aws")
    return value


def allows(statements: list[dict[str, Any]], action: str, resource: str, context: dict[str, str] | None = None) -> bool:
    """Whether an Allow statement matches (wildcards in actions and resources, ArnLike conditions only)."""
    for statement in statements:
        if not any(fnmatch.fnmatchcase(action, pattern) for pattern in as_list(statement["Action"])):
            continue
        if not any(fnmatch.fnmatchcase(resource, pattern) for pattern in as_list(statement["Resource"])):
            continue
        conditions = statement.get("Condition", {})
        assert set(conditions) <= {"ArnLike"}, f"{statement['Sid']}: this test evaluates ArnLike only"
        if all(
            any(fnmatch.fnmatchcase((context or {}).get(key, ""), p) for p in as_list(patterns))
            for key, patterns in conditions.get("ArnLike", {}).items()
        ):
            return True
    return False


def resources(all_templates) -> Iterator[tuple[str, str, dict[str, Any]]]:
    for stack, template in all_templates:
        for logical_id, resource in template["Resources"].items():
            yield stack, logical_id, resource


def iam_prefix(resource_type: str) -> str | None:
    if resource_type in NOT_A_SERVICE:
        return None
    if resource_type.startswith("Custom::") or resource_type == "AWS::CloudFormation::CustomResource":
        return "lambda"  # CloudFormation invokes the provider function
    namespace = resource_type.split("::")[1]
    return IAM_PREFIX.get(namespace, namespace.lower())


def test_every_service_the_stacks_create_resources_in_is_allowed(policy, all_templates):
    types = {resource["Type"] for _, _, resource in resources(all_templates)}
    assert "AWS::SageMaker::Domain" in types and "AWS::ECS::Service" in types  # the opt-ins are in the walk
    missing = sorted(
        f"{resource_type} ({prefix}:*)"
        for resource_type in types
        if (prefix := iam_prefix(resource_type)) not in (None, "iam")
        and not allows(policy, f"{prefix}:CreateSomething", "arn:aws:any")
    )
    assert not missing, f"add the services of these resource types to {POLICY_FILE.name}: {missing}"


def test_every_role_and_managed_policy_is_one_the_iam_statements_cover(policy_of_stack, all_templates):
    checked = 0
    for stack, logical_id, resource in resources(all_templates):
        policy = policy_of_stack[stack]
        properties = resource.get("Properties", {})
        kind = {"AWS::IAM::Role": "role", "AWS::IAM::ManagedPolicy": "policy"}.get(resource["Type"])
        if kind is None:
            continue
        # CloudFormation names an unnamed role or policy <stack name>-<logical id>-<suffix>.
        name = properties.get("RoleName" if kind == "role" else "ManagedPolicyName") or f"{stack}-{logical_id}-X"
        assert isinstance(name, str), f"{stack}/{logical_id}: a computed name this test cannot check"
        arn = f"arn:aws:iam::111111111111:{kind}/{name}"
        create = "iam:CreateRole" if kind == "role" else "iam:CreatePolicy"
        assert allows(policy, create, arn), f"{stack}/{logical_id}: {arn} is outside the execution policy"
        if kind == "role":
            assert allows(policy, "iam:PassRole", arn)
            assert allows(policy, "iam:PutRolePolicy", arn)
            if "PermissionsBoundary" in properties:
                assert allows(policy, "iam:PutRolePermissionsBoundary", arn)
            for managed in properties.get("ManagedPolicyArns", []):
                policy_arn = render(managed)
                if isinstance(policy_arn, dict):  # one of the ladder's own policies, checked as a policy above
                    continue
                assert allows(policy, "iam:AttachRolePolicy", arn, {"iam:PolicyARN": policy_arn}), (
                    f"{stack}/{logical_id} attaches {policy_arn}: add it to the execution policy's list"
                )
        checked += 1
    assert checked > 50


def test_the_github_oidc_provider_and_service_linked_roles(policy, all_templates):
    providers = [r for _, _, r in resources(all_templates) if r["Type"] == "AWS::IAM::OIDCProvider"]
    assert providers
    for provider in providers:
        host = provider["Properties"]["Url"].removeprefix("https://")
        assert allows(policy, "iam:CreateOpenIDConnectProvider", f"arn:aws:iam::111111111111:oidc-provider/{host}")
    # Only the ladder's own roles: not an administrator role of the account, nor one to escalate through.
    for arn in ("arn:aws:iam::111111111111:role/Admin", "arn:aws:iam::111111111111:role/OrganizationAccountAccessRole"):
        assert not allows(policy, "iam:CreateRole", arn)
        assert not allows(policy, "iam:PassRole", arn)
        assert not allows(policy, "iam:PutRolePolicy", arn)
    admin = "arn:aws:iam::aws:policy/AdministratorAccess"
    assert not allows(policy, "iam:AttachRolePolicy", "arn:aws:iam::1:role/mlops-x", {"iam:PolicyARN": admin})
    assert not allows(policy, "iam:CreateUser", "arn:aws:iam::111111111111:user/mlops-x")


def test_the_policy_is_rendered_for_another_prefix_and_names_nothing_else():
    shipped = json.loads(POLICY_FILE.read_text())
    rendered = json.dumps(render_policy(shipped, "acme-ml"))
    assert '/acme-ml-*"' in rendered and '/Acme-ml-*"' in rendered
    assert "mlops-" not in rendered.lower()
    assert render_policy(shipped, "mlops") == shipped
