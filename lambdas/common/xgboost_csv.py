"""Talking text/csv to SageMaker's XGBoost container: request bodies and probability responses.

Shared by the test strategies, which all send feature rows to the endpoint and must read back
exactly one probability per row (and say precisely what was wrong when they do not).
"""

from __future__ import annotations

import math
import re
from collections.abc import Sequence


class EndpointError(RuntimeError):
    """The endpoint failed or answered with something other than one probability per row."""


def to_csv(rows: Sequence[Sequence[float]]) -> str:
    """The request body the XGBoost container reads as text/csv: no header, one row per line."""
    return "\n".join(",".join(repr(value) for value in row) for row in rows)


def parse_predictions(payload: bytes, expected: int) -> list[float]:
    """One probability per input row; the container separates them by newlines (older versions by commas)."""
    try:
        text = payload.decode("utf-8")
    except UnicodeDecodeError:
        raise EndpointError("the endpoint returned a body that is not UTF-8 text") from None
    tokens = [token for token in re.split(r"[\s,]+", text.strip()) if token]
    if len(tokens) != expected:
        raise EndpointError(f"the endpoint returned {len(tokens)} predictions for {expected} rows")
    probabilities = []
    for token in tokens:
        try:
            value = float(token)
        except ValueError:
            raise EndpointError(f"the endpoint returned {token[:40]!r}, not a number") from None
        if not (math.isfinite(value) and 0.0 <= value <= 1.0):
            raise EndpointError(f"the endpoint returned {value}, not a probability (is the objective binary:logistic?)")
        probabilities.append(value)
    return probabilities
