"""IAM across every stack of every environment: exact actions, no managed policies."""

from __future__ import annotations

import json

import pytest

from stacks.components.access import CDK_GRANT_ACTIONS
from tests.infra.conftest import PROJECT_ENV_NAMES

# Policies CDK's CodePipeline, CodeBuild and SqsDlq constructs write (logical ID prefixes).
CDK_WIRED_POLICIES = ("Delivery", "TestsStreamConsumerRoleDefaultPolicy")
# S3 auto-delete (dev, preprod) and AwsCustomResource (Bedrock invocation logging) providers.
CDK_PROVIDER_ROLES = ("CustomS3AutoDeleteObjects", "AWS679f53fac002430cb0da5b7982bd2287")
BASIC_EXECUTION = ":iam::aws:policy/service-role/AWSLambdaBasicExecutionRole"


@pytest.mark.parametrize("env", PROJECT_ENV_NAMES)
def test_no_role_has_wildcard_actions_or_managed_policies(project_templates, env):
    templates = project_templates
    for (template_env, stack), template in templates.items():
        if template_env != env:
            continue
        for logical_id, resource in template["Resources"].items():
            if resource["Type"] == "AWS::IAM::Policy":
                for statement in resource["Properties"]["PolicyDocument"]["Statement"]:
                    actions = statement["Action"] if isinstance(statement["Action"], list) else [statement["Action"]]
                    # Only CDK's own grant action groups may appear, and only where CDK wires the role
                    # (CodePipeline/CodeBuild, the stream consumer's dead-letter queue); cdk-nag holds
                    # each of those to an acknowledgement with its reason.
                    allowed = CDK_GRANT_ACTIONS if logical_id.startswith(CDK_WIRED_POLICIES) else frozenset()
                    wildcards = [a for a in actions if "*" in a and a not in allowed]
                    assert not wildcards, f"{stack}/{logical_id} grants wildcard actions {wildcards}"
            if resource["Type"] != "AWS::IAM::Role":
                continue
            managed = resource["Properties"].get("ManagedPolicyArns", [])
            if logical_id.startswith(CDK_PROVIDER_ROLES):
                # CDK's own custom-resource providers: only the basic execution role, to write their logs.
                assert len(managed) == 1 and BASIC_EXECUTION in json.dumps(managed[0]), f"{stack}/{logical_id}"
            else:
                assert not managed, f"{stack}/{logical_id} uses managed policies {managed}"
