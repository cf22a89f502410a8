"""Choose a foundation model by the team's weights on the speed / precision / cost triangle.

Each dimension is normalized across the shortlisted models to [0, 1], 1 being the best of the shortlist:

* precision: the chosen quality metric (``accuracy`` by default; any higher-is-better metric of
  :class:`~scorecard.ModelScore` such as ``rouge_l`` or ``judge_pass_rate``), min-max scaled;
* speed: p95 latency, inverted (the fastest model scores 1, the slowest 0), min-max scaled;
* cost: cost per 1,000 items, inverted (the cheapest scores 1, the most expensive 0), min-max scaled.

Min-max is relative to the shortlist on purpose: the question is "which of these", and weights then read
as "how much of the gap between best and worst on this axis do we care about". When every model ties on
a dimension, all score 1 there (the dimension cannot tell them apart). A model missing a measure scores 0
on it: an unmeasured model must not win by default.

The score is the weighted mean (weights are normalized to sum to 1). Ties break on precision, then cost,
then model id, so the ranking is deterministic.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from scorecard import HIGHER_IS_BETTER, ModelScore, Scorecard

DIMENSIONS = ("precision", "speed", "cost")


class SelectionError(ValueError):
    """Invalid weights, metric or shortlist."""


@dataclass(frozen=True)
class Weights:
    """How much the team cares about each corner of the triangle (any non-negative scale)."""

    speed: float
    precision: float
    cost: float

    def __post_init__(self) -> None:
        """Validate: finite, non-negative, not all zero."""
        for name in DIMENSIONS:
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value) or value < 0:
                raise SelectionError(f"weights.{name}: must be a finite non-negative number, got {value!r}")
        if self.speed + self.precision + self.cost == 0:
            raise SelectionError("weights: at least one of speed, precision, cost must be positive")

    def normalized(self) -> dict[str, float]:
        """Weights scaled to sum to 1."""
        total = self.speed + self.precision + self.cost
        return {name: getattr(self, name) / total for name in DIMENSIONS}


@dataclass(frozen=True)
class RankedModel:
    """One model's normalized dimensions, raw measures and weighted score."""

    model_id: str
    score: float
    precision: float
    speed: float
    cost: float
    quality: float | None
    p95_ms: float | None
    cost_per_1k_usd: float


@dataclass(frozen=True)
class Selection:
    """The ranking (best first) and why the winner won."""

    winner: str
    ranking: tuple[RankedModel, ...]
    weights: dict[str, float]
    quality_metric: str
    explanation: str


def _normalize(values: Sequence[float | None], *, higher_is_better: bool) -> list[float]:
    present = [v for v in values if v is not None]
    if not present:
        return [0.0 for _ in values]
    low, high = min(present), max(present)
    out = []
    for v in values:
        if v is None:
            out.append(0.0)
        elif high == low:
            out.append(1.0)
        else:
            out.append((v - low) / (high - low) if higher_is_better else (high - v) / (high - low))
    return out


def rank(scores: Scorecard | Iterable[ModelScore], weights: Weights, *, quality_metric: str = "accuracy") -> Selection:
    """Rank the models of ``scores`` by ``weights`` and explain the choice.

    Raises:
        SelectionError: no models, or ``quality_metric`` is not a higher-is-better metric.
    """
    models = list(scores.models if isinstance(scores, Scorecard) else scores)
    if not models:
        raise SelectionError("no models to rank")
    if quality_metric not in HIGHER_IS_BETTER:
        raise SelectionError(f"quality_metric: {quality_metric!r} is not one of {', '.join(HIGHER_IS_BETTER)}")
    quality = [m.metric(quality_metric) for m in models]
    latency = [m.latency_p95_ms for m in models]
    cost = [m.cost_per_1k_items_usd for m in models]
    norm = {
        "precision": _normalize(quality, higher_is_better=True),
        "speed": _normalize(latency, higher_is_better=False),
        "cost": _normalize(list(cost), higher_is_better=False),
    }
    w = weights.normalized()
    ranked = [
        RankedModel(
            model_id=m.model_id,
            score=sum(w[d] * norm[d][i] for d in DIMENSIONS),
            precision=norm["precision"][i],
            speed=norm["speed"][i],
            cost=norm["cost"][i],
            quality=quality[i],
            p95_ms=latency[i],
            cost_per_1k_usd=cost[i],
        )
        for i, m in enumerate(models)
    ]
    # Round the score for ordering so float noise in the weighted sum cannot flip a genuine tie.
    ranked.sort(key=lambda r: (-round(r.score, 9), -(r.quality or 0.0), r.cost_per_1k_usd, r.model_id))
    return Selection(
        winner=ranked[0].model_id,
        ranking=tuple(ranked),
        weights=w,
        quality_metric=quality_metric,
        explanation=explain(ranked, w, quality_metric),
    )


def _q(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.3f}"


def _ms(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.0f} ms"


def explain(ranked: Sequence[RankedModel], weights: dict[str, float], quality_metric: str) -> str:
    """Sentences a reviewer can paste into a decision record: the weights, why the winner, and what the
    runner-up would trade (better on which dimension, worse on which)."""
    order = sorted(DIMENSIONS, key=lambda d: (-weights[d], DIMENSIONS.index(d)))
    weight_text = ", ".join(f"{d} {weights[d]:.0%}" for d in order)
    best = ranked[0]
    sentences = [
        f"Weights: {weight_text}.",
        f"{best.model_id} ranks first with a weighted score of {best.score:.3f}: {quality_metric} "
        f"{_q(best.quality)}, p95 latency {_ms(best.p95_ms)}, ${best.cost_per_1k_usd:.2f} per 1,000 items.",
    ]
    strengths = [d for d in DIMENSIONS if getattr(best, d) == 1.0 and weights[d] > 0]
    if strengths:
        sentences.append(f"It is the best of the shortlist on {', '.join(strengths)}.")
    if len(ranked) > 1:
        second = ranked[1]
        gains, losses = [], []
        describe = {
            "precision": (
                f"{quality_metric} {_q(second.quality)} vs {_q(best.quality)}",
                "more accurate",
                "less accurate",
            ),
            "speed": (f"p95 {_ms(second.p95_ms)} vs {_ms(best.p95_ms)}", "faster", "slower"),
            "cost": (
                f"${second.cost_per_1k_usd:.2f} vs ${best.cost_per_1k_usd:.2f} per 1,000 items",
                "cheaper",
                "more expensive",
            ),
        }
        for d in DIMENSIONS:
            detail, better, worse = describe[d]
            delta = getattr(second, d) - getattr(best, d)
            if delta > 1e-9:
                gains.append(f"{better} ({detail})")
            elif delta < -1e-9:
                losses.append(f"{worse} ({detail})")
        trade = f"Runner-up {second.model_id} (score {second.score:.3f})"
        if gains and losses:
            trade += f" is {' and '.join(gains)} but {' and '.join(losses)}"
        elif gains:
            trade += f" is {' and '.join(gains)}"
        elif losses:
            trade += f" is {' and '.join(losses)}"
        else:
            trade += " measures the same on every dimension"
        sentences.append(trade + "; with these weights that trade-off does not pay.")
    return " ".join(sentences)
