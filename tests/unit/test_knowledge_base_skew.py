"""Knowledge base skew monitor (lambdas/knowledge_base_sync/monitor.py and kb_skew.py).

S3 is moto (versioned bucket: ListObjectVersions with versions and delete markers, as on AWS); bedrock-agent
is the in-memory fake of tests/unit/knowledge_base_fakes.py (moto has no ingestion jobs). The times of S3
objects are moto's wall clock, so the fake's job times are set relative to the objects' LastModified.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import boto3
import pytest

from tests.unit.knowledge_base_fakes import FakeAgent
from tests.unit.lambdas_path import FakeLambdaContext, fast_mock_aws, load_handler, use

use("knowledge_base_sync")
import kb_skew  # noqa: E402 - importable once its Lambda folder is on sys.path
from kb_jobs import DataSource  # noqa: E402

BUCKET = "curated"
PREFIX = "knowledge-base/"


@pytest.fixture
def s3() -> Iterator[Any]:
    with fast_mock_aws():
        client = boto3.client("s3", region_name="us-east-1")
        client.create_bucket(Bucket=BUCKET)
        client.put_bucket_versioning(Bucket=BUCKET, VersioningConfiguration={"Status": "Enabled"})
        yield client


def source(agent: FakeAgent) -> DataSource:
    return DataSource(knowledge_base_id=agent.knowledge_base_id, data_source_id=agent.data_source_id)


def modified(s3: Any, key: str) -> Any:
    return s3.head_object(Bucket=BUCKET, Key=key)["LastModified"]


def add_job(
    agent: FakeAgent, started_at: Any, status: str, *, failed: int = 0, reasons: list[str] | None = None
) -> None:
    job = {
        "knowledgeBaseId": agent.knowledge_base_id,
        "dataSourceId": agent.data_source_id,
        "ingestionJobId": f"JOB{len(agent.jobs):07d}",
        "status": status,
        "startedAt": started_at,
        "updatedAt": started_at,
        "statistics": {"numberOfDocumentsFailed": failed},
    }
    if reasons:
        job["failureReasons"] = reasons
    agent.jobs.append(job)


def test_never_synced_documents_are_skew_from_the_oldest_one(s3: Any) -> None:
    s3.put_object(Bucket=BUCKET, Key=f"{PREFIX}a.md", Body=b"a")
    s3.put_object(Bucket=BUCKET, Key="elsewhere/b.md", Body=b"b")  # outside the prefix: not counted
    written = modified(s3, f"{PREFIX}a.md")
    agent = FakeAgent()
    skew = kb_skew.measure(s3, agent, source(agent), bucket=BUCKET, prefix=PREFIX, now=written + timedelta(minutes=10))
    assert skew.unsynced_changes == 1
    assert skew.oldest_change_age_seconds == pytest.approx(600, abs=1)
    assert skew.last_complete_started_at is None and skew.failed_documents == 0


def test_changes_after_the_last_complete_job_are_skew_and_a_deletion_counts(s3: Any) -> None:
    s3.put_object(Bucket=BUCKET, Key=f"{PREFIX}a.md", Body=b"a")
    written = modified(s3, f"{PREFIX}a.md")
    agent = FakeAgent()
    add_job(agent, written + timedelta(minutes=1), "COMPLETE")
    now = written + timedelta(minutes=2)
    in_sync = kb_skew.measure(s3, agent, source(agent), bucket=BUCKET, prefix=PREFIX, now=now)
    assert in_sync.unsynced_changes == 0 and in_sync.oldest_change_age_seconds == 0

    # A deletion alone after the job (the index still has the document): delete a.md (a delete marker),
    # then remove its one version, so that the marker is the only entry under the prefix.
    version = s3.list_object_versions(Bucket=BUCKET, Prefix=PREFIX)["Versions"][0]["VersionId"]
    s3.delete_object(Bucket=BUCKET, Key=f"{PREFIX}a.md")
    s3.delete_object(Bucket=BUCKET, Key=f"{PREFIX}a.md", VersionId=version)
    listing = s3.list_object_versions(Bucket=BUCKET, Prefix=PREFIX)
    assert "Versions" not in listing
    marker = listing["DeleteMarkers"][0]["LastModified"]
    agent.jobs[0]["startedAt"] = marker - timedelta(minutes=1)
    stale = kb_skew.measure(s3, agent, source(agent), bucket=BUCKET, prefix=PREFIX, now=marker + timedelta(minutes=5))
    assert stale.unsynced_changes == 1
    assert stale.oldest_change_age_seconds == pytest.approx(300, abs=1)


def test_a_running_or_failed_job_does_not_count_as_synced_and_failures_are_reported(s3: Any) -> None:
    s3.put_object(Bucket=BUCKET, Key=f"{PREFIX}a.md", Body=b"a")
    written = modified(s3, f"{PREFIX}a.md")
    agent = FakeAgent()
    add_job(agent, written + timedelta(minutes=1), "FAILED", failed=2, reasons=["x" * 2000, "bad.pdf: unsupported"])
    add_job(agent, written + timedelta(minutes=2), "IN_PROGRESS")
    skew = kb_skew.measure(s3, agent, source(agent), bucket=BUCKET, prefix=PREFIX, now=written + timedelta(minutes=3))
    assert skew.unsynced_changes == 1 and skew.oldest_change_age_seconds == pytest.approx(180, abs=1)
    assert skew.last_job_status == "FAILED" and skew.failed_documents == 2  # the last finished job
    assert len(skew.failure_reasons[0]) == kb_skew.MAX_REASON_CHARS


def test_the_monitor_publishes_the_metrics(s3: Any, monkeypatch: pytest.MonkeyPatch, capsys: Any) -> None:
    for name, value in {
        "KNOWLEDGE_BASE_NAME": "product-docs",
        "KNOWLEDGE_BASE_ID": "KB12345678",
        "DATA_SOURCE_ID": "DS12345678",
        "DOCUMENTS_BUCKET": BUCKET,
        "DOCUMENTS_PREFIX": PREFIX,
        "POWERTOOLS_METRICS_NAMESPACE": "Mlops/LLMOps",
        "POWERTOOLS_SERVICE_NAME": "knowledge-base-sync",
    }.items():
        monkeypatch.setenv(name, value)
    s3.put_object(Bucket=BUCKET, Key=f"{PREFIX}a.md", Body=b"a")
    agent = FakeAgent()
    add_job(
        agent, modified(s3, f"{PREFIX}a.md") - timedelta(minutes=5), "COMPLETE", failed=1, reasons=["a.md: too big"]
    )
    module = load_handler_from("monitor")
    monkeypatch.setattr(module, "clients", lambda: (s3, agent))
    result = module.handler({}, FakeLambdaContext())
    assert result["unsyncedChanges"] == 1 and result["failedDocuments"] == 1 and result["lastJobStatus"] == "COMPLETE"
    out = capsys.readouterr().out
    assert '"KnowledgeBaseSkewSeconds"' in out and '"KnowledgeBaseFailedDocuments"' in out
    assert '"KnowledgeBase":"product-docs"' in out.replace(" ", "") and "a.md: too big" in out


def load_handler_from(module_name: str) -> Any:
    """monitor.py, imported fresh the way load_handler imports handler.py."""
    import importlib.util
    import sys

    from tests.unit.lambdas_path import LAMBDAS

    spec = importlib.util.spec_from_file_location(
        f"knowledge_base_sync_{module_name}", LAMBDAS / "knowledge_base_sync" / f"{module_name}.py"
    )
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    module.logger.registered_handler.stream = sys.stdout
    return module


_ = load_handler  # the sync handler's tests use it; the monitor is a second entry point of the same package
