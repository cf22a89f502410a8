"""What a fork sets in cdk.json (issue 19): a validated name prefix, environment roles as properties
(``production``, ``emulator``) rather than magic names, team names that cannot collide, every environment's
Region checked at load, and config errors before aws_cdk is imported."""

from __future__ import annotations

import copy
import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from stacks.config import (
    ConfigError,
    cli_context,
    emulator_environment,
    load_all_environments,
    load_environment,
    pascal,
    read_cdk_context,
)

ROOT = Path(__file__).resolve().parents[2]
CONTEXT = read_cdk_context()
ENVS = list(CONTEXT["mlops:environments"])


def renamed(context: dict[str, Any], old: str, new: str) -> dict[str, Any]:
    context = copy.deepcopy(context)
    environments = context["mlops:environments"]
    context["mlops:environments"] = {new if name == old else name: entry for name, entry in environments.items()}
    for entry in context["mlops:environments"].values():
        delivery = entry.get("delivery", {})
        if "targets" in delivery:
            delivery["targets"] = [new if t == old else t for t in delivery["targets"]]
    defaults = context["mlops:defaults"]
    defaults["delivery"]["targets"] = [new if t == old else t for t in defaults["delivery"]["targets"]]
    return context


def with_entry(env: str, **values: Any) -> dict[str, Any]:
    context = copy.deepcopy(CONTEXT)
    context["mlops:environments"][env].update(values)
    return context


def production_env() -> str:
    return next(c.name for c in load_all_environments(CONTEXT) if c.production)


# ------------------------------------------------------------------------------------ environment roles


def test_production_is_a_property_any_name_can_carry():
    prod = production_env()
    context = renamed(CONTEXT, prod, "live")
    live = load_environment(context, "live")
    assert live.production and live.is_production
    # The rule that used to be keyed on the name `prod` now follows the flag, whatever the name.
    context["mlops:environments"]["live"].update(removalPolicy="destroy", autoDeleteObjects=False)
    with pytest.raises(ConfigError, match=r"^environment 'live', key 'removalPolicy': a production environment"):
        load_environment(context, "live")


def test_an_environment_named_prod_without_the_flag_is_not_production():
    context = renamed(CONTEXT, production_env(), "prod")
    context["mlops:environments"]["prod"].update(production=False, removalPolicy="destroy", autoDeleteObjects=True)
    config = load_environment(context, "prod")
    assert not config.production and not config.is_production


@pytest.mark.parametrize("value", ["yes", 1, None])
def test_the_flags_are_booleans(value):
    with pytest.raises(ConfigError, match=r"key 'production': expected true or false"):
        load_environment(with_entry(ENVS[0], production=value), ENVS[0])


def test_the_emulator_environment_is_found_by_its_flag():
    emulated = emulator_environment(CONTEXT).name
    context = renamed(CONTEXT, emulated, "sandbox")
    assert emulator_environment(context).name == "sandbox"


def test_two_emulator_environments_are_refused():
    emulated = emulator_environment(CONTEXT).name
    other = next(name for name in ENVS if name != emulated and not load_environment(CONTEXT, name).production)
    context = with_entry(other, emulator=True)
    with pytest.raises(ConfigError, match=r"key 'emulator': only one environment may be the emulator's"):
        load_all_environments(context)


def test_no_emulator_environment_is_named_when_one_is_needed():
    context = copy.deepcopy(CONTEXT)
    context["mlops:defaults"]["emulator"] = False
    for entry in context["mlops:environments"].values():
        entry.pop("emulator", None)
    with pytest.raises(ConfigError, match=r"sets 'emulator' to true"):
        emulator_environment(context)


def test_production_cannot_be_the_emulator():
    with pytest.raises(ConfigError, match=r"key 'emulator': a production environment cannot be"):
        load_environment(with_entry(production_env(), emulator=True), production_env())


# ------------------------------------------------------------------------------------------ name prefix


def test_the_prefix_names_stacks_and_resources():
    context = {**copy.deepcopy(CONTEXT), "mlops:namePrefix": "acme-ml"}
    config = load_environment(context, ENVS[0])
    assert config.stack_name("Level0Exploration") == f"Acme-ml-{ENVS[0]}-Level0Exploration"
    assert config.resource_prefix == f"acme-ml-{ENVS[0]}"


@pytest.mark.parametrize(
    "prefix",
    [None, "", "m", "Mlops", "ml_ops", "ml-", "-ml", "ml--ops", "eleven-char", "ml\n", "ml ops", "mlöps", 7],
)
def test_bad_prefixes_are_refused_naming_the_key(prefix):
    context = copy.deepcopy(CONTEXT)
    if prefix is None:
        del context["mlops:namePrefix"]
    else:
        context["mlops:namePrefix"] = prefix
    with pytest.raises(ConfigError, match=r"^cdk.json context 'mlops:namePrefix': "):
        load_environment(context, ENVS[0])


@pytest.mark.parametrize("qualifier", ["", "toolongqualifier", "a b", "q\n", 5])
def test_bad_bootstrap_qualifiers_are_refused(qualifier):
    context = {**copy.deepcopy(CONTEXT), "@aws-cdk/core:bootstrapQualifier": qualifier}
    with pytest.raises(ConfigError, match=r"^cdk.json context '@aws-cdk/core:bootstrapQualifier': "):
        load_environment(context, ENVS[0])


def test_the_bootstrap_qualifier_defaults_to_the_cdks_and_follows_cdk_json():
    context = copy.deepcopy(CONTEXT)
    context.pop("@aws-cdk/core:bootstrapQualifier", None)
    assert load_environment(context, ENVS[0]).bootstrap_qualifier == "hnb659fds"
    context["@aws-cdk/core:bootstrapQualifier"] = "acme1"
    assert load_environment(context, ENVS[0]).bootstrap_qualifier == "acme1"


# ------------------------------------------------------------------------------------------- team names


def team_context(*names: str) -> dict[str, Any]:
    context = copy.deepcopy(CONTEXT)
    template = {**context["mlops:defaults"]["teams"][0], "pipelines": False, "documentDb": False}
    context["mlops:defaults"]["teams"] = [{**template, "name": name} for name in names]
    return context


@pytest.mark.parametrize("name", ["fraud-", "fraud--ops", "-fraud", "fraud\n"])
def test_team_names_without_trailing_or_doubled_hyphens(name):
    with pytest.raises(ConfigError, match=r"key 'teams\[1\]\.name': .*single '-' between them"):
        load_environment(team_context("churn", name), ENVS[0])


@pytest.mark.parametrize(("first", "second"), [("fraud2", "fraud-2"), ("fraud-ops", "fraudops")])
def test_team_names_that_collide_in_resource_ids_are_refused(first, second):
    assert pascal(first).lower() == pascal(second).lower()
    with pytest.raises(ConfigError, match=rf"key 'teams\[1\]\.name': team '{second}' collides with team '{first}'"):
        load_environment(team_context(first, second), ENVS[0])


# -------------------------------------------------------------------------------------------- regions


def test_a_region_without_sagemaker_images_fails_at_load_for_every_environment():
    # ap-east-1 is an AWS Region the training images table has no registry for.
    context = with_entry(ENVS[-1], region="ap-east-1", maxLevel=1, llmops={"enabled": False})
    with pytest.raises(ConfigError, match=rf"environment '{ENVS[-1]}', key 'region': no SageMaker image registry"):
        load_all_environments(context)
    context["mlops:environments"][ENVS[-1]]["maxLevel"] = 0
    load_environment(context, ENVS[-1])  # Level 0 runs no SageMaker image


# --------------------------------------------------------------------------------------- fast errors


def test_cli_context_reads_the_variable_and_the_overflow_file(tmp_path):
    overflow = tmp_path / "context.json"
    overflow.write_text(json.dumps({"a": 1, "b": 1}))
    environ = {"CONTEXT_OVERFLOW_LOCATION_ENV": str(overflow), "CDK_CONTEXT_JSON": json.dumps({"b": 2})}
    assert cli_context(environ) == {"a": 1, "b": 2}
    assert cli_context({}) == {}


def test_a_config_error_exits_before_aws_cdk_or_a_stack_module_is_imported():
    context = copy.deepcopy(CONTEXT)
    context["mlops:namePrefix"] = "Bad"
    context["env"] = ENVS[0]  # as `cdk synth -c env=...` passes it
    probe = (
        "import runpy, sys\n"
        "try:\n"
        "    runpy.run_path('app.py', run_name='__main__')\n"
        "except SystemExit as exit:\n"
        "    loaded = sorted(m for m in sys.modules if m.split('.')[0] == 'aws_cdk' or m.startswith('stacks.level'))\n"
        "    print(repr(str(exit.code)), loaded)\n"
    )
    env = {**os.environ, "CDK_CONTEXT_JSON": json.dumps(context)}
    result = subprocess.run(
        [sys.executable, "-c", probe], cwd=ROOT, env=env, capture_output=True, text=True, timeout=120, check=True
    )
    assert result.stdout.startswith("\"cdk.json: cdk.json context 'mlops:namePrefix': 'Bad' must be"), result.stdout
    assert result.stdout.rstrip().endswith(" []"), result.stdout
