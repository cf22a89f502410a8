"""Assertions on the LLMOps stack: scoped Bedrock access, guardrail, prompt catalog, gateway metrics and alarms."""

from __future__ import annotations

import json
from typing import Any

import pytest

from stacks.model_catalog import shipped_catalog
from tests.infra.conftest import ENV_NAMES

PINNED_TABLE_ID = "PromptTableB0F34A90"


def llmops(templates: dict[tuple[str, str], dict[str, Any]], env: str) -> dict[str, Any]:
    return templates[(env, f"Mlops-{env}-LlmOps")]


def of_type(template: dict[str, Any], cfn_type: str) -> dict[str, dict[str, Any]]:
    return {lid: r for lid, r in template["Resources"].items() if r["Type"] == cfn_type}


def statements(template: dict[str, Any]) -> list[dict[str, Any]]:
    return [
        s
        for policy in of_type(template, "AWS::IAM::Policy").values()
        for s in policy["Properties"]["PolicyDocument"]["Statement"]
    ]


def as_list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [value]


def expected_invoke(config: Any, model_ids: list[str]) -> tuple[list[Any], dict[str, str]]:
    """What IAM must name for these models: a foundation model in this Region, or an inference profile plus
    (fenced by bedrock:InferenceProfileArn) its foundation model in any destination Region."""
    catalog = shipped_catalog()
    direct: list[Any] = []
    routed: dict[str, str] = {}
    for model_id in model_ids:
        prefix, base = catalog.split(model_id)
        if prefix is None:
            direct.append(f"arn:aws:bedrock:{config.region}::foundation-model/{model_id}")
        else:
            profile = f"arn:aws:bedrock:{config.region}:{config.account}:inference-profile/{model_id}"
            direct.append(profile)
            routed[profile] = f"arn:aws:bedrock:*::foundation-model/{base}"
    return direct, routed


def resolved(value: Any, account: str) -> Any:
    """Fn::Join of partition/account pseudo parameters -> the literal ARN (the tests know the account)."""
    if isinstance(value, dict) and "Fn::Join" in value:
        sep, parts = value["Fn::Join"]
        pseudo = {"AWS::Partition": "aws", "AWS::AccountId": account}
        return sep.join(pseudo[p["Ref"]] if isinstance(p, dict) else p for p in parts)
    return value


@pytest.mark.parametrize("env", ENV_NAMES)
def test_bedrock_access_names_each_allowed_model_and_nothing_else(templates, synthesized, env):
    config = synthesized[env].config
    bedrock = [
        s for s in statements(llmops(templates, env)) if any(a.startswith("bedrock:") for a in as_list(s["Action"]))
    ]
    invoke = {
        s["Sid"]: s
        for s in bedrock
        if "bedrock:InvokeModel" in as_list(s["Action"]) and s["Sid"].startswith(("InvokeAllowed", "InvokeCandidates"))
    }
    models = [model.id for model in config.llmops.models]
    for sid, ids in (
        ("InvokeAllowedModels", models),
        ("InvokeCandidatesAndJudge", sorted({*models, config.llmops.evaluation.judge_model_id})),
    ):
        direct, routed = expected_invoke(config, ids)
        # The gateway may call exactly the allowed models; the evaluator those plus the judge model.
        assert sorted(resolved(r, config.account) for r in as_list(invoke[sid]["Resource"])) == sorted(direct)
        assert "Condition" not in invoke[sid]
        fenced = {
            resolved(s["Condition"]["StringEquals"]["bedrock:InferenceProfileArn"], config.account): s["Resource"]
            for name, s in invoke.items()
            if name.startswith(f"{sid}ViaProfile")
        }
        # A foundation model in another Region only through its profile: never an unconditioned wildcard.
        assert fenced == routed
    # The cosine metric's embedding model (InvokeModel), that foundation model only.
    embedding = config.llmops.evaluation.embedding_model_id
    (embedding_statement,) = [s for s in bedrock if s.get("Sid") == "InvokeTheEmbeddingModel"]
    assert as_list(embedding_statement["Resource"]) == [
        f"arn:aws:bedrock:{config.region}::foundation-model/{embedding}"
    ]
    for statement in bedrock:
        assert "*" not in as_list(statement["Resource"]) or statement["Action"] == [
            "bedrock:DeleteModelInvocationLoggingConfiguration",
            "bedrock:PutModelInvocationLoggingConfiguration",
        ], f"bedrock action on '*': {statement}"
        if any(":bedrock:*:" in str(r) for r in as_list(statement["Resource"])):
            assert "bedrock:InferenceProfileArn" in statement["Condition"]["StringEquals"], statement


@pytest.mark.parametrize("env", ENV_NAMES)
def test_guardrail_filters_content_topics_pii_and_checks_grounding(templates, env):
    template = llmops(templates, env)
    (guardrail,) = of_type(template, "AWS::Bedrock::Guardrail").values()
    props = guardrail["Properties"]
    filters = {f["Type"] for f in props["ContentPolicyConfig"]["FiltersConfig"]}
    assert {"HATE", "INSULTS", "SEXUAL", "VIOLENCE", "MISCONDUCT", "PROMPT_ATTACK"} <= filters
    assert props["TopicPolicyConfig"]["TopicsConfig"]
    pii = {p["Type"]: p["Action"] for p in props["SensitiveInformationPolicyConfig"]["PiiEntitiesConfig"]}
    assert pii["CREDIT_DEBIT_CARD_NUMBER"] == "BLOCK" and pii["EMAIL"] == "ANONYMIZE"
    grounding = {f["Type"] for f in props["ContextualGroundingPolicyConfig"]["FiltersConfig"]}
    assert grounding == {"GROUNDING", "RELEVANCE"}
    assert "KmsKeyArn" in props
    (version,) = of_type(template, "AWS::Bedrock::GuardrailVersion").values()
    assert version["Properties"]["Description"].startswith("policy ")


def test_guardrail_version_fingerprint_follows_the_policy(templates):
    fingerprints = {
        env: next(iter(of_type(llmops(templates, env), "AWS::Bedrock::GuardrailVersion").values()))["Properties"][
            "Description"
        ]
        for env in ENV_NAMES
    }
    # Same policy in every environment -> same fingerprint; the policy lives in code, not config.
    assert len(set(fingerprints.values())) == 1


@pytest.mark.parametrize("env", ENV_NAMES)
def test_prompt_catalog_table_is_encrypted_recoverable_and_retained_in_prod(templates, env):
    template = llmops(templates, env)
    (table_id, table), *_ = of_type(template, "AWS::DynamoDB::Table").items()
    props = table["Properties"]
    assert props["KeySchema"] == [
        {"AttributeName": "pk", "KeyType": "HASH"},
        {"AttributeName": "sk", "KeyType": "RANGE"},
    ]
    assert props["PointInTimeRecoverySpecification"]["PointInTimeRecoveryEnabled"] is True
    assert props["SSESpecification"]["SSEEnabled"] is True and "KMSMasterKeyId" in props["SSESpecification"]
    assert table["DeletionPolicy"] == ("Retain" if env == "prod" else "Delete")
    assert props.get("DeletionProtectionEnabled", False) is (env == "prod")
    assert table_id == PINNED_TABLE_ID, "the prompt table's logical ID changed: CloudFormation would replace it"


@pytest.mark.parametrize("env", ENV_NAMES)
def test_catalog_api_requires_iam_auth_on_every_method(templates, env):
    methods = of_type(llmops(templates, env), "AWS::ApiGateway::Method").values()
    assert methods
    for method in methods:
        assert method["Properties"]["AuthorizationType"] == "AWS_IAM"


@pytest.mark.parametrize("env", ENV_NAMES)
def test_gateway_is_configured_with_guardrail_prices_and_allowed_models(templates, synthesized, env):
    config = synthesized[env].config
    functions = of_type(llmops(templates, env), "AWS::Lambda::Function")
    gateway = next(f for lid, f in functions.items() if lid.startswith("Gateway"))
    variables = gateway["Properties"]["Environment"]["Variables"]
    assert variables["ALLOWED_MODELS"] == ",".join(m.id for m in config.llmops.models)
    prices = json.loads(variables["PRICE_TABLE_JSON"])
    assert set(prices) == {m.id for m in config.llmops.models}
    assert "GUARDRAIL_ID" in variables and "GUARDRAIL_VERSION" in variables
    assert gateway["Properties"]["Runtime"].startswith("python3.")


@pytest.mark.parametrize("env", ENV_NAMES)
def test_alarms_cover_cost_latency_errors_and_guardrail_rate(templates, synthesized, env):
    settings = synthesized[env].config.llmops
    alarms = {
        lid: a["Properties"]
        for lid, a in of_type(llmops(templates, env), "AWS::CloudWatch::Alarm").items()
        if not lid.startswith("Monitoring")  # the per-resource alarms: tests/infra/test_observability.py
    }

    def alarm(prefix: str) -> dict[str, Any]:
        (found,) = [props for lid, props in alarms.items() if lid.startswith(prefix)]
        return found

    cost = alarm("HourlyCostAboveBudget")
    assert (cost["MetricName"], cost["Period"], cost["Threshold"]) == ("CostUSD", 3600, settings.hourly_cost_budget_usd)
    latency = alarm("LatencyP99High")
    assert (latency["ExtendedStatistic"], latency["Threshold"]) == ("p99", settings.latency_p99_ms)
    for prefix, metric, threshold in (
        ("ErrorRateHigh", "Errors", settings.error_rate_percent),
        ("GuardrailInterventionRateHigh", "GuardrailInterventions", settings.guardrail_intervention_rate_percent),
    ):
        rate = alarm(prefix)
        assert rate["Threshold"] == threshold
        names = {m["MetricStat"]["Metric"]["MetricName"] for m in rate["Metrics"] if "MetricStat" in m}
        assert names == {metric, "Invocations"}, prefix
    # The knowledge base's own alarms are asserted in tests/infra/test_knowledge_base.py.
    assert len([lid for lid in alarms if not lid.startswith("KnowledgeBase")]) == 4
    for props in alarms.values():
        assert props["AlarmActions"], "every alarm notifies the topic"


def test_invocation_logging_only_where_configured(templates, synthesized):
    for env in ENV_NAMES:
        wanted = synthesized[env].config.llmops.invocation_logging
        custom = of_type(llmops(templates, env), "Custom::AWS")
        assert bool(custom) is wanted, env


def release_role(template: dict[str, Any]) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    (role_id,) = [lid for lid in of_type(template, "AWS::IAM::Role") if lid.startswith("PromptReleaseRole")]
    policies = [
        p["Properties"]["PolicyDocument"]["Statement"]
        for p in of_type(template, "AWS::IAM::Policy").values()
        if {"Ref": role_id} in p["Properties"]["Roles"]
    ]
    return template["Resources"][role_id]["Properties"], [s for statements in policies for s in statements]


def test_prompt_release_role_only_where_a_pipeline_deploys(templates):
    for env in ENV_NAMES:
        roles = [
            lid for lid in of_type(llmops(templates, env), "AWS::IAM::Role") if lid.startswith("PromptReleaseRole")
        ]
        # dev's pipeline deploys preprod and prod; dev and local are nobody's target.
        assert bool(roles) is (env in ("preprod", "prod")), env


@pytest.mark.parametrize(("env", "account"), [("preprod", "222222222222"), ("prod", "333333333333")])
def test_prompt_release_role_trusts_the_pipeline_account_and_may_only_release(templates, env, account):
    template = llmops(templates, env)
    role, granted = release_role(template)
    assert role["RoleName"] == f"mlops-{env}-prompt-release"
    (trust,) = role["AssumeRolePolicyDocument"]["Statement"]
    # dev's account, where the pipeline runs, and in it only the pipeline's prompt stage and the GitHub role.
    assert "111111111111:root" in json.dumps(trust["Principal"])
    assert trust["Condition"] == {
        "ArnEquals": {
            "aws:PrincipalArn": [
                f"arn:aws:iam::111111111111:role/mlops-dev-release-prompts-{env}",
                "arn:aws:iam::111111111111:role/mlops-github-deploy",
            ]
        }
    }
    by_action = {s["Action"]: s["Resource"] for s in granted}
    assert set(by_action) == {
        "execute-api:Invoke",
        "states:StartExecution",
        "states:DescribeExecution",
        "cloudformation:DescribeStacks",
    }
    (api_id,) = of_type(template, "AWS::ApiGateway::RestApi")
    methods = sorted(r["Fn::Join"][1][2] for r in by_action["execute-api:Invoke"])
    assert all(
        r["Fn::Join"][1][:2] == [f"arn:aws:execute-api:eu-west-1:{account}:", {"Ref": api_id}]
        for r in by_action["execute-api:Invoke"]
    )
    assert methods == [
        "/v1/GET/prompts/*/aliases/*",
        "/v1/GET/prompts/*/versions",
        "/v1/GET/prompts/*/versions/*",
        "/v1/POST/evalsets",
        "/v1/POST/prompts/*/versions",
        "/v1/PUT/prompts/*/aliases/*",
    ]
    (machine_id,) = of_type(template, "AWS::StepFunctions::StateMachine")
    assert by_action["states:StartExecution"] == {"Ref": machine_id}
    assert by_action["states:DescribeExecution"] == {
        "Fn::Join": ["", [f"arn:aws:states:eu-west-1:{account}:execution:", {"Fn::GetAtt": [machine_id, "Name"]}, ":*"]]
    }
    assert by_action["cloudformation:DescribeStacks"] == {"Ref": "AWS::StackId"}


@pytest.mark.parametrize("env", ENV_NAMES)
def test_evaluation_failures_carry_the_reasons_in_their_cause(templates, env):
    (machine,) = of_type(llmops(templates, env), "AWS::StepFunctions::StateMachine").values()
    definition = json.loads(
        "".join(p if isinstance(p, str) else "X" for p in machine["Properties"]["DefinitionString"]["Fn::Join"][1])
    )
    states = definition["States"]
    assert states["GateFailed"] == {
        "Type": "Fail",
        "Error": "QualityGateFailed",
        "CausePath": "States.Format('The quality gate refused this prompt version (evaluation {}): {}', "
        "$.evaluation.run_id, States.JsonToString($.evaluation.reasons))",
    }
    assert states["EvaluationError"] == {
        "Type": "Fail",
        "Error": "EvaluationError",
        "CausePath": "States.Format('The evaluation could not run: {}', $.evaluation.error)",
    }


@pytest.mark.parametrize("env", ENV_NAMES)
def test_the_evaluator_grounds_on_the_guardrail_embeds_with_the_configured_model_and_gates_red_teaming(
    templates, synthesized, env
):
    config = synthesized[env].config.llmops.evaluation
    template = llmops(templates, env)
    (guardrail_id,) = of_type(template, "AWS::Bedrock::Guardrail")
    evaluator = next(
        r
        for r in of_type(template, "AWS::Lambda::Function").values()
        if "GATE_JSON" in r["Properties"].get("Environment", {}).get("Variables", {})
    )
    variables = evaluator["Properties"]["Environment"]["Variables"]
    assert variables["EMBEDDING_MODEL_ID"] == config.embedding_model_id
    assert float(variables["EMBEDDING_PRICE_PER_1K"]) == config.embedding_input_per1k_usd
    assert json.loads(variables["GATE_JSON"])["min_red_team_block_rate"] == config.min_red_team_block_rate
    # Retrieval minimums (#16): passed when set, left out when null (not gated).
    gate = json.loads(variables["GATE_JSON"])
    for key, value in (
        ("min_recall_at_k", config.min_recall_at_k),
        ("min_context_relevance", config.min_context_relevance),
        ("min_faithfulness", config.min_faithfulness),
    ):
        assert gate.get(key) == value
    assert variables["GUARDRAIL_ID"] == {"Fn::GetAtt": [guardrail_id, "GuardrailId"]}
    # ApplyGuardrail (contextual grounding, the hallucination rate) on this guardrail only, from the
    # evaluator's role.
    role = evaluator["Properties"]["Role"]["Fn::GetAtt"][0]
    (policy,) = [p for p in of_type(template, "AWS::IAM::Policy").values() if {"Ref": role} in p["Properties"]["Roles"]]
    apply = [s for s in policy["Properties"]["PolicyDocument"]["Statement"] if s["Action"] == "bedrock:ApplyGuardrail"]
    assert apply == [
        {
            "Sid": "ApplyTheGuardrail",
            "Action": "bedrock:ApplyGuardrail",
            "Effect": "Allow",
            "Resource": {"Fn::GetAtt": [guardrail_id, "GuardrailArn"]},
        }
    ]
    # The grounding check needs the guardrail's contextual grounding policy, or every run fails.
    grounding = template["Resources"][guardrail_id]["Properties"]["ContextualGroundingPolicyConfig"]["FiltersConfig"]
    assert {f["Type"] for f in grounding} == {"GROUNDING", "RELEVANCE"}
