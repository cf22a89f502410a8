"""The shipped Bedrock model table: it parses, it is consistent, and a malformed table names what is wrong."""

from __future__ import annotations

import copy
import json
from typing import Any

import pytest

from stacks.config import load_all_environments, read_cdk_context
from stacks.model_catalog import CATALOG_PATH, CatalogError, load_catalog, parse_catalog, shipped_catalog

DOCUMENT = json.loads(CATALOG_PATH.read_text())


def test_the_shipped_table_parses_and_every_replacement_is_active():
    catalog = load_catalog()
    assert catalog.models
    for entry in catalog.models.values():
        if entry.replacement:
            assert catalog.models[entry.replacement].lifecycle == "ACTIVE"
        # An Active model must be callable somewhere: in Region or through a profile.
        if entry.lifecycle == "ACTIVE":
            assert entry.in_region or entry.profiles, entry.id


def test_every_environment_of_cdk_json_calls_only_active_models_the_way_its_region_needs():
    catalog = shipped_catalog()
    for config in load_all_environments(read_cdk_context()):
        for model_id in [m.id for m in config.llmops.models] + [config.llmops.evaluation.judge_model_id]:
            assert catalog.problem(model_id, config.region) is None, (config.name, model_id)


def test_callable_id_prefers_in_region_then_the_geography_then_global():
    catalog = shipped_catalog()
    assert catalog.callable_id("amazon.nova-lite-v1:0", "us-east-1") == "amazon.nova-lite-v1:0"
    assert catalog.callable_id("amazon.nova-lite-v1:0", "eu-west-1") == "eu.amazon.nova-lite-v1:0"
    assert catalog.callable_id("anthropic.claude-haiku-4-5-20251001-v1:0", "sa-east-1") == (
        "global.anthropic.claude-haiku-4-5-20251001-v1:0"
    )
    assert catalog.callable_id("amazon.nova-lite-v1:0", "sa-east-1") is None
    assert catalog.split("global.amazon.nova-2-lite-v1:0") == ("global", "amazon.nova-2-lite-v1:0")
    assert catalog.split("amazon.nova-2-lite-v1:0") == (None, "amazon.nova-2-lite-v1:0")


def _broken(path: list[str], value: Any) -> dict[str, Any]:
    document = copy.deepcopy(DOCUMENT)
    target = document
    for key in path[:-1]:
        target = target[key]
    target[path[-1]] = value
    return document


@pytest.mark.parametrize(
    ("path", "value", "message"),
    [
        (["models", "amazon.nova-lite-v1:0", "lifecycle"], "RETIRED", "lifecycle: 'RETIRED' is not one of"),
        (["models", "amazon.nova-lite-v1:0", "profiles"], ["mars"], "profiles: mars not in geographies"),
        (["models", "amazon.nova-lite-v1:0", "inRegion"], "us-east-1", "inRegion: expected a list of strings"),
        (
            ["models", "anthropic.claude-3-haiku-20240307-v1:0", "replacement"],
            "anthropic.claude-3-5-haiku-20241022-v1:0",
            "is not Active",
        ),
        (["models", "eu.amazon.nova-lite-v1:0"], DOCUMENT["models"]["amazon.nova-lite-v1:0"], "not by profile ID"),
        (["models", "amazon.nova-lite-v1:0", "source"], None, "'name' and 'source' are required"),
    ],
)
def test_a_malformed_table_names_the_entry_and_field(path, value, message):
    with pytest.raises(CatalogError, match=message):
        parse_catalog(_broken(path, value))
