"""LLM gateway logic: resolve a prompt alias, render it, call Bedrock Converse, account for the call.

Plain Python over injected boto3 clients (no Powertools): the handler parses the event, calls
:meth:`Gateway.resolve` then :meth:`Gateway.invoke`, and turns results and typed errors into responses
and metrics.

Hot path per request: one dictionary lookup in the alias cache (one eventually consistent GetItem on a
miss, see :func:`common.prompt_store.get_alias`), one template render, one Converse call.
"""

from __future__ import annotations

import dataclasses
import re
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, Protocol

from botocore.exceptions import BotoCoreError, ClientError
from common import retrieval, templating
from common.errors import NotFound, ValidationError
from common.prompt_store import ALIAS_RE, PROMPT_NAME_RE, AliasRecord, DynamoDBClient, get_alias
from common.settings import EnvSettings
from pricing import PriceTable, PricingError, check_allowed, check_priced

TEAM_RE = re.compile(r"^[a-z0-9][a-z0-9\-_]{0,63}\Z")
# What the guardrail's contextual grounding check reads (Bedrock Guardrails quotas): the reference text the
# answer must be grounded in, and the query the answer must be relevant to (here: the rendered prompt).
MAX_GROUNDING_SOURCE_CHARS = 100_000
MAX_GROUNDING_QUERY_CHARS = 1_000
DEFAULT_CACHE_SECONDS = 30.0
MAX_CACHE_SECONDS = 3600.0
GUARDRAIL_INTERVENED = "guardrail_intervened"
# Bedrock's guardrailVersion: a published version number, or the working draft.
GUARDRAIL_VERSION_RE = re.compile(r"DRAFT|[1-9][0-9]{0,7}")
_VERSION_SHAPE = "a guardrail version (DRAFT or 1-99999999)"


class ConfigError(Exception):
    """The gateway's environment is incomplete or invalid (HTTP 500); the message names the variable."""


class BedrockError(Exception):
    """Bedrock refused or failed the call (HTTP 502); ``code`` is Bedrock's error code."""

    def __init__(self, code: str, message: str) -> None:
        """Record Bedrock's error ``code`` and message."""
        super().__init__(f"Bedrock Converse failed: {code}: {message}")
        self.code = code


class BedrockRuntimeClient(Protocol):
    """The subset of a boto3 ``bedrock-runtime`` client the gateway calls."""

    def converse(self, **kwargs: Any) -> dict[str, Any]: ...


@dataclass(frozen=True)
class GatewayConfig:
    """Everything the gateway reads from its environment, validated once per execution environment."""

    table_name: str
    cache_seconds: float
    guardrail_id: str
    guardrail_version: str
    allowed_models: frozenset[str]
    prices: PriceTable
    # KNOWLEDGE_BASES: {name: knowledgeBaseId} of the knowledge bases retrieval prompts may name.
    knowledge_bases: Mapping[str, str] = dataclasses.field(default_factory=dict)

    @classmethod
    def from_env(cls, env: Mapping[str, str]) -> GatewayConfig:
        """Read ``TABLE_NAME``, ``PROMPT_CACHE_SECONDS``, ``GUARDRAIL_ID``, ``GUARDRAIL_VERSION``,
        ``ALLOWED_MODELS``, ``PRICE_TABLE_JSON`` and ``KNOWLEDGE_BASES`` with :mod:`common.settings`' rules.

        Raises:
            ConfigError: naming the variable that is missing or invalid.
        """
        settings = EnvSettings(env, error=ConfigError, context="gateway misconfigured")
        # The guardrail is mandatory: a gateway that silently skips it when unset would fail open.
        values = settings.require_all(
            "TABLE_NAME", "GUARDRAIL_ID", "GUARDRAIL_VERSION", "ALLOWED_MODELS", "PRICE_TABLE_JSON"
        )
        ttl = settings.number("PROMPT_CACHE_SECONDS", DEFAULT_CACHE_SECONDS, low=0, high=MAX_CACHE_SECONDS)
        allowed = frozenset(settings.names("ALLOWED_MODELS", required=True))
        prices_document = settings.json("PRICE_TABLE_JSON", required=True)
        try:
            prices = PriceTable.from_document(prices_document)
            check_priced(allowed, prices)
        except PricingError as error:
            raise settings.fail(str(error)) from None
        return cls(
            table_name=values["TABLE_NAME"],
            cache_seconds=ttl,
            guardrail_id=values["GUARDRAIL_ID"],
            guardrail_version=settings.text("GUARDRAIL_VERSION", "", pattern=GUARDRAIL_VERSION_RE, what=_VERSION_SHAPE),
            allowed_models=allowed,
            prices=prices,
            knowledge_bases=retrieval.knowledge_bases(settings),
        )


@dataclass(frozen=True)
class GatewayRequest:
    """A validated request: which prompt alias to call, with which variables, on behalf of which team.

    ``context`` (optional) is the reference text the answer must be grounded in (retrieved passages, the
    document to summarize): it is sent to the guardrail as the grounding source, so that its contextual
    grounding and relevance thresholds are applied to the answer.
    """

    prompt: str
    alias: str
    variables: dict[str, object]
    team: str
    context: str | None = None


def parse_request(payload: object) -> GatewayRequest:
    """Validate ``{"prompt", "alias", "variables", "team"}`` and the optional ``"context"``.

    Raises:
        ValidationError: naming the field that is missing, of the wrong type or malformed.
    """
    if not isinstance(payload, dict):
        raise ValidationError(f"request: must be a JSON object, got {type(payload).__name__}")
    allowed = {"prompt", "alias", "variables", "team", "context"}
    unknown = set(payload) - allowed
    if unknown:
        raise ValidationError(f"request: unknown fields {sorted(unknown)}; allowed: {sorted(allowed)}")
    values: dict[str, Any] = {}
    for field, pattern, hint in (
        ("prompt", PROMPT_NAME_RE, "1-64 lowercase letters, digits, '-' or '_'"),
        ("alias", ALIAS_RE, "1-32 lowercase letters, digits or '-', starting with a letter"),
        # The team becomes a metric dimension: the pattern bounds what a caller can put there.
        ("team", TEAM_RE, "1-64 lowercase letters, digits, '-' or '_'"),
    ):
        value = payload.get(field)
        if value is None:
            raise ValidationError(f"{field}: required")
        if not isinstance(value, str):
            raise ValidationError(f"{field}: must be a string, got {type(value).__name__}")
        if not pattern.match(value):
            raise ValidationError(f"{field}: {value!r} is invalid ({hint})")
        values[field] = value
    variables = payload.get("variables", {})
    if not isinstance(variables, dict):
        raise ValidationError(f"variables: must be an object, got {type(variables).__name__}")
    context = payload.get("context")
    if context is not None:
        if not isinstance(context, str):
            raise ValidationError(f"context: must be a string, got {type(context).__name__}")
        if not context.strip():
            raise ValidationError("context: must not be blank (leave it out for a request without a reference text)")
        if len(context) > MAX_GROUNDING_SOURCE_CHARS:
            raise ValidationError(
                f"context: {len(context)} characters; the guardrail's grounding check reads at most "
                f"{MAX_GROUNDING_SOURCE_CHARS}"
            )
    return GatewayRequest(values["prompt"], values["alias"], dict(variables), values["team"], context)


@dataclass(frozen=True)
class GatewayResult:
    """The model's answer and what the call cost."""

    prompt: str
    alias: str
    version: int
    model_id: str
    # None when retrieval found nothing: the model was not called (see ``retrieval``).
    text: str | None
    input_tokens: int
    output_tokens: int
    cost_usd: float
    latency_ms: float
    stop_reason: str
    guardrail_intervened: bool
    # Only for a version that retrieves: the answer's ``retrieval`` summary and its ``citations``.
    retrieved: retrieval.Retrieved | None = None

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready representation (``retrieval`` and ``citations`` only when the version retrieves)."""
        extra: dict[str, Any] = {}
        if self.retrieved is not None:
            extra = {"retrieval": self.retrieved.summary(), "citations": self.retrieved.citations()}
        return {
            "prompt": self.prompt,
            "alias": self.alias,
            "version": self.version,
            "model_id": self.model_id,
            "text": self.text,
            "usage": {"inputTokens": self.input_tokens, "outputTokens": self.output_tokens},
            "cost_usd": self.cost_usd,
            "latency_ms": self.latency_ms,
            "stop_reason": self.stop_reason,
            "guardrail_intervened": self.guardrail_intervened,
            **extra,
        }


class AliasCache:
    """Resolved aliases kept for ``ttl`` seconds (per execution environment, so per concurrent instance).

    Only hits are cached: a miss is an error path and caching it would delay a fresh promotion.
    """

    def __init__(self, ttl: float, clock: Callable[[], float] = time.monotonic) -> None:
        """``ttl`` 0 disables caching; ``clock`` is monotonic so wall-clock jumps cannot extend entries."""
        self._ttl = ttl
        self._clock = clock
        self._entries: dict[tuple[str, str], tuple[float, AliasRecord]] = {}
        # Lambda runs one request at a time per environment; the lock only matters to threaded callers
        # (the benchmark, local tools), and is uncontended in Lambda.
        self._lock = threading.Lock()

    def get(self, name: str, alias: str) -> AliasRecord | None:
        """The cached record, or ``None`` if absent or expired."""
        with self._lock:
            entry = self._entries.get((name, alias))
        if entry is None or entry[0] <= self._clock():
            return None
        return entry[1]

    def put(self, record: AliasRecord) -> None:
        """Cache ``record`` until ``ttl`` from now."""
        if self._ttl <= 0:
            return
        with self._lock:
            self._entries[(record.name, record.alias)] = (self._clock() + self._ttl, record)


class Gateway:
    """Resolve, render, call, account."""

    def __init__(
        self,
        *,
        dynamodb: DynamoDBClient,
        bedrock: BedrockRuntimeClient,
        config: GatewayConfig,
        agent_runtime: Callable[[], retrieval.AgentRuntimeClient] | None = None,
        clock: Callable[[], float] = time.monotonic,
        timer: Callable[[], float] = time.perf_counter,
    ) -> None:
        """Create a gateway over a ``dynamodb`` and a ``bedrock-runtime`` client.

        ``agent_runtime`` makes the ``bedrock-agent-runtime`` client on the first retrieval (a gateway
        whose prompts never retrieve never pays for creating it).
        """
        self._dynamodb = dynamodb
        self._bedrock = bedrock
        self._agent_runtime_factory = agent_runtime
        self._agent_runtime: retrieval.AgentRuntimeClient | None = None
        self._config = config
        self._cache = AliasCache(config.cache_seconds, clock)
        self._timer = timer

    def resolve(self, name: str, alias: str) -> AliasRecord:
        """The alias record (cached for ``PROMPT_CACHE_SECONDS``).

        Raises:
            NotFound: no such prompt or alias.
        """
        record = self._cache.get(name, alias)
        if record is None:
            record = get_alias(self._dynamodb, self._config.table_name, name, alias)
            if record is None:
                raise NotFound(f"prompt {name!r} has no alias {alias!r} (or the prompt does not exist)")
            self._cache.put(record)
        return record

    def converse_request(self, record: AliasRecord, text: str, context: str | None = None) -> dict[str, Any]:
        """The Converse parameters for ``text`` rendered from ``record``.

        With a ``context``, the message is two ``guardContent`` blocks: the context qualified as the
        grounding source and the rendered prompt as the query. The model reads both; the guardrail then
        checks the answer against them (contextual grounding and relevance). Without them the guardrail has
        nothing to ground against and those thresholds never run.
        """
        content: list[dict[str, Any]]
        if context is None:
            content = [{"text": text}]
        else:
            content = [
                {"guardContent": {"text": {"text": context, "qualifiers": ["grounding_source"]}}},
                {"guardContent": {"text": {"text": text, "qualifiers": ["query"]}}},
            ]
        return {
            "modelId": record.model_id,
            "messages": [{"role": "user", "content": content}],
            "inferenceConfig": dict(record.inference),
            "guardrailConfig": {
                "guardrailIdentifier": self._config.guardrail_id,
                "guardrailVersion": self._config.guardrail_version,
                "trace": "enabled",
            },
        }

    def _agent_runtime_client(self) -> retrieval.AgentRuntimeClient:
        if self._agent_runtime is None:
            if self._agent_runtime_factory is None:
                raise ConfigError("gateway misconfigured: no bedrock-agent-runtime client for retrieval")
            self._agent_runtime = self._agent_runtime_factory()
        return self._agent_runtime

    def retrieve(self, request: GatewayRequest, record: AliasRecord) -> tuple[retrieval.Retrieved, dict[str, object]]:
        """Retrieve for a version that declares it; the variables with the context variable filled.

        Raises:
            ValidationError: the caller sent the context variable or a ``context``, or the question is
                missing, blank, not a string or over the guardrail's grounding-query limit.
            ConfigError: the version names a knowledge base this gateway is not configured with.
            RetrievalError: Retrieve failed.
        """
        spec = record.retrieval
        assert spec is not None  # for the type checker: callers check
        where = f"prompt {record.name!r} v{record.version}"
        if request.context is not None:
            raise ValidationError(
                f"context: {where} retrieves its context from knowledge base {spec.knowledge_base!r}; do not send one"
            )
        if spec.context_variable in request.variables:
            raise ValidationError(
                f"variables.{spec.context_variable}: filled by the gateway from knowledge base "
                f"{spec.knowledge_base!r} for {where}; do not send it"
            )
        question = request.variables.get(spec.query_variable)
        if not isinstance(question, str) or not question.strip():
            raise ValidationError(
                f"variables.{spec.query_variable}: required, a non-blank string (the question {where} retrieves for)"
            )
        if len(question) > retrieval.MAX_QUERY_CHARS:
            raise ValidationError(
                f"variables.{spec.query_variable}: {len(question)} characters; it is the guardrail's grounding "
                f"query, which reads at most {retrieval.MAX_QUERY_CHARS}"
            )
        knowledge_base_id = self._config.knowledge_bases.get(spec.knowledge_base)
        if knowledge_base_id is None:
            raise ConfigError(
                f"gateway misconfigured: {where} retrieves from knowledge base {spec.knowledge_base!r}, "
                "which KNOWLEDGE_BASES does not configure"
            )
        found = retrieval.retrieve(self._agent_runtime_client(), spec, knowledge_base_id, question, timer=self._timer)
        return found, {**request.variables, spec.context_variable: found.context}

    def invoke(self, request: GatewayRequest, record: AliasRecord) -> GatewayResult:
        """Check the model, render, call Converse and price the call.

        Raises:
            Forbidden: the prompt's model is not in ``ALLOWED_MODELS``.
            ValidationError: missing, unexpected or wrongly typed variables.
            BedrockError: Bedrock refused or failed the call.
        """
        check_allowed(record.model_id, self._config.allowed_models)
        if record.retrieval is not None:
            return self._invoke_with_retrieval(request, record)
        text = templating.render(record.template, record.variables, request.variables)
        if request.context is not None and len(text) > MAX_GROUNDING_QUERY_CHARS:
            raise ValidationError(
                f"prompt {record.name!r} v{record.version} renders to {len(text)} characters; with a context, the "
                f"rendered prompt is the guardrail's grounding query, which it reads up to {MAX_GROUNDING_QUERY_CHARS}"
            )
        return self._converse(record, self.converse_request(record, text, request.context))

    def _invoke_with_retrieval(self, request: GatewayRequest, record: AliasRecord) -> GatewayResult:
        """Retrieve, then call the model with the passages as the guardrail's grounding source.

        Zero passages is its own answer: the model is not called (an answer without its sources would
        look grounded and is not), ``text`` is null and ``retrieval.status`` is ``"empty"``.
        """
        spec = record.retrieval
        assert spec is not None
        # Variables are checked before the (paid) retrieval: a bad request costs nothing.
        probe = {**request.variables, spec.context_variable: ""}
        if spec.context_variable not in request.variables:
            templating.render(record.template, record.variables, probe)
        found, values = self.retrieve(request, record)
        if found.empty:
            return GatewayResult(
                prompt=record.name,
                alias=record.alias,
                version=record.version,
                model_id=record.model_id,
                text=None,
                input_tokens=0,
                output_tokens=0,
                cost_usd=0.0,
                latency_ms=0.0,
                stop_reason="no_sources",
                guardrail_intervened=False,
                retrieved=found,
            )
        text_values = {name: str(value) for name, value in values.items()}
        content = [
            {"guardContent": {"text": {"text": piece, "qualifiers": [qualifier]}}}
            for qualifier, piece in retrieval.segments(record.template, text_values, spec)
        ]
        params = self.converse_request(record, "")
        params["messages"] = [{"role": "user", "content": content}]
        result = self._converse(record, params)
        return dataclasses.replace(result, retrieved=found)

    def _converse(self, record: AliasRecord, params: dict[str, Any]) -> GatewayResult:
        started = self._timer()
        try:
            response = self._bedrock.converse(**params)
        except ClientError as error:
            details = error.response.get("Error", {})
            raise BedrockError(details.get("Code", "Unknown"), details.get("Message", str(error))) from error
        except BotoCoreError as error:
            # Connection failures and timeouts have no service error code: use the exception's name.
            raise BedrockError(type(error).__name__, str(error)) from error
        latency_ms = round((self._timer() - started) * 1000, 1)
        usage = response.get("usage", {})
        input_tokens = int(usage.get("inputTokens", 0))
        output_tokens = int(usage.get("outputTokens", 0))
        stop_reason = str(response.get("stopReason", ""))
        content = response.get("output", {}).get("message", {}).get("content", [])
        return GatewayResult(
            prompt=record.name,
            alias=record.alias,
            version=record.version,
            model_id=record.model_id,
            # Only text blocks: a model may also return reasoning or tool-use blocks.
            text="".join(block["text"] for block in content if "text" in block),
            input_tokens=input_tokens,
            output_tokens=output_tokens,
            cost_usd=self._config.prices.cost_usd(record.model_id, input_tokens, output_tokens),
            latency_ms=latency_ms,
            stop_reason=stop_reason,
            guardrail_intervened=stop_reason == GUARDRAIL_INTERVENED,
        )
