"""The churn training pipeline as infrastructure: its definition is built at synth time and deployed by CDK."""

from __future__ import annotations

from pathlib import Path

from aws_cdk import Duration, RemovalPolicy, Stack
from aws_cdk import aws_cloudwatch as cloudwatch
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from aws_cdk import aws_s3 as s3
from aws_cdk import aws_s3_assets as s3_assets
from aws_cdk import aws_sagemaker as sagemaker
from constructs import Construct

from pipelines.glue.churn_features import CHURN_LABELS, CUSTOMER_FEATURES
from pipelines.training import images
from pipelines.training.definition import (
    DEFAULT_ARTIFACTS_PREFIX,
    OfflineStoreInput,
    StepScript,
    build_training_pipeline_definition,
)
from pipelines.training.tracking_step import ExperimentTracking
from stacks.components.access import acknowledge_wildcard_resource, grant_objects, grant_sagemaker_job_basics
from stacks.components.clarify_checks import clarify_checks
from stacks.components.feature_store import FeatureStore
from stacks.config import TrainingConfig
from stacks.partition import format_arn, url_suffix

STEPS_DIR = Path(__file__).resolve().parents[2] / "pipelines" / "training" / "steps"


class TrainingPipeline(Construct):
    """A SageMaker Pipeline (preprocess → train → evaluate → condition → register / fail) and its role.

    The definition JSON comes from `pipelines/training/definition.py`, so a change to the pipeline is
    a change to this stack's template: reviewed in `cdk diff` and covered by the snapshot tests. The
    step scripts are uploaded as assets; container images are resolved per region at synth time.
    The Preprocess step builds the training set from ``feature_store``'s offline store (point-in-time); the
    role can run this pipeline's jobs, read that offline store and its scripts, write under its artifacts
    prefix, and add versions to its model package group; nothing else.

    Per environment: the parameters' defaults (instance types, AUC threshold), the region's images.
    """

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        pipeline_name: str,
        key: kms.IKey,
        feature_store: FeatureStore,
        artifacts_bucket: s3.IBucket,
        model_package_group_name: str,
        model_package_group_arn: str,
        settings: TrainingConfig,
        code_version: str,
        removal_policy: RemovalPolicy,
        artifacts_prefix: str = DEFAULT_ARTIFACTS_PREFIX,
        role_name: str | None = None,
        tracking: ExperimentTracking | None = None,
    ) -> None:
        super().__init__(scope, construct_id)
        stack = Stack.of(self)
        self.pipeline_name = pipeline_name
        self.artifacts_prefix = artifacts_prefix  # where its runs write models, metrics and baselines

        self.role = iam.Role(
            self,
            "Role",
            role_name=role_name,
            assumed_by=iam.ServicePrincipal("sagemaker.amazonaws.com"),
            description=f"Runs the {pipeline_name} pipeline and its processing and training jobs",
        )
        scripts = {
            name: s3_assets.Asset(self, f"{name.capitalize()}Script", path=str(STEPS_DIR / f"{name}.py"))
            for name in ("preprocess", "evaluate")
        }
        self.role.add_to_policy(
            iam.PolicyStatement(
                actions=["s3:GetObject"],
                resources=[a.bucket.arn_for_objects(a.s3_object_key) for a in scripts.values()],
            )
        )
        feature_store.grant_offline_read(
            self.role, purpose="The Preprocess step reads its training set from the feature groups' offline store"
        )
        grant_objects(
            self.role,
            artifacts_bucket,
            key,
            prefix=f"{artifacts_prefix}/",
            write=True,
            purpose="Pipeline jobs write splits, models and evaluation reports under one execution prefix",
        )
        # Jobs encrypt their volumes with the key, for which SageMaker creates grants.
        key.grant(self.role, "kms:CreateGrant", "kms:DescribeKey")

        def jobs(kind: str) -> str:
            # Pipelines name their jobs "pipelines-<execution id>-<step>-<suffix>".
            return format_arn(stack, service="sagemaker", resource=kind, resource_name="pipelines-*")

        job_arns = [jobs("processing-job"), jobs("training-job")]
        self.role.add_to_policy(
            iam.PolicyStatement(
                sid="RunPipelineJobs",
                actions=[
                    "sagemaker:CreateProcessingJob",
                    "sagemaker:DescribeProcessingJob",
                    "sagemaker:StopProcessingJob",
                    "sagemaker:CreateTrainingJob",
                    "sagemaker:DescribeTrainingJob",
                    "sagemaker:StopTrainingJob",
                    "sagemaker:AddTags",
                ],
                resources=job_arns,
            )
        )
        packages_arn = format_arn(
            stack, service="sagemaker", resource="model-package", resource_name=f"{model_package_group_name}/*"
        )
        self.role.add_to_policy(
            iam.PolicyStatement(
                sid="RegisterModelVersions",
                actions=["sagemaker:CreateModelPackage", "sagemaker:DescribeModelPackage", "sagemaker:AddTags"],
                resources=[model_package_group_arn, packages_arn],
            )
        )
        self.role.add_to_policy(
            iam.PolicyStatement(
                sid="PassItselfToPipelineJobs",
                actions=["iam:PassRole"],
                resources=[self.role.role_arn],
                conditions={"StringEquals": {"iam:PassedToService": "sagemaker.amazonaws.com"}},
            )
        )
        image_uris = {
            "sklearn": images.sklearn_image_uri(stack.region, url_suffix=url_suffix(stack)),
            "xgboost": images.xgboost_image_uri(stack.region, url_suffix=url_suffix(stack)),
            # The DataQualityBaseline step runs the Model Monitor analyzer (its own registry account).
            "model_monitor": images.model_monitor_image_uri(stack.region, url_suffix=url_suffix(stack)),
        }
        checks = None
        if settings.clarify.enabled:
            image_uris["clarify"] = images.clarify_image_uri(stack.region, url_suffix=url_suffix(stack))
            checks = clarify_checks(
                self,
                role=self.role,
                settings=settings.clarify,
                instance_type=settings.processing_instance_type,
                model_package_group_arn=model_package_group_arn,
                model_package_group_name=model_package_group_name,
            )
        if tracking is not None:
            # SageMaker Pipelines invokes a Lambda step's function with the pipeline's role.
            self.role.add_to_policy(
                iam.PolicyStatement(
                    sid="InvokeExperimentTracking", actions=["lambda:InvokeFunction"], resources=[tracking.function_arn]
                )
            )
        grant_sagemaker_job_basics(
            self.role, image_uris=list(image_uris.values()), metric_namespaces=["/aws/sagemaker/*", "aws/sagemaker/*"]
        )
        for arn, reason in (
            (job_arns[0], "Processing jobs are named by SageMaker Pipelines per execution; scoped to 'pipelines-*'."),
            (job_arns[1], "Training jobs are named by SageMaker Pipelines per execution; scoped to 'pipelines-*'."),
            (packages_arn, "New model versions get numbered ARNs at registration; scoped to this group only."),
        ):
            acknowledge_wildcard_resource(self.role, arn, reason)

        self.input_data_uri = feature_store.offline_uri
        definition = build_training_pipeline_definition(
            role_arn=self.role.role_arn,
            training_data=OfflineStoreInput(
                uri=self.input_data_uri,
                features_group=feature_store.names[CUSTOMER_FEATURES.suffix],
                labels_group=feature_store.names[CHURN_LABELS.suffix],
                account=stack.account,
                region=stack.region,
            ),
            artifacts_bucket_name=artifacts_bucket.bucket_name,
            kms_key_arn=key.key_arn,
            preprocess_script=StepScript(
                s3_uri=scripts["preprocess"].s3_object_url,
                file_name=scripts["preprocess"].s3_object_key.rsplit("/", 1)[-1],
            ),
            evaluate_script=StepScript(
                s3_uri=scripts["evaluate"].s3_object_url, file_name=scripts["evaluate"].s3_object_key.rsplit("/", 1)[-1]
            ),
            model_package_group_name=model_package_group_name,
            sklearn_image_uri=image_uris["sklearn"],
            xgboost_image_uri=image_uris["xgboost"],
            model_monitor_image_uri=image_uris["model_monitor"],
            code_version=code_version,
            artifacts_prefix=artifacts_prefix,
            processing_instance_type=settings.processing_instance_type,
            training_instance_type=settings.training_instance_type,
            auc_threshold=settings.auc_threshold,
            clarify=checks,
            tracking=tracking,
        )
        self.pipeline = sagemaker.CfnPipeline(
            self,
            "Pipeline",
            pipeline_name=pipeline_name,
            pipeline_display_name=pipeline_name,
            pipeline_description="Churn model: preprocess, train (XGBoost), evaluate, register if AUC clears the bar",
            role_arn=self.role.role_arn,
            pipeline_definition={"PipelineDefinitionBody": stack.to_json_string(definition)},
        )
        # The pipeline runs jobs as the role: its policy must exist before the pipeline can run.
        policy = self.role.node.find_child("DefaultPolicy").node.default_child
        assert isinstance(policy, iam.CfnPolicy)
        self.pipeline.node.add_dependency(policy)
        self.pipeline.apply_removal_policy(removal_policy)
        self.pipeline_arn = format_arn(stack, service="sagemaker", resource="pipeline", resource_name=pipeline_name)


def execution_failed_alarm(
    scope: Construct, construct_id: str, *, pipeline_name: str, description: str
) -> cloudwatch.Alarm:
    """An alarm on failed executions of `pipeline_name` (one failure in five minutes is enough)."""
    return cloudwatch.Alarm(
        scope,
        construct_id,
        alarm_description=description,
        metric=cloudwatch.Metric(
            namespace="AWS/Sagemaker/ModelBuildingPipeline",
            metric_name="ExecutionFailed",
            dimensions_map={"PipelineName": pipeline_name},
            statistic="Sum",
            period=Duration.minutes(5),
        ),
        threshold=1,
        evaluation_periods=1,
        comparison_operator=cloudwatch.ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
        treat_missing_data=cloudwatch.TreatMissingData.NOT_BREACHING,
    )


def _step_script(asset: s3_assets.Asset) -> StepScript:
    # SageMaker saves the object under the last segment of its key, and the step runs that file.
    return StepScript(s3_uri=asset.s3_object_url, file_name=asset.s3_object_key.rsplit("/", 1)[-1])
