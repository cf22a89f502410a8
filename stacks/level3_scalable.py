"""Level 3 (scalable): many teams side by side, bounded, self-served from one config entry each."""

from __future__ import annotations

from typing import Any

from aws_cdk import CfnOutput, Duration, RemovalPolicy, Stack
from aws_cdk import aws_ec2 as ec2
from aws_cdk import aws_iam as iam
from aws_cdk import aws_s3 as s3
from constructs import Construct

from pipelines.glue.churn_features import CUSTOMER_FEATURES
from stacks.components import lifecycle
from stacks.components.access import acknowledge_wildcard_resource
from stacks.components.alerts import Alerts
from stacks.components.buckets import secure_bucket
from stacks.components.github_deploy import GitHubDeployRole
from stacks.components.model_endpoint import ModelEndpoint
from stacks.components.model_registry import ModelRegistry
from stacks.components.observability import Monitoring
from stacks.components.pipeline_target import StartPipelineExecution
from stacks.components.team import Team, team_role_name
from stacks.components.team_document_db import TeamDocumentDb
from stacks.components.training_pipeline import TrainingPipeline, execution_failed_alarm
from stacks.config import USE_CASE, EnvironmentConfig, pascal
from stacks.partition import format_arn
from stacks.role_names import github_deploy_role_name

TEAM_PIPELINE_PREFIX = "training-pipeline"  # under the team's prefix: the team pipeline's artifacts
TEAM_CAPTURE_PREFIX = "data-capture"  # under the team's prefix: the team endpoint's captured requests


class Level3ScalableStack(Stack):
    """Teams as data: one bounded footprint per ``teams`` entry, plus CI for other systems.

    Receives Level 0's Studio domain (team user profiles), VPC and security group (opt-in DocumentDB),
    access-log bucket and alarm topic. Owns the shared team-data bucket, in which each team has a
    prefix that only its key may encrypt (see :class:`Team`). A team with ``pipelines`` gets its own
    copy of the Level 1 training pipeline and Model Registry group and of Level 2's approval-driven
    endpoint (promotion, rollback alarms, data capture, drift → the team's pipeline), reading and
    writing only its prefix, running under its boundary.
    Where ``delivery.githubActions`` is on, a GitHub OIDC provider and a deploy role let the
    workflow in ``.github/workflows/`` deploy the delivery targets instead of (or beside) CodePipeline.

    `deploy_targets` are (environment, account, region) of the environments GitHub Actions deploys;
    `deploy_step_roles` the ARNs of the fixed-name roles its test and prompt steps assume there.

    Per environment: the teams, removal policy, training settings and the GitHub deploy role.
    """

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        config: EnvironmentConfig,
        alerts: Alerts,
        access_log_bucket: s3.IBucket,
        studio_domain_id: str,
        studio_vpc: ec2.IVpc,
        studio_security_group: ec2.ISecurityGroup,
        code_version: str,
        deploy_targets: list[tuple[str, str, str]],
        deploy_step_roles: list[str],
        **kwargs: Any,
    ) -> None:
        super().__init__(scope, construct_id, **kwargs)
        removal_policy = lifecycle.removal_policy(config)
        # Default encryption SSE-S3: each team's prefix requires its own team key (bucket policy, see Team).
        self.bucket = secure_bucket(
            self,
            "TeamDataBucket",
            encryption_key=None,
            access_logs=access_log_bucket,
            access_log_prefix="TeamDataBucket/",
            lifecycle_rules=[
                s3.LifecycleRule(
                    noncurrent_version_expiration=Duration.days(config.data_lake.noncurrent_version_expiration_days),
                    abort_incomplete_multipart_upload_after=Duration.days(7),
                )
            ],
            removal_policy=removal_policy,
            auto_delete_objects=config.auto_delete_objects,
        )

        self.teams: dict[str, Team] = {}
        self.team_pipelines: dict[str, TrainingPipeline] = {}
        self.team_endpoints: dict[str, ModelEndpoint] = {}
        outputs: dict[str, tuple[str, str]] = {"TeamDataBucketName": (self.bucket.bucket_name, "Teams' data")}
        for team_config in config.teams:
            team = Team(
                self,
                f"Team-{team_config.name}",
                team=team_config,
                env_name=config.name,
                resource_prefix=config.resource_prefix,
                bucket=self.bucket,
                studio_domain_id=studio_domain_id,
                online_store=config.feature_store.online_store,
                removal_policy=removal_policy,
            )
            self.teams[team_config.name] = team
            out = pascal(team_config.name)
            outputs[f"Team{out}DataScientistRoleArn"] = (team.data_scientist_role.role_arn, "Assume to work")
            outputs[f"Team{out}MlEngineerRoleArn"] = (team.ml_engineer_role.role_arn, "Assume to operate")
            outputs[f"Team{out}FeatureTableName"] = (team.table.table_name, "Feature source (DynamoDB)")
            outputs[f"Team{out}KeyArn"] = (team.key.key_arn, "Use as SSE-KMS key for the team's prefix")
            outputs[f"Team{out}FeaturesGroupName"] = (
                team.features.names[CUSTOMER_FEATURES.suffix],
                "The team's churn feature group (offline and online store)",
            )
            if team_config.pipelines:
                pipeline = self._team_pipeline(config, team, alerts, code_version, removal_policy)
                outputs[f"Team{out}PipelineName"] = (pipeline.pipeline_name, "The team's training pipeline")
                if team_config.name in self.team_endpoints:
                    endpoint = self.team_endpoints[team_config.name]
                    outputs[f"Team{out}EndpointName"] = (endpoint.endpoint_name, "Created when a version is approved")
                    outputs[f"Team{out}PromotionFunctionName"] = (
                        endpoint.promotion.function.function_name,
                        "The team's model promotion",
                    )
            if team_config.document_db:
                docdb = TeamDocumentDb(
                    team,
                    "DocumentDb",
                    team_name=team_config.name,
                    env_name=config.name,
                    resource_prefix=config.resource_prefix,
                    key=team.key,
                    vpc=studio_vpc,
                    clients=studio_security_group,
                    log_retention=lifecycle.log_retention(config),
                    removal_policy=removal_policy,
                    deletion_protection=config.is_production,
                )
                docdb.grant_connect(team.data_scientist_role, boundary=team.boundary)
                outputs[f"Team{out}DocumentDbSecretArn"] = (docdb.secret_arn, "DocumentDB credentials")

        if config.delivery.github_actions:
            self.github = GitHubDeployRole(
                self,
                "GitHubDeploy",
                role_name=github_deploy_role_name(config.name_prefix),
                bootstrap_qualifier=config.bootstrap_qualifier,
                repository=config.delivery.repository,
                branch=config.delivery.branch,
                environments=[name for name, _, _ in deploy_targets],
                targets=sorted({(account, region) for _, account, region in deploy_targets}),
                step_roles=deploy_step_roles,
                provider_arn=config.delivery.github_oidc_provider_arn,
            )
            outputs["GitHubDeployRoleArn"] = (self.github.role.role_arn, "role-to-assume in the workflow")

        Monitoring(self, "Monitoring", alerts=alerts).watch_stack()

        for output_id, (value, description) in outputs.items():
            CfnOutput(self, output_id, value=value, description=description)

    def _team_pipeline(
        self,
        config: EnvironmentConfig,
        team: Team,
        alerts: Alerts,
        code_version: str,
        removal_policy: RemovalPolicy,
    ) -> TrainingPipeline:
        """The team's own copy of the Level 1 pipeline and registry group, inside its boundary."""
        name = config.use_case_name(team.name)
        registry = ModelRegistry(
            team,
            "ModelRegistry",
            group_name=name,
            description=f"Team {team.name}'s {USE_CASE} models",
            reader_accounts=config.training.registry_reader_accounts,
            removal_policy=removal_policy,
        )
        pipeline = TrainingPipeline(
            team,
            "Training",
            pipeline_name=f"{name}-training",
            key=team.key,
            feature_store=team.features,
            artifacts_bucket=self.bucket,
            artifacts_prefix=f"{team.prefix}{TEAM_PIPELINE_PREFIX}",
            model_package_group_name=registry.group_name,
            model_package_group_arn=registry.group_arn,
            settings=config.training,
            code_version=code_version,
            removal_policy=removal_policy,
            role_name=team_role_name(config.resource_prefix, team.name, "pipeline"),
        )
        pipeline.pipeline.node.add_dependency(registry.group)
        registry.grant_artifact_readers(bucket=self.bucket, key=team.key, prefix=pipeline.artifacts_prefix)
        self.team_pipelines[team.name] = pipeline
        if config.max_level >= 2:
            # The team's copy of Level 2: approving a version deploys it to the team's endpoint; drift
            # retrains through the team's pipeline, and the new version waits for approval again.
            self.team_endpoints[team.name] = ModelEndpoint(
                team,
                "Endpoint",
                endpoint_name=name,
                settings=config.endpoint,
                key=team.key,
                artifacts_bucket=self.bucket,
                artifacts_prefix=f"{team.prefix}{TEAM_PIPELINE_PREFIX}",
                capture_prefix=f"{team.prefix}{TEAM_CAPTURE_PREFIX}",
                model_role_name=team_role_name(config.resource_prefix, team.name, "model"),
                model_package_group_name=registry.group_name,
                retraining=StartPipelineExecution(
                    team,
                    "RetrainOnDriftRole",
                    pipeline_arn=pipeline.pipeline_arn,
                    role_name=team_role_name(config.resource_prefix, team.name, "retraining"),
                ),
                alerts=alerts,
                test_data_uri=None,
                log_retention=lifecycle.log_retention(config),
                removal_policy=removal_policy,
                dashboard=False,
                clarify=config.training.clarify,
            )
        # ML engineers run the pipeline and decide on the versions it registers.
        team.ml_engineer_role.add_to_policy(
            iam.PolicyStatement(
                sid="RunTeamPipeline",
                actions=[
                    "sagemaker:StartPipelineExecution",
                    "sagemaker:StopPipelineExecution",
                    "sagemaker:DescribePipelineExecution",
                    "sagemaker:ListPipelineExecutions",
                    "sagemaker:ListPipelineExecutionSteps",
                ],
                resources=[pipeline.pipeline_arn, f"{pipeline.pipeline_arn}/execution/*"],
            )
        )
        packages_arn = format_arn(self, service="sagemaker", resource="model-package", resource_name=f"{name}/*")
        team.ml_engineer_role.add_to_policy(
            iam.PolicyStatement(
                sid="ReviewTeamModels",
                actions=[
                    "sagemaker:ListModelPackages",
                    "sagemaker:DescribeModelPackage",
                    "sagemaker:DescribeModelPackageGroup",
                    "sagemaker:UpdateModelPackage",
                ],
                resources=[registry.group_arn, packages_arn],
            )
        )
        for arn, reason in (
            (f"{pipeline.pipeline_arn}/execution/*", "Executions get IDs at run time; scoped to the team's pipeline."),
            (packages_arn, "Model versions are numbered at registration; scoped to the team's registry group."),
        ):
            acknowledge_wildcard_resource(team.ml_engineer_role, arn, reason)
        alerts.alarm(
            execution_failed_alarm(
                team,
                "PipelineExecutionFailed",
                pipeline_name=pipeline.pipeline_name,
                description=f"An execution of team {team.name}'s pipeline {pipeline.pipeline_name} failed",
            )
        )
        return pipeline
