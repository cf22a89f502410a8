"""The prompt-catalog table: key layout and item (de)serialization, shared by both functions.

One table, keys ``pk`` (S) and ``sk`` (S). Every item of a prompt lives under ``pk = PROMPT#<name>``:

=====================  ==========================================================================
``sk``                 item
=====================  ==========================================================================
``HEAD``               ``latest_version`` (N): the version counter, written in the same transaction
                       as each new version so numbers have no gaps and never repeat
``V#<version:08d>``    an immutable version: template, declared variables, model, inference settings
``ALIAS#<alias>``      the version an alias points to plus a denormalized copy of that version, so the
                       gateway resolves an alias with one GetItem
``AUDIT#<ts>#<uuid>``  who did what and why (``create_version`` or ``promote``)
``EVAL#<v:08d>#<run>``  one evaluation run's summary (written by the evaluation function, never changed)
``GATE#<v:08d>#<set>#   the gate verdict of one (prompt version, model, golden-set version) triple: the
<gv:08d>#<model>``      newest evaluation run of that triple, moved forward only (see :func:`gate_sk`)
=====================  ==========================================================================

The low-level client is used (not the resource API) because TransactWriteItems is a client call and a
single serialization path keeps Decimal handling in one place.
"""

from __future__ import annotations

import hashlib
import math
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any, Protocol

from boto3.dynamodb.types import TypeDeserializer, TypeSerializer
from common.retrieval import RetrievalSpec

PROMPT_NAME_RE = re.compile(r"^[a-z0-9][a-z0-9\-_]{0,63}\Z")
ALIAS_RE = re.compile(r"^[a-z][a-z0-9-]{0,31}\Z")
HEAD_SK = "HEAD"
VERSION_PREFIX = "V#"
ALIAS_PREFIX = "ALIAS#"
AUDIT_PREFIX = "AUDIT#"
EVAL_PREFIX = "EVAL#"
GATE_PREFIX = "GATE#"
PK_PREFIX = "PROMPT#"
# The inference settings Converse accepts in inferenceConfig that a prompt version may pin.
INFERENCE_INT_KEYS = frozenset({"maxTokens"})
INFERENCE_FLOAT_KEYS = frozenset({"temperature", "topP"})
# Converse types maxTokens as a 32-bit integer with no other documented maximum; the largest output any
# model it serves accepts is 128K tokens (Claude's extended output). Each model refuses less on its own,
# which the evaluation exercises before a version can reach prod.
MAX_TOKENS_CEILING = 131_072

AttributeMap = dict[str, Any]
Inference = dict[str, int | float]


class DynamoDBClient(Protocol):
    """The subset of a boto3 ``dynamodb`` client this code calls (documents what IAM must allow)."""

    def get_item(self, **kwargs: Any) -> dict[str, Any]: ...
    def query(self, **kwargs: Any) -> dict[str, Any]: ...
    def scan(self, **kwargs: Any) -> dict[str, Any]: ...
    def transact_write_items(self, **kwargs: Any) -> dict[str, Any]: ...
    def put_item(self, **kwargs: Any) -> dict[str, Any]: ...


def prompt_pk(name: str) -> str:
    """Partition key of every item of prompt ``name``."""
    return f"{PK_PREFIX}{name}"


def version_sk(version: int) -> str:
    """Sort key of a version item; zero-padded so that sort order is numeric order."""
    return f"{VERSION_PREFIX}{version:08d}"


def alias_sk(alias: str) -> str:
    """Sort key of an alias item."""
    return f"{ALIAS_PREFIX}{alias}"


def audit_sk(when: str, event_id: str) -> str:
    """Sort key of an audit item: ISO timestamp first so a prompt's audit trail sorts by time."""
    return f"{AUDIT_PREFIX}{when}#{event_id}"


def gate_sk(version: int, golden_set: str, golden_version: int, model_id: str) -> str:
    """Sort key of the gate verdict of (prompt ``version``, ``model_id``, ``golden_set`` v``golden_version``).

    Model ids never contain ``#`` (the catalog's model id pattern), so the key parses unambiguously.
    """
    return f"{GATE_PREFIX}{version:08d}#{golden_set}#{golden_version:08d}#{model_id}"


def key(pk: str, sk: str) -> AttributeMap:
    """A primary key in DynamoDB's attribute-value form."""
    return {"pk": {"S": pk}, "sk": {"S": sk}}


def template_sha256(template: str) -> str:
    """Hex SHA-256 of the template's UTF-8 bytes (lets reviewers and logs compare versions cheaply)."""
    return hashlib.sha256(template.encode("utf-8")).hexdigest()


_serializer = TypeSerializer()
_deserializer = TypeDeserializer()


def _decimalize(value: Any) -> Any:
    # TypeSerializer refuses float (binary floats are not exact); str() keeps the value the caller wrote.
    if isinstance(value, float):
        if not math.isfinite(value):
            raise ValueError(f"cannot store non-finite number {value!r}")
        return Decimal(str(value))
    if isinstance(value, Mapping):
        return {k: _decimalize(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_decimalize(v) for v in value]
    return value


def serialize(item: Mapping[str, Any]) -> AttributeMap:
    """Plain Python values (floats allowed) to DynamoDB's attribute-value form."""
    return {k: _serializer.serialize(_decimalize(v)) for k, v in item.items()}


def deserialize(item: Mapping[str, Any]) -> dict[str, Any]:
    """DynamoDB's attribute-value form to Python values (numbers come back as Decimal)."""
    return {k: _deserializer.deserialize(v) for k, v in item.items()}


def inference_from_stored(stored: Mapping[str, Any]) -> Inference:
    """Stored inference map (Decimals) to the types Converse's inferenceConfig expects."""
    out: Inference = {}
    for name, value in stored.items():
        out[name] = int(value) if name in INFERENCE_INT_KEYS else float(value)
    return out


def _stored(values: dict[str, Any]) -> dict[str, Any]:
    """``values`` without a null ``retrieval``: versions without retrieval are stored as before it existed."""
    if values.get("retrieval") is None:
        values.pop("retrieval", None)
    return values


def _content_from(raw: Mapping[str, Any]) -> dict[str, Any]:
    """The content fields a version and an alias (which denormalizes its version) both store."""
    return {
        "template": raw["template"],
        "variables": tuple(raw["variables"]),
        "model_id": raw["model_id"],
        "inference": inference_from_stored(raw["inference"]),
        "sha256": raw["sha256"],
        "retrieval": RetrievalSpec.from_stored(raw.get("retrieval")),
    }


@dataclass(frozen=True)
class GoldenRequirement:
    """A golden-set version a prompt version must pass before ``prod``, and its minimum number of items."""

    name: str
    version: int
    min_items: int

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready representation (the API's and the prompt file's ``golden_sets`` entries)."""
        return {"name": self.name, "version": self.version, "min_items": self.min_items}

    @classmethod
    def from_stored(cls, raw: Mapping[str, Any]) -> GoldenRequirement:
        """From a deserialized map (numbers as Decimal)."""
        return cls(name=str(raw["name"]), version=int(raw["version"]), min_items=int(raw["min_items"]))


@dataclass(frozen=True)
class PromptVersion:
    """One immutable version of a prompt.

    ``golden_sets`` are the golden-set versions the version must pass on its own model before a gated
    alias may point at it; versions stored before the field existed read as ``()`` (never promotable to
    a gated alias).
    """

    name: str
    version: int
    template: str
    variables: tuple[str, ...]
    model_id: str
    inference: Inference
    created_by: str
    created_at: str
    reason: str
    sha256: str
    golden_sets: tuple[GoldenRequirement, ...] = ()
    # The knowledge base the gateway retrieves from for this version (None: no retrieval).
    retrieval: RetrievalSpec | None = None

    def to_item(self) -> AttributeMap:
        """The version item: its keys and :meth:`to_dict`."""
        return serialize({"pk": prompt_pk(self.name), "sk": version_sk(self.version), **_stored(self.to_dict())})

    @classmethod
    def from_item(cls, item: Mapping[str, Any]) -> PromptVersion:
        """Parse a version item as returned by GetItem/Query."""
        raw = deserialize(item)
        return cls(
            name=raw["name"],
            version=int(raw["version"]),
            **_content_from(raw),
            created_by=raw["created_by"],
            created_at=raw["created_at"],
            reason=raw["reason"],
            golden_sets=tuple(GoldenRequirement.from_stored(g) for g in raw.get("golden_sets", [])),
        )

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready representation."""
        return {
            "name": self.name,
            "version": self.version,
            "template": self.template,
            "variables": list(self.variables),
            "model_id": self.model_id,
            "inference": dict(self.inference),
            "created_by": self.created_by,
            "created_at": self.created_at,
            "reason": self.reason,
            "sha256": self.sha256,
            "golden_sets": [g.to_dict() for g in self.golden_sets],
            "retrieval": self.retrieval.to_dict() if self.retrieval is not None else None,
        }


@dataclass(frozen=True)
class AliasRecord:
    """An alias and the denormalized copy of the version it points to."""

    name: str
    alias: str
    version: int
    template: str
    variables: tuple[str, ...]
    model_id: str
    inference: Inference
    sha256: str
    updated_by: str
    updated_at: str
    reason: str
    # How many times the alias was written (1 when created): every move is conditional on the revision
    # it read, so two concurrent moves cannot both land. Items from before the field read as 0.
    revision: int = 0
    retrieval: RetrievalSpec | None = None

    @classmethod
    def pointing_at(
        cls, target: PromptVersion, *, alias: str, who: str, when: str, reason: str, revision: int = 1
    ) -> AliasRecord:
        """The alias record for ``alias`` pointing at ``target``."""
        return cls(
            name=target.name,
            alias=alias,
            version=target.version,
            template=target.template,
            variables=target.variables,
            model_id=target.model_id,
            inference=dict(target.inference),
            sha256=target.sha256,
            updated_by=who,
            updated_at=when,
            reason=reason,
            revision=revision,
            retrieval=target.retrieval,
        )

    def to_item(self) -> AttributeMap:
        """The alias item: its keys and :meth:`to_dict`."""
        return serialize({"pk": prompt_pk(self.name), "sk": alias_sk(self.alias), **_stored(self.to_dict())})

    @classmethod
    def from_item(cls, item: Mapping[str, Any]) -> AliasRecord:
        """Parse an alias item as returned by GetItem."""
        raw = deserialize(item)
        return cls(
            name=raw["name"],
            alias=raw["alias"],
            version=int(raw["version"]),
            **_content_from(raw),
            updated_by=raw["updated_by"],
            updated_at=raw["updated_at"],
            reason=raw["reason"],
            revision=int(raw.get("revision", 0)),
        )

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready representation."""
        return {
            "name": self.name,
            "alias": self.alias,
            "version": self.version,
            "template": self.template,
            "variables": list(self.variables),
            "model_id": self.model_id,
            "inference": dict(self.inference),
            "sha256": self.sha256,
            "updated_by": self.updated_by,
            "updated_at": self.updated_at,
            "reason": self.reason,
            "revision": self.revision,
            "retrieval": self.retrieval.to_dict() if self.retrieval is not None else None,
        }


@dataclass(frozen=True)
class AuditEntry:
    """One line of a prompt's audit trail."""

    name: str
    action: str
    version: int
    who: str
    why: str
    when: str
    event_id: str
    alias: str | None = field(default=None)
    # The alias revision a promotion wrote (same transaction as the alias): the trail and the alias agree.
    revision: int | None = field(default=None)
    # The knowledge base a created version retrieves from (None: no retrieval, or another action).
    knowledge_base: str | None = field(default=None)

    def to_item(self) -> AttributeMap:
        """The audit item, keys included; ``alias`` is omitted when the action has none."""
        values: dict[str, Any] = {
            "pk": prompt_pk(self.name),
            "sk": audit_sk(self.when, self.event_id),
            "action": self.action,
            "version": self.version,
            "who": self.who,
            "why": self.why,
            "when": self.when,
        }
        if self.alias is not None:
            values["alias"] = self.alias
        if self.revision is not None:
            values["revision"] = self.revision
        if self.knowledge_base is not None:
            values["knowledge_base"] = self.knowledge_base
        return serialize(values)

    @classmethod
    def from_item(cls, item: Mapping[str, Any]) -> AuditEntry:
        """Parse an audit item as returned by Query."""
        raw = deserialize(item)
        return cls(
            name=raw["pk"].removeprefix(PK_PREFIX),
            action=raw["action"],
            version=int(raw["version"]),
            who=raw["who"],
            why=raw["why"],
            when=raw["when"],
            event_id=raw["sk"].rsplit("#", 1)[-1],
            alias=raw.get("alias"),
            revision=int(raw["revision"]) if "revision" in raw else None,
            knowledge_base=raw.get("knowledge_base"),
        )

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready representation."""
        return {
            "action": self.action,
            "version": self.version,
            "alias": self.alias,
            "who": self.who,
            "why": self.why,
            "when": self.when,
            "id": self.event_id,
            "revision": self.revision,
            "knowledge_base": self.knowledge_base,
        }


def get_alias(client: DynamoDBClient, table_name: str, name: str, alias: str) -> AliasRecord | None:
    """Read one alias with a single GetItem; ``None`` when the alias (or the prompt) does not exist.

    Eventually consistent on purpose: it halves the read cost on the gateway's hot path, and a promotion
    becoming visible a second later is invisible next to the gateway's own cache TTL.
    """
    response = client.get_item(TableName=table_name, Key=key(prompt_pk(name), alias_sk(alias)))
    item = response.get("Item")
    return AliasRecord.from_item(item) if item else None
