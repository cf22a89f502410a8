"""``Job``: init and commit (bookmarks are not kept by the stand-in)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import glue_local_runtime


class Job:
    def __init__(self, glue_context: Any) -> None:
        self.glue_context = glue_context
        self.name: str | None = None

    def init(self, job_name: str, args: Mapping[str, Any] | None = None) -> None:
        self.name = job_name
        glue_local_runtime.log.append(f"INFO job {job_name} initialised")

    def commit(self) -> None:
        if self.name is None:
            raise RuntimeError("Job.commit() before Job.init()")
        glue_local_runtime.log.append(f"INFO job {self.name} committed")
