"""Level 2 (reliable): approval-driven deployment, monitoring that closes the loop, tests, CI/CD."""

from __future__ import annotations

from typing import Any

from aws_cdk import CfnOutput, Fn, Stack
from aws_cdk import aws_events_targets as targets
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from aws_cdk import aws_s3 as s3
from aws_cdk import aws_stepfunctions as sfn
from constructs import Construct

from stacks.components import lifecycle
from stacks.components.access import trusted_roles_principal
from stacks.components.alerts import Alerts
from stacks.components.delivery_pipeline import DeliveryPipeline
from stacks.components.model_endpoint import ModelEndpoint
from stacks.components.msk_stream import AVAILABILITY_ZONE_COUNT
from stacks.components.observability import Monitoring
from stacks.components.test_strategies import TEST_DATA_KEY, TestStrategies
from stacks.config import EnvironmentConfig
from stacks.partition import format_arn
from stacks.role_names import pipeline_test_role_name


class Level2ReliableStack(Stack):
    """The endpoint's operations, the preprod test strategies, and (in one environment) the pipeline.

    Receives Level 0's key and buckets and Level 1's registry group and retraining state machine.
    Approving a model version deploys it (promotion function); alarms roll a bad deployment back
    and notify; data drift starts retraining. Where `testStrategies` is on, batch, real-time and
    streaming tests exist, and a role lets the pipeline (perhaps in another account) run them; where
    `mskStreaming` is on as well, an MSK Serverless topic feeds the streaming test's consumer too.
    Where `delivery.pipeline` is on, a CodePipeline deploys the `delivery.targets` in order, with a
    manual approval before every target after the first.

    Per environment: endpoint mode and sizing, test strategies (and MSK), pipeline and its targets.
    """

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        config: EnvironmentConfig,
        key: kms.IKey,
        alerts: Alerts,
        artifacts_bucket: s3.IBucket,
        access_log_bucket: s3.IBucket,
        model_package_group_name: str,
        retraining: sfn.IStateMachine,
        pipeline_targets: list[EnvironmentConfig],
        tested_by: list[str],
        **kwargs: Any,
    ) -> None:
        super().__init__(scope, construct_id, **kwargs)
        removal_policy = lifecycle.removal_policy(config)
        retention = lifecycle.log_retention(config)
        endpoint_name = config.use_case_name()

        self.alerts = alerts
        self.endpoint = ModelEndpoint(
            self,
            "Endpoint",
            endpoint_name=endpoint_name,
            settings=config.endpoint,
            key=key,
            artifacts_bucket=artifacts_bucket,
            model_package_group_name=model_package_group_name,
            retraining=targets.SfnStateMachine(retraining),
            alerts=self.alerts,
            # Where the batch test strategy reads its test set; the promotion keeps it current.
            test_data_uri=artifacts_bucket.s3_url_for_object(TEST_DATA_KEY) if config.test_strategies else None,
            log_retention=retention,
            removal_policy=removal_policy,
            clarify=config.training.clarify,
        )
        outputs = {
            "EndpointName": (endpoint_name, "Created by the promotion function when a model is approved"),
            "PromotionFunctionName": (self.endpoint.promotion.function.function_name, "Model promotion"),
        }

        if config.test_strategies:
            self.tests = TestStrategies(
                self,
                "Tests",
                endpoint_name=endpoint_name,
                min_auc=config.endpoint.min_auc,
                key=key,
                artifacts_bucket=artifacts_bucket,
                log_retention=retention,
                removal_policy=removal_policy,
                msk_streaming=config.msk_streaming,
                name_prefix=config.resource_prefix,
                availability_zones=self.availability_zones,
            )
            outputs["BatchTestFunctionName"] = (self.tests.batch.function.function_name, "Batch test strategy")
            outputs["RealtimeTestApiUrl"] = (self.tests.api.url, "Real-time test strategy (IAM auth)")
            outputs["TestStreamName"] = (self.tests.stream.stream_name, "Streaming test strategy")
            if self.tests.msk is not None:
                msk = self.tests.msk
                outputs["MskClusterArn"] = (
                    msk.cluster_arn,
                    "Streaming test over MSK Serverless; bootstrap: aws kafka get-bootstrap-brokers --cluster-arn",
                )
                outputs["MskTopic"] = (msk.topic, "Topic the stream consumer reads (created by the stack)")
                outputs["MskFeedFunctionName"] = (
                    msk.feed_function.function.function_name,
                    "Produces the preprod test records to the topic (run by the preprod check)",
                )
                outputs["MskClientSecurityGroupId"] = (
                    msk.client_security_group.security_group_id,
                    "Security group for producers in the MSK subnets",
                )
                outputs["MskSubnetIds"] = (
                    Fn.join(",", [subnet.subnet_id for subnet in msk.vpc.isolated_subnets]),
                    "Isolated subnets of the MSK cluster",
                )
            if tested_by:
                # A fixed name: the pipeline's account must be able to name it without a lookup.
                role = iam.Role(
                    self,
                    "PipelineTestRole",
                    role_name=pipeline_test_role_name(config.name_prefix, config.name),
                    assumed_by=trusted_roles_principal(tested_by),
                    description="Assumed by the delivery pipeline's test stage to run the batch test",
                )
                # The batch test, and with MSK the function that feeds the topic (the preprod check runs both).
                test_functions = [self.tests.batch.function.function_arn]
                if self.tests.msk is not None:
                    test_functions.append(self.tests.msk.feed_function.function.function_arn)
                role.add_to_policy(iam.PolicyStatement(actions=["lambda:InvokeFunction"], resources=test_functions))
                role.add_to_policy(
                    iam.PolicyStatement(actions=["cloudformation:DescribeStacks"], resources=[self.stack_id])
                )
                # Whether a model has been approved (and deployed) yet: before the first one there is no endpoint.
                endpoint_arn = format_arn(self, service="sagemaker", resource="endpoint", resource_name=endpoint_name)
                role.add_to_policy(
                    iam.PolicyStatement(actions=["sagemaker:DescribeEndpoint"], resources=[endpoint_arn])
                )

        if config.delivery.pipeline:
            self.pipeline = DeliveryPipeline(
                self,
                "Delivery",
                environment_name=config.name,
                settings=config.delivery,
                targets=pipeline_targets,
                removal_policy=removal_policy,
                log_retention=retention,
                access_log_bucket=access_log_bucket,
            )
            outputs["PipelineName"] = (self.pipeline.pipeline.pipeline_name, "Delivery pipeline")
        # The endpoint's operations dashboard gets the rows of the promotion, the tests and the dead letters.
        Monitoring(self, "Monitoring", alerts=self.alerts, dashboard=self.endpoint.dashboard).watch_stack()

        for output_id, (value, description) in outputs.items():
            CfnOutput(self, output_id, value=value, description=description)

    @property
    def availability_zones(self) -> list[str]:
        """The region's first AZs, resolved by CloudFormation (``Fn::GetAZs``) for the MSK VPC.

        Without this override CDK would look the AZ names up in the account at synth time (see Level 0).
        """
        return [Fn.select(index, Fn.get_azs()) for index in range(AVAILABILITY_ZONE_COUNT)]
