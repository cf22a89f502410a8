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
Likewise each knowledge base's storage and per-query cost (:mod:`maturity.cost.knowledge_base`).
"""

from maturity.cost.evaluation_run import EvaluationRunCost, RunLine, evaluation_run_cost, evaluation_runs
from maturity.cost.prices import PRICES_PATH, CostError, Format, Prices, load_prices
from maturity.cost.report import (
    CostReport,
    EnvironmentCost,
    StackCost,
    default_template_dirs,
    estimate,
    idle_budgets,
    load_templates,
    render,
)
from maturity.cost.templates import PRICERS, LineItem, Unpriced, estimate_template

__all__ = [
    "PRICERS",
    "PRICES_PATH",
    "CostError",
    "CostReport",
    "EnvironmentCost",
    "EvaluationRunCost",
    "Format",
    "LineItem",
    "Prices",
    "RunLine",
    "StackCost",
    "Unpriced",
    "default_template_dirs",
    "estimate",
    "estimate_template",
    "evaluation_run_cost",
    "evaluation_runs",
    "idle_budgets",
    "load_prices",
    "load_templates",
    "render",
]
