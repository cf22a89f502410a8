"""The S3 data lake: raw, curated and artifacts buckets plus the bucket that receives their access logs."""

from __future__ import annotations

from aws_cdk import Duration, RemovalPolicy
from aws_cdk import aws_kms as kms
from aws_cdk import aws_s3 as s3
from constructs import Construct

from stacks.components.buckets import secure_bucket
from stacks.config import DataLakeConfig
from stacks.nag import acknowledge

_ABORT_INCOMPLETE_UPLOADS_AFTER = Duration.days(7)


class DataLake(Construct):
    """Four buckets with the same security baseline.

    Every bucket: versioning, all public access blocked, ACLs disabled, TLS 1.2+ only (SSL-only
    bucket policy), lifecycle rules (noncurrent versions expire, incomplete uploads are aborted).
    Raw, curated and artifacts are encrypted with the data-lake KMS key (bucket keys on, to keep
    KMS request costs down) and log their server access to the access-log bucket. Raw data ages
    into STANDARD_IA and then Glacier Instant Retrieval.

    Per environment: removal policy (prod retains), whether buckets are emptied on stack deletion,
    and the lifecycle ages.
    """

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        key: kms.IKey,
        lifecycle: DataLakeConfig,
        removal_policy: RemovalPolicy,
        auto_delete_objects: bool,
    ) -> None:
        super().__init__(scope, construct_id)
        self._removal_policy = removal_policy
        self._auto_delete_objects = auto_delete_objects
        noncurrent_expiry = s3.LifecycleRule(
            id="expire-noncurrent-versions",
            noncurrent_version_expiration=Duration.days(lifecycle.noncurrent_version_expiration_days),
            abort_incomplete_multipart_upload_after=_ABORT_INCOMPLETE_UPLOADS_AFTER,
        )

        # S3 server access logging can only deliver to a bucket encrypted with SSE-S3 (SSE-KMS is not
        # supported for the log destination), so this one bucket uses S3-managed keys.
        self.access_log_bucket = self._bucket(
            "AccessLogBucket",
            encryption_key=None,
            server_access_logs_bucket=None,
            lifecycle_rules=[
                noncurrent_expiry,
                s3.LifecycleRule(
                    id="expire-access-logs",
                    expiration=Duration.days(lifecycle.access_log_expiration_days),
                ),
            ],
        )
        acknowledge(
            self.access_log_bucket,
            "AwsSolutions-S1",
            "This is the server access log destination; logging its own access would loop into itself.",
        )

        def kms_bucket(construct_id: str, rules: list[s3.LifecycleRule]) -> s3.Bucket:
            return self._bucket(
                construct_id,
                encryption_key=key,
                server_access_logs_bucket=self.access_log_bucket,
                lifecycle_rules=rules,
            )

        self.raw_bucket = kms_bucket(
            "RawBucket",
            [
                noncurrent_expiry,
                s3.LifecycleRule(
                    id="age-raw-data",
                    transitions=[
                        s3.Transition(
                            storage_class=s3.StorageClass.INFREQUENT_ACCESS,
                            transition_after=Duration.days(lifecycle.raw_infrequent_access_after_days),
                        ),
                        s3.Transition(
                            storage_class=s3.StorageClass.GLACIER_INSTANT_RETRIEVAL,
                            transition_after=Duration.days(lifecycle.raw_glacier_after_days),
                        ),
                    ],
                ),
            ],
        )
        # Object events go to EventBridge, where the retraining trigger (Level 1) listens. Set on the
        # CloudFormation resource: CDK's `event_bridge_enabled` would add a Lambda-backed custom resource.
        raw_cfn = self.raw_bucket.node.default_child
        assert isinstance(raw_cfn, s3.CfnBucket)
        raw_cfn.add_property_override("NotificationConfiguration.EventBridgeConfiguration.EventBridgeEnabled", True)
        self.curated_bucket = kms_bucket("CuratedBucket", [noncurrent_expiry])
        # The LLMOps knowledge base syncs on object events under its documents prefix (EventBridge rule).
        curated_cfn = self.curated_bucket.node.default_child
        assert isinstance(curated_cfn, s3.CfnBucket)
        curated_cfn.add_property_override("NotificationConfiguration.EventBridgeConfiguration.EventBridgeEnabled", True)
        self.artifacts_bucket = kms_bucket("ArtifactsBucket", [noncurrent_expiry])

    def _bucket(
        self,
        construct_id: str,
        *,
        encryption_key: kms.IKey | None,
        server_access_logs_bucket: s3.IBucket | None,
        lifecycle_rules: list[s3.LifecycleRule],
    ) -> s3.Bucket:
        return secure_bucket(
            self,
            construct_id,
            encryption_key=encryption_key,
            access_logs=server_access_logs_bucket,
            access_log_prefix=f"{construct_id}/",
            lifecycle_rules=lifecycle_rules,
            removal_policy=self._removal_policy,
            auto_delete_objects=self._auto_delete_objects,
        )
