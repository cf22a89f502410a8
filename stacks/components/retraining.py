"""Retraining triggers: new raw data or the schedule run the ETL job, then the training pipeline."""

from __future__ import annotations

from aws_cdk import Duration, RemovalPolicy
from aws_cdk import aws_events as events
from aws_cdk import aws_events_targets as targets
from aws_cdk import aws_kms as kms
from aws_cdk import aws_logs as logs
from aws_cdk import aws_s3 as s3
from aws_cdk import aws_stepfunctions as sfn
from aws_cdk import aws_stepfunctions_tasks as tasks
from constructs import Construct

from stacks.nag import acknowledge

# Glue refuses a second run of a job whose MaxConcurrentRuns is 1; the running one covers the prefix.
GLUE_CONCURRENT_RUNS = "Glue.ConcurrentRunsExceededException"
# The pipeline trains from the feature groups' offline store, which Feature Store fills from the ETL job's
# PutRecord calls "within 15 minutes" (Developer Guide, offline store data format): started at once, it would
# train on the previous run's features (or find no offline store at all after the first ETL run).
OFFLINE_STORE_DELIVERY = Duration.minutes(15)


class RetrainingTriggers(Construct):
    """A state machine that refreshes the curated data and features, waits for the offline store, then trains.

    Two EventBridge rules start it: new objects under the raw dataset prefix (the raw bucket sends
    its object events to EventBridge), and the schedule from config. Running the ETL job first, then
    waiting :data:`OFFLINE_STORE_DELIVERY` for Feature Store to deliver its records to the offline store,
    means the pipeline trains on features that include the new objects; when the job is
    already running (a burst of uploads), that execution ends quietly and the running job's own
    retraining covers the burst, up to the objects that arrive after it listed the prefix (the next
    upload or the schedule covers those).

    Per environment: the schedule, log retention and removal policy.
    """

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        etl_job_name: str,
        pipeline_name: str,
        pipeline_arn: str,
        raw_bucket: s3.IBucket,
        raw_prefix: str,
        schedule: str,
        key: kms.IKey,
        log_retention: logs.RetentionDays,
        removal_policy: RemovalPolicy,
    ) -> None:
        super().__init__(scope, construct_id)
        run_etl = tasks.GlueStartJobRun(
            self,
            "RefreshCuratedData",
            glue_job_name=etl_job_name,
            integration_pattern=sfn.IntegrationPattern.RUN_JOB,
            result_path=sfn.JsonPath.DISCARD,
            task_timeout=sfn.Timeout.duration(Duration.hours(2)),
        )
        start_pipeline = tasks.CallAwsService(
            self,
            "StartTrainingPipeline",
            service="sagemaker",
            action="startPipelineExecution",
            iam_resources=[pipeline_arn],
            parameters={
                "PipelineName": pipeline_name,
                # An idempotent token for retries, the same for every attempt of one execution. Not the
                # execution name itself: SageMaker wants 32-128 characters and a hand-started run may be
                # named "retrain-now". The SHA-256 of the execution ARN is 64 hex characters, always.
                "ClientRequestToken.$": "States.Hash($$.Execution.Id, 'SHA-256')",
                "PipelineExecutionDescription.$": "States.Format('Started by {}', $$.Execution.Id)",
            },
        )
        run_etl.add_catch(
            sfn.Succeed(self, "EtlAlreadyRunning", comment="The running ETL job and its retraining cover this data"),
            errors=[GLUE_CONCURRENT_RUNS],
        )
        log_group = logs.LogGroup(
            self, "Logs", encryption_key=key, retention=log_retention, removal_policy=removal_policy
        )
        self.state_machine = sfn.StateMachine(
            self,
            "StateMachine",
            definition_body=sfn.DefinitionBody.from_chainable(
                run_etl.next(
                    sfn.Wait(
                        self,
                        "WaitForOfflineStore",
                        comment="Feature Store delivers the ETL job's records to the offline store within 15 minutes",
                        time=sfn.WaitTime.duration(OFFLINE_STORE_DELIVERY),
                    )
                ).next(start_pipeline)
            ),
            comment="Refresh curated data and features with the ETL job, wait for the offline store, start training",
            timeout=Duration.hours(3),
            tracing_enabled=True,
            logs=sfn.LogOptions(destination=log_group, level=sfn.LogLevel.ALL, include_execution_data=True),
        )
        policy = self.state_machine.role.node.find_child("DefaultPolicy")
        acknowledge(
            policy,
            "AwsSolutions-IAM5",
            "Step Functions' log delivery and X-Ray APIs have no resource-level permissions (CDK's standard grant).",
            finding="Resource::*",
        )

        self.on_new_data = events.Rule(
            self,
            "OnNewRawData",
            description="New objects in the raw dataset prefix: refresh curated data and retrain",
            event_pattern=events.EventPattern(
                source=["aws.s3"],
                detail_type=["Object Created"],
                detail={"bucket": {"name": [raw_bucket.bucket_name]}, "object": {"key": [{"prefix": raw_prefix}]}},
            ),
            targets=[targets.SfnStateMachine(self.state_machine)],
        )
        self.on_schedule = events.Rule(
            self,
            "OnSchedule",
            description="Scheduled retraining on the latest data",
            schedule=events.Schedule.expression(schedule),
            targets=[targets.SfnStateMachine(self.state_machine)],
        )
