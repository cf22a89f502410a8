"""The production-readiness checklist as data: one :class:`Check` per question, each a pure function.

Every check takes a session (see :class:`maturity.aws.SessionLike`), makes only the read-only calls it
declares in ``calls``, and returns :class:`Evidence`: ``pass`` with the resources that answer the
question, ``missing`` with what was looked for and not found, or ``unknown`` with the reason a call
could not be answered (access denied names the action). One rule holds for every check: a resource
found anywhere passes it; otherwise any unanswered call makes it ``unknown``; only when every call
answered and nothing was found is it ``missing``.

One module per part of the ladder: :mod:`~maturity.checks.base` (what every check shares), ``feature_store``
(Level 0), ``training`` and ``bias`` (Level 1), ``reliability`` (Level 2), ``teams`` (Level 3) and ``llmops``.
:data:`CHECKS` below is the checklist in ladder order; a new check goes in its part's module and into it.
"""

from __future__ import annotations

from maturity.checks.base import (
    GATEWAY_NAMESPACE,
    MODEL_MONITOR_NAMESPACES,
    PROMPT_CATALOG_TAG,
    SCORECARDS_PREFIX,
    Check,
    Evidence,
    Level,
    Status,
)
from maturity.checks.bias import BIAS_CHECK
from maturity.checks.feature_store import features_in_feature_store
from maturity.checks.llmops import guardrails, llm_cost_metrics, llm_evaluation, prompt_versioning
from maturity.checks.reliability import automated_tests, cicd_manual_approval, model_monitoring
from maturity.checks.teams import team_isolation
from maturity.checks.tracking import TRACKING_CHECK
from maturity.checks.training import etl_automated, model_lineage, model_registry, training_pipeline

__all__ = [
    "CHECKS",
    "GATEWAY_NAMESPACE",
    "MODEL_MONITOR_NAMESPACES",
    "PROMPT_CATALOG_TAG",
    "SCORECARDS_PREFIX",
    "Check",
    "Evidence",
    "Level",
    "Status",
]

_LEVEL1 = "Level1Repeatable"
_LEVEL2 = "Level2Reliable"
_LEVEL3 = "Level3Scalable"
_LLMOPS = "LlmOps"

CHECKS: tuple[Check, ...] = (
    Check(
        "features-tracked",
        "Are the model's features kept separate and tracked?",
        0,
        ("sagemaker:ListFeatureGroups", "sagemaker:DescribeFeatureGroup", "s3:ListBucket"),
        "Level0Exploration",
        "the churn feature groups (offline store in the data lake, online store) the ETL job fills",
        features_in_feature_store,
    ),
    Check(
        "etl-automated",
        "Does ETL load data automatically, so ML engineers do not wait for data teams?",
        1,
        ("glue:GetTriggers", "events:ListRules", "events:ListTargetsByRule", "states:DescribeStateMachine"),
        _LEVEL1,
        "retraining: new raw data and a schedule run the Glue ETL job, then the pipeline",
        etl_automated,
    ),
    Check(
        "training-pipeline",
        "Is training an automated pipeline rather than a notebook run?",
        1,
        ("sagemaker:ListPipelines",),
        _LEVEL1,
        "the SageMaker training pipeline (preprocess, train, evaluate, register)",
        training_pipeline,
    ),
    Check(
        "model-registry",
        "Is the trained model kept in a model registry?",
        1,
        ("sagemaker:ListModelPackageGroups", "sagemaker:ListModelPackages"),
        _LEVEL1,
        "the Model Registry group the pipeline registers versions in",
        model_registry,
    ),
    Check(
        "model-lineage",
        "Is model lineage kept (which data and code made which version)?",
        1,
        ("sagemaker:ListModelPackageGroups", "sagemaker:ListModelPackages", "sagemaker:DescribeModelPackage"),
        _LEVEL1,
        "model versions that record training data, code version and pipeline run",
        model_lineage,
    ),
    BIAS_CHECK,
    TRACKING_CHECK,
    Check(
        "model-monitoring",
        "Is the model watched all the time to make sure it keeps giving correct answers?",
        2,
        ("sagemaker:ListMonitoringSchedules", "cloudwatch:DescribeAlarms", "sagemaker:ListEndpoints"),
        _LEVEL2,
        "endpoints with data capture, Model Monitor schedules and drift alarms",
        model_monitoring,
    ),
    Check(
        "cicd-manual-approval",
        "Do CI/CD pipelines move code from dev to preprod to prod, with manual approval?",
        2,
        ("codepipeline:ListPipelines", "codepipeline:GetPipeline"),
        _LEVEL2,
        "CodePipeline dev -> preprod -> prod with a manual approval before production",
        cicd_manual_approval,
    ),
    Check(
        "automated-tests",
        "Is testing automated in every environment?",
        2,
        ("codepipeline:ListPipelines", "codepipeline:GetPipeline", "codebuild:ListProjects"),
        _LEVEL2,
        "CodeBuild test actions in every stage of the delivery pipeline",
        automated_tests,
    ),
    Check(
        "team-isolation",
        "Do several teams work side by side, each in its own bounded role?",
        3,
        ("sagemaker:ListUserProfiles", "sagemaker:DescribeUserProfile", "sagemaker:DescribeDomain", "iam:GetRole"),
        _LEVEL3,
        "per-team Studio profiles and roles with permission boundaries",
        team_isolation,
    ),
    Check(
        "prompt-versioning",
        "Are prompts kept in a catalog with immutable versions?",
        "llmops",
        ("dynamodb:ListTables", "dynamodb:DescribeTable", "dynamodb:ListTagsOfResource", "bedrock:ListPrompts"),
        _LLMOPS,
        "the DynamoDB prompt catalog with immutable versions and aliases",
        prompt_versioning,
    ),
    Check(
        "guardrails",
        "Do guardrails filter what goes into and comes out of the models?",
        "llmops",
        ("bedrock:ListGuardrails",),
        _LLMOPS,
        "a Bedrock guardrail (content, topics, PII, prompt attacks, grounding)",
        guardrails,
    ),
    Check(
        "llm-evaluation",
        "Are foundation models evaluated (accuracy, similarity, LLM-as-judge, human review) before use?",
        "llmops",
        ("bedrock:ListEvaluationJobs", "s3:ListAllMyBuckets", "s3:ListBucket"),
        _LLMOPS,
        "evaluation runs that write scorecards",
        llm_evaluation,
    ),
    Check(
        "llm-cost-metrics",
        "Are token cost and latency measured per call?",
        "llmops",
        ("cloudwatch:ListMetrics",),
        _LLMOPS,
        "the LLM gateway's token, cost and latency metrics with alarms",
        llm_cost_metrics,
    ),
)
