"""A team's opt-in DocumentDB cluster: a document store as a data source, in the Studio VPC."""

from __future__ import annotations

from aws_cdk import ArnFormat, Duration, RemovalPolicy, Resource, Stack
from aws_cdk import aws_docdb as docdb
from aws_cdk import aws_ec2 as ec2
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from aws_cdk import aws_logs as logs
from constructs import Construct

from stacks.nag import acknowledge
from stacks.partition import format_arn, url_suffix

# Not MongoDB's default 27017: scanners probe the default port first (cdk-nag AwsSolutions-DOC2).
PORT = 27117
PARAMETER_FAMILY = "docdb5.0"
INSTANCE_TYPE = ec2.InstanceType.of(ec2.InstanceClass.BURSTABLE3, ec2.InstanceSize.MEDIUM)
SECRET_READ_ACTIONS = ("secretsmanager:GetSecretValue", "secretsmanager:DescribeSecret")


class TeamDocumentDb(Construct):
    """One DocumentDB instance (db.t3.medium: it costs money every hour, hence opt-in per team).

    Storage, the credentials secret and the exported audit/profiler logs are encrypted with the team
    key; the cluster sits in the Studio VPC's isolated subnets and accepts connections only from the
    Studio apps' security group (which gets the matching egress rule), on a non-default port, with TLS
    (DocumentDB's default). Studio apps reach the VPC only in a ``VpcOnly`` domain (config validation
    requires it). Backups are kept 7 days; in prod deletion protection is on and a snapshot is taken
    on removal.
    """

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        team_name: str,
        env_name: str,
        resource_prefix: str,
        key: kms.Key,
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
            description=f"DocumentDB of team {team_name}: connections from Studio apps only",
            allow_all_outbound=False,
        )
        # Both sides: the cluster accepts the Studio apps, and the Studio apps' group (which allows no
        # outbound traffic by default) may reach the cluster. The egress rule lives in this stack.
        security_group.connections.allow_from(clients, ec2.Port.tcp(PORT), "Studio apps to DocumentDB")
        cluster_name = f"{resource_prefix}-{team_name}"
        # audit_logs=enabled logs authentication, DDL (createIndex, dropCollection ...) and role changes.
        parameters = docdb.ClusterParameterGroup(
            self,
            "Parameters",
            family=PARAMETER_FAMILY,
            description=f"Team {team_name}'s DocumentDB: TLS required, audit and profiler logs on",
            parameters={"tls": "enabled", "audit_logs": "enabled", "profiler": "enabled"},
        )
        # The cluster's log groups, created here so that they have a retention and the team key
        # (the cluster's own option for retention would deploy a custom-resource Lambda).
        for log in ("audit", "profiler"):
            logs.LogGroup(
                self,
                f"{log.capitalize()}Logs",
                log_group_name=f"/aws/docdb/{cluster_name}/{log}",
                encryption_key=key,
                retention=log_retention,
                removal_policy=removal_policy,
            )
        key.add_to_resource_policy(
            iam.PolicyStatement(
                sid=f"DocumentDbLogsOfTeam{team_name.replace('-', '')}",
                principals=[iam.ServicePrincipal(f"logs.{Stack.of(self).region}.{url_suffix(Stack.of(self))}")],
                actions=["kms:Encrypt*", "kms:Decrypt*", "kms:ReEncrypt*", "kms:GenerateDataKey*", "kms:Describe*"],
                resources=["*"],
                conditions={
                    "ArnLike": {
                        "kms:EncryptionContext:aws:logs:arn": format_arn(
                            Stack.of(self),
                            service="logs",
                            resource="log-group",
                            resource_name=f"/aws/docdb/{cluster_name}/*",
                            arn_format=ArnFormat.COLON_RESOURCE_NAME,
                        )
                    }
                },
            )
        )
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
            db_cluster_name=cluster_name,
            parameter_group=parameters,
            deletion_protection=deletion_protection,
            removal_policy=RemovalPolicy.SNAPSHOT if removal_policy == RemovalPolicy.RETAIN else removal_policy,
        )
        secret = self.cluster.secret
        assert secret is not None  # a Login without a password always gets a generated secret
        # The master credentials outlive the cluster when it is kept (snapshot): a restore needs them.
        generated = self.cluster.node.find_child("Secret")
        assert isinstance(generated, Resource)
        generated.apply_removal_policy(removal_policy)
        self.secret = secret
        self.secret_arn = secret.secret_arn
        acknowledge(
            self.cluster.node.find_child("Secret"),
            "AwsSolutions-SMG4",
            "Rotation runs a Lambda that must reach both the cluster and Secrets Manager from inside the isolated "
            "Studio VPC (no NAT); none is deployed yet. Rotate by hand, or add cluster.add_rotation_single_user() "
            "in the VPC (the VpcOnly domain already has a Secrets Manager endpoint).",
        )
        acknowledge(
            self.cluster,
            "AwsSolutions-DOC3",
            "Same reason as the secret's SMG4: no rotation Lambda without a network path to Secrets Manager.",
        )
        for event in ("authenticate", "createIndex", "dropCollection"):
            acknowledge(
                self.cluster,
                "AwsSolutions-DOC5",
                "DocumentDB exports only 'audit' and 'profiler' log types (both on); these events are recorded in "
                "the audit log because the cluster parameter group sets audit_logs=enabled.",
                finding=f"LogExport::{event}",
            )

    def grant_connect(self, role: iam.IRole, *, boundary: iam.ManagedPolicy) -> None:
        """Let `role` read the credentials; the team already grants its roles the team key they need.

        `boundary` is the role's permission boundary: AWS allows a call only when the identity policy
        AND the boundary allow it, so the boundary gets the same statement (this secret only).
        Not ``secret.grant_read``: it would also name the role in the key policy, and the key policy
        and the role's boundary (which names the key) would then depend on each other.
        """
        role.add_to_principal_policy(
            iam.PolicyStatement(actions=list(SECRET_READ_ACTIONS), resources=[self.secret_arn])
        )
        boundary.add_statements(
            iam.PolicyStatement(
                sid="TeamDocumentDbSecret", actions=list(SECRET_READ_ACTIONS), resources=[self.secret_arn]
            )
        )
