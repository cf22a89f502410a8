"""The project's dead-letter queues: KMS-encrypted with a given key, SSL-only, two weeks of retention."""

from __future__ import annotations

from aws_cdk import Duration, RemovalPolicy
from aws_cdk import aws_kms as kms
from aws_cdk import aws_sqs as sqs
from constructs import Construct

from stacks.nag import acknowledge


def dead_letter_queue(
    scope: Construct, construct_id: str, *, key: kms.IKey, removal_policy: RemovalPolicy, what_for: str
) -> sqs.Queue:
    """A queue that holds what `what_for` could not deliver (it has no dead-letter queue of its own)."""
    queue = sqs.Queue(
        scope,
        construct_id,
        encryption=sqs.QueueEncryption.KMS,
        encryption_master_key=key,
        enforce_ssl=True,
        retention_period=Duration.days(14),
        removal_policy=removal_policy,
    )
    acknowledge(queue, "AwsSolutions-SQS3", f"This queue is itself the dead-letter destination of {what_for}.")
    return queue
