"""The typed configuration: frozen dataclasses, one per cdk.json object, and the error every check raises."""

from __future__ import annotations

from dataclasses import dataclass

from stacks.clarify_config import ClarifyConfig
from stacks.config.patterns import EndpointMode, GlueWorkerType, RemovalPolicyName, StudioNetwork
from stacks.knowledge_base_config import KnowledgeBaseConfig
from stacks.mlflow_config import MlflowConfig

# The use case the ladder ships: its model package group, pipeline and endpoint names end with it.
USE_CASE = "churn"


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
class FeatureStoreConfig:
    """Level 0 Feature Store: whether the churn features get an online store, and the skew check's settings.

    ``skewFeatures`` names the features the training-serving skew check compares (an empty list: all of them).
    Checked in :mod:`stacks.feature_store_config`.
    """

    online_store: bool
    skew_check_schedule: str
    skew_sample_size: int
    max_skew_percent: float
    skew_features: tuple[str, ...]


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
    # Retrieval gate (#16), applied to prompt versions that retrieve; null = not gated: the share of
    # expectedDocuments found among the retrieved passages, the mean embedding cosine of question vs
    # passages, and the mean grounding of answers in the passages (guardrail score, or judge faithfulness / 5).
    min_recall_at_k: float | None = None
    min_context_relevance: float | None = None
    min_faithfulness: float | None = None


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
    knowledge_base: KnowledgeBaseConfig


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
    # Set from cdk.json's top-level "mlops:namePrefix" and "@aws-cdk/core:bootstrapQualifier", not per environment.
    name_prefix: str
    bootstrap_qualifier: str
    # Production keeps its data and protects its stacks (retain on delete, termination and deletion protection).
    production: bool
    # The environment `make demo`, `make app` and the e2e test deploy into the local emulator (exactly one).
    emulator: bool
    max_level: int
    llmops: LlmopsConfig
    removal_policy: RemovalPolicyName
    auto_delete_objects: bool
    log_retention_days: int
    alarm_email: str
    data_lake: DataLakeConfig
    glue: GlueConfig
    athena: AthenaConfig
    feature_store: FeatureStoreConfig
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
        return self.production

    @property
    def resource_prefix(self) -> str:
        """The start of this environment's physical names: ``<namePrefix>-<environment>`` (``mlops-dev``)."""
        return f"{self.name_prefix}-{self.name}"

    def use_case_name(self, team: str | None = None) -> str:
        """The physical name of the use case's model group and endpoint (``mlops-dev-churn``), or of a Level 3
        team's copy (``mlops-dev-<team>-churn``)."""
        return f"{self.resource_prefix}-{USE_CASE}" if team is None else f"{self.resource_prefix}-{team}-{USE_CASE}"

    def stack_name(self, level_name: str) -> str:
        """Stack names carry the project and the environment so several of either can share one account."""
        return stack_name(self.name_prefix, self.name, level_name)


def stack_name(name_prefix: str, env_name: str, level_name: str) -> str:
    """``Mlops-dev-Level0Exploration`` for prefix ``mlops``: the prefix capitalized, as the shipped names are."""
    return f"{name_prefix.capitalize()}-{env_name}-{level_name}"


def pascal(name: str) -> str:
    """A team name as it appears in construct IDs, output names and policy Sids ("fraud-ops" -> "FraudOps")."""
    return "".join(part.capitalize() for part in name.split("-"))
