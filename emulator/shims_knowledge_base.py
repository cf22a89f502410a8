"""CloudFormation shims for the knowledge base's resource types: recorded only, with stable ids.

moto's CloudFormation knows none of ``AWS::S3Vectors::VectorBucket``, ``AWS::S3Vectors::Index``,
``AWS::Bedrock::KnowledgeBase`` and ``AWS::Bedrock::DataSource``, and a ``Fn::GetAtt`` to an unknown type fails
the whole stack. These shims let the LLMOps stack deploy: each resource is kept with a stable id (a hash of
account, region and logical name), so ``Ref`` and every ``Fn::GetAtt`` resolve. Nothing else knows them: no
vectors are stored, no ingestion runs and Retrieve answers nothing here. The knowledge base stand-in that
answers the bedrock-agent APIs locally (and labels itself so in the tour) is separate.

Registered through `emulator.shims` (its ``SHIMMED_TYPES`` lists them as recorded only).
"""

from __future__ import annotations

from typing import Any

from moto.core.common_models import CloudFormationModel
from moto.utilities.utils import get_partition

from emulator.shims import _now_iso, _Shim, _stable_id

_ID_LENGTH = 10  # Bedrock's knowledge base and data source ids are 10 upper-case characters


class S3VectorsVectorBucket(_Shim, CloudFormationModel):
    """AWS::S3Vectors::VectorBucket, recorded only: no S3 Vectors API is emulated."""

    cfn_type = "AWS::S3Vectors::VectorBucket"
    name_property = "VectorBucketName"
    backed = False
    attributes = frozenset({"VectorBucketArn", "CreationTime"})
    note = "recorded only, not emulated: no S3 Vectors API; the ARN is a stable placeholder"

    def _create(self) -> None:
        self.bucket_name = self.name.lower()[:63]
        partition = get_partition(self.region_name)
        self.arn = f"arn:{partition}:s3vectors:{self.region_name}:{self.account_id}:bucket/{self.bucket_name}"
        self.created_at = _now_iso()

    @property
    def physical_resource_id(self) -> str:
        return self.arn

    def _attribute(self, attribute: str) -> Any:
        return {"VectorBucketArn": self.arn, "CreationTime": self.created_at}[attribute]

    def _delete(self) -> None:
        pass  # nothing outside the stack holds it


class S3VectorsIndex(_Shim, CloudFormationModel):
    """AWS::S3Vectors::Index, recorded only: its ARN is the bucket's ARN plus ``/index/<name>``."""

    cfn_type = "AWS::S3Vectors::Index"
    name_property = "IndexName"
    backed = False
    attributes = frozenset({"IndexArn", "CreationTime"})
    note = "recorded only, not emulated: no vectors are stored or queried; the ARN is a stable placeholder"

    def _create(self) -> None:
        bucket_arn = str(self.properties.get("VectorBucketArn") or "")
        if not bucket_arn:
            bucket_arn = (
                f"arn:{get_partition(self.region_name)}:s3vectors:{self.region_name}:{self.account_id}:"
                f"bucket/{self.properties.get('VectorBucketName', 'unknown')}"
            )
        self.arn = f"{bucket_arn}/index/{self.name.lower()[:63]}"
        self.created_at = _now_iso()

    @property
    def physical_resource_id(self) -> str:
        return self.arn

    def _attribute(self, attribute: str) -> Any:
        return {"IndexArn": self.arn, "CreationTime": self.created_at}[attribute]

    def _delete(self) -> None:
        pass


class BedrockKnowledgeBase(_Shim, CloudFormationModel):
    """AWS::Bedrock::KnowledgeBase, recorded only: a stable 10-character id and its ARN."""

    cfn_type = "AWS::Bedrock::KnowledgeBase"
    name_property = "Name"
    backed = False
    attributes = frozenset(
        {"KnowledgeBaseId", "KnowledgeBaseArn", "CreatedAt", "UpdatedAt", "Status", "FailureReasons"}
    )
    note = "recorded only, not emulated: the local knowledge base stand-in answers bedrock-agent instead"

    def _create(self) -> None:
        self.knowledge_base_id = _stable_id(self.account_id, self.region_name, self.name, length=_ID_LENGTH).upper()
        partition = get_partition(self.region_name)
        self.arn = (
            f"arn:{partition}:bedrock:{self.region_name}:{self.account_id}:knowledge-base/{self.knowledge_base_id}"
        )
        self.created_at = _now_iso()

    @property
    def physical_resource_id(self) -> str:
        return self.knowledge_base_id  # Ref returns the id, as on AWS

    def _attribute(self, attribute: str) -> Any:
        return {
            "KnowledgeBaseId": self.knowledge_base_id,
            "KnowledgeBaseArn": self.arn,
            "CreatedAt": self.created_at,
            "UpdatedAt": self.created_at,
            "Status": "ACTIVE",
            "FailureReasons": [],
        }[attribute]

    def _delete(self) -> None:
        pass


class BedrockDataSource(_Shim, CloudFormationModel):
    """AWS::Bedrock::DataSource, recorded only: a stable 10-character id per knowledge base and name."""

    cfn_type = "AWS::Bedrock::DataSource"
    name_property = ""  # "Name" is unique per knowledge base only, so it cannot be the physical id
    backed = False
    attributes = frozenset({"DataSourceId", "DataSourceStatus", "CreatedAt", "UpdatedAt", "FailureReasons"})
    note = "recorded only, not emulated: no ingestion runs here; the stand-in handles ingestion jobs"

    def _create(self) -> None:
        parts = (self.account_id, self.region_name, str(self.properties.get("KnowledgeBaseId", "")))
        self.data_source_id = _stable_id(*parts, str(self.properties.get("Name", self.name)), length=_ID_LENGTH).upper()
        self.created_at = _now_iso()

    @property
    def physical_resource_id(self) -> str:
        # Ref returns "<knowledge base id>|<data source id>" on AWS.
        return f"{self.properties.get('KnowledgeBaseId', '')}|{self.data_source_id}"

    def _attribute(self, attribute: str) -> Any:
        return {
            "DataSourceId": self.data_source_id,
            "DataSourceStatus": "AVAILABLE",
            "CreatedAt": self.created_at,
            "UpdatedAt": self.created_at,
            "FailureReasons": [],
        }[attribute]

    def _delete(self) -> None:
        pass


SHIMS: tuple[type[_Shim], ...] = (S3VectorsVectorBucket, S3VectorsIndex, BedrockKnowledgeBase, BedrockDataSource)
