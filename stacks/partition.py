"""The partition's DNS suffix of a stack, as a literal where the stack's Region is known.

``Stack.url_suffix`` is always a token (``{"Ref": "AWS::URLSuffix"}``), even with the partition-literals
feature flag that makes ``Stack.partition`` a literal; service principals and ``kms:ViaService`` values built
from it would turn into ``Fn::Join`` for no gain. The stacks of this project always have a concrete Region,
so the suffix is read from the CDK's own Region table (``amazonaws.com``, ``amazonaws.com.cn`` in China).
"""

from __future__ import annotations

from aws_cdk import Stack, Token
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
