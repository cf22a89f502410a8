"""Synthesizing environments in-process: shared by the synth summary, the benchmark and the tests."""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from aws_cdk import App, Stack

from stacks.config import EnvironmentConfig
from stacks.ladder import build_environment
from stacks.nag import enable_nag

PROJECT_ROOT = Path(__file__).resolve().parents[1]

# What the CDK CLI adds to the context from cdk.json's top-level settings, so that an in-process
# synth produces the same bytes as `npx cdk synth`.
CLI_CONTEXT = {
    "aws:cdk:enable-path-metadata": True,
    "aws:cdk:enable-asset-metadata": True,
    "aws:cdk:version-reporting": False,
}


def read_cdk_context(cdk_json: Path = PROJECT_ROOT / "cdk.json") -> dict[str, Any]:
    """The ``context`` block of cdk.json plus the CLI's settings, as `npx cdk` would pass them to the app."""
    try:
        document = json.loads(cdk_json.read_text())
    except json.JSONDecodeError as error:
        raise ValueError(f"{cdk_json.name} is not valid JSON: {error}") from error
    context = document.get("context")
    if not isinstance(context, dict):
        raise ValueError(f"{cdk_json.name} has no 'context' object")
    return {**context, **CLI_CONTEXT}


@dataclass(frozen=True)
class SynthesizedEnvironment:
    config: EnvironmentConfig
    app: App
    stacks: list[Stack]
    outdir: Path

    def template(self, stack: Stack) -> dict[str, Any]:
        loaded: dict[str, Any] = json.loads((self.outdir / stack.template_file).read_text())
        return loaded


def synthesize(config: EnvironmentConfig, context: Mapping[str, Any], outdir: Path) -> SynthesizedEnvironment:
    """Build and synthesize one environment exactly as `app.py` does, with cdk-nag enabled.

    Raises (from cdk-nag) when any stack has an unacknowledged finding.
    """
    app = App(outdir=str(outdir), context={**context, "env": config.name})
    stacks = build_environment(app, config)
    enable_nag(app)
    app.synth()
    return SynthesizedEnvironment(config=config, app=app, stacks=stacks, outdir=outdir)
