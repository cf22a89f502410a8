"""The evaluation result model: per-item results, per-model scores, the scorecard, and their JSON form.

Kept apart from the metric code so that scorers (which produce :class:`JudgeResult` and consume scorecards
for human review), evaluation (which builds scorecards), selection and the quality gate all depend on
one small module and not on each other. Every class round-trips through ``to_dict``/``from_dict``, because
a scorecard is stored (S3, DynamoDB) and compared later with the one in production.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field, fields
from typing import Any, Literal

JUDGE_CRITERIA = ("relevance", "faithfulness", "tone")
JudgeStatus = Literal["ok", "unparseable"]


@dataclass(frozen=True)
class JudgeResult:
    """What the judge said about one answer, or why its output could not be used.

    ``status="unparseable"`` keeps the judge's ``raw`` text and the parse ``error`` for debugging; such a
    result never counts as a pass (see :meth:`passed`), so a broken judge cannot wave a model through.
    """

    status: JudgeStatus
    raw: str
    relevance: int | None = None
    faithfulness: int | None = None
    tone: int | None = None
    rationale: str = ""
    error: str | None = None

    def passed(self, min_score: int) -> bool:
        """Parsed, and every criterion at least ``min_score``."""
        if self.status != "ok":
            return False
        return all((getattr(self, c) or 0) >= min_score for c in JUDGE_CRITERIA)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form."""
        return asdict(self)

    @classmethod
    def from_dict(cls, raw: Mapping[str, Any]) -> JudgeResult:
        """Inverse of :meth:`to_dict`."""
        return cls(**{f.name: raw[f.name] for f in fields(cls) if f.name in raw})


@dataclass(frozen=True)
class HumanScore:
    """A reviewer's 1-5 score (and optional comment) of one model's answer to one item."""

    item_id: str
    model_id: str
    score: int
    comment: str = ""


@dataclass(frozen=True)
class ItemResult:
    """One model's answer to one golden item, and its scores (``None``: not applicable or not measured)."""

    item_id: str
    model_id: str
    answer: str
    predicted_label: str | None
    expected_label: str | None
    correct: bool | None
    rouge_l: float | None
    cosine: float | None
    groundedness: float | None
    grounded: bool | None
    latency_ms: float | None
    input_tokens: int
    output_tokens: int
    cost_usd: float
    judge: JudgeResult | None = None
    human_score: int | None = None
    human_comment: str = ""
    # Set when the model call failed: the item then scores as wrong and ungrounded, never as skipped.
    error: str | None = None
    tags: tuple[str, ...] = ()
    # Token overlap of the answer with the context (scorers.groundedness): a diagnostic, never a gate.
    # ``groundedness``/``grounded`` above come from the scorecard's grounding method.
    lexical_overlap: float | None = None
    # The guardrail's RELEVANCE score of the answer to the query (contextual grounding), when it ran.
    relevance: float | None = None

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form."""
        out = asdict(self)
        out["judge"] = self.judge.to_dict() if self.judge else None
        out["tags"] = list(self.tags)
        return out

    @classmethod
    def from_dict(cls, raw: Mapping[str, Any]) -> ItemResult:
        """Inverse of :meth:`to_dict`."""
        values = {f.name: raw[f.name] for f in fields(cls) if f.name in raw}
        values["judge"] = JudgeResult.from_dict(raw["judge"]) if raw.get("judge") else None
        values["tags"] = tuple(raw.get("tags", ()))
        return cls(**values)


@dataclass(frozen=True)
class ModelScore:
    """Aggregates of one model over the golden set (``None``: the metric does not apply or was not run)."""

    model_id: str
    items: int
    errors: int
    accuracy: float | None
    rouge_l: float | None
    cosine: float | None
    judge_relevance: float | None
    judge_faithfulness: float | None
    judge_tone: float | None
    # Share of judged items that parsed AND scored at least the pass mark on every criterion.
    judge_pass_rate: float | None
    judge_unparseable: int
    judge_unparseable_rate: float | None
    groundedness_rate: float | None
    hallucination_rate: float | None
    latency_p50_ms: float | None
    latency_p95_ms: float | None
    total_cost_usd: float
    cost_per_item_usd: float
    cost_per_1k_items_usd: float
    human_mean: float | None = None
    human_reviewed: int = 0
    # Red-teaming (the adversarial set through the same model call, guardrail included): the share the
    # guardrail blocked, and the share refused (blocked, or the model declined in words).
    red_team_items: int = 0
    red_team_block_rate: float | None = None
    red_team_refusal_rate: float | None = None
    red_team_cost_usd: float = 0.0
    # Mean token overlap of answers with their context: a diagnostic shown in reports, never a gate
    # (it is not in NUMERIC_METRICS, so no threshold or regression limit can name it).
    lexical_overlap: float | None = None
    # Retrieval (#16), for a prompt version that retrieves (``retrieval_items`` 0: it does not): the share
    # of expectedDocuments found among the retrieved passages, the mean cosine of question vs passages,
    # and the mean grounding score of this model's answers in the passages.
    retrieval_items: int = 0
    recall_at_k: float | None = None
    context_relevance: float | None = None
    faithfulness: float | None = None
    # Golden items with an expected label (a golden set labels all or none): 0 means accuracy does not apply
    # and the gate skips min_accuracy; None (a scorecard from before the count was kept) is treated as
    # labelled, so the gate fails closed on an unmeasured accuracy.
    labelled_items: int | None = None

    def metric(self, name: str) -> float | None:
        """A metric by name (what selection and the gate use to address metrics from configuration).

        Raises:
            KeyError: not a numeric metric of a model score.
        """
        if name not in NUMERIC_METRICS:
            raise KeyError(f"unknown metric {name!r} (known: {', '.join(NUMERIC_METRICS)})")
        value = getattr(self, name)
        return None if value is None else float(value)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form."""
        return asdict(self)

    @classmethod
    def from_dict(cls, raw: Mapping[str, Any]) -> ModelScore:
        """Inverse of :meth:`to_dict`."""
        return cls(**{f.name: raw[f.name] for f in fields(cls) if f.name in raw})


# Metrics a configuration may name, and which direction is better (selection and gate rely on this).
HIGHER_IS_BETTER = (
    "accuracy",
    "rouge_l",
    "cosine",
    "judge_relevance",
    "judge_faithfulness",
    "judge_tone",
    "judge_pass_rate",
    "groundedness_rate",
    "human_mean",
    "red_team_block_rate",
    "red_team_refusal_rate",
    "recall_at_k",
    "context_relevance",
    "faithfulness",
)
LOWER_IS_BETTER = (
    "hallucination_rate",
    "judge_unparseable_rate",
    "latency_p50_ms",
    "latency_p95_ms",
    "cost_per_item_usd",
    "cost_per_1k_items_usd",
)
NUMERIC_METRICS = HIGHER_IS_BETTER + LOWER_IS_BETTER


@dataclass(frozen=True)
class RedTeamResult:
    """One model's answer to one adversarial item: ``blocked`` by the guardrail, ``refused`` (blocked, or
    the model declined in words), or neither (the attack got an answer)."""

    item_id: str
    model_id: str
    category: str
    blocked: bool
    refused: bool
    answer: str
    error: str | None = None

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form."""
        return asdict(self)

    @classmethod
    def from_dict(cls, raw: Mapping[str, Any]) -> RedTeamResult:
        """Inverse of :meth:`to_dict`."""
        return cls(**{f.name: raw[f.name] for f in fields(cls) if f.name in raw})


@dataclass(frozen=True)
class EvaluationCost:
    """What the run itself spent besides the candidates' calls (those are in each model's cost):
    the judge's tokens, the embedding model's tokens and the guardrail's text units. ``None`` in a
    ``*_usd`` field: the price is unknown, so the cost is not estimated (never counted as free)."""

    judge_input_tokens: int = 0
    judge_output_tokens: int = 0
    judge_usd: float | None = None
    embedding_tokens: int = 0
    embedding_usd: float | None = None
    guardrail_text_units: int = 0

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form."""
        return asdict(self)

    @classmethod
    def from_dict(cls, raw: Mapping[str, Any]) -> EvaluationCost:
        """Inverse of :meth:`to_dict`."""
        return cls(**{f.name: raw[f.name] for f in fields(cls) if f.name in raw})


@dataclass(frozen=True)
class Scorecard:
    """One prompt version measured on one golden-set version across several models.

    ``embedder`` names the embedding model behind ``cosine`` (and says "stand-in" when the local lexical
    stand-in ran), ``grounding_method`` what decided ``grounded`` (and says "stand-in" likewise),
    ``red_team_set`` the adversarial set behind each model's red-team rates.
    """

    golden_set: str
    golden_set_version: int
    golden_set_sha256: str
    prompt_name: str
    prompt_version: int
    embedder: str
    judge_pass_min: int
    models: tuple[ModelScore, ...]
    items: tuple[ItemResult, ...] = field(default=())
    grounding_method: str = "not measured"
    red_team_set: str | None = None
    red_team: tuple[RedTeamResult, ...] = field(default=())
    evaluation_cost: EvaluationCost = field(default_factory=EvaluationCost)
    # Per golden item, what the prompt version's retrieval returned (empty when it does not retrieve).
    retrieval: tuple[dict[str, Any], ...] = field(default=())

    def model(self, model_id: str) -> ModelScore:
        """The score of ``model_id``.

        Raises:
            KeyError: the model was not evaluated.
        """
        for score in self.models:
            if score.model_id == model_id:
                return score
        raise KeyError(f"model {model_id!r} is not in the scorecard ({', '.join(m.model_id for m in self.models)})")

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form."""
        return {
            "golden_set": self.golden_set,
            "golden_set_version": self.golden_set_version,
            "golden_set_sha256": self.golden_set_sha256,
            "prompt_name": self.prompt_name,
            "prompt_version": self.prompt_version,
            "embedder": self.embedder,
            "judge_pass_min": self.judge_pass_min,
            "models": [m.to_dict() for m in self.models],
            "items": [i.to_dict() for i in self.items],
            "grounding_method": self.grounding_method,
            "red_team_set": self.red_team_set,
            "red_team": [r.to_dict() for r in self.red_team],
            "evaluation_cost": self.evaluation_cost.to_dict(),
            "retrieval": [dict(r) for r in self.retrieval],
        }

    @classmethod
    def from_dict(cls, raw: Mapping[str, Any]) -> Scorecard:
        """Inverse of :meth:`to_dict`."""
        return cls(
            golden_set=raw["golden_set"],
            golden_set_version=int(raw["golden_set_version"]),
            golden_set_sha256=raw["golden_set_sha256"],
            prompt_name=raw["prompt_name"],
            prompt_version=int(raw["prompt_version"]),
            embedder=raw["embedder"],
            judge_pass_min=int(raw["judge_pass_min"]),
            models=tuple(ModelScore.from_dict(m) for m in raw["models"]),
            items=tuple(ItemResult.from_dict(i) for i in raw.get("items", ())),
            grounding_method=raw.get("grounding_method", "not measured"),
            red_team_set=raw.get("red_team_set"),
            red_team=tuple(RedTeamResult.from_dict(r) for r in raw.get("red_team", ())),
            evaluation_cost=EvaluationCost.from_dict(raw.get("evaluation_cost") or {}),
            retrieval=tuple(dict(r) for r in raw.get("retrieval", ())),
        )

    def to_json(self) -> str:
        """Stable JSON (sorted keys) so two runs with the same results produce the same bytes."""
        return json.dumps(self.to_dict(), sort_keys=True, indent=2) + "\n"

    @classmethod
    def from_json(cls, text: str) -> Scorecard:
        """Inverse of :meth:`to_json`."""
        return cls.from_dict(json.loads(text))
