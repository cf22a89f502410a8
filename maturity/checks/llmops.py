"""LLMOps checks: prompt versioning, guardrails, LLM evaluation, token cost and latency metrics."""

from __future__ import annotations

from maturity.aws import Api, CallFailed, SessionLike
from maturity.checks.base import (
    _MAX_BUCKETS,
    _MAX_PARENTS,
    GATEWAY_NAMESPACE,
    PROMPT_CATALOG_TAG,
    SCORECARDS_PREFIX,
    Evidence,
    _names,
    _Probes,
)

# --------------------------------------------------------------------------------------------------
# LLMOps


def prompt_versioning(session: SessionLike) -> Evidence:
    dynamodb, agent = Api(session, "dynamodb"), Api(session, "bedrock-agent")
    probe = _Probes()
    found: list[str] = []
    unversioned: list[str] = []
    for table in (probe.items(dynamodb, "list_tables", "TableNames"))[:_MAX_PARENTS]:
        described = probe.call(dynamodb, "describe_table", TableName=table)
        if described is None:
            continue
        arn = described["Table"]["TableArn"]
        is_catalog = "prompt" in table.lower()
        if not is_catalog:
            tags = probe.items(dynamodb, "list_tags_of_resource", "Tags", ResourceArn=arn)
            is_catalog = any((t.get("Key"), t.get("Value")) == PROMPT_CATALOG_TAG for t in tags)
        if not is_catalog:
            continue
        sort_keys = [k["AttributeName"] for k in described["Table"].get("KeySchema", []) if k["KeyType"] == "RANGE"]
        if sort_keys:
            found.append(f"DynamoDB prompt catalog {table} (versions under sort key {sort_keys[0]})")
        else:
            unversioned.append(table)
    prompts = probe.items(agent, "list_prompts", "promptSummaries")
    if prompts:
        found.append(_names([p["name"] for p in prompts], "Bedrock managed prompt"))
    absent = "No prompt catalog (a DynamoDB table named or tagged as one, or Bedrock prompt management)."
    if unversioned:
        absent = f"Prompt table(s) {', '.join(unversioned)} have no sort key: one item per prompt, no versions."
    return probe.verdict(found, present=f"Prompts are versioned: {'; '.join(found)}.", absent=absent)


def guardrails(session: SessionLike) -> Evidence:
    bedrock = Api(session, "bedrock")
    probe = _Probes()
    listed = probe.items(bedrock, "list_guardrails", "guardrails")
    names = [f"{g['name']} (v{g.get('version', 'DRAFT')}, {g.get('status', '?')})" for g in listed]
    return probe.verdict(
        [_names(names, "Bedrock guardrail")] if names else [],
        present=f"Model input and output are filtered: {_names(names, 'Bedrock guardrail')}.",
        absent="No Bedrock guardrail: prompts and answers are not filtered for harmful content, PII or attacks.",
    )


_REDIRECT_CODES = frozenset({"PermanentRedirect", "AuthorizationHeaderMalformed", "301", "IllegalLocationConstraint"})


def llm_evaluation(session: SessionLike) -> Evidence:
    bedrock, s3 = Api(session, "bedrock"), Api(session, "s3")
    probe = _Probes()
    found: list[str] = []
    jobs = probe.items(bedrock, "list_evaluation_jobs", "jobSummaries")
    if jobs:
        found.append(_names([j["jobName"] for j in jobs], "Bedrock evaluation job"))
    region = session.region_name
    buckets = probe.items(s3, "list_buckets", "Buckets")
    local = [b["Name"] for b in buckets if b.get("BucketRegion", region) == region][:_MAX_BUCKETS]
    with_scorecards = []
    for bucket in local:
        try:
            listed = s3.call("list_objects_v2", Bucket=bucket, Prefix=SCORECARDS_PREFIX, MaxKeys=1)
        except CallFailed as failure:
            if not any(code in failure.reason for code in _REDIRECT_CODES):  # a bucket in another region
                probe.record(failure)
            continue
        if listed.get("KeyCount", len(listed.get("Contents", []))):
            with_scorecards.append(f"s3://{bucket}/{SCORECARDS_PREFIX}")
    if with_scorecards:
        found.append(_names(with_scorecards, "scorecard prefix"))
    return probe.verdict(
        found,
        present=f"Models are evaluated before use: {'; '.join(found)}.",
        absent=f"No Bedrock evaluation job and no {SCORECARDS_PREFIX} prefix in this region's buckets: "
        "models are chosen without a scorecard.",
    )


def llm_cost_metrics(session: SessionLike) -> Evidence:
    cloudwatch = Api(session, "cloudwatch")
    probe = _Probes()
    metrics = probe.items(cloudwatch, "list_metrics", "Metrics", Namespace=GATEWAY_NAMESPACE)
    names = sorted({m["MetricName"] for m in metrics})
    return probe.verdict(
        [_names(names, f"{GATEWAY_NAMESPACE} metric")] if names else [],
        present=f"Token, cost and latency are measured: {_names(names, 'gateway metric')} in {GATEWAY_NAMESPACE}.",
        absent=f"No metric in the gateway namespace {GATEWAY_NAMESPACE}: LLM spend is only visible on the bill.",
    )
