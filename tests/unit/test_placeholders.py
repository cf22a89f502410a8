"""Synth warns (never fails) while cdk.json still holds the example's placeholders (issue 19, item 7)."""

from __future__ import annotations

import copy
from typing import Any

from stacks.config import EnvironmentConfig, load_environment
from stacks.placeholders import placeholder_warnings
from tests.example import EXAMPLE_CONTEXT


def config_with(env: str, **values: Any) -> EnvironmentConfig:
    context = copy.deepcopy(EXAMPLE_CONTEXT)
    context["mlops:environments"][env].update(values)
    return load_environment(context, env)


def test_the_examples_placeholders_are_each_named_with_environment_and_key():
    warnings = placeholder_warnings(load_environment(EXAMPLE_CONTEXT, "dev"))
    assert "environment 'dev', key 'alarmEmail': 'ml-platform-dev@example.com' is an example address" in warnings[0]
    assert any("key 'delivery.approverEmails[0]'" in w for w in warnings)
    assert any("key 'teams[1].budgetEmail'" in w for w in warnings)
    assert any("key 'delivery.repository': 'my-org/mlops-maturity-ladder' is a placeholder" in w for w in warnings)


def test_real_values_give_no_warning():
    teams = [{**team, "budgetEmail": f"{team['name']}@acme.io"} for team in EXAMPLE_CONTEXT["mlops:defaults"]["teams"]]
    config = config_with(
        "dev",
        alarmEmail="oncall@acme.io",
        teams=teams,
        delivery={"pipeline": True, "githubActions": True, "repository": "acme/ml", "approverEmails": ["a@acme.io"]},
    )
    assert placeholder_warnings(config) == []


def test_reserved_domains_and_their_subdomains_are_placeholders_lookalikes_are_not():
    for email, placeholder in (
        ("a@mail.example.org", True),
        ("a@acme.test", True),
        ("a@EXAMPLE.COM", True),
        ("a@example.co", False),
        ("a@notexample.com", False),
    ):
        config = config_with("preprod", alarmEmail=email)
        assert any("key 'alarmEmail'" in w for w in placeholder_warnings(config)) == placeholder, email


def test_the_emulator_environment_is_never_warned_about():
    emulated = next(name for name, entry in EXAMPLE_CONTEXT["mlops:environments"].items() if entry.get("emulator"))
    assert placeholder_warnings(load_environment(EXAMPLE_CONTEXT, emulated)) == []
