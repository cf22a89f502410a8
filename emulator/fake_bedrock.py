"""A local stand-in for Amazon Bedrock Runtime (Converse, InvokeModel of an embedding model, ApplyGuardrail).

moto answers ``bedrock-runtime`` Converse with HTTP 500, so the gateway and the evaluation cannot be
exercised end to end against it. This server speaks just enough of the real wire format (REST-JSON:
``POST /model/{modelId}/converse``, ``POST /model/{modelId}/invoke``,
``POST /guardrail/{id}/version/{version}/apply``) for an unmodified boto3 client to call it::

    with FakeBedrock(denied_words=("forbidden",)) as fake:
        client = boto3.client("bedrock-runtime", endpoint_url=fake.endpoint_url)
        # or, for code that builds its own client: os.environ.update(fake.env())
        client.converse(modelId="any.model-v1:0", messages=[...])

What it does (deterministic, no model):

* the answer is ``"[local stand-in model] Summary: "`` plus the first words of the last user message,
  so nobody can mistake it for a real model; ``inferenceConfig.maxTokens`` truncates it
  (``stopReason = "max_tokens"``);
* a judge prompt (one built by ``scorers.build_judge_prompt``, recognised by :data:`JUDGE_MARKER`) gets a
  valid judge verdict: relevance, faithfulness and tone 4, rationale ``"[local stand-in judge] ..."``;
* a classification prompt (it says ``label:`` or "classify") gets ``label: <label>`` and
  ``summary: [local stand-in model] <first sentence>``: the label is the first of :data:`LABELS` named in
  the text outside the lines that list the labels (``other`` when none is), the sentence the first one of
  that text;
* token counts are word counts (input: every text block of ``system`` and ``messages``);
* guardrail simulation: when the request carries ``guardrailConfig`` and its text contains a denied
  word (whole word, case-insensitive) or matches one of :data:`STAND_IN_POLICIES` (crude patterns
  standing in for the guardrail's prompt-attack, content, PII and denied-topic policies), the "model" is
  not invoked: ``stopReason`` is ``guardrail_intervened``, the text is a canned refusal, usage is zero,
  and with ``trace: enabled`` the trace names the match, in Bedrock's trace shape;
* InvokeModel of ``amazon.titan-embed-text-v2*`` (Titan's request and response bodies) answers with
  :class:`StandInEmbedder`'s vector: a hashed bag of words, NOT an embedding;
* ApplyGuardrail: the same policy screen on the ``guard_content`` (or unqualified) text, and with a
  ``grounding_source`` a contextual-grounding assessment whose GROUNDING score is the share of the
  answer's words found in the source and RELEVANCE the share found in the query or the source (token
  overlap, NOT Bedrock's model), against ``grounding_threshold`` and ``relevance_threshold``;
* every answer it makes up carries the header :data:`STAND_IN_HEADER` naming what made it, so the
  evaluation's scorecard says "stand-in" (real Bedrock never sends that header);
* ``throttle_word`` in the text answers HTTP 429 ``ThrottlingException`` (to exercise error paths);
* every request is recorded in :attr:`FakeBedrock.requests` for assertions;
* model IDs are checked the way Bedrock checks them in ``region`` (default us-east-1, the local
  environment's), with the model table AWS's state is read from (``stacks/bedrock_models.json``): a model
  past end of life answers ``ResourceNotFoundException``; a bare model ID that Region serves only through
  a cross-Region inference profile answers Bedrock's ``ValidationException`` asking for a profile; a
  profile of another geography (``eu.`` from us-east-1), or one Bedrock does not define for the model,
  is an invalid model identifier. IDs the table does not know are accepted;
* ``guardContent`` blocks are validated as Bedrock's model does (a ``text`` with ``qualifiers`` among
  ``grounding_source``, ``query``, ``guard_content``); as in Bedrock, once a message has such blocks the
  simulated guardrail reads only them. A request whose last user turn carries a ``grounding_source``
  (the gateway's and the evaluation's retrieved passages) is answered from it by :func:`grounded_answer`:
  ``"[local stand-in model] "`` plus the (at most :data:`GROUNDED_SENTENCES`) sentences of the passages
  sharing the most words with the ``query``, each cited ``[n]`` with its passage's number, or a "do not
  know" answer when none shares a word. That is extraction, not a model: it makes local faithfulness
  (the grounding score of the answer in the passages) and ROUGE-L measure what was retrieved, not a
  summary of the question. The contextual grounding check of Converse itself is not simulated (only
  ApplyGuardrail scores an answer against a grounding source).

Not implemented: streaming, tools, images, InvokeModel of other models, authentication (any signature
is accepted). It listens on 127.0.0.1 only, on a free port, in a daemon thread; it stops when the
``with`` block ends, when ``lifetime_seconds`` pass, or with the process.

Command line (prints the variable to export, serves until Ctrl-C or ``--lifetime``)::

    python -m emulator.fake_bedrock --deny forbidden --lifetime 600
"""

from __future__ import annotations

import argparse
import contextlib
import hashlib
import json
import math
import re
import uuid
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler
from typing import Any
from urllib.parse import unquote

from emulator.loopback import LoopbackService
from stacks.model_catalog import Catalog, shipped_catalog

LABEL = "[local stand-in model]"
BLOCKED_MESSAGE = f"{LABEL} Sorry, I cannot respond to that request. (blocked by the simulated guardrail)"
SUMMARY_WORDS = 12
# A phrase of scorers.JUDGE_PROMPT (lambdas/llm_evaluation/scorers.py): present only in judge prompts.
JUDGE_MARKER = "You are a strict evaluator of"
JUDGE_LABEL = "[local stand-in judge]"
LABELS = ("billing", "technical", "account", "shipping", "other")
_CLASSIFY_RE = re.compile(r"label\s*:|\bclassify\b", re.IGNORECASE)
_LABEL_RE = re.compile(r"\b(" + "|".join(LABELS) + r")\b", re.IGNORECASE)
_FIELD_PREFIX_RE = re.compile(r"^[A-Za-z][A-Za-z ]{0,20}:\s*")
_CONVERSE_PATH = re.compile(r"^/model/(?P<model>[^/]+)/converse$")
_INVOKE_PATH = re.compile(r"^/model/(?P<model>[^/]+)/invoke$")
_APPLY_PATH = re.compile(r"^/guardrail/(?P<guardrail>[^/]+)/version/(?P<version>[^/]+)/apply$")
GROUNDED_SENTENCES = 2
NOT_IN_SOURCES = f"{LABEL} The passages do not answer this question."
# Passage headers as the gateway and the evaluation number them (lambdas/common/retrieval.py).
_PASSAGE_RE = re.compile(r"^\[(?P<n>\d{1,4})\] \(source: [^\n]*\)\n", re.MULTILINE)
_SENTENCE_END_RE = re.compile(r"(?<=[.!?])\s+|\n\s*\n|\n(?=#)")
# Words too common to say that a sentence answers a question.
_STOPWORDS = frozenset(
    [
        "a",
        "an",
        "and",
        "are",
        "as",
        "at",
        "be",
        "but",
        "by",
        "can",
        "do",
        "does",
        "for",
        "from",
        "has",
        "have",
        "how",
        "i",
        "in",
        "is",
        "it",
        "its",
        "my",
        "of",
        "on",
        "or",
        "our",
        "so",
        "that",
        "the",
        "their",
        "them",
        "then",
        "there",
        "this",
        "to",
        "was",
        "we",
        "what",
        "when",
        "where",
        "which",
        "who",
        "why",
        "will",
        "with",
        "you",
        "your",
    ]
)
# Must equal scorers.STAND_IN_HEADER (lambdas/llm_evaluation/scorers.py); a test checks they agree.
STAND_IN_HEADER = "x-local-stand-in"
EMBEDDING_MODEL_PREFIX = "amazon.titan-embed-text-v2"
EMBEDDING_STAND_IN = "lexical hashing, not embeddings"
GROUNDING_STAND_IN = "token overlap, not contextual grounding"
GUARDRAIL_STAND_IN = "pattern screen, not a guardrail"
# Crude stand-ins for the guardrail's policies (policy type, name, pattern), so red-teaming runs locally.
# They are no measure of the real guardrail: the red-team block rate they give is a stand-in's.
STAND_IN_POLICIES: tuple[tuple[str, str, re.Pattern[str]], ...] = tuple(
    (policy, name, re.compile(pattern, re.IGNORECASE))
    for policy, name, pattern in (
        (
            "contentPolicy",
            "PROMPT_ATTACK",
            r"\b(?:ignore|disregard)\s+(?:all\s+|any\s+|the\s+|my\s+)?(?:previous|prior|above|earlier)?\s*"
            r"(?:instructions|rules)\b|\bsystem\s+(?:prompt|override)\b|\bdeveloper\s+mode\b|\bDAN\b|"
            r"\bno\s+content\s+policy\b|\bsafety\s+filters\s+are\s+(?:switched\s+)?off\b|\bignore\s+my\s+rules\b",
        ),
        ("contentPolicy", "VIOLENCE", r"\b(?:pipe\s+bomb|bomb|threatening\s+message|pick\s+the\s+lock)\b"),
        ("contentPolicy", "HATE", r"\bhateful\b"),
        ("contentPolicy", "MISCONDUCT", r"\bphishing\b"),
        ("sensitiveInformationPolicy", "CREDIT_DEBIT_CARD_NUMBER", r"\b(?:\d[ -]?){12,15}\d\b"),
        ("sensitiveInformationPolicy", "US_SOCIAL_SECURITY_NUMBER", r"\b\d{3}-\d{2}-\d{4}\b"),
        ("sensitiveInformationPolicy", "PASSWORD", r"\bpassword\s+(?:is|:)\s*\S+"),
        ("sensitiveInformationPolicy", "AWS_SECRET_KEY", r"(?<![A-Za-z0-9/+])[A-Za-z0-9/+]{40}(?![A-Za-z0-9/+])"),
        ("topicPolicy", "investment-advice", r"\b(?:stocks?|invest\w*|crypto\w*|bitcoin|index\s+funds?|pension)\b"),
        (
            "topicPolicy",
            "medical-diagnosis",
            r"\b(?:diagnos\w*|antibiotics?|ibuprofen|dosage|dose|milligrams?|medication)\b",
        ),
    )
)
_TOKEN_RE = re.compile(r"[^\W_]+")
GUARD_QUALIFIERS = frozenset({"grounding_source", "query", "guard_content"})


@dataclass(frozen=True)
class RecordedRequest:
    """One Converse request as the stand-in received it."""

    model_id: str
    body: dict[str, Any]


class _ApiError(Exception):
    def __init__(self, status: HTTPStatus, code: str, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message


_CARD_RE = re.compile(r"(?<![\d-])\d(?:[ -]?\d){12,18}(?![\d-])")


def card_number(text: str) -> str | None:
    """The first card number in `text`: 13-19 digits (spaces or dashes between them) passing the Luhn check."""
    for match in _CARD_RE.finditer(text):
        digits = [int(c) for c in match.group() if c.isdigit()]
        total = sum(d if i % 2 == 0 else (d * 2 - 9 if d > 4 else d * 2) for i, d in enumerate(reversed(digits)))
        if total % 10 == 0:
            return match.group()
    return None


def _texts(blocks: Iterable[Any], *, qualifier: str | None = None) -> list[str]:
    """The text of plain ``text`` blocks and of ``guardContent`` blocks (only those with ``qualifier``, if given)."""
    found = []
    for block in blocks:
        if not isinstance(block, dict):
            continue
        guarded = (block.get("guardContent") or {}).get("text") if isinstance(block.get("guardContent"), dict) else None
        if isinstance(guarded, dict) and isinstance(guarded.get("text"), str):
            if qualifier is None or qualifier in (guarded.get("qualifiers") or []):
                found.append(guarded["text"])
        elif qualifier is None and isinstance(block.get("text"), str):
            found.append(block["text"])
    return found


def _guarded_texts(blocks: Iterable[Any]) -> list[str]:
    """The text of the ``guardContent`` blocks only."""
    return [
        block["guardContent"]["text"]["text"]
        for block in blocks
        if isinstance(block, dict) and isinstance(block.get("guardContent"), dict)
    ]


def _check_guard_content(messages: list[Any]) -> bool:
    """Validate every ``guardContent`` block as Bedrock does; whether there is any."""
    seen = False
    for m_index, message in enumerate(messages):
        for c_index, block in enumerate((message.get("content") or []) if isinstance(message, dict) else []):
            if not isinstance(block, dict) or "guardContent" not in block:
                continue
            seen = True
            where = f"messages.{m_index}.content.{c_index}.guardContent"
            guarded = block["guardContent"]
            text = guarded.get("text") if isinstance(guarded, dict) else None
            if not isinstance(text, dict) or not isinstance(text.get("text"), str):
                raise _ApiError(HTTPStatus.BAD_REQUEST, "ValidationException", f"{where}: a text block is required")
            qualifiers = text.get("qualifiers", [])
            if not isinstance(qualifiers, list) or not set(qualifiers) <= GUARD_QUALIFIERS:
                raise _ApiError(
                    HTTPStatus.BAD_REQUEST,
                    "ValidationException",
                    f"{where}.text.qualifiers: {qualifiers!r} is not a list of {', '.join(sorted(GUARD_QUALIFIERS))}",
                )
    return seen


def model_refusal(catalog: Catalog, model_id: str, region: str) -> tuple[HTTPStatus, str, str] | None:
    """What Bedrock in ``region`` answers for ``model_id`` when it cannot serve it (None: it can)."""
    prefix, base = catalog.split(model_id)
    entry = catalog.models.get(base)
    if prefix is not None and (
        not catalog.geography_serves(prefix, region) or (entry is not None and prefix not in entry.profiles)
    ):
        return HTTPStatus.BAD_REQUEST, "ValidationException", "The provided model identifier is invalid."
    if entry is None:
        return None
    if entry.lifecycle_in(region) == "EOL":
        return (
            HTTPStatus.NOT_FOUND,
            "ResourceNotFoundException",
            "This model version has reached the end of its life. Please refer to the AWS documentation for more "
            "details.",
        )
    if prefix is None and region not in entry.in_region:
        return (
            HTTPStatus.BAD_REQUEST,
            "ValidationException",
            f"Invocation of model ID {model_id} with on-demand throughput isn\u2019t supported. Retry your request "
            "with the ID or ARN of an inference profile that contains this model.",
        )
    return None


def _words(text: str) -> int:
    return len(text.split())


def _tokens(text: str) -> list[str]:
    return _TOKEN_RE.findall(text.lower())


class StandInEmbedder:
    """The lexical STAND-IN for an embedding model: a signed, hashed bag of word 1- and 2-grams,
    L2-normalized. Not embeddings (it sees shared words, not meaning); the fake's InvokeModel answers
    with it, and its ``name`` says what it is wherever it appears.

    Each n-gram is hashed with BLAKE2b (not ``hash()``, which is salted per process) into one of
    ``dimensions`` buckets with a sign from another hash bit, so collisions cancel on average.
    """

    def __init__(self, dimensions: int = 512) -> None:
        """Validate the vector size."""
        if dimensions < 8:
            raise ValueError("StandInEmbedder: dimensions must be at least 8")
        self.dimensions = dimensions
        self.name = f"local stand-in: {EMBEDDING_STAND_IN} ({dimensions} dims)"

    def embed(self, text: str) -> list[float]:
        """The normalized vector of ``text`` (all zeros for a text without words)."""
        tokens = _tokens(text)
        vector = [0.0] * self.dimensions
        for n in (1, 2):
            for start in range(len(tokens) - n + 1):
                digest = hashlib.blake2b(" ".join(tokens[start : start + n]).encode("utf-8"), digest_size=8).digest()
                value = int.from_bytes(digest, "big")
                vector[value % self.dimensions] += 1.0 if (value >> 63) & 1 else -1.0
        norm = math.sqrt(sum(x * x for x in vector))
        return [x / norm for x in vector] if norm else vector


def _support(text: str, reference: str) -> float:
    """Share of the distinct words of ``text`` that occur in ``reference`` (1.0 for a text without words)."""
    words, known = set(_tokens(text)), set(_tokens(reference))
    return len(words & known) / len(words) if words else 1.0


def grounded_answer(question: str, source: str) -> str:
    """The stand-in's answer from retrieved passages (see the module docstring): extraction, not a model.

    ``source`` is the grounding source: passages headed ``[n] (source: <uri>)`` (text without such headers
    is one passage, cited ``[1]``). Sentences are ranked by the distinct non-stopword words they share
    with ``question``, normalized by the square root of their length; ties keep the passages' order.
    """
    wanted = set(_tokens(question)) - _STOPWORDS
    headers = list(_PASSAGE_RE.finditer(source))
    passages = (
        [
            (m.group("n"), source[m.end() : headers[i + 1].start() if i + 1 < len(headers) else len(source)])
            for i, m in enumerate(headers)
        ]
        if headers
        else [("1", source)]
    )
    ranked: list[tuple[float, int, str, str]] = []
    for n, text in passages:
        for raw in _SENTENCE_END_RE.split(text):
            sentence = " ".join(line for line in raw.split("\n") if not line.lstrip().startswith("#")).strip()
            words = _tokens(sentence)
            if len(words) < 4:
                continue
            shared = len(wanted & set(words))
            if shared:
                ranked.append((-shared / math.sqrt(len(words)), len(ranked), n, " ".join(sentence.split())))
    if not ranked:
        return NOT_IN_SOURCES
    best = sorted(sorted(ranked)[:GROUNDED_SENTENCES], key=lambda entry: entry[1])
    return f"{LABEL} " + " ".join(f"{sentence} [{n}]" for _, _, n, sentence in best)


def judge_answer() -> str:
    """The verdict the stand-in judge gives every answer (the JSON shape scorers.parse_judge_output wants)."""
    verdict = {
        "relevance": 4,
        "faithfulness": 4,
        "tone": 4,
        "rationale": f"{JUDGE_LABEL} fixed verdict; no model read the answer.",
    }
    return json.dumps(verdict)


def classify_answer(prompt: str) -> str:
    """``label: ...`` and ``summary: ...`` lines for a classification prompt (see the module docstring)."""
    # Instruction lines list the labels (or ask for them); the rest is the content to classify.
    content_lines = [
        line.strip()
        for line in prompt.splitlines()
        if line.strip() and len(set(_LABEL_RE.findall(line.lower()))) < 2 and not _CLASSIFY_RE.search(line)
    ]
    content = _FIELD_PREFIX_RE.sub("", " ".join(content_lines))
    found = _LABEL_RE.search(content)
    label = found.group(1).lower() if found else _keyword_label(content)
    sentence = re.split(r"(?<=[.!?])\s", content, maxsplit=1)[0] if content else ""
    # The stand-in mark goes on its own line: the summary itself stays the ticket's own words.
    return f"note: {LABEL}\nlabel: {label}\nsummary: {sentence}".rstrip()


# A keyword vote, so the stand-in classifies the shipped golden set plausibly (it is not a model).
_KEYWORDS = {
    "billing": ("charge", "charged", "refund", "invoice", "payment", "price", "billing", "subscription", "paid"),
    "technical": ("error", "crash", "bug", "timeout", "fails", "failing", "broken", "export", "api", "sync", "app"),
    "account": ("password", "login", "log in", "account", "email address", "two-factor", "2fa", "username", "locked"),
    "shipping": ("delivery", "delivered", "package", "shipped", "shipping", "tracking", "courier", "parcel", "order"),
}


def _keyword_label(content: str) -> str:
    text = content.lower()
    votes = {label: sum(text.count(word) for word in words) for label, words in _KEYWORDS.items()}
    best = max(votes, key=lambda label: votes[label])
    return best if votes[best] else "other"


class FakeBedrock(LoopbackService):
    """The stand-in server; use it as a context manager (or call :meth:`start` and :meth:`stop`)."""

    thread_name = "fake-bedrock"
    endpoint_variable = "AWS_ENDPOINT_URL_BEDROCK_RUNTIME"

    def __init__(
        self,
        *,
        denied_words: Sequence[str] = ("forbidden",),
        throttle_word: str | None = None,
        models: Iterable[str] | None = None,
        region: str | None = "us-east-1",
        lifetime_seconds: float | None = 600.0,
        policies: bool = True,
        grounding_threshold: float = 0.75,
        relevance_threshold: float = 0.75,
    ) -> None:
        """Configure the stand-in.

        Args:
            denied_words: words the simulated guardrail blocks (only when ``guardrailConfig`` is sent).
            throttle_word: a word that makes the call fail with ``ThrottlingException`` (HTTP 429).
            models: if given, other model ids get ``ValidationException`` like an unknown model would.
            region: the Region whose model lifecycle and profile routing apply (None: accept any model ID).
            lifetime_seconds: stop by itself after this long (``None``: only on :meth:`stop`).
            policies: whether the simulated guardrail also screens with :data:`STAND_IN_POLICIES`.
            grounding_threshold, relevance_threshold: the contextual grounding thresholds of the simulated
                guardrail (a real guardrail carries its own; see stacks/components/guardrail.py).
        """
        self.denied_words = tuple(w.lower() for w in denied_words)
        self.throttle_word = throttle_word.lower() if throttle_word else None
        self.models = frozenset(models) if models is not None else None
        self.policies = policies
        self.grounding_threshold = grounding_threshold
        self.relevance_threshold = relevance_threshold
        self.region = region
        self.catalog = shipped_catalog()
        super().__init__(lifetime_seconds=lifetime_seconds)
        self.requests: list[RecordedRequest] = []

    # ----------------------------------------------------------------------------------- lifecycle

    def _handler_class(self) -> type[BaseHTTPRequestHandler]:
        return _Handler

    # ------------------------------------------------------------------------------------ behaviour

    def _matches(self, word: str, text: str) -> bool:
        return re.search(rf"(?<!\w){re.escape(word)}(?!\w)", text, flags=re.IGNORECASE) is not None

    def _policy_hit(self, text: str) -> tuple[str, str, str] | None:
        """(policy, name, matched text) of the first denied word or stand-in policy ``text`` trips."""
        word = next((w for w in self.denied_words if self._matches(w, text)), None)
        if word is not None:
            return "wordPolicy", "customWords", word
        for policy, name, pattern in STAND_IN_POLICIES if self.policies else ():
            if name == "CREDIT_DEBIT_CARD_NUMBER":  # a card number passes the Luhn check, as Bedrock's PII model knows
                card = card_number(text)
                if card is not None:
                    return policy, name, card
                continue
            found = pattern.search(text)
            if found:
                return policy, name, found.group(0)
        return None

    @staticmethod
    def _assessment(hit: tuple[str, str, str]) -> dict[str, Any]:
        policy, name, match = hit
        if policy == "wordPolicy":
            return {"wordPolicy": {"customWords": [{"match": match, "action": "BLOCKED"}]}}
        if policy == "contentPolicy":
            return {"contentPolicy": {"filters": [{"type": name, "confidence": "HIGH", "action": "BLOCKED"}]}}
        if policy == "topicPolicy":
            return {"topicPolicy": {"topics": [{"name": name, "type": "DENY", "action": "BLOCKED"}]}}
        return {"sensitiveInformationPolicy": {"piiEntities": [{"match": match, "type": name, "action": "BLOCKED"}]}}

    def invoke_model(self, model_id: str, body: dict[str, Any]) -> dict[str, Any]:
        """InvokeModel of the Titan V2 embedding model: Titan's body shapes, the stand-in's vector."""
        self.requests.append(RecordedRequest(model_id, body))
        if not model_id.startswith(EMBEDDING_MODEL_PREFIX):
            raise _ApiError(
                HTTPStatus.BAD_REQUEST,
                "ValidationException",
                f"the local stand-in implements InvokeModel only for {EMBEDDING_MODEL_PREFIX}*, not {model_id}",
            )
        text, dimensions = body.get("inputText"), body.get("dimensions", 1024)
        if not isinstance(text, str) or not text.strip():
            raise _ApiError(HTTPStatus.BAD_REQUEST, "ValidationException", "inputText: a non-empty string is required")
        if dimensions not in (256, 512, 1024) or isinstance(dimensions, bool):
            raise _ApiError(HTTPStatus.BAD_REQUEST, "ValidationException", "dimensions: must be 256, 512 or 1024")
        vector = StandInEmbedder(dimensions).embed(text)
        return {"embedding": vector, "inputTextTokenCount": _words(text), "embeddingsByType": {"float": vector}}

    def apply_guardrail(self, guardrail_id: str, version: str, body: dict[str, Any]) -> dict[str, Any]:
        """ApplyGuardrail: the policy screen, and contextual grounding when a grounding source is given."""
        self.requests.append(RecordedRequest(f"guardrail/{guardrail_id}/{version}", body))
        content = body.get("content")
        if body.get("source") not in ("INPUT", "OUTPUT") or not isinstance(content, list) or not content:
            raise _ApiError(HTTPStatus.BAD_REQUEST, "ValidationException", "source and content are required")
        parts: dict[str, list[str]] = {"grounding_source": [], "query": [], "guard_content": []}
        for block in content:
            text = block.get("text") if isinstance(block, dict) else None
            if not isinstance(text, dict) or not isinstance(text.get("text"), str):
                raise _ApiError(HTTPStatus.BAD_REQUEST, "ValidationException", "content: text blocks only")
            qualifiers = text.get("qualifiers") or ["guard_content"]
            for qualifier in qualifiers:
                if qualifier not in parts:
                    raise _ApiError(HTTPStatus.BAD_REQUEST, "ValidationException", f"unknown qualifier {qualifier!r}")
                parts[qualifier].append(text["text"])
        guarded = "\n".join(parts["guard_content"])
        assessment: dict[str, Any] = {}
        hit = self._policy_hit(guarded)
        if hit is not None:
            assessment.update(self._assessment(hit))
        units = max(1, math.ceil(len(guarded) / 1000))
        grounding_units = 0
        if parts["grounding_source"]:
            if body.get("source") != "OUTPUT" or not parts["query"]:
                raise _ApiError(
                    HTTPStatus.BAD_REQUEST,
                    "ValidationException",
                    "contextual grounding needs source OUTPUT, a grounding_source and a query",
                )
            source, query = "\n".join(parts["grounding_source"]), "\n".join(parts["query"])
            filters = []
            for kind, score, threshold in (
                ("GROUNDING", _support(guarded, source), self.grounding_threshold),
                ("RELEVANCE", _support(guarded, f"{query}\n{source}"), self.relevance_threshold),
            ):
                blocked = score < threshold
                filters.append(
                    {
                        "type": kind,
                        "threshold": threshold,
                        "score": round(score, 4),
                        "action": "BLOCKED" if blocked else "NONE",
                        "detected": blocked,
                    }
                )
            assessment["contextualGroundingPolicy"] = {"filters": filters}
            grounding_units = max(1, math.ceil((len(source) + len(query) + len(guarded)) / 1000))
        intervened = hit is not None or any(
            f["action"] == "BLOCKED" for f in assessment.get("contextualGroundingPolicy", {}).get("filters", [])
        )
        return {
            "usage": {
                "topicPolicyUnits": units,
                "contentPolicyUnits": units,
                "wordPolicyUnits": units,
                "sensitiveInformationPolicyUnits": units,
                "sensitiveInformationPolicyFreeUnits": 0,
                "contextualGroundingPolicyUnits": grounding_units,
            },
            "action": "GUARDRAIL_INTERVENED" if intervened else "NONE",
            "outputs": [{"text": BLOCKED_MESSAGE}] if intervened else [],
            "assessments": [assessment] if assessment else [],
        }

    def converse(self, model_id: str, body: dict[str, Any]) -> dict[str, Any]:
        """The Converse response for ``body`` (raises :class:`_ApiError` for error responses)."""
        self.requests.append(RecordedRequest(model_id, body))
        if self.models is not None and model_id not in self.models:
            raise _ApiError(HTTPStatus.BAD_REQUEST, "ValidationException", "The provided model identifier is invalid.")
        refusal = model_refusal(self.catalog, model_id, self.region) if self.region else None
        if refusal is not None:
            raise _ApiError(*refusal)
        messages = body.get("messages")
        if not isinstance(messages, list) or not messages:
            raise _ApiError(HTTPStatus.BAD_REQUEST, "ValidationException", "messages: at least one message is required")
        guarded_only = _check_guard_content(messages)
        system = _texts(body.get("system") or [])
        all_texts = system + [t for m in messages if isinstance(m, dict) for t in _texts(m.get("content") or [])]
        user_turns = [m for m in messages if isinstance(m, dict) and m.get("role") == "user"]
        last_turn = (user_turns[-1].get("content") or []) if user_turns else []
        # A grounded request asks its query; the grounding source is reference text, not the question.
        question = " ".join(_texts(last_turn, qualifier="query") or _texts(last_turn))
        joined = "\n".join(all_texts)
        # Bedrock's guardrail reads only the guardContent blocks of a message that has any.
        screened = (
            "\n".join(t for m in messages if isinstance(m, dict) for t in _guarded_texts(m.get("content") or []))
            if guarded_only
            else joined
        )
        if self.throttle_word and self._matches(self.throttle_word, joined):
            raise _ApiError(
                HTTPStatus.TOO_MANY_REQUESTS,
                "ThrottlingException",
                "Too many requests, please wait before trying again.",
            )
        guardrail = body.get("guardrailConfig")
        if isinstance(guardrail, dict):
            hit = self._policy_hit(screened)
            if hit is not None:
                return self._blocked(guardrail, hit)
        sources = _texts(last_turn, qualifier="grounding_source") if guarded_only else []
        if JUDGE_MARKER in question:
            reply = judge_answer()
        elif sources:
            reply = grounded_answer(question, "\n".join(sources))
        elif _CLASSIFY_RE.search(question):
            reply = classify_answer(question)
        else:
            words = question.split()
            summary = " ".join(words[:SUMMARY_WORDS]) + (" ..." if len(words) > SUMMARY_WORDS else "")
            reply = f"{LABEL} Summary: {summary}"
        answer_words = reply.split(" ")
        stop_reason = "end_turn"
        max_tokens = (body.get("inferenceConfig") or {}).get("maxTokens")
        if isinstance(max_tokens, int) and len(answer_words) > max_tokens:
            answer_words, stop_reason = answer_words[:max_tokens], "max_tokens"
        answer = " ".join(answer_words)
        input_tokens = _words(joined)
        return {
            "output": {"message": {"role": "assistant", "content": [{"text": answer}]}},
            "stopReason": stop_reason,
            "usage": {
                "inputTokens": input_tokens,
                "outputTokens": len(answer_words),
                "totalTokens": input_tokens + len(answer_words),
            },
            "metrics": {"latencyMs": 1},
        }

    def _blocked(self, guardrail: dict[str, Any], hit: tuple[str, str, str]) -> dict[str, Any]:
        response: dict[str, Any] = {
            "output": {"message": {"role": "assistant", "content": [{"text": BLOCKED_MESSAGE}]}},
            "stopReason": "guardrail_intervened",
            # The input was blocked before any model ran, so nothing was generated.
            "usage": {"inputTokens": 0, "outputTokens": 0, "totalTokens": 0},
            "metrics": {"latencyMs": 1},
        }
        if guardrail.get("trace") in ("enabled", "enabled_full"):
            guardrail_id = str(guardrail.get("guardrailIdentifier", "guardrail"))
            response["trace"] = {"guardrail": {"inputAssessment": {guardrail_id: self._assessment(hit)}}}
        return response


class _Handler(BaseHTTPRequestHandler):
    owner: FakeBedrock
    protocol_version = "HTTP/1.1"  # keep-alive: boto3 reuses its connection

    def log_message(self, format: str, *args: Any) -> None:
        """Silence the per-request access log."""

    def _send(
        self, status: HTTPStatus, payload: dict[str, Any], error_code: str | None = None, stand_in: str | None = None
    ) -> None:
        data = json.dumps(payload).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.send_header("x-amzn-RequestId", str(uuid.uuid4()))
        if stand_in:
            self.send_header(STAND_IN_HEADER, stand_in)
        if error_code:
            # botocore's REST-JSON parser reads the error code from this header.
            self.send_header("x-amzn-ErrorType", error_code)
        self.end_headers()
        self.wfile.write(data)

    def do_POST(self) -> None:
        """Serve Converse, InvokeModel (embedding model) and ApplyGuardrail; anything else is unknown."""
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length) if length else b""
        path = self.path.split("?", 1)[0]
        converse, invoke, apply = _CONVERSE_PATH.match(path), _INVOKE_PATH.match(path), _APPLY_PATH.match(path)
        try:
            if converse is None and invoke is None and apply is None:
                raise _ApiError(
                    HTTPStatus.NOT_FOUND,
                    "UnknownOperationException",
                    f"{self.path}: only Converse, InvokeModel and ApplyGuardrail are implemented by the local stand-in",
                )
            try:
                body = json.loads(raw or b"{}")
            except json.JSONDecodeError as error:
                raise _ApiError(HTTPStatus.BAD_REQUEST, "ValidationException", f"invalid JSON: {error}") from None
            if not isinstance(body, dict):
                raise _ApiError(HTTPStatus.BAD_REQUEST, "ValidationException", "the body must be a JSON object")
            if converse is not None:
                self._send(HTTPStatus.OK, self.owner.converse(unquote(converse.group("model")), body), stand_in=LABEL)
            elif invoke is not None:
                answer = self.owner.invoke_model(unquote(invoke.group("model")), body)
                self._send(HTTPStatus.OK, answer, stand_in=EMBEDDING_STAND_IN)
            elif apply is not None:
                answer = self.owner.apply_guardrail(unquote(apply.group("guardrail")), apply.group("version"), body)
                grounded = "contextualGroundingPolicy" in (answer["assessments"] or [{}])[0]
                self._send(HTTPStatus.OK, answer, stand_in=GROUNDING_STAND_IN if grounded else GUARDRAIL_STAND_IN)
        except _ApiError as error:
            self._send(error.status, {"message": error.message}, error.code)

    def do_GET(self) -> None:
        """No GET operation is implemented."""
        self._send(
            HTTPStatus.NOT_FOUND,
            {"message": "only Converse, InvokeModel and ApplyGuardrail (POST) are implemented by the local stand-in"},
            "UnknownOperationException",
        )


def main(argv: Sequence[str] | None = None) -> int:
    """Serve until Ctrl-C or ``--lifetime`` seconds; print the variable to export."""
    parser = argparse.ArgumentParser(prog="python -m emulator.fake_bedrock", description=__doc__.split("\n")[0])
    parser.add_argument("--deny", action="append", default=None, help="word the guardrail blocks (repeatable)")
    parser.add_argument("--throttle-word", default=None, help="word that triggers ThrottlingException")
    parser.add_argument("--lifetime", type=float, default=3600.0, help="stop after this many seconds")
    parser.add_argument("--region", default="us-east-1", help="the Region whose model lifecycle and routing apply")
    args = parser.parse_args(argv)
    fake = FakeBedrock(
        denied_words=tuple(args.deny or ("forbidden",)),
        throttle_word=args.throttle_word,
        region=args.region,
        lifetime_seconds=args.lifetime,
    )
    with fake:
        print(f"# local stand-in for bedrock-runtime Converse (not a model); stops after {args.lifetime:g} s")
        print(f"export AWS_ENDPOINT_URL_BEDROCK_RUNTIME={fake.endpoint_url}", flush=True)
        with contextlib.suppress(KeyboardInterrupt):
            fake.stopped.wait()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
