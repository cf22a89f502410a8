"""One team of Level 3: bounded roles, a Studio profile, a data prefix and key, a feature table, a budget."""

from __future__ import annotations

import jsii
from aws_cdk import Duration, RemovalPolicy, Stack, Tags
from aws_cdk import aws_budgets as budgets
from aws_cdk import aws_dynamodb as dynamodb
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from aws_cdk import aws_s3 as s3
from aws_cdk import aws_sagemaker as sagemaker
from constructs import Construct, IValidation

from pipelines.glue.churn_features import FEATURE_GROUPS
from stacks.components.access import (
    IAM_WILDCARD_RULE,
    acknowledge_wildcard_resource,
    member_principal,
    nag_rendering,
)
from stacks.components.feature_store import FEATURE_STORE_GLUE_DATABASE, FeatureStore
from stacks.config import TeamConfig, pascal
from stacks.feature_store_config import feature_group_prefix
from stacks.nag import Finding, acknowledge_all
from stacks.partition import format_arn

TEAM_TAG = "mlops:team"
COST_CENTER_TAG = "mlops:cost-center"
# Studio's own apps (JupyterServer, the default space apps) report the instance type "system".
STUDIO_SYSTEM_INSTANCE_TYPE = "system"
# SageMaker calls that start compute; the team's boundary denies them on any other instance type.
COMPUTE_ACTIONS = (
    "sagemaker:CreateApp",
    "sagemaker:CreateEndpointConfig",
    "sagemaker:CreateHyperParameterTuningJob",
    "sagemaker:CreateNotebookInstance",
    "sagemaker:CreateProcessingJob",
    "sagemaker:CreateTrainingJob",
    "sagemaker:CreateTransformJob",
)
_OBJECT_READ = ["s3:GetObject", "s3:GetObjectVersion"]
_OBJECT_WRITE = ["s3:PutObject", "s3:DeleteObject", "s3:AbortMultipartUpload"]
_TABLE_READ = ["dynamodb:GetItem", "dynamodb:BatchGetItem", "dynamodb:Query", "dynamodb:DescribeTable"]
_TABLE_WRITE = ["dynamodb:PutItem", "dynamodb:UpdateItem", "dynamodb:DeleteItem", "dynamodb:BatchWriteItem"]


def team_prefix(team_name: str) -> str:
    """The team's folder in the shared team-data bucket (a trailing slash, so 'ab/' never matches 'abc/')."""
    return f"teams/{team_name}/"


def team_role_name(resource_prefix: str, team_name: str, role: str) -> str:
    """Fixed role names: members, SSO and CI configure them by name, and the boundary names them.

    `resource_prefix` is the environment's ``<namePrefix>-<environment>`` (``mlops-dev``)."""
    return f"{resource_prefix}-{team_name}-{role}"


class Team(Construct):
    """Everything one team owns in one environment, bounded so that it cannot reach another team's.

    - a KMS key of its own; the team's prefix of the shared bucket only accepts objects under that key
      (bucket policy), so even a misgranted reader elsewhere gets ciphertext it cannot decrypt;
    - a permission boundary (the ceiling of every role in this construct): the team's prefix, key and
      table, SageMaker in this account on the allowed instance types only, what its endpoint's promotion
      needs (autoscaling, alarm reads), and in IAM only passing its own roles to SageMaker and creating
      SageMaker's autoscaling service-linked role;
    - a data-scientist role (also the Studio execution role of the team's user profile) and an
      ML-engineer role, assumable by the configured IAM roles or Identity Center permission sets;
    - a DynamoDB table (PITR, the team key) as a feature source;
    - the churn feature groups of its own (``<resource prefix>-<team>-churn-*``), encrypted with the team key,
      their offline store under ``feature-store/<resource prefix>-<team>/`` of the shared bucket: the data
      scientists put and get records, the ML engineers get them, and both read the offline store; the
      boundary keeps every team role off other teams' groups and offline stores;
    - a monthly AWS Budget on the team's cost-allocation tag, with email alerts at 80 % (actual) and
      100 % (forecast); tags ``mlops:team`` and ``mlops:cost-center`` on every resource.

    Per environment: the environment name in role names, removal policy; per team: everything in
    its ``teams`` entry.
    """

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        team: TeamConfig,
        env_name: str,
        resource_prefix: str,
        bucket: s3.Bucket,
        studio_domain_id: str,
        online_store: bool,
        removal_policy: RemovalPolicy,
    ) -> None:
        super().__init__(scope, construct_id)
        stack = Stack.of(self)
        self.name = team.name
        self.prefix = team_prefix(team.name)
        Tags.of(self).add(TEAM_TAG, team.name)
        Tags.of(self).add(COST_CENTER_TAG, team.cost_center)

        self.key = kms.Key(
            self,
            "Key",
            description=f"Encrypts team {team.name}'s data in {env_name}: its S3 prefix and its feature table",
            enable_key_rotation=True,
            alias=f"alias/{resource_prefix}/team-{team.name}",
            removal_policy=removal_policy,
        )
        self.table = dynamodb.Table(
            self,
            "FeatureTable",
            partition_key=dynamodb.Attribute(name="entity_id", type=dynamodb.AttributeType.STRING),
            sort_key=dynamodb.Attribute(name="event_time", type=dynamodb.AttributeType.STRING),
            billing_mode=dynamodb.BillingMode.PAY_PER_REQUEST,
            encryption=dynamodb.TableEncryption.CUSTOMER_MANAGED,
            encryption_key=self.key,
            point_in_time_recovery_specification=dynamodb.PointInTimeRecoverySpecification(
                point_in_time_recovery_enabled=True
            ),
            removal_policy=removal_policy,
            # Where the environment retains data, a delete of the table itself is refused too.
            deletion_protection=removal_policy == RemovalPolicy.RETAIN,
        )

        # The team's own churn feature groups. Their offline-store role is inside this construct, so the team's
        # boundary applies to it too (the boundary allows exactly what Feature Store does with it).
        self.features = FeatureStore(
            self,
            "Features",
            name_prefix=feature_group_prefix(resource_prefix, team.name),
            key=self.key,
            offline_bucket=bucket,
            online_store=online_store,
            removal_policy=removal_policy,
        )

        objects_arn = bucket.arn_for_objects(f"{self.prefix}*")
        # Objects under the prefix must be encrypted with the team key: a write without it is refused.
        bucket.add_to_resource_policy(
            iam.PolicyStatement(
                sid=f"Team{pascal(team.name)}ObjectsUseTeamKey",
                effect=iam.Effect.DENY,
                principals=[iam.AnyPrincipal()],
                actions=["s3:PutObject"],
                resources=[objects_arn],
                conditions={"StringNotEquals": {"s3:x-amz-server-side-encryption-aws-kms-key-id": self.key.key_arn}},
            )
        )

        role_arn_prefix = format_arn(
            stack,
            service="iam",
            region="",
            resource="role",
            resource_name=team_role_name(resource_prefix, team.name, ""),
        )
        self.boundary = iam.ManagedPolicy(
            self,
            "Boundary",
            description=f"Permission boundary of team {team.name} in {env_name}: its data, key, table and "
            "SageMaker on its allowed instance types",
            statements=self._boundary_statements(
                team, stack, bucket, objects_arn, role_arn_prefix=f"{role_arn_prefix}*"
            ),
        )
        iam.PermissionsBoundary.of(self).apply(self.boundary)
        self.boundary.node.add_validation(_AcknowledgeBoundary(self.boundary, team.name))

        self.data_scientist_role = iam.Role(
            self,
            "DataScientistRole",
            role_name=team_role_name(resource_prefix, team.name, "data-scientist"),
            assumed_by=iam.ServicePrincipal("sagemaker.amazonaws.com"),
            description=f"Team {team.name}'s data scientists, and its Studio profile's execution role",
            max_session_duration=Duration.hours(8),
        )
        self.ml_engineer_role = iam.Role(
            self,
            "MlEngineerRole",
            role_name=team_role_name(resource_prefix, team.name, "ml-engineer"),
            assumed_by=member_principal(stack, team.ml_engineers[0]),
            description=f"Team {team.name}'s ML engineers: run and approve the team's pipelines",
            max_session_duration=Duration.hours(8),
        )
        for role, members in (
            (self.data_scientist_role, team.data_scientists),
            (self.ml_engineer_role, team.ml_engineers[1:]),
        ):
            for member in members:
                # One statement per member, so that one member's condition never applies to another.
                assert role.assume_role_policy is not None  # a Role always has one
                role.assume_role_policy.add_statements(
                    iam.PolicyStatement(actions=["sts:AssumeRole"], principals=[member_principal(stack, member)])
                )

        self.profile = sagemaker.CfnUserProfile(
            self,
            "StudioProfile",
            domain_id=studio_domain_id,
            user_profile_name=team.name,
            user_settings=sagemaker.CfnUserProfile.UserSettingsProperty(
                execution_role=self.data_scientist_role.role_arn
            ),
        )
        self.profile.apply_removal_policy(removal_policy)

        for role, write in ((self.data_scientist_role, True), (self.ml_engineer_role, False)):
            self.grant_data(role, bucket, write=write)
        self._grant_data_scientist(stack, team, studio_domain_id)

        self.budget = budgets.CfnBudget(
            self,
            "Budget",
            budget=budgets.CfnBudget.BudgetDataProperty(
                budget_name=f"{resource_prefix}-team-{team.name}",
                budget_type="COST",
                time_unit="MONTHLY",
                budget_limit=budgets.CfnBudget.SpendProperty(amount=team.monthly_budget_usd, unit="USD"),
                # Cost-allocation tags appear in billing as "user:<key>" once activated in the payer account.
                cost_filters={"TagKeyValue": [f"user:{TEAM_TAG}${team.name}"]},
            ),
            notifications_with_subscribers=[
                budgets.CfnBudget.NotificationWithSubscribersProperty(
                    notification=budgets.CfnBudget.NotificationProperty(
                        notification_type=kind,
                        comparison_operator="GREATER_THAN",
                        threshold=threshold,
                        threshold_type="PERCENTAGE",
                    ),
                    subscribers=[
                        budgets.CfnBudget.SubscriberProperty(subscription_type="EMAIL", address=team.budget_email)
                    ],
                )
                for kind, threshold in (("ACTUAL", 80), ("FORECASTED", 100))
            ],
        )

    def grant_data(self, role: iam.Role, bucket: s3.IBucket, *, write: bool) -> None:
        """Let `role` read (and write) the team's prefix, use the team key, its feature table and feature groups
        (write: PutRecord as well as GetRecord), and read its groups' offline store."""
        objects_arn = bucket.arn_for_objects(f"{self.prefix}*")
        role.add_to_policy(
            iam.PolicyStatement(actions=_OBJECT_READ + (_OBJECT_WRITE if write else []), resources=[objects_arn])
        )
        role.add_to_policy(
            iam.PolicyStatement(
                actions=["s3:ListBucket"],
                resources=[bucket.bucket_arn],
                conditions={"StringLike": {"s3:prefix": [f"{self.prefix}*"]}},
            )
        )
        self.key.grant(role, "kms:Decrypt", "kms:DescribeKey", *(["kms:GenerateDataKey"] if write else []))
        role.add_to_policy(
            iam.PolicyStatement(actions=_TABLE_READ + (_TABLE_WRITE if write else []), resources=[self.table.table_arn])
        )
        acknowledge_wildcard_resource(
            role,
            objects_arn,
            f"Team {self.name}'s data: object keys under '{self.prefix}' are written at run time; the bucket "
            "and the team prefix are fixed.",
        )
        self.features.grant_get(role, *FEATURE_GROUPS)
        if write:
            self.features.grant_put(role, *FEATURE_GROUPS)
        offline_arn = bucket.arn_for_objects(f"{self.features.offline_prefix}*")
        role.add_to_policy(iam.PolicyStatement(actions=_OBJECT_READ, resources=[offline_arn]))
        role.add_to_policy(
            iam.PolicyStatement(
                actions=["s3:ListBucket"],
                resources=[bucket.bucket_arn],
                conditions={"StringLike": {"s3:prefix": [f"{self.features.offline_prefix}*"]}},
            )
        )
        acknowledge_wildcard_resource(
            role,
            offline_arn,
            f"Team {self.name}'s offline feature store: Feature Store names the objects under "
            f"'{self.features.offline_prefix}' (account, region, group, date partitions); the prefix is fixed.",
        )

    def _grant_data_scientist(self, stack: Stack, team: TeamConfig, domain_id: str) -> None:
        role = self.data_scientist_role
        role.add_to_policy(
            iam.PolicyStatement(
                sid="OpenTeamStudioProfile",
                actions=["sagemaker:CreatePresignedDomainUrl", "sagemaker:DescribeUserProfile"],
                resources=[
                    format_arn(
                        stack, service="sagemaker", resource="user-profile", resource_name=f"{domain_id}/{team.name}"
                    )
                ],
            )
        )
        jobs = [
            format_arn(stack, service="sagemaker", resource=kind, resource_name=f"{team.name}-*")
            for kind in ("training-job", "processing-job")
        ]
        role.add_to_policy(
            iam.PolicyStatement(
                sid="RunTeamJobsOnAllowedInstances",
                actions=[
                    "sagemaker:CreateTrainingJob",
                    "sagemaker:CreateProcessingJob",
                    "sagemaker:DescribeTrainingJob",
                    "sagemaker:DescribeProcessingJob",
                    "sagemaker:StopTrainingJob",
                    "sagemaker:StopProcessingJob",
                    "sagemaker:AddTags",
                ],
                resources=jobs,
            )
        )
        role.add_to_policy(
            iam.PolicyStatement(
                sid="PassItselfToTeamJobs",
                actions=["iam:PassRole"],
                resources=[role.role_arn],
                conditions={"StringEquals": {"iam:PassedToService": "sagemaker.amazonaws.com"}},
            )
        )
        for arn in jobs:
            acknowledge_wildcard_resource(
                role,
                arn,
                f"Jobs are named at run time; the wildcard is the team's '{team.name}-' name prefix, and the "
                "boundary limits their instance types.",
            )

    def _boundary_statements(
        self, team: TeamConfig, stack: Stack, bucket: s3.IBucket, objects_arn: str, *, role_arn_prefix: str
    ) -> list[iam.PolicyStatement]:
        instance_types = sorted({*team.allowed_instance_types, STUDIO_SYSTEM_INSTANCE_TYPE})
        account_sagemaker = format_arn(stack, service="sagemaker", resource="*")
        offline_prefix = self.features.offline_prefix
        return [
            iam.PolicyStatement(sid="TeamObjects", actions=_OBJECT_READ + _OBJECT_WRITE, resources=[objects_arn]),
            iam.PolicyStatement(
                sid="ListTeamPrefix",
                actions=["s3:ListBucket"],
                resources=[bucket.bucket_arn],
                conditions={"StringLike": {"s3:prefix": [f"{self.prefix}*", f"{offline_prefix}*"]}},
            ),
            # The team's feature groups' offline store: Feature Store writes it as the team's offline-store role
            # (PutObject, PutObjectAcl, GetBucketAcl, the Glue table it creates); the team roles read it.
            iam.PolicyStatement(
                sid="TeamOfflineStore",
                actions=[*_OBJECT_READ, "s3:PutObject", "s3:PutObjectAcl"],
                resources=[bucket.arn_for_objects(f"{offline_prefix}*")],
            ),
            iam.PolicyStatement(
                sid="OfflineStoreBucketAcl", actions=["s3:GetBucketAcl"], resources=[bucket.bucket_arn]
            ),
            iam.PolicyStatement(
                sid="OfflineStoreTable",
                actions=["glue:GetTable", "glue:UpdateTable"],
                resources=[
                    format_arn(stack, service="glue", resource="catalog"),
                    format_arn(stack, service="glue", resource="database", resource_name=FEATURE_STORE_GLUE_DATABASE),
                    # Feature Store names the table <group name with _>_<creation time> (lower case).
                    *(
                        format_arn(
                            stack,
                            service="glue",
                            resource="table",
                            resource_name=f"{FEATURE_STORE_GLUE_DATABASE}/{name.replace('-', '_').lower()}_*",
                        )
                        for name in self.features.names.values()
                    ),
                ],
            ),
            # Step scripts of the team's pipelines are CDK assets in the bootstrap bucket.
            iam.PolicyStatement(
                sid="ReadDeploymentAssets",
                actions=["s3:GetObject"],
                resources=[f"arn:{stack.partition}:s3:::cdk-*-assets-{stack.account}-{stack.region}/*"],
            ),
            iam.PolicyStatement(
                sid="TeamKey",
                actions=["kms:Decrypt", "kms:GenerateDataKey", "kms:DescribeKey", "kms:CreateGrant"],
                resources=[self.key.key_arn],
            ),
            iam.PolicyStatement(sid="TeamTable", actions=_TABLE_READ + _TABLE_WRITE, resources=[self.table.table_arn]),
            iam.PolicyStatement(sid="SageMakerInThisAccount", actions=["sagemaker:*"], resources=[account_sagemaker]),
            iam.PolicyStatement(
                sid="OnlyAllowedInstanceTypes",
                effect=iam.Effect.DENY,
                actions=list(COMPUTE_ACTIONS),
                resources=["*"],
                conditions={"ForAnyValue:StringNotLike": {"sagemaker:InstanceTypes": instance_types}},
            ),
            iam.PolicyStatement(
                sid="PassOnlyTeamRolesToSageMaker",
                actions=["iam:PassRole"],
                resources=[role_arn_prefix],
                conditions={"StringEquals": {"iam:PassedToService": "sagemaker.amazonaws.com"}},
            ),
            # The team's endpoint: its promotion function scales provisioned endpoints and reads its rollback alarms.
            iam.PolicyStatement(
                sid="EndpointOperations",
                actions=[
                    "application-autoscaling:RegisterScalableTarget",
                    "application-autoscaling:DeregisterScalableTarget",
                    "application-autoscaling:PutScalingPolicy",
                    "application-autoscaling:DescribeScalableTargets",
                    "application-autoscaling:DescribeScalingPolicies",
                    "cloudwatch:DescribeAlarms",
                    "xray:PutTraceSegments",
                    "xray:PutTelemetryRecords",
                ],
                resources=["*"],
            ),
            iam.PolicyStatement(
                sid="AutoscalingServiceLinkedRole",
                actions=["iam:CreateServiceLinkedRole"],
                resources=["*"],
                conditions={"StringEquals": {"iam:AWSServiceName": "sagemaker.application-autoscaling.amazonaws.com"}},
            ),
            iam.PolicyStatement(
                sid="JobBasics",
                actions=[
                    "ecr:GetAuthorizationToken",
                    "ecr:BatchGetImage",
                    "ecr:GetDownloadUrlForLayer",
                    "ecr:BatchCheckLayerAvailability",
                    "cloudwatch:PutMetricData",
                    "logs:CreateLogGroup",
                    "logs:CreateLogStream",
                    "logs:PutLogEvents",
                    "logs:DescribeLogStreams",
                ],
                resources=["*"],
            ),
        ]


# Why each wildcard of a team's boundary is acceptable, by statement ID.
_BOUNDARY_REASONS = {
    "TeamObjects": "object keys under the team's prefix are data written at run time; bucket and prefix are fixed",
    "TeamOfflineStore": "Feature Store names the offline-store objects (account, region, group, date partitions) "
    "under the team's fixed feature-store prefix",
    "OfflineStoreTable": "Feature Store generates the offline store's Glue table name (group name and creation "
    "time); the wildcard follows the team's group name prefix in the sagemaker_featurestore database",
    "ReadDeploymentAssets": "the team pipelines' step scripts are CDK assets named by content hash in this "
    "account's bootstrap bucket",
    "SageMakerInThisAccount": "a boundary is a ceiling, not a grant: SageMaker is bounded to this account and "
    "region and to the team's instance types (the Deny statement); the roles' own policies grant exact actions",
    "OnlyAllowedInstanceTypes": "a Deny: it refuses every instance type outside the team's list, for any resource",
    "PassOnlyTeamRolesToSageMaker": "only the team's own fixed-name roles, and only to SageMaker",
    "EndpointOperations": "Application Auto Scaling, alarm reads and X-Ray have no resource-level permissions; "
    "the identity policies name the exact actions",
    "AutoscalingServiceLinkedRole": "only the SageMaker autoscaling service-linked role, by condition",
    "JobBasics": "SageMaker jobs pull AWS-owned images, write their own log groups and metrics; the identity "
    "policies scope these per job role",
}


@jsii.implements(IValidation)
class _AcknowledgeBoundary:
    """Acknowledge each IAM5 finding of a team boundary, one finding at a time, with its statement's reason."""

    def __init__(self, boundary: iam.ManagedPolicy, team_name: str) -> None:
        self._boundary, self._team = boundary, team_name

    def validate(self) -> list[str]:
        cfn = self._boundary.node.default_child
        assert isinstance(cfn, iam.CfnManagedPolicy)
        document = Stack.of(cfn).resolve(cfn.policy_document)
        findings = []
        for statement in document["Statement"]:
            actions = statement.get("Action", [])
            resources = statement.get("Resource", [])
            wildcards = [f"Action::{a}" for a in ([actions] if isinstance(actions, str) else actions) if "*" in a]
            wildcards += [
                f"Resource::{rendered}"
                for rendered in map(nag_rendering, resources if isinstance(resources, list) else [resources])
                if "*" in rendered
            ]
            if not wildcards:
                continue
            sid = statement.get("Sid", "")
            if sid not in _BOUNDARY_REASONS:
                raise ValueError(f"team {self._team}'s boundary statement {sid!r} has a wildcard but no reason")
            reason = f"Team {self._team}'s permission boundary: {_BOUNDARY_REASONS[sid]}"
            findings += [Finding(IAM_WILDCARD_RULE, reason, finding) for finding in wildcards]
        acknowledge_all(cfn, findings)  # one call into the CDK for all of them
        return []
