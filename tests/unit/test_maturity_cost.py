"""The idle-cost report: each priced resource type on small handcrafted templates, budgets, output, and the
committed snapshots of every environment against its budget."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest

from maturity.__main__ import main
from maturity.cost import (
    PRICERS,
    CostError,
    estimate,
    estimate_template,
    idle_budgets,
    load_prices,
    load_templates,
    render,
)
from tests.example import EXAMPLE_CDK_JSON

ROOT = Path(__file__).resolve().parents[2]
SNAPSHOTS = ROOT / "tests" / "infra" / "__snapshots__" / "test_snapshots"
SNAPSHOT_NAME = re.compile(r"^test_stacks_match_snapshot\[(?P<env>[^\]]+)\]\[(?P<stack>[^\]]+)\]\.json$")
PRICES = load_prices()
HOURS = PRICES.hours_per_month


def template(**resources: dict[str, Any]) -> dict[str, Any]:
    return {"Resources": resources}


def resource(rtype: str, **properties: Any) -> dict[str, Any]:
    return {"Type": rtype, "Properties": properties}


def monthly(tpl: dict[str, Any]) -> float:
    items, _ = estimate_template(tpl, PRICES)
    return round(sum(item.monthly_usd for item in items), 4)


def price(key: str, kind: str | None = None) -> float:
    value = PRICES.monthly(key, kind)
    assert value is not None
    return value


# --------------------------------------------------------------------------------------------------
# Each priced type


@pytest.mark.parametrize(
    ("resources", "expected"),
    [
        pytest.param({"K": resource("AWS::KMS::Key")}, 1.0, id="kms-key"),
        pytest.param({"K": resource("AWS::KMS::ReplicaKey")}, 1.0, id="kms-replica"),
        pytest.param({"N": resource("AWS::EC2::NatGateway")}, 0.045 * HOURS, id="nat-gateway"),
        pytest.param({"E": resource("AWS::EC2::EIP")}, 0.005 * HOURS, id="elastic-ip"),
        pytest.param(
            {"V": resource("AWS::EC2::VPCEndpoint", VpcEndpointType="Interface", SubnetIds=["a", "b", "c"])},
            3 * 0.01 * HOURS,
            id="interface-endpoint-per-subnet",
        ),
        pytest.param({"V": resource("AWS::EC2::VPCEndpoint", ServiceName="s3")}, 0.0, id="gateway-endpoint-free"),
        pytest.param(
            {"D": resource("AWS::DocDB::DBInstance", DBInstanceClass="db.t3.medium")}, 0.078 * HOURS, id="docdb"
        ),
        pytest.param({"L": resource("AWS::ElasticLoadBalancingV2::LoadBalancer")}, 0.0225 * HOURS, id="alb-default"),
        pytest.param(
            {"L": resource("AWS::ElasticLoadBalancingV2::LoadBalancer", Type="gateway")}, 0.0125 * HOURS, id="gwlb"
        ),
        pytest.param({"L": resource("AWS::ElasticLoadBalancing::LoadBalancer")}, 0.025 * HOURS, id="classic-elb"),
        pytest.param({"S": resource("AWS::Kinesis::Stream", ShardCount=4)}, 4 * 0.015 * HOURS, id="kinesis-shards"),
        pytest.param({"S": resource("AWS::Kinesis::Stream")}, 0.015 * HOURS, id="kinesis-default-one-shard"),
        pytest.param(
            {"S": resource("AWS::Kinesis::Stream", StreamModeDetails={"StreamMode": "ON_DEMAND"})},
            0.04 * HOURS,
            id="kinesis-on-demand",
        ),
        pytest.param({"S": resource("AWS::SecretsManager::Secret")}, 0.4, id="secret"),
        pytest.param({"A": resource("AWS::CloudWatch::Alarm", Period=300)}, 0.1, id="alarm"),
        pytest.param({"A": resource("AWS::CloudWatch::Alarm", Period=10)}, 0.3, id="alarm-high-resolution"),
        pytest.param(
            {
                "A": resource(
                    "AWS::CloudWatch::Alarm",
                    Metrics=[
                        {"Id": "e", "Expression": "100*m1/m2"},
                        {"Id": "m1", "MetricStat": {"Period": 300}},
                        {"Id": "m2", "MetricStat": {"Period": 300}},
                    ],
                )
            },
            0.2,
            id="alarm-metric-math-counts-each-metric",
        ),
        pytest.param(
            {
                "A": resource(
                    "AWS::CloudWatch::Alarm",
                    Metrics=[
                        {"Id": "ad", "Expression": "ANOMALY_DETECTION_BAND(m1, 2)"},
                        {"Id": "m1", "MetricStat": {"Period": 300}},
                    ],
                )
            },
            0.3,
            id="alarm-anomaly-detection",
        ),
        pytest.param(
            {
                "A": resource(
                    "AWS::CloudWatch::Alarm",
                    Metrics=[
                        {
                            "Id": "q",
                            "Expression": 'SELECT MAX(bias_metric_DPPL) FROM "aws/sagemaker/Endpoints/bias-metrics" '
                            "WHERE Endpoint = 'e' AND MonitoringSchedule = 'e-model-bias'",
                            "Period": 3600,
                        }
                    ],
                )
            },
            0.1,
            id="alarm-metrics-insights-one-series",
        ),
        pytest.param({"A": resource("AWS::CloudWatch::CompositeAlarm")}, 0.5, id="composite-alarm"),
        pytest.param({"D": resource("AWS::CloudWatch::Dashboard")}, 3.0, id="dashboard"),
        pytest.param(
            {
                "M": resource(
                    "AWS::MSK::Cluster",
                    NumberOfBrokerNodes=2,
                    BrokerNodeGroupInfo={
                        "InstanceType": "kafka.m5.large",
                        "StorageInfo": {"EBSStorageInfo": {"VolumeSize": 100}},
                    },
                )
            },
            2 * 0.21 * HOURS + 200 * 0.1,
            id="msk-brokers-and-storage",
        ),
        pytest.param({"M": resource("AWS::MSK::ServerlessCluster")}, 0.75 * HOURS, id="msk-serverless"),
        pytest.param(
            {
                "T": resource(
                    "AWS::DynamoDB::Table",
                    ProvisionedThroughput={"ReadCapacityUnits": 5, "WriteCapacityUnits": 5},
                    GlobalSecondaryIndexes=[
                        {"ProvisionedThroughput": {"ReadCapacityUnits": 5, "WriteCapacityUnits": 1}}
                    ],
                )
            },
            10 * 0.00013 * HOURS + 6 * 0.00065 * HOURS,
            id="dynamodb-provisioned-with-gsi",
        ),
        pytest.param(
            {"T": resource("AWS::DynamoDB::Table", BillingMode="PAY_PER_REQUEST")}, 0.0, id="dynamodb-on-demand-free"
        ),
        pytest.param(
            {
                "D": resource(
                    "AWS::OpenSearchService::Domain",
                    ClusterConfig={
                        "InstanceType": "r6g.large.search",
                        "InstanceCount": 2,
                        "DedicatedMasterEnabled": True,
                        "DedicatedMasterType": "m6g.large.search",
                        "DedicatedMasterCount": 3,
                    },
                    EBSOptions={"EBSEnabled": True, "VolumeSize": 20},
                )
            },
            2 * 0.167 * HOURS + 3 * 0.128 * HOURS + 2 * 20 * 0.122,
            id="opensearch-data-masters-storage",
        ),
        pytest.param(
            {
                "L": resource("AWS::Logs::LogGroup"),
                "B": resource("AWS::S3::Bucket"),
                "F": resource("AWS::Lambda::Function"),
            },
            0.0,
            id="no-idle-cost-types",
        ),
        pytest.param({"X": resource("AWS::Some::FutureThing", Size=9)}, 0.0, id="unknown-type-ignored"),
        pytest.param(
            {
                "Task": resource(
                    "AWS::ECS::TaskDefinition", RequiresCompatibilities=["FARGATE"], Cpu="512", Memory="1024"
                ),
                "Svc": resource("AWS::ECS::Service", TaskDefinition={"Ref": "Task"}, DesiredCount=2),
            },
            2 * 0.5 * 0.04048 * HOURS + 2 * 1 * 0.004445 * HOURS,
            id="fargate-service-tasks-by-size",
        ),
        pytest.param(
            {"Acl": resource("AWS::WAFv2::WebACL", Rules=[{"Name": "a"}, {"Name": "b"}, {"Name": "c"}])},
            5.0 + 3 * 1.0,
            id="waf-web-acl-and-rules",
        ),
    ],
)
def test_each_priced_type(resources, expected):
    assert monthly(template(**resources)) == pytest.approx(expected, abs=1e-6)


def test_every_pricer_is_tested_and_every_price_is_documented():
    raw = json.loads((ROOT / "maturity" / "prices.json").read_text())
    for key, entry in raw["prices"].items():
        assert entry["source"].startswith("https://aws.amazon.com/"), key
        assert re.match(r"^\d{4}-\d{2}", entry["as_of"]), key
    assert "ESTIMATES" in raw["about"] and raw["region"] == "us-east-1"
    tested = {
        "AWS::KMS::Key",
        "AWS::KMS::ReplicaKey",
        "AWS::EC2::NatGateway",
        "AWS::EC2::EIP",
        "AWS::EC2::VPCEndpoint",
        "AWS::DocDB::DBInstance",
        "AWS::ElasticLoadBalancingV2::LoadBalancer",
        "AWS::ElasticLoadBalancing::LoadBalancer",
        "AWS::Kinesis::Stream",
        "AWS::SecretsManager::Secret",
        "AWS::CloudWatch::Alarm",
        "AWS::CloudWatch::CompositeAlarm",
        "AWS::CloudWatch::Dashboard",
        "AWS::MSK::Cluster",
        "AWS::MSK::ServerlessCluster",
        "AWS::DynamoDB::Table",
        "AWS::Lambda::EventSourceMapping",
        "AWS::OpenSearchService::Domain",
        "AWS::Elasticsearch::Domain",
        "AWS::SageMaker::Endpoint",
        "AWS::ECS::Service",
        "AWS::WAFv2::WebACL",
        "AWS::SageMaker::FeatureGroup",  # tests/unit/test_maturity_cost_feature_store.py
        "AWS::SageMaker::MlflowApp",  # tests/unit/test_cost_monitoring.py
    }
    assert set(PRICERS) == tested


def test_sagemaker_endpoints_by_instance_type_and_count_serverless_is_free():
    tpl = template(
        Config=resource(
            "AWS::SageMaker::EndpointConfig",
            ProductionVariants=[
                {"VariantName": "Blue", "InstanceType": "ml.m5.large", "InitialInstanceCount": 2},
                {"VariantName": "Serverless", "ServerlessConfig": {"MaxConcurrency": 5, "MemorySizeInMB": 2048}},
            ],
            ShadowProductionVariants=[{"VariantName": "Shadow", "InstanceType": "ml.c5.large"}],
        ),
        Endpoint=resource(
            "AWS::SageMaker::Endpoint", EndpointConfigName={"Fn::GetAtt": ["Config", "EndpointConfigName"]}
        ),
        Unused=resource("AWS::SageMaker::EndpointConfig", ProductionVariants=[{"InstanceType": "ml.g5.xlarge"}]),
    )
    items, unpriced = estimate_template(tpl, PRICES)
    assert [(i.logical_id, i.what) for i in items] == [
        ("Endpoint", "Blue: ml.m5.large x 2"),
        ("Endpoint", "Shadow: ml.c5.large x 1"),
    ]
    assert sum(i.monthly_usd for i in items) == pytest.approx((2 * 0.115 + 0.102) * HOURS)
    assert unpriced == []


def test_an_endpoint_config_found_by_name_and_an_unknown_instance_type_is_reported_not_guessed():
    tpl = template(
        Config=resource(
            "AWS::SageMaker::EndpointConfig",
            EndpointConfigName="churn-config",
            ProductionVariants=[{"VariantName": "A", "InstanceType": "ml.p5.48xlarge", "InitialInstanceCount": 1}],
        ),
        Endpoint=resource("AWS::SageMaker::Endpoint", EndpointConfigName="churn-config"),
        Elsewhere=resource("AWS::SageMaker::Endpoint", EndpointConfigName={"Fn::ImportValue": "other-stack-config"}),
    )
    items, unpriced = estimate_template(tpl, PRICES)
    assert items == []
    assert [(u.logical_id, u.reason) for u in unpriced] == [
        ("Elsewhere", "its endpoint configuration is not in this template"),
        ("Endpoint", "no price for 'ml.p5.48xlarge' in prices.json (sagemakerHostingInstance)"),
    ]


def test_interface_endpoint_with_unresolved_subnets_assumes_one_and_says_so():
    tpl = template(
        V=resource(
            "AWS::EC2::VPCEndpoint",
            VpcEndpointType="Interface",
            ServiceName="com.amazonaws.eu-west-1.sagemaker.api",
            SubnetIds={"Fn::Split": [",", {"Fn::ImportValue": "subnets"}]},
        )
    )
    items, _ = estimate_template(tpl, PRICES)
    assert [(i.what, i.quantity) for i in items] == [("sagemaker.api, subnets not literal (1 assumed)", 1.0)]


def test_provisioned_event_pollers_are_listed_not_counted_as_free_on_demand_mappings_cost_nothing():
    tpl = template(
        Kafka=resource(
            "AWS::Lambda::EventSourceMapping",
            Topics=["t"],
            ProvisionedPollerConfig={"MinimumPollers": 1, "MaximumPollers": 1},
        ),
        Kinesis=resource("AWS::Lambda::EventSourceMapping", BatchSize=100),
    )
    items, unpriced = estimate_template(tpl, PRICES)
    assert items == []
    assert [(u.logical_id, u.reason) for u in unpriced] == [
        ("Kafka", "provisioned mode: at least 1 event poller(s) bill per event poller unit hour, not estimated")
    ]


def test_a_service_whose_task_definition_is_elsewhere_is_reported_not_guessed():
    items, unpriced = estimate_template(template(Svc=resource("AWS::ECS::Service", TaskDefinition="arn:...")), PRICES)
    assert items == [] and unpriced[0].reason == "its task definition is not in this template"


def test_types_that_cost_money_idle_but_are_not_estimated_are_listed():
    items, unpriced = estimate_template(
        template(Db=resource("AWS::RDS::DBInstance", DBInstanceClass="db.t3.micro")), PRICES
    )
    assert items == []
    assert [(u.logical_id, u.resource_type) for u in unpriced] == [("Db", "AWS::RDS::DBInstance")]
    assert unpriced[0].reason.startswith("not estimated: ")


# --------------------------------------------------------------------------------------------------
# Environments, budgets, output, CLI


def test_totals_per_stack_and_environment_and_budgets():
    report = estimate(
        {
            ("dev", "Mlops-dev-A"): template(K=resource("AWS::KMS::Key"), D=resource("AWS::CloudWatch::Dashboard")),
            ("dev", "Mlops-dev-B"): template(K=resource("AWS::KMS::Key")),
            ("prod", "Mlops-prod-A"): template(N=resource("AWS::EC2::NatGateway")),
            ("test", "Mlops-test-A"): template(K=resource("AWS::KMS::Key")),
        },
        budgets={"dev": 5.0, "prod": 30.0},
        prices=PRICES,
    )
    by_name = {env.name: env for env in report.environments}
    assert [s.total_usd for s in by_name["dev"].stacks] == [4.0, 1.0]
    assert by_name["dev"].total_usd == 5.0 and not by_name["dev"].over_budget  # at the budget is within it
    assert by_name["prod"].over_budget and by_name["prod"].total_usd == pytest.approx(32.85)
    assert by_name["test"].budget_usd is None and not by_name["test"].over_budget
    assert [env.name for env in report.over_budget] == ["prod"]
    assert report.total_usd == pytest.approx(5.0 + 32.85 + 1.0)


def test_idle_budgets_merge_defaults_and_reject_bad_values(tmp_path):
    cdk_json = tmp_path / "cdk.json"
    cdk_json.write_text(
        json.dumps(
            {
                "context": {
                    "mlops:defaults": {"idleBudgetUsd": 10},
                    "mlops:environments": {"dev": {}, "prod": {"idleBudgetUsd": 150.5}},
                }
            }
        )
    )
    assert idle_budgets(cdk_json) == {"dev": 10.0, "prod": 150.5}
    cdk_json.write_text(json.dumps({"context": {"mlops:environments": {"dev": {}}}}))
    assert idle_budgets(cdk_json) == {"dev": None}
    cdk_json.write_text(json.dumps({"context": {"mlops:environments": {"dev": {"idleBudgetUsd": "10"}}}}))
    with pytest.raises(CostError, match="environment 'dev', key 'idleBudgetUsd': expected a number"):
        idle_budgets(cdk_json)


def _synth_dir(tmp_path: Path, env: str, **stacks: dict[str, Any]) -> Path:
    directory = tmp_path / "cdk.out" / env
    directory.mkdir(parents=True)
    for name, tpl in stacks.items():
        (directory / f"{name}.template.json").write_text(json.dumps(tpl))
    (directory / "manifest.json").write_text("{}")
    return directory


def test_cli_reports_and_fails_when_over_budget(tmp_path, capsys):
    dev = _synth_dir(tmp_path, "dev", **{"Mlops-dev-Level0Exploration": template(K=resource("AWS::KMS::Key"))})
    prod = _synth_dir(
        tmp_path, "prod", **{"Mlops-prod-Level0Exploration": template(N=resource("AWS::EC2::NatGateway"))}
    )
    cdk_json = tmp_path / "cdk.json"
    cdk_json.write_text(
        json.dumps(
            {"context": {"mlops:defaults": {"idleBudgetUsd": 10}, "mlops:environments": {"dev": {}, "prod": {}}}}
        )
    )

    assert main(["cost", "--templates", str(dev), "--cdk-json", str(cdk_json)]) == 0
    out = capsys.readouterr().out
    assert "dev: 1.00 USD/month, within budget (1.00 of 10.00)" in out
    assert "estimates, not a bill" in out

    assert main(["cost", "--templates", str(dev), str(prod), "--cdk-json", str(cdk_json), "--format", "json"]) == 1
    captured = capsys.readouterr()
    document = json.loads(captured.out)
    assert document["overBudget"] == ["prod"]
    assert [(e["name"], e["totalUsd"], e["budgetUsd"]) for e in document["environments"]] == [
        ("dev", 1.0, 10.0),
        ("prod", 32.85, 10.0),
    ]
    assert document["environments"][1]["stacks"][0]["items"][0] == {
        "logicalId": "N",
        "type": "AWS::EC2::NatGateway",
        "what": "NAT gateway",
        "quantity": 1,
        "unitUsdPerMonth": 32.85,
        "monthlyUsd": 32.85,
        "price": "natGateway",
    }
    assert captured.err.strip() == "over idle budget: prod (32.85 > 10.00 USD)"

    out_file = tmp_path / "cost.md"
    assert (
        main(
            [
                "cost",
                "--templates",
                str(dev),
                "--cdk-json",
                str(cdk_json),
                "--format",
                "markdown",
                "--output",
                str(out_file),
            ]
        )
        == 0
    )
    markdown = out_file.read_text()
    assert "| dev | 1.00 | 10.00 | ok |" in markdown
    assert "| Mlops-dev-Level0Exploration | `K` | AWS::KMS::Key | customer managed key | 1.00 |" in markdown


def test_cli_without_templates_says_run_make_synth(tmp_path, capsys):
    empty = tmp_path / "nothing"
    empty.mkdir()
    assert main(["cost", "--templates", str(empty), "--cdk-json", str(tmp_path / "cdk.json")]) == 2
    assert capsys.readouterr().err.strip().startswith("error: no *.template.json in")


def test_environment_comes_from_the_stack_name_else_the_directory(tmp_path):
    directory = _synth_dir(
        tmp_path, "staging", **{"Mlops-qa-Level0Exploration": {}, "Acme-ml-live-LlmOps": {}, "Other": {}}
    )
    assert sorted(load_templates([directory])) == [
        ("live", "Acme-ml-live-LlmOps"),  # a fork's name prefix (issue 19)
        ("qa", "Mlops-qa-Level0Exploration"),
        ("staging", "Other"),
    ]


def test_render_table_lists_not_estimated_resources():
    report = estimate({("dev", "S"): template(Db=resource("AWS::RDS::DBCluster"))}, budgets={"dev": 1.0}, prices=PRICES)
    assert "RDS::DBCluster Db" in render(report, "table") and "NOT ESTIMATED" in render(report, "table")


# --------------------------------------------------------------------------------------------------
# The committed snapshots (the templates of every environment, asset hashes masked)


def snapshot_templates() -> dict[tuple[str, str], dict[str, Any]]:
    templates = {}
    for path in sorted(SNAPSHOTS.glob("*.json")):
        match = SNAPSHOT_NAME.match(path.name)
        if match:
            templates[match["env"], match["stack"]] = json.loads(path.read_text())
    assert templates, f"no snapshots in {SNAPSHOTS}"
    return templates


def test_snapshots_dev_idle_cost_is_within_explicit_budgets():
    # local deploys the test strategies (a provisioned Kinesis shard) to prove them in the emulator.
    # dev: Levels 0-3 with the two example teams idle at about 25 USD (keys, and the monitoring of
    # stacks/components/observability.py: an alarm per failure mode of every function, table, queue, API and
    # state machine, and an operations dashboard per stack at 3 USD each). local (the emulator's environment,
    # every opt-in that deploys there) measured 40.55 USD after Level 0 got its dashboard.
    report = estimate(snapshot_templates(), budgets={"dev": 30.0, "preprod": 40.0, "local": 45.0}, prices=PRICES)
    by_name = {env.name: env for env in report.environments}
    for name in ("dev", "preprod", "local"):
        assert not by_name[name].over_budget, render(report, "table")
    # No NAT gateway and no interface endpoint outside prod (PublicInternetOnly Studio).
    for name in ("dev", "preprod", "local"):
        kinds = {item.price_key for stack in by_name[name].stacks for item in stack.items}
        assert not kinds & {"natGateway", "interfaceEndpointAz"}, (name, kinds)


def test_snapshots_dev_within_its_cdk_json_budget():
    budgets = idle_budgets(EXAMPLE_CDK_JSON)  # the snapshots are of the example (tests/example.py)
    if budgets.get("dev") is None:
        pytest.skip("cdk.json sets no idleBudgetUsd for dev")
    report = estimate(snapshot_templates(), budgets=budgets, prices=PRICES)
    dev = next(env for env in report.environments if env.name == "dev")
    assert not dev.over_budget, f"dev idles at {dev.total_usd:.2f} USD/month, over its {dev.budget_usd} budget"


# --------------------------------------------------------------------------------------------------
# One evaluation run: the evaluation's model, judge and embedding calls and the guardrail's text units

RUN = PRICES.evaluation_run


def evaluator(**overrides: Any) -> dict[str, Any]:
    variables = {
        "ALLOWED_MODELS": "m.small-v1:0,m.large-v1:0",
        "PRICE_TABLE_JSON": json.dumps(
            {
                "m.small-v1:0": {"input_per_1k": 0.001, "output_per_1k": 0.002},
                "m.large-v1:0": {"input_per_1k": 0.01, "output_per_1k": 0.02},
            }
        ),
        "JUDGE_MODEL_ID": "m.large-v1:0",
        "EMBEDDING_MODEL_ID": "amazon.titan-embed-text-v2:0",
        "EMBEDDING_PRICE_PER_1K": "2e-05",
        "GUARDRAIL_ID": {"Fn::GetAtt": ["Guardrail", "GuardrailId"]},
        **overrides,
    }
    return template(
        Evaluator=resource("AWS::Lambda::Function", Environment={"Variables": variables}),
        Other=resource("AWS::Lambda::Function", Environment={"Variables": {"TABLE_NAME": "t"}}),
    )


def test_one_evaluation_run_prices_candidates_judge_embeddings_and_guardrail_from_the_function_and_the_table():
    report = estimate({("dev", "Mlops-dev-LlmOps"): evaluator()}, budgets={}, prices=PRICES)
    (run,) = report.evaluation_runs
    lines = {line.what: line for line in run.lines}
    golden, attacks = RUN["goldenItems"], RUN["redTeamItems"]
    calls = golden + attacks
    cin, cout = RUN["candidateInputTokens"], RUN["candidateOutputTokens"]
    assert lines["candidate m.small-v1:0"].usd == pytest.approx(calls * (cin * 0.001 + cout * 0.002) / 1000)
    assert lines["candidate m.large-v1:0"].usd == pytest.approx(calls * (cin * 0.01 + cout * 0.02) / 1000)
    judged = 2 * golden
    assert lines["judge m.large-v1:0"].usd == pytest.approx(
        judged * (RUN["judgeInputTokens"] * 0.01 + RUN["judgeOutputTokens"] * 0.02) / 1000
    )
    texts = 2 * golden + golden
    assert lines["embeddings amazon.titan-embed-text-v2:0"].usd == pytest.approx(
        texts * RUN["embeddingTokensPerText"] * 0.00002 / 1000
    )
    units = PRICES.usage["guardrailTextUnits"]["usdPer1kUnits"]
    screened, grounded = 2 * calls * 2 * RUN["textUnitsPerCheck"], judged * RUN["textUnitsPerCheck"]
    screen_price = units["contentPolicy"] + units["topicPolicy"] + units["sensitiveInformationPolicy"]
    assert lines["guardrail"].usd == pytest.approx(
        ((screened + grounded) * screen_price + grounded * units["contextualGroundingPolicy"]) / 1000
    )
    assert run.total_usd == pytest.approx(sum(line.usd for line in run.lines))
    assert run.warnings == ()
    # Usage is reported beside the idle cost, never added to it.
    assert report.total_usd == 0
    table = render(report, "table")
    assert "One evaluation run (usage, not idle" in table and "embeddings amazon.titan-embed-text-v2:0" in table
    assert "## One evaluation run" in render(report, "markdown")
    assert json.loads(render(report, "json"))["evaluationRuns"][0]["perRunUsd"] == round(run.total_usd, 4)


def test_an_unpriced_judge_is_listed_not_free_and_a_stale_embedding_price_is_flagged():
    (run,) = estimate(
        {("dev", "S"): evaluator(JUDGE_MODEL_ID="m.unknown-v1:0", EMBEDDING_PRICE_PER_1K="0.0001")},
        budgets={},
        prices=PRICES,
    ).evaluation_runs
    assert [line.what for line in run.unpriced] == ["judge m.unknown-v1:0"]
    assert "NOT ESTIMATED (no price)" in render(
        estimate({("dev", "S"): evaluator(JUDGE_MODEL_ID="m.unknown-v1:0")}, budgets={}, prices=PRICES), "table"
    )
    assert run.warnings == (
        "the function prices amazon.titan-embed-text-v2:0 at 0.0001 USD per 1k tokens; prices.json lists 2e-05 "
        "(check cdk.json embeddingInputPer1kUsd)",
    )


def test_the_shipped_embedding_price_matches_the_table_and_every_env_prices_a_run():
    runs = estimate(snapshot_templates(), budgets={}, prices=PRICES).evaluation_runs
    assert {run.env for run in runs} == {env for env, _ in snapshot_templates()}
    for run in runs:
        assert run.warnings == () and run.unpriced == [], run
        assert any(line.what.startswith("embeddings ") and line.usd for line in run.lines)


def test_a_bad_evaluation_run_size_is_refused(tmp_path):
    raw = json.loads((ROOT / "maturity" / "prices.json").read_text())
    raw["evaluationRun"]["goldenItems"] = -1
    path = tmp_path / "prices.json"
    path.write_text(json.dumps(raw))
    with pytest.raises(CostError, match=re.escape("evaluationRun.goldenItems must be an integer")):
        load_prices(path)
