"""Versioned golden (evaluation) sets: format, validation, JSON files and DynamoDB items.

A golden set is what a prompt version is measured against: a name, an immutable version and items. Each
item has an ``id``, the ``inputs`` (the prompt's template variables), what a good answer looks like
(``expected_label`` for classification, ``reference`` text for similarity metrics, at least one of the
two; labels on every item or on none), an optional ``context`` (the source text an answer must stay
grounded in) and ``tags`` for slicing results (``hard``, ``multi-issue``...).

Storage shares the prompt-catalog table: ``pk = EVALSET#<name>``, ``sk = V#<version:08d>``, one item per
version holding the items as a JSON string. One attribute rather than a DynamoDB list because a set is
read and written whole, and a JSON string keeps the 400 KB item limit easy to reason about (``to_item``
refuses a set that would not fit). Versions are immutable like prompt versions: :func:`put_version_request`
builds a PutItem that fails if the version already exists, so a scorecard always refers to the exact
items it was measured on.

Errors name the item and field (``items[3] (id 'T-004').expected_label: ...``) because golden sets are
edited by hand.
"""

from __future__ import annotations

import hashlib
import json
import re
import unicodedata
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from common import safe_json
from common.errors import TooLarge, ValidationError

SET_NAME_RE = re.compile(r"^[a-z0-9][a-z0-9\-_]{0,63}\Z")
ITEM_ID_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9\-_.]{0,63}\Z")
VARIABLE_NAME_RE = re.compile(r"^[A-Za-z_][A-Za-z0-9_]{0,63}\Z")
TAG_RE = re.compile(r"^[a-z0-9][a-z0-9\-_]{0,31}\Z")
PK_PREFIX = "EVALSET#"
VERSION_PREFIX = "V#"
FORMAT = "golden-set/v1"
# DynamoDB's item limit is 400 KB; keep headroom for the other attributes and attribute names.
MAX_ITEMS_JSON_BYTES = 350_000
# DynamoDB's limit on one item (attribute names and values together), which to_item checks as a whole:
# the description and labels count too. "400 KB" read as 400,000 bytes, the strictest reading: AWS was
# measured to refuse between 409 and 410 KB, moto refuses above 405,000 bytes.
MAX_ITEM_BYTES = 400_000
# A golden-set document (file or request body) can be larger than its compact stored form (indentation).
MAX_DOCUMENT_BYTES = safe_json.MAX_BODY_BYTES
MAX_ITEMS = 5_000

_SET_FIELDS = frozenset({"format", "name", "version", "description", "labels", "items"})
_ITEM_FIELDS = frozenset({"id", "inputs", "expected_label", "reference", "context", "tags", "expectedDocuments"})
# expectedDocuments (#16): the documents a retrieval must find for the item (S3 keys relative to the
# knowledge base's documents prefix, or full s3:// URIs); recall@k is scored against them.
MAX_EXPECTED_DOCUMENTS = 20
MAX_DOCUMENT_REF_CHARS = 1024  # an S3 key is at most 1024 bytes


class GoldenSetError(ValueError):
    """The golden set is malformed; the message names the item and field at fault."""


class GoldenSetTooLarge(GoldenSetError):
    """The golden set does not fit the document or DynamoDB item size limit (HTTP 413)."""


def evalset_pk(name: str) -> str:
    """Partition key of every version of golden set ``name``."""
    return f"{PK_PREFIX}{name}"


def version_sk(version: int) -> str:
    """Sort key of a version; zero-padded so sort order is numeric order (same layout as prompts)."""
    return f"{VERSION_PREFIX}{version:08d}"


@dataclass(frozen=True)
class GoldenItem:
    """One evaluation case."""

    id: str
    inputs: Mapping[str, str]
    expected_label: str | None = None
    reference: str | None = None
    context: str | None = None
    tags: tuple[str, ...] = ()
    expected_documents: tuple[str, ...] = ()

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form; absent optional fields are omitted so files stay readable."""
        out: dict[str, Any] = {"id": self.id, "inputs": dict(self.inputs)}
        for name in ("expected_label", "reference", "context"):
            value = getattr(self, name)
            if value is not None:
                out[name] = value
        if self.tags:
            out["tags"] = list(self.tags)
        if self.expected_documents:
            out["expectedDocuments"] = list(self.expected_documents)
        return out


@dataclass(frozen=True)
class GoldenSet:
    """One immutable version of a golden set."""

    name: str
    version: int
    items: tuple[GoldenItem, ...]
    description: str = ""
    # The closed label vocabulary of a classification set; empty when the set has no labels.
    labels: tuple[str, ...] = field(default=())

    def item(self, item_id: str) -> GoldenItem:
        """The item with ``item_id``.

        Raises:
            KeyError: no such item.
        """
        for candidate in self.items:
            if candidate.id == item_id:
                return candidate
        raise KeyError(f"golden set {self.name!r} v{self.version} has no item {item_id!r}")

    def item_ids(self) -> frozenset[str]:
        """Every item id."""
        return frozenset(i.id for i in self.items)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form (the file format)."""
        return {
            "format": FORMAT,
            "name": self.name,
            "version": self.version,
            "description": self.description,
            "labels": list(self.labels),
            "items": [i.to_dict() for i in self.items],
        }

    @classmethod
    def from_dict(cls, raw: object) -> GoldenSet:
        """Parse and validate the file format.

        Raises:
            GoldenSetError: naming the field (and item) that is wrong.
        """
        if not isinstance(raw, Mapping):
            raise GoldenSetError("golden set: must be a JSON object")
        extra = set(raw) - _SET_FIELDS
        if extra:
            raise GoldenSetError(f"golden set: unknown fields {sorted(extra)}")
        fmt = raw.get("format", FORMAT)
        if fmt != FORMAT:
            raise GoldenSetError(f"format: expected {FORMAT!r}, got {fmt!r}")
        name = raw.get("name")
        if not isinstance(name, str) or not SET_NAME_RE.match(name):
            raise GoldenSetError(f"name: {name!r} is not a valid set name (lowercase letters, digits, '-', '_')")
        version = raw.get("version")
        if isinstance(version, bool) or not isinstance(version, int) or not 1 <= version <= 99_999_999:
            raise GoldenSetError(f"version: must be an integer from 1 to 99999999, got {version!r}")
        description = raw.get("description", "")
        if not isinstance(description, str):
            raise GoldenSetError("description: must be a string")
        labels = _labels(raw.get("labels", []))
        items_raw = raw.get("items")
        if not isinstance(items_raw, list) or not items_raw:
            raise GoldenSetError("items: must be a non-empty list")
        if len(items_raw) > MAX_ITEMS:
            raise GoldenSetError(f"items: at most {MAX_ITEMS} items, got {len(items_raw)}")
        items = tuple(_item(index, entry, labels) for index, entry in enumerate(items_raw))
        seen: dict[str, int] = {}
        for index, item in enumerate(items):
            if item.id in seen:
                raise GoldenSetError(f"items[{index}].id: {item.id!r} duplicates items[{seen[item.id]}]")
            seen[item.id] = index
        # Labels are all or nothing: accuracy is a metric of a labelled set, and a set that labels only some
        # items would gate on a sample its author did not choose (the quality gate skips min_accuracy only
        # for a set with no labels at all).
        labelled = [index for index, item in enumerate(items) if item.expected_label is not None]
        if labelled and len(labelled) != len(items):
            missing = next(index for index, item in enumerate(items) if item.expected_label is None)
            raise GoldenSetError(
                f"items[{missing}] (id {items[missing].id!r}).expected_label: missing, but {len(labelled)} of the "
                f"{len(items)} items have one; a golden set labels every item or none"
            )
        # Every item must fill the same variables: one prompt template renders them all.
        first = set(items[0].inputs)
        for index, item in enumerate(items):
            if set(item.inputs) != first:
                raise GoldenSetError(
                    f"items[{index}] (id {item.id!r}).inputs: variables {sorted(item.inputs)} differ from "
                    f"items[0]'s {sorted(first)}"
                )
        return cls(name=name, version=version, items=items, description=description, labels=labels)

    def to_json(self) -> str:
        """The file content: stable key order and indentation so diffs in review are readable."""
        return json.dumps(self.to_dict(), indent=2, ensure_ascii=False) + "\n"

    @classmethod
    def from_json(cls, text: str) -> GoldenSet:
        """Parse the file content.

        Raises:
            GoldenSetError: invalid JSON or an invalid set.
        """
        try:
            raw = safe_json.loads(text, where="golden set", max_bytes=MAX_DOCUMENT_BYTES)
        except TooLarge as error:
            raise GoldenSetTooLarge(str(error)) from None
        except ValidationError as error:
            raise GoldenSetError(str(error)) from None
        return cls.from_dict(raw)

    def items_json(self) -> str:
        """The items as stored in DynamoDB: compact and key-sorted, so the hash is stable."""
        return json.dumps([i.to_dict() for i in self.items], sort_keys=True, separators=(",", ":"))

    def sha256(self) -> str:
        """Hex SHA-256 of the stored items: lets a scorecard prove which exact items it was measured on."""
        return hashlib.sha256(self.items_json().encode("utf-8")).hexdigest()

    def to_item(self, *, created_by: str, created_at: str) -> dict[str, Any]:
        """The DynamoDB item (attribute-value form, keys included) of this version.

        Raises:
            GoldenSetTooLarge: the set does not fit one DynamoDB item.
        """
        items_json = self.items_json()
        size = len(items_json.encode("utf-8"))
        if size > MAX_ITEMS_JSON_BYTES:
            raise GoldenSetTooLarge(f"items: {size} bytes of JSON exceed the {MAX_ITEMS_JSON_BYTES}-byte item budget")
        item = {
            "pk": {"S": evalset_pk(self.name)},
            "sk": {"S": version_sk(self.version)},
            "name": {"S": self.name},
            "version": {"N": str(self.version)},
            "description": {"S": self.description},
            "labels": {"L": [{"S": label} for label in self.labels]},
            "item_count": {"N": str(len(self.items))},
            "items": {"S": items_json},
            "sha256": {"S": self.sha256()},
            "created_by": {"S": created_by},
            "created_at": {"S": created_at},
        }
        total = item_size(item)
        if total > MAX_ITEM_BYTES:
            raise GoldenSetTooLarge(
                f"golden set {self.name!r} v{self.version}: {total} bytes as a DynamoDB item exceed its "
                f"{MAX_ITEM_BYTES}-byte limit (items {size} bytes, description "
                f"{len(self.description.encode('utf-8'))} bytes, {len(self.labels)} labels)"
            )
        return item

    @classmethod
    def from_item(cls, item: Mapping[str, Any]) -> GoldenSet:
        """Parse an item as returned by GetItem/Query; validates like a file, and checks the stored hash.

        Raises:
            GoldenSetError: the item is malformed or its items do not match their stored hash.
        """
        try:
            raw = {
                "name": item["name"]["S"],
                "version": int(item["version"]["N"]),
                "description": item.get("description", {"S": ""})["S"],
                "labels": [entry["S"] for entry in item.get("labels", {"L": []})["L"]],
                "items": json.loads(item["items"]["S"]),
            }
        except (KeyError, TypeError, ValueError) as error:
            raise GoldenSetError(f"golden set item: malformed ({error!r})") from None
        golden = cls.from_dict(raw)
        stored = item.get("sha256", {}).get("S")
        if stored is not None and stored != golden.sha256():
            raise GoldenSetError(f"golden set {golden.name!r} v{golden.version}: items do not match their sha256")
        return golden


def item_size(item: Mapping[str, Any]) -> int:
    """An upper bound of the size DynamoDB counts for ``item`` (attribute-value form) against its 400 KB limit.

    DynamoDB counts each attribute name's UTF-8 bytes plus its value: a string's UTF-8 bytes, a number's
    significant digits / 2 + 1 (bounded here by its length + 1), 1 byte for a boolean or null, and for a
    list or map 3 bytes plus 1 byte per element plus the elements themselves.
    """
    return sum(len(name.encode("utf-8")) + _value_size(value) for name, value in item.items())


def _value_size(value: Mapping[str, Any]) -> int:
    (kind, content), *_ = value.items()
    if kind == "S":
        return len(str(content).encode("utf-8"))
    if kind == "N":
        return len(str(content)) + 1
    if kind == "L":
        return 3 + sum(1 + _value_size(entry) for entry in content)
    if kind == "M":
        return 3 + sum(1 + len(k.encode("utf-8")) + _value_size(v) for k, v in content.items())
    return 1


def put_version_request(table_name: str, golden: GoldenSet, *, created_by: str, created_at: str) -> dict[str, Any]:
    """Keyword arguments of the PutItem that stores a new version, refusing to overwrite an existing one."""
    return {
        "TableName": table_name,
        "Item": golden.to_item(created_by=created_by, created_at=created_at),
        "ConditionExpression": "attribute_not_exists(pk)",
    }


def get_version_request(table_name: str, name: str, version: int) -> dict[str, Any]:
    """Keyword arguments of the GetItem that reads one version (strongly consistent: it was just written)."""
    return {
        "TableName": table_name,
        "Key": {"pk": {"S": evalset_pk(name)}, "sk": {"S": version_sk(version)}},
        "ConsistentRead": True,
    }


def load(path: str | Path) -> GoldenSet:
    """Read and validate a golden-set file.

    Raises:
        GoldenSetError: naming the file and what is wrong.
    """
    path = Path(path)
    try:
        return GoldenSet.from_json(path.read_text(encoding="utf-8"))
    except GoldenSetError as error:
        raise GoldenSetError(f"{path.name}: {error}") from None


def save(golden: GoldenSet, path: str | Path) -> None:
    """Write ``golden`` as a file (validating first, so a set that cannot be read back is never written)."""
    text = golden.to_json()
    GoldenSet.from_json(text)
    Path(path).write_text(text, encoding="utf-8")


def _labels(raw: object) -> tuple[str, ...]:
    if not isinstance(raw, list) or not all(isinstance(label, str) and label.strip() for label in raw):
        raise GoldenSetError("labels: must be a list of non-empty strings")
    normalized = [label.strip().lower() for label in raw]
    if len(set(normalized)) != len(normalized):
        raise GoldenSetError("labels: duplicates (labels compare case-insensitively)")
    return tuple(normalized)


def _optional_text(where: str, entry: Mapping[str, Any], name: str) -> str | None:
    value = entry.get(name)
    if value is None:
        return None
    if not isinstance(value, str) or not value.strip():
        raise GoldenSetError(f"{where}.{name}: must be a non-empty string when present")
    return value


def _item(index: int, entry: object, labels: Sequence[str]) -> GoldenItem:
    if not isinstance(entry, Mapping):
        raise GoldenSetError(f"items[{index}]: must be an object")
    raw_id = entry.get("id")
    if not isinstance(raw_id, str) or not ITEM_ID_RE.match(raw_id):
        raise GoldenSetError(f"items[{index}].id: {raw_id!r} is not a valid id (letters, digits, '-', '_', '.')")
    where = f"items[{index}] (id {raw_id!r})"
    extra = set(entry) - _ITEM_FIELDS
    if extra:
        raise GoldenSetError(f"{where}: unknown fields {sorted(extra)}")
    inputs = entry.get("inputs")
    if not isinstance(inputs, Mapping) or not inputs:
        raise GoldenSetError(f"{where}.inputs: must be a non-empty object of template variables")
    for name, value in inputs.items():
        if not VARIABLE_NAME_RE.match(name):
            raise GoldenSetError(f"{where}.inputs.{name}: not a valid template variable name")
        if not isinstance(value, str):
            raise GoldenSetError(f"{where}.inputs.{name}: must be a string, got {type(value).__name__}")
    expected_label = _optional_text(where, entry, "expected_label")
    reference = _optional_text(where, entry, "reference")
    context = _optional_text(where, entry, "context")
    if expected_label is None and reference is None:
        raise GoldenSetError(f"{where}: needs expected_label, reference or both (nothing to score against)")
    if expected_label is not None:
        expected_label = expected_label.strip().lower()
        if labels and expected_label not in labels:
            raise GoldenSetError(f"{where}.expected_label: {expected_label!r} is not one of labels {list(labels)}")
    tags = entry.get("tags", [])
    if not isinstance(tags, list) or not all(isinstance(t, str) and TAG_RE.match(t) for t in tags):
        raise GoldenSetError(f"{where}.tags: must be a list of lowercase tags (letters, digits, '-', '_')")
    return GoldenItem(
        id=raw_id,
        inputs=dict(inputs),
        expected_label=expected_label,
        reference=reference,
        context=context,
        tags=tuple(tags),
        expected_documents=_expected_documents(where, entry.get("expectedDocuments", [])),
    )


def _expected_documents(where: str, raw: object) -> tuple[str, ...]:
    field_name = f"{where}.expectedDocuments"
    if not isinstance(raw, list):
        raise GoldenSetError(f"{field_name}: must be a list of document keys or s3:// URIs")
    if len(raw) > MAX_EXPECTED_DOCUMENTS:
        raise GoldenSetError(f"{field_name}: at most {MAX_EXPECTED_DOCUMENTS} documents, got {len(raw)}")
    out: list[str] = []
    for index, value in enumerate(raw):
        at = f"{field_name}[{index}]"
        if not isinstance(value, str):
            raise GoldenSetError(f"{at}: must be a string, got {type(value).__name__}")
        if not value or value != value.strip():
            raise GoldenSetError(f"{at}: must be a non-empty key without leading or trailing whitespace")
        if len(value) > MAX_DOCUMENT_REF_CHARS:
            raise GoldenSetError(f"{at}: at most {MAX_DOCUMENT_REF_CHARS} characters, got {len(value)}")
        # Control and format characters (zero-width, bidi overrides) make a key look like another one.
        bad = next((c for c in value if unicodedata.category(c).startswith("C")), None)
        if bad is not None:
            raise GoldenSetError(f"{at}: contains the character U+{ord(bad):04X}")
        if value in out:
            raise GoldenSetError(f"{at}: {value[:80]!r} is listed twice")
        out.append(value)
    return tuple(out)
