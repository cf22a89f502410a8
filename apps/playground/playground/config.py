"""The app's settings, read once from the environment (the ECS task definition, or `make app` locally)."""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass

from playground.errors import ConfigError

#: The gateway turns the team into a metric dimension and accepts only this shape (lambdas/llm_gateway).
TEAM_RE = re.compile(r"^[a-z0-9][a-z0-9\-_]{0,63}\Z")
DEFAULT_TEAM = "playground"
REQUIRED = ("TABLE_NAME", "GATEWAY_FUNCTION_NAME")


@dataclass(frozen=True)
class AppConfig:
    """Where the app reads prompts and evaluations and which gateway it calls.

    Attributes:
        table_name: the prompt-catalog DynamoDB table (``TABLE_NAME``): aliases, templates, ``EVAL#`` summaries.
        gateway_function_name: the LLM gateway Lambda function, name or ARN (``GATEWAY_FUNCTION_NAME``).
        team: who the gateway meters the calls to (``PLAYGROUND_TEAM``, default ``playground``).
        region: ``AWS_REGION`` (or ``AWS_DEFAULT_REGION``); ``None`` leaves it to boto3.
    """

    table_name: str
    gateway_function_name: str
    team: str = DEFAULT_TEAM
    region: str | None = None

    @classmethod
    def from_env(cls, env: Mapping[str, str]) -> AppConfig:
        """Read the settings.

        Raises:
            ConfigError: naming every required variable that is missing and any that is invalid.
        """
        missing = [name for name in REQUIRED if not env.get(name, "").strip()]
        if missing:
            names = " and ".join(missing)
            raise ConfigError(
                f"The playground is not configured: set {names} "
                "(the prompt-catalog table and the LLM gateway function of the LlmOps stack)."
            )
        team = env.get("PLAYGROUND_TEAM", "").strip() or DEFAULT_TEAM
        if not TEAM_RE.match(team):
            raise ConfigError(f"PLAYGROUND_TEAM={team!r} is invalid: use 1-64 lowercase letters, digits, '-' or '_'.")
        region = (env.get("AWS_REGION") or env.get("AWS_DEFAULT_REGION") or "").strip() or None
        return cls(
            table_name=env["TABLE_NAME"].strip(),
            gateway_function_name=env["GATEWAY_FUNCTION_NAME"].strip(),
            team=team,
            region=region,
        )
