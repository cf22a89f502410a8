"""``SparkSession``, ``DataFrame`` and ``Row`` of the stand-in (see pyspark/__init__.py for what is kept)."""

from __future__ import annotations

import csv
import io
import json
import uuid
from collections.abc import Iterable, Mapping
from datetime import date
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq

from pyspark.rdd import RDD
from pyspark.sql import _storage
from pyspark.sql._storage import AnalysisException
from pyspark.sql.types import StringType, StructField, StructType

__all__ = ["AnalysisException", "DataFrame", "Row", "SparkSession"]


class Row(tuple):  # type: ignore[type-arg]
    """A row with named fields, like pyspark.sql.Row."""

    __fields__: tuple[str, ...]

    def __new__(cls, fields: Iterable[str], values: Iterable[Any]) -> Row:
        row = super().__new__(cls, tuple(values))
        row.__fields__ = tuple(fields)
        return row

    def asDict(self) -> dict[str, Any]:
        return dict(zip(self.__fields__, self, strict=True))


class SparkSession:
    def __init__(self, spark_context: Any) -> None:
        self.sparkContext = spark_context

    @property
    def read(self) -> DataFrameReader:
        return DataFrameReader()

    def createDataFrame(self, data: RDD | Iterable[Any], schema: StructType) -> DataFrame:
        if not isinstance(schema, StructType):
            raise NotImplementedError("the Glue stand-in's createDataFrame needs an explicit StructType schema")
        items = data.collect() if isinstance(data, RDD) else list(data)
        rows = []
        for item in items:
            if isinstance(item, Mapping):
                values = [item.get(name) for name in schema.names]
            else:
                values = list(item)
                if len(values) != len(schema.fields):
                    raise ValueError(f"Length of object ({len(values)}) does not match with length of fields")
            for field, value in zip(schema.fields, values, strict=True):
                field.verify(value)  # verifySchema=True, PySpark's default
            rows.append(Row(schema.names, values))
        return DataFrame(schema, rows)


class DataFrame:
    def __init__(self, schema: StructType, rows: list[Row]) -> None:
        self.schema, self._rows = schema, rows

    @property
    def rdd(self) -> RDD:
        return RDD(self._rows)

    @property
    def write(self) -> DataFrameWriter:
        return DataFrameWriter(self)

    def coalesce(self, partitions: int) -> DataFrame:
        # One partition is all the stand-in ever has: every write is one file (per output partition folder).
        return self

    def count(self) -> int:
        return len(self._rows)


class DataFrameReader:
    def __init__(self) -> None:
        self._options: dict[str, str] = {}

    def option(self, key: str, value: Any) -> DataFrameReader:
        self._options[key] = str(value).lower() if isinstance(value, bool) else str(value)
        return self

    def csv(self, path: str) -> DataFrame:
        header = self._options.pop("header", "false") == "true"
        infer = self._options.pop("inferSchema", "false") == "true"
        if infer or not header or self._options:
            raise NotImplementedError(
                "the Glue stand-in reads CSV with header=true and inferSchema=false only, got "
                f"header={header}, inferSchema={infer}, other options {sorted(self._options)}"
            )
        names: list[str] | None = None
        rows: list[Row] = []
        for bucket, key in _storage.data_files(path):
            records = list(csv.reader(io.StringIO(_storage.read(bucket, key).decode("utf-8"))))
            if not records:
                continue
            # Spark takes the schema from the first file's header and skips the header line of every
            # other file: later files are matched by position, not by name (enforceSchema=true).
            if names is None:
                names = records[0]
            for record in records[1:]:
                if not record:
                    continue
                cells: list[str | None] = [cell if cell != "" else None for cell in record[: len(names)]]
                cells += [None] * (len(names) - len(cells))
                rows.append(Row(names, cells))
        schema = StructType([StructField(name, StringType(), True) for name in names or []])
        return DataFrame(schema, rows)


class DataFrameWriter:
    def __init__(self, frame: DataFrame) -> None:
        self._frame = frame
        self._mode = "errorifexists"
        self._options: dict[str, str] = {}
        self._partition_by: tuple[str, ...] = ()

    def mode(self, mode: str) -> DataFrameWriter:
        mode = {"error": "errorifexists"}.get(mode, mode)
        if mode not in {"overwrite", "errorifexists", "append", "ignore"}:
            raise ValueError(f"Unknown save mode: {mode}")
        self._mode = mode
        return self

    def option(self, key: str, value: Any) -> DataFrameWriter:
        self._options[key] = str(value)
        return self

    def partitionBy(self, *columns: str) -> DataFrameWriter:
        unknown = [c for c in columns if c not in self._frame.schema.names]
        if unknown:
            raise AnalysisException(f"partition column(s) {unknown} not in the schema {self._frame.schema.names}")
        self._partition_by = columns
        return self

    def parquet(self, path: str) -> None:
        kept = [f for f in self._frame.schema.fields if f.name not in self._partition_by]
        arrow_schema = pa.schema(
            [pa.field(f.name, pa.type_for_alias(f.dataType.arrow), nullable=f.nullable) for f in kept]
        )

        def encode(rows: list[Row]) -> bytes:
            columns = {f.name: [row.asDict()[f.name] for row in rows] for f in kept}
            buffer = io.BytesIO()
            pq.write_table(pa.table(columns, schema=arrow_schema), buffer, compression="snappy")
            return buffer.getvalue()

        self._save(path, encode, "c000.snappy.parquet")

    def json(self, path: str) -> None:
        def encode(rows: list[Row]) -> bytes:
            # Spark's JSON writer leaves out null fields and writes dates as ISO strings.
            lines = [
                json.dumps(
                    {k: v.isoformat() if isinstance(v, date) else v for k, v in row.asDict().items() if v is not None},
                    separators=(",", ":"),
                )
                for row in rows
            ]
            return "".join(line + "\n" for line in lines).encode()

        self._save(path, encode, "c000.json")

    def _save(self, path: str, encode: Any, suffix: str) -> None:
        bucket, prefix = _storage.split(path)
        unknown = set(self._options) - {"partitionOverwriteMode"}
        if unknown:
            raise NotImplementedError(f"the Glue stand-in does not implement writer options {sorted(unknown)}")
        groups: dict[str, list[Row]] = {}
        for row in self._frame._rows:
            values = row.asDict()
            folder = "".join(
                f"{c}={'__HIVE_DEFAULT_PARTITION__' if values[c] is None else values[c]}/" for c in self._partition_by
            )
            groups.setdefault(folder, []).append(row)
        existing = _storage.keys_under(bucket, prefix)
        if existing and self._mode == "errorifexists":
            raise AnalysisException(f"[PATH_ALREADY_EXISTS] Path {path} already exists. Set mode as 'overwrite'.")
        if existing and self._mode == "ignore":
            return
        if self._mode == "overwrite":
            dynamic = self._options.get("partitionOverwriteMode", "static").lower() == "dynamic"
            if dynamic and self._partition_by:
                # Only the partitions this write produces are replaced; the others stay.
                for folder in groups:
                    _storage.delete_under(bucket, prefix + folder)
            else:
                _storage.delete_under(bucket, prefix)
        run = uuid.uuid4()
        for folder, rows in sorted(groups.items()):
            _storage.write(bucket, f"{prefix}{folder}part-00000-{run}-{suffix}", encode(rows))
        _storage.write(bucket, f"{prefix}_SUCCESS", b"")
