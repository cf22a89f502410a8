"""Training-serving skew: the online store's records against what the offline store holds for the same records.

Plain logic, no Powertools; the handler wires it to boto3 clients and publishes the metrics.

The offline store is read through Athena from the Glue table Feature Store catalogued for the group (its latest
non-deleted row per record identifier, most recent first, ``sample_size`` of them); the online store through
BatchGetRecord for the same identifiers. A record counts as:

* ``matching``: same event time in both stores and every compared feature equal (numbers numerically);
* ``skewed``: same event time but a feature differs, the online store lacks the record, or the online store holds
  an *older* event than the offline store (it keeps the newest, so that cannot happen without a fault);
* ``pending``: the online store holds a newer event; the offline store receives records within minutes, so
  these are not compared yet.

``skew_percent`` is skewed / (matching + skewed) * 100, None when nothing could be compared.
"""

from __future__ import annotations

import math
import re
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from common.settings import EnvSettings

__all__ = ["Config", "ConfigError", "SkewReport", "check", "compare", "offline_query", "rows_from_results"]

RECORD_IDENTIFIER = "customer_id"
EVENT_TIME = "event_time"
MAX_SAMPLE_SIZE = 100  # BatchGetRecord's limit per call
# Glue table and database names Feature Store generates: lower-case letters, digits and underscores.
_CATALOG_NAME = re.compile(r"[a-z0-9_]{1,255}")
_FINISHED = frozenset({"SUCCEEDED", "FAILED", "CANCELLED"})
# Feature Store's FeatureName pattern.
FEATURE_NAME = re.compile(r"[a-zA-Z0-9]([-_]*[a-zA-Z0-9]){0,63}")


class ConfigError(ValueError):
    """The function's environment is wrong; the message names the variable."""


class QueryError(RuntimeError):
    """Athena did not answer the offline-store query."""


@dataclass(frozen=True)
class Config:
    features_group: str
    features: tuple[str, ...]
    sample_size: int
    workgroup: str

    @classmethod
    def from_env(cls, env: Mapping[str, str]) -> Config:
        """Read and validate the configuration (:mod:`common.settings`' rules); see the handler's docstring."""
        settings = EnvSettings(env, error=ConfigError)
        values = settings.require_all("FEATURES_GROUP", "FEATURES", "WORKGROUP")
        features = settings.names("FEATURES", required=True, unique=True, pattern=FEATURE_NAME, what="a feature name")
        sample_size = settings.integer("SAMPLE_SIZE", 20, low=1, high=MAX_SAMPLE_SIZE)
        return cls(values["FEATURES_GROUP"], features, sample_size, values["WORKGROUP"])


@dataclass
class SkewReport:
    feature_group: str
    matching: int = 0
    skewed: int = 0
    pending: int = 0
    # Up to a few examples, for the log: "<id>: <feature> online 1 offline 2".
    examples: list[str] = field(default_factory=list)

    @property
    def compared(self) -> int:
        return self.matching + self.skewed

    @property
    def skew_percent(self) -> float | None:
        return None if self.compared == 0 else 100.0 * self.skewed / self.compared


def offline_query(database: str, table: str, sample_size: int) -> str:
    """Athena SQL: the offline store's newest non-deleted row per record, the ``sample_size`` most recent."""
    for name in (database, table):
        if not _CATALOG_NAME.fullmatch(name):
            raise QueryError(f"{name!r} is not a Glue name Feature Store generates; refusing to put it in SQL")
    if not 1 <= sample_size <= MAX_SAMPLE_SIZE:
        raise QueryError(f"sample size {sample_size} is outside 1-{MAX_SAMPLE_SIZE}")
    # Identifiers validated above against the only shape Feature Store generates; Athena has no bind
    # parameters for identifiers.
    return (
        f'SELECT * FROM (SELECT *, row_number() OVER (PARTITION BY "{RECORD_IDENTIFIER}" '  # noqa: S608
        f'ORDER BY "{EVENT_TIME}" DESC, api_invocation_time DESC, write_time DESC) AS skew_rank '
        f'FROM "{database}"."{table}") '
        f'WHERE skew_rank = 1 AND NOT is_deleted ORDER BY "{EVENT_TIME}" DESC LIMIT {sample_size}'
    )


def rows_from_results(pages: Iterable[Mapping[str, Any]]) -> list[dict[str, str | None]]:
    """GetQueryResults pages -> rows as {column: text}; the first row of the first page is the header."""
    header: list[str] | None = None
    rows: list[dict[str, str | None]] = []
    for page in pages:
        for row in page["ResultSet"]["Rows"]:
            values = [cell.get("VarCharValue") for cell in row["Data"]]
            if header is None:
                header = [str(value) for value in values]
                continue
            rows.append(dict(zip(header, values, strict=True)))
    return rows


def _equal(online: str | None, offline: str | None) -> bool:
    if online is None or offline is None:
        return online == offline
    try:
        return math.isclose(float(online), float(offline), rel_tol=1e-9, abs_tol=1e-9)
    except ValueError:
        return online == offline


def compare(
    feature_group: str,
    offline_rows: Iterable[Mapping[str, str | None]],
    online_records: Mapping[str, Mapping[str, str]],
    features: Iterable[str],
    *,
    max_examples: int = 5,
) -> SkewReport:
    report = SkewReport(feature_group)
    compared_features = tuple(features)

    def skewed(example: str) -> None:
        report.skewed += 1
        if len(report.examples) < max_examples:
            report.examples.append(example)

    for row in offline_rows:
        identifier = str(row[RECORD_IDENTIFIER])
        online = online_records.get(identifier)
        if online is None:
            skewed(f"{identifier}: missing from the online store")
            continue
        online_time, offline_time = online.get(EVENT_TIME, ""), str(row.get(EVENT_TIME) or "")
        # Both are yyyy-MM-ddTHH:mm:ssZ strings (churn_features writes them so): text order is time order.
        if online_time > offline_time:
            report.pending += 1
            continue
        if online_time < offline_time:
            skewed(f"{identifier}: online event {online_time} is older than offline {offline_time}")
            continue
        differing = [name for name in compared_features if not _equal(online.get(name), row.get(name))]
        if differing:
            name = differing[0]
            skewed(f"{identifier}: {name} online {online.get(name)!r} offline {row.get(name)!r}")
        else:
            report.matching += 1
    return report


def _run_query(athena: Any, sql: str, database: str, workgroup: str, *, sleep: Callable[[float], None]) -> list[Any]:
    execution_id = athena.start_query_execution(
        QueryString=sql, WorkGroup=workgroup, QueryExecutionContext={"Database": database}
    )["QueryExecutionId"]
    delay = 0.5
    for _attempt in range(40):  # about 90 s at most, inside the function's timeout
        status = athena.get_query_execution(QueryExecutionId=execution_id)["QueryExecution"]["Status"]
        if status["State"] in _FINISHED:
            break
        sleep(delay)
        delay = min(delay * 1.5, 3.0)
    else:
        raise QueryError(f"Athena query {execution_id} did not finish in time")
    if status["State"] != "SUCCEEDED":
        raise QueryError(f"Athena query {execution_id} {status['State']}: {status.get('StateChangeReason', '')}")
    return list(athena.get_paginator("get_query_results").paginate(QueryExecutionId=execution_id))


def check(
    sagemaker: Any, athena: Any, runtime: Any, config: Config, *, sleep: Callable[[float], None] = time.sleep
) -> SkewReport:
    """Query both stores for a sample of records and compare them."""
    described = sagemaker.describe_feature_group(FeatureGroupName=config.features_group)
    catalog = (described.get("OfflineStoreConfig") or {}).get("DataCatalogConfig")
    if not catalog:
        raise QueryError(f"feature group {config.features_group} has no catalogued offline store")
    sql = offline_query(catalog["Database"], catalog["TableName"], config.sample_size)
    offline_rows = rows_from_results(_run_query(athena, sql, catalog["Database"], config.workgroup, sleep=sleep))
    identifiers = [str(row[RECORD_IDENTIFIER]) for row in offline_rows]
    online: dict[str, dict[str, str]] = {}
    if identifiers:
        answer = runtime.batch_get_record(
            Identifiers=[{"FeatureGroupName": config.features_group, "RecordIdentifiersValueAsString": identifiers}]
        )
        if answer.get("Errors"):
            first = answer["Errors"][0]
            raise QueryError(
                f"BatchGetRecord failed for {first['RecordIdentifierValueAsString']}: {first['ErrorMessage']}"
            )
        for found in answer.get("Records", []):
            online[found["RecordIdentifierValueAsString"]] = {
                item["FeatureName"]: item["ValueAsString"] for item in found["Record"]
            }
    return compare(config.features_group, offline_rows, online, config.features)
