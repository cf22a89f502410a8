"""Level 0 (exploration): the data layer every later level builds on."""

from __future__ import annotations

from typing import Any

from aws_cdk import ArnFormat, CfnOutput, CfnResource, Fn, RemovalPolicy, Stack
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from constructs import Construct

from pipelines.glue.churn_features import CHURN_LABELS, CUSTOMER_FEATURES
from stacks.components import lifecycle
from stacks.components.alerts import Alerts
from stacks.components.athena_workgroup import AthenaWorkgroup
from stacks.components.data_lake import DataLake
from stacks.components.feature_skew import FeatureSkewCheck
from stacks.components.feature_store import FeatureStore
from stacks.components.glue_etl import GlueEtl
from stacks.components.mlflow_app import MlflowApp
from stacks.components.observability import Monitoring
from stacks.components.studio import StudioDomain
from stacks.config import EnvironmentConfig
from stacks.feature_store_config import feature_group_prefix
from stacks.partition import format_arn, url_suffix


class Level0ExplorationStack(Stack):
    """KMS key, S3 data lake, Glue catalog + crawler + ETL job, Athena workgroup, SageMaker Studio,
    the churn feature groups (Feature Store) and the environment's alarm topic.

    Everything data-bearing is encrypted with one customer-managed key (rotation on). Exposes the
    key, the buckets and the Glue database for the levels above, which receive them as arguments.

    Per environment (from `cdk.json`): removal policy and bucket auto-emptying, log retention,
    lifecycle ages, crawler schedule, ETL capacity, Athena scan cutoff, Studio network mode and AZs,
    whether the feature group has an online store.
    """

    def __init__(self, scope: Construct, construct_id: str, *, config: EnvironmentConfig, **kwargs: Any) -> None:
        self._config = config
        super().__init__(scope, construct_id, **kwargs)
        removal_policy = lifecycle.removal_policy(config)
        name_prefix = config.resource_prefix

        self.key = kms.Key(
            self,
            "DataKey",
            description=f"Encrypts the {config.name} data lake, Glue output and logs, Athena results and Studio",
            enable_key_rotation=True,
            alias=f"alias/{name_prefix}/data",
            removal_policy=removal_policy,
        )
        # CloudWatch Logs encrypts the flow-log and Glue log groups with this key; scope the grant
        # to log groups of this account and region through the encryption context.
        self.key.add_to_resource_policy(
            iam.PolicyStatement(
                sid="AllowCloudWatchLogsOfThisAccount",
                principals=[iam.ServicePrincipal(f"logs.{self.region}.{url_suffix(self)}")],
                actions=[
                    "kms:Encrypt*",
                    "kms:Decrypt*",
                    "kms:ReEncrypt*",
                    "kms:GenerateDataKey*",
                    "kms:Describe*",
                ],
                resources=["*"],
                conditions={
                    "ArnLike": {
                        "kms:EncryptionContext:aws:logs:arn": format_arn(
                            self,
                            service="logs",
                            resource="log-group",
                            resource_name="*",
                            arn_format=ArnFormat.COLON_RESOURCE_NAME,
                        )
                    }
                },
            )
        )

        # One alarm topic per environment, for every level's alarms (each level passes it its alarms).
        self.alerts = Alerts(self, "Alerts", email=config.alarm_email, removal_policy=removal_policy)

        self.data_lake = DataLake(
            self,
            "DataLake",
            key=self.key,
            lifecycle=config.data_lake,
            removal_policy=removal_policy,
            auto_delete_objects=config.auto_delete_objects,
        )
        lake = self.data_lake

        # The churn features, written once by the ETL job and read by training (offline) and serving (online).
        self.features = FeatureStore(
            self,
            "FeatureStore",
            name_prefix=feature_group_prefix(config.resource_prefix),
            key=self.key,
            offline_bucket=lake.curated_bucket,
            online_store=config.feature_store.online_store,
            removal_policy=removal_policy,
        )

        self.glue = GlueEtl(
            self,
            "Glue",
            name_prefix=name_prefix,
            key=self.key,
            raw_bucket=lake.raw_bucket,
            curated_bucket=lake.curated_bucket,
            settings=config.glue,
            feature_groups=self.features.names,
        )
        self.features.grant_put(self.glue.job_role, CUSTOMER_FEATURES, CHURN_LABELS)

        self.athena = AthenaWorkgroup(
            self,
            "Athena",
            name=f"{name_prefix}-exploration",
            key=self.key,
            results_bucket=lake.artifacts_bucket,
            bytes_scanned_cutoff_per_query=config.athena.bytes_scanned_cutoff_per_query,
            delete_with_history=removal_policy == RemovalPolicy.DESTROY,
        )

        # Serving reads the online store, training the offline store: a scheduled check compares the two.
        self.feature_skew = (
            FeatureSkewCheck(
                self,
                "FeatureSkew",
                features=self.features,
                settings=config.feature_store,
                workgroup_name=self.athena.name,
                workgroup_arn=self.athena.workgroup_arn,
                results_bucket=lake.artifacts_bucket,
                offline_bucket=lake.curated_bucket,
                key=self.key,
                alerts=self.alerts,
                log_retention=lifecycle.log_retention(config),
                removal_policy=removal_policy,
            )
            if config.feature_store.online_store
            else None
        )

        # Prod retains what it would lose on a stack delete like the rest of its data: the alarm topic
        # (its subscriptions), the catalog database (the crawled tables) and the workgroup (query history).
        for stateful in (self.alerts.topic.node.default_child, self.glue.database, self.athena.workgroup):
            assert isinstance(stateful, CfnResource)
            stateful.apply_removal_policy(removal_policy)

        self.studio = StudioDomain(
            self,
            "Studio",
            name_prefix=name_prefix,
            key=self.key,
            raw_bucket=lake.raw_bucket,
            curated_bucket=lake.curated_bucket,
            artifacts_bucket=lake.artifacts_bucket,
            athena_workgroup_arn=self.athena.workgroup_arn,
            glue_database_name=self.glue.database_name,
            glue_crawler_name=self.glue.crawler.ref,
            glue_job_name=self.glue.job.ref,
            network_access=config.studio.network_access,
            availability_zones=self.availability_zones,
            data_scientists=config.studio.data_scientists,
            # Level 3 teams' DocumentDB clusters live in this VPC; their credentials are secrets.
            secrets_manager_endpoint=config.max_level >= 3 and any(team.document_db for team in config.teams),
            log_retention=lifecycle.log_retention(config),
            removal_policy=removal_policy,
        )

        # Experiment tracking: the environment's managed MLflow app (Level 1 logs a run per pipeline execution).
        self.mlflow: MlflowApp | None = None
        if config.mlflow.enabled:
            self.mlflow = MlflowApp(
                self,
                "Mlflow",
                name=f"{name_prefix}-mlflow",
                key=self.key,
                artifacts_bucket=lake.artifacts_bucket,
                settings=config.mlflow,
                removal_policy=removal_policy,
            )
            # The domain's users open this app by default (an app setting CloudFormation lacks: set by one SDK
            # call at deploy time, undone on delete), and these roles may open it and log to it.
            self.mlflow.make_default_for(self.studio.domain.attr_domain_id)
            for role in (self.studio.execution_role, self.studio.data_scientist_role):
                self.mlflow.grant_use(role)
            CfnOutput(self, "MlflowAppArn", value=self.mlflow.app_arn, description="MLflow tracking URI (app ARN)")

        # What operators (and the local tour) need to find the resources; no exports: levels above
        # receive these resources as constructor arguments, and CDK wires any cross-stack references.
        # Every function of this level (the feature skew check) gets its error/throttle alarms and a dashboard row.
        Monitoring(self, "Monitoring", alerts=self.alerts).watch_stack()

        for output_id, value, description in (
            ("RawBucketName", lake.raw_bucket.bucket_name, "Upload raw data here (churn/ prefix)"),
            ("CuratedBucketName", lake.curated_bucket.bucket_name, "Curated Parquet written by the ETL job"),
            ("ArtifactsBucketName", lake.artifacts_bucket.bucket_name, "Athena results and ML artifacts"),
            ("DataKeyArn", self.key.key_arn, "KMS key of the data layer"),
            ("GlueDatabaseName", self.glue.database.ref, "Glue database of the data lake"),
            ("GlueCrawlerName", self.glue.crawler.ref, "Crawler over the raw dataset"),
            ("GlueEtlJobName", self.glue.job.ref, "ETL job raw -> curated"),
            ("AthenaWorkgroupName", self.athena.workgroup.ref, "Athena workgroup for exploration"),
            ("FeaturesGroupName", self.features.names[CUSTOMER_FEATURES.suffix], "Feature group of churn features"),
            ("LabelsGroupName", self.features.names[CHURN_LABELS.suffix], "Feature group of churn labels"),
            *(
                [("FeatureSkewFunctionName", self.feature_skew.function.function.function_name, "Skew check")]
                if self.feature_skew
                else []
            ),
            ("StudioDomainId", self.studio.domain.attr_domain_id, "SageMaker Studio domain"),
            ("DataScientistRoleArn", self.studio.data_scientist_role.role_arn, "Role data scientists assume"),
            ("AlarmTopicArn", self.alerts.topic.topic_arn, "Alarms of every level of this environment"),
        ):
            CfnOutput(self, output_id, value=value, description=description)

    @property
    def availability_zones(self) -> list[str]:
        """The first N AZs of the region, resolved by CloudFormation at deploy time (``Fn::GetAZs``).

        Without this override CDK would look the AZ names up in the account at synth time; literal
        names would not do either, because AZ names map to different zones in each account.
        """
        return [Fn.select(index, Fn.get_azs()) for index in range(self._config.studio.availability_zone_count)]
