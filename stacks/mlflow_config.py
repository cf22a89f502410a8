"""The ``mlflow`` settings: the environment's SageMaker managed MLflow app (experiment tracking).

Kept apart from ``stacks/config.py`` (which imports these types and calls ``mlflow_problems``).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

__all__ = ["MlflowConfig", "mlflow_problems"]

# CreateMlflowApp's WeeklyMaintenanceWindowStart: day and UTC time, e.g. "Sun:03:00" (the API's pattern).
_MAINTENANCE_WINDOW = re.compile(r"(Mon|Tue|Wed|Thu|Fri|Sat|Sun):([01]\d|2[0-3]):[0-5]\d")


@dataclass(frozen=True)
class MlflowConfig:
    """Level 0: a SageMaker managed MLflow app (``AWS::SageMaker::MlflowApp``) whose artifacts live in the
    data lake; Level 1 logs one MLflow run per training-pipeline execution into it.

    ``enabled`` false leaves the app (and the pipeline's run-logging step) out. ``weekly_maintenance_window_start``
    is when SageMaker may patch the app (``Day:HH:MM`` in UTC); absent lets SageMaker choose.
    """

    enabled: bool
    weekly_maintenance_window_start: str | None


def mlflow_problems(mlflow: MlflowConfig) -> list[tuple[str, str]]:
    """(key under mlflow, message) for every value that is wrong; empty when all are fine."""
    problems: list[tuple[str, str]] = []
    window = mlflow.weekly_maintenance_window_start
    # fullmatch, not match: "Sun:03:00\n" or a trailing space would reach the API and fail at deploy time.
    if window is not None and not _MAINTENANCE_WINDOW.fullmatch(window):
        problems.append(
            (
                "weeklyMaintenanceWindowStart",
                f"{window!r} is not a day and UTC time like 'Sun:03:00' (Mon-Sun, 00:00-23:59)",
            )
        )
    return problems
