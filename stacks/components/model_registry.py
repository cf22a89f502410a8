"""The Model Registry of one use case: a model package group, readable by the accounts that deploy from it."""

from __future__ import annotations

from aws_cdk import RemovalPolicy, Stack
from aws_cdk import aws_sagemaker as sagemaker
from constructs import Construct

# What a deploying account needs to find and use an approved model version; nothing that changes one.
REGISTRY_READ_ACTIONS = [
    "sagemaker:DescribeModelPackageGroup",
    "sagemaker:DescribeModelPackage",
    "sagemaker:ListModelPackages",
]


class ModelRegistry(Construct):
    """A SageMaker model package group for one use case.

    When `reader_accounts` is not empty, the group's resource policy lets those accounts (the
    environments that deploy models trained here) describe and list its versions, so promotion to
    preprod and prod can read the registry across accounts.

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
        self.group_name = group_name
        self.group_arn = stack.format_arn(service="sagemaker", resource="model-package-group", resource_name=group_name)
        packages_arn = stack.format_arn(service="sagemaker", resource="model-package", resource_name=f"{group_name}/*")
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
