"""A local stand-in for Amazon Bedrock Runtime's Converse API, for offline end-to-end runs.

moto answers ``bedrock-runtime`` Converse with HTTP 500, so the gateway cannot be exercised end to end
against it. This server speaks just enough of the real wire format (REST-JSON,
``POST /model/{modelId}/converse``) for an unmodified boto3 client to call it::

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
  word (whole word, case-insensitive), the "model" is not invoked: ``stopReason`` is
  ``guardrail_intervened``, the text is a canned refusal, usage is zero, and with ``trace: enabled``
  the trace names the matched word, in Bedrock's trace shape;
* ``throttle_word`` in the text answers HTTP 429 ``ThrottlingException`` (to exercise error paths);
* every request is recorded in :attr:`FakeBedrock.requests` for assertions.

Not implemented: streaming, tools, images, InvokeModel, ApplyGuardrail, authentication (any signature
is accepted). It listens on 127.0.0.1 only, on a free port, in a daemon thread; it stops when the
``with`` block ends, when ``lifetime_seconds`` pass, or with the process.

Command line (prints the variable to export, serves until Ctrl-C or ``--lifetime``)::

    python -m emulator.fake_bedrock --deny forbidden --lifetime 600
"""

from __future__ import annotations

import argparse
import contextlib
import json
import re
import uuid
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler
from typing import Any
from urllib.parse import unquote

from emulator.loopback import LoopbackService

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


def _texts(blocks: Iterable[Any]) -> list[str]:
    return [block["text"] for block in blocks if isinstance(block, dict) and isinstance(block.get("text"), str)]


def _words(text: str) -> int:
    return len(text.split())


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
        lifetime_seconds: float | None = 600.0,
    ) -> None:
        """Configure the stand-in.

        Args:
            denied_words: words the simulated guardrail blocks (only when ``guardrailConfig`` is sent).
            throttle_word: a word that makes the call fail with ``ThrottlingException`` (HTTP 429).
            models: if given, other model ids get ``ValidationException`` like an unknown model would.
            lifetime_seconds: stop by itself after this long (``None``: only on :meth:`stop`).
        """
        self.denied_words = tuple(w.lower() for w in denied_words)
        self.throttle_word = throttle_word.lower() if throttle_word else None
        self.models = frozenset(models) if models is not None else None
        super().__init__(lifetime_seconds=lifetime_seconds)
        self.requests: list[RecordedRequest] = []

    # ----------------------------------------------------------------------------------- lifecycle

    def _handler_class(self) -> type[BaseHTTPRequestHandler]:
        return _Handler

    # ------------------------------------------------------------------------------------ behaviour

    def _matches(self, word: str, text: str) -> bool:
        return re.search(rf"(?<!\w){re.escape(word)}(?!\w)", text, flags=re.IGNORECASE) is not None

    def converse(self, model_id: str, body: dict[str, Any]) -> dict[str, Any]:
        """The Converse response for ``body`` (raises :class:`_ApiError` for error responses)."""
        self.requests.append(RecordedRequest(model_id, body))
        if self.models is not None and model_id not in self.models:
            raise _ApiError(HTTPStatus.BAD_REQUEST, "ValidationException", "The provided model identifier is invalid.")
        messages = body.get("messages")
        if not isinstance(messages, list) or not messages:
            raise _ApiError(HTTPStatus.BAD_REQUEST, "ValidationException", "messages: at least one message is required")
        system = _texts(body.get("system") or [])
        all_texts = system + [t for m in messages if isinstance(m, dict) for t in _texts(m.get("content") or [])]
        user_turns = [m for m in messages if isinstance(m, dict) and m.get("role") == "user"]
        question = " ".join(_texts(user_turns[-1].get("content") or [])) if user_turns else ""
        joined = "\n".join(all_texts)
        if self.throttle_word and self._matches(self.throttle_word, joined):
            raise _ApiError(
                HTTPStatus.TOO_MANY_REQUESTS,
                "ThrottlingException",
                "Too many requests, please wait before trying again.",
            )
        guardrail = body.get("guardrailConfig")
        if isinstance(guardrail, dict):
            hit = next((w for w in self.denied_words if self._matches(w, joined)), None)
            if hit is not None:
                return self._blocked(guardrail, hit)
        if JUDGE_MARKER in question:
            reply = judge_answer()
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

    def _blocked(self, guardrail: dict[str, Any], word: str) -> dict[str, Any]:
        response: dict[str, Any] = {
            "output": {"message": {"role": "assistant", "content": [{"text": BLOCKED_MESSAGE}]}},
            "stopReason": "guardrail_intervened",
            # The input was blocked before any model ran, so nothing was generated.
            "usage": {"inputTokens": 0, "outputTokens": 0, "totalTokens": 0},
            "metrics": {"latencyMs": 1},
        }
        if guardrail.get("trace") in ("enabled", "enabled_full"):
            guardrail_id = str(guardrail.get("guardrailIdentifier", "guardrail"))
            response["trace"] = {
                "guardrail": {
                    "inputAssessment": {
                        guardrail_id: {"wordPolicy": {"customWords": [{"match": word, "action": "BLOCKED"}]}}
                    }
                }
            }
        return response


class _Handler(BaseHTTPRequestHandler):
    owner: FakeBedrock
    protocol_version = "HTTP/1.1"  # keep-alive: boto3 reuses its connection

    def log_message(self, format: str, *args: Any) -> None:
        """Silence the per-request access log."""

    def _send(self, status: HTTPStatus, payload: dict[str, Any], error_code: str | None = None) -> None:
        data = json.dumps(payload).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.send_header("x-amzn-RequestId", str(uuid.uuid4()))
        if error_code:
            # botocore's REST-JSON parser reads the error code from this header.
            self.send_header("x-amzn-ErrorType", error_code)
        self.end_headers()
        self.wfile.write(data)

    def do_POST(self) -> None:
        """Serve Converse; anything else is an unknown operation."""
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length) if length else b""
        match = _CONVERSE_PATH.match(self.path.split("?", 1)[0])
        try:
            if match is None:
                raise _ApiError(
                    HTTPStatus.NOT_FOUND,
                    "UnknownOperationException",
                    f"{self.path}: only POST /model/{{modelId}}/converse is implemented by the local stand-in",
                )
            try:
                body = json.loads(raw or b"{}")
            except json.JSONDecodeError as error:
                raise _ApiError(HTTPStatus.BAD_REQUEST, "ValidationException", f"invalid JSON: {error}") from None
            if not isinstance(body, dict):
                raise _ApiError(HTTPStatus.BAD_REQUEST, "ValidationException", "the body must be a JSON object")
            self._send(HTTPStatus.OK, self.owner.converse(unquote(match.group("model")), body))
        except _ApiError as error:
            self._send(error.status, {"message": error.message}, error.code)

    def do_GET(self) -> None:
        """No GET operation is implemented."""
        self._send(
            HTTPStatus.NOT_FOUND,
            {"message": "only POST /model/{modelId}/converse is implemented by the local stand-in"},
            "UnknownOperationException",
        )


def main(argv: Sequence[str] | None = None) -> int:
    """Serve until Ctrl-C or ``--lifetime`` seconds; print the variable to export."""
    parser = argparse.ArgumentParser(prog="python -m emulator.fake_bedrock", description=__doc__.split("\n")[0])
    parser.add_argument("--deny", action="append", default=None, help="word the guardrail blocks (repeatable)")
    parser.add_argument("--throttle-word", default=None, help="word that triggers ThrottlingException")
    parser.add_argument("--lifetime", type=float, default=3600.0, help="stop after this many seconds")
    args = parser.parse_args(argv)
    fake = FakeBedrock(
        denied_words=tuple(args.deny or ("forbidden",)),
        throttle_word=args.throttle_word,
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
