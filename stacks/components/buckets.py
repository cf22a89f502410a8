"""The one way this project makes an S3 bucket: private, versioned, TLS-only, encrypted, logged."""

from __future__ import annotations

from aws_cdk import RemovalPolicy
from aws_cdk import aws_kms as kms
from aws_cdk import aws_s3 as s3
from constructs import Construct


def secure_bucket(
    scope: Construct,
    construct_id: str,
    *,
    encryption_key: kms.IKey | None,
    access_logs: s3.IBucket | None,
    access_log_prefix: str | None,
    lifecycle_rules: list[s3.LifecycleRule],
    removal_policy: RemovalPolicy,
    auto_delete_objects: bool = False,
) -> s3.Bucket:
    """A bucket with every public access blocked, owner-enforced objects, versioning, SSL-only requests
    (TLS 1.2 or newer), and SSE-KMS with `encryption_key` (bucket keys on) or SSE-S3 without one (which
    access-log destinations and load-balancer logs need). Server access logs go to `access_logs` under
    `access_log_prefix` unless the bucket is itself the log destination."""
    return s3.Bucket(
        scope,
        construct_id,
        encryption=s3.BucketEncryption.KMS if encryption_key is not None else s3.BucketEncryption.S3_MANAGED,
        encryption_key=encryption_key,
        bucket_key_enabled=encryption_key is not None,
        versioned=True,
        block_public_access=s3.BlockPublicAccess.BLOCK_ALL,
        object_ownership=s3.ObjectOwnership.BUCKET_OWNER_ENFORCED,
        enforce_ssl=True,
        minimum_tls_version=1.2,
        server_access_logs_bucket=access_logs,
        server_access_logs_prefix=access_log_prefix if access_logs is not None else None,
        lifecycle_rules=lifecycle_rules,
        removal_policy=removal_policy,
        auto_delete_objects=auto_delete_objects,
    )
