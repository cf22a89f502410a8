"""One synth per environment per test session, shared by every infrastructure test."""

from __future__ import annotations

import copy
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from stacks.config import load_all_environments, load_environment, read_cdk_context
from stacks.synth import SynthesizedEnvironment, synthesize
from tests.example import EXAMPLE_CONTEXT

# Two configurations (tests/example.py says which test reads which): the example the pinned tests read
# (`synthesized`, `templates`, the opt-in synths below), and the project's own cdk.json, which the checks that
# must hold for any configuration read (`project_synthesized`, `project_templates`, `project_template_files`).
# While the two are equal (the shipped project), each environment is still synthesized once.
CONTEXT = EXAMPLE_CONTEXT
ENV_NAMES = [config.name for config in load_all_environments(CONTEXT)]
PROJECT_CONTEXT = read_cdk_context()
PROJECT_ENV_NAMES = [config.name for config in load_all_environments(PROJECT_CONTEXT)]


def _synthesize_all(
    context: dict[str, Any], tmp_path_factory: pytest.TempPathFactory, label: str
) -> dict[str, SynthesizedEnvironment]:
    return {
        config.name: synthesize(config, context, tmp_path_factory.mktemp(f"cdk.out-{label}{config.name}"))
        for config in load_all_environments(context)
    }


@pytest.fixture(scope="session")
def synthesized(tmp_path_factory: pytest.TempPathFactory) -> dict[str, SynthesizedEnvironment]:
    """Every environment of the example (tests/fixtures/cdk.json), synthesized once with cdk-nag on."""
    return _synthesize_all(CONTEXT, tmp_path_factory, "")


@pytest.fixture(scope="session")
def project_synthesized(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> dict[str, SynthesizedEnvironment]:
    """Every environment of the project's cdk.json, synthesized once with cdk-nag on (a finding fails the synth)."""
    if PROJECT_CONTEXT == CONTEXT:
        return request.getfixturevalue("synthesized")  # type: ignore[no-any-return]
    return _synthesize_all(PROJECT_CONTEXT, tmp_path_factory, "project-")


def _templates(synthesized: dict[str, SynthesizedEnvironment]) -> dict[tuple[str, str], dict[str, Any]]:
    return {(name, stack.stack_name): env.template(stack) for name, env in synthesized.items() for stack in env.stacks}


@pytest.fixture(scope="session")
def templates(synthesized: dict[str, SynthesizedEnvironment]) -> dict[tuple[str, str], dict[str, Any]]:
    """(environment, stack name) -> the example's synthesized CloudFormation template as a dict."""
    return _templates(synthesized)


@pytest.fixture(scope="session")
def project_templates(project_synthesized: dict[str, SynthesizedEnvironment]) -> dict[tuple[str, str], dict[str, Any]]:
    """(environment, stack name) -> the project's synthesized CloudFormation template as a dict."""
    return _templates(project_synthesized)


@pytest.fixture(scope="session")
def project_template_files(project_synthesized: dict[str, SynthesizedEnvironment]) -> Iterator[list[Path]]:
    yield [env.outdir / stack.template_file for env in project_synthesized.values() for stack in env.stacks]


# The opt-ins every environment of cdk.json leaves off, turned on in one extra synth of dev.
PROVIDER_ARN = "arn:aws:iam::111111111111:oidc-provider/token.actions.githubusercontent.com"
APP_SETTINGS = {
    "enabled": True,
    "domainName": "llm.dev.example.com",
    "certificateArn": "arn:aws:acm:eu-west-1:111111111111:certificate/0f0e0d0c-0b0a-4909-8807-060504030201",
    "cognitoDomainPrefix": "mlops-dev-playground",
}


@pytest.fixture(scope="session")
def opted_in_dev(tmp_path_factory: pytest.TempPathFactory) -> SynthesizedEnvironment:
    """dev with every opt-in on, synthesized once with cdk-nag: DocumentDB for the first team (with the
    VpcOnly Studio it needs), an existing GitHub OIDC provider, and the LLMOps app (ECS, load balancer,
    Cognito, WAF)."""
    context = copy.deepcopy(CONTEXT)
    dev = context["mlops:environments"]["dev"]
    dev["delivery"] = {**dev.get("delivery", {}), "githubOidcProviderArn": PROVIDER_ARN}
    teams = [dict(team) for team in context["mlops:defaults"]["teams"]]
    teams[0]["documentDb"] = True
    dev["teams"] = teams
    dev["studio"] = {**dev.get("studio", {}), "networkAccess": "VpcOnly"}  # DocumentDB needs it
    dev["llmops"] = {**dev.get("llmops", {}), "app": APP_SETTINGS}
    # A pipeline target with the app: its deploy project must be able to build the image.
    preprod = context["mlops:environments"]["preprod"]
    preprod["llmops"] = {
        **preprod.get("llmops", {}),
        "app": {
            **APP_SETTINGS,
            "domainName": "llm.preprod.example.com",
            "certificateArn": "arn:aws:acm:eu-west-1:222222222222:certificate/0f0e0d0c-0b0a-4909-8807-060504030201",
            "cognitoDomainPrefix": "mlops-preprod-playground",
        },
    }
    return synthesize(load_environment(context, "dev"), context, tmp_path_factory.mktemp("cdk.out-opted-in"))


# MSK streaming bills every hour, so no environment of cdk.json turns it on: one more synth, of preprod with
# it on (LLMOps off: only Level 0-2 are needed), shared by tests/infra/test_msk_stream.py and the
# integration-permission check.
MSK_ENV = "preprod"


@pytest.fixture(scope="session")
def msk_synth(tmp_path_factory: pytest.TempPathFactory) -> SynthesizedEnvironment:
    context = copy.deepcopy(CONTEXT)
    entry = context["mlops:environments"][MSK_ENV]
    entry["mskStreaming"] = True
    entry["llmops"] = {**entry.get("llmops", {}), "enabled": False}
    config = load_environment(context, MSK_ENV)
    assert config.msk_streaming and config.test_strategies
    return synthesize(config, context, tmp_path_factory.mktemp("cdk.out-msk"))


@pytest.fixture(scope="session")
def opted_in_prod(tmp_path_factory: pytest.TempPathFactory) -> SynthesizedEnvironment:
    """prod with every opt-in that adds state on: DocumentDB for every team, the LLMOps app, MSK streaming
    and the test strategies; synthesized once with cdk-nag, for the retention checks."""
    context = copy.deepcopy(CONTEXT)
    prod = context["mlops:environments"]["prod"]
    config = load_environment(context, "prod")
    prod["teams"] = [{**team, "documentDb": True} for team in context["mlops:defaults"]["teams"]]
    prod["studio"] = {**prod.get("studio", {}), "networkAccess": "VpcOnly"}  # DocumentDB needs it
    prod["mskStreaming"] = True
    prod["testStrategies"] = True
    prod["llmops"] = {
        **prod.get("llmops", {}),
        "app": {
            **APP_SETTINGS,
            "domainName": "llm.prod.example.com",
            "certificateArn": f"arn:aws:acm:{config.region}:{config.account}:certificate/"
            "0f0e0d0c-0b0a-4909-8807-060504030201",
            "cognitoDomainPrefix": "mlops-prod-playground",
        },
    }
    return synthesize(load_environment(context, "prod"), context, tmp_path_factory.mktemp("cdk.out-opted-in-prod"))
