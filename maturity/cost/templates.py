"""Idle cost of one template: a pricer per resource type that bills while idle (:data:`PRICERS`)."""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from maturity.cost.prices import Prices

# --------------------------------------------------------------------------------------------------
# Pricing one template


@dataclass(frozen=True)
class LineItem:
    logical_id: str
    resource_type: str
    what: str  # e.g. "ml.m5.large x 2" or "3 subnets"
    quantity: float
    unit_usd: float  # per unit and month
    price_key: str

    @property
    def monthly_usd(self) -> float:
        return self.quantity * self.unit_usd


@dataclass(frozen=True)
class Unpriced:
    logical_id: str
    resource_type: str
    reason: str


_Priced = list[LineItem | Unpriced]
_Pricer = Callable[[str, dict[str, Any], dict[str, Any], Prices], _Priced]


def _number(value: Any, default: float) -> tuple[float, bool]:
    """A numeric property (CloudFormation allows "2"); (default, False) when it is an intrinsic or absent."""
    if value is None:
        return default, True
    if isinstance(value, bool):
        return default, False
    if isinstance(value, (int, float)):
        return float(value), True
    if isinstance(value, str):
        try:
            return float(value), True
        except ValueError:
            return default, False
    return default, False


def _item(
    prices: Prices, logical_id: str, rtype: str, key: str, quantity: float, what: str, kind: str | None = None
) -> LineItem | Unpriced:
    unit = prices.monthly(key, kind)
    if unit is None:
        return Unpriced(logical_id, rtype, f"no price for {kind!r} in prices.json ({key})")
    return LineItem(logical_id, rtype, what, quantity, unit, key)


def _flat(key: str, what: str) -> _Pricer:
    def price(logical_id: str, props: dict[str, Any], template: dict[str, Any], prices: Prices) -> _Priced:
        return [_item(prices, logical_id, _type_of(template, logical_id), key, 1, what)]

    return price


def _type_of(template: dict[str, Any], logical_id: str) -> str:
    return str(template["Resources"][logical_id]["Type"])


def _sagemaker_endpoint(logical_id: str, props: dict[str, Any], template: dict[str, Any], prices: Prices) -> _Priced:
    rtype = "AWS::SageMaker::Endpoint"
    config = _endpoint_config(props.get("EndpointConfigName"), template)
    if config is None:
        return [Unpriced(logical_id, rtype, "its endpoint configuration is not in this template")]
    out: _Priced = []
    variants = [*config.get("ProductionVariants", []), *config.get("ShadowProductionVariants", [])]
    for variant in variants:
        name = variant.get("VariantName", "?")
        if "ServerlessConfig" in variant and "InstanceType" not in variant:
            if variant["ServerlessConfig"].get("ProvisionedConcurrency"):
                out.append(Unpriced(logical_id, rtype, f"variant {name}: serverless provisioned concurrency"))
            continue  # serverless: nothing while idle
        instance = variant.get("InstanceType")
        count, known = _number(variant.get("InitialInstanceCount"), 1)
        if not isinstance(instance, str):
            out.append(Unpriced(logical_id, rtype, f"variant {name}: instance type is not a literal"))
            continue
        note = "" if known else " (count not literal; 1 assumed)"
        out.append(
            _item(
                prices,
                logical_id,
                rtype,
                "sagemakerHostingInstance",
                count,
                f"{name}: {instance} x {count:g}{note}",
                instance,
            )
        )
    return out


def _endpoint_config(reference: Any, template: dict[str, Any]) -> dict[str, Any] | None:
    resources = template.get("Resources", {})
    target: str | None = None
    if isinstance(reference, dict):
        if "Ref" in reference:
            target = reference["Ref"]
        elif "Fn::GetAtt" in reference:
            attr = reference["Fn::GetAtt"]
            target = attr[0] if isinstance(attr, list) else str(attr).split(".", 1)[0]
    elif isinstance(reference, str):
        target = next(
            (
                lid
                for lid, r in resources.items()
                if r.get("Type") == "AWS::SageMaker::EndpointConfig"
                and r.get("Properties", {}).get("EndpointConfigName") == reference
            ),
            None,
        )
    resource = resources.get(target) if target else None
    if not resource or resource.get("Type") != "AWS::SageMaker::EndpointConfig":
        return None
    properties: dict[str, Any] = resource.get("Properties", {})
    return properties


def _vpc_endpoint(logical_id: str, props: dict[str, Any], template: dict[str, Any], prices: Prices) -> _Priced:
    kind = props.get("VpcEndpointType", "Gateway")  # CloudFormation's default
    if kind == "Gateway":
        return []
    if kind not in ("Interface", "GatewayLoadBalancer"):
        return [Unpriced(logical_id, "AWS::EC2::VPCEndpoint", f"{kind} endpoints are not estimated")]
    subnets = props.get("SubnetIds")
    if isinstance(subnets, list):
        count, what = float(len(subnets)), f"{_service(props)} in {len(subnets)} subnet(s)"
    else:
        count, what = 1.0, f"{_service(props)}, subnets not literal (1 assumed)"
    return [_item(prices, logical_id, "AWS::EC2::VPCEndpoint", "interfaceEndpointAz", count, what)]


_REGION_RE = re.compile(r"^[a-z]{2}(-[a-z]+)+-[0-9]\Z")


def _service(props: dict[str, Any]) -> str:
    """``com.amazonaws.eu-west-1.sagemaker.api`` -> ``sagemaker.api``."""
    name = props.get("ServiceName")
    if not isinstance(name, str):
        return "endpoint"
    parts = [p for p in name.split(".") if p not in ("com", "amazonaws", "aws") and not _REGION_RE.match(p)]
    return ".".join(parts) or name


def _instance_class(key: str, prop: str) -> _Pricer:
    def price(logical_id: str, props: dict[str, Any], template: dict[str, Any], prices: Prices) -> _Priced:
        rtype = _type_of(template, logical_id)
        kind = props.get(prop)
        if not isinstance(kind, str):
            return [Unpriced(logical_id, rtype, f"{prop} is not a literal")]
        return [_item(prices, logical_id, rtype, key, 1, kind, kind)]

    return price


def _load_balancer(logical_id: str, props: dict[str, Any], template: dict[str, Any], prices: Prices) -> _Priced:
    kind = props.get("Type", "application")
    key = {"application": "applicationLoadBalancer", "network": "networkLoadBalancer", "gateway": "gatewayLoadBalancer"}
    if kind not in key:
        return [Unpriced(logical_id, "AWS::ElasticLoadBalancingV2::LoadBalancer", f"type {kind!r} is not a literal")]
    return [_item(prices, logical_id, "AWS::ElasticLoadBalancingV2::LoadBalancer", key[kind], 1, kind)]


def _kinesis(logical_id: str, props: dict[str, Any], template: dict[str, Any], prices: Prices) -> _Priced:
    rtype = "AWS::Kinesis::Stream"
    if (props.get("StreamModeDetails") or {}).get("StreamMode") == "ON_DEMAND":
        return [_item(prices, logical_id, rtype, "kinesisOnDemandStream", 1, "on-demand stream")]
    shards, known = _number(props.get("ShardCount"), 1)
    note = "" if known else " (count not literal; 1 assumed)"
    return [_item(prices, logical_id, rtype, "kinesisShard", shards, f"{shards:g} provisioned shard(s){note}")]


def _opensearch(logical_id: str, props: dict[str, Any], template: dict[str, Any], prices: Prices) -> _Priced:
    rtype = _type_of(template, logical_id)
    cluster = props.get("ClusterConfig") or props.get("ElasticsearchClusterConfig") or {}
    out: _Priced = []
    data_type = cluster.get("InstanceType")
    data_nodes, _ = _number(cluster.get("InstanceCount"), 1)
    if isinstance(data_type, str):
        out.append(
            _item(
                prices, logical_id, rtype, "openSearchInstance", data_nodes, f"{data_type} x {data_nodes:g}", data_type
            )
        )
    else:
        out.append(Unpriced(logical_id, rtype, "data node instance type is not set"))
    if cluster.get("DedicatedMasterEnabled") is True:
        master_type = cluster.get("DedicatedMasterType")
        masters, _ = _number(cluster.get("DedicatedMasterCount"), 3)
        if isinstance(master_type, str):
            what = f"dedicated master {master_type} x {masters:g}"
            out.append(_item(prices, logical_id, rtype, "openSearchInstance", masters, what, master_type))
        else:
            out.append(Unpriced(logical_id, rtype, "dedicated master type is not set"))
    if cluster.get("WarmEnabled") is True:
        out.append(Unpriced(logical_id, rtype, "UltraWarm nodes are not estimated"))
    ebs = props.get("EBSOptions") or {}
    if ebs.get("EBSEnabled") is True:
        size, known = _number(ebs.get("VolumeSize"), 10)
        note = "" if known else " (size not literal; 10 GB assumed)"
        what = f"{size:g} GB x {data_nodes:g} data node(s){note}"
        out.append(_item(prices, logical_id, rtype, "openSearchStorageGb", size * data_nodes, what))
    return out


def _alarm(logical_id: str, props: dict[str, Any], template: dict[str, Any], prices: Prices) -> _Priced:
    metrics = props.get("Metrics")
    if isinstance(metrics, list) and metrics:
        reads = sum(1 for query in metrics if isinstance(query, dict) and "MetricStat" in query) or 1
        anomaly = any("ANOMALY_DETECTION_BAND" in str(query.get("Expression", "")) for query in metrics)
        # A Metrics Insights query is billed per time series it analyzes; the project's (the endpoint's bias
        # alarms, stacks/components/clarify_alarms.py) each match one, so it counts as one metric.
        insights = any(str(query.get("Expression", "")).lstrip().upper().startswith("SELECT ") for query in metrics)
        periods = [
            _number(query.get("Period", (query.get("MetricStat") or {}).get("Period")), 60)[0]
            for query in metrics
            if isinstance(query, dict)
        ]
        period = min(periods) if periods else 60.0
    else:
        reads, anomaly, insights = 1, False, False
        period = _number(props.get("Period"), 60)[0]
    count = reads * 3 if anomaly else reads
    high_resolution = period < 60
    key = "highResolutionAlarmMetric" if high_resolution else "alarmMetric"
    what = f"{count} {'high-resolution ' if high_resolution else ''}alarm metric(s)" + (
        " (anomaly detection)" if anomaly else ""
    )
    if insights:
        what += " (Metrics Insights query: one time series assumed)"
    return [_item(prices, logical_id, "AWS::CloudWatch::Alarm", key, count, what)]


def _msk(logical_id: str, props: dict[str, Any], template: dict[str, Any], prices: Prices) -> _Priced:
    rtype = "AWS::MSK::Cluster"
    group = props.get("BrokerNodeGroupInfo") or {}
    brokers, _ = _number(props.get("NumberOfBrokerNodes"), 3)
    instance = group.get("InstanceType")
    out: _Priced = []
    if isinstance(instance, str):
        out.append(_item(prices, logical_id, rtype, "mskBroker", brokers, f"{instance} x {brokers:g}", instance))
    else:
        out.append(Unpriced(logical_id, rtype, "broker instance type is not a literal"))
    size, _ = _number(((group.get("StorageInfo") or {}).get("EBSStorageInfo") or {}).get("VolumeSize"), 1000)
    out.append(_item(prices, logical_id, rtype, "mskStorageGb", size * brokers, f"{size:g} GB x {brokers:g} broker(s)"))
    return out


def _event_source_mapping(logical_id: str, props: dict[str, Any], template: dict[str, Any], prices: Prices) -> _Priced:
    # On-demand mappings cost nothing idle; provisioned ones (Kafka, SQS) bill their minimum event pollers
    # every hour, in event poller units whose list price the table does not hold: listed, never free.
    pollers = props.get("ProvisionedPollerConfig")
    if not isinstance(pollers, dict):
        return []
    minimum, _ = _number(pollers.get("MinimumPollers"), 1)
    return [
        Unpriced(
            logical_id,
            "AWS::Lambda::EventSourceMapping",
            f"provisioned mode: at least {minimum:g} event poller(s) bill per event poller unit hour, not estimated",
        )
    ]


def _dynamodb(logical_id: str, props: dict[str, Any], template: dict[str, Any], prices: Prices) -> _Priced:
    rtype = "AWS::DynamoDB::Table"
    if props.get("BillingMode", "PROVISIONED") != "PROVISIONED":
        return []
    throughputs = [props.get("ProvisionedThroughput") or {}] + [
        index.get("ProvisionedThroughput") or {} for index in props.get("GlobalSecondaryIndexes", [])
    ]
    reads = sum(_number(t.get("ReadCapacityUnits"), 0)[0] for t in throughputs)
    writes = sum(_number(t.get("WriteCapacityUnits"), 0)[0] for t in throughputs)
    return [
        _item(prices, logical_id, rtype, "dynamoDbReadCapacityUnit", reads, f"{reads:g} provisioned RCU"),
        _item(prices, logical_id, rtype, "dynamoDbWriteCapacityUnit", writes, f"{writes:g} provisioned WCU"),
    ]


def _fargate_service(logical_id: str, props: dict[str, Any], template: dict[str, Any], prices: Prices) -> _Priced:
    rtype = "AWS::ECS::Service"
    reference = props.get("TaskDefinition")
    task = None
    if isinstance(reference, dict) and "Ref" in reference:
        task = template["Resources"].get(reference["Ref"])
    if not task or task.get("Type") != "AWS::ECS::TaskDefinition":
        return [Unpriced(logical_id, rtype, "its task definition is not in this template")]
    task_props = task.get("Properties") or {}
    if "FARGATE" not in (task_props.get("RequiresCompatibilities") or []):
        return [Unpriced(logical_id, rtype, "not estimated: tasks on EC2 capacity are priced by their instances")]
    cpu, cpu_known = _number(task_props.get("Cpu"), 256)
    memory, memory_known = _number(task_props.get("Memory"), 512)
    tasks, tasks_known = _number(props.get("DesiredCount"), 1)
    note = "" if cpu_known and memory_known and tasks_known else " (a size is not literal; the smallest assumed)"
    what = f"{tasks:g} task(s) x {cpu / 1024:g} vCPU, {memory / 1024:g} GB{note}"
    return [
        _item(prices, logical_id, rtype, "fargateVcpu", tasks * cpu / 1024, what),
        _item(prices, logical_id, rtype, "fargateMemoryGb", tasks * memory / 1024, what),
    ]


def _web_acl(logical_id: str, props: dict[str, Any], template: dict[str, Any], prices: Prices) -> _Priced:
    rtype = "AWS::WAFv2::WebACL"
    rules = props.get("Rules") or []
    return [
        _item(prices, logical_id, rtype, "wafWebAcl", 1, "web ACL"),
        _item(prices, logical_id, rtype, "wafRule", len(rules), f"{len(rules)} rule(s)"),
    ]


# Feature groups are priced in their own module (which imports this one's types, hence here).
from maturity.cost.feature_store import feature_group as _feature_group  # noqa: E402

#: Resource type -> how to price it. Everything else costs nothing while idle (or is in notEstimated).
PRICERS: dict[str, _Pricer] = {
    "AWS::SageMaker::FeatureGroup": _feature_group,
    "AWS::KMS::Key": _flat("kmsKey", "customer managed key"),
    "AWS::KMS::ReplicaKey": _flat("kmsKey", "replica key"),
    "AWS::SageMaker::Endpoint": _sagemaker_endpoint,
    "AWS::EC2::NatGateway": _flat("natGateway", "NAT gateway"),
    "AWS::EC2::EIP": _flat("publicIpv4", "Elastic IP"),
    "AWS::EC2::VPCEndpoint": _vpc_endpoint,
    "AWS::DocDB::DBInstance": _instance_class("documentDbInstance", "DBInstanceClass"),
    "AWS::ElasticLoadBalancingV2::LoadBalancer": _load_balancer,
    "AWS::ElasticLoadBalancing::LoadBalancer": _flat("classicLoadBalancer", "classic load balancer"),
    "AWS::Kinesis::Stream": _kinesis,
    "AWS::OpenSearchService::Domain": _opensearch,
    "AWS::Elasticsearch::Domain": _opensearch,
    "AWS::SecretsManager::Secret": _flat("secretsManagerSecret", "secret"),
    "AWS::CloudWatch::Alarm": _alarm,
    "AWS::CloudWatch::CompositeAlarm": _flat("compositeAlarm", "composite alarm"),
    "AWS::CloudWatch::Dashboard": _flat("dashboard", "dashboard"),
    "AWS::MSK::Cluster": _msk,
    "AWS::MSK::ServerlessCluster": _flat("mskServerlessCluster", "serverless cluster"),
    "AWS::DynamoDB::Table": _dynamodb,
    "AWS::Lambda::EventSourceMapping": _event_source_mapping,
    "AWS::ECS::Service": _fargate_service,
    "AWS::WAFv2::WebACL": _web_acl,
    "AWS::SageMaker::MlflowApp": _flat("sagemakerMlflowApp", "MLflow app (serverless)"),
}


def estimate_template(template: Mapping[str, Any], prices: Prices) -> tuple[list[LineItem], list[Unpriced]]:
    """Idle line items of one template, and what could not be priced."""
    items: list[LineItem] = []
    unpriced: list[Unpriced] = []
    document = dict(template)
    for logical_id, resource in sorted(document.get("Resources", {}).items()):
        rtype = resource.get("Type", "")
        if rtype in PRICERS:
            for entry in PRICERS[rtype](logical_id, resource.get("Properties") or {}, document, prices):
                if isinstance(entry, LineItem):
                    items.append(entry)
                else:
                    unpriced.append(entry)
        elif rtype in prices.not_estimated:
            unpriced.append(Unpriced(logical_id, rtype, f"not estimated: {prices.not_estimated[rtype]}"))
    return items, unpriced
