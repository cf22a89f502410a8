"""The knowledge base's part of the tour: documents in, sync, ingestion, skew, cited answers, deletion.

What runs where (each line of the tour says it):

* the documents go to the deployed curated bucket under the deployed documents prefix (moto: ``real``); the
  bucket's EventBridge notifications and the deployed rule put one message per change on the deployed sync
  queue (moto delivers S3 -> EventBridge -> SQS: ``real``);
* moto does not run Lambda's SQS poller: the tour reads the queue and runs the deployed sync handler on those
  messages the way the poller would (``in-process``), after waiting out the coverage margin of the sync's
  rule (the batching window of ``syncDebounceSeconds`` stands for that wait on AWS), and deletes the messages
  the handler reports done;
* the ingestion job, Retrieve and the vector search are the LOCAL STAND-IN for Bedrock Knowledge Bases
  (:mod:`emulator.fake_knowledge_base`: lexical hashing, not embeddings; the vectors live in the deployed
  S3 Vectors index in moto);
* the skew is what the deployed monitor handler measures (``in-process``), published to CloudWatch from its
  EMF output as CloudWatch Logs would.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from emulator.fake_knowledge_base import FakeKnowledgeBase
from emulator.lambda_runner import LocalFunction, deployed_function, publish_emf
from emulator.server import LocalAws

PROJECT_ROOT = Path(__file__).resolve().parents[1]
DOCUMENTS_DIR = PROJECT_ROOT / "knowledge_base" / "documents"
# rag-infra's sync counts a change as ingested only when a COMPLETE job started at least this long after it
# (lambdas/knowledge_base_sync/kb_coverage.py COVER_MARGIN); one second more for the clocks' granularity.
COVERAGE_WAIT_SECONDS = 6.0
JOB_TIMEOUT_SECONDS = 120.0
LEVEL = "LLMOps RAG"
# The tour's fidelity labels (emulator/tour.py's Fidelity).
Fidelity = Literal["real", "stub", "in-process", "not emulated"]
Line = tuple[str, str, Fidelity]
STAND_IN = "local stand-in knowledge base"


def level0_stack(stack_name: str) -> str:
    """The Level 0 stack of the environment of `stack_name` (``Mlops-<env>-<level>``)."""
    return f"{stack_name.rsplit('-', 1)[0]}-Level0Exploration"


def _outputs(aws: LocalAws, stack_name: str) -> dict[str, str]:
    (stack,) = aws.client("cloudformation").describe_stacks(StackName=stack_name)["Stacks"]
    return {o["OutputKey"]: o["OutputValue"] for o in stack.get("Outputs", [])}


@dataclass
class KnowledgeBaseSession:
    """The deployed knowledge base of one environment and the functions around it, run against the emulator
    with `knowledge_base` (the stand-in) for bedrock-agent and bedrock-agent-runtime."""

    aws: LocalAws
    stack_name: str
    knowledge_base: FakeKnowledgeBase
    extra_env: Mapping[str, str] = field(default_factory=dict)
    published: int = 0

    def __post_init__(self) -> None:
        out = _outputs(self.aws, self.stack_name)
        self.enabled = "KnowledgeBaseId" in out
        if not self.enabled:
            return
        self.knowledge_base_id = out["KnowledgeBaseId"]
        self.data_source_id = out["KnowledgeBaseDataSourceId"]
        self.sync = deployed_function(self.aws, "knowledge_base_sync", out["KnowledgeBaseSyncFunctionName"])
        self.monitor = deployed_function(self.aws, "knowledge_base_sync", out["KnowledgeBaseMonitorFunctionName"])
        self.bucket = self.sync.environment["DOCUMENTS_BUCKET"]
        self.prefix = self.sync.environment["DOCUMENTS_PREFIX"]
        self.name = self.sync.environment["KNOWLEDGE_BASE_NAME"]
        (mapping,) = self.aws.client("lambda").list_event_source_mappings(FunctionName=self.sync.function_name)[
            "EventSourceMappings"
        ]
        self.queue_arn = mapping["EventSourceArn"]
        self.queue_url = self.aws.client("sqs").get_queue_url(QueueName=self.queue_arn.rsplit(":", 1)[-1])["QueueUrl"]

    @property
    def env(self) -> dict[str, str]:
        """What the deployed handlers run with: the emulator, the stand-in knowledge base, ``extra_env``."""
        return {**self.aws.env(base={}), **self.knowledge_base.env(), **self.extra_env}

    def run(self, function: LocalFunction, event: Any) -> Any:
        invocation = function.invoke(event, self.env)
        self.published += publish_emf(self.aws.client("cloudwatch"), invocation.output)
        return invocation.response

    # --- documents and the queue ---------------------------------------------------------------------
    def upload(self, paths: list[Path]) -> list[str]:
        s3 = self.aws.client("s3")
        keys = []
        for path in paths:
            key = f"{self.prefix}{path.name}"
            s3.put_object(Bucket=self.bucket, Key=key, Body=path.read_bytes(), ContentType="text/markdown")
            keys.append(key)
        return keys

    def changes(self, expected: int, timeout: float = 30.0) -> list[dict[str, Any]]:
        """Receive the `expected` change messages from the sync queue (what Lambda's poller would read)."""
        sqs = self.aws.client("sqs")
        messages: list[dict[str, Any]] = []
        deadline = time.monotonic() + timeout
        while len(messages) < expected and time.monotonic() < deadline:
            batch = sqs.receive_message(
                QueueUrl=self.queue_url, MaxNumberOfMessages=10, AttributeNames=["All"], WaitTimeSeconds=0
            ).get("Messages", [])
            messages += batch
            if not batch:
                time.sleep(0.1)
        return messages

    def sqs_event(self, messages: list[dict[str, Any]]) -> dict[str, Any]:
        """The event Lambda's SQS poller hands the function for these messages."""
        return {
            "Records": [
                {
                    "messageId": m["MessageId"],
                    "receiptHandle": m["ReceiptHandle"],
                    "body": m["Body"],
                    "attributes": m.get("Attributes", {}),
                    "messageAttributes": {},
                    "md5OfBody": m["MD5OfBody"],
                    "eventSource": "aws:sqs",
                    "eventSourceARN": self.queue_arn,
                    "awsRegion": self.aws.region,
                }
                for m in messages
            ]
        }

    def run_sync(self, messages: list[dict[str, Any]]) -> tuple[list[str], list[str]]:
        """Run the deployed sync handler as the poller does: (message IDs done and deleted, IDs kept)."""
        answer = self.run(self.sync, self.sqs_event(messages))
        kept = [item["itemIdentifier"] for item in answer.get("batchItemFailures", [])]
        done = [m for m in messages if m["MessageId"] not in kept]
        if done:
            self.aws.client("sqs").delete_message_batch(
                QueueUrl=self.queue_url,
                Entries=[{"Id": str(i), "ReceiptHandle": m["ReceiptHandle"]} for i, m in enumerate(done)],
            )
        return [m["MessageId"] for m in done], kept

    # --- the knowledge base ---------------------------------------------------------------------------
    def agent(self) -> Any:
        import boto3

        return boto3.session.Session().client(
            "bedrock-agent",
            endpoint_url=self.knowledge_base.endpoint_url,
            region_name=self.aws.region,
            aws_access_key_id="testing",
            aws_secret_access_key="testing",  # noqa: S106 - moto's placeholder
        )

    def jobs(self) -> list[dict[str, Any]]:
        summaries: list[dict[str, Any]] = self.agent().list_ingestion_jobs(
            knowledgeBaseId=self.knowledge_base_id, dataSourceId=self.data_source_id
        )["ingestionJobSummaries"]
        return summaries

    def wait_for_job(self, job_id: str) -> dict[str, Any]:
        agent = self.agent()
        deadline = time.monotonic() + JOB_TIMEOUT_SECONDS
        while True:
            job: dict[str, Any] = agent.get_ingestion_job(
                knowledgeBaseId=self.knowledge_base_id, dataSourceId=self.data_source_id, ingestionJobId=job_id
            )["ingestionJob"]
            if job["status"] not in ("STARTING", "IN_PROGRESS", "STOPPING"):
                return job
            if time.monotonic() > deadline:
                raise RuntimeError(f"ingestion job {job_id} did not end within {JOB_TIMEOUT_SECONDS:.0f} s")
            time.sleep(0.1)

    def skew(self) -> dict[str, Any]:
        """The deployed monitor's measurement (its metrics go to CloudWatch)."""
        answer: dict[str, Any] = self.run(self.monitor, {"source": "aws.events", "detail-type": "Scheduled Event"})
        return answer

    def skew_metric(self) -> list[float]:
        """Every KnowledgeBaseSkewSeconds value CloudWatch holds for this knowledge base, oldest first."""
        namespace = self.monitor.environment["POWERTOOLS_METRICS_NAMESPACE"]
        end = time.time() + 60
        data = self.aws.client("cloudwatch").get_metric_data(
            MetricDataQueries=[
                {
                    "Id": "skew",
                    "MetricStat": {
                        "Metric": {
                            "Namespace": namespace,
                            "MetricName": "KnowledgeBaseSkewSeconds",
                            "Dimensions": [
                                {"Name": "KnowledgeBase", "Value": self.name},
                                {"Name": "service", "Value": self.monitor.environment["POWERTOOLS_SERVICE_NAME"]},
                            ],
                        },
                        "Period": 1,
                        "Stat": "Maximum",
                    },
                }
            ],
            StartTime=end - 3600,
            EndTime=end,
            ScanBy="TimestampAscending",
        )["MetricDataResults"][0]
        return [float(v) for v in data["Values"]]

    def sync_cycle(self, expected_changes: int) -> Iterator[Line]:
        """Queue -> sync handler -> ingestion job -> sync handler again: (step, outcome, fidelity) lines."""
        messages = self.changes(expected_changes)
        kinds = sorted({json.loads(m["Body"]).get("detail-type", "?") for m in messages})
        yield (
            "S3 events -> EventBridge rule -> sync queue",
            f"{len(messages)} change message(s) ({', '.join(kinds)}) on {self.queue_arn.rsplit(':', 1)[-1]}"
            + ("" if len(messages) == expected_changes else f" (expected {expected_changes})"),
            "real",
        )
        # Lambda's batching window (syncDebounceSeconds) would hold the burst; here the wait only clears the
        # sync's coverage margin, so the job it starts covers these changes.
        time.sleep(COVERAGE_WAIT_SECONDS)
        before = {j["ingestionJobId"] for j in self.jobs()}
        done, kept = self.run_sync(messages)
        started = [j for j in self.jobs() if j["ingestionJobId"] not in before]
        yield (
            "sync function (deployed handler, run as Lambda's SQS poller would)",
            f"started ingestion job {started[0]['ingestionJobId'] if started else 'none'}; {len(kept)} message(s) "
            f"kept until a COMPLETE job covers them, {len(done)} done",
            "in-process",
        )
        if not started:
            return
        job = self.wait_for_job(started[0]["ingestionJobId"])
        stats = job.get("statistics", {})
        yield (
            f"ingestion job ({STAND_IN})",
            f"{job['status']}: scanned {stats.get('numberOfDocumentsScanned')}, new "
            f"{stats.get('numberOfNewDocumentsIndexed')}, modified {stats.get('numberOfModifiedDocumentsIndexed')}, "
            f"deleted {stats.get('numberOfDocumentsDeleted')}, failed {stats.get('numberOfDocumentsFailed')}"
            + (f" ({'; '.join(job['failureReasons'])[:200]})" if job.get("failureReasons") else ""),
            "in-process",
        )
        # The kept messages come back after the visibility timeout; the poller hands them over again.
        done, kept = self.run_sync([m for m in messages if m["MessageId"] in set(kept)])
        yield (
            "sync function, the kept messages again",
            f"{len(done)} covered by job {job['ingestionJobId']} and deleted from the queue, {len(kept)} kept",
            "in-process",
        )


def tour_knowledge_base_sync(session: KnowledgeBaseSession) -> Iterator[Line]:
    """Upload the sample documents, measure the skew, sync and ingest, measure it again."""
    if not session.enabled:
        yield ("knowledge base", "not deployed (llmops.knowledgeBase.enabled is false)", "not emulated")
        return
    paths = sorted(DOCUMENTS_DIR.glob("*.md"))
    keys = session.upload(paths)
    head = session.aws.client("s3").head_object(Bucket=session.bucket, Key=keys[0])
    yield (
        "upload the sample documents",
        f"{len(keys)} documents to s3://{session.bucket}/{session.prefix} "
        f"({head.get('ServerSideEncryption', 'unencrypted')}, versioned: {'VersionId' in head})",
        "real",
    )
    before = session.skew()
    yield (
        "skew before ingestion (deployed monitor)",
        f"KnowledgeBaseSkewSeconds={before['skewSeconds']:.0f}, {before['unsyncedChanges']} un-ingested change(s)",
        "in-process",
    )
    yield from session.sync_cycle(len(keys))
    alarms = [
        alarm
        for alarm in session.aws.client("cloudwatch").describe_alarms()["MetricAlarms"]
        if alarm["AlarmName"].startswith(f"{session.stack_name}-KnowledgeBase")
    ]
    metrics = sorted({str(alarm.get("MetricName", "?")) for alarm in alarms})
    yield ("knowledge base alarms", f"{len(alarms)} alarms on {', '.join(metrics)}", "real")
    after = session.skew()
    yield (
        "skew after ingestion (deployed monitor)",
        f"KnowledgeBaseSkewSeconds={after['skewSeconds']:.0f}, {after['unsyncedChanges']} un-ingested change(s); "
        f"last job {after['lastJobStatus']} with {after['failedDocuments']} failed document(s); CloudWatch "
        f"holds {', '.join(f'{v:.0f}' for v in session.skew_metric())}",
        "in-process",
    )


RAG_PROMPT_FILE = PROJECT_ROOT / "prompts" / "support-answer.json"


def _document(uri: str) -> str:
    return uri.rsplit("/", 1)[-1]


@dataclass
class GatewayAsker:
    """Ask the deployed gateway (its handler in-process, as the other tour steps run it) a question for a
    prompt that retrieves; `model_env` points bedrock-runtime at the stand-in model."""

    session: KnowledgeBaseSession
    gateway: LocalFunction
    prompt: str
    alias: str
    question_variable: str
    model_env: Mapping[str, str]

    def ask(self, question: str) -> dict[str, Any]:
        request = {
            "prompt": self.prompt,
            "alias": self.alias,
            "variables": {self.question_variable: question},
            "team": "support",
        }
        invocation = self.gateway.invoke(request, {**self.session.env, **self.model_env})
        self.session.published += publish_emf(self.session.aws.client("cloudwatch"), invocation.output)
        answer: dict[str, Any] = invocation.response
        return answer


def describe_answer(answer: Mapping[str, Any]) -> str:
    """One line: status, retrieval status, the cited documents and chunks, the start of the text."""
    citations = answer.get("citations") or []
    cited = ", ".join(f"[{c.get('n')}] {_document(str(c.get('documentUri', '')))}" for c in citations)
    text = " / ".join(str(answer.get("text") or "").splitlines())[:90]
    return (
        f"HTTP {answer.get('statusCode')} retrieval {(answer.get('retrieval') or {}).get('status')}: "
        f"cites {cited or 'nothing'} | {text}"
    )


def cited_documents(answer: Mapping[str, Any]) -> list[str]:
    """The document names an answer cites, in citation order."""
    return [_document(str(c.get("documentUri", ""))) for c in answer.get("citations") or []]


def tour_knowledge_base_deletion(session: KnowledgeBaseSession, asker: GatewayAsker, question: str) -> Iterator[Line]:
    """Ask, delete the document the answer cites first, sync, ask again: the deleted document is gone."""
    if not session.enabled:
        return
    before = asker.ask(question)
    yield (f"cited answer through the gateway ({STAND_IN}, stand-in model)", describe_answer(before), "in-process")
    cited = cited_documents(before)
    if not cited:
        return
    key = f"{session.prefix}{cited[0]}"
    session.aws.client("s3").delete_object(Bucket=session.bucket, Key=key)
    pending = session.skew()
    yield (
        "delete the cited document",
        f"s3://{session.bucket}/{key} deleted (a delete marker); skew monitor: {pending['unsyncedChanges']} "
        "un-ingested change(s)",
        "real",
    )
    yield from session.sync_cycle(1)
    after = asker.ask(question)
    gone = cited[0] not in cited_documents(after)
    yield (
        "the same question after the sync",
        f"{describe_answer(after)} | {cited[0]} {'no longer cited' if gone else 'STILL CITED'}",
        "in-process",
    )
    settled = session.skew()
    yield (
        "skew after the deletion's sync (deployed monitor)",
        f"KnowledgeBaseSkewSeconds={settled['skewSeconds']:.0f}, {settled['unsyncedChanges']} un-ingested change(s)",
        "in-process",
    )


TOUR_USER = "arn:aws:iam::123456789012:user/local-tour"


def tour_knowledge_base_answers(session: KnowledgeBaseSession, *, question: str) -> Iterator[Line]:
    """The retrieval evaluation of prompts/support-answer.json's version and a cited answer, then a deletion.

    The version is the one the release step published; ``dev`` (not gated) is pointed at it so the gateway
    serves it whatever the gate decided on the stand-in model."""
    if not session.enabled:
        return
    from emulator.fake_bedrock import FakeBedrock
    from emulator.lambda_runner import rest_api_event

    prompt = json.loads(RAG_PROMPT_FILE.read_text())
    name, golden = prompt["name"], prompt["evaluation"]
    out = _outputs(session.aws, session.stack_name)
    catalog = deployed_function(session.aws, "prompt_catalog", out["CatalogFunctionName"])

    def api(method: str, path: str, body: dict[str, Any] | None = None) -> tuple[int, dict[str, Any]]:
        response = session.run(catalog, rest_api_event(method, path, body, user_arn=TOUR_USER))
        return int(response["statusCode"]), json.loads(response.get("body") or "{}")

    status, listed = api("GET", f"/prompts/{name}/versions")
    found = [v.get("version") for v in listed.get("versions") or listed.get("items") or [] if isinstance(v, dict)]
    version = max((int(v) for v in found if isinstance(v, int)), default=1)
    status, _ = api("PUT", f"/prompts/{name}/aliases/dev", {"version": version, "reason": "tour: try RAG"})
    yield (f"point {name} dev at v{version} (not gated)", f"HTTP {status}", "in-process")
    evaluator = deployed_function(session.aws, "llm_evaluation", out["EvaluatorFunctionName"])
    gateway = deployed_function(session.aws, "llm_gateway", out["GatewayFunctionName"])
    with FakeBedrock(region=session.aws.region) as model:
        event = {
            "prompt": name,
            "version": version,
            "golden_set": golden["golden_set"],
            "golden_version": golden["golden_version"],
            "run_id": "tour-rag",
        }
        invocation = evaluator.invoke(event, {**session.env, **model.env()})
        session.published += publish_emf(session.aws.client("cloudwatch"), invocation.output)
        verdict = invocation.response
        scores: dict[str, Any] = {}
        uri = str(verdict.get("scorecard_uri") or "")
        if uri.startswith("s3://"):
            bucket, key = uri[5:].split("/", 1)
            card = json.loads(session.aws.client("s3").get_object(Bucket=bucket, Key=key)["Body"].read())
            scores = next((m for m in card.get("models", []) if m.get("model_id") == verdict.get("gated_model")), {})
        top_k = prompt["retrieval"]["topK"]
        yield (
            f"retrieval evaluation over {golden['golden_set']} v{golden['golden_version']} ({STAND_IN})",
            f"recall@{top_k}={scores.get('recall_at_k')} over {scores.get('retrieval_items')} items, context relevance "
            f"{_rounded(scores.get('context_relevance'))}, faithfulness {_rounded(scores.get('faithfulness'))}; "
            f"gate passed={verdict.get('passed')} ({'; '.join(verdict.get('reasons') or [])[:160]})"
            + (f" error: {verdict['error']}" if verdict.get("error") else ""),
            "in-process",
        )
        asker = GatewayAsker(session, gateway, name, "dev", prompt["retrieval"]["queryVariable"], model.env())
        yield from tour_knowledge_base_deletion(session, asker, question)


def _rounded(value: Any) -> str:
    return "n/a" if not isinstance(value, int | float) else f"{value:.2f}"
