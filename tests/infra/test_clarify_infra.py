"""The Clarify checks as deployed: region's image, the analysis configs as assets, and the role's scope."""

from __future__ import annotations

import json
from typing import Any

import pytest

from pipelines.training import images
from tests.infra.conftest import ENV_NAMES
from tests.infra.test_level1_repeatable import definition, level1


def statements(template: dict[str, Any]) -> dict[str, dict[str, Any]]:
    found = {}
    for resource in template["Resources"].values():
        if resource["Type"] == "AWS::IAM::Policy":
            for statement in resource["Properties"]["PolicyDocument"]["Statement"]:
                if "Sid" in statement:
                    found[statement["Sid"]] = statement
    return found


@pytest.mark.parametrize("env", ENV_NAMES)
def test_clarify_checks_run_the_regions_clarify_image_with_the_configured_gate(templates, synthesized, env):
    config = synthesized[env].config
    if not config.training.clarify.enabled:
        pytest.skip("training.clarify.enabled is false here")
    steps = {step["Name"]: step for step in definition(templates, env)["Steps"]}
    for name in ("DataBiasCheck", "ModelBiasCheck", "ExplainabilityCheck"):
        assert steps[name]["Arguments"]["AppSpecification"]["ImageUri"] == images.clarify_image_uri(config.region)
    arguments = steps["BiasGate"]["Arguments"]["AppSpecification"]["ContainerArguments"]
    gates = dict(item.split("=") for item in arguments[1].split(","))
    assert {code: float(value) for code, value in gates.items()} == {
        gate.metric: gate.threshold for gate in config.training.clarify.gates
    }
    policies = statements(level1(templates, env))
    shadow = policies["ClarifyModelAndShadowEndpoint"]
    assert "sagemaker:InvokeEndpoint" in shadow["Action"]
    resources = json.dumps(shadow["Resource"])
    assert ":endpoint/sm-clarify*" in resources and ":model/pipelines-*" in resources
    # The configs and the gate script are readable by the role (three configs + one script).
    assert len(policies["ReadClarifyConfigs"]["Resource"]) == 4
