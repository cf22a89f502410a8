"""The project's dead-letter queues: KMS-encrypted with a given key, SSL-only, two weeks of retention."""

from __future__ import annotations

from aws_cdk import Duration, RemovalPolicy
from aws_cdk import aws_cloudwatch as cloudwatch
from aws_cdk import aws_kms as kms
from aws_cdk import aws_sqs as sqs
from constructs import Construct

from stacks.nag import acknowledge


class DeadLetterQueue(sqs.Queue):
    """A queue that only holds what something else could not deliver.

    Its own class so that monitoring (stacks/components/observability.py) can tell it from a work queue:
    a message in it is a failure. `alarm` is the alarm on its visible messages when its owner made one.
    """

    what_for: str
    alarm: cloudwatch.IAlarm | None


def dead_letter_queue(
    scope: Construct, construct_id: str, *, key: kms.IKey, removal_policy: RemovalPolicy, what_for: str
) -> DeadLetterQueue:
    """A queue that holds what `what_for` could not deliver (it has no dead-letter queue of its own)."""
    queue = DeadLetterQueue(
        scope,
        construct_id,
        encryption=sqs.QueueEncryption.KMS,
        encryption_master_key=key,
        enforce_ssl=True,
        retention_period=Duration.days(14),
        removal_policy=removal_policy,
    )
    queue.what_for = what_for
    queue.alarm = None
    acknowledge(queue, "AwsSolutions-SQS3", f"This queue is itself the dead-letter destination of {what_for}.")
    return queue
