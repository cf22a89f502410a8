"""Errors the pages show as they are: one sentence for a person, never a stack trace."""

from __future__ import annotations

from botocore.exceptions import (
    BotoCoreError,
    ClientError,
    ConnectTimeoutError,
    EndpointConnectionError,
    NoCredentialsError,
    NoRegionError,
    ReadTimeoutError,
)


class PlaygroundError(Exception):
    """Something the user or the operator can act on; ``str(error)`` is the message the page shows."""


class ConfigError(PlaygroundError):
    """The app's environment is incomplete or invalid; the message names the variable."""


class InputError(PlaygroundError):
    """What the user entered cannot be sent (no prompt chosen, a variable left empty, ...)."""


class GatewayError(PlaygroundError):
    """The gateway refused the request or failed; the message says which and why."""


def describe_aws_error(error: BotoCoreError | ClientError, what: str) -> str:
    """One sentence for a failed AWS call made to ``what`` (e.g. "read the prompt catalog")."""
    if isinstance(error, NoCredentialsError):
        return (
            f"Could not {what}: no AWS credentials were found (in ECS the task role provides them; "
            "locally, run `make app`)."
        )
    if isinstance(error, NoRegionError):
        return f"Could not {what}: no AWS region is configured; set AWS_REGION."
    if isinstance(error, EndpointConnectionError | ConnectTimeoutError):
        return f"Could not {what}: the AWS endpoint did not answer ({error}); check the network and AWS_REGION."
    if isinstance(error, ReadTimeoutError):
        return f"Could not {what}: AWS did not answer in time; try again."
    if isinstance(error, ClientError):
        details = error.response.get("Error", {})
        code = str(details.get("Code", "Unknown"))
        message = str(details.get("Message", "")).rstrip(".")
        if "AccessDenied" in code or code in {"UnrecognizedClientException", "AccessDeniedException"}:
            return f"Could not {what}: access denied ({code}: {message}); check the task role's permissions."
        if code in {"ResourceNotFoundException", "NoSuchBucket", "NoSuchKey"}:
            return f"Could not {what}: {message or code} (check the names the app is configured with)."
        if code in {"ThrottlingException", "TooManyRequestsException", "ProvisionedThroughputExceededException"}:
            return f"Could not {what}: AWS is throttling requests ({code}); wait a moment and try again."
        return f"Could not {what}: {code}: {message}."
    return f"Could not {what}: {type(error).__name__}: {error}."
