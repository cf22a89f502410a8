"""Builds one environment's stacks, passing each level's resources up to the next.

The only module that knows all levels: a level stack never imports another level stack.
"""

from __future__ import annotations

from collections.abc import Mapping

from aws_cdk import Annotations, App, Environment, Stack, Tags

from stacks.config import ConfigError, EnvironmentConfig
from stacks.level0_exploration import Level0ExplorationStack
from stacks.level1_repeatable import Level1RepeatableStack
from stacks.level2_reliable import Level2ReliableStack
from stacks.level3_scalable import Level3ScalableStack
from stacks.llmops import EVALUATIONS_PREFIX, LlmopsStack
from stacks.placeholders import placeholder_warnings
from stacks.role_names import (
    github_deploy_role_name,
    pipeline_prompt_stage_role_name,
    pipeline_test_role_name,
    pipeline_test_stage_role_name,
    prompt_release_role_name,
    role_arn,
)

# What a model version records as its code version when the synth is not given one (-c codeVersion=...).
UNKNOWN_CODE_VERSION = "unknown"
CODE_VERSION_KEY = "codeVersion"


def build_environment(
    app: App,
    config: EnvironmentConfig,
    *,
    code_version: str = UNKNOWN_CODE_VERSION,
    environments: Mapping[str, EnvironmentConfig] | None = None,
) -> list[Stack]:
    """Add the stacks of `config`'s environment to `app`, from Level 0 up to its ``maxLevel``.

    `code_version` (the git commit the CLI passes as ``-c codeVersion=...``) is recorded as lineage on
    every model version the Level 1 pipeline registers. `environments` (every environment of
    cdk.json) tells Level 2 which accounts its pipeline deploys to and which pipeline tests it.
    """
    environments = environments or {config.name: config}
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
    for warning in placeholder_warnings(config):  # `cdk synth` prints these; it does not fail on them
        Annotations.of(level0).add_warning_v2("mlops:placeholder", f"cdk.json: {warning}")
    if config.max_level >= 1:
        lake = level0.data_lake
        stacks.append(
            Level1RepeatableStack(
                app,
                config.stack_name("Level1Repeatable"),
                config=config,
                key=level0.key,
                alerts=level0.alerts,
                raw_bucket=lake.raw_bucket,
                artifacts_bucket=lake.artifacts_bucket,
                feature_store=level0.features,
                etl_job_name=level0.glue.job.ref,
                code_version=code_version,
                mlflow_app_arn=None if level0.mlflow is None else level0.mlflow.app_arn,
                env=env,
                description=f"MLOps maturity level 1 (repeatable) for {config.name}: training pipeline, "
                "Model Registry, retraining",
                termination_protection=config.is_production,
            )
        )
    if config.max_level >= 2:
        stacks.append(_level2(app, config, env, level0, stacks[1], environments))
    if config.max_level >= 3:
        level3 = _level3(app, config, env, level0, code_version, environments)
        # Level 3 only references Level 0, but the ladder deploys in order: teams arrive on a working Level 2.
        level3.add_stack_dependency(stacks[-1], "the ladder deploys in order")
        stacks.append(level3)
    if config.llmops.enabled:
        stacks.append(
            LlmopsStack(
                app,
                config.stack_name("LlmOps"),
                config=config,
                key=level0.key,
                alerts=level0.alerts,
                artifacts_bucket=level0.data_lake.artifacts_bucket,
                documents_bucket=level0.data_lake.curated_bucket,
                released_by=_callers(level0.partition, config, environments, prompt_release=True),
                env=env,
                description=f"LLMOps for {config.name}: Bedrock guardrail, prompt catalog, LLM gateway",
                termination_protection=config.is_production,
            )
        )
        if config.llmops.app.enabled:
            # Imported only when the app is on: ECS, the load balancer, Cognito and WAF cost ~0.4 s to load.
            from stacks.llm_app import LlmAppStack

            llmops = stacks[-1]
            assert isinstance(llmops, LlmopsStack)
            stacks.append(
                LlmAppStack(
                    app,
                    config.stack_name("LlmApp"),
                    config=config,
                    key=level0.key,
                    prompt_table=llmops.prompts,
                    gateway=llmops.gateway.function,
                    artifacts_bucket=level0.data_lake.artifacts_bucket,
                    evaluations_prefix=EVALUATIONS_PREFIX,
                    access_log_bucket=level0.data_lake.access_log_bucket,
                    env=env,
                    description=f"LLMOps application for {config.name}: the playground on ECS Fargate behind "
                    "HTTPS, Cognito and WAF",
                    termination_protection=config.is_production,
                )
            )
    for stack in stacks:
        Tags.of(stack).add("mlops:environment", config.name)
        Tags.of(stack).add("mlops:project", "mlops-maturity-ladder")
    return stacks


def _level2(
    app: App,
    config: EnvironmentConfig,
    env: Environment,
    level0: Level0ExplorationStack,
    level1: Stack,
    environments: Mapping[str, EnvironmentConfig],
) -> Level2ReliableStack:
    assert isinstance(level1, Level1RepeatableStack)
    targets = _delivery_targets(config, environments) if config.delivery.pipeline else []
    return Level2ReliableStack(
        app,
        config.stack_name("Level2Reliable"),
        config=config,
        key=level0.key,
        alerts=level0.alerts,
        artifacts_bucket=level0.data_lake.artifacts_bucket,
        access_log_bucket=level0.data_lake.access_log_bucket,
        model_package_group_name=level1.registry.group_name,
        retraining=level1.retraining.state_machine,
        pipeline_targets=targets,
        tested_by=_callers(level0.partition, config, environments, prompt_release=False),
        env=env,
        description=f"MLOps maturity level 2 (reliable) for {config.name}: promotion, monitoring, tests, CI/CD",
        termination_protection=config.is_production,
    )


def _level3(
    app: App,
    config: EnvironmentConfig,
    env: Environment,
    level0: Level0ExplorationStack,
    code_version: str,
    environments: Mapping[str, EnvironmentConfig],
) -> Level3ScalableStack:
    deploy_targets: list[tuple[str, str, str]] = []
    step_roles: list[str] = []
    if config.delivery.github_actions:
        for target in _delivery_targets(config, environments):
            deploy_targets.append((target.name, target.account, target.region))
            # The workflow runs the same preprod tests and prompt releases as the pipeline, through the same roles.
            if target.test_strategies and target.max_level >= 2:
                step_roles.append(
                    role_arn(level0.partition, target.account, pipeline_test_role_name(target.name_prefix, target.name))
                )
            if target.llmops.enabled:
                step_roles.append(
                    role_arn(
                        level0.partition, target.account, prompt_release_role_name(target.name_prefix, target.name)
                    )
                )
    return Level3ScalableStack(
        app,
        config.stack_name("Level3Scalable"),
        config=config,
        alerts=level0.alerts,
        access_log_bucket=level0.data_lake.access_log_bucket,
        studio_domain_id=level0.studio.domain.attr_domain_id,
        studio_vpc=level0.studio.vpc,
        studio_security_group=level0.studio.security_group,
        code_version=code_version,
        deploy_targets=deploy_targets,
        deploy_step_roles=step_roles,
        env=env,
        description=f"MLOps maturity level 3 (scalable) for {config.name}: teams, boundaries, self-service, "
        "GitHub Actions",
        termination_protection=config.is_production,
    )


def _delivery_targets(
    config: EnvironmentConfig, environments: Mapping[str, EnvironmentConfig]
) -> list[EnvironmentConfig]:
    """The environments `config`'s delivery (CodePipeline or GitHub Actions) deploys, in order."""
    targets = []
    for index, name in enumerate(config.delivery.targets):
        if name not in environments:
            raise ConfigError(
                f"environment {config.name!r}, key 'delivery.targets[{index}]': {name!r} is not an "
                f"environment of cdk.json (known: {', '.join(sorted(environments))})"
            )
        targets.append(environments[name])
    return targets


def _callers(
    partition: str, config: EnvironmentConfig, environments: Mapping[str, EnvironmentConfig], *, prompt_release: bool
) -> list[str]:
    """The roles that assume `config`'s pipeline-test role (or, with `prompt_release`, its prompt-release role).

    They belong to the environment that deploys `config`: the first in cdk.json whose CodePipeline (Level 2)
    or GitHub Actions (Level 3) targets it (as before: one deployer per environment; another environment
    listing it too, such as the emulator's, gets no trust). Its pipeline's stage role, where that stage
    exists (prompts are released to every target, only the first target is tested), and its GitHub deploy role.
    The target's role trusts exactly these ARNs.
    """
    hosts = [
        e
        for e in environments.values()
        if config.name in e.delivery.targets
        and ((e.delivery.pipeline and e.max_level >= 2) or (e.delivery.github_actions and e.max_level >= 3))
    ]
    if not hosts:
        return []
    host = hosts[0]
    callers = []
    if host.delivery.pipeline and host.max_level >= 2:
        if prompt_release:
            callers.append(
                role_arn(
                    partition, host.account, pipeline_prompt_stage_role_name(host.name_prefix, host.name, config.name)
                )
            )
        elif host.delivery.targets[0] == config.name:
            callers.append(
                role_arn(
                    partition, host.account, pipeline_test_stage_role_name(host.name_prefix, host.name, config.name)
                )
            )
    if host.delivery.github_actions and host.max_level >= 3:
        callers.append(role_arn(partition, host.account, github_deploy_role_name(host.name_prefix)))
    return callers
