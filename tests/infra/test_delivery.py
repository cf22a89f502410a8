"""The delivery pipeline as the real services run it: the build image and runtimes, what the Build stage runs,
the commit it records, and who may assume the roles it uses in the target accounts."""

from __future__ import annotations

import dataclasses
import json
import re
import shlex
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from stacks.components.delivery_pipeline import BUILD_IMAGE
from stacks.config import load_all_environments
from tests.infra.conftest import CONTEXT, ENV_NAMES
from tests.runtime_lifecycle import NODE_END_OF_LIFE, PYTHON_END_OF_LIFE, unsupported_reason

ROOT = Path(__file__).resolve().parents[2]
PIPELINE_HOSTS = [c.name for c in load_all_environments(CONTEXT) if c.delivery.pipeline]
BROWSER_TESTS = "tests/e2e/test_playground_browser.py"
COLLECT_ONLY = ("--collect-only", "-q", "-n", "0", "-p", "no:cacheprovider")
# What each CodeBuild image offers in a buildspec's runtime-versions (aws-codebuild-docker-images,
# <platform>/standard/<version>/runtimes.yml). Another image: add its lists from that file first.
IMAGE_RUNTIMES = {
    "aws/codebuild/standard:7.0": {
        "nodejs": {"18", "20", "22", "24"},
        "python": {"3.9", "3.10", "3.11", "3.12", "3.13", "3.14"},
    },
    "aws/codebuild/standard:8.0": {"nodejs": {"22", "24"}, "python": {"3.10", "3.11", "3.12", "3.13", "3.14"}},
}


def level2(templates: dict[tuple[str, str], dict[str, Any]], env: str) -> dict[str, Any]:
    return templates[(env, f"Mlops-{env}-Level2Reliable")]


def of_type(template: dict[str, Any], cfn_type: str) -> dict[str, dict[str, Any]]:
    return {lid: r for lid, r in template["Resources"].items() if r["Type"] == cfn_type}


def stage_project(template: dict[str, Any], stage_name: str) -> dict[str, Any]:
    """The CodeBuild project (its properties) and the action config of a one-action stage."""
    (pipeline,) = of_type(template, "AWS::CodePipeline::Pipeline").values()
    stage = next(s for s in pipeline["Properties"]["Stages"] if s["Name"] == stage_name)
    (action,) = stage["Actions"]
    project: dict[str, Any] = template["Resources"][action["Configuration"]["ProjectName"]["Ref"]]["Properties"]
    return {"project": project, "action": action, "spec": json.loads(project["Source"]["BuildSpec"])}


# --- Fault 4: the Build stage runs on an image that has what it runs ------------------------------------------


@pytest.mark.parametrize("env", PIPELINE_HOSTS)
def test_every_pipeline_build_runs_on_a_supported_node_and_python_the_image_offers(templates, env):
    projects = of_type(level2(templates, env), "AWS::CodeBuild::Project")
    assert projects
    for logical_id, project in projects.items():
        image = project["Properties"]["Environment"]["Image"]
        assert image == BUILD_IMAGE.image_id
        offered = IMAGE_RUNTIMES[image]
        runtimes = json.loads(project["Properties"]["Source"]["BuildSpec"])["phases"]["install"]["runtime-versions"]
        node, python = str(runtimes["nodejs"]), str(runtimes["python"])
        assert node in offered["nodejs"], f"{logical_id}: {image} has no Node.js {node}"
        assert python in offered["python"], f"{logical_id}: {image} has no Python {python}"
        assert unsupported_reason("Node.js", node, NODE_END_OF_LIFE) is None, logical_id
        assert unsupported_reason("Python", python, PYTHON_END_OF_LIFE) is None, logical_id
        variables = json.loads(project["Properties"]["Source"]["BuildSpec"]).get("env", {}).get("variables", {})
        assert not any("END_OF_LIFE" in name for name in variables), f"{logical_id} silences an EOL warning"


def pytest_arguments_of(make_command: str) -> list[str]:
    """The arguments the pytest line of `make_command`'s recipe passes (read with `make -n`, nothing runs)."""
    (target,) = shlex.split(make_command)[1:]
    recipe = subprocess.run(
        ["make", "-n", target], cwd=ROOT, capture_output=True, text=True, check=True, timeout=60
    ).stdout
    (line,) = [line for line in recipe.splitlines() if re.search(r"(^|/)pytest\b", line)]
    return shlex.split(line)[1:]


def collected(arguments: list[str]) -> list[str]:
    """The browser tests that pytest with `arguments` would run (collection only)."""
    result = subprocess.run(
        [sys.executable, "-m", "pytest", *arguments, *COLLECT_ONLY, BROWSER_TESTS],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode in (0, 5), result.stdout + result.stderr  # 5: every test deselected
    return [line for line in result.stdout.splitlines() if line.startswith(f"{BROWSER_TESTS}::")]


def test_the_build_stage_runs_every_test_but_the_browser_test(templates):
    build = stage_project(level2(templates, PIPELINE_HOSTS[0]), "Build")
    commands = build["spec"]["phases"]["build"]["commands"]
    (make,) = [c for c in commands if c.startswith("make ")]
    assert make != "make test", "make test runs the browser test, and CodeBuild's images have no Chromium"
    arguments = pytest_arguments_of(make)
    # The same pytest otherwise (paths, markers): only the browser test is left out.
    assert not any(a.startswith(("tests", "-k", "--ignore", "--deselect")) for a in arguments), arguments
    assert collected(arguments) == []
    assert len(collected([])) >= 1, "the browser tests exist and are collected without the pipeline's filter"
    # Lint and type checks are part of the target, as in `make test`.
    recipe = subprocess.run(["make", "-n", make.split()[1]], cwd=ROOT, capture_output=True, text=True, check=True)
    assert "ruff check" in recipe.stdout and "mypy" in recipe.stdout


# --- Fault 8: the commit recorded is a commit ---------------------------------------------------------------


def test_no_build_records_codebuilds_resolved_source_version(templates):
    # For an S3 source, CODEBUILD_RESOLVED_SOURCE_VERSION is the zip's object version, not a commit.
    for host in PIPELINE_HOSTS:
        for logical_id, project in of_type(level2(templates, host), "AWS::CodeBuild::Project").items():
            assert "CODEBUILD_RESOLVED_SOURCE_VERSION" not in project["Properties"]["Source"]["BuildSpec"], logical_id
    build = stage_project(level2(templates, PIPELINE_HOSTS[0]), "Build")
    commands = build["spec"]["phases"]["build"]["commands"]
    assert commands[0] == 'CODE_VERSION="$(python3 -m delivery.source_commit)"'
    synths = [c for c in commands if c.startswith("npx cdk synth")]
    assert synths and all("-c codeVersion=$CODE_VERSION " in c for c in synths)


def connection_pipeline_template() -> dict[str, Any]:
    from aws_cdk import App, Environment, RemovalPolicy, Stack
    from aws_cdk import aws_logs as logs
    from aws_cdk import aws_s3 as s3

    from stacks.components.delivery_pipeline import DeliveryPipeline
    from stacks.config import load_all_environments
    from tests.example import EXAMPLE_CONTEXT

    configs = load_all_environments(EXAMPLE_CONTEXT)
    host = next(c for c in configs if c.delivery.pipeline and c.delivery.targets)
    targets = [next(c for c in configs if c.name == name) for name in host.delivery.targets]
    settings = dataclasses.replace(
        host.delivery,
        connection_arn="arn:aws:codeconnections:eu-west-1:111111111111:connection/0f0e0d0c-0b0a-4909-8807-060504030201",
    )
    app = App()
    stack = Stack(app, "PipelineOnly", env=Environment(account="111111111111", region="eu-west-1"))
    DeliveryPipeline(
        stack,
        "Delivery",
        environment_name=host.name,
        settings=settings,
        targets=targets,
        removal_policy=RemovalPolicy.DESTROY,
        log_retention=logs.RetentionDays.ONE_WEEK,
        access_log_bucket=s3.Bucket(stack, "Logs"),
    )
    template: dict[str, Any] = app.synth().get_stack_by_name("PipelineOnly").template
    return template


def test_a_connection_source_passes_its_commit_id_to_the_builds_that_record_it():
    template = connection_pipeline_template()
    (pipeline,) = of_type(template, "AWS::CodePipeline::Pipeline").values()
    stages = {s["Name"]: s["Actions"] for s in pipeline["Properties"]["Stages"]}
    (source,) = stages["Source"]
    assert source["ActionTypeId"]["Provider"] == "CodeStarSourceConnection"
    namespace = source["Namespace"]
    recording = ["Build", *(name for name in stages if name.startswith("Prompts-"))]
    assert len(recording) > 1
    for name in recording:
        (action,) = stages[name]
        variables = json.loads(action["Configuration"]["EnvironmentVariables"])
        assert variables == [{"name": "SOURCE_COMMIT", "type": "PLAINTEXT", "value": f"#{{{namespace}.CommitId}}"}]
        commands = stage_project(template, name)["spec"]["phases"]["build"]["commands"]
        assert commands[0] == 'CODE_VERSION="$(python3 -m delivery.source_commit)"', name


# --- Security: the target accounts' roles trust the pipeline's own roles, not the whole account ---------------


def render(value: Any) -> Any:
    """A template value with the partition filled in and joins joined, for comparing ARNs."""
    if isinstance(value, list):
        return [render(v) for v in value]
    if isinstance(value, dict):
        if value == {"Ref": "AWS::Partition"}:
            return "aws"
        if "Fn::Join" in value:
            separator, parts = value["Fn::Join"]
            rendered = [render(part) for part in parts]
            return separator.join(r if isinstance(r, str) else json.dumps(r) for r in rendered)
    return value


def as_list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [value]


def trusted_role_arns(role: dict[str, Any]) -> set[str]:
    """The role ARNs a trust policy admits; fails on a statement that admits more (no PrincipalArn condition)."""
    arns: set[str] = set()
    for statement in role["Properties"]["AssumeRolePolicyDocument"]["Statement"]:
        assert statement["Effect"] == "Allow" and statement["Action"] == "sts:AssumeRole", statement
        principals = as_list(render(statement["Principal"]["AWS"]))
        condition = statement.get("Condition", {})
        assert list(condition) == ["ArnEquals"], f"trusts {principals} with no condition on aws:PrincipalArn"
        allowed = as_list(condition["ArnEquals"]["aws:PrincipalArn"])
        assert principals == sorted({f"arn:aws:iam::{arn.split(':')[4]}:root" for arn in allowed})
        arns.update(allowed)
    return arns


@pytest.mark.parametrize(("prefix", "stack"), [("PipelineTestRole", "Level2Reliable"), ("PromptReleaseRole", "LlmOps")])
def test_target_roles_trust_exactly_the_pipeline_roles_that_assume_them(templates, synthesized, prefix, stack):
    checked = 0
    for env in ENV_NAMES:
        template = templates.get((env, f"Mlops-{env}-{stack}"))
        if template is None:
            continue
        roles = [r for lid, r in of_type(template, "AWS::IAM::Role").items() if lid.startswith(prefix)]
        if not roles:
            continue
        (role,) = roles
        target_arn = f"arn:aws:iam::{synthesized[env].config.account}:role/{role['Properties']['RoleName']}"
        trusted = trusted_role_arns(role)
        # Every trusted ARN is a fixed-name role of a host environment whose policy assumes this very role.
        callers = set()
        for host in ENV_NAMES:
            account = synthesized[host].config.account
            for (name, _), host_template in templates.items():
                if name != host:
                    continue
                for logical_id, caller in of_type(host_template, "AWS::IAM::Role").items():
                    assumes = [
                        s
                        for policy in of_type(host_template, "AWS::IAM::Policy").values()
                        if {"Ref": logical_id} in policy["Properties"]["Roles"]
                        for s in policy["Properties"]["PolicyDocument"]["Statement"]
                        if "sts:AssumeRole" in as_list(s["Action"]) and target_arn in as_list(render(s["Resource"]))
                    ]
                    if assumes:
                        role_name = caller["Properties"].get("RoleName")
                        assert isinstance(role_name, str), f"{host}'s {logical_id} assumes {target_arn} unnamed"
                        callers.add(f"arn:aws:iam::{account}:role/{role_name}")
        assert trusted, f"{env}: {target_arn} trusts nobody"
        # Exactly the deploying account's roles that assume it (another environment may name it in its
        # policies, e.g. the emulator's pipeline targeting the same environments: it is not trusted).
        trusted_accounts = {arn.split(":")[4] for arn in trusted}
        assert trusted == {c for c in callers if c.split(":")[4] in trusted_accounts}, env
        checked += 1
    assert checked >= 1
