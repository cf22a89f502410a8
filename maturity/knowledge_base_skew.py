"""Is each knowledge base in sync with its documents? The skew of a live account, as `make assess` evidence.

For every Bedrock knowledge base of the Region (read-only calls): each data source's last ingestion job (status,
start time, documents that failed) and the start of its newest COMPLETE job; then the age of the oldest change
not yet ingested, from the skew monitor's metric ``KnowledgeBaseSkewSeconds`` (namespace ``Mlops/LLMOps``,
published by the knowledge base sync's monitor) when it has a recent data point, else from the documents bucket
itself (object versions and delete markers under the data source's inclusion prefixes newer than that job).

``pass``: at least one knowledge base has ingested its documents (a COMPLETE job); the evidence names each one's
last job and skew. ``missing``: no knowledge base, or none ever ingested. ``unknown``: a call was refused.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from maturity.aws import Api, CallFailed, SessionLike
from maturity.checks import GATEWAY_NAMESPACE, Check, Evidence

__all__ = ["CHECK_ID", "SKEW_METRIC", "knowledge_base_skew", "knowledge_base_skew_check"]

CHECK_ID = "knowledge-base-sync"
SKEW_METRIC = "KnowledgeBaseSkewSeconds"
# The sync's rule (lambdas/knowledge_base_sync/kb_coverage.py): a change this close to a job's start counts
# as not covered by it.
COVER_MARGIN = timedelta(seconds=5)
_MAX_KNOWLEDGE_BASES = 20
_MAX_LISTING_PAGES = 5
_METRIC_WINDOW = timedelta(hours=1)


def _minutes(seconds: float) -> str:
    return f"{seconds / 60:.0f} min" if seconds >= 90 else f"{seconds:.0f} s"


def _metric_skews(cloudwatch: Api, now: datetime) -> dict[str, float]:
    """KnowledgeBase dimension value -> the newest skew data point of the last hour (Maximum)."""
    found: dict[str, float] = {}
    for metric in cloudwatch.items("list_metrics", "Metrics", Namespace=GATEWAY_NAMESPACE, MetricName=SKEW_METRIC):
        dimensions = metric.get("Dimensions", [])
        name = next((d["Value"] for d in dimensions if d["Name"] == "KnowledgeBase"), None)
        if name is None:
            continue
        points = cloudwatch.call(
            "get_metric_statistics",
            Namespace=GATEWAY_NAMESPACE,
            MetricName=SKEW_METRIC,
            Dimensions=dimensions,
            StartTime=now - _METRIC_WINDOW,
            EndTime=now,
            Period=300,
            Statistics=["Maximum"],
        ).get("Datapoints", [])
        if points:
            found[name] = float(max(points, key=lambda p: p["Timestamp"])["Maximum"])
    return found


def _listing_skew(s3: Api, bucket: str, prefixes: list[str], since: datetime | None, now: datetime) -> float:
    """Age in seconds of the oldest version or delete marker under `prefixes` not covered by a job at `since`."""
    oldest: datetime | None = None
    for prefix in prefixes or [""]:
        request: dict[str, Any] = {"Bucket": bucket, "Prefix": prefix}
        for _ in range(_MAX_LISTING_PAGES):
            page = s3.call("list_object_versions", **request)
            for entry in page.get("Versions", []) + page.get("DeleteMarkers", []):
                changed = entry["LastModified"]
                if since is not None and changed + COVER_MARGIN <= since:
                    continue
                oldest = changed if oldest is None or changed < oldest else oldest
            if not page.get("IsTruncated"):
                break
            request.update(KeyMarker=page.get("NextKeyMarker"), VersionIdMarker=page.get("NextVersionIdMarker"))
    return 0.0 if oldest is None else max(0.0, (now - oldest).total_seconds())


def knowledge_base_skew(session: SessionLike, *, now: datetime | None = None) -> Evidence:
    now = now or datetime.now(UTC)
    agent, cloudwatch, s3 = Api(session, "bedrock-agent"), Api(session, "cloudwatch"), Api(session, "s3")
    failures: list[str] = []
    try:
        bases = agent.items("list_knowledge_bases", "knowledgeBaseSummaries", limit=_MAX_KNOWLEDGE_BASES)
    except CallFailed as failure:
        return Evidence("unknown", f"unknown: {failure.reason}", unknown=(failure.reason,))
    if not bases:
        return Evidence(
            "missing",
            "No Bedrock knowledge base in this Region: prompts answer without retrieved, cited context.",
            hint="Enable llmops.knowledgeBase in cdk.json and deploy the LlmOps stack",
        )
    try:
        metric_skews = _metric_skews(cloudwatch, now)
    except CallFailed as failure:
        failures.append(failure.reason)
        metric_skews = {}
    found: list[str] = []
    never: list[str] = []
    for base in bases:
        base_id, base_name = base["knowledgeBaseId"], base.get("name", base["knowledgeBaseId"])
        try:
            sources = agent.items("list_data_sources", "dataSourceSummaries", knowledgeBaseId=base_id)
        except CallFailed as failure:
            failures.append(failure.reason)
            continue
        for source in sources:
            where = f"{base_name}/{source.get('name', source['dataSourceId'])}"
            try:
                jobs = agent.call(
                    "list_ingestion_jobs",
                    knowledgeBaseId=base_id,
                    dataSourceId=source["dataSourceId"],
                    sortBy={"attribute": "STARTED_AT", "order": "DESCENDING"},
                    maxResults=10,
                ).get("ingestionJobSummaries", [])
            except CallFailed as failure:
                failures.append(failure.reason)
                continue
            complete = next((job for job in jobs if job["status"] == "COMPLETE"), None)
            if not jobs or complete is None:
                never.append(where + (f" (last job {jobs[0]['status']})" if jobs else " (no ingestion job)"))
                continue
            last = jobs[0]
            failed = int((last.get("statistics") or {}).get("numberOfDocumentsFailed", 0))
            skew, how = _skew(agent, s3, base_id, source, base_name, metric_skews, complete["startedAt"], now, failures)
            found.append(
                f"{where}: last ingestion job {last['status']} started {last['startedAt']:%Y-%m-%d %H:%M} UTC"
                f" ({failed} document(s) failed); oldest un-ingested change "
                + ("unknown" if skew is None else _minutes(skew))
                + f" ({how})"
            )
    if found:
        summary = "Knowledge bases in sync with their documents, or how far behind: " + "; ".join(found)
        if never:
            summary += f"; never ingested: {', '.join(never)}"
        return Evidence("pass", summary + ".", tuple(found), tuple(failures))
    if failures:
        return Evidence("unknown", f"unknown: {'; '.join(failures)}", unknown=tuple(failures))
    return Evidence(
        "missing",
        f"No knowledge base has ingested its documents: {', '.join(never)}.",
        hint="Upload documents under the knowledge base's documents prefix: the sync starts an ingestion job",
    )


def _skew(
    agent: Api,
    s3: Api,
    base_id: str,
    source: dict[str, Any],
    base_name: str,
    metric_skews: dict[str, float],
    since: datetime,
    now: datetime,
    failures: list[str],
) -> tuple[float | None, str]:
    """The skew and where it came from: the monitor's metric (by the configured name the knowledge base's
    physical name ends with), else the bucket listing."""
    for name, value in metric_skews.items():
        if base_name == name or base_name.endswith(f"-{name}"):
            return value, f"metric {SKEW_METRIC}"
    try:
        details = agent.call("get_data_source", knowledgeBaseId=base_id, dataSourceId=source["dataSourceId"])
        s3_config = details["dataSource"]["dataSourceConfiguration"].get("s3Configuration") or {}
        bucket = str(s3_config["bucketArn"]).split(":::", 1)[1]
        return _listing_skew(s3, bucket, list(s3_config.get("inclusionPrefixes") or []), since, now), "bucket listing"
    except CallFailed as failure:
        failures.append(failure.reason)
        return None, "not measured"
    except (KeyError, IndexError):
        return None, "not an S3 data source"


def knowledge_base_skew_check() -> Check:
    return Check(
        CHECK_ID,
        "Is the knowledge base kept in sync with its documents (vector-retrieval skew measured)?",
        "llmops",
        (
            "bedrock:ListKnowledgeBases",
            "bedrock:ListDataSources",
            "bedrock:ListIngestionJobs",
            "bedrock:GetDataSource",
            "cloudwatch:ListMetrics",
            "cloudwatch:GetMetricStatistics",
            "s3:ListBucketVersions",
        ),
        "LlmOps",
        "a Bedrock knowledge base whose documents sync on change, with a skew metric and alarms",
        knowledge_base_skew,
    )
