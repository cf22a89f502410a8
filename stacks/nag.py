"""The one way this project acknowledges a cdk-nag finding.

cdk-nag 3.x runs as a CDK validation plugin: any unacknowledged finding fails the synth. An
acknowledgement here is always attached to one resource (the construct's CloudFormation resource,
never a stack or a whole subtree of resources), names one rule and, for rules that report several
findings per resource (IAM4/IAM5), one finding, and carries a reason a security reviewer can check.
"""

from __future__ import annotations

from aws_cdk import Acknowledgment, App, CfnResource, Validations
from cdk_nag import AwsSolutionsChecks
from constructs import IConstruct

_MIN_REASON_LENGTH = 20


def enable_nag(app: App) -> None:
    """Run the AwsSolutions rule pack over every stack of `app` at synth time."""
    Validations.of(app).add_plugins(AwsSolutionsChecks(app))


def acknowledge(resource: IConstruct, rule: str, reason: str, *, finding: str | None = None) -> None:
    """Acknowledge `rule` (e.g. ``AwsSolutions-S1``) on exactly one CloudFormation resource.

    ``resource`` is an L1 resource or an L2 construct whose default child is one; `finding` narrows
    a multi-finding rule to one finding, e.g. ``Resource::*`` or ``Action::s3:*``.
    """
    cfn = resource if isinstance(resource, CfnResource) else resource.node.default_child
    if not isinstance(cfn, CfnResource):
        raise TypeError(f"{resource.node.path} is not one CloudFormation resource; acknowledge on the resource")
    if len(reason.strip()) < _MIN_REASON_LENGTH:
        raise ValueError(f"acknowledgement of {rule} on {cfn.node.path} needs a specific reason")
    rule_id = f"{rule}[{finding}]" if finding else rule
    Validations.of(cfn).acknowledge(Acknowledgment(id=rule_id, reason=reason))
