"""One bounded JSON reader for every handler: request bodies and already-parsed events.

``json.loads`` alone turns hostile input into 500s: deep nesting raises ``RecursionError``, an integer of
thousands of digits raises ``ValueError`` (Python's 4300-digit limit) or overflows DynamoDB's 38-digit
numbers later, ``NaN``/``Infinity`` are accepted, a duplicate key silently wins over the first, and
``"\\ud800"`` yields a string that cannot be encoded to UTF-8 (so boto3, hashing and size checks fail).
:func:`loads` bounds the body's size (:class:`~common.errors.TooLarge`, HTTP 413) and then checks the
parsed value with :func:`check`, which :func:`check` also does for events the Lambda runtime has already
parsed (direct invocations, EventBridge): nesting depth, number length and finiteness, duplicate keys and
unpaired surrogates, each a :class:`~common.errors.ValidationError` (HTTP 400) naming where in the
document (``$.items[3].inputs.text``) and what is wrong.

The walk is iterative, so checking a value never recurses however deep it is.
"""

from __future__ import annotations

import base64
import binascii
import json
import math
import re
from typing import Any

from common.errors import TooLarge, ValidationError

#: Largest body accepted, in bytes (after base64 decoding). Lambda caps synchronous payloads at 6 MB; the
#: biggest legitimate bodies (a 300 KB template, a golden set that fits one 400 KB DynamoDB item) fit in
#: 1 MiB even with every character escaped.
MAX_BODY_BYTES = 1024 * 1024
#: Deepest nesting accepted: the deepest legitimate document (a golden set: set > items > item > inputs)
#: has 4 levels, EventBridge events fewer than 10; Python's parser overflows its stack near 1000.
MAX_DEPTH = 32
#: Longest number literal accepted, in characters. Every number the handlers take (versions, token limits,
#: probabilities, epoch milliseconds) is far shorter; DynamoDB stores at most 38 significant digits.
MAX_NUMBER_CHARS = 32
_SHOWN = 40  # characters of a key or literal quoted in an error message
_IDENTIFIER = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")


class _Rejected:
    """A marker the parser puts where a value it refuses was, so :func:`check` can name its path."""

    __slots__ = ("problem",)

    def __init__(self, problem: str) -> None:
        self.problem = problem


def _shorten(text: str) -> str:
    return text if len(text) <= _SHOWN else f"{text[:_SHOWN]}... ({len(text)} characters)"


def _parse_int(literal: str) -> int | _Rejected:
    if len(literal) > MAX_NUMBER_CHARS:
        return _Rejected(f"number {_shorten(literal)} is too long (at most {MAX_NUMBER_CHARS} characters)")
    return int(literal)


def _parse_float(literal: str) -> float | _Rejected:
    if len(literal) > MAX_NUMBER_CHARS:
        return _Rejected(f"number {_shorten(literal)} is too long (at most {MAX_NUMBER_CHARS} characters)")
    value = float(literal)
    if not math.isfinite(value):
        return _Rejected(f"number {literal} is out of range (it overflows a 64-bit float)")
    return value


def _parse_constant(literal: str) -> _Rejected:
    return _Rejected(f"{literal} is not a JSON number (NaN and Infinity are not accepted)")


def _object(pairs: list[tuple[str, Any]]) -> dict[str, Any] | _Rejected:
    result: dict[str, Any] = {}
    for name, value in pairs:
        if name in result:
            return _Rejected(f"duplicate key {json.dumps(_shorten(name))} (each key may appear once)")
        result[name] = value
    return result


def _child(path: str, name: str | int) -> str:
    if isinstance(name, int):
        return f"{path}[{name}]"
    if _IDENTIFIER.fullmatch(name) and len(name) <= _SHOWN:
        return f"{path}.{name}"
    # json.dumps escapes control characters and surrogates, so the message itself is always valid text.
    return f"{path}[{json.dumps(_shorten(name))}]"


def _surrogate(text: str) -> str | None:
    """The ``\\uXXXX`` of the first unpaired surrogate in ``text``, or ``None`` when it is valid Unicode."""
    try:
        text.encode("utf-8")
    except UnicodeEncodeError as error:
        return f"\\u{ord(text[error.start]):04x}"
    return None


def check(value: object, *, where: str = "request body", max_depth: int = MAX_DEPTH) -> None:
    """Check a parsed JSON value (from :func:`loads`, or an event the Lambda runtime parsed).

    Raises:
        ValidationError: naming the path (``$.a.b[2]``) and what is wrong there: nesting deeper than
            ``max_depth``, a number too long or not finite, a duplicate key, an unpaired surrogate, or a
            value that JSON cannot hold.
    """
    stack: list[tuple[str, object, int]] = [("$", value, 0)]
    while stack:
        path, item, depth = stack.pop()
        if isinstance(item, _Rejected):
            raise ValidationError(f"{where}: at {path}: {item.problem}")
        if isinstance(item, dict | list):
            if depth >= max_depth:
                raise ValidationError(f"{where}: at {path}: nested deeper than {max_depth} levels")
            if isinstance(item, dict):
                for name, child in item.items():
                    if not isinstance(name, str):
                        raise ValidationError(f"{where}: at {path}: keys must be strings, got {type(name).__name__}")
                    bad = _surrogate(name)
                    if bad:
                        raise ValidationError(
                            f"{where}: at {_child(path, name)}: the key contains an unpaired surrogate ({bad}); "
                            "send valid Unicode text"
                        )
                    stack.append((_child(path, name), child, depth + 1))
            else:
                stack.extend((_child(path, index), child, depth + 1) for index, child in enumerate(item))
        elif isinstance(item, str):
            bad = _surrogate(item)
            if bad:
                raise ValidationError(
                    f"{where}: at {path}: the string contains an unpaired surrogate ({bad}); send valid Unicode text"
                )
        elif isinstance(item, bool) or item is None:
            continue
        elif isinstance(item, int):
            # Events parsed by the runtime bypass the literal-length hook of loads().
            # (bit_length first: str() of an integer over 4300 digits raises ValueError itself).
            if item.bit_length() > 128 or len(str(item)) > MAX_NUMBER_CHARS:
                raise ValidationError(f"{where}: at {path}: integer too large (at most {MAX_NUMBER_CHARS} digits)")
        elif isinstance(item, float):
            if not math.isfinite(item):
                raise ValidationError(f"{where}: at {path}: {item} is not a finite number")
        else:
            raise ValidationError(f"{where}: at {path}: {type(item).__name__} is not a JSON value")


def loads(text: str | bytes, *, where: str = "request body", max_bytes: int = MAX_BODY_BYTES) -> Any:
    """Parse a JSON document with bounded size, depth and numbers (see :func:`check`).

    Raises:
        TooLarge: the document is larger than ``max_bytes`` (HTTP 413).
        ValidationError: not UTF-8, not JSON, or a value :func:`check` refuses (HTTP 400).
    """
    size = len(text) if isinstance(text, bytes) else _utf8_size(text)
    if size > max_bytes:
        raise TooLarge(f"{where}: {size} bytes exceeds the limit of {max_bytes} bytes")
    if isinstance(text, bytes):
        try:
            text = text.decode("utf-8")
        except UnicodeDecodeError as error:
            raise ValidationError(f"{where}: not valid UTF-8 (byte {error.start})") from None
    try:
        value = json.loads(
            text,
            parse_int=_parse_int,
            parse_float=_parse_float,
            parse_constant=_parse_constant,
            object_pairs_hook=_object,
        )
    except json.JSONDecodeError as error:
        raise ValidationError(
            f"{where}: invalid JSON at line {error.lineno} column {error.colno}: {error.msg}"
        ) from None
    except RecursionError:
        raise ValidationError(f"{where}: nested deeper than {MAX_DEPTH} levels") from None
    check(value, where=where)
    return value


def decode_body(
    body: str | None, *, is_base64: bool, where: str = "request body", max_bytes: int = MAX_BODY_BYTES
) -> str:
    """The text of an API Gateway or function URL body, base64-decoded when the event says it is encoded.

    The size is checked before decoding (base64 is 4/3 of the bytes it encodes), so an oversized body is
    refused without being copied.

    Raises:
        TooLarge: the decoded body would exceed ``max_bytes``.
        ValidationError: invalid base64 or not UTF-8.
    """
    if not body:
        return ""
    if not is_base64:
        return body
    if len(body) * 3 // 4 > max_bytes + 2:
        raise TooLarge(f"{where}: about {len(body) * 3 // 4} bytes exceeds the limit of {max_bytes} bytes")
    try:
        raw = base64.b64decode(body, validate=True)
    except (binascii.Error, ValueError):
        raise ValidationError(f"{where}: isBase64Encoded is true but the body is not valid base64") from None
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError as error:
        raise ValidationError(f"{where}: not valid UTF-8 (byte {error.start})") from None


def _utf8_size(text: str) -> int:
    # "surrogatepass": a lone surrogate must not break the size check; check() reports it by path.
    return len(text.encode("utf-8", "surrogatepass"))
