"""Amazon MSK Serverless as a second source of the streaming test strategy (opt-in: `mskStreaming`)."""

from __future__ import annotations

from aws_cdk import Fn, RemovalPolicy, Stack
from aws_cdk import aws_ec2 as ec2
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_lambda_event_sources as sources
from aws_cdk import aws_logs as logs
from aws_cdk import aws_msk as msk
from aws_cdk import aws_sqs as sqs
from constructs import Construct

from stacks.nag import acknowledge

VPC_CIDR = "10.41.0.0/16"  # beside the Studio VPC's 10.40.0.0/16, so the two could be peered
AVAILABILITY_ZONE_COUNT = 2  # MSK Serverless needs subnets in at least two AZs
IAM_PORT = 9098  # MSK's port for clients that authenticate with IAM (SASL/OAUTHBEARER over TLS)
TOPIC = "churn-test-records"

# What Lambda needs to manage the network interfaces its event pollers use in the cluster's subnets
# (the same list as the AWS managed policy AWSLambdaMSKExecutionRole, without its logging actions).
_POLLER_NETWORK_ACTIONS = [
    "ec2:CreateNetworkInterface",
    "ec2:DeleteNetworkInterface",
    "ec2:DescribeNetworkInterfaces",
    "ec2:DescribeSecurityGroups",
    "ec2:DescribeSubnets",
    "ec2:DescribeVpcs",
]


class MskStream(Construct):
    """An MSK Serverless cluster (IAM authentication only) whose topic feeds the stream consumer Lambda.

    Network: a VPC of its own with isolated subnets in two AZs (no NAT gateway, no internet gateway),
    flow logs, and two security groups that only speak the IAM port: the cluster's (which Lambda's event
    pollers also use, as they run in the cluster's subnets) and one for producers. The event source
    mapping runs in provisioned mode with one poller: only that mode offers Kafka's error-handling
    controls (partial batch response, a retry limit, bisecting), and its pollers reach Lambda and STS
    without the interface endpoints that on-demand pollers in isolated subnets would need.

    Consumer: the existing stream consumer function, with partial batch responses, two retries, bisect
    on error and the same dead-letter queue as the Kinesis source. Its role may connect, read the topic
    and commit offsets for its own consumer group, nothing else. Producer: a role this account's
    principals can assume to create the topic once (MSK Serverless has no CloudFormation topic) and
    write test records to it.

    Per environment: the names carry the environment; log retention and removal policy.
    """

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        name_prefix: str,
        consumer: lambda_.IFunction,
        consumer_role: iam.IRole,
        failed_records: sqs.IQueue,
        availability_zones: list[str],
        key: kms.IKey,
        log_retention: logs.RetentionDays,
        removal_policy: RemovalPolicy,
    ) -> None:
        super().__init__(scope, construct_id)
        stack = Stack.of(self)
        if len(availability_zones) < AVAILABILITY_ZONE_COUNT:
            raise ValueError(f"MSK Serverless needs subnets in {AVAILABILITY_ZONE_COUNT} availability zones")
        self.topic = TOPIC
        self.cluster_name = f"{name_prefix}-test-stream"
        self.consumer_group_id = f"{name_prefix}-test-stream-consumer"

        self.vpc = ec2.Vpc(
            self,
            "Vpc",
            ip_addresses=ec2.IpAddresses.cidr(VPC_CIDR),
            availability_zones=availability_zones[:AVAILABILITY_ZONE_COUNT],
            nat_gateways=0,
            subnet_configuration=[
                ec2.SubnetConfiguration(name="msk", subnet_type=ec2.SubnetType.PRIVATE_ISOLATED, cidr_mask=24)
            ],
        )
        flow_log_group = logs.LogGroup(
            self, "FlowLogs", encryption_key=key, retention=log_retention, removal_policy=removal_policy
        )
        self.vpc.add_flow_log("FlowLog", destination=ec2.FlowLogDestination.to_cloud_watch_logs(flow_log_group))

        self.cluster_security_group = ec2.SecurityGroup(
            self,
            "ClusterSecurityGroup",
            vpc=self.vpc,
            description="MSK Serverless cluster and the interfaces of Lambda event pollers: Kafka over IAM only",
            allow_all_outbound=False,
        )
        self.client_security_group = ec2.SecurityGroup(
            self,
            "ClientSecurityGroup",
            vpc=self.vpc,
            description="Producers of streaming test records: Kafka over IAM to the cluster only",
            allow_all_outbound=False,
        )
        cluster_sg, client_sg = self.cluster_security_group, self.client_security_group
        port = ec2.Port.tcp(IAM_PORT)
        # Lambda's pollers use the cluster's own security group, so the group must talk to itself.
        cluster_sg.add_ingress_rule(cluster_sg, port, "Lambda event pollers to the cluster (IAM auth)")
        cluster_sg.add_egress_rule(cluster_sg, port, "Lambda event pollers to the cluster (IAM auth)")
        cluster_sg.add_ingress_rule(client_sg, port, "Producers of test records (IAM auth)")
        client_sg.add_egress_rule(cluster_sg, port, "Producers of test records (IAM auth)")

        self.cluster = msk.CfnServerlessCluster(
            self,
            "Cluster",
            cluster_name=self.cluster_name,
            client_authentication=msk.CfnServerlessCluster.ClientAuthenticationProperty(
                sasl=msk.CfnServerlessCluster.SaslProperty(iam=msk.CfnServerlessCluster.IamProperty(enabled=True))
            ),
            vpc_configs=[
                msk.CfnServerlessCluster.VpcConfigProperty(
                    subnet_ids=[subnet.subnet_id for subnet in self.vpc.isolated_subnets],
                    security_groups=[cluster_sg.security_group_id],
                )
            ],
        )
        self.cluster.apply_removal_policy(removal_policy)
        self.cluster_arn = self.cluster.attr_arn
        # Kafka resource ARNs: <type>/<cluster name>/<cluster UUID>/<name>; the UUID is the ARN's last part.
        cluster_uuid = Fn.select(2, Fn.split("/", self.cluster_arn))

        def kafka_arn(resource: str, name: str) -> str:
            return stack.format_arn(
                service="kafka", resource=resource, resource_name=f"{self.cluster_name}/{cluster_uuid}/{name}"
            )

        self.topic_arn = kafka_arn("topic", TOPIC)
        group_arn = kafka_arn("group", self.consumer_group_id)

        # --- consumer: the stream consumer function's role -------------------------------------------
        consumer_policy = iam.Policy(
            self,
            "ConsumerPolicy",
            statements=[
                iam.PolicyStatement(
                    sid="FindTheCluster",
                    actions=["kafka:DescribeClusterV2", "kafka:GetBootstrapBrokers"],
                    resources=[self.cluster_arn],
                ),
                iam.PolicyStatement(
                    sid="ConnectToTheCluster",
                    actions=["kafka-cluster:Connect", "kafka-cluster:DescribeClusterDynamicConfiguration"],
                    resources=[self.cluster_arn],
                ),
                iam.PolicyStatement(
                    sid="ReadTheTestTopic",
                    actions=["kafka-cluster:DescribeTopic", "kafka-cluster:ReadData"],
                    resources=[self.topic_arn],
                ),
                iam.PolicyStatement(
                    sid="CommitOffsetsOfItsOwnGroup",
                    actions=["kafka-cluster:DescribeGroup", "kafka-cluster:AlterGroup"],
                    resources=[group_arn],
                ),
                iam.PolicyStatement(sid="PollerNetworkInterfaces", actions=_POLLER_NETWORK_ACTIONS, resources=["*"]),
            ],
        )
        consumer_policy.attach_to_role(consumer_role)
        acknowledge(
            consumer_policy,
            "AwsSolutions-IAM5",
            "Lambda creates and deletes its MSK event pollers' network interfaces with the execution role; their "
            "IDs do not exist before, and EC2's Describe actions have no resource-level permissions.",
            finding="Resource::*",
        )

        # A plain mapping rather than ManagedKafkaEventSource, which would also attach the AWS managed
        # policy AWSLambdaMSKExecutionRole (kafka:Describe*, ENIs and logs on every resource).
        self.event_source_mapping = lambda_.EventSourceMapping(
            self,
            "EventSourceMapping",
            target=consumer,
            event_source_arn=self.cluster_arn,
            kafka_topic=TOPIC,
            kafka_consumer_group_id=self.consumer_group_id,
            starting_position=lambda_.StartingPosition.TRIM_HORIZON,
            batch_size=100,
            # Kafka's error-handling controls below exist only in provisioned mode.
            provisioned_poller_config=lambda_.ProvisionedPollerConfig(minimum_pollers=1, maximum_pollers=1),
            retry_attempts=2,
            bisect_batch_on_error=True,
            report_batch_item_failures=True,
            on_failure=sources.SqsDlq(failed_records),
        )
        # Lambda checks the execution role when it creates the mapping: the policy must be there first.
        self.event_source_mapping.node.add_dependency(consumer_policy)

        # --- producer: whoever feeds test records (and creates the topic once) -----------------------
        self.producer_role = iam.Role(
            self,
            "ProducerRole",
            assumed_by=iam.AccountRootPrincipal(),
            description=f"Creates the topic {TOPIC} once and produces streaming test records to it",
        )
        self.producer_role.add_to_principal_policy(
            iam.PolicyStatement(
                sid="FindTheCluster",
                actions=["kafka:DescribeClusterV2", "kafka:GetBootstrapBrokers"],
                resources=[self.cluster_arn],
            )
        )
        self.producer_role.add_to_principal_policy(
            iam.PolicyStatement(
                sid="ConnectAsAnIdempotentProducer",
                actions=["kafka-cluster:Connect", "kafka-cluster:WriteDataIdempotently"],
                resources=[self.cluster_arn],
            )
        )
        self.producer_role.add_to_principal_policy(
            iam.PolicyStatement(
                sid="CreateAndWriteTheTestTopic",
                actions=["kafka-cluster:CreateTopic", "kafka-cluster:DescribeTopic", "kafka-cluster:WriteData"],
                resources=[self.topic_arn],
            )
        )
