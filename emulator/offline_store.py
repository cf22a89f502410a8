"""Feature Store's offline-store layout (Glue table format), as AWS writes it to S3.

``s3://<bucket>/<S3StorageConfig.S3Uri path>/<account>/sagemaker/<region>/offline-store/<group>-<creation epoch>/data/
year=<event year>/month=/day=/hour=<event hour>/<latest event time in the file>_<16 alphanumerics>.parquet``
(SageMaker Developer Guide, "Feature Store offline store data format"): partitioned by the records' event
time, each row with the group's features (Integral as int64, Fractional as double, String as string) and the
``write_time``, ``api_invocation_time`` (timestamps) and ``is_deleted`` (boolean) columns Feature Store adds.

Used by the Feature Store stand-in (:mod:`emulator.feature_store`, one file per PutRecord) and by the tour's
bias demo, which writes a deliberately biased store of the same groups under another prefix, so the training
pipeline reads it exactly as it reads the real one.
"""

from __future__ import annotations

import io
import random
import string
from collections import defaultdict
from collections.abc import Callable, Iterable, Mapping, Sequence
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlsplit

from pipelines.glue.churn_features import (
    CHURN_LABELS,
    CUSTOMER_FEATURES,
    EVENT_TIME,
    LABEL,
    RECORD_IDENTIFIER,
    FeatureGroupSpec,
    engineer,
)

__all__ = ["data_prefix", "object_key", "parquet_bytes", "write_churn_stores", "write_store"]

_EVENT_TIME_FORMAT = "%Y-%m-%dT%H:%M:%SZ"
_ALPHANUMERICS = string.ascii_letters + string.digits


def data_prefix(base_uri: str, *, account: str, region: str, group: str, creation_epoch: int) -> str:
    """The group's ``ResolvedOutputS3Uri`` for an ``S3StorageConfig.S3Uri`` of ``base_uri`` (no trailing slash)."""
    return f"{base_uri.rstrip('/')}/{account}/sagemaker/{region}/offline-store/{group}-{creation_epoch}/data"


def object_key(resolved_uri: str, event_times: Iterable[datetime], *, rng: random.Random | None = None) -> str:
    """The key of one file under ``resolved_uri``: its records' event-time hour partition, named by the latest."""
    times = sorted(event_times)
    if not times:
        raise ValueError("an offline-store file holds at least one record")
    first, latest = times[0], times[-1]
    if (first.year, first.month, first.day, first.hour) != (latest.year, latest.month, latest.day, latest.hour):
        raise ValueError("one offline-store file holds the records of one event-time hour")
    chooser = rng or random.SystemRandom()
    suffix = "".join(chooser.choice(_ALPHANUMERICS) for _ in range(16))
    prefix = urlsplit(resolved_uri).path.strip("/")
    partition = f"year={latest:%Y}/month={latest:%m}/day={latest:%d}/hour={latest:%H}"
    return f"{prefix}/{partition}/{latest:%Y%m%dT%H%M%S}Z_{suffix}.parquet"


def parquet_bytes(types: Mapping[str, str], rows: Sequence[Mapping[str, Any]]) -> bytes:
    """A Parquet file of ``rows``: ``types`` maps each feature to its FeatureType; the store's own columns follow."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    arrow_types = {"Integral": pa.int64(), "Fractional": pa.float64(), "String": pa.string()}
    fields = [pa.field(feature, arrow_types[feature_type]) for feature, feature_type in types.items()]
    fields += [
        pa.field("write_time", pa.timestamp("ms", tz="UTC")),
        pa.field("api_invocation_time", pa.timestamp("ms", tz="UTC")),
        pa.field("is_deleted", pa.bool_()),
    ]
    columns = [*types, "write_time", "api_invocation_time", "is_deleted"]
    table = pa.Table.from_pydict({c: [row.get(c) for row in rows] for c in columns}, schema=pa.schema(fields))
    buffer = io.BytesIO()
    pq.write_table(table, buffer)
    return buffer.getvalue()


def write_store(
    put_object: Any,
    *,
    resolved_uri: str,
    spec: FeatureGroupSpec,
    records: Iterable[Mapping[str, Any]],
    written_at: datetime | None = None,
) -> int:
    """Write ``records`` (feature values, event time as its string) as the group's offline store; returns files.

    ``put_object(bucket, key, body)`` stores one object. One file per event-time hour, as Feature Store batches.
    """
    moment = written_at or datetime.now(UTC)
    by_hour: dict[tuple[int, int, int, int], list[dict[str, Any]]] = defaultdict(list)
    for record in records:
        event = datetime.strptime(str(record[EVENT_TIME]), _EVENT_TIME_FORMAT).replace(tzinfo=UTC)
        row = {**record, "write_time": moment, "api_invocation_time": moment, "is_deleted": False}
        by_hour[(event.year, event.month, event.day, event.hour)].append(row)
    types = {feature.name: feature.type for feature in spec.features}
    bucket = urlsplit(resolved_uri).netloc
    for rows in by_hour.values():
        events = [datetime.strptime(str(r[EVENT_TIME]), _EVENT_TIME_FORMAT).replace(tzinfo=UTC) for r in rows]
        put_object(bucket, object_key(resolved_uri, events), parquet_bytes(types, rows))
    return len(by_hour)


def write_churn_stores(
    put_object: Any,
    *,
    base_uri: str,
    account: str,
    region: str,
    group_names: Mapping[str, str],
    records: Sequence[Any],
    event_time: str,
    creation_epoch: int,
    churned: Callable[[Any], int] | None = None,
) -> dict[str, str]:
    """Both churn groups' offline stores for cleaned ``records`` (churn_transform.CleanRecord), as the ETL writes them.

    ``group_names`` maps each spec suffix to the group's name; ``churned`` overrides the label (the bias demo).
    Returns each group's ResolvedOutputS3Uri.
    """
    label = churned or (lambda record: int(record.churned))
    rows = {
        CUSTOMER_FEATURES.suffix: [
            {RECORD_IDENTIFIER: r.customer_id, EVENT_TIME: event_time, **engineer(r)} for r in records
        ],
        CHURN_LABELS.suffix: [
            {RECORD_IDENTIFIER: r.customer_id, EVENT_TIME: event_time, LABEL: label(r)} for r in records
        ],
    }
    resolved = {}
    for spec in (CUSTOMER_FEATURES, CHURN_LABELS):
        name = group_names[spec.suffix]
        uri = data_prefix(base_uri, account=account, region=region, group=name, creation_epoch=creation_epoch)
        write_store(put_object, resolved_uri=uri, spec=spec, records=rows[spec.suffix])
        resolved[spec.suffix] = uri
    return resolved
