"""Feature Store settings that span values: feature group names within SageMaker's limits, known skew features.

Called from :func:`stacks.config.validation._check_semantics` with its ``fail`` (one sentence naming the environment and
the key). Also the one place that names feature groups, so the stacks and the check agree on the names.
"""

from __future__ import annotations

import re
import typing
from collections.abc import Callable

from pipelines.glue.churn_features import (
    FEATURE_GROUPS,
    MODEL_FEATURES,
    FeatureGroupSpec,
    feature_group_name,
    feature_group_name_error,
)

if typing.TYPE_CHECKING:
    from stacks.config import EnvironmentConfig

__all__ = ["MAX_SKEW_SAMPLE_SIZE", "check_feature_store", "feature_group_names", "feature_group_prefix"]

# BatchGetRecord reads at most 100 identifiers per call; the check reads one batch per run.
MAX_SKEW_SAMPLE_SIZE = 100
# What an EventBridge schedule rule accepts.
_SCHEDULE_RE = re.compile(r"^(rate\([1-9][0-9]{0,4} (minute|minutes|hour|hours|day|days)\)|cron\((\S+ ){5}\S+\))\Z")


def feature_group_prefix(resource_prefix: str, team: str | None = None) -> str:
    """The name prefix of an environment's (or a Level 3 team's) feature groups.

    ``resource_prefix`` is the environment's (``EnvironmentConfig.resource_prefix``: ``mlops-dev``).
    """
    return resource_prefix if team is None else f"{resource_prefix}-{team}"


def feature_group_names(prefix: str) -> dict[str, str]:
    """Feature group name per spec suffix, for one prefix."""
    return {spec.suffix: feature_group_name(prefix, spec) for spec in FEATURE_GROUPS}


def _name_problem(prefix: str, specs: tuple[FeatureGroupSpec, ...] = FEATURE_GROUPS) -> str | None:
    for spec in specs:
        problem = feature_group_name_error(feature_group_name(prefix, spec))
        if problem is not None:
            return problem
    return None


def check_feature_store(cfg: EnvironmentConfig, fail: Callable[[str, str], typing.NoReturn]) -> None:
    store = cfg.feature_store
    problem = _name_problem(feature_group_prefix(cfg.resource_prefix))
    if problem is not None:
        fail("featureStore", f"{problem}; use a shorter name prefix or environment name")
    if cfg.max_level >= 3:
        for index, team in enumerate(cfg.teams):
            problem = _name_problem(feature_group_prefix(cfg.resource_prefix, team.name))
            if problem is not None:
                fail(f"teams[{index}].name", f"{problem}; use a shorter team name")
    if not _SCHEDULE_RE.match(store.skew_check_schedule):
        fail(
            "featureStore.skewCheckSchedule",
            f"{store.skew_check_schedule!r} is not an EventBridge schedule (rate(N unit) or cron(6 fields))",
        )
    if not 1 <= store.skew_sample_size <= MAX_SKEW_SAMPLE_SIZE:
        fail(
            "featureStore.skewSampleSize",
            f"{store.skew_sample_size} is outside 1-{MAX_SKEW_SAMPLE_SIZE} (one BatchGetRecord call per check)",
        )
    if not 0 <= store.max_skew_percent <= 100:
        fail("featureStore.maxSkewPercent", f"{store.max_skew_percent} is not a percentage (0-100)")
    seen: set[str] = set()
    for index, name in enumerate(store.skew_features):
        if name not in MODEL_FEATURES:
            fail(
                f"featureStore.skewFeatures[{index}]",
                f"{name!r} is not a churn feature (known: {', '.join(MODEL_FEATURES)})",
            )
        if name in seen:
            fail(f"featureStore.skewFeatures[{index}]", f"{name!r} is listed twice")
        seen.add(name)
    if not store.online_store and cfg.max_level >= 2:
        fail("featureStore.onlineStore", "Level 2 serves the model from the online store: it must be true")
