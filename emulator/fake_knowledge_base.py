"""A local stand-in for Amazon Bedrock Knowledge Bases: ``bedrock-agent`` ingestion and ``bedrock-agent-runtime``
Retrieve, over the knowledge bases a local deploy created (:mod:`emulator.shims.knowledge_base`).

moto has no ingestion jobs and no Retrieve. This server speaks the real REST-JSON wire format of

* ``bedrock-agent``: GetKnowledgeBase, GetDataSource, StartIngestionJob, GetIngestionJob, ListIngestionJobs;
* ``bedrock-agent-runtime``: Retrieve;

so unmodified boto3 clients reach it through ``AWS_ENDPOINT_URL_BEDROCK_AGENT`` and
``AWS_ENDPOINT_URL_BEDROCK_AGENT_RUNTIME`` (:meth:`FakeKnowledgeBase.env` gives both)::

    with LocalAws() as aws, FakeKnowledgeBase(aws) as kb:
        os.environ.update(kb.env())        # or boto3.client("bedrock-agent", endpoint_url=kb.endpoint_url)

What an ingestion job does, as Bedrock does it, in a background thread (the job answers STARTING, then
IN_PROGRESS, then COMPLETE or FAILED):

* it acts as the knowledge base's service role, and every read is decided on the deployed policies
  (:func:`emulator.policy_simulation.decide_request`): the role's trust policy must let
  ``bedrock.amazonaws.com`` assume it, its identity policies (within any permission boundary) must allow
  ``bedrock:InvokeModel`` on the embedding model, ``s3vectors:GetIndex``/``PutVectors``/``DeleteVectors``/
  ``GetVectors`` on the index (what AWS's example knowledge-base role grants) and ``s3:ListBucket`` on the
  bucket (else the job FAILS), and per document ``s3:GetObject`` (with the bucket policy) and, for an SSE-KMS
  object, ``kms:Decrypt`` (with the key policy) (else that document fails: ``numberOfDocumentsFailed`` and a
  failure reason, the others are indexed);
* it lists the data source's bucket under its inclusion prefix in the emulator's S3; ``<key>.metadata.json``
  files are the documents' metadata (``{"metadataAttributes": {...}}``, at most 10 KB);
* a new or changed document is parsed (text formats only: .txt, .md, .html, .csv; other formats Bedrock
  parses, such as PDF, fail here and say the stand-in cannot parse them), chunked by the data source's
  chunking configuration (FIXED_SIZE with words standing in for tokens, or NONE), embedded with
  :class:`emulator.fake_bedrock.StandInEmbedder` (a lexical hash, NOT an embedding model) at the knowledge
  base's dimensions, and its chunks replace its old ones in the deployed S3 Vectors index in moto; S3
  Vectors' limit of 2 KB of filterable metadata per vector applies (declare ``AMAZON_BEDROCK_TEXT`` and
  ``AMAZON_BEDROCK_METADATA`` non-filterable on the index, as AWS asks);
* a document no longer in the bucket has its chunks deleted (``numberOfDocumentsDeleted``);
* an unchanged document is left alone.

Retrieve embeds the query with the same stand-in embedder and ranks the index's vectors by cosine
similarity (top ``numberOfResults``, default 5), after the filter. Filters: ``equals``, ``notEquals``,
``greaterThan``, ``greaterThanOrEquals``, ``lessThan``, ``lessThanOrEquals``, ``in``, ``notIn``, ``andAll``,
``orAll`` (what S3 Vectors supports); ``startsWith``, ``stringContains``, ``listContains``, HYBRID search,
reranking, implicit filters and guardrails answer ``ValidationException`` instead of being ignored. The
role must be allowed ``s3vectors:QueryVectors`` and ``s3vectors:GetVectors`` on the index.

Not emulated: the caller's own permission (``bedrock:Retrieve``: every signature is accepted), paging,
parsing of binary formats, real embeddings. Every answer carries the header ``x-local-stand-in``. The server
listens on 127.0.0.1 only and stops with the ``with`` block, after ``lifetime_seconds`` or with the process.
"""

from __future__ import annotations

import json
import math
import re
import threading
import uuid
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler
from pathlib import PurePosixPath
from typing import Any
from urllib.parse import unquote

from emulator.fake_bedrock import EMBEDDING_MODEL_PREFIX, STAND_IN_HEADER, StandInEmbedder, model_refusal
from emulator.loopback import LoopbackService
from emulator.policy_simulation import decide_request
from emulator.server import DEFAULT_ACCOUNT, LocalAws
from emulator.shims.knowledge_base import (
    BedrockDataSource,
    BedrockKnowledgeBase,
    _vectors,
    find_data_source,
    find_knowledge_base,
    index_of,
)
from emulator.shims.network_and_policies import S3BucketPolicy
from stacks.model_catalog import shipped_catalog

__all__ = ["LABEL", "FakeKnowledgeBase", "chunk_text", "matches_filter", "validate_filter"]

LABEL = "local stand-in knowledge base: lexical hashing, not embeddings"
BEDROCK_PRINCIPAL = "bedrock.amazonaws.com"
TEXT_KEY = "AMAZON_BEDROCK_TEXT"
METADATA_KEY = "AMAZON_BEDROCK_METADATA"
SOURCE_URI_KEY = "x-amz-bedrock-kb-source-uri"
DATA_SOURCE_KEY = "x-amz-bedrock-kb-data-source-id"
CHUNK_ID_KEY = "x-amz-bedrock-kb-chunk-id"
METADATA_SUFFIX = ".metadata.json"
# IngestionJob.statistics: the counters Bedrock reports for every job (all start at 0).
INGESTION_STATISTICS = (
    "numberOfDocumentsScanned",
    "numberOfMetadataDocumentsScanned",
    "numberOfNewDocumentsIndexed",
    "numberOfModifiedDocumentsIndexed",
    "numberOfMetadataDocumentsModified",
    "numberOfDocumentsDeleted",
    "numberOfDocumentsFailed",
    "numberOfDocumentsSkipped",
)
TEXT_FORMATS = frozenset({".txt", ".md", ".markdown", ".html", ".htm", ".csv"})
# Formats Bedrock's default parser reads that this stand-in cannot: they fail, saying so.
BINARY_FORMATS = frozenset({".pdf", ".doc", ".docx", ".xls", ".xlsx"})
MAX_DOCUMENT_BYTES = 50 * 1024 * 1024  # Bedrock's limit per source file
MAX_METADATA_BYTES = 10 * 1024  # Bedrock's limit per metadata file
FILTERABLE_METADATA_BYTES = 2048  # S3 Vectors' limit of filterable metadata per vector
DEFAULT_CHUNKING = {"maxTokens": 300, "overlapPercentage": 20}  # Bedrock's default chunking
MAX_FILTER_DEPTH = 5
MAX_FILTER_CONDITIONS = 64
COMPARISONS = ("equals", "notEquals", "greaterThan", "greaterThanOrEquals", "lessThan", "lessThanOrEquals")
SUPPORTED_OPERATORS = frozenset({*COMPARISONS, "in", "notIn", "andAll", "orAll"})
UNSUPPORTED_OPERATORS = frozenset({"startsWith", "stringContains", "listContains"})
RUNNING = ("STARTING", "IN_PROGRESS")

_KB = r"/knowledgebases/(?P<kb>[^/]+)"
_DS = _KB + r"/datasources/(?P<ds>[^/]+)"
_ROUTES: tuple[tuple[str, re.Pattern[str], str], ...] = tuple(
    (method, re.compile(f"^{pattern}$"), name)
    for method, pattern, name in (
        ("GET", _KB, "get_knowledge_base"),
        ("GET", _DS, "get_data_source"),
        ("PUT", _DS + "/ingestionjobs/?", "start_ingestion_job"),
        ("POST", _DS + "/ingestionjobs/?", "list_ingestion_jobs"),
        ("GET", _DS + r"/ingestionjobs/(?P<job>[^/]+)", "get_ingestion_job"),
        ("POST", _KB + "/retrieve", "retrieve"),
    )
)


class ApiError(Exception):
    """An error answer: HTTP status, the error code botocore reads, the message."""

    def __init__(self, status: HTTPStatus, code: str, message: str) -> None:
        super().__init__(message)
        self.status, self.code, self.message = status, code, message


def _invalid(message: str) -> ApiError:
    return ApiError(HTTPStatus.BAD_REQUEST, "ValidationException", message)


def _now() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


# ---------------------------------------------------------------------------------------------- chunking


def chunk_text(text: str, chunking: Mapping[str, Any] | None) -> list[str]:
    """The chunks of ``text`` for a ``chunkingConfiguration`` (API shape; None: Bedrock's default, FIXED_SIZE
    300 tokens with 20% overlap). Whitespace-separated words stand in for tokens; chunks keep the original text
    between their first and last word. Raises ValueError for a strategy the stand-in does not implement."""
    strategy = (chunking or {}).get("chunkingStrategy", "FIXED_SIZE")
    spans = [match.span() for match in re.finditer(r"\S+", text)]
    if not spans:
        return []
    if strategy == "NONE":
        return [text.strip()]
    if strategy != "FIXED_SIZE":
        raise ValueError(f"chunking strategy {strategy}: the local stand-in implements FIXED_SIZE and NONE only")
    fixed = (chunking or {}).get("fixedSizeChunkingConfiguration") or DEFAULT_CHUNKING
    max_tokens, overlap = int(fixed["maxTokens"]), int(fixed["overlapPercentage"])
    if max_tokens < 1 or not 1 <= overlap <= 99:
        raise ValueError(f"fixedSizeChunkingConfiguration {fixed}: maxTokens >= 1, overlapPercentage 1-99")
    step = max(1, max_tokens - max_tokens * overlap // 100)
    chunks = []
    for start in range(0, len(spans), step):
        end = min(start + max_tokens, len(spans))
        chunks.append(text[spans[start][0] : spans[end - 1][1]])
        if end == len(spans):
            break
    return chunks


# ----------------------------------------------------------------------------------------------- filters


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)


def _is_primitive(value: Any) -> bool:
    return isinstance(value, str | bool) or _is_number(value)


def validate_filter(node: Any, *, depth: int = 1, count: list[int] | None = None) -> None:
    """Raise :class:`ApiError` (ValidationException) for a RetrievalFilter this stand-in (and S3 Vectors)
    cannot apply: an unknown or unsupported operator, a wrong value type, more than one operator per node,
    nesting deeper than :data:`MAX_FILTER_DEPTH` or more than :data:`MAX_FILTER_CONDITIONS` conditions."""
    count = [0] if count is None else count
    if depth > MAX_FILTER_DEPTH:
        raise _invalid(f"filter: nested deeper than {MAX_FILTER_DEPTH} levels")
    if not isinstance(node, dict) or len(node) != 1:
        raise _invalid("filter: each filter must set exactly one operator")
    ((operator, argument),) = node.items()
    count[0] += 1
    if count[0] > MAX_FILTER_CONDITIONS:
        raise _invalid(f"filter: more than {MAX_FILTER_CONDITIONS} conditions")
    if operator in UNSUPPORTED_OPERATORS:
        raise _invalid(f"filter: {operator} is not supported for knowledge bases on S3 Vectors")
    if operator not in SUPPORTED_OPERATORS:
        raise _invalid(f"filter: unknown operator {operator!r}")
    if operator in ("andAll", "orAll"):
        if not isinstance(argument, list) or len(argument) < 2:
            raise _invalid(f"filter: {operator} takes a list of at least 2 filters")
        for item in argument:
            validate_filter(item, depth=depth + 1, count=count)
        return
    if not isinstance(argument, dict) or set(argument) != {"key", "value"}:
        raise _invalid(f"filter: {operator} takes {{key, value}}")
    key, value = argument["key"], argument["value"]
    if not isinstance(key, str) or not 1 <= len(key) <= 100:
        raise _invalid(f"filter: {operator}.key must be a string of 1-100 characters")
    if operator in ("equals", "notEquals") and not _is_primitive(value):
        raise _invalid(f"filter: {operator}.value must be a string, number or boolean")
    if operator in COMPARISONS[2:] and not _is_number(value):
        raise _invalid(f"filter: {operator}.value must be a number")
    if operator in ("in", "notIn") and (
        not isinstance(value, list) or not value or not all(_is_primitive(v) for v in value)
    ):
        raise _invalid(f"filter: {operator}.value must be a non-empty list of strings, numbers or booleans")


def _equal(stored: Any, value: Any) -> bool:
    # S3 Vectors: comparing with a list-valued attribute matches any of its elements.
    if isinstance(stored, list):
        return any(_equal(item, value) for item in stored)
    if isinstance(stored, bool) or isinstance(value, bool):
        return isinstance(stored, bool) and isinstance(value, bool) and stored == value
    return bool(stored == value)


_ORDER: dict[str, Callable[[float, float], bool]] = {
    "greaterThan": lambda a, b: a > b,
    "greaterThanOrEquals": lambda a, b: a >= b,
    "lessThan": lambda a, b: a < b,
    "lessThanOrEquals": lambda a, b: a <= b,
}


def matches_filter(node: Mapping[str, Any], metadata: Mapping[str, Any]) -> bool:
    """Whether a vector's filterable ``metadata`` satisfies a validated RetrievalFilter."""
    ((operator, argument),) = node.items()
    if operator == "andAll":
        return all(matches_filter(item, metadata) for item in argument)
    if operator == "orAll":
        return any(matches_filter(item, metadata) for item in argument)
    key, value = argument["key"], argument["value"]
    present = key in metadata
    stored = metadata.get(key)
    if operator == "equals":
        return present and _equal(stored, value)
    if operator == "notEquals":
        return not (present and _equal(stored, value))
    if operator == "in":
        return present and any(_equal(stored, v) for v in value)
    if operator == "notIn":
        return not (present and any(_equal(stored, v) for v in value))
    return isinstance(stored, int | float) and _is_number(stored) and _ORDER[operator](float(stored), float(value))


# ----------------------------------------------------------------------------------------- permissions


@dataclass(frozen=True)
class _Role:
    arn: str
    trust: list[dict[str, Any]]
    identity: list[dict[str, Any]]
    boundary: list[dict[str, Any]] | None


def _statements(document: Any) -> list[dict[str, Any]]:
    if isinstance(document, str):
        document = json.loads(document)
    statements = (document or {}).get("Statement", [])
    return [dict(s) for s in (statements if isinstance(statements, list) else [statements])]


class _Access:
    """The knowledge base's service role, and AWS's decision for each call it makes (read from the emulator's
    IAM, S3 and KMS as deployed). A policy the evaluator cannot read denies, saying so."""

    def __init__(self, aws: LocalAws, role_arn: str) -> None:
        self.aws = aws
        iam = aws.client("iam")
        name = role_arn.rsplit("/", 1)[-1]
        try:
            role = iam.get_role(RoleName=name)["Role"]
        except iam.exceptions.NoSuchEntityException:
            raise PermissionError(f"the knowledge base's role {role_arn} does not exist") from None
        identity = []
        for policy_name in iam.list_role_policies(RoleName=name)["PolicyNames"]:
            identity += _statements(iam.get_role_policy(RoleName=name, PolicyName=policy_name)["PolicyDocument"])
        for attached in iam.list_attached_role_policies(RoleName=name)["AttachedPolicies"]:
            identity += self._managed(attached["PolicyArn"])
        boundary_arn = (role.get("PermissionsBoundary") or {}).get("PermissionsBoundaryArn")
        self.role = _Role(
            role["Arn"],
            _statements(role["AssumeRolePolicyDocument"]),
            identity,
            self._managed(boundary_arn) if boundary_arn else None,
        )

    def _managed(self, arn: str) -> list[dict[str, Any]]:
        iam = self.aws.client("iam")
        version = iam.get_policy(PolicyArn=arn)["Policy"]["DefaultVersionId"]
        return _statements(iam.get_policy_version(PolicyArn=arn, VersionId=version)["PolicyVersion"]["Document"])

    def denied(
        self,
        action: str,
        resource: str,
        *,
        context: Mapping[str, Any] | None = None,
        resource_policy: list[dict[str, Any]] | None = None,
        key_policy: bool = False,
    ) -> str | None:
        """None when the role may call ``action`` on ``resource``; else why not."""
        try:
            decision = decide_request(
                self.role.arn,
                action,
                resource,
                dict(context or {}),
                resource_policy=resource_policy,
                identity=self.role.identity,
                boundary=self.role.boundary,
                key_policy=key_policy,
            )
        except ValueError as error:
            return f"the emulator cannot evaluate the policy for {action}: {error}"
        return None if decision.allowed else f"{self.role.arn} is not allowed {action} on {resource} ({decision.why})"

    def assumable(self, knowledge_base_arn: str, account: str) -> str | None:
        # Bedrock assumes the role with the knowledge base as the source (what a confused-deputy guard checks).
        context = {"aws:SourceAccount": account, "aws:SourceArn": knowledge_base_arn}
        try:
            decision = decide_request(
                BEDROCK_PRINCIPAL,
                "sts:AssumeRole",
                self.role.arn,
                context,
                resource_policy=self.role.trust,
                key_policy=True,
            )
        except ValueError as error:
            return f"the emulator cannot evaluate the trust policy of {self.role.arn}: {error}"
        return None if decision.allowed else f"{BEDROCK_PRINCIPAL} cannot assume {self.role.arn} ({decision.why})"

    def bucket_policy(self, bucket: str) -> list[dict[str, Any]]:
        """The bucket's policy as deployed: what moto holds plus the conditional Denies the shim kept aside."""
        s3 = self.aws.client("s3")
        try:
            statements = _statements(s3.get_bucket_policy(Bucket=bucket)["Policy"])
        except s3.exceptions.ClientError as error:
            if error.response["Error"]["Code"] != "NoSuchBucketPolicy":
                raise
            statements = []
        for shim in list(S3BucketPolicy.instances_tracked):  # type: ignore[attr-defined]
            if isinstance(shim, S3BucketPolicy) and not shim.deleted and shim.bucket_name == bucket:
                statements += [dict(s) for s in shim.dropped_statements]
        return statements

    def key_policy(self, key_id: str) -> list[dict[str, Any]]:
        return _statements(self.aws.client("kms").get_key_policy(KeyId=key_id, PolicyName="default")["Policy"])


# ---------------------------------------------------------------------------------------------- ingestion


class _DocumentFailed(Exception):
    pass


class _JobFailed(Exception):
    pass


def _job_summary(job: Mapping[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in job.items() if k != "failureReasons"}


class FakeKnowledgeBase(LoopbackService):
    """The stand-in server for the knowledge bases deployed into ``aws``."""

    thread_name = "fake-knowledge-base"
    endpoint_variable = "AWS_ENDPOINT_URL_BEDROCK_AGENT"
    runtime_variable = "AWS_ENDPOINT_URL_BEDROCK_AGENT_RUNTIME"

    def __init__(self, aws: LocalAws, *, lifetime_seconds: float | None = 600.0) -> None:
        """Serve the knowledge bases deployed into ``aws`` (its account and region)."""
        self.aws = aws
        self.account, self.region = DEFAULT_ACCOUNT, aws.region
        self.catalog = shipped_catalog()
        super().__init__(lifetime_seconds=lifetime_seconds)
        self._threads: list[threading.Thread] = []

    def _handler_class(self) -> type[BaseHTTPRequestHandler]:
        return _Handler

    def env(self) -> dict[str, str]:
        """Points boto3's ``bedrock-agent`` and ``bedrock-agent-runtime`` clients (only those) here."""
        return {self.endpoint_variable: self.endpoint_url, self.runtime_variable: self.endpoint_url}

    def wait(self, timeout: float = 60.0) -> None:
        """Wait for the ingestion jobs started so far to end (for tests; clients poll GetIngestionJob)."""
        for thread in list(self._threads):
            thread.join(timeout)
            if thread.is_alive():
                raise TimeoutError(f"an ingestion job is still running after {timeout:g} s")

    # -------------------------------------------------------------------------------------- lookups

    def _kb(self, kb_id: str) -> BedrockKnowledgeBase:
        kb = find_knowledge_base(self.account, self.region, kb_id)
        if kb is None:
            raise ApiError(HTTPStatus.NOT_FOUND, "ResourceNotFoundException", f"Knowledge base {kb_id} not found")
        return kb

    def _ds(self, kb_id: str, ds_id: str) -> BedrockDataSource:
        self._kb(kb_id)
        ds = find_data_source(self.account, self.region, kb_id, ds_id)
        if ds is None:
            raise ApiError(
                HTTPStatus.NOT_FOUND,
                "ResourceNotFoundException",
                f"Data source {ds_id} of knowledge base {kb_id} not found",
            )
        return ds

    # --------------------------------------------------------------------------------- bedrock-agent

    def get_knowledge_base(self, kb: str, body: dict[str, Any]) -> dict[str, Any]:
        return {"knowledgeBase": self._kb(kb).api}

    def get_data_source(self, kb: str, ds: str, body: dict[str, Any]) -> dict[str, Any]:
        return {"dataSource": self._ds(kb, ds).api}

    def start_ingestion_job(self, kb: str, ds: str, body: dict[str, Any]) -> dict[str, Any]:
        source = self._ds(kb, ds)
        description = body.get("description")
        if description is not None and (not isinstance(description, str) or not 1 <= len(description) <= 200):
            raise _invalid("description: 1-200 characters")
        token = body.get("clientToken")
        if token is not None and (not isinstance(token, str) or not 33 <= len(token) <= 256):
            raise _invalid("clientToken: 33-256 characters")
        with source.lock:
            # Idempotency: a retried request with the same token answers the job it started.
            repeated = next(
                (j for j in source.ingestion_jobs if token and source.tokens.get(j["ingestionJobId"]) == token), None
            )
            if repeated is not None:
                return {"ingestionJob": json.loads(json.dumps(repeated))}
            if any(job["status"] in RUNNING for job in source.ingestion_jobs):
                raise ApiError(
                    HTTPStatus.CONFLICT,
                    "ConflictException",
                    f"Data source {ds} already has an ingestion job in progress; wait for it to end",
                )
            now = _now()
            job: dict[str, Any] = {
                "knowledgeBaseId": kb,
                "dataSourceId": ds,
                "ingestionJobId": uuid.uuid4().hex[:10].upper(),
                "status": "STARTING",
                "statistics": dict.fromkeys(INGESTION_STATISTICS, 0),
                "startedAt": now,
                "updatedAt": now,
                **({"description": description} if description else {}),
            }
            source.ingestion_jobs.append(job)
            if token:
                source.tokens[job["ingestionJobId"]] = token
            answer = json.loads(json.dumps(job))
        thread = threading.Thread(target=self._run_job, args=(source, job), name="ingestion-job", daemon=True)
        self._threads.append(thread)
        thread.start()
        return {"ingestionJob": answer}

    def get_ingestion_job(self, kb: str, ds: str, job: str, body: dict[str, Any]) -> dict[str, Any]:
        source = self._ds(kb, ds)
        with source.lock:
            found = next((j for j in source.ingestion_jobs if j["ingestionJobId"] == job), None)
            if found is None:
                raise ApiError(HTTPStatus.NOT_FOUND, "ResourceNotFoundException", f"Ingestion job {job} not found")
            return {"ingestionJob": json.loads(json.dumps(found))}

    def list_ingestion_jobs(self, kb: str, ds: str, body: dict[str, Any]) -> dict[str, Any]:
        source = self._ds(kb, ds)
        if body.get("nextToken"):
            raise _invalid("nextToken: the local stand-in returns every job in one page")
        with source.lock:
            jobs = [json.loads(json.dumps(_job_summary(j))) for j in source.ingestion_jobs]
        for condition in body.get("filters") or []:
            if condition.get("attribute") != "STATUS" or condition.get("operator") != "EQ":
                raise _invalid("filters: only attribute STATUS with operator EQ")
            jobs = [j for j in jobs if j["status"] in (condition.get("values") or [])]
        sort = body.get("sortBy") or {"attribute": "STARTED_AT", "order": "DESCENDING"}
        field = {"STATUS": "status", "STARTED_AT": "startedAt"}.get(sort.get("attribute", ""))
        if field is None or sort.get("order") not in ("ASCENDING", "DESCENDING"):
            raise _invalid("sortBy: attribute STATUS or STARTED_AT, order ASCENDING or DESCENDING")
        jobs.sort(key=lambda j: j[field], reverse=sort["order"] == "DESCENDING")
        limit = body.get("maxResults")
        return {"ingestionJobSummaries": jobs[: int(limit)] if limit else jobs}

    # ---------------------------------------------------------------------------------- the job itself

    def _run_job(self, source: BedrockDataSource, job: dict[str, Any]) -> None:
        reasons: list[str] = []
        with source.lock:
            job["status"], job["updatedAt"] = "IN_PROGRESS", _now()
        try:
            statistics = self._ingest(source, reasons)
            status = "COMPLETE"
        except _JobFailed as error:
            statistics, status = {}, "FAILED"
            reasons.insert(0, str(error))
        except Exception as error:  # an emulator bug must show in the job, not vanish in a thread
            statistics, status = {}, "FAILED"
            reasons.insert(0, f"the local stand-in failed: {type(error).__name__}: {error}")
        with source.lock:
            job["statistics"].update(statistics)
            job["status"], job["updatedAt"] = status, _now()
            if reasons:
                job["failureReasons"] = reasons

    def _ingest(self, source: BedrockDataSource, reasons: list[str]) -> dict[str, int]:
        kb = source.knowledge_base
        try:
            access = _Access(self.aws, kb.api["roleArn"])
        except PermissionError as error:
            raise _JobFailed(str(error)) from None
        if (why := access.assumable(kb.arn, self.account)) is not None:
            raise _JobFailed(why)
        embed = self._embedder(kb, access)
        try:
            index = index_of(self.account, self.region, kb.api["storageConfiguration"]["s3VectorsConfiguration"])
        except ValueError as error:
            raise _JobFailed(str(error)) from None
        for action in ("s3vectors:GetIndex", "s3vectors:PutVectors", "s3vectors:DeleteVectors", "s3vectors:GetVectors"):
            if (why := access.denied(action, index.index_arn)) is not None:
                raise _JobFailed(why)
        s3config = source.api["dataSourceConfiguration"]["s3Configuration"]
        bucket = s3config["bucketArn"].split(":::", 1)[-1]
        prefix = (s3config.get("inclusionPrefixes") or [""])[0]
        bucket_policy = access.bucket_policy(bucket)
        why = access.denied(
            "s3:ListBucket", f"arn:aws:s3:::{bucket}", context={"s3:prefix": prefix}, resource_policy=bucket_policy
        )
        if why is not None:
            raise _JobFailed(why)
        s3 = self.aws.client("s3")
        objects: dict[str, dict[str, Any]] = {}
        for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix):
            for item in page.get("Contents", []):
                if not item["Key"].endswith("/"):
                    objects[item["Key"]] = item
        documents = sorted(k for k in objects if not k.endswith(METADATA_SUFFIX))
        metadata_files = {k.removesuffix(METADATA_SUFFIX): k for k in objects if k.endswith(METADATA_SUFFIX)}
        stats = dict.fromkeys(INGESTION_STATISTICS, 0)
        indexed = self._indexed(index, source.data_source_id)
        non_filterable = set(getattr(index, "non_filterable_metadata_keys", []))
        vectors_backend = self._vectors()
        for key in documents:
            uri = f"s3://{bucket}/{key}"
            stats["numberOfDocumentsScanned"] += 1
            meta_key = metadata_files.get(key)
            stats["numberOfMetadataDocumentsScanned"] += meta_key is not None
            signature = objects[key]["ETag"] + (objects[meta_key]["ETag"] if meta_key else "")
            previous = indexed.get(uri)
            if previous is not None and previous[0] == signature:
                continue
            try:
                text = self._read(access, bucket, key, bucket_policy)
                attributes = self._metadata(access, bucket, meta_key, bucket_policy) if meta_key else {}
                records = self._records(
                    source, uri, signature, objects[key]["ETag"], text, attributes, embed, non_filterable
                )
            except _DocumentFailed as error:
                stats["numberOfDocumentsFailed"] += 1
                reasons.append(f"{error} [Files: {uri}]")
                continue
            if previous is not None:
                vectors_backend.delete_vectors(index.vectorBucketName, index.index_name, None, previous[1])
            vectors_backend.put_vectors(index.vectorBucketName, index.index_name, None, records)
            if previous is None:
                stats["numberOfNewDocumentsIndexed"] += 1
            elif previous[2] != objects[key]["ETag"]:
                stats["numberOfModifiedDocumentsIndexed"] += 1
            else:
                stats["numberOfMetadataDocumentsModified"] += 1
        for uri, (_, keys, _) in indexed.items():
            if uri.removeprefix(f"s3://{bucket}/") not in objects:
                vectors_backend.delete_vectors(index.vectorBucketName, index.index_name, None, keys)
                stats["numberOfDocumentsDeleted"] += 1
        return stats

    def _vectors(self) -> Any:
        return _vectors(self.account, self.region)

    @staticmethod
    def _indexed(index: Any, data_source_id: str) -> dict[str, tuple[str, list[str], str]]:
        """source URI -> (signature, vector keys, object ETag) of what this data source has in the index."""
        found: dict[str, tuple[str, list[str], str]] = {}
        for vector in list(index.vectors.values()):
            metadata = vector.metadata or {}
            if metadata.get(DATA_SOURCE_KEY) != data_source_id:
                continue
            own = json.loads(metadata.get(METADATA_KEY) or "{}")
            uri = metadata.get(SOURCE_URI_KEY, "")
            signature, keys, etag = found.get(uri, (own.get("signature", ""), [], own.get("etag", "")))
            found[uri] = (signature, [*keys, vector.key], etag)
        return found

    def _embedder(self, kb: BedrockKnowledgeBase, access: _Access) -> Callable[[str], list[float]]:
        model_id = kb.embedding_model_id
        model_arn = kb.api["knowledgeBaseConfiguration"]["vectorKnowledgeBaseConfiguration"]["embeddingModelArn"]
        if (why := access.denied("bedrock:InvokeModel", model_arn)) is not None:
            raise _JobFailed(why)
        refusal = model_refusal(self.catalog, model_id, self.region)
        if refusal is not None:
            raise _JobFailed(f"the embedding model {model_id}: {refusal[2]}")
        if not model_id.startswith(EMBEDDING_MODEL_PREFIX):
            raise _JobFailed(f"the local stand-in embeds only for {EMBEDDING_MODEL_PREFIX}*, not {model_id}")
        if kb.embedding_dimensions not in (256, 512, 1024):
            raise _JobFailed(f"{model_id} gives 256, 512 or 1024 dimensions, not {kb.embedding_dimensions}")
        return StandInEmbedder(kb.embedding_dimensions).embed

    def _get(self, access: _Access, bucket: str, key: str, bucket_policy: list[dict[str, Any]]) -> bytes:
        """Read an object as the role would: GetObject on the bucket policy, Decrypt on the key policy."""
        s3 = self.aws.client("s3")
        object_arn = f"arn:aws:s3:::{bucket}/{key}"
        if (why := access.denied("s3:GetObject", object_arn, resource_policy=bucket_policy)) is not None:
            raise _DocumentFailed(f"Access denied: {why}")
        head = s3.head_object(Bucket=bucket, Key=key)
        if head["ContentLength"] > MAX_DOCUMENT_BYTES:
            raise _DocumentFailed(f"The file is larger than {MAX_DOCUMENT_BYTES // (1024 * 1024)} MB")
        key_id = head.get("SSEKMSKeyId")
        if head.get("ServerSideEncryption") == "aws:kms" and key_id:
            encryption_arn = f"arn:aws:s3:::{bucket}" if head.get("BucketKeyEnabled") else object_arn
            why = access.denied(
                "kms:Decrypt",
                key_id if key_id.startswith("arn:") else f"arn:aws:kms:{self.region}:{self.account}:key/{key_id}",
                context={
                    "kms:ViaService": f"s3.{self.region}.amazonaws.com",
                    "kms:EncryptionContext:aws:s3:arn": encryption_arn,
                },
                resource_policy=access.key_policy(key_id),
                key_policy=True,
            )
            if why is not None:
                raise _DocumentFailed(f"Access denied to the object's KMS key: {why}")
        body: bytes = s3.get_object(Bucket=bucket, Key=key)["Body"].read()
        return body

    def _read(self, access: _Access, bucket: str, key: str, bucket_policy: list[dict[str, Any]]) -> str:
        suffix = PurePosixPath(key).suffix.lower()
        if suffix in BINARY_FORMATS:
            raise _DocumentFailed(f"The local stand-in cannot parse {suffix} files (Bedrock's parser can)")
        if suffix not in TEXT_FORMATS:
            raise _DocumentFailed(f"Unsupported file type {suffix or '(no extension)'}")
        raw = self._get(access, bucket, key, bucket_policy)
        try:
            text = raw.decode("utf-8-sig")
        except UnicodeDecodeError as error:
            raise _DocumentFailed(f"The file could not be parsed: it is not UTF-8 text ({error.reason})") from None
        if suffix in (".html", ".htm"):
            text = re.sub(r"<[^>]+>", " ", text)
        if "\x00" in text or not text.strip():
            raise _DocumentFailed("The file could not be parsed: it has no text")
        return text

    def _metadata(self, access: _Access, bucket: str, key: str, bucket_policy: list[dict[str, Any]]) -> dict[str, Any]:
        raw = self._get(access, bucket, key, bucket_policy)
        if len(raw) > MAX_METADATA_BYTES:
            raise _DocumentFailed(f"The metadata file {key} is larger than {MAX_METADATA_BYTES // 1024} KB")
        try:
            document = json.loads(raw)
        except (UnicodeDecodeError, json.JSONDecodeError) as error:
            raise _DocumentFailed(f"The metadata file {key} is not valid JSON ({error})") from None
        attributes = document.get("metadataAttributes") if isinstance(document, dict) else None
        if not isinstance(attributes, dict):
            raise _DocumentFailed(f"The metadata file {key} has no metadataAttributes object")
        for name, value in attributes.items():
            valid = _is_primitive(value) or (isinstance(value, list) and all(isinstance(v, str) for v in value))
            if not valid or name.startswith(("x-amz-bedrock-kb", "AMAZON_BEDROCK")):
                raise _DocumentFailed(
                    f"The metadata file {key}: attribute {name!r} is reserved or not a string, "
                    "number, boolean or list of strings"
                )
        return attributes

    def _records(
        self,
        source: BedrockDataSource,
        uri: str,
        signature: str,
        etag: str,
        text: str,
        attributes: Mapping[str, Any],
        embed: Callable[[str], list[float]],
        non_filterable: set[str],
    ) -> list[dict[str, Any]]:
        chunking = (source.api.get("vectorIngestionConfiguration") or {}).get("chunkingConfiguration")
        try:
            chunks = chunk_text(text, chunking)
        except ValueError as error:
            raise _DocumentFailed(str(error)) from None
        records = []
        for chunk in chunks:
            key = str(uuid.uuid4())
            metadata = {
                SOURCE_URI_KEY: uri,
                DATA_SOURCE_KEY: source.data_source_id,
                **attributes,
                TEXT_KEY: chunk,
                METADATA_KEY: json.dumps({CHUNK_ID_KEY: key, "signature": signature, "etag": etag}),
            }
            filterable = {k: v for k, v in metadata.items() if k not in non_filterable}
            size = len(json.dumps(filterable, separators=(",", ":")).encode())
            if size > FILTERABLE_METADATA_BYTES:
                raise _DocumentFailed(
                    f"Invalid record for key '{key}': Filterable metadata must have at most "
                    f"{FILTERABLE_METADATA_BYTES} bytes (it has {size}; declare {TEXT_KEY} and {METADATA_KEY} "
                    "non-filterable on the index)"
                )
            records.append({"key": key, "data": {"float32": embed(chunk)}, "metadata": metadata})
        return records

    # ----------------------------------------------------------------------------- bedrock-agent-runtime

    def retrieve(self, kb: str, body: dict[str, Any]) -> dict[str, Any]:
        knowledge_base = self._kb(kb)
        query = body.get("retrievalQuery")
        if not isinstance(query, dict) or query.get("type", "TEXT") != "TEXT":
            raise _invalid("retrievalQuery: the local stand-in answers TEXT queries only")
        text = query.get("text")
        if not isinstance(text, str) or not text.strip():
            raise _invalid("retrievalQuery.text: a non-empty string is required")
        if len(text) > 20000:
            raise _invalid("retrievalQuery.text: at most 20000 characters")
        for unsupported in ("guardrailConfiguration", "nextToken"):
            if body.get(unsupported):
                raise _invalid(f"{unsupported}: not implemented by the local stand-in")
        configuration = body.get("retrievalConfiguration") or {}
        if configuration.get("managedSearchConfiguration"):
            raise _invalid("managedSearchConfiguration: this is not a managed knowledge base")
        search = configuration.get("vectorSearchConfiguration") or {}
        for unsupported in ("rerankingConfiguration", "implicitFilterConfiguration"):
            if search.get(unsupported):
                raise _invalid(f"vectorSearchConfiguration.{unsupported}: not implemented by the local stand-in")
        if search.get("overrideSearchType") == "HYBRID":
            raise _invalid("overrideSearchType HYBRID is not supported for knowledge bases on S3 Vectors")
        top_k = search.get("numberOfResults", 5)
        if isinstance(top_k, bool) or not isinstance(top_k, int) or not 1 <= top_k <= 100:
            raise _invalid("numberOfResults: an integer from 1 to 100")
        condition = search.get("filter")
        if condition is not None:
            validate_filter(condition)
        try:
            access = _Access(self.aws, knowledge_base.api["roleArn"])
            storage = knowledge_base.api["storageConfiguration"]["s3VectorsConfiguration"]
            index = index_of(self.account, self.region, storage)
        except (PermissionError, ValueError) as error:
            raise ApiError(HTTPStatus.FAILED_DEPENDENCY, "DependencyFailedException", str(error)) from None
        for action in ("s3vectors:QueryVectors", "s3vectors:GetVectors"):
            if (why := access.denied(action, index.index_arn)) is not None:
                raise ApiError(HTTPStatus.FORBIDDEN, "AccessDeniedException", why)
        query_vector = StandInEmbedder(knowledge_base.embedding_dimensions).embed(text)
        ranked = []
        for vector in list(index.vectors.values()):
            metadata = vector.metadata or {}
            if condition is not None and not matches_filter(condition, metadata):
                continue
            ranked.append((_cosine(query_vector, vector.data["float32"]), vector))
        ranked.sort(key=lambda pair: pair[0], reverse=True)
        return {"retrievalResults": [_result(score, vector) for score, vector in ranked[:top_k]]}


def _cosine(a: list[float], b: Iterable[float]) -> float:
    b = list(b)
    dot = sum(x * y for x, y in zip(a, b, strict=False))
    norm = math.sqrt(sum(x * x for x in a)) * math.sqrt(sum(y * y for y in b))
    return dot / norm if norm else 0.0


def _result(score: float, vector: Any) -> dict[str, Any]:
    metadata = dict(vector.metadata or {})
    text = metadata.pop(TEXT_KEY, "")
    metadata.pop(METADATA_KEY, None)
    metadata[CHUNK_ID_KEY] = vector.key
    return {
        "content": {"type": "TEXT", "text": text},
        "location": {"type": "S3", "s3Location": {"uri": metadata.get(SOURCE_URI_KEY, "")}},
        "metadata": metadata,
        "score": round(score, 6),
    }


class _Handler(BaseHTTPRequestHandler):
    owner: FakeKnowledgeBase
    protocol_version = "HTTP/1.1"

    def log_message(self, format: str, *args: Any) -> None:
        """Silence the per-request access log."""

    def _send(self, status: HTTPStatus, payload: dict[str, Any], error_code: str | None = None) -> None:
        data = json.dumps(payload).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.send_header("x-amzn-RequestId", str(uuid.uuid4()))
        self.send_header(STAND_IN_HEADER, LABEL)
        if error_code:
            self.send_header("x-amzn-ErrorType", error_code)
        self.end_headers()
        self.wfile.write(data)

    def _serve(self, method: str) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length) if length else b""
        path = self.path.split("?", 1)[0]
        try:
            route = next(
                ((name, found) for verb, pattern, name in _ROUTES if verb == method and (found := pattern.match(path))),
                None,
            )
            if route is None:
                raise ApiError(
                    HTTPStatus.NOT_FOUND,
                    "UnknownOperationException",
                    f"{method} {path}: not an operation the local knowledge-base stand-in implements",
                )
            operation, found = route
            try:
                body = json.loads(raw or b"{}")
            except (json.JSONDecodeError, UnicodeDecodeError) as error:
                raise _invalid(f"invalid JSON: {error}") from None
            if not isinstance(body, dict):
                raise _invalid("the body must be a JSON object")
            arguments = {k: unquote(v) for k, v in found.groupdict().items()}
            answer = getattr(self.owner, operation)(**arguments, body=body)
            self._send(HTTPStatus.ACCEPTED if operation == "start_ingestion_job" else HTTPStatus.OK, answer)
        except ApiError as error:
            self._send(error.status, {"message": error.message}, error.code)

    def do_GET(self) -> None:
        """GetKnowledgeBase, GetDataSource, GetIngestionJob."""
        self._serve("GET")

    def do_PUT(self) -> None:
        """StartIngestionJob."""
        self._serve("PUT")

    def do_POST(self) -> None:
        """ListIngestionJobs, Retrieve."""
        self._serve("POST")
