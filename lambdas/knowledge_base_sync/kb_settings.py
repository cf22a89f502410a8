"""The sync and monitor functions' environment, read once per cold start with :mod:`common.settings`' rules."""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass

from common.settings import EnvSettings
from kb_jobs import DataSource

# Bedrock's knowledgeBaseId and dataSourceId: 10 letters or digits.
_BEDROCK_ID = re.compile(r"[0-9a-zA-Z]{10}")


class SettingsError(RuntimeError):
    """A deployment fault: an environment variable is missing or invalid; the message names it."""


@dataclass(frozen=True)
class Settings:
    name: str
    source: DataSource
    bucket: str
    prefix: str

    @classmethod
    def from_env(cls, env: Mapping[str, str]) -> Settings:
        settings = EnvSettings(env, error=SettingsError)
        values = settings.require_all(
            "KNOWLEDGE_BASE_NAME", "KNOWLEDGE_BASE_ID", "DATA_SOURCE_ID", "DOCUMENTS_BUCKET", "DOCUMENTS_PREFIX"
        )
        what = "a Bedrock id (10 letters or digits)"
        return cls(
            name=values["KNOWLEDGE_BASE_NAME"],
            source=DataSource(
                knowledge_base_id=settings.text("KNOWLEDGE_BASE_ID", "", pattern=_BEDROCK_ID, what=what),
                data_source_id=settings.text("DATA_SOURCE_ID", "", pattern=_BEDROCK_ID, what=what),
            ),
            bucket=values["DOCUMENTS_BUCKET"],
            prefix=values["DOCUMENTS_PREFIX"],
        )
