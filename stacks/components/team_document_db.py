"""A team's opt-in DocumentDB cluster: a document store as a data source, in the Studio VPC."""

from __future__ import annotations

from aws_cdk import Duration, RemovalPolicy
from aws_cdk import aws_docdb as docdb
from aws_cdk import aws_ec2 as ec2
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from aws_cdk import aws_logs as logs
from constructs import Construct

from stacks.nag import acknowledge

# Not MongoDB's default 27017: scanners probe the default port first (cdk-nag AwsSolutions-DOC2).
PORT = 27117
INSTANCE_TYPE = ec2.InstanceType.of(ec2.InstanceClass.BURSTABLE3, ec2.InstanceSize.MEDIUM)


class TeamDocumentDb(Construct):
    """One DocumentDB instance (db.t3.medium: it costs money every hour, hence opt-in per team).

    Storage, the credentials secret and the exported audit/profiler logs are encrypted with the team
    key; the cluster sits in the Studio VPC's isolated subnets and accepts connections only from the
    Studio apps' security group, on a non-default port, with TLS (DocumentDB's default). Backups are
    kept 7 days; in prod deletion protection is on and a snapshot is taken on removal.
    """

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        team_name: str,
        key: kms.IKey,
        vpc: ec2.IVpc,
        clients: ec2.ISecurityGroup,
        log_retention: logs.RetentionDays,
        removal_policy: RemovalPolicy,
        deletion_protection: bool,
    ) -> None:
        super().__init__(scope, construct_id)
        security_group = ec2.SecurityGroup(
            self,
            "SecurityGroup",
            vpc=vpc,
            description=f"Team {team_name}'s DocumentDB: connections from Studio apps only",
            allow_all_outbound=False,
        )
        security_group.add_ingress_rule(clients, ec2.Port.tcp(PORT), "Studio apps")
        self.cluster = docdb.DatabaseCluster(
            self,
            "Cluster",
            master_user=docdb.Login(username="teamadmin", kms_key=key),
            instance_type=INSTANCE_TYPE,
            instances=1,
            vpc=vpc,
            vpc_subnets=ec2.SubnetSelection(subnet_type=ec2.SubnetType.PRIVATE_ISOLATED),
            security_group=security_group,
            port=PORT,
            storage_encrypted=True,
            kms_key=key,
            backup=docdb.BackupProps(retention=Duration.days(7)),
            export_audit_logs_to_cloud_watch=True,
            export_profiler_logs_to_cloud_watch=True,
            cloud_watch_logs_retention=log_retention,
            deletion_protection=deletion_protection,
            removal_policy=RemovalPolicy.SNAPSHOT if removal_policy == RemovalPolicy.RETAIN else removal_policy,
        )
        secret = self.cluster.secret
        assert secret is not None  # a Login without a password always gets a generated secret
        self.secret = secret
        self.secret_arn = secret.secret_arn
        acknowledge(
            secret,
            "AwsSolutions-SMG4",
            "Rotation runs a Lambda that must reach both the cluster and Secrets Manager; the Studio VPC is "
            "isolated (no NAT, no Secrets Manager endpoint, which would cost money idle). Rotate by hand or add "
            "the endpoint and cluster.add_rotation_single_user() when the team turns DocumentDB on for real.",
        )
        acknowledge(
            self.cluster,
            "AwsSolutions-DOC3",
            "Same reason as the secret's SMG4: no rotation Lambda without a network path to Secrets Manager.",
        )

    def grant_connect(self, role: iam.IRole) -> None:
        """Let `role` read the credentials (and decrypt them with the team key, granted by the team)."""
        self.secret.grant_read(role)
