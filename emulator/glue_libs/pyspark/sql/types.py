"""The Spark SQL types the stand-in knows, with PySpark's verification of Python values against them."""

from __future__ import annotations

import datetime
from collections.abc import Iterator, Sequence
from typing import Any


class DataType:
    # Exact Python types PySpark's verifier accepts for the type (bool is not an int here, int not a float).
    accepts: tuple[type, ...] = ()
    arrow: str = ""

    def __repr__(self) -> str:
        return f"{type(self).__name__}()"

    def __eq__(self, other: object) -> bool:
        return type(self) is type(other)

    def __hash__(self) -> int:
        return hash(type(self))

    def verify(self, value: Any) -> None:
        if type(value) not in self.accepts:
            raise TypeError(f"{self!r} can not accept object {value!r} in type {type(value)}")


class StringType(DataType):
    accepts = (str,)
    arrow = "string"


class BooleanType(DataType):
    accepts = (bool,)
    arrow = "bool"


class DoubleType(DataType):
    accepts = (float,)
    arrow = "float64"


class DateType(DataType):
    accepts = (datetime.date, datetime.datetime)
    arrow = "date32"


class _Integral(DataType):
    accepts = (int,)
    bits = 64

    def verify(self, value: Any) -> None:
        super().verify(value)
        if not -(2 ** (self.bits - 1)) <= value < 2 ** (self.bits - 1):
            raise ValueError(f"object of {self!r} out of range, got: {value}")


class IntegerType(_Integral):
    bits = 32
    arrow = "int32"


class LongType(_Integral):
    bits = 64
    arrow = "int64"


class StructField:
    def __init__(self, name: str, dataType: DataType, nullable: bool = True) -> None:
        self.name, self.dataType, self.nullable = name, dataType, nullable

    def verify(self, value: Any) -> None:
        if value is None:
            if not self.nullable:
                raise ValueError(f"field {self.name}: This field is not nullable, but got None")
            return
        try:
            self.dataType.verify(value)
        except (TypeError, ValueError) as error:
            raise type(error)(f"field {self.name}: {error}") from None


class StructType:
    def __init__(self, fields: Sequence[StructField]) -> None:
        self.fields = list(fields)

    @property
    def names(self) -> list[str]:
        return [field.name for field in self.fields]

    def __iter__(self) -> Iterator[StructField]:
        return iter(self.fields)
