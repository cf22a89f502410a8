"""`make assess` reports each knowledge base's sync state and skew (maturity/knowledge_base_skew.py).

bedrock-agent is a botocore Stubber (moto has no data sources or ingestion jobs), so every request and
response is validated against the service model; CloudWatch and S3 are moto (metrics with dimensions and
statistics; a versioned bucket's object versions and delete markers).
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import boto3
import pytest
from botocore.stub import Stubber

from maturity.knowledge_base_skew import CHECK_ID, SKEW_METRIC, knowledge_base_skew, knowledge_base_skew_check
from tests.unit.lambdas_path import fast_mock_aws

REGION = "eu-west-1"
KB_ID, DS_ID = "KB12345678", "DS12345678"
BUCKET = "curated-documents"


class Session:
    """bedrock-agent from a Stubber; every other service from moto."""

    def __init__(self) -> None:
        self.agent = boto3.client("bedrock-agent", region_name=REGION)
        self.stubber = Stubber(self.agent)

    @property
    def region_name(self) -> str:
        return REGION

    def client(self, service_name: str, **_: Any) -> Any:
        if service_name == "bedrock-agent":
            return self.agent
        return boto3.client(service_name, region_name=REGION)


@pytest.fixture
def session() -> Iterator[Session]:
    with fast_mock_aws():
        stubbed = Session()
        with stubbed.stubber:
            yield stubbed
            stubbed.stubber.assert_no_pending_responses()


def expect_base(session: Session, jobs: list[dict[str, Any]], *, name: str = "mlops-dev-product-docs") -> None:
    now = datetime(2026, 12, 3, tzinfo=UTC)
    session.stubber.add_response(
        "list_knowledge_bases",
        {"knowledgeBaseSummaries": [{"knowledgeBaseId": KB_ID, "name": name, "status": "ACTIVE", "updatedAt": now}]},
        {},
    )
    session.stubber.add_response(
        "list_data_sources",
        {
            "dataSourceSummaries": [
                {
                    "knowledgeBaseId": KB_ID,
                    "dataSourceId": DS_ID,
                    "name": "documents",
                    "status": "AVAILABLE",
                    "updatedAt": now,
                }
            ]
        },
        {"knowledgeBaseId": KB_ID},
    )
    session.stubber.add_response(
        "list_ingestion_jobs",
        {"ingestionJobSummaries": jobs},
        {
            "knowledgeBaseId": KB_ID,
            "dataSourceId": DS_ID,
            "sortBy": {"attribute": "STARTED_AT", "order": "DESCENDING"},
            "maxResults": 10,
        },
    )


def job(status: str, started: datetime, failed: int = 0) -> dict[str, Any]:
    return {
        "knowledgeBaseId": KB_ID,
        "dataSourceId": DS_ID,
        "ingestionJobId": f"JOB{int(started.timestamp())}",
        "status": status,
        "startedAt": started,
        "updatedAt": started,
        "statistics": {"numberOfDocumentsFailed": failed},
    }


def expect_data_source(session: Session, prefix: str = "knowledge-base/") -> None:
    now = datetime(2026, 12, 3, tzinfo=UTC)
    session.stubber.add_response(
        "get_data_source",
        {
            "dataSource": {
                "knowledgeBaseId": KB_ID,
                "dataSourceId": DS_ID,
                "name": "documents",
                "status": "AVAILABLE",
                "dataSourceConfiguration": {
                    "type": "S3",
                    "s3Configuration": {"bucketArn": f"arn:aws:s3:::{BUCKET}", "inclusionPrefixes": [prefix]},
                },
                "createdAt": now,
                "updatedAt": now,
            }
        },
        {"knowledgeBaseId": KB_ID, "dataSourceId": DS_ID},
    )


def test_the_monitors_metric_is_the_skew_when_it_has_a_recent_point(session):
    now = datetime.now(UTC)
    boto3.client("cloudwatch", region_name=REGION).put_metric_data(
        Namespace="Mlops/LLMOps",
        MetricData=[
            {
                "MetricName": SKEW_METRIC,
                "Dimensions": [
                    {"Name": "service", "Value": "knowledge-base-sync"},
                    {"Name": "KnowledgeBase", "Value": "product-docs"},
                ],
                "Value": 1800,
                "Timestamp": now - timedelta(minutes=3),
            }
        ],
    )
    expect_base(session, [job("COMPLETE", now - timedelta(hours=2), failed=2)])
    evidence = knowledge_base_skew(session, now=now)
    assert evidence.status == "pass"
    assert "mlops-dev-product-docs/documents: last ingestion job COMPLETE" in evidence.summary
    assert "(2 document(s) failed)" in evidence.summary
    assert f"oldest un-ingested change 30 min (metric {SKEW_METRIC})" in evidence.summary


def test_without_a_metric_the_bucket_listing_measures_the_skew_deletions_included(session):
    s3 = boto3.client("s3", region_name=REGION)
    s3.create_bucket(Bucket=BUCKET, CreateBucketConfiguration={"LocationConstraint": REGION})
    s3.put_bucket_versioning(Bucket=BUCKET, VersioningConfiguration={"Status": "Enabled"})
    s3.put_object(Bucket=BUCKET, Key="knowledge-base/a.md", Body=b"a")
    s3.put_object(Bucket=BUCKET, Key="elsewhere/b.md", Body=b"b")
    s3.delete_object(Bucket=BUCKET, Key="knowledge-base/a.md")
    written = s3.list_object_versions(Bucket=BUCKET, Prefix="knowledge-base/")["DeleteMarkers"][0]["LastModified"]
    expect_base(session, [job("IN_PROGRESS", written), job("COMPLETE", written - timedelta(hours=1))])
    expect_data_source(session)
    evidence = knowledge_base_skew(session, now=written + timedelta(minutes=10))
    assert evidence.status == "pass"
    assert "last ingestion job IN_PROGRESS" in evidence.summary
    assert "oldest un-ingested change 10 min (bucket listing)" in evidence.summary


def test_a_knowledge_base_that_never_ingested_is_missing_with_a_hint(session):
    expect_base(session, [job("FAILED", datetime(2026, 12, 1, tzinfo=UTC))])
    evidence = knowledge_base_skew(session)
    assert evidence.status == "missing"
    assert "mlops-dev-product-docs/documents (last job FAILED)" in evidence.summary and evidence.hint


def test_no_knowledge_base_is_missing_and_a_refused_call_is_unknown(session):
    session.stubber.add_response("list_knowledge_bases", {"knowledgeBaseSummaries": []}, {})
    assert knowledge_base_skew(session).status == "missing"
    session.stubber.add_client_error("list_knowledge_bases", "AccessDeniedException", http_status_code=403)
    evidence = knowledge_base_skew(session)
    assert evidence.status == "unknown" and "bedrock:ListKnowledgeBases" in evidence.summary


def test_the_check_declares_its_read_only_calls():
    check = knowledge_base_skew_check()
    assert check.id == CHECK_ID and check.level == "llmops" and check.stack == "LlmOps"
    assert "s3:ListBucketVersions" in check.calls and "bedrock:ListIngestionJobs" in check.calls
