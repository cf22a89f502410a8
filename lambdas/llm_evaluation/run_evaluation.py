"""One evaluation run: a prompt version x a golden-set version x the candidate models, stored and gated.

Plain Python over injected boto3 clients (no Powertools): :mod:`handler` parses the event and maps the
typed errors to status codes. Steps, in order, every check before the first write:

1. read the prompt version (``PROMPT#<name>`` / ``V#<version:08d>``) and the golden-set version
   (``EVALSET#<name>`` / ``V#<version:08d>``) from the prompt-catalog table;
2. call every model on every item through Bedrock Converse (with the guardrail when one is configured),
   judge each answer with ``JUDGE_MODEL_ID`` when set, embed answers and references with
   ``EMBEDDING_MODEL_ID`` (InvokeModel), check grounding with the guardrail's contextual grounding
   (ApplyGuardrail; the judge's faithfulness without a guardrail), run the red-team set
   (``data/red_team_v1.json``) through the same Converse call, score (:func:`evaluation.run`), rank by
   the team's weights (:func:`selection.rank`) and apply the quality gate to *every* evaluated model, against
   the production scorecard when the ``prod`` alias points at a version with a passed evaluation. The run's
   verdict (``passed``) is the gate on the version's own pinned model, the one its aliases will call;
   the selected model is a recommendation (a version pinned to it must be published and evaluated);
3. write ``scorecard.json``, ``report.md`` and ``review_sheet.csv`` under
   ``s3://REPORT_BUCKET/REPORT_PREFIX<prompt>/v<version>/<golden>-v<n>/<run_id>/``;
4. in one transaction, write the summary item ``PROMPT#<name>`` / ``EVAL#<version:08d>#<run_id>``
   (never overwritten) and, per evaluated model, the gate verdict of the triple (version, model,
   golden-set version) ``GATE#...`` (:func:`common.prompt_store.gate_sk`), moved forward only: a run older
   than the verdict's (by ``created_at``, then run id) leaves it alone. The catalog's ``prod`` gate reads
   those verdicts. Written last, so they never point at reports that are not there.
"""

from __future__ import annotations

import dataclasses
import logging
import math
import re
import time
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any, Protocol

import evaluation
import quality_gate
import red_team
import retrieval_eval
import scorers
import selection
from botocore.exceptions import BotoCoreError, ClientError
from common import golden_sets, retrieval, templating
from common.errors import Conflict, Forbidden, NotFound, ValidationError
from common.prompt_store import (
    EVAL_PREFIX,
    PROMPT_NAME_RE,
    AliasRecord,
    PromptVersion,
    alias_sk,
    deserialize,
    gate_sk,
    key,
    prompt_pk,
    serialize,
    version_sk,
)
from common.settings import EnvSettings
from scorecard import EvaluationCost, ModelScore

_log = logging.getLogger(__name__)
PROD_ALIAS = "prod"
# How often the record transaction is retried after leaving out verdicts a newer run already moved.
MAX_RECORD_ATTEMPTS = 3
DEFAULT_REPORT_PREFIX = "evaluations/"
RUN_ID_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9\-_.]{0,63}\Z")
# Versions are stored zero-padded to 8 digits (V#00000001), like the catalog's.
MAX_VERSION = 99_999_999
JUDGE_INFERENCE = {"maxTokens": 512, "temperature": 0.0}
_EVENT_FIELDS = frozenset({"prompt", "version", "golden_set", "golden_version", "models", "run_id"})
# Shipped with the function (its asset is this folder): every evaluation runs it.
RED_TEAM_SET_PATH = Path(__file__).with_name("data") / "red_team_v1.json"
EMBEDDING_DIMENSIONS = 512
MAX_EMBEDDING_PRICE_PER_1K = 1.0
# Bedrock's guardrailVersion: a published version number, or the working draft.
GUARDRAIL_VERSION_RE = re.compile(r"DRAFT|[1-9][0-9]{0,7}")


class ConfigError(Exception):
    """The function's environment is incomplete or invalid (HTTP 500); the message names the variable."""


class BedrockRuntimeClient(Protocol):
    """The subset of a boto3 ``bedrock-runtime`` client this module calls."""

    def converse(self, **kwargs: Any) -> dict[str, Any]: ...
    def invoke_model(self, **kwargs: Any) -> dict[str, Any]: ...
    def apply_guardrail(self, **kwargs: Any) -> dict[str, Any]: ...


class TableClient(Protocol):
    """The DynamoDB calls of this module: GetItem, Query (reads) and TransactWriteItems of Puts (the
    summary and the gate verdicts; IAM authorizes each Put as ``dynamodb:PutItem``)."""

    def get_item(self, **kwargs: Any) -> dict[str, Any]: ...
    def query(self, **kwargs: Any) -> dict[str, Any]: ...
    def transact_write_items(self, **kwargs: Any) -> dict[str, Any]: ...


class S3Client(Protocol):
    """The subset of a boto3 ``s3`` client this module calls (PutObject only)."""

    def put_object(self, **kwargs: Any) -> dict[str, Any]: ...


def eval_sk(version: int, run_id: str) -> str:
    """Sort key of an evaluation summary: versions sort numerically, runs of a version side by side."""
    return f"{EVAL_PREFIX}{version:08d}#{run_id}"


@dataclass(frozen=True)
class EvaluationConfig:
    """Everything the function reads from its environment, validated once per execution environment."""

    table_name: str
    report_bucket: str
    report_prefix: str
    prices: dict[str, dict[str, float]]
    allowed_models: tuple[str, ...]
    judge_model_id: str | None
    guardrail_id: str | None
    guardrail_version: str | None
    gate: dict[str, Any]
    weights: selection.Weights
    embedding_model_id: str
    embedding_price_per_1k: float
    # KNOWLEDGE_BASES: {name: knowledgeBaseId} a retrieving prompt version may name (#16).
    knowledge_bases: Mapping[str, str] = field(default_factory=dict)

    @classmethod
    def from_env(cls, env: Mapping[str, str]) -> EvaluationConfig:
        """Read ``TABLE_NAME``, ``REPORT_BUCKET``, ``REPORT_PREFIX``, ``PRICE_TABLE_JSON``, ``ALLOWED_MODELS``,
        ``JUDGE_MODEL_ID``, ``GUARDRAIL_ID``, ``GUARDRAIL_VERSION``, ``GATE_JSON``, ``WEIGHTS_JSON``,
        ``EMBEDDING_MODEL_ID`` and ``EMBEDDING_PRICE_PER_1K`` (USD per 1,000 input tokens).

        Raises:
            ConfigError: naming the variable that is missing or invalid.
        """
        settings = EnvSettings(env, error=ConfigError, context="evaluation misconfigured")
        values = settings.require_all(
            "TABLE_NAME",
            "REPORT_BUCKET",
            "PRICE_TABLE_JSON",
            "ALLOWED_MODELS",
            "GATE_JSON",
            "WEIGHTS_JSON",
            "EMBEDDING_MODEL_ID",
            "EMBEDDING_PRICE_PER_1K",
        )
        guardrail_id = settings.optional("GUARDRAIL_ID")
        guardrail_version = settings.optional(
            "GUARDRAIL_VERSION", pattern=GUARDRAIL_VERSION_RE, what="a guardrail version (DRAFT or 1-99999999)"
        )
        if (guardrail_id is None) != (guardrail_version is None):
            raise settings.fail("set both GUARDRAIL_ID and GUARDRAIL_VERSION, or neither")
        allowed = tuple(dict.fromkeys(settings.names("ALLOWED_MODELS", required=True)))
        prices = settings.json("PRICE_TABLE_JSON", required=True)
        if not isinstance(prices, dict):
            raise settings.fail("PRICE_TABLE_JSON must be an object {model id: prices}")
        for model_id in allowed:
            entry = prices.get(model_id)
            valid = isinstance(entry, dict) and all(
                not isinstance(entry.get(f), bool)
                and isinstance(entry.get(f), int | float)
                and math.isfinite(entry[f])
                and entry[f] >= 0
                for f in ("input_per_1k", "output_per_1k")
            )
            if not valid:
                raise settings.fail(
                    f"PRICE_TABLE_JSON has no valid input_per_1k/output_per_1k for allowed model {model_id!r}"
                )
        gate = settings.json("GATE_JSON", required=True)
        if not isinstance(gate, dict):
            raise settings.fail("GATE_JSON must be an object (quality gate thresholds)")
        raw_weights = settings.json("WEIGHTS_JSON", required=True)
        if not isinstance(raw_weights, dict) or set(raw_weights) != {"speed", "precision", "cost"}:
            raise settings.fail('WEIGHTS_JSON must be {"speed": x, "precision": y, "cost": z}')
        try:
            weights = selection.Weights(**raw_weights)
            # Validates the gate's keys and numbers now rather than after the models have been paid for.
            quality_gate.evaluate(_EMPTY_SCORE, gate)
        except (selection.SelectionError, quality_gate.GateConfigError) as error:
            raise settings.fail(str(error)) from None
        # USD per 1,000 input tokens; the stack's config takes [0, 1).
        embedding_price = settings.number("EMBEDDING_PRICE_PER_1K", 0.0, low=0.0, high=MAX_EMBEDDING_PRICE_PER_1K)
        prefix = settings.text("REPORT_PREFIX", DEFAULT_REPORT_PREFIX).lstrip("/")
        if prefix and not prefix.endswith("/"):
            prefix += "/"
        return cls(
            table_name=values["TABLE_NAME"],
            report_bucket=values["REPORT_BUCKET"],
            report_prefix=prefix,
            prices={m: {k: float(v) for k, v in prices[m].items() if k.endswith("_per_1k")} for m in allowed},
            allowed_models=allowed,
            judge_model_id=settings.optional("JUDGE_MODEL_ID"),
            guardrail_id=guardrail_id,
            guardrail_version=guardrail_version,
            gate=gate,
            weights=weights,
            embedding_model_id=values["EMBEDDING_MODEL_ID"],
            embedding_price_per_1k=embedding_price,
            knowledge_bases=retrieval.knowledge_bases(settings),
        )


_EMPTY_SCORE = ModelScore(
    model_id="config-check",
    items=0,
    errors=0,
    accuracy=None,
    rouge_l=None,
    cosine=None,
    judge_relevance=None,
    judge_faithfulness=None,
    judge_tone=None,
    judge_pass_rate=None,
    judge_unparseable=0,
    judge_unparseable_rate=None,
    groundedness_rate=None,
    hallucination_rate=None,
    latency_p50_ms=None,
    latency_p95_ms=None,
    total_cost_usd=0.0,
    cost_per_item_usd=0.0,
    cost_per_1k_items_usd=0.0,
)


@dataclass(frozen=True)
class EvaluationRequest:
    """A validated event."""

    prompt: str
    version: int
    golden_set: str
    golden_version: int
    models: tuple[str, ...] | None
    run_id: str | None


def _positive_int(payload: Mapping[str, Any], name: str) -> int:
    value = payload.get(name)
    if value is None:
        raise ValidationError(f"{name}: required")
    if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= MAX_VERSION:
        shown = repr(value) if not isinstance(value, int) or value.bit_length() < 64 else "a larger number"
        raise ValidationError(f"{name}: must be a positive integer, got {shown} (at most {MAX_VERSION})")
    return value


def _matching(payload: Mapping[str, Any], name: str, pattern: re.Pattern[str], hint: str) -> str:
    value = payload.get(name)
    if value is None:
        raise ValidationError(f"{name}: required")
    if not isinstance(value, str):
        raise ValidationError(f"{name}: must be a string, got {type(value).__name__}")
    if not pattern.match(value):
        raise ValidationError(f"{name}: {value!r} is invalid ({hint})")
    return value


def parse_event(payload: object) -> EvaluationRequest:
    """Validate ``{"prompt", "version", "golden_set", "golden_version", "models"?, "run_id"?}``.

    Raises:
        ValidationError: naming the field that is missing, of the wrong type or malformed.
    """
    if not isinstance(payload, dict):
        raise ValidationError(f"event: must be a JSON object, got {type(payload).__name__}")
    unknown = set(payload) - _EVENT_FIELDS
    if unknown:
        raise ValidationError(f"event: unknown fields {sorted(unknown)}; allowed: {sorted(_EVENT_FIELDS)}")
    names = "1-64 lowercase letters, digits, '-' or '_'"
    prompt = _matching(payload, "prompt", PROMPT_NAME_RE, names)
    golden = _matching(payload, "golden_set", golden_sets.SET_NAME_RE, names)
    models: tuple[str, ...] | None = None
    if payload.get("models") is not None:
        raw = payload["models"]
        if not isinstance(raw, list) or not raw or not all(isinstance(m, str) and m.strip() for m in raw):
            raise ValidationError("models: must be a non-empty list of model ids")
        if len(set(raw)) != len(raw):
            raise ValidationError(f"models: duplicates in {raw}")
        models = tuple(raw)
    run_id = None
    if payload.get("run_id") is not None:
        run_id = _matching(payload, "run_id", RUN_ID_RE, "1-64 letters, digits, '-', '_' or '.'")
    return EvaluationRequest(
        prompt=prompt,
        version=_positive_int(payload, "version"),
        golden_set=golden,
        golden_version=_positive_int(payload, "golden_version"),
        models=models,
        run_id=run_id,
    )


@dataclass(frozen=True)
class EvaluationOutcome:
    """What the run decided and where its reports are."""

    run_id: str
    passed: bool
    reasons: list[str]
    selected_model: str
    scorecard_uri: str
    report_uri: str
    gated_model: str = ""
    gates: dict[str, bool] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        """The function's answer (what a Step Functions Choice state reads: ``$.passed``, the verdict on
        ``gated_model``, the model the version pins; ``gates`` has every evaluated model's verdict)."""
        return {
            "passed": self.passed,
            "reasons": list(self.reasons),
            "gated_model": self.gated_model,
            "gates": dict(self.gates),
            "selected_model": self.selected_model,
            "scorecard_uri": self.scorecard_uri,
            "run_id": self.run_id,
        }


def utc_now() -> datetime:
    """The current time in UTC (injectable for tests)."""
    return datetime.now(UTC)


class Evaluator:
    """Runs evaluations with injected clients (see the module docstring for the steps)."""

    def __init__(
        self,
        *,
        dynamodb: TableClient,
        s3: S3Client,
        bedrock: BedrockRuntimeClient,
        config: EvaluationConfig,
        agent_runtime: Callable[[], retrieval.AgentRuntimeClient] | None = None,
        now: Callable[[], datetime] = utc_now,
        timer: Callable[[], float] = time.perf_counter,
    ) -> None:
        """Create an evaluator over a ``dynamodb``, an ``s3`` and a ``bedrock-runtime`` client
        (``agent_runtime`` makes the ``bedrock-agent-runtime`` client when a version retrieves)."""
        self._agent_runtime = agent_runtime
        self._dynamodb = dynamodb
        self._s3 = s3
        self._bedrock = bedrock
        self._config = config
        self._now = now
        self._timer = timer
        self._judge_tokens = [0, 0]  # input, output: what the judge's calls of the current run used

    # ----------------------------------------------------------------------------------------- reads

    def _prompt_version(self, name: str, version: int) -> PromptVersion:
        response = self._dynamodb.get_item(
            TableName=self._config.table_name, Key=key(prompt_pk(name), version_sk(version)), ConsistentRead=True
        )
        item = response.get("Item")
        if not item:
            raise NotFound(f"prompt {name!r} has no version {version} (or the prompt does not exist)")
        return PromptVersion.from_item(item)

    def _golden_set(self, name: str, version: int) -> golden_sets.GoldenSet:
        response = self._dynamodb.get_item(**golden_sets.get_version_request(self._config.table_name, name, version))
        item = response.get("Item")
        if not item:
            raise NotFound(f"golden set {name!r} has no version {version} (or the set does not exist)")
        try:
            return golden_sets.GoldenSet.from_item(item)
        except golden_sets.GoldenSetError as error:
            raise ValidationError(f"golden set {name!r} v{version}: {error}") from None

    def _eval_items(self, name: str, version: int) -> list[dict[str, Any]]:
        request: dict[str, Any] = {
            "TableName": self._config.table_name,
            "KeyConditionExpression": "#pk = :pk AND begins_with(#sk, :prefix)",
            "ExpressionAttributeNames": {"#pk": "pk", "#sk": "sk"},
            "ExpressionAttributeValues": {":pk": {"S": prompt_pk(name)}, ":prefix": {"S": eval_sk(version, "")}},
            "ConsistentRead": True,
        }
        items: list[dict[str, Any]] = []
        while True:
            response = self._dynamodb.query(**request)
            items.extend(deserialize(i) for i in response.get("Items", []))
            if "LastEvaluatedKey" not in response:
                return items
            request["ExclusiveStartKey"] = response["LastEvaluatedKey"]

    def production_score(self, name: str) -> tuple[int, ModelScore] | None:
        """The score of what ``prod`` runs (its version, its model) from that version's newest passed
        evaluation; ``None`` when there is no ``prod`` alias or no such evaluation (nothing to regress from)."""
        item = self._dynamodb.get_item(
            TableName=self._config.table_name, Key=key(prompt_pk(name), alias_sk(PROD_ALIAS)), ConsistentRead=True
        ).get("Item")
        if not item:
            return None
        record = AliasRecord.from_item(item)
        passed = [i for i in self._eval_items(name, record.version) if i.get("passed") is True]
        if not passed:
            return None
        newest = max(passed, key=lambda i: (str(i.get("created_at", "")), str(i["sk"])))
        models = newest.get("models") or {}
        # The score of the model prod calls, never of another model that won that run.
        raw = models.get(record.model_id)
        if not isinstance(raw, dict):
            return None
        return record.version, ModelScore.from_dict(_undecimal(raw))

    # ----------------------------------------------------------------------------------------- calls

    def invoke(
        self,
        model_id: str,
        prompt: str,
        inference: Mapping[str, int | float],
        segments: list[tuple[str, str]] | None = None,
    ) -> evaluation.ModelAnswer:
        """One Converse call (guardrail applied when configured), timed. With ``segments`` (the rendered
        ``prompt`` cut by :func:`common.retrieval.segments`) the message is their guardContent blocks,
        exactly as the gateway sends a retrieving version."""
        content: list[dict[str, Any]] = (
            [{"guardContent": {"text": {"text": piece, "qualifiers": [kind]}}} for kind, piece in segments]
            if segments
            else [{"text": prompt}]
        )
        request: dict[str, Any] = {
            "modelId": model_id,
            "messages": [{"role": "user", "content": content}],
            "inferenceConfig": dict(inference),
        }
        if self._config.guardrail_id and self._config.guardrail_version:
            request["guardrailConfig"] = {
                "guardrailIdentifier": self._config.guardrail_id,
                "guardrailVersion": self._config.guardrail_version,
            }
        started = self._timer()
        response = self._converse(request)
        latency_ms = round((self._timer() - started) * 1000, 1)
        usage = response.get("usage", {})
        return evaluation.ModelAnswer(
            text=_text(response),
            input_tokens=int(usage.get("inputTokens", 0)),
            output_tokens=int(usage.get("outputTokens", 0)),
            latency_ms=latency_ms,
            stop_reason=response.get("stopReason"),
        )

    def judge(self, prompt: str) -> str:
        """The judge model's raw verdict for one judge prompt (no guardrail: it grades, it answers nobody)."""
        assert self._config.judge_model_id is not None  # only wired when configured
        response = self._converse(
            {
                "modelId": self._config.judge_model_id,
                "messages": [{"role": "user", "content": [{"text": prompt}]}],
                "inferenceConfig": dict(JUDGE_INFERENCE),
            }
        )
        usage = response.get("usage", {})
        self._judge_tokens[0] += int(usage.get("inputTokens", 0))
        self._judge_tokens[1] += int(usage.get("outputTokens", 0))
        return _text(response)

    def _cost(
        self, embedder: scorers.BedrockTitanEmbedder, grounder: scorers.GuardrailGrounder | None
    ) -> EvaluationCost:
        """The run's own spend: judge tokens (priced when the judge is in the price table), embedding tokens
        and the guardrail's text units (priced by ``make cost``; the function has no guardrail price)."""
        judge_in, judge_out = self._judge_tokens
        judge_price = self._config.prices.get(self._config.judge_model_id or "")
        judge_usd = (
            (judge_in * judge_price["input_per_1k"] + judge_out * judge_price["output_per_1k"]) / 1000
            if judge_price
            else (0.0 if not self._config.judge_model_id else None)
        )
        return EvaluationCost(
            judge_input_tokens=judge_in,
            judge_output_tokens=judge_out,
            judge_usd=judge_usd,
            embedding_tokens=embedder.tokens,
            embedding_usd=embedder.tokens * self._config.embedding_price_per_1k / 1000,
            guardrail_text_units=grounder.text_units if grounder else 0,
        )

    def _converse(self, request: dict[str, Any]) -> dict[str, Any]:
        try:
            return self._bedrock.converse(**request)
        except ClientError as error:
            details = error.response.get("Error", {})
            code = str(details.get("Code", "Unknown"))
            # Recorded on the item by evaluation.run, so it is what the scorecard shows its readers: the
            # stable error code only. Bedrock's message can name this function's role ARN and account, so
            # it goes to the function's log.
            _log.warning("bedrock call to %s failed: %s: %s", request.get("modelId"), code, details.get("Message"))
            raise RuntimeError(f"{code}: the model call failed (details in the evaluation function's log)") from error
        except BotoCoreError as error:
            raise RuntimeError(f"{type(error).__name__}: {error}") from error

    # ------------------------------------------------------------------------------------------- run

    def _retrieve(
        self, prompt: PromptVersion, golden: golden_sets.GoldenSet, embedder: scorers.BedrockTitanEmbedder
    ) -> tuple[golden_sets.GoldenSet, list[dict[str, Any]]]:
        """Retrieve for every item of ``golden`` (see :mod:`retrieval_eval`)."""
        spec = prompt.retrieval
        assert spec is not None
        supplied = [item.id for item in golden.items if spec.context_variable in item.inputs]
        if supplied:
            raise ValidationError(
                f"golden items {supplied[:5]} supply {spec.context_variable!r}, which prompt {prompt.name!r} "
                f"v{prompt.version} retrieves from knowledge base {spec.knowledge_base!r}: remove it from their inputs"
            )
        knowledge_base_id = self._config.knowledge_bases.get(spec.knowledge_base)
        if knowledge_base_id is None or self._agent_runtime is None:
            raise ConfigError(
                f"evaluation misconfigured: prompt {prompt.name!r} v{prompt.version} retrieves from knowledge base "
                f"{spec.knowledge_base!r}, which KNOWLEDGE_BASES does not configure"
            )
        retrieved: tuple[golden_sets.GoldenSet, list[dict[str, Any]]] = retrieval_eval.retrieve_items(
            golden, spec=spec, knowledge_base_id=knowledge_base_id, client=self._agent_runtime(), embedder=embedder
        )
        return retrieved

    def run(self, request: EvaluationRequest) -> EvaluationOutcome:
        """Evaluate, store the reports and the summary item, and return the decision.

        Raises:
            NotFound: unknown prompt version or golden-set version.
            Forbidden: a requested model is not in ``ALLOWED_MODELS``.
            ValidationError: the golden set does not fit the prompt's variables.
            Conflict: an evaluation with this run id already exists.
        """
        config = self._config
        models = request.models or config.allowed_models
        refused = [m for m in models if m not in config.allowed_models]
        if refused:
            raise Forbidden(f"models: {refused} not allowed (allowed: {', '.join(config.allowed_models)})")
        when = self._now()
        run_id = request.run_id or f"{when:%Y%m%dT%H%M%SZ}-{uuid.uuid4().hex[:8]}"
        sk = eval_sk(request.version, run_id)
        if self._dynamodb.get_item(TableName=config.table_name, Key=key(prompt_pk(request.prompt), sk)).get("Item"):
            raise Conflict(f"evaluation {run_id!r} of prompt {request.prompt!r} v{request.version} already exists")
        prompt = self._prompt_version(request.prompt, request.version)
        golden = self._golden_set(request.golden_set, request.golden_version)
        prod = self.production_score(request.prompt)

        self._judge_tokens = [0, 0]
        embedder = scorers.BedrockTitanEmbedder(
            self._bedrock, model_id=config.embedding_model_id, dimensions=EMBEDDING_DIMENSIONS
        )
        grounder = (
            scorers.GuardrailGrounder(
                self._bedrock, guardrail_id=config.guardrail_id, guardrail_version=config.guardrail_version
            )
            if config.guardrail_id and config.guardrail_version
            else None
        )
        scored_golden, records = golden, None
        # A retrieving version's items are sent as the gateway sends them: the rendered prompt cut into
        # guardContent blocks (passages as grounding_source, the question as query), so the guardrail's
        # contextual grounding judges the same call in the evaluation as in production.
        segmented: dict[str, list[tuple[str, str]]] = {}
        if prompt.retrieval is not None:
            scored_golden, records = self._retrieve(prompt, golden, embedder)
            for item in scored_golden.items:
                rendered = templating.render(prompt.template, prompt.variables, item.inputs)
                values = {name: str(value) for name, value in item.inputs.items()}
                segmented[rendered] = retrieval.segments(prompt.template, values, prompt.retrieval)
        try:
            card = evaluation.run(
                golden=scored_golden,
                template=prompt.template,
                variables=prompt.variables,
                models=models,
                invoke=lambda model_id, text: self.invoke(model_id, text, prompt.inference, segmented.get(text)),
                prices=config.prices,
                embedder=embedder,
                judge=self.judge if config.judge_model_id else None,
                prompt_name=prompt.name,
                prompt_version=prompt.version,
                grounder=grounder,
                red_team_set=red_team.load(RED_TEAM_SET_PATH),
            )
        except evaluation.EvaluationError as error:
            raise ValidationError(str(error)) from None
        if records is not None:
            card = retrieval_eval.apply(card, records, golden_sha256=golden.sha256())
        card = dataclasses.replace(card, evaluation_cost=self._cost(embedder, grounder))
        chosen = selection.rank(card, config.weights)
        baseline = prod[1] if prod else None
        # Every model is gated: the verdict that counts for an alias is the one on the model it calls.
        decisions = {m.model_id: quality_gate.evaluate(m, config.gate, prod=baseline) for m in card.models}
        decision = decisions.get(prompt.model_id) or quality_gate.GateDecision(
            passed=False,
            reasons=[
                f"model {prompt.model_id}, which v{prompt.version} pins and its aliases call, was not evaluated "
                f"(evaluated: {', '.join(models)}); the gate decides on that model"
            ],
        )

        base = f"{config.report_prefix}{prompt.name}/v{prompt.version}/{golden.name}-v{golden.version}/{run_id}/"
        report_uri = f"s3://{config.report_bucket}/{base}"
        inputs = {item.id: "\n".join(f"{k}: {v}" for k, v in item.inputs.items()) for item in golden.items}
        report = _report(
            card,
            chosen,
            decisions,
            gated_model=prompt.model_id,
            version=prompt.version,
            run_id=run_id,
            prod_version=prod[0] if prod else None,
        )
        for name, body, content_type in (
            ("scorecard.json", card.to_json(), "application/json"),
            ("report.md", report, "text/markdown; charset=utf-8"),
            ("review_sheet.csv", scorers.export_review_sheet(card.items, inputs), "text/csv; charset=utf-8"),
        ):
            # Encryption: the bucket's default (SSE-KMS) applies; nothing to pass here.
            self._s3.put_object(
                Bucket=config.report_bucket, Key=base + name, Body=body.encode("utf-8"), ContentType=content_type
            )
        outcome = EvaluationOutcome(
            run_id=run_id,
            passed=decision.passed,
            reasons=list(decision.reasons),
            selected_model=chosen.winner,
            scorecard_uri=report_uri + "scorecard.json",
            report_uri=report_uri,
            gated_model=prompt.model_id,
            gates={model_id: d.passed for model_id, d in decisions.items()},
        )
        created_at = when.astimezone(UTC).isoformat(timespec="microseconds").replace("+00:00", "Z")
        summary = {
            "pk": prompt_pk(prompt.name),
            "sk": sk,
            "kind": "evaluation",
            "run_id": run_id,
            "prompt": prompt.name,
            "version": prompt.version,
            "prompt_model_id": prompt.model_id,
            "golden_set": golden.name,
            "golden_version": golden.version,
            "golden_sha256": golden.sha256(),
            "golden_items": len(golden.items),
            "passed": decision.passed,
            "reasons": list(decision.reasons),
            "checks": list(decision.checks),
            "gated_model": prompt.model_id,
            "gates": {model_id: d.to_dict() for model_id, d in decisions.items()},
            "selected_model": chosen.winner,
            "explanation": chosen.explanation,
            "judge_model_id": config.judge_model_id,
            "compared_with_prod_version": prod[0] if prod else None,
            "models": {m.model_id: m.to_dict() for m in card.models},
            "report_uri": report_uri,
            "scorecard_uri": outcome.scorecard_uri,
            "created_at": created_at,
        }
        verdicts = [
            {
                "pk": prompt_pk(prompt.name),
                "sk": gate_sk(prompt.version, golden.name, golden.version, model_id),
                "kind": "gate",
                "prompt": prompt.name,
                "version": prompt.version,
                "model_id": model_id,
                "golden_set": golden.name,
                "golden_version": golden.version,
                "golden_sha256": golden.sha256(),
                "golden_items": len(golden.items),
                "run_id": run_id,
                "evaluation_sk": sk,
                "passed": d.passed,
                "reasons": list(d.reasons),
                "created_at": created_at,
            }
            for model_id, d in decisions.items()
        ]
        self._record(summary, verdicts, prompt=prompt, run_id=run_id)
        return outcome

    def _record(
        self, summary: dict[str, Any], verdicts: list[dict[str, Any]], *, prompt: PromptVersion, run_id: str
    ) -> None:
        """Write the summary and the verdicts in one transaction; a verdict a newer run already moved is
        left out (the summary still records this run), an existing summary is a :class:`Conflict`."""
        table = self._config.table_name
        newer = "#at < :at OR (#at = :at AND #run < :run)"
        pending = list(verdicts)
        for _ in range(MAX_RECORD_ATTEMPTS):
            items: list[dict[str, Any]] = [
                {
                    "Put": {
                        "TableName": table,
                        "Item": serialize(summary),
                        "ConditionExpression": "attribute_not_exists(pk)",
                    }
                }
            ]
            for verdict in pending:
                items.append(
                    {
                        "Put": {
                            "TableName": table,
                            "Item": serialize(verdict),
                            # Forward only: the newest evaluation of a triple decides, whatever finishes last.
                            "ConditionExpression": f"attribute_not_exists(pk) OR {newer}",
                            "ExpressionAttributeNames": {"#at": "created_at", "#run": "run_id"},
                            "ExpressionAttributeValues": {
                                ":at": {"S": summary["created_at"]},
                                ":run": {"S": run_id},
                            },
                        }
                    }
                )
            try:
                self._dynamodb.transact_write_items(TransactItems=items, ClientRequestToken=uuid.uuid4().hex)
                return
            except ClientError as error:
                if error.response.get("Error", {}).get("Code") != "TransactionCanceledException":
                    raise
                codes = [r.get("Code") for r in error.response.get("CancellationReasons") or []]
                if codes and codes[0] == "ConditionalCheckFailed":
                    raise Conflict(
                        f"evaluation {run_id!r} of prompt {prompt.name!r} v{prompt.version} already exists"
                    ) from None
                stale = {
                    index - 1 for index, code in enumerate(codes) if index > 0 and code == "ConditionalCheckFailed"
                }
                if not stale:
                    raise
                pending = [verdict for index, verdict in enumerate(pending) if index not in stale]
        raise Conflict(
            f"evaluation {run_id!r} of prompt {prompt.name!r} v{prompt.version}: other runs kept moving the gate "
            f"verdicts; {MAX_RECORD_ATTEMPTS} attempts to record it failed, retry"
        )


def _text(response: Mapping[str, Any]) -> str:
    content = response.get("output", {}).get("message", {}).get("content", [])
    return "".join(block["text"] for block in content if "text" in block)


def _undecimal(value: Any) -> Any:
    # DynamoDB numbers come back as Decimal; ModelScore holds floats and ints.
    if isinstance(value, dict):
        return {k: _undecimal(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_undecimal(v) for v in value]
    if isinstance(value, Decimal):
        return int(value) if value == int(value) else float(value)
    return value


def _report(
    card: evaluation.Scorecard,
    chosen: selection.Selection,
    decisions: Mapping[str, quality_gate.GateDecision],
    *,
    gated_model: str,
    version: int,
    run_id: str,
    prod_version: int | None,
) -> str:
    decision = decisions.get(gated_model)
    verdict = "PASSED" if decision is not None and decision.passed else "FAILED"
    lines = [
        evaluation.render_markdown(card).rstrip("\n"),
        "",
        "## Selection",
        "",
        chosen.explanation,
        "",
        f"## Quality gate: {verdict} (run {run_id}, on {gated_model}: the model v{version} pins and its aliases call)",
        "",
        f"Compared with production: v{prod_version}." if prod_version else "No production scorecard to compare.",
    ]
    if decision is None:
        lines += ["", f"{gated_model} was not evaluated in this run: the gate cannot pass."]
    if chosen.winner != gated_model:
        lines += [
            "",
            f"Selection prefers {chosen.winner}; to use it, publish a version pinned to it and evaluate that version.",
        ]
    for model_id, each in decisions.items():
        lines += ["", f"### {model_id}: {'passed' if each.passed else 'failed'}", "", "```", *each.checks, "```"]
        if each.reasons:
            lines += ["", "Reasons:", "", *(f"- {reason}" for reason in each.reasons)]
    return "\n".join(lines) + "\n"
