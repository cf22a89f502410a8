"""SageMaker Feature Store feature groups for the churn use case, defined by ``pipelines/glue/churn_features.py``."""

from __future__ import annotations

from aws_cdk import RemovalPolicy, Stack
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from aws_cdk import aws_s3 as s3
from aws_cdk import aws_sagemaker as sagemaker
from constructs import Construct

from pipelines.glue.churn_features import EVENT_TIME, FEATURE_GROUPS, RECORD_IDENTIFIER, FeatureGroupSpec
from stacks.components.access import acknowledge_wildcard_resource, grant_objects
from stacks.feature_store_config import feature_group_names
from stacks.partition import format_arn

# Offline-store data lands under s3://<bucket>/<OFFLINE_STORE_PREFIX><group suffix>/<account>/sagemaker/<region>/...
OFFLINE_STORE_PREFIX = "feature-store/"
# Where Feature Store creates the offline store's Glue table when DisableGlueTableCreation is false (the
# table name is generated: <group name with _>_<creation epoch>); Athena queries it there.
FEATURE_STORE_GLUE_DATABASE = "sagemaker_featurestore"


class FeatureStore(Construct):
    """The churn feature groups of one environment (or one Level 3 team): offline store in the data lake, online
    store for serving where configured, both encrypted with the given key.

    Each group's offline store writes Parquet under ``feature-store/<name prefix>/`` of ``offline_bucket`` (Feature
    Store appends ``<account>/sagemaker/<region>/offline-store/<group>-<creation time>/data/``) and is
    catalogued by Feature Store itself (``DisableGlueTableCreation`` false) in the ``sagemaker_featurestore``
    Glue database, so Athena can query it. Feature Store writes the offline store as ``offline_role``; that role
    gets exactly the S3, KMS and Glue permissions it needs. Readers and writers get ``grant_*`` methods.

    Per environment: whether the features group has an online store. Removal: prod retains the groups (their
    offline data stays in the bucket either way).
    """

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        name_prefix: str,
        key: kms.IKey,
        offline_bucket: s3.IBucket,
        online_store: bool,
        removal_policy: RemovalPolicy,
    ) -> None:
        super().__init__(scope, construct_id)
        stack = Stack.of(self)
        self._key = key
        self.names = feature_group_names(name_prefix)
        self.offline_prefix = f"{OFFLINE_STORE_PREFIX}{name_prefix}/"
        self.offline_bucket = offline_bucket
        # The groups' S3StorageConfig.S3Uri with a trailing slash: what training reads (not a longer sibling prefix).
        self.offline_uri = offline_bucket.s3_url_for_object(self.offline_prefix)

        self.offline_role = iam.Role(
            self,
            "OfflineStoreRole",
            assumed_by=iam.ServicePrincipal(
                "sagemaker.amazonaws.com",
                conditions={"StringEquals": {"aws:SourceAccount": stack.account}},
            ),
            description="SageMaker Feature Store writes the churn feature groups' offline store (S3 + Glue table)",
        )
        objects_arn = offline_bucket.arn_for_objects(f"{self.offline_prefix}*")
        self.offline_role.add_to_policy(
            iam.PolicyStatement(
                sid="WriteOfflineStore",
                actions=["s3:PutObject", "s3:PutObjectAcl", "s3:GetObject"],
                resources=[objects_arn],
            )
        )
        self.offline_role.add_to_policy(
            iam.PolicyStatement(
                sid="CheckBucketAcl", actions=["s3:GetBucketAcl"], resources=[offline_bucket.bucket_arn]
            )
        )
        acknowledge_wildcard_resource(
            self.offline_role,
            objects_arn,
            "Feature Store names its offline-store objects itself (account, region, group, date partitions); "
            "the grant is limited to this environment's feature-store prefix of one bucket.",
        )
        glue_table_arn = format_arn(
            stack, service="glue", resource="table", resource_name=f"{FEATURE_STORE_GLUE_DATABASE}/*"
        )
        self.offline_role.add_to_policy(
            iam.PolicyStatement(
                sid="MaintainOfflineStoreTable",
                actions=["glue:GetTable", "glue:UpdateTable"],
                resources=[
                    format_arn(stack, service="glue", resource="catalog"),
                    format_arn(stack, service="glue", resource="database", resource_name=FEATURE_STORE_GLUE_DATABASE),
                    glue_table_arn,
                ],
            )
        )
        acknowledge_wildcard_resource(
            self.offline_role,
            glue_table_arn,
            "Feature Store generates the offline store's Glue table name (group name and creation time) in its "
            "own sagemaker_featurestore database; the grant is limited to that database.",
        )
        # S3 SSE-KMS with a bucket key: writing needs a data key, and S3 decrypts the bucket key with the key.
        key.grant(self.offline_role, "kms:GenerateDataKey", "kms:Decrypt")

        offline_s3_uri = offline_bucket.s3_url_for_object(self.offline_prefix.rstrip("/"))
        self.groups: dict[str, sagemaker.CfnFeatureGroup] = {}
        for spec in FEATURE_GROUPS:
            group = sagemaker.CfnFeatureGroup(
                self,
                _construct_id(spec),
                feature_group_name=self.names[spec.suffix],
                description=spec.description,
                record_identifier_feature_name=RECORD_IDENTIFIER,
                event_time_feature_name=EVENT_TIME,
                feature_definitions=[
                    sagemaker.CfnFeatureGroup.FeatureDefinitionProperty(feature_name=f.name, feature_type=f.type)
                    for f in spec.features
                ],
                offline_store_config={
                    "S3StorageConfig": {"S3Uri": offline_s3_uri, "KmsKeyId": key.key_arn},
                    "DisableGlueTableCreation": False,
                    "TableFormat": "Glue",
                },
                online_store_config=(
                    {"EnableOnlineStore": True, "SecurityConfig": {"KmsKeyId": key.key_arn}}
                    if spec.online and online_store
                    else None
                ),
                role_arn=self.offline_role.role_arn,
                # Pay per read and write: no idle cost, and the batch ETL's bursts need no capacity planning.
                throughput_config=sagemaker.CfnFeatureGroup.ThroughputConfigProperty(throughput_mode="OnDemand"),
            )
            # CreateFeatureGroup checks the role's access to the offline store: its policy must exist first.
            group.node.add_dependency(self.offline_role)
            group.apply_removal_policy(removal_policy)
            self.groups[spec.suffix] = group

    def arn(self, spec: FeatureGroupSpec) -> str:
        # SageMaker lower-cases the name in a feature group's ARN.
        return format_arn(
            Stack.of(self), service="sagemaker", resource="feature-group", resource_name=self.names[spec.suffix].lower()
        )

    def grant_put(self, grantee: iam.IGrantable, *specs: FeatureGroupSpec) -> None:
        """PutRecord into the given groups (the online store's data plane needs kms:Decrypt on its key)."""
        iam.Grant.add_to_principal(
            grantee=grantee, actions=["sagemaker:PutRecord"], resource_arns=[self.arn(spec) for spec in specs]
        )
        self._key.grant(grantee, "kms:Decrypt", "kms:GenerateDataKey")

    def grant_offline_read(self, role: iam.Role, *, purpose: str) -> None:
        """Read the groups' offline store (list and get its Parquet under the prefix, decrypt with the key)."""
        grant_objects(role, self.offline_bucket, self._key, prefix=self.offline_prefix, purpose=purpose)

    def grant_get(self, grantee: iam.IGrantable, *specs: FeatureGroupSpec) -> None:
        """GetRecord / BatchGetRecord from the online store of the given groups, and DescribeFeatureGroup."""
        iam.Grant.add_to_principal(
            grantee=grantee,
            actions=["sagemaker:GetRecord", "sagemaker:BatchGetRecord", "sagemaker:DescribeFeatureGroup"],
            resource_arns=[self.arn(spec) for spec in specs],
        )
        self._key.grant(grantee, "kms:Decrypt")


def _construct_id(spec: FeatureGroupSpec) -> str:
    return "".join(part.capitalize() for part in spec.suffix.split("-")) + "Group"
