"""Removal policy is decided once per environment: where it says retain, every stateful resource is kept.

Keyed on the environment's configured ``removalPolicy``, not on its name. Every resource type in the
synthesized templates must be classified below, so a new stateful type cannot slip through unchecked.
"""

from __future__ import annotations

from typing import Any

import pytest

from stacks.synth import SynthesizedEnvironment
from tests.infra.conftest import PROJECT_ENV_NAMES

# Types that hold data, history or identities: deleting them with the stack loses something.
STATEFUL = frozenset(
    {
        "AWS::Athena::WorkGroup",  # query history and saved queries
        "AWS::Bedrock::DataSource",  # its ingestion history; deleting it deletes its vectors (DELETE policy)
        "AWS::Bedrock::Guardrail",
        "AWS::Bedrock::GuardrailVersion",
        "AWS::Bedrock::KnowledgeBase",
        "AWS::Cognito::UserPool",  # the app's users
        "AWS::DocDB::DBCluster",
        "AWS::DynamoDB::Table",
        "AWS::Glue::Database",  # the crawled tables
        "AWS::KMS::Key",  # without it, everything it encrypted is lost
        "AWS::Kinesis::Stream",
        "AWS::Logs::LogGroup",
        "AWS::MSK::ServerlessCluster",
        "AWS::S3::Bucket",
        "AWS::S3Vectors::Index",  # the embedded documents: rebuilding them costs a full ingestion
        "AWS::S3Vectors::VectorBucket",
        "AWS::SNS::Topic",  # its subscriptions (confirmed by people)
        "AWS::SQS::Queue",  # dead letters
        "AWS::SageMaker::Domain",  # home directories (EFS)
        "AWS::SageMaker::FeatureGroup",  # the online store's records (the offline data stays in S3)
        "AWS::SageMaker::MlflowApp",  # experiments and runs
        "AWS::SageMaker::ModelPackageGroup",  # the model registry
        "AWS::SageMaker::Pipeline",  # execution history and lineage
        "AWS::SageMaker::UserProfile",
        "AWS::SecretsManager::Secret",  # the credentials a snapshot restore needs
    }
)
# Types whose delete loses nothing that the stack does not recreate (configuration, wiring, compute).
STATELESS_PREFIXES = (
    "AWS::ApiGateway::",
    "AWS::ApplicationAutoScaling::",
    "AWS::Budgets::",
    "AWS::CDK::",
    "AWS::CloudWatch::",
    "AWS::CodeBuild::",
    "AWS::CodePipeline::",
    "AWS::CodeStarNotifications::",
    "AWS::Cognito::UserPoolClient",
    "AWS::Cognito::UserPoolDomain",
    "AWS::DocDB::DBClusterParameterGroup",
    "AWS::DocDB::DBInstance",  # the data is the cluster's volume; instances are compute
    "AWS::DocDB::DBSubnetGroup",
    "AWS::EC2::",
    "AWS::ECR::",
    "AWS::ECS::",
    "AWS::ElasticLoadBalancingV2::",
    "AWS::Events::",
    "AWS::Glue::Crawler",
    "AWS::Glue::Job",
    "AWS::Glue::SecurityConfiguration",
    "AWS::IAM::",
    "AWS::KMS::Alias",
    "AWS::Lambda::",
    "AWS::Logs::SubscriptionFilter",
    "AWS::S3::BucketPolicy",
    "AWS::SNS::Subscription",
    "AWS::SNS::TopicPolicy",
    "AWS::SQS::QueuePolicy",
    "AWS::SSM::",
    "AWS::SecretsManager::SecretTargetAttachment",
    "AWS::StepFunctions::",
    "AWS::WAFv2::",
    "Custom::",
)
KEPT = ("Retain", "Snapshot")


def _resources(env: SynthesizedEnvironment) -> list[tuple[str, str, dict[str, Any]]]:
    return [(stack.stack_name, lid, r) for stack in env.stacks for lid, r in env.template(stack)["Resources"].items()]


def _check(env: SynthesizedEnvironment) -> None:
    retain = env.config.removal_policy == "retain"
    unclassified = sorted(
        {
            r["Type"]
            for _, _, r in _resources(env)
            if r["Type"] not in STATEFUL and not r["Type"].startswith(STATELESS_PREFIXES)
        }
    )
    assert not unclassified, f"classify these resource types in {__name__}: {unclassified}"
    problems = []
    for stack, lid, resource in _resources(env):
        if resource["Type"] not in STATEFUL or not retain:
            continue
        for attribute in ("DeletionPolicy", "UpdateReplacePolicy"):
            if resource.get(attribute, "Delete") not in KEPT:
                problems.append(f"{stack}/{lid} ({resource['Type']}): {attribute} {resource.get(attribute, 'Delete')}")
        props = resource.get("Properties", {})
        if resource["Type"] == "AWS::DynamoDB::Table" and props.get("DeletionProtectionEnabled") is not True:
            problems.append(f"{stack}/{lid}: DynamoDB table without deletion protection")
        if resource["Type"] == "AWS::DocDB::DBCluster" and props.get("DeletionProtection") is not True:
            problems.append(f"{stack}/{lid}: DocumentDB cluster without deletion protection")
    assert not problems, f"{env.config.name} retains data (removalPolicy 'retain'), but:\n" + "\n".join(problems)


@pytest.mark.parametrize("env", PROJECT_ENV_NAMES)
def test_every_stateful_resource_follows_the_environments_removal_policy(project_synthesized, env):
    _check(project_synthesized[env])


def test_a_retaining_environment_with_every_opt_in_keeps_all_its_state(opted_in_prod):
    assert opted_in_prod.config.removal_policy == "retain"
    _check(opted_in_prod)
    docdb = [r for _, _, r in _resources(opted_in_prod) if r["Type"] == "AWS::DocDB::DBCluster"]
    assert len(docdb) == len(opted_in_prod.config.teams), "every team's DocumentDB is in the check"


def test_the_opted_in_dev_synth_is_classified_too(opted_in_dev):
    _check(opted_in_dev)
