"""When an ingestion job covers a change to the documents: the one rule the sync and the skew monitor share.

A Bedrock ingestion job lists the data source's S3 prefix after it starts and ingests what changed since
the last job, deletions included. So a change (an object written or deleted under the prefix) is in the
index once a job that started after it has finished COMPLETE. "After" carries a margin: EventBridge
stamps S3 events with whole seconds (a change at 12:00:00.900 says 12:00:00), and S3's and Bedrock's
clocks are not the same clock. A change within the margin of a job's start counts as not covered, which
costs at most one extra job, never a lost change.
"""

from __future__ import annotations

from datetime import datetime, timedelta

COVER_MARGIN = timedelta(seconds=5)
RUNNING_STATUSES = frozenset({"STARTING", "IN_PROGRESS", "STOPPING"})
FINISHED_STATUSES = frozenset({"COMPLETE", "FAILED", "STOPPED"})


def covered(change_time: datetime, job_started_at: datetime | None) -> bool:
    """Whether a COMPLETE job that started at `job_started_at` has ingested a change made at `change_time`."""
    return job_started_at is not None and change_time + COVER_MARGIN <= job_started_at
