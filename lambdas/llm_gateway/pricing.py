"""Model policy of the gateway: which models may be called, and what a call costs.

Both come from the environment the stack sets, decided at synth time:

* ``ALLOWED_MODELS``: comma-separated model ids (``a.b-v1:0,c.d-v2:0``). A prompt whose model is not in
  the list is refused before Bedrock is called, even if IAM would allow it (defence in depth, and a
  clear 403 instead of an AccessDenied from Bedrock).
* ``PRICE_TABLE_JSON``: ``{"<model id>": {"input_per_1k": 0.0008, "output_per_1k": 0.004}}`` in USD
  per 1,000 tokens. Every allowed model must have a price: a call whose cost cannot be attributed is a
  configuration error, caught when the gateway starts rather than on the first call of that model.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from decimal import Decimal

from common.errors import Forbidden


class PricingError(Exception):
    """The price table is malformed or lacks a model (a configuration error, HTTP 500)."""


@dataclass(frozen=True)
class ModelPrice:
    """USD per 1,000 input and output tokens."""

    input_per_1k: Decimal
    output_per_1k: Decimal


def _price(model_id: str, entry: object, field: str) -> Decimal:
    value = entry.get(field) if isinstance(entry, dict) else None
    # bool is an int subclass; JSON true is not a price.
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value) or value < 0:
        raise PricingError(
            f"PRICE_TABLE_JSON[{model_id!r}].{field}: must be a non-negative number of USD per 1,000 tokens"
        )
    return Decimal(str(value))


class PriceTable:
    """Prices per model, and the cost of one call."""

    def __init__(self, prices: Mapping[str, ModelPrice]) -> None:
        """Wrap already-validated prices (see :meth:`from_document` for the environment form)."""
        self._prices = dict(prices)

    @classmethod
    def from_document(cls, raw: object) -> PriceTable:
        """Validate ``PRICE_TABLE_JSON`` as parsed (by :meth:`common.settings.EnvSettings.json`).

        Raises:
            PricingError: naming the entry and field that are wrong.
        """
        if not isinstance(raw, dict) or not raw:
            raise PricingError('PRICE_TABLE_JSON: must be a non-empty object {"<model id>": {...}}')
        prices = {}
        for model_id, entry in raw.items():
            extra = set(entry) - {"input_per_1k", "output_per_1k"} if isinstance(entry, dict) else set()
            if extra:
                raise PricingError(f"PRICE_TABLE_JSON[{model_id!r}]: unknown fields {sorted(extra)}")
            prices[model_id] = ModelPrice(
                _price(model_id, entry, "input_per_1k"), _price(model_id, entry, "output_per_1k")
            )
        return cls(prices)

    def __contains__(self, model_id: object) -> bool:
        """Whether the table prices ``model_id``."""
        return model_id in self._prices

    def models(self) -> frozenset[str]:
        """Every priced model id."""
        return frozenset(self._prices)

    def cost_usd(self, model_id: str, input_tokens: int, output_tokens: int) -> float:
        """Cost of one call in USD (exact decimal arithmetic, returned as float for JSON and metrics).

        Raises:
            PricingError: the model has no price.
        """
        price = self._prices.get(model_id)
        if price is None:
            raise PricingError(
                f"no price for model {model_id!r} in PRICE_TABLE_JSON (priced: {', '.join(sorted(self._prices))})"
            )
        cost = (Decimal(input_tokens) * price.input_per_1k + Decimal(output_tokens) * price.output_per_1k) / 1000
        return float(cost)


def check_priced(allowed: Iterable[str], prices: PriceTable) -> None:
    """Raise :class:`PricingError` if an allowed model has no price."""
    unpriced = sorted(m for m in allowed if m not in prices)
    if unpriced:
        raise PricingError(f"ALLOWED_MODELS lists models with no price in PRICE_TABLE_JSON: {', '.join(unpriced)}")


def check_allowed(model_id: str, allowed: frozenset[str]) -> None:
    """Raise :class:`~common.errors.Forbidden` (HTTP 403) unless ``model_id`` is allowed."""
    if model_id not in allowed:
        raise Forbidden(
            f"model {model_id!r} is not allowed for this gateway (ALLOWED_MODELS: {', '.join(sorted(allowed))})"
        )
