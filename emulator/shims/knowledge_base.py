"""CloudFormation shims for a knowledge base over S3 Vectors: the vector bucket and index in moto, the
knowledge base and its data source recorded for the local stand-in (:mod:`emulator.fake_knowledge_base`).

moto 5.2.5 has an ``s3vectors`` backend (buckets, indexes, Put/Get/List/DeleteVectors; no QueryVectors) but
no CloudFormation model for it, and its ``bedrock-agent`` backend refuses ``S3_VECTORS`` storage and has no
data sources or ingestion jobs. So:

* ``AWS::S3Vectors::VectorBucket`` / ``Index`` / ``VectorBucketPolicy`` create the real thing in moto's
  s3vectors backend (``s3vectors.get_index`` finds it); the index also keeps its ``MetadataConfiguration``
  (moto drops it), which the stand-in needs to apply S3 Vectors' 2 KB filterable-metadata limit;
* ``AWS::Bedrock::KnowledgeBase`` and ``AWS::Bedrock::DataSource`` are recorded here with the API's
  (camelCase) shapes, validated as Bedrock validates them at creation (a VECTOR knowledge base, an
  existing S3 Vectors index of the embedding dimensions, an S3 data source with at most one inclusion
  prefix), and served by the stand-in: ``Ref`` and ``Fn::GetAtt`` answer what the resource schemas list.

Import it through :mod:`emulator.shims` (which imports this module at its end); either order works.
"""

from __future__ import annotations

import contextlib
import json
import re
import threading
from collections.abc import Iterator
from typing import Any

from moto.cloudformation.exceptions import ValidationError
from moto.core.common_models import CloudFormationModel
from moto.s3vectors.exceptions import IndexNotFound, VectorBucketNotFound
from moto.s3vectors.models import Index, s3vectors_backends
from moto.utilities.utils import get_partition

from emulator.shims.base import _camel_keys, _now_iso, _Shim, _stable_id

__all__ = [
    "SHIMS",
    "BedrockDataSource",
    "BedrockKnowledgeBase",
    "S3VectorsIndex",
    "S3VectorsVectorBucket",
    "S3VectorsVectorBucketPolicy",
    "data_sources",
    "find_data_source",
    "find_knowledge_base",
]

_VECTOR_NAME = re.compile(r"^[a-z0-9][a-z0-9-]{1,61}[a-z0-9]$")
_INDEX_NAME = re.compile(r"^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$")
_EMBEDDING_MODEL_ARN = re.compile(
    r"^arn:aws(?:-[a-z-]+)?:bedrock:[a-z0-9-]+:(?:\d{12})?:(?:foundation-model|inference-profile|application-inference-profile|custom-model|provisioned-model)/(?P<model>.+)$"
)


def _generated_name(fallback: str) -> str:
    """CloudFormation's generated name for a vector bucket or index: lowercase, [a-z0-9-], at most 63."""
    name = re.sub(r"[^a-z0-9-]+", "-", fallback.lower()).strip("-")
    return (name[:50].rstrip("-") + "-" + _stable_id(fallback, length=8)) if len(name) > 63 else name


def _vectors(account_id: str, region_name: str) -> Any:
    # moto keeps one s3vectors backend per partition; the region is part of each ARN.
    return s3vectors_backends[account_id][get_partition(region_name)]


class S3VectorsVectorBucket(_Shim, CloudFormationModel):
    """AWS::S3Vectors::VectorBucket in moto's s3vectors backend (``Ref`` is its ARN, as the schema says)."""

    cfn_type = "AWS::S3Vectors::VectorBucket"
    name_property = "VectorBucketName"
    attributes = frozenset({"VectorBucketArn", "CreationTime"})
    note = "moto s3vectors vector bucket (encryption configuration stored, not applied)"

    @classmethod
    def _resolve_name(cls, properties: Any, fallback: str) -> str:
        name = str(properties.get("VectorBucketName") or _generated_name(fallback))
        if not _VECTOR_NAME.match(name):
            raise ValidationError(message=f"VectorBucketName {name!r}: 3-63 characters of a-z, 0-9 and '-'")
        return name

    def _create(self) -> None:
        encryption = _camel_keys(self.properties.get("EncryptionConfiguration") or {})
        _vectors(self.account_id, self.region_name).create_vector_bucket(
            region=self.region_name, vector_bucket_name=self.name, encryption_configuration=encryption
        )
        bucket = _vectors(self.account_id, self.region_name).get_vector_bucket(vector_bucket_name=self.name)
        self.arn = str(bucket.vector_bucket_arn)
        self.created = _now_iso()

    @property
    def physical_resource_id(self) -> str:
        return self.arn

    def _attribute(self, attribute: str) -> Any:
        return {"VectorBucketArn": self.arn, "CreationTime": self.created}[attribute]

    def _delete(self) -> None:
        backend = _vectors(self.account_id, self.region_name)
        with contextlib.suppress(VectorBucketNotFound):
            # CloudFormation deletes the bucket's indexes first (they depend on it); moto deletes a stack's
            # resources in no particular order, so an index may still be here: it goes with its bucket.
            for index in list(backend.get_vector_bucket(vector_bucket_name=self.name).indexes.values()):
                backend.delete_index(self.name, index.index_name, None)
            backend.delete_vector_bucket(self.name)


def _bucket_name(account_id: str, region_name: str, properties: Any, what: str) -> str:
    name, arn = properties.get("VectorBucketName"), properties.get("VectorBucketArn")
    if bool(name) == bool(arn):
        raise ValidationError(message=f"{what}: exactly one of VectorBucketName and VectorBucketArn is required")
    try:
        bucket = _vectors(account_id, region_name).get_vector_bucket(
            vector_bucket_name=name or None, vector_bucket_arn=arn or None
        )
    except VectorBucketNotFound:
        raise ValidationError(message=f"{what}: vector bucket {name or arn} does not exist") from None
    return str(bucket.vector_bucket_name)


class S3VectorsIndex(_Shim, CloudFormationModel):
    """AWS::S3Vectors::Index in moto's s3vectors backend; ``Ref`` is its ARN. Its ``MetadataConfiguration``
    (non-filterable keys) is kept on moto's index as ``non_filterable_metadata_keys``."""

    cfn_type = "AWS::S3Vectors::Index"
    name_property = "IndexName"
    attributes = frozenset({"IndexArn", "CreationTime"})
    note = "moto s3vectors index (no QueryVectors in moto: the knowledge-base stand-in queries it itself)"

    @classmethod
    def _resolve_name(cls, properties: Any, fallback: str) -> str:
        name = str(properties.get("IndexName") or _generated_name(fallback))
        if not _INDEX_NAME.match(name):
            raise ValidationError(message=f"IndexName {name!r}: 3-63 characters of a-z, 0-9, '.' and '-'")
        return name

    def _create(self) -> None:
        props = self.properties
        data_type, metric, dimension = props.get("DataType"), props.get("DistanceMetric"), props.get("Dimension")
        if data_type != "float32":
            raise ValidationError(message=f"DataType {data_type!r}: only float32")
        if metric not in ("cosine", "euclidean"):
            raise ValidationError(message=f"DistanceMetric {metric!r}: cosine or euclidean")
        if isinstance(dimension, bool) or not str(dimension).isdigit() or not 1 <= int(str(dimension)) <= 4096:
            raise ValidationError(message=f"Dimension {dimension!r}: an integer from 1 to 4096")
        self.bucket_name = _bucket_name(self.account_id, self.region_name, props, f"index {self.name}")
        backend = _vectors(self.account_id, self.region_name)
        backend.create_index(
            vector_bucket_name=self.bucket_name,
            vector_bucket_arn=None,
            index_name=self.name,
            data_type="float32",
            dimension=int(str(dimension)),
            distance_metric=str(metric),
        )
        index = backend.get_index(self.bucket_name, self.name, None)
        keys = ((props.get("MetadataConfiguration") or {}).get("NonFilterableMetadataKeys")) or []
        index.non_filterable_metadata_keys = [str(key) for key in keys]
        self.arn = str(index.index_arn)
        self.created = _now_iso()

    @property
    def physical_resource_id(self) -> str:
        return self.arn

    def _attribute(self, attribute: str) -> Any:
        return {"IndexArn": self.arn, "CreationTime": self.created}[attribute]

    def _delete(self) -> None:
        with contextlib.suppress(IndexNotFound, VectorBucketNotFound):
            _vectors(self.account_id, self.region_name).delete_index(self.bucket_name, self.name, None)


class S3VectorsVectorBucketPolicy(_Shim, CloudFormationModel):
    """AWS::S3Vectors::VectorBucketPolicy stored on moto's vector bucket (not enforced by moto)."""

    cfn_type = "AWS::S3Vectors::VectorBucketPolicy"
    note = "stored on the moto vector bucket; moto does not enforce it"

    def _create(self) -> None:
        self.bucket_name = _bucket_name(self.account_id, self.region_name, self.properties, "vector bucket policy")
        policy = self.properties.get("Policy")
        _vectors(self.account_id, self.region_name).put_vector_bucket_policy(
            self.bucket_name, None, policy if isinstance(policy, str) else json.dumps(policy)
        )
        self.arn = _vectors(self.account_id, self.region_name).get_vector_bucket(self.bucket_name).vector_bucket_arn

    @property
    def physical_resource_id(self) -> str:
        return str(self.arn)

    def _delete(self) -> None:
        with contextlib.suppress(VectorBucketNotFound):
            _vectors(self.account_id, self.region_name).delete_vector_bucket_policy(self.bucket_name, None)


def index_of(account_id: str, region_name: str, configuration: dict[str, Any]) -> Index:
    """The moto index an ``s3VectorsConfiguration`` (API shape) names: ``indexArn``, or bucket + ``indexName``."""
    backend = _vectors(account_id, region_name)
    try:
        if configuration.get("indexArn"):
            index: Index = backend.get_index(None, None, configuration["indexArn"])
            return index
        bucket = backend.get_vector_bucket(vector_bucket_arn=configuration.get("vectorBucketArn"))
        named: Index = backend.get_index(bucket.vector_bucket_name, configuration.get("indexName"), None)
        return named
    except (IndexNotFound, VectorBucketNotFound):
        raise ValueError(f"the S3 Vectors index {json.dumps(configuration, sort_keys=True)} does not exist") from None


class BedrockKnowledgeBase(_Shim, CloudFormationModel):
    """AWS::Bedrock::KnowledgeBase, recorded for the local stand-in (``Ref`` is its id, like the schema's
    primary identifier). Only VECTOR knowledge bases over S3_VECTORS storage; the index must exist and
    have the embedding model's dimensions."""

    cfn_type = "AWS::Bedrock::KnowledgeBase"
    name_property = "Name"
    attributes = frozenset(
        {"KnowledgeBaseId", "KnowledgeBaseArn", "CreatedAt", "UpdatedAt", "FailureReasons", "Status"}
    )
    note = (
        "recorded for the local stand-in (emulator/fake_knowledge_base.py), which serves GetKnowledgeBase, "
        "ingestion and Retrieve with a lexical stand-in embedder; VECTOR over S3_VECTORS only"
    )

    def _create(self) -> None:
        props = _camel_keys(self.properties)
        config = props.get("knowledgeBaseConfiguration") or {}
        if config.get("type") != "VECTOR":
            raise ValidationError(message=f"knowledge base {self.name}: the stand-in supports only type VECTOR")
        vector = config.get("vectorKnowledgeBaseConfiguration") or {}
        model_arn = str(vector.get("embeddingModelArn", ""))
        found = _EMBEDDING_MODEL_ARN.match(model_arn)
        if found is None:
            raise ValidationError(
                message=f"knowledge base {self.name}: embeddingModelArn {model_arn!r} is not a model ARN"
            )
        storage = props.get("storageConfiguration") or {}
        if storage.get("type") != "S3_VECTORS":
            raise ValidationError(message=f"knowledge base {self.name}: the stand-in supports only S3_VECTORS storage")
        try:
            index = index_of(self.account_id, self.region_name, storage.get("s3VectorsConfiguration") or {})
        except ValueError as error:
            raise ValidationError(message=f"knowledge base {self.name}: {error}") from None
        dimensions = (
            (vector.get("embeddingModelConfiguration") or {}).get("bedrockEmbeddingModelConfiguration") or {}
        ).get("dimensions", 1024)
        if int(str(dimensions)) != index.dimension:
            raise ValidationError(
                message=f"knowledge base {self.name}: the embedding model gives {dimensions} dimensions, "
                f"the index {index.index_name} holds {index.dimension}"
            )
        self.knowledge_base_id = _stable_id(self.account_id, self.region_name, self.name, length=10).upper()
        partition = get_partition(self.region_name)
        self.arn = (
            f"arn:{partition}:bedrock:{self.region_name}:{self.account_id}:knowledge-base/{self.knowledge_base_id}"
        )
        self.created = _now_iso()
        self.api = {
            "knowledgeBaseId": self.knowledge_base_id,
            "name": self.name,
            "knowledgeBaseArn": self.arn,
            "roleArn": str(props.get("roleArn", "")),
            "knowledgeBaseConfiguration": config,
            "storageConfiguration": storage,
            "status": "ACTIVE",
            "createdAt": self.created,
            "updatedAt": self.created,
            **({"description": props["description"]} if props.get("description") else {}),
        }
        self.embedding_model_id = found.group("model")
        self.embedding_dimensions = int(str(dimensions))

    @property
    def physical_resource_id(self) -> str:
        return self.knowledge_base_id

    def _attribute(self, attribute: str) -> Any:
        return {
            "KnowledgeBaseId": self.knowledge_base_id,
            "KnowledgeBaseArn": self.arn,
            "CreatedAt": self.created,
            "UpdatedAt": self.created,
            "FailureReasons": [],
            "Status": "ACTIVE",
        }[attribute]

    def _delete(self) -> None:
        pass  # the vectors belong to the index, which has its own resource


class BedrockDataSource(_Shim, CloudFormationModel):
    """AWS::Bedrock::DataSource of a recorded knowledge base; ``Ref`` is ``<knowledge base id>|<data source
    id>``. Only S3 data sources. Its ingestion jobs live here (``ingestion_jobs``), run by the stand-in."""

    cfn_type = "AWS::Bedrock::DataSource"
    name_property = "Name"
    attributes = frozenset({"DataSourceId", "DataSourceStatus", "CreatedAt", "UpdatedAt", "FailureReasons"})
    note = "recorded for the local stand-in, which runs its ingestion jobs (S3 data sources only)"

    def _create(self) -> None:
        props = _camel_keys(self.properties)
        knowledge_base = find_knowledge_base(self.account_id, self.region_name, str(props.get("knowledgeBaseId", "")))
        if knowledge_base is None:
            raise ValidationError(
                message=f"data source {self.name}: knowledge base {props.get('knowledgeBaseId')} not found"
            )
        self.knowledge_base: BedrockKnowledgeBase = knowledge_base
        source = props.get("dataSourceConfiguration") or {}
        s3 = source.get("s3Configuration") or {}
        if source.get("type") != "S3" or not str(s3.get("bucketArn", "")).startswith("arn:"):
            raise ValidationError(message=f"data source {self.name}: the stand-in supports only S3 with a bucketArn")
        if len(s3.get("inclusionPrefixes") or []) > 1:
            raise ValidationError(message=f"data source {self.name}: inclusionPrefixes takes at most one prefix")
        self.data_source_id = _stable_id(self.knowledge_base.knowledge_base_id, self.name, length=10).upper()
        self.created = _now_iso()
        self.api = {
            "knowledgeBaseId": self.knowledge_base.knowledge_base_id,
            "dataSourceId": self.data_source_id,
            "name": self.name,
            "status": "AVAILABLE",
            "dataSourceConfiguration": source,
            "dataDeletionPolicy": str(props.get("dataDeletionPolicy") or "DELETE"),
            "createdAt": self.created,
            "updatedAt": self.created,
            **{k: props[k] for k in ("description", "vectorIngestionConfiguration") if props.get(k)},
        }
        if props.get("serverSideEncryptionConfiguration"):
            self.api["serverSideEncryptionConfiguration"] = props["serverSideEncryptionConfiguration"]
        self.ingestion_jobs: list[dict[str, Any]] = []
        self.tokens: dict[str, str] = {}  # ingestion job id -> the clientToken that started it
        self.lock = threading.Lock()

    @property
    def physical_resource_id(self) -> str:
        return f"{self.knowledge_base.knowledge_base_id}|{self.data_source_id}"

    def _attribute(self, attribute: str) -> Any:
        return {
            "DataSourceId": self.data_source_id,
            "DataSourceStatus": "AVAILABLE",
            "CreatedAt": self.created,
            "UpdatedAt": self.created,
            "FailureReasons": [],
        }[attribute]

    def _delete(self) -> None:
        pass


def _live(cls: type[Any], created: str) -> Iterator[Any]:
    # moto's model tracker lists every instance made since the last reset, including those whose creation
    # failed (the stack refused them): only those that got as far as `created` count.
    for instance in list(cls.instances_tracked):
        if isinstance(instance, cls) and not instance.deleted and hasattr(instance, created):
            yield instance


def find_knowledge_base(account_id: str, region_name: str, knowledge_base_id: str) -> BedrockKnowledgeBase | None:
    """The deployed knowledge base with this id (or ARN), if any."""
    wanted = knowledge_base_id.rsplit("/", 1)[-1]
    for kb in _live(BedrockKnowledgeBase, "api"):
        if (kb.account_id, kb.region_name, kb.knowledge_base_id) == (account_id, region_name, wanted):
            return kb  # type: ignore[no-any-return]
    return None


def data_sources(account_id: str, region_name: str, knowledge_base_id: str) -> list[BedrockDataSource]:
    """The deployed data sources of a knowledge base."""
    return [
        ds
        for ds in _live(BedrockDataSource, "api")
        if (ds.account_id, ds.region_name, ds.knowledge_base.knowledge_base_id)
        == (account_id, region_name, knowledge_base_id)
    ]


def find_data_source(
    account_id: str, region_name: str, knowledge_base_id: str, data_source_id: str
) -> BedrockDataSource | None:
    """The deployed data source ``data_source_id`` of that knowledge base, if any."""
    return next(
        (ds for ds in data_sources(account_id, region_name, knowledge_base_id) if ds.data_source_id == data_source_id),
        None,
    )


SHIMS: tuple[type[_Shim], ...] = (
    S3VectorsVectorBucket,
    S3VectorsIndex,
    S3VectorsVectorBucketPolicy,
    BedrockKnowledgeBase,
    BedrockDataSource,
)
