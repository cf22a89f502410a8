"""The checks across keys that typed parsing cannot make: each failure is one sentence naming environment and key."""

from __future__ import annotations

import typing
from collections.abc import Mapping
from typing import Any

from pipelines.training import images
from stacks.clarify_config import clarify_problems
from stacks.config.model import ConfigError, EnvironmentConfig, pascal
from stacks.config.patterns import (
    _ACCOUNT_RE,
    _CERTIFICATE_ARN_RE,
    _COGNITO_PREFIX_RE,
    _CONNECTION_ARN_RE,
    _DOMAIN_NAME_RE,
    _EMAIL_RE,
    _GITHUB_PROVIDER_ARN_RE,
    _INSTANCE_TYPE_RE,
    _MODEL_ID_RE,
    _REPOSITORY_RE,
    _ROLE_ARN_RE,
    _SCHEDULE_RE,
    _SSO_PERMISSION_SET_RE,
    _TEAM_NAME_RE,
    ATHENA_MIN_CUTOFF_BYTES,
    AWS_REGIONS,
    FARGATE_MEMORY_MB,
    LOG_RETENTION_DAYS,
    MAX_LEVEL,
    RESERVED_PROFILE_NAME,
)
from stacks.feature_store_config import check_feature_store
from stacks.knowledge_base_config import check_knowledge_base
from stacks.mlflow_config import mlflow_problems
from stacks.model_catalog import shipped_catalog


def _check_semantics(cfg: EnvironmentConfig) -> None:
    def fail(key: str, message: str) -> typing.NoReturn:
        raise ConfigError(f"environment {cfg.name!r}, key '{key}': {message}")

    if not _ACCOUNT_RE.match(cfg.account):
        fail("account", f"{cfg.account!r} is not a 12-digit AWS account ID")
    if cfg.region not in AWS_REGIONS:
        fail("region", f"{cfg.region!r} is not a known AWS region")
    if cfg.max_level >= 1 and cfg.region not in images.SUPPORTED_REGIONS:
        fail(
            "region",
            f"no SageMaker image registry is known for {cfg.region!r} (Level 1 supports: "
            f"{', '.join(images.SUPPORTED_REGIONS)}; or set maxLevel to 0)",
        )
    if not 0 <= cfg.max_level <= MAX_LEVEL:
        fail("maxLevel", f"{cfg.max_level} is not a maturity level (0-{MAX_LEVEL})")
    if cfg.log_retention_days not in LOG_RETENTION_DAYS:
        fail("logRetentionDays", f"{cfg.log_retention_days} is not a CloudWatch Logs retention period")
    if not _EMAIL_RE.match(cfg.alarm_email):
        fail("alarmEmail", f"{cfg.alarm_email!r} is not an email address")
    if cfg.auto_delete_objects and cfg.removal_policy != "destroy":
        fail("autoDeleteObjects", "emptying buckets on delete only makes sense with removalPolicy 'destroy'")
    if cfg.production and cfg.removal_policy != "retain":
        fail("removalPolicy", "a production environment keeps its data: it must be 'retain'")
    if cfg.production and cfg.emulator:
        fail("emulator", "a production environment cannot be the local emulator's")

    lake = cfg.data_lake
    if lake.raw_infrequent_access_after_days < 30:
        fail("dataLake.rawInfrequentAccessAfterDays", "S3 needs at least 30 days before STANDARD_IA")
    if lake.raw_glacier_after_days < lake.raw_infrequent_access_after_days + 30:
        fail(
            "dataLake.rawGlacierAfterDays",
            "must be at least 30 days after dataLake.rawInfrequentAccessAfterDays",
        )
    for key, days in (
        ("dataLake.noncurrentVersionExpirationDays", lake.noncurrent_version_expiration_days),
        ("dataLake.accessLogExpirationDays", lake.access_log_expiration_days),
    ):
        if days < 1:
            fail(key, f"{days} must be at least 1 day")

    glue = cfg.glue
    if not _SCHEDULE_RE.match(glue.crawler_schedule):
        fail("glue.crawlerSchedule", f"{glue.crawler_schedule!r} is not a cron(...) expression with 6 fields")
    if not 2 <= glue.etl_number_of_workers <= 100:
        fail("glue.etlNumberOfWorkers", f"{glue.etl_number_of_workers} is outside 2-100")
    if not 1 <= glue.etl_timeout_minutes <= 2880:
        fail("glue.etlTimeoutMinutes", f"{glue.etl_timeout_minutes} is outside 1-2880")

    if cfg.athena.bytes_scanned_cutoff_per_query < ATHENA_MIN_CUTOFF_BYTES:
        fail(
            "athena.bytesScannedCutoffPerQuery",
            f"{cfg.athena.bytes_scanned_cutoff_per_query} is below Athena's minimum of {ATHENA_MIN_CUTOFF_BYTES}",
        )

    training = cfg.training
    if not _SCHEDULE_RE.match(training.schedule):
        fail("training.schedule", f"{training.schedule!r} is not a cron(...) expression with 6 fields")
    for key, instance_type in (
        ("training.processingInstanceType", training.processing_instance_type),
        ("training.trainingInstanceType", training.training_instance_type),
    ):
        if not _INSTANCE_TYPE_RE.match(instance_type):
            fail(key, f"{instance_type!r} is not a SageMaker instance type like 'ml.m5.large'")
    if not 0.5 <= training.auc_threshold <= 1.0:
        fail("training.aucThreshold", f"{training.auc_threshold} is outside 0.5-1.0 (0.5 is a coin toss)")
    for key, message in clarify_problems(training.clarify):
        fail(f"training.clarify.{key}", message)
    for key, message in mlflow_problems(cfg.mlflow):
        fail(f"mlflow.{key}", message)
    for index, reader in enumerate(training.registry_reader_accounts):
        if not _ACCOUNT_RE.match(reader):
            fail(f"training.registryReaderAccounts[{index}]", f"{reader!r} is not a 12-digit AWS account ID")
        if reader == cfg.account:
            fail(f"training.registryReaderAccounts[{index}]", "is this environment's own account")

    delivery = cfg.delivery
    if delivery.pipeline:
        if not delivery.targets:
            fail("delivery.targets", "the pipeline needs at least one environment to deploy to")
        if cfg.name in delivery.targets:
            fail("delivery.targets", f"the pipeline's own environment {cfg.name!r} cannot be a target")
        if not delivery.approver_emails:
            fail("delivery.approverEmails", "the manual approval needs at least one approver")
        if not _REPOSITORY_RE.match(delivery.repository):
            fail("delivery.repository", f"{delivery.repository!r} is not 'owner/name'")
    if delivery.github_actions:
        if cfg.max_level < 3:
            fail("delivery.githubActions", "GitHub Actions deployment is part of Level 3: set maxLevel to 3")
        if not delivery.targets:
            fail("delivery.targets", "GitHub Actions needs at least one environment to deploy to")
        if not _REPOSITORY_RE.match(delivery.repository):
            fail("delivery.repository", f"{delivery.repository!r} is not 'owner/name'")
    provider = delivery.github_oidc_provider_arn
    if provider and not _GITHUB_PROVIDER_ARN_RE.match(provider):
        fail("delivery.githubOidcProviderArn", f"{provider!r} is not the ARN of a GitHub Actions OIDC provider")
    if delivery.connection_arn and not _CONNECTION_ARN_RE.match(delivery.connection_arn):
        fail("delivery.connectionArn", f"{delivery.connection_arn!r} is not a CodeConnections connection ARN")
    for index, email in enumerate(delivery.approver_emails):
        if not _EMAIL_RE.match(email):
            fail(f"delivery.approverEmails[{index}]", f"{email!r} is not an email address")
    endpoint = cfg.endpoint
    if not _INSTANCE_TYPE_RE.match(endpoint.instance_type):
        fail("endpoint.instanceType", f"{endpoint.instance_type!r} is not a SageMaker instance type")
    if not 1 <= endpoint.min_instances <= endpoint.max_instances:
        fail("endpoint.minInstances", "must be at least 1 and at most endpoint.maxInstances")
    if endpoint.serverless_memory_mb not in (1024, 2048, 3072, 4096, 5120, 6144):
        fail("endpoint.serverlessMemoryMb", f"{endpoint.serverless_memory_mb} is not 1024-6144 in steps of 1024")
    if not 1 <= endpoint.serverless_max_concurrency <= 200:
        fail("endpoint.serverlessMaxConcurrency", f"{endpoint.serverless_max_concurrency} is outside 1-200")
    if not 0 <= endpoint.data_capture_percent <= 100:
        fail("endpoint.dataCapturePercent", f"{endpoint.data_capture_percent} is not a percentage")
    if not 0.5 <= endpoint.min_auc <= 1.0:
        fail("endpoint.minAuc", f"{endpoint.min_auc} is outside 0.5-1.0")
    if endpoint.p99_latency_ms < 1 or endpoint.target_invocations_per_instance < 1:
        fail("endpoint.p99LatencyMs", "latency and invocation targets must be positive")

    llm = cfg.llmops
    if llm.enabled and not llm.models:
        fail("llmops.models", "list at least one model when LLMOps is enabled")
    seen: set[str] = set()
    for index, model in enumerate(llm.models):
        if not _MODEL_ID_RE.match(model.id):
            fail(f"llmops.models[{index}].id", f"{model.id!r} is not a Bedrock model or inference profile ID")
        if model.id in seen:
            fail(f"llmops.models[{index}].id", f"{model.id!r} is listed twice")
        seen.add(model.id)
        for key, price in (("inputPer1kUsd", model.input_per1k_usd), ("outputPer1kUsd", model.output_per1k_usd)):
            if price < 0:
                fail(f"llmops.models[{index}].{key}", f"{price} must not be negative")
    for key, value, low, high in (
        ("llmops.maxTemplateBytes", llm.max_template_bytes, 64, 400_000),
        ("llmops.promptCacheSeconds", llm.prompt_cache_seconds, 0, 3600),
        ("llmops.latencyP99Ms", llm.latency_p99_ms, 1, 900_000),
    ):
        if not low <= value <= high:
            fail(key, f"{value} is outside {low}-{high}")
    for key, rate in (
        ("llmops.errorRatePercent", llm.error_rate_percent),
        ("llmops.guardrailInterventionRatePercent", llm.guardrail_intervention_rate_percent),
    ):
        if not 0 < rate <= 100:
            fail(key, f"{rate} is not a percentage in (0, 100]")
    evaluation = llm.evaluation
    if not _MODEL_ID_RE.match(evaluation.judge_model_id):
        fail("llmops.evaluation.judgeModelId", f"{evaluation.judge_model_id!r} is not a Bedrock model ID")
    if not _MODEL_ID_RE.match(evaluation.embedding_model_id):
        fail("llmops.evaluation.embeddingModelId", f"{evaluation.embedding_model_id!r} is not a Bedrock model ID")
    if not 0 <= evaluation.embedding_input_per1k_usd < 1:
        fail(
            "llmops.evaluation.embeddingInputPer1kUsd",
            f"{evaluation.embedding_input_per1k_usd} is not a price per 1,000 tokens in [0, 1) USD",
        )
    if llm.enabled:
        # The model table (stacks/bedrock_models.json): EOL and Legacy models, and bare IDs that this Region
        # serves only through a cross-Region inference profile, fail at the first call on AWS.
        catalog = shipped_catalog()
        for key, model_id in [(f"llmops.models[{i}].id", m.id) for i, m in enumerate(llm.models)] + [
            ("llmops.evaluation.judgeModelId", evaluation.judge_model_id)
        ]:
            problem = catalog.problem(model_id, cfg.region)
            if problem:
                fail(key, problem)
    weights = (evaluation.speed_weight, evaluation.precision_weight, evaluation.cost_weight)
    if min(weights) < 0 or sum(weights) == 0:
        fail("llmops.evaluation", "speedWeight, precisionWeight and costWeight must be >= 0 and not all 0")
    for key, fraction in (
        ("llmops.evaluation.minAccuracy", evaluation.min_accuracy),
        ("llmops.evaluation.minRougeL", evaluation.min_rouge_l),
        ("llmops.evaluation.maxHallucinationRate", evaluation.max_hallucination_rate),
        ("llmops.evaluation.maxJudgeUnparseableRate", evaluation.max_judge_unparseable_rate),
        ("llmops.evaluation.minRedTeamBlockRate", evaluation.min_red_team_block_rate),
        ("llmops.evaluation.minRecallAtK", evaluation.min_recall_at_k),
        ("llmops.evaluation.minContextRelevance", evaluation.min_context_relevance),
        ("llmops.evaluation.minFaithfulness", evaluation.min_faithfulness),
    ):
        if fraction is not None and not 0 <= fraction <= 1:
            fail(key, f"{fraction} is not a fraction in [0, 1]")
    if evaluation.min_accuracy <= 0 and evaluation.min_rouge_l <= 0:
        fail(
            "llmops.evaluation",
            "minAccuracy or minRougeL must be above 0: a gate without a quality floor passes any model",
        )
    if not 1 <= evaluation.min_golden_set_items <= 5000:
        fail("llmops.evaluation.minGoldenSetItems", f"{evaluation.min_golden_set_items} is outside 1-5000")
    _check_app(cfg, fail)
    check_knowledge_base(llm.knowledge_base, region=cfg.region, llmops_enabled=llm.enabled, fail=fail)
    if llm.hourly_cost_budget_usd <= 0:
        fail("llmops.hourlyCostBudgetUsd", f"{llm.hourly_cost_budget_usd} must be positive")
    if cfg.idle_budget_usd < 0:
        fail("idleBudgetUsd", f"{cfg.idle_budget_usd} must not be negative")

    if cfg.msk_streaming:
        if cfg.max_level < 2:
            fail("mskStreaming", f"the MSK streaming test is part of Level 2, but maxLevel is {cfg.max_level}")
        if not cfg.test_strategies:
            fail("mskStreaming", "needs testStrategies: MSK feeds the streaming test strategy's consumer")

    if not 2 <= cfg.studio.availability_zone_count <= 3:
        fail("studio.availabilityZoneCount", f"{cfg.studio.availability_zone_count} is outside 2-3")
    if not cfg.studio.data_scientists:
        fail("studio.dataScientists", "list who may assume the data-scientist role")
    for index, member in enumerate(cfg.studio.data_scientists):
        if not (_ROLE_ARN_RE.match(member) or _SSO_PERMISSION_SET_RE.match(member)):
            fail(
                f"studio.dataScientists[{index}]",
                f"{member!r} is neither an IAM role ARN nor 'sso:<PermissionSetName>'",
            )
    _check_teams(cfg, fail)
    _check_endpoint_names(cfg, fail)
    check_feature_store(cfg, fail)


def _check_shared_account_settings(
    cfg: EnvironmentConfig, defaults: Mapping[str, Any], environments: Mapping[str, Any]
) -> None:
    """Settings that exist once per account and Region must be owned by one environment of cdk.json.

    Bedrock model invocation logging is one configuration per account and Region: a second environment
    that enables it would overwrite the first one's destinations, and deleting either stack would switch
    logging off for both.
    """
    if not (cfg.llmops.enabled and cfg.llmops.invocation_logging):
        return
    for other_name, other_entry in environments.items():
        if other_name == cfg.name or not isinstance(other_entry, Mapping):
            continue
        from stacks.config.loading import _deep_merge  # loading imports this module: import at call time

        other = _deep_merge(defaults, other_entry)
        llmops = other.get("llmops")
        if not isinstance(llmops, Mapping):
            continue
        if (other.get("account"), other.get("region")) == (cfg.account, cfg.region) and (
            llmops.get("enabled") is True and llmops.get("invocationLogging") is True
        ):
            raise ConfigError(
                f"environment {cfg.name!r}, key 'llmops.invocationLogging': Bedrock invocation logging is one "
                f"setting per account and Region, and environment {other_name!r} also enables it in "
                f"{cfg.account}/{cfg.region}; set llmops.invocationLogging to false in one of them"
            )


def _check_app(cfg: EnvironmentConfig, fail: typing.Callable[[str, str], typing.NoReturn]) -> None:
    app = cfg.llmops.app
    if not app.enabled:
        return
    if not cfg.llmops.enabled:
        fail("llmops.app.enabled", "the app calls the LLM gateway: it needs llmops.enabled")
    if not app.domain_name or not _DOMAIN_NAME_RE.match(app.domain_name):
        fail(
            "llmops.app.domainName",
            f"{app.domain_name!r} is not a DNS name the certificate covers (e.g. llm.example.com)",
        )
    certificate = _CERTIFICATE_ARN_RE.match(app.certificate_arn or "")
    if not certificate:
        fail("llmops.app.certificateArn", f"{app.certificate_arn!r} is not an ACM certificate ARN (HTTPS is required)")
    if certificate.group(1) != cfg.region:
        fail(
            "llmops.app.certificateArn",
            f"the certificate is in {certificate.group(1)}; the load balancer needs one in {cfg.region}",
        )
    prefix = app.cognito_domain_prefix or ""
    if not _COGNITO_PREFIX_RE.match(prefix) or any(word in prefix for word in ("aws", "amazon", "cognito")):
        fail(
            "llmops.app.cognitoDomainPrefix",
            f"{app.cognito_domain_prefix!r} must be lowercase letters, digits and '-', "
            "without 'aws', 'amazon' or 'cognito'",
        )
    if app.cpu not in FARGATE_MEMORY_MB:
        fail("llmops.app.cpu", f"{app.cpu} is not a Fargate CPU size ({', '.join(map(str, FARGATE_MEMORY_MB))})")
    low, high = FARGATE_MEMORY_MB[app.cpu]
    if not low <= app.memory_mb <= high:
        fail(
            "llmops.app.memoryMb", f"{app.memory_mb} is outside {low}-{high} MiB, what Fargate allows for cpu {app.cpu}"
        )
    if not 1 <= app.min_tasks <= app.max_tasks <= 20:
        fail("llmops.app.minTasks", "need 1 <= minTasks <= maxTasks <= 20")
    if not 10 <= app.target_cpu_percent <= 90:
        fail("llmops.app.targetCpuPercent", f"{app.target_cpu_percent} is outside 10-90")


# SageMaker names are at most 63 characters. The promotion function names what it creates after the endpoint:
# "<endpoint>-v<version>-<8 hex>" (models, endpoint configs), "-data-quality", "-dq-<8 hex>", "-model-bias" ...;
# the longest, for versions up to 99999, adds 16. Its IAM statements name the same resources, so an endpoint name
# that needed shortening there would be refused by its own policy (and its alarms would watch another name).
MAX_ENDPOINT_NAME_LENGTH = 63 - len("-v99999-01234567")


def _check_endpoint_names(cfg: EnvironmentConfig, fail: typing.Callable[[str, str], typing.NoReturn]) -> None:
    if cfg.max_level < 2:
        return
    endpoints = [("mlops:namePrefix", cfg.use_case_name())]
    if cfg.max_level >= 3:
        endpoints += [(f"teams[{i}].name", cfg.use_case_name(t.name)) for i, t in enumerate(cfg.teams) if t.pipelines]
    for key, name in endpoints:
        if len(name) > MAX_ENDPOINT_NAME_LENGTH:
            fail(
                key,
                f"the endpoint name {name!r} has {len(name)} characters; at most {MAX_ENDPOINT_NAME_LENGTH} leave room "
                "for the names the promotion function derives from it within SageMaker's 63: shorten the name "
                "prefix, the environment name or the team name",
            )


def _check_teams(cfg: EnvironmentConfig, fail: typing.Callable[[str, str], typing.NoReturn]) -> None:
    if cfg.max_level >= 3 and not cfg.teams:
        fail("teams", "Level 3 is about teams: list at least one team (or set maxLevel below 3)")
    names: dict[str, str] = {}  # pascal(name), lowercased -> name
    for index, team in enumerate(cfg.teams):
        key = f"teams[{index}]"
        if not _TEAM_NAME_RE.match(team.name):
            fail(
                f"{key}.name",
                f"{team.name!r} must be 2-20 lowercase letters, digits or single '-' between them, "
                "starting with a letter",
            )
        construct_name = pascal(team.name).lower()
        if construct_name in names:
            other = names[construct_name]
            fail(
                f"{key}.name",
                f"team {team.name!r} is listed twice"
                if other == team.name
                else f"team {team.name!r} collides with team {other!r} (both are {pascal(team.name)!r} in "
                "resource IDs)",
            )
        names[construct_name] = team.name
        if team.name == RESERVED_PROFILE_NAME:
            fail(f"{key}.name", f"{team.name!r} is the Level 0 Studio profile's name; choose another")
        for field in ("dataScientists", "mlEngineers"):
            members = team.data_scientists if field == "dataScientists" else team.ml_engineers
            if not members:
                fail(f"{key}.{field}", f"team {team.name!r}: list who may assume this role")
            for member_index, member in enumerate(members):
                if not (_ROLE_ARN_RE.match(member) or _SSO_PERMISSION_SET_RE.match(member)):
                    fail(
                        f"{key}.{field}[{member_index}]",
                        f"{member!r} is neither an IAM role ARN nor 'sso:<PermissionSetName>'",
                    )
        if not team.allowed_instance_types:
            fail(f"{key}.allowedInstanceTypes", "list at least one SageMaker instance type")
        for type_index, instance_type in enumerate(team.allowed_instance_types):
            if not _INSTANCE_TYPE_RE.match(instance_type):
                fail(f"{key}.allowedInstanceTypes[{type_index}]", f"{instance_type!r} is not a SageMaker instance type")
        if team.pipelines:
            needed = {cfg.training.processing_instance_type, cfg.training.training_instance_type}
            if cfg.max_level >= 2:
                needed.add(cfg.endpoint.instance_type)
            missing = sorted(needed - set(team.allowed_instance_types))
            if missing:
                fail(
                    f"{key}.allowedInstanceTypes",
                    f"team {team.name!r} runs its own pipelines, which use {', '.join(missing)}: allow them too",
                )
        if team.document_db and cfg.studio.network_access != "VpcOnly":
            # PublicInternetOnly apps send everything but EFS through SageMaker's own VPC: no route to ours.
            fail(
                f"{key}.documentDb",
                f"team {team.name!r}: DocumentDB runs in the Studio VPC, which Studio apps only reach with "
                "studio.networkAccess 'VpcOnly' (it adds interface endpoints that cost money every hour); "
                "set it in this environment or turn documentDb off",
            )
        if not 1 <= team.monthly_budget_usd <= 1_000_000:
            fail(f"{key}.monthlyBudgetUsd", f"{team.monthly_budget_usd} is outside 1-1000000")
        if not _EMAIL_RE.match(team.budget_email):
            fail(f"{key}.budgetEmail", f"{team.budget_email!r} is not an email address")
