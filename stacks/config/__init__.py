"""Typed, validated environment configuration.

`cdk.json` holds the environments under the context key ``mlops:environments`` and the values they
share under ``mlops:defaults``. Each environment's entry is merged over the defaults (nested objects
merge key by key) and parsed into frozen dataclasses, so every stack receives plain, typed values
decided at synth time. Bad input raises :class:`ConfigError` with a message that names the
environment, the key and what is wrong; nothing is silently ignored, unknown keys included.

The package is split along its concerns: :mod:`~stacks.config.patterns` (names, limits and patterns values are
checked against), :mod:`~stacks.config.model` (the frozen dataclasses and :class:`ConfigError`),
:mod:`~stacks.config.loading` (reading cdk.json and the CLI context, merging defaults, typed parsing) and
:mod:`~stacks.config.validation` (checks across keys). Topic configs live beside it
(``stacks/<topic>_config.py``). Import from ``stacks.config``; nothing here imports aws_cdk, so app.py can
validate cdk.json before loading the CDK.
"""

from __future__ import annotations

from stacks.config.loading import (
    CLI_CONTEXT,
    PROJECT_ROOT,
    bootstrap_qualifier,
    cli_context,
    emulator_environment,
    load_all_environments,
    load_environment,
    name_prefix,
    read_cdk_context,
)
from stacks.config.model import (
    USE_CASE,
    AthenaConfig,
    ConfigError,
    DataLakeConfig,
    DeliveryConfig,
    EndpointConfig,
    EnvironmentConfig,
    EvaluationConfig,
    FeatureStoreConfig,
    GlueConfig,
    LlmAppConfig,
    LlmModelConfig,
    LlmopsConfig,
    StudioConfig,
    TeamConfig,
    TrainingConfig,
    pascal,
    stack_name,
)
from stacks.config.patterns import (
    BOOTSTRAP_QUALIFIER_KEY,
    DEFAULT_BOOTSTRAP_QUALIFIER,
    DEFAULT_ENV_NAME,
    DEFAULTS_KEY,
    ENVIRONMENTS_KEY,
    MAX_LEVEL,
    NAME_PREFIX_KEY,
    SELECTED_ENV_KEY,
    EndpointMode,
    GlueWorkerType,
    RemovalPolicyName,
    StudioNetwork,
)

__all__ = [
    "BOOTSTRAP_QUALIFIER_KEY",
    "CLI_CONTEXT",
    "DEFAULTS_KEY",
    "DEFAULT_BOOTSTRAP_QUALIFIER",
    "DEFAULT_ENV_NAME",
    "ENVIRONMENTS_KEY",
    "MAX_LEVEL",
    "NAME_PREFIX_KEY",
    "PROJECT_ROOT",
    "SELECTED_ENV_KEY",
    "USE_CASE",
    "AthenaConfig",
    "ConfigError",
    "DataLakeConfig",
    "DeliveryConfig",
    "EndpointConfig",
    "EndpointMode",
    "EnvironmentConfig",
    "EvaluationConfig",
    "FeatureStoreConfig",
    "GlueConfig",
    "GlueWorkerType",
    "LlmAppConfig",
    "LlmModelConfig",
    "LlmopsConfig",
    "RemovalPolicyName",
    "StudioConfig",
    "StudioNetwork",
    "TeamConfig",
    "TrainingConfig",
    "bootstrap_qualifier",
    "cli_context",
    "emulator_environment",
    "load_all_environments",
    "load_environment",
    "name_prefix",
    "pascal",
    "read_cdk_context",
    "stack_name",
]
