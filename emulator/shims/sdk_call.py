"""CloudFormation shim for ``Custom::AWS`` (CDK's ``AwsCustomResource``): the SDK call run here, not in a Lambda.

On AWS, CDK's provider function receives the resource's ``Create``/``Update``/``Delete`` property (a JSON
string: ``service``, ``action``, ``parameters``, ``physicalResourceId``, ``ignoreErrorCodesMatching``) and
makes that one SDK call. moto would invoke the provider function, which needs Docker. This shim makes the
same call on the request CloudFormation would send, against the emulator's own state, for the calls listed
in :data:`_CALLS` only; any other call fails the deploy with its name (never a silent success).

* Create runs ``Create``; the physical id is ``physicalResourceId.id`` (else the logical id, standing in for
  the request id CDK's provider uses).
* Update runs the new ``Update``; when that changes the physical id, CloudFormation then deletes the old
  resource, i.e. runs the *old* ``Delete``: so does this shim.
* Delete runs ``Delete``; an error whose code matches ``ignoreErrorCodesMatching`` (a regular expression, as
  CDK tests it against the error's name) counts as success.

What it does not do: run the provider's Node.js code or evaluate its role's policy at call time (the
integration check of the deployed templates does the policy; see ``emulator.integrations_sdk_call``).
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Mapping
from typing import Any

import botocore.session
from botocore.exceptions import ParamValidationError
from botocore.validate import validate_parameters
from moto.core.common_models import CloudFormationModel

from emulator.shims.base import _Shim
from emulator.shims.mlflow import recorded_app

CFN_TYPE = "Custom::AWS"


class SdkCallError(Exception):
    """An SDK call failed with ``code`` (the error's name, which ``ignoreErrorCodesMatching`` is tested on)."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(f"{code}: {message}")
        self.code = code


_Handler = Callable[[str, str, Mapping[str, Any]], Mapping[str, Any]]

_DOMAIN_ID = re.compile(r"d-(-*[a-z0-9]){1,61}")


def update_mlflow_app(account_id: str, region_name: str, parameters: Mapping[str, Any]) -> Mapping[str, Any]:
    """SageMaker UpdateMlflowApp on a recorded app: only DefaultDomainIdList is kept (the other settings are
    CloudFormation properties here); ResourceNotFound for an app no stack holds, as the API answers."""
    arn = str(parameters["Arn"])
    app = recorded_app(account_id, region_name, arn)
    if app is None:
        raise SdkCallError("ResourceNotFound", f"MLflow app {arn} does not exist")
    if "DefaultDomainIdList" in parameters:
        domain_ids = [str(d) for d in parameters["DefaultDomainIdList"]]
        bad = [d for d in domain_ids if not _DOMAIN_ID.fullmatch(d)]
        if bad:
            raise SdkCallError("ValidationException", f"DefaultDomainIdList: {bad} are not domain ids")
        app.default_domain_ids = domain_ids
    return {"Arn": arn}


#: (service, action) in botocore's spelling -> the emulator's implementation (account, region, parameters).
_CALLS: dict[tuple[str, str], _Handler] = {
    ("sagemaker", "UpdateMlflowApp"): update_mlflow_app,
}


def normalize(service: str, action: str) -> tuple[str, str]:
    """CDK accepts SDK v2 and v3 spellings: ``SageMaker`` or ``@aws-sdk/client-sagemaker``, ``updateX`` or
    ``UpdateXCommand``."""
    service = service.removeprefix("@aws-sdk/client-").lower()
    action = action.removesuffix("Command")
    return service, action[:1].upper() + action[1:]


def run_call(account_id: str, region_name: str, call: Mapping[str, Any]) -> Mapping[str, Any]:
    """Make one AwsSdkCall (as CDK writes it into the template) against the emulator's state."""
    service, action = normalize(str(call.get("service", "")), str(call.get("action", "")))
    handler = _CALLS.get((service, action))
    if handler is None:
        raise NotImplementedError(
            f"{CFN_TYPE}: the SDK call {service}:{action} is not emulated; add it to emulator/shims/sdk_call.py"
        )
    parameters = call.get("parameters") or {}
    operation = botocore.session.get_session().get_service_model(service).operation_model(action)
    try:
        validate_parameters(parameters, operation.input_shape)
    except ParamValidationError as error:
        raise SdkCallError("ValidationException", f"{service}:{action}: {error}") from error
    try:
        return handler(account_id, region_name, parameters)
    except SdkCallError as error:
        pattern = call.get("ignoreErrorCodesMatching")
        if pattern and re.search(str(pattern), error.code):
            return {}
        raise


class AwsSdkCallResource(_Shim, CloudFormationModel):
    """Custom::AWS: its Create/Update/Delete SDK calls made against the emulator (see the module docstring)."""

    cfn_type = CFN_TYPE
    note = "shim: runs the resource's SDK call (Create/Update/Delete) against the emulator; listed calls only"

    def _request(self, request: str) -> dict[str, Any] | None:
        raw = self.properties.get(request)
        if raw is None:
            return None
        parsed = json.loads(raw) if isinstance(raw, str) else raw
        if not isinstance(parsed, dict):
            raise ValueError(f"{CFN_TYPE} {self.name}: {request} is not an SDK call object")
        return parsed

    def _run(self, request: str) -> None:
        call = self._request(request)
        if call is None:
            return
        run_call(self.account_id, self.region_name, call)
        if request != "Delete":
            resource_id = (call.get("physicalResourceId") or {}).get("id")
            self.resource_id = str(resource_id) if resource_id else self.name

    def _create(self) -> None:
        self.resource_id = self.name
        self._run("Create")

    @property
    def physical_resource_id(self) -> str:
        return self.resource_id

    def _delete(self) -> None:
        self._run("Delete")

    @classmethod
    def update_from_cloudformation_json(
        cls,
        original_resource: Any,
        new_resource_name: str,
        cloudformation_json: dict[str, Any],
        account_id: str,
        region_name: str,
    ) -> AwsSdkCallResource:
        properties = dict(cloudformation_json.get("Properties") or {})
        updated = cls(account_id, region_name, original_resource.name, properties)
        updated.resource_id = original_resource.resource_id
        updated._run("Update")  # no Update call: CDK's provider makes none and keeps the physical id
        if updated.resource_id != original_resource.resource_id:
            original_resource.delete(account_id, region_name)  # CloudFormation's cleanup: the old Delete
        return updated


SHIMS: tuple[type[_Shim], ...] = (AwsSdkCallResource,)
