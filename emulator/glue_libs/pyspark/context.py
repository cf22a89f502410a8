"""``SparkContext`` of the stand-in: one per process, as in Spark."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any, ClassVar

from pyspark.rdd import RDD


class SparkContext:
    _active: ClassVar[SparkContext | None] = None

    @classmethod
    def getOrCreate(cls) -> SparkContext:
        if cls._active is None:
            cls._active = cls()
        return cls._active

    def parallelize(self, data: Iterable[Any]) -> RDD:
        return RDD(list(data))
