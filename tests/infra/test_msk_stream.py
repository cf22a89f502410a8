"""MSK streaming (`mskStreaming`): off in every environment of cdk.json; what it deploys when turned on.

No environment of cdk.json turns it on (it bills every hour), so the session synthesizes one more
configuration: preprod with ``mskStreaming: true`` (LLMOps off: only Level 0-2 are needed), once, with
cdk-nag on as always; reaching the assertions means zero unacknowledged findings.
"""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import pytest
from cfnlint.api import ManualArgs, lint_by_config

from maturity.cost import estimate_template, load_prices
from stacks.components.msk_stream import IAM_PORT, TOPIC
from stacks.config import load_environment
from stacks.synth import SynthesizedEnvironment, synthesize
from tests.infra.conftest import CONTEXT
from tests.infra.test_cfn_lint import IGNORED_CHECKS
from tests.infra.test_nag import ACK_METADATA, OUR_RULES

ENV = "preprod"
STACK = f"Mlops-{ENV}-Level2Reliable"
ACK_PREFIX = "Annotation::"


@pytest.fixture(scope="session")
def msk_synth(tmp_path_factory: pytest.TempPathFactory) -> SynthesizedEnvironment:
    context = copy.deepcopy(CONTEXT)
    entry = context["mlops:environments"][ENV]
    entry["mskStreaming"] = True
    entry["llmops"] = {**entry.get("llmops", {}), "enabled": False}
    config = load_environment(context, ENV)
    assert config.msk_streaming and config.test_strategies
    return synthesize(config, context, tmp_path_factory.mktemp("cdk.out-msk"))


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
    # No route out: no NAT, no internet gateway, no public IP; and no interface endpoints (provisioned pollers).
    for kind in ("AWS::EC2::NatGateway", "AWS::EC2::InternetGateway", "AWS::EC2::EIP", "AWS::EC2::VPCEndpoint"):
        assert not of_type(msk_template, kind), kind
    for route_table in of_type(msk_template, "AWS::EC2::Route").values():
        pytest.fail(f"unexpected route {route_table}")
    assert of_type(msk_template, "AWS::EC2::FlowLog")


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
    for kind, peer_key in (
        ("AWS::EC2::SecurityGroupIngress", "SourceSecurityGroupId"),
        ("AWS::EC2::SecurityGroupEgress", "DestinationSecurityGroupId"),
    ):
        for rule in of_type(msk_template, kind).values():
            props = rule["Properties"]
            group = props["GroupId"]["Fn::GetAtt"][0]
            if group not in msk_groups:
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
    # Lambda checks the role's permissions when it creates the mapping.
    (policy_id,) = mappings["kafka"]["DependsOn"]
    assert any(
        kafka_resource(s["Resource"], cluster_id) == f"topic/{TOPIC}"
        for lid, s in statements(msk_template)
        if lid == policy_id and s.get("Sid") == "ReadTheTestTopic"
    )


def test_kafka_access_is_scoped_to_the_cluster_the_topic_and_the_consumer_group(msk_template):
    cluster_id, _ = only(msk_template, "AWS::MSK::ServerlessCluster")
    roles = of_type(msk_template, "AWS::IAM::Role")
    (consumer_role,) = [lid for lid in roles if lid.startswith("TestsStreamConsumerRole")]
    (producer_role,) = [lid for lid in roles if lid.startswith("TestsMskProducerRole")]
    grants: dict[str, set[tuple[str, str]]] = {consumer_role: set(), producer_role: set()}
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
    assert grants[producer_role] == {
        ("kafka:DescribeClusterV2", "cluster"),
        ("kafka:GetBootstrapBrokers", "cluster"),
        ("kafka-cluster:Connect", "cluster"),
        ("kafka-cluster:WriteDataIdempotently", "cluster"),
        ("kafka-cluster:CreateTopic", topic),
        ("kafka-cluster:DescribeTopic", topic),
        ("kafka-cluster:WriteData", topic),
    }
    assert set(grants) == {consumer_role, producer_role}, "no other principal gets Kafka access"
    # No AWS managed policy (ManagedKafkaEventSource would attach AWSLambdaMSKExecutionRole).
    assert "ManagedPolicyArns" not in roles[consumer_role]["Properties"]
    # The only wildcard-resource statement the MSK wiring adds is the pollers' network interfaces.
    wildcard = [s for lid, s in statements(msk_template) if lid.startswith("TestsMsk") and s["Resource"] == "*"]
    assert [sorted(as_list(s["Action"])) for s in wildcard] == [
        [
            "ec2:CreateNetworkInterface",
            "ec2:DeleteNetworkInterface",
            "ec2:DescribeNetworkInterfaces",
            "ec2:DescribeSecurityGroups",
            "ec2:DescribeSubnets",
            "ec2:DescribeVpcs",
        ]
    ]


def test_outputs_name_the_cluster_topic_producer_role_and_network(msk_template):
    outputs = msk_template["Outputs"]
    cluster_id, _ = only(msk_template, "AWS::MSK::ServerlessCluster")
    assert outputs["MskClusterArn"]["Value"] == {"Fn::GetAtt": [cluster_id, "Arn"]}
    assert outputs["MskTopic"]["Value"] == TOPIC
    assert outputs["MskProducerRoleArn"]["Value"]["Fn::GetAtt"][0].startswith("TestsMskProducerRole")
    assert outputs["MskClientSecurityGroupId"]["Value"]["Fn::GetAtt"][0].startswith("TestsMskClientSecurityGroup")
    assert len(outputs["MskSubnetIds"]["Value"]["Fn::Join"][1]) == 2


def test_nag_passes_and_msk_acknowledgements_are_scoped_and_explained(msk_synth):
    # The fixture's synth ran cdk-nag: reaching here means zero unacknowledged findings.
    acknowledged = {}
    for construct in msk_synth.app.node.find_all():
        if "/Tests/Msk/" not in construct.node.path:
            continue
        for entry in construct.node.metadata:
            if entry.type == ACK_METADATA:
                for rule_id, reason in entry.data.items():
                    if OUR_RULES.match(rule_id):
                        acknowledged[(construct.node.path, rule_id.removeprefix(ACK_PREFIX))] = reason
    assert set(acknowledged) == {
        (f"{STACK}/Tests/Msk/ConsumerPolicy/Resource", "AwsSolutions-IAM5[Resource::*]"),
    }
    assert all("network interfaces" in reason for reason in acknowledged.values())


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
