"""GitHub Actions as an alternative to CodePipeline: an OIDC provider and a deploy role, no stored keys."""

from __future__ import annotations

from aws_cdk import Duration, Stack
from aws_cdk import aws_iam as iam
from constructs import Construct

GITHUB_OIDC_HOST = "token.actions.githubusercontent.com"
GITHUB_AUDIENCE = "sts.amazonaws.com"
CDK_BOOTSTRAP_ROLES = ("deploy", "file-publishing", "image-publishing", "lookup")


def bootstrap_role_arn(partition: str, qualifier: str, account: str, region: str, role: str) -> str:
    """A role `cdk bootstrap --qualifier <qualifier>` created in `account`/`region`."""
    return f"arn:{partition}:iam::{account}:role/cdk-{qualifier}-{role}-role-{account}-{region}"


class GitHubDeployRole(Construct):
    """GitHub's OIDC identity provider (or an existing one, by ARN) and the role the workflow assumes.

    The role trusts only tokens for sts.amazonaws.com from one repository, and only for its branch or
    for the workflow's GitHub environments (a job with ``environment: prod`` carries the subject
    ``repo:<owner>/<name>:environment:prod``, where GitHub's required reviewers are the manual
    approval). It can assume the CDK bootstrap roles of the target accounts, which each account trusts
    through ``cdk bootstrap --trust <this account>`` (CloudFormation does the rest with those
    accounts' execution policies), and the fixed-name test and prompt-release roles the delivery
    pipeline uses there. Nothing else, in this account or any other.
    `targets` are the (account, region) pairs deployed to; `step_roles` the ARNs of the roles the
    workflow's preprod tests and prompt releases assume in those accounts (the pipeline's own roles).
    """

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        role_name: str,
        bootstrap_qualifier: str,
        repository: str,
        branch: str,
        environments: list[str],
        targets: list[tuple[str, str]],
        step_roles: list[str],
        provider_arn: str | None,
    ) -> None:
        super().__init__(scope, construct_id)
        stack = Stack.of(self)
        if provider_arn is None:
            # One provider per URL per account: set delivery.githubOidcProviderArn if one exists already.
            provider = iam.CfnOIDCProvider(
                self, "Provider", url=f"https://{GITHUB_OIDC_HOST}", client_id_list=[GITHUB_AUDIENCE]
            )
            provider_arn = provider.attr_arn
        subjects = [f"repo:{repository}:ref:refs/heads/{branch}"] + [
            f"repo:{repository}:environment:{name}" for name in environments
        ]
        self.role = iam.Role(
            self,
            "Role",
            # The workflow (.github/workflows/deploy.yml) names this role; a fixed name keeps the two in step.
            role_name=role_name,
            assumed_by=iam.FederatedPrincipal(
                provider_arn,
                conditions={
                    "StringEquals": {
                        f"{GITHUB_OIDC_HOST}:aud": GITHUB_AUDIENCE,
                        f"{GITHUB_OIDC_HOST}:sub": subjects,
                    }
                },
                assume_role_action="sts:AssumeRoleWithWebIdentity",
            ),
            description=f"GitHub Actions of {repository} ({branch} and its environments) deploy with CDK",
            max_session_duration=Duration.hours(1),
        )
        self.role.add_to_policy(
            iam.PolicyStatement(
                sid="AssumeCdkBootstrapRolesOfTargets",
                actions=["sts:AssumeRole", "sts:TagSession"],
                resources=[
                    bootstrap_role_arn(stack.partition, bootstrap_qualifier, account, region, role)
                    for account, region in targets
                    for role in CDK_BOOTSTRAP_ROLES
                ],
            )
        )
        if step_roles:
            self.role.add_to_policy(
                iam.PolicyStatement(
                    sid="AssumeTestAndPromptRolesOfTargets", actions=["sts:AssumeRole"], resources=step_roles
                )
            )
