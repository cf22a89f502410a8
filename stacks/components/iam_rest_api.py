"""An API Gateway REST API in front of a Lambda function, for callers that sign with AWS IAM."""

from __future__ import annotations

from aws_cdk import RemovalPolicy
from aws_cdk import aws_apigateway as apigateway
from aws_cdk import aws_kms as kms
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_logs as logs
from constructs import Construct

from stacks.nag import acknowledge

STAGE = "v1"


def iam_rest_api(
    scope: Construct,
    construct_id: str,
    *,
    handler: lambda_.IFunction,
    description: str,
    proxy: bool,
    key: kms.IKey,
    log_retention: logs.RetentionDays,
    removal_policy: RemovalPolicy,
    rate_limit: int,
    burst_limit: int,
    waf_reason: str,
) -> tuple[apigateway.LambdaRestApi, apigateway.RequestValidator]:
    """A regional REST API: IAM (SigV4) on every method, KMS-encrypted JSON access logs, X-Ray,
    throttling, and a request validator for the caller to attach to its methods.

    Created in `scope` (construct IDs ``ApiAccessLogs`` and `construct_id`), so the stacks keep the
    logical IDs they had. `waf_reason` says why this API has no WAF web ACL.
    """
    access_logs = logs.LogGroup(
        scope, "ApiAccessLogs", encryption_key=key, retention=log_retention, removal_policy=removal_policy
    )
    api = apigateway.LambdaRestApi(
        scope,
        construct_id,
        handler=handler,
        proxy=proxy,
        description=description,
        cloud_watch_role=False,
        default_method_options=apigateway.MethodOptions(authorization_type=apigateway.AuthorizationType.IAM),
        deploy_options=apigateway.StageOptions(
            stage_name=STAGE,
            tracing_enabled=True,
            throttling_rate_limit=rate_limit,
            throttling_burst_limit=burst_limit,
            access_log_destination=apigateway.LogGroupLogDestination(access_logs),
            access_log_format=apigateway.AccessLogFormat.json_with_standard_fields(
                caller=True,
                http_method=True,
                ip=True,
                protocol=True,
                request_time=True,
                resource_path=True,
                response_length=True,
                status=True,
                user=True,
            ),
        ),
        endpoint_types=[apigateway.EndpointType.REGIONAL],
    )
    validator = api.add_request_validator("Validator", validate_request_parameters=True, validate_request_body=True)
    stage = api.deployment_stage.node.default_child
    assert stage is not None
    acknowledge(stage, "AwsSolutions-APIG3", waf_reason)
    acknowledge(
        stage,
        "AwsSolutions-APIG6",
        "Access logs (JSON, KMS-encrypted) record every request; execution logging would need the "
        "account-wide API Gateway CloudWatch role, which this stack does not own.",
    )
    return api, validator


def acknowledge_iam_auth(method: apigateway.Method) -> None:
    """cdk-nag's COG4 asks for Cognito; these methods authorize with IAM instead."""
    acknowledge(
        method,
        "AwsSolutions-COG4",
        "Authorization is AWS IAM (SigV4): callers are roles of this account, not Cognito users.",
    )
