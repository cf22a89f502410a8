"""The knowledge-base stand-in: deployed through CloudFormation into the emulator, called through real boto3
``bedrock-agent`` and ``bedrock-agent-runtime`` clients, deciding the role's reads on the deployed policies."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from typing import Any

import boto3
import pytest
from botocore.exceptions import ClientError

from emulator.fake_knowledge_base import (
    LABEL,
    FakeKnowledgeBase,
    chunk_text,
    matches_filter,
    validate_filter,
)
from emulator.server import DEFAULT_ACCOUNT, LocalAws
from emulator.shims import emulation_status
from emulator.shims.knowledge_base import S3VectorsVectorBucket

REGION = "us-east-1"
PREFIX = "knowledge-base/"
MODEL_ARN = f"arn:aws:bedrock:{REGION}::foundation-model/amazon.titan-embed-text-v2:0"


def kb_template(
    name: str,
    *,
    non_filterable: bool = True,
    dimension: int = 256,
    kms_grant: bool = True,
    chunking: dict[str, Any] | None = None,
    model_arn: str = MODEL_ARN,
) -> dict[str, Any]:
    """A knowledge base over a KMS-encrypted bucket's prefix, as a stack would deploy it. Its role may read
    the prefix except ``restricted/`` (an explicit Deny), use the key (unless ``kms_grant`` is False), call
    the embedding model and use the index."""
    bucket_arn = {"Fn::GetAtt": ["Documents", "Arn"]}
    index_arn = {"Fn::GetAtt": ["Index", "IndexArn"]}
    statements: list[dict[str, Any]] = [
        {"Effect": "Allow", "Action": "s3:ListBucket", "Resource": bucket_arn},
        {
            "Effect": "Allow",
            "Action": "s3:GetObject",
            "Resource": {"Fn::Join": ["", [bucket_arn, f"/{PREFIX}*"]]},
        },
        {
            "Effect": "Deny",
            "Action": "s3:GetObject",
            "Resource": {"Fn::Join": ["", [bucket_arn, f"/{PREFIX}restricted/*"]]},
        },
        {"Effect": "Allow", "Action": "bedrock:InvokeModel", "Resource": model_arn},
        {
            "Effect": "Allow",
            "Action": [
                "s3vectors:PutVectors",
                "s3vectors:GetVectors",
                "s3vectors:DeleteVectors",
                "s3vectors:GetIndex",
                "s3vectors:QueryVectors",
            ],
            "Resource": index_arn,
        },
    ]
    if kms_grant:
        statements.append({"Effect": "Allow", "Action": "kms:Decrypt", "Resource": {"Fn::GetAtt": ["Key", "Arn"]}})
    index_properties: dict[str, Any] = {
        "VectorBucketName": {"Ref": "VectorBucketName"},
        "IndexName": f"{name}-index",
        "DataType": "float32",
        "Dimension": dimension,
        "DistanceMetric": "cosine",
    }
    if non_filterable:
        index_properties["MetadataConfiguration"] = {
            "NonFilterableMetadataKeys": ["AMAZON_BEDROCK_TEXT", "AMAZON_BEDROCK_METADATA"]
        }
    resources: dict[str, Any] = {
        "Key": {
            "Type": "AWS::KMS::Key",
            "Properties": {
                "KeyPolicy": {
                    "Version": "2012-10-17",
                    "Statement": [
                        {
                            "Effect": "Allow",
                            "Principal": {"AWS": f"arn:aws:iam::{DEFAULT_ACCOUNT}:root"},
                            "Action": "kms:*",
                            "Resource": "*",
                        }
                    ],
                }
            },
        },
        "Documents": {
            "Type": "AWS::S3::Bucket",
            "Properties": {
                "BucketName": f"{name}-documents",
                "BucketEncryption": {
                    "ServerSideEncryptionConfiguration": [
                        {
                            "ServerSideEncryptionByDefault": {
                                "SSEAlgorithm": "aws:kms",
                                "KMSMasterKeyID": {"Fn::GetAtt": ["Key", "Arn"]},
                            }
                        }
                    ]
                },
            },
        },
        "DocumentsPolicy": {
            "Type": "AWS::S3::BucketPolicy",
            "Properties": {
                "Bucket": {"Ref": "Documents"},
                "PolicyDocument": {
                    "Version": "2012-10-17",
                    "Statement": [
                        {
                            "Sid": "DenyInsecureTransport",
                            "Effect": "Deny",
                            "Principal": {"AWS": "*"},
                            "Action": "s3:*",
                            "Resource": [bucket_arn, {"Fn::Join": ["", [bucket_arn, "/*"]]}],
                            "Condition": {"Bool": {"aws:SecureTransport": "false"}},
                        }
                    ],
                },
            },
        },
        "VectorBucket": {"Type": "AWS::S3Vectors::VectorBucket", "Properties": {"VectorBucketName": f"{name}-vectors"}},
        "Index": {"Type": "AWS::S3Vectors::Index", "DependsOn": "VectorBucket", "Properties": index_properties},
        "Role": {
            "Type": "AWS::IAM::Role",
            "Properties": {
                "AssumeRolePolicyDocument": {
                    "Version": "2012-10-17",
                    "Statement": [
                        {
                            "Effect": "Allow",
                            "Principal": {"Service": "bedrock.amazonaws.com"},
                            "Action": "sts:AssumeRole",
                            "Condition": {"StringEquals": {"aws:SourceAccount": DEFAULT_ACCOUNT}},
                        }
                    ],
                }
            },
        },
        "RolePolicy": {
            "Type": "AWS::IAM::Policy",
            "Properties": {
                "PolicyName": "kb",
                "Roles": [{"Ref": "Role"}],
                "PolicyDocument": {"Version": "2012-10-17", "Statement": statements},
            },
        },
        "KnowledgeBase": {
            "Type": "AWS::Bedrock::KnowledgeBase",
            "DependsOn": "RolePolicy",
            "Properties": {
                "Name": f"{name}-kb",
                "RoleArn": {"Fn::GetAtt": ["Role", "Arn"]},
                "KnowledgeBaseConfiguration": {
                    "Type": "VECTOR",
                    "VectorKnowledgeBaseConfiguration": {
                        "EmbeddingModelArn": model_arn,
                        "EmbeddingModelConfiguration": {
                            "BedrockEmbeddingModelConfiguration": {"Dimensions": 256, "EmbeddingDataType": "FLOAT32"}
                        },
                    },
                },
                "StorageConfiguration": {
                    "Type": "S3_VECTORS",
                    "S3VectorsConfiguration": {"IndexArn": index_arn},
                },
            },
        },
        "DataSource": {
            "Type": "AWS::Bedrock::DataSource",
            "Properties": {
                "Name": f"{name}-docs",
                "KnowledgeBaseId": {"Ref": "KnowledgeBase"},
                "DataSourceConfiguration": {
                    "Type": "S3",
                    "S3Configuration": {"BucketArn": bucket_arn, "InclusionPrefixes": [PREFIX]},
                },
                "VectorIngestionConfiguration": {
                    "ChunkingConfiguration": chunking
                    or {
                        "ChunkingStrategy": "FIXED_SIZE",
                        "FixedSizeChunkingConfiguration": {"MaxTokens": 40, "OverlapPercentage": 20},
                    }
                },
            },
        },
    }
    return {
        "AWSTemplateFormatVersion": "2010-09-09",
        "Parameters": {"VectorBucketName": {"Type": "String", "Default": f"{name}-vectors"}},
        "Resources": resources,
        "Outputs": {
            "KnowledgeBaseId": {"Value": {"Fn::GetAtt": ["KnowledgeBase", "KnowledgeBaseId"]}},
            "KnowledgeBaseRef": {"Value": {"Ref": "KnowledgeBase"}},
            "KnowledgeBaseArn": {"Value": {"Fn::GetAtt": ["KnowledgeBase", "KnowledgeBaseArn"]}},
            "DataSourceId": {"Value": {"Fn::GetAtt": ["DataSource", "DataSourceId"]}},
            "DataSourceRef": {"Value": {"Ref": "DataSource"}},
            "IndexArn": {"Value": index_arn},
            "VectorBucketArn": {"Value": {"Ref": "VectorBucket"}},
            "Bucket": {"Value": {"Ref": "Documents"}},
        },
    }


def deploy(aws: LocalAws, name: str, **options: Any) -> dict[str, str]:
    cfn = aws.client("cloudformation")
    cfn.create_stack(StackName=name, TemplateBody=json.dumps(kb_template(name, **options)))
    (stack,) = cfn.describe_stacks(StackName=name)["Stacks"]
    assert stack["StackStatus"] == "CREATE_COMPLETE", stack.get("StackStatusReason")
    return {o["OutputKey"]: o["OutputValue"] for o in stack["Outputs"]}


@pytest.fixture(scope="module")
def aws() -> Iterator[LocalAws]:
    with LocalAws(region=REGION) as local:
        yield local


@pytest.fixture(scope="module")
def fake(aws: LocalAws) -> Iterator[FakeKnowledgeBase]:
    with FakeKnowledgeBase(aws) as server:
        yield server


def clients(aws: LocalAws, fake: FakeKnowledgeBase) -> tuple[Any, Any]:
    session = boto3.Session(aws_access_key_id="testing", aws_secret_access_key="testing", region_name=REGION)
    env = fake.env()
    agent = session.client("bedrock-agent", endpoint_url=env["AWS_ENDPOINT_URL_BEDROCK_AGENT"])
    runtime = session.client("bedrock-agent-runtime", endpoint_url=env["AWS_ENDPOINT_URL_BEDROCK_AGENT_RUNTIME"])
    return agent, runtime


def sync(agent: Any, out: dict[str, str]) -> dict[str, Any]:
    """Start an ingestion job and poll it to its end, as a client of the real API does."""
    started = agent.start_ingestion_job(knowledgeBaseId=out["KnowledgeBaseId"], dataSourceId=out["DataSourceId"])
    job_id = started["ingestionJob"]["ingestionJobId"]
    assert started["ingestionJob"]["status"] in ("STARTING", "IN_PROGRESS")
    deadline = time.monotonic() + 60
    while True:
        job = agent.get_ingestion_job(
            knowledgeBaseId=out["KnowledgeBaseId"], dataSourceId=out["DataSourceId"], ingestionJobId=job_id
        )["ingestionJob"]
        if job["status"] not in ("STARTING", "IN_PROGRESS"):
            return dict(job)
        assert time.monotonic() < deadline, "the ingestion job did not end"
        time.sleep(0.05)


def retrieve(runtime: Any, out: dict[str, str], text: str, **search: Any) -> list[dict[str, Any]]:
    answer = runtime.retrieve(
        knowledgeBaseId=out["KnowledgeBaseId"],
        retrievalQuery={"text": text},
        retrievalConfiguration={"vectorSearchConfiguration": {"numberOfResults": 3, **search}},
    )
    return list(answer["retrievalResults"])


REFUNDS = (
    "# Refunds\nRefunds for annual plans are prorated. Ask for a refund within 30 days of the charge and the "
    "billing team returns the money to the original card within five business days."
)
EXPORTS = (
    "# CSV exports\nExports over 10,000 rows time out. Export smaller date ranges, or use the asynchronous export "
    "API, which emails a download link when the file is ready."
)


def test_deployed_knowledge_base_answers_the_real_api_shapes(aws: LocalAws, fake: FakeKnowledgeBase) -> None:
    out = deploy(aws, "kbshapes")
    assert out["KnowledgeBaseRef"] == out["KnowledgeBaseId"]
    assert out["DataSourceRef"] == f"{out['KnowledgeBaseId']}|{out['DataSourceId']}"
    assert out["IndexArn"] == f"{out['VectorBucketArn']}/index/kbshapes-index"
    # The vector store is moto's own s3vectors backend.
    index = aws.client("s3vectors").get_index(indexArn=out["IndexArn"])["index"]
    assert index["dimension"] == 256
    agent, _ = clients(aws, fake)
    kb = agent.get_knowledge_base(knowledgeBaseId=out["KnowledgeBaseId"])["knowledgeBase"]
    assert kb["status"] == "ACTIVE" and kb["knowledgeBaseArn"] == out["KnowledgeBaseArn"]
    assert kb["storageConfiguration"]["s3VectorsConfiguration"]["indexArn"] == out["IndexArn"]
    source = agent.get_data_source(knowledgeBaseId=out["KnowledgeBaseId"], dataSourceId=out["DataSourceId"])
    s3config = source["dataSource"]["dataSourceConfiguration"]["s3Configuration"]
    assert s3config == {"bucketArn": f"arn:aws:s3:::{out['Bucket']}", "inclusionPrefixes": [PREFIX]}
    assert source["ResponseMetadata"]["HTTPHeaders"]["x-local-stand-in"] == LABEL
    with pytest.raises(agent.exceptions.ResourceNotFoundException):
        agent.get_knowledge_base(knowledgeBaseId="NOSUCHKB00")
    for resource_type in ("AWS::Bedrock::KnowledgeBase", "AWS::Bedrock::DataSource", "AWS::S3Vectors::Index"):
        assert emulation_status(resource_type) == "shim"


def test_ingest_retrieve_change_and_delete(aws: LocalAws, fake: FakeKnowledgeBase) -> None:
    out = deploy(aws, "kbflow")
    agent, runtime = clients(aws, fake)
    s3 = aws.client("s3")
    s3.put_object(Bucket=out["Bucket"], Key=f"{PREFIX}refunds.md", Body=REFUNDS.encode())
    s3.put_object(Bucket=out["Bucket"], Key=f"{PREFIX}exports.md", Body=EXPORTS.encode())
    s3.put_object(
        Bucket=out["Bucket"],
        Key=f"{PREFIX}exports.md.metadata.json",
        Body=json.dumps({"metadataAttributes": {"topic": "technical", "year": 2026}}).encode(),
    )
    s3.put_object(Bucket=out["Bucket"], Key="elsewhere/ignored.md", Body=b"outside the prefix: never indexed")

    job = sync(agent, out)
    assert job["status"] == "COMPLETE", job.get("failureReasons")
    stats = job["statistics"]
    assert stats["numberOfDocumentsScanned"] == 2 and stats["numberOfNewDocumentsIndexed"] == 2
    assert stats["numberOfMetadataDocumentsScanned"] == 1 and stats["numberOfDocumentsFailed"] == 0

    results = retrieve(runtime, out, "my CSV export times out")
    top = results[0]
    assert top["location"] == {"type": "S3", "s3Location": {"uri": f"s3://{out['Bucket']}/{PREFIX}exports.md"}}
    assert "10,000 rows" in top["content"]["text"] and top["content"]["type"] == "TEXT"
    assert top["metadata"]["topic"] == "technical" and top["metadata"]["x-amz-bedrock-kb-chunk-id"]
    assert top["score"] > results[-1]["score"]
    # The chunks are in the deployed index (moto's s3vectors), each with its text non-filterable.
    vectors = aws.client("s3vectors").list_vectors(indexArn=out["IndexArn"], returnMetadata=True)["vectors"]
    assert {v["metadata"]["x-amz-bedrock-kb-source-uri"].rsplit("/", 1)[-1] for v in vectors} == {
        "refunds.md",
        "exports.md",
    }

    # Filters: the S3 Vectors operators apply; the others are refused, not ignored.
    only_billing = retrieve(
        runtime, out, "my CSV export times out", filter={"notEquals": {"key": "topic", "value": "technical"}}
    )
    assert {r["location"]["s3Location"]["uri"].rsplit("/", 1)[-1] for r in only_billing} == {"refunds.md"}
    newer = retrieve(
        runtime,
        out,
        "export",
        filter={
            "andAll": [
                {"equals": {"key": "topic", "value": "technical"}},
                {"greaterThanOrEquals": {"key": "year", "value": 2026}},
            ]
        },
    )
    assert newer and all(r["metadata"]["topic"] == "technical" for r in newer)
    with pytest.raises(ClientError, match="startsWith is not supported"):
        retrieve(runtime, out, "export", filter={"startsWith": {"key": "topic", "value": "tech"}})

    # Unchanged documents are left alone; a changed one is re-indexed; a deleted one leaves the index.
    again = sync(agent, out)
    assert (
        again["statistics"]["numberOfNewDocumentsIndexed"]
        == again["statistics"]["numberOfModifiedDocumentsIndexed"]
        == 0
    )
    s3.put_object(
        Bucket=out["Bucket"], Key=f"{PREFIX}refunds.md", Body=(REFUNDS + " Refunds over $500 need a manager.").encode()
    )
    s3.delete_object(Bucket=out["Bucket"], Key=f"{PREFIX}exports.md")
    changed = sync(agent, out)
    assert changed["statistics"]["numberOfModifiedDocumentsIndexed"] == 1
    assert changed["statistics"]["numberOfDocumentsDeleted"] == 1
    uris = {r["location"]["s3Location"]["uri"] for r in retrieve(runtime, out, "my CSV export times out")}
    assert uris == {f"s3://{out['Bucket']}/{PREFIX}refunds.md"}
    assert any("manager" in r["content"]["text"] for r in retrieve(runtime, out, "refund manager"))

    jobs = agent.list_ingestion_jobs(knowledgeBaseId=out["KnowledgeBaseId"], dataSourceId=out["DataSourceId"])
    assert [j["ingestionJobId"] for j in jobs["ingestionJobSummaries"]] == [
        changed["ingestionJobId"],
        again["ingestionJobId"],
        job["ingestionJobId"],
    ]


def test_a_document_that_fails_does_not_block_the_others(aws: LocalAws, fake: FakeKnowledgeBase) -> None:
    out = deploy(aws, "kbfail")
    agent, runtime = clients(aws, fake)
    s3 = aws.client("s3")
    s3.put_object(Bucket=out["Bucket"], Key=f"{PREFIX}refunds.md", Body=REFUNDS.encode())
    s3.put_object(Bucket=out["Bucket"], Key=f"{PREFIX}broken.md", Body=b"\xff\xfe\x00binary garbage \xc3\x28")
    s3.put_object(Bucket=out["Bucket"], Key=f"{PREFIX}manual.pdf", Body=b"%PDF-1.7")
    s3.put_object(Bucket=out["Bucket"], Key=f"{PREFIX}restricted/secret.md", Body=b"the role may not read this")
    s3.put_object(Bucket=out["Bucket"], Key=f"{PREFIX}bad-meta.md", Body=b"a document with broken metadata")
    s3.put_object(Bucket=out["Bucket"], Key=f"{PREFIX}bad-meta.md.metadata.json", Body=b"{not json")
    job = sync(agent, out)
    assert job["status"] == "COMPLETE"
    assert job["statistics"]["numberOfDocumentsFailed"] == 4
    assert job["statistics"]["numberOfNewDocumentsIndexed"] == 1
    reasons = "\n".join(job["failureReasons"])
    assert f"not UTF-8 text (invalid start byte) [Files: s3://{out['Bucket']}/{PREFIX}broken.md]" in reasons
    assert "cannot parse .pdf files" in reasons
    assert "explicit deny in the role's identity policy" in reasons and "restricted/secret.md" in reasons
    assert "bad-meta.md.metadata.json is not valid JSON" in reasons
    assert [r["location"]["s3Location"]["uri"] for r in retrieve(runtime, out, "refund")] == [
        f"s3://{out['Bucket']}/{PREFIX}refunds.md"
    ]


def test_the_role_must_be_allowed_the_key(aws: LocalAws, fake: FakeKnowledgeBase) -> None:
    out = deploy(aws, "kbnokey", kms_grant=False)
    agent, _ = clients(aws, fake)
    aws.client("s3").put_object(Bucket=out["Bucket"], Key=f"{PREFIX}refunds.md", Body=REFUNDS.encode())
    job = sync(agent, out)
    assert job["statistics"]["numberOfDocumentsFailed"] == 1
    assert (
        "kms:Decrypt" in job["failureReasons"][0]
        and "no identity policy of the role allows it" in job["failureReasons"][0]
    )


def test_filterable_metadata_limit_of_s3_vectors(aws: LocalAws, fake: FakeKnowledgeBase) -> None:
    # Without AMAZON_BEDROCK_TEXT declared non-filterable, a 300-word chunk exceeds S3 Vectors' 2 KB.
    out = deploy(aws, "kbfilterable", non_filterable=False, chunking={"ChunkingStrategy": "NONE"})
    agent, _ = clients(aws, fake)
    aws.client("s3").put_object(Bucket=out["Bucket"], Key=f"{PREFIX}long.md", Body=(REFUNDS * 20).encode())
    job = sync(agent, out)
    assert job["statistics"]["numberOfDocumentsFailed"] == 1
    assert "Filterable metadata must have at most 2048 bytes" in job["failureReasons"][0]


def test_job_fails_when_the_role_cannot_call_the_model(aws: LocalAws, fake: FakeKnowledgeBase) -> None:
    other = f"arn:aws:bedrock:{REGION}::foundation-model/amazon.titan-embed-text-v2:0"
    template = kb_template("kbnomodel", model_arn=other)
    statements = template["Resources"]["RolePolicy"]["Properties"]["PolicyDocument"]["Statement"]
    statements[:] = [s for s in statements if s["Action"] != "bedrock:InvokeModel"]
    cfn = aws.client("cloudformation")
    cfn.create_stack(StackName="kbnomodel", TemplateBody=json.dumps(template))
    out = {o["OutputKey"]: o["OutputValue"] for o in cfn.describe_stacks(StackName="kbnomodel")["Stacks"][0]["Outputs"]}
    agent, _ = clients(aws, fake)
    job = sync(agent, out)
    assert job["status"] == "FAILED" and "bedrock:InvokeModel" in job["failureReasons"][0]


def test_one_job_at_a_time_and_bad_requests(
    aws: LocalAws, fake: FakeKnowledgeBase, monkeypatch: pytest.MonkeyPatch
) -> None:
    out = deploy(aws, "kbconflict")
    agent, runtime = clients(aws, fake)
    ids = {"knowledgeBaseId": out["KnowledgeBaseId"], "dataSourceId": out["DataSourceId"]}
    release = threading.Event()
    ingest = fake._ingest

    def held(*args: Any) -> dict[str, int]:
        release.wait(30)
        return ingest(*args)

    monkeypatch.setattr(fake, "_ingest", held)
    token = "t" * 40
    started = agent.start_ingestion_job(**ids, clientToken=token)
    with pytest.raises(agent.exceptions.ConflictException):
        agent.start_ingestion_job(**ids)
    # A retried request (same client token) answers the job it started, as Bedrock does.
    assert (
        agent.start_ingestion_job(**ids, clientToken=token)["ingestionJob"]["ingestionJobId"]
        == (started["ingestionJob"]["ingestionJobId"])
    )
    release.set()
    fake.wait()
    job = agent.get_ingestion_job(**ids, ingestionJobId=started["ingestionJob"]["ingestionJobId"])["ingestionJob"]
    assert job["status"] == "COMPLETE"
    with pytest.raises(runtime.exceptions.ValidationException, match="HYBRID"):
        retrieve(runtime, out, "x", overrideSearchType="HYBRID")
    with pytest.raises(runtime.exceptions.ResourceNotFoundException):
        runtime.retrieve(knowledgeBaseId="NOSUCHKB00", retrievalQuery={"text": "x"})
    with pytest.raises(runtime.exceptions.ValidationException, match="non-empty"):
        runtime.retrieve(knowledgeBaseId=out["KnowledgeBaseId"], retrievalQuery={"text": "  "})


def test_stack_refuses_an_index_of_other_dimensions(aws: LocalAws) -> None:
    cfn = aws.client("cloudformation")
    with pytest.raises(ClientError, match="the embedding model gives 256 dimensions, the index kbdims-index holds 512"):
        cfn.create_stack(StackName="kbdims", TemplateBody=json.dumps(kb_template("kbdims", dimension=512)))


def test_chunking() -> None:
    text = " ".join(f"w{i}" for i in range(10))
    fixed = {
        "chunkingStrategy": "FIXED_SIZE",
        "fixedSizeChunkingConfiguration": {"maxTokens": 4, "overlapPercentage": 50},
    }
    assert chunk_text(text, fixed) == ["w0 w1 w2 w3", "w2 w3 w4 w5", "w4 w5 w6 w7", "w6 w7 w8 w9"]
    assert chunk_text("a\n\nb", {"chunkingStrategy": "NONE"}) == ["a\n\nb"]
    assert len(chunk_text(" ".join(["x"] * 301), None)) == 2  # Bedrock's default: 300 tokens, 20% overlap
    with pytest.raises(ValueError, match="SEMANTIC"):
        chunk_text("a b", {"chunkingStrategy": "SEMANTIC"})


@pytest.mark.parametrize(
    ("condition", "message"),
    [
        ({"listContains": {"key": "k", "value": "v"}}, "not supported"),
        ({"equals": {"key": "k", "value": "v"}, "notEquals": {"key": "k", "value": "v"}}, "exactly one"),
        ({"greaterThan": {"key": "k", "value": "3"}}, "must be a number"),
        ({"in": {"key": "k", "value": []}}, "non-empty list"),
        ({"andAll": [{"equals": {"key": "k", "value": 1}}]}, "at least 2"),
        ({"bogus": {}}, "unknown operator"),
        ({"equals": {"key": "", "value": 1}}, "1-100 characters"),
        ({"equals": {"key": "k", "value": float("inf")}}, "string, number or boolean"),
    ],
)
def test_filter_validation(condition: dict[str, Any], message: str) -> None:
    with pytest.raises(Exception, match=message):
        validate_filter(condition)


def test_filter_nesting_is_bounded() -> None:
    condition: dict[str, Any] = {"equals": {"key": "k", "value": 1}}
    for _ in range(6):
        condition = {"orAll": [condition, {"equals": {"key": "k", "value": 2}}]}
    with pytest.raises(Exception, match="nested deeper"):
        validate_filter(condition)


def test_filter_semantics() -> None:
    metadata = {"tags": ["a", "b"], "year": 2025, "flag": True}
    assert matches_filter({"equals": {"key": "tags", "value": "b"}}, metadata)
    assert not matches_filter({"equals": {"key": "flag", "value": 1}}, metadata)  # a boolean is not a number
    assert matches_filter({"notEquals": {"key": "missing", "value": 1}}, metadata)
    assert not matches_filter({"greaterThan": {"key": "missing", "value": 1}}, metadata)
    assert matches_filter({"in": {"key": "year", "value": [2024, 2025]}}, metadata)
    assert matches_filter(
        {"orAll": [{"lessThan": {"key": "year", "value": 2000}}, {"notIn": {"key": "tags", "value": ["z"]}}]}, metadata
    )


def test_deleting_the_stack_removes_the_vector_store_and_a_redeploy_works(aws: LocalAws) -> None:
    out = deploy(aws, "kbdelete")
    vectors = aws.client("s3vectors")
    # moto deletes a stack's resources in no fixed order: the bucket may go first, its index still in it.
    (bucket,) = [
        shim
        for shim in S3VectorsVectorBucket.instances_tracked  # type: ignore[attr-defined]
        if isinstance(shim, S3VectorsVectorBucket) and shim.name == "kbdelete-vectors" and not shim.deleted
    ]
    bucket.delete(DEFAULT_ACCOUNT, REGION)
    assert "kbdelete-vectors" not in {b["vectorBucketName"] for b in vectors.list_vector_buckets()["vectorBuckets"]}
    aws.client("cloudformation").delete_stack(StackName="kbdelete")
    again = deploy(aws, "kbdelete")  # same names: nothing was left behind
    assert again["IndexArn"] == out["IndexArn"]
