"""The GitHub Actions workflow stays in step with cdk.json and with what the Level 3 stack trusts.

The workflow is generated from cdk.json (scripts/github_workflow.py); these tests read the project's own cdk.json,
so a fork that edits cdk.json and regenerates the workflow passes them."""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import pytest
import yaml

from scripts import github_workflow
from stacks.config import load_all_environments, read_cdk_context
from stacks.role_names import github_deploy_role_name
from tests.runtime_lifecycle import NODE_END_OF_LIFE, PYTHON_END_OF_LIFE, unsupported_reason

ROOT = Path(__file__).resolve().parents[2]
WORKFLOW = ROOT / ".github" / "workflows" / "deploy.yml"
CONFIGS = {c.name: c for c in load_all_environments(read_cdk_context())}
(TOOLING,) = [c for c in CONFIGS.values() if c.delivery.github_actions]
# The first major of each action that runs on GitHub's Node 24 runtime (its action.yml says `using: node24`);
# the majors before them run on Node 20, which GitHub removed from its runners on 2026-09-16.
FIRST_NODE24_MAJOR = {
    "actions/checkout": 5,
    "actions/setup-python": 6,
    "actions/setup-node": 5,
    "aws-actions/configure-aws-credentials": 6,
}


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
        assert any(f"delivery.preprod_check --env {target}" in c for c in commands) == (
            config.test_strategies and config.max_level >= 2
        )
        assert any(f"delivery.prompt_release --env {target}" in c for c in commands) == config.llmops.enabled
        previous = f"deploy-{target}"
    assert workflow["env"]["DEPLOY_ROLE"].endswith(f":role/{github_deploy_role_name(TOOLING.name_prefix)}")


def steps_using(workflow: dict[str, Any]) -> list[dict[str, Any]]:
    return [step for job in workflow["jobs"].values() for step in job["steps"] if "uses" in step]


def test_every_action_is_a_known_one_at_a_major_that_runs_on_node_24(workflow):
    used = steps_using(workflow)
    assert used
    for step in used:
        action, _, ref = step["uses"].partition("@")
        assert action in FIRST_NODE24_MAJOR, f"{action}: add the first major that runs on Node 24 to the table"
        assert ref.startswith("v") and ref[1:].isdigit(), f"{step['uses']}: pin a major version tag"
        assert int(ref[1:]) >= FIRST_NODE24_MAJOR[action], f"{step['uses']} still runs on Node 20"


def test_jobs_set_up_a_supported_node_and_python(workflow):
    versions = [(s["uses"].split("@")[0], s.get("with", {})) for s in steps_using(workflow)]
    nodes = [w["node-version"] for action, w in versions if action == "actions/setup-node"]
    pythons = [w["python-version"] for action, w in versions if action == "actions/setup-python"]
    assert len(nodes) == len(pythons) == len(workflow["jobs"])
    for node in nodes:
        assert unsupported_reason("Node.js", str(node), NODE_END_OF_LIFE) is None
    for python in pythons:
        assert unsupported_reason("Python", str(python), PYTHON_END_OF_LIFE) is None
    # Nothing left that only silences the end-of-life warning of an old Node.
    assert not any("END_OF_LIFE" in name for name in workflow["env"])


def test_the_committed_workflow_is_the_one_cdk_json_gives():
    assert WORKFLOW.read_text() == github_workflow.render(read_cdk_context()), (
        "run `python -m scripts.github_workflow` after editing cdk.json"
    )


def test_another_configuration_gets_its_own_jobs_role_and_branch():
    context = copy.deepcopy(read_cdk_context())
    context["mlops:namePrefix"] = "acme"
    environments = context["mlops:environments"]
    tooling = next(name for name, c in CONFIGS.items() if c.delivery.github_actions)
    others = [name for name in CONFIGS if name != tooling and not CONFIGS[name].emulator]
    # One target only, in reverse order of cdk.json, and another branch.
    environments[tooling]["delivery"] = {**environments[tooling].get("delivery", {}), "branch": "release"}
    environments[tooling]["delivery"]["targets"] = others[::-1][:1]
    workflow = yaml.safe_load(github_workflow.render(context))
    assert [job for job in workflow["jobs"]] == ["test", f"deploy-{others[-1]}"]
    assert workflow[True]["push"]["branches"] == ["release"]
    assert workflow["env"]["DEPLOY_ROLE"].endswith(":role/acme-github-deploy")
    assert "refs/heads/release" in workflow["jobs"][f"deploy-{others[-1]}"]["if"]


def test_the_check_command_names_an_out_of_date_workflow(tmp_path, capsys):
    stale = tmp_path / "deploy.yml"
    stale.write_text("name: old\n")
    assert github_workflow.main(["--check", "--output", str(stale)]) == 1
    assert "out of date with cdk.json" in capsys.readouterr().err
    assert github_workflow.main(["--output", str(stale)]) == 0
    assert github_workflow.main(["--check", "--output", str(stale)]) == 0
