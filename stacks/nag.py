"""The one way this project acknowledges a cdk-nag finding.

cdk-nag 3.x runs as a CDK validation plugin: any unacknowledged finding fails the synth. An
acknowledgement here is always attached to one resource (the construct's CloudFormation resource,
never a stack or a whole subtree of resources), names one rule and, for rules that report several
findings per resource (IAM4/IAM5), one finding, and carries a reason a security reviewer can check.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

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
    acknowledge_all(resource, [Finding(rule, reason, finding)])


@dataclass(frozen=True)
class Finding:
    """One acknowledgement: a rule, the reason, and for multi-finding rules the one finding it covers."""

    rule: str
    reason: str
    finding: str | None = None


def acknowledge_all(resource: IConstruct, findings: Sequence[Finding]) -> None:
    """`acknowledge` each of `findings` on the one CloudFormation resource `resource`, in their order.

    The same acknowledgements as one `acknowledge` call each, recorded in one call into the CDK (each
    round trip to its Node.js runtime costs about a millisecond, and a policy can carry dozens).
    """
    cfn = resource if isinstance(resource, CfnResource) else resource.node.default_child
    if not isinstance(cfn, CfnResource):
        raise TypeError(f"{resource.node.path} is not one CloudFormation resource; acknowledge on the resource")
    acknowledgments = []
    for entry in findings:
        if len(entry.reason.strip()) < _MIN_REASON_LENGTH:
            raise ValueError(f"acknowledgement of {entry.rule} on {cfn.node.path} needs a specific reason")
        rule_id = f"{entry.rule}[{entry.finding}]" if entry.finding else entry.rule
        acknowledgments.append(Acknowledgment(id=rule_id, reason=entry.reason))
    if acknowledgments:
        Validations.of(cfn).acknowledge(*acknowledgments)
