"""Environments, budgets and the report: templates per environment, priced and compared with ``idleBudgetUsd``."""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from maturity.cost import knowledge_base as cost_knowledge_base
from maturity.cost import monitoring as cost_monitoring
from maturity.cost.evaluation_run import EvaluationRunCost, evaluation_runs
from maturity.cost.prices import (
    _STACK_ENV_RE,
    _TEMPLATE_SUFFIX,
    BUDGET_KEY,
    DEFAULTS_KEY,
    ENVIRONMENTS_KEY,
    CostError,
    Format,
    Prices,
    load_prices,
)
from maturity.cost.templates import LineItem, Unpriced, estimate_template

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
    knowledge_bases: tuple[cost_knowledge_base.KnowledgeBaseCost, ...] = ()
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
        cost_knowledge_base.knowledge_base_costs(templates, table.usage),
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
        "knowledgeBases": cost_knowledge_base.to_dicts(report.knowledge_bases),
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
    lines += cost_knowledge_base.table_lines(report.knowledge_bases)
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
    lines += cost_knowledge_base.markdown_lines(report.knowledge_bases)
    lines += cost_monitoring.render_section(report.monitoring, "markdown")
    return "\n".join(lines) + "\n"
