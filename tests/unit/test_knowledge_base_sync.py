"""Knowledge base sync (lambdas/knowledge_base_sync): one ingestion job per burst, no change lost.

bedrock-agent is the in-memory fake of tests/unit/knowledge_base_fakes.py (moto has no ingestion jobs); it
validates every request against botocore's service model. The SQS events are built the way Lambda delivers
an EventBridge S3 event through a queue (the event JSON as the message body).
"""

from __future__ import annotations

import json
import re
from datetime import datetime, timedelta
from typing import Any

import pytest
from botocore.exceptions import ClientError

from tests.unit.knowledge_base_fakes import FakeAgent
from tests.unit.lambdas_path import FakeLambdaContext, load_handler, use

use("knowledge_base_sync")
import kb_settings  # noqa: E402 - importable once its Lambda folder is on sys.path
import kb_sync  # noqa: E402
from kb_jobs import DataSource  # noqa: E402

BUCKET = "curated-bucket-1"
PREFIX = "knowledge-base/"


def s3_event(key: str, at: datetime, *, detail_type: str = "Object Created", bucket: str = BUCKET) -> str:
    return json.dumps(
        {
            "version": "0",
            "id": f"evt-{key}-{at.timestamp()}",
            "detail-type": detail_type,
            "source": "aws.s3",
            "account": "123456789012",
            "time": at.strftime("%Y-%m-%dT%H:%M:%SZ"),  # EventBridge stamps whole seconds
            "region": "eu-west-1",
            "resources": [f"arn:aws:s3:::{bucket}"],
            "detail": {"version": "0", "bucket": {"name": bucket}, "object": {"key": key, "size": 10}},
        }
    )


def batch(agent: FakeAgent, records: list[tuple[str, str]]) -> kb_sync.Outcome:
    source = DataSource(knowledge_base_id=agent.knowledge_base_id, data_source_id=agent.data_source_id)
    return kb_sync.sync_batch(agent, source, records, bucket=BUCKET, prefix=PREFIX)


def test_a_burst_starts_one_job_and_keeps_its_messages_until_a_complete_job_covers_them() -> None:
    agent = FakeAgent()
    records = [(f"m{i}", s3_event(f"{PREFIX}doc{i}.md", agent.now - timedelta(seconds=60))) for i in range(30)]
    outcome = batch(agent, records)
    assert outcome.started_job is not None
    assert len(agent.jobs) == 1
    assert sorted(outcome.retry) == sorted(m for m, _ in records)  # still in the queue while the job runs

    agent.advance(30)  # the messages come round again while the job runs: nothing new is started
    again = batch(agent, records)
    assert again.started_job is None and again.waiting_for == outcome.started_job
    assert len(again.retry) == 30 and len(agent.jobs) == 1

    agent.finish("COMPLETE")
    agent.advance(300)
    done = batch(agent, records)
    assert done.retry == [] and sorted(done.done) == sorted(m for m, _ in records)
    assert done.response() == {"batchItemFailures": []}
    assert len(agent.jobs) == 1


def test_a_change_during_a_running_job_gets_a_follow_up_job_after_it() -> None:
    agent = FakeAgent()
    first = [("m1", s3_event(f"{PREFIX}a.md", agent.now - timedelta(seconds=120)))]
    batch(agent, first)
    agent.advance(10)
    late = [("m2", s3_event(f"{PREFIX}b.md", agent.now))]  # written after the job started
    waiting = batch(agent, late)
    assert waiting.started_job is None and waiting.retry == ["m2"]
    agent.advance(60)
    agent.finish("COMPLETE")
    agent.advance(300)
    follow_up = batch(agent, first + late)
    assert follow_up.done == ["m1"]  # covered by the first job
    assert follow_up.retry == ["m2"] and follow_up.started_job is not None  # the follow-up job
    assert len(agent.jobs) == 2


def test_a_failed_job_covers_nothing_and_another_job_is_started() -> None:
    agent = FakeAgent()
    records = [("m1", s3_event(f"{PREFIX}a.md", agent.now - timedelta(seconds=120)))]
    batch(agent, records)
    agent.advance(60)
    agent.finish("FAILED")
    agent.advance(300)
    outcome = batch(agent, records)
    assert outcome.retry == ["m1"] and outcome.started_job is not None
    assert len(agent.jobs) == 2


def test_a_change_within_the_margin_of_a_job_start_is_not_taken_as_covered() -> None:
    agent = FakeAgent()
    # Written 0.9 s into the second the event is stamped with, the job started 0.5 s into it.
    change_at = agent.now.replace(microsecond=900_000)
    agent.jobs.append(
        {
            "knowledgeBaseId": agent.knowledge_base_id,
            "dataSourceId": agent.data_source_id,
            "ingestionJobId": "JOB0000000",
            "status": "COMPLETE",
            "startedAt": agent.now.replace(microsecond=500_000),
            "updatedAt": agent.now,
            "statistics": {"numberOfDocumentsFailed": 0},
        }
    )
    agent.advance(120)
    outcome = batch(agent, [("m1", s3_event(f"{PREFIX}a.md", change_at))])
    assert outcome.retry == ["m1"] and outcome.started_job is not None


def test_duplicates_and_replays_of_covered_changes_start_nothing() -> None:
    agent = FakeAgent()
    old = s3_event(f"{PREFIX}a.md", agent.now - timedelta(hours=2))
    batch(agent, [("m1", old)])
    agent.finish("COMPLETE")
    agent.advance(600)
    replay = batch(agent, [("m1", old), ("m1-duplicate", old), ("m1-replay", old)])
    assert replay.started_job is None and replay.retry == []
    assert sorted(replay.done) == ["m1", "m1-duplicate", "m1-replay"]


def test_two_batches_at_once_start_one_job() -> None:
    agent = FakeAgent()
    first = batch(agent, [("m1", s3_event(f"{PREFIX}a.md", agent.now - timedelta(seconds=5)))])
    # The second batch read "no job running" before the first started one: Bedrock refuses the second start.
    agent.jobs[0]["status"] = "STARTING"
    second_records = [("m2", s3_event(f"{PREFIX}b.md", agent.now - timedelta(seconds=5)))]
    source = DataSource(knowledge_base_id=agent.knowledge_base_id, data_source_id=agent.data_source_id)
    original = agent.list_ingestion_jobs
    agent.list_ingestion_jobs = lambda **params: {"ingestionJobSummaries": []}  # type: ignore[method-assign]
    second = kb_sync.sync_batch(agent, source, second_records, bucket=BUCKET, prefix=PREFIX)
    agent.list_ingestion_jobs = original  # type: ignore[method-assign]
    assert first.started_job is not None and second.started_job is None
    assert second.retry == ["m2"] and len(agent.jobs) == 1


def test_a_retried_invocation_reuses_its_client_token() -> None:
    agent = FakeAgent()
    records = [("m1", s3_event(f"{PREFIX}a.md", agent.now - timedelta(seconds=5)))]
    first = batch(agent, records)
    assert kb_sync.client_token(["m1", "m2"], None) == kb_sync.client_token(["m2", "m1"], None)
    assert len(kb_sync.client_token(["m1"], None)) >= 33
    # The invocation timed out after StartIngestionJob and runs again on the same state: the same token.
    again = agent.start_ingestion_job(
        knowledgeBaseId=agent.knowledge_base_id,
        dataSourceId=agent.data_source_id,
        clientToken=kb_sync.client_token(["m1"], None),
    )
    assert again["ingestionJob"]["ingestionJobId"] == first.started_job and len(agent.jobs) == 1
    # After that job, the same messages get a new token (else Bedrock would answer with the old job).
    assert kb_sync.client_token(["m1"], first.started_job) != kb_sync.client_token(["m1"], None)


@pytest.mark.parametrize(
    ("body", "reason"),
    [
        ("not json", "message body"),
        ("[]", "expected an EventBridge event object"),
        (json.dumps({"source": "aws.ec2", "detail-type": "Object Created"}), "not an S3 object change"),
        (s3_event("other/a.md", datetime(2026, 1, 1)), "is not under"),
        (s3_event(f"{PREFIX}a.md", datetime(2026, 1, 1), bucket="someone-else"), "not the documents bucket"),
        (s3_event(f"{PREFIX}a.md", datetime(2026, 1, 1)).replace('"2026-01-01T00:00:00Z"', '"yesterday"'), "ISO 8601"),
        (s3_event(f"{PREFIX}a.md", datetime(2026, 1, 1)).replace("00:00:00Z", "00:00:00"), "no time zone"),
        ("[" * 100 + "]" * 100, "message body"),
    ],
)
def test_a_message_that_is_not_a_document_change_is_dropped_with_its_reason(body: str, reason: str) -> None:
    agent = FakeAgent()
    outcome = batch(agent, [("bad", body)])
    assert outcome.retry == [] and outcome.started_job is None and agent.jobs == []
    assert outcome.rejected[0][0] == "bad" and reason in outcome.rejected[0][1]


def test_an_access_error_fails_the_whole_batch() -> None:
    agent = FakeAgent(knowledge_base_id="KBOTHER000")
    source = DataSource(knowledge_base_id="KB12345678", data_source_id=agent.data_source_id)
    with pytest.raises(ClientError, match="ResourceNotFoundException"):
        kb_sync.sync_batch(agent, source, [("m1", s3_event(f"{PREFIX}a.md", agent.now))], bucket=BUCKET, prefix=PREFIX)


def test_the_handler_answers_the_partial_batch_response(monkeypatch: pytest.MonkeyPatch) -> None:
    for name, value in {
        "KNOWLEDGE_BASE_NAME": "product-docs",
        "KNOWLEDGE_BASE_ID": "KB12345678",
        "DATA_SOURCE_ID": "DS12345678",
        "DOCUMENTS_BUCKET": BUCKET,
        "DOCUMENTS_PREFIX": PREFIX,
        "POWERTOOLS_METRICS_NAMESPACE": "Test",
    }.items():
        monkeypatch.setenv(name, value)
    module = load_handler("knowledge_base_sync")
    agent = FakeAgent()
    monkeypatch.setattr(module, "agent_client", lambda: agent)
    event: dict[str, Any] = {
        "Records": [
            {
                "messageId": "m1",
                "body": s3_event(f"{PREFIX}a.md", agent.now - timedelta(seconds=30)),
                "eventSource": "aws:sqs",
            },
            {"messageId": "m2", "body": "garbage", "eventSource": "aws:sqs"},
        ]
    }
    response = module.handler(event, FakeLambdaContext())
    assert response == {"batchItemFailures": [{"itemIdentifier": "m1"}]}
    assert len(agent.jobs) == 1


def test_the_handler_refuses_to_run_without_its_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("KNOWLEDGE_BASE_ID", raising=False)
    monkeypatch.setenv("POWERTOOLS_METRICS_NAMESPACE", "Test")
    module = load_handler("knowledge_base_sync")
    with pytest.raises(RuntimeError, match="KNOWLEDGE_BASE_ID"):
        module.handler({"Records": []}, FakeLambdaContext())


SYNC_ENV = {
    "KNOWLEDGE_BASE_NAME": "product-docs",
    "KNOWLEDGE_BASE_ID": "KB12345678",
    "DATA_SOURCE_ID": "DS12345678",
    "DOCUMENTS_BUCKET": BUCKET,
    "DOCUMENTS_PREFIX": PREFIX,
}


@pytest.mark.parametrize(
    ("name", "value", "message"),
    [
        ("KNOWLEDGE_BASE_NAME", " \n", "missing environment variable KNOWLEDGE_BASE_NAME"),
        ("DOCUMENTS_PREFIX", "", "missing environment variable DOCUMENTS_PREFIX"),
        # Before, any non-empty text was sent to Bedrock as an id (and failed on the first batch).
        ("KNOWLEDGE_BASE_ID", "KB1234567", "KNOWLEDGE_BASE_ID must be a Bedrock id (10 letters or digits)"),
        ("KNOWLEDGE_BASE_ID", "KB12345678\nX", "KNOWLEDGE_BASE_ID must be a Bedrock id"),
        ("DATA_SOURCE_ID", "\uff24S12345678", "DATA_SOURCE_ID must be a Bedrock id"),  # fullwidth D
        ("DATA_SOURCE_ID", "D" * 5000, "DATA_SOURCE_ID must be a Bedrock id"),
    ],
)
def test_bad_settings_are_named(name: str, value: str, message: str) -> None:
    with pytest.raises(kb_settings.SettingsError, match=re.escape(message)) as raised:
        kb_settings.Settings.from_env({**SYNC_ENV, name: value})
    assert len(str(raised.value)) < 200


def test_settings_are_stripped() -> None:
    settings = kb_settings.Settings.from_env({**SYNC_ENV, "KNOWLEDGE_BASE_ID": " KB12345678\n"})
    assert settings.source.knowledge_base_id == "KB12345678"
    assert (settings.bucket, settings.prefix) == (BUCKET, PREFIX)


def test_the_settings_are_read_once_per_cold_start(monkeypatch: pytest.MonkeyPatch) -> None:
    for name, value in SYNC_ENV.items():
        monkeypatch.setenv(name, value)
    module = load_handler("knowledge_base_sync")
    first = module.environment()
    monkeypatch.setenv("KNOWLEDGE_BASE_ID", "not an id")
    assert module.environment() is first
