"""Idle cost of synthesized templates: what an environment costs per month with no traffic at all.

Reads CloudFormation templates (``cdk.out/<env>/*.template.json`` from ``make synth``), prices every
resource that bills by the hour or month whether used or not, with the table in ``prices.json``
(us-east-1 list prices: estimates, see its ``about``), and compares each environment's total with its
``idleBudgetUsd`` from cdk.json. Usage-driven costs (requests, data, storage growth, training jobs)
are out of scope: they are zero when idle.

Resource types that cost money idle but are not estimated (``notEstimated`` in the table) are listed,
never silently counted as free; so are priced types whose size cannot be read from the template.

One usage cost is reported beside the idle cost, because a team runs it on purpose and repeatedly: one
evaluation run of each prompt-evaluation function in the templates (recognised by its environment:
``EMBEDDING_MODEL_ID`` and ``PRICE_TABLE_JSON``). Its candidate, judge and embedding calls and the
guardrail's text units are priced with the function's own price table (what its scorecards charge) and
``usagePrices``, for a run the size of ``evaluationRun``. It is not part of the idle total or budget.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from maturity import cost_monitoring

__all__ = [
    "PRICES_PATH",
    "CostReport",
    "EnvironmentCost",
    "EvaluationRunCost",
    "LineItem",
    "Prices",
    "Unpriced",
    "estimate",
    "estimate_template",
    "idle_budgets",
    "load_prices",
    "load_templates",
    "render",
]

PRICES_PATH = Path(__file__).with_name("prices.json")
BUDGET_KEY = "idleBudgetUsd"
DEFAULTS_KEY = "mlops:defaults"
ENVIRONMENTS_KEY = "mlops:environments"
Format = Literal["table", "json", "markdown"]

_STACK_ENV_RE = re.compile(r"^Mlops-(?P<env>[a-z][a-z0-9]{1,15})-")
_TEMPLATE_SUFFIX = ".template.json"


class CostError(ValueError):
    """Templates, cdk.json or the price table cannot be read; the message is one sentence."""


# --------------------------------------------------------------------------------------------------
# Price table


@dataclass(frozen=True)
class Prices:
    hours_per_month: float
    region: str
    about: str
    entries: Mapping[str, Mapping[str, Any]]
    not_estimated: Mapping[str, str]
    usage: Mapping[str, Any] = field(default_factory=dict)
    evaluation_run: Mapping[str, Any] = field(default_factory=dict)
    monitoring_run: Mapping[str, Any] = field(default_factory=dict)

    def monthly(self, key: str, kind: str | None = None) -> float | None:
        """USD per month for one unit of `key` (of instance type `kind` for per-type entries); None if unknown."""
        entry = self.entries[key]
        if "usdPerMonth" in entry:
            value = entry["usdPerMonth"]
            hours = 1.0
        else:
            value = entry["usdPerHour"]
            hours = self.hours_per_month
        if isinstance(value, Mapping):
            if kind is None or kind not in value:
                return None
            value = value[kind]
        return float(value) * hours


def load_prices(path: Path = PRICES_PATH) -> Prices:
    try:
        raw = json.loads(path.read_text())
    except (OSError, json.JSONDecodeError) as error:
        raise CostError(f"cannot read the price table {path}: {error}") from error
    for key, entry in raw["prices"].items():
        if ("usdPerHour" in entry) == ("usdPerMonth" in entry) or not entry.get("source") or not entry.get("as_of"):
            raise CostError(
                f"{path.name}: price {key!r} needs exactly one of usdPerHour/usdPerMonth, a source and as_of"
            )
    return Prices(
        hours_per_month=float(raw["hoursPerMonth"]),
        region=str(raw["region"]),
        about=str(raw["about"]),
        entries=raw["prices"],
        not_estimated=raw.get("notEstimated", {}),
        usage=raw.get("usagePrices", {}),
        evaluation_run=_evaluation_run(raw.get("evaluationRun", {}), path.name),
        monitoring_run=raw.get("monitoringRun", {}),
    )


_RUN_KEYS = (
    "goldenItems",
    "redTeamItems",
    "candidateInputTokens",
    "candidateOutputTokens",
    "judgeInputTokens",
    "judgeOutputTokens",
    "embeddingTokensPerText",
    "textUnitsPerCheck",
)


def _evaluation_run(raw: Any, name: str) -> dict[str, Any]:
    if not raw:
        return {}
    for key in _RUN_KEYS:
        value = raw.get(key) if isinstance(raw, Mapping) else None
        if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= 10**7:
            raise CostError(f"{name}: evaluationRun.{key} must be an integer from 0 to 10000000, got {value!r}")
    return dict(raw)


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
        periods = [
            _number(query.get("Period", (query.get("MetricStat") or {}).get("Period")), 60)[0]
            for query in metrics
            if isinstance(query, dict)
        ]
        period = min(periods) if periods else 60.0
    else:
        reads, anomaly = 1, False
        period = _number(props.get("Period"), 60)[0]
    count = reads * 3 if anomaly else reads
    high_resolution = period < 60
    key = "highResolutionAlarmMetric" if high_resolution else "alarmMetric"
    what = f"{count} {'high-resolution ' if high_resolution else ''}alarm metric(s)" + (
        " (anomaly detection)" if anomaly else ""
    )
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


#: Resource type -> how to price it. Everything else costs nothing while idle (or is in notEstimated).
PRICERS: dict[str, _Pricer] = {
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


# --------------------------------------------------------------------------------------------------
# One evaluation run (usage, not idle)


@dataclass(frozen=True)
class RunLine:
    what: str
    detail: str
    usd: float | None  # None: no price known, so not estimated (never counted as free)


@dataclass(frozen=True)
class EvaluationRunCost:
    env: str
    stack: str
    logical_id: str
    lines: tuple[RunLine, ...]
    warnings: tuple[str, ...] = ()

    @property
    def total_usd(self) -> float:
        return sum(line.usd for line in self.lines if line.usd is not None)

    @property
    def unpriced(self) -> list[RunLine]:
        return [line for line in self.lines if line.usd is None]


def _tokens_usd(tokens_in: float, tokens_out: float, price: Mapping[str, Any] | None) -> float | None:
    if not price:
        return None
    return (tokens_in * float(price.get("input_per_1k", 0)) + tokens_out * float(price.get("output_per_1k", 0))) / 1000


def evaluation_run_cost(
    env: str, stack: str, logical_id: str, variables: Mapping[str, Any], prices: Prices
) -> EvaluationRunCost | None:
    """The cost of one run of the evaluation function whose environment is ``variables`` (``None``: the
    function is not an evaluator, or the price table has no ``evaluationRun`` size)."""
    run = prices.evaluation_run
    table_raw, embedding = variables.get("PRICE_TABLE_JSON"), variables.get("EMBEDDING_MODEL_ID")
    if not run or not isinstance(table_raw, str) or not isinstance(embedding, str):
        return None
    try:
        table = json.loads(table_raw)
    except json.JSONDecodeError:
        table = {}
    models = [m for m in str(variables.get("ALLOWED_MODELS", "")).split(",") if m]
    golden, attacks = run["goldenItems"], run["redTeamItems"]
    lines: list[RunLine] = []
    warnings: list[str] = []
    for model in models:
        calls = golden + attacks
        lines.append(
            RunLine(
                f"candidate {model}",
                f"{calls} calls ({golden} golden + {attacks} red-team) x {run['candidateInputTokens']} in / "
                f"{run['candidateOutputTokens']} out tokens",
                _tokens_usd(
                    calls * run["candidateInputTokens"], calls * run["candidateOutputTokens"], table.get(model)
                ),
            )
        )
    judge = variables.get("JUDGE_MODEL_ID")
    if isinstance(judge, str) and judge:
        calls = golden * len(models)
        price = table.get(judge) or _usage_token_price(prices, judge)
        lines.append(
            RunLine(
                f"judge {judge}",
                f"{calls} calls x {run['judgeInputTokens']} in / {run['judgeOutputTokens']} out tokens",
                _tokens_usd(calls * run["judgeInputTokens"], calls * run["judgeOutputTokens"], price),
            )
        )
    texts = golden * len(models) + golden  # every answer, and each reference once (cached)
    configured = _number(variables.get("EMBEDDING_PRICE_PER_1K"), -1.0)[0]
    listed = _usage_token_price(prices, embedding)
    if configured >= 0 and listed and abs(configured - listed["input_per_1k"]) > 1e-12:
        warnings.append(
            f"the function prices {embedding} at {configured:g} USD per 1k tokens; "
            f"prices.json lists {listed['input_per_1k']:g} (check cdk.json embeddingInputPer1kUsd)"
        )
    embedding_price = {"input_per_1k": configured} if configured >= 0 else listed
    lines.append(
        RunLine(
            f"embeddings {embedding}",
            f"{texts} texts x {run['embeddingTokensPerText']} tokens",
            _tokens_usd(texts * run["embeddingTokensPerText"], 0, embedding_price),
        )
    )
    if variables.get("GUARDRAIL_ID"):
        unit_prices = (prices.usage.get("guardrailTextUnits") or {}).get("usdPer1kUnits") or {}
        units = run["textUnitsPerCheck"]
        screened = (golden + attacks) * len(models) * 2 * units  # each call's input and output
        grounded = golden * len(models) * units
        usd: float | None = None
        needed = ("contentPolicy", "topicPolicy", "sensitiveInformationPolicy", "contextualGroundingPolicy")
        if all(isinstance(unit_prices.get(k), (int, float)) for k in needed):
            per_screen = sum(float(unit_prices[k]) for k in needed[:3])
            usd = (
                (screened + grounded) * per_screen + grounded * float(unit_prices["contextualGroundingPolicy"])
            ) / 1000
        lines.append(
            RunLine(
                "guardrail",
                f"{screened} text units screened on model calls, {grounded} grounding checks (ApplyGuardrail)",
                usd,
            )
        )
    return EvaluationRunCost(env, stack, logical_id, tuple(lines), tuple(warnings))


def _usage_token_price(prices: Prices, model_id: str) -> dict[str, float] | None:
    entry = (prices.usage.get("bedrockTokens") or {}).get(model_id)
    if not isinstance(entry, Mapping) or not isinstance(entry.get("inputPer1kUsd"), (int, float)):
        return None
    return {"input_per_1k": float(entry["inputPer1kUsd"]), "output_per_1k": float(entry.get("outputPer1kUsd", 0))}


def evaluation_runs(
    templates: Mapping[tuple[str, str], Mapping[str, Any]], prices: Prices
) -> tuple[EvaluationRunCost, ...]:
    """One :func:`evaluation_run_cost` per evaluation function in the templates."""
    found: list[EvaluationRunCost] = []
    for (env, stack), template in sorted(templates.items()):
        for logical_id, resource in sorted(template.get("Resources", {}).items()):
            if resource.get("Type") != "AWS::Lambda::Function":
                continue
            variables = ((resource.get("Properties") or {}).get("Environment") or {}).get("Variables") or {}
            cost = evaluation_run_cost(env, stack, logical_id, variables, prices)
            if cost is not None:
                found.append(cost)
    return tuple(found)


# --------------------------------------------------------------------------------------------------
# Environments, budgets, report


@dataclass(frozen=True)
class StackCost:
    name: str
    items: tuple[LineItem, ...]
    unpriced: tuple[Unpriced, ...]

    @property
    def total_usd(self) -> float:
        return sum(item.monthly_usd for item in self.items)


@dataclass(frozen=True)
class EnvironmentCost:
    name: str
    stacks: tuple[StackCost, ...]
    budget_usd: float | None

    @property
    def total_usd(self) -> float:
        return sum(stack.total_usd for stack in self.stacks)

    @property
    def over_budget(self) -> bool:
        return self.budget_usd is not None and round(self.total_usd, 2) > self.budget_usd


@dataclass(frozen=True)
class CostReport:
    environments: tuple[EnvironmentCost, ...]
    prices: Prices = field(repr=False)
    evaluation_runs: tuple[EvaluationRunCost, ...] = ()
    monitoring: tuple[cost_monitoring.MonitoringCost, ...] = ()

    @property
    def total_usd(self) -> float:
        return sum(env.total_usd for env in self.environments)

    @property
    def over_budget(self) -> list[EnvironmentCost]:
        return [env for env in self.environments if env.over_budget]


def estimate(
    templates: Mapping[tuple[str, str], Mapping[str, Any]],
    *,
    budgets: Mapping[str, float | None],
    prices: Prices | None = None,
) -> CostReport:
    """Price ``{(environment, stack name): template}`` and compare each environment with its budget."""
    table = prices or load_prices()
    by_env: dict[str, list[StackCost]] = {}
    for (env, stack), template in sorted(templates.items()):
        items, unpriced = estimate_template(template, table)
        by_env.setdefault(env, []).append(StackCost(stack, tuple(items), tuple(unpriced)))
    return CostReport(
        tuple(EnvironmentCost(env, tuple(stacks), budgets.get(env)) for env, stacks in by_env.items()),
        table,
        evaluation_runs(templates, table),
        cost_monitoring.monitoring_costs(templates, table, table.monitoring_run) if table.monitoring_run else (),
    )


def idle_budgets(cdk_json: Path) -> dict[str, float | None]:
    """``idleBudgetUsd`` per environment of cdk.json (its entry over ``mlops:defaults``); None where unset."""
    try:
        context = json.loads(cdk_json.read_text()).get("context", {})
    except (OSError, json.JSONDecodeError) as error:
        raise CostError(f"cannot read {cdk_json}: {error}") from error
    defaults = context.get(DEFAULTS_KEY) or {}
    environments = context.get(ENVIRONMENTS_KEY) or {}
    budgets: dict[str, float | None] = {}
    for name, entry in environments.items():
        value = (entry or {}).get(BUDGET_KEY, defaults.get(BUDGET_KEY))
        if value is not None and (isinstance(value, bool) or not isinstance(value, (int, float)) or value < 0):
            raise CostError(f"cdk.json environment {name!r}, key {BUDGET_KEY!r}: expected a number >= 0, got {value!r}")
        budgets[name] = None if value is None else float(value)
    return budgets


def load_templates(directories: Sequence[Path]) -> dict[tuple[str, str], dict[str, Any]]:
    """``*.template.json`` of each directory, keyed by (environment, stack).

    The environment comes from the stack name (``Mlops-<env>-...``), else from the directory's name.
    """
    templates: dict[tuple[str, str], dict[str, Any]] = {}
    for directory in directories:
        if not directory.is_dir():
            raise CostError(f"{directory} is not a directory of synthesized templates")
        for path in sorted(directory.glob(f"*{_TEMPLATE_SUFFIX}")):
            stack = path.name.removesuffix(_TEMPLATE_SUFFIX)
            match = _STACK_ENV_RE.match(stack)
            env = match.group("env") if match else directory.name
            try:
                templates[env, stack] = json.loads(path.read_text())
            except json.JSONDecodeError as error:
                raise CostError(f"{path} is not valid JSON: {error}") from error
    return templates


def default_template_dirs(cdk_out: Path) -> list[Path]:
    """``cdk.out/<env>/`` directories written by ``make synth``."""
    if not cdk_out.is_dir():
        return []
    return sorted(p for p in cdk_out.iterdir() if p.is_dir() and any(p.glob(f"*{_TEMPLATE_SUFFIX}")))


def _usd(value: float) -> str:
    return f"{value:,.2f}"


def _budget_state(env: EnvironmentCost) -> str:
    if env.budget_usd is None:
        return f"no {BUDGET_KEY} set"
    verdict = "OVER BUDGET" if env.over_budget else "within budget"
    return f"{verdict} ({_usd(env.total_usd)} of {_usd(env.budget_usd)})"


def _disclaimer(prices: Prices) -> str:
    return (
        f"Estimated idle cost in USD per month, from {prices.region} list prices in maturity/prices.json: "
        "estimates, not a bill; usage (requests, data, storage, jobs) is left out."
    )


def render(report: CostReport, fmt: Format) -> str:
    if fmt == "json":
        return json.dumps(_to_dict(report), indent=2) + "\n"
    if fmt == "markdown":
        return _markdown(report)
    return _table(report)


def _to_dict(report: CostReport) -> dict[str, Any]:
    return {
        "currency": "USD",
        "priceRegion": report.prices.region,
        "disclaimer": report.prices.about,
        "totalUsd": round(report.total_usd, 2),
        "overBudget": [env.name for env in report.over_budget],
        "environments": [
            {
                "name": env.name,
                "totalUsd": round(env.total_usd, 2),
                "budgetUsd": env.budget_usd,
                "overBudget": env.over_budget,
                "stacks": [
                    {
                        "name": stack.name,
                        "totalUsd": round(stack.total_usd, 2),
                        "items": [
                            {
                                "logicalId": item.logical_id,
                                "type": item.resource_type,
                                "what": item.what,
                                "quantity": item.quantity,
                                "unitUsdPerMonth": round(item.unit_usd, 4),
                                "monthlyUsd": round(item.monthly_usd, 2),
                                "price": item.price_key,
                            }
                            for item in stack.items
                        ],
                        "notEstimated": [
                            {"logicalId": u.logical_id, "type": u.resource_type, "reason": u.reason}
                            for u in stack.unpriced
                        ],
                    }
                    for stack in env.stacks
                ],
            }
            for env in report.environments
        ],
        "evaluationRuns": [
            {
                "environment": run.env,
                "stack": run.stack,
                "logicalId": run.logical_id,
                "perRunUsd": round(run.total_usd, 4),
                "lines": [{"what": line.what, "detail": line.detail, "usd": line.usd} for line in run.lines],
                "warnings": list(run.warnings),
            }
            for run in report.evaluation_runs
        ],
        "monitoringSchedules": cost_monitoring.to_dicts(report.monitoring),
    }


def _table(report: CostReport) -> str:
    lines = [_disclaimer(report.prices), ""]
    for env in report.environments:
        lines.append(f"{env.name}: {_usd(env.total_usd)} USD/month, {_budget_state(env)}")
        for stack in env.stacks:
            lines.append(f"  {stack.name:<52} {_usd(stack.total_usd):>10}")
            for item in stack.items:
                label = f"{item.resource_type.removeprefix('AWS::')} {item.logical_id}"
                lines.append(f"    {label:<60} {item.what:<45} {_usd(item.monthly_usd):>10}")
            for unpriced in stack.unpriced:
                label = f"{unpriced.resource_type.removeprefix('AWS::')} {unpriced.logical_id}"
                lines.append(f"    {label:<60} NOT ESTIMATED: {unpriced.reason}")
        lines.append("")
    lines.append(f"All environments: {_usd(report.total_usd)} USD/month")
    for env in report.over_budget:
        lines.append(f"Over budget: {env.name} ({_usd(env.total_usd)} > {_usd(env.budget_usd or 0)} {BUDGET_KEY})")
    if report.evaluation_runs:
        lines += ["", _RUN_HEADING]
        for run in report.evaluation_runs:
            lines.append(f"  {run.env} {run.stack} {run.logical_id}: {_run_usd(run.total_usd)} USD per run")
            for line in run.lines:
                lines.append(f"    {line.what:<60} {line.detail:<70} {_run_usd(line.usd)}")
            for warning in run.warnings:
                lines.append(f"    WARNING: {warning}")
    lines += cost_monitoring.render_section(report.monitoring, "table")
    return "\n".join(lines) + "\n"


_RUN_HEADING = "One evaluation run (usage, not idle: not in the totals above; run size from prices.json evaluationRun):"


def _run_usd(value: float | None) -> str:
    return "NOT ESTIMATED (no price)" if value is None else f"{value:.6f}"


def _markdown(report: CostReport) -> str:
    lines = ["# Idle cost per environment", "", f"_{_disclaimer(report.prices)}_", ""]
    lines += ["| environment | idle USD/month | budget | status |", "|---|---:|---:|---|"]
    for env in report.environments:
        budget = "-" if env.budget_usd is None else _usd(env.budget_usd)
        status = "no budget" if env.budget_usd is None else ("**over budget**" if env.over_budget else "ok")
        lines.append(f"| {env.name} | {_usd(env.total_usd)} | {budget} | {status} |")
    lines.append(f"| **all** | **{_usd(report.total_usd)}** | | |")
    for env in report.environments:
        lines += ["", f"## {env.name}", "", "| stack | resource | type | what | USD/month |", "|---|---|---|---|---:|"]
        for stack in env.stacks:
            for item in stack.items:
                lines.append(
                    f"| {stack.name} | `{item.logical_id}` | {item.resource_type} | {item.what} | "
                    f"{_usd(item.monthly_usd)} |"
                )
            for unpriced in stack.unpriced:
                lines.append(
                    f"| {stack.name} | `{unpriced.logical_id}` | {unpriced.resource_type} | "
                    f"not estimated: {unpriced.reason} | ? |"
                )
            lines.append(f"| {stack.name} | | | **stack total** | **{_usd(stack.total_usd)}** |")
    if report.evaluation_runs:
        lines += ["", "## One evaluation run", "", f"_{_RUN_HEADING}_", ""]
        lines += ["| environment | function | call | volume | USD per run |", "|---|---|---|---|---:|"]
        for run in report.evaluation_runs:
            for line in run.lines:
                lines.append(f"| {run.env} | `{run.logical_id}` | {line.what} | {line.detail} | {_run_usd(line.usd)} |")
            lines.append(f"| {run.env} | `{run.logical_id}` | **per run** | | **{_run_usd(run.total_usd)}** |")
            lines += [f"| {run.env} | `{run.logical_id}` | warning | {w} | |" for w in run.warnings]
    lines += cost_monitoring.render_section(report.monitoring, "markdown")
    return "\n".join(lines) + "\n"
