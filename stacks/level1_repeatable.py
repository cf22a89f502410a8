"""Level 1 (repeatable): a training pipeline defined at synth time, a Model Registry, retraining triggers."""

from __future__ import annotations

from typing import Any

from aws_cdk import CfnOutput, Duration, Stack
from aws_cdk import aws_cloudwatch as cloudwatch
from aws_cdk import aws_kms as kms
from aws_cdk import aws_s3 as s3
from constructs import Construct

from pipelines.glue.layout import RAW_DATASET_PREFIX
from pipelines.training.definition import DEFAULT_ARTIFACTS_PREFIX
from stacks.components import lifecycle
from stacks.components.alerts import Alerts
from stacks.components.experiment_tracking import ExperimentRunLogger
from stacks.components.feature_store import FeatureStore
from stacks.components.model_registry import ModelRegistry
from stacks.components.observability import Monitoring
from stacks.components.retraining import RetrainingTriggers
from stacks.components.training_pipeline import TrainingPipeline, execution_failed_alarm
from stacks.config import USE_CASE, EnvironmentConfig


class Level1RepeatableStack(Stack):
    """The churn training pipeline, its model package group, what starts it and what watches it.

    Receives Level 0's key, buckets, feature store and ETL job as arguments. The pipeline trains on a
    point-in-time training set from the feature groups' offline store (what the ETL job wrote) and
    registers models that clear the AUC threshold as PendingManualApproval; failures of pipeline
    executions or of the retraining state machine raise alarms on a KMS-encrypted topic.

    Per environment: pipeline parameter defaults, retraining schedule, registry reader accounts,
    alarm email, log retention and removal policy.
    """

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        config: EnvironmentConfig,
        key: kms.IKey,
        alerts: Alerts,
        raw_bucket: s3.IBucket,
        artifacts_bucket: s3.IBucket,
        feature_store: FeatureStore,
        etl_job_name: str,
        code_version: str,
        mlflow_app_arn: str | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(scope, construct_id, **kwargs)
        removal_policy = lifecycle.removal_policy(config)
        name_prefix = config.resource_prefix

        self.alerts = alerts
        self.registry = ModelRegistry(
            self,
            "ModelRegistry",
            group_name=f"{name_prefix}-{USE_CASE}",
            description="Churn prediction models trained by the Level 1 pipeline",
            reader_accounts=config.training.registry_reader_accounts,
            removal_policy=removal_policy,
        )
        # With an MLflow app (Level 0, mlflow.enabled): one run per execution, linked from the model package.
        self.experiment_runs: ExperimentRunLogger | None = None
        if mlflow_app_arn is not None:
            self.experiment_runs = ExperimentRunLogger(
                self,
                "ExperimentRuns",
                app_arn=mlflow_app_arn,
                key=key,
                artifacts_bucket=artifacts_bucket,
                artifacts_prefix=DEFAULT_ARTIFACTS_PREFIX,
                # The dataset version it logs is a digest of the objects under the pipeline's InputDataUri.
                input_bucket=feature_store.offline_bucket,
                input_prefix=feature_store.offline_prefix,
                log_retention=lifecycle.log_retention(config),
                removal_policy=removal_policy,
            )
        self.training = TrainingPipeline(
            self,
            "Training",
            pipeline_name=f"{name_prefix}-{USE_CASE}-training",
            key=key,
            feature_store=feature_store,
            artifacts_bucket=artifacts_bucket,
            model_package_group_name=self.registry.group_name,
            model_package_group_arn=self.registry.group_arn,
            settings=config.training,
            code_version=code_version,
            removal_policy=removal_policy,
            tracking=None if self.experiment_runs is None else self.experiment_runs.tracking,
        )
        self.training.pipeline.node.add_dependency(self.registry.group)
        self.registry.grant_artifact_readers(bucket=artifacts_bucket, key=key, prefix=self.training.artifacts_prefix)
        self.retraining = RetrainingTriggers(
            self,
            "Retraining",
            etl_job_name=etl_job_name,
            pipeline_name=self.training.pipeline_name,
            pipeline_arn=self.training.pipeline_arn,
            raw_bucket=raw_bucket,
            raw_prefix=RAW_DATASET_PREFIX,
            schedule=config.training.schedule,
            key=key,
            log_retention=lifecycle.log_retention(config),
            removal_policy=removal_policy,
        )

        self.alerts.alarm(
            execution_failed_alarm(
                self,
                "PipelineExecutionFailed",
                pipeline_name=self.training.pipeline_name,
                description=f"An execution of {self.training.pipeline_name} failed (or its model was below the AUC "
                "threshold)",
            )
        )
        retraining_failed = self.alerts.alarm(
            cloudwatch.Alarm(
                self,
                "RetrainingFailed",
                alarm_description="The retraining state machine failed (ETL job or pipeline start)",
                metric=self.retraining.state_machine.metric_failed(period=Duration.minutes(5), statistic="Sum"),
                threshold=1,
                evaluation_periods=1,
                comparison_operator=cloudwatch.ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
                treat_missing_data=cloudwatch.TreatMissingData.NOT_BREACHING,
            )
        )
        monitoring = Monitoring(self, "Monitoring", alerts=self.alerts)
        monitoring.known_alarm(self.retraining.state_machine, "failed", retraining_failed)
        monitoring.watch_stack()

        for output_id, value, description in (
            ("PipelineName", self.training.pipeline_name, "SageMaker training pipeline"),
            ("ModelPackageGroupName", self.registry.group_name, "Model Registry group of the churn models"),
            ("RetrainingStateMachineArn", self.retraining.state_machine.state_machine_arn, "ETL + retraining"),
        ):
            CfnOutput(self, output_id, value=value, description=description)
