"""LLMOps: Bedrock access scoped to allowed models, a guardrail, a versioned prompt catalog, an LLM gateway, RAG."""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

from aws_cdk import ArnFormat, CfnOutput, Duration, Stack
from aws_cdk import aws_apigateway as apigateway
from aws_cdk import aws_cloudwatch as cloudwatch
from aws_cdk import aws_dynamodb as dynamodb
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from aws_cdk import aws_logs as logs
from aws_cdk import aws_s3 as s3
from aws_cdk import aws_stepfunctions as sfn
from aws_cdk import aws_stepfunctions_tasks as tasks
from aws_cdk import custom_resources as cr
from constructs import Construct

from stacks.components import lifecycle
from stacks.components.access import acknowledge_wildcard_resource, grant_objects, trusted_roles_principal
from stacks.components.alerts import Alerts
from stacks.components.guardrail import Guardrail
from stacks.components.iam_rest_api import STAGE, acknowledge_iam_auth, iam_rest_api
from stacks.components.knowledge_base import KnowledgeBase
from stacks.components.observability import Monitoring
from stacks.components.python_function import PythonFunction
from stacks.config import EnvironmentConfig, LlmModelConfig, LlmopsConfig
from stacks.model_catalog import shipped_catalog
from stacks.nag import acknowledge
from stacks.partition import format_arn
from stacks.role_names import prompt_release_role_name

METRICS_NAMESPACE = "Mlops/LLMOps"
GATEWAY_SERVICE = "llm-gateway"
CATALOG_SERVICE = "prompt-catalog"
INVOCATION_LOGS_PREFIX = "bedrock-invocation-logs/"
EVALUATIONS_PREFIX = "evaluations/"
# The catalog methods a prompt release calls (delivery/prompt_release.py); `*` stands for a name or number.
PROMPT_RELEASE_METHODS = (
    ("GET", "/prompts/*/versions"),
    ("GET", "/prompts/*/versions/*"),
    ("POST", "/prompts/*/versions"),
    ("GET", "/prompts/*/aliases/*"),
    ("PUT", "/prompts/*/aliases/*"),
    ("POST", "/evalsets"),
)
# The construct ID CDK gives the singleton Lambda behind every AwsCustomResource in a stack.
_AWS_CUSTOM_RESOURCE_PROVIDER_ID = "AWS679f53fac002430cb0da5b7982bd2287"


class LlmopsStack(Stack):
    """Bedrock guardrail, prompt catalog (DynamoDB + IAM-authenticated API), LLM gateway, alarms.

    Receives Level 0's key, artifacts bucket and curated bucket (whose documents prefix the knowledge base
    indexes). Only the models listed in config can be invoked
    (IAM names each model ARN); every call goes through the guardrail; the gateway emits tokens,
    cost, latency, guardrail interventions and errors as metrics, with alarms on each.

    Per environment: allowed models and their prices, template size limit, cache TTL, alarm
    thresholds, whether Bedrock invocation logging is configured, retention and removal policy.
    """

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        config: EnvironmentConfig,
        key: kms.IKey,
        alerts: Alerts,
        artifacts_bucket: s3.IBucket,
        documents_bucket: s3.IBucket,
        released_by: list[str],
        **kwargs: Any,
    ) -> None:
        super().__init__(scope, construct_id, **kwargs)
        settings = config.llmops
        removal_policy = lifecycle.removal_policy(config)
        retention = lifecycle.log_retention(config)
        name_prefix = config.resource_prefix

        # --- knowledge base (RAG) ----------------------------------------------------------------------
        self.knowledge_base: KnowledgeBase | None = None
        if settings.knowledge_base.enabled:
            self.knowledge_base = KnowledgeBase(
                self,
                "KnowledgeBase",
                config=settings.knowledge_base,
                name_prefix=name_prefix,
                documents_bucket=documents_bucket,
                key=key,
                alerts=alerts,
                metrics_namespace=METRICS_NAMESPACE,
                log_retention=retention,
                removal_policy=removal_policy,
            )
        # What prompt versions may name in `retrieval.knowledgeBase`, and the ID the gateway retrieves from.
        knowledge_bases = json.dumps(
            {settings.knowledge_base.name: self.knowledge_base.knowledge_base_id} if self.knowledge_base else {}
        )

        self.guardrail = Guardrail(self, "Guardrail", name=f"{name_prefix}-llm", key=key, removal_policy=removal_policy)

        # --- prompt catalog ----------------------------------------------------------------------
        self.prompts = dynamodb.Table(
            self,
            "PromptTable",
            partition_key=dynamodb.Attribute(name="pk", type=dynamodb.AttributeType.STRING),
            sort_key=dynamodb.Attribute(name="sk", type=dynamodb.AttributeType.STRING),
            billing_mode=dynamodb.BillingMode.PAY_PER_REQUEST,
            encryption=dynamodb.TableEncryption.CUSTOMER_MANAGED,
            encryption_key=key,
            point_in_time_recovery_specification=dynamodb.PointInTimeRecoverySpecification(
                point_in_time_recovery_enabled=True
            ),
            deletion_protection=config.is_production,
            removal_policy=removal_policy,
        )
        self.catalog = PythonFunction(
            self,
            "Catalog",
            name="prompt_catalog",
            description="Prompt catalog API: immutable versions, aliases, diff, render",
            environment={
                "TABLE_NAME": self.prompts.table_name,
                "MAX_TEMPLATE_BYTES": str(settings.max_template_bytes),
                "MIN_GOLDEN_SET_ITEMS": str(settings.evaluation.min_golden_set_items),
                "KNOWLEDGE_BASES": knowledge_bases,
                "POWERTOOLS_SERVICE_NAME": CATALOG_SERVICE,
                "POWERTOOLS_METRICS_NAMESPACE": METRICS_NAMESPACE,
            },
            key=key,
            log_retention=retention,
            removal_policy=removal_policy,
        )
        self.prompts.grant(
            self.catalog.role,
            "dynamodb:GetItem",
            "dynamodb:Query",
            "dynamodb:Scan",
            "dynamodb:PutItem",
            "dynamodb:UpdateItem",
            "dynamodb:ConditionCheckItem",
        )
        key.grant(self.catalog.role, "kms:Decrypt", "kms:GenerateDataKey")

        self.api, validator = iam_rest_api(
            self,
            "PromptApi",
            handler=self.catalog.function,
            description="Prompt catalog (IAM-authenticated)",
            proxy=True,
            key=key,
            log_retention=retention,
            removal_policy=removal_policy,
            rate_limit=50,
            burst_limit=100,
            waf_reason="Only IAM-signed requests from principals of this account reach the API; a WAF web ACL would "
            "add idle cost without adding a check (the LLMOps app front end gets WAF with its load balancer).",
        )
        for method in self.api.methods:
            cfn_method = method.node.default_child
            assert isinstance(cfn_method, apigateway.CfnMethod)
            cfn_method.request_validator_id = validator.request_validator_id
            acknowledge_iam_auth(method)

        # --- LLM gateway ----------------------------------------------------------------------------
        self.gateway = PythonFunction(
            self,
            "Gateway",
            name="llm_gateway",
            description="Resolve a prompt alias, render it, call Bedrock Converse with the guardrail, meter it",
            environment={
                "TABLE_NAME": self.prompts.table_name,
                "GUARDRAIL_ID": self.guardrail.guardrail_id,
                "GUARDRAIL_VERSION": self.guardrail.version_number,
                "ALLOWED_MODELS": ",".join(m.id for m in settings.models),
                "PRICE_TABLE_JSON": json.dumps(_price_table(settings.models), sort_keys=True),
                "PROMPT_CACHE_SECONDS": str(settings.prompt_cache_seconds),
                "KNOWLEDGE_BASES": knowledge_bases,
                "POWERTOOLS_SERVICE_NAME": GATEWAY_SERVICE,
                "POWERTOOLS_METRICS_NAMESPACE": METRICS_NAMESPACE,
            },
            key=key,
            log_retention=retention,
            removal_policy=removal_policy,
            timeout=Duration.seconds(60),
        )
        self.prompts.grant(self.gateway.role, "dynamodb:GetItem")
        key.grant(self.gateway.role, "kms:Decrypt")
        # Converse and ConverseStream are authorized by these two actions.
        _grant_invoke(
            self.gateway.role,
            [m.id for m in settings.models],
            actions=["bedrock:InvokeModel", "bedrock:InvokeModelWithResponseStream"],
            sid="InvokeAllowedModels",
        )
        self.gateway.role.add_to_policy(
            iam.PolicyStatement(
                sid="ApplyTheGuardrail", actions=["bedrock:ApplyGuardrail"], resources=[self.guardrail.guardrail_arn]
            )
        )

        self._evaluation(settings, key, artifacts_bucket, retention, removal_policy, knowledge_bases)
        if self.knowledge_base is not None:
            self.knowledge_base.grant_retrieve(self.gateway.role)
            self.knowledge_base.grant_retrieve(self.evaluator.role)
        if released_by:
            self._prompt_release_role(config.name_prefix, config.name, released_by)

        if settings.invocation_logging:
            self._invocation_logging(key, artifacts_bucket, retention, removal_policy)

        # --- alarms ---------------------------------------------------------------------------------
        self.alerts = alerts
        invocations = self.gateway.function.metric_invocations(period=Duration.minutes(5), statistic="Sum")

        def gateway_metric(name: str, statistic: str, period: Duration | None = None) -> cloudwatch.Metric:
            return cloudwatch.Metric(
                namespace=METRICS_NAMESPACE,
                metric_name=name,
                dimensions_map={"service": GATEWAY_SERVICE},
                statistic=statistic,
                period=period or Duration.minutes(5),
            )

        def rate(label: str, numerator: cloudwatch.Metric) -> cloudwatch.MathExpression:
            return cloudwatch.MathExpression(
                expression="IF(invocations > 0, 100 * part / invocations, 0)",
                using_metrics={"part": numerator, "invocations": invocations},
                label=label,
                period=Duration.minutes(5),
            )

        gateway_alarms: list[cloudwatch.IAlarm] = []
        for alarm_id, metric, threshold, description in (
            (
                "HourlyCostAboveBudget",
                gateway_metric("CostUSD", "Sum", Duration.hours(1)),
                settings.hourly_cost_budget_usd,
                f"LLM spend in the last hour is above {settings.hourly_cost_budget_usd} USD",
            ),
            (
                "LatencyP99High",
                gateway_metric("LatencyMs", "p99"),
                settings.latency_p99_ms,
                f"p99 gateway latency is above {settings.latency_p99_ms} ms",
            ),
            (
                "ErrorRateHigh",
                rate("error rate %", gateway_metric("Errors", "Sum")),
                settings.error_rate_percent,
                f"More than {settings.error_rate_percent}% of gateway requests failed",
            ),
            (
                "GuardrailInterventionRateHigh",
                rate("guardrail interventions %", gateway_metric("GuardrailInterventions", "Sum")),
                settings.guardrail_intervention_rate_percent,
                f"The guardrail intervened in more than {settings.guardrail_intervention_rate_percent}% of requests",
            ),
        ):
            gateway_alarms.append(
                self.alerts.alarm(
                    cloudwatch.Alarm(
                        self,
                        alarm_id,
                        metric=metric,
                        threshold=threshold,
                        evaluation_periods=1,
                        comparison_operator=cloudwatch.ComparisonOperator.GREATER_THAN_THRESHOLD,
                        treat_missing_data=cloudwatch.TreatMissingData.NOT_BREACHING,
                        alarm_description=description,
                    )
                )
            )

        # Every function, table, API and state machine of the stack, and the gateway's own metrics beside them.
        monitoring = Monitoring(self, "Monitoring", alerts=alerts)
        monitoring.watch_stack()
        monitoring.metrics(
            "LLM gateway: tokens, cost, latency, guardrail (EMF)",
            [
                gateway_metric("InputTokens", "Sum"),
                gateway_metric("OutputTokens", "Sum"),
                gateway_metric("CostUSD", "Sum"),
                gateway_metric("LatencyMs", "p99"),
                gateway_metric("GuardrailInterventions", "Sum"),
                gateway_metric("Errors", "Sum"),
                gateway_metric("ClientErrors", "Sum"),
            ],
            gateway_alarms,
        )

        for output_id, value, description in (
            ("PromptTableName", self.prompts.table_name, "Prompt catalog table"),
            ("PromptApiUrl", self.api.url, "Prompt catalog API (IAM auth)"),
            ("GatewayFunctionName", self.gateway.function.function_name, "LLM gateway function"),
            ("CatalogFunctionName", self.catalog.function.function_name, "Prompt catalog API function"),
            ("EvaluatorFunctionName", self.evaluator.function.function_name, "Prompt evaluation function"),
            ("EvaluationStateMachineArn", self.evaluation.state_machine_arn, "Evaluate a prompt version"),
            ("GuardrailId", self.guardrail.guardrail_id, "Bedrock guardrail"),
            ("GuardrailVersion", self.guardrail.version_number, "Guardrail version the gateway uses"),
            *(
                [
                    ("KnowledgeBaseId", kb.knowledge_base_id, "Bedrock knowledge base (RAG)"),
                    ("KnowledgeBaseDataSourceId", kb.data_source.attr_data_source_id, "Its data source"),
                    ("KnowledgeBaseSyncFunctionName", kb.sync.function.function_name, "Knowledge base sync"),
                    ("KnowledgeBaseMonitorFunctionName", kb.monitor.function.function_name, "Skew monitor"),
                ]
                if (kb := self.knowledge_base)
                else []
            ),
        ):
            CfnOutput(self, output_id, value=value, description=description)

    def _evaluation(
        self,
        settings: LlmopsConfig,
        key: kms.IKey,
        bucket: s3.IBucket,
        retention: logs.RetentionDays,
        removal_policy: Any,
        knowledge_bases: str,
    ) -> None:
        """A state machine that evaluates a prompt version over a golden set on the allowed models.

        The evaluation function writes the scorecard (JSON, Markdown, review sheet) under
        ``evaluations/`` in the artifacts bucket and an ``EVAL#`` summary into the prompt table; the
        catalog refuses to move ``prod`` to a version without a passed evaluation.
        """
        evaluation = settings.evaluation
        self.evaluator = PythonFunction(
            self,
            "Evaluator",
            name="llm_evaluation",
            description="Evaluate a prompt version over a golden set: scorecard, model selection, quality gate",
            environment={
                "TABLE_NAME": self.prompts.table_name,
                "REPORT_BUCKET": bucket.bucket_name,
                "REPORT_PREFIX": EVALUATIONS_PREFIX,
                "ALLOWED_MODELS": ",".join(m.id for m in settings.models),
                "PRICE_TABLE_JSON": json.dumps(_price_table(settings.models), sort_keys=True),
                "JUDGE_MODEL_ID": evaluation.judge_model_id,
                "EMBEDDING_MODEL_ID": evaluation.embedding_model_id,
                "EMBEDDING_PRICE_PER_1K": str(evaluation.embedding_input_per1k_usd),
                "KNOWLEDGE_BASES": knowledge_bases,
                "GUARDRAIL_ID": self.guardrail.guardrail_id,
                "GUARDRAIL_VERSION": self.guardrail.version_number,
                "WEIGHTS_JSON": json.dumps(
                    {
                        "speed": evaluation.speed_weight,
                        "precision": evaluation.precision_weight,
                        "cost": evaluation.cost_weight,
                    },
                    sort_keys=True,
                ),
                "GATE_JSON": json.dumps(
                    {
                        "min_accuracy": evaluation.min_accuracy,
                        "min_rouge_l": evaluation.min_rouge_l,
                        "max_hallucination_rate": evaluation.max_hallucination_rate,
                        "max_judge_unparseable_rate": evaluation.max_judge_unparseable_rate,
                        "min_red_team_block_rate": evaluation.min_red_team_block_rate,
                        # Retrieval minimums (#16): only those set (null in cdk.json = not gated).
                        **{
                            key: value
                            for key, value in (
                                ("min_recall_at_k", evaluation.min_recall_at_k),
                                ("min_context_relevance", evaluation.min_context_relevance),
                                ("min_faithfulness", evaluation.min_faithfulness),
                            )
                            if value is not None
                        },
                    },
                    sort_keys=True,
                ),
                "POWERTOOLS_SERVICE_NAME": "llm-evaluation",
                "POWERTOOLS_METRICS_NAMESPACE": METRICS_NAMESPACE,
            },
            key=key,
            log_retention=retention,
            removal_policy=removal_policy,
            timeout=Duration.minutes(15),
            memory_size=1024,
        )
        role = self.evaluator.role
        self.prompts.grant(role, "dynamodb:GetItem", "dynamodb:Query", "dynamodb:PutItem")
        key.grant(role, "kms:Decrypt", "kms:GenerateDataKey")
        grant_objects(
            role, bucket, key, prefix=EVALUATIONS_PREFIX, write=True, purpose="Evaluation runs write scorecards"
        )
        _grant_invoke(
            role,
            sorted({*(m.id for m in settings.models), evaluation.judge_model_id}),
            actions=["bedrock:InvokeModel"],
            sid="InvokeCandidatesAndJudge",
        )
        _grant_invoke(
            role, [evaluation.embedding_model_id], actions=["bedrock:InvokeModel"], sid="InvokeTheEmbeddingModel"
        )
        # Contextual grounding of every answer (the hallucination rate) and red-teaming go through it.
        role.add_to_policy(
            iam.PolicyStatement(
                sid="ApplyTheGuardrail", actions=["bedrock:ApplyGuardrail"], resources=[self.guardrail.guardrail_arn]
            )
        )
        run = tasks.LambdaInvoke(
            self,
            "RunEvaluation",
            lambda_function=self.evaluator.function,
            payload_response_only=True,
            result_path="$.evaluation",
        )
        verdict = (
            sfn.Choice(self, "GatePassed")
            # An error answer (bad input, unknown prompt, misconfiguration) carries `error` and no verdict.
            .when(
                sfn.Condition.is_present("$.evaluation.error"),
                sfn.Fail(
                    self,
                    "EvaluationError",
                    error="EvaluationError",
                    # The execution's cause is the function's own message, so callers need no history.
                    cause_path=sfn.JsonPath.format(
                        "The evaluation could not run: {}", sfn.JsonPath.string_at("$.evaluation.error")
                    ),
                ),
            )
            .when(sfn.Condition.boolean_equals("$.evaluation.passed", True), sfn.Succeed(self, "ReadyForProd"))
            .otherwise(
                sfn.Fail(
                    self,
                    "GateFailed",
                    error="QualityGateFailed",
                    # Names each failed metric and its threshold (the gate's reasons), e.g. for the pipeline.
                    cause_path=sfn.JsonPath.format(
                        "The quality gate refused this prompt version (evaluation {}): {}",
                        sfn.JsonPath.string_at("$.evaluation.run_id"),
                        sfn.JsonPath.json_to_string(sfn.JsonPath.list_at("$.evaluation.reasons")),
                    ),
                )
            )
        )
        log_group = logs.LogGroup(
            self, "EvaluationLogs", encryption_key=key, retention=retention, removal_policy=removal_policy
        )
        self.evaluation = sfn.StateMachine(
            self,
            "EvaluationStateMachine",
            definition_body=sfn.DefinitionBody.from_chainable(run.next(verdict)),
            comment="Evaluate a prompt version over a golden set; fails when the quality gate refuses it",
            timeout=Duration.minutes(20),
            tracing_enabled=True,
            logs=sfn.LogOptions(destination=log_group, level=sfn.LogLevel.ALL, include_execution_data=True),
        )
        acknowledge(
            self.evaluation.role.node.find_child("DefaultPolicy"),
            "AwsSolutions-IAM5",
            "Step Functions' log delivery and X-Ray APIs have no resource-level permissions (CDK's standard grant).",
            finding="Resource::*",
        )
        machine_role = self.evaluation.role
        assert isinstance(machine_role, iam.Role)
        acknowledge_wildcard_resource(
            machine_role,
            f"{self.evaluator.function.function_arn}:*",
            "CDK's LambdaInvoke grant covers the evaluation function's versions and aliases; no other function.",
        )

    def _prompt_release_role(self, name_prefix: str, env_name: str, released_by: list[str]) -> None:
        """The role the delivery pipeline's prompt stage assumes (``delivery/prompt_release.py``).

        A fixed name, so the pipeline's account can name it without a lookup; trusted by the roles in
        `released_by` only (the pipeline's prompt stage, the GitHub deploy role), not their whole account.
        It may call exactly the catalog methods a release needs (read versions and aliases, create a
        version, move an alias, publish a golden set), start the evaluation state machine and read its
        executions, and read this stack's outputs; nothing else, and no direct access to the table.
        """
        role = iam.Role(
            self,
            "PromptReleaseRole",
            role_name=prompt_release_role_name(name_prefix, env_name),
            assumed_by=trusted_roles_principal(released_by),
            description="Assumed by the delivery pipeline's prompt stage to publish, evaluate and promote prompts",
        )
        methods = [self.api.arn_for_execute_api(method, path, STAGE) for method, path in PROMPT_RELEASE_METHODS]
        role.add_to_policy(
            iam.PolicyStatement(
                sid="CallTheCatalogMethodsOfARelease", actions=["execute-api:Invoke"], resources=methods
            )
        )
        executions = format_arn(
            self,
            service="states",
            resource="execution",
            resource_name=f"{self.evaluation.state_machine_name}:*",
            arn_format=ArnFormat.COLON_RESOURCE_NAME,
        )
        role.add_to_policy(
            iam.PolicyStatement(
                sid="StartEvaluations", actions=["states:StartExecution"], resources=[self.evaluation.state_machine_arn]
            )
        )
        role.add_to_policy(
            iam.PolicyStatement(sid="ReadEvaluations", actions=["states:DescribeExecution"], resources=[executions])
        )
        role.add_to_policy(
            iam.PolicyStatement(
                sid="ReadStackOutputs", actions=["cloudformation:DescribeStacks"], resources=[self.stack_id]
            )
        )
        for (method, path), arn in zip(PROMPT_RELEASE_METHODS, methods, strict=True):
            if "*" in path:
                acknowledge_wildcard_resource(
                    role,
                    arn,
                    f"{method} {path} of this catalog API only: the prompt name, version or alias in the path is "
                    "chosen by the release at run time; method and path shape are fixed.",
                )
        acknowledge_wildcard_resource(
            role,
            executions,
            "DescribeExecution of the evaluation state machine's own executions, whose names are chosen when the "
            "release starts them.",
        )

    def _invocation_logging(
        self,
        key: kms.IKey,
        bucket: s3.IBucket,
        retention: logs.RetentionDays,
        removal_policy: Any,
    ) -> None:
        """Bedrock model invocation logging to CloudWatch Logs and S3, both KMS-encrypted.

        An account-and-region setting with no CloudFormation resource: set through the API by a
        custom resource, and removed again when the stack is deleted.
        """
        log_group = logs.LogGroup(
            self, "InvocationLogs", encryption_key=key, retention=retention, removal_policy=removal_policy
        )
        delivery_role = iam.Role(
            self,
            "InvocationLoggingRole",
            assumed_by=iam.ServicePrincipal(
                "bedrock.amazonaws.com",
                conditions={"StringEquals": {"aws:SourceAccount": self.account}},
            ),
            description="Lets Bedrock deliver model invocation logs to CloudWatch Logs",
        )
        log_group.grant_write(delivery_role)
        bedrock_service = iam.ServicePrincipal("bedrock.amazonaws.com")
        bucket.add_to_resource_policy(
            iam.PolicyStatement(
                sid="BedrockInvocationLogs",
                principals=[bedrock_service],
                actions=["s3:PutObject"],
                resources=[bucket.arn_for_objects(f"{INVOCATION_LOGS_PREFIX}*")],
                conditions={"StringEquals": {"aws:SourceAccount": self.account}},
            )
        )
        key.add_to_resource_policy(
            iam.PolicyStatement(
                sid="BedrockInvocationLogsEncryption",
                principals=[bedrock_service],
                actions=["kms:GenerateDataKey"],
                resources=["*"],
                conditions={"StringEquals": {"aws:SourceAccount": self.account}},
            )
        )
        logging_config = {
            "loggingConfig": {
                "cloudWatchConfig": {"logGroupName": log_group.log_group_name, "roleArn": delivery_role.role_arn},
                "s3Config": {"bucketName": bucket.bucket_name, "keyPrefix": INVOCATION_LOGS_PREFIX.rstrip("/")},
                "textDataDeliveryEnabled": True,
                "imageDataDeliveryEnabled": False,
                "embeddingDataDeliveryEnabled": False,
            }
        }
        call = cr.AwsSdkCall(
            service="bedrock",
            action="PutModelInvocationLoggingConfiguration",
            parameters=logging_config,
            physical_resource_id=cr.PhysicalResourceId.of(f"bedrock-invocation-logging-{self.region}"),
        )
        setting = cr.AwsCustomResource(
            self,
            "InvocationLogging",
            on_create=call,
            on_update=call,
            on_delete=cr.AwsSdkCall(service="bedrock", action="DeleteModelInvocationLoggingConfiguration"),
            policy=cr.AwsCustomResourcePolicy.from_statements(
                [
                    iam.PolicyStatement(
                        actions=[
                            "bedrock:PutModelInvocationLoggingConfiguration",
                            "bedrock:DeleteModelInvocationLoggingConfiguration",
                        ],
                        resources=["*"],
                    ),
                    iam.PolicyStatement(actions=["iam:PassRole"], resources=[delivery_role.role_arn]),
                ]
            ),
            install_latest_aws_sdk=False,
        )
        setting.node.add_dependency(log_group, delivery_role)
        provider = self.node.find_child(_AWS_CUSTOM_RESOURCE_PROVIDER_ID)
        acknowledge(
            provider.node.find_child("ServiceRole"),
            "AwsSolutions-IAM4",
            "CDK's AwsCustomResource provider role: AWSLambdaBasicExecutionRole only lets it write its own logs.",
            finding="Policy::arn:<AWS::Partition>:iam::aws:policy/service-role/AWSLambdaBasicExecutionRole",
        )
        acknowledge(
            setting.node.find_child("CustomResourcePolicy"),
            "AwsSolutions-IAM5",
            "Bedrock's invocation-logging configuration is an account setting: its API has no resource ARN.",
            finding="Resource::*",
        )


def _price_table(models: tuple[LlmModelConfig, ...]) -> dict[str, dict[str, float]]:
    return {m.id: {"input_per_1k": m.input_per1k_usd, "output_per_1k": m.output_per1k_usd} for m in models}


def _grant_invoke(role: iam.IRole, model_ids: Sequence[str], *, actions: list[str], sid: str) -> None:
    """Let `role` call exactly these models (foundation model IDs or cross-Region inference profile IDs).

    A foundation model is named by its ARN in this Region. An inference profile is named by its own ARN,
    and Bedrock then also authorizes the call on the foundation model in whichever destination Region the
    profile routes it to; that set of Regions is AWS's to change, so the foundation model's ARN has a
    Region wildcard, fenced by the ``bedrock:InferenceProfileArn`` condition: it allows the model only
    when the call comes through that one profile, never as a direct call in another Region.
    """
    stack = Stack.of(role)
    catalog = shipped_catalog()
    direct: list[str] = []
    routed: list[tuple[str, str, str]] = []  # (profile ID, its ARN, the foundation model's ARN in any Region)
    for model_id in model_ids:
        prefix, base = catalog.split(model_id)
        if prefix is None:
            direct.append(f"arn:{stack.partition}:bedrock:{stack.region}::foundation-model/{model_id}")
            continue
        profile = format_arn(stack, service="bedrock", resource="inference-profile", resource_name=model_id)
        direct.append(profile)
        routed.append((model_id, profile, f"arn:{stack.partition}:bedrock:*::foundation-model/{base}"))
    role.add_to_principal_policy(iam.PolicyStatement(sid=sid, actions=actions, resources=direct))
    for index, (profile_id, profile, model_arn) in enumerate(routed, start=1):
        role.add_to_principal_policy(
            iam.PolicyStatement(
                sid=f"{sid}ViaProfile{index}",
                actions=actions,
                resources=[model_arn],
                conditions={"StringEquals": {"bedrock:InferenceProfileArn": profile}},
            )
        )
        assert isinstance(role, iam.Role)
        acknowledge_wildcard_resource(
            role,
            model_arn,
            f"The foundation model behind inference profile {profile_id} in whichever destination "
            "Region the profile routes a call to (AWS may add Regions); allowed only through that profile "
            "(bedrock:InferenceProfileArn condition), so it permits no direct call in any Region.",
        )
