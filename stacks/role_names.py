"""Fixed names of the roles the delivery pipeline assumes in its target accounts.

The pipeline (perhaps in another account) must name these roles without a lookup, and the scripts its
CodeBuild stages run import them too. Those stages run plain ``python3`` with boto3 only, so this module
imports nothing but the standard library (never ``aws_cdk``).
"""

from __future__ import annotations


# `name_prefix` is cdk.json's "mlops:namePrefix" (the project's name), the same for every environment.
def pipeline_test_role_name(name_prefix: str, env_name: str) -> str:
    """The role the pipeline's test stage assumes in `env_name` to run the batch test strategy."""
    return f"{name_prefix}-{env_name}-pipeline-tests"


def prompt_release_role_name(name_prefix: str, env_name: str) -> str:
    """The role the pipeline's prompt stage assumes in `env_name` to release prompts through its catalog."""
    return f"{name_prefix}-{env_name}-prompt-release"


# The delivery pipeline's own roles (in the account hosting it) that assume the two roles above. Fixed names, so
# the target's roles can trust exactly them (a condition on ``aws:PrincipalArn``) and not the whole account.
def pipeline_test_stage_role_name(name_prefix: str, host_env: str, target_env: str) -> str:
    """The role of `host_env`'s pipeline stage that runs `target_env`'s tests (and assumes its test role)."""
    return f"{name_prefix}-{host_env}-run-tests-{target_env}"


def pipeline_prompt_stage_role_name(name_prefix: str, host_env: str, target_env: str) -> str:
    """The role of `host_env`'s pipeline stage that releases `target_env`'s prompts (and assumes its release role)."""
    return f"{name_prefix}-{host_env}-release-prompts-{target_env}"


def github_deploy_role_name(name_prefix: str) -> str:
    """The role GitHub Actions assumes (one per tooling account; .github/workflows/deploy.yml names it)."""
    return f"{name_prefix}-github-deploy"


def role_arn(partition: str, account: str, name: str) -> str:
    return f"arn:{partition}:iam::{account}:role/{name}"
