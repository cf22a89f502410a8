"""The real-time endpoint's operations: promotion on approval, alarms, drift → retraining, dashboard."""

from __future__ import annotations

from collections.abc import Callable

from aws_cdk import Duration, RemovalPolicy, Stack
from aws_cdk import aws_cloudwatch as cloudwatch
from aws_cdk import aws_events as events
from aws_cdk import aws_events_targets as targets
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from aws_cdk import aws_logs as logs
from aws_cdk import aws_s3 as s3
from aws_cdk import aws_sqs as sqs
from constructs import Construct

from pipelines.training import images
from pipelines.training.definition import DEFAULT_ARTIFACTS_PREFIX
from stacks.clarify_config import ClarifyConfig
from stacks.components.access import acknowledge_wildcard_resource, grant_objects, grant_sagemaker_job_basics
from stacks.components.alerts import Alerts
from stacks.components.clarify_alarms import ClarifyMonitorAlarms, has_schedules, monitored_gates, schedule_names
from stacks.components.python_function import PythonFunction
from stacks.components.queues import dead_letter_queue
from stacks.config import EndpointConfig
from stacks.partition import format_arn, url_suffix

VARIANT = "AllTraffic"
CAPTURE_PREFIX = "data-capture"
# Model Monitor reports drift per feature of the data-quality baseline; these carry most of the signal.
DRIFT_FEATURES = ("tenure_months", "monthly_charges", "support_calls")
DRIFT_THRESHOLD = 0.2
METRICS_NAMESPACE = "Mlops/Endpoints"


class ModelEndpoint(Construct):
    """Everything around the endpoint except the endpoint itself, which the promotion function creates.

    The endpoint serves a model version that is only known when someone approves it in the registry,
    so it cannot be a CloudFormation resource. An EventBridge rule sends the approval to the
    promotion function (`lambdas/model_promotion/`), which checks the package's metrics and creates
    or blue/green-updates the endpoint (serverless, or provisioned with data capture and autoscaling),
    rolling back automatically on the 5xx and latency alarms defined here. A drift alarm on Model
    Monitor's metrics starts retraining (`retraining`: Level 1's state machine, or a team's pipeline):
    the new model again waits for approval. With `clarify` enabled and a provisioned endpoint, alarms on
    the model-bias schedule's metrics notify (``clarify_alarms.py``); serverless endpoints have no Model
    Monitor, so they get none.

    Per environment: endpoint mode and sizing, capture sampling, latency threshold, minimum AUC. A
    team's copy (Level 3) reads and captures under the team's prefixes, names its model role so the
    team boundary lets it be passed, and has no dashboard of its own (3 USD a month each).
    """

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        endpoint_name: str,
        settings: EndpointConfig,
        key: kms.IKey,
        artifacts_bucket: s3.IBucket,
        model_package_group_name: str,
        retraining: events.IRuleTarget,
        alerts: Alerts,
        test_data_uri: str | None,
        log_retention: logs.RetentionDays,
        removal_policy: RemovalPolicy,
        artifacts_prefix: str = DEFAULT_ARTIFACTS_PREFIX,
        capture_prefix: str = CAPTURE_PREFIX,
        model_role_name: str | None = None,
        dashboard: bool = True,
        clarify: ClarifyConfig,
    ) -> None:
        super().__init__(scope, construct_id)
        stack = Stack.of(self)
        self.endpoint_name = endpoint_name
        # Decided here and handed to the promotion function, so its schedules are the ones the alarms watch.
        self.clarify_schedules = schedule_names(endpoint_name)

        # --- the role SageMaker runs the model (and Model Monitor) under ------------------------------
        self.model_role = iam.Role(
            self,
            "ModelRole",
            role_name=model_role_name,
            assumed_by=iam.ServicePrincipal("sagemaker.amazonaws.com"),
            description=f"Runs {endpoint_name}'s model and its data-quality monitor",
        )
        grant_objects(
            self.model_role,
            artifacts_bucket,
            key,
            prefix=f"{artifacts_prefix}/",
            purpose="The endpoint loads model artifacts the training pipeline wrote",
        )
        grant_objects(
            self.model_role,
            artifacts_bucket,
            key,
            prefix=f"{capture_prefix}/",
            write=True,
            purpose="Model Monitor reads captured requests and writes its reports",
        )
        self.monitor_image = images.model_monitor_image_uri(stack.region, url_suffix=url_suffix(stack))
        # Model-bias and explainability monitoring (lambdas/model_promotion/clarify_monitoring.py) run Clarify.
        self.clarify_image = images.clarify_image_uri(stack.region, url_suffix=url_suffix(stack))
        grant_sagemaker_job_basics(
            self.model_role,
            image_uris=[
                images.xgboost_image_uri(stack.region, url_suffix=url_suffix(stack)),
                self.monitor_image,
                self.clarify_image,
            ],
            # Model Monitor publishes the per-feature drift metrics the drift alarm watches; Clarify's
            # monitors publish the bias and attribution metrics.
            metric_namespaces=[
                "aws/sagemaker/Endpoints/data-metrics",
                "aws/sagemaker/Endpoints/bias-metrics",
                "aws/sagemaker/Endpoints/explainability-metrics",
            ],
        )
        key.grant(self.model_role, "kms:CreateGrant", "kms:DescribeKey")

        # --- alarms that roll an update back, and the drift alarm -------------------------------------
        def endpoint_metric(name: str, statistic: str) -> cloudwatch.Metric:
            return cloudwatch.Metric(
                namespace="AWS/SageMaker",
                metric_name=name,
                dimensions_map={"EndpointName": endpoint_name, "VariantName": VARIANT},
                statistic=statistic,
                period=Duration.minutes(1),
            )

        def alarm(alarm_id: str, metric: cloudwatch.IMetric, threshold: float, description: str) -> cloudwatch.Alarm:
            return alerts.alarm(
                cloudwatch.Alarm(
                    self,
                    alarm_id,
                    metric=metric,
                    threshold=threshold,
                    evaluation_periods=3,
                    datapoints_to_alarm=2,
                    comparison_operator=cloudwatch.ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
                    treat_missing_data=cloudwatch.TreatMissingData.NOT_BREACHING,
                    alarm_description=description,
                )
            )

        self.errors_5xx = alarm(
            "Endpoint5xx", endpoint_metric("Invocation5XXErrors", "Sum"), 1, f"{endpoint_name} returns 5xx errors"
        )
        self.latency = alarm(
            "EndpointLatencyP99",
            # ModelLatency is reported in microseconds.
            endpoint_metric("ModelLatency", "p99"),
            settings.p99_latency_ms * 1000,
            f"{endpoint_name}'s p99 model latency is above {settings.p99_latency_ms} ms",
        )
        self.invocation_errors = alarm(
            "EndpointInvocationErrors",
            endpoint_metric("Invocation4XXErrors", "Sum"),
            10,
            f"{endpoint_name} rejects requests (4xx): callers send what the model does not accept",
        )
        drift_metrics = {
            f"f{index}": cloudwatch.Metric(
                namespace="aws/sagemaker/Endpoints/data-metrics",
                metric_name=f"feature_baseline_drift_{feature}",
                dimensions_map={"Endpoint": endpoint_name, "MonitoringSchedule": f"{endpoint_name}-data-quality"},
                statistic="Maximum",
                period=Duration.hours(1),
            )
            for index, feature in enumerate(DRIFT_FEATURES)
        }
        self.drift = alerts.alarm(
            cloudwatch.Alarm(
                self,
                "DataDrift",
                metric=cloudwatch.MathExpression(
                    expression=f"MAX([{', '.join(drift_metrics)}])",
                    using_metrics=drift_metrics,
                    label="largest feature drift",
                    period=Duration.hours(1),
                ),
                threshold=DRIFT_THRESHOLD,
                evaluation_periods=1,
                comparison_operator=cloudwatch.ComparisonOperator.GREATER_THAN_THRESHOLD,
                treat_missing_data=cloudwatch.TreatMissingData.NOT_BREACHING,
                alarm_description=f"Input data of {endpoint_name} drifted from the training baseline: retraining",
            )
        )
        # Closing the loop: drift retrains, and the new model waits for approval like any other.
        self.retrain_on_drift = events.Rule(
            self,
            "RetrainOnDrift",
            description="The drift alarm went into ALARM: start the Level 1 retraining",
            event_pattern=events.EventPattern(
                source=["aws.cloudwatch"],
                detail_type=["CloudWatch Alarm State Change"],
                resources=[self.drift.alarm_arn],
                detail={"state": {"value": ["ALARM"]}},
            ),
            targets=[retraining],
        )

        # Model bias of the served model: only where the schedules can exist (instance-based endpoints) and
        # the pipeline registers Clarify baselines; notify only (docs/bias-and-experiments.md says why).
        self.clarify_alarms: ClarifyMonitorAlarms | None = None
        if has_schedules(settings.mode, clarify):
            self.clarify_alarms = ClarifyMonitorAlarms(
                self,
                "ClarifyMonitor",
                endpoint_name=endpoint_name,
                schedules=self.clarify_schedules,
                gates=monitored_gates(clarify),
                alerts=alerts,
            )

        # --- where an approval event goes when the promotion cannot be invoked -------------------------
        self.dead_letters = self._dead_letter_queue(alerts, removal_policy)

        # --- promotion ---------------------------------------------------------------------------------
        self.promotion = PythonFunction(
            self,
            "Promotion",
            name="model_promotion",
            description="Deploy an approved model version to the endpoint (blue/green, automatic rollback)",
            environment={
                "ENDPOINT_NAME": endpoint_name,
                "ENDPOINT_MODE": settings.mode,
                "MODEL_EXECUTION_ROLE_ARN": self.model_role.role_arn,
                "MODEL_PACKAGE_GROUP_NAME": model_package_group_name,
                "MIN_AUC": str(settings.min_auc),
                "SERVERLESS_MEMORY_MB": str(settings.serverless_memory_mb),
                "SERVERLESS_MAX_CONCURRENCY": str(settings.serverless_max_concurrency),
                "INSTANCE_TYPE": settings.instance_type,
                "INITIAL_INSTANCE_COUNT": str(settings.min_instances),
                "AUTOSCALING_MIN_CAPACITY": str(settings.min_instances),
                "AUTOSCALING_MAX_CAPACITY": str(settings.max_instances),
                "AUTOSCALING_TARGET_INVOCATIONS": str(settings.target_invocations_per_instance),
                "CAPTURE_BUCKET": artifacts_bucket.bucket_name,
                "CAPTURE_PREFIX": capture_prefix,
                "CAPTURE_SAMPLING_PERCENT": str(settings.data_capture_percent),
                "KMS_KEY_ID": key.key_arn,
                "MONITOR_ROLE_ARN": self.model_role.role_arn,
                "MONITOR_IMAGE_URI": self.monitor_image,
                "MONITOR_OUTPUT_URI": artifacts_bucket.s3_url_for_object(f"{capture_prefix}/monitoring-reports"),
                # Without the Clarify checks no version has Clarify baselines: the function then says "not
                # configured" and `make cost` prices no Clarify schedule.
                **(
                    {
                        "CLARIFY_IMAGE_URI": self.clarify_image,
                        # Labels for model-bias monitoring, uploaded by whoever learns the outcome (see docs).
                        "GROUND_TRUTH_URI": artifacts_bucket.s3_url_for_object(f"{capture_prefix}/ground-truth"),
                        "MODEL_BIAS_SCHEDULE_NAME": self.clarify_schedules["bias"],
                        "EXPLAINABILITY_SCHEDULE_NAME": self.clarify_schedules["explainability"],
                    }
                    if clarify.enabled
                    else {}
                ),
                **({"TEST_DATA_TARGET_URI": test_data_uri} if test_data_uri else {}),
                "ROLLBACK_ALARMS": ",".join([self.errors_5xx.alarm_name, self.latency.alarm_name]),
                "POWERTOOLS_SERVICE_NAME": "model-promotion",
                "POWERTOOLS_METRICS_NAMESPACE": METRICS_NAMESPACE,
            },
            key=key,
            log_retention=log_retention,
            removal_policy=removal_policy,
            timeout=Duration.minutes(2),
        )
        self._grant_promotion(stack, key, artifacts_bucket, artifacts_prefix, model_package_group_name, test_data_uri)
        for rule_id, pattern in (
            (
                "OnModelApproved",
                events.EventPattern(
                    source=["aws.sagemaker"],
                    detail_type=["SageMaker Model Package State Change"],
                    detail={"ModelPackageGroupName": [model_package_group_name], "ModelApprovalStatus": ["Approved"]},
                ),
            ),
            (
                "OnEndpointInService",
                events.EventPattern(
                    source=["aws.sagemaker"],
                    detail_type=["SageMaker Endpoint State Change"],
                    detail={"EndpointName": [endpoint_name], "EndpointStatus": ["IN_SERVICE"]},
                ),
            ),
        ):
            events.Rule(
                self,
                rule_id,
                event_pattern=pattern,
                targets=[
                    targets.LambdaFunction(
                        self.promotion.function,
                        retry_attempts=4,
                        max_event_age=Duration.hours(6),
                        dead_letter_queue=self.dead_letters,
                    )
                ],
            )

        # --- dashboard ---------------------------------------------------------------------------------
        self.dashboard: cloudwatch.Dashboard | None = None
        if dashboard:
            self._dashboard(endpoint_metric)

    def _dead_letter_queue(self, alerts: Alerts, removal_policy: RemovalPolicy) -> sqs.Queue:
        """A KMS-encrypted, SSL-only queue for the events EventBridge could not deliver, and its alarm.

        EventBridge sends a target's failed events here after its retries (the rule's target adds the
        queue policy statement, scoped to the rule by ``aws:SourceArn``). Its key is the queue's own:
        the KMS request EventBridge makes through SQS carries no ``aws:SourceArn``/``aws:SourceAccount``,
        so the key policy cannot scope the EventBridge principal further than to this one key.
        """
        key = kms.Key(
            self,
            "DeadLettersKey",
            description=f"Encrypts the events EventBridge could not deliver to {self.endpoint_name}'s promotion",
            enable_key_rotation=True,
            removal_policy=removal_policy,
        )
        key.add_to_resource_policy(
            iam.PolicyStatement(
                sid="EventBridgeSendsFailedEvents",
                principals=[iam.ServicePrincipal("events.amazonaws.com")],
                actions=["kms:Decrypt", "kms:GenerateDataKey*"],
                resources=["*"],
            )
        )
        queue = dead_letter_queue(
            self, "DeadLetters", key=key, removal_policy=removal_policy, what_for="the promotion's event targets"
        )
        queue.alarm = alerts.alarm(
            cloudwatch.Alarm(
                self,
                "PromotionEventsUndelivered",
                metric=queue.metric_approximate_number_of_messages_visible(
                    period=Duration.minutes(5), statistic="Maximum"
                ),
                threshold=1,
                evaluation_periods=1,
                comparison_operator=cloudwatch.ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
                treat_missing_data=cloudwatch.TreatMissingData.NOT_BREACHING,
                alarm_description=(
                    f"An approval or endpoint event never reached {self.endpoint_name}'s promotion function: "
                    "read it from the dead-letter queue and promote by hand"
                ),
            )
        )
        return queue

    def _dashboard(self, endpoint_metric: Callable[[str, str], cloudwatch.Metric]) -> None:
        self.dashboard = cloudwatch.Dashboard(self, "Dashboard", dashboard_name=f"{self.endpoint_name}-operations")
        clarify_alarms = self.clarify_alarms.alarms if self.clarify_alarms else []
        self.dashboard.add_widgets(
            cloudwatch.GraphWidget(title="Invocations", left=[endpoint_metric("Invocations", "Sum")]),
            cloudwatch.GraphWidget(title="p99 model latency (µs)", left=[endpoint_metric("ModelLatency", "p99")]),
            cloudwatch.GraphWidget(
                title="Errors",
                left=[endpoint_metric("Invocation5XXErrors", "Sum"), endpoint_metric("Invocation4XXErrors", "Sum")],
            ),
            cloudwatch.AlarmStatusWidget(
                title="Alarms",
                alarms=[self.errors_5xx, self.latency, self.invocation_errors, self.drift, *clarify_alarms],
            ),
        )
        if self.clarify_alarms is not None:
            self.dashboard.add_widgets(*self.clarify_alarms.widgets())

    def _grant_promotion(
        self,
        stack: Stack,
        key: kms.IKey,
        artifacts_bucket: s3.IBucket,
        artifacts_prefix: str,
        group_name: str,
        test_data_uri: str | None,
    ) -> None:
        role = self.promotion.role
        name = self.endpoint_name

        def arn(resource: str, resource_name: str) -> str:
            return format_arn(stack, service="sagemaker", resource=resource, resource_name=resource_name)

        packages = arn("model-package", f"{group_name}/*")
        job_definitions = arn("data-quality-job-definition", f"{name}-dq-*")
        schedule = arn("monitoring-schedule", f"{name}-data-quality")
        clarify_definitions = [
            arn("model-bias-job-definition", f"{name}-mb-*"),
            arn("model-explainability-job-definition", f"{name}-me-*"),
        ]
        clarify_schedules = [arn("monitoring-schedule", schedule) for schedule in self.clarify_schedules.values()]
        models, configs, endpoint = (
            arn("model", f"{name}-*"),
            arn("endpoint-config", f"{name}-*"),
            arn("endpoint", name),
        )
        role.add_to_policy(
            iam.PolicyStatement(
                sid="ReadApprovedPackages", actions=["sagemaker:DescribeModelPackage"], resources=[packages]
            )
        )
        role.add_to_policy(
            iam.PolicyStatement(
                sid="DeployTheEndpoint",
                actions=[
                    "sagemaker:CreateModel",
                    "sagemaker:DescribeModel",
                    "sagemaker:CreateEndpointConfig",
                    "sagemaker:DescribeEndpointConfig",
                    "sagemaker:CreateEndpoint",
                    "sagemaker:UpdateEndpoint",
                    "sagemaker:DescribeEndpoint",
                    "sagemaker:UpdateEndpointWeightsAndCapacities",
                    "sagemaker:AddTags",
                ],
                resources=[models, configs, endpoint],
            )
        )
        role.add_to_policy(
            iam.PolicyStatement(
                sid="ScheduleDataQualityMonitoring",
                actions=[
                    "sagemaker:CreateDataQualityJobDefinition",
                    "sagemaker:DescribeDataQualityJobDefinition",
                    "sagemaker:CreateMonitoringSchedule",
                    "sagemaker:DescribeMonitoringSchedule",
                    "sagemaker:UpdateMonitoringSchedule",
                    "sagemaker:AddTags",
                ],
                resources=[job_definitions, schedule],
            )
        )
        role.add_to_policy(
            iam.PolicyStatement(
                sid="ScheduleClarifyMonitoring",
                actions=[
                    "sagemaker:CreateModelBiasJobDefinition",
                    "sagemaker:DescribeModelBiasJobDefinition",
                    "sagemaker:CreateModelExplainabilityJobDefinition",
                    "sagemaker:DescribeModelExplainabilityJobDefinition",
                    "sagemaker:CreateMonitoringSchedule",
                    "sagemaker:DescribeMonitoringSchedule",
                    "sagemaker:UpdateMonitoringSchedule",
                    "sagemaker:AddTags",
                ],
                resources=[*clarify_definitions, *clarify_schedules],
            )
        )
        for definition in clarify_definitions:
            acknowledge_wildcard_resource(
                role,
                definition,
                "Clarify job definitions are immutable: one per content digest, scoped to this endpoint.",
            )
        role.add_to_policy(
            iam.PolicyStatement(
                sid="PassTheModelRole",
                actions=["iam:PassRole"],
                resources=[self.model_role.role_arn],
                conditions={"StringEquals": {"iam:PassedToService": "sagemaker.amazonaws.com"}},
            )
        )
        role.add_to_policy(
            iam.PolicyStatement(
                sid="ReadRollbackAlarms",
                actions=["cloudwatch:DescribeAlarms"],
                resources=[self.errors_5xx.alarm_arn, self.latency.alarm_arn],
            )
        )
        role.add_to_policy(
            iam.PolicyStatement(
                sid="Autoscaling",
                actions=[
                    "application-autoscaling:RegisterScalableTarget",
                    "application-autoscaling:DeregisterScalableTarget",
                    "application-autoscaling:PutScalingPolicy",
                    "application-autoscaling:DescribeScalableTargets",
                    "application-autoscaling:DescribeScalingPolicies",
                ],
                resources=["*"],
            )
        )
        role.add_to_policy(
            iam.PolicyStatement(
                sid="AutoscalingServiceLinkedRole",
                actions=["iam:CreateServiceLinkedRole"],
                resources=["*"],
                conditions={"StringEquals": {"iam:AWSServiceName": "sagemaker.application-autoscaling.amazonaws.com"}},
            )
        )
        grant_objects(
            role,
            artifacts_bucket,
            key,
            prefix=f"{artifacts_prefix}/",
            purpose="The promotion reads each package's evaluation report before deploying it",
        )
        if test_data_uri:
            grant_objects(
                role,
                artifacts_bucket,
                key,
                prefix="test-data/",
                write=True,
                purpose="The promotion copies the deployed version's held-out test split for the batch test",
            )
        key.grant(role, "kms:CreateGrant", "kms:DescribeKey")
        for resource, reason in (
            (job_definitions, "Each baseline gets its own data-quality job definition; scoped to this endpoint's."),
            (packages, "Model versions get numbered ARNs at registration; scoped to this use case's group."),
            (models, "Each promotion creates a model named after the endpoint and a request hash; scoped by prefix."),
            (configs, "Each promotion creates an endpoint config named after the endpoint; scoped by prefix."),
            (
                "*",
                "X-Ray tracing and Application Auto Scaling have no resource-level permissions; the service-linked "
                "role creation is conditioned on the autoscaling service.",
            ),
        ):
            acknowledge_wildcard_resource(role, resource, reason)
