"""Check what the user filled in, call the LLM gateway function, and read its answer.

The gateway (``lambdas/llm_gateway``) is invoked directly (``lambda:InvokeFunction``) with
``{"prompt", "alias", "variables", "team"}``; it answers ``{"statusCode": 200, "text", "usage", "cost_usd",
"latency_ms", "stop_reason", "guardrail_intervened", ...}`` or ``{"statusCode": 4xx/5xx, "error"}``. Every way
this can go wrong becomes a :class:`~playground.errors.PlaygroundError` with one sentence to show.
"""

from __future__ import annotations

import json
import math
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from botocore.exceptions import BotoCoreError, ClientError

from playground.errors import GatewayError, InputError, describe_aws_error

#: A generous bound per variable: the request must stay far below Lambda's 6 MB payload limit.
MAX_VARIABLE_CHARS = 20_000


class LambdaInvoker(Protocol):
    """The call this module makes on a boto3 ``lambda`` client."""

    def invoke(self, **kwargs: Any) -> dict[str, Any]: ...


@dataclass(frozen=True)
class Answer:
    """The model's answer through the gateway, and what the call cost."""

    prompt: str
    alias: str
    version: int
    model_id: str
    text: str
    input_tokens: int
    output_tokens: int
    cost_usd: float
    #: the gateway's own measurement of the model call
    latency_ms: float
    #: what the playground measured around the whole invocation (network, Lambda, model)
    round_trip_ms: float
    stop_reason: str
    guardrail_intervened: bool
    #: the passages the answer is grounded in (a prompt version that retrieves), numbered as the answer cites
    citations: tuple[Citation, ...] = ()
    #: ``None`` (no retrieval), ``"ok"``, or ``"empty"``: nothing was found and the model was not called
    retrieval_status: str | None = None


@dataclass(frozen=True)
class Citation:
    """One retrieved passage an answer may cite as ``[n]``."""

    n: int
    document_uri: str
    chunk_id: str | None
    score: float | None
    text: str


def citation_lines(answer: Answer) -> list[str]:
    """One Markdown line per cited passage: ``[n]`` as the answer cites it, the document, chunk and score.

    Document URIs and excerpts come from the documents, so Markdown in them is escaped (a document must
    not be able to put a link or an image on the page).
    """
    lines = []
    for citation in answer.citations:
        score = "n/a" if citation.score is None else f"{citation.score:.2f}"
        chunk = f" · chunk `{_code(citation.chunk_id)}`" if citation.chunk_id else ""
        lines.append(
            f"[{citation.n}] `{_code(citation.document_uri)}`{chunk} · score {score}  \n> {_escape(citation.text)}"
        )
    return lines


def _code(text: str) -> str:
    return text.replace("`", "'").replace("\n", " ")


def _escape(text: str) -> str:
    special = "\\`*_{}[]()#+-.!|<>"
    flat = " ".join(text.split())
    return "".join("\\" + c if c in special else c for c in flat)


def check_variables(declared: Sequence[str], values: Mapping[str, str]) -> dict[str, str]:
    """The values to send for the ``declared`` variables.

    Raises:
        InputError: naming every variable left empty (blank counts as empty) or too long.
    """
    empty = [name for name in declared if not str(values.get(name, "")).strip()]
    if empty:
        names = ", ".join(f"'{name}'" for name in empty)
        noun = "variable" if len(empty) == 1 else "variables"
        raise InputError(f"Fill in the {noun} {names} before sending: the prompt needs a value for each.")
    too_long = [name for name in declared if len(values[name]) > MAX_VARIABLE_CHARS]
    if too_long:
        raise InputError(
            f"The variable '{too_long[0]}' is {len(values[too_long[0]]):,} characters long; "
            f"the playground sends at most {MAX_VARIABLE_CHARS:,} per variable."
        )
    return {name: values[name] for name in declared}


class GatewayClient:
    """Calls one gateway function with ``lambda:InvokeFunction``."""

    def __init__(
        self, client: LambdaInvoker, function_name: str, *, timer: Callable[[], float] = time.perf_counter
    ) -> None:
        """Invoke ``function_name`` (name or ARN) through ``client`` (a boto3 ``lambda`` client)."""
        self._client = client
        self._function = function_name
        self._timer = timer

    def ask(self, *, prompt: str, alias: str, variables: Mapping[str, str], team: str) -> Answer:
        """Send one request and return the answer.

        Raises:
            InputError: no prompt or alias chosen.
            GatewayError: the invocation failed, the gateway refused the request, or the model call failed.
        """
        if not prompt or not alias:
            raise InputError("Choose a prompt and an alias before sending.")
        request = {"prompt": prompt, "alias": alias, "variables": dict(variables), "team": team}
        started = self._timer()
        try:
            response = self._client.invoke(
                FunctionName=self._function,
                InvocationType="RequestResponse",
                Payload=json.dumps(request).encode("utf-8"),
            )
            raw = response["Payload"].read()
        except (BotoCoreError, ClientError) as error:
            raise GatewayError(describe_aws_error(error, f"call the gateway function {self._function}")) from None
        round_trip_ms = (self._timer() - started) * 1000.0
        try:
            payload = json.loads(raw or b"null")
        except (json.JSONDecodeError, UnicodeDecodeError):
            raise GatewayError("The gateway answered with something that is not JSON; see its log.") from None
        if response.get("FunctionError"):
            # An unhandled error in the function: Lambda's payload holds the type and message (and a stack
            # trace, which belongs in the function's log, not on this page).
            kind = payload.get("errorType", "error") if isinstance(payload, dict) else "error"
            message = payload.get("errorMessage", "") if isinstance(payload, dict) else ""
            raise GatewayError(f"The gateway function failed ({kind}: {_sentence(message)}); see its log.")
        return _answer(payload, round_trip_ms)


def _sentence(text: object, limit: int = 300) -> str:
    """First line of ``text``, bounded, without a trailing period (the caller ends the sentence)."""
    line = str(text).strip().splitlines()[0] if str(text).strip() else "no message"
    return (line[:limit] + " ...") if len(line) > limit else line.rstrip(".")


def _citations(raw: object) -> tuple[Citation, ...]:
    if raw is None:
        return ()
    if not isinstance(raw, list):
        raise TypeError("citations is not a list")
    out = []
    for entry in raw:
        if not isinstance(entry, dict):
            raise TypeError("a citation is not an object")
        score = entry.get("score")
        chunk = entry.get("chunkId")
        out.append(
            Citation(
                n=int(entry["n"]),
                document_uri=str(entry["documentUri"]),
                chunk_id=None if chunk is None else str(chunk),
                score=None if score is None else float(score),
                text=str(entry.get("text", "")),
            )
        )
    return tuple(out)


def _retrieval_status(raw: object) -> str | None:
    if raw is None:
        return None
    if not isinstance(raw, dict):
        raise TypeError("retrieval is not an object")
    return str(raw.get("status", ""))


def _answer(payload: object, round_trip_ms: float) -> Answer:
    if not isinstance(payload, dict) or not isinstance(payload.get("statusCode"), int):
        raise GatewayError("The gateway answered in an unexpected format (no statusCode); see its log.")
    status = payload["statusCode"]
    error = _sentence(payload.get("error", "no reason given"))
    if status in (400, 403, 404):
        raise GatewayError(f"The gateway refused the request (HTTP {status}): {error}.")
    if status == 502 and isinstance(payload.get("retrieval"), dict):
        raise GatewayError(f"The knowledge base retrieval failed (HTTP 502): {error}.")
    if status == 502:
        raise GatewayError(f"The model call failed (HTTP 502): {error}.")
    if status != 200:
        raise GatewayError(f"The gateway failed (HTTP {status}): {error}.")
    try:
        usage = payload.get("usage") or {}
        answer = Answer(
            prompt=str(payload["prompt"]),
            alias=str(payload["alias"]),
            version=int(payload["version"]),
            model_id=str(payload["model_id"]),
            # null when retrieval found nothing and the model was not called
            text="" if payload["text"] is None else str(payload["text"]),
            input_tokens=int(usage["inputTokens"]),
            output_tokens=int(usage["outputTokens"]),
            cost_usd=float(payload["cost_usd"]),
            latency_ms=float(payload["latency_ms"]),
            round_trip_ms=round_trip_ms,
            stop_reason=str(payload.get("stop_reason", "")),
            guardrail_intervened=bool(payload.get("guardrail_intervened", False)),
            citations=_citations(payload.get("citations")),
            retrieval_status=_retrieval_status(payload.get("retrieval")),
        )
    except (KeyError, TypeError, ValueError) as missing:
        raise GatewayError(
            f"The gateway's answer lacks a field the playground shows ({missing}); see its log."
        ) from None
    if not (math.isfinite(answer.cost_usd) and math.isfinite(answer.latency_ms)):
        raise GatewayError("The gateway's answer has a cost or latency that is not a number; see its log.")
    return answer
