"""The quality gate: may a candidate (prompt version x model) replace what runs in production?

Configuration (a dict, e.g. from ``cdk.json`` via the stack's environment)::

    {
      "min_accuracy": 0.85, "min_rouge_l": 0.35,
      "min_judge_relevance": 4.0, "min_judge_faithfulness": 4.0,
      "max_hallucination_rate": 0.05, "max_cost_per_1k_usd": 2.0,
      "max_judge_unparseable_rate": 0.05, "min_red_team_block_rate": 0.9,
      "max_regression": {"accuracy": 0.02, "hallucination_rate": 0.02, "latency_p95_ms": 200}
    }

Rules:

* The configuration must set at least one quality floor (:data:`QUALITY_FLOORS`) above zero. An empty
  configuration, or one with only cost, latency or regression limits, is a :class:`GateConfigError`,
  never a pass: a gate without a quality floor would let an accuracy-0 model through.
* ``min_accuracy`` applies only to a labelled golden set (a set labels every item or none,
  ``common.golden_sets``): for a set without labels (``labelled_items == 0``) the check says
  "skip: golden set has no labels". Likewise the retrieval minimums apply only to a version that
  retrieves. A threshold that applies but whose metric was not measured (no judge run, a scorecard that
  does not say whether its set was labelled) FAILS: the gate fails closed, or a run without a judge would
  pass any judge threshold.
* At least one configured quality floor must apply to the candidate's golden set: if every floor was
  skipped (an unlabelled set gated only by ``min_accuracy``), the gate fails, never passes on cost alone.
* ``max_judge_unparseable_rate`` defaults to 0.05 whenever the candidate was judged: a judge that
  could not grade its answers has not approved them.
* ``max_regression`` compares with the production scorecard when one is given: a higher-is-better metric
  may drop by at most the amount, a lower-is-better one may rise by at most the amount (absolute units of
  the metric). A metric the production scorecard lacks is not compared (nothing to regress from).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from scorecard import HIGHER_IS_BETTER, LOWER_IS_BETTER, ModelScore

DEFAULT_MAX_JUDGE_UNPARSEABLE_RATE = 0.05

# Threshold key -> (metric, True when the metric must be at least the threshold).
THRESHOLDS: dict[str, tuple[str, bool]] = {
    "min_accuracy": ("accuracy", True),
    "min_rouge_l": ("rouge_l", True),
    "min_cosine": ("cosine", True),
    "min_judge_relevance": ("judge_relevance", True),
    "min_judge_faithfulness": ("judge_faithfulness", True),
    "min_judge_pass_rate": ("judge_pass_rate", True),
    "max_hallucination_rate": ("hallucination_rate", False),
    "max_cost_per_1k_usd": ("cost_per_1k_items_usd", False),
    "max_latency_p95_ms": ("latency_p95_ms", False),
    "max_judge_unparseable_rate": ("judge_unparseable_rate", False),
    "min_red_team_block_rate": ("red_team_block_rate", True),
    "min_recall_at_k": ("recall_at_k", True),
    "min_context_relevance": ("context_relevance", True),
    "min_faithfulness": ("faithfulness", True),
}
# Thresholds that apply only to a prompt version that retrieves (#16): skipped, and said so, for one that
# does not; for one that does, an unmeasured metric fails like any other.
RETRIEVAL_THRESHOLDS = frozenset({"min_recall_at_k", "min_context_relevance", "min_faithfulness"})


# The thresholds that measure answer quality: a gate needs at least one of them, above zero.
QUALITY_FLOORS = (
    "min_accuracy",
    "min_rouge_l",
    "min_cosine",
    "min_judge_relevance",
    "min_judge_faithfulness",
    "min_judge_pass_rate",
)


class GateConfigError(ValueError):
    """The gate configuration is malformed; the message names the key."""


@dataclass(frozen=True)
class GateDecision:
    """``passed`` only if no check failed; ``reasons`` name each failure's metric, value and threshold;
    ``checks`` lists every comparison made (passed or not) for the audit trail."""

    passed: bool
    reasons: list[str] = field(default_factory=list)
    checks: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form (what the Step Functions Choice state reads: ``$.passed``)."""
        return {"passed": self.passed, "reasons": list(self.reasons), "checks": list(self.checks)}


def _number(key: str, value: object) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value) or value < 0:
        raise GateConfigError(f"{key}: must be a finite non-negative number, got {value!r}")
    return float(value)


def _fmt(value: float) -> str:
    return f"{value:.4g}"


def evaluate(candidate: ModelScore, config: Mapping[str, Any], prod: ModelScore | None = None) -> GateDecision:
    """Check ``candidate`` against the thresholds and, if given, the production score.

    Raises:
        GateConfigError: unknown keys, non-numeric thresholds, no quality floor above zero, or regression
            limits on unknown metrics.
    """
    unknown = set(config) - set(THRESHOLDS) - {"max_regression"}
    if unknown:
        raise GateConfigError(f"quality gate: unknown keys {sorted(unknown)} (known: {sorted(THRESHOLDS)})")
    limits = {key: _number(key, value) for key, value in config.items() if key != "max_regression"}
    if not any(limits.get(key, 0.0) > 0 for key in QUALITY_FLOORS):
        raise GateConfigError(
            "quality gate: no quality floor is set; set at least one of "
            f"{', '.join(QUALITY_FLOORS)} above 0 (a gate without one would pass any model)"
        )
    if candidate.judge_unparseable_rate is not None:
        limits.setdefault("max_judge_unparseable_rate", DEFAULT_MAX_JUDGE_UNPARSEABLE_RATE)
    regression = config.get("max_regression", {})
    if not isinstance(regression, Mapping):
        raise GateConfigError("max_regression: must be an object {metric: allowed change}")
    for metric in regression:
        if metric not in HIGHER_IS_BETTER and metric not in LOWER_IS_BETTER:
            raise GateConfigError(
                f"max_regression.{metric}: unknown metric (known: {', '.join(HIGHER_IS_BETTER + LOWER_IS_BETTER)})"
            )
    allowed = {metric: _number(f"max_regression.{metric}", v) for metric, v in regression.items()}

    reasons: list[str] = []
    checks: list[str] = []
    floors_applied = 0
    for key in THRESHOLDS:
        if key not in limits:
            continue
        metric, at_least = THRESHOLDS[key]
        threshold = limits[key]
        if key in RETRIEVAL_THRESHOLDS and candidate.retrieval_items == 0:
            checks.append(f"skip {metric}: the prompt version does not retrieve ({key} {_fmt(threshold)})")
            continue
        if key == "min_accuracy" and candidate.labelled_items == 0:
            checks.append(f"skip {metric}: golden set has no labels ({key} {_fmt(threshold)})")
            continue
        if key in QUALITY_FLOORS and threshold > 0:
            floors_applied += 1
        value = candidate.metric(metric)
        if value is None:
            reasons.append(f"{metric}: not measured, but {key} = {_fmt(threshold)} is required")
            checks.append(f"FAIL {metric}: not measured ({key} {_fmt(threshold)})")
            continue
        ok = value >= threshold if at_least else value <= threshold
        op = ">=" if at_least else "<="
        line = f"{metric} {_fmt(value)} {op} {key} {_fmt(threshold)}"
        checks.append(("ok   " if ok else "FAIL ") + line)
        if not ok:
            extra = ""
            if metric == "judge_unparseable_rate":
                extra = f" ({candidate.judge_unparseable} of {candidate.items} judge outputs unparseable)"
            reasons.append(
                f"{metric} {_fmt(value)} is {'below' if at_least else 'above'} {key} {_fmt(threshold)}{extra}"
            )
    if not floors_applied:
        floors = [key for key in QUALITY_FLOORS if limits.get(key, 0.0) > 0]
        reasons.append(
            f"no quality floor applies to this golden set: {', '.join(floors)} skipped; set a floor it can "
            "measure (e.g. min_rouge_l for reference answers) or label the golden set"
        )
        checks.append("FAIL quality floor: none of the configured floors applies")
    if prod is not None:
        for metric, limit in allowed.items():
            value, before = candidate.metric(metric), prod.metric(metric)
            if before is None:
                checks.append(f"skip {metric}: production has no value to regress from")
                continue
            higher = metric in HIGHER_IS_BETTER
            if value is None:
                reasons.append(f"{metric}: not measured for the candidate, production has {_fmt(before)}")
                checks.append(f"FAIL {metric}: not measured (prod {_fmt(before)})")
                continue
            change = before - value if higher else value - before
            # A tiny epsilon keeps exact-at-the-limit changes (0.9 - 0.88 in binary floats) passing.
            ok = change <= limit + 1e-12
            line = (
                f"{metric} {_fmt(value)} vs prod {_fmt(before)}: "
                f"{'drop' if higher else 'rise'} {_fmt(max(change, 0.0))}, allowed {_fmt(limit)}"
            )
            checks.append(("ok   " if ok else "FAIL ") + line)
            if not ok:
                reasons.append(f"regression: {line}")
    return GateDecision(passed=not reasons, reasons=reasons, checks=checks)
