"""Three ways preprod tests the endpoint before prod: batch, real-time (API Gateway) and streaming (Kinesis,
and optionally Amazon MSK)."""

from __future__ import annotations

from aws_cdk import Duration, RemovalPolicy, Stack
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kinesis as kinesis
from aws_cdk import aws_kms as kms
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_lambda_event_sources as sources
from aws_cdk import aws_logs as logs
from aws_cdk import aws_s3 as s3
from constructs import Construct

from pipelines.glue.churn_features import CUSTOMER_FEATURES, MODEL_FEATURES, feature_group_name
from stacks.components.access import acknowledge_cdk_grants, grant_objects
from stacks.components.iam_rest_api import acknowledge_iam_auth, iam_rest_api
from stacks.components.msk_stream import MskStream
from stacks.components.python_function import PythonFunction
from stacks.components.queues import dead_letter_queue
from stacks.feature_store_config import feature_group_prefix
from stacks.partition import format_arn

TEST_DATA_KEY = "test-data/churn/test.csv"  # the held-out split the batch test scores
REPORTS_PREFIX = "test-reports/"
STREAM_OUTPUT_PREFIX = "test-stream-output/"


class TestStrategies(Construct):
    """Batch: a function scores the held-out test set through the endpoint and writes predictions and a
    pass/fail report. Real-time: an IAM-authenticated API forwards requests to the endpoint. Streaming:
    a Kinesis stream whose consumer scores each record (bad records are reported, not retried forever).
    With `msk_streaming`, the same consumer also reads a topic of an MSK Serverless cluster (`MskStream`).

    Only where `testStrategies` is on (preprod): the stream costs money per hour, the MSK cluster more
    (and only where `mskStreaming` is on too, which no environment does by default).
    """

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        endpoint_name: str,
        min_auc: float,
        key: kms.IKey,
        artifacts_bucket: s3.IBucket,
        log_retention: logs.RetentionDays,
        removal_policy: RemovalPolicy,
        msk_streaming: bool,
        name_prefix: str,
        availability_zones: list[str],
    ) -> None:
        super().__init__(scope, construct_id)
        stack = Stack.of(self)
        endpoint_arn = format_arn(stack, service="sagemaker", resource="endpoint", resource_name=endpoint_name)
        invoke = iam.PolicyStatement(
            sid="InvokeTheEndpoint", actions=["sagemaker:InvokeEndpoint"], resources=[endpoint_arn]
        )

        def function(construct_id: str, name: str, description: str, environment: dict[str, str]) -> PythonFunction:
            return PythonFunction(
                self,
                construct_id,
                name=name,
                description=description,
                environment=environment,
                key=key,
                log_retention=log_retention,
                removal_policy=removal_policy,
                timeout=Duration.minutes(5),
            )

        self.batch = function(
            "Batch",
            "test_batch",
            "Batch test: score the held-out set through the endpoint, write a pass/fail report",
            {
                "ENDPOINT_NAME": endpoint_name,
                "TEST_DATA_URI": artifacts_bucket.s3_url_for_object(TEST_DATA_KEY),
                "REPORT_URI": artifacts_bucket.s3_url_for_object(REPORTS_PREFIX),
                "MIN_AUC": str(min_auc),
                "KMS_KEY_ID": key.key_arn,
                "POWERTOOLS_SERVICE_NAME": "test-batch",
                "POWERTOOLS_METRICS_NAMESPACE": "Mlops/Tests",
            },
        )
        self.batch.role.add_to_policy(invoke)
        grant_objects(
            self.batch.role, artifacts_bucket, key, prefix="test-data/", purpose="The batch test reads its test set"
        )
        grant_objects(
            self.batch.role,
            artifacts_bucket,
            key,
            prefix=REPORTS_PREFIX,
            write=True,
            purpose="The batch test writes reports",
        )

        # Level 0's churn features group (its online store is encrypted with the same environment key): requests
        # may name customers, whose features the function reads from the online store.
        features_group = feature_group_name(feature_group_prefix(name_prefix), CUSTOMER_FEATURES)
        self.realtime = function(
            "Realtime",
            "test_realtime",
            "Real-time test API: validate a request, read features online, invoke the endpoint",
            {
                "ENDPOINT_NAME": endpoint_name,
                "FEATURES_GROUP": features_group,
                "FEATURES": ",".join(MODEL_FEATURES),
                "POWERTOOLS_SERVICE_NAME": "test-realtime",
                "POWERTOOLS_METRICS_NAMESPACE": "Mlops/Tests",
            },
        )
        self.realtime.role.add_to_policy(invoke)
        self.realtime.role.add_to_policy(
            iam.PolicyStatement(
                sid="ReadOnlineFeatures",
                actions=["sagemaker:GetRecord", "sagemaker:BatchGetRecord"],
                # SageMaker lower-cases the name in a feature group's ARN.
                resources=[
                    format_arn(
                        stack, service="sagemaker", resource="feature-group", resource_name=features_group.lower()
                    )
                ],
            )
        )
        key.grant(self.realtime.role, "kms:Decrypt")
        self.api, validator = iam_rest_api(
            self,
            "Api",
            handler=self.realtime.function,
            description="Real-time test strategy (IAM-authenticated)",
            proxy=False,
            key=key,
            log_retention=log_retention,
            removal_policy=removal_policy,
            rate_limit=20,
            burst_limit=40,
            waf_reason="Preprod test API for IAM-signed callers of this account only; WAF would add idle cost.",
        )
        predict = self.api.root.add_resource("predict").add_method("POST", request_validator=validator)
        acknowledge_iam_auth(predict)

        self.stream = kinesis.Stream(
            self,
            "Stream",
            stream_mode=kinesis.StreamMode.PROVISIONED,
            shard_count=1,
            # The AWS-managed key: test traffic only, and consumers need no grant on it.
            encryption=kinesis.StreamEncryption.MANAGED,
            retention_period=Duration.hours(24),
            removal_policy=removal_policy,
        )
        self.failed_records = dead_letter_queue(
            self, "FailedRecords", key=key, removal_policy=removal_policy, what_for="the stream consumer"
        )
        self.stream_consumer = function(
            "StreamConsumer",
            "test_stream",
            f"Streaming test: score Kinesis{' and MSK' if msk_streaming else ''} records through the endpoint, "
            "report bad records",
            {
                "ENDPOINT_NAME": endpoint_name,
                "OUTPUT_URI": artifacts_bucket.s3_url_for_object(STREAM_OUTPUT_PREFIX),
                "KMS_KEY_ID": key.key_arn,
                "POWERTOOLS_SERVICE_NAME": "test-stream",
                "POWERTOOLS_METRICS_NAMESPACE": "Mlops/Tests",
            },
        )
        self.stream_consumer.role.add_to_policy(invoke)
        grant_objects(
            self.stream_consumer.role,
            artifacts_bucket,
            key,
            prefix=STREAM_OUTPUT_PREFIX,
            write=True,
            purpose="The stream consumer writes scored records",
        )
        self.stream_consumer.function.add_event_source(
            sources.KinesisEventSource(
                self.stream,
                starting_position=lambda_.StartingPosition.TRIM_HORIZON,
                batch_size=100,
                retry_attempts=2,
                bisect_batch_on_error=True,
                report_batch_item_failures=True,
                on_failure=sources.SqsDlq(self.failed_records),
            )
        )
        acknowledge_cdk_grants(
            self.stream_consumer.role,
            "CDK's SqsDlq wiring sends failed batches to the KMS-encrypted dead-letter queue with its standard "
            "encrypt/decrypt grant on that key.",
        )

        self.msk: MskStream | None = None
        if msk_streaming:
            self.msk = MskStream(
                self,
                "Msk",
                name_prefix=name_prefix,
                consumer=self.stream_consumer.function,
                consumer_role=self.stream_consumer.role,
                failed_records=self.failed_records,
                test_data_bucket=artifacts_bucket,
                test_data_key=TEST_DATA_KEY,
                availability_zones=availability_zones,
                key=key,
                log_retention=log_retention,
                removal_policy=removal_policy,
            )
