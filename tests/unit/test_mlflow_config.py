"""mlflow in cdk.json: typed, and a maintenance window the API would reject stops synth naming env and key."""

from __future__ import annotations

import copy
from typing import Any

import pytest

from stacks.config import ConfigError, load_environment
from tests.example import EXAMPLE_CONTEXT

CONTEXT = EXAMPLE_CONTEXT  # the pinned example (tests/fixtures/cdk.json): these tests name its environments


def load_with(mlflow: dict[str, Any], env: str = "preprod"):
    context = copy.deepcopy(CONTEXT)
    # In the defaults too: an environment's entry is merged over them key by key.
    context["mlops:defaults"]["mlflow"] = mlflow
    context["mlops:environments"][env]["mlflow"] = mlflow
    return load_environment(context, env)


def test_a_valid_block_loads_and_the_window_is_optional():
    assert load_with({"enabled": True, "weeklyMaintenanceWindowStart": "Tue:23:59"}).mlflow.enabled
    config = load_with({"enabled": False})
    assert not config.mlflow.enabled and config.mlflow.weekly_maintenance_window_start is None


@pytest.mark.parametrize("window", ["Sun:24:00", "sunday:03:00", "Sun:3:00", "Sun:03:00\n", " Sun:03:00", "Sun:03:60"])
def test_a_window_the_api_would_reject_names_the_environment_and_key(window):
    with pytest.raises(ConfigError) as error:
        load_with({"enabled": True, "weeklyMaintenanceWindowStart": window})
    assert str(error.value).startswith("environment 'preprod', key 'mlflow.weeklyMaintenanceWindowStart': ")


@pytest.mark.parametrize(
    ("mlflow", "message"),
    [
        ({"enabled": "yes"}, "key 'mlflow.enabled': expected true or false"),
        ({"enabled": True, "name": "x"}, "unknown key(s) 'mlflow.name'"),
        ({}, "missing key 'mlflow.enabled'"),
    ],
)
def test_wrong_types_and_keys_are_refused(mlflow, message):
    with pytest.raises(ConfigError, match=message.replace("(", r"\(").replace(")", r"\)")):
        load_with(mlflow)
