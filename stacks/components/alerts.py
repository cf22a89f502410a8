"""Where alarms go: a KMS-encrypted SNS topic with the environment's alarm email subscribed."""

from __future__ import annotations

from aws_cdk import RemovalPolicy
from aws_cdk import aws_cloudwatch as cloudwatch
from aws_cdk import aws_cloudwatch_actions as cloudwatch_actions
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from aws_cdk import aws_sns as sns
from aws_cdk import aws_sns_subscriptions as subscriptions
from constructs import Construct


class Alerts(Construct):
    """An alarm topic encrypted with its own key, and a helper that wires alarms to it.

    The topic needs a customer-managed key: CloudWatch alarms cannot publish to a topic encrypted
    with the AWS-managed ``aws/sns`` key, whose policy does not let the CloudWatch service use it.

    Per environment: the email subscribed, and the key's removal policy.
    """

    def __init__(self, scope: Construct, construct_id: str, *, email: str, removal_policy: RemovalPolicy) -> None:
        super().__init__(scope, construct_id)
        self.key = kms.Key(
            self,
            "Key",
            description="Encrypts the alarm topic; usable by CloudWatch alarms and EventBridge",
            enable_key_rotation=True,
            removal_policy=removal_policy,
        )
        for service in ("cloudwatch.amazonaws.com", "events.amazonaws.com"):
            self.key.grant(iam.ServicePrincipal(service), "kms:Decrypt", "kms:GenerateDataKey")
        self.topic = sns.Topic(self, "Topic", master_key=self.key, enforce_ssl=True)
        self.topic.add_subscription(subscriptions.EmailSubscription(email))

    def alarm(self, alarm: cloudwatch.Alarm) -> cloudwatch.Alarm:
        """Send `alarm` (and its return to OK) to the topic."""
        action = cloudwatch_actions.SnsAction(self.topic)
        alarm.add_alarm_action(action)
        alarm.add_ok_action(action)
        return alarm
