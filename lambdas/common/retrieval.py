"""Retrieval from a Bedrock knowledge base for a prompt version that declares it (issue #16).

Shared by the catalog (validates a version's ``retrieval`` block before storing it), the gateway
(retrieves, fills the context variable, cites) and the evaluator (scores what was retrieved), so all three
apply the same rules. A version's block, as stored::

    {"knowledgeBase": "product-docs", "topK": 5, "contextVariable": "context",
     "queryVariable": "question", "filter": {<Retrieve's RetrievalFilter>}}

* ``knowledgeBase`` is a logical name: a key of the ``KNOWLEDGE_BASES`` environment variable
  (``{"<name>": "<knowledgeBaseId>"}``) the stack sets on the catalog, gateway and evaluator.
* ``contextVariable`` is a declared template variable used exactly once; the gateway fills it with the
  numbered passages, callers may not.
* ``queryVariable`` is the variable whose value is the retrieval query (and the guardrail's grounding
  query); optional when the template has exactly one other variable (then that one is stored).
* ``filter`` follows the Retrieve API's ``RetrievalFilter`` grammar, bounded here (depth, list sizes,
  key and value sizes, no control or format characters in keys) because it comes from a prompt author.

Retrieve is called as on AWS: ``bedrock-agent-runtime`` ``retrieve(knowledgeBaseId, retrievalQuery={text},
retrievalConfiguration={vectorSearchConfiguration: {numberOfResults, filter?}})``.
"""

from __future__ import annotations

import math
import re
import time
import unicodedata
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from botocore.exceptions import BotoCoreError, ClientError
from common.errors import ValidationError
from common.settings import EnvSettings

KB_NAME_RE = re.compile(r"^[a-z0-9-]{1,40}\Z")
KB_ID_RE = re.compile(
    r"^[0-9a-zA-Z]{10}\Z|^arn:aws(-[^:]+)?:bedrock:[a-z0-9-]{1,20}:[0-9]{12}:knowledge-base/[0-9a-zA-Z]{10}\Z"
)
MAX_KNOWLEDGE_BASES = 50
MIN_TOP_K = 1
MAX_TOP_K = 100  # Retrieve's numberOfResults range
RETRIEVAL_FIELDS = frozenset({"knowledgeBase", "topK", "contextVariable", "queryVariable", "filter"})
# RetrievalFilter grammar (Retrieve API): andAll/orAll take 2+ filters; the rest one {key, value}.
LIST_OPERATORS = frozenset({"andAll", "orAll"})
ATTRIBUTE_OPERATORS = frozenset(
    {
        "equals",
        "notEquals",
        "greaterThan",
        "greaterThanOrEquals",
        "lessThan",
        "lessThanOrEquals",
        "in",
        "notIn",
        "startsWith",
        "listContains",
        "stringContains",
    }
)
_NUMERIC_OPERATORS = frozenset({"greaterThan", "greaterThanOrEquals", "lessThan", "lessThanOrEquals"})
_STRING_OPERATORS = frozenset({"startsWith", "stringContains"})
_LIST_VALUE_OPERATORS = frozenset({"in", "notIn"})
# Bounds of our own (the API documents only the 2-item minimum and the 100-character key): a filter is a
# prompt author's input stored in every alias copy, so its size and nesting are capped.
MAX_FILTER_DEPTH = 5
MAX_FILTER_LIST = 10
MAX_FILTER_NODES = 50
MAX_FILTER_VALUES = 100
MAX_FILTER_KEY_CHARS = 100
MAX_FILTER_STRING_CHARS = 1000
# The guardrail's contextual grounding reads at most 100,000 characters of grounding source and 1,000
# of query (Bedrock Guardrails quotas): the context the gateway builds and the question stay within them.
MAX_CONTEXT_CHARS = 100_000
MAX_QUERY_CHARS = 1_000
MAX_EXCERPT_CHARS = 500
CHUNK_ID_KEY = "x-amz-bedrock-kb-chunk-id"


class RetrievalError(Exception):
    """Retrieve failed (the gateway answers 502); ``code`` is the service's error code."""

    def __init__(self, code: str, message: str) -> None:
        """Record the error ``code`` and message."""
        super().__init__(f"knowledge base retrieval failed: {code}: {message}")
        self.code = code


class AgentRuntimeClient(Protocol):
    """The subset of a boto3 ``bedrock-agent-runtime`` client this module calls."""

    def retrieve(self, **kwargs: Any) -> dict[str, Any]: ...


def knowledge_bases(settings: EnvSettings) -> dict[str, str]:
    """The ``KNOWLEDGE_BASES`` variable, ``{"<name>": "<knowledgeBaseId>"}``, read and checked once per cold start
    by the functions that take it (catalog, gateway, evaluator); unset means no knowledge base (every retrieval
    is refused).

    Raises:
        Exception: the function's configuration error (``settings.fail``), naming the variable and the fault.
    """
    value = settings.json("KNOWLEDGE_BASES", default={})
    if not isinstance(value, dict):
        raise settings.fail('KNOWLEDGE_BASES must be a JSON object {"<name>": "<knowledgeBaseId>"}')
    if len(value) > MAX_KNOWLEDGE_BASES:
        raise settings.fail(f"KNOWLEDGE_BASES names {len(value)} knowledge bases; at most {MAX_KNOWLEDGE_BASES}")
    for name, kb_id in value.items():
        if not KB_NAME_RE.match(name):
            raise settings.fail(f"KNOWLEDGE_BASES: name {name[:50]!r} is invalid ([a-z0-9-]{{1,40}})")
        if not isinstance(kb_id, str) or not KB_ID_RE.match(kb_id):
            raise settings.fail(
                f"KNOWLEDGE_BASES: {name!r} maps to {str(kb_id)[:80]!r}, "
                "not a knowledge base id (10 letters/digits or ARN)"
            )
    return dict(value)


@dataclass(frozen=True)
class RetrievalSpec:
    """A validated ``retrieval`` block of a prompt version."""

    knowledge_base: str
    top_k: int
    context_variable: str
    query_variable: str
    filter: dict[str, Any] | None = None

    def to_dict(self) -> dict[str, Any]:
        """The stored / JSON form (the contract's camelCase keys)."""
        out: dict[str, Any] = {
            "knowledgeBase": self.knowledge_base,
            "topK": self.top_k,
            "contextVariable": self.context_variable,
            "queryVariable": self.query_variable,
        }
        if self.filter is not None:
            out["filter"] = self.filter
        return out

    @classmethod
    def from_stored(cls, raw: Mapping[str, Any] | None) -> RetrievalSpec | None:
        """From a deserialized item map (numbers as Decimal); ``None`` for a version without retrieval."""
        if not raw:
            return None
        stored_filter = raw.get("filter")
        return cls(
            knowledge_base=str(raw["knowledgeBase"]),
            top_k=int(raw["topK"]),
            context_variable=str(raw["contextVariable"]),
            query_variable=str(raw["queryVariable"]),
            filter=_undecimal(stored_filter) if stored_filter is not None else None,
        )

    def retrieve_request(self, knowledge_base_id: str, query: str) -> dict[str, Any]:
        """The ``retrieve`` parameters for ``query``."""
        vector: dict[str, Any] = {"numberOfResults": self.top_k}
        if self.filter is not None:
            vector["filter"] = self.filter
        return {
            "knowledgeBaseId": knowledge_base_id,
            "retrievalQuery": {"text": query},
            "retrievalConfiguration": {"vectorSearchConfiguration": vector},
        }


def _undecimal(value: Any) -> Any:
    # DynamoDB returns numbers as Decimal; Retrieve's filter values are JSON numbers.
    if isinstance(value, Mapping):
        return {k: _undecimal(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_undecimal(v) for v in value]
    if isinstance(value, bool) or value is None or isinstance(value, str):
        return value
    if isinstance(value, int):
        return value
    try:
        as_int = int(value)
    except (TypeError, ValueError, OverflowError):
        return value
    return as_int if as_int == value else float(value)


def _shown(value: object, limit: int = 40) -> str:
    text = repr(value)
    return text if len(text) <= limit else f"{text[:limit]}... ({len(text)} characters)"


def _check_key(where: str, raw: object) -> str:
    if not isinstance(raw, str):
        raise ValidationError(f"{where}.key: must be a string, got {type(raw).__name__}")
    if not 1 <= len(raw) <= MAX_FILTER_KEY_CHARS:
        raise ValidationError(f"{where}.key: must be 1 to {MAX_FILTER_KEY_CHARS} characters, got {len(raw)}")
    for char in raw:
        # Control (Cc), format (Cf: zero-width, bidi overrides), surrogate, private-use and unassigned
        # characters make a key that looks like another one; metadata keys never need them.
        if unicodedata.category(char).startswith("C") or (char.isspace() and char != " "):
            raise ValidationError(
                f"{where}.key: contains the character U+{ord(char):04X} ({unicodedata.category(char)}); "
                "metadata keys are printable text"
            )
    if raw != raw.strip():
        raise ValidationError(f"{where}.key: {_shown(raw)} has leading or trailing spaces")
    return raw


def _check_scalar(where: str, value: object, *, numbers: bool, strings: bool, booleans: bool) -> None:
    if isinstance(value, bool):
        if not booleans:
            raise ValidationError(f"{where}: must not be a boolean")
        return
    if isinstance(value, int | float):
        if not numbers:
            raise ValidationError(f"{where}: must be a string, got a number")
        if isinstance(value, float) and not math.isfinite(value):
            raise ValidationError(f"{where}: must be a finite number")
        if isinstance(value, int) and value.bit_length() > 63:
            raise ValidationError(f"{where}: number out of range (at most 64-bit)")
        return
    if isinstance(value, str):
        if not strings:
            raise ValidationError(f"{where}: must be a number, got a string")
        if len(value) > MAX_FILTER_STRING_CHARS:
            raise ValidationError(f"{where}: at most {MAX_FILTER_STRING_CHARS} characters, got {len(value)}")
        return
    kind = "null" if value is None else type(value).__name__
    raise ValidationError(f"{where}: must be a string, number or boolean, got {kind}")


def _check_attribute(where: str, operator: str, raw: object) -> dict[str, Any]:
    if not isinstance(raw, dict):
        raise ValidationError(f"{where}: must be an object {{key, value}}")
    unknown = set(raw) - {"key", "value"}
    if unknown or "value" not in raw or "key" not in raw:
        raise ValidationError(f"{where}: must have exactly the fields 'key' and 'value'")
    key = _check_key(where, raw["key"])
    value = raw["value"]
    if operator in _LIST_VALUE_OPERATORS:
        if not isinstance(value, list) or not value:
            raise ValidationError(f"{where}.value: must be a non-empty array for {operator!r}")
        if len(value) > MAX_FILTER_VALUES:
            raise ValidationError(f"{where}.value: at most {MAX_FILTER_VALUES} values, got {len(value)}")
        for index, item in enumerate(value):
            _check_scalar(f"{where}.value[{index}]", item, numbers=True, strings=True, booleans=False)
        if len({isinstance(item, str) for item in value}) > 1:
            raise ValidationError(f"{where}.value: mixes strings and numbers")
    elif operator in _NUMERIC_OPERATORS:
        _check_scalar(f"{where}.value", value, numbers=True, strings=False, booleans=False)
    elif operator in _STRING_OPERATORS:
        _check_scalar(f"{where}.value", value, numbers=False, strings=True, booleans=False)
    else:  # equals, notEquals, listContains
        _check_scalar(f"{where}.value", value, numbers=True, strings=True, booleans=operator != "listContains")
    return {"key": key, "value": value}


def validate_filter(raw: object, where: str = "retrieval.filter") -> dict[str, Any]:
    """A ``RetrievalFilter`` checked against the API's grammar and this module's bounds.

    Raises:
        ValidationError: naming the path of the offending node.
    """
    nodes = 0

    def walk(node: object, path: str, depth: int) -> dict[str, Any]:
        nonlocal nodes
        nodes += 1
        if nodes > MAX_FILTER_NODES:
            raise ValidationError(f"{where}: more than {MAX_FILTER_NODES} filter nodes")
        if depth > MAX_FILTER_DEPTH:
            raise ValidationError(f"{path}: nested deeper than {MAX_FILTER_DEPTH} levels")
        if not isinstance(node, dict):
            raise ValidationError(f"{path}: must be an object with one operator, got {type(node).__name__}")
        if len(node) != 1:
            raise ValidationError(
                f"{path}: must have exactly one operator (RetrievalFilter is a union), got {len(node)}"
            )
        ((operator, value),) = node.items()
        if operator in LIST_OPERATORS:
            if not isinstance(value, list) or not 2 <= len(value) <= MAX_FILTER_LIST:
                count = len(value) if isinstance(value, list) else type(value).__name__
                raise ValidationError(
                    f"{path}.{operator}: must be an array of 2 to {MAX_FILTER_LIST} filters, got {count}"
                )
            return {operator: [walk(child, f"{path}.{operator}[{i}]", depth + 1) for i, child in enumerate(value)]}
        if operator in ATTRIBUTE_OPERATORS:
            return {operator: _check_attribute(f"{path}.{operator}", operator, value)}
        allowed = sorted(LIST_OPERATORS | ATTRIBUTE_OPERATORS)
        raise ValidationError(f"{path}: unknown operator {_shown(operator)}; allowed: {allowed}")

    return walk(raw, where, 1)


def validate_retrieval(
    raw: object, *, template_variables: Sequence[str], template: str, knowledge_bases: Mapping[str, str]
) -> RetrievalSpec:
    """A version's ``retrieval`` block, checked against its template and the configured knowledge bases.

    Raises:
        ValidationError: naming the field at fault (unknown knowledge base included).
    """
    if not isinstance(raw, dict):
        raise ValidationError(f"retrieval: must be an object, got {type(raw).__name__}")
    unknown = set(raw) - RETRIEVAL_FIELDS
    if unknown:
        raise ValidationError(
            f"retrieval: unknown fields {sorted(map(str, unknown))[:10]}; allowed: {sorted(RETRIEVAL_FIELDS)}"
        )
    name = raw.get("knowledgeBase")
    if not isinstance(name, str) or not name:
        raise ValidationError("retrieval.knowledgeBase: required, the name of a configured knowledge base")
    if name not in knowledge_bases:
        configured = sorted(knowledge_bases) or "none (knowledge base disabled)"
        raise ValidationError(
            f"retrieval.knowledgeBase: unknown knowledge base {_shown(name)}; configured: {configured}"
        )
    top_k = raw.get("topK", 5)
    if isinstance(top_k, bool) or not isinstance(top_k, int) or not MIN_TOP_K <= top_k <= MAX_TOP_K:
        shown = _shown(top_k) if not isinstance(top_k, int) or top_k.bit_length() < 64 else "a larger number"
        raise ValidationError(f"retrieval.topK: must be an integer from {MIN_TOP_K} to {MAX_TOP_K}, got {shown}")
    declared = list(template_variables)
    context_variable = raw.get("contextVariable")
    if not isinstance(context_variable, str) or context_variable not in declared:
        raise ValidationError(
            f"retrieval.contextVariable: {_shown(context_variable)} is not a declared template variable; "
            f"declared: {declared}"
        )
    uses = sum(1 for n in _placeholder_names(template) if n == context_variable)
    if uses != 1:
        raise ValidationError(
            f"retrieval.contextVariable: {context_variable!r} is used {uses} times in the template; "
            "it must be used exactly once (the passages are sent once, as the grounding source)"
        )
    others = [v for v in declared if v != context_variable]
    query_variable = raw.get("queryVariable")
    if query_variable is None:
        if len(others) != 1:
            raise ValidationError(
                "retrieval.queryVariable: required when the template has other than exactly one variable "
                f"besides the context variable (it has {others}): name the one holding the question"
            )
        query_variable = others[0]
    if not isinstance(query_variable, str) or query_variable not in others:
        raise ValidationError(
            f"retrieval.queryVariable: {_shown(query_variable)} must be a declared variable other than the "
            f"context variable; candidates: {others}"
        )
    filter_raw = raw.get("filter")
    checked = validate_filter(filter_raw) if filter_raw is not None else None
    return RetrievalSpec(name, top_k, context_variable, query_variable, checked)


_BRACES_RE = re.compile(r"\{\{(.*?)\}\}")


def _placeholder_names(template: str) -> list[str]:
    return [m.group(1).strip() for m in _BRACES_RE.finditer(template)]


@dataclass(frozen=True)
class Chunk:
    """One retrieved passage, numbered in the order Retrieve ranked it."""

    n: int
    document_uri: str
    chunk_id: str | None
    score: float | None
    text: str

    def citation(self) -> dict[str, Any]:
        """The answer's citation entry (the text is an excerpt)."""
        excerpt = self.text if len(self.text) <= MAX_EXCERPT_CHARS else self.text[: MAX_EXCERPT_CHARS - 1] + "…"
        return {
            "n": self.n,
            "documentUri": self.document_uri,
            "chunkId": self.chunk_id,
            "score": self.score,
            "text": excerpt,
        }


@dataclass(frozen=True)
class Retrieved:
    """What one retrieval returned, and the context built from it."""

    knowledge_base: str
    chunks: tuple[Chunk, ...]
    context: str
    latency_ms: float
    truncated: int

    @property
    def empty(self) -> bool:
        """True when nothing usable came back (the model must not be called)."""
        return not self.chunks

    def citations(self) -> list[dict[str, Any]]:
        """The citation entries of the chunks in the context."""
        return [chunk.citation() for chunk in self.chunks]

    def summary(self) -> dict[str, Any]:
        """The answer's ``retrieval`` object."""
        return {
            "status": "empty" if self.empty else "ok",
            "knowledgeBase": self.knowledge_base,
            "chunks": len(self.chunks),
            "latencyMs": self.latency_ms,
            "truncated": self.truncated,
        }


def _location_uri(result: Mapping[str, Any]) -> str:
    location = result.get("location") or {}
    for value in location.values():
        if isinstance(value, dict):
            for field in ("uri", "url", "id", "s3Uri"):
                if isinstance(value.get(field), str):
                    return str(value[field])
    document_id = result.get("documentId")
    return str(document_id) if isinstance(document_id, str) else "unknown"


def chunks_from_response(response: Mapping[str, Any], *, max_chars: int = MAX_CONTEXT_CHARS) -> tuple[list[Chunk], int]:
    """Text chunks of a Retrieve response, numbered from 1, within ``max_chars`` of formatted context.

    Returns the chunks kept and how many were left out (no text, or over the budget).
    """
    kept: list[Chunk] = []
    dropped = 0
    used = 0
    for result in response.get("retrievalResults", []):
        text = (result.get("content") or {}).get("text")
        if not isinstance(text, str) or not text.strip():
            dropped += 1
            continue
        metadata = result.get("metadata") or {}
        chunk_id = metadata.get(CHUNK_ID_KEY)
        score = result.get("score")
        chunk = Chunk(
            n=len(kept) + 1,
            document_uri=_location_uri(result),
            chunk_id=str(chunk_id) if chunk_id is not None else None,
            score=float(score) if isinstance(score, int | float) else None,
            text=text,
        )
        size = len(format_chunk(chunk)) + 2
        if used + size > max_chars:
            dropped += 1
            continue
        used += size
        kept.append(chunk)
    return kept, dropped


def format_chunk(chunk: Chunk) -> str:
    """One numbered passage as the model reads it (the number is what the answer cites)."""
    return f"[{chunk.n}] (source: {chunk.document_uri})\n{chunk.text}"


def format_context(chunks: Sequence[Chunk]) -> str:
    """The context variable's value: the numbered passages, separated by blank lines."""
    return "\n\n".join(format_chunk(c) for c in chunks)


def retrieve(
    client: AgentRuntimeClient,
    spec: RetrievalSpec,
    knowledge_base_id: str,
    query: str,
    *,
    timer: Callable[[], float] = time.perf_counter,
) -> Retrieved:
    """Call Retrieve for ``query`` and build the numbered context.

    Raises:
        RetrievalError: the call failed (service error code, or the connection error's class name).
    """
    started = timer()
    try:
        response = client.retrieve(**spec.retrieve_request(knowledge_base_id, query))
    except ClientError as error:
        details = error.response.get("Error", {})
        raise RetrievalError(details.get("Code", "Unknown"), details.get("Message", str(error))) from error
    except BotoCoreError as error:
        raise RetrievalError(type(error).__name__, str(error)) from error
    latency_ms = round((timer() - started) * 1000, 1)
    chunks, dropped = chunks_from_response(response)
    return Retrieved(spec.knowledge_base, tuple(chunks), format_context(chunks), latency_ms, dropped)


def segments(template: str, values: Mapping[str, str], spec: RetrievalSpec) -> list[tuple[str, str]]:
    """The rendered prompt cut into ``(qualifier, text)`` pieces for Converse ``guardContent`` blocks.

    The context variable's value is the guardrail's ``grounding_source``, the query variable's first use
    its ``query``, the rest ``guard_content`` (still evaluated by the guardrail's filters). In order, the
    pieces are exactly the rendered prompt, so the model reads the same text, and nothing is sent twice.
    """
    out: list[tuple[str, str]] = []
    query_used = False

    def add(kind: str, text: str) -> None:
        if not text:
            return
        if out and out[-1][0] == kind:
            out[-1] = (kind, out[-1][1] + text)
        else:
            out.append((kind, text))

    position = 0
    for match in _BRACES_RE.finditer(template):
        add("guard_content", template[position : match.start()])
        name = match.group(1).strip()
        if name == spec.context_variable:
            add("grounding_source", values[name])
        elif name == spec.query_variable and not query_used:
            query_used = True
            add("query", values[name])
        else:
            add("guard_content", values[name])
        position = match.end()
    add("guard_content", template[position:])
    return out
