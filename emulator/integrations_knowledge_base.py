"""The integration check of a Bedrock knowledge base: what Bedrock does with the knowledge base's role.

Registered in `emulator.integrations` for ``AWS::Bedrock::KnowledgeBase``. Bedrock assumes the role (with the
knowledge base as ``aws:SourceArn`` and the account as ``aws:SourceAccount``), embeds with the embedding
model, lists and reads every data source's documents under its inclusion prefixes (the bucket policy and the
role's policy both apply, over TLS), decrypts them through S3 with the bucket's KMS key (``kms:ViaService``),
and writes and queries vectors in the S3 Vectors index. Each is a question to the strict evaluator.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from emulator.policy_simulation import decide_request

if TYPE_CHECKING:
    from emulator.integrations import Node, _Checker

BEDROCK = "bedrock.amazonaws.com"
# What ingestion and retrieval do on the index (the construct grants these; AWS needs all of them).
INDEX_ACTIONS = [
    "s3vectors:GetIndex",
    "s3vectors:PutVectors",
    "s3vectors:GetVectors",
    "s3vectors:DeleteVectors",
    "s3vectors:QueryVectors",
]
# A document key the check asks about under each inclusion prefix.
_SAMPLE_DOCUMENT = "sample-document.md"


def knowledge_base(checker: _Checker, base: Node) -> None:
    env, simulator = checker.env, checker.env.simulator(base)
    props = env.resource(base)["Properties"]
    source = f"knowledge base {env.describe(base)}"
    base_arn = str(simulator.resolve({"Fn::GetAtt": [base.logical_id, "KnowledgeBaseArn"]}))
    role = _node(checker, checker.target(simulator, props["RoleArn"], what=f"the role of {source}"), "AWS::IAM::Role")
    context = {"aws:SourceAccount": env.account, "aws:SourceArn": base_arn}
    if not checker.service_may_assume(source, BEDROCK, role, context):
        return
    vector = props["KnowledgeBaseConfiguration"].get("VectorKnowledgeBaseConfiguration")
    if vector is None:
        raise ValueError(f"{source}: only VECTOR knowledge bases are known to this check")
    model = str(simulator.resolve(vector["EmbeddingModelArn"]))
    checker.role_may(source, role, ["bedrock:InvokeModel"], model, {}, verb="embed with")
    storage = props.get("StorageConfiguration", {})
    if storage.get("Type") != "S3_VECTORS":
        raise ValueError(f"{source}: only S3_VECTORS storage is known to this check")
    index = str(simulator.resolve(storage["S3VectorsConfiguration"]["IndexArn"]))
    checker.role_may(source, role, INDEX_ACTIONS, index, {}, verb="write and query vectors in")
    sources = _data_sources(checker, base)
    if not sources:
        checker.findings.append(f"{source} has no data source: nothing would ever be ingested.")
    for data_source, resource in sources:
        _documents(checker, f"data source {env.describe(data_source)} of {source}", role, resource)


def _node(checker: _Checker, value: Node | str, kind: str) -> Node:
    """`value` as a resource of this environment of type `kind`; raises naming it otherwise."""
    from emulator.integrations import Node

    if not (isinstance(value, Node) and checker.env.kind(value) == kind):
        raise ValueError(f"{value} is not a {kind} of this environment")
    return value


def _data_sources(checker: _Checker, base: Node) -> list[tuple[Node, dict[str, Any]]]:
    from emulator.integrations import Node

    template = checker.env.templates[base.stack]
    found = []
    for logical_id, resource in template["Resources"].items():
        if resource["Type"] != "AWS::Bedrock::DataSource":
            continue
        if resource["Properties"].get("KnowledgeBaseId") == {"Fn::GetAtt": [base.logical_id, "KnowledgeBaseId"]}:
            found.append((Node(base.stack, logical_id), resource))
    return found


def _documents(checker: _Checker, source: str, role: Node, data_source: dict[str, Any]) -> None:
    env = checker.env
    configuration = data_source["Properties"]["DataSourceConfiguration"]
    if configuration.get("Type") != "S3":
        raise ValueError(f"{source}: only S3 data sources are known to this check")
    s3 = configuration["S3Configuration"]
    simulator = env.simulator(role)
    bucket = _node(
        checker, checker.target(simulator, s3["BucketArn"], what=f"the bucket of {source}"), "AWS::S3::Bucket"
    )
    bucket_arn = env.arn(bucket)
    bucket_policy = env.simulator(bucket).resource_policy(bucket.logical_id)
    identity = simulator.identity_statements(role.logical_id)
    boundary = simulator.boundary_statements(role.logical_id)
    role_arn = env.arn(role)
    for prefix in s3.get("InclusionPrefixes") or [""]:
        for action, resource, context in (
            ("s3:ListBucket", bucket_arn, {"aws:SecureTransport": "true", "s3:prefix": prefix}),
            ("s3:GetObject", f"{bucket_arn}/{prefix}{_SAMPLE_DOCUMENT}", {"aws:SecureTransport": "true"}),
        ):
            checker.checked.append(f"{action} by {env.describe(role)} for {source} on {resource}")
            decision = decide_request(
                role_arn, action, resource, context, resource_policy=bucket_policy, identity=identity, boundary=boundary
            )
            if not decision.allowed:
                checker.findings.append(
                    f"{source} cannot read its documents under '{prefix}': its role {env.describe(role)} may not "
                    f"call {action} on {resource} ({decision.why})."
                )
    encryption = env.resource(bucket)["Properties"].get("BucketEncryption", {})
    for rule in encryption.get("ServerSideEncryptionConfiguration", []):
        key_id = rule.get("ServerSideEncryptionByDefault", {}).get("KMSMasterKeyID")
        if key_id is None:
            continue
        key = _node(
            checker,
            checker.target(env.simulator(bucket), key_id, what=f"the key of the bucket of {source}"),
            "AWS::KMS::Key",
        )
        checker.role_may(
            source,
            role,
            ["kms:Decrypt"],
            key,
            {"kms:ViaService": f"s3.{env.region}.amazonaws.com"},
            verb="decrypt its documents with",
        )
