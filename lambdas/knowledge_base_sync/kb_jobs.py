"""The ingestion jobs of one data source, read through the bedrock-agent API as on AWS."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from kb_coverage import FINISHED_STATUSES


@dataclass(frozen=True)
class JobSummary:
    job_id: str
    status: str
    started_at: datetime


@dataclass(frozen=True)
class DataSource:
    """Which data source to sync: the knowledge base and data source IDs."""

    knowledge_base_id: str
    data_source_id: str

    def newest_job(self, agent: Any, *, status: str | None = None) -> JobSummary | None:
        """The job (with `status`, if given) that started last, or None when there is none."""
        request: dict[str, Any] = {
            "knowledgeBaseId": self.knowledge_base_id,
            "dataSourceId": self.data_source_id,
            "sortBy": {"attribute": "STARTED_AT", "order": "DESCENDING"},
            "maxResults": 1,
        }
        if status is not None:
            request["filters"] = [{"attribute": "STATUS", "operator": "EQ", "values": [status]}]
        summaries = agent.list_ingestion_jobs(**request).get("ingestionJobSummaries", [])
        if not summaries:
            return None
        first = summaries[0]
        return JobSummary(job_id=first["ingestionJobId"], status=first["status"], started_at=first["startedAt"])

    def last_finished_job(self, agent: Any) -> dict[str, Any] | None:
        """GetIngestionJob's ``ingestionJob`` of the newest job that has finished, or None.

        The newest job may still be running: then the one before it is the last finished one.
        """
        summaries = agent.list_ingestion_jobs(
            knowledgeBaseId=self.knowledge_base_id,
            dataSourceId=self.data_source_id,
            sortBy={"attribute": "STARTED_AT", "order": "DESCENDING"},
            maxResults=5,
        ).get("ingestionJobSummaries", [])
        for summary in summaries:
            if summary["status"] in FINISHED_STATUSES:
                job: dict[str, Any] = agent.get_ingestion_job(
                    knowledgeBaseId=self.knowledge_base_id,
                    dataSourceId=self.data_source_id,
                    ingestionJobId=summary["ingestionJobId"],
                )["ingestionJob"]
                return job
        return None
