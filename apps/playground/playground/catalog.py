"""Read-only view of the prompt-catalog table: aliases to pick from, an alias's template, evaluation summaries.

The layout is the one ``lambdas/common/prompt_store.py`` and ``lambdas/llm_evaluation/run_evaluation.py``
write (one table, keys ``pk``/``sk``, every item of a prompt under ``pk = PROMPT#<name>``):

* ``HEAD``: the prompt exists;
* ``ALIAS#<alias>``: the version an alias points to, with a copy of that version (template, declared
  variables, model), so one GetItem gives everything the playground needs to fill the form;
* ``EVAL#<version:08d>#<run_id>``: an evaluation summary (verdict, selected model, per-model metrics,
  where the scorecard is in S3).

It is read here rather than imported from ``lambdas/`` because the container image ships only
``apps/playground``; ``tests/unit/test_playground_catalog.py`` writes items with the catalog's own code
and reads them back with this module, so a layout change breaks a test rather than the app.

AWS calls (what the task role needs): ``dynamodb:Scan`` (the listing), ``dynamodb:GetItem`` (one alias),
``dynamodb:Query`` (a prompt's evaluations), and ``kms:Decrypt`` on the table's key.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any, Protocol

from boto3.dynamodb.types import TypeDeserializer

PK_PREFIX = "PROMPT#"
HEAD_SK = "HEAD"
ALIAS_PREFIX = "ALIAS#"
EVAL_PREFIX = "EVAL#"
#: Evaluations listed per prompt, newest version first.
MAX_EVALUATIONS = 20

_deserializer = TypeDeserializer()


class DynamoDBReader(Protocol):
    """The calls this module makes on a boto3 ``dynamodb`` client."""

    def scan(self, **kwargs: Any) -> dict[str, Any]: ...
    def get_item(self, **kwargs: Any) -> dict[str, Any]: ...
    def query(self, **kwargs: Any) -> dict[str, Any]: ...


def _plain(value: Any) -> Any:
    """DynamoDB numbers (Decimal) to int/float, recursively."""
    if isinstance(value, Decimal):
        return int(value) if value == value.to_integral_value() else float(value)
    if isinstance(value, Mapping):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple | set):
        return [_plain(v) for v in value]
    return value


def _item(raw: Mapping[str, Any]) -> dict[str, Any]:
    return {k: _plain(_deserializer.deserialize(v)) for k, v in raw.items()}


@dataclass(frozen=True)
class AliasSummary:
    """One alias of one prompt, as listed for the picker."""

    prompt: str
    alias: str
    version: int
    model_id: str


@dataclass(frozen=True)
class CatalogListing:
    """Every prompt name and every alias in the table."""

    prompts: tuple[str, ...]
    aliases: tuple[AliasSummary, ...]

    def prompts_with_aliases(self) -> list[str]:
        """Prompt names that have at least one alias (the ones the gateway can call), sorted."""
        return sorted({a.prompt for a in self.aliases})

    def aliases_of(self, prompt: str) -> list[str]:
        """The aliases of ``prompt``: ``dev`` and ``prod`` first, then the others alphabetically."""
        names = {a.alias for a in self.aliases if a.prompt == prompt}
        return sorted(names, key=lambda name: ({"dev": 0, "prod": 1}.get(name, 2), name))


@dataclass(frozen=True)
class AliasTemplate:
    """What an alias points to: the version, its template and the variables the form must fill."""

    prompt: str
    alias: str
    version: int
    template: str
    variables: tuple[str, ...]
    model_id: str
    updated_at: str = ""
    reason: str = ""
    #: the variable the gateway fills from the knowledge base (not on the form), and that knowledge base
    context_variable: str | None = None
    knowledge_base: str | None = None

    @property
    def form_variables(self) -> tuple[str, ...]:
        """The variables the user fills in: all but the one retrieval fills."""
        return tuple(v for v in self.variables if v != self.context_variable)


@dataclass(frozen=True)
class EvaluationSummary:
    """One evaluation run of one prompt version (the ``EVAL#`` item)."""

    prompt: str
    version: int
    run_id: str
    golden_set: str
    golden_version: int
    passed: bool
    reasons: tuple[str, ...]
    selected_model: str
    explanation: str
    created_at: str
    scorecard_uri: str
    report_uri: str
    #: model id -> metric name -> value (``None``: not measured)
    models: dict[str, dict[str, Any]] = field(default_factory=dict)


class CatalogReader:
    """Reads the prompt-catalog table; every method is one or a few read calls and never writes."""

    def __init__(self, client: DynamoDBReader, table_name: str) -> None:
        """Read ``table_name`` through ``client`` (a boto3 ``dynamodb`` client)."""
        self._client = client
        self._table = table_name

    def listing(self) -> CatalogListing:
        """Every prompt and alias: one Scan (paginated) that returns only ``HEAD`` and ``ALIAS#`` items' keys.

        A Scan reads the whole table once per listing, like the catalog API's ``GET /prompts``; the page
        caches the result for half a minute.
        """
        request: dict[str, Any] = {
            "TableName": self._table,
            "FilterExpression": "#sk = :head OR begins_with(#sk, :alias)",
            "ProjectionExpression": "#pk, #sk, #version, #model",
            "ExpressionAttributeNames": {"#pk": "pk", "#sk": "sk", "#version": "version", "#model": "model_id"},
            "ExpressionAttributeValues": {":head": {"S": HEAD_SK}, ":alias": {"S": ALIAS_PREFIX}},
        }
        prompts: set[str] = set()
        aliases: list[AliasSummary] = []
        while True:
            response = self._client.scan(**request)
            for raw in response.get("Items", []):
                item = _item(raw)
                pk, sk = str(item.get("pk", "")), str(item.get("sk", ""))
                if not pk.startswith(PK_PREFIX):
                    continue  # golden sets (EVALSET#...) share the table
                name = pk.removeprefix(PK_PREFIX)
                prompts.add(name)
                if sk.startswith(ALIAS_PREFIX):
                    aliases.append(
                        AliasSummary(
                            prompt=name,
                            alias=sk.removeprefix(ALIAS_PREFIX),
                            version=int(item.get("version", 0)),
                            model_id=str(item.get("model_id", "")),
                        )
                    )
            last = response.get("LastEvaluatedKey")
            if not last:
                break
            request["ExclusiveStartKey"] = last
        return CatalogListing(
            prompts=tuple(sorted(prompts)), aliases=tuple(sorted(aliases, key=lambda a: (a.prompt, a.alias)))
        )

    def alias(self, prompt: str, alias: str) -> AliasTemplate | None:
        """The version ``alias`` of ``prompt`` points to (one GetItem), or ``None`` if there is no such alias."""
        response = self._client.get_item(
            TableName=self._table,
            Key={"pk": {"S": f"{PK_PREFIX}{prompt}"}, "sk": {"S": f"{ALIAS_PREFIX}{alias}"}},
        )
        raw = response.get("Item")
        if not raw:
            return None
        item = _item(raw)
        return AliasTemplate(
            prompt=prompt,
            alias=alias,
            version=int(item["version"]),
            template=str(item["template"]),
            variables=tuple(str(v) for v in item.get("variables", [])),
            model_id=str(item.get("model_id", "")),
            updated_at=str(item.get("updated_at", "")),
            reason=str(item.get("reason", "")),
            context_variable=_retrieval_field(item, "contextVariable"),
            knowledge_base=_retrieval_field(item, "knowledgeBase"),
        )

    def evaluations(self, prompt: str, limit: int = MAX_EVALUATIONS) -> list[EvaluationSummary]:
        """The newest evaluation summaries of ``prompt`` (one Query), newest first."""
        response = self._client.query(
            TableName=self._table,
            KeyConditionExpression="#pk = :pk AND begins_with(#sk, :eval)",
            ExpressionAttributeNames={"#pk": "pk", "#sk": "sk"},
            ExpressionAttributeValues={":pk": {"S": f"{PK_PREFIX}{prompt}"}, ":eval": {"S": EVAL_PREFIX}},
            # Sort keys are EVAL#<version:08d>#<timestamped run id>: descending is the newest version first.
            ScanIndexForward=False,
            Limit=limit,
        )
        summaries = [_evaluation(prompt, _item(raw)) for raw in response.get("Items", [])]
        return sorted(summaries, key=lambda s: (s.created_at, s.version, s.run_id), reverse=True)


def _retrieval_field(item: Mapping[str, Any], name: str) -> str | None:
    retrieval = item.get("retrieval")
    value = retrieval.get(name) if isinstance(retrieval, Mapping) else None
    return str(value) if value is not None else None


def _evaluation(prompt: str, item: Mapping[str, Any]) -> EvaluationSummary:
    models = item.get("models") or {}
    return EvaluationSummary(
        prompt=prompt,
        version=int(item.get("version", 0)),
        run_id=str(item.get("run_id", "")),
        golden_set=str(item.get("golden_set", "")),
        golden_version=int(item.get("golden_version", 0)),
        passed=bool(item.get("passed", False)),
        reasons=tuple(str(r) for r in item.get("reasons") or ()),
        selected_model=str(item.get("selected_model", "")),
        explanation=str(item.get("explanation", "")),
        created_at=str(item.get("created_at", "")),
        scorecard_uri=str(item.get("scorecard_uri", "")),
        report_uri=str(item.get("report_uri", "")),
        models={str(model): dict(metrics) for model, metrics in models.items() if isinstance(metrics, Mapping)},
    )
