"""``RDD`` of the stand-in: a list, transformed eagerly."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any


class RDD:
    def __init__(self, items: Iterable[Any]) -> None:
        self._items = list(items)

    def cache(self) -> RDD:
        return self

    def map(self, function: Callable[[Any], Any]) -> RDD:
        return RDD(function(item) for item in self._items)

    def mapPartitions(self, function: Callable[[Any], Iterable[Any]]) -> RDD:
        # One partition: the stand-in holds the whole dataset in one list.
        return RDD(function(iter(self._items)))

    def filter(self, predicate: Callable[[Any], bool]) -> RDD:
        return RDD(item for item in self._items if predicate(item))

    def zipWithIndex(self) -> RDD:
        return RDD((item, index) for index, item in enumerate(self._items))

    def values(self) -> RDD:
        return RDD(value for _key, value in self._items)

    def keys(self) -> RDD:
        return RDD(key for key, _value in self._items)

    def reduceByKey(self, function: Callable[[Any, Any], Any]) -> RDD:
        reduced: dict[Any, Any] = {}
        for key, value in self._items:
            reduced[key] = function(reduced[key], value) if key in reduced else value
        return RDD(reduced.items())

    def count(self) -> int:
        return len(self._items)

    def take(self, number: int) -> list[Any]:
        return self._items[:number]

    def collect(self) -> list[Any]:
        return list(self._items)
