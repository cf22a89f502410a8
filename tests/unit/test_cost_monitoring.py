"""`make cost`: the MLflow app's line, and the model-monitoring schedules as a labelled usage line."""

from __future__ import annotations

from typing import Any

import pytest

from maturity.cost import estimate, load_prices, render

PRICES = load_prices()


def promotion(**variables: str) -> dict[str, Any]:
    env = {"ENDPOINT_MODE": "instance", "MONITOR_IMAGE_URI": "monitor", "INSTANCE_TYPE": "ml.m5.large", **variables}
    return {
        "Resources": {
            "Promotion": {"Type": "AWS::Lambda::Function", "Properties": {"Environment": {"Variables": env}}},
            "Other": {"Type": "AWS::Lambda::Function", "Properties": {"Environment": {"Variables": {"X": "1"}}}},
        }
    }


def report(template: dict[str, Any]) -> Any:
    return estimate({("prod", "Mlops-prod-Level2Reliable"): template}, budgets={"prod": None}, prices=PRICES)


def test_the_schedules_are_priced_from_the_table_and_kept_out_of_the_idle_total():
    result = report(promotion(CLARIFY_IMAGE_URI="clarify"))
    (cost,) = result.monitoring
    run = PRICES.monitoring_run
    processing = PRICES.usage["sagemakerProcessingInstance"]["usdPerHour"]["ml.m5.large"]
    hosting = PRICES.entries["sagemakerHostingInstance"]["usdPerHour"]["ml.m5.large"]
    hourly = PRICES.hours_per_month * run["dataQualityMinutes"] / 60 * processing
    daily = (
        PRICES.hours_per_month
        / 24
        / 60
        * (run["clarifyMinutes"] * processing + run["clarifyShadowEndpointMinutes"] * hosting)
    )
    assert cost.monthly_usd == pytest.approx(hourly + 2 * daily)
    assert cost.lines[0].what == "data quality (Model Monitor)"
    assert result.total_usd == 0  # usage, not idle
    text = render(result, "table")
    assert "Model-monitoring schedules of a promoted instance-based endpoint (usage, not idle" in text
    assert "## Model-monitoring schedules" in render(result, "markdown")
    assert '"monitoringSchedules"' in render(result, "json")


def test_serverless_endpoints_have_no_schedules_and_odd_schedules_or_instances_are_not_guessed():
    (serverless,) = report(promotion(ENDPOINT_MODE="serverless")).monitoring
    assert serverless.lines == () and "serverless" in serverless.note
    (odd,) = report(promotion(MONITOR_SCHEDULE="rate(2 hours)", MONITOR_INSTANCE_TYPE="ml.p5.48xlarge")).monitoring
    (line,) = odd.lines
    assert line.usd is None and "not priced" in line.detail
    (unknown,) = report(promotion(MONITOR_INSTANCE_TYPE="ml.p5.48xlarge")).monitoring
    assert unknown.lines[0].usd is None and unknown.lines[0].detail == "no price for ml.p5.48xlarge"
    assert "NOT ESTIMATED" in render(report(promotion(MONITOR_INSTANCE_TYPE="ml.p5.48xlarge")), "table")


def test_the_mlflow_app_is_a_priced_line_of_its_stack():
    template = {"Resources": {"App": {"Type": "AWS::SageMaker::MlflowApp", "Properties": {"Name": "x"}}}}
    (env,) = report(template).environments
    (item,) = env.stacks[0].items
    assert (item.resource_type, item.what, item.price_key) == (
        "AWS::SageMaker::MlflowApp",
        "MLflow app (serverless)",
        "sagemakerMlflowApp",
    )
    assert env.stacks[0].unpriced == ()
