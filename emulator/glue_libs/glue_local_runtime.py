"""State the Glue runner shares with the stand-in pyspark and awsglue modules for one job run."""

from __future__ import annotations

from typing import Any

# Set by emulator.glue_runner before the script runs: the emulator's S3 client, the extra arguments every
# PutObject gets (the job's security configuration: SSE-KMS with its key), and the job's log.
s3: Any = None
put_object_arguments: dict[str, str] = {}
log: list[str] = []


def client() -> Any:
    if s3 is None:
        raise RuntimeError("the Glue stand-ins run only inside emulator.glue_runner (no S3 client was set)")
    return s3
