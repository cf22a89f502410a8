"""Where alarms go: a KMS-encrypted SNS topic with the environment's alarm email subscribed."""

from __future__ import annotations

from aws_cdk import ArnFormat, RemovalPolicy, Stack
from aws_cdk import aws_cloudwatch as cloudwatch
from aws_cdk import aws_cloudwatch_actions as cloudwatch_actions
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from aws_cdk import aws_sns as sns
from aws_cdk import aws_sns_subscriptions as subscriptions
from constructs import Construct

from stacks.partition import format_arn

CLOUDWATCH = "cloudwatch.amazonaws.com"


class Alerts(Construct):
    """An alarm topic encrypted with its own key, and a helper that wires alarms to it.

    The topic needs a customer-managed key: CloudWatch alarms cannot publish to a topic encrypted
    with the AWS-managed ``aws/sns`` key, whose policy does not let the CloudWatch service use it.
    ``enforce_ssl`` gives the topic a resource policy, which replaces SNS's default one (the one that
    lets the account's services publish): so the topic policy allows CloudWatch alarms of this
    account and region to publish, and the key policy lets them encrypt, both scoped with
    ``aws:SourceAccount`` and ``aws:SourceArn`` against the confused deputy. Nothing else may publish
    through a service principal; an EventBridge rule that targets this topic needs its own Allow (the
    integration-permission check in the tests fails until it has one).

    Per environment: the email subscribed, and the key's removal policy.
    """

    def __init__(self, scope: Construct, construct_id: str, *, email: str, removal_policy: RemovalPolicy) -> None:
        super().__init__(scope, construct_id)
        stack = Stack.of(self)
        # Alarm names are chosen by CloudFormation, so the scope is every alarm of this account and region.
        alarms = format_arn(
            stack, service="cloudwatch", resource="alarm", resource_name="*", arn_format=ArnFormat.COLON_RESOURCE_NAME
        )
        from_our_alarms = {"StringEquals": {"aws:SourceAccount": stack.account}, "ArnLike": {"aws:SourceArn": alarms}}
        self.key = kms.Key(
            self,
            "Key",
            description="Encrypts the alarm topic; usable by this account's CloudWatch alarms",
            enable_key_rotation=True,
            removal_policy=removal_policy,
        )
        self.key.add_to_resource_policy(
            iam.PolicyStatement(
                sid="CloudWatchAlarmsOfThisAccount",
                principals=[iam.ServicePrincipal(CLOUDWATCH)],
                actions=["kms:Decrypt", "kms:GenerateDataKey*"],
                resources=["*"],
                conditions=from_our_alarms,
            )
        )
        self.topic = sns.Topic(self, "Topic", master_key=self.key, enforce_ssl=True)
        self.topic.add_to_resource_policy(
            iam.PolicyStatement(
                sid="CloudWatchAlarmsOfThisAccount",
                principals=[iam.ServicePrincipal(CLOUDWATCH)],
                actions=["sns:Publish"],
                resources=[self.topic.topic_arn],
                conditions=from_our_alarms,
            )
        )
        self.topic.add_subscription(subscriptions.EmailSubscription(email))
        # One action for every alarm (it only names the topic): a new one per alarm is one more jsii object each.
        self._action = cloudwatch_actions.SnsAction(self.topic)

    def alarm(self, alarm: cloudwatch.Alarm) -> cloudwatch.Alarm:
        """Send `alarm` (and its return to OK) to the topic."""
        alarm.add_alarm_action(self._action)
        alarm.add_ok_action(self._action)
        return alarm
