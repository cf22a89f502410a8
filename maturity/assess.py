"""Run the checklist against one account and region, and render the result as a table, JSON or Markdown.

Usable in-process, e.g. after ``make demo`` against the local emulator::

    import boto3
    from maturity.assess import assess
    result = assess(boto3.Session(region_name="us-east-1"), env="local", endpoint_url=url, max_attempts=1)
    print(render(result, "table"))

Without ``endpoint_url`` boto3's own configuration applies (``AWS_ENDPOINT_URL`` included).
"""

from __future__ import annotations

import json
import shutil
import textwrap
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Literal

from maturity.aws import DEFAULT_MAX_ATTEMPTS, Api, CachingSession, CallFailed, CredentialsError, SessionLike
from maturity.checks import CHECKS, Check, Evidence
from maturity.scoring import DEFAULT_STACK_PREFIX, LEVEL_NAMES, RULES, Answer, Score, score

__all__ = ["Assessment", "Format", "assess", "render"]

Format = Literal["table", "json", "markdown"]
_STATUS_MARK = {"pass": "pass", "missing": "MISSING", "unknown": "unknown"}


@dataclass(frozen=True)
class Assessment:
    account: str | None
    region: str
    env: str
    answers: tuple[Answer, ...]
    score: Score


def assess(
    session: SessionLike,
    *,
    env: str = "<env>",
    endpoint_url: str | None = None,
    max_attempts: int = DEFAULT_MAX_ATTEMPTS,
    checks: Sequence[Check] = CHECKS,
    stack_prefix: str = DEFAULT_STACK_PREFIX,
) -> Assessment:
    """Answer every check for `session`'s account and region (read-only calls only).

    `env` and `stack_prefix` fill the stack names of the next step (``<Prefix>-<env>-...``); `endpoint_url`
    sends every call to one endpoint (a local emulator, with ``max_attempts=1`` there).

    Raises :class:`~maturity.aws.CredentialsError` when there are no usable credentials or no region;
    every other failure becomes an "unknown" answer.
    """
    region = session.region_name
    if not region:
        raise CredentialsError("No AWS region is configured: pass --region or set AWS_REGION.")
    cached = CachingSession(session, endpoint_url=endpoint_url, max_attempts=max_attempts)
    try:
        account: str | None = str(Api(cached, "sts").call("get_caller_identity")["Account"])
    except CallFailed:
        account = None  # STS denied or unreachable: the checks still say what they can
    answers = tuple(Answer(check, _run(check, cached)) for check in checks)
    scored = score(answers, env=env, stack_prefix=stack_prefix)
    return Assessment(account=account, region=region, env=env, answers=answers, score=scored)


def _run(check: Check, session: SessionLike) -> Evidence:
    try:
        return check.run(session)
    except CredentialsError:
        raise
    except Exception as error:  # a response shape the check did not expect: say so, do not guess "missing"
        reason = f"check {check.id} could not read the response ({type(error).__name__}: {error})"
        return Evidence("unknown", f"unknown: {reason}", unknown=(reason,))


# --------------------------------------------------------------------------------------------------
# Rendering


def render(result: Assessment, fmt: Format) -> str:
    if fmt == "json":
        return json.dumps(to_dict(result), indent=2) + "\n"
    if fmt == "markdown":
        return _markdown(result)
    return _table(result)


def to_dict(result: Assessment) -> dict[str, Any]:
    s = result.score
    return {
        "account": result.account,
        "region": result.region,
        "environment": result.env,
        "level": s.level,
        "levelName": s.level_name,
        "possibleLevel": s.possible_level,
        "llmops": {"passed": s.llmops_passed, "total": s.llmops_total},
        "nextStep": None
        if s.next_step is None
        else {
            "check": s.next_step.check_id,
            "question": s.next_step.question,
            "action": s.next_step.action,
            "stack": s.next_step.stack,
        },
        "checks": [
            {
                "id": a.check.id,
                "question": a.check.question,
                "level": a.check.level,
                "status": a.evidence.status,
                "summary": a.evidence.summary,
                "found": list(a.evidence.found),
                "unknown": list(a.evidence.unknown),
                "calls": list(a.check.calls),
                "providedBy": a.check.stack,
            }
            for a in result.answers
        ],
        "rules": RULES,
    }


def _headline(result: Assessment) -> list[str]:
    s = result.score
    where = f"account {result.account or '(unknown: STS did not answer)'}, region {result.region}"
    level = f"Level {s.level} ({s.level_name})"
    if s.possible_level > s.level:
        unanswered = sum(a.evidence.status == "unknown" for a in result.answers if a.check.level != "llmops")
        level += (
            f"; possibly {s.possible_level} ({LEVEL_NAMES[s.possible_level]}): "
            f"{unanswered} check(s) could not be answered"
        )
    return [
        f"MLOps maturity of {where}",
        level,
        f"LLMOps readiness: {s.llmops_passed} of {s.llmops_total} checks pass",
    ]


def _next_step_line(result: Assessment) -> str:
    step = result.score.next_step
    if step is None:
        return "Next step: none, every check passes."
    return f"Next step ({step.check_id}): {step.action}"


def _table(result: Assessment) -> str:
    width = max(100, min(shutil.get_terminal_size((140, 24)).columns, 200))
    level_w, question_w, status_w = 6, 40, 8
    evidence_w = width - level_w - question_w - status_w - 6
    lines = [*_headline(result), ""]
    header = f"{'level':<{level_w}}  {'question':<{question_w}}  {'status':<{status_w}}  evidence"
    lines += [header, "-" * min(width, len(header) + evidence_w - len("evidence"))]
    for answer in result.answers:
        level = str(answer.check.level)
        question = textwrap.wrap(answer.check.question, question_w) or [""]
        evidence = textwrap.wrap(answer.evidence.summary, evidence_w) or [""]
        status = _STATUS_MARK[answer.evidence.status]
        for i in range(max(len(question), len(evidence))):
            lines.append(
                f"{level if i == 0 else '':<{level_w}}  {question[i] if i < len(question) else '':<{question_w}}  "
                f"{status if i == 0 else '':<{status_w}}  {evidence[i] if i < len(evidence) else ''}".rstrip()
            )
    lines += ["", *textwrap.wrap(_next_step_line(result), width, subsequent_indent="  ")]
    return "\n".join(lines) + "\n"


def _cell(text: str) -> str:
    return text.replace("|", "\\|").replace("*", "\\*").replace("\n", " ")


def _markdown(result: Assessment) -> str:
    head = _headline(result)
    lines = [f"# {head[0]}", "", f"**{head[1]}**; {head[2]}.", "", f"**{_cell(_next_step_line(result))}**", ""]
    lines += ["| level | check | question | status | evidence |", "|---|---|---|---|---|"]
    for a in result.answers:
        lines.append(
            f"| {a.check.level} | `{a.check.id}` | {_cell(a.check.question)} | {a.evidence.status} | "
            f"{_cell(a.evidence.summary)} |"
        )
    lines += ["", "## How the level is scored", "", RULES, ""]
    return "\n".join(lines)
