"""Run one prompt version over a golden set on several models and build the scorecard and its report.

The model call is injected (``invoke(model_id, rendered_prompt) -> ModelAnswer``): the LLM gateway
provides it in AWS (guardrail, metrics and cost accounting included) and tests pass fakes, so this module
does no I/O. Items run sequentially and in golden-set order, so a scorecard is reproducible given the
answers; parallelism, if ever needed, belongs to the orchestrator (a Step Functions Map per model).

Per model: accuracy (items with an expected label), mean ROUGE-L and cosine of embeddings (items with a
reference), judge means, pass rate and unparseable count (when a judge is given), groundedness and
hallucination rate (items with a context; decided by the grounding method: the guardrail's contextual
grounding when a grounder is given, else the judge's faithfulness, else not measured), the lexical overlap
with the context (a diagnostic, never a gate), p50/p95 latency (nearest-rank), total cost, cost per item
and per 1,000 items, and with a red-team set the guardrail's block rate and the refusal rate.
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import Protocol

import red_team as red
import scorers
from common import templating
from common.errors import ValidationError
from common.golden_sets import GoldenItem, GoldenSet
from scorecard import (
    HIGHER_IS_BETTER,
    ItemResult,
    JudgeResult,
    ModelScore,
    RedTeamResult,
    Scorecard,
)

__all__ = [
    "EvaluationError",
    "ModelAnswer",
    "ParsedAnswer",
    "Scorecard",
    "parse_answer",
    "percentile",
    "render_markdown",
    "render_svg",
    "run",
]

REPORT_METRICS = (
    "accuracy",
    "rouge_l",
    "cosine",
    "judge_relevance",
    "judge_faithfulness",
    "judge_tone",
    "groundedness_rate",
    "hallucination_rate",
    "red_team_block_rate",
    "red_team_refusal_rate",
    "latency_p95_ms",
    "cost_per_1k_items_usd",
)
BAR_WIDTH = 20


class EvaluationError(ValueError):
    """The run is misconfigured (unpriced model, template and golden set disagree...)."""


@dataclass(frozen=True)
class ModelAnswer:
    """What one model call returned, as the gateway reports it."""

    text: str
    input_tokens: int
    output_tokens: int
    latency_ms: float
    # Converse's stopReason; "guardrail_intervened" when the guardrail blocked the call or its answer.
    stop_reason: str | None = None


@dataclass(frozen=True)
class ParsedAnswer:
    """The answer split into the predicted label (``None``: none given) and the free text that is scored."""

    label: str | None
    text: str


Invoke = Callable[[str, str], ModelAnswer]
Judge = Callable[[str], str]


class Grounder(Protocol):
    """Decides whether an answer is grounded in its context (e.g. :class:`scorers.GuardrailGrounder`)."""

    @property
    def name(self) -> str: ...

    def check(self, *, answer: str, context: str, query: str) -> scorers.GroundingResult: ...


def parse_answer(text: str) -> ParsedAnswer:
    """Split a model's answer into label and summary.

    Accepted shapes, in order: a JSON object ``{"label": ..., "summary": ...}``; ``label: ...`` and
    ``summary: ...`` lines; anything else is all summary with no label (scored as a wrong label rather
    than guessed, so a model that ignores the output format is measured as such).
    """
    stripped = text.strip()
    try:
        data = json.loads(stripped)
    except json.JSONDecodeError:
        data = None
    if isinstance(data, dict):
        label, summary = data.get("label"), data.get("summary")
        return ParsedAnswer(
            label if isinstance(label, str) else None, summary if isinstance(summary, str) else stripped
        )
    label_line, summary_lines = None, []
    for line in stripped.splitlines():
        head, _, rest = line.partition(":")
        if head.strip().lower() == "label" and label_line is None:
            label_line = rest.strip()
        elif head.strip().lower() == "summary":
            summary_lines.append(rest.strip())
        elif summary_lines:
            summary_lines.append(line.strip())
    if label_line is not None or summary_lines:
        return ParsedAnswer(label_line, " ".join(summary_lines))
    return ParsedAnswer(None, stripped)


def percentile(values: Sequence[float], p: float) -> float | None:
    """Nearest-rank percentile (an observed value, no interpolation; ``None`` for no values)."""
    if not values:
        return None
    ordered = sorted(values)
    rank = max(1, math.ceil(p / 100 * len(ordered)))
    return ordered[rank - 1]


def _check_prices(models: Sequence[str], prices: Mapping[str, Mapping[str, float]]) -> None:
    for model_id in models:
        entry = prices.get(model_id)
        if entry is None:
            raise EvaluationError(f"prices: no price for model {model_id!r} (priced: {', '.join(sorted(prices))})")
        for name in ("input_per_1k", "output_per_1k"):
            value = entry.get(name)
            if isinstance(value, bool) or not isinstance(value, int | float) or not value >= 0:
                raise EvaluationError(f"prices[{model_id!r}].{name}: must be a non-negative number")


def _cost(price: Mapping[str, float], answer: ModelAnswer) -> float:
    # Decimal like the gateway's pricing, so the scorecard and the gateway's cost metric agree to the cent.
    total = (
        Decimal(answer.input_tokens) * Decimal(str(price["input_per_1k"]))
        + Decimal(answer.output_tokens) * Decimal(str(price["output_per_1k"]))
    ) / 1000
    return float(total)


def _mean(values: Sequence[float]) -> float | None:
    return sum(values) / len(values) if values else None


def _score_item(
    item: GoldenItem,
    model_id: str,
    prompt: str,
    answer: ModelAnswer | None,
    error: str | None,
    *,
    price: Mapping[str, float],
    embedder: scorers.Embedder,
    judge: Judge | None,
    parser: Callable[[str], ParsedAnswer],
    threshold: float,
    grounder: Grounder | None,
    judge_pass_min: int,
    instruction: str,
) -> ItemResult:
    parsed = parser(answer.text) if answer else ParsedAnswer(None, "")
    overlap = scorers.groundedness(parsed.text, item.context, threshold=threshold) if item.context else None
    judged: JudgeResult | None = None
    if judge is not None:
        judge_prompt = scorers.build_judge_prompt(
            task=prompt, answer=answer.text if answer else "", reference=item.reference, context=item.context
        )
        try:
            judged = scorers.parse_judge_output(judge(judge_prompt))
        except Exception as failure:  # a failing judge is recorded, never fatal and never a pass
            judged = JudgeResult(status="unparseable", raw="", error=f"judge call failed: {failure!r}")
    grounding = _ground(item, instruction, parsed.text if answer else "", grounder, judged, judge_pass_min)
    return ItemResult(
        item_id=item.id,
        model_id=model_id,
        answer=answer.text if answer else "",
        predicted_label=scorers.normalize_label(parsed.label) if parsed.label is not None else None,
        expected_label=item.expected_label,
        correct=scorers.exact_match(parsed.label, item.expected_label) if item.expected_label else None,
        rouge_l=scorers.rouge_l(parsed.text, item.reference).f1 if item.reference else None,
        cosine=scorers.cosine(embedder.embed(parsed.text), embedder.embed(item.reference)) if item.reference else None,
        groundedness=grounding.score if grounding else None,
        # A failed call asserts nothing, yet must not improve the groundedness rate: count it ungrounded.
        grounded=(grounding.grounded and answer is not None) if grounding else None,
        relevance=grounding.relevance if grounding else None,
        lexical_overlap=overlap.support if overlap else None,
        latency_ms=answer.latency_ms if answer else None,
        input_tokens=answer.input_tokens if answer else 0,
        output_tokens=answer.output_tokens if answer else 0,
        cost_usd=_cost(price, answer) if answer else 0.0,
        judge=judged,
        error=error,
        tags=item.tags,
    )


def _ground(
    item: GoldenItem,
    query: str,
    answer: str,
    grounder: Grounder | None,
    judged: JudgeResult | None,
    judge_pass_min: int,
) -> scorers.GroundingResult | None:
    """The grounding verdict of one answer by the run's method (``None``: no context, or no method)."""
    if not item.context:
        return None
    if grounder is not None:
        return grounder.check(answer=answer, context=item.context, query=query)
    if judged is not None:
        # The judge grades faithfulness to the SOURCE (the context): grounded at the pass mark or above.
        ok = judged.status == "ok" and (judged.faithfulness or 0) >= judge_pass_min
        score = judged.faithfulness / 5 if judged.status == "ok" and judged.faithfulness else None
        return scorers.GroundingResult(score=score, relevance=None, grounded=ok)
    return None


def grounding_method(grounder: Grounder | None, judge: Judge | None, judge_pass_min: int) -> str:
    """How ``grounded`` is decided, as the scorecard names it."""
    if grounder is not None:
        return grounder.name
    if judge is not None:
        return f"judge faithfulness >= {judge_pass_min}/5"
    return "not measured"


def summarize(
    model_id: str,
    results: Sequence[ItemResult],
    *,
    judge_pass_min: int,
    red_team: Sequence[RedTeamResult] = (),
    red_team_cost_usd: float = 0.0,
) -> ModelScore:
    """Aggregate one model's item results (see the module docstring for each metric)."""
    labelled = [r.correct for r in results if r.correct is not None]
    judged = [r.judge for r in results if r.judge is not None]
    parsed = [j for j in judged if j.status == "ok"]
    grounded = [r.grounded for r in results if r.grounded is not None]
    latencies = [r.latency_ms for r in results if r.latency_ms is not None]
    total = sum(r.cost_usd for r in results)
    answered = sum(1 for r in results if r.error is None)
    per_item = total / answered if answered else 0.0
    groundedness_rate = _mean([1.0 if g else 0.0 for g in grounded])

    def judge_mean(criterion: str) -> float | None:
        return _mean([float(getattr(j, criterion)) for j in parsed])

    return ModelScore(
        model_id=model_id,
        items=len(results),
        errors=len(results) - answered,
        accuracy=_mean([1.0 if c else 0.0 for c in labelled]),
        rouge_l=_mean([r.rouge_l for r in results if r.rouge_l is not None]),
        cosine=_mean([r.cosine for r in results if r.cosine is not None]),
        judge_relevance=judge_mean("relevance"),
        judge_faithfulness=judge_mean("faithfulness"),
        judge_tone=judge_mean("tone"),
        # Denominator is every judged item: an unparseable verdict is a failure, not an abstention.
        judge_pass_rate=_mean([1.0 if j.passed(judge_pass_min) else 0.0 for j in judged]) if judged else None,
        judge_unparseable=len(judged) - len(parsed),
        judge_unparseable_rate=(len(judged) - len(parsed)) / len(judged) if judged else None,
        groundedness_rate=groundedness_rate,
        hallucination_rate=None if groundedness_rate is None else 1 - groundedness_rate,
        latency_p50_ms=percentile(latencies, 50),
        latency_p95_ms=percentile(latencies, 95),
        total_cost_usd=total,
        cost_per_item_usd=per_item,
        cost_per_1k_items_usd=per_item * 1000,
        red_team_items=len(red_team),
        red_team_block_rate=_mean([1.0 if r.blocked else 0.0 for r in red_team]),
        red_team_refusal_rate=_mean([1.0 if r.refused else 0.0 for r in red_team]),
        red_team_cost_usd=red_team_cost_usd,
        lexical_overlap=_mean([r.lexical_overlap for r in results if r.lexical_overlap is not None]),
        labelled_items=sum(1 for r in results if r.expected_label is not None),
    )


def run(
    *,
    golden: GoldenSet,
    template: str,
    variables: Sequence[str],
    models: Sequence[str],
    invoke: Invoke,
    prices: Mapping[str, Mapping[str, float]],
    embedder: scorers.Embedder,
    judge: Judge | None = None,
    prompt_name: str = "",
    prompt_version: int = 0,
    judge_pass_min: int = 3,
    groundedness_threshold: float = scorers.GROUNDEDNESS_THRESHOLD,
    answer_parser: Callable[[str], ParsedAnswer] = parse_answer,
    grounder: Grounder | None = None,
    red_team_set: red.RedTeamSet | None = None,
) -> Scorecard:
    """Evaluate ``template`` (a prompt version: its template and declared variables) on every model.

    A model call that raises is recorded on the item (``error``) and scored as a wrong, ungrounded answer,
    so a flaky model cannot look better by failing on hard items. With ``red_team_set``, every model also
    answers every attack through ``invoke`` (the production call, guardrail included); a failed call is
    neither blocked nor refused.

    Raises:
        EvaluationError: no models, duplicate models, an unpriced model, or items the template cannot render.
    """
    if not models or len(set(models)) != len(models):
        raise EvaluationError(f"models: must be a non-empty list without duplicates, got {list(models)}")
    if not 1 <= judge_pass_min <= 5:
        raise EvaluationError("judge_pass_min: must be from 1 to 5")
    _check_prices(models, prices)
    prompts: dict[str, str] = {}
    for item in golden.items:
        try:
            prompts[item.id] = templating.render(template, variables, item.inputs)
        except ValidationError as problem:
            raise EvaluationError(f"golden item {item.id!r} does not fit the prompt: {problem}") from None
    # Attack texts are strings in the declared variables: the template always renders them.
    attacks = {
        attack.id: red.attack_prompt(lambda values: templating.render(template, variables, values), variables, attack)
        for attack in (red_team_set.items if red_team_set else ())
    }
    chosen = embedder
    # The grounding check's query is the task, not the task with the source pasted in: the source goes
    # in as the grounding source (and the query has a 1,000-character limit at Bedrock).
    instruction = templating.render(template, variables, {name: f"[{name}]" for name in variables})
    red_results: list[RedTeamResult] = []
    all_results: list[ItemResult] = []
    scores: list[ModelScore] = []
    for model_id in models:
        results = []
        for item in golden.items:
            answer: ModelAnswer | None = None
            error: str | None = None
            try:
                answer = invoke(model_id, prompts[item.id])
            except Exception as failure:  # recorded per item: the run must still cover every item
                error = f"{type(failure).__name__}: {failure}"
            results.append(
                _score_item(
                    item,
                    model_id,
                    prompts[item.id],
                    answer,
                    error,
                    price=prices[model_id],
                    embedder=chosen,
                    judge=judge,
                    parser=answer_parser,
                    threshold=groundedness_threshold,
                    grounder=grounder,
                    judge_pass_min=judge_pass_min,
                    instruction=instruction,
                )
            )
        attacked, attack_cost = _red_team(model_id, red_team_set, attacks, invoke, prices[model_id])
        scores.append(
            summarize(
                model_id, results, judge_pass_min=judge_pass_min, red_team=attacked, red_team_cost_usd=attack_cost
            )
        )
        all_results.extend(results)
        red_results.extend(attacked)
    return Scorecard(
        golden_set=golden.name,
        golden_set_version=golden.version,
        golden_set_sha256=golden.sha256(),
        prompt_name=prompt_name,
        prompt_version=prompt_version,
        embedder=chosen.name,
        judge_pass_min=judge_pass_min,
        models=tuple(scores),
        items=tuple(all_results),
        grounding_method=grounding_method(grounder, judge, judge_pass_min),
        red_team_set=red_team_set.label if red_team_set else None,
        red_team=tuple(red_results),
    )


def _red_team(
    model_id: str,
    red_team_set: red.RedTeamSet | None,
    prompts: Mapping[str, str],
    invoke: Invoke,
    price: Mapping[str, float],
) -> tuple[list[RedTeamResult], float]:
    results: list[RedTeamResult] = []
    cost = 0.0
    for attack in red_team_set.items if red_team_set else ():
        try:
            answer = invoke(model_id, prompts[attack.id])
        except Exception as failure:  # recorded: a failed call is neither blocked nor refused
            results.append(
                RedTeamResult(
                    attack.id, model_id, attack.category, False, False, "", f"{type(failure).__name__}: {failure}"
                )
            )
            continue
        cost += _cost(price, answer)
        blocked = answer.stop_reason == red.BLOCKED_STOP_REASON
        results.append(
            RedTeamResult(
                attack.id, model_id, attack.category, blocked, blocked or red.is_refusal(answer.text), answer.text
            )
        )
    return results, cost


# --- reports ---------------------------------------------------------------------------------------------


def _fmt(metric: str, value: float | None) -> str:
    if value is None:
        return "n/a"
    if metric.endswith("_ms"):
        return f"{value:.0f} ms"
    if "cost" in metric:
        return f"${value:.4f}"
    return f"{value:.3f}"


def _bar_fraction(metric: str, value: float, values: Sequence[float]) -> float:
    # Rates and similarities live on [0, 1] and judge scores on [0, 5]: fixed scales keep bars comparable
    # between reports. Latency and cost have no natural maximum, so they scale to the largest model.
    if metric.startswith("judge_") and not metric.endswith("_rate"):
        return value / 5
    if metric.endswith("_ms") or "cost" in metric:
        top = max(values)
        return value / top if top else 0.0
    return min(max(value, 0.0), 1.0)


def render_markdown(scorecard: Scorecard) -> str:
    """A readable report: summary table, then one text bar chart per metric (deterministic)."""
    lines = [
        f"# Evaluation: prompt {scorecard.prompt_name} v{scorecard.prompt_version} "
        f"on {scorecard.golden_set} v{scorecard.golden_set_version}",
        "",
        f"Golden set sha256 `{scorecard.golden_set_sha256[:12]}`, judge pass mark {scorecard.judge_pass_min}/5.",
        "",
        f"- embedding model (cosine): `{scorecard.embedder}`",
        f"- grounding method (groundedness, hallucination rate): `{scorecard.grounding_method}`",
        f"- red-team set (block and refusal rates): `{scorecard.red_team_set or 'not run'}`",
        "- lexical overlap with the context: a diagnostic, never a gate",
        "",
        "| model | items | errors | "
        + " | ".join(REPORT_METRICS)
        + " | judge unparseable | human mean | lexical overlap (diagnostic) |",
        "|---|---:|---:|" + "---:|" * len(REPORT_METRICS) + "---:|---:|---:|",
    ]
    for m in scorecard.models:
        cells = [_fmt(metric, m.metric(metric)) for metric in REPORT_METRICS]
        human = f"{m.human_mean:.2f} ({m.human_reviewed})" if m.human_mean is not None else "n/a"
        lines.append(
            f"| {m.model_id} | {m.items} | {m.errors} | "
            + " | ".join(cells)
            + f" | {m.judge_unparseable} | {human} | {_fmt('lexical_overlap', m.lexical_overlap)} |"
        )
    spent = scorecard.evaluation_cost
    judge_usd = "unpriced" if spent.judge_usd is None else f"${spent.judge_usd:.4f}"
    embedding_usd = "unpriced" if spent.embedding_usd is None else f"${spent.embedding_usd:.6f}"
    lines += [
        "",
        f"Cost of the run besides the candidates: judge {spent.judge_input_tokens} in / {spent.judge_output_tokens} "
        f"out tokens ({judge_usd}), embeddings {spent.embedding_tokens} tokens ({embedding_usd}), guardrail "
        f"{spent.guardrail_text_units} text units; red-team calls "
        + ", ".join(f"{m.model_id} ${m.red_team_cost_usd:.4f}" for m in scorecard.models)
        + ".",
    ]
    if scorecard.red_team:
        lines += [
            "",
            f"## Red team: {scorecard.red_team_set}",
            "",
            "| model | category | attacks | blocked by the guardrail | refused | answered | call failed |",
            "|---|---|---:|---:|---:|---:|---:|",
        ]
        for m in scorecard.models:
            for category in red.CATEGORIES:
                results = [r for r in scorecard.red_team if r.model_id == m.model_id and r.category == category]
                if not results:
                    continue
                blocked = sum(r.blocked for r in results)
                refused = sum(r.refused for r in results)
                failed = sum(r.error is not None for r in results)
                lines.append(
                    f"| {m.model_id} | {category} | {len(results)} | {blocked} | {refused} | "
                    f"{len(results) - refused - failed} | {failed} |"
                )
    if scorecard.retrieval:
        lines += _retrieval_section(scorecard)
    width = max(len(m.model_id) for m in scorecard.models)
    for metric in REPORT_METRICS:
        measured = [(m.model_id, m.metric(metric)) for m in scorecard.models]
        values = [v for _, v in measured if v is not None]
        if not values:
            continue
        direction = "higher is better" if metric in HIGHER_IS_BETTER else "lower is better"
        lines += ["", f"## {metric} ({direction})", "", "```"]
        for model_id, value in measured:
            if value is None:
                lines.append(f"{model_id:<{width}} | n/a")
                continue
            filled = round(_bar_fraction(metric, value, values) * BAR_WIDTH)
            lines.append(f"{model_id:<{width}} | {'#' * filled}{'.' * (BAR_WIDTH - filled)} {_fmt(metric, value)}")
        lines.append("```")
    return "\n".join(lines) + "\n"


def _retrieval_section(scorecard: Scorecard) -> list[str]:
    """What the prompt version's retrieval found per item, and the retrieval metrics per model (#16)."""
    lines = [
        "",
        "## Retrieval",
        "",
        "| model | recall@k | context relevance | faithfulness |",
        "|---|---:|---:|---:|",
    ]
    for m in scorecard.models:
        cells = [_fmt(name, m.metric(name)) for name in ("recall_at_k", "context_relevance", "faithfulness")]
        lines.append(f"| {m.model_id} | " + " | ".join(cells) + " |")
    lines += [
        "",
        "| item | status | passages | recall@k | context relevance | documents |",
        "|---|---|---:|---:|---:|---|",
    ]
    for record in scorecard.retrieval:
        documents = ", ".join(sorted({str(c.get("documentUri")) for c in record.get("chunks", [])})) or "-"
        status = record.get("status", "?") + (f" ({record['reason']})" if record.get("reason") else "")
        recall = record.get("recall_at_k")
        relevance = record.get("context_relevance")
        lines.append(
            f"| {record.get('item_id')} | {status} | {len(record.get('chunks', []))} | "
            f"{'n/a' if recall is None else f'{recall:.2f}'} | {'n/a' if relevance is None else f'{relevance:.2f}'} | "
            f"{documents.replace('|', '%7C')} |"
        )
    return lines


def render_svg(scorecard: Scorecard, metric: str) -> str:
    """A small inline SVG horizontal bar chart of one metric across models (deterministic, no scripts).

    Raises:
        KeyError: unknown metric.
    """
    measured = [(m.model_id, m.metric(metric)) for m in scorecard.models]
    values = [v for _, v in measured if v is not None]
    row, label_w, bar_w = 22, 220, 300
    height = row * len(measured) + 30
    height += 2 * row  # the footer: what produced the numbers
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{label_w + bar_w + 120}" height="{height}" '
        f'role="img" aria-label="{metric}">',
        f'<text x="4" y="16" font-family="sans-serif" font-size="13">{metric}</text>',
    ]
    for index, (model_id, value) in enumerate(measured):
        y = 26 + index * row
        width = round(_bar_fraction(metric, value, values) * bar_w) if value is not None else 0
        safe_id = _xml(model_id)
        parts.append(f'<text x="4" y="{y + 14}" font-family="sans-serif" font-size="12">{safe_id}</text>')
        parts.append(f'<rect x="{label_w}" y="{y + 3}" width="{width}" height="14" fill="#3b6ea5"/>')
        parts.append(
            f'<text x="{label_w + width + 6}" y="{y + 14}" font-family="sans-serif" font-size="12">'
            f"{_fmt(metric, value)}</text>"
        )
    footer_y = 26 + len(measured) * row
    for index, line in enumerate(
        (
            f"embedding model: {scorecard.embedder}; grounding: {scorecard.grounding_method}",
            "red-team block rate: "
            + (
                ", ".join(
                    f"{m.model_id} {_fmt('red_team_block_rate', m.red_team_block_rate)}" for m in scorecard.models
                )
                if scorecard.red_team_set
                else "not run"
            ),
        )
    ):
        parts.append(
            f'<text x="4" y="{footer_y + 14 + index * row}" font-family="sans-serif" font-size="11">{_xml(line)}</text>'
        )
    parts.append("</svg>")
    return "\n".join(parts) + "\n"


def _xml(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;").replace('"', "&quot;")
