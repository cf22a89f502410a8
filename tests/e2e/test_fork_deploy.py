"""The fork of tests/infra/test_fork.py, deployed: its `emulator: true` environment (named `sandbox`, prefix
`acme-ml`, other teams) goes through the real CDK CLI into the local emulator, from the copy of the project.

Marked e2e like the project's own local deploy (tests/e2e/test_local_deploy.py): it takes minutes.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from emulator.cdk_cli import CdkCli, missing_cli_reason
from emulator.server import LocalAws
from emulator.tour import tour_level3
from tests.infra.test_fork import PREFIX, ROOT, copy_project, fork_cdk_json

pytestmark = [
    pytest.mark.e2e,
    pytest.mark.skipif(missing_cli_reason() is not None, reason=str(missing_cli_reason())),
]


def test_the_forks_emulator_environment_deploys_under_its_own_names(tmp_path: Path) -> None:
    project = copy_project(tmp_path / "fork")
    document = fork_cdk_json(json.loads((ROOT / "cdk.json").read_text()))
    (project / "cdk.json").write_text(json.dumps(document, indent=2))
    sandbox = document["context"]["mlops:environments"]["sandbox"]
    with LocalAws(region=sandbox["region"]) as aws:
        cli = CdkCli(aws, tmp_path / "cdk.out", "sandbox", project=project)
        cli.bootstrap()
        cli.synth()
        cli.deploy()
        expected = sorted(p.name.removesuffix(".template.json") for p in cli.output_dir.glob("*.template.json"))
        assert expected and all(name.startswith("Acme-ml-sandbox-") for name in expected)
        cfn = aws.client("cloudformation")
        live = sorted(
            s["StackName"]
            for s in cfn.list_stacks()["StackSummaries"]
            if s["StackStatus"] in ("CREATE_COMPLETE", "UPDATE_COMPLETE")
        )
        assert [name for name in live if name != "CDKToolkit"] == expected
        for stack in expected:
            template = json.loads((cli.output_dir / f"{stack}.template.json").read_text())
            wanted = {lid for lid, r in template["Resources"].items() if r["Type"] != "AWS::CDK::Metadata"}
            deployed = {r["LogicalResourceId"] for r in cfn.describe_stack_resources(StackName=stack)["StackResources"]}
            assert wanted <= deployed, f"{stack}: not deployed: {sorted(wanted - deployed)}"
        roles = {
            line.step: line.outcome
            for line in tour_level3(aws, "Acme-ml-sandbox-Level3Scalable", resource_prefix=f"{PREFIX}-sandbox")
        }
        for team in ("growth-ops", "risk"):
            assert f"{PREFIX}-sandbox-{team}-data-scientist" in roles[f"team {team}: roles"]
