"""Prompt catalog logic: immutable versions, aliases, audit trail, rendering and diffs.

Plain Python over a boto3 DynamoDB client (no Powertools, no HTTP): the API module maps the typed
errors to status codes. Every check runs before the first write, so a rejected request changes nothing.

Write paths are single DynamoDB transactions:

* create a version: update ``HEAD`` conditioned on the latest version this writer read (or on ``HEAD``
  not existing yet) + put the version item conditioned on it not existing + put the audit item. Two
  writers can therefore never take the same number or overwrite a version, and numbers have no gaps;
  the loser re-reads ``HEAD`` and retries a bounded number of times, then gets :class:`Conflict`.
* promote: condition-check that the version exists + put the alias item (with a denormalized copy of
  the version, so the gateway needs one GetItem) conditioned on the alias revision this writer read +
  put the audit item (carrying that new revision). Two concurrent promotions of one alias cannot both
  land, so the alias and its newest audit entry always name the same version.

  Promoting a gated alias (:data:`GATED_ALIASES`, i.e. ``prod``) also requires, for every golden-set
  version the target version names (``golden_sets``), that the newest evaluation of the triple
  (target version, the model the alias will call = the version's own ``model_id``, golden-set version)
  passed the quality gate over at least ``max(min_items, MIN_GOLDEN_SET_ITEMS)`` items. Those verdicts
  are the ``GATE#`` items the evaluation function moves forward with each run; the transaction
  condition-checks each one on the run it read, so an evaluation that lands between the read and the
  write cancels the promotion.
"""

from __future__ import annotations

import base64
import binascii
import difflib
import json
import math
import random
import re
import time
import uuid
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from botocore.exceptions import ClientError
from common import retrieval, templating
from common.errors import Conflict, Forbidden, NotFound, PromptError, TooLarge, ValidationError
from common.golden_sets import (
    MAX_ITEMS,
    SET_NAME_RE,
    GoldenSet,
    GoldenSetError,
    GoldenSetTooLarge,
    get_version_request,
    put_version_request,
)
from common.prompt_store import (
    ALIAS_RE,
    AUDIT_PREFIX,
    HEAD_SK,
    INFERENCE_FLOAT_KEYS,
    INFERENCE_INT_KEYS,
    MAX_TOKENS_CEILING,
    PK_PREFIX,
    PROMPT_NAME_RE,
    VERSION_PREFIX,
    AliasRecord,
    AuditEntry,
    DynamoDBClient,
    GoldenRequirement,
    Inference,
    PromptVersion,
    alias_sk,
    gate_sk,
    key,
    prompt_pk,
    serialize,
    template_sha256,
    version_sk,
)

__all__ = [
    "GATED_ALIASES",
    "PROD_ALIAS",
    "Conflict",
    "Forbidden",
    "GateRefused",
    "NotFound",
    "Page",
    "PromptCatalog",
    "PromptError",
    "Rendered",
    "TooLarge",
    "ValidationError",
]

MODEL_ID_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._:/-]{0,2047}\Z")
MAX_REASON_CHARS = 1000
# Version numbers are stored zero-padded to 8 digits (V#00000001): a longer number would break key order.
MAX_VERSION = 99_999_999
MAX_PAGE_SIZE = 100
# A version item and its alias copy each hold the template; DynamoDB items are capped at 400 KB, so the
# configured limit must leave room for the other attributes.
MAX_TEMPLATE_BYTES_CEILING = 300_000
PROD_ALIAS = "prod"
# Aliases that may only point at a version whose own model passed the quality gate on its golden sets.
GATED_ALIASES = frozenset({PROD_ALIAS})
# Each golden-set requirement is one ConditionCheck in the promotion's transaction (100 items at most).
MAX_GOLDEN_REQUIREMENTS = 10
# Only for callers that construct a catalog in code; the function requires MIN_GOLDEN_SET_ITEMS.
DEFAULT_MIN_GOLDEN_SET_ITEMS = 20
# Error codes inside TransactionCanceledException that mean "another writer got there first".
_RETRYABLE_CANCEL_CODES = frozenset({"ConditionalCheckFailed", "TransactionConflict"})


class GateRefused(Exception):
    """Promotion to a gated alias refused: an evaluation it needs is missing, too small or failed (HTTP 409).

    Not a :class:`~common.errors.PromptError` subclass (those come from ``common`` and type as ``Any`` in
    the repository-wide type check); the API maps it to 409 on its own.
    """


def utc_now() -> datetime:
    """The current time in UTC (injectable for tests)."""
    return datetime.now(UTC)


def iso(ts: datetime) -> str:
    """ISO-8601 UTC with microseconds and a ``Z``: sorts lexicographically in time order."""
    return ts.astimezone(UTC).isoformat(timespec="microseconds").replace("+00:00", "Z")


@dataclass(frozen=True)
class Page:
    """One page of a listing; pass ``next_token`` back to get the next page (``None``: last page)."""

    items: list[dict[str, Any]]
    next_token: str | None

    def to_dict(self, items_key: str) -> dict[str, Any]:
        """JSON-ready representation with the items under ``items_key``."""
        return {items_key: self.items, "next_token": self.next_token}


@dataclass(frozen=True)
class Rendered:
    """A rendered prompt and what it was rendered from."""

    name: str
    version: int
    alias: str | None
    model_id: str
    inference: Inference
    text: str
    retrieval: retrieval.RetrievalSpec | None = None

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready representation (``retrieval``: what the gateway would retrieve into the context)."""
        return {
            "name": self.name,
            "version": self.version,
            "alias": self.alias,
            "model_id": self.model_id,
            "inference": dict(self.inference),
            "text": self.text,
            "retrieval": self.retrieval.to_dict() if self.retrieval is not None else None,
        }


def validate_name(name: str) -> None:
    """Raise :class:`ValidationError` unless ``name`` is a valid prompt name."""
    if not PROMPT_NAME_RE.match(name):
        raise ValidationError(
            f"prompt name {name!r} is invalid: use 1-64 lowercase letters, digits, '-' or '_', "
            "starting with a letter or digit"
        )


def validate_alias(alias: str) -> None:
    """Raise :class:`ValidationError` unless ``alias`` is a valid alias name."""
    if not ALIAS_RE.match(alias):
        raise ValidationError(
            f"alias {alias!r} is invalid: use 1-32 lowercase letters, digits or '-', starting with a letter"
        )


def validate_version_number(version: int, field: str = "version") -> None:
    """Raise :class:`ValidationError` unless ``version`` is a positive integer."""
    if isinstance(version, bool) or not isinstance(version, int) or not 1 <= version <= MAX_VERSION:
        shown = repr(version) if not isinstance(version, int) or version.bit_length() < 64 else "a larger number"
        raise ValidationError(f"{field}: must be a positive integer, got {shown} (at most {MAX_VERSION})")


def validate_reason(reason: str) -> str:
    """Return the stripped reason; every change must say why (it goes into the audit trail)."""
    stripped = reason.strip()
    if not stripped:
        raise ValidationError("reason: must not be empty (say why, it is recorded in the audit trail)")
    if len(stripped) > MAX_REASON_CHARS:
        raise ValidationError(f"reason: at most {MAX_REASON_CHARS} characters, got {len(stripped)}")
    return stripped


def validate_model_id(model_id: str) -> None:
    """Raise :class:`ValidationError` unless ``model_id`` looks like a Bedrock model or profile id/ARN."""
    if not MODEL_ID_RE.match(model_id):
        raise ValidationError(
            f"model_id {model_id!r} is invalid: expected a Bedrock model id, inference profile id or ARN"
        )


def validate_inference(inference: Mapping[str, object]) -> Inference:
    """Check inference settings against Converse's inferenceConfig ranges; return them normalized."""
    allowed = INFERENCE_INT_KEYS | INFERENCE_FLOAT_KEYS
    unknown = set(inference) - allowed
    if unknown:
        raise ValidationError(
            f"inference: unknown settings {sorted(unknown)}; allowed: {sorted(allowed)} (Converse inferenceConfig)"
        )
    out: Inference = {}
    for name, value in inference.items():
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise ValidationError(f"inference.{name}: must be a number, got {type(value).__name__}")
        # Range checks compare the value as given: float() of a 400-digit integer raises OverflowError,
        # and repr() of a huge one would flood the message.
        shown = repr(value) if isinstance(value, float) or value.bit_length() < 64 else "a larger number"
        if name in INFERENCE_INT_KEYS:
            if not isinstance(value, int) or not 1 <= value <= MAX_TOKENS_CEILING:
                raise ValidationError(
                    f"inference.{name}: must be a positive integer of at most {MAX_TOKENS_CEILING}, got {shown}"
                )
            out[name] = value
        else:
            if (isinstance(value, float) and not math.isfinite(value)) or not 0 <= value <= 1:
                raise ValidationError(f"inference.{name}: must be between 0 and 1, got {shown}")
            out[name] = float(value)
    return out


def validate_golden_sets(raw: object, *, min_items_floor: int) -> tuple[GoldenRequirement, ...]:
    """``[{"name", "version", "min_items"}, ...]``: the golden-set versions a version must pass for ``prod``.

    ``min_items`` may not be below ``min_items_floor`` (``MIN_GOLDEN_SET_ITEMS``): a version cannot name
    a token set to walk through the gate.
    """
    if not isinstance(raw, list):
        raise ValidationError(f"golden_sets: must be an array of objects, got {type(raw).__name__}")
    if len(raw) > MAX_GOLDEN_REQUIREMENTS:
        raise ValidationError(f"golden_sets: at most {MAX_GOLDEN_REQUIREMENTS} entries, got {len(raw)}")
    out: list[GoldenRequirement] = []
    for index, entry in enumerate(raw):
        where = f"golden_sets[{index}]"
        if not isinstance(entry, dict):
            raise ValidationError(f"{where}: must be an object {{name, version, min_items}}")
        unknown = set(entry) - {"name", "version", "min_items"}
        if unknown:
            raise ValidationError(
                f"{where}: unknown fields {sorted(unknown)}; allowed: ['min_items', 'name', 'version']"
            )
        name = entry.get("name")
        if not isinstance(name, str) or not SET_NAME_RE.fullmatch(name):
            raise ValidationError(
                f"{where}.name: {name!r} is not a golden set name (1-64 lowercase letters, digits, '-', '_')"
            )
        for field, low, high in (("version", 1, 99_999_999), ("min_items", min_items_floor, MAX_ITEMS)):
            value = entry.get(field)
            if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
                hint = " (MIN_GOLDEN_SET_ITEMS)" if field == "min_items" else ""
                raise ValidationError(f"{where}.{field}: must be an integer from {low}{hint} to {high}, got {value!r}")
        requirement = GoldenRequirement(name=name, version=entry["version"], min_items=entry["min_items"])
        if any((r.name, r.version) == (name, requirement.version) for r in out):
            raise ValidationError(f"{where}: golden set {name!r} v{requirement.version} is listed twice")
        out.append(requirement)
    return tuple(out)


def encode_token(last_key: Mapping[str, Any]) -> str:
    """Opaque pagination token for the primary key of the last item returned."""
    plain = {"pk": last_key["pk"]["S"], "sk": last_key["sk"]["S"]}
    return base64.urlsafe_b64encode(json.dumps(plain, separators=(",", ":")).encode()).decode()


def decode_token(token: str, *, pk: str | None = None) -> dict[str, Any]:
    """Primary key from :func:`encode_token`; ``pk`` pins a token to one prompt's items."""
    try:
        plain = json.loads(base64.urlsafe_b64decode(token.encode()))
    except (binascii.Error, UnicodeError, ValueError):
        plain = None
    valid = (
        isinstance(plain, dict)
        and isinstance(plain.get("pk"), str)
        and isinstance(plain.get("sk"), str)
        and plain["pk"].startswith(PK_PREFIX)
        and (pk is None or plain["pk"] == pk)
    )
    if not valid:
        raise ValidationError("next_token: invalid or from another listing; pass back a token this API returned")
    start: dict[str, Any] = key(plain["pk"], plain["sk"])
    return start


def _projection(*names: str) -> tuple[str, dict[str, str]]:
    # Placeholders for every attribute: several of ours (name, version, ...) are DynamoDB reserved words.
    placeholders = {f"#p{i}": n for i, n in enumerate(names)}
    return ", ".join(placeholders), placeholders


def _check_limit(limit: int) -> None:
    if isinstance(limit, bool) or not isinstance(limit, int) or not 1 <= limit <= MAX_PAGE_SIZE:
        raise ValidationError(f"limit: must be an integer from 1 to {MAX_PAGE_SIZE}, got {limit!r}")


class PromptCatalog:
    """The prompt catalog over one DynamoDB table (see :mod:`common.prompt_store` for the layout)."""

    def __init__(
        self,
        client: DynamoDBClient,
        table_name: str,
        *,
        max_template_bytes: int,
        min_golden_set_items: int = DEFAULT_MIN_GOLDEN_SET_ITEMS,
        knowledge_bases: Mapping[str, str] | None = None,
        max_attempts: int = 5,
        now: Callable[[], datetime] = utc_now,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        """Create a catalog.

        Args:
            client: a boto3 ``dynamodb`` client.
            table_name: the prompt-catalog table.
            max_template_bytes: largest template accepted, in UTF-8 bytes (from ``MAX_TEMPLATE_BYTES``).
            min_golden_set_items: the fewest items a golden set may have to count for a gated alias (the
                function always passes ``MIN_GOLDEN_SET_ITEMS``); versions may require more, never fewer.
            knowledge_bases: ``KNOWLEDGE_BASES``, the knowledge bases a version's ``retrieval`` may name
                (``{name: id}``; none by default, so every retrieval block is refused).
            max_attempts: how many times version creation re-reads ``HEAD`` after losing a race.
            now: clock, injectable for tests.
            sleep: back-off sleep between attempts, injectable for tests.
        """
        if not 1 <= max_template_bytes <= MAX_TEMPLATE_BYTES_CEILING:
            raise ValueError(
                f"max_template_bytes must be 1..{MAX_TEMPLATE_BYTES_CEILING} (DynamoDB items are capped at 400 KB), "
                f"got {max_template_bytes}"
            )
        if isinstance(min_golden_set_items, bool) or not 1 <= min_golden_set_items <= MAX_ITEMS:
            raise ValueError(f"min_golden_set_items must be 1..{MAX_ITEMS}, got {min_golden_set_items!r}")
        if max_attempts < 1:
            raise ValueError(f"max_attempts must be at least 1, got {max_attempts}")
        self._client = client
        self._table = table_name
        self._max_template_bytes = max_template_bytes
        self._min_golden_set_items = min_golden_set_items
        self._max_attempts = max_attempts
        self._knowledge_bases = dict(knowledge_bases or {})
        self._now = now
        self._sleep = sleep

    # ----------------------------------------------------------------------------------------- reads

    def latest_version(self, name: str) -> int:
        """The latest version number of ``name``, or 0 when the prompt does not exist.

        Strongly consistent: it is the expected value of the next version's condition, and a stale
        read would only cost a failed transaction and a retry.
        """
        response = self._client.get_item(
            TableName=self._table,
            Key=key(prompt_pk(name), HEAD_SK),
            ConsistentRead=True,
            ProjectionExpression="latest_version",
        )
        item = response.get("Item")
        return int(item["latest_version"]["N"]) if item else 0

    def _require_prompt(self, name: str) -> int:
        latest = self.latest_version(name)
        if latest == 0:
            raise NotFound(f"prompt {name!r} not found")
        return latest

    def get_version(self, name: str, version: int) -> PromptVersion:
        """One version of a prompt.

        Raises:
            NotFound: the prompt, or that version of it, does not exist (the message says which).
        """
        validate_name(name)
        validate_version_number(version)
        response = self._client.get_item(TableName=self._table, Key=key(prompt_pk(name), version_sk(version)))
        item = response.get("Item")
        if item:
            return PromptVersion.from_item(item)
        # Only on the error path: a second read to tell "no such prompt" from "no such version".
        latest = self._require_prompt(name)
        raise NotFound(f"prompt {name!r} has no version {version} (latest version is {latest})")

    def get_alias(self, name: str, alias: str) -> AliasRecord:
        """One alias of a prompt, with the version it points to.

        Raises:
            NotFound: the prompt or the alias does not exist.
        """
        validate_name(name)
        validate_alias(alias)
        response = self._client.get_item(TableName=self._table, Key=key(prompt_pk(name), alias_sk(alias)))
        item = response.get("Item")
        if item:
            return AliasRecord.from_item(item)
        self._require_prompt(name)
        raise NotFound(f"prompt {name!r} has no alias {alias!r}")

    def list_prompts(self, *, limit: int = 50, next_token: str | None = None) -> Page:
        """Prompts with their latest version, one page at a time.

        A Scan filtered on ``HEAD`` items: fine for a catalog of hundreds or thousands of prompts (it
        reads every item once per full listing). Order is DynamoDB's hash order, stable across pages.
        """
        _check_limit(limit)
        projection, names = _projection("pk", "sk", "name", "latest_version", "updated_at")
        request: dict[str, Any] = {
            "TableName": self._table,
            "FilterExpression": "#p1 = :head",
            "ProjectionExpression": projection,
            "ExpressionAttributeNames": names,
            "ExpressionAttributeValues": {":head": {"S": HEAD_SK}},
        }
        if next_token is not None:
            request["ExclusiveStartKey"] = decode_token(next_token)
        items: list[dict[str, Any]] = []
        while True:
            response = self._client.scan(**request)
            page_items = response.get("Items", [])
            for index, item in enumerate(page_items):
                items.append(
                    {
                        "name": item["pk"]["S"].removeprefix(PK_PREFIX),
                        "latest_version": int(item["latest_version"]["N"]),
                        "updated_at": item.get("updated_at", {}).get("S"),
                    }
                )
                if len(items) == limit:
                    more = index < len(page_items) - 1 or "LastEvaluatedKey" in response
                    # The last returned item's key is a valid ExclusiveStartKey: resume right after it.
                    return Page(items, encode_token(item) if more else None)
            if "LastEvaluatedKey" not in response:
                return Page(items, None)
            request["ExclusiveStartKey"] = response["LastEvaluatedKey"]

    def _query_prefix(
        self, name: str, prefix: str, projection_names: Sequence[str], *, limit: int, next_token: str | None
    ) -> tuple[list[dict[str, Any]], str | None]:
        _check_limit(limit)
        pk = prompt_pk(name)
        projection, names = _projection("pk", "sk", *projection_names)
        request: dict[str, Any] = {
            "TableName": self._table,
            "KeyConditionExpression": "#p0 = :pk AND begins_with(#p1, :prefix)",
            "ProjectionExpression": projection,
            "ExpressionAttributeNames": names,
            "ExpressionAttributeValues": {":pk": {"S": pk}, ":prefix": {"S": prefix}},
            # The key condition already restricts the range, so Limit counts only matching items.
            "Limit": limit,
        }
        if next_token is not None:
            request["ExclusiveStartKey"] = decode_token(next_token, pk=pk)
        response = self._client.query(**request)
        last = response.get("LastEvaluatedKey")
        return response.get("Items", []), encode_token(last) if last else None

    def list_versions(self, name: str, *, limit: int = 50, next_token: str | None = None) -> Page:
        """A prompt's versions, oldest first, without their templates (fetch one version for that).

        Raises:
            NotFound: the prompt does not exist.
        """
        validate_name(name)
        fields = ("version", "sha256", "model_id", "created_by", "created_at", "reason")
        items, token = self._query_prefix(name, VERSION_PREFIX, fields, limit=limit, next_token=next_token)
        if not items and next_token is None:
            raise NotFound(f"prompt {name!r} not found")
        summaries = []
        for item in items:
            summary: dict[str, Any] = {f: item[f].get("S") for f in fields if f != "version"}
            summary["version"] = int(item["version"]["N"])
            summaries.append(summary)
        return Page(summaries, token)

    def list_audit(self, name: str, *, limit: int = 50, next_token: str | None = None) -> Page:
        """A prompt's audit trail, oldest first.

        Raises:
            NotFound: the prompt does not exist.
        """
        validate_name(name)
        fields = ("action", "version", "alias", "who", "why", "when", "revision", "knowledge_base")
        items, token = self._query_prefix(name, AUDIT_PREFIX, fields, limit=limit, next_token=next_token)
        if not items and next_token is None:
            raise NotFound(f"prompt {name!r} not found")
        return Page([AuditEntry.from_item(item).to_dict() for item in items], token)

    def diff(self, name: str, from_version: int, to_version: int) -> dict[str, Any]:
        """Unified diff of two versions' templates plus every other field that changed."""
        validate_version_number(from_version, "from")
        validate_version_number(to_version, "to")
        old = self.get_version(name, from_version)
        new = self.get_version(name, to_version)
        template_diff = "".join(
            difflib.unified_diff(
                old.template.splitlines(keepends=True),
                new.template.splitlines(keepends=True),
                fromfile=f"{name}@v{from_version}",
                tofile=f"{name}@v{to_version}",
            )
        )
        changed: dict[str, dict[str, Any]] = {}
        for field, before, after in (
            ("variables", list(old.variables), list(new.variables)),
            ("model_id", old.model_id, new.model_id),
            ("inference", dict(old.inference), dict(new.inference)),
            ("sha256", old.sha256, new.sha256),
            ("golden_sets", [g.to_dict() for g in old.golden_sets], [g.to_dict() for g in new.golden_sets]),
            ("retrieval", _retrieval_dict(old.retrieval), _retrieval_dict(new.retrieval)),
        ):
            if before != after:
                changed[field] = {"from": before, "to": after}
        return {
            "name": name,
            "from": from_version,
            "to": to_version,
            "template_diff": template_diff,
            "changed": changed,
        }

    def render(
        self,
        name: str,
        variables: Mapping[str, object],
        *,
        alias: str | None = None,
        version: int | None = None,
    ) -> Rendered:
        """Render the version an alias points to, or an explicit version (exactly one of the two)."""
        if (alias is None) == (version is None):
            raise ValidationError("give exactly one of 'alias' or 'version'")
        if alias is not None:
            record = self.get_alias(name, alias)
            source: PromptVersion | AliasRecord = record
        else:
            assert version is not None  # for the type checker: guarded just above
            source = self.get_version(name, version)
        text = templating.render(source.template, source.variables, variables)
        return Rendered(name, source.version, alias, source.model_id, dict(source.inference), text, source.retrieval)

    # ---------------------------------------------------------------------------------------- writes

    def validate_template(self, template: str, variables: Sequence[str]) -> None:
        """Size, emptiness and declaration checks of a new template (no I/O)."""
        size = len(template.encode("utf-8"))
        if size > self._max_template_bytes:
            raise TooLarge(
                f"template: {size} bytes exceeds the limit of {self._max_template_bytes} bytes (MAX_TEMPLATE_BYTES)"
            )
        if not template.strip():
            raise ValidationError("template: must not be empty")
        templating.check_declared(template, variables)

    def validate_retrieval(
        self, raw: object, template: str, variables: Sequence[str]
    ) -> retrieval.RetrievalSpec | None:
        """A version's ``retrieval`` block (``None``: the version does not retrieve); no I/O.

        Raises:
            ValidationError: naming the field; an unknown knowledge base names the configured ones.
        """
        if raw is None:
            return None
        return retrieval.validate_retrieval(
            raw, template_variables=variables, template=template, knowledge_bases=self._knowledge_bases
        )

    def create_version(
        self,
        name: str,
        *,
        template: str,
        variables: Sequence[str],
        model_id: str,
        inference: Mapping[str, object],
        reason: str,
        who: str,
        golden_sets: object = (),
        retrieval: object = None,
    ) -> PromptVersion:
        """Create the next version of ``name`` (creating the prompt on its first version).

        Raises:
            ValidationError / TooLarge: the input is invalid (nothing is written).
            Conflict: other writers kept winning the race for the next number ``max_attempts`` times.
        """
        validate_name(name)
        self.validate_template(template, variables)
        validate_model_id(model_id)
        settings = validate_inference(inference)
        requirements = validate_golden_sets(
            list(golden_sets) if isinstance(golden_sets, tuple) else golden_sets,
            min_items_floor=self._min_golden_set_items,
        )
        spec = self.validate_retrieval(retrieval, template, variables)
        why = validate_reason(reason)
        if not who:
            raise ValidationError("caller identity is missing")
        digest = template_sha256(template)
        pk = prompt_pk(name)
        for attempt in range(1, self._max_attempts + 1):
            latest = self.latest_version(name)
            when = iso(self._now())
            created = PromptVersion(
                name=name,
                version=latest + 1,
                template=template,
                variables=tuple(variables),
                model_id=model_id,
                inference=settings,
                created_by=who,
                created_at=when,
                reason=why,
                sha256=digest,
                golden_sets=requirements,
                retrieval=spec,
            )
            audit = AuditEntry(
                name,
                "create_version",
                created.version,
                who,
                why,
                when,
                uuid.uuid4().hex,
                knowledge_base=spec.knowledge_base if spec is not None else None,
            )
            head_update: dict[str, Any] = {
                "TableName": self._table,
                "Key": key(pk, HEAD_SK),
                "UpdateExpression": "SET latest_version = :new, updated_at = :when, #name = :name",
                "ExpressionAttributeNames": {"#name": "name"},
                "ExpressionAttributeValues": serialize({":new": created.version, ":when": when, ":name": name}),
            }
            if latest == 0:
                head_update["ConditionExpression"] = "attribute_not_exists(pk)"
            else:
                head_update["ConditionExpression"] = "latest_version = :expected"
                head_update["ExpressionAttributeValues"][":expected"] = {"N": str(latest)}
            try:
                self._client.transact_write_items(
                    TransactItems=[
                        {"Update": head_update},
                        self._put_new(created.to_item()),
                        self._put_new(audit.to_item()),
                    ],
                    # Makes botocore's own retries of this attempt idempotent: a retry after a lost
                    # response must not be mistaken for a lost race and create a second version.
                    ClientRequestToken=uuid.uuid4().hex,
                )
                return created
            except ClientError as error:
                if not _lost_race(error):
                    raise
            if attempt < self._max_attempts:
                # Full jitter so that the writers that just collided do not collide again in lockstep
                # (S311: this randomness only spreads retries, it protects nothing).
                self._sleep(random.uniform(0, min(0.2, 0.01 * 2**attempt)))  # noqa: S311
        raise Conflict(
            f"prompt {name!r}: other writers created versions concurrently and {self._max_attempts} attempts "
            "to take the next version number failed; retry the request"
        )

    def create_golden_set(self, document: str, *, who: str) -> tuple[GoldenSet, bool]:
        """Store a new, immutable golden-set version (the JSON document of :class:`GoldenSet`).

        Returns the golden set and whether it was created now: publishing exactly the stored content
        again is not an error (a release may run twice), so it returns ``False`` then.

        Raises ValidationError naming the item and field that is wrong, Conflict when that version exists
        with different content (its name, description, labels or items).
        """
        try:
            golden = GoldenSet.from_json(document)
            # Sized before the write: DynamoDB would refuse an item over 400 KB with a ValidationException.
            request = put_version_request(self._table, golden, created_by=who, created_at=self._now().isoformat())
        except GoldenSetTooLarge as error:
            raise TooLarge(str(error)) from None
        except GoldenSetError as error:
            raise ValidationError(str(error)) from None
        try:
            self._client.put_item(**request)
        except ClientError as error:
            if error.response.get("Error", {}).get("Code") != "ConditionalCheckFailedException":
                raise
            stored = self._client.get_item(**get_version_request(self._table, golden.name, golden.version))
            if "Item" in stored and GoldenSet.from_item(stored["Item"]) == golden:
                return golden, False
            raise Conflict(
                f"golden set {golden.name!r} already has version {golden.version} with different content: "
                "versions are immutable, publish a new version number"
            ) from None
        return golden, True

    def promote(self, name: str, alias: str, *, version: int, reason: str, who: str) -> AliasRecord:
        """Point ``alias`` at ``version`` (creating the alias if needed) and record it in the audit trail.

        One transaction, conditioned on everything that was checked: the version exists, the alias is
        still at the revision read here, and (gated aliases) each gate verdict is still the passed run
        read here. The audit entry carries the alias's new revision and a time after the alias's previous
        write, so the newest promotion in the trail is the one the alias shows.

        Raises:
            ValidationError: invalid name, alias, version or reason.
            NotFound: the prompt or the version does not exist (the message names the version).
            GateRefused: ``alias`` is gated and the version's own model has not passed every golden set
                the version names (missing, failed, too small, or changed during the promotion).
            Conflict: another promotion moved the alias between this one's read and its write.
        """
        validate_name(name)
        validate_alias(alias)
        validate_version_number(version)
        why = validate_reason(reason)
        if not who:
            raise ValidationError("caller identity is missing")
        target = self.get_version(name, version)
        current = self._read_alias(name, alias)
        gate = self._gate_checks(name, alias, target) if alias in GATED_ALIASES else []
        now = self._now()
        if current is not None:
            # Clocks of concurrent callers differ: the audit entry must sort after the write it follows.
            previous = datetime.fromisoformat(current.updated_at.replace("Z", "+00:00"))
            now = max(now, previous + timedelta(microseconds=1))
        when = iso(now)
        revision = (current.revision if current is not None else 0) + 1
        record = AliasRecord.pointing_at(target, alias=alias, who=who, when=when, reason=why, revision=revision)
        audit = AuditEntry(name, "promote", version, who, why, when, uuid.uuid4().hex, alias=alias, revision=revision)
        alias_put: dict[str, Any] = {"TableName": self._table, "Item": record.to_item()}
        if current is None:
            alias_put["ConditionExpression"] = "attribute_not_exists(pk)"
        elif current.revision == 0:
            # Written before revisions existed: the first conditional move gives it one.
            alias_put["ConditionExpression"] = "attribute_exists(pk) AND attribute_not_exists(#rev)"
            alias_put["ExpressionAttributeNames"] = {"#rev": "revision"}
        else:
            alias_put["ConditionExpression"] = "#rev = :rev"
            alias_put["ExpressionAttributeNames"] = {"#rev": "revision"}
            alias_put["ExpressionAttributeValues"] = {":rev": {"N": str(current.revision)}}
        try:
            self._client.transact_write_items(
                TransactItems=[
                    {
                        # Versions are immutable, but the copy in the alias must never describe a version
                        # that is not there: the condition makes the write and the check one step.
                        "ConditionCheck": {
                            "TableName": self._table,
                            "Key": key(prompt_pk(name), version_sk(version)),
                            "ConditionExpression": "attribute_exists(pk)",
                        }
                    },
                    {"Put": alias_put},
                    self._put_new(audit.to_item()),
                    *gate,
                ],
                ClientRequestToken=uuid.uuid4().hex,
            )
        except ClientError as error:
            if error.response.get("Error", {}).get("Code") != "TransactionCanceledException":
                raise
            codes = [reason.get("Code") for reason in error.response.get("CancellationReasons") or []]
            failed = {index for index, code in enumerate(codes) if code == "ConditionalCheckFailed"}
            if 0 in failed:
                raise NotFound(f"prompt {name!r} has no version {version}") from error
            if any(index >= 3 for index in failed):
                raise GateRefused(
                    f"prompt {name!r}: cannot point {alias!r} at v{version}: an evaluation of v{version} on "
                    f"{target.model_id} landed during the promotion; nothing was written, retry to decide on it"
                ) from error
            raise Conflict(
                f"prompt {name!r}: alias {alias!r} was moved by another promotion while this one was checked; "
                "nothing was written: read the alias again and retry"
            ) from error
        return record

    def _read_alias(self, name: str, alias: str) -> AliasRecord | None:
        """The alias as it is now (strongly consistent: its revision is the write's condition)."""
        response = self._client.get_item(
            TableName=self._table, Key=key(prompt_pk(name), alias_sk(alias)), ConsistentRead=True
        )
        item = response.get("Item")
        return AliasRecord.from_item(item) if item else None

    def _gate_checks(self, name: str, alias: str, target: PromptVersion) -> list[dict[str, Any]]:
        """The ConditionChecks that keep every passed gate verdict of ``target`` as read; else :class:`GateRefused`.

        The model is the target's own ``model_id``: the alias record copies it and the gateway calls it,
        so an evaluation in which another model won or passed does not count.
        """
        refused = f"prompt {name!r}: cannot point {alias!r} at v{target.version}"
        model = target.model_id
        if not target.golden_sets:
            raise GateRefused(
                f"{refused}: v{target.version} names no golden set it must pass (create a version with "
                "golden_sets: [{name, version, min_items}])"
            )
        checks: list[dict[str, Any]] = []
        for requirement in target.golden_sets:
            golden = f"golden set {requirement.name} v{requirement.version}"
            sk = gate_sk(target.version, requirement.name, requirement.version, model)
            response = self._client.get_item(TableName=self._table, Key=key(prompt_pk(name), sk), ConsistentRead=True)
            item = response.get("Item")
            if not item:
                raise GateRefused(
                    f"{refused}: no evaluation of v{target.version} on {model} (the model {alias!r} would call) "
                    f"over {golden} (run the evaluation first)"
                )
            run_id = item.get("run_id", {}).get("S", "?")
            if item.get("passed", {}).get("BOOL") is not True:
                reasons = [entry.get("S", "") for entry in item.get("reasons", {}).get("L", [])]
                first = reasons[0] if reasons else "no reason recorded"
                raise GateRefused(
                    f"{refused}: evaluation {run_id} of v{target.version} on {model} over {golden} failed: {first}"
                )
            counted = int(item.get("golden_items", {}).get("N", "0"))
            needed = max(requirement.min_items, self._min_golden_set_items)
            if counted < needed:
                raise GateRefused(
                    f"{refused}: evaluation {run_id} over {golden} covered {counted} items; at least {needed} "
                    "are required"
                )
            checks.append(
                {
                    "ConditionCheck": {
                        "TableName": self._table,
                        "Key": key(prompt_pk(name), sk),
                        "ConditionExpression": "#passed = :passed AND #run = :run",
                        "ExpressionAttributeNames": {"#passed": "passed", "#run": "run_id"},
                        "ExpressionAttributeValues": {":passed": {"BOOL": True}, ":run": {"S": run_id}},
                    }
                }
            )
        return checks

    def _put_new(self, item: dict[str, Any]) -> dict[str, Any]:
        return {"Put": {"TableName": self._table, "Item": item, "ConditionExpression": "attribute_not_exists(pk)"}}


def _retrieval_dict(spec: retrieval.RetrievalSpec | None) -> dict[str, Any] | None:
    return spec.to_dict() if spec is not None else None


def _lost_race(error: ClientError) -> bool:
    """True when a transaction was cancelled because a condition failed or another transaction interfered."""
    if error.response.get("Error", {}).get("Code") != "TransactionCanceledException":
        return False
    reasons = error.response.get("CancellationReasons") or []
    return any(reason.get("Code") in _RETRYABLE_CANCEL_CODES for reason in reasons)
