"""The Model Registry of one use case: a model package group, readable by the accounts that deploy from it."""

from __future__ import annotations

from aws_cdk import RemovalPolicy, Stack
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from aws_cdk import aws_s3 as s3
from aws_cdk import aws_sagemaker as sagemaker
from constructs import Construct

from stacks.partition import format_arn, url_suffix

# What a deploying account needs to find and use an approved model version; nothing that changes one.
REGISTRY_READ_ACTIONS = [
    "sagemaker:DescribeModelPackageGroup",
    "sagemaker:DescribeModelPackage",
    "sagemaker:ListModelPackages",
]
# What a deploying account needs to load a version's artifacts (model, metrics, baselines) from S3.
ARTIFACT_READ_ACTIONS = ["s3:GetObject", "s3:GetObjectVersion"]


class ModelRegistry(Construct):
    """A SageMaker model package group for one use case.

    When `reader_accounts` is not empty, the group's resource policy lets those accounts (the
    environments that deploy models trained here) describe and list its versions, so promotion to
    preprod and prod can read the registry across accounts.

    A model version points at artifacts in S3 (the model, its metrics and baselines): with
    :meth:`grant_artifact_readers`, the same accounts may read them under the artifacts prefix and
    decrypt them through S3, and nothing else of the bucket or key.

    Per environment: the reader accounts, and the removal policy.
    """

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        group_name: str,
        description: str,
        reader_accounts: tuple[str, ...],
        removal_policy: RemovalPolicy,
    ) -> None:
        super().__init__(scope, construct_id)
        stack = Stack.of(self)
        self.reader_accounts = reader_accounts
        self.group_name = group_name
        self.group_arn = format_arn(
            stack, service="sagemaker", resource="model-package-group", resource_name=group_name
        )
        packages_arn = format_arn(stack, service="sagemaker", resource="model-package", resource_name=f"{group_name}/*")
        policy = None
        if reader_accounts:
            policy = {
                "Version": "2012-10-17",
                "Statement": [
                    {
                        "Sid": "DeployingAccountsReadTheRegistry",
                        "Effect": "Allow",
                        "Principal": {"AWS": [f"arn:{stack.partition}:iam::{a}:root" for a in reader_accounts]},
                        "Action": REGISTRY_READ_ACTIONS,
                        "Resource": [self.group_arn, packages_arn],
                    }
                ],
            }
        self.group = sagemaker.CfnModelPackageGroup(
            self,
            "Group",
            model_package_group_name=group_name,
            model_package_group_description=description,
            model_package_group_policy=policy,
        )
        self.group.apply_removal_policy(removal_policy)

    def grant_artifact_readers(self, *, bucket: s3.IBucket, key: kms.IKey, prefix: str) -> None:
        """Let the reader accounts read the objects under `prefix` of `bucket` and decrypt them with `key`.

        Cross-account access needs the resource side too: a bucket policy statement scoped to the
        prefix, and a key policy statement that only lets S3 in this region decrypt for them. S3 only
        serves them what the bucket policy allows, so the prefix bounds what they can decrypt. (The key
        policy cannot name the bucket: the bucket already refers to its key, a circular dependency.)
        """
        if not self.reader_accounts:
            return
        stack = Stack.of(self)
        readers = [iam.AccountPrincipal(account) for account in self.reader_accounts]
        bucket.add_to_resource_policy(
            iam.PolicyStatement(
                sid="RegistryReadersGetModelArtifacts",
                principals=readers,
                actions=ARTIFACT_READ_ACTIONS,
                resources=[bucket.arn_for_objects(f"{prefix}/*")],
            )
        )
        key.add_to_resource_policy(
            iam.PolicyStatement(
                sid="RegistryReadersDecryptModelArtifactsThroughS3",
                principals=readers,
                actions=["kms:Decrypt"],
                resources=["*"],
                conditions={"StringEquals": {"kms:ViaService": f"s3.{stack.region}.{url_suffix(stack)}"}},
            )
        )
