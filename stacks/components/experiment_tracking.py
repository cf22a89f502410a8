"""The function the training pipeline's LogExperimentRun step invokes (lambdas/experiment_tracking)."""

from __future__ import annotations

from aws_cdk import Duration, RemovalPolicy
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from aws_cdk import aws_logs as logs
from aws_cdk import aws_s3 as s3
from constructs import Construct

from pipelines.training.tracking_step import ExperimentTracking
from stacks.components.access import acknowledge_wildcard_resource
from stacks.components.mlflow_app import CALL_API_ACTION, LOG_RUN_ACTIONS
from stacks.components.python_function import PythonFunction


class ExperimentRunLogger(Construct):
    """Logs each training-pipeline execution as a run in the environment's MLflow app.

    The function may read the pipeline's reports under its artifacts prefix, list (not read) its training
    data prefix to version it, and call the MLflow app's API: nothing else. It runs outside a VPC, so it
    reaches the app's public endpoint (``mlflow.sagemaker.<region>.app.aws``) with SigV4.

    Per environment: log retention and removal policy; exists only where ``mlflow.enabled``.
    """

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        app_arn: str,
        key: kms.IKey,
        artifacts_bucket: s3.IBucket,
        artifacts_prefix: str,
        input_bucket: s3.IBucket,
        input_prefix: str,
        log_retention: logs.RetentionDays,
        removal_policy: RemovalPolicy,
    ) -> None:
        super().__init__(scope, construct_id)
        self.handler = PythonFunction(
            self,
            "Function",
            name="experiment_tracking",
            description="Logs a training-pipeline execution as an MLflow run (LogExperimentRun step)",
            environment={"MLFLOW_APP_ARN": app_arn, "POWERTOOLS_SERVICE_NAME": "experiment-tracking"},
            key=key,
            log_retention=log_retention,
            removal_policy=removal_policy,
            timeout=Duration.minutes(2),
            memory_size=256,
        )
        role = self.handler.role
        reports = artifacts_bucket.arn_for_objects(f"{artifacts_prefix}/*")
        role.add_to_policy(iam.PolicyStatement(actions=["s3:GetObject"], resources=[reports]))
        key.grant(role, "kms:Decrypt")
        role.add_to_policy(
            iam.PolicyStatement(
                actions=["s3:ListBucket"],
                resources=[input_bucket.bucket_arn],
                conditions={"StringLike": {"s3:prefix": [f"{input_prefix}*"]}},
            )
        )
        role.add_to_policy(iam.PolicyStatement(actions=[CALL_API_ACTION, *LOG_RUN_ACTIONS], resources=[app_arn]))
        acknowledge_wildcard_resource(
            role,
            reports,
            "Reads evaluation.json and bias_gate.json of each execution: their keys carry the execution id, "
            "known only at run time; scoped to the training pipeline's artifacts prefix.",
        )
        self.tracking = ExperimentTracking(function_arn=self.handler.function.function_arn, app_arn=app_arn)
