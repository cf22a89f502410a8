"""cdk.json → typed config: every environment loads, and bad input names the environment and key."""

from __future__ import annotations

import copy
import json
import re
from typing import Any

import pytest

from stacks.config import ConfigError, load_all_environments, load_environment, read_cdk_context

CONTEXT = read_cdk_context()


def context_with(env: str, **overrides: Any) -> dict[str, Any]:
    context = copy.deepcopy(CONTEXT)
    context["mlops:environments"][env].update(overrides)
    return context


def test_every_environment_in_cdk_json_loads():
    configs = {c.name: c for c in load_all_environments(CONTEXT)}
    assert set(configs) == {"dev", "preprod", "prod", "local"}
    assert configs["prod"].removal_policy == "retain"
    assert configs["prod"].studio.network_access == "VpcOnly"
    assert configs["dev"].studio.network_access == "PublicInternetOnly"
    assert configs["local"].account == "123456789012"


def test_msk_streaming_is_off_everywhere_and_can_be_turned_on_where_tests_run():
    # MSK Serverless bills every hour it exists: no environment of cdk.json pays for it by default.
    assert not any(config.msk_streaming for config in load_all_environments(CONTEXT))
    assert load_environment(context_with("preprod", mskStreaming=True), "preprod").msk_streaming


def test_environment_values_override_defaults_key_by_key():
    prod = load_environment(CONTEXT, "prod")
    defaults = CONTEXT["mlops:defaults"]
    assert prod.glue.etl_number_of_workers == 4
    # Not overridden in prod: inherited from the defaults, even inside the same nested object.
    assert prod.glue.crawler_schedule == defaults["glue"]["crawlerSchedule"]


def test_no_environment_given_means_dev():
    assert load_environment(CONTEXT).name == "dev"
    assert load_environment({**CONTEXT, "env": "preprod"}).name == "preprod"


def test_config_objects_are_frozen():
    config = load_environment(CONTEXT, "dev")
    with pytest.raises(AttributeError):
        config.account = "999999999999"  # type: ignore[misc]


def test_stack_names_carry_the_environment():
    assert load_environment(CONTEXT, "dev").stack_name("Level0Exploration") == "Mlops-dev-Level0Exploration"


@pytest.mark.parametrize(
    ("env", "overrides", "message"),
    [
        (
            "dev",
            {"account": "12345"},
            "environment 'dev', key 'account': '12345' is not a 12-digit AWS account ID",
        ),
        ("dev", {"account": "11111111111a"}, "key 'account': '11111111111a' is not a 12-digit"),
        ("dev", {"account": 111111111111}, "key 'account': expected a non-empty string, got 111111111111"),
        (
            "preprod",
            {"region": "eu-west-9"},
            "environment 'preprod', key 'region': 'eu-west-9' is not a known AWS region",
        ),
        ("dev", {"maxLevel": 7}, "environment 'dev', key 'maxLevel': 7 is not a maturity level (0-3)"),
        ("dev", {"maxLevel": -1}, "key 'maxLevel': -1 is not a maturity level"),
        ("dev", {"maxLevel": "2"}, "key 'maxLevel': expected an integer, got '2'"),
        ("dev", {"maxLevel": True}, "key 'maxLevel': expected an integer, got True"),
        ("dev", {"llmops": {"enabled": "yes"}}, "key 'llmops.enabled': expected true or false, got 'yes'"),
        ("dev", {"llmops": {"models": []}}, "key 'llmops.models': list at least one model"),
        (
            "dev",
            {"llmops": {"models": [{"id": "gpt 4", "inputPer1kUsd": 1, "outputPer1kUsd": 1}]}},
            "key 'llmops.models[0].id': 'gpt 4' is not a Bedrock model",
        ),
        (
            "dev",
            {"llmops": {"models": [{"id": "amazon.nova-lite-v1:0", "inputPer1kUsd": 1}]}},
            "missing key 'llmops.models[0].outputPer1kUsd'",
        ),
        ("dev", {"llmops": {"errorRatePercent": 0}}, "key 'llmops.errorRatePercent': 0.0 is not a percentage"),
        (
            "dev",
            {"llmops": {"evaluation": {"minAccuracy": 0, "minRougeL": 0}}},
            "key 'llmops.evaluation': minAccuracy or minRougeL must be above 0",
        ),
        (
            "dev",
            {"llmops": {"evaluation": {"minGoldenSetItems": 0}}},
            "key 'llmops.evaluation.minGoldenSetItems': 0 is outside 1-5000",
        ),
        ("dev", {"idleBudgetUsd": -1}, "key 'idleBudgetUsd': -1.0 must not be negative"),
        (
            "dev",
            {"llmops": {"evaluation": {"minRedTeamBlockRate": 1.5}}},
            "key 'llmops.evaluation.minRedTeamBlockRate': 1.5 is not a fraction in [0, 1]",
        ),
        (
            "dev",
            {"llmops": {"evaluation": {"minRecallAtK": 1.2}}},
            "key 'llmops.evaluation.minRecallAtK': 1.2 is not a fraction in [0, 1]",
        ),
        (
            "dev",
            {"llmops": {"evaluation": {"minContextRelevance": -0.1}}},
            "key 'llmops.evaluation.minContextRelevance': -0.1 is not a fraction in [0, 1]",
        ),
        (
            "dev",
            {"llmops": {"evaluation": {"minFaithfulness": "high"}}},
            "key 'llmops.evaluation.minFaithfulness': expected a number, got 'high'",
        ),
        (
            "dev",
            {"llmops": {"evaluation": {"embeddingModelId": "titan embeddings"}}},
            "key 'llmops.evaluation.embeddingModelId': 'titan embeddings' is not a Bedrock model ID",
        ),
        (
            "dev",
            {"llmops": {"evaluation": {"embeddingInputPer1kUsd": -0.1}}},
            "key 'llmops.evaluation.embeddingInputPer1kUsd': -0.1 is not a price per 1,000 tokens",
        ),
        ("dev", {"colour": "blue"}, "environment 'dev': unknown key(s) 'colour'"),
        ("dev", {"glue": {"crawlerSchedul": "cron(0 3 * * ? *)"}}, "unknown key(s) 'glue.crawlerSchedul'"),
        (
            "dev",
            {"removalPolicy": "snapshot"},
            "key 'removalPolicy': 'snapshot' is not one of 'retain', 'destroy'",
        ),
        ("prod", {"removalPolicy": "destroy", "autoDeleteObjects": False}, "prod keeps its data"),
        ("preprod", {"removalPolicy": "retain"}, "key 'autoDeleteObjects': emptying buckets on delete"),
        (
            "dev",
            {"logRetentionDays": 10},
            "key 'logRetentionDays': 10 is not a CloudWatch Logs retention period",
        ),
        ("dev", {"alarmEmail": "not-an-email"}, "key 'alarmEmail': 'not-an-email' is not an email address"),
        (
            "dev",
            {"glue": {"crawlerSchedule": "rate(1 day)"}},
            "key 'glue.crawlerSchedule': 'rate(1 day)' is not",
        ),
        ("dev", {"glue": {"etlNumberOfWorkers": 1}}, "key 'glue.etlNumberOfWorkers': 1 is outside 2-100"),
        ("dev", {"glue": {"etlWorkerType": "G.8X"}}, "key 'glue.etlWorkerType': 'G.8X' is not one of"),
        ("dev", {"athena": {"bytesScannedCutoffPerQuery": 1000}}, "below Athena's minimum of 10485760"),
        ("dev", {"studio": {"networkAccess": "Open"}}, "key 'studio.networkAccess': 'Open' is not one of"),
        (
            "dev",
            {"studio": {"availabilityZoneCount": 1}},
            "key 'studio.availabilityZoneCount': 1 is outside 2-3",
        ),
        ("dev", {"dataLake": {"rawInfrequentAccessAfterDays": 10}}, "at least 30 days before STANDARD_IA"),
        (
            "dev",
            {"dataLake": {"rawGlacierAfterDays": 40}},
            "key 'dataLake.rawGlacierAfterDays': must be at least",
        ),
        ("dev", {"dataLake": "yes"}, "key 'dataLake': expected an object, got str"),
        ("dev", {"training": {"aucThreshold": "high"}}, "key 'training.aucThreshold': expected a number, got 'high'"),
        ("dev", {"training": {"aucThreshold": 0.3}}, "key 'training.aucThreshold': 0.3 is outside 0.5-1.0"),
        ("dev", {"training": {"trainingInstanceType": "m5.large"}}, "'m5.large' is not a SageMaker instance type"),
        ("dev", {"training": {"schedule": "every monday"}}, "key 'training.schedule': 'every monday' is not"),
        (
            "dev",
            {"training": {"registryReaderAccounts": ["2222"]}},
            "key 'training.registryReaderAccounts[0]': '2222' is not a 12-digit AWS account ID",
        ),
        (
            "dev",
            {"training": {"registryReaderAccounts": ["111111111111"]}},
            "key 'training.registryReaderAccounts[0]': is this environment's own account",
        ),
        (
            "dev",
            {"mskStreaming": True},
            "environment 'dev', key 'mskStreaming': needs testStrategies",
        ),
        (
            "preprod",
            {"mskStreaming": True, "maxLevel": 1},
            "environment 'preprod', key 'mskStreaming': the MSK streaming test is part of Level 2, but maxLevel is 1",
        ),
        ("preprod", {"mskStreaming": "on"}, "key 'mskStreaming': expected true or false, got 'on'"),
    ],
)
def test_bad_values_are_rejected_with_environment_and_key(env, overrides, message):
    context = copy.deepcopy(CONTEXT)
    entry = context["mlops:environments"][env]
    for key, value in overrides.items():
        if isinstance(value, dict) and isinstance(entry.get(key), dict):
            entry[key] = {**entry[key], **value}
        else:
            entry[key] = value
    with pytest.raises(ConfigError) as error:
        load_environment(context, env)
    assert message in str(error.value)


def test_missing_environment_names_the_known_ones():
    with pytest.raises(
        ConfigError, match=r"environment 'staging' is not defined .* \(known: dev, local, preprod, prod\)"
    ):
        load_environment(CONTEXT, "staging")


def test_missing_key_is_named():
    context = copy.deepcopy(CONTEXT)
    del context["mlops:defaults"]["maxLevel"]
    with pytest.raises(ConfigError, match="environment 'preprod': missing key 'maxLevel'"):
        load_environment(context, "preprod")


def test_missing_nested_key_is_named():
    context = copy.deepcopy(CONTEXT)
    del context["mlops:defaults"]["glue"]["crawlerSchedule"]
    with pytest.raises(ConfigError, match=r"environment 'dev': missing key 'glue\.crawlerSchedule'"):
        load_environment(context, "dev")


def test_no_environments_at_all():
    with pytest.raises(ConfigError, match="'mlops:environments' must be a non-empty object"):
        load_environment({}, "dev")


def test_bad_environment_name():
    context = copy.deepcopy(CONTEXT)
    context["mlops:environments"]["Prod_EU"] = context["mlops:environments"]["prod"]
    with pytest.raises(ConfigError, match="environment 'Prod_EU': names must be"):
        load_all_environments(context)


def test_broken_cdk_json_is_reported(tmp_path):
    broken = tmp_path / "cdk.json"
    broken.write_text('{"context": {')
    with pytest.raises(ValueError, match=r"cdk\.json is not valid JSON"):
        read_cdk_context(broken)
    broken.write_text(json.dumps({"app": "x"}))
    with pytest.raises(ValueError, match=r"cdk\.json has no 'context' object"):
        read_cdk_context(broken)


def _teams(**changes: Any) -> list[dict[str, Any]]:
    """cdk.json's example teams, with `changes` applied to the first one."""
    teams = copy.deepcopy(CONTEXT["mlops:defaults"]["teams"])
    teams[0].update(changes)
    return teams


@pytest.mark.parametrize(
    ("teams", "message"),
    [
        ([], "environment 'dev', key 'teams': Level 3 is about teams: list at least one team"),
        (_teams(name="Churn"), "key 'teams[0].name': 'Churn' must be 2-20 lowercase letters"),
        (_teams(name="explorer"), "key 'teams[0].name': 'explorer' is the Level 0 Studio profile's name"),
        (_teams(name="fraud"), "key 'teams[1].name': team 'fraud' is listed twice"),
        (_teams(dataScientists=[]), "key 'teams[0].dataScientists': team 'churn': list who may assume this role"),
        (
            _teams(mlEngineers=["alice"]),
            "key 'teams[0].mlEngineers[0]': 'alice' is neither an IAM role ARN nor 'sso:<PermissionSetName>'",
        ),
        (_teams(allowedInstanceTypes=[]), "key 'teams[0].allowedInstanceTypes': list at least one"),
        (_teams(allowedInstanceTypes=["m5.large"]), "key 'teams[0].allowedInstanceTypes[0]': 'm5.large' is not"),
        (
            _teams(allowedInstanceTypes=["ml.t3.medium"]),
            "key 'teams[0].allowedInstanceTypes': team 'churn' runs its own pipelines, which use ml.m5.large",
        ),
        (_teams(monthlyBudgetUsd=0), "key 'teams[0].monthlyBudgetUsd': 0.0 is outside 1-1000000"),
        (_teams(budgetEmail="team"), "key 'teams[0].budgetEmail': 'team' is not an email address"),
        (_teams(documentDb="yes"), "key 'teams[0].documentDb': expected true or false, got 'yes'"),
        (_teams(costCenter=None), "environment 'dev': missing key 'teams[0].costCenter'"),
        (_teams(owner="me"), "unknown key(s) 'teams[0].owner'"),
    ],
)
def test_bad_teams_are_refused_with_the_key_named(teams, message):
    context = context_with("dev", teams=teams)
    if teams and "costCenter" in teams[0] and teams[0]["costCenter"] is None:
        del context["mlops:environments"]["dev"]["teams"][0]["costCenter"]
    with pytest.raises(ConfigError, match=re.escape(message)):
        load_environment(context, "dev")


def test_teams_may_be_empty_below_level_3_and_members_may_be_role_arns():
    below_level_3 = context_with("dev", maxLevel=2, teams=[], delivery={"pipeline": True, "githubActions": False})
    assert load_environment(below_level_3, "dev").teams == ()
    role = "arn:aws:iam::444444444444:role/identity/churn-scientists"
    config = load_environment(context_with("dev", teams=_teams(dataScientists=[role, "sso:Churn"])), "dev")
    assert config.teams[0].data_scientists == (role, "sso:Churn")


@pytest.mark.parametrize(
    ("members", "message"),
    [
        ([], "key 'studio.dataScientists': list who may assume the data-scientist role"),
        (["*"], "key 'studio.dataScientists[0]': '*' is neither an IAM role ARN nor 'sso:<PermissionSetName>'"),
        (
            ["sso:Ok", "arn:aws:iam::111111111111:root"],
            "key 'studio.dataScientists[1]': 'arn:aws:iam::111111111111:root' is neither an IAM role ARN",
        ),
    ],
)
def test_the_level0_data_scientists_are_named_people_not_the_account(members, message):
    context = context_with("dev", studio={"dataScientists": members})
    with pytest.raises(ConfigError, match=re.escape(message)):
        load_environment(context, "dev")


def test_document_db_needs_a_studio_that_reaches_the_vpc():
    public = context_with("dev", teams=_teams(documentDb=True), studio={"networkAccess": "PublicInternetOnly"})
    with pytest.raises(
        ConfigError,
        match=re.escape(
            "environment 'dev', key 'teams[0].documentDb': team 'churn': DocumentDB runs in the Studio VPC, which "
            "Studio apps only reach with studio.networkAccess 'VpcOnly'"
        ),
    ):
        load_environment(public, "dev")
    vpc_only = context_with("dev", teams=_teams(documentDb=True), studio={"networkAccess": "VpcOnly"})
    assert load_environment(vpc_only, "dev").teams[0].document_db


@pytest.mark.parametrize(
    ("delivery", "max_level", "message"),
    [
        ({"githubActions": True}, 2, "key 'delivery.githubActions': GitHub Actions deployment is part of Level 3"),
        ({"githubActions": True, "targets": []}, 3, "key 'delivery.targets': GitHub Actions needs at least one"),
        (
            {"githubOidcProviderArn": "arn:aws:iam::111111111111:oidc-provider/gitlab.com"},
            3,
            "key 'delivery.githubOidcProviderArn': 'arn:aws:iam::111111111111:oidc-provider/gitlab.com' is not the ARN",
        ),
    ],
)
def test_bad_github_actions_settings_are_refused(delivery, max_level, message):
    context = context_with("dev", maxLevel=max_level, delivery={"pipeline": False, **delivery})
    with pytest.raises(ConfigError, match=re.escape(message)):
        load_environment(context, "dev")


GOOD_APP = {
    "enabled": True,
    "domainName": "llm.example.com",
    "certificateArn": "arn:aws:acm:eu-west-1:111111111111:certificate/0f0e0d0c-0b0a-4909-8807-060504030201",
    "cognitoDomainPrefix": "my-org-llm",
}


@pytest.mark.parametrize(
    ("app", "message"),
    [
        ({**GOOD_APP, "domainName": None}, "key 'llmops.app.domainName': None is not a DNS name"),
        ({**GOOD_APP, "domainName": "https://llm.example.com"}, "key 'llmops.app.domainName': 'https://llm"),
        ({**GOOD_APP, "certificateArn": None}, "key 'llmops.app.certificateArn': None is not an ACM certificate ARN"),
        (
            {**GOOD_APP, "certificateArn": GOOD_APP["certificateArn"].replace("eu-west-1", "us-east-1")},
            "key 'llmops.app.certificateArn': the certificate is in us-east-1; the load balancer needs one in "
            "eu-west-1",
        ),
        ({**GOOD_APP, "cognitoDomainPrefix": "aws-llm"}, "key 'llmops.app.cognitoDomainPrefix': 'aws-llm' must be"),
        ({**GOOD_APP, "cpu": 300}, "key 'llmops.app.cpu': 300 is not a Fargate CPU size"),
        ({**GOOD_APP, "memoryMb": 512}, "key 'llmops.app.memoryMb': 512 is outside 1024-4096 MiB"),
        ({**GOOD_APP, "minTasks": 4}, "key 'llmops.app.minTasks': need 1 <= minTasks <= maxTasks <= 20"),
        ({**GOOD_APP, "targetCpuPercent": 95}, "key 'llmops.app.targetCpuPercent': 95 is outside 10-90"),
    ],
)
def test_bad_app_settings_are_refused(app, message):
    with pytest.raises(ConfigError, match=re.escape(message)):
        load_environment(context_with("dev", llmops={"app": app}), "dev")


def test_the_app_needs_llmops_and_a_good_entry_loads():
    with pytest.raises(ConfigError, match=re.escape("key 'llmops.app.enabled': the app calls the LLM gateway")):
        load_environment(context_with("dev", llmops={"enabled": False, "app": GOOD_APP}), "dev")
    app = load_environment(context_with("dev", llmops={"app": GOOD_APP}), "dev").llmops.app
    assert app.enabled and app.cpu == 512 and app.memory_mb == 1024 and app.waf


# --------------------------------------------------------------------------------------------------
# Bedrock models: lifecycle and inference profiles (stacks/bedrock_models.json)


def _models(*ids: str) -> list[dict[str, Any]]:
    return [{"id": model_id, "inputPer1kUsd": 0.001, "outputPer1kUsd": 0.002} for model_id in ids]


def _llmops_context(env: str, region: str, **llmops: Any) -> dict[str, Any]:
    context = copy.deepcopy(CONTEXT)
    entry = context["mlops:environments"][env]
    entry["region"] = region
    entry["llmops"] = {**entry.get("llmops", {}), **llmops}
    return context


@pytest.mark.parametrize(
    ("region", "llmops", "message"),
    [
        (
            "eu-west-1",
            {"models": _models("eu.amazon.nova-lite-v1:0", "anthropic.claude-3-haiku-20240307-v1:0")},
            "environment 'dev', key 'llmops.models[1].id': 'anthropic.claude-3-haiku-20240307-v1:0' (Claude 3 Haiku) "
            "reached end of life on Bedrock on 2026-09-10; use 'eu.anthropic.claude-haiku-4-5-20251001-v1:0' instead",
        ),
        (
            "eu-west-1",
            {"evaluation": {"judgeModelId": "anthropic.claude-3-haiku-20240307-v1:0"}},
            "environment 'dev', key 'llmops.evaluation.judgeModelId': 'anthropic.claude-3-haiku-20240307-v1:0' "
            "(Claude 3 Haiku) reached end of life on Bedrock on 2026-09-10; use "
            "'eu.anthropic.claude-haiku-4-5-20251001-v1:0' instead",
        ),
        (
            "us-east-2",
            {"models": _models("us.amazon.nova-lite-v1:0", "anthropic.claude-3-haiku-20240307-v1:0")},
            "use 'us.anthropic.claude-haiku-4-5-20251001-v1:0' instead",
        ),
        (
            "eu-west-1",
            {"models": _models("amazon.nova-lite-v1:0")},
            "environment 'dev', key 'llmops.models[0].id': 'amazon.nova-lite-v1:0' (Amazon Nova Lite) is served in "
            "eu-west-1 only through a cross-Region inference profile; use 'eu.amazon.nova-lite-v1:0'",
        ),
        (
            "eu-west-1",
            {"models": _models("us.amazon.nova-lite-v1:0")},
            "key 'llmops.models[0].id': 'us.amazon.nova-lite-v1:0' is a cross-Region inference profile of the 'us' "
            "geography, which cannot be called from eu-west-1; use 'eu.amazon.nova-lite-v1:0'",
        ),
        (
            "ca-central-1",
            {
                "models": _models(
                    "global.anthropic.claude-haiku-4-5-20251001-v1:0", "anthropic.claude-3-haiku-20240307-v1:0"
                )
            },
            "'anthropic.claude-3-haiku-20240307-v1:0' (Claude 3 Haiku) is a Legacy model on Bedrock in ca-central-1",
        ),
    ],
)
def test_models_that_bedrock_no_longer_serves_or_serves_only_through_a_profile_are_refused(region, llmops, message):
    with pytest.raises(ConfigError) as caught:
        load_environment(_llmops_context("dev", region, **llmops), "dev")
    assert message in str(caught.value)
    assert str(caught.value).count(". ") == 0, "one sentence"


@pytest.mark.parametrize(
    ("region", "model_id"),
    [
        ("eu-west-1", "eu.amazon.nova-lite-v1:0"),
        ("us-east-1", "amazon.nova-lite-v1:0"),  # served in Region there
        ("eu-west-1", "global.anthropic.claude-haiku-4-5-20251001-v1:0"),
        ("ap-southeast-2", "au.anthropic.claude-haiku-4-5-20251001-v1:0"),
        ("eu-west-1", "meta.llama3-1-8b-instruct-v1:0"),  # not in the table: nothing to say offline
    ],
)
def test_active_models_called_the_way_the_region_needs_are_accepted(region, model_id):
    judge = "global.anthropic.claude-haiku-4-5-20251001-v1:0"
    config = load_environment(
        _llmops_context("dev", region, models=_models(model_id), evaluation={"judgeModelId": judge}), "dev"
    )
    assert [m.id for m in config.llmops.models] == [model_id]


def test_a_disabled_llmops_does_not_check_its_models():
    context = _llmops_context("dev", "eu-west-1", enabled=False, models=_models("amazon.nova-lite-v1:0"))
    assert not load_environment(context, "dev").llmops.enabled


def test_two_environments_cannot_both_own_invocation_logging_in_one_account_and_region():
    context = copy.deepcopy(CONTEXT)
    environments = context["mlops:environments"]
    environments["qa"] = {
        **copy.deepcopy(environments["dev"]),
        "llmops": {"invocationLogging": True},
    }
    for name in ("dev", "qa"):
        environments[name]["llmops"] = {**environments[name].get("llmops", {}), "invocationLogging": True}
    account, region = environments["dev"]["account"], environments["dev"]["region"]
    with pytest.raises(ConfigError) as caught:
        load_environment(context, "dev")
    assert str(caught.value) == (
        "environment 'dev', key 'llmops.invocationLogging': Bedrock invocation logging is one setting per account "
        f"and Region, and environment 'qa' also enables it in {account}/{region}; set llmops.invocationLogging to "
        "false in one of them"
    )
    # Off in one of them, or another Region of the same account: each owns its own setting.
    environments["qa"]["llmops"]["invocationLogging"] = False
    assert load_environment(context, "dev").llmops.invocation_logging
    environments["qa"]["llmops"]["invocationLogging"] = True
    environments["qa"]["region"] = "eu-central-1"
    assert load_environment(context, "dev").llmops.invocation_logging
