"""One evaluation run of each prompt-evaluation function: a usage line beside the idle totals."""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from maturity.cost.prices import Prices
from maturity.cost.templates import _number

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
