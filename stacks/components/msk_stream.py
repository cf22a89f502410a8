"""Amazon MSK Serverless as a second source of the streaming test strategy (opt-in: `mskStreaming`)."""

from __future__ import annotations

from aws_cdk import CustomResource, Duration, Fn, RemovalPolicy, Stack
from aws_cdk import aws_ec2 as ec2
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_lambda_event_sources as sources
from aws_cdk import aws_logs as logs
from aws_cdk import aws_msk as msk
from aws_cdk import aws_s3 as s3
from aws_cdk import aws_sqs as sqs
from aws_cdk import custom_resources as cr
from constructs import Construct

from stacks.components.access import acknowledge_wildcard_resource, grant_objects
from stacks.components.python_function import PythonFunction
from stacks.nag import acknowledge
from stacks.partition import format_arn

VPC_CIDR = "10.41.0.0/16"  # beside the Studio VPC's 10.40.0.0/16, so the two could be peered
AVAILABILITY_ZONE_COUNT = 2  # MSK Serverless needs subnets in at least two AZs
IAM_PORT = 9098  # MSK's port for clients that authenticate with IAM (SASL/OAUTHBEARER over TLS)
TOPIC = "churn-test-records"
TOPIC_PARTITIONS = 1  # one partition keeps the test records in file order; the test needs no throughput
# The Kafka client the in-VPC functions bundle (lambdas/msk_feed/), with the AWS signer for IAM auth.
KAFKA_PACKAGES = ("kafka-python", "aws-msk-iam-sasl-signer-python")
HTTPS_PORT = 443

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
    """An MSK Serverless cluster (IAM authentication only), its topic, and the functions that feed it.

    Network: a VPC of its own with isolated subnets in two AZs (no NAT gateway, no internet gateway),
    flow logs, the free S3 gateway endpoint (its policy allows reading the test records only), and two
    security groups: the cluster's (which Lambda's event pollers also use, as they run in the cluster's
    subnets) and the clients' (the topic and feed functions), which only speak the IAM port to the
    cluster and HTTPS to S3's prefix list. The event source mapping runs in provisioned mode with one
    poller: only that mode offers Kafka's error-handling controls (partial batch response, a retry limit,
    bisecting), and its pollers reach Lambda and STS without the interface endpoints that on-demand
    pollers in isolated subnets would need.

    Topic: MSK Serverless has no CloudFormation topic and no topic API, so a custom resource creates it
    with a Kafka admin client: CDK's provider framework (outside the VPC, it answers CloudFormation)
    invokes `lambdas/msk_feed/topic_handler.py` in the VPC. The bootstrap brokers and the S3 prefix list
    ID are read at deploy time by CDK's AwsCustomResource (CloudFormation exposes neither).

    Consumer: the existing stream consumer function, with partial batch responses, two retries, bisect
    on error and the same dead-letter queue as the Kinesis source. Its role may connect, read the topic
    and commit offsets for its own consumer group, nothing else. Feed: `lambdas/msk_feed/handler.py`
    produces the preprod test records (`test_data_key` in `test_data_bucket`) to the topic; the
    pipeline's preprod check invokes it. Kafka permissions: the topic function may create, describe and
    delete that topic; the feed function may write to it.

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
        test_data_bucket: s3.IBucket,
        test_data_key: str,
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
            return format_arn(
                stack, service="kafka", resource=resource, resource_name=f"{self.cluster_name}/{cluster_uuid}/{name}"
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

        # --- how the in-VPC functions find the cluster and S3 -----------------------------------------
        # CloudFormation exposes neither the cluster's bootstrap brokers nor the S3 prefix list ID; one SDK
        # call each at deploy time, from CDK's AwsCustomResource function (outside the VPC), reads them.
        sdk_logs = logs.LogGroup(
            self, "SdkCallLogs", encryption_key=key, retention=log_retention, removal_policy=removal_policy
        )
        brokers = cr.AwsCustomResource(
            self,
            "BootstrapBrokers",
            on_create=_bootstrap_brokers_call(self.cluster_arn),
            on_update=_bootstrap_brokers_call(self.cluster_arn),
            policy=cr.AwsCustomResourcePolicy.from_statements(
                [iam.PolicyStatement(actions=["kafka:GetBootstrapBrokers"], resources=[self.cluster_arn])]
            ),
            install_latest_aws_sdk=False,
            log_group=sdk_logs,
        )
        self.bootstrap_servers = brokers.get_response_field("BootstrapBrokerStringSaslIam")
        s3_prefix_list_call = cr.AwsSdkCall(
            service="EC2",
            action="describeManagedPrefixLists",
            parameters={"Filters": [{"Name": "prefix-list-name", "Values": [f"com.amazonaws.{stack.region}.s3"]}]},
            physical_resource_id=cr.PhysicalResourceId.of(f"s3-prefix-list-{stack.region}"),
            output_paths=["PrefixLists.0.PrefixListId"],
        )
        s3_prefix_list = cr.AwsCustomResource(
            self,
            "S3PrefixList",
            on_create=s3_prefix_list_call,
            on_update=s3_prefix_list_call,
            policy=cr.AwsCustomResourcePolicy.from_statements(
                [iam.PolicyStatement(actions=["ec2:DescribeManagedPrefixLists"], resources=["*"])]
            ),
            install_latest_aws_sdk=False,
            log_group=sdk_logs,
        )
        acknowledge(
            s3_prefix_list.node.find_child("CustomResourcePolicy"),
            "AwsSolutions-IAM5",
            "ec2:DescribeManagedPrefixLists has no resource-level permissions; it only reads the ID of the "
            "AWS-managed S3 prefix list.",
            finding="Resource::*",
        )
        sdk_function = stack.node.find_child(_AWS_CUSTOM_RESOURCE_PROVIDER_ID)
        acknowledge(
            sdk_function.node.find_child("ServiceRole"),
            "AwsSolutions-IAM4",
            "CDK's AwsCustomResource function role: AWSLambdaBasicExecutionRole only lets it write its own logs.",
            finding="Policy::arn:<AWS::Partition>:iam::aws:policy/service-role/AWSLambdaBasicExecutionRole",
        )

        # The free S3 gateway endpoint: the feed function reads the test records from the isolated subnets.
        # Its policy lets requests through it read exactly that object, nothing else in S3.
        self.s3_endpoint = self.vpc.add_gateway_endpoint(
            "S3Endpoint",
            service=ec2.GatewayVpcEndpointAwsService.S3,
            subnets=[ec2.SubnetSelection(subnet_type=ec2.SubnetType.PRIVATE_ISOLATED)],
        )
        self.s3_endpoint.add_to_policy(
            iam.PolicyStatement(
                sid="ReadTheTestRecordsOnly",
                principals=[iam.AnyPrincipal()],
                actions=["s3:GetObject"],
                resources=[test_data_bucket.arn_for_objects(test_data_key)],
            )
        )
        client_sg.add_egress_rule(
            ec2.Peer.prefix_list(s3_prefix_list.get_response_field("PrefixLists.0.PrefixListId")),
            ec2.Port.tcp(HTTPS_PORT),
            "The feed function reads the test records from S3 through the gateway endpoint",
        )

        def in_vpc_function(construct_id: str, handler_module: str, description: str, **env: str) -> PythonFunction:
            return PythonFunction(
                self,
                construct_id,
                name="msk_feed",
                handler_module=handler_module,
                description=description,
                environment=env,
                key=key,
                log_retention=log_retention,
                removal_policy=removal_policy,
                timeout=Duration.minutes(3),
                packages=KAFKA_PACKAGES,
                vpc=self.vpc,
                vpc_subnets=ec2.SubnetSelection(subnet_type=ec2.SubnetType.PRIVATE_ISOLATED),
                security_groups=[client_sg],
            )

        connect = iam.PolicyStatement(
            sid="ConnectToTheCluster", actions=["kafka-cluster:Connect"], resources=[self.cluster_arn]
        )

        # --- the topic: a custom resource whose handler runs in the VPC ------------------------------
        self.topic_function = in_vpc_function(
            "TopicFunction",
            "topic_handler",
            f"Creates and deletes the Kafka topic {TOPIC} of the streaming test (custom resource)",
            POWERTOOLS_SERVICE_NAME="msk-topic",
        )
        topic_role = self.topic_function.role
        topic_role.add_to_policy(connect)
        topic_role.add_to_policy(
            iam.PolicyStatement(
                sid="ManageTheTestTopic",
                actions=["kafka-cluster:CreateTopic", "kafka-cluster:DeleteTopic", "kafka-cluster:DescribeTopic"],
                resources=[self.topic_arn],
            )
        )
        # The provider framework's function (outside the VPC) answers CloudFormation; its role may only
        # invoke the topic function and write its own encrypted log group (no AWS managed policy).
        framework_logs = logs.LogGroup(
            self, "TopicProviderLogs", encryption_key=key, retention=log_retention, removal_policy=removal_policy
        )
        framework_role = iam.Role(
            self,
            "TopicProviderRole",
            assumed_by=iam.ServicePrincipal("lambda.amazonaws.com"),
            description=f"CDK provider framework for the Kafka topic {TOPIC}: invokes its in-VPC handler",
        )
        framework_logs.grant_write(framework_role)
        provider = cr.Provider(
            self,
            "TopicProvider",
            on_event_handler=self.topic_function.function,
            framework_on_event_role=framework_role,
            log_group=framework_logs,
        )
        acknowledge_wildcard_resource(
            framework_role,
            f"{self.topic_function.function.function_arn}:*",
            "The provider framework invokes the topic handler by ARN; lambda:InvokeFunction's ':*' covers that "
            "one function's versions and aliases.",
        )
        self.topic_resource = CustomResource(
            self,
            "Topic",
            service_token=provider.service_token,
            resource_type="Custom::MskTopic",
            properties={
                "ClusterArn": self.cluster_arn,
                "BootstrapServers": self.bootstrap_servers,
                "Topic": TOPIC,
                "Partitions": str(TOPIC_PARTITIONS),
            },
        )
        # The handler must still reach the cluster when the topic is deleted: keep the network rules (and
        # the handler's Kafka permissions) until after the topic is gone.
        self.topic_resource.node.add_dependency(cluster_sg, client_sg, self.cluster)
        # The consumer's mapping reads the topic, so it comes after it (and goes before it on delete).
        self.event_source_mapping.node.add_dependency(self.topic_resource)

        # --- the feed: produces the preprod test records to the topic --------------------------------
        self.feed_function = in_vpc_function(
            "FeedFunction",
            "handler",
            f"Produces the preprod test records to the Kafka topic {TOPIC} (streaming test over MSK)",
            BOOTSTRAP_SERVERS=self.bootstrap_servers,
            TOPIC=TOPIC,
            TEST_DATA_URI=test_data_bucket.s3_url_for_object(test_data_key),
            POWERTOOLS_SERVICE_NAME="msk-feed",
            POWERTOOLS_METRICS_NAMESPACE="Mlops/Tests",
        )
        feed_role = self.feed_function.role
        feed_role.add_to_policy(
            iam.PolicyStatement(
                sid="ConnectAsAnIdempotentProducer",
                actions=["kafka-cluster:Connect", "kafka-cluster:WriteDataIdempotently"],
                resources=[self.cluster_arn],
            )
        )
        feed_role.add_to_policy(
            iam.PolicyStatement(
                sid="WriteTheTestTopic",
                actions=["kafka-cluster:DescribeTopic", "kafka-cluster:WriteData"],
                resources=[self.topic_arn],
            )
        )
        grant_objects(
            feed_role,
            test_data_bucket,
            key,
            prefix=test_data_key.rsplit("/", 1)[0] + "/",
            purpose="The MSK feed reads the test records",
        )
        self.feed_function.function.node.add_dependency(self.topic_resource)


# The construct ID CDK gives the singleton Lambda behind every AwsCustomResource in a stack.
_AWS_CUSTOM_RESOURCE_PROVIDER_ID = "AWS679f53fac002430cb0da5b7982bd2287"


def _bootstrap_brokers_call(cluster_arn: str) -> cr.AwsSdkCall:
    return cr.AwsSdkCall(
        service="Kafka",
        action="getBootstrapBrokers",
        parameters={"ClusterArn": cluster_arn},
        physical_resource_id=cr.PhysicalResourceId.of(cluster_arn),
        output_paths=["BootstrapBrokerStringSaslIam"],
    )
