"""MSK topic Lambda: the CloudFormation custom resource that creates and deletes the streaming test's topic.

Entry point ``topic_handler.handler``, the ``onEvent`` function of a CDK provider framework (whose own
function, outside the VPC, answers CloudFormation): it returns ``{"PhysicalResourceId", "Data"}`` or
raises, and the framework reports the error message as the resource's failure reason. See ``topic`` for
what each request does. Runs in the MSK cluster's isolated subnets with the producers' security group.

Environment: AWS_REGION (set by Lambda), POWERTOOLS_SERVICE_NAME, LOG_LEVEL.
"""

from __future__ import annotations

import os
from typing import Any

import topic
from aws_lambda_powertools import Logger
from aws_lambda_powertools.utilities.typing import LambdaContext
from common.settings import EnvSettings
from kafka import KafkaAdminClient
from kafka_connection import Connection, client_settings

logger = Logger()


@logger.inject_lambda_context
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    def admin_for(connection: Connection) -> topic.Admin:
        admin: topic.Admin = KafkaAdminClient(**client_settings(connection, client_id=context.function_name))
        return admin

    logger.info("topic request", request_type=event.get("RequestType"), physical_id=event.get("PhysicalResourceId"))
    # The region is checked with the request (a bad one fails the resource, naming AWS_REGION).
    region = EnvSettings(os.environ).raw("AWS_REGION")
    response: dict[str, Any] = topic.on_event(event, region, admin_for)
    logger.info("topic request done", **response)
    return response
