"""A small fake of the bedrock-agent ingestion-job API for the knowledge base sync tests.

moto has no ingestion jobs (its bedrock-agent covers agents and knowledge bases only), so this fake keeps
jobs in memory. Every request is validated against botocore's bedrock-agent service model and every answer
is built with the model's member names, so a misspelt parameter or a wrong shape fails here as on AWS.
Bedrock behaviour it imitates: one running job per data source (ConflictException for a second), client
tokens make StartIngestionJob idempotent, ListIngestionJobs sorts by start time and filters by status.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import botocore.session
from botocore.exceptions import ClientError
from botocore.validate import validate_parameters

_MODEL = botocore.session.get_session().get_service_model("bedrock-agent")


def _validate(operation: str, params: dict[str, Any]) -> None:
    validate_parameters(params, _MODEL.operation_model(operation).input_shape)


def _error(code: str, message: str, operation: str) -> ClientError:
    return ClientError({"Error": {"Code": code, "Message": message}}, operation)


@dataclass
class FakeAgent:
    knowledge_base_id: str = "KB12345678"
    data_source_id: str = "DS12345678"
    now: datetime = field(default_factory=lambda: datetime(2026, 12, 3, 12, 0, 0, tzinfo=UTC))
    jobs: list[dict[str, Any]] = field(default_factory=list)
    tokens: dict[str, str] = field(default_factory=dict)
    calls: list[str] = field(default_factory=list)
    _ids: Any = field(default_factory=lambda: itertools.count(1))

    def _check_ids(self, params: dict[str, Any], operation: str) -> None:
        if (params["knowledgeBaseId"], params["dataSourceId"]) != (self.knowledge_base_id, self.data_source_id):
            raise _error("ResourceNotFoundException", "no such knowledge base or data source", operation)

    def start_ingestion_job(self, **params: Any) -> dict[str, Any]:
        _validate("StartIngestionJob", params)
        self.calls.append("StartIngestionJob")
        self._check_ids(params, "StartIngestionJob")
        token = params.get("clientToken")
        if token in self.tokens:
            return {"ingestionJob": self._job(self.tokens[token])}
        if any(job["status"] in ("STARTING", "IN_PROGRESS", "STOPPING") for job in self.jobs):
            raise _error("ConflictException", "an ingestion job is already running", "StartIngestionJob")
        job = {
            "knowledgeBaseId": self.knowledge_base_id,
            "dataSourceId": self.data_source_id,
            "ingestionJobId": f"JOB{next(self._ids):07d}",
            "status": "STARTING",
            "startedAt": self.now,
            "updatedAt": self.now,
            "statistics": {"numberOfDocumentsScanned": 0, "numberOfDocumentsFailed": 0},
        }
        if "description" in params:
            job["description"] = params["description"]
        self.jobs.append(job)
        if token:
            self.tokens[token] = job["ingestionJobId"]
        return {"ingestionJob": dict(job)}

    def _job(self, job_id: str) -> dict[str, Any]:
        return dict(next(job for job in self.jobs if job["ingestionJobId"] == job_id))

    def get_ingestion_job(self, **params: Any) -> dict[str, Any]:
        _validate("GetIngestionJob", params)
        self._check_ids(params, "GetIngestionJob")
        return {"ingestionJob": self._job(params["ingestionJobId"])}

    def list_ingestion_jobs(self, **params: Any) -> dict[str, Any]:
        _validate("ListIngestionJobs", params)
        self.calls.append("ListIngestionJobs")
        self._check_ids(params, "ListIngestionJobs")
        jobs = list(self.jobs)
        for condition in params.get("filters", []):
            assert condition["attribute"] == "STATUS" and condition["operator"] == "EQ"
            jobs = [job for job in jobs if job["status"] in condition["values"]]
        sort = params.get("sortBy", {"attribute": "STARTED_AT", "order": "DESCENDING"})
        jobs.sort(key=lambda job: job["startedAt"], reverse=sort["order"] == "DESCENDING")
        jobs = jobs[: params.get("maxResults", 1000)]
        summaries = [
            {
                key: job[key]
                for key in (
                    "knowledgeBaseId",
                    "dataSourceId",
                    "ingestionJobId",
                    "status",
                    "startedAt",
                    "updatedAt",
                    "statistics",
                )
            }
            for job in jobs
        ]
        return {"ingestionJobSummaries": summaries}

    # --- the test's hand on the service -------------------------------------------------------------

    def advance(self, seconds: float) -> None:
        self.now += timedelta(seconds=seconds)

    def finish(self, status: str = "COMPLETE", *, failed: int = 0, reasons: tuple[str, ...] = ()) -> str:
        """End the running job as `status`, with `failed` documents that could not be ingested."""
        job = next(job for job in self.jobs if job["status"] in ("STARTING", "IN_PROGRESS"))
        job["status"] = status
        job["updatedAt"] = self.now
        job["statistics"] = {**job["statistics"], "numberOfDocumentsFailed": failed}
        if reasons:
            job["failureReasons"] = list(reasons)
        return str(job["ingestionJobId"])
