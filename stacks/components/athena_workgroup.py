"""An Athena workgroup whose settings users cannot override."""

from __future__ import annotations

from aws_cdk import Stack
from aws_cdk import aws_athena as athena
from aws_cdk import aws_kms as kms
from aws_cdk import aws_s3 as s3
from constructs import Construct

from stacks.partition import format_arn

ATHENA_RESULTS_PREFIX = "athena-results/"
ATHENA_ENGINE_VERSION = "Athena engine version 3"


class AthenaWorkgroup(Construct):
    """Athena engine v3 with enforced configuration.

    Query results go to the artifacts bucket encrypted with the data-lake key, every query is cut
    off after a number of scanned bytes (the cost guard rail), and per-query metrics are published
    to CloudWatch. Because the configuration is enforced, a client cannot send results elsewhere
    or lift the cutoff.

    Per environment: the bytes-scanned cutoff; whether the workgroup may be deleted with its
    saved queries and history (only where the environment's removal policy is destroy).
    """

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        name: str,
        key: kms.IKey,
        results_bucket: s3.IBucket,
        bytes_scanned_cutoff_per_query: int,
        delete_with_history: bool,
    ) -> None:
        super().__init__(scope, construct_id)
        self.name = name
        self.results_location = results_bucket.s3_url_for_object(ATHENA_RESULTS_PREFIX)
        self.workgroup = athena.CfnWorkGroup(
            self,
            "WorkGroup",
            name=name,
            description="Exploration queries over the data lake; results encrypted, scans capped",
            state="ENABLED",
            recursive_delete_option=delete_with_history,
            work_group_configuration=athena.CfnWorkGroup.WorkGroupConfigurationProperty(
                enforce_work_group_configuration=True,
                publish_cloud_watch_metrics_enabled=True,
                bytes_scanned_cutoff_per_query=bytes_scanned_cutoff_per_query,
                requester_pays_enabled=False,
                engine_version=athena.CfnWorkGroup.EngineVersionProperty(selected_engine_version=ATHENA_ENGINE_VERSION),
                result_configuration=athena.CfnWorkGroup.ResultConfigurationProperty(
                    output_location=self.results_location,
                    encryption_configuration=athena.CfnWorkGroup.EncryptionConfigurationProperty(
                        encryption_option="SSE_KMS", kms_key=key.key_arn
                    ),
                ),
            ),
        )
        self.workgroup_arn = format_arn(Stack.of(self), service="athena", resource="workgroup", resource_name=name)
