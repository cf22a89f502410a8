"""The knowledge base's skew: how far the index lags behind its documents, and what the last job failed on.

The oldest un-ingested change is found in the documents bucket itself (versioned): every object version
and delete marker under the prefix that the newest COMPLETE ingestion job does not cover (see `kb_coverage`).
Its age is the skew; zero when every change is covered. The bucket, not the sync queue, is the source of
truth, so a change whose event was lost still shows up here.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from kb_coverage import covered
from kb_jobs import DataSource

# At most this many pages of ListObjectVersions (1,000 entries each) per measurement; beyond it the
# measurement says it is partial rather than running past the function's timeout.
MAX_PAGES = 200
MAX_REASONS = 20
MAX_REASON_CHARS = 500


@dataclass
class Skew:
    """One measurement; ``oldest_change_age_seconds`` is 0 when the index is in sync."""

    oldest_change_age_seconds: float
    unsynced_changes: int
    last_complete_started_at: datetime | None
    last_job_id: str | None = None
    last_job_status: str | None = None
    failed_documents: int = 0
    failure_reasons: list[str] = field(default_factory=list)
    listing_complete: bool = True


def measure(s3: Any, agent: Any, source: DataSource, *, bucket: str, prefix: str, now: datetime) -> Skew:
    complete = source.newest_job(agent, status="COMPLETE")
    cutoff = complete.started_at if complete else None
    oldest: datetime | None = None
    unsynced = 0
    pages = 0
    listing_complete = True
    paginator = s3.get_paginator("list_object_versions")
    for page in paginator.paginate(Bucket=bucket, Prefix=prefix):
        pages += 1
        for entry in page.get("Versions", []) + page.get("DeleteMarkers", []):
            changed = entry["LastModified"]
            if covered(changed, cutoff):
                continue
            unsynced += 1
            oldest = changed if oldest is None or changed < oldest else oldest
        if pages >= MAX_PAGES and page.get("IsTruncated"):
            listing_complete = False
            break
    skew = Skew(
        oldest_change_age_seconds=max(0.0, (now - oldest).total_seconds()) if oldest else 0.0,
        unsynced_changes=unsynced,
        last_complete_started_at=cutoff,
        listing_complete=listing_complete,
    )
    job = source.last_finished_job(agent)
    if job is not None:
        skew.last_job_id = job.get("ingestionJobId")
        skew.last_job_status = job.get("status")
        skew.failed_documents = int(job.get("statistics", {}).get("numberOfDocumentsFailed", 0))
        skew.failure_reasons = [reason[:MAX_REASON_CHARS] for reason in job.get("failureReasons", [])[:MAX_REASONS]]
    return skew
