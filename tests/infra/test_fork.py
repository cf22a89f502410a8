"""A fork edits cdk.json and nothing else (issue 19): the project, copied as git tracks it, with a cdk.json of
other accounts and Regions, another name prefix and bootstrap qualifier, other team and environment names, two
environments in one shared account and the opt-ins on, synthesizes every environment with cdk-nag.

One subprocess synthesizes all environments of the copy (the project's own code, never this process's imports),
so the test proves that nothing outside cdk.json names the shipped example. The copy's local deploy is
tests/e2e/test_fork_deploy.py (slower, marked e2e).
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[2]
PREFIX = "acme-ml"
QUALIFIER = "acme1"
SHARED_ACCOUNT = "444455556666"  # staging and live share it (in two Regions)
TOOLING_ACCOUNT = "555566667777"
CERTIFICATE = "arn:aws:acm:{region}:{account}:certificate/0f0e0d0c-0b0a-4909-8807-060504030201"
# What the shipped example calls things: none of it may appear in the fork's stacks.
SHIPPED_NAMES = re.compile(r"(?<![\w/])(Mlops-|mlops-(?!maturity-ladder)|hnb659fds)")


def fork_cdk_json(shipped: dict[str, Any]) -> dict[str, Any]:
    """The shipped cdk.json with every example value a fork would change, changed."""
    document = json.loads(json.dumps(shipped))
    context = document["context"]
    context["mlops:namePrefix"] = PREFIX
    context["@aws-cdk/core:bootstrapQualifier"] = QUALIFIER
    defaults = context["mlops:defaults"]
    defaults["delivery"]["repository"] = "acme/ml-platform"
    defaults["delivery"]["targets"] = ["staging", "live"]
    defaults["alarmEmail"] = "ml-alerts@acme.test"
    defaults["teams"] = [
        {
            "name": "risk",
            "costCenter": "CC-9",
            "dataScientists": ["sso:RiskScientists"],
            "mlEngineers": [f"arn:aws:iam::{TOOLING_ACCOUNT}:role/risk-engineers"],
            "allowedInstanceTypes": ["ml.t3.medium", "ml.m5.large"],
            "monthlyBudgetUsd": 200,
            "budgetEmail": "risk@acme.test",
            "pipelines": True,
            "documentDb": True,
        },
        {
            "name": "growth-ops",
            "costCenter": "CC-10",
            "dataScientists": ["sso:Growth"],
            "mlEngineers": ["sso:GrowthEngineers"],
            "allowedInstanceTypes": ["ml.t3.medium"],
            "monthlyBudgetUsd": 50,
            "budgetEmail": "growth@acme.test",
            "pipelines": False,
            "documentDb": False,
        },
    ]
    defaults["studio"]["networkAccess"] = "VpcOnly"  # DocumentDB needs it
    eu_models = [
        {"id": "global.anthropic.claude-haiku-4-5-20251001-v1:0", "inputPer1kUsd": 0.001, "outputPer1kUsd": 0.005},
        {"id": "eu.amazon.nova-lite-v1:0", "inputPer1kUsd": 0.00006, "outputPer1kUsd": 0.00024},
    ]
    us_models = [eu_models[0], {**eu_models[1], "id": "us.amazon.nova-lite-v1:0"}]

    def app(region: str, account: str, env: str) -> dict[str, Any]:
        return {
            "enabled": True,
            "domainName": f"llm.{env}.acme.test",
            "certificateArn": CERTIFICATE.format(region=region, account=account),
            "cognitoDomainPrefix": f"acme-{env}-playground",
        }

    context["mlops:environments"] = {
        "build": {
            "account": TOOLING_ACCOUNT,
            "region": "eu-west-2",
            "llmops": {"models": eu_models},
            "delivery": {"pipeline": True, "githubActions": True},
            "training": {"registryReaderAccounts": [SHARED_ACCOUNT]},
        },
        "staging": {
            "account": SHARED_ACCOUNT,
            "region": "us-west-2",
            "testStrategies": True,
            "mskStreaming": True,
            "llmops": {"models": us_models, "app": app("us-west-2", SHARED_ACCOUNT, "staging")},
        },
        "live": {
            "account": SHARED_ACCOUNT,
            "region": "eu-central-1",
            "production": True,
            "removalPolicy": "retain",
            "autoDeleteObjects": False,
            "endpoint": {"mode": "provisioned"},
            "llmops": {
                "models": eu_models,
                "invocationLogging": True,
                "app": app("eu-central-1", SHARED_ACCOUNT, "live"),
            },
        },
        "sandbox": {
            "account": "123456789012",
            "region": "us-east-1",
            "emulator": True,
            "autoDeleteObjects": False,
            "logRetentionDays": 1,
            "studio": {"networkAccess": "PublicInternetOnly"},
            "teams": [{**defaults["teams"][1]}, {**defaults["teams"][0], "name": "risk", "documentDb": False}],
            "llmops": {"models": us_models, "invocationLogging": False},
            "delivery": {"pipeline": True},
        },
    }
    return document


def copy_project(destination: Path) -> Path:
    """The files git tracks (what a fork clones), with the venv and the CLI linked rather than copied."""
    tracked = subprocess.run(
        ["git", "ls-files", "-z"], cwd=ROOT, capture_output=True, check=True, timeout=60
    ).stdout.decode()
    for name in filter(None, tracked.split("\0")):
        source = ROOT / name
        if source.is_file():
            target = destination / name
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, target)
    for linked in (".venv", "node_modules"):
        (destination / linked).symlink_to(ROOT / linked, target_is_directory=True)
    return destination


SYNTH_ALL = """
import json, sys
from pathlib import Path
from stacks.config import load_all_environments, read_cdk_context
from stacks.synth import synthesize
context = read_cdk_context()
summary = {}
for config in load_all_environments(context):
    out = Path("cdk.out") / config.name
    synthesized = synthesize(config, context, out)
    summary[config.name] = {"outdir": str(out.resolve()), "stacks": [s.stack_name for s in synthesized.stacks]}
print(json.dumps(summary))
"""


@pytest.fixture(scope="module")
def fork(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    project = copy_project(tmp_path_factory.mktemp("fork"))
    shipped = json.loads((ROOT / "cdk.json").read_text())
    (project / "cdk.json").write_text(json.dumps(fork_cdk_json(shipped), indent=2))
    # No AWS credentials or profile at all: synth (the app opt-in's VPC included) must not need an account lookup.
    env = {key: value for key, value in os.environ.items() if not key.startswith(("CDK_CONTEXT", "AWS_"))}
    result = subprocess.run(
        [sys.executable, "-c", SYNTH_ALL], cwd=project, env=env, capture_output=True, text=True, timeout=1800
    )
    assert result.returncode == 0, result.stderr[-4000:]
    summary: dict[str, Any] = json.loads(result.stdout.strip().splitlines()[-1])
    return {"project": project, "summary": summary}


def manifest(fork: dict[str, Any], env: str) -> dict[str, Any]:
    loaded: dict[str, Any] = json.loads((Path(fork["summary"][env]["outdir"]) / "manifest.json").read_text())
    return loaded


def test_every_environment_of_the_fork_synthesizes_under_its_own_names(fork):
    summary = fork["summary"]
    assert sorted(summary) == ["build", "live", "sandbox", "staging"]
    for env, synthesized in summary.items():
        assert synthesized["stacks"], env
        for stack in synthesized["stacks"]:
            assert stack.startswith(f"Acme-ml-{env}-"), stack
            text = (Path(synthesized["outdir"]) / f"{stack}.template.json").read_text()
            found = sorted(set(SHIPPED_NAMES.findall(text)))
            assert not found, f"{stack} still names the shipped example: {found}"
    assert any(stack.endswith("-LlmApp") for stack in summary["staging"]["stacks"]), "the app opt-in synthesized"
    for env in summary:
        assert "missing" not in manifest(fork, env), f"{env} needs context lookups (AWS calls at synth)"


def test_only_the_production_environment_is_protected(fork):
    for env in fork["summary"]:
        for artifact in manifest(fork, env)["artifacts"].values():
            if artifact["type"] == "aws:cloudformation:stack":
                assert artifact["properties"].get("terminationProtection", False) == (env == "live"), env


def test_the_bootstrap_qualifier_reaches_the_synthesizer_the_pipeline_and_github(fork):
    build = Path(fork["summary"]["build"]["outdir"])
    level2 = (build / "Acme-ml-build-Level2Reliable.template.json").read_text()
    level3 = (build / "Acme-ml-build-Level3Scalable.template.json").read_text()
    for account, region in ((SHARED_ACCOUNT, "us-west-2"), (SHARED_ACCOUNT, "eu-central-1")):
        assert f"role/cdk-{QUALIFIER}-deploy-role-{account}-{region}" in level2
        assert f"role/cdk-{QUALIFIER}-deploy-role-{account}-{region}" in level3
    assert f"/cdk-bootstrap/{QUALIFIER}/version" in level3
    assert f"{PREFIX}-github-deploy" in level3


def test_synth_warns_about_placeholders_and_still_succeeds(fork):
    # The fork's mail addresses are at acme.test, a reserved domain: each is named, the synth went on.
    artifact = manifest(fork, "live")["artifacts"]["Acme-ml-live-Level0Exploration"]
    # Cloud assembly 55 keeps a stack's metadata (annotations included) in a file of its own.
    outdir = Path(fork["summary"]["live"]["outdir"])
    metadata = artifact.get("metadata") or json.loads((outdir / artifact["additionalMetadataFile"]).read_text())
    warnings = [
        str(entry["data"]) for entries in metadata.values() for entry in entries if entry["type"] == "aws:cdk:warning"
    ]
    assert any(
        "environment 'live', key 'alarmEmail': 'ml-alerts@acme.test' is an example address" in w for w in warnings
    )


def test_the_forks_workflow_is_generated_for_its_targets(fork):
    result = subprocess.run(
        [sys.executable, "-m", "scripts.github_workflow", "--output", str(fork["project"] / "deploy.yml")],
        cwd=fork["project"],
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )
    assert not result.stderr
    workflow = (fork["project"] / "deploy.yml").read_text()
    assert "deploy-staging:" in workflow and "deploy-live:" in workflow and "deploy-prod" not in workflow
    assert f"role/{PREFIX}-github-deploy" in workflow
