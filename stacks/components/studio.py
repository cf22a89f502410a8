"""SageMaker Studio in a stack-owned VPC, with the roles data scientists work under."""

from __future__ import annotations

from aws_cdk import RemovalPolicy, Stack
from aws_cdk import aws_ec2 as ec2
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from aws_cdk import aws_logs as logs
from aws_cdk import aws_s3 as s3
from aws_cdk import aws_sagemaker as sagemaker
from constructs import Construct

from stacks.components.access import acknowledge_wildcard_resource, grant_objects, member_principal
from stacks.config import StudioNetwork
from stacks.partition import format_arn

VPC_CIDR = "10.40.0.0/16"
NFS_PORT = 2049  # Studio home directories live on EFS

# Services a notebook calls when Studio runs with VpcOnly networking and therefore has no route out.
VPC_ONLY_INTERFACE_ENDPOINTS = {
    "SageMakerApi": ec2.InterfaceVpcEndpointAwsService.SAGEMAKER_API,
    "SageMakerRuntime": ec2.InterfaceVpcEndpointAwsService.SAGEMAKER_RUNTIME,
    "SageMakerStudio": ec2.InterfaceVpcEndpointAwsService.SAGEMAKER_STUDIO,
    "Sts": ec2.InterfaceVpcEndpointAwsService.STS,
    "Logs": ec2.InterfaceVpcEndpointAwsService.CLOUDWATCH_LOGS,
    "Athena": ec2.InterfaceVpcEndpointAwsService.ATHENA,
    "Glue": ec2.InterfaceVpcEndpointAwsService.GLUE,
}


class StudioDomain(Construct):
    """A SageMaker Studio domain (IAM auth) with a shared explorer user profile.

    Network: a VPC with isolated private subnets only (no NAT gateway, so no idle cost), an S3
    gateway endpoint (free) and VPC flow logs. With ``PublicInternetOnly`` the notebooks reach the
    internet through the SageMaker-managed VPC and only EFS traffic uses ours; ``VpcOnly`` keeps all
    traffic in our VPC and adds the interface endpoints Studio needs (they cost money per hour).

    Roles: the domain's default execution role reads raw and curated data, writes to the artifacts
    bucket, queries through the Athena workgroup and reads the Glue catalog, and manages its own
    Studio apps; nothing else. The data-scientist role is what people assume to open Studio and to
    load data (only the configured `data_scientists`: IAM role ARNs or Identity Center permission
    sets); it can start the crawler and the ETL job.

    With `secrets_manager_endpoint` (a team's DocumentDB, whose credentials are a secret, needs it)
    ``VpcOnly`` also gets a Secrets Manager endpoint.

    Per environment: network access mode, availability zones, flow-log retention and removal policy.
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
        artifacts_bucket: s3.IBucket,
        athena_workgroup_arn: str,
        glue_database_name: str,
        glue_crawler_name: str,
        glue_job_name: str,
        network_access: StudioNetwork,
        availability_zones: list[str],
        data_scientists: tuple[str, ...],
        secrets_manager_endpoint: bool = False,
        log_retention: logs.RetentionDays,
        removal_policy: RemovalPolicy,
    ) -> None:
        super().__init__(scope, construct_id)
        stack = Stack.of(self)

        self.vpc = ec2.Vpc(
            self,
            "Vpc",
            ip_addresses=ec2.IpAddresses.cidr(VPC_CIDR),
            availability_zones=availability_zones,
            nat_gateways=0,
            subnet_configuration=[
                ec2.SubnetConfiguration(name="studio", subnet_type=ec2.SubnetType.PRIVATE_ISOLATED, cidr_mask=20)
            ],
            gateway_endpoints={"S3": ec2.GatewayVpcEndpointOptions(service=ec2.GatewayVpcEndpointAwsService.S3)},
        )
        flow_log_group = logs.LogGroup(
            self,
            "FlowLogs",
            encryption_key=key,
            retention=log_retention,
            removal_policy=removal_policy,
        )
        self.vpc.add_flow_log("FlowLog", destination=ec2.FlowLogDestination.to_cloud_watch_logs(flow_log_group))

        self.security_group = ec2.SecurityGroup(
            self,
            "AppsSecurityGroup",
            vpc=self.vpc,
            description="Studio apps: EFS home directories and app-to-app traffic inside the domain",
            allow_all_outbound=False,
        )
        self.security_group.add_ingress_rule(self.security_group, ec2.Port.tcp(NFS_PORT), "EFS home directories")
        self.security_group.add_egress_rule(self.security_group, ec2.Port.tcp(NFS_PORT), "EFS home directories")
        self.security_group.add_ingress_rule(
            self.security_group, ec2.Port.tcp_range(8192, 65535), "Studio app-to-app traffic"
        )
        self.security_group.add_egress_rule(
            self.security_group, ec2.Port.tcp_range(8192, 65535), "Studio app-to-app traffic"
        )
        # The subnets are isolated: the only HTTPS destinations with a route are the S3 gateway
        # endpoint (whose prefix list ID would need a lookup at synth time) and the interface endpoints.
        self.security_group.add_egress_rule(
            ec2.Peer.any_ipv4(), ec2.Port.HTTPS, "AWS APIs through the VPC's gateway and interface endpoints"
        )

        if network_access == "VpcOnly":
            # One security group for all endpoints, open to the VPC's literal CIDR: the per-endpoint
            # default would reference the CIDR as a token, which security review tooling cannot read.
            endpoints_sg = ec2.SecurityGroup(
                self,
                "EndpointsSecurityGroup",
                vpc=self.vpc,
                description="Interface endpoints: HTTPS from inside the Studio VPC only",
                allow_all_outbound=False,
            )
            endpoints_sg.add_ingress_rule(ec2.Peer.ipv4(VPC_CIDR), ec2.Port.HTTPS, "HTTPS from the Studio VPC")
            endpoints = dict(VPC_ONLY_INTERFACE_ENDPOINTS)
            if secrets_manager_endpoint:
                # A team's DocumentDB credentials are a secret: notebooks read them from inside the VPC.
                endpoints["SecretsManager"] = ec2.InterfaceVpcEndpointAwsService.SECRETS_MANAGER
            for endpoint_id, service in endpoints.items():
                self.vpc.add_interface_endpoint(
                    endpoint_id,
                    service=service,
                    private_dns_enabled=True,
                    open=False,
                    security_groups=[endpoints_sg],
                    subnets=ec2.SubnetSelection(subnet_type=ec2.SubnetType.PRIVATE_ISOLATED),
                )

        # --- roles ---------------------------------------------------------------------------------
        self.execution_role = iam.Role(
            self,
            "ExecutionRole",
            assumed_by=iam.ServicePrincipal("sagemaker.amazonaws.com"),
            description="Default execution role of Studio apps: data-lake access for exploration only",
        )
        # Only the configured people: the account root with no condition would let any principal of the
        # account that may call sts:AssumeRole take this role.
        self.data_scientist_role = iam.Role(
            self,
            "DataScientistRole",
            assumed_by=member_principal(stack, data_scientists[0]),
            description="Assumed by data scientists to open Studio, load raw data and run the crawler and ETL",
        )
        assert self.data_scientist_role.assume_role_policy is not None  # a Role always has one
        for member in data_scientists[1:]:
            # One statement per member, so that one member's condition never applies to another.
            self.data_scientist_role.assume_role_policy.add_statements(
                iam.PolicyStatement(actions=["sts:AssumeRole"], principals=[member_principal(stack, member)])
            )
        for role, who in (
            (self.execution_role, "Studio notebooks"),
            (self.data_scientist_role, "Data scientists"),
        ):
            grant_objects(
                role,
                raw_bucket,
                key,
                write=role is self.data_scientist_role,
                purpose=f"{who} explore raw data",
            )
            grant_objects(role, curated_bucket, key, purpose=f"{who} explore curated data")
            grant_objects(
                role,
                artifacts_bucket,
                key,
                write=True,
                purpose=f"{who} keep notebooks' outputs and query results",
            )
            _grant_athena_query(role, stack, athena_workgroup_arn, glue_database_name)

        self.domain = sagemaker.CfnDomain(
            self,
            "Domain",
            domain_name=f"{name_prefix}-studio",
            auth_mode="IAM",
            app_network_access_type=network_access,
            vpc_id=self.vpc.vpc_id,
            subnet_ids=[subnet.subnet_id for subnet in self.vpc.isolated_subnets],
            kms_key_id=key.key_arn,
            tag_propagation="ENABLED",
            default_user_settings=sagemaker.CfnDomain.UserSettingsProperty(
                execution_role=self.execution_role.role_arn,
                security_groups=[self.security_group.security_group_id],
                studio_web_portal="ENABLED",
                default_landing_uri="studio::",
            ),
        )
        self.domain.apply_removal_policy(removal_policy)

        self.explorer_profile = sagemaker.CfnUserProfile(
            self,
            "ExplorerProfile",
            domain_id=self.domain.attr_domain_id,
            user_profile_name="explorer",
        )
        self.explorer_profile.apply_removal_policy(removal_policy)

        domain_id = self.domain.attr_domain_id
        apps_arn = format_arn(stack, service="sagemaker", resource="app", resource_name=f"{domain_id}/*")
        profiles_arn = format_arn(stack, service="sagemaker", resource="user-profile", resource_name=f"{domain_id}/*")
        spaces_arn = format_arn(stack, service="sagemaker", resource="space", resource_name=f"{domain_id}/*")
        self.execution_role.add_to_policy(
            iam.PolicyStatement(
                sid="ManageOwnStudioApps",
                actions=["sagemaker:CreateApp", "sagemaker:DeleteApp", "sagemaker:DescribeApp"],
                resources=[apps_arn],
            )
        )
        self.execution_role.add_to_policy(
            iam.PolicyStatement(
                sid="ReadOwnDomain",
                actions=[
                    "sagemaker:DescribeDomain",
                    "sagemaker:DescribeUserProfile",
                    "sagemaker:DescribeSpace",
                ],
                resources=[
                    format_arn(stack, service="sagemaker", resource="domain", resource_name=domain_id),
                    profiles_arn,
                    spaces_arn,
                ],
            )
        )
        for arn, what in ((apps_arn, "apps"), (profiles_arn, "user profiles"), (spaces_arn, "spaces")):
            acknowledge_wildcard_resource(
                self.execution_role,
                arn,
                f"Studio {what} are created by users at run time; the wildcard is confined to this one domain.",
            )
        self.data_scientist_role.add_to_policy(
            iam.PolicyStatement(
                sid="OpenStudio",
                actions=["sagemaker:CreatePresignedDomainUrl"],
                resources=[
                    format_arn(
                        stack,
                        service="sagemaker",
                        resource="user-profile",
                        resource_name=f"{domain_id}/{self.explorer_profile.user_profile_name}",
                    )
                ],
            )
        )
        self.data_scientist_role.add_to_policy(
            iam.PolicyStatement(
                sid="RunDataLakeEtl",
                actions=[
                    "glue:StartCrawler",
                    "glue:GetCrawler",
                    "glue:StartJobRun",
                    "glue:GetJobRun",
                    "glue:GetJobRuns",
                ],
                resources=[
                    format_arn(stack, service="glue", resource="crawler", resource_name=glue_crawler_name),
                    format_arn(stack, service="glue", resource="job", resource_name=glue_job_name),
                ],
            )
        )


def _grant_athena_query(role: iam.Role, stack: Stack, workgroup_arn: str, database_name: str) -> None:
    role.add_to_policy(
        iam.PolicyStatement(
            sid="QueryThroughWorkgroup",
            actions=[
                "athena:StartQueryExecution",
                "athena:StopQueryExecution",
                "athena:GetQueryExecution",
                "athena:GetQueryResults",
                "athena:GetWorkGroup",
            ],
            resources=[workgroup_arn],
        )
    )
    tables_arn = format_arn(stack, service="glue", resource="table", resource_name=f"{database_name}/*")
    role.add_to_policy(
        iam.PolicyStatement(
            sid="ReadLakeCatalog",
            actions=[
                "glue:GetDatabase",
                "glue:GetTable",
                "glue:GetTables",
                "glue:GetPartition",
                "glue:GetPartitions",
            ],
            resources=[
                format_arn(stack, service="glue", resource="catalog"),
                format_arn(stack, service="glue", resource="database", resource_name=database_name),
                tables_arn,
            ],
        )
    )
    acknowledge_wildcard_resource(
        role,
        tables_arn,
        "Read-only access to the tables of the lake database, whose names the crawler derives from data.",
    )
