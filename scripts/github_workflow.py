"""Writes .github/workflows/deploy.yml from cdk.json: one deploy job per delivery target, in order.

The workflow is derived, never edited by hand: the environment with ``delivery.githubActions`` names the
targets (and the branch), each target's settings say whether it runs the preprod tests and the prompt release,
and ``mlops:namePrefix`` names the deploy role. ``python -m scripts.github_workflow`` rewrites the file;
``--check`` exits 1 when it is out of date (tests/unit/test_github_workflow.py runs the same comparison).
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from stacks.config import ConfigError, EnvironmentConfig, load_all_environments, read_cdk_context
from stacks.role_names import github_deploy_role_name

PROJECT_ROOT = Path(__file__).resolve().parents[1]
WORKFLOW = PROJECT_ROOT / ".github" / "workflows" / "deploy.yml"

_HEADER = """\
# Generated from cdk.json by `python -m scripts.github_workflow`: edit cdk.json, then run it (a test compares).
# GitHub Actions as an alternative to the Level 2 CodePipeline (see docs/delivery.md and docs/fork.md).
# The same steps: `make test`, then for each delivery target in order: deploy, its tests and prompt release
# where it has them; a GitHub environment per target (give the production one required reviewers: the approval).
# No stored AWS keys: each deploy job exchanges GitHub's OIDC token for the `{role}` role,
# which the Level 3 stack of the tooling environment creates (delivery.githubActions in cdk.json) and
# which trusts only this repository's {branch} branch and its {environments} environments.
#
# Set these repository variables (Settings > Secrets and variables > Actions > Variables):
#   TOOLING_ACCOUNT   the account of the environment with delivery.githubActions ({tooling} in cdk.json)
#   AWS_REGION        that environment's region
# Actions at their current majors, all on GitHub's Node 24 runtime (Node 20 left the runners in 2026);
# tests/unit/test_github_workflow.py refuses a major that still runs on Node 20.
name: test-and-deploy

on:
  push:
    branches: [{branch}]
  pull_request:

permissions:
  contents: read

concurrency:
  group: deploy-${{{{ github.ref }}}}
  cancel-in-progress: false

env:
  CDK_VALIDATION: "false"
  DEPLOY_ROLE: arn:aws:iam::${{{{ vars.TOOLING_ACCOUNT }}}}:role/{role}

jobs:
  test:
    runs-on: ubuntu-24.04
    steps:
{setup}
      - name: make test (lint, types, unit, infra, local deploy)
        run: bash .ci/run
"""

_SETUP = """\
      - uses: actions/checkout@v7
      - uses: actions/setup-python@v7
        with:
          python-version: "3.11"
      - uses: actions/setup-node@v7
        with:
          node-version: "24\""""

_JOB = """
  deploy-{name}:
    needs: {needs}
{condition}    runs-on: ubuntu-24.04
    environment: {name}
    permissions:
      contents: read
      id-token: write
    steps:
{setup}
      - run: make setup
      - uses: aws-actions/configure-aws-credentials@v6
        with:
          role-to-assume: ${{{{ env.DEPLOY_ROLE }}}}
          aws-region: ${{{{ vars.AWS_REGION }}}}
      - name: deploy {name}
        run: npx cdk deploy -c env={name} -c codeVersion=${{{{ github.sha }}}} --all --require-approval never
"""


def render(context: Mapping[str, Any]) -> str:
    """The workflow for cdk.json's context; only the test job when no environment sets delivery.githubActions.

    Raises:
        ConfigError: cdk.json is invalid, or more than one environment sets delivery.githubActions.
    """
    configs = {config.name: config for config in load_all_environments(context)}
    tooling = [config for config in configs.values() if config.delivery.github_actions]
    if len(tooling) > 1:
        raise ConfigError(
            f"environment {tooling[1].name!r}, key 'delivery.githubActions': one workflow deploys the project, "
            f"and environment {tooling[0].name!r} already sets it"
        )
    any_config = next(iter(configs.values()))
    host: EnvironmentConfig | None = tooling[0] if tooling else None
    targets = [configs[name] for name in host.delivery.targets] if host else []
    text = _HEADER.format(
        role=github_deploy_role_name(any_config.name_prefix),
        branch=host.delivery.branch if host else "main",
        environments=" and ".join(f"`{t.name}`" for t in targets) or "no",
        tooling=host.name if host else "none",
        setup=_SETUP,
    )
    previous = "test"
    for index, target in enumerate(targets):
        condition = (
            f"    if: github.event_name == 'push' && github.ref == 'refs/heads/{host.delivery.branch}'\n"
            if index == 0 and host
            else ""
        )
        text += _JOB.format(name=target.name, needs=previous, condition=condition, setup=_SETUP)
        if target.test_strategies and target.max_level >= 2:
            text += (
                f"      - name: {target.name} tests\n"
                f"        run: .venv/bin/python -m delivery.preprod_check --env {target.name}\n"
            )
        if target.llmops.enabled:
            text += (
                f"      - name: prompt release to {target.name}\n"
                f"        run: .venv/bin/python -m delivery.prompt_release --env {target.name} "
                "--source-version ${{ github.sha }}\n"
            )
        previous = f"deploy-{target.name}"
    return text


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--check", action="store_true", help="exit 1 if the workflow is not what cdk.json gives")
    parser.add_argument("--cdk-json", type=Path, default=PROJECT_ROOT / "cdk.json", help=argparse.SUPPRESS)
    parser.add_argument("--output", type=Path, default=WORKFLOW, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    try:
        text = render(read_cdk_context(args.cdk_json))
    except (ConfigError, ValueError) as error:
        print(f"github workflow: cdk.json: {error}", file=sys.stderr)
        return 2
    if args.check:
        current = args.output.read_text() if args.output.is_file() else ""
        if current != text:
            print(
                f"{args.output} is out of date with cdk.json: run `python -m scripts.github_workflow`", file=sys.stderr
            )
            return 1
        return 0
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
