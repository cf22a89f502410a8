"""Team isolation on the project's own cdk.json (issue 19): whatever teams and environments a fork configures,
no team role reads or lists another team's prefix or gets or puts records of another team's feature groups, and
each reads its own (policy simulation of the synthesized
policies, as tests/infra/test_level3_scalable.py does in depth for the pinned example)."""

from __future__ import annotations

from itertools import permutations

import pytest

from emulator.policy_simulation import PolicySimulator
from pipelines.glue.churn_features import FEATURE_GROUPS, feature_group_name
from stacks.components.team import team_prefix
from stacks.feature_store_config import feature_group_prefix
from tests.infra.conftest import PROJECT_ENV_NAMES

ROLES = ("data-scientist", "ml-engineer")


@pytest.mark.parametrize("env", PROJECT_ENV_NAMES)
def test_no_team_role_reaches_another_teams_prefix(project_templates, project_synthesized, env):
    config = project_synthesized[env].config
    if config.max_level < 3 or len(config.teams) < 2:
        pytest.skip(f"{env} has no two teams at Level 3")
    (template,) = [t for (e, stack), t in project_templates.items() if e == env and stack.endswith("-Level3Scalable")]
    simulator = PolicySimulator(template, account=config.account, region=config.region)
    by_name = {
        r["Properties"].get("RoleName"): lid
        for lid, r in template["Resources"].items()
        if r["Type"] == "AWS::IAM::Role"
    }
    (bucket_id,) = [
        lid for lid, r in template["Resources"].items() if r["Type"] == "AWS::S3::Bucket" and lid.startswith("TeamData")
    ]
    bucket = simulator.arn_of(bucket_id)
    checked = 0
    for team, other in permutations([t.name for t in config.teams], 2):
        for role in ROLES:
            role_id = by_name[f"{config.resource_prefix}-{team}-{role}"]
            own = simulator.decide(role_id, "s3:GetObject", f"{bucket}/{team_prefix(team)}curated/part-0.parquet")
            assert own.allowed, f"{team} {role} cannot read its own prefix: {own.why}"
            theirs = simulator.decide(role_id, "s3:GetObject", f"{bucket}/{team_prefix(other)}curated/part-0.parquet")
            assert not theirs.allowed, f"{team} {role} reads {other}'s prefix"
            listing = simulator.decide(role_id, "s3:ListBucket", bucket, {"s3:prefix": team_prefix(other)})
            assert not listing.allowed, f"{team} {role} lists {other}'s prefix"
            for spec in FEATURE_GROUPS:
                own_group, their_group = (
                    f"arn:aws:sagemaker:{config.region}:{config.account}:feature-group/"
                    + feature_group_name(feature_group_prefix(config.resource_prefix, name), spec).lower()
                    for name in (team, other)
                )
                assert simulator.decide(role_id, "sagemaker:GetRecord", own_group).allowed, (team, role, spec)
                for action in ("sagemaker:GetRecord", "sagemaker:PutRecord"):
                    decision = simulator.decide(role_id, action, their_group)
                    assert not decision.allowed, f"{team} {role} may {action} on {other}'s {spec.suffix}"
            checked += 1
    assert checked == len(config.teams) * (len(config.teams) - 1) * len(ROLES)
