"""Typed errors shared by the prompt catalog and the LLM gateway.

Each error's message names the field or object at fault, because handlers return it verbatim to the
caller as ``{"error": message}``. Handlers map the classes to HTTP status codes; the logic never does.
"""

from __future__ import annotations


class PromptError(Exception):
    """Base class of every error the prompt logic raises on purpose."""


class ValidationError(PromptError):
    """The input is malformed or inconsistent (HTTP 400)."""


class TooLarge(ValidationError):
    """The input exceeds a configured size limit (HTTP 413)."""


class NotFound(PromptError):
    """A prompt, version or alias does not exist (HTTP 404)."""


class Forbidden(PromptError):
    """The caller, or the model a prompt names, is not allowed (HTTP 403)."""


class Conflict(PromptError):
    """A concurrent writer won and bounded retries did not get through (HTTP 409)."""
