"""The GitHub Actions workflow stays in step with cdk.json and with what the Level 3 stack trusts."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

from stacks.components.github_deploy import GITHUB_DEPLOY_ROLE_NAME
from stacks.config import load_all_environments, read_cdk_context

ROOT = Path(__file__).resolve().parents[2]
WORKFLOW = ROOT / ".github" / "workflows" / "deploy.yml"
CONFIGS = {c.name: c for c in load_all_environments(read_cdk_context())}
(TOOLING,) = [c for c in CONFIGS.values() if c.delivery.github_actions]


@pytest.fixture(scope="module")
def workflow() -> dict[str, Any]:
    loaded: dict[str, Any] = yaml.safe_load(WORKFLOW.read_text())
    return loaded


def runs(job: dict[str, Any]) -> list[str]:
    return [step["run"] for step in job["steps"] if "run" in step]


def test_it_runs_on_the_branch_the_deploy_role_trusts(workflow):
    # PyYAML reads the key `on` as True (YAML 1.1).
    assert workflow[True]["push"]["branches"] == [TOOLING.delivery.branch]
    assert workflow["permissions"] == {"contents": "read"}, "OIDC tokens only where a job deploys"


def test_the_test_job_runs_the_same_make_test_as_ci(workflow):
    assert runs(workflow["jobs"]["test"]) == ["bash .ci/run"]
    assert "make test" in (ROOT / ".ci" / "run").read_text()


def test_deploy_jobs_follow_the_delivery_targets_in_order_each_in_its_github_environment(workflow):
    jobs = workflow["jobs"]
    previous = "test"
    for target in TOOLING.delivery.targets:
        job = jobs[f"deploy-{target}"]
        assert job["needs"] == previous
        # The environment is part of the OIDC subject the role trusts, and prod's reviewers are the approval.
        assert job["environment"] == target
        assert job["permissions"] == {"contents": "read", "id-token": "write"}
        (credentials,) = [
            s for s in job["steps"] if s.get("uses", "").startswith("aws-actions/configure-aws-credentials")
        ]
        assert credentials["with"]["role-to-assume"] == "${{ env.DEPLOY_ROLE }}"
        commands = runs(job)
        assert any(c.startswith(f"npx cdk deploy -c env={target} ") and "--all" in c for c in commands)
        config = CONFIGS[target]
        assert any(f"scripts.preprod_check --env {target}" in c for c in commands) == config.test_strategies
        assert any(f"scripts.prompt_release --env {target}" in c for c in commands) == config.llmops.enabled
        previous = f"deploy-{target}"
    assert workflow["env"]["DEPLOY_ROLE"].endswith(f":role/{GITHUB_DEPLOY_ROLE_NAME}")
