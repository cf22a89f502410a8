"""The emulator runs alarm actions as CloudWatch does: only what the topic and key policies allow is delivered."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest

from emulator.server import DEFAULT_ACCOUNT, LocalAws

REGION = "us-east-1"
SSL_ONLY = {
    "Sid": "EnforceSsl",
    "Effect": "Deny",
    "Principal": "*",
    "Action": "sns:Publish",
    "Resource": "*",
    "Condition": {"Bool": {"aws:SecureTransport": "false"}},
}


@pytest.fixture(scope="module")
def aws() -> Iterator[LocalAws]:
    with LocalAws(region=REGION) as emulator:
        yield emulator


def cloudwatch_allow(topic_arn: str, **conditions: Any) -> dict[str, Any]:
    statement: dict[str, Any] = {
        "Sid": "CloudWatchAlarms",
        "Effect": "Allow",
        "Principal": {"Service": "cloudwatch.amazonaws.com"},
        "Action": "sns:Publish",
        "Resource": topic_arn,
    }
    if conditions:
        statement["Condition"] = conditions
    return statement


def topic_with(aws: LocalAws, name: str, *statements: dict[str, Any], key_id: str | None = None) -> str:
    sns = aws.client("sns")
    attributes = {"KmsMasterKeyId": key_id} if key_id else {}
    arn: str = sns.create_topic(Name=name, Attributes=attributes)["TopicArn"]
    sns.set_topic_attributes(
        TopicArn=arn,
        AttributeName="Policy",
        AttributeValue=json.dumps({"Version": "2012-10-17", "Statement": list(statements)}),
    )
    return arn


def fire(aws: LocalAws, alarm: str, topic_arn: str) -> str:
    cloudwatch = aws.client("cloudwatch")
    cloudwatch.put_metric_alarm(
        AlarmName=alarm,
        MetricName="Errors",
        Namespace="Test",
        Statistic="Sum",
        Period=60,
        EvaluationPeriods=1,
        Threshold=1,
        ComparisonOperator="GreaterThanThreshold",
        AlarmActions=[topic_arn],
    )
    cloudwatch.set_alarm_state(AlarmName=alarm, StateValue="ALARM", StateReason="test")
    items = cloudwatch.describe_alarm_history(AlarmName=alarm, HistoryItemType="Action")["AlarmHistoryItems"]
    assert len(items) == 1, items
    summary: str = items[0]["HistorySummary"]
    return summary


def test_an_ssl_only_topic_policy_refuses_cloudwatch(aws: LocalAws) -> None:
    topic = topic_with(aws, "ssl-only", SSL_ONLY)
    summary = fire(aws, "a1", topic)
    (item,) = aws.client("cloudwatch").describe_alarm_history(AlarmName="a1", HistoryItemType="Action")[
        "AlarmHistoryItems"
    ]
    assert json.loads(item["HistoryData"])["actionState"] == "Failed"
    assert summary.startswith(f"Failed to execute action {topic}")
    assert "no statement of its policy allows the service" in summary


def test_an_allow_scoped_to_the_account_delivers_the_notification(aws: LocalAws) -> None:
    topic = topic_with(
        aws, "scoped", SSL_ONLY, cloudwatch_allow(f"{'*'}", StringEquals={"aws:SourceAccount": DEFAULT_ACCOUNT})
    )
    sqs = aws.client("sqs")
    queue = sqs.create_queue(QueueName="inbox")["QueueUrl"]
    queue_arn = sqs.get_queue_attributes(QueueUrl=queue, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    aws.client("sns").subscribe(TopicArn=topic, Protocol="sqs", Endpoint=queue_arn)

    assert fire(aws, "a2", topic) == f"Successfully executed action {topic}"
    (item,) = aws.client("cloudwatch").describe_alarm_history(AlarmName="a2", HistoryItemType="Action")[
        "AlarmHistoryItems"
    ]
    assert json.loads(item["HistoryData"]) == {"actionArn": topic, "actionState": "Succeeded"}
    (message,) = sqs.receive_message(QueueUrl=queue, WaitTimeSeconds=1)["Messages"]
    assert json.loads(json.loads(message["Body"])["Message"])["AlarmName"] == "a2"


def test_an_allow_for_another_account_or_alarm_does_not_count(aws: LocalAws) -> None:
    other_account = topic_with(aws, "other", cloudwatch_allow("*", StringEquals={"aws:SourceAccount": "999999999999"}))
    assert fire(aws, "a3", other_account).startswith("Failed to execute action")
    other_alarm = topic_with(
        aws, "other-alarm", cloudwatch_allow("*", ArnLike={"aws:SourceArn": "arn:aws:cloudwatch:*:*:alarm:b*"})
    )
    assert fire(aws, "a4", other_alarm).startswith("Failed to execute action")


def test_an_encrypted_topic_also_needs_the_key_policy(aws: LocalAws) -> None:
    kms = aws.client("kms")
    root_only = {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Effect": "Allow",
                "Principal": {"AWS": f"arn:aws:iam::{DEFAULT_ACCOUNT}:root"},
                "Action": "kms:*",
                "Resource": "*",
            }
        ],
    }
    key = kms.create_key(Policy=json.dumps(root_only))["KeyMetadata"]
    topic = topic_with(aws, "encrypted", cloudwatch_allow("*"), key_id=key["Arn"])
    summary = fire(aws, "a5", topic)
    assert summary.startswith("Failed to execute action") and "the key policy of" in summary

    with_cloudwatch = {
        "Version": "2012-10-17",
        "Statement": [
            *root_only["Statement"],
            {
                "Effect": "Allow",
                "Principal": {"Service": "cloudwatch.amazonaws.com"},
                "Action": ["kms:Decrypt", "kms:GenerateDataKey*"],
                "Resource": "*",
            },
        ],
    }
    kms.put_key_policy(KeyId=key["KeyId"], PolicyName="default", Policy=json.dumps(with_cloudwatch))
    assert fire(aws, "a6", topic) == f"Successfully executed action {topic}"


def test_no_action_runs_without_a_state_change(aws: LocalAws) -> None:
    topic = topic_with(aws, "quiet", cloudwatch_allow("*"))
    fire(aws, "a7", topic)
    cloudwatch = aws.client("cloudwatch")
    cloudwatch.set_alarm_state(AlarmName="a7", StateValue="ALARM", StateReason="again")
    assert len(cloudwatch.describe_alarm_history(AlarmName="a7", HistoryItemType="Action")["AlarmHistoryItems"]) == 1


def test_an_unknown_policy_construct_is_refused_not_guessed(aws: LocalAws) -> None:
    topic = topic_with(
        aws, "odd", {**cloudwatch_allow("*"), "Condition": {"IpAddress": {"aws:SourceIp": "10.0.0.0/8"}}}
    )
    summary = fire(aws, "a8", topic)
    assert summary.startswith(f"Failed to execute action {topic}")
    assert "the emulator cannot evaluate the policy: condition operator 'IpAddress' is not supported" in summary
