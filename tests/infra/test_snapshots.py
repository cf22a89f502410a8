"""Snapshot of every stack in every environment: a reviewed record of what each change does.

Asset hashes are masked so that editing a Lambda or Glue script does not churn the snapshots;
the assets themselves are covered by their own unit tests.
"""

from __future__ import annotations

import json
import re
from typing import Any

import pytest
from syrupy.extensions.json import JSONSnapshotExtension

from tests.infra.conftest import ENV_NAMES

ASSET_HASH = re.compile(r"[0-9a-f]{64}")


def masked(template: dict[str, Any]) -> dict[str, Any]:
    masked_json: dict[str, Any] = json.loads(ASSET_HASH.sub("<asset-hash>", json.dumps(template)))
    return masked_json


@pytest.fixture
def json_snapshot(snapshot):
    # One reviewable JSON file per stack and environment, instead of one large amber file.
    return snapshot.use_extension(JSONSnapshotExtension)


@pytest.mark.parametrize("env", ENV_NAMES)
def test_stacks_match_snapshot(templates, env, json_snapshot):
    stacks = sorted((name, t) for (template_env, name), t in templates.items() if template_env == env)
    assert stacks, f"no stacks synthesized for {env}"
    for stack_name, template in stacks:
        assert masked(template) == json_snapshot(name=stack_name)
