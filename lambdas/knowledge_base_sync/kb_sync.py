"""Debounced sync: one ingestion job per burst of document changes, and no change left behind.

The queue holds one message per S3 change under the documents prefix (EventBridge "Object Created" and
"Object Deleted" events). The event source mapping's batching window (``syncDebounceSeconds``) gathers a
burst into one batch; :func:`sync_batch` then decides, for the whole batch:

- a change that the newest COMPLETE job covers (see `kb_coverage`) is done: its message is deleted. This is
  also what happens to duplicates and replays of old events.
- while a job is running, nothing is started: the uncovered messages go back to the queue (batch item
  failures) and come round again after the visibility timeout, by which time the job may have finished.
- otherwise one job is started, and the messages still go back to the queue: they are deleted only once a
  COMPLETE job covers them, so a job that fails or is stopped leads to another one, never to a lost change.

Two batches processed at once may both try to start a job; Bedrock runs one job per data source and
answers the second StartIngestionJob with ConflictException, which is handled as "a job is running". The
client token is derived from the batch's message IDs and the newest job seen, so a retried invocation (a
timeout after the call) does not start a second job for the same batch.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from botocore.exceptions import ClientError
from common.errors import ValidationError
from common.safe_json import loads
from kb_coverage import RUNNING_STATUSES, covered
from kb_jobs import DataSource

CHANGE_DETAIL_TYPES = frozenset({"Object Created", "Object Deleted"})
# StartIngestionJob's description is at most 200 characters.
_DESCRIPTION_LIMIT = 200


@dataclass(frozen=True)
class Change:
    message_id: str
    key: str
    time: datetime


@dataclass
class Outcome:
    """What one batch did: messages to keep in the queue (retry), done, rejected, and the job started."""

    retry: list[str] = field(default_factory=list)
    done: list[str] = field(default_factory=list)
    rejected: list[tuple[str, str]] = field(default_factory=list)  # (message ID, reason)
    started_job: str | None = None
    waiting_for: str | None = None

    def response(self) -> dict[str, Any]:
        """The SQS event source's partial-batch response (ReportBatchItemFailures)."""
        return {"batchItemFailures": [{"itemIdentifier": message_id} for message_id in self.retry]}


def parse_change(message_id: str, body: str, *, bucket: str, prefix: str) -> Change:
    """The change an SQS message body (an EventBridge S3 event) describes.

    Raises:
        ValidationError: the body is not an S3 object event for `bucket` under `prefix`.
    """
    event = loads(body, where="message body")
    if not isinstance(event, dict):
        raise ValidationError("message body: expected an EventBridge event object")
    if event.get("source") != "aws.s3" or event.get("detail-type") not in CHANGE_DETAIL_TYPES:
        raise ValidationError(
            f"message body: not an S3 object change event ({event.get('source')!r}, {event.get('detail-type')!r})"
        )
    detail = event.get("detail")
    if not isinstance(detail, dict):
        raise ValidationError("message body: the event has no detail object")
    bucket_name = (detail.get("bucket") or {}).get("name") if isinstance(detail.get("bucket"), dict) else None
    key = (detail.get("object") or {}).get("key") if isinstance(detail.get("object"), dict) else None
    if bucket_name != bucket:
        raise ValidationError(f"message body: bucket {bucket_name!r} is not the documents bucket")
    if not isinstance(key, str) or not key.startswith(prefix):
        raise ValidationError(f"message body: object key {key!r} is not under {prefix!r}")
    time_text = event.get("time")
    if not isinstance(time_text, str):
        raise ValidationError("message body: the event has no time")
    try:
        time = datetime.fromisoformat(time_text.replace("Z", "+00:00"))
    except ValueError:
        raise ValidationError(f"message body: time {time_text[:40]!r} is not an ISO 8601 timestamp") from None
    if time.tzinfo is None:
        raise ValidationError(f"message body: time {time_text[:40]!r} has no time zone")
    return Change(message_id=message_id, key=key, time=time)


def client_token(message_ids: list[str], newest_job_id: str | None) -> str:
    """An idempotency token for StartIngestionJob (33-256 characters).

    The same batch seeing the same newest job gets the same token (a retried invocation starts no second
    job); once that job has failed, the same messages see a newer job and get a new token, so Bedrock
    starts a new job instead of answering with the failed one.
    """
    material = "\n".join(sorted(message_ids)) + "\n" + (newest_job_id or "-")
    return hashlib.sha256(material.encode()).hexdigest()


def sync_batch(agent: Any, source: DataSource, records: list[tuple[str, str]], *, bucket: str, prefix: str) -> Outcome:
    """Decide and act for one batch of SQS records ``(messageId, body)``; see the module docstring."""
    outcome = Outcome()
    changes: list[Change] = []
    for message_id, body in records:
        try:
            changes.append(parse_change(message_id, body, bucket=bucket, prefix=prefix))
        except ValidationError as error:
            # Not a change of these documents (a malformed or misrouted message): keeping it would only send
            # it to the dead-letter queue later; it is logged by the caller and dropped.
            outcome.rejected.append((message_id, str(error)))
    if not changes:
        return outcome
    complete = source.newest_job(agent, status="COMPLETE")
    pending = []
    for change in changes:
        if covered(change.time, complete.started_at if complete else None):
            outcome.done.append(change.message_id)
        else:
            pending.append(change)
    if not pending:
        return outcome
    outcome.retry = [change.message_id for change in pending]
    newest = source.newest_job(agent)
    if newest is not None and newest.status in RUNNING_STATUSES:
        outcome.waiting_for = newest.job_id
        return outcome
    description = f"{len(pending)} document change(s), the first at {min(c.time for c in pending).isoformat()}"
    try:
        job = agent.start_ingestion_job(
            knowledgeBaseId=source.knowledge_base_id,
            dataSourceId=source.data_source_id,
            clientToken=client_token(outcome.retry, newest.job_id if newest else None),
            description=description[:_DESCRIPTION_LIMIT],
        )["ingestionJob"]
    except ClientError as error:
        if error.response.get("Error", {}).get("Code") in ("ConflictException", "ServiceQuotaExceededException"):
            # Another batch started a job a moment ago (or the per-data-source job quota is reached): wait.
            outcome.waiting_for = "a job started by another batch"
            return outcome
        raise
    outcome.started_job = job["ingestionJobId"]
    return outcome
