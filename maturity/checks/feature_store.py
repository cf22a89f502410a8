"""The seeds' first question, answered from SageMaker Feature Store: feature groups with an offline store, and how
fresh their offline data is.

"Are your model's features kept separate and tracked correctly?" A feature group keeps features apart from the
raw and curated data, versioned by event time in its offline store (what training reads, point in time) and,
with an online store, served from the same definitions. A Glue catalog or a crawler alone does not: it describes
tables, not features. Registered in :data:`maturity.checks.CHECKS` as ``features-tracked``.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import urlsplit

from maturity.aws import Api, SessionLike
from maturity.checks.base import _MAX_PARENTS, Evidence, _names, _Probes

__all__ = ["FRESH_WITHIN", "features_in_feature_store"]

#: Offline data written within this long counts as fresh (a weekly retraining cadence at the slowest).
FRESH_WITHIN = timedelta(days=7)
# Objects listed per offline store to find the newest write: offline-store keys are partitioned by
# year/month/day/hour, so a listing is in time order and its last keys are the newest.
_MAX_KEYS = 1000


def _age(newest: datetime, now: datetime) -> str:
    seconds = max(0, int((now - newest).total_seconds()))
    if seconds < 3600:
        return f"{seconds // 60} min ago"
    if seconds < 86400:
        return f"{seconds // 3600} h ago"
    return f"{seconds // 86400} days ago"


def features_in_feature_store(session: SessionLike, *, now: datetime | None = None) -> Evidence:
    """Pass: a feature group whose offline store received data within :data:`FRESH_WITHIN`."""
    now = now or datetime.now(UTC)
    sagemaker, s3 = Api(session, "sagemaker"), Api(session, "s3")
    probe = _Probes()
    groups = probe.items(sagemaker, "list_feature_groups", "FeatureGroupSummaries")
    fresh: list[str] = []
    stale: list[str] = []
    online_only: list[str] = []
    for summary in groups[:_MAX_PARENTS]:
        name = summary["FeatureGroupName"]
        described = probe.call(sagemaker, "describe_feature_group", FeatureGroupName=name)
        if described is None:
            continue
        storage: dict[str, Any] = (described.get("OfflineStoreConfig") or {}).get("S3StorageConfig") or {}
        uri = storage.get("ResolvedOutputS3Uri") or storage.get("S3Uri")
        if not uri:
            online_only.append(name)
            continue
        parts = urlsplit(str(uri))
        objects = probe.items(
            s3, "list_objects_v2", "Contents", limit=_MAX_KEYS, Bucket=parts.netloc, Prefix=parts.path.lstrip("/")
        )
        newest = max((item["LastModified"] for item in objects), default=None)
        online = (
            "online + offline" if (described.get("OnlineStoreConfig") or {}).get("EnableOnlineStore") else "offline"
        )
        if newest is not None and now - newest <= FRESH_WITHIN:
            fresh.append(f"{name} ({online}, offline data written {_age(newest, now)})")
        else:
            when = f"last written {_age(newest, now)}" if newest is not None else "no offline data yet"
            stale.append(f"{name} ({when})")
    found = [_names(fresh, "feature group")] if fresh else []
    if stale:
        absent = f"Feature groups exist but none has offline data from the last {FRESH_WITHIN.days} days: " + _names(
            stale, "stale feature group"
        )
    elif online_only:
        absent = "Feature groups have no offline store, so training cannot read their history: " + _names(
            online_only, "feature group"
        )
    else:
        absent = "No SageMaker Feature Store feature group: features are not kept apart from the data they come from."
    return probe.verdict(
        found,
        present=f"Features are kept in Feature Store with a fresh offline store: {'; '.join(found)}.",
        absent=absent + ".",
        hint="Run the ETL job: it writes the churn features into the feature groups." if stale or online_only else None,
    )
