"""The shipped table of Bedrock models (``bedrock_models.json``): lifecycle state, and how a Region calls them.

Plain Python over a JSON file, no CDK: config validation (:mod:`stacks.config`), the stacks' IAM, the
maturity assessment and the emulator's stand-in Bedrock all read the same table. Bedrock serves a model
in a Region either under its bare ID (on demand, "in Region") or only through a cross-Region inference
profile, whose ID is the model ID with a geography prefix (``eu.amazon.nova-lite-v1:0``) and which can
be called only from that geography's Regions (``global.`` from any commercial Region).
"""

from __future__ import annotations

import functools
import json
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal, cast

CATALOG_PATH = Path(__file__).with_name("bedrock_models.json")
GLOBAL = "global"
Lifecycle = Literal["ACTIVE", "LEGACY", "EOL"]
_LIFECYCLES = ("ACTIVE", "LEGACY", "EOL")


class CatalogError(ValueError):
    """The table itself is malformed; the message names the entry and field."""


def split_model_id(model_id: str, prefixes: frozenset[str]) -> tuple[str | None, str]:
    """``("eu", "amazon.nova-lite-v1:0")`` for a profile ID, ``(None, model_id)`` for a foundation model ID."""
    head, dot, rest = model_id.partition(".")
    if dot and head in prefixes and "." in rest:
        return head, rest
    return None, model_id


@dataclass(frozen=True)
class ModelEntry:
    """One foundation model: its state, dates, and where it is served on demand or through profiles."""

    id: str
    name: str
    lifecycle: Lifecycle
    eol_date: str | None
    eol_not_before: str | None
    regional_lifecycle: Mapping[str, Lifecycle]
    replacement: str | None
    in_region: frozenset[str]
    profiles: frozenset[str]
    source: str

    def lifecycle_in(self, region: str) -> Lifecycle:
        return self.regional_lifecycle.get(region, self.lifecycle)


@dataclass(frozen=True)
class Catalog:
    """The whole table: geographies (profile prefix -> source Regions) and the models."""

    as_of: str
    geographies: Mapping[str, frozenset[str]]
    models: Mapping[str, ModelEntry]

    @property
    def prefixes(self) -> frozenset[str]:
        return frozenset(self.geographies)

    def split(self, model_id: str) -> tuple[str | None, str]:
        return split_model_id(model_id, self.prefixes)

    def geography_serves(self, prefix: str, region: str) -> bool:
        """Whether a ``prefix.`` profile can be called from ``region``."""
        regions = self.geographies.get(prefix, frozenset())
        return "*" in regions or region in regions

    def callable_id(self, base: str, region: str) -> str | None:
        """The ID to call ``base`` with from ``region``: bare in Region, else its geography's profile, else
        ``global.``; None when the table knows no way (or does not know the model)."""
        entry = self.models.get(base)
        if entry is None:
            return None
        if region in entry.in_region:
            return base
        geographic = sorted(p for p in entry.profiles if p != GLOBAL and self.geography_serves(p, region))
        if geographic:
            return f"{geographic[0]}.{base}"
        if GLOBAL in entry.profiles:
            return f"{GLOBAL}.{base}"
        return None

    def problem(self, model_id: str, region: str) -> str | None:
        """Why ``model_id`` cannot be called from ``region`` (one clause naming a replacement), or None.

        A model the table does not know passes: offline there is nothing to say about it (``make assess``
        reads the live state).
        """
        prefix, base = self.split(model_id)
        if prefix is not None and not self.geography_serves(prefix, region):
            better = self.callable_id(base, region)
            return (
                f"{model_id!r} is a cross-Region inference profile of the {prefix!r} geography, which cannot be called "
                f"from {region}" + (f"; use {better!r}" if better else "")
            )
        entry = self.models.get(base)
        if entry is None:
            return None
        state = entry.lifecycle_in(region)
        if state != "ACTIVE":
            replacement = entry.replacement and (self.callable_id(entry.replacement, region) or entry.replacement)
            when = f" on {entry.eol_date}" if entry.eol_date else ""
            what = (
                f"reached end of life on Bedrock{when}"
                if state == "EOL"
                else f"is a Legacy model on Bedrock in {region}, on its way to end of life"
            )
            return f"{model_id!r} ({entry.name}) {what}" + (
                f"; use {replacement!r} instead" if replacement else "; choose an Active model"
            )
        if prefix is None:
            if region in entry.in_region:
                return None
            better = self.callable_id(base, region)
            if better is None:
                return f"{model_id!r} ({entry.name}) is not served in {region}"
            return (
                f"{model_id!r} ({entry.name}) is served in {region} only through a cross-Region inference "
                f"profile; use {better!r}"
            )
        if prefix not in entry.profiles:
            better = self.callable_id(base, region)
            return f"Bedrock has no {prefix}. inference profile for {entry.name}" + (
                f"; use {better!r}" if better else ""
            )
        return None


def _strings(raw: object, where: str) -> frozenset[str]:
    if not isinstance(raw, list) or not all(isinstance(item, str) and item for item in raw):
        raise CatalogError(f"{where}: expected a list of strings")
    return frozenset(cast(list[str], raw))


def _lifecycle(raw: object, where: str) -> Lifecycle:
    if raw not in _LIFECYCLES:
        raise CatalogError(f"{where}: {raw!r} is not one of {', '.join(_LIFECYCLES)}")
    return cast(Lifecycle, raw)


def _optional_str(entry: Mapping[str, Any], key: str, where: str) -> str | None:
    value = entry.get(key)
    if value is not None and (not isinstance(value, str) or not value):
        raise CatalogError(f"{where}.{key}: expected a non-empty string")
    return value


def parse_catalog(document: object, *, name: str = "bedrock_models.json") -> Catalog:
    """Build a :class:`Catalog` from the parsed JSON document.

    Raises:
        CatalogError: naming the entry and field that are wrong.
    """
    if not isinstance(document, Mapping):
        raise CatalogError(f"{name}: expected an object")
    geographies_raw = document.get("geographies")
    models_raw = document.get("models")
    as_of = document.get("asOf")
    if not isinstance(as_of, str) or not isinstance(geographies_raw, Mapping) or not isinstance(models_raw, Mapping):
        raise CatalogError(f"{name}: needs 'asOf', 'geographies' and 'models'")
    geographies = {
        str(prefix): _strings(regions, f"{name}: geographies.{prefix}") for prefix, regions in geographies_raw.items()
    }
    models: dict[str, ModelEntry] = {}
    for model_id, raw in models_raw.items():
        where = f"{name}: models[{model_id!r}]"
        if not isinstance(raw, Mapping):
            raise CatalogError(f"{where}: expected an object")
        if split_model_id(model_id, frozenset(geographies))[0] is not None:
            raise CatalogError(f"{where}: key the table by foundation model ID, not by profile ID")
        profiles = _strings(raw.get("profiles", []), f"{where}.profiles")
        unknown = sorted(profiles - set(geographies))
        if unknown:
            raise CatalogError(f"{where}.profiles: {', '.join(unknown)} not in geographies")
        regional = raw.get("regionalLifecycle", {})
        if not isinstance(regional, Mapping):
            raise CatalogError(f"{where}.regionalLifecycle: expected an object")
        name_value = _optional_str(raw, "name", where)
        source = _optional_str(raw, "source", where)
        if name_value is None or source is None:
            raise CatalogError(f"{where}: 'name' and 'source' are required")
        models[model_id] = ModelEntry(
            id=model_id,
            name=name_value,
            lifecycle=_lifecycle(raw.get("lifecycle"), f"{where}.lifecycle"),
            eol_date=_optional_str(raw, "eolDate", where),
            eol_not_before=_optional_str(raw, "eolNotBefore", where),
            regional_lifecycle={str(r): _lifecycle(s, f"{where}.regionalLifecycle.{r}") for r, s in regional.items()},
            replacement=_optional_str(raw, "replacement", where),
            in_region=_strings(raw.get("inRegion", []), f"{where}.inRegion"),
            profiles=profiles,
            source=source,
        )
    for entry in models.values():
        if entry.replacement is not None and entry.replacement not in models:
            raise CatalogError(f"{name}: models[{entry.id!r}].replacement: {entry.replacement!r} is not in the table")
        if entry.replacement is not None and models[entry.replacement].lifecycle != "ACTIVE":
            raise CatalogError(f"{name}: models[{entry.id!r}].replacement: {entry.replacement!r} is not Active")
    return Catalog(as_of=as_of, geographies=geographies, models=models)


def load_catalog(path: Path = CATALOG_PATH) -> Catalog:
    """Read and parse the table at ``path``."""
    try:
        document = json.loads(path.read_text())
    except (OSError, json.JSONDecodeError) as error:
        raise CatalogError(f"cannot read {path.name}: {error}") from error
    return parse_catalog(document, name=path.name)


@functools.cache
def shipped_catalog() -> Catalog:
    """The table shipped with the project (read once per process)."""
    return load_catalog()
