"""The scheduled training-serving skew check of the churn feature group, with its alarm."""

from __future__ import annotations

from aws_cdk import Duration, RemovalPolicy, Stack
from aws_cdk import aws_cloudwatch as cloudwatch
from aws_cdk import aws_events as events
from aws_cdk import aws_events_targets as targets
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from aws_cdk import aws_logs as logs
from aws_cdk import aws_s3 as s3
from constructs import Construct

from pipelines.glue.churn_features import CUSTOMER_FEATURES, MODEL_FEATURES
from stacks.components.access import acknowledge_wildcard_resource, grant_objects
from stacks.components.alerts import Alerts
from stacks.components.athena_workgroup import ATHENA_RESULTS_PREFIX
from stacks.components.feature_store import FEATURE_STORE_GLUE_DATABASE, FeatureStore
from stacks.components.python_function import PythonFunction
from stacks.config import FeatureStoreConfig
from stacks.partition import format_arn

SKEW_NAMESPACE = "Mlops/FeatureStore"
SKEW_METRIC = "FeatureSkewPercent"


class FeatureSkewCheck(Construct):
    """A Lambda (``lambdas/feature_skew``) on an EventBridge schedule that compares a sample of the features
    group's online records with the offline store's latest rows for the same records (an Athena query of the
    offline store's Glue table in the given workgroup), publishes ``FeatureSkewPercent`` per feature group, and
    an alarm on it that notifies the environment's alarm topic.

    Per environment: schedule, sample size, the features compared and the alarm threshold (``featureStore``).
    """

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        features: FeatureStore,
        settings: FeatureStoreConfig,
        workgroup_name: str,
        workgroup_arn: str,
        results_bucket: s3.IBucket,
        offline_bucket: s3.IBucket,
        key: kms.IKey,
        alerts: Alerts,
        log_retention: logs.RetentionDays,
        removal_policy: RemovalPolicy,
    ) -> None:
        super().__init__(scope, construct_id)
        stack = Stack.of(self)
        group_name = features.names[CUSTOMER_FEATURES.suffix]
        compared = settings.skew_features or MODEL_FEATURES
        self.function = PythonFunction(
            self,
            "Function",
            name="feature_skew",
            description="Training-serving skew: online feature records vs the offline store's rows for them",
            environment={
                "FEATURES_GROUP": group_name,
                "FEATURES": ",".join(compared),
                "SAMPLE_SIZE": str(settings.skew_sample_size),
                "WORKGROUP": workgroup_name,
                "POWERTOOLS_SERVICE_NAME": "feature-skew",
                "POWERTOOLS_METRICS_NAMESPACE": SKEW_NAMESPACE,
            },
            key=key,
            log_retention=log_retention,
            removal_policy=removal_policy,
            timeout=Duration.minutes(2),
            memory_size=256,
        )
        role = self.function.role
        features.grant_get(role, CUSTOMER_FEATURES)
        role.add_to_policy(
            iam.PolicyStatement(
                sid="QueryOfflineStore",
                actions=["athena:StartQueryExecution", "athena:GetQueryExecution", "athena:GetQueryResults"],
                resources=[workgroup_arn],
            )
        )
        glue_table_arn = format_arn(
            stack, service="glue", resource="table", resource_name=f"{FEATURE_STORE_GLUE_DATABASE}/*"
        )
        role.add_to_policy(
            iam.PolicyStatement(
                sid="ReadOfflineStoreTable",
                actions=["glue:GetDatabase", "glue:GetTable", "glue:GetPartitions"],
                resources=[
                    format_arn(stack, service="glue", resource="catalog"),
                    format_arn(stack, service="glue", resource="database", resource_name=FEATURE_STORE_GLUE_DATABASE),
                    glue_table_arn,
                ],
            )
        )
        acknowledge_wildcard_resource(
            role,
            glue_table_arn,
            "Feature Store names the offline store's Glue table itself (group name and creation time); reading is "
            "limited to its sagemaker_featurestore database.",
        )
        # Athena reads the offline store's Parquet and writes the results as the caller.
        grant_objects(
            role, offline_bucket, key, prefix=features.offline_prefix, purpose="Skew check reads the offline store"
        )
        grant_objects(
            role,
            results_bucket,
            key,
            prefix=ATHENA_RESULTS_PREFIX,
            write=True,
            purpose="Skew check's Athena query writes its results",
        )
        role.add_to_policy(iam.PolicyStatement(actions=["s3:GetBucketLocation"], resources=[results_bucket.bucket_arn]))

        self.schedule = events.Rule(
            self,
            "Schedule",
            description=f"Training-serving skew check of {group_name}",
            schedule=events.Schedule.expression(settings.skew_check_schedule),
            targets=[targets.LambdaFunction(self.function.function, retry_attempts=0)],
        )

        self.alarm = alerts.alarm(
            cloudwatch.Alarm(
                self,
                "SkewAlarm",
                metric=cloudwatch.Metric(
                    namespace=SKEW_NAMESPACE,
                    metric_name=SKEW_METRIC,
                    dimensions_map={"FeatureGroup": group_name},
                    statistic="Maximum",
                    period=Duration.hours(1),
                ),
                threshold=settings.max_skew_percent,
                evaluation_periods=1,
                comparison_operator=cloudwatch.ComparisonOperator.GREATER_THAN_THRESHOLD,
                # No datapoint means nothing was compared (no traffic, offline store catching up): not skew.
                treat_missing_data=cloudwatch.TreatMissingData.NOT_BREACHING,
                alarm_description=(
                    f"{group_name}: more than {settings.max_skew_percent}% of sampled records differ between the "
                    "online store (serving) and the offline store (training)"
                ),
            )
        )
