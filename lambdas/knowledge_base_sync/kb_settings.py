"""The functions' environment, read once and checked."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from kb_jobs import DataSource


class SettingsError(RuntimeError):
    """A deployment fault: an environment variable is missing or empty."""


@dataclass(frozen=True)
class Settings:
    name: str
    source: DataSource
    bucket: str
    prefix: str

    @classmethod
    def from_env(cls, env: Mapping[str, str]) -> Settings:
        names = ("KNOWLEDGE_BASE_NAME", "KNOWLEDGE_BASE_ID", "DATA_SOURCE_ID", "DOCUMENTS_BUCKET", "DOCUMENTS_PREFIX")
        missing = [name for name in names if not env.get(name)]
        if missing:
            raise SettingsError(f"missing environment variable(s): {', '.join(missing)}")
        return cls(
            name=env["KNOWLEDGE_BASE_NAME"],
            source=DataSource(knowledge_base_id=env["KNOWLEDGE_BASE_ID"], data_source_id=env["DATA_SOURCE_ID"]),
            bucket=env["DOCUMENTS_BUCKET"],
            prefix=env["DOCUMENTS_PREFIX"],
        )
