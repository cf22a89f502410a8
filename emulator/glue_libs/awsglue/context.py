"""``GlueContext``: the Spark session and a log4j-like logger whose lines the runner collects."""

from __future__ import annotations

from typing import Any

import glue_local_runtime
from pyspark.sql import SparkSession


class _Logger:
    def _emit(self, level: str, message: str) -> None:
        glue_local_runtime.log.append(f"{level} {message}")

    def info(self, message: str) -> None:
        self._emit("INFO", message)

    def warn(self, message: str) -> None:
        self._emit("WARN", message)

    def error(self, message: str) -> None:
        self._emit("ERROR", message)


class GlueContext:
    def __init__(self, spark_context: Any) -> None:
        self.spark_context = spark_context
        self.spark_session = SparkSession(spark_context)

    def get_logger(self) -> _Logger:
        return _Logger()
