"""`make cost`: what the model-monitoring schedules of a promoted endpoint cost per month (usage, not idle).

The promotion function creates the schedules at run time (data quality; model bias and explainability with
Clarify), so no template holds them. Each scheduled run starts a processing job whether or not the endpoint
had traffic, and a Clarify run also starts a shadow endpoint for its duration; the monthly cost is therefore
runs per month x minutes per run x the instance's hourly price. It is reported beside the idle cost, clearly
labelled, because it starts only when a model version is promoted to an instance-based endpoint (serverless
endpoints support no Model Monitor). The promotion function is recognised by its environment
(``ENDPOINT_MODE``, ``MONITOR_IMAGE_URI``), which also gives the schedules and instance types it will use.

Prices: ``usagePrices.sagemakerProcessingInstance`` (the jobs) and ``prices.sagemakerHostingInstance`` (the
shadow endpoint); run lengths: ``monitoringRun`` in prices.json.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

__all__ = ["MonitoringCost", "monitoring_costs", "render_section"]

HEADING = (
    "Model-monitoring schedules of a promoted instance-based endpoint (usage, not idle: not in the totals above; "
    "created by the promotion function at run time; run lengths from prices.json monitoringRun):"
)
# Defaults of lambdas/model_promotion (promotion.py, clarify_monitoring.py) when the variable is unset.
_DEFAULT_DATA_QUALITY = "cron(0 * ? * * *)"
_DEFAULT_CLARIFY = "cron(0 0 ? * * *)"
_DEFAULT_INSTANCE = "ml.m5.large"
_HOURLY = re.compile(r"cron\(\d{1,2} \* \? \* \* \*\)")
_DAILY = re.compile(r"cron\(\d{1,2} \d{1,2} \? \* \* \*\)")


@dataclass(frozen=True)
class ScheduleLine:
    what: str
    detail: str
    usd: float | None  # per month; None: not priced (see detail)


@dataclass(frozen=True)
class MonitoringCost:
    env: str
    stack: str
    logical_id: str
    lines: tuple[ScheduleLine, ...]
    note: str = ""

    @property
    def monthly_usd(self) -> float:
        return sum(line.usd or 0.0 for line in self.lines)


def _runs_per_month(expression: str, hours_per_month: float) -> float | None:
    if _HOURLY.fullmatch(expression):
        return hours_per_month
    if _DAILY.fullmatch(expression):
        return hours_per_month / 24
    return None


def _line(
    what: str, schedule: str, minutes: float, usd_per_hour: float | None, instance: str, hours_per_month: float
) -> ScheduleLine:
    runs = _runs_per_month(schedule, hours_per_month)
    if runs is None:
        return ScheduleLine(what, f"schedule {schedule} not priced (hourly or daily cron only)", None)
    if usd_per_hour is None:
        return ScheduleLine(what, f"no price for {instance}", None)
    return ScheduleLine(
        what, f"{runs:.0f} runs x {minutes:g} min on {instance} ({schedule})", runs * minutes / 60 * usd_per_hour
    )


def monitoring_costs(
    templates: Mapping[tuple[str, str], Mapping[str, Any]], prices: Any, run: Mapping[str, Any]
) -> tuple[MonitoringCost, ...]:
    """One :class:`MonitoringCost` per promotion function in the templates."""
    processing = (prices.usage.get("sagemakerProcessingInstance") or {}).get("usdPerHour") or {}
    hosting = prices.entries.get("sagemakerHostingInstance", {}).get("usdPerHour") or {}
    found: list[MonitoringCost] = []
    for (env, stack), template in sorted(templates.items()):
        for logical_id, resource in sorted(template.get("Resources", {}).items()):
            if resource.get("Type") != "AWS::Lambda::Function":
                continue
            variables = ((resource.get("Properties") or {}).get("Environment") or {}).get("Variables") or {}
            if "ENDPOINT_MODE" not in variables or "MONITOR_IMAGE_URI" not in variables:
                continue
            if variables["ENDPOINT_MODE"] == "serverless":
                found.append(
                    MonitoringCost(env, stack, logical_id, (), "serverless endpoint: no Model Monitor, no schedules")
                )
                continue
            instance = str(variables.get("MONITOR_INSTANCE_TYPE") or _DEFAULT_INSTANCE)
            endpoint_instance = str(variables.get("INSTANCE_TYPE") or _DEFAULT_INSTANCE)
            hours = prices.hours_per_month
            lines = [
                _line(
                    "data quality (Model Monitor)",
                    str(variables.get("MONITOR_SCHEDULE") or _DEFAULT_DATA_QUALITY),
                    float(run["dataQualityMinutes"]),
                    processing.get(instance),
                    instance,
                    hours,
                )
            ]
            if "CLARIFY_IMAGE_URI" in variables:
                schedule = str(variables.get("CLARIFY_MONITOR_SCHEDULE") or _DEFAULT_CLARIFY)
                for kind in ("model bias (Clarify)", "explainability (Clarify)"):
                    lines.append(
                        _line(kind, schedule, float(run["clarifyMinutes"]), processing.get(instance), instance, hours)
                    )
                    lines.append(
                        _line(
                            f"{kind}: shadow endpoint",
                            schedule,
                            float(run["clarifyShadowEndpointMinutes"]),
                            hosting.get(endpoint_instance),
                            endpoint_instance,
                            hours,
                        )
                    )
            found.append(MonitoringCost(env, stack, logical_id, tuple(lines)))
    return tuple(found)


def _usd(value: float | None) -> str:
    return "NOT ESTIMATED" if value is None else f"{value:,.2f}"


def render_section(costs: tuple[MonitoringCost, ...], fmt: str) -> list[str]:
    """Lines to append to the cost report in `fmt` ("table" or "markdown"); empty without promotion functions."""
    if not costs:
        return []
    if fmt == "markdown":
        lines = ["", "## Model-monitoring schedules", "", f"_{HEADING}_", ""]
        lines += ["| environment | function | schedule | volume | USD/month |", "|---|---|---|---|---:|"]
        for cost in costs:
            for line in cost.lines:
                lines.append(f"| {cost.env} | `{cost.logical_id}` | {line.what} | {line.detail} | {_usd(line.usd)} |")
            if cost.note:
                lines.append(f"| {cost.env} | `{cost.logical_id}` | - | {cost.note} | 0.00 |")
            else:
                lines.append(f"| {cost.env} | `{cost.logical_id}` | **per month** | | **{_usd(cost.monthly_usd)}** |")
        return lines
    lines = ["", HEADING]
    for cost in costs:
        total = "0.00 (" + cost.note + ")" if cost.note else _usd(cost.monthly_usd)
        lines.append(f"  {cost.env} {cost.stack} {cost.logical_id}: {total} USD/month")
        for line in cost.lines:
            lines.append(f"    {line.what:<45} {line.detail:<70} {_usd(line.usd):>12}")
    return lines


def to_dicts(costs: tuple[MonitoringCost, ...]) -> list[dict[str, Any]]:
    return [
        {
            "environment": cost.env,
            "stack": cost.stack,
            "logicalId": cost.logical_id,
            "monthlyUsd": round(cost.monthly_usd, 2),
            "note": cost.note,
            "lines": [
                {"what": line.what, "detail": line.detail, "usd": None if line.usd is None else round(line.usd, 2)}
                for line in cost.lines
            ],
        }
        for cost in costs
    ]
