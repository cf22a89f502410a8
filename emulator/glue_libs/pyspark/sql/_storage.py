"""Spark's view of S3 for the stand-in: a path is a folder of objects, read and written with the emulator."""

from __future__ import annotations

from urllib.parse import urlsplit

import glue_local_runtime


class AnalysisException(Exception):
    """Raised where Spark raises pyspark.errors.AnalysisException."""


def split(path: str) -> tuple[str, str]:
    """s3://bucket/prefix -> (bucket, 'prefix/'): Spark reads and writes a path as a folder."""
    parts = urlsplit(path)
    if parts.scheme not in {"s3", "s3a"} or not parts.netloc:
        raise AnalysisException(f"the Glue stand-in reads and writes s3:// paths only, got {path!r}")
    prefix = parts.path.lstrip("/")
    return parts.netloc, (prefix.rstrip("/") + "/") if prefix else ""


def keys_under(bucket: str, prefix: str) -> list[str]:
    s3 = glue_local_runtime.client()
    keys: list[str] = []
    for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix):
        keys.extend(item["Key"] for item in page.get("Contents", []))
    return sorted(keys)


def data_files(path: str) -> list[tuple[str, str]]:
    """The files Spark reads under `path`: hidden (``_``/``.``) names skipped, in path order."""
    bucket, prefix = split(path)
    keys = [
        key
        for key in keys_under(bucket, prefix)
        if not any(part.startswith(("_", ".")) for part in key[len(prefix) :].split("/"))
    ]
    if not keys:
        raise AnalysisException(f"[PATH_NOT_FOUND] Path does not exist: {path}")
    return [(bucket, key) for key in keys]


def read(bucket: str, key: str) -> bytes:
    body: bytes = glue_local_runtime.client().get_object(Bucket=bucket, Key=key)["Body"].read()
    return body


def write(bucket: str, key: str, body: bytes) -> None:
    glue_local_runtime.client().put_object(Bucket=bucket, Key=key, Body=body, **glue_local_runtime.put_object_arguments)


def delete_under(bucket: str, prefix: str) -> None:
    s3 = glue_local_runtime.client()
    for key in keys_under(bucket, prefix):
        s3.delete_object(Bucket=bucket, Key=key)
