"""Assertions on the knowledge base (RAG) of the LLMOps stack: what AWS checks when it creates and runs it.

Real-AWS concerns pinned here (the local emulator does not run Bedrock knowledge bases): the index's
dimension equals the embedding model's, the data source indexes exactly the configured prefix of the
curated bucket, the knowledge base's role is trusted by Bedrock for this account's knowledge bases only and
may do exactly what ingestion and retrieval need, the curated bucket sends its object events to EventBridge,
and the alarms watch the metrics the functions actually publish.
"""

from __future__ import annotations

import json
from typing import Any

import pytest

from stacks.components.knowledge_base import NON_FILTERABLE_METADATA_KEYS, VECTOR_ACTIONS
from tests.infra.conftest import ENV_NAMES
from tests.infra.test_llmops import as_list, llmops, of_type

pytestmark = pytest.mark.parametrize("env", ENV_NAMES)


def one(template: dict[str, Any], cfn_type: str) -> tuple[str, dict[str, Any]]:
    found = of_type(template, cfn_type)
    assert len(found) == 1, f"expected one {cfn_type}, found {sorted(found)}"
    ((logical_id, resource),) = found.items()
    return logical_id, resource["Properties"]


def level0(templates: dict[tuple[str, str], dict[str, Any]], env: str) -> dict[str, Any]:
    return templates[(env, f"Mlops-{env}-Level0Exploration")]


def import_of(template: dict[str, Any], logical_prefix: str, attribute: str | None) -> str:
    """The export name a Level 0 resource is imported under (its logical ID starts with `logical_prefix`)."""
    for output in template.get("Outputs", {}).values():
        value = output["Value"]
        if not isinstance(value, dict):
            continue  # a literal (e.g. a feature group's fixed name) is no resource's attribute
        ref = value.get("Fn::GetAtt", [None, None]) if "Fn::GetAtt" in value else [value.get("Ref"), None]
        if ref[0] and ref[0].startswith(logical_prefix) and ref[1] == attribute and "Export" in output:
            return str(output["Export"]["Name"])
    raise AssertionError(f"no export of {logical_prefix}.{attribute}")


def functions_by_service(template: dict[str, Any]) -> dict[str, dict[str, Any]]:
    found = {}
    for logical_id, resource in of_type(template, "AWS::Lambda::Function").items():
        variables = resource["Properties"].get("Environment", {}).get("Variables", {})
        if "POWERTOOLS_SERVICE_NAME" in variables:
            found.setdefault(variables["POWERTOOLS_SERVICE_NAME"], []).append((logical_id, resource["Properties"]))
    return found  # type: ignore[return-value]


def role_statements(template: dict[str, Any], role_id: str) -> list[dict[str, Any]]:
    return [
        statement
        for policy in of_type(template, "AWS::IAM::Policy").values()
        if {"Ref": role_id} in policy["Properties"]["Roles"]
        for statement in policy["Properties"]["PolicyDocument"]["Statement"]
    ]


def test_the_index_and_the_knowledge_base_use_the_embedding_models_dimension(templates, synthesized, env):
    kb = synthesized[env].config.llmops.knowledge_base
    template = llmops(templates, env)
    index_id, index = one(template, "AWS::S3Vectors::Index")
    bucket_id, bucket = one(template, "AWS::S3Vectors::VectorBucket")
    _, base = one(template, "AWS::Bedrock::KnowledgeBase")
    assert index["Dimension"] == kb.embedding_dimensions and index["DataType"] == "float32"
    assert index["VectorBucketArn"] == {"Fn::GetAtt": [bucket_id, "VectorBucketArn"]}
    assert index["MetadataConfiguration"]["NonFilterableMetadataKeys"] == list(NON_FILTERABLE_METADATA_KEYS)
    assert bucket["EncryptionConfiguration"] == {"SseType": "AES256"}
    vector = base["KnowledgeBaseConfiguration"]["VectorKnowledgeBaseConfiguration"]
    assert base["KnowledgeBaseConfiguration"]["Type"] == "VECTOR"
    assert (
        vector["EmbeddingModelArn"]
        == f"arn:aws:bedrock:{synthesized[env].config.region}::foundation-model/{kb.embedding_model_id}"
    )
    assert (
        vector["EmbeddingModelConfiguration"]["BedrockEmbeddingModelConfiguration"]["Dimensions"]
        == kb.embedding_dimensions
    )
    assert base["StorageConfiguration"] == {
        "Type": "S3_VECTORS",
        "S3VectorsConfiguration": {
            "IndexArn": {"Fn::GetAtt": [index_id, "IndexArn"]},
            "VectorBucketArn": {"Fn::GetAtt": [bucket_id, "VectorBucketArn"]},
        },
    }


def test_the_data_source_indexes_the_documents_prefix_of_the_curated_bucket_and_forgets_deleted_ones(
    templates, synthesized, env
):
    kb = synthesized[env].config.llmops.knowledge_base
    template = llmops(templates, env)
    kb_id, _ = one(template, "AWS::Bedrock::KnowledgeBase")
    _, source = one(template, "AWS::Bedrock::DataSource")
    curated_arn = import_of(level0(templates, env), "DataLakeCuratedBucket", "Arn")
    s3_config = source["DataSourceConfiguration"]["S3Configuration"]
    assert source["KnowledgeBaseId"] == {"Fn::GetAtt": [kb_id, "KnowledgeBaseId"]}
    assert s3_config["BucketArn"] == {"Fn::ImportValue": curated_arn}
    assert s3_config["InclusionPrefixes"] == [kb.documents_prefix]
    assert source["DataDeletionPolicy"] == "DELETE"
    chunking = source["VectorIngestionConfiguration"]["ChunkingConfiguration"]
    assert chunking["ChunkingStrategy"] == kb.chunking.strategy
    assert chunking["FixedSizeChunkingConfiguration"] == {
        "MaxTokens": kb.chunking.max_tokens,
        "OverlapPercentage": kb.chunking.overlap_percentage,
    }


def test_the_knowledge_base_role_is_trusted_by_bedrock_for_this_account_and_may_do_only_its_job(
    templates, synthesized, env
):
    config = synthesized[env].config
    kb = config.llmops.knowledge_base
    template = llmops(templates, env)
    _, base = one(template, "AWS::Bedrock::KnowledgeBase")
    role_id = base["RoleArn"]["Fn::GetAtt"][0]
    role = template["Resources"][role_id]["Properties"]
    (trust,) = role["AssumeRolePolicyDocument"]["Statement"]
    assert trust["Principal"] == {"Service": "bedrock.amazonaws.com"}
    assert trust["Condition"]["StringEquals"] == {"aws:SourceAccount": config.account}
    assert trust["Condition"]["ArnLike"]["aws:SourceArn"] == (
        f"arn:aws:bedrock:{config.region}:{config.account}:knowledge-base/*"
    )
    assert "ManagedPolicyArns" not in role
    index_id, _ = one(template, "AWS::S3Vectors::Index")
    data_key = import_of(level0(templates, env), "DataKey", "Arn")
    by_sid = {s["Sid"]: s for s in role_statements(template, role_id)}
    assert set(by_sid) == {
        "EmbedWithTheModel",
        "ListTheDocuments",
        "ReadTheDocuments",
        "DecryptTheDocumentsThroughS3",
        "UseTheIndex",
    }
    assert by_sid["EmbedWithTheModel"]["Resource"] == (
        f"arn:aws:bedrock:{config.region}::foundation-model/{kb.embedding_model_id}"
    )
    assert as_list(by_sid["ReadTheDocuments"]["Action"]) == ["s3:GetObject"]
    assert json.dumps(by_sid["ReadTheDocuments"]["Resource"]).endswith(f'"/{kb.documents_prefix}*"]]}}')
    assert by_sid["ListTheDocuments"]["Condition"] == {"StringLike": {"s3:prefix": [f"{kb.documents_prefix}*"]}}
    assert by_sid["DecryptTheDocumentsThroughS3"]["Resource"] == {"Fn::ImportValue": data_key}
    assert by_sid["DecryptTheDocumentsThroughS3"]["Condition"] == {
        "StringEquals": {"kms:ViaService": f"s3.{config.region}.amazonaws.com"}
    }
    assert sorted(as_list(by_sid["UseTheIndex"]["Action"])) == sorted(VECTOR_ACTIONS)
    assert by_sid["UseTheIndex"]["Resource"] == {"Fn::GetAtt": [index_id, "IndexArn"]}
    # The knowledge base is created after the role's policy: Bedrock checks the role at creation.
    policy_ids = [
        lid for lid, p in of_type(template, "AWS::IAM::Policy").items() if {"Ref": role_id} in p["Properties"]["Roles"]
    ]
    kb_resource = next(iter(of_type(template, "AWS::Bedrock::KnowledgeBase").values()))
    assert set(policy_ids) <= set(kb_resource.get("DependsOn", []))


def test_the_data_key_lets_iam_policies_grant_it_so_the_knowledge_base_role_can_decrypt(templates, synthesized, env):
    """kms:Decrypt in the role's policy only works if the key policy delegates to IAM (the account root)."""
    config = synthesized[env].config
    keys = of_type(level0(templates, env), "AWS::KMS::Key")
    data_key = next(r for lid, r in keys.items() if lid.startswith("DataKey"))
    delegation = [
        s
        for s in data_key["Properties"]["KeyPolicy"]["Statement"]
        if s.get("Effect") == "Allow" and as_list(s["Action"]) == ["kms:*"]
    ]
    assert delegation and json.dumps(delegation[0]["Principal"]).find(f":iam::{config.account}:root") >= 0


def test_the_curated_bucket_sends_object_events_and_the_rule_queues_changes_under_the_prefix(
    templates, synthesized, env
):
    kb = synthesized[env].config.llmops.knowledge_base
    buckets = of_type(level0(templates, env), "AWS::S3::Bucket")
    curated = next(r for lid, r in buckets.items() if lid.startswith("DataLakeCuratedBucket"))
    assert curated["Properties"]["NotificationConfiguration"]["EventBridgeConfiguration"]["EventBridgeEnabled"] is True
    template = llmops(templates, env)
    rules = {
        lid: r["Properties"]
        for lid, r in of_type(template, "AWS::Events::Rule").items()
        if "EventPattern" in r["Properties"]
    }
    ((rule_id, rule),) = [(lid, r) for lid, r in rules.items() if lid.startswith("KnowledgeBaseOnDocumentChange")]
    pattern = rule["EventPattern"]
    assert pattern["source"] == ["aws.s3"] and pattern["detail-type"] == ["Object Created", "Object Deleted"]
    assert pattern["detail"]["object"]["key"] == [{"prefix": kb.documents_prefix}]
    curated_name = import_of(level0(templates, env), "DataLakeCuratedBucket", None)
    assert pattern["detail"]["bucket"]["name"] == [{"Fn::ImportValue": curated_name}]
    ((target,),) = [rule["Targets"]]
    queue_id = target["Arn"]["Fn::GetAtt"][0]
    queue = template["Resources"][queue_id]["Properties"]
    # EventBridge can only send to an SSE-SQS queue (or a KMS one whose key policy lets it).
    assert queue["SqsManagedSseEnabled"] is True and "KmsMasterKeyId" not in queue
    queue_policies = [
        s
        for p in of_type(template, "AWS::SQS::QueuePolicy").values()
        if {"Ref": queue_id} in p["Properties"]["Queues"]
        for s in p["Properties"]["PolicyDocument"]["Statement"]
    ]
    sends = [s for s in queue_policies if s.get("Principal") == {"Service": "events.amazonaws.com"}]
    assert sends and sends[0]["Condition"]["ArnEquals"]["aws:SourceArn"] == {"Fn::GetAtt": [rule_id, "Arn"]}


def test_the_sync_function_debounces_reports_partial_failures_and_dead_letters(templates, synthesized, env):
    kb = synthesized[env].config.llmops.knowledge_base
    template = llmops(templates, env)
    ((_, mapping),) = [
        (lid, r["Properties"])
        for lid, r in of_type(template, "AWS::Lambda::EventSourceMapping").items()
        if lid.startswith("KnowledgeBaseSync")
    ]
    assert mapping["MaximumBatchingWindowInSeconds"] == kb.sync_debounce_seconds
    assert mapping["FunctionResponseTypes"] == ["ReportBatchItemFailures"]
    queue = template["Resources"][mapping["EventSourceArn"]["Fn::GetAtt"][0]]["Properties"]
    function = template["Resources"][mapping["FunctionName"]["Ref"]]["Properties"]
    assert function["Handler"] == "handler.handler"
    # Lambda's guidance: the visibility timeout covers six function timeouts plus the batching window.
    assert queue["VisibilityTimeout"] >= 6 * function["Timeout"] + kb.sync_debounce_seconds
    dead_letters_id = queue["RedrivePolicy"]["deadLetterTargetArn"]["Fn::GetAtt"][0]
    alarms = of_type(template, "AWS::CloudWatch::Alarm").values()
    assert any(
        {"Name": "QueueName", "Value": {"Fn::GetAtt": [dead_letters_id, "QueueName"]}}
        in a["Properties"].get("Dimensions", [])
        for a in alarms
    )
    variables = function["Environment"]["Variables"]
    assert variables["DOCUMENTS_PREFIX"] == kb.documents_prefix and variables["KNOWLEDGE_BASE_NAME"] == kb.name
    statements = role_statements(template, function["Role"]["Fn::GetAtt"][0])
    starts = [s for s in statements if "bedrock:StartIngestionJob" in as_list(s["Action"])]
    kb_id, _ = one(template, "AWS::Bedrock::KnowledgeBase")
    assert starts and starts[0]["Resource"] == {"Fn::GetAtt": [kb_id, "KnowledgeBaseArn"]}


def test_the_alarms_watch_the_metrics_the_monitor_publishes(templates, synthesized, env):
    kb = synthesized[env].config.llmops.knowledge_base
    template = llmops(templates, env)
    (monitor,) = [
        p
        for p in (r["Properties"] for r in of_type(template, "AWS::Lambda::Function").values())
        if p["Handler"] == "monitor.handler"
    ]
    variables = monitor["Environment"]["Variables"]
    dimensions = [
        {"Name": "KnowledgeBase", "Value": variables["KNOWLEDGE_BASE_NAME"]},
        {"Name": "service", "Value": variables["POWERTOOLS_SERVICE_NAME"]},
    ]
    by_metric = {
        a["Properties"].get("MetricName"): a["Properties"] for a in of_type(template, "AWS::CloudWatch::Alarm").values()
    }
    skew, failed = by_metric["KnowledgeBaseSkewSeconds"], by_metric["KnowledgeBaseFailedDocuments"]
    for alarm in (skew, failed):
        assert alarm["Namespace"] == variables["POWERTOOLS_METRICS_NAMESPACE"]
        assert sorted(alarm["Dimensions"], key=lambda d: d["Name"]) == dimensions
        assert alarm["AlarmActions"] and alarm["OKActions"]
    assert skew["Threshold"] == kb.max_skew_minutes * 60 and skew["TreatMissingData"] == "breaching"
    assert failed["Threshold"] == kb.max_failed_documents and failed["ComparisonOperator"] == "GreaterThanThreshold"
    schedules = [
        r["Properties"]
        for r in of_type(template, "AWS::Events::Rule").values()
        if "ScheduleExpression" in r["Properties"]
    ]
    assert any(
        s["Targets"][0]["Arn"].get("Fn::GetAtt", [""])[0].startswith("KnowledgeBaseSkewMonitor") for s in schedules
    )


def test_catalog_gateway_and_evaluator_know_the_knowledge_base_and_only_two_may_retrieve(templates, synthesized, env):
    kb = synthesized[env].config.llmops.knowledge_base
    template = llmops(templates, env)
    kb_id, _ = one(template, "AWS::Bedrock::KnowledgeBase")
    services = functions_by_service(template)
    expected = {"Fn::Join": ["", [f'{{"{kb.name}": "', {"Fn::GetAtt": [kb_id, "KnowledgeBaseId"]}, '"}']]}
    roles_with_retrieve = set()
    for service in ("prompt-catalog", "llm-gateway", "llm-evaluation"):
        ((_, function),) = services[service]
        assert function["Environment"]["Variables"]["KNOWLEDGE_BASES"] == expected, service
    for policy in of_type(template, "AWS::IAM::Policy").values():
        for statement in policy["Properties"]["PolicyDocument"]["Statement"]:
            if "bedrock:Retrieve" in as_list(statement["Action"]):
                assert as_list(statement["Action"]) == ["bedrock:Retrieve"]
                assert statement["Resource"] == {"Fn::GetAtt": [kb_id, "KnowledgeBaseArn"]}
                roles_with_retrieve.update(r["Ref"] for r in policy["Properties"]["Roles"])
    expected_roles = {services[s][0][1]["Role"]["Fn::GetAtt"][0] for s in ("llm-gateway", "llm-evaluation")}
    assert roles_with_retrieve == expected_roles
