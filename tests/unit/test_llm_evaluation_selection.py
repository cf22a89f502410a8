"""Model selection on the speed / precision / cost triangle, reproducing the seed's FM1 / FM2 / FM3 case."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

_LAMBDAS = Path(__file__).resolve().parents[2] / "lambdas"
for _folder in (_LAMBDAS, _LAMBDAS / "llm_evaluation"):
    if str(_folder) not in sys.path:
        sys.path.insert(0, str(_folder))

# isort: split
from scorecard import ModelScore  # noqa: E402 - importable only once the folders are on sys.path
from selection import SelectionError, Weights, rank  # noqa: E402 - importable only once the folders are on sys.path


def score(model_id: str, accuracy: float | None, p95: float | None, cost_per_1k: float, **extra) -> ModelScore:
    values = {
        "model_id": model_id,
        "items": 5,
        "errors": 0,
        "accuracy": accuracy,
        "rouge_l": 0.4,
        "cosine": 0.7,
        "judge_relevance": None,
        "judge_faithfulness": None,
        "judge_tone": None,
        "judge_pass_rate": None,
        "judge_unparseable": 0,
        "judge_unparseable_rate": None,
        "groundedness_rate": 1.0,
        "hallucination_rate": 0.0,
        "latency_p50_ms": p95,
        "latency_p95_ms": p95,
        "total_cost_usd": cost_per_1k / 200,
        "cost_per_item_usd": cost_per_1k / 1000,
        "cost_per_1k_items_usd": cost_per_1k,
    }
    values.update(extra)
    return ModelScore(**values)


# The seed's slide: FM1 most accurate (5/5) and most expensive, FM2 balanced (4/5, $), FM3 cheapest and
# least accurate. Speed follows model size (smaller is faster).
SEED = [score("FM1", 1.0, 2400, 15.0), score("FM2", 0.8, 900, 1.2), score("FM3", 0.6, 500, 0.3)]


def test_precision_heavy_weights_choose_fm1():
    chosen = rank(SEED, Weights(speed=0.1, precision=0.8, cost=0.1))
    assert chosen.winner == "FM1"
    assert [r.model_id for r in chosen.ranking] == ["FM1", "FM2", "FM3"]


def test_cost_heavy_weights_choose_fm3():
    assert rank(SEED, Weights(speed=0.1, precision=0.1, cost=0.8)).winner == "FM3"


@pytest.mark.parametrize("weights", [Weights(1, 1, 1), Weights(speed=0.2, precision=0.4, cost=0.4)])
def test_balanced_or_cost_matters_weights_choose_fm2_and_name_the_trade_off(weights):
    chosen = rank(SEED, weights)
    assert chosen.winner == "FM2"
    text = chosen.explanation
    assert "FM2 ranks first" in text
    # The runner-up's trade-off is spelled out with the numbers behind it.
    runner_up = chosen.ranking[1].model_id
    assert f"Runner-up {runner_up}" in text
    if runner_up == "FM3":
        assert "cheaper ($0.30 vs $1.20 per 1,000 items)" in text
        assert "less accurate (accuracy 0.600 vs 0.800)" in text
    else:
        assert "more accurate (accuracy 1.000 vs 0.800)" in text
        assert "more expensive ($15.00 vs $1.20 per 1,000 items)" in text


def test_normalization_is_min_max_with_latency_and_cost_inverted():
    chosen = rank(SEED, Weights(1, 1, 1))
    fm2 = next(r for r in chosen.ranking if r.model_id == "FM2")
    assert fm2.precision == pytest.approx(0.5)
    assert fm2.speed == pytest.approx((2400 - 900) / (2400 - 500))
    assert fm2.cost == pytest.approx((15.0 - 1.2) / (15.0 - 0.3))
    assert fm2.score == pytest.approx((fm2.precision + fm2.speed + fm2.cost) / 3)
    assert chosen.weights == pytest.approx({"precision": 1 / 3, "speed": 1 / 3, "cost": 1 / 3})


def test_a_chosen_quality_metric_replaces_accuracy():
    models = [score("A", 0.9, 100, 1.0, rouge_l=0.2), score("B", 0.5, 100, 1.0, rouge_l=0.6)]
    assert rank(models, Weights(0, 1, 0)).winner == "A"
    chosen = rank(models, Weights(0, 1, 0), quality_metric="rouge_l")
    assert chosen.winner == "B"
    assert "rouge_l 0.600" in chosen.explanation
    with pytest.raises(SelectionError, match="quality_metric: 'latency_p95_ms'"):
        rank(models, Weights(0, 1, 0), quality_metric="latency_p95_ms")


def test_ties_are_deterministic_and_unmeasured_models_do_not_win():
    same = [score("b", 0.8, 100, 1.0), score("a", 0.8, 100, 1.0)]
    assert [r.model_id for r in rank(same, Weights(1, 1, 1)).ranking] == ["a", "b"]
    assert "measures the same on every dimension" in rank(same, Weights(1, 1, 1)).explanation
    unmeasured = [score("x", None, 100, 1.0), score("y", 0.1, 100, 1.0)]
    assert rank(unmeasured, Weights(0, 1, 0)).winner == "y"


@pytest.mark.parametrize(
    ("kwargs", "error"),
    [
        ({"speed": 0, "precision": 0, "cost": 0}, "at least one"),
        ({"speed": -1, "precision": 1, "cost": 1}, "weights.speed"),
        ({"speed": 1, "precision": float("nan"), "cost": 1}, "weights.precision"),
        ({"speed": 1, "precision": 1, "cost": True}, "weights.cost"),
    ],
)
def test_weights_are_validated(kwargs, error):
    with pytest.raises(SelectionError, match=error):
        Weights(**kwargs)


def test_no_models_is_an_error():
    with pytest.raises(SelectionError, match="no models"):
        rank([], Weights(1, 1, 1))
