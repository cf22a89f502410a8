"""The ``training.clarify`` settings: the facet Clarify checks for bias and the gate's thresholds.

Kept apart from ``stacks/config/`` (which imports these types and calls ``clarify_problems``) so the
checks that need the churn dataset's schema live next to the settings they check.
"""

from __future__ import annotations

from dataclasses import dataclass

from pipelines.training.clarify import METRICS, facet_column

__all__ = ["BiasGateConfig", "ClarifyConfig", "clarify_problems"]


@dataclass(frozen=True)
class BiasGateConfig:
    """One gate: registration stops when the absolute value of ``metric`` exceeds ``threshold``."""

    metric: str
    threshold: float


@dataclass(frozen=True)
class ClarifyConfig:
    """Level 1 Clarify checks (pre-training data bias, post-training model bias, SHAP) and the bias gate.

    ``facet`` is a column of the churn dataset the model sees; ``facet_value`` is one of its categories
    (contract, payment_method) or a number for numeric columns (the facet is then the rows above it).
    ``positive_label`` is the label value Clarify treats as the positive outcome (1: churned).
    """

    enabled: bool
    facet: str
    facet_value: str
    positive_label: int
    gates: tuple[BiasGateConfig, ...]


def clarify_problems(clarify: ClarifyConfig) -> list[tuple[str, str]]:
    """(key under training.clarify, message) for every value that is wrong; empty when all are fine."""
    problems: list[tuple[str, str]] = []
    try:
        facet_column(clarify.facet, "0" if clarify.facet_value is None else clarify.facet_value)
    except ValueError as error:
        key = "facet" if "is not a column" in str(error) else "facetValue"
        problems.append((key, str(error)))
    if clarify.positive_label not in (0, 1):
        problems.append(("positiveLabel", f"{clarify.positive_label} is not a value of the churned label (0 or 1)"))
    seen: set[str] = set()
    for index, gate in enumerate(clarify.gates):
        metric = METRICS.get(gate.metric)
        if metric is None:
            problems.append(
                (
                    f"gates[{index}].metric",
                    f"{gate.metric!r} is not a gated Clarify metric (one of: {', '.join(METRICS)})",
                )
            )
            continue
        if gate.metric in seen:
            problems.append((f"gates[{index}].metric", f"{gate.metric} is gated twice"))
        seen.add(gate.metric)
        # The gate compares |value| with the threshold, so the useful range is 0 up to the larger bound.
        bound = max(abs(metric.low), abs(metric.high))
        if not 0 < gate.threshold <= bound:
            shown = "no upper bound" if bound == float("inf") else f"at most {bound:g}"
            problems.append(
                (
                    f"gates[{index}].threshold",
                    f"{gate.threshold:g} is outside the range of {gate.metric} ({metric.description}): it must be "
                    f"above 0 and {shown}",
                )
            )
    return problems
