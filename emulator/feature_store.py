"""Feature Store's data plane (``sagemaker-featurestore-runtime``), which moto 5.2.5 lacks: a labelled stand-in.

moto knows feature groups (CreateFeatureGroup, DescribeFeatureGroup) but not PutRecord, GetRecord or
BatchGetRecord, and writes no offline store. With :func:`apply` (called by :class:`emulator.server.LocalAws`,
and by tests under ``mock_aws``) those three calls are answered in the real API's shapes:

* PutRecord (``TargetStores`` honoured) validates the record against the group's feature definitions
  (an unknown feature, a missing identifier or event time, a value that does not parse as its type is a
  ``ValidationError``, as AWS answers), keeps the newest record per identifier (by event time) as the online
  store does, and appends the record to the offline store as a Parquet file under the group's
  ``ResolvedOutputS3Uri`` (``year=/month=/day=/hour=`` of the event time, as AWS), with the ``write_time``,
  ``api_invocation_time`` and ``is_deleted`` columns Feature Store adds;
* GetRecord and BatchGetRecord answer from the online store; a group without one is a ``ValidationError``;
* the control plane's gaps: ListFeatureGroups, and DescribeFeatureGroup's OnlineStoreConfig.

What differs from AWS, said in :data:`STAND_IN_NOTE`: the offline store is written at once (AWS: within about
15 minutes), by the emulator itself rather than with the group's offline-store role, so neither that role's S3
and KMS permissions nor the callers' ``sagemaker:PutRecord`` / ``kms:Decrypt`` are evaluated here (the
infrastructure tests assert those grants).
"""

from __future__ import annotations

import json
import math
import threading
from datetime import UTC, datetime
from typing import Any
from urllib.parse import parse_qs, unquote, urlsplit

from emulator.offline_store import object_key, parquet_bytes

__all__ = ["FEATURE_STORE_RUNTIME_HOST", "STAND_IN_NOTE", "apply", "online_store_enabled", "reset"]

STAND_IN_NOTE = (
    "Feature Store data plane stood in by emulator/feature_store.py: online store in memory, offline store "
    "written as Parquet at once (AWS: within ~15 minutes), IAM and KMS of the callers not evaluated"
)
FEATURE_STORE_RUNTIME_HOST = r"https?://featurestore-runtime\.sagemaker\.(.+)\.amazonaws\.com"
_APPLIED_MARKER = "_emulator_feature_store_runtime"

_lock = threading.Lock()
# (account, region, lower-cased group name) -> record identifier -> Record (list of FeatureName/ValueAsString)
_online: dict[tuple[str, str, str], dict[str, list[dict[str, str]]]] = {}


class _ApiError(Exception):
    def __init__(self, status: int, code: str, message: str) -> None:
        super().__init__(message)
        self.status, self.code, self.message = status, code, message


def reset() -> None:
    """Forget every online record (moto's reset does not know this store)."""
    with _lock:
        _online.clear()


def online_store_enabled(group: Any) -> bool:
    config = getattr(group, "online_store_config", None) or {}
    return bool(config.get("EnableOnlineStore"))


def apply() -> None:
    """Route the runtime's REST paths to this module, in moto's server and in its in-process mock. Idempotent."""
    import moto.backend_index as backend_index
    import moto.sagemaker.urls as sagemaker_urls

    if getattr(sagemaker_urls, _APPLIED_MARKER, False):
        return
    import re

    # The in-process mock picks a backend by the request's host; the server picks "sagemaker" by the
    # signing name and then matches paths, so one set of paths serves both.
    backend_index.backend_url_patterns.insert(0, ("sagemaker", re.compile(FEATURE_STORE_RUNTIME_HOST)))
    sagemaker_urls.url_bases.append(FEATURE_STORE_RUNTIME_HOST)
    sagemaker_urls.url_paths.update(
        {
            "{0}/FeatureGroup/(?P<name>[^/]+)$": _dispatch,
            "{0}/BatchGetRecord$": _dispatch,
        }
    )
    _add_control_plane_gaps()
    setattr(sagemaker_urls, _APPLIED_MARKER, True)


def _add_control_plane_gaps() -> None:
    """ListFeatureGroups (moto has none) and OnlineStoreConfig in DescribeFeatureGroup (moto drops it)."""
    from moto.core.responses import ActionResult
    from moto.sagemaker.models import FeatureGroup
    from moto.sagemaker.responses import SageMakerResponse

    def list_feature_groups(self: Any) -> Any:
        groups = sorted(self.sagemaker_backend.feature_groups.values(), key=lambda group: group.feature_group_name)
        return ActionResult(
            {
                "FeatureGroupSummaries": [
                    {
                        "FeatureGroupName": group.feature_group_name,
                        "FeatureGroupArn": group.arn,
                        "CreationTime": group.creation_time,
                        "FeatureGroupStatus": "Created",
                        "OfflineStoreStatus": {"Status": "Active"},
                    }
                    for group in groups
                ]
            }
        )

    moto_describe = FeatureGroup.describe

    def describe(self: Any) -> dict[str, Any]:
        described: dict[str, Any] = moto_describe(self)
        if getattr(self, "online_store_config", None):
            described["OnlineStoreConfig"] = self.online_store_config
        return described

    SageMakerResponse.list_feature_groups = list_feature_groups  # type: ignore[attr-defined]
    FeatureGroup.describe = describe  # type: ignore[method-assign]


def _dispatch(request: Any, full_url: str, headers: Any) -> tuple[int, dict[str, str], str]:
    from moto.core.responses import BaseResponse

    response = BaseResponse(service_name="sagemaker")
    response.setup_class(request, full_url, headers)
    parts = urlsplit(full_url)
    path = unquote(parts.path)
    try:
        if path == "/BatchGetRecord" and response.method == "POST":
            body = _batch_get(response.current_account, response.region, json.loads(response.body or "{}"))
        elif path.startswith("/FeatureGroup/"):
            name = path.removeprefix("/FeatureGroup/")
            query = parse_qs(parts.query)
            if response.method == "PUT":
                payload = json.loads(response.body or "{}")
                stores = payload.get("TargetStores") or ["OnlineStore", "OfflineStore"]
                _put(response.current_account, response.region, name, payload.get("Record") or [], stores)
                body = {}
            elif response.method == "GET":
                identifier = (query.get("RecordIdentifierValueAsString") or [""])[0]
                body = _get(response.current_account, response.region, name, identifier, query.get("FeatureName"))
            else:
                raise _ApiError(400, "ValidationError", f"{response.method} on a feature group is not stood in")
        else:
            raise _ApiError(404, "UnknownOperationException", f"no Feature Store operation at {path}")
    except _ApiError as error:
        return (
            error.status,
            {"x-amzn-ErrorType": error.code, "content-type": "application/json"},
            json.dumps({"message": error.message}),
        )
    return 200, {"content-type": "application/json"}, json.dumps(body)


def _group(account: str, region: str, name: str) -> Any:
    from moto.sagemaker.models import sagemaker_backends

    backend = sagemaker_backends[account][region]
    for group in backend.feature_groups.values():
        if group.feature_group_name == name or group.arn == name:
            return group
    raise _ApiError(
        404, "ResourceNotFound", f"Resource Not Found: Amazon SageMaker can't find a FeatureGroup with name {name}"
    )


def _typed(value: str, feature_type: str, name: str) -> Any:
    try:
        if feature_type == "Integral":
            return int(value)
        if feature_type == "Fractional":
            number = float(value)
            if not math.isfinite(number):
                raise ValueError
            return number
    except ValueError:
        raise _ApiError(
            400, "ValidationError", f"Value {value!r} of feature {name} is not a valid {feature_type}"
        ) from None
    return value


def _put(account: str, region: str, name: str, record: list[dict[str, str]], stores: list[str]) -> None:
    group = _group(account, region, name)
    types = {d["FeatureName"]: d["FeatureType"] for d in group.feature_definitions}
    values: dict[str, str] = {}
    for item in record:
        feature = item.get("FeatureName", "")
        if feature not in types:
            raise _ApiError(400, "ValidationError", f"Feature {feature!r} is not defined in feature group {name}")
        if "ValueAsString" not in item:
            raise _ApiError(400, "ValidationError", f"Feature {feature} has no ValueAsString")
        values[feature] = item["ValueAsString"]
    for required in (group.record_identifier_feature_name, group.event_time_feature_name):
        if not values.get(required):
            raise _ApiError(400, "ValidationError", f"Record is missing the required feature {required}")
    typed = {feature: _typed(value, types[feature], feature) for feature, value in values.items()}
    event_time = _event_time(values[group.event_time_feature_name])
    identifier = values[group.record_identifier_feature_name]
    unknown = sorted(set(stores) - {"OnlineStore", "OfflineStore"})
    if unknown or not stores:
        raise _ApiError(400, "ValidationError", f"TargetStores must name OnlineStore and/or OfflineStore, got {stores}")
    if "OnlineStore" in stores and online_store_enabled(group):
        with _lock:
            records = _online.setdefault((account, region, group.feature_group_name.lower()), {})
            current = records.get(identifier)
            current_time = _event_time(_value(current, group.event_time_feature_name)) if current else None
            # The online store keeps the newest event per identifier; an older event reaches only the offline store.
            if current_time is None or event_time >= current_time:
                records[identifier] = [dict(item) for item in record]
    if "OfflineStore" in stores:
        _write_offline(account, group, types, typed)


def _event_time(text: str) -> datetime:
    try:
        if text.endswith("Z"):
            return datetime.strptime(text, "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=UTC)
        return datetime.fromtimestamp(float(text), tz=UTC)
    except ValueError:
        raise _ApiError(
            400, "ValidationError", f"EventTime {text!r} is neither yyyy-MM-ddTHH:mm:ssZ nor seconds"
        ) from None


def _value(record: list[dict[str, str]] | None, feature: str) -> str:
    for item in record or []:
        if item["FeatureName"] == feature:
            return item["ValueAsString"]
    return ""


def _write_offline(account: str, group: Any, types: dict[str, str], values: dict[str, Any]) -> None:
    from moto.s3.models import s3_backends

    uri = group.offline_store_config["S3StorageConfig"]["ResolvedOutputS3Uri"]
    now = datetime.now(UTC)
    row = {**values, "write_time": now, "api_invocation_time": now, "is_deleted": False}
    # AWS partitions by the record's event time (hourly) and names the file by it.
    key = object_key(uri, [_event_time(str(values[group.event_time_feature_name]))])
    s3_backends[account]["aws"].put_object(urlsplit(uri).netloc, key, parquet_bytes(types, [row]))


def _get(account: str, region: str, name: str, identifier: str, features: list[str] | None) -> dict[str, Any]:
    group = _group(account, region, name)
    if not online_store_enabled(group):
        raise _ApiError(
            400, "ValidationError", f"Feature group {name} has no online store: GetRecord reads only the online store"
        )
    if not identifier:
        raise _ApiError(400, "ValidationError", "RecordIdentifierValueAsString is required")
    with _lock:
        record = _online.get((account, region, group.feature_group_name.lower()), {}).get(identifier)
    if record is None:
        return {}
    if features:
        record = [item for item in record if item["FeatureName"] in features]
    return {"Record": record}


def _batch_get(account: str, region: str, payload: dict[str, Any]) -> dict[str, Any]:
    records, errors = [], []
    for identifiers in payload.get("Identifiers") or []:
        name = identifiers.get("FeatureGroupName", "")
        for identifier in identifiers.get("RecordIdentifiersValueAsString") or []:
            try:
                found = _get(account, region, name, identifier, identifiers.get("FeatureNames"))
            except _ApiError as error:
                errors.append(
                    {
                        "FeatureGroupName": name,
                        "RecordIdentifierValueAsString": identifier,
                        "ErrorCode": error.code,
                        "ErrorMessage": error.message,
                    }
                )
                continue
            if "Record" in found:
                records.append(
                    {"FeatureGroupName": name, "RecordIdentifierValueAsString": identifier, "Record": found["Record"]}
                )
    return {"Records": records, "Errors": errors, "UnprocessedIdentifiers": []}
