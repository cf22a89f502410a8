"""AWS::SageMaker::FeatureGroup for local deploys: moto's feature group plus the offline store's Glue table.

Registered by :mod:`emulator.shims` (listed in its ``_SHIMS``); see that module for the rules every shim follows.
"""

from __future__ import annotations

import contextlib
from typing import Any, ClassVar

from moto.core.common_models import CloudFormationModel
from moto.glue.exceptions import AlreadyExistsException, DatabaseNotFoundException
from moto.glue.models import glue_backends
from moto.sagemaker.models import sagemaker_backends

from emulator.shims.base import _Shim

__all__ = ["SageMakerFeatureGroup"]

_GLUE_TYPES = {"Integral": "bigint", "Fractional": "double", "String": "string"}
# The columns Feature Store adds to every offline-store table, after the features.
_OFFLINE_COLUMNS = (("write_time", "timestamp"), ("api_invocation_time", "timestamp"), ("is_deleted", "boolean"))


class SageMakerFeatureGroup(_Shim, CloudFormationModel):
    """AWS::SageMaker::FeatureGroup in moto's SageMaker backend (``sagemaker.describe_feature_group`` finds it).

    As Feature Store does with ``DisableGlueTableCreation`` false, the offline store gets a Glue table in the
    ``sagemaker_featurestore`` database (created if missing), its columns the features plus ``write_time``,
    ``api_invocation_time`` and ``is_deleted``, Parquet at the group's ``ResolvedOutputS3Uri`` (corrected to
    AWS's ``<uri>/<account>/sagemaker/<region>/offline-store/<name>-<time>/data`` form; moto leaves out the
    ``sagemaker`` part). Records are put and read through :mod:`emulator.feature_store`. Delete removes the group
    and keeps its offline data, Glue database and table, as DeleteFeatureGroup does. Not emulated:
    CreateFeatureGroup's check of the offline-store role and the KMS key.
    """

    cfn_type = "AWS::SageMaker::FeatureGroup"
    name_property = "FeatureGroupName"
    attributes: ClassVar[frozenset[str]] = frozenset({"CreationTime", "FeatureGroupStatus"})
    note = (
        "moto feature group + Glue table of its offline store; records go through the emulator/feature_store.py "
        "stand-in; the role and key are not checked"
    )

    def _backend(self) -> Any:
        return sagemaker_backends[self.account_id][self.region_name]

    def _create(self) -> None:
        props = self.properties
        offline = {
            key: dict(value) if isinstance(value, dict) else value
            for key, value in (props.get("OfflineStoreConfig") or {}).items()
        }
        arn = self._backend().create_feature_group(
            feature_group_name=self.name,
            record_identifier_feature_name=props["RecordIdentifierFeatureName"],
            event_time_feature_name=props["EventTimeFeatureName"],
            feature_definitions=list(props.get("FeatureDefinitions") or []),
            offline_store_config=offline,
            role_arn=props.get("RoleArn", ""),
            tags=props.get("Tags") or [],
        )
        group = self._backend().feature_groups[arn]
        group.online_store_config = props.get("OnlineStoreConfig") or {}
        group.description = props.get("Description", "")
        if not offline:
            return
        storage = offline["S3StorageConfig"]
        resolved = str(storage["ResolvedOutputS3Uri"])
        storage["ResolvedOutputS3Uri"] = resolved.replace(
            f"/{self.account_id}/{self.region_name}/offline-store/",
            f"/{self.account_id}/sagemaker/{self.region_name}/offline-store/",
        )
        if offline.get("DisableGlueTableCreation"):
            return
        catalog = offline["DataCatalogConfig"]
        glue = glue_backends[self.account_id][self.region_name]
        try:
            glue.get_database(catalog["Database"])
        except DatabaseNotFoundException:
            glue.create_database(catalog["Database"], {"Name": catalog["Database"]})
        columns = [
            {"Name": d["FeatureName"], "Type": _GLUE_TYPES[d["FeatureType"]]} for d in props["FeatureDefinitions"]
        ] + [{"Name": name, "Type": glue_type} for name, glue_type in _OFFLINE_COLUMNS]
        # A group re-created within the same second gets the same generated name; the table is the same too.
        with contextlib.suppress(AlreadyExistsException):
            self._create_table(glue, catalog, storage, columns)

    @staticmethod
    def _create_table(glue: Any, catalog: dict[str, Any], storage: dict[str, Any], columns: list[Any]) -> None:
        glue.create_table(
            catalog["Database"],
            catalog["TableName"],
            {
                "Name": catalog["TableName"],
                "TableType": "EXTERNAL_TABLE",
                "Parameters": {"classification": "parquet"},
                "StorageDescriptor": {
                    "Columns": columns,
                    "Location": storage["ResolvedOutputS3Uri"],
                    "InputFormat": "org.apache.hadoop.hive.ql.io.parquet.MapredParquetInputFormat",
                    "OutputFormat": "org.apache.hadoop.hive.ql.io.parquet.MapredParquetOutputFormat",
                    "SerdeInfo": {
                        "SerializationLibrary": "org.apache.hadoop.hive.ql.io.parquet.serde.ParquetHiveSerDe"
                    },
                },
                "PartitionKeys": [{"Name": part, "Type": "string"} for part in ("year", "month", "day", "hour")],
            },
        )

    def _delete(self) -> None:
        # As DeleteFeatureGroup: the group goes, the offline store's data and its Glue database and table stay
        # (the API reference says so; the operator removes them).
        backend = self._backend()
        for arn, group in list(backend.feature_groups.items()):
            if group.feature_group_name == self.name:
                del backend.feature_groups[arn]

    def _attribute(self, attribute: str) -> Any:
        for group in self._backend().feature_groups.values():
            if group.feature_group_name == self.name:
                return group.creation_time.isoformat() if attribute == "CreationTime" else "Created"
        raise KeyError(self.name)
