"""The alarms on the served model's bias: what SageMaker publishes, for the schedules the function creates.

SageMaker publishes ``bias_metric_<CODE>`` in ``aws/sagemaker/Endpoints/bias-metrics`` with the dimensions
``Endpoint`` and ``MonitoringSchedule`` (plus stage, label and facet ones); an alarm filtering on another
schedule name than the one the promotion function creates would never fire. These tests read both from the
synthesized template: the function's environment (what it will name the schedules) and the alarms' queries.
"""

from __future__ import annotations

import dataclasses
import json
import re
from typing import Any

import pytest
from aws_cdk import App, Environment, RemovalPolicy, Stack
from aws_cdk import aws_cloudwatch as cloudwatch
from aws_cdk import aws_events_targets as targets
from aws_cdk import aws_kms as kms
from aws_cdk import aws_logs as logs
from aws_cdk import aws_s3 as s3
from aws_cdk import aws_sqs as sqs
from aws_cdk.assertions import Template

from pipelines.training.clarify import METRICS
from stacks.clarify_config import BiasGateConfig, ClarifyConfig
from stacks.components.alerts import Alerts
from stacks.components.clarify_alarms import (
    BIAS_NAMESPACE,
    MAX_SCHEDULE_NAME_LENGTH,
    ClarifyMonitorAlarms,
    has_schedules,
    monitored_gates,
    schedule_names,
)
from stacks.components.model_endpoint import ModelEndpoint
from stacks.config.model import EndpointConfig
from tests.infra.conftest import ENV_NAMES

QUERY = re.compile(
    r'SELECT (?P<function>MAX|MIN)\(bias_metric_(?P<metric>[A-Z]+)\) FROM "(?P<namespace>[^"]+)" '
    r"WHERE Endpoint = '(?P<endpoint>[^']+)' AND MonitoringSchedule = '(?P<schedule>[^']+)'"
)


def promotion_functions(template: dict[str, Any]) -> list[dict[str, Any]]:
    return [
        r["Properties"]["Environment"]["Variables"]
        for r in template["Resources"].values()
        if r["Type"] == "AWS::Lambda::Function"
        and "ENDPOINT_MODE" in ((r["Properties"].get("Environment") or {}).get("Variables") or {})
    ]


def bias_alarms(template: dict[str, Any]) -> list[dict[str, Any]]:
    """(properties, parsed query) of every alarm on a Metrics Insights query of the bias namespace."""
    found = []
    for resource in template["Resources"].values():
        if resource["Type"] != "AWS::CloudWatch::Alarm":
            continue
        for query in resource["Properties"].get("Metrics") or []:
            match = QUERY.fullmatch(str(query.get("Expression", "")))
            if match:
                found.append({**resource["Properties"], "query": match.groupdict(), "period": query["Period"]})
    return found


@pytest.mark.parametrize("env", ENV_NAMES)
def test_each_provisioned_endpoint_has_two_alarms_per_post_training_gate_on_its_own_schedule(
    templates, synthesized, env
):
    config = synthesized[env].config
    checked = 0
    for (name, _stack), template in templates.items():
        if name != env:
            continue
        alarms = bias_alarms(template)
        for variables in promotion_functions(template):
            endpoint = variables["ENDPOINT_NAME"]
            mine = [a for a in alarms if a["query"]["endpoint"] == endpoint]
            if variables["ENDPOINT_MODE"] == "serverless" or not config.training.clarify.enabled:
                # No Model Monitor on serverless endpoints (and no baselines without Clarify): no alarm.
                assert mine == [], f"{env}: {endpoint} gets bias alarms that can never fire"
                continue
            checked += 1
            gates = {
                g.metric: g.threshold
                for g in config.training.clarify.gates
                if METRICS[g.metric].stage == "post_training"
            }
            expected = {(m, "MAX", "GreaterThanThreshold", t) for m, t in gates.items()} | {
                (m, "MIN", "LessThanThreshold", -t) for m, t in gates.items()
            }
            assert {
                (a["query"]["metric"], a["query"]["function"], a["ComparisonOperator"], a["Threshold"]) for a in mine
            } == expected
            assert len(mine) == len(expected)
            for alarm in mine:
                assert alarm["query"]["namespace"] == BIAS_NAMESPACE
                # The very name the function gives the schedule (it reads it from this variable).
                assert alarm["query"]["schedule"] == variables["MODEL_BIAS_SCHEDULE_NAME"]
                assert alarm["TreatMissingData"] == "notBreaching"
                assert "not breaching" in alarm["AlarmDescription"]
                assert alarm["AlarmActions"] and alarm["OKActions"]
                # Metrics Insights alarms see 3 hours of data: the evaluated range must fit in it.
                assert alarm["period"] * alarm["EvaluationPeriods"] <= 3 * 3600
    if config.endpoint.mode == "provisioned" and config.training.clarify.enabled and config.max_level >= 2:
        assert checked, f"{env}: a provisioned endpoint without bias alarms"


@pytest.mark.parametrize("env", ENV_NAMES)
def test_the_function_is_told_the_schedule_names_the_permissions_allow(templates, env):
    for (name, _stack), template in templates.items():
        if name != env:
            continue
        for variables in promotion_functions(template):
            endpoint = variables["ENDPOINT_NAME"]
            assert variables["MODEL_BIAS_SCHEDULE_NAME"] == schedule_names(endpoint)["bias"]
            assert variables["EXPLAINABILITY_SCHEDULE_NAME"] == schedule_names(endpoint)["explainability"]
            policies = json.dumps([r for r in template["Resources"].values() if r["Type"] == "AWS::IAM::Policy"])
            for schedule in (variables["MODEL_BIAS_SCHEDULE_NAME"], variables["EXPLAINABILITY_SCHEDULE_NAME"]):
                assert f':monitoring-schedule/{schedule}"' in policies


def test_no_bias_alarm_triggers_retraining(templates):
    """A biased model is a decision for people (fairness, a new facet, more data), not an automatic retrain."""
    for template in templates.values():
        alarm_ids = {
            lid
            for lid, r in template["Resources"].items()
            if r["Type"] == "AWS::CloudWatch::Alarm"
            and any(QUERY.fullmatch(str(q.get("Expression", ""))) for q in r["Properties"].get("Metrics") or [])
        }
        for resource in template["Resources"].values():
            if resource["Type"] == "AWS::Events::Rule":
                assert not alarm_ids & set(re.findall(r'"Fn::GetAtt": \["([^"]+)"', json.dumps(resource)))


def test_schedule_names_fit_sagemaker_s_limit_and_differ():
    for endpoint in ("mlops-prod-churn", "a" * 63, "x" * 51 + "-" + "y" * 11):
        names = schedule_names(endpoint)
        assert names["bias"] != names["explainability"]
        for name in names.values():
            assert len(name) <= MAX_SCHEDULE_NAME_LENGTH
            assert re.fullmatch(r"[a-zA-Z0-9](-*[a-zA-Z0-9]){0,62}", name), name
    assert schedule_names("mlops-prod-churn") == {
        "bias": "mlops-prod-churn-model-bias",
        "explainability": "mlops-prod-churn-explainability",
    }


def test_only_post_training_gates_are_monitored():
    """The registered model-bias config asks Clarify for post-training metrics only: CI or KL never arrive."""
    clarify = ClarifyConfig(
        enabled=True,
        facet="contract",
        facet_value="month-to-month",
        positive_label=1,
        gates=tuple(BiasGateConfig(code, 0.5) for code in METRICS),
    )
    assert [g.metric for g in monitored_gates(clarify)] == [c for c, m in METRICS.items() if m.stage == "post_training"]
    assert {g.metric for g in monitored_gates(clarify)} == {"DPPL", "AD", "RD"}


@pytest.mark.parametrize(
    ("mode", "enabled", "expected"),
    [("provisioned", True, True), ("provisioned", False, False), ("serverless", True, False)],
)
def test_alarms_only_where_schedules_can_exist(mode, enabled, expected):
    clarify = ClarifyConfig(enabled=enabled, facet="contract", facet_value="month-to-month", positive_label=1, gates=())
    assert has_schedules(mode, clarify) is expected
    assert has_schedules(mode, None) is False


class _Alerts:
    """Stands in for stacks.components.alerts.Alerts: records what would be sent to the topic."""

    def __init__(self) -> None:
        self.sent: list[cloudwatch.Alarm] = []

    def alarm(self, alarm: cloudwatch.Alarm) -> cloudwatch.Alarm:
        self.sent.append(alarm)
        return alarm


def test_thresholds_follow_the_configured_gate_not_the_example():
    stack = Stack(App(), "S")
    alerts = _Alerts()
    construct = ClarifyMonitorAlarms(
        stack,
        "C",
        endpoint_name="fork-churn",
        schedules=schedule_names("fork-churn"),
        gates=(BiasGateConfig("AD", 0.25),),
        alerts=alerts,  # type: ignore[arg-type]
    )
    assert alerts.sent == construct.alarms and len(construct.alarms) == 2
    alarms = Template.from_stack(stack).find_resources("AWS::CloudWatch::Alarm")
    got = {(p["Properties"]["Threshold"], p["Properties"]["Metrics"][0]["Expression"]) for p in alarms.values()}
    assert got == {
        (
            0.25,
            'SELECT MAX(bias_metric_AD) FROM "aws/sagemaker/Endpoints/bias-metrics" '
            "WHERE Endpoint = 'fork-churn' AND MonitoringSchedule = 'fork-churn-model-bias'",
        ),
        (
            -0.25,
            'SELECT MIN(bias_metric_AD) FROM "aws/sagemaker/Endpoints/bias-metrics" '
            "WHERE Endpoint = 'fork-churn' AND MonitoringSchedule = 'fork-churn-model-bias'",
        ),
    }


@pytest.mark.parametrize("name", ["", "x'y", "churn-", "-churn", "a" * 64, "churn\n", "chürn"])
def test_a_name_that_could_not_be_an_endpoint_is_refused_before_it_reaches_a_query(name):
    with pytest.raises(ValueError, match="is not a SageMaker endpoint"):
        schedule_names(name)
    with pytest.raises(ValueError, match="is not a SageMaker endpoint or schedule name"):
        ClarifyMonitorAlarms(
            Stack(App(), "S"),
            "C",
            endpoint_name="churn",
            schedules={"bias": name, "explainability": "churn-explainability"},
            gates=(BiasGateConfig("DPPL", 0.5),),
            alerts=_Alerts(),  # type: ignore[arg-type]
        )


def _endpoint_template(*, mode: str, clarify: ClarifyConfig) -> dict[str, Any]:
    """One ModelEndpoint in a bare stack (no session synth): what the construct does with `clarify`."""
    stack = Stack(App(), "S", env=Environment(account="123456789012", region="eu-west-1"))
    ModelEndpoint(
        stack,
        "Endpoint",
        endpoint_name="fork-churn",
        settings=EndpointConfig(
            mode=mode,  # type: ignore[arg-type]
            instance_type="ml.m5.large",
            min_instances=1,
            max_instances=2,
            target_invocations_per_instance=100,
            serverless_memory_mb=2048,
            serverless_max_concurrency=5,
            data_capture_percent=20,
            p99_latency_ms=500,
            min_auc=0.7,
        ),
        key=kms.Key(stack, "Key"),
        artifacts_bucket=s3.Bucket(stack, "Bucket"),
        model_package_group_name="fork-churn",
        retraining=targets.SqsQueue(sqs.Queue(stack, "Retrain")),
        alerts=Alerts(stack, "Alerts", email="ops@example.com", removal_policy=RemovalPolicy.DESTROY),
        test_data_uri=None,
        log_retention=logs.RetentionDays.ONE_DAY,
        removal_policy=RemovalPolicy.DESTROY,
        clarify=clarify,
    )
    return Template.from_stack(stack).to_json()


def test_a_provisioned_endpoint_alarms_on_its_post_training_gates_and_nothing_without_clarify():
    clarify = ClarifyConfig(
        enabled=True,
        facet="contract",
        facet_value="month-to-month",
        positive_label=1,
        gates=(BiasGateConfig("CI", 0.8), BiasGateConfig("AD", 0.3)),
    )
    template = _endpoint_template(mode="provisioned", clarify=clarify)
    got = {(a["query"]["metric"], a["query"]["schedule"], a["Threshold"]) for a in bias_alarms(template)}
    assert got == {("AD", "fork-churn-model-bias", 0.3), ("AD", "fork-churn-model-bias", -0.3)}
    (variables,) = promotion_functions(template)
    assert variables["MODEL_BIAS_SCHEDULE_NAME"] == "fork-churn-model-bias"
    dashboard = json.dumps([r for r in template["Resources"].values() if r["Type"] == "AWS::CloudWatch::Dashboard"])
    assert "explainability-metrics" in dashboard and "GlobalShapValues" in dashboard
    assert "EndpointClarifyMonitorModelBiasADHigh" in dashboard  # the alarm status widget lists it

    disabled = _endpoint_template(mode="provisioned", clarify=dataclasses.replace(clarify, enabled=False))
    assert bias_alarms(disabled) == []
    (variables,) = promotion_functions(disabled)
    # The function then reports "not configured" and `make cost` prices no Clarify schedule.
    assert not {"CLARIFY_IMAGE_URI", "GROUND_TRUTH_URI", "MODEL_BIAS_SCHEDULE_NAME"} & set(variables)
