"""Typed reading of a Lambda function's environment variables, the same rules for every function.

Each function validates its whole configuration once per execution environment (a cold start) and fails
with one sentence naming the variable, rather than misbehaving on the first request that needs it. The
stacks set these variables, so a bad value is a deployment fault: the message says which variable is
wrong and what it must be, and never echoes more than a short prefix of the value.

Rules shared by every reader:

* values are stripped of surrounding whitespace (a trailing newline pasted into a console is not part
  of a name), and an empty value counts as unset;
* numbers must be finite and inside the stated range; integers are decimal digits only (no ``1e3``, no
  ``True``), and a value too long to be a sane number is refused before it is parsed;
* JSON goes through :mod:`common.safe_json` (bounded size, depth and numbers, no duplicate keys).

Usage::

    env = EnvSettings(os.environ, error=ConfigError, context="gateway misconfigured")
    env.require_all("TABLE_NAME", "GUARDRAIL_ID")
    ttl = env.number("PROMPT_CACHE_SECONDS", 30.0, low=0, high=3600)
    models = env.names("ALLOWED_MODELS", required=True)
"""

from __future__ import annotations

import math
import re
from collections.abc import Collection, Mapping
from typing import Any

from common.errors import ValidationError
from common.safe_json import loads

__all__ = ["EnvSettings", "SettingsError"]

#: No setting is a number longer than this; longer text is refused without parsing it.
MAX_NUMBER_CHARS = 32
#: How much of a bad value an error message quotes.
_SHOWN = 60
_INTEGER = re.compile(r"[+-]?[0-9]+")
_S3_URI = re.compile(r"s3://([a-z0-9][a-z0-9.\-]{1,61}[a-z0-9])(?:/(.*))?", re.DOTALL)
_TRUE = frozenset({"true", "1", "yes"})
_FALSE = frozenset({"false", "0", "no"})


class SettingsError(ValueError):
    """An environment variable is missing or invalid; the message names it."""


def _show(text: str) -> str:
    return repr(text if len(text) <= _SHOWN else text[:_SHOWN] + "...")


class EnvSettings:
    """Reads one function's environment variables; every failure raises ``error`` naming the variable.

    Args:
        env: the environment (``os.environ`` in the handler, a dict in tests).
        error: the exception class the function's handler already maps to a cold-start failure.
        context: prefix of every message, e.g. ``"gateway misconfigured"``; empty for none.
    """

    def __init__(
        self,
        env: Mapping[str, str],
        *,
        error: type[Exception] = SettingsError,
        context: str = "",
    ) -> None:
        self._env = env
        self._error = error
        self._context = context

    def fail(self, message: str) -> Exception:
        """The error to raise for ``message`` (prefixed with the context)."""
        return self._error(f"{self._context}: {message}" if self._context else message)

    def raw(self, name: str) -> str:
        """The stripped value, ``""`` when unset."""
        return str(self._env.get(name, "")).strip()

    def optional(self, name: str, *, pattern: re.Pattern[str] | None = None, what: str = "") -> str | None:
        """The stripped value, or None when unset or empty; when set and ``pattern`` is given it must match whole."""
        value = self.raw(name)
        if not value:
            return None
        if pattern is not None and not pattern.fullmatch(value):
            raise self.fail(f"{name} must be {what or 'a value matching ' + pattern.pattern}, got {_show(value)}")
        return value

    def required(self, name: str, *, because: str = "") -> str:
        """The stripped value; unset or empty is an error (``because`` says why it is needed)."""
        value = self.raw(name)
        if not value:
            raise self.fail(f"{name} must be set" + (f" because {because}" if because else ""))
        return value

    def require_all(self, *names: str) -> dict[str, str]:
        """Every named value; the error lists all the missing ones at once."""
        missing = [name for name in names if not self.raw(name)]
        if missing:
            noun = "variable" if len(missing) == 1 else "variables"
            raise self.fail(f"missing environment {noun} {', '.join(missing)}")
        return {name: self.raw(name) for name in names}

    def text(self, name: str, default: str, *, pattern: re.Pattern[str] | None = None, what: str = "") -> str:
        """A string (``default`` when unset) that, when ``pattern`` is given, must match it whole."""
        value = self.raw(name) or default
        if pattern is not None and not pattern.fullmatch(value):
            raise self.fail(f"{name} must be {what or 'a value matching ' + pattern.pattern}, got {_show(value)}")
        return value

    def integer(self, name: str, default: int, *, low: int, high: int) -> int:
        """A decimal integer from ``low`` to ``high`` (``default`` when unset)."""
        text = self.raw(name)
        if not text:
            return default
        if len(text) > MAX_NUMBER_CHARS or not _INTEGER.fullmatch(text):
            raise self.fail(f"{name} must be an integer, got {_show(text)}")
        value = int(text)
        if not low <= value <= high:
            raise self.fail(f"{name} must be between {low} and {high}, got {value}")
        return value

    def number(self, name: str, default: float, *, low: float, high: float) -> float:
        """A finite number from ``low`` to ``high`` (``default`` when unset)."""
        text = self.raw(name)
        if not text:
            return default
        try:
            if len(text) > MAX_NUMBER_CHARS or not text.isascii():  # float() also reads non-ASCII digits
                raise ValueError(text)
            value = float(text)
        except ValueError:
            raise self.fail(f"{name} must be a number, got {_show(text)}") from None
        if not (math.isfinite(value) and low <= value <= high):
            raise self.fail(f"{name} must be between {low:g} and {high:g}, got {_show(text)}")
        return value

    def names(
        self,
        name: str,
        *,
        required: bool = False,
        unique: bool = False,
        most: int | None = None,
        pattern: re.Pattern[str] | None = None,
        what: str = "",
    ) -> tuple[str, ...]:
        """A comma-separated list (``a, b,,c`` is ``a``, ``b``, ``c``), in order; ``()`` when unset.

        Args:
            required: an empty list (unset, blank or only commas) is an error.
            unique: a value listed twice is an error (a list whose positions mean something).
            most: the longest list accepted.
            pattern: what each value must match whole (``what`` describes it in the message).
        """
        values = tuple(part.strip() for part in self.raw(name).split(",") if part.strip())
        if required and not values:
            raise self.fail(f"{name} must list at least one value (comma-separated)")
        if most is not None and len(values) > most:
            raise self.fail(f"{name} lists {len(values)} values, at most {most}")
        for value in values:
            if pattern is not None and not pattern.fullmatch(value):
                raise self.fail(f"{name}: {_show(value)} is not {what or 'a value matching ' + pattern.pattern}")
        if unique:
            seen: set[str] = set()
            for value in values:
                if value in seen:
                    raise self.fail(f"{name} lists {_show(value)} twice")
                seen.add(value)
        return values

    def choice(self, name: str, default: str, allowed: Collection[str]) -> str:
        """One of ``allowed`` (exact, case-sensitive; ``default`` when unset)."""
        value = self.raw(name) or default
        if value not in allowed:
            raise self.fail(f"{name} must be one of {', '.join(sorted(allowed))}, got {_show(value)}")
        return value

    def flag(self, name: str, default: bool) -> bool:
        """``true``/``false`` (also ``1``/``0``, ``yes``/``no``, any case); ``default`` when unset."""
        text = self.raw(name).lower()
        if not text:
            return default
        if text in _TRUE:
            return True
        if text in _FALSE:
            return False
        raise self.fail(f"{name} must be true or false, got {_show(self.raw(name))}")

    def json(self, name: str, *, default: Any = None, required: bool = False) -> Any:
        """Parsed JSON (bounded by :mod:`common.safe_json`); ``default`` when unset unless ``required``."""
        text = self.raw(name)
        if not text:
            if required:
                raise self.fail(f"{name} must be set")
            return default
        try:
            return loads(text, where=name)
        except ValidationError as error:
            raise self.fail(f"{name} is not valid JSON ({error})") from None

    def s3_uri(self, name: str, *, key_required: bool = False, because: str = "") -> tuple[str, str]:
        """``(bucket, key or prefix)`` of a required ``s3://bucket[/key]`` value (``because`` says why)."""
        location = self.optional_s3_uri(name, key_required=key_required, because=because)
        if location is None:
            raise self.fail(f"{name} must be set" + (f" because {because}" if because else ""))
        return location

    def optional_s3_uri(self, name: str, *, key_required: bool = False, because: str = "") -> tuple[str, str] | None:
        """``(bucket, key or prefix)`` of an ``s3://bucket[/key]`` value; None when unset."""
        text = self.raw(name)
        if not text:
            return None
        match = _S3_URI.fullmatch(text)
        if not match or (key_required and not match.group(2)):
            shape = "s3://bucket/key" if key_required else "s3://bucket/prefix"
            reason = f" because {because}" if because else ""
            raise self.fail(f"{name} must be an {shape} URI{reason}, got {_show(text)}")
        return match.group(1), match.group(2) or ""
