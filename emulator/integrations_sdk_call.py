"""The integration check of CDK's AwsCustomResource (``Custom::AWS``): its provider function's role makes each call.

Registered in `emulator.integrations` for ``Custom::AWS``. On AWS, CloudFormation invokes the provider function
(the resource's ``ServiceToken``), and the function makes the resource's Create, Update and Delete SDK calls
with its own role: each call is asked of that role's policies, on the resource the call names. Which parameter
names the resource is per call (:data:`RESOURCE_PARAMETER`); calls whose IAM action takes no resource ARN are
asked on ``*`` (:data:`NO_RESOURCE`). Any other call raises naming it: the check does not guess.
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

from emulator.shims.sdk_call import normalize

if TYPE_CHECKING:
    from emulator.integrations import Node, _Checker

#: (service, action), botocore spelling -> the parameter holding the ARN IAM authorizes the call on.
RESOURCE_PARAMETER: dict[tuple[str, str], str] = {
    ("sagemaker", "UpdateMlflowApp"): "Arn",
    ("kafka", "GetBootstrapBrokers"): "ClusterArn",
}
#: Calls whose IAM action has no resource type (the service authorization reference lists none).
NO_RESOURCE = frozenset(
    {
        ("bedrock", "PutModelInvocationLoggingConfiguration"),
        ("bedrock", "DeleteModelInvocationLoggingConfiguration"),
        ("ec2", "DescribeManagedPrefixLists"),
    }
)


def sdk_call(checker: _Checker, resource: Node) -> None:
    from emulator.integrations import Node

    env, simulator = checker.env, checker.env.simulator(resource)
    props = env.resource(resource)["Properties"]
    source = f"SDK call resource {env.describe(resource)}"
    function = checker.target(simulator, props["ServiceToken"], what=f"the provider function of {source}")
    if not isinstance(function, Node) or env.kind(function) != "AWS::Lambda::Function":
        raise ValueError(f"{source}: its ServiceToken is not a function of this environment")
    fn_props = env.resource(function)["Properties"]
    role = checker.target(env.simulator(function), fn_props["Role"], what=f"the role of {source}'s function")
    if not isinstance(role, Node):
        raise ValueError(f"{source}: its function's role is not in this environment")
    for request in ("Create", "Update", "Delete"):
        if request not in props:
            continue
        call: dict[str, Any] = json.loads(str(simulator.resolve(props[request])))
        service, action = normalize(str(call["service"]), str(call["action"]))
        if (service, action) in NO_RESOURCE:
            target: Node | str = "*"
        elif (service, action) in RESOURCE_PARAMETER:
            value = call["parameters"][RESOURCE_PARAMETER[(service, action)]]
            target = checker.target(simulator, value, what=f"the resource of {source}'s {request} call")
        else:
            raise ValueError(f"{source}: the call {service}:{action} is not known to this check")
        checker.role_may(f"{source} ({request})", role, [f"{service}:{action}"], target, {}, verb="call")
