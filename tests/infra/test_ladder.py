"""How the levels are wired: names, order, dependencies, and the house rule that levels never import each other."""

from __future__ import annotations

import ast
import itertools
from pathlib import Path

import pytest
from aws_cdk import App

from stacks.config import ConfigError, load_environment
from stacks.ladder import build_environment
from tests.infra.conftest import CONTEXT, ENV_NAMES

STACKS_DIR = Path(__file__).resolve().parents[2] / "stacks"
LEVEL_MODULES = sorted(p.stem for p in STACKS_DIR.glob("level*.py"))


@pytest.mark.parametrize("env", ENV_NAMES)
def test_stack_names_carry_the_environment_and_follow_max_level(synthesized, env):
    config = synthesized[env].config
    levels = ["Level0Exploration", "Level1Repeatable", "Level2Reliable", "Level3Scalable"][: config.max_level + 1]
    levels += ["LlmOps"] if config.llmops.enabled else []
    assert [s.stack_name for s in synthesized[env].stacks] == [f"Mlops-{env}-{level}" for level in levels]


@pytest.mark.parametrize("env", ENV_NAMES)
def test_each_level_depends_on_the_one_below(synthesized, env):
    stacks = [s for s in synthesized[env].stacks if "-Level" in s.stack_name]
    for lower, upper in itertools.pairwise(stacks):
        assert lower in upper.dependencies, f"{upper.stack_name} must deploy after {lower.stack_name}"
    llmops = [s for s in synthesized[env].stacks if s.stack_name.endswith("-LlmOps")]
    for stack in llmops:  # LLMOps builds on Level 0 only, so it can be deployed with any level
        assert [d.stack_name for d in stack.dependencies] == [stacks[0].stack_name]


@pytest.mark.parametrize("module", LEVEL_MODULES)
def test_a_level_stack_never_imports_another_level_stack(module):
    tree = ast.parse((STACKS_DIR / f"{module}.py").read_text())
    imported = {node.module for node in ast.walk(tree) if isinstance(node, ast.ImportFrom) and node.module is not None}
    others = {f"stacks.{m}" for m in LEVEL_MODULES if m != module}
    assert not imported & others, f"{module} imports {imported & others}: pass resources through stacks/ladder.py"


def test_runtime_code_never_imports_aws_cdk():
    root = STACKS_DIR.parent
    for folder in ("lambdas", "pipelines"):
        for path in (root / folder).rglob("*.py"):
            tree = ast.parse(path.read_text())
            names = {a.name for n in ast.walk(tree) if isinstance(n, ast.Import) for a in n.names}
            names |= {n.module or "" for n in ast.walk(tree) if isinstance(n, ast.ImportFrom)}
            assert not any(n == "aws_cdk" or n.startswith("aws_cdk.") for n in names), path


def test_level_one_needs_a_region_with_known_sagemaker_images():
    context = {**CONTEXT, "mlops:environments": {**CONTEXT["mlops:environments"]}}
    # Without LLMOps: its eu. model profiles cannot be called from me-south-1, which config validation says first.
    context["mlops:environments"]["dev"] = {
        **context["mlops:environments"]["dev"],
        "region": "me-south-1",
        "llmops": {"enabled": False},
    }
    with pytest.raises(ConfigError, match=r"environment 'dev', key 'region': no SageMaker image registry .*me-south-1"):
        build_environment(App(context=context), load_environment(context, "dev"))
