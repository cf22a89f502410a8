"""Endpoint names leave room for what the promotion function names after them, or synth stops naming the key.

The promotion function names models, endpoint configs, job definitions and schedules ``<endpoint>-<suffix>``
and shortens the endpoint part when the whole would pass SageMaker's 63 characters; its IAM statements and
the alarms name the unshortened form. So a name that needed shortening would be refused by the function's
own policy on AWS: config refuses such endpoint names instead.
"""

from __future__ import annotations

import copy
from typing import Any

import pytest

from stacks.components.clarify_alarms import schedule_names
from stacks.config import ConfigError, load_environment
from stacks.config.validation import MAX_ENDPOINT_NAME_LENGTH
from tests.example import EXAMPLE_CONTEXT
from tests.unit.lambdas_path import use

use("model_promotion")
from sagemaker_calls import resource_name  # noqa: E402 - importable only once its Lambda folder is on sys.path


def _context(*, prefix: str, env: str, team: str, pipelines: bool = True) -> dict[str, Any]:
    context = copy.deepcopy(EXAMPLE_CONTEXT)
    context["mlops:namePrefix"] = prefix
    environments = context["mlops:environments"]
    entry = copy.deepcopy(environments["dev"])
    entry["maxLevel"] = 3
    entry["account"] = "999999999999"  # its own account: some settings are one per account and Region
    teams = copy.deepcopy(context["mlops:defaults"]["teams"])
    teams[0] = {**teams[0], "name": team, "pipelines": pipelines}
    entry["teams"] = teams
    environments[env] = entry
    return context


def test_a_team_endpoint_name_too_long_for_the_derived_names_is_refused_naming_the_team():
    context = _context(prefix="p" * 10, env="e" * 16, team="t" * 20)
    with pytest.raises(ConfigError) as error:
        load_environment(context, "e" * 16)
    message = str(error.value)
    assert message.startswith(f"environment '{'e' * 16}', key 'teams[0].name': the endpoint name ")
    assert f"has 54 characters; at most {MAX_ENDPOINT_NAME_LENGTH}" in message
    assert "\n" not in message


def test_a_team_without_its_own_pipelines_has_no_endpoint_and_no_limit():
    config = load_environment(_context(prefix="p" * 10, env="e" * 16, team="t" * 20, pipelines=False), "e" * 16)
    assert config.teams[0].name == "t" * 20


def test_the_longest_allowed_team_endpoint_name_loads():
    team = "t" * (MAX_ENDPOINT_NAME_LENGTH - len("p" * 10 + "-" + "e" * 16 + "--churn"))
    config = load_environment(_context(prefix="p" * 10, env="e" * 16, team=team), "e" * 16)
    assert len(config.use_case_name(team)) == MAX_ENDPOINT_NAME_LENGTH


def test_an_endpoint_name_at_the_limit_is_never_shortened_by_the_promotion_function():
    endpoint = "e" * MAX_ENDPOINT_NAME_LENGTH
    for parts in (("v99999", "0123abcd"), ("data-quality",), ("dq", "0123abcd"), ("mb", "0123abcd"), ("me", "0a")):
        assert resource_name(endpoint, *parts) == "-".join((endpoint, *parts))
    for name in schedule_names(endpoint).values():
        assert name.startswith(endpoint + "-") and len(name) <= 63
    # One more character and a model name would be shortened, which the IAM statements would not match.
    longer = endpoint + "e"
    assert resource_name(longer, "v99999", "0123abcd") != f"{longer}-v99999-0123abcd"
