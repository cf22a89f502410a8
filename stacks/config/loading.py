"""Reading cdk.json and the CDK CLI's context, merging defaults into each environment, typed parsing."""

from __future__ import annotations

import dataclasses
import json
import types
import typing
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Literal, TypeVar

from stacks.config.model import ConfigError, EnvironmentConfig
from stacks.config.patterns import (
    _BOOTSTRAP_QUALIFIER_RE,
    _ENV_NAME_RE,
    _NAME_PREFIX_RE,
    BOOTSTRAP_QUALIFIER_KEY,
    DEFAULT_BOOTSTRAP_QUALIFIER,
    DEFAULT_ENV_NAME,
    DEFAULTS_KEY,
    ENVIRONMENTS_KEY,
    NAME_PREFIX_KEY,
    SELECTED_ENV_KEY,
)
from stacks.config.validation import _check_semantics, _check_shared_account_settings

_T = TypeVar("_T")


PROJECT_ROOT = Path(__file__).resolve().parents[2]


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


def cli_context(environ: Mapping[str, str]) -> dict[str, Any]:
    """The context the CDK CLI passes to the app (what ``aws_cdk.App`` reads), without importing aws_cdk.

    The CLI writes it to the environment variable ``CDK_CONTEXT_JSON``, or, when it is too large, to a file
    named by ``CONTEXT_OVERFLOW_LOCATION_ENV``; empty when the app is not run by the CLI.
    """
    context: dict[str, Any] = {}
    overflow = environ.get("CONTEXT_OVERFLOW_LOCATION_ENV")
    if overflow:
        context.update(json.loads(Path(overflow).read_text()))
    if environ.get("CDK_CONTEXT_JSON"):
        context.update(json.loads(environ["CDK_CONTEXT_JSON"]))
    return context


def load_environment(context: Mapping[str, Any], env_name: str | None = None) -> EnvironmentConfig:
    """Parse the named environment (``-c env=...``, else ``dev``) out of the CDK context."""
    name = env_name if env_name is not None else context.get(SELECTED_ENV_KEY, DEFAULT_ENV_NAME)
    environments = _environments(context)
    if not isinstance(name, str) or name not in environments:
        known = ", ".join(sorted(environments))
        raise ConfigError(
            f"environment {name!r} is not defined in cdk.json context '{ENVIRONMENTS_KEY}' (known: {known})"
        )
    defaults = context.get(DEFAULTS_KEY, {})
    if not isinstance(defaults, Mapping):
        raise ConfigError(f"cdk.json context '{DEFAULTS_KEY}' must be an object")
    entry = environments[name]
    if not isinstance(entry, Mapping):
        raise ConfigError(f"environment {name!r}: its entry must be an object, got {_kind(entry)}")
    merged = _deep_merge(defaults, entry)
    preset = {"name": name, "name_prefix": name_prefix(context), "bootstrap_qualifier": bootstrap_qualifier(context)}
    config = _parse(EnvironmentConfig, merged, env=name, path="", preset=preset)
    _check_semantics(config)
    _check_shared_account_settings(config, defaults, environments)
    return config


def load_all_environments(context: Mapping[str, Any]) -> list[EnvironmentConfig]:
    """Every environment in cdk.json, in the order written there (used by the synth summary and tests)."""
    configs = [load_environment(context, name) for name in _environments(context)]
    emulated = [config.name for config in configs if config.emulator]
    if len(emulated) > 1:
        raise ConfigError(
            f"environment {emulated[1]!r}, key 'emulator': only one environment may be the emulator's "
            f"({emulated[0]!r} is already)"
        )
    return configs


def emulator_environment(context: Mapping[str, Any]) -> EnvironmentConfig:
    """The one environment with ``emulator: true``: what `make demo`, `make app` and the e2e test deploy."""
    configs = load_all_environments(context)
    for config in configs:
        if config.emulator:
            return config
    raise ConfigError(
        f"no environment of cdk.json context '{ENVIRONMENTS_KEY}' sets 'emulator' to true "
        f"(known: {', '.join(config.name for config in configs)}); the local deploy needs one"
    )


def name_prefix(context: Mapping[str, Any]) -> str:
    """cdk.json's project name prefix (context ``mlops:namePrefix``), validated."""
    value = context.get(NAME_PREFIX_KEY)
    if not isinstance(value, str) or not _NAME_PREFIX_RE.match(value):
        raise ConfigError(
            f"cdk.json context '{NAME_PREFIX_KEY}': {value!r} must be 2-10 lowercase letters, digits or single "
            "'-' between them, starting with a letter (it starts every stack and resource name)"
        )
    return value


def bootstrap_qualifier(context: Mapping[str, Any]) -> str:
    """The CDK bootstrap qualifier the target accounts were bootstrapped with (the CDK's default if unset)."""
    value = context.get(BOOTSTRAP_QUALIFIER_KEY, DEFAULT_BOOTSTRAP_QUALIFIER)
    if not isinstance(value, str) or not _BOOTSTRAP_QUALIFIER_RE.match(value):
        raise ConfigError(
            f"cdk.json context '{BOOTSTRAP_QUALIFIER_KEY}': {value!r} is not a CDK bootstrap qualifier "
            "(1-10 letters, digits, '_' or '-')"
        )
    return value


def _environments(context: Mapping[str, Any]) -> Mapping[str, Any]:
    environments = context.get(ENVIRONMENTS_KEY)
    if not isinstance(environments, Mapping) or not environments:
        raise ConfigError(f"cdk.json context '{ENVIRONMENTS_KEY}' must be a non-empty object of environments")
    for env_name in environments:
        if not _ENV_NAME_RE.match(env_name):
            raise ConfigError(
                f"environment {env_name!r}: names must be 2-16 lowercase letters or digits, starting with a letter"
            )
    return environments


def _deep_merge(base: Mapping[str, Any], override: Mapping[str, Any]) -> dict[str, Any]:
    merged = dict(base)
    for key, value in override.items():
        if isinstance(value, Mapping) and isinstance(merged.get(key), Mapping):
            merged[key] = _deep_merge(merged[key], value)
        else:
            merged[key] = value
    return merged


def _camel(snake: str) -> str:
    head, *rest = snake.split("_")
    return head + "".join(part.capitalize() for part in rest)


def _kind(value: object) -> str:
    return "null" if value is None else type(value).__name__


def _parse(cls: type[_T], raw: object, *, env: str, path: str, preset: Mapping[str, Any] | None = None) -> _T:
    """Build dataclass `cls` from a cdk.json object; `preset` fields come from elsewhere (the env name)."""
    where = f"environment {env!r}" + (f", key '{path}'" if path else "")
    if not isinstance(raw, Mapping):
        raise ConfigError(f"{where}: expected an object, got {_kind(raw)}")
    preset = preset or {}
    hints = typing.get_type_hints(cls)
    fields = {
        _camel(f.name): f.name
        for f in dataclasses.fields(cls)  # type: ignore[arg-type]
        if f.name not in preset
    }
    unknown = sorted(set(raw) - set(fields))
    if unknown:
        raise ConfigError(f"{where}: unknown key(s) {', '.join(repr(_join(path, k)) for k in unknown)}")
    values: dict[str, Any] = dict(preset)
    for key, field_name in fields.items():
        key_path = _join(path, key)
        if key not in raw:
            if isinstance(hints[field_name], types.UnionType):
                # Optional: the CDK CLI drops null context values, so "absent" and null mean the same.
                values[field_name] = None
                continue
            raise ConfigError(f"environment {env!r}: missing key '{key_path}'")
        values[field_name] = _coerce(hints[field_name], raw[key], env=env, path=key_path)
    return cls(**values)


def _join(path: str, key: str) -> str:
    return f"{path}.{key}" if path else key


def _coerce(hint: Any, value: object, *, env: str, path: str) -> Any:
    where = f"environment {env!r}, key '{path}'"
    origin = typing.get_origin(hint)
    if isinstance(hint, types.UnionType):  # `X | None`: null in cdk.json means "not set"
        (inner,) = [arg for arg in typing.get_args(hint) if arg is not type(None)]
        return None if value is None else _coerce(inner, value, env=env, path=path)
    if dataclasses.is_dataclass(hint):
        return _parse(hint, value, env=env, path=path)  # type: ignore[arg-type]
    if origin is Literal:
        allowed = typing.get_args(hint)
        if value not in allowed:
            raise ConfigError(f"{where}: {value!r} is not one of {', '.join(map(repr, allowed))}")
        return value
    if origin is tuple:
        (item_hint, _ellipsis) = typing.get_args(hint)
        if not isinstance(value, list):
            raise ConfigError(f"{where}: expected a list, got {_kind(value)}")
        return tuple(_coerce(item_hint, item, env=env, path=f"{path}[{i}]") for i, item in enumerate(value))
    if hint is bool:
        if not isinstance(value, bool):
            raise ConfigError(f"{where}: expected true or false, got {value!r}")
        return value
    if hint is int:
        # bool is an int subclass in Python; `true` for a number is a typo, not a 1.
        if isinstance(value, bool) or not isinstance(value, int):
            raise ConfigError(f"{where}: expected an integer, got {value!r}")
        return value
    if hint is float:
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise ConfigError(f"{where}: expected a number, got {value!r}")
        return float(value)
    if hint is str:
        if not isinstance(value, str) or not value:
            raise ConfigError(f"{where}: expected a non-empty string, got {value!r}")
        return value
    raise TypeError(f"unsupported config type {hint} at {path}")
