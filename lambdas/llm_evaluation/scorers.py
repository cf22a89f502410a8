"""Scoring one answer: label accuracy, ROUGE-L, embedding cosine, LLM-as-judge, groundedness, human review.

Every scorer is deterministic given its inputs (the Bedrock embedder and the judge are injected), so the
same answers always give the same scorecard and tests pin exact values.

Tokenization (ROUGE-L and the lexical-overlap diagnostic share it): Unicode-aware lowercase word
tokens, ``[^\\W_]+`` runs of letters and digits, so punctuation separates words and is dropped; an
apostrophe splits (``don't`` -> ``don``, ``t``) the same way in answer and reference, which is what
matters for overlap metrics. No stemming and no stop-word removal in ROUGE (the classic ROUGE-L
definition without the Porter stemmer); groundedness drops stop words and framing words, see :func:`groundedness`.
"""

from __future__ import annotations

import csv
import io
import json
import math
import re
from collections.abc import Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Any, Protocol

from scorecard import JUDGE_CRITERIA, HumanScore, ItemResult, JudgeResult, Scorecard

__all__ = [
    "GROUNDEDNESS_THRESHOLD",
    "JUDGE_CRITERIA",
    "BedrockTitanEmbedder",
    "Embedder",
    "GroundednessResult",
    "GroundingError",
    "GroundingResult",
    "GuardrailGrounder",
    "HumanScore",
    "JudgeResult",
    "ReviewSheetError",
    "RougeScore",
    "build_judge_prompt",
    "cosine",
    "exact_match",
    "export_review_sheet",
    "groundedness",
    "import_review_sheet",
    "label_accuracy",
    "merge_human_scores",
    "normalize_label",
    "parse_judge_output",
    "rouge_l",
    "tokenize",
]

_TOKEN_RE = re.compile(r"[^\W_]+")


def tokenize(text: str) -> list[str]:
    """Lowercase word tokens (see the module docstring for the exact rule)."""
    return _TOKEN_RE.findall(text.lower())


# --- exact match / label accuracy ------------------------------------------------------------------------


def normalize_label(text: str) -> str:
    """Lowercase, surrounding whitespace, quotes and punctuation stripped, inner whitespace collapsed.

    Models answer ``"Billing."`` or ``' billing'`` for the label ``billing``; that is a correct label, and
    counting it as wrong would measure formatting, not classification.
    """
    return " ".join(text.strip().strip("\"'`.,;:!?()[]{}<>").lower().split())


def exact_match(predicted: str | None, expected: str) -> bool:
    """Whether the normalized prediction equals the normalized expected label (no prediction: wrong)."""
    return predicted is not None and normalize_label(predicted) == normalize_label(expected)


def label_accuracy(pairs: Iterable[tuple[str | None, str]]) -> float | None:
    """Share of (predicted, expected) pairs that match; ``None`` for no pairs (nothing was measured)."""
    results = [exact_match(predicted, expected) for predicted, expected in pairs]
    return sum(results) / len(results) if results else None


# --- ROUGE-L ---------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class RougeScore:
    """ROUGE-L precision (LCS / candidate length), recall (LCS / reference length) and F1."""

    precision: float
    recall: float
    f1: float


def _lcs_length(a: Sequence[str], b: Sequence[str]) -> int:
    # Classic dynamic programme over two rows: O(len(a) * len(b)) time, O(len(b)) memory.
    previous = [0] * (len(b) + 1)
    for token in a:
        current = [0]
        for j, other in enumerate(b, start=1):
            current.append(previous[j - 1] + 1 if token == other else max(previous[j], current[j - 1]))
        previous = current
    return previous[-1]


def rouge_l(candidate: str, reference: str) -> RougeScore:
    """ROUGE-L between two texts (sentence-level, F1 with beta = 1); empty on either side scores 0."""
    cand, ref = tokenize(candidate), tokenize(reference)
    if not cand or not ref:
        return RougeScore(0.0, 0.0, 0.0)
    lcs = _lcs_length(cand, ref)
    if lcs == 0:
        return RougeScore(0.0, 0.0, 0.0)
    precision, recall = lcs / len(cand), lcs / len(ref)
    return RougeScore(precision, recall, 2 * precision * recall / (precision + recall))


# --- embeddings and cosine -------------------------------------------------------------------------------


class Embedder(Protocol):
    """Turns a text into a vector; ``name`` is recorded in the scorecard (scores of different embedders
    are not comparable). The function uses :class:`BedrockTitanEmbedder`; the only other one is the
    emulator's labelled lexical stand-in (``emulator.fake_bedrock.StandInEmbedder``)."""

    @property
    def name(self) -> str: ...

    def embed(self, text: str) -> list[float]: ...


def cosine(a: Sequence[float], b: Sequence[float]) -> float:
    """Cosine similarity of two vectors; 0.0 when either is all zeros (an empty text is similar to nothing).

    Raises:
        ValueError: the vectors differ in length.
    """
    if len(a) != len(b):
        raise ValueError(f"cosine: vectors differ in length ({len(a)} vs {len(b)})")
    dot = sum(x * y for x, y in zip(a, b, strict=True))
    norm = math.sqrt(sum(x * x for x in a)) * math.sqrt(sum(y * y for y in b))
    return dot / norm if norm else 0.0


class BedrockRuntimeClient(Protocol):
    """The subset of a boto3 ``bedrock-runtime`` client the Titan embedder and the grounder call."""

    def invoke_model(self, **kwargs: Any) -> dict[str, Any]: ...
    def apply_guardrail(self, **kwargs: Any) -> dict[str, Any]: ...


# A response header the emulator's fake Bedrock sets on every answer it makes up (see
# emulator/fake_bedrock.py). Real Bedrock never sends it; it can only turn a label into "stand-in",
# never the other way, so trusting it cannot make a stand-in look real.
STAND_IN_HEADER = "x-local-stand-in"


def stand_in_label(response: Mapping[str, Any]) -> str | None:
    """What the stand-in that answered says it is, or ``None`` for a real answer."""
    headers = (response.get("ResponseMetadata") or {}).get("HTTPHeaders") or {}
    value = headers.get(STAND_IN_HEADER)
    return str(value) if value else None


class BedrockTitanEmbedder:
    """Embeddings from Amazon Titan Text Embeddings V2 (InvokeModel) through an injected client.

    Results are cached per text: the reference of an item is embedded once, not once per model.
    ``tokens`` adds up the model's ``inputTextTokenCount`` (what Bedrock bills); ``name`` is the model and
    size, plus what answered instead when a local stand-in did.
    """

    MODEL_ID = "amazon.titan-embed-text-v2:0"

    def __init__(self, client: BedrockRuntimeClient, *, model_id: str = MODEL_ID, dimensions: int = 512) -> None:
        """``dimensions`` must be one Titan V2 supports (256, 512 or 1024)."""
        if dimensions not in (256, 512, 1024):
            raise ValueError("BedrockTitanEmbedder: dimensions must be 256, 512 or 1024")
        self._client = client
        self.model_id = model_id
        self.dimensions = dimensions
        self.tokens = 0
        self.stand_in: str | None = None
        self._cache: dict[str, list[float]] = {}

    @property
    def name(self) -> str:
        """``<model id>/<dimensions>``, with ``(stand-in: ...)`` when the local stand-in answered."""
        base = f"{self.model_id}/{self.dimensions}"
        return f"{base} (stand-in: {self.stand_in})" if self.stand_in else base

    def embed(self, text: str) -> list[float]:
        """The normalized Titan vector of ``text``.

        Raises:
            ValueError: the response carries no embedding of the requested size.
        """
        if text in self._cache:
            return self._cache[text]
        if not text.strip():
            # Titan rejects empty input; an empty answer is similar to nothing.
            return [0.0] * self.dimensions
        response = self._client.invoke_model(
            modelId=self.model_id,
            contentType="application/json",
            accept="application/json",
            body=json.dumps({"inputText": text, "dimensions": self.dimensions, "normalize": True}),
        )
        payload = json.loads(response["body"].read())
        vector = payload.get("embedding") if isinstance(payload, dict) else None
        if not isinstance(vector, list) or len(vector) != self.dimensions:
            raise ValueError(f"{self.model_id}: response has no embedding of {self.dimensions} floats")
        count = payload.get("inputTextTokenCount")
        if isinstance(count, int) and not isinstance(count, bool) and count >= 0:
            self.tokens += count
        self.stand_in = stand_in_label(response) or self.stand_in
        result = [float(x) for x in vector]
        self._cache[text] = result
        return result


# --- contextual grounding (hallucination) -----------------------------------------------------------------


@dataclass(frozen=True)
class GroundingResult:
    """A grounding verdict: ``score`` of the answer's support by the source (0-1), ``relevance`` to the
    query (0-1, ``None`` when not measured) and ``grounded``, the method's own verdict."""

    score: float | None
    relevance: float | None
    grounded: bool


class GroundingError(RuntimeError):
    """The grounding check answered without a grounding assessment (e.g. the guardrail has no contextual
    grounding policy): the run cannot measure hallucination and must not pretend it did."""


class GuardrailGrounder:
    """Contextual grounding by the Bedrock guardrail (ApplyGuardrail on the answer, with the item's context
    as ``grounding_source`` and the task as ``query``).

    ``grounded`` is the guardrail's own verdict: no GROUNDING or RELEVANCE filter with action BLOCKED,
    i.e. both scores at or above the thresholds configured on the guardrail (stacks/components/guardrail.py).
    ``text_units`` adds up every policy's text units from ``usage`` (what ApplyGuardrail bills).

    Bedrock's documented limits for the check: 100,000 characters of grounding source, 1,000 of query,
    5,000 of response. A longer query is cut (it is the task's instruction, whose head says what is
    asked); a longer answer or source cannot be checked and counts as not grounded (never as grounded).
    """

    MAX_SOURCE_CHARS = 100_000
    MAX_QUERY_CHARS = 1_000
    MAX_ANSWER_CHARS = 5_000

    def __init__(self, client: BedrockRuntimeClient, *, guardrail_id: str, guardrail_version: str) -> None:
        """Check answers with ``guardrail_id`` at ``guardrail_version``."""
        self._client = client
        self.guardrail_id = guardrail_id
        self.guardrail_version = guardrail_version
        self.text_units = 0
        self.stand_in: str | None = None

    @property
    def name(self) -> str:
        """The method as the scorecard shows it, with ``(stand-in: ...)`` when the local stand-in answered."""
        base = f"bedrock guardrail contextual grounding ({self.guardrail_id} v{self.guardrail_version})"
        return f"{base} (stand-in: {self.stand_in})" if self.stand_in else base

    def check(self, *, answer: str, context: str, query: str) -> GroundingResult:
        """Ground ``answer`` in ``context`` for ``query``; an empty answer asserts nothing and is not sent, nor
        is one over the limits (see the class docstring).

        Raises:
            GroundingError: the response has no GROUNDING filter result.
        """
        if not answer.strip() or len(answer) > self.MAX_ANSWER_CHARS or len(context) > self.MAX_SOURCE_CHARS:
            return GroundingResult(score=None, relevance=None, grounded=False)
        response = self._client.apply_guardrail(
            guardrailIdentifier=self.guardrail_id,
            guardrailVersion=self.guardrail_version,
            source="OUTPUT",
            content=[
                {"text": {"text": context, "qualifiers": ["grounding_source"]}},
                {"text": {"text": query[: self.MAX_QUERY_CHARS], "qualifiers": ["query"]}},
                {"text": {"text": answer, "qualifiers": ["guard_content"]}},
            ],
        )
        self.stand_in = stand_in_label(response) or self.stand_in
        usage = response.get("usage") or {}
        self.text_units += sum(v for k, v in usage.items() if k.endswith("PolicyUnits") and isinstance(v, int))
        filters = [
            f
            for assessment in response.get("assessments") or []
            for f in (assessment.get("contextualGroundingPolicy") or {}).get("filters") or []
        ]
        by_type = {f.get("type"): f for f in filters}
        if "GROUNDING" not in by_type:
            raise GroundingError(
                f"guardrail {self.guardrail_id} v{self.guardrail_version} returned no GROUNDING assessment: "
                "configure its contextual grounding policy"
            )
        relevance = by_type.get("RELEVANCE")
        return GroundingResult(
            score=float(by_type["GROUNDING"]["score"]),
            relevance=float(relevance["score"]) if relevance else None,
            grounded=not any(f.get("action") == "BLOCKED" for f in filters),
        )


# --- LLM-as-judge ----------------------------------------------------------------------------------------

JUDGE_PROMPT = """You are a strict evaluator of a customer-support assistant. Score the ANSWER to the TASK.

Criteria, each an integer from 1 (very poor) to 5 (excellent):
- relevance: does the answer address the task and the user's actual request?
- faithfulness: is every statement supported by the SOURCE (and consistent with the REFERENCE)? Any
  invented fact (amount, date, order number, name, promise) caps faithfulness at 2.
- tone: is it professional, neutral and concise?

TASK:
<task>
{task}
</task>

SOURCE:
<source>
{source}
</source>

REFERENCE (a good answer, for comparison; may be absent):
<reference>
{reference}
</reference>

ANSWER:
<answer>
{answer}
</answer>

Reply with ONLY this JSON object, no prose before or after:
{{"relevance": <1-5>, "faithfulness": <1-5>, "tone": <1-5>, "rationale": "<one or two sentences>"}}"""

_FENCE_RE = re.compile(r"^```(?:json)?\s*\n?(.*?)\n?```$", re.DOTALL)
_JUDGE_FIELDS = frozenset({*JUDGE_CRITERIA, "rationale"})


def build_judge_prompt(*, task: str, answer: str, reference: str | None = None, context: str | None = None) -> str:
    """The judge's prompt for one answer; absent parts are written as ``(none)`` so the judge sees they are
    missing rather than empty."""
    return JUDGE_PROMPT.format(
        task=task.strip(),
        source=(context or "(none)").strip(),
        reference=(reference or "(none)").strip(),
        answer=answer.strip() or "(empty answer)",
    )


def parse_judge_output(raw: str) -> JudgeResult:
    """Parse the judge's reply; anything but the exact JSON shape is ``status="unparseable"``.

    Accepted: one JSON object with exactly ``relevance``, ``faithfulness``, ``tone`` (integers 1-5; not
    booleans, not 4.5) and a non-empty string ``rationale``, optionally wrapped in one Markdown code fence
    (judges add it often, and it changes nothing about the content). Prose around the object is refused:
    extracting "the first {...}" from prose would accept replies the judge did not commit to.
    """
    text = raw.strip()
    fenced = _FENCE_RE.match(text)
    if fenced:
        text = fenced.group(1).strip()

    def bad(error: str) -> JudgeResult:
        return JudgeResult(status="unparseable", raw=raw, error=error)

    try:
        data = json.loads(text)
    except json.JSONDecodeError as error:
        return bad(f"not JSON: {error.msg} at position {error.pos}")
    if not isinstance(data, dict):
        return bad(f"expected a JSON object, got {type(data).__name__}")
    missing, extra = _JUDGE_FIELDS - data.keys(), data.keys() - _JUDGE_FIELDS
    if missing or extra:
        return bad(f"fields: missing {sorted(missing)}, unexpected {sorted(extra)}")
    scores: dict[str, int] = {}
    for criterion in JUDGE_CRITERIA:
        value = data[criterion]
        if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= 5:
            return bad(f"{criterion}: must be an integer from 1 to 5, got {value!r}")
        scores[criterion] = value
    rationale = data["rationale"]
    if not isinstance(rationale, str) or not rationale.strip():
        return bad("rationale: must be a non-empty string")
    return JudgeResult(
        status="ok",
        raw=raw,
        relevance=scores["relevance"],
        faithfulness=scores["faithfulness"],
        tone=scores["tone"],
        rationale=rationale.strip(),
    )


# --- lexical overlap (a diagnostic, never a gate) ----------------------------------------------------------

# A share of the answer's content words that must occur in the context. 0.6 lets a summary paraphrase
# (connectives, changed verb forms: "wants" for "want") while an answer adding a sentence of new facts
# falls below it; calibrated on the shipped support-ticket set, where every reference summary scores >= 0.65.
GROUNDEDNESS_THRESHOLD = 0.6

# Function words carry no facts; counting them would let any fluent sentence look grounded.
STOP_WORDS = frozenset(
    {
        "a",
        "an",
        "and",
        "are",
        "as",
        "at",
        "be",
        "been",
        "but",
        "by",
        "can",
        "could",
        "did",
        "do",
        "does",
        "for",
        "from",
        "had",
        "has",
        "have",
        "he",
        "her",
        "his",
        "i",
        "if",
        "in",
        "into",
        "is",
        "it",
        "its",
        "me",
        "my",
        "no",
        "not",
        "of",
        "on",
        "or",
        "our",
        "she",
        "so",
        "than",
        "that",
        "the",
        "their",
        "them",
        "they",
        "this",
        "to",
        "too",
        "under",
        "up",
        "us",
        "was",
        "we",
        "were",
        "what",
        "when",
        "which",
        "who",
        "will",
        "with",
        "would",
        "you",
        "your",
        "also",
        "about",
        "after",
        "all",
        "any",
        "because",
        "before",
        "both",
        "each",
        "just",
        "more",
        "most",
        "only",
        "other",
        "over",
        "same",
        "should",
        "some",
        "such",
        "then",
        "there",
        "these",
        "those",
        "through",
        "very",
        "while",
    }
)
# Words a summary uses to report a request ("the customer asks whether...") rather than to state facts
# of it; without them every faithful third-person summary would look half-invented.
FRAMING_WORDS = frozenset(
    {
        "customer",
        "customers",
        "user",
        "users",
        "person",
        "team",
        "asks",
        "asked",
        "ask",
        "wants",
        "want",
        "wanted",
        "requests",
        "request",
        "requested",
        "reports",
        "reported",
        "says",
        "said",
        "mentions",
        "mentioned",
        "whether",
        "being",
        "since",
        "needs",
        "needed",
    }
)
_NUMBER_RE = re.compile(r"\d+")


@dataclass(frozen=True)
class GroundednessResult:
    """``support``: share of the answer's distinct content words found in the context; ``unsupported``:
    the content words that were not; ``grounded``: the verdict."""

    support: float
    grounded: bool
    unsupported: tuple[str, ...]


def groundedness(answer: str, context: str, *, threshold: float = GROUNDEDNESS_THRESHOLD) -> GroundednessResult:
    """Deterministic token overlap of ``answer`` with ``context``: a DIAGNOSTIC only.

    The scorecard records it as ``lexical_overlap`` next to the real grounding check (the guardrail's
    contextual grounding, :class:`GuardrailGrounder`, or the judge's faithfulness); no gate reads it.

    Grounded when ``support >= threshold`` AND every number in the answer occurs in the context: an
    invented amount, date or order number is the most damaging hallucination in support and is a single
    token, so a ratio alone would miss it. An answer without content words is grounded (it asserts
    nothing). This is a cheap screen, not proof: paraphrase with new words lowers support, so read it
    together with the judge's faithfulness.
    """
    context_tokens = set(tokenize(context))
    content = sorted({t for t in tokenize(answer) if t not in STOP_WORDS and t not in FRAMING_WORDS})
    if not content:
        return GroundednessResult(1.0, True, ())
    unsupported = tuple(t for t in content if t not in context_tokens)
    support = 1 - len(unsupported) / len(content)
    invented_number = any(_NUMBER_RE.fullmatch(t) for t in unsupported)
    return GroundednessResult(support, support >= threshold and not invented_number, unsupported)


# --- human in the loop -----------------------------------------------------------------------------------

REVIEW_COLUMNS = (
    "item_id",
    "model_id",
    "input",
    "answer",
    "reference",
    "expected_label",
    "predicted_label",
    "score",
    "comment",
)
_REQUIRED_IMPORT_COLUMNS = ("item_id", "model_id", "score", "comment")


class ReviewSheetError(ValueError):
    """The returned review sheet is malformed; the message names the row and column."""


def export_review_sheet(results: Iterable[ItemResult], inputs: Mapping[str, str] | None = None) -> str:
    """A CSV for reviewers (spreadsheet or SageMaker Ground Truth custom task): one row per answer, with
    ``score`` (1-5) and ``comment`` left blank to fill in. ``inputs`` maps item id to the text shown as
    ``input`` (for instance the ticket). Rows are sorted by item then model, so reviewers compare models
    on the same item side by side."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(REVIEW_COLUMNS)
    for result in sorted(results, key=lambda r: (r.item_id, r.model_id)):
        writer.writerow(
            [
                result.item_id,
                result.model_id,
                (inputs or {}).get(result.item_id, ""),
                result.answer,
                "",
                result.expected_label or "",
                result.predicted_label or "",
                "",
                "",
            ]
        )
    return buffer.getvalue()


def import_review_sheet(
    csv_text: str, *, known_item_ids: Collection[str], known_model_ids: Collection[str] | None = None
) -> list[HumanScore]:
    """Parse a filled-in review sheet. Rows with an empty ``score`` were not reviewed and are skipped.

    Raises:
        ReviewSheetError: a required column is missing, or a row names an unknown item or model, has a
            score that is not an integer from 1 to 5, or repeats an (item, model) pair.
    """
    reader = csv.DictReader(io.StringIO(csv_text))
    header = reader.fieldnames or []
    missing = [c for c in _REQUIRED_IMPORT_COLUMNS if c not in header]
    if missing:
        raise ReviewSheetError(f"review sheet: missing columns {missing} (found {list(header)})")
    scores: list[HumanScore] = []
    seen: set[tuple[str, str]] = set()
    for line, row in enumerate(reader, start=2):
        item_id, model_id = (row.get("item_id") or "").strip(), (row.get("model_id") or "").strip()
        if item_id not in known_item_ids:
            raise ReviewSheetError(f"review sheet line {line}: unknown item_id {item_id!r}")
        if known_model_ids is not None and model_id not in known_model_ids:
            raise ReviewSheetError(f"review sheet line {line} (item {item_id}): unknown model_id {model_id!r}")
        raw_score = (row.get("score") or "").strip()
        if not raw_score:
            continue
        if not raw_score.isdigit() or not 1 <= int(raw_score) <= 5:
            raise ReviewSheetError(
                f"review sheet line {line} (item {item_id}, model {model_id}): score must be an integer "
                f"from 1 to 5, got {raw_score!r}"
            )
        if (item_id, model_id) in seen:
            raise ReviewSheetError(f"review sheet line {line}: item {item_id} / model {model_id} scored twice")
        seen.add((item_id, model_id))
        scores.append(HumanScore(item_id, model_id, int(raw_score), (row.get("comment") or "").strip()))
    return scores


def merge_human_scores(scorecard: Scorecard, human: Iterable[HumanScore]) -> Scorecard:
    """A new scorecard with the human scores on their items and each model's ``human_mean`` and
    ``human_reviewed`` recomputed (a later import for the same item and model replaces the earlier score).

    Raises:
        KeyError: a score names an (item, model) pair the scorecard does not hold.
    """
    by_key = {(h.item_id, h.model_id): h for h in human}
    known = {(r.item_id, r.model_id) for r in scorecard.items}
    unknown = sorted(set(by_key) - known)
    if unknown:
        raise KeyError(f"human scores for results not in the scorecard: {unknown}")
    items = tuple(
        replace(
            r, human_score=by_key[(r.item_id, r.model_id)].score, human_comment=by_key[(r.item_id, r.model_id)].comment
        )
        if (r.item_id, r.model_id) in by_key
        else r
        for r in scorecard.items
    )
    models = []
    for score in scorecard.models:
        values = [r.human_score for r in items if r.model_id == score.model_id and r.human_score is not None]
        models.append(
            replace(score, human_mean=sum(values) / len(values) if values else None, human_reviewed=len(values))
        )
    return replace(scorecard, items=items, models=tuple(models))
