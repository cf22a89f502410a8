"""An EventBridge target that starts a SageMaker pipeline (aws-cdk-lib has no such target class)."""

from __future__ import annotations

import jsii
from aws_cdk import aws_events as events
from aws_cdk import aws_iam as iam
from aws_cdk.interfaces.aws_events import IRuleRef
from constructs import Construct


@jsii.implements(events.IRuleTarget)
class StartPipelineExecution:
    """Start `pipeline_arn` with its default parameters when the rule matches.

    The role EventBridge assumes is created once per target in `scope` and may start this one pipeline.
    """

    def __init__(self, scope: Construct, construct_id: str, *, pipeline_arn: str, role_name: str | None = None) -> None:
        self.pipeline_arn = pipeline_arn
        self.role = iam.Role(
            scope,
            construct_id,
            role_name=role_name,
            assumed_by=iam.ServicePrincipal("events.amazonaws.com"),
            description="EventBridge starts the pipeline",
        )
        self.role.add_to_policy(
            iam.PolicyStatement(actions=["sagemaker:StartPipelineExecution"], resources=[pipeline_arn])
        )

    def bind(self, rule: IRuleRef, id: str | None = None) -> events.RuleTargetConfig:
        # No SageMakerPipelineParameters: the execution runs with the pipeline's default parameters.
        return events.RuleTargetConfig(arn=self.pipeline_arn, role=self.role)
