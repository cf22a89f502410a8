"""Fixed names of the roles the delivery pipeline assumes in its target accounts.

The pipeline (perhaps in another account) must name these roles without a lookup, and the scripts its
CodeBuild stages run import them too. Those stages run plain ``python3`` with boto3 only, so this module
imports nothing but the standard library (never ``aws_cdk``).
"""

from __future__ import annotations


def pipeline_test_role_name(env_name: str) -> str:
    """The role the pipeline's test stage assumes in `env_name` to run the batch test strategy."""
    return f"mlops-{env_name}-pipeline-tests"


def prompt_release_role_name(env_name: str) -> str:
    """The role the pipeline's prompt stage assumes in `env_name` to release prompts through its catalog."""
    return f"mlops-{env_name}-prompt-release"
