"""MSK streaming (`mskStreaming`): off in every environment of cdk.json; what it deploys when turned on.

No environment of cdk.json turns it on (it bills every hour), so the session synthesizes one more
configuration: preprod with ``mskStreaming: true`` (LLMOps off: only Level 0-2 are needed), once, with
cdk-nag on as always; reaching the assertions means zero unacknowledged findings.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from cfnlint.api import ManualArgs, lint_by_config

from maturity.cost import estimate_template, load_prices
from stacks.components.msk_stream import HTTPS_PORT, IAM_PORT, TOPIC
from stacks.components.python_function import VPC_NETWORK_ACTIONS
from stacks.synth import SynthesizedEnvironment
from tests.infra.conftest import MSK_ENV
from tests.infra.test_cfn_lint import IGNORED_CHECKS
from tests.infra.test_nag import ACK_METADATA, OUR_RULES

ENV = MSK_ENV
STACK = f"Mlops-{ENV}-Level2Reliable"
ACK_PREFIX = "Annotation::"


@pytest.fixture(scope="session")
def msk_template(msk_synth: SynthesizedEnvironment) -> dict[str, Any]:
    (stack,) = [stack for stack in msk_synth.stacks if stack.stack_name == STACK]
    return msk_synth.template(stack)


def of_type(template: dict[str, Any], cfn_type: str) -> dict[str, dict[str, Any]]:
    return {lid: r for lid, r in template["Resources"].items() if r["Type"] == cfn_type}


def only(template: dict[str, Any], cfn_type: str) -> tuple[str, dict[str, Any]]:
    found = of_type(template, cfn_type)
    assert len(found) == 1, f"expected one {cfn_type}, found {sorted(found)}"
    ((logical_id, resource),) = found.items()
    return logical_id, resource["Properties"]


def statements(template: dict[str, Any]) -> list[tuple[str, dict[str, Any]]]:
    return [
        (lid, statement)
        for lid, policy in of_type(template, "AWS::IAM::Policy").items()
        for statement in policy["Properties"]["PolicyDocument"]["Statement"]
    ]


def as_list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [value]


def kafka_resource(resource: Any, cluster_id: str) -> str:
    """'cluster' for the cluster's own ARN, else the Kafka resource type and name of an ARN built from it."""
    if resource == {"Fn::GetAtt": [cluster_id, "Arn"]}:
        return "cluster"
    parts = resource["Fn::Join"][1]
    assert parts[1] == {"Fn::Select": [2, {"Fn::Split": ["/", {"Fn::GetAtt": [cluster_id, "Arn"]}]}]}, resource
    kind = parts[0].split(":")[-1].split("/")[0]
    return f"{kind}{parts[2]}"


def test_no_environment_of_cdk_json_deploys_msk(templates):
    for (env, stack), template in templates.items():
        kinds = {r["Type"] for r in template["Resources"].values()}
        assert not {kind for kind in kinds if kind.startswith("AWS::MSK::")}, (env, stack)


def test_serverless_cluster_with_iam_auth_in_isolated_subnets_without_nat(msk_template):
    _, cluster = only(msk_template, "AWS::MSK::ServerlessCluster")
    assert cluster["ClientAuthentication"] == {"Sasl": {"Iam": {"Enabled": True}}}
    assert cluster["ClusterName"] == f"mlops-{ENV}-test-stream"
    (vpc_config,) = cluster["VpcConfigs"]
    subnets = of_type(msk_template, "AWS::EC2::Subnet")
    assert sorted(ref["Ref"] for ref in vpc_config["SubnetIds"]) == sorted(subnets)
    assert len(subnets) == 2
    assert {subnet["Properties"]["MapPublicIpOnLaunch"] for subnet in subnets.values()} == {False}
    # Two AZs resolved by CloudFormation: no account lookup at synth time.
    assert sorted(s["Properties"]["AvailabilityZone"]["Fn::Select"][0] for s in subnets.values()) == [0, 1]
    # No route out: no NAT, no internet gateway, no public IP; no interface endpoints (provisioned pollers).
    for kind in ("AWS::EC2::NatGateway", "AWS::EC2::InternetGateway", "AWS::EC2::EIP"):
        assert not of_type(msk_template, kind), kind
    for route_table in of_type(msk_template, "AWS::EC2::Route").values():
        pytest.fail(f"unexpected route {route_table}")
    assert of_type(msk_template, "AWS::EC2::FlowLog")
    # The one endpoint is S3's free gateway, on both isolated subnets' route tables.
    _, endpoint = only(msk_template, "AWS::EC2::VPCEndpoint")
    assert endpoint["VpcEndpointType"] == "Gateway"
    assert endpoint["ServiceName"]["Fn::Join"][1][-1] == ".s3"
    route_tables = of_type(msk_template, "AWS::EC2::RouteTable")
    assert sorted(ref["Ref"] for ref in endpoint["RouteTableIds"]) == sorted(route_tables)
    assert len(route_tables) == 2


def test_the_s3_endpoint_lets_through_reads_of_the_test_records_only(msk_template):
    _, endpoint = only(msk_template, "AWS::EC2::VPCEndpoint")
    (statement,) = endpoint["PolicyDocument"]["Statement"]
    assert statement["Effect"] == "Allow" and statement["Action"] == "s3:GetObject"
    artifacts_bucket, key = statement["Resource"]["Fn::Join"][1]
    assert "ArtifactsBucket" in artifacts_bucket["Fn::ImportValue"]
    assert key == "/test-data/churn/test.csv"


def test_security_groups_speak_only_the_iam_port_between_themselves(msk_template):
    _, cluster = only(msk_template, "AWS::MSK::ServerlessCluster")
    (cluster_sg,) = [ref["Fn::GetAtt"][0] for ref in cluster["VpcConfigs"][0]["SecurityGroups"]]
    groups = of_type(msk_template, "AWS::EC2::SecurityGroup")
    msk_groups = {lid for lid in groups if lid.startswith("TestsMsk")}
    assert cluster_sg in msk_groups and len(msk_groups) == 2
    (client_sg,) = msk_groups - {cluster_sg}
    for lid in msk_groups:
        props = groups[lid]["Properties"]
        assert not props.get("SecurityGroupIngress"), lid
        # CDK's placeholder for "no egress" disappears once real egress rules exist; nothing open to a CIDR.
        assert not props.get("SecurityGroupEgress"), lid
    rules = set()
    prefix_list_rules = []
    for kind, peer_key in (
        ("AWS::EC2::SecurityGroupIngress", "SourceSecurityGroupId"),
        ("AWS::EC2::SecurityGroupEgress", "DestinationSecurityGroupId"),
    ):
        for rule in of_type(msk_template, kind).values():
            props = rule["Properties"]
            group = props["GroupId"]["Fn::GetAtt"][0]
            if group not in msk_groups:
                continue
            if "DestinationPrefixListId" in props:
                prefix_list_rules.append((group, props))
                continue
            assert (props["IpProtocol"], props["FromPort"], props["ToPort"]) == ("tcp", IAM_PORT, IAM_PORT), props
            assert "CidrIp" not in props and "CidrIpv6" not in props, props
            rules.add((kind.rsplit("::", 1)[1], group, props[peer_key]["Fn::GetAtt"][0]))
    assert rules == {
        # The event pollers' interfaces use the cluster's own group.
        ("SecurityGroupIngress", cluster_sg, cluster_sg),
        ("SecurityGroupEgress", cluster_sg, cluster_sg),
        ("SecurityGroupIngress", cluster_sg, client_sg),
        ("SecurityGroupEgress", client_sg, cluster_sg),
    }
    # Besides Kafka, the clients speak HTTPS to S3's prefix list only (the gateway endpoint's destinations),
    # whose ID CloudFormation does not expose: it is read at deploy time.
    ((group, props),) = prefix_list_rules
    assert group == client_sg
    assert (props["IpProtocol"], props["FromPort"], props["ToPort"]) == ("tcp", HTTPS_PORT, HTTPS_PORT)
    (lookup, attribute) = props["DestinationPrefixListId"]["Fn::GetAtt"]
    assert attribute == "PrefixLists.0.PrefixListId"
    call = json.loads(msk_template["Resources"][lookup]["Properties"]["Create"])
    assert (call["service"], call["action"]) == ("EC2", "describeManagedPrefixLists")
    assert call["parameters"]["Filters"] == [{"Name": "prefix-list-name", "Values": ["com.amazonaws.eu-west-1.s3"]}]


def test_the_stream_consumer_reads_the_topic_like_the_kinesis_stream(msk_template):
    cluster_id, _ = only(msk_template, "AWS::MSK::ServerlessCluster")
    mappings = {
        "kafka" if "Topics" in r["Properties"] else "kinesis": r
        for r in of_type(msk_template, "AWS::Lambda::EventSourceMapping").values()
    }
    assert set(mappings) == {"kafka", "kinesis"}
    kafka, kinesis = mappings["kafka"]["Properties"], mappings["kinesis"]["Properties"]
    assert kafka["EventSourceArn"] == {"Fn::GetAtt": [cluster_id, "Arn"]}
    assert kafka["Topics"] == [TOPIC]
    assert kafka["AmazonManagedKafkaEventSourceConfig"] == {"ConsumerGroupId": f"mlops-{ENV}-test-stream-consumer"}
    assert kafka["ProvisionedPollerConfig"] == {"MinimumPollers": 1, "MaximumPollers": 1}
    assert kafka["StartingPosition"] == "TRIM_HORIZON"
    # The same function, failure reporting, retry limit and dead-letter queue as the Kinesis source.
    for key in (
        "FunctionName",
        "FunctionResponseTypes",
        "MaximumRetryAttempts",
        "BisectBatchOnFunctionError",
        "DestinationConfig",
    ):
        assert kafka[key] == kinesis[key], key
    assert kafka["FunctionResponseTypes"] == ["ReportBatchItemFailures"]
    assert kafka["MaximumRetryAttempts"] == 2
    # Lambda checks the role's permissions when it creates the mapping (and the topic must exist first).
    (policy_id,) = [lid for lid in mappings["kafka"]["DependsOn"] if lid.startswith("TestsMskConsumerPolicy")]
    assert any(
        kafka_resource(s["Resource"], cluster_id) == f"topic/{TOPIC}"
        for lid, s in statements(msk_template)
        if lid == policy_id and s.get("Sid") == "ReadTheTestTopic"
    )


def role_of(template: dict[str, Any], prefix: str) -> str:
    (role,) = [lid for lid in of_type(template, "AWS::IAM::Role") if lid.startswith(prefix)]
    return role


def test_kafka_access_is_scoped_to_the_cluster_the_topic_and_the_consumer_group(msk_template):
    cluster_id, _ = only(msk_template, "AWS::MSK::ServerlessCluster")
    roles = of_type(msk_template, "AWS::IAM::Role")
    consumer_role = role_of(msk_template, "TestsStreamConsumerRole")
    topic_role = role_of(msk_template, "TestsMskTopicFunctionRole")
    feed_role = role_of(msk_template, "TestsMskFeedFunctionRole")
    sdk_role = role_of(msk_template, "AWS679f53fac002430cb0da5b7982bd2287ServiceRole")
    grants: dict[str, set[tuple[str, str]]] = {}
    for lid, policy in of_type(msk_template, "AWS::IAM::Policy").items():
        holders = [ref["Ref"] for ref in policy["Properties"].get("Roles", [])]
        for statement in policy["Properties"]["PolicyDocument"]["Statement"]:
            for action in as_list(statement["Action"]):
                if not action.startswith(("kafka:", "kafka-cluster:")):
                    continue
                assert "*" not in action, (lid, action)
                for resource in as_list(statement["Resource"]):
                    assert resource != "*", (lid, action)
                    for holder in holders:
                        grants.setdefault(holder, set()).add((action, kafka_resource(resource, cluster_id)))
    group = "group/mlops-preprod-test-stream-consumer"
    topic = f"topic/{TOPIC}"
    assert grants[consumer_role] == {
        ("kafka:DescribeClusterV2", "cluster"),
        ("kafka:GetBootstrapBrokers", "cluster"),
        ("kafka-cluster:Connect", "cluster"),
        ("kafka-cluster:DescribeClusterDynamicConfiguration", "cluster"),
        ("kafka-cluster:DescribeTopic", topic),
        ("kafka-cluster:ReadData", topic),
        ("kafka-cluster:DescribeGroup", group),
        ("kafka-cluster:AlterGroup", group),
    }
    # The custom resource's handler manages that one topic, nothing else (no data access).
    assert grants[topic_role] == {
        ("kafka-cluster:Connect", "cluster"),
        ("kafka-cluster:CreateTopic", topic),
        ("kafka-cluster:DescribeTopic", topic),
        ("kafka-cluster:DeleteTopic", topic),
    }
    # The feed writes to that topic (idempotently: kafka-python's default producer), nothing else.
    assert grants[feed_role] == {
        ("kafka-cluster:Connect", "cluster"),
        ("kafka-cluster:WriteDataIdempotently", "cluster"),
        ("kafka-cluster:DescribeTopic", topic),
        ("kafka-cluster:WriteData", topic),
    }
    # CDK's SDK-call function reads the bootstrap brokers at deploy time.
    assert grants[sdk_role] == {("kafka:GetBootstrapBrokers", "cluster")}
    assert set(grants) == {consumer_role, topic_role, feed_role, sdk_role}, "no other principal gets Kafka access"
    # No AWS managed policy (ManagedKafkaEventSource would attach AWSLambdaMSKExecutionRole; a VPC function's
    # default role AWSLambdaVPCAccessExecutionRole); only CDK's SDK-call function keeps its basic logging one.
    for role in (consumer_role, topic_role, feed_role):
        assert "ManagedPolicyArns" not in roles[role]["Properties"], role
    # Wildcard-resource statements the MSK wiring adds: the pollers' and the in-VPC functions' network
    # interfaces (with X-Ray's, as every function has), and the S3 prefix-list lookup.
    wildcard = sorted(
        sorted(as_list(s["Action"]))
        for lid, s in statements(msk_template)
        if lid.startswith(("TestsMsk", "AWS679")) and s["Resource"] == "*"
    )
    pollers = [
        "ec2:CreateNetworkInterface",
        "ec2:DeleteNetworkInterface",
        "ec2:DescribeNetworkInterfaces",
        "ec2:DescribeSecurityGroups",
        "ec2:DescribeSubnets",
        "ec2:DescribeVpcs",
    ]
    xray = ["xray:PutTelemetryRecords", "xray:PutTraceSegments"]
    assert wildcard == sorted(
        [pollers, ["ec2:DescribeManagedPrefixLists"], *[sorted(VPC_NETWORK_ACTIONS)] * 2, *[xray] * 2]
    )


def test_the_topic_is_a_custom_resource_whose_handler_runs_in_the_vpc(msk_template):
    resources = msk_template["Resources"]
    cluster_id, _ = only(msk_template, "AWS::MSK::ServerlessCluster")
    topic_id, props = only(msk_template, "Custom::MskTopic")
    assert props["Topic"] == TOPIC and props["Partitions"] == "1"
    assert props["ClusterArn"] == {"Fn::GetAtt": [cluster_id, "Arn"]}
    # The bootstrap brokers come from an SDK call at deploy time (CloudFormation does not expose them).
    brokers_id, attribute = props["BootstrapServers"]["Fn::GetAtt"]
    assert attribute == "BootstrapBrokerStringSaslIam"
    create = resources[brokers_id]["Properties"]["Create"]["Fn::Join"][1]
    assert json.loads(create[0] + '"}}')["action"] == "getBootstrapBrokers"
    # The provider framework's function answers CloudFormation from outside the VPC ...
    framework_id = props["ServiceToken"]["Fn::GetAtt"][0]
    framework = resources[framework_id]["Properties"]
    assert "VpcConfig" not in framework
    framework_role = framework["Role"]["Fn::GetAtt"][0]
    assert "ManagedPolicyArns" not in resources[framework_role]["Properties"]
    invoked = {
        json.dumps(resource)
        for lid, statement in statements(msk_template)
        if resources[lid]["Properties"]["Roles"] == [{"Ref": framework_role}]
        and statement["Action"] == "lambda:InvokeFunction"
        for resource in as_list(statement["Resource"])
    }
    topic_function = role_of(msk_template, "TestsMskTopicFunctionRole").replace("Role", "", 1)
    (topic_function,) = [
        lid for lid in of_type(msk_template, "AWS::Lambda::Function") if lid.startswith("TestsMskTopicFunction")
    ]
    assert invoked == {
        json.dumps({"Fn::GetAtt": [topic_function, "Arn"]}),
        json.dumps({"Fn::Join": ["", [{"Fn::GetAtt": [topic_function, "Arn"]}, ":*"]]}),
    }
    # ... and it invokes the in-VPC handler: topic_handler of lambdas/msk_feed.
    assert framework["Environment"]["Variables"]["USER_ON_EVENT_FUNCTION_ARN"] == {
        "Fn::GetAtt": [topic_function, "Arn"]
    }
    assert resources[topic_function]["Properties"]["Handler"] == "topic_handler.handler"
    # The topic is deleted while the handler can still reach the cluster, and the consumer's mapping waits for it.
    depends = set(resources[topic_id]["DependsOn"])
    assert cluster_id in depends
    rules = {
        lid
        for kind in ("AWS::EC2::SecurityGroupIngress", "AWS::EC2::SecurityGroupEgress")
        for lid in of_type(msk_template, kind)
        if lid.startswith("TestsMsk")
    }
    assert rules and rules <= depends
    (mapping,) = [
        r for r in of_type(msk_template, "AWS::Lambda::EventSourceMapping").values() if "Topics" in r["Properties"]
    ]
    assert topic_id in mapping["DependsOn"]


def test_the_topic_and_feed_functions_run_in_the_isolated_subnets_with_the_client_group(msk_template):
    functions = {
        lid: r["Properties"]
        for lid, r in of_type(msk_template, "AWS::Lambda::Function").items()
        if lid.startswith(("TestsMskTopicFunction", "TestsMskFeedFunction"))
    }
    assert len(functions) == 2
    subnets = sorted(of_type(msk_template, "AWS::EC2::Subnet"))
    for lid, props in functions.items():
        vpc = props["VpcConfig"]
        assert sorted(ref["Ref"] for ref in vpc["SubnetIds"]) == subnets, lid
        ((group, _),) = [ref["Fn::GetAtt"] for ref in vpc["SecurityGroupIds"]]
        assert group.startswith("TestsMskClientSecurityGroup"), lid
        assert props["Runtime"] == "python3.14" and props["Architectures"] == ["arm64"]
    # One asset (lambdas/msk_feed), two entry points.
    assert len({json.dumps(props["Code"]) for props in functions.values()}) == 1
    assert sorted(props["Handler"] for props in functions.values()) == ["handler.handler", "topic_handler.handler"]
    (feed,) = [props for lid, props in functions.items() if lid.startswith("TestsMskFeedFunction")]
    env = feed["Environment"]["Variables"]
    assert env["TOPIC"] == TOPIC
    assert env["BOOTSTRAP_SERVERS"]["Fn::GetAtt"][1] == "BootstrapBrokerStringSaslIam"
    assert env["TEST_DATA_URI"]["Fn::Join"][1][-1] == "/test-data/churn/test.csv"


def test_the_pipeline_test_role_may_run_the_feed_as_well_as_the_batch_test(msk_template):
    role = role_of(msk_template, "PipelineTestRole")
    (invoke,) = [
        s
        for lid, s in statements(msk_template)
        if msk_template["Resources"][lid]["Properties"]["Roles"] == [{"Ref": role}]
        and s["Action"] == "lambda:InvokeFunction"
    ]
    assert sorted(r["Fn::GetAtt"][0][: len("TestsMskFeedFunction")] for r in invoke["Resource"]) == [
        "TestsBatchFunction0128057A"[: len("TestsMskFeedFunction")],
        "TestsMskFeedFunction",
    ]


def test_the_msk_feed_asset_bundles_the_kafka_client_with_its_metadata(msk_synth, msk_template):
    (feed,) = [
        r["Properties"]
        for lid, r in of_type(msk_template, "AWS::Lambda::Function").items()
        if lid.startswith("TestsMskFeedFunction")
    ]
    asset = msk_synth.outdir / f"asset.{feed['Code']['S3Key'].removesuffix('.zip')}"
    names = {path.name for path in asset.iterdir()}
    # The function's modules, lambdas/common, Powertools, and the Kafka distributions with what they
    # require outside the Lambda runtime (click, for the signer); their .dist-info folders carry the
    # licences and the version the signer reads with importlib.metadata at run time.
    assert {"handler.py", "topic_handler.py", "kafka_connection.py", "common", "aws_lambda_powertools"} <= names
    assert {"kafka", "kafka_python-3.0.12.dist-info", "aws_msk_iam_sasl_signer"} <= names
    assert {"aws_msk_iam_sasl_signer_python-1.0.2.dist-info", "click", "click-8.5.1.dist-info"} <= names
    assert not names & {"boto3", "botocore", "s3transfer", "jmespath", "urllib3", "dateutil"}
    assert not list(asset.rglob("__pycache__"))
    # Other functions' assets are unchanged by it: no Kafka in the stream consumer's.
    (consumer,) = [
        r["Properties"]
        for lid, r in of_type(msk_template, "AWS::Lambda::Function").items()
        if lid.startswith("TestsStreamConsumerFunction")
    ]
    consumer_asset = msk_synth.outdir / f"asset.{consumer['Code']['S3Key'].removesuffix('.zip')}"
    assert not {path.name for path in consumer_asset.iterdir()} & {"kafka", "aws_msk_iam_sasl_signer", "click"}


def test_outputs_name_the_cluster_topic_feed_function_and_network(msk_template):
    outputs = msk_template["Outputs"]
    cluster_id, _ = only(msk_template, "AWS::MSK::ServerlessCluster")
    assert outputs["MskClusterArn"]["Value"] == {"Fn::GetAtt": [cluster_id, "Arn"]}
    assert outputs["MskTopic"]["Value"] == TOPIC
    assert outputs["MskFeedFunctionName"]["Value"]["Ref"].startswith("TestsMskFeedFunction")
    assert "MskProducerRoleArn" not in outputs
    assert outputs["MskClientSecurityGroupId"]["Value"]["Fn::GetAtt"][0].startswith("TestsMskClientSecurityGroup")
    assert len(outputs["MskSubnetIds"]["Value"]["Fn::Join"][1]) == 2


def test_nag_passes_and_msk_acknowledgements_are_scoped_and_explained(msk_synth, msk_template):
    # The fixture's synth ran cdk-nag: reaching here means zero unacknowledged findings.
    acknowledged = {}
    for construct in msk_synth.app.node.find_all():
        path = construct.node.path
        # This stack's only: Level 0 has its own AwsCustomResource function (the MLflow app's default domain).
        if not path.startswith(f"{STACK}/"):
            continue
        if "/Tests/Msk/" not in path and "/AWS679f53fac002430cb0da5b7982bd2287/" not in path:
            continue
        for entry in construct.node.metadata:
            if entry.type == ACK_METADATA:
                for rule_id, reason in entry.data.items():
                    if OUR_RULES.match(rule_id):
                        acknowledged[(path.removeprefix(f"{STACK}/"), rule_id.removeprefix(ACK_PREFIX))] = reason
    functions = of_type(msk_template, "AWS::Lambda::Function")
    (topic_function,) = [lid for lid in functions if lid.startswith("TestsMskTopicFunction")]
    test_data = "Mlops-preprod-Level0Exploration:ExportsOutputFnGetAttDataLakeArtifactsBucket98FD8488Arn6F0FAD5E"
    basic_logs = "Policy::arn:<AWS::Partition>:iam::aws:policy/service-role/AWSLambdaBasicExecutionRole"
    assert set(acknowledged) == {
        ("Tests/Msk/ConsumerPolicy/Resource", "AwsSolutions-IAM5[Resource::*]"),
        ("Tests/Msk/TopicFunction/Role/DefaultPolicy/Resource", "AwsSolutions-IAM5[Resource::*]"),
        ("Tests/Msk/FeedFunction/Role/DefaultPolicy/Resource", "AwsSolutions-IAM5[Resource::*]"),
        (
            "Tests/Msk/FeedFunction/Role/DefaultPolicy/Resource",
            f"AwsSolutions-IAM5[Resource::{test_data}/test-data/churn/*]",
        ),
        ("Tests/Msk/S3PrefixList/CustomResourcePolicy/Resource", "AwsSolutions-IAM5[Resource::*]"),
        (
            "Tests/Msk/TopicProviderRole/DefaultPolicy/Resource",
            f"AwsSolutions-IAM5[Resource::<{topic_function}.Arn>:*]",
        ),
        ("AWS679f53fac002430cb0da5b7982bd2287/ServiceRole/Resource", f"AwsSolutions-IAM4[{basic_logs}]"),
    }
    assert "network interfaces" in acknowledged[("Tests/Msk/ConsumerPolicy/Resource", "AwsSolutions-IAM5[Resource::*]")]
    for function in ("TopicFunction", "FeedFunction"):
        reason = acknowledged[(f"Tests/Msk/{function}/Role/DefaultPolicy/Resource", "AwsSolutions-IAM5[Resource::*]")]
        assert "X-Ray" in reason and "VPC network interfaces" in reason


def test_cfn_lint_passes_on_the_msk_template(msk_synth):
    (stack,) = [stack for stack in msk_synth.stacks if stack.stack_name == STACK]
    path: Path = msk_synth.outdir / stack.template_file
    findings = lint_by_config(ManualArgs(templates=[str(path)], ignore_checks=IGNORED_CHECKS))
    assert not findings, "\n".join(f"{m.rule.id} {m.message}" for m in findings)


def test_idle_cost_counts_the_cluster_and_lists_the_provisioned_poller(msk_template):
    prices = load_prices()
    items, unpriced = estimate_template(msk_template, prices)
    cluster_id, _ = only(msk_template, "AWS::MSK::ServerlessCluster")
    (cluster,) = [item for item in items if item.logical_id == cluster_id]
    assert cluster.price_key == "mskServerlessCluster"
    assert cluster.monthly_usd == pytest.approx(0.75 * prices.hours_per_month)
    assert not {item.price_key for item in items} & {"natGateway", "interfaceEndpointAz"}
    assert [u.resource_type for u in unpriced] == ["AWS::Lambda::EventSourceMapping"]
