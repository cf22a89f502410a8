"""The tour's Feature Store steps (Level 0, after the ETL job): features ingested, the deployed skew check and its
metric. (The point-in-time training set is built by the training pipeline's Preprocess step from this offline
store: the Level 1 tour shows it, from the pipeline run.)

What runs how: the ETL job's PutRecord calls went to :mod:`emulator.feature_store` (online store in memory,
offline store as Parquet in the emulator's S3, catalogued by the feature group shim); the skew check is the
deployed Lambda run in-process, its BatchGetRecord answered by the same stand-in; moto's Athena runs no SQL, so
the answer to the Lambda's offline-store query is queued from the offline Parquet (the latest row per record,
what the query selects). Each line says so.
"""

from __future__ import annotations

import io
from collections.abc import Iterator, Mapping
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import urlsplit

from emulator.feature_store import STAND_IN_NOTE
from emulator.lambda_runner import deployed_function, publish_emf
from pipelines.glue.churn_features import EVENT_TIME, RECORD_IDENTIFIER, from_record

__all__ = ["offline_rows", "tour_feature_store"]

LEVEL = "Level 0"
SKEW_NAMESPACE = "Mlops/FeatureStore"


def offline_rows(aws: Any, description: Mapping[str, Any]) -> list[dict[str, Any]]:
    """Every row of a feature group's offline store (its Parquet files in the emulator's S3)."""
    import pyarrow.parquet as pq

    s3 = aws.client("s3")
    uri = description["OfflineStoreConfig"]["S3StorageConfig"]["ResolvedOutputS3Uri"]
    bucket, prefix = urlsplit(uri).netloc, urlsplit(uri).path.lstrip("/") + "/"
    rows: list[dict[str, Any]] = []
    for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix):
        for item in page.get("Contents", []):
            if item["Key"].endswith(".parquet"):
                body = s3.get_object(Bucket=bucket, Key=item["Key"])["Body"].read()
                rows.extend(pq.read_table(io.BytesIO(body)).to_pylist())
    return rows


def _latest_per_record(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """What the skew check's Athena query selects: newest non-deleted row per record, most recent first."""
    latest: dict[str, dict[str, Any]] = {}
    for row in sorted(rows, key=lambda r: (r[EVENT_TIME], r["api_invocation_time"], r["write_time"])):
        latest[row[RECORD_IDENTIFIER]] = row
    kept = [row for row in latest.values() if not row["is_deleted"]]
    return sorted(kept, key=lambda r: (r[EVENT_TIME], r[RECORD_IDENTIFIER]), reverse=True)


def _queue_athena_answer(aws: Any, rows: list[dict[str, Any]]) -> None:
    from moto.moto_api._internal.models import moto_api_backend

    header = list(rows[0]) if rows else [RECORD_IDENTIFIER]
    table = [header] + [[row.get(column) for column in header] for row in rows]
    athena_rows = [
        {"Data": [{} if value is None else {"VarCharValue": str(value)} for value in values]} for values in table
    ]
    account = aws.client("sts").get_caller_identity()["Account"]
    moto_api_backend.set_athena_result(rows=athena_rows, column_info=[], account_id=account, region=aws.region)


def _skew_run(aws: Any, out: Mapping[str, str], sample: list[dict[str, Any]]) -> tuple[dict[str, Any], float | None]:
    _queue_athena_answer(aws, sample)
    function = deployed_function(aws, "feature_skew", out["FeatureSkewFunctionName"])
    event = {"source": "aws.events", "detail-type": "Scheduled Event", "detail": {}}
    invocation = function.invoke(event, aws.env(base={}))
    cloudwatch = aws.client("cloudwatch")
    publish_emf(cloudwatch, invocation.output)
    summary: dict[str, Any] = invocation.response
    now = datetime.now(UTC)
    datapoints = cloudwatch.get_metric_statistics(
        Namespace=SKEW_NAMESPACE,
        MetricName="FeatureSkewPercent",
        Dimensions=[{"Name": "FeatureGroup", "Value": out["FeaturesGroupName"]}],
        StartTime=now - timedelta(hours=1),
        EndTime=now + timedelta(minutes=1),
        Period=3600,
        Statistics=["Maximum"],
    )["Datapoints"]
    return summary, max((point["Maximum"] for point in datapoints), default=None)


def tour_feature_store(aws: Any, out: Mapping[str, str]) -> Iterator[Any]:
    """The Feature Store steps; ``out`` are the Level 0 stack's outputs."""
    from emulator.tour import TourLine

    sagemaker, runtime = aws.client("sagemaker"), aws.client("sagemaker-featurestore-runtime")
    features_group, labels_group = out["FeaturesGroupName"], out["LabelsGroupName"]
    described = {
        name: sagemaker.describe_feature_group(FeatureGroupName=name) for name in (features_group, labels_group)
    }
    features, labels = offline_rows(aws, described[features_group]), offline_rows(aws, described[labels_group])
    catalog = described[features_group]["OfflineStoreConfig"]["DataCatalogConfig"]
    table = aws.client("glue").get_table(DatabaseName=catalog["Database"], Name=catalog["TableName"])["Table"]
    sample_id = min((row[RECORD_IDENTIFIER] for row in features), default="none")
    online = from_record(
        runtime.get_record(FeatureGroupName=features_group, RecordIdentifierValueAsString=sample_id).get("Record", [])
    )
    yield TourLine(
        LEVEL,
        "features ingested (Feature Store)",
        f"the ETL job wrote {len(features)} feature records to {features_group} and {len(labels)} labels to "
        f"{labels_group}; offline store catalogued as {catalog['Database']}.{table['Name']} "
        f"({len(table['StorageDescriptor']['Columns'])} columns); online GetRecord {sample_id}: "
        f"tenure_months={online.get('tenure_months')}, "
        f"charges_per_tenure_month={online.get('charges_per_tenure_month')} "
        f"at {online.get(EVENT_TIME)} ({STAND_IN_NOTE})",
        "in-process",
    )

    function_env = aws.client("lambda").get_function_configuration(FunctionName=out["FeatureSkewFunctionName"])
    sample_size = int(function_env["Environment"]["Variables"]["SAMPLE_SIZE"])
    sample = _latest_per_record(features)[:sample_size]
    summary, metric = _skew_run(aws, out, sample)
    yield TourLine(
        LEVEL,
        "training-serving skew check, deployed Lambda",
        f"compared {summary['compared']} records, {summary['skewed']} skewed: {SKEW_NAMESPACE} FeatureSkewPercent "
        f"{metric} (Athena's answer queued from the offline Parquet: moto runs no SQL)",
        "in-process",
    )

    # A serving-only write (TargetStores=OnlineStore) with the same event time: the two stores now disagree.
    drifted = sample[0][RECORD_IDENTIFIER] if sample else sample_id
    record = runtime.get_record(FeatureGroupName=features_group, RecordIdentifierValueAsString=drifted)["Record"]
    changed = [
        {**item, "ValueAsString": str(int(item["ValueAsString"]) + 1)}
        if item["FeatureName"] == "support_calls"
        else item
        for item in record
    ]
    runtime.put_record(FeatureGroupName=features_group, Record=changed, TargetStores=["OnlineStore"])
    summary, metric = _skew_run(aws, out, sample)
    yield TourLine(
        LEVEL,
        "skew check after a serving-only write",
        f"{drifted}'s support_calls changed in the online store only: {summary['skewed']} of {summary['compared']} "
        f"skewed, FeatureSkewPercent {metric} (the alarm fires above the configured maxSkewPercent)",
        "in-process",
    )
