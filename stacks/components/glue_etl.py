"""Glue catalog, crawler and ETL job for the data lake."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

from aws_cdk import ArnFormat, IgnoreMode, Stack
from aws_cdk import aws_glue as glue
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from aws_cdk import aws_s3 as s3
from aws_cdk import aws_s3_assets as s3_assets
from constructs import Construct

from pipelines.glue.layout import CURATED_DATASET_PREFIX, RAW_DATASET_PREFIX, REJECTS_PREFIX
from stacks.components.access import acknowledge_wildcard_resource, grant_objects
from stacks.config import GlueConfig
from stacks.partition import format_arn

GLUE_SCRIPTS_DIR = Path(__file__).resolve().parents[2] / "pipelines" / "glue"
GLUE_VERSION = "5.0"  # Spark 3.5, Python 3.11
# The modules the job script imports from pipelines/glue, shipped in one zip at its root. Glue puts a .zip
# of --extra-py-files on the Python path but a .py file under its own S3 file name, which for a CDK file
# asset is `<sha256>.py`: `import churn_transform` would then fail on Glue.
JOB_MODULES: tuple[str, ...] = ("churn_transform.py", "churn_features.py")
# The CloudWatch namespace Glue publishes job metrics to when --enable-metrics is set.
GLUE_METRICS_NAMESPACE = "Glue"


class GlueEtl(Construct):
    """A Glue database, a scheduled crawler over the raw dataset, and a Spark ETL job raw → curated.

    The job script is `pipelines/glue/etl_job.py`; its transformation logic is the plain-Python
    module `pipelines/glue/churn_transform.py`, shipped in a zip of the job's modules with
    ``--extra-py-files`` (a zip keeps the module names; a lone .py asset would be named after its hash)
    so the same code is unit-tested without Spark. A security configuration encrypts everything Glue
    writes (S3 output, CloudWatch logs, job bookmarks) with the data-lake key. Each component runs
    under its own role with access to only the prefixes it needs.

    The job also writes the engineered features and the labels into the feature groups named in
    ``feature_groups`` (job arguments ``--FEATURES_GROUP`` and ``--LABELS_GROUP``); the caller grants PutRecord.

    Per environment: crawler schedule, worker type and count, job timeout.
    """

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        name_prefix: str,
        key: kms.IKey,
        raw_bucket: s3.IBucket,
        curated_bucket: s3.IBucket,
        settings: GlueConfig,
        feature_groups: Mapping[str, str],
    ) -> None:
        super().__init__(scope, construct_id)
        stack = Stack.of(self)

        self.database_name = name_prefix.replace("-", "_") + "_lake"
        self.database = glue.CfnDatabase(
            self,
            "Database",
            catalog_id=stack.account,
            database_input=glue.CfnDatabase.DatabaseInputProperty(
                name=self.database_name,
                description="Data lake tables: raw data found by the crawler, curated data written by the ETL job",
            ),
        )

        self.security_configuration = glue.CfnSecurityConfiguration(
            self,
            "SecurityConfiguration",
            name=f"{name_prefix}-data-lake",
            encryption_configuration=glue.CfnSecurityConfiguration.EncryptionConfigurationProperty(
                s3_encryptions=[
                    glue.CfnSecurityConfiguration.S3EncryptionProperty(
                        s3_encryption_mode="SSE-KMS", kms_key_arn=key.key_arn
                    )
                ],
                cloud_watch_encryption=glue.CfnSecurityConfiguration.CloudWatchEncryptionProperty(
                    cloud_watch_encryption_mode="SSE-KMS", kms_key_arn=key.key_arn
                ),
                job_bookmarks_encryption=glue.CfnSecurityConfiguration.JobBookmarksEncryptionProperty(
                    job_bookmarks_encryption_mode="CSE-KMS", kms_key_arn=key.key_arn
                ),
            ),
        )

        catalog_arns = [
            format_arn(stack, service="glue", resource="catalog"),
            format_arn(stack, service="glue", resource="database", resource_name=self.database_name),
            format_arn(stack, service="glue", resource="table", resource_name=f"{self.database_name}/*"),
        ]
        glue_logs_arn = format_arn(
            stack,
            service="logs",
            resource="log-group",
            resource_name="/aws-glue/*",
            arn_format=ArnFormat.COLON_RESOURCE_NAME,
        )

        # --- crawler -------------------------------------------------------------------------------
        self.crawler_role = iam.Role(
            self,
            "CrawlerRole",
            assumed_by=iam.ServicePrincipal("glue.amazonaws.com"),
            description="Glue crawler: reads the raw dataset and maintains its tables in the lake database",
        )
        grant_objects(
            self.crawler_role,
            raw_bucket,
            key,
            prefix=RAW_DATASET_PREFIX,
            purpose="Crawler reads the raw dataset",
        )
        self.crawler_role.add_to_policy(
            iam.PolicyStatement(
                actions=[
                    "glue:GetDatabase",
                    "glue:GetTable",
                    "glue:GetTables",
                    "glue:CreateTable",
                    "glue:UpdateTable",
                    "glue:GetPartition",
                    "glue:GetPartitions",
                    "glue:BatchGetPartition",
                    "glue:CreatePartition",
                    "glue:BatchCreatePartition",
                    "glue:UpdatePartition",
                ],
                resources=catalog_arns,
            )
        )
        acknowledge_wildcard_resource(
            self.crawler_role,
            catalog_arns[2],
            "The crawler creates and updates the tables it discovers; their names come from the data, "
            "so access is scoped to all tables of the lake database only.",
        )
        self._grant_glue_logging(self.crawler_role, key, glue_logs_arn)

        self.crawler = glue.CfnCrawler(
            self,
            "RawCrawler",
            role=self.crawler_role.role_arn,
            database_name=self.database.ref,  # Ref (not the literal name) orders the crawler after the database
            description="Discovers the schema and partitions of the raw churn dataset",
            targets=glue.CfnCrawler.TargetsProperty(
                s3_targets=[glue.CfnCrawler.S3TargetProperty(path=raw_bucket.s3_url_for_object(RAW_DATASET_PREFIX))]
            ),
            table_prefix="raw_",
            schedule=glue.CfnCrawler.ScheduleProperty(schedule_expression=settings.crawler_schedule),
            schema_change_policy=glue.CfnCrawler.SchemaChangePolicyProperty(
                update_behavior="UPDATE_IN_DATABASE", delete_behavior="LOG"
            ),
            recrawl_policy=glue.CfnCrawler.RecrawlPolicyProperty(recrawl_behavior="CRAWL_NEW_FOLDERS_ONLY"),
            crawler_security_configuration=self.security_configuration.ref,
        )

        # --- ETL job -------------------------------------------------------------------------------
        script = s3_assets.Asset(self, "JobScript", path=str(GLUE_SCRIPTS_DIR / "etl_job.py"))
        job_modules = s3_assets.Asset(
            self,
            "JobModules",
            path=str(GLUE_SCRIPTS_DIR),
            # Everything but the listed modules (the script, samples, caches) stays out of the zip.
            exclude=["*", *(f"!{module}" for module in JOB_MODULES)],
            ignore_mode=IgnoreMode.GLOB,
        )

        self.job_role = iam.Role(
            self,
            "JobRole",
            assumed_by=iam.ServicePrincipal("glue.amazonaws.com"),
            description="Glue ETL job: reads raw churn data and writes curated Parquet and rejected rows",
        )
        self.job_role.add_to_policy(
            iam.PolicyStatement(
                actions=["s3:GetObject"],
                resources=[asset.bucket.arn_for_objects(asset.s3_object_key) for asset in (script, job_modules)],
            )
        )
        grant_objects(
            self.job_role, raw_bucket, key, prefix=RAW_DATASET_PREFIX, purpose="ETL job reads the raw dataset"
        )
        # Spark's partition overwrite lists and deletes under its output prefixes, hence write access.
        for prefix in (CURATED_DATASET_PREFIX, REJECTS_PREFIX):
            grant_objects(
                self.job_role,
                curated_bucket,
                key,
                prefix=prefix,
                write=True,
                purpose="ETL job writes curated Parquet and rejected rows",
            )
        self._grant_glue_logging(self.job_role, key, glue_logs_arn)
        # --enable-metrics makes the job publish its Spark metrics to CloudWatch under its role.
        self.job_role.add_to_policy(
            iam.PolicyStatement(
                sid="PublishGlueJobMetrics",
                actions=["cloudwatch:PutMetricData"],
                resources=["*"],
                conditions={"StringEquals": {"cloudwatch:namespace": GLUE_METRICS_NAMESPACE}},
            )
        )
        acknowledge_wildcard_resource(
            self.job_role,
            "*",
            "cloudwatch:PutMetricData has no resource-level permissions; the statement is bound by condition to "
            f"the {GLUE_METRICS_NAMESPACE} namespace, where --enable-metrics publishes the job's metrics.",
        )

        self.job = glue.CfnJob(
            self,
            "EtlJob",
            role=self.job_role.role_arn,
            description="Cleans raw churn CSV and writes partitioned Parquet to the curated bucket",
            glue_version=GLUE_VERSION,
            command=glue.CfnJob.JobCommandProperty(
                name="glueetl", python_version="3", script_location=script.s3_object_url
            ),
            worker_type=settings.etl_worker_type,
            number_of_workers=settings.etl_number_of_workers,
            timeout=settings.etl_timeout_minutes,
            max_retries=0,
            execution_property=glue.CfnJob.ExecutionPropertyProperty(max_concurrent_runs=1),
            security_configuration=self.security_configuration.ref,
            default_arguments={
                "--extra-py-files": job_modules.s3_object_url,
                "--RAW_PATH": raw_bucket.s3_url_for_object(RAW_DATASET_PREFIX),
                "--CURATED_PATH": curated_bucket.s3_url_for_object(CURATED_DATASET_PREFIX),
                "--REJECTS_PATH": curated_bucket.s3_url_for_object(REJECTS_PREFIX),
                "--FEATURES_GROUP": feature_groups["churn-features"],
                "--LABELS_GROUP": feature_groups["churn-labels"],
                # make smoke's sample run overrides it with "skip" (pipelines/glue/etl_job.py says why).
                "--FEATURE_STORE": "write",
                # The job re-reads the whole raw prefix and replaces only the partitions it writes, so
                # bookmarks (which need DynamicFrames) would add state without saving work.
                "--job-bookmark-option": "job-bookmark-disable",
                "--enable-metrics": "true",
                "--enable-continuous-cloudwatch-log": "true",
            },
        )

    @staticmethod
    def _grant_glue_logging(role: iam.Role, key: kms.IKey, glue_logs_arn: str) -> None:
        # The security configuration encrypts Glue's CloudWatch logs with the data-lake key, which
        # needs logs:AssociateKmsKey in addition to writing the logs.
        role.add_to_policy(
            iam.PolicyStatement(
                actions=[
                    "logs:CreateLogGroup",
                    "logs:CreateLogStream",
                    "logs:PutLogEvents",
                    "logs:AssociateKmsKey",
                ],
                resources=[glue_logs_arn],
            )
        )
        acknowledge_wildcard_resource(
            role,
            glue_logs_arn,
            "Glue writes each run to log groups and streams it names itself under /aws-glue/; the "
            "grant is limited to that prefix.",
        )
        key.grant(role, "kms:Encrypt", "kms:Decrypt", "kms:GenerateDataKey")
