"""The SageMaker, S3 and Application Auto Scaling calls the promotion logic shares: clients and small helpers."""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from botocore.exceptions import ClientError

# boto3 ships no type stubs in the Lambda runtime or this project's dependencies; clients are typed Any.
Client = Any


# Blue/green updates require the new endpoint config to keep the variant name of the old one.
VARIANT_NAME = "AllTraffic"
SCALABLE_DIMENSION = "sagemaker:variant:DesiredInstanceCount"

# SageMaker resource names: 63 characters, alphanumerics and single hyphens.
MAX_NAME_LENGTH = 63


MISSING_OBJECT_CODES = {"NoSuchKey", "NoSuchBucket", "404", "NotFound"}


NOT_FOUND_CODES = {"ValidationException", "ResourceNotFound", "ResourceNotFoundException"}


@dataclass(frozen=True)
class Clients:
    sagemaker: Client
    s3: Client
    autoscaling: Client


def describe_endpoint(sagemaker: Client, name: str) -> dict[str, Any] | None:
    try:
        response: dict[str, Any] = sagemaker.describe_endpoint(EndpointName=name)
    except ClientError as error:
        if error_code(error) in NOT_FOUND_CODES:
            return None
        raise
    return response


def is_serverless(endpoint: Mapping[str, Any]) -> bool:
    return any(
        "CurrentServerlessConfig" in variant or "DesiredServerlessConfig" in variant
        for variant in endpoint.get("ProductionVariants", [])
    )


def exists(describe: Any, **kwargs: str) -> bool:
    """Whether a describe call finds its resource; SageMaker reports absence as a ValidationException."""
    try:
        describe(**kwargs)
    except ClientError as error:
        if error_code(error) in NOT_FOUND_CODES:
            return False
        raise
    return True


def s3_object_exists(s3: Client, uri: str) -> bool:
    bucket, key = split_s3_uri(uri, what="baseline", error=ValueError)
    try:
        s3.head_object(Bucket=bucket, Key=key)
    except ClientError as error:
        if error_code(error) in MISSING_OBJECT_CODES:
            return False
        raise
    return True


def scaling_resource_id(endpoint_name: str) -> str:
    return f"endpoint/{endpoint_name}/variant/{VARIANT_NAME}"


def resource_name(base: str, *parts: str) -> str:
    """``<base>-<parts...>`` cut to SageMaker's 63 characters by shortening the base, never the suffix."""
    suffix = "".join(f"-{part}" for part in parts)
    head = base[: MAX_NAME_LENGTH - len(suffix)].rstrip("-")
    return f"{head}{suffix}"


def digest(request: Mapping[str, Any]) -> str:
    return hashlib.sha256(json.dumps(request, sort_keys=True).encode()).hexdigest()[:8]


def split_s3_uri(uri: str, *, what: str, error: type[Exception]) -> tuple[str, str]:
    match = re.fullmatch(r"s3://([^/]+)/(.+)", uri.strip())
    if not match:
        raise error(f"{what} {uri!r} is not an s3://bucket/key URI")
    return match.group(1), match.group(2)


def error_code(error: ClientError) -> str:
    return str(error.response.get("Error", {}).get("Code", ""))


def error_message(error: ClientError) -> str:
    return str(error.response.get("Error", {}).get("Message", ""))
