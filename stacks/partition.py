"""The partition's DNS suffix of a stack, as a literal where the stack's Region is known.

``Stack.url_suffix`` is always a token (``{"Ref": "AWS::URLSuffix"}``), even with the partition-literals
feature flag that makes ``Stack.partition`` a literal; service principals and ``kms:ViaService`` values built
from it would turn into ``Fn::Join`` for no gain. The stacks of this project always have a concrete Region,
so the suffix is read from the CDK's own Region table (``amazonaws.com``, ``amazonaws.com.cn`` in China).
"""

from __future__ import annotations

from aws_cdk import ArnFormat, Stack, Token
from aws_cdk.region_info import RegionInfo

from stacks.jsii_ids import jsii_id


def url_suffix(stack: Stack) -> str:
    """``amazonaws.com`` for a commercial Region, the partition's own suffix elsewhere; a token if unknown."""
    key = jsii_id(stack)
    suffix = _SUFFIXES.get(key)
    if suffix is None:  # read once per stack: each read below is a round trip to the CDK's Node.js runtime
        suffix = _SUFFIXES[key] = _url_suffix(stack)
    return suffix


_SUFFIXES: dict[str, str] = {}


def _url_suffix(stack: Stack) -> str:
    if not Token.is_unresolved(stack.region):
        suffix = RegionInfo.get(stack.region).domain_suffix
        if suffix:
            return suffix
    return stack.url_suffix


def format_arn(
    stack: Stack,
    *,
    service: str,
    resource: str,
    resource_name: str | None = None,
    region: str | None = None,
    account: str | None = None,
    arn_format: ArnFormat | None = None,
) -> str:
    """``stack.format_arn(...)`` without the two round trips to the jsii runtime (``Stack.of``, ``formatArn``).

    The same string the CDK's ``Arn.format`` builds (its partition, Region and account are the stack's,
    read once per stack; tokens stay tokens): ``arn:<partition>:<service>:<region>:<account>:<resource>``,
    then ``/`` (``:`` for `ArnFormat.COLON_RESOURCE_NAME`) and the resource name if there is one.
    """
    if arn_format not in (None, ArnFormat.SLASH_RESOURCE_NAME, ArnFormat.COLON_RESOURCE_NAME):
        raise ValueError(f"format_arn does not build {arn_format}: use stack.format_arn")
    partition, stack_region, stack_account = _arn_parts(stack)
    arn = (
        f"arn:{partition}:{service}:{stack_region if region is None else region}:"
        f"{stack_account if account is None else account}:{resource}"
    )
    if resource_name is not None:
        arn += (":" if arn_format == ArnFormat.COLON_RESOURCE_NAME else "/") + resource_name
    return arn


_ARN_PARTS: dict[str, tuple[str, str, str]] = {}


def _arn_parts(stack: Stack) -> tuple[str, str, str]:
    key = jsii_id(stack)
    parts = _ARN_PARTS.get(key)
    if parts is None:
        parts = _ARN_PARTS[key] = (stack.partition, stack.region, stack.account)
    return parts
