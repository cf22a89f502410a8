"""CloudFormation resource types that moto 5.2.5 ignores, emulated for local deploys only.

moto's CloudFormation creates a resource only when some ``CloudFormationModel`` subclass claims its
``Type``; every other resource is silently skipped. A ``Ref`` to a skipped resource then drops the
property that uses it and a ``Fn::GetAtt`` rejects the whole stack. This module closes that gap for
the types the project deploys: each shim below is a direct subclass of moto's ``CloudFormationModel``
that creates, replaces and deletes the resource through moto's own service backend, so after a
deploy the ordinary API (``glue.get_crawler``, ``athena.get_work_group``, ...) finds it.

Two more kinds of class live here. A *fix* (:class:`KmsKey`, :class:`S3Bucket`) subclasses moto's own model of a type
that moto supports but gets wrong for CDK templates, and corrects only the inputs it mishandles.
:data:`SHIMMED_TYPES` lists both, each with one line on what it does and what it does not.

Nothing in the product imports this module: importing it registers the shims for the whole Python
process, which is exactly what :class:`emulator.server.LocalAws` wants and what product code must
never do. Import it as ``emulator.shims``: moto files every model under the second part of its
module's dotted name (``shims`` for every module of this package), and a top-level module has none.

One module per service family: :mod:`~emulator.shims.base` (what every shim shares), ``data`` (Glue, Athena),
``sagemaker``, ``network_and_policies``, ``monitoring``, ``delivery``, ``bedrock``, ``apigateway`` and
``moto_fixes``. A new shim goes in the module of its service (or a new one) and into :data:`_SHIMS` below.

Rules every shim follows:

* Update replaces: the old resource is deleted and a new one created with the new properties. The
  name stays the same unless the template changes it.
* Delete treats "already gone" as deleted, as CloudFormation does. moto deletes a stack's resources
  in no particular order, so a bucket policy may outlive its bucket by a moment.
* ``Fn::GetAtt`` answers exactly the attributes the CloudFormation resource schema lists for the
  type (cfn-lint's copy of it), so a template that would fail in AWS fails here too.
* A type with no moto backend is *recorded only*: the stack holds it and returns stable ids, and
  :data:`SHIMMED_TYPES` says plainly that nothing emulates it.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any, Literal

from moto.cloudformation import parsing as cfn_parsing

from emulator.shims.apigateway import ApiGatewayRequestValidator, ApiGatewayStage
from emulator.shims.base import _Shim
from emulator.shims.bedrock import BedrockGuardrail, BedrockGuardrailVersion
from emulator.shims.data import AthenaWorkGroup, GlueCrawler, GlueDatabase, GlueJob, GlueSecurityConfiguration
from emulator.shims.delivery import CodeBuildProject, CodePipelinePipeline
from emulator.shims.feature_store import SageMakerFeatureGroup
from emulator.shims.knowledge_base import SHIMS as KNOWLEDGE_BASE_SHIMS
from emulator.shims.mlflow import SHIMS as MLFLOW_SHIMS
from emulator.shims.monitoring import BudgetsBudget, CloudWatchAlarm, LogsMetricFilter
from emulator.shims.moto_fixes import KmsKey, S3Bucket
from emulator.shims.network_and_policies import (
    Ec2SecurityGroupEgress,
    S3BucketPolicy,
    SnsSubscription,
    SnsTopicPolicy,
    SqsQueuePolicy,
)
from emulator.shims.sagemaker import (
    SageMakerDomain,
    SageMakerModelPackageGroup,
    SageMakerPipeline,
    SageMakerUserProfile,
)
from emulator.shims.sdk_call import SHIMS as SDK_CALL_SHIMS

__all__ = [
    "SHIMMED_TYPES",
    "EmulationStatus",
    "emulation_status",
    "register",
    "template_coverage",
]

logger = logging.getLogger(__name__)

EmulationStatus = Literal["moto", "shim", "recorded only", "not emulated"]


_FIXES: dict[type[Any], str] = {KmsKey: KmsKey.note, S3Bucket: S3Bucket.note}


# ------------------------------------------------------------------------------------------------
# Registry


_SHIMS: tuple[type[_Shim], ...] = (
    SageMakerFeatureGroup,
    GlueDatabase,
    GlueCrawler,
    GlueJob,
    GlueSecurityConfiguration,
    AthenaWorkGroup,
    SageMakerDomain,
    SageMakerModelPackageGroup,
    SageMakerPipeline,
    SageMakerUserProfile,
    BudgetsBudget,
    Ec2SecurityGroupEgress,
    S3BucketPolicy,
    SnsTopicPolicy,
    SnsSubscription,
    CloudWatchAlarm,
    LogsMetricFilter,
    CodeBuildProject,
    CodePipelinePipeline,
    BedrockGuardrail,
    BedrockGuardrailVersion,
    ApiGatewayRequestValidator,
    ApiGatewayStage,
    SqsQueuePolicy,
    *KNOWLEDGE_BASE_SHIMS,
    *MLFLOW_SHIMS,
    *SDK_CALL_SHIMS,
)

#: Every type this module emulates or fixes, with one line on what it does and what it does not.
SHIMMED_TYPES: dict[str, str] = {shim.cfn_type: shim.note for shim in _SHIMS} | {
    fix.cloudformation_type(): note for fix, note in _FIXES.items()
}

_RECORDED_ONLY = frozenset(shim.cfn_type for shim in _SHIMS if not shim.backed)
_FIXED_TYPES = frozenset(fix.cloudformation_type() for fix in _FIXES)


_CUSTOM_SHIMS: dict[str, type[Any]] = {shim.cfn_type: shim for shim in _SHIMS if shim.cfn_type.startswith("Custom::")}
_moto_resource_class = cfn_parsing.resource_class_from_type


def _resource_class_from_type(resource_type: str) -> Any:
    """moto's type lookup, except that a shimmed ``Custom::`` type (``Custom::AWS``) gets its shim: moto sends
    every ``Custom::`` type to its CustomModel, which invokes the provider Lambda (Docker)."""
    return _CUSTOM_SHIMS.get(resource_type) or _moto_resource_class(resource_type)


def register() -> None:
    """Make moto's CloudFormation see the shims, even if it already built its type map.

    Defining the classes (importing this module) is what registers them; moto caches the list of
    types on first use, so the caches are cleared here in case a stack was parsed before the import.
    """
    # parse_resource looks the function up in its module at call time.
    cfn_parsing.resource_class_from_type = _resource_class_from_type
    cfn_parsing.get_model_list.cache_clear()
    cfn_parsing.get_model_map.cache_clear()
    cfn_parsing.get_name_type_map.cache_clear()
    for fix in _FIXES:
        # The fix and moto's own class claim the same type; moto keeps the last one it lists.
        if cfn_parsing.get_model_map().get(fix.cloudformation_type()) is not fix:
            raise RuntimeError(f"moto does not pick {fix.__qualname__} for {fix.cloudformation_type()}")
    shim_classes: set[type[Any]] = set(_SHIMS)
    for model in cfn_parsing.get_model_list():
        if model not in shim_classes and model.cloudformation_type() in SHIMMED_TYPES.keys() - _FIXED_TYPES:
            # A newer moto emulates the type itself; whichever class moto picks, one of them is
            # ignored. Say so instead of guessing.
            logger.warning(
                "moto now supports %s natively (%s); remove its shim from emulator/shims/",
                model.cloudformation_type(),
                model.__qualname__,
            )


def emulation_status(resource_type: str) -> EmulationStatus:
    """How the emulator handles ``resource_type``: moto itself, a shim, recorded only, or not at all.

    ``Custom::`` and ``AWS::CloudFormation::CustomResource`` count as not emulated (moto would have to run
    their Lambda handlers, which needs Docker), except the shimmed ``Custom::AWS``.
    """
    if resource_type in _RECORDED_ONLY:
        return "recorded only"
    if resource_type in SHIMMED_TYPES:
        return "shim"  # Custom::AWS among them: its SDK call runs against the emulator
    if resource_type.startswith("Custom::") or resource_type == "AWS::CloudFormation::CustomResource":
        return "not emulated"
    if resource_type in cfn_parsing.get_model_map():
        return "moto"
    return "not emulated"


def template_coverage(template: Mapping[str, Any]) -> dict[str, EmulationStatus]:
    """Every resource type in a CloudFormation template, with how the emulator handles it."""
    types = {str(resource["Type"]) for resource in (template.get("Resources") or {}).values()}
    return {resource_type: emulation_status(resource_type) for resource_type in sorted(types)}


register()
