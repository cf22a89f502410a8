"""Shims for API Gateway request validators and stages.

See :mod:`emulator.shims` for the rules every shim follows."""

from __future__ import annotations

import contextlib
from typing import Any

from moto.apigateway.models import apigateway_backends
from moto.core.common_models import CloudFormationModel

from emulator.shims.base import _Shim

# ------------------------------------------------------------------------------------------------
# API Gateway


class ApiGatewayRequestValidator(_Shim, CloudFormationModel):
    """AWS::ApiGateway::RequestValidator in moto's API Gateway backend (``get_request_validators``).

    Not emulated: validation itself; moto's REST APIs do not validate requests.
    """

    cfn_type = "AWS::ApiGateway::RequestValidator"
    attributes = frozenset({"RequestValidatorId"})
    note = "moto API Gateway request validator; requests are not validated"

    def _create(self) -> None:
        validator = apigateway_backends[self.account_id][self.region_name].create_request_validator(
            restapi_id=str(self.properties["RestApiId"]),
            name=str(self.properties.get("Name") or self.name),
            body=bool(self.properties.get("ValidateRequestBody", False)),
            params=bool(self.properties.get("ValidateRequestParameters", False)),
        )
        self.validator_id = str(validator.id)

    def _delete(self) -> None:
        backend = apigateway_backends[self.account_id][self.region_name]
        with contextlib.suppress(Exception):  # the REST API may already be gone with its validators
            backend.delete_request_validator(str(self.properties["RestApiId"]), self.validator_id)

    @property
    def physical_resource_id(self) -> str:
        return self.validator_id

    def _attribute(self, attribute: str) -> Any:
        return self.validator_id


class ApiGatewayStage(_Shim, CloudFormationModel):
    """AWS::ApiGateway::Stage in moto's API Gateway backend (``get_stage`` finds it).

    Emulated: the stage, its deployment, variables and tracing flag. Not emulated: access logging,
    throttling and method settings (stored by CloudFormation only).
    """

    cfn_type = "AWS::ApiGateway::Stage"
    name_property = "StageName"
    note = "moto API Gateway stage; access logs, throttling and method settings are not applied"

    def _create(self) -> None:
        apigateway_backends[self.account_id][self.region_name].create_stage(
            function_id=str(self.properties["RestApiId"]),
            stage_name=self.name,
            deploymentId=str(self.properties.get("DeploymentId", "")),
            variables=self.properties.get("Variables"),
            description=str(self.properties.get("Description", "")),
            tracing_enabled=bool(self.properties.get("TracingEnabled", False)),
        )

    def _delete(self) -> None:
        backend = apigateway_backends[self.account_id][self.region_name]
        with contextlib.suppress(Exception):  # deleting the REST API removes its stages too
            backend.delete_stage(str(self.properties["RestApiId"]), self.name)
