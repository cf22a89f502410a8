"""IAM across every stack of every environment: exact actions, no managed policies."""

from __future__ import annotations

import pytest

from tests.infra.conftest import ENV_NAMES


@pytest.mark.parametrize("env", ENV_NAMES)
def test_no_role_has_wildcard_actions_or_managed_policies(templates, env):
    for (template_env, stack), template in templates.items():
        if template_env != env:
            continue
        for logical_id, resource in template["Resources"].items():
            if resource["Type"] == "AWS::IAM::Policy":
                for statement in resource["Properties"]["PolicyDocument"]["Statement"]:
                    actions = statement["Action"] if isinstance(statement["Action"], list) else [statement["Action"]]
                    wildcards = [a for a in actions if "*" in a]
                    assert not wildcards, f"{stack}/{logical_id} grants wildcard actions {wildcards}"
            if resource["Type"] == "AWS::IAM::Role" and not logical_id.startswith("CustomS3AutoDeleteObjects"):
                # CDK's auto-delete provider (dev, preprod only) is the one role with a managed policy.
                assert "ManagedPolicyArns" not in resource["Properties"], f"{stack}/{logical_id}"
