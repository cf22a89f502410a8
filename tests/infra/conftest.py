"""One synth per environment per test session, shared by every infrastructure test."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from stacks.config import load_all_environments, read_cdk_context
from stacks.synth import SynthesizedEnvironment, synthesize

CONTEXT = read_cdk_context()
ENV_NAMES = [config.name for config in load_all_environments(CONTEXT)]


@pytest.fixture(scope="session")
def synthesized(tmp_path_factory: pytest.TempPathFactory) -> dict[str, SynthesizedEnvironment]:
    """Every environment of cdk.json, synthesized once with cdk-nag on (a finding fails the synth)."""
    return {
        config.name: synthesize(config, CONTEXT, tmp_path_factory.mktemp(f"cdk.out-{config.name}"))
        for config in load_all_environments(CONTEXT)
    }


@pytest.fixture(scope="session")
def templates(synthesized: dict[str, SynthesizedEnvironment]) -> dict[tuple[str, str], dict[str, Any]]:
    """(environment, stack name) -> the synthesized CloudFormation template as a dict."""
    return {(name, stack.stack_name): env.template(stack) for name, env in synthesized.items() for stack in env.stacks}


@pytest.fixture(scope="session")
def template_files(synthesized: dict[str, SynthesizedEnvironment]) -> Iterator[list[Path]]:
    yield [env.outdir / stack.template_file for env in synthesized.values() for stack in env.stacks]
