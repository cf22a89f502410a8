"""The price table (``maturity/prices.json``): loading, validating, and the error every cost module raises."""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

PRICES_PATH = Path(__file__).resolve().parents[1] / "prices.json"
BUDGET_KEY = "idleBudgetUsd"
DEFAULTS_KEY = "mlops:defaults"
ENVIRONMENTS_KEY = "mlops:environments"
Format = Literal["table", "json", "markdown"]

# <Prefix>-<env>-<Stack>: any cdk.json name prefix (capitalized, lowercase after its first letter, so the first
# "-<Uppercase>" ends the environment: "Acme-ml-dev-Level0Exploration" is environment dev).
_STACK_ENV_RE = re.compile(r"^[A-Z][a-z0-9-]*?-(?P<env>[a-z][a-z0-9]{1,15})-[A-Z]")
_TEMPLATE_SUFFIX = ".template.json"


class CostError(ValueError):
    """Templates, cdk.json or the price table cannot be read; the message is one sentence."""


# --------------------------------------------------------------------------------------------------
# Price table


@dataclass(frozen=True)
class Prices:
    hours_per_month: float
    region: str
    about: str
    entries: Mapping[str, Mapping[str, Any]]
    not_estimated: Mapping[str, str]
    usage: Mapping[str, Any] = field(default_factory=dict)
    evaluation_run: Mapping[str, Any] = field(default_factory=dict)
    monitoring_run: Mapping[str, Any] = field(default_factory=dict)

    def monthly(self, key: str, kind: str | None = None) -> float | None:
        """USD per month for one unit of `key` (of instance type `kind` for per-type entries); None if unknown."""
        entry = self.entries[key]
        if "usdPerMonth" in entry:
            value = entry["usdPerMonth"]
            hours = 1.0
        else:
            value = entry["usdPerHour"]
            hours = self.hours_per_month
        if isinstance(value, Mapping):
            if kind is None or kind not in value:
                return None
            value = value[kind]
        return float(value) * hours


def load_prices(path: Path = PRICES_PATH) -> Prices:
    try:
        raw = json.loads(path.read_text())
    except (OSError, json.JSONDecodeError) as error:
        raise CostError(f"cannot read the price table {path}: {error}") from error
    for key, entry in raw["prices"].items():
        if ("usdPerHour" in entry) == ("usdPerMonth" in entry) or not entry.get("source") or not entry.get("as_of"):
            raise CostError(
                f"{path.name}: price {key!r} needs exactly one of usdPerHour/usdPerMonth, a source and as_of"
            )
    return Prices(
        hours_per_month=float(raw["hoursPerMonth"]),
        region=str(raw["region"]),
        about=str(raw["about"]),
        entries=raw["prices"],
        not_estimated=raw.get("notEstimated", {}),
        usage=raw.get("usagePrices", {}),
        evaluation_run=_evaluation_run(raw.get("evaluationRun", {}), path.name),
        monitoring_run=raw.get("monitoringRun", {}),
    )


_RUN_KEYS = (
    "goldenItems",
    "redTeamItems",
    "candidateInputTokens",
    "candidateOutputTokens",
    "judgeInputTokens",
    "judgeOutputTokens",
    "embeddingTokensPerText",
    "textUnitsPerCheck",
)


def _evaluation_run(raw: Any, name: str) -> dict[str, Any]:
    if not raw:
        return {}
    for key in _RUN_KEYS:
        value = raw.get(key) if isinstance(raw, Mapping) else None
        if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= 10**7:
            raise CostError(f"{name}: evaluationRun.{key} must be an integer from 0 to 10000000, got {value!r}")
    return dict(raw)
