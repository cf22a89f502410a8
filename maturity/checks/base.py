"""What every check shares: :class:`Evidence`, :class:`Check`, the probing helper and the namespaces checks read.

See :mod:`maturity.checks` for the rule every check follows."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any, Literal

from maturity.aws import Api, CallFailed, SessionLike

Status = Literal["pass", "missing", "unknown"]
#: A maturity level (0-3) or the LLMOps track, which sits beside the ladder.
Level = Literal[0, 1, 2, 3, "llmops"]

#: CloudWatch namespace of the LLM gateway's token, cost and latency metrics (stacks/llmops.py).
GATEWAY_NAMESPACE = "Mlops/LLMOps"
#: Namespaces Model Monitor publishes its data-quality and model-quality metrics to.
MODEL_MONITOR_NAMESPACES = (
    "aws/sagemaker/Endpoints/data-metrics",
    "aws/sagemaker/Endpoints/model-metrics",
    "aws/sagemaker/Endpoints/bias-metrics",
    "aws/sagemaker/Endpoints/explainability-metrics",
)
#: A DynamoDB table is a prompt catalog if its name contains "prompt" or it carries this tag (key, value).
PROMPT_CATALOG_TAG = ("mlops:purpose", "prompt-catalog")
#: Key prefix under which LLM evaluation scorecards are written to a bucket.
SCORECARDS_PREFIX = "scorecards/"

# Bounds on how much one check reads: enough to answer yes/no with examples.
_MAX_PARENTS = 50  # databases, groups, pipelines, rules, tables ... whose children are read
_MAX_BUCKETS = 25
_SHOWN = 5  # examples listed in the evidence


@dataclass(frozen=True)
class Evidence:
    """A check's answer: the status, one sentence saying why, and the resources behind it."""

    status: Status
    summary: str
    found: tuple[str, ...] = ()
    unknown: tuple[str, ...] = ()
    #: A next step more specific than the check's default remedy (e.g. "run the pipeline once").
    hint: str | None = None


@dataclass(frozen=True)
class Check:
    """One question of the checklist: what it asks, which level needs it, what it calls, what provides it."""

    id: str
    question: str
    level: Level
    calls: tuple[str, ...]
    #: The stack of this project that provides it, without the ``Mlops-<env>-`` prefix.
    stack: str
    #: What that stack deploys to answer the question (the next step names it).
    provides: str
    run: Callable[[SessionLike], Evidence] = field(repr=False)


class _Probes:
    """Runs the calls of one check, remembering why any failed, so that one failure does not hide a pass."""

    def __init__(self) -> None:
        self.failures: list[str] = []

    def items(self, api: Api, operation: str, key: str, **kwargs: Any) -> list[Any]:
        """``api.items(...)``; an empty list if the call failed (the failure is remembered)."""
        try:
            return api.items(operation, key, **kwargs)
        except CallFailed as failure:
            self.record(failure)
            return []

    def call(self, api: Api, operation: str, **kwargs: Any) -> dict[str, Any] | None:
        """``api.call(...)``; None if the call failed (the failure is remembered)."""
        try:
            return api.call(operation, **kwargs)
        except CallFailed as failure:
            self.record(failure)
            return None

    def record(self, failure: CallFailed) -> None:
        if failure.reason not in self.failures:
            self.failures.append(failure.reason)

    def verdict(self, found: list[str], *, present: str, absent: str, hint: str | None = None) -> Evidence:
        """``present``/``absent`` are the summary when something was/nothing was found."""
        if found:
            return Evidence("pass", present, tuple(found))
        if self.failures:
            return Evidence(
                "unknown",
                f"unknown: {'; '.join(self.failures)}",
                unknown=tuple(self.failures),
            )
        return Evidence("missing", absent, hint=hint)


def _names(items: Iterable[str], noun: str) -> str:
    """``3 Glue tables (a, b, c)``; long lists end with ``+N more``."""
    listed = list(items)
    shown = ", ".join(listed[:_SHOWN]) + (f", +{len(listed) - _SHOWN} more" if len(listed) > _SHOWN else "")
    return f"{len(listed)} {noun}{'' if len(listed) == 1 else 's'} ({shown})"


def _arn_name(arn: str) -> str:
    return arn.rsplit("/", 1)[-1].rsplit(":", 1)[-1]
