"""Read-only AWS calls for the assessment, with every failure turned into a named reason.

A check never talks to boto3 directly: it asks :class:`Api` for a service and calls operations on it.
``Api`` refuses anything that is not a Describe/List/Get call, pages through list results up to a cap,
and classifies failures:

* missing or invalid credentials, an unknown profile or no region: :class:`CredentialsError` (the
  whole assessment stops; the CLI prints its one sentence and exits 2);
* access denied: :class:`CallFailed` naming the denied IAM action (the answer becomes "unknown");
* a service the region (or the endpoint) does not offer: :class:`CallFailed` "service not available
  in region";
* anything else the service answers with (throttling after retries, a 5xx, an action a local emulator
  does not implement): :class:`CallFailed` with the error code.

A failed call is never evidence that something is missing: checks report it as "unknown".
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any, Protocol

from botocore.config import Config
from botocore.exceptions import (
    BotoCoreError,
    ClientError,
    EndpointConnectionError,
    NoCredentialsError,
    NoRegionError,
    PartialCredentialsError,
    ProfileNotFound,
    UnknownServiceError,
)

__all__ = [
    "DEFAULT_MAX_ATTEMPTS",
    "MAX_ITEMS",
    "Api",
    "CachingSession",
    "CallFailed",
    "CredentialsError",
    "SessionLike",
    "iam_action",
]

#: Most items read from one list operation: an assessment answers yes/no with examples, it is no inventory.
MAX_ITEMS = 500

READ_ONLY_PREFIXES = ("describe_", "list_", "get_", "batch_get_")

# IAM's service prefix where it differs from boto3's service name.
_IAM_PREFIX = {"stepfunctions": "states", "bedrock-agent": "bedrock"}
# Operations whose IAM action is not the API name.
_IAM_ACTION = {
    ("s3", "list_buckets"): "s3:ListAllMyBuckets",
    ("s3", "list_objects_v2"): "s3:ListBucket",
    ("s3", "list_object_versions"): "s3:ListBucketVersions",
}

_DENIED_CODES = frozenset(
    {
        "AccessDenied",
        "AccessDeniedException",
        "AuthorizationError",
        "AuthorizationErrorException",
        "Forbidden",
        "UnauthorizedOperation",
        "UnauthorizedException",
    }
)
_BAD_CREDENTIAL_CODES = frozenset(
    {
        "AuthFailure",
        "ExpiredToken",
        "ExpiredTokenException",
        "InvalidAccessKeyId",
        "InvalidClientTokenId",
        "InvalidSignatureException",
        "SignatureDoesNotMatch",
        "UnrecognizedClientException",
    }
)
_NOT_IN_REGION_CODES = frozenset({"UnknownOperationException", "InvalidAction"})

#: Attempts per call (standard retry mode: throttling and 5xx are retried with backoff).
DEFAULT_MAX_ATTEMPTS = 3


class SessionLike(Protocol):
    """What the checks need from a boto3 ``Session``: its region and a way to make clients."""

    @property
    def region_name(self) -> str | None: ...

    def client(self, service_name: str, **kwargs: Any) -> Any: ...


class CredentialsError(RuntimeError):
    """No usable credentials (or profile, or region): nothing can be assessed. The message is one sentence."""


class CallFailed(Exception):
    """One read-only call could not be answered; ``reason`` says why and names the action."""

    def __init__(self, action: str, reason: str) -> None:
        super().__init__(reason)
        self.action = action
        self.reason = reason


class CachingSession:
    """Wraps a boto3 session: one client per service, the assessment's retry/timeout settings, an endpoint.

    ``endpoint_url`` sends every client to one endpoint (a local emulator); without it boto3's own
    configuration applies, ``AWS_ENDPOINT_URL`` included. ``max_attempts=1`` suits an emulator, whose
    errors (an action it does not implement) are not transient.
    """

    def __init__(
        self, session: SessionLike, *, endpoint_url: str | None = None, max_attempts: int = DEFAULT_MAX_ATTEMPTS
    ) -> None:
        self._session = session
        self._endpoint_url = endpoint_url
        self._config = Config(
            retries={"mode": "standard", "max_attempts": max_attempts},
            connect_timeout=5,
            read_timeout=30,
            user_agent_extra="mlops-maturity-assess",
        )
        self._clients: dict[str, Any] = {}

    @property
    def region_name(self) -> str | None:
        return self._session.region_name

    def client(self, service_name: str, **kwargs: Any) -> Any:
        if kwargs:
            return self._session.client(service_name, **kwargs)
        if service_name not in self._clients:
            extra: dict[str, Any] = {"config": self._config}
            if self._endpoint_url:
                extra["endpoint_url"] = self._endpoint_url
            self._clients[service_name] = self._session.client(service_name, **extra)
        return self._clients[service_name]


def iam_action(service: str, operation: str) -> str:
    """``("sagemaker", "list_model_packages")`` -> ``"sagemaker:ListModelPackages"``."""
    if (service, operation) in _IAM_ACTION:
        return _IAM_ACTION[service, operation]
    name = "".join(part.capitalize() for part in operation.split("_"))
    return f"{_IAM_PREFIX.get(service, service)}:{name}"


def credentials_problem(error: BaseException) -> str | None:
    """One sentence if `error` means the caller has no usable credentials, profile or region; else None."""
    if isinstance(error, (NoCredentialsError, PartialCredentialsError)):
        return (
            "No AWS credentials found: set AWS_PROFILE (or pass --profile), or export AWS_ACCESS_KEY_ID and "
            "AWS_SECRET_ACCESS_KEY."
        )
    if isinstance(error, ProfileNotFound):
        return f"{error}: check the profile name against ~/.aws/config."
    if isinstance(error, NoRegionError):
        return "No AWS region is configured: pass --region or set AWS_REGION."
    if isinstance(error, ClientError) and error.response.get("Error", {}).get("Code") in _BAD_CREDENTIAL_CODES:
        code = error.response["Error"]["Code"]
        return f"The AWS credentials were rejected ({code}): refresh them (for SSO, `aws sso login`) and retry."
    return None


class Api:
    """Read-only calls to one service through a session; failures become :class:`CallFailed`."""

    def __init__(self, session: SessionLike, service: str) -> None:
        self.service = service
        self._session = session
        self._client: Any = None

    def call(self, operation: str, **kwargs: Any) -> dict[str, Any]:
        """One call, e.g. ``call("describe_model_package", ModelPackageName=arn)``."""
        client, action = self._prepare(operation)
        with self._translated(action):
            response: dict[str, Any] = getattr(client, operation)(**kwargs)
        return response

    def items(self, operation: str, key: str, *, limit: int = MAX_ITEMS, **kwargs: Any) -> list[Any]:
        """Every item under `key` across pages (at most `limit`), e.g. ``items("list_endpoints", "Endpoints")``."""
        client, action = self._prepare(operation)
        found: list[Any] = []
        with self._translated(action):
            if client.can_paginate(operation):
                pages = client.get_paginator(operation).paginate(**kwargs, PaginationConfig={"MaxItems": limit})
                for page in pages:
                    found.extend(page.get(key, []))
            else:
                found.extend(getattr(client, operation)(**kwargs).get(key, []))
        return found[:limit]

    def _prepare(self, operation: str) -> tuple[Any, str]:
        if not operation.startswith(READ_ONLY_PREFIXES):
            raise ValueError(f"{operation} is not a read-only (Describe/List/Get) operation")
        action = iam_action(self.service, operation)
        if self._client is None:
            try:
                self._client = self._session.client(self.service)
            except UnknownServiceError as error:
                raise CallFailed(action, "service not available in region (unknown to this SDK)") from error
        return self._client, action

    @contextmanager
    def _translated(self, action: str) -> Iterator[None]:
        try:
            yield
        except ClientError as error:
            raise self._classify(action, error) from error
        except EndpointConnectionError as error:
            raise CallFailed(action, "service not available in region (no endpoint answered)") from error
        except (NoCredentialsError, PartialCredentialsError, NoRegionError, ProfileNotFound) as error:
            raise CredentialsError(credentials_problem(error) or str(error)) from error
        except NotImplementedError as error:  # moto, in process: an action it does not emulate
            raise CallFailed(action, f"{action} is not implemented by this endpoint") from error
        except BotoCoreError as error:
            raise CallFailed(action, f"{action} failed: {error}") from error

    def _classify(self, action: str, error: ClientError) -> Exception:
        code = str(error.response.get("Error", {}).get("Code", ""))
        status = error.response.get("ResponseMetadata", {}).get("HTTPStatusCode")
        if code in _BAD_CREDENTIAL_CODES:
            return CredentialsError(credentials_problem(error) or str(error))
        if code in _DENIED_CODES:
            return CallFailed(action, f"access denied to {action}")
        if code in _NOT_IN_REGION_CODES:
            return CallFailed(action, "service not available in region")
        if isinstance(status, int) and status >= 500:
            return CallFailed(action, f"{action} failed on the service side (HTTP {status})")
        return CallFailed(action, f"{action} failed: {code or 'error'}")
