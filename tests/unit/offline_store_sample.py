"""The shipped sample as the ETL job leaves it in Feature Store's offline store, for the pipeline tests.

The sample is cleaned by churn_transform (as the ETL does), engineered by churn_features and written in
Feature Store's offline-store layout (emulator/offline_store.py) for both churn groups, at one event time.
"""

from __future__ import annotations

import csv
from collections.abc import Callable
from pathlib import Path
from typing import Any

from emulator.offline_store import write_churn_stores
from pipelines.glue import churn_transform
from pipelines.glue.churn_features import CHURN_LABELS, CUSTOMER_FEATURES
from pipelines.training.definition import OfflineStoreInput

SAMPLE_CSV = Path(churn_transform.__file__).with_name("sample") / "customers.csv"
ACCOUNT = "123456789012"
REGION = "us-east-1"
GROUP_PREFIX = "mlops-test"
GROUPS = {
    CUSTOMER_FEATURES.suffix: f"{GROUP_PREFIX}-churn-features",
    CHURN_LABELS.suffix: f"{GROUP_PREFIX}-churn-labels",
}
EVENT_TIME = "2026-12-01T08:00:00Z"
CREATION_EPOCH = 1764547200


def sample_records() -> tuple[churn_transform.CleanRecord, ...]:
    with SAMPLE_CSV.open(newline="", encoding="utf-8") as sample:
        return churn_transform.transform_rows(csv.DictReader(sample)).records


def offline_store_input(bucket: str, prefix: str = f"feature-store/{GROUP_PREFIX}/") -> OfflineStoreInput:
    return OfflineStoreInput(
        uri=f"s3://{bucket}/{prefix}",
        features_group=GROUPS[CUSTOMER_FEATURES.suffix],
        labels_group=GROUPS[CHURN_LABELS.suffix],
        account=ACCOUNT,
        region=REGION,
    )


def put_sample_store(
    s3: Any, bucket: str, *, prefix: str = f"feature-store/{GROUP_PREFIX}/", churned: Callable[[Any], int] | None = None
) -> OfflineStoreInput:
    """Write the sample's offline store under ``prefix`` of ``bucket`` (an existing bucket) with boto3's ``s3``."""
    source = offline_store_input(bucket, prefix)
    write_churn_stores(
        lambda b, key, body: s3.put_object(Bucket=b, Key=key, Body=body),
        base_uri=source.uri,
        account=ACCOUNT,
        region=REGION,
        group_names=GROUPS,
        records=sample_records(),
        event_time=EVENT_TIME,
        creation_epoch=CREATION_EPOCH,
        churned=churned,
    )
    return source


def write_sample_store(root: Path, *, churned: Callable[[Any], int] | None = None) -> None:
    """The same store as files under ``root`` (what a Processing job's S3Prefix input leaves on disk)."""

    def put(_bucket: str, key: str, body: bytes) -> None:
        path = root / key
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(body)

    write_churn_stores(
        put,
        base_uri="s3://local",
        account=ACCOUNT,
        region=REGION,
        group_names=GROUPS,
        records=sample_records(),
        event_time=EVENT_TIME,
        creation_epoch=CREATION_EPOCH,
        churned=churned,
    )
