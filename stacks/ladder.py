"""Builds one environment's stacks, passing each level's resources up to the next.

The only module that knows all levels: a level stack never imports another level stack.
"""

from __future__ import annotations

from aws_cdk import App, Environment, Stack, Tags

from stacks.config import ConfigError, EnvironmentConfig
from stacks.level0_exploration import Level0ExplorationStack

IMPLEMENTED_MAX_LEVEL = 0


def build_environment(app: App, config: EnvironmentConfig) -> list[Stack]:
    """Add the stacks of `config`'s environment to `app`, from Level 0 up to its ``maxLevel``."""
    if config.max_level > IMPLEMENTED_MAX_LEVEL:
        raise ConfigError(
            f"environment {config.name!r}, key 'maxLevel': level {config.max_level} is not available in "
            f"this version of the template (highest implemented level: {IMPLEMENTED_MAX_LEVEL})"
        )
    if config.llmops:
        raise ConfigError(
            f"environment {config.name!r}, key 'llmops': the LLMOps stack is not available in this version "
            "of the template yet"
        )
    env = Environment(account=config.account, region=config.region)
    level0 = Level0ExplorationStack(
        app,
        config.stack_name("Level0Exploration"),
        config=config,
        env=env,
        description=f"MLOps maturity level 0 (exploration) for {config.name}: data lake, Glue, Athena, Studio",
        termination_protection=config.is_production,
    )
    stacks: list[Stack] = [level0]
    for stack in stacks:
        Tags.of(stack).add("mlops:environment", config.name)
        Tags.of(stack).add("mlops:project", "mlops-maturity-ladder")
    return stacks
