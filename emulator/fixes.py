"""Small corrections to moto 5.2.5 that the CDK CLI and the tour run into (CloudFormation, EventBridge, S3 events).

Each fix replaces one moto function in this process only, is installed by :func:`apply` (which
:class:`emulator.server.LocalAws` calls), and is listed in :data:`ENGINE_FIXES` with the symptom it
removes, so the emulator's summary can say what it changed. Resource types are in
:mod:`emulator.shims`; this module only changes how moto runs stacks.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Callable
from types import SimpleNamespace
from typing import Any

from moto.apigateway.exceptions import NotFoundException
from moto.apigateway.models import apigateway_backends
from moto.cloudformation import parsing as cfn_parsing
from moto.cloudformation.models import CloudFormationBackend, Stack
from moto.cloudformation.parsing import ResourceMap
from moto.ec2.exceptions import InvalidFlowLogIdError, InvalidRouteTableIdError
from moto.ec2.models import ec2_backends
from moto.events.models import Rule as EventsRule
from moto.s3 import notifications as s3_notifications
from moto.s3.models import S3Backend

__all__ = ["ENGINE_FIXES", "apply"]

logger = logging.getLogger(__name__)

#: Fix name -> what moto gets wrong without it, and what the fix does instead.
ENGINE_FIXES: dict[str, str] = {
    "update-stack UsePreviousValue": (
        "moto fails UpdateStack (KeyError, HTTP 500) when asked to keep the previous value of a parameter "
        "that took its Default at creation, which the CDK CLI does for BootstrapVersion on every update; "
        "such a parameter now keeps its Default"
    ),
    "update of a type moto cannot update": (
        "for a changed resource whose moto model has no update (e.g. AWS::KMS::Key, AWS::Logs::LogGroup, "
        "AWS::EC2::*), moto replaced it with nothing, so later Refs to it dropped properties and delete "
        "skipped it; the original resource is now kept unchanged and a warning names it"
    ),
    "delete of EC2 types moto never deletes": (
        "moto leaves AWS::EC2::RouteTable, VPCEndpoint, FlowLog and SubnetRouteTableAssociation behind on "
        "stack delete, so deleting the VPC fails ('has dependencies'); they are now deleted through "
        "moto's EC2 backend (and AWS::ApiGateway::RestApi through its API Gateway backend)"
    ),
    "deleted stacks re-creating resources": (
        "moto evaluates a deleted stack's outputs whenever it is described or listed, and each Ref or GetAtt "
        "to a deleted resource silently re-creates that resource (a stack with exported bucket ARNs came back "
        "with four new buckets after cdk destroy); a deleted stack now has no outputs, as in AWS"
    ),
    "scheduled rules and S3 events": (
        "moto hands every event (S3's EventBridge notifications included) to schedule-only rules too, whose "
        "targets then raise, and S3's sender stops at the first error: a rule after a scheduled one in the "
        "account never got S3 events; a rule without an event pattern now matches no event, as in AWS"
    ),
    "DependsOn of a resource created through a Ref": (
        "moto creates a resource the moment another one's Ref or GetAtt needs it, without its DependsOn: an "
        "alarm on an API stage listed before the API's methods made moto create the stage's Deployment "
        "before any Method, which API Gateway refuses (HTTP 500 to the CLI: 'XML parse error'); the "
        "resources a resource DependsOn are now created first, as CloudFormation does"
    ),
    "S3 delete markers and events": (
        "moto sends no event when DeleteObject on a versioned bucket creates a delete marker; S3 sends "
        "s3:ObjectRemoved:DeleteMarkerCreated (EventBridge: Object Deleted), which the knowledge base's sync "
        "needs to see a deleted document; it is now sent"
    ),
}

_APPLIED_MARKER = "_emulator_fixed"


# -- UpdateStack parameters ------------------------------------------------------------------------


def _resolve_update_parameters(
    self: CloudFormationBackend, instance: Any, incoming_params: list[dict[str, str]]
) -> dict[str, str]:
    """moto's own logic, except that "use previous" for a parameter never passed means its Default."""
    parameters = {
        parameter["ParameterKey"]: parameter["ParameterValue"]
        for parameter in incoming_params
        if "ParameterValue" in parameter
    }
    for parameter in incoming_params:
        key = parameter["ParameterKey"]
        if parameter.get("UsePreviousValue", False) and key in instance.parameters:
            parameters[key] = instance.parameters[key]
    return parameters


# -- updates of types without an update ------------------------------------------------------------

_original_parse_and_update_resource = cfn_parsing.parse_and_update_resource


def _parse_and_update_resource(
    logical_id: str,
    resource_json: dict[str, Any],
    resources_map: ResourceMap,
    account_id: str,
    region_name: str,
) -> Any:
    updated = _original_parse_and_update_resource(logical_id, resource_json, resources_map, account_id, region_name)
    if updated is not None:
        return updated
    original = resources_map._parsed_resources.get(logical_id)
    if original is not None:
        logger.warning(
            "%s %s changed, but moto cannot update this type: kept it unchanged",
            resource_json.get("Type"),
            logical_id,
        )
    return original


# -- deletes of types without a delete -------------------------------------------------------------


def _delete_route_table(resource: Any, account_id: str, region_name: str) -> None:
    # Raises DependencyViolation while subnets are still associated; moto retries after other deletes.
    with contextlib.suppress(InvalidRouteTableIdError):
        ec2_backends[account_id][region_name].delete_route_table(resource.id)


def _delete_vpc_endpoint(resource: Any, account_id: str, region_name: str) -> None:
    try:
        ec2_backends[account_id][region_name].delete_vpc_endpoints([resource.id])
    except InvalidRouteTableIdError:
        # A gateway endpoint removes its routes first; a route table deleted earlier took them along.
        resource.state = "deleted"


def _delete_flow_log(resource: Any, account_id: str, region_name: str) -> None:
    with contextlib.suppress(InvalidFlowLogIdError):
        ec2_backends[account_id][region_name].delete_flow_logs([resource.id])


def _delete_subnet_association(resource: Any, account_id: str, region_name: str) -> None:
    # moto's CloudFormation association only records the pair; forget the record.
    associations = ec2_backends[account_id][region_name].subnet_associations
    associations.pop(f"{resource.route_table_id}:{resource.subnet_id}", None)


def _delete_rest_api(resource: Any, account_id: str, region_name: str) -> None:
    # Its resources, methods, deployments and stages go with it, as in API Gateway.
    with contextlib.suppress(NotFoundException):
        apigateway_backends[account_id][region_name].delete_rest_api(resource.id)


_DELETERS: dict[str, Callable[[Any, str, str], None]] = {
    "AWS::ApiGateway::RestApi": _delete_rest_api,
    "AWS::EC2::RouteTable": _delete_route_table,
    "AWS::EC2::VPCEndpoint": _delete_vpc_endpoint,
    "AWS::EC2::FlowLog": _delete_flow_log,
    "AWS::EC2::SubnetRouteTableAssociation": _delete_subnet_association,
}

_original_delete_resource = ResourceMap._delete_resource


def _delete_resource(self: ResourceMap, parsed_resource: Any, resource_json: dict[str, Any]) -> None:
    deleter = _DELETERS.get(str(resource_json.get("Type")))
    if deleter is not None and not callable(getattr(parsed_resource, "delete", None)):
        deleter(parsed_resource, self._account_id, self._region_name)
        return
    _original_delete_resource(self, parsed_resource, resource_json)


# -- deleted stacks --------------------------------------------------------------------------------

_original_stack_delete = Stack.delete


class _NoOutputs(dict[str, Any]):
    """The outputs of a deleted stack: none, and no exports, without evaluating anything."""

    @property
    def exports(self) -> list[Any]:
        return []


def _delete_stack(self: Stack) -> None:
    _original_stack_delete(self)
    # moto's OutputMap resolves Refs/GetAtts through the ResourceMap, which creates any resource it
    # does not hold: after the delete that would be every one of them.
    self.output_map = _NoOutputs()  # type: ignore[assignment]


# -- EventBridge: a schedule-only rule matches no event ------------------------------------------------

_original_send_to_targets = EventsRule.send_to_targets


def _send_to_targets(self: EventsRule, original_event: Any, transform_input: bool = True) -> None:
    if not self.event_pattern.get_pattern():
        return  # a rule with only a schedule: AWS sends it no events
    _original_send_to_targets(self, original_event, transform_input)


# -- S3: a delete marker is an ObjectRemoved event -----------------------------------------------------

_original_delete_object = S3Backend.delete_object


def _delete_object(
    self: S3Backend, bucket_name: str, key_name: str, version_id: str | None = None, bypass: bool = False
) -> tuple[bool, dict[str, Any]]:
    deleted, meta = _original_delete_object(self, bucket_name, key_name, version_id, bypass)
    if deleted and version_id is None and meta.get("delete-marker") == "true":
        # What S3 reports for a delete marker: the key and the marker's version, no size or ETag.
        marker = SimpleNamespace(name=key_name, size=0, etag="", version_id=meta.get("version-id"))
        s3_notifications.send_event(
            self.account_id,
            s3_notifications.S3NotificationEvent.OBJECT_REMOVED_DELETE_MARKER_CREATED_EVENT,
            self.get_bucket(bucket_name),
            marker,
        )
    return deleted, meta


# -- DependsOn for resources created on demand -----------------------------------------------------

_original_getitem = ResourceMap.__getitem__


def _getitem_after_dependencies(self: ResourceMap, key: str) -> Any:
    """moto's ResourceMap lookup, creating what the resource ``DependsOn`` before the resource itself.

    moto orders the top-level creation by DependsOn, but a Ref/GetAtt to a not-yet-created resource creates
    it on the spot (ResourceMap.__getitem__) and skips that order. CloudFormation rejects cyclic templates, so
    the recursion ends; ``_creating`` guards against a template that moto accepted anyway.
    """
    if key not in self._parsed_resources:
        resource_json = self._resource_json_map.get(key) or {}
        dependencies = resource_json.get("DependsOn") or []
        creating: set[str] = self.__dict__.setdefault("_emulator_creating", set())
        if key not in creating:
            creating.add(key)
            try:
                for dependency in [dependencies] if isinstance(dependencies, str) else dependencies:
                    if dependency in self._resource_json_map and dependency not in self._parsed_resources:
                        _getitem_after_dependencies(self, dependency)
            finally:
                creating.discard(key)
    return _original_getitem(self, key)


def apply() -> None:
    """Install the fixes; calling it again does nothing."""
    if getattr(CloudFormationBackend, _APPLIED_MARKER, False):
        return
    CloudFormationBackend._resolve_update_parameters = _resolve_update_parameters  # type: ignore[method-assign]
    # ResourceMap.update looks the function up in its module at call time, so replacing it there works.
    cfn_parsing.parse_and_update_resource = _parse_and_update_resource
    ResourceMap._delete_resource = _delete_resource  # type: ignore[method-assign]
    Stack.delete = _delete_stack  # type: ignore[method-assign]
    EventsRule.send_to_targets = _send_to_targets  # type: ignore[method-assign]
    S3Backend.delete_object = _delete_object  # type: ignore[method-assign]
    ResourceMap.__getitem__ = _getitem_after_dependencies  # type: ignore[method-assign]
    setattr(CloudFormationBackend, _APPLIED_MARKER, True)
