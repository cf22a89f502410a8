"""Empty a stack's S3 buckets so ``cdk destroy`` can delete them in the emulator.

In AWS the project's non-production buckets are emptied on delete by CDK's auto-delete custom
resource, a Lambda function. moto cannot run Lambda handlers without Docker, so the ``local``
environment leaves that custom resource out, and this module does its job before a destroy:
delete every object version and delete marker, and abort unfinished multipart uploads.

It only ever touches buckets that CloudFormation lists as resources of the named stacks, and
refuses any endpoint that is not on loopback, so it cannot empty a real bucket by accident.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterable
from typing import Any
from urllib.parse import urlsplit

from botocore.exceptions import ClientError

__all__ = ["delete_promoted_endpoint", "empty_bucket", "empty_stack_buckets", "stack_bucket_names"]

_LOOPBACK_HOSTS = frozenset({"localhost", "127.0.0.1", "::1"})
_DELETE_BATCH = 1000  # DeleteObjects' limit per request


def _require_loopback(client: Any) -> None:
    host = urlsplit(str(client.meta.endpoint_url)).hostname
    if host not in _LOOPBACK_HOSTS:
        raise ValueError(f"refusing to empty buckets through {client.meta.endpoint_url}: not a local emulator")


def stack_bucket_names(cloudformation: Any, stack_names: Iterable[str]) -> list[str]:
    """Physical names of the AWS::S3::Bucket resources of ``stack_names`` (stacks that exist)."""
    _require_loopback(cloudformation)
    buckets: list[str] = []
    for stack_name in stack_names:
        try:
            resources = cloudformation.describe_stack_resources(StackName=stack_name)["StackResources"]
        except ClientError as exc:
            if "does not exist" in str(exc):
                continue
            raise
        buckets.extend(
            resource["PhysicalResourceId"]
            for resource in resources
            # moto lists resources it skipped with no type at all, hence get().
            if resource.get("ResourceType") == "AWS::S3::Bucket" and resource.get("PhysicalResourceId")
        )
    return buckets


def empty_bucket(s3: Any, bucket: str) -> int:
    """Delete every object version, delete marker and unfinished upload in ``bucket``.

    Returns how many versions and markers were deleted. A bucket that no longer exists counts as
    empty. Raises if any object could not be deleted (for example a Deny in the bucket policy).
    """
    _require_loopback(s3)
    deleted = 0
    try:
        for page in s3.get_paginator("list_multipart_uploads").paginate(Bucket=bucket):
            for upload in page.get("Uploads", []):
                s3.abort_multipart_upload(Bucket=bucket, Key=upload["Key"], UploadId=upload["UploadId"])
        previous: list[dict[str, str]] = []
        # Always the first page again, never a continuation: deleting what a page listed moves the markers of
        # the listing under way (moto then skipped every version after the first 1000).
        while True:
            page = s3.list_object_versions(Bucket=bucket)
            objects = [
                {"Key": item["Key"], "VersionId": item["VersionId"]}
                for item in page.get("Versions", []) + page.get("DeleteMarkers", [])
            ]
            if not objects:
                break
            if objects == previous:
                raise RuntimeError(f"could not empty s3://{bucket}: deleted versions are still listed")
            previous = objects
            for start in range(0, len(objects), _DELETE_BATCH):
                batch = objects[start : start + _DELETE_BATCH]
                response = s3.delete_objects(Bucket=bucket, Delete={"Objects": batch, "Quiet": True})
                errors = response.get("Errors", [])
                if errors:
                    first = errors[0]
                    raise RuntimeError(
                        f"could not empty s3://{bucket}: {len(errors)} object(s) not deleted, "
                        f"e.g. {first.get('Key')}: {first.get('Code')} {first.get('Message')}"
                    )
                deleted += len(batch)
    except ClientError as exc:
        if exc.response.get("Error", {}).get("Code") == "NoSuchBucket":
            return deleted
        raise
    return deleted


def empty_stack_buckets(cloudformation: Any, s3: Any, stack_names: Iterable[str]) -> dict[str, int]:
    """Empty every bucket of ``stack_names``; returns bucket name -> versions deleted."""
    return {bucket: empty_bucket(s3, bucket) for bucket in stack_bucket_names(cloudformation, stack_names)}


def delete_promoted_endpoint(sagemaker: Any, endpoint_name: str) -> list[str]:
    """Delete the endpoint the promotion function created, with its configs and models.

    They are not CloudFormation resources (the model version is chosen at approval time), so
    ``cdk destroy`` does not remove them; in AWS, delete the endpoint the same way before destroying
    Level 2. Only names starting with `endpoint_name` are touched; returns what was deleted.
    """
    _require_loopback(sagemaker)
    deleted: list[str] = []
    with contextlib.suppress(ClientError):
        sagemaker.delete_endpoint(EndpointName=endpoint_name)
        deleted.append(f"endpoint {endpoint_name}")
    for config in sagemaker.list_endpoint_configs(NameContains=endpoint_name)["EndpointConfigs"]:
        if config["EndpointConfigName"].startswith(endpoint_name):
            sagemaker.delete_endpoint_config(EndpointConfigName=config["EndpointConfigName"])
            deleted.append(f"endpoint config {config['EndpointConfigName']}")
    for model in sagemaker.list_models(NameContains=endpoint_name)["Models"]:
        if model["ModelName"].startswith(endpoint_name):
            sagemaker.delete_model(ModelName=model["ModelName"])
            deleted.append(f"model {model['ModelName']}")
    return deleted
