"""Talking text/csv to SageMaker's XGBoost container: request bodies and probability responses.

Shared by the test strategies, which all send feature rows to the endpoint and must read back
exactly one probability per row (and say precisely what was wrong when they do not).
"""

from __future__ import annotations

import math
import re
import time
from collections.abc import Callable, Sequence
from typing import Any

from botocore.exceptions import ClientError


class EndpointError(RuntimeError):
    """The endpoint failed or answered with something other than one probability per row."""


def to_csv(rows: Sequence[Sequence[float]]) -> str:
    """The request body the XGBoost container reads as text/csv: no header, one row per line."""
    return "\n".join(",".join(repr(value) for value in row) for row in rows)


def invoke(
    runtime: Any,
    endpoint_name: str,
    rows: Sequence[Sequence[float]],
    *,
    failure: str | None = None,
    clock: Callable[[], float] = time.perf_counter,
) -> tuple[bytes, float]:
    """One text/csv ``invoke_endpoint`` call for `rows`: the response body and the call's latency in
    milliseconds (reading the body included). A failed call raises :class:`EndpointError`
    ``"<failure> failed: <code>: <message>"``, where `failure` defaults to ``"endpoint <name>"``."""
    began = clock()
    try:
        response = runtime.invoke_endpoint(
            EndpointName=endpoint_name, ContentType="text/csv", Accept="text/csv", Body=to_csv(rows).encode()
        )
        payload: bytes = response["Body"].read()
    except ClientError as error:
        details = error.response.get("Error", {})
        raise EndpointError(
            f"{failure or f'endpoint {endpoint_name}'} failed: {details.get('Code', 'error')}: "
            f"{details.get('Message', '')}"
        ) from error
    return payload, (clock() - began) * 1000.0


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
