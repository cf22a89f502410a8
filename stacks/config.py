"""Typed, validated environment configuration.

`cdk.json` holds the environments under the context key ``mlops:environments`` and the values they
share under ``mlops:defaults``. Each environment's entry is merged over the defaults (nested objects
merge key by key) and parsed into frozen dataclasses, so every stack receives plain, typed values
decided at synth time. Bad input raises :class:`ConfigError` with a message that names the
environment, the key and what is wrong; nothing is silently ignored, unknown keys included.
"""

from __future__ import annotations

import dataclasses
import json
import re
import types
import typing
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal, TypeVar

from stacks.clarify_config import ClarifyConfig, clarify_problems
from stacks.mlflow_config import MlflowConfig, mlflow_problems
from stacks.model_catalog import shipped_catalog

ENVIRONMENTS_KEY = "mlops:environments"
DEFAULTS_KEY = "mlops:defaults"
SELECTED_ENV_KEY = "env"
DEFAULT_ENV_NAME = "dev"

MAX_LEVEL = 3

# Commercial partitions' regions. A static list keeps synth offline; extend it when AWS opens a region.
AWS_REGIONS = frozenset(
    {
        "af-south-1",
        "ap-east-1",
        "ap-east-2",
        "ap-northeast-1",
        "ap-northeast-2",
        "ap-northeast-3",
        "ap-south-1",
        "ap-south-2",
        "ap-southeast-1",
        "ap-southeast-2",
        "ap-southeast-3",
        "ap-southeast-4",
        "ap-southeast-5",
        "ap-southeast-7",
        "ca-central-1",
        "ca-west-1",
        "eu-central-1",
        "eu-central-2",
        "eu-north-1",
        "eu-south-1",
        "eu-south-2",
        "eu-west-1",
        "eu-west-2",
        "eu-west-3",
        "il-central-1",
        "me-central-1",
        "me-south-1",
        "mx-central-1",
        "sa-east-1",
        "us-east-1",
        "us-east-2",
        "us-west-1",
        "us-west-2",
    }
)

# The only values CloudWatch Logs accepts for a log group's retention.
LOG_RETENTION_DAYS = (
    1,
    3,
    5,
    7,
    14,
    30,
    60,
    90,
    120,
    150,
    180,
    365,
    400,
    545,
    731,
    1096,
    1827,
    2192,
    2557,
    2922,
    3288,
    3653,
)

ATHENA_MIN_CUTOFF_BYTES = 10 * 1024 * 1024  # the smallest per-query limit Athena accepts

_ACCOUNT_RE = re.compile(r"^[0-9]{12}\Z")
_EMAIL_RE = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+\Z")
_ENV_NAME_RE = re.compile(r"^[a-z][a-z0-9]{1,15}\Z")
_SCHEDULE_RE = re.compile(r"^cron\((\S+ ){5}\S+\)\Z")
# Foundation model IDs ("anthropic.claude-haiku-4-5-20251001-v1:0") and cross-region inference profiles
# ("eu.amazon.nova-lite-v1:0", "global.anthropic..."); stacks/bedrock_models.json says which a Region needs.
_MODEL_ID_RE = re.compile(r"^([a-z]{2,4}\.|global\.)?[a-z0-9-]+\.[a-z0-9.:-]+\Z")
_REPOSITORY_RE = re.compile(r"^[A-Za-z0-9_.-]+/[A-Za-z0-9_.-]+\Z")
_CONNECTION_ARN_RE = re.compile(
    r"^arn:aws[a-z-]*:(codeconnections|codestar-connections):[a-z0-9-]+:[0-9]{12}:connection/[0-9a-f-]+\Z"
)
_CERTIFICATE_ARN_RE = re.compile(r"^arn:aws[a-z-]*:acm:([a-z0-9-]+):[0-9]{12}:certificate/[0-9a-f-]+\Z")
_DOMAIN_NAME_RE = re.compile(r"^(?=.{4,253}\Z)([a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?\.)+[a-z]{2,63}\Z")
_COGNITO_PREFIX_RE = re.compile(r"^[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?\Z")
# Fargate's CPU units and the memory (MiB) each allows.
FARGATE_MEMORY_MB = {
    256: (512, 2048),
    512: (1024, 4096),
    1024: (2048, 8192),
    2048: (4096, 16384),
    4096: (8192, 30720),
}
_GITHUB_PROVIDER_ARN_RE = re.compile(
    r"^arn:aws[a-z-]*:iam::[0-9]{12}:oidc-provider/token\.actions\.githubusercontent\.com\Z"
)
_INSTANCE_TYPE_RE = re.compile(r"^ml\.[a-z0-9]+\.[a-z0-9]+\Z")
# Team names become parts of S3 prefixes, role names, tags and Studio profile names.
_TEAM_NAME_RE = re.compile(r"^[a-z][a-z0-9-]{1,19}\Z")
# Who may assume a team role: an IAM role ARN, or an IAM Identity Center permission set ("sso:Name"),
# whose provisioned role names are generated and are therefore matched by pattern.
_ROLE_ARN_RE = re.compile(r"^arn:aws[a-z-]*:iam::[0-9]{12}:role/[\w+=,.@/-]+\Z", re.ASCII)
RESERVED_PROFILE_NAME = "explorer"  # Level 0's shared Studio profile
_SSO_PERMISSION_SET_RE = re.compile(r"^sso:[\w+=,.@-]{1,32}\Z", re.ASCII)

RemovalPolicyName = Literal["retain", "destroy"]
StudioNetwork = Literal["PublicInternetOnly", "VpcOnly"]
GlueWorkerType = Literal["G.1X", "G.2X"]
EndpointMode = Literal["serverless", "provisioned"]

_T = TypeVar("_T")


PROJECT_ROOT = Path(__file__).resolve().parents[1]

# What the CDK CLI adds to the context from cdk.json's top-level settings, so that an in-process
# synth produces the same bytes as `npx cdk synth`.
CLI_CONTEXT = {
    "aws:cdk:enable-path-metadata": True,
    "aws:cdk:enable-asset-metadata": True,
    "aws:cdk:version-reporting": False,
}


def read_cdk_context(cdk_json: Path = PROJECT_ROOT / "cdk.json") -> dict[str, Any]:
    """The ``context`` block of cdk.json plus the CLI's settings, as `npx cdk` would pass them to the app."""
    try:
        document = json.loads(cdk_json.read_text())
    except json.JSONDecodeError as error:
        raise ValueError(f"{cdk_json.name} is not valid JSON: {error}") from error
    context = document.get("context")
    if not isinstance(context, dict):
        raise ValueError(f"{cdk_json.name} has no 'context' object")
    return {**context, **CLI_CONTEXT}


class ConfigError(ValueError):
    """cdk.json holds a value the project cannot deploy; the message names the environment and key."""


@dataclass(frozen=True)
class DataLakeConfig:
    """S3 data lake lifecycle: what ages into cheaper storage and when old versions go."""

    raw_infrequent_access_after_days: int
    raw_glacier_after_days: int
    noncurrent_version_expiration_days: int
    access_log_expiration_days: int


@dataclass(frozen=True)
class GlueConfig:
    """Crawler schedule and ETL job capacity."""

    crawler_schedule: str
    etl_worker_type: GlueWorkerType
    etl_number_of_workers: int
    etl_timeout_minutes: int


@dataclass(frozen=True)
class AthenaConfig:
    """Athena workgroup guard rails."""

    bytes_scanned_cutoff_per_query: int


@dataclass(frozen=True)
class TrainingConfig:
    """Level 1: defaults of the training pipeline's parameters, its schedule and the registry's readers."""

    schedule: str
    processing_instance_type: str
    training_instance_type: str
    auc_threshold: float
    registry_reader_accounts: tuple[str, ...]
    clarify: ClarifyConfig


@dataclass(frozen=True)
class DeliveryConfig:
    """Level 2 CI/CD: whether this environment hosts the pipeline, what it deploys to, who approves."""

    pipeline: bool
    targets: tuple[str, ...]
    connection_arn: str | None
    repository: str
    branch: str
    approver_emails: tuple[str, ...]
    github_actions: bool
    github_oidc_provider_arn: str | None


@dataclass(frozen=True)
class TeamConfig:
    """Level 3: one team, as data. Adding an entry gives the team its own bounded roles, Studio profile,
    data prefix, key, feature table, budget and (with ``pipelines``) its own copy of the Level 1-2 pipelines.

    ``data_scientists`` and ``ml_engineers`` name who may assume the team's two roles: IAM role ARNs
    (for example from an identity account) or ``sso:<PermissionSetName>`` for IAM Identity Center.
    """

    name: str
    cost_center: str
    data_scientists: tuple[str, ...]
    ml_engineers: tuple[str, ...]
    allowed_instance_types: tuple[str, ...]
    monthly_budget_usd: float
    budget_email: str
    pipelines: bool
    document_db: bool


@dataclass(frozen=True)
class EndpointConfig:
    """Level 2 real-time endpoint: serverless (no idle cost) or provisioned with autoscaling."""

    mode: EndpointMode
    instance_type: str
    min_instances: int
    max_instances: int
    target_invocations_per_instance: int
    serverless_memory_mb: int
    serverless_max_concurrency: int
    data_capture_percent: int
    p99_latency_ms: int
    min_auc: float


@dataclass(frozen=True)
class LlmModelConfig:
    """A foundation model (or inference profile) the environment may call, and its list price."""

    id: str
    input_per1k_usd: float
    output_per1k_usd: float


@dataclass(frozen=True)
class EvaluationConfig:
    """How prompt versions are evaluated before `prod`: the judge, the selection weights, the gate."""

    judge_model_id: str
    speed_weight: float
    precision_weight: float
    cost_weight: float
    min_accuracy: float
    min_rouge_l: float
    max_hallucination_rate: float
    max_judge_unparseable_rate: float
    # The embedding model behind the cosine metric (InvokeModel) and its price per 1,000 input tokens.
    embedding_model_id: str
    embedding_input_per1k_usd: float
    # The share of the red-team set the guardrail must block for a prompt version to reach prod.
    min_red_team_block_rate: float
    # The fewest items a golden set needs to count for `prod`; prompt versions may require more.
    min_golden_set_items: int


@dataclass(frozen=True)
class LlmAppConfig:
    """The LLMOps playground app: ECS Fargate behind an HTTPS load balancer, Cognito sign-in, WAF.

    Opt-in per environment (``enabled``): the load balancer, the NAT gateway and the web ACL cost money
    every hour. ``domainName`` is the name users open (the certificate's), ``certificateArn`` an ACM
    certificate in the environment's region, ``cognitoDomainPrefix`` the hosted sign-in page's prefix.
    """

    enabled: bool
    domain_name: str | None
    certificate_arn: str | None
    cognito_domain_prefix: str | None
    cpu: int
    memory_mb: int
    min_tasks: int
    max_tasks: int
    target_cpu_percent: int
    waf: bool


@dataclass(frozen=True)
class LlmopsConfig:
    """LLMOps: which models, the prompt catalog's limits, and the gateway's alarm thresholds."""

    enabled: bool
    models: tuple[LlmModelConfig, ...]
    max_template_bytes: int
    prompt_cache_seconds: int
    hourly_cost_budget_usd: float
    latency_p99_ms: int
    error_rate_percent: float
    guardrail_intervention_rate_percent: float
    invocation_logging: bool
    evaluation: EvaluationConfig
    app: LlmAppConfig


@dataclass(frozen=True)
class StudioConfig:
    """SageMaker Studio networking.

    ``PublicInternetOnly`` keeps idle cost at zero (notebook internet traffic goes through the
    SageMaker-managed VPC; only EFS traffic uses ours). ``VpcOnly`` keeps every byte in our VPC and
    therefore adds interface endpoints, which cost money every hour.
    """

    network_access: StudioNetwork
    availability_zone_count: int
    # Who may assume the Level 0 data-scientist role: IAM role ARNs or ``sso:<PermissionSetName>``.
    data_scientists: tuple[str, ...]


@dataclass(frozen=True)
class EnvironmentConfig:
    """One deployment target: an account and region plus every setting that differs per environment."""

    name: str
    account: str
    region: str
    max_level: int
    llmops: LlmopsConfig
    removal_policy: RemovalPolicyName
    auto_delete_objects: bool
    log_retention_days: int
    alarm_email: str
    data_lake: DataLakeConfig
    glue: GlueConfig
    athena: AthenaConfig
    studio: StudioConfig
    mlflow: MlflowConfig
    training: TrainingConfig
    delivery: DeliveryConfig
    endpoint: EndpointConfig
    test_strategies: bool
    # MSK Serverless as a second streaming source (off everywhere by default: it bills every hour).
    msk_streaming: bool
    idle_budget_usd: float
    teams: tuple[TeamConfig, ...]

    @property
    def is_production(self) -> bool:
        return self.name == "prod"

    def stack_name(self, level_name: str) -> str:
        """Stack names carry the environment so several environments can share one account."""
        return f"Mlops-{self.name}-{level_name}"


# --------------------------------------------------------------------------------------------------
# Loading


def load_environment(context: Mapping[str, Any], env_name: str | None = None) -> EnvironmentConfig:
    """Parse the named environment (``-c env=...``, else ``dev``) out of the CDK context."""
    name = env_name if env_name is not None else context.get(SELECTED_ENV_KEY, DEFAULT_ENV_NAME)
    environments = _environments(context)
    if not isinstance(name, str) or name not in environments:
        known = ", ".join(sorted(environments))
        raise ConfigError(
            f"environment {name!r} is not defined in cdk.json context '{ENVIRONMENTS_KEY}' (known: {known})"
        )
    defaults = context.get(DEFAULTS_KEY, {})
    if not isinstance(defaults, Mapping):
        raise ConfigError(f"cdk.json context '{DEFAULTS_KEY}' must be an object")
    entry = environments[name]
    if not isinstance(entry, Mapping):
        raise ConfigError(f"environment {name!r}: its entry must be an object, got {_kind(entry)}")
    merged = _deep_merge(defaults, entry)
    config = _parse(EnvironmentConfig, merged, env=name, path="", preset={"name": name})
    _check_semantics(config)
    _check_shared_account_settings(config, defaults, environments)
    return config


def load_all_environments(context: Mapping[str, Any]) -> list[EnvironmentConfig]:
    """Every environment in cdk.json, in the order written there (used by the synth summary and tests)."""
    return [load_environment(context, name) for name in _environments(context)]


def _environments(context: Mapping[str, Any]) -> Mapping[str, Any]:
    environments = context.get(ENVIRONMENTS_KEY)
    if not isinstance(environments, Mapping) or not environments:
        raise ConfigError(f"cdk.json context '{ENVIRONMENTS_KEY}' must be a non-empty object of environments")
    for env_name in environments:
        if not _ENV_NAME_RE.match(env_name):
            raise ConfigError(
                f"environment {env_name!r}: names must be 2-16 lowercase letters or digits, starting with a letter"
            )
    return environments


def _deep_merge(base: Mapping[str, Any], override: Mapping[str, Any]) -> dict[str, Any]:
    merged = dict(base)
    for key, value in override.items():
        if isinstance(value, Mapping) and isinstance(merged.get(key), Mapping):
            merged[key] = _deep_merge(merged[key], value)
        else:
            merged[key] = value
    return merged


# --------------------------------------------------------------------------------------------------
# Generic parsing: cdk.json uses camelCase keys, the dataclasses use snake_case fields.


def _camel(snake: str) -> str:
    head, *rest = snake.split("_")
    return head + "".join(part.capitalize() for part in rest)


def _kind(value: object) -> str:
    return "null" if value is None else type(value).__name__


def _parse(cls: type[_T], raw: object, *, env: str, path: str, preset: Mapping[str, Any] | None = None) -> _T:
    """Build dataclass `cls` from a cdk.json object; `preset` fields come from elsewhere (the env name)."""
    where = f"environment {env!r}" + (f", key '{path}'" if path else "")
    if not isinstance(raw, Mapping):
        raise ConfigError(f"{where}: expected an object, got {_kind(raw)}")
    preset = preset or {}
    hints = typing.get_type_hints(cls)
    fields = {
        _camel(f.name): f.name
        for f in dataclasses.fields(cls)  # type: ignore[arg-type]
        if f.name not in preset
    }
    unknown = sorted(set(raw) - set(fields))
    if unknown:
        raise ConfigError(f"{where}: unknown key(s) {', '.join(repr(_join(path, k)) for k in unknown)}")
    values: dict[str, Any] = dict(preset)
    for key, field_name in fields.items():
        key_path = _join(path, key)
        if key not in raw:
            if isinstance(hints[field_name], types.UnionType):
                # Optional: the CDK CLI drops null context values, so "absent" and null mean the same.
                values[field_name] = None
                continue
            raise ConfigError(f"environment {env!r}: missing key '{key_path}'")
        values[field_name] = _coerce(hints[field_name], raw[key], env=env, path=key_path)
    return cls(**values)


def _join(path: str, key: str) -> str:
    return f"{path}.{key}" if path else key


def _coerce(hint: Any, value: object, *, env: str, path: str) -> Any:
    where = f"environment {env!r}, key '{path}'"
    origin = typing.get_origin(hint)
    if isinstance(hint, types.UnionType):  # `X | None`: null in cdk.json means "not set"
        (inner,) = [arg for arg in typing.get_args(hint) if arg is not type(None)]
        return None if value is None else _coerce(inner, value, env=env, path=path)
    if dataclasses.is_dataclass(hint):
        return _parse(hint, value, env=env, path=path)  # type: ignore[arg-type]
    if origin is Literal:
        allowed = typing.get_args(hint)
        if value not in allowed:
            raise ConfigError(f"{where}: {value!r} is not one of {', '.join(map(repr, allowed))}")
        return value
    if origin is tuple:
        (item_hint, _ellipsis) = typing.get_args(hint)
        if not isinstance(value, list):
            raise ConfigError(f"{where}: expected a list, got {_kind(value)}")
        return tuple(_coerce(item_hint, item, env=env, path=f"{path}[{i}]") for i, item in enumerate(value))
    if hint is bool:
        if not isinstance(value, bool):
            raise ConfigError(f"{where}: expected true or false, got {value!r}")
        return value
    if hint is int:
        # bool is an int subclass in Python; `true` for a number is a typo, not a 1.
        if isinstance(value, bool) or not isinstance(value, int):
            raise ConfigError(f"{where}: expected an integer, got {value!r}")
        return value
    if hint is float:
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise ConfigError(f"{where}: expected a number, got {value!r}")
        return float(value)
    if hint is str:
        if not isinstance(value, str) or not value:
            raise ConfigError(f"{where}: expected a non-empty string, got {value!r}")
        return value
    raise TypeError(f"unsupported config type {hint} at {path}")


# --------------------------------------------------------------------------------------------------
# Rules that span values: what the types alone cannot say.


def _check_semantics(cfg: EnvironmentConfig) -> None:
    def fail(key: str, message: str) -> typing.NoReturn:
        raise ConfigError(f"environment {cfg.name!r}, key '{key}': {message}")

    if not _ACCOUNT_RE.match(cfg.account):
        fail("account", f"{cfg.account!r} is not a 12-digit AWS account ID")
    if cfg.region not in AWS_REGIONS:
        fail("region", f"{cfg.region!r} is not a known AWS region")
    if not 0 <= cfg.max_level <= MAX_LEVEL:
        fail("maxLevel", f"{cfg.max_level} is not a maturity level (0-{MAX_LEVEL})")
    if cfg.log_retention_days not in LOG_RETENTION_DAYS:
        fail("logRetentionDays", f"{cfg.log_retention_days} is not a CloudWatch Logs retention period")
    if not _EMAIL_RE.match(cfg.alarm_email):
        fail("alarmEmail", f"{cfg.alarm_email!r} is not an email address")
    if cfg.auto_delete_objects and cfg.removal_policy != "destroy":
        fail("autoDeleteObjects", "emptying buckets on delete only makes sense with removalPolicy 'destroy'")
    if cfg.is_production and cfg.removal_policy != "retain":
        fail("removalPolicy", "prod keeps its data: it must be 'retain'")

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
    for key, rate in (
        ("llmops.evaluation.minAccuracy", evaluation.min_accuracy),
        ("llmops.evaluation.minRougeL", evaluation.min_rouge_l),
        ("llmops.evaluation.maxHallucinationRate", evaluation.max_hallucination_rate),
        ("llmops.evaluation.maxJudgeUnparseableRate", evaluation.max_judge_unparseable_rate),
        ("llmops.evaluation.minRedTeamBlockRate", evaluation.min_red_team_block_rate),
    ):
        if not 0 <= rate <= 1:
            fail(key, f"{rate} is not a fraction in [0, 1]")
    if evaluation.min_accuracy <= 0 and evaluation.min_rouge_l <= 0:
        fail(
            "llmops.evaluation",
            "minAccuracy or minRougeL must be above 0: a gate without a quality floor passes any model",
        )
    if not 1 <= evaluation.min_golden_set_items <= 5000:
        fail("llmops.evaluation.minGoldenSetItems", f"{evaluation.min_golden_set_items} is outside 1-5000")
    _check_app(cfg, fail)
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


def _check_teams(cfg: EnvironmentConfig, fail: typing.Callable[[str, str], typing.NoReturn]) -> None:
    if cfg.max_level >= 3 and not cfg.teams:
        fail("teams", "Level 3 is about teams: list at least one team (or set maxLevel below 3)")
    names: set[str] = set()
    for index, team in enumerate(cfg.teams):
        key = f"teams[{index}]"
        if not _TEAM_NAME_RE.match(team.name):
            fail(f"{key}.name", f"{team.name!r} must be 2-20 lowercase letters, digits or '-', starting with a letter")
        if team.name in names:
            fail(f"{key}.name", f"team {team.name!r} is listed twice")
        names.add(team.name)
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
