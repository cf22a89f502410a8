"""How answers become a maturity level and one next step. Every rule lives here; RULES states them.

The rules (also printed with ``--format markdown`` and in the JSON):

1. Every account is at least level 0 (exploration): people work by hand.
2. Level N (1-3) is reached when every check of levels 0 to N passes; the ladder is additive, so a
   gap at level 1 caps the score at 0 whatever level 2 and 3 look like.
3. "unknown" (access denied, service not available, call failed) never counts as a pass. The level
   stops below the first level with an unanswered check; the possible level is the level the account
   would have if every unanswered check passed, so a reader sees what better access could reveal.
4. The LLMOps checks sit beside the ladder: they never change the level; readiness is passed/total.
5. The next step is the first gap, in ladder order (levels 0, 1, 2, 3, then LLMOps): in the lowest
   level that is not complete, the first "missing" check names the stack of this project that provides
   it (or the check's own, more specific hint); if that level only has "unknown" checks, the next step is
   to grant the denied read-only actions, because nothing sensible can be advised blind.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from maturity.checks import Check, Evidence, Level

__all__ = [
    "LEVEL_NAMES",
    "RULES",
    "Answer",
    "NextStep",
    "Score",
    "score",
    "stack_name",
]

#: The shipped ``mlops:namePrefix`` (``mlops``) as stack names start; the CLI passes the project's own.
DEFAULT_STACK_PREFIX = "Mlops"
LEVEL_NAMES = {0: "exploration", 1: "repeatable", 2: "reliable", 3: "scalable"}
LADDER: tuple[Level, ...] = (0, 1, 2, 3, "llmops")
#: What to set in cdk.json before deploying a stack.
_ENABLE = {
    "Level0Exploration": "every environment deploys it",
    "Level1Repeatable": "set maxLevel >= 1 in cdk.json",
    "Level2Reliable": "set maxLevel >= 2 in cdk.json",
    "Level3Scalable": "set maxLevel >= 3 in cdk.json",
    "LlmOps": "set llmops.enabled in cdk.json",
}

RULES = __doc__.split("The rules (also printed with ``--format markdown`` and in the JSON):", 1)[1].strip()


@dataclass(frozen=True)
class Answer:
    check: Check
    evidence: Evidence


@dataclass(frozen=True)
class NextStep:
    check_id: str
    question: str
    action: str
    #: The full stack name (``Mlops-<env>-Level1Repeatable``) when deploying a stack is the step.
    stack: str | None


@dataclass(frozen=True)
class Score:
    level: int
    possible_level: int
    llmops_passed: int
    llmops_total: int
    next_step: NextStep | None

    @property
    def level_name(self) -> str:
        return LEVEL_NAMES[self.level]


def stack_name(env: str, stack: str, *, prefix: str = DEFAULT_STACK_PREFIX) -> str:
    """``<Prefix>-<env>-<Stack>``, as the app names stacks (cdk.json's ``mlops:namePrefix``, capitalized)."""
    return f"{prefix}-{env}-{stack}"


def score(answers: Sequence[Answer], *, env: str = "<env>", stack_prefix: str = DEFAULT_STACK_PREFIX) -> Score:
    """Apply the rules above to a full set of answers."""
    level = possible = 0
    blocked = uncertain = False
    for target in (1, 2, 3):
        statuses = [a.evidence.status for a in answers if _ladder_level(a.check.level) <= target]
        if not blocked and all(s == "pass" for s in statuses):
            level = target
        else:
            blocked = True
        if not uncertain and all(s in ("pass", "unknown") for s in statuses):
            possible = target
        else:
            uncertain = True
    llmops = [a for a in answers if a.check.level == "llmops"]
    return Score(
        level=level,
        possible_level=possible,
        llmops_passed=sum(a.evidence.status == "pass" for a in llmops),
        llmops_total=len(llmops),
        next_step=_next_step(answers, env, stack_prefix),
    )


def _ladder_level(level: Level) -> int:
    return 99 if level == "llmops" else level


def _next_step(answers: Sequence[Answer], env: str, stack_prefix: str) -> NextStep | None:
    for level in LADDER:
        gaps = [a for a in answers if a.check.level == level and a.evidence.status != "pass"]
        missing = [a for a in gaps if a.evidence.status == "missing"]
        if missing:
            return _deploy(missing[0], env, stack_prefix)
        if gaps:
            first = gaps[0]
            denied = ", ".join(first.evidence.unknown) or first.evidence.summary
            return NextStep(
                first.check.id,
                first.check.question,
                f"Let the assessment read what it needs ({', '.join(first.check.calls)}) and run it again: {denied}.",
                None,
            )
    return None


def _deploy(answer: Answer, env: str, stack_prefix: str) -> NextStep:
    check = answer.check
    name = stack_name(env, check.stack, prefix=stack_prefix)
    if answer.evidence.hint:
        return NextStep(check.id, check.question, f"{answer.evidence.hint} ({name} provides it).", name)
    how = _ENABLE.get(check.stack, "")
    return NextStep(
        check.id,
        check.question,
        f"Deploy {name}: {check.provides} ({how}; then `npx cdk deploy -c env={env} --all`).",
        name,
    )
