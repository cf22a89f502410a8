"""The real CDK CLI against the emulator: bootstrap, deploy, diff, destroy of the ``local`` environment.

This is the project's proof that ``cdk deploy`` works without an AWS account. It needs Node and the
pinned CLI (``npm ci``) and takes about 20 seconds; it skips itself when either is missing. Every
subprocess has a time limit and the emulator listens on 127.0.0.1 only.
"""

from __future__ import annotations

import json
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from emulator.cleanup import empty_stack_buckets
from emulator.server import DEFAULT_ACCOUNT, LocalAws

pytestmark = pytest.mark.e2e

PROJECT = Path(__file__).resolve().parents[2]
REGION = "us-east-1"
CLI_TIMEOUT_SECONDS = 300

needs_cli = pytest.mark.skipif(
    shutil.which("npx") is None or not (PROJECT / "node_modules" / "aws-cdk").is_dir(),
    reason="the pinned CDK CLI is not installed (run `make setup`)",
)


class Cdk:
    """Runs ``npx cdk`` in the project against one emulator, on one synthesized cloud assembly."""

    def __init__(self, aws: LocalAws, assembly: Path) -> None:
        self.aws = aws
        self.assembly = assembly

    def __call__(self, *args: str) -> subprocess.CompletedProcess[str]:
        env = self.aws.env()
        env.update(
            {
                "JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION": "20",
                "CDK_VALIDATION": "false",
                "CDK_DISABLE_CLI_TELEMETRY": "true",
            }
        )
        result = subprocess.run(
            ["npx", "--no-install", "cdk", *args, "--no-notices"],
            cwd=PROJECT,
            env=env,
            capture_output=True,
            text=True,
            timeout=CLI_TIMEOUT_SECONDS,
            check=False,
        )
        assert result.returncode == 0, f"cdk {args[0]} failed:\n{result.stdout[-3000:]}\n{result.stderr[-3000:]}"
        return result


@pytest.fixture(scope="module")
def cdk(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Cdk]:
    with LocalAws(region=REGION) as aws:
        # Our own output directory: other test modules may synthesize into cdk.out at the same time.
        runner = Cdk(aws, tmp_path_factory.mktemp("assembly"))
        runner("bootstrap", f"aws://{DEFAULT_ACCOUNT}/{REGION}")
        runner("synth", "-c", "env=local", "--all", "--quiet", "--output", str(runner.assembly))
        yield runner


def _local_stacks(cdk: Cdk) -> list[str]:
    summaries = cdk.aws.client("cloudformation").list_stacks()["StackSummaries"]
    return sorted(
        s["StackName"]
        for s in summaries
        if s["StackName"].startswith("Mlops-local-") and s["StackStatus"] != "DELETE_COMPLETE"
    )


@needs_cli
def test_deploy_diff_destroy_local_environment(cdk: Cdk) -> None:
    app = ("--app", str(cdk.assembly))
    cdk("deploy", *app, "--all", "--require-approval", "never", "--method=direct")

    stacks = _local_stacks(cdk)
    assert stacks, "no Mlops-local-* stack was deployed"
    cfn = cdk.aws.client("cloudformation")
    for stack in stacks:
        assert cfn.describe_stacks(StackName=stack)["Stacks"][0]["StackStatus"] == "CREATE_COMPLETE"
        template = json.loads((cdk.assembly / f"{stack}.template.json").read_text())
        expected = {
            logical_id
            for logical_id, resource in template["Resources"].items()
            # CDK's metadata resource means nothing locally; conditional resources may rightly be absent.
            if resource["Type"] != "AWS::CDK::Metadata" and "Condition" not in resource
        }
        deployed = {
            r["LogicalResourceId"]
            for r in cfn.describe_stack_resources(StackName=stack)["StackResources"]
            if "LogicalResourceId" in r
        }
        # moto skips types it does not know without a word; every resource must really exist.
        missing = {f"{lid} ({template['Resources'][lid]['Type']})" for lid in expected - deployed}
        assert not missing, f"{stack}: not emulated: {sorted(missing)}"

    diff = cdk("diff", *app, "--no-change-set")
    assert "There were no differences" in diff.stdout + diff.stderr

    # Leave what a demo run leaves: object versions and delete markers in every bucket.
    s3 = cdk.aws.client("s3")
    buckets = [
        r["PhysicalResourceId"]
        for stack in stacks
        for r in cfn.describe_stack_resources(StackName=stack)["StackResources"]
        if r.get("ResourceType") == "AWS::S3::Bucket"
    ]
    for bucket in buckets:
        for body in (b"v1", b"v2"):
            s3.put_object(Bucket=bucket, Key="e2e/object.txt", Body=body)
        s3.delete_object(Bucket=bucket, Key="e2e/object.txt")

    # The local environment has no auto-delete custom resource (it would need Lambda): empty first.
    emptied = empty_stack_buckets(cfn, s3, stacks)
    assert set(emptied) == set(buckets) and all(emptied.values())
    cdk("destroy", *app, "--all", "--force")
    assert _local_stacks(cdk) == []
