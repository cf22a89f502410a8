"""Synthesizing environments in-process: shared by the synth summary, the benchmark and the tests."""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from aws_cdk import App, Stack

from stacks.config import EnvironmentConfig, load_all_environments
from stacks.ladder import build_environment
from stacks.nag import enable_nag


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
    environments = {c.name: c for c in load_all_environments(context)}
    stacks = build_environment(app, config, environments=environments)
    enable_nag(app)
    app.synth()
    return SynthesizedEnvironment(config=config, app=app, stacks=stacks, outdir=outdir)
