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
module's dotted name, and a top-level module has none.

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

import contextlib
import copy
import hashlib
import json
import logging
from collections.abc import Callable, Iterable, Mapping
from datetime import UTC, datetime
from typing import Any, ClassVar, Literal, TypeVar

from moto.apigateway.models import apigateway_backends
from moto.athena.models import athena_backends
from moto.budgets.exceptions import NotFoundException as BudgetsNotFound
from moto.budgets.models import budgets_backends
from moto.cloudformation import parsing as cfn_parsing
from moto.cloudformation.exceptions import UnformattedGetAttTemplateException, ValidationError
from moto.cloudwatch.models import Dimension, Metric, MetricDataQuery, MetricStat, cloudwatch_backends
from moto.codebuild.models import codebuild_backends
from moto.codepipeline.models import codepipeline_backends
from moto.core.common_models import CloudFormationModel
from moto.ec2.exceptions import InvalidPermissionNotFoundError, InvalidSecurityGroupNotFoundError
from moto.ec2.models import ec2_backends
from moto.glue.exceptions import CrawlerNotFoundException, DatabaseNotFoundException, EntityNotFoundException
from moto.glue.models import glue_backends
from moto.kms.models import Key
from moto.logs.models import logs_backends
from moto.s3.exceptions import MissingBucket
from moto.s3.models import FakeBucket, s3_backends
from moto.sagemaker.models import sagemaker_backends
from moto.sns.exceptions import TopicNotFound
from moto.sns.models import sns_backends
from moto.sqs.models import sqs_backends
from moto.utilities.utils import get_partition

__all__ = [
    "SHIMMED_TYPES",
    "EmulationStatus",
    "emulation_status",
    "register",
    "template_coverage",
]

logger = logging.getLogger(__name__)

_Shim_T = TypeVar("_Shim_T", bound="_Shim")

EmulationStatus = Literal["moto", "shim", "recorded only", "not emulated"]


def _now_iso() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"


def _stable_id(*parts: str, length: int = 12) -> str:
    """A lowercase id that is the same for the same inputs, so a redeploy keeps physical ids."""
    return hashlib.sha256("|".join(parts).encode()).hexdigest()[:length]


def _cfn_tags_to_api(tags: Iterable[Mapping[str, str]] | None) -> list[dict[str, str]]:
    """CloudFormation tags are ``[{Key, Value}]``; CodeBuild and CodePipeline want ``[{key, value}]``."""
    return [{"key": tag["Key"], "value": tag["Value"]} for tag in tags or []]


def _camel_keys(
    value: Any,
    *,
    opaque: frozenset[str] = frozenset(),
    renames: Mapping[str, str] | None = None,
) -> Any:
    """Turn CloudFormation's PascalCase keys into the camelCase of the CodeBuild/CodePipeline APIs.

    Values under a key in ``opaque`` are copied unchanged (an action's ``Configuration`` holds
    provider-defined keys such as ``ProjectName``). ``renames`` covers the few keys whose API
    spelling is not simply the first letter lowered (CodeBuild's ``BuildSpec`` is ``buildspec``).
    """
    renames = renames or {}
    if isinstance(value, list):
        return [_camel_keys(item, opaque=opaque, renames=renames) for item in value]
    if isinstance(value, dict):
        converted: dict[str, Any] = {}
        for key, item in value.items():
            api_key = renames.get(key, key[:1].lower() + key[1:])
            converted[api_key] = (
                copy.deepcopy(item) if key in opaque else _camel_keys(item, opaque=opaque, renames=renames)
            )
        return converted
    return value


class _Shim:
    """What every shim shares: moto's CloudFormation model protocol in terms of four small hooks.

    Deliberately *not* a ``CloudFormationModel`` subclass: moto finds resource types through
    ``CloudFormationModel.__subclasses__()``, which lists direct subclasses only, so each concrete
    shim names ``CloudFormationModel`` as its own base, after this class.

    Subclasses set the class variables and implement ``_create`` and ``_delete``; they override
    ``physical_resource_id`` (what ``Ref`` returns) and ``_attribute`` (``Fn::GetAtt``) when the
    type needs more than its name.
    """

    cfn_type: ClassVar[str]
    # The property holding the resource's name; moto generates "<stack>-<logical id>-<suffix>" when
    # the template leaves it out. Empty when the name lives elsewhere or the type has none.
    name_property: ClassVar[str] = ""
    # Fn::GetAtt names from the type's CloudFormation resource schema.
    attributes: ClassVar[frozenset[str]] = frozenset()
    # False for types with no moto backend: the stack records them and nothing else knows them.
    backed: ClassVar[bool] = True
    # One line for the emulator's "emulated via shim / not emulated" summary.
    note: ClassVar[str]

    # Set by moto's parser after creation; declared for the type checker.
    cf_resource_type: str
    logical_resource_id: str

    def __init__(self, account_id: str, region_name: str, name: str, properties: dict[str, Any]) -> None:
        self.account_id = account_id
        self.region_name = region_name
        self.name = name
        self.properties = properties
        self.deleted = False

    # -- hooks ------------------------------------------------------------------------------------

    def _create(self) -> None:
        raise NotImplementedError

    def _delete(self) -> None:
        raise NotImplementedError

    @property
    def physical_resource_id(self) -> str:
        return self.name

    def _attribute(self, attribute: str) -> Any:
        raise NotImplementedError(f"{self.cfn_type} shim lists {attribute} but does not compute it")

    @classmethod
    def _resolve_name(cls, properties: Mapping[str, Any], fallback: str) -> str:
        if cls.name_property and properties.get(cls.name_property):
            return str(properties[cls.name_property])
        return fallback

    # -- moto's CloudFormationModel protocol ------------------------------------------------------

    @classmethod
    def cloudformation_type(cls) -> str:
        return cls.cfn_type

    @classmethod
    def cloudformation_name_type(cls) -> str:
        return cls.name_property

    @classmethod
    def has_cfn_attr(cls, attr: str) -> bool:
        return attr in cls.attributes

    def get_cfn_attribute(self, attribute_name: str) -> Any:
        if attribute_name not in self.attributes:
            # moto turns this into CloudFormation's "does not support attribute type" error.
            raise UnformattedGetAttTemplateException()
        return self._attribute(attribute_name)

    @classmethod
    def create_from_cloudformation_json(
        cls: type[_Shim_T],
        resource_name: str,
        cloudformation_json: dict[str, Any],
        account_id: str,
        region_name: str,
        **kwargs: Any,
    ) -> _Shim_T:
        properties = dict(cloudformation_json.get("Properties") or {})
        shim = cls(account_id, region_name, cls._resolve_name(properties, resource_name), properties)
        shim._create()
        if not cls.backed:
            logger.warning("%s %s is recorded only: no emulated API knows it", cls.cfn_type, shim.physical_resource_id)
        return shim

    @classmethod
    def update_from_cloudformation_json(
        cls: type[_Shim_T],
        original_resource: Any,
        new_resource_name: str,
        cloudformation_json: dict[str, Any],
        account_id: str,
        region_name: str,
    ) -> _Shim_T:
        # Replace in place. moto hands us a freshly generated name when the template has no name
        # property; keeping the original name instead is what CloudFormation does for an update that
        # does not touch the name.
        properties = dict(cloudformation_json.get("Properties") or {})
        name = cls._resolve_name(properties, original_resource.name)
        original_resource.delete(account_id, region_name)
        return cls.create_from_cloudformation_json(
            name, {**cloudformation_json, "Properties": properties}, account_id, region_name
        )

    @classmethod
    def delete_from_cloudformation_json(
        cls,
        resource_name: str,
        cloudformation_json: dict[str, Any],
        account_id: str,
        region_name: str,
    ) -> None:
        # moto calls this only when the instance's delete() raised TypeError or AttributeError; the
        # shims never let those escape (see delete), so reaching here is a bug worth failing on.
        raise RuntimeError(f"{cls.cfn_type} shim: unexpected class-level delete of {resource_name}")

    def delete(self, account_id: str, region_name: str) -> None:
        try:
            self._delete()
        except (TypeError, AttributeError) as exc:
            # moto reads these two as "this model has no instance delete" and silently falls back to
            # the class-level delete; re-raise so a shim bug fails the stack instead of leaking.
            raise RuntimeError(f"{self.cfn_type} shim failed to delete {self.physical_resource_id}: {exc!r}") from exc
        self.deleted = True

    def is_created(self) -> bool:
        return True


# ------------------------------------------------------------------------------------------------
# Glue


class GlueDatabase(_Shim, CloudFormationModel):
    """AWS::Glue::Database in moto's Glue catalog (``glue.get_database`` finds it).

    Emulated: ``DatabaseInput`` (description, location, parameters). Not emulated: Lake Formation
    permissions (``CreateTableDefaultPermissions`` is stored, never enforced), and delete removes the
    database with its tables, as Glue does.
    """

    cfn_type = "AWS::Glue::Database"
    note = "moto Glue catalog database; Lake Formation permissions are stored, not enforced"

    @classmethod
    def _resolve_name(cls, properties: Mapping[str, Any], fallback: str) -> str:
        database_input = properties.get("DatabaseInput") or {}
        # Glue lower-cases database names; a generated fallback carries the stack's capitals.
        return str(database_input.get("Name") or properties.get("DatabaseName") or fallback.lower())

    def _create(self) -> None:
        database_input = {**(self.properties.get("DatabaseInput") or {}), "Name": self.name}
        glue_backends[self.account_id][self.region_name].create_database(self.name, database_input)

    def _delete(self) -> None:
        with contextlib.suppress(DatabaseNotFoundException):
            glue_backends[self.account_id][self.region_name].delete_database(self.name)


class GlueCrawler(_Shim, CloudFormationModel):
    """AWS::Glue::Crawler in moto's Glue backend (``glue.get_crawler``; ``start_crawler`` works).

    Not emulated: crawling itself. moto's crawls finish without reading S3 or creating tables, and
    the ``Schedule`` is stored but nothing triggers it.
    """

    cfn_type = "AWS::Glue::Crawler"
    name_property = "Name"
    note = "moto Glue crawler; runs complete without reading data or creating tables, schedule never fires"

    def _create(self) -> None:
        props = self.properties
        # CloudFormation nests the cron expression, the API takes the bare string.
        schedule = (props.get("Schedule") or {}).get("ScheduleExpression")
        # Built as a plain dict: moto annotates optional arguments as required strings.
        arguments: dict[str, Any] = dict(
            name=self.name,
            role=props.get("Role", ""),
            database_name=props.get("DatabaseName", ""),
            description=props.get("Description", ""),
            targets=props.get("Targets") or {},
            schedule=schedule,
            classifiers=props.get("Classifiers") or [],
            table_prefix=props.get("TablePrefix", ""),
            schema_change_policy=props.get("SchemaChangePolicy") or {},
            recrawl_policy=props.get("RecrawlPolicy") or {},
            lineage_configuration=props.get("LineageConfiguration") or {},
            configuration=props.get("Configuration", ""),
            crawler_security_configuration=props.get("CrawlerSecurityConfiguration", ""),
            tags=props.get("Tags") or {},
        )
        glue_backends[self.account_id][self.region_name].create_crawler(**arguments)

    def _delete(self) -> None:
        with contextlib.suppress(CrawlerNotFoundException):
            glue_backends[self.account_id][self.region_name].delete_crawler(self.name)


class GlueJob(_Shim, CloudFormationModel):
    """AWS::Glue::Job in moto's Glue backend (``glue.get_job``; ``start_job_run`` works).

    Not emulated by moto: running the script. moto's job runs succeed without executing ``Command``; the
    tour runs the deployed script itself (emulator/glue_runner.py).
    """

    cfn_type = "AWS::Glue::Job"
    name_property = "Name"
    note = "moto Glue job; runs succeed without executing the script (the tour runs it: emulator/glue_runner.py)"

    def _create(self) -> None:
        props = self.properties
        # Built as a plain dict: moto annotates optional arguments as required strings and ints.
        arguments: dict[str, Any] = dict(
            name=self.name,
            role=props.get("Role", ""),
            command=props.get("Command") or {},
            description=props.get("Description", ""),
            log_uri=props.get("LogUri", ""),
            execution_property=props.get("ExecutionProperty") or {},
            default_arguments=props.get("DefaultArguments") or {},
            non_overridable_arguments=props.get("NonOverridableArguments") or {},
            connections=props.get("Connections") or {},
            max_retries=props.get("MaxRetries", 0),
            allocated_capacity=props.get("AllocatedCapacity"),
            timeout=props.get("Timeout"),
            max_capacity=props.get("MaxCapacity"),
            security_configuration=props.get("SecurityConfiguration"),
            tags=props.get("Tags") or {},
            notification_property=props.get("NotificationProperty") or {},
            glue_version=props.get("GlueVersion"),
            number_of_workers=props.get("NumberOfWorkers"),
            worker_type=props.get("WorkerType"),
            code_gen_configuration_nodes={},
            execution_class=props.get("ExecutionClass"),
            source_control_details={},
        )
        glue_backends[self.account_id][self.region_name].create_job(**arguments)

    def _delete(self) -> None:
        # moto's delete_job is already a no-op for a missing job.
        glue_backends[self.account_id][self.region_name].delete_job(self.name)


class GlueSecurityConfiguration(_Shim, CloudFormationModel):
    """AWS::Glue::SecurityConfiguration in moto's Glue backend (``glue.get_security_configuration``).

    Not emulated: encryption. The settings are stored; nothing encrypts with them.
    """

    cfn_type = "AWS::Glue::SecurityConfiguration"
    name_property = "Name"
    note = "moto Glue security configuration; stored only, nothing is encrypted with it"

    def _create(self) -> None:
        configuration = copy.deepcopy(self.properties.get("EncryptionConfiguration") or {})
        # The one spelling difference: CloudFormation's list is S3Encryptions, the API's S3Encryption.
        if "S3Encryptions" in configuration:
            configuration["S3Encryption"] = configuration.pop("S3Encryptions")
        glue_backends[self.account_id][self.region_name].create_security_configuration(self.name, configuration)

    def _delete(self) -> None:
        with contextlib.suppress(EntityNotFoundException):
            glue_backends[self.account_id][self.region_name].delete_security_configuration(self.name)


# ------------------------------------------------------------------------------------------------
# Athena


class AthenaWorkGroup(_Shim, CloudFormationModel):
    """AWS::Athena::WorkGroup in moto's Athena backend (``athena.get_work_group``).

    Emulated: the configuration (result location, encryption, bytes-scanned cutoff, enforcement).
    Not emulated: enforcing any of it; moto's queries return empty results whatever the settings.
    """

    cfn_type = "AWS::Athena::WorkGroup"
    name_property = "Name"
    attributes = frozenset({"CreationTime", "WorkGroupConfiguration.EngineVersion.EffectiveEngineVersion"})
    note = "moto Athena workgroup; configuration stored, not enforced (queries return empty results)"

    def _create(self) -> None:
        backend = athena_backends[self.account_id][self.region_name]
        if backend.get_work_group(self.name) is not None:
            # moto's create_work_group returns None instead of failing; CloudFormation would fail.
            raise ValidationError(message=f"WorkGroup {self.name} already exists")
        work_group = backend.create_work_group(
            name=self.name,
            # moto fills defaults into the dict it is given; keep the template's copy clean.
            configuration=copy.deepcopy(self.properties.get("WorkGroupConfiguration") or {}),
            description=self.properties.get("Description", ""),
            tags=self.properties.get("Tags") or [],
        )
        if work_group is not None and self.properties.get("State") == "DISABLED":
            work_group.state = "DISABLED"
        self.creation_time = _now_iso()

    def _delete(self) -> None:
        athena_backends[self.account_id][self.region_name].delete_work_group(self.name)

    def _attribute(self, attribute: str) -> Any:
        if attribute == "CreationTime":
            return self.creation_time
        work_group = athena_backends[self.account_id][self.region_name].get_work_group(self.name) or {}
        return work_group.get("Configuration", {}).get("EngineVersion", {}).get("EffectiveEngineVersion")


# ------------------------------------------------------------------------------------------------
# SageMaker


class SageMakerDomain(_Shim, CloudFormationModel):
    """AWS::SageMaker::Domain in moto's SageMaker backend (``sagemaker.describe_domain``).

    ``Ref`` returns the domain id. Not emulated: the EFS volume, the boundary security group and
    the Studio URL are made-up values from moto; no user profiles or apps are created.
    """

    cfn_type = "AWS::SageMaker::Domain"
    name_property = "DomainName"
    attributes = frozenset(
        {
            "DomainArn",
            "DomainId",
            "HomeEfsFileSystemId",
            "SecurityGroupIdForDomainBoundary",
            "SingleSignOnApplicationArn",
            "SingleSignOnManagedApplicationInstanceId",
            "Url",
        }
    )
    note = "moto SageMaker domain; EFS id, boundary security group and Studio URL are placeholders"

    def _create(self) -> None:
        backend = sagemaker_backends[self.account_id][self.region_name]
        props = self.properties
        # moto derives the id from the name and would silently overwrite an existing domain.
        if f"d-{self.name}" in backend.domains:
            raise ValidationError(message=f"Domain with name {self.name} already exists")
        backend.create_domain(
            domain_name=self.name,
            auth_mode=props.get("AuthMode", "IAM"),
            default_user_settings=props.get("DefaultUserSettings") or {},
            subnet_ids=props.get("SubnetIds") or [],
            vpc_id=props.get("VpcId", ""),
            domain_settings=props.get("DomainSettings"),
            tags=props.get("Tags") or [],
            app_network_access_type=props.get("AppNetworkAccessType"),
            home_efs_file_system_kms_key_id=None,
            kms_key_id=props.get("KmsKeyId"),
            app_security_group_management=props.get("AppSecurityGroupManagement"),
            default_space_settings=props.get("DefaultSpaceSettings"),
        )
        self.domain_id = f"d-{self.name}"

    @property
    def physical_resource_id(self) -> str:
        return self.domain_id

    def _attribute(self, attribute: str) -> Any:
        return sagemaker_backends[self.account_id][self.region_name].describe_domain(self.domain_id)[attribute]

    def _delete(self) -> None:
        sagemaker_backends[self.account_id][self.region_name].domains.pop(self.domain_id, None)


class SageMakerModelPackageGroup(_Shim, CloudFormationModel):
    """AWS::SageMaker::ModelPackageGroup in moto (``sagemaker.describe_model_package_group``).

    ``Ref`` returns the group's ARN, as in CloudFormation. Not emulated: ``ModelPackageGroupPolicy``
    (moto has no resource policies for groups). moto 5.2.5 has no DeleteModelPackageGroup, so delete
    removes the group and the model packages registered in it from the backend directly.
    """

    cfn_type = "AWS::SageMaker::ModelPackageGroup"
    name_property = "ModelPackageGroupName"
    attributes = frozenset({"ModelPackageGroupArn", "CreationTime", "ModelPackageGroupStatus"})
    note = "moto model package group; group policy ignored; delete also drops its model packages"

    def _create(self) -> None:
        backend = sagemaker_backends[self.account_id][self.region_name]
        if self.name in backend.model_package_groups:
            raise ValidationError(message=f"Model Package Group already exists: {self.name}")
        self.arn = backend.create_model_package_group(
            model_package_group_name=self.name,
            model_package_group_description=self.properties.get("ModelPackageGroupDescription", ""),
            tags=self.properties.get("Tags") or [],
        )

    @property
    def physical_resource_id(self) -> str:
        return self.arn

    def _attribute(self, attribute: str) -> Any:
        if attribute == "ModelPackageGroupArn":
            return self.arn
        group = sagemaker_backends[self.account_id][self.region_name].describe_model_package_group(self.name)
        if attribute == "CreationTime":
            return str(group.creation_time)
        return group.model_package_group_status

    def _delete(self) -> None:
        backend = sagemaker_backends[self.account_id][self.region_name]
        backend.model_package_groups.pop(self.name, None)
        for key, package in list(backend.model_packages.items()):
            if package.model_package_group_name == self.name:
                del backend.model_packages[key]


class SageMakerPipeline(_Shim, CloudFormationModel):
    """AWS::SageMaker::Pipeline in moto (``sagemaker.describe_pipeline``, ``start_pipeline_execution``).

    ``Ref`` returns the pipeline name (CloudFormation offers no ``Fn::GetAtt`` for this type). A
    definition given as an S3 location is read from moto's S3 when the stack is deployed. Not
    emulated: running steps; moto's executions report "Succeeded" at once.
    """

    cfn_type = "AWS::SageMaker::Pipeline"
    name_property = "PipelineName"
    note = "moto SageMaker pipeline; executions succeed at once without running any step"

    def _definition_body(self) -> str:
        definition = self.properties.get("PipelineDefinition") or {}
        if "PipelineDefinitionBody" in definition:
            return str(definition["PipelineDefinitionBody"])
        location = definition.get("PipelineDefinitionS3Location")
        if not location:
            raise ValidationError(message=f"Pipeline {self.name}: PipelineDefinition needs a body or an S3 location")
        # Read it ourselves: moto's own S3 loader stores the parsed dict where DescribePipeline
        # must return a string.
        s3 = s3_backends[self.account_id][get_partition(self.region_name)]
        key = s3.get_object(location["Bucket"], location["Key"], version_id=location.get("Version"))
        if key is None:
            raise ValidationError(
                message=f"Pipeline {self.name}: s3://{location['Bucket']}/{location['Key']} not found"
            )
        return bytes(key.value).decode()

    def _create(self) -> None:
        props = self.properties
        sagemaker_backends[self.account_id][self.region_name].create_pipeline(
            pipeline_name=self.name,
            pipeline_display_name=props.get("PipelineDisplayName", self.name),
            pipeline_definition=self._definition_body(),
            pipeline_definition_s3_location={},
            pipeline_description=props.get("PipelineDescription", ""),
            role_arn=props.get("RoleArn", ""),
            tags=props.get("Tags") or [],
            parallelism_configuration=props.get("ParallelismConfiguration") or {},
        )

    def _delete(self) -> None:
        sagemaker_backends[self.account_id][self.region_name].pipelines.pop(self.name, None)


class SageMakerUserProfile(_Shim, CloudFormationModel):
    """AWS::SageMaker::UserProfile, recorded only: moto 5.2.5 has no user-profile API.

    The stack keeps the profile and ``Ref``/``UserProfileArn`` give its ARN (built the way SageMaker
    builds it); ``sagemaker.describe_user_profile`` fails against the emulator and no Studio user
    exists. The domain it names must be a live emulated domain, else the stack fails, as in AWS.
    """

    cfn_type = "AWS::SageMaker::UserProfile"
    name_property = "UserProfileName"
    backed = False
    attributes = frozenset({"UserProfileArn"})
    note = "recorded only, not emulated: moto has no SageMaker user profiles; the domain must exist"

    def _create(self) -> None:
        domain_id = str(self.properties.get("DomainId", ""))
        # describe_domain raises for an unknown domain, failing the stack as CloudFormation would.
        sagemaker_backends[self.account_id][self.region_name].describe_domain(domain_id)
        prefix = f"arn:{get_partition(self.region_name)}:sagemaker:{self.region_name}:{self.account_id}"
        self.arn = f"{prefix}:user-profile/{domain_id}/{self.name}"

    @property
    def physical_resource_id(self) -> str:
        return self.arn

    def _attribute(self, attribute: str) -> Any:
        return self.arn

    def _delete(self) -> None:
        pass  # nothing outside the stack holds it


# ------------------------------------------------------------------------------------------------
# Budgets


class BudgetsBudget(_Shim, CloudFormationModel):
    """AWS::Budgets::Budget in moto's Budgets backend (``budgets.describe_budget`` finds it).

    Budget, limit, cost filters and notifications are stored; moto computes no spend, so nothing
    ever alerts locally.
    """

    cfn_type = "AWS::Budgets::Budget"
    note = "emulated via shim: stored in moto's Budgets backend; no spend is computed, nothing alerts"

    def _create(self) -> None:
        budget = copy.deepcopy(dict(self.properties["Budget"]))
        self.name = str(budget.setdefault("BudgetName", self.name))
        if "BudgetLimit" in budget:  # CloudFormation takes a number; the API a decimal string
            budget["BudgetLimit"]["Amount"] = str(budget["BudgetLimit"]["Amount"])
        self._backend().create_budget(
            self.account_id, budget, list(self.properties.get("NotificationsWithSubscribers", []))
        )

    def _backend(self) -> Any:
        return budgets_backends[self.account_id][get_partition(self.region_name)]

    def _delete(self) -> None:
        with contextlib.suppress(BudgetsNotFound):
            self._backend().delete_budget(self.account_id, self.name)


# ------------------------------------------------------------------------------------------------
# EC2


class Ec2SecurityGroupEgress(_Shim, CloudFormationModel):
    """AWS::EC2::SecurityGroupEgress as a rule on moto's security group.

    ``ec2.describe_security_group_rules`` lists it; ``Ref`` and ``Id`` give the rule id. Not
    emulated: traffic. moto has no network, so no rule allows or blocks anything.
    """

    cfn_type = "AWS::EC2::SecurityGroupEgress"
    attributes = frozenset({"Id"})
    note = "egress rule on the moto security group; moto has no network, so rules filter nothing"

    def _rule_arguments(self) -> dict[str, Any]:
        props = self.properties
        ip_ranges: list[dict[str, Any]] = []
        if "CidrIp" in props:
            ip_ranges.append({"CidrIp": props["CidrIp"], "Description": props.get("Description")})
        if "CidrIpv6" in props:
            ip_ranges.append({"CidrIpv6": props["CidrIpv6"], "Description": props.get("Description")})
        destination = props.get("DestinationSecurityGroupId")
        prefix_list = props.get("DestinationPrefixListId")
        return {
            "group_name_or_id": props["GroupId"],
            "ip_protocol": str(props["IpProtocol"]),
            "from_port": props.get("FromPort"),
            "to_port": props.get("ToPort"),
            "ip_ranges": ip_ranges,
            "source_groups": [{"GroupId": destination, "Description": props.get("Description")}] if destination else [],
            "prefix_list_ids": [{"PrefixListId": prefix_list}] if prefix_list else [],
        }

    def _create(self) -> None:
        rules, _group = ec2_backends[self.account_id][self.region_name].authorize_security_group_egress(
            **self._rule_arguments()
        )
        self.rule_id = str(rules[0].id) if rules else _stable_id(self.name)

    @property
    def physical_resource_id(self) -> str:
        return self.rule_id

    def _attribute(self, attribute: str) -> Any:
        return self.rule_id

    def _delete(self) -> None:
        # The group may be gone already (moto deletes in no particular order), taking the rule along.
        with contextlib.suppress(InvalidSecurityGroupNotFoundError, InvalidPermissionNotFoundError):
            ec2_backends[self.account_id][self.region_name].revoke_security_group_egress(**self._rule_arguments())


# ------------------------------------------------------------------------------------------------
# S3 and SNS resource policies


class S3BucketPolicy(_Shim, CloudFormationModel):
    """AWS::S3::BucketPolicy stored on moto's bucket (``s3.get_bucket_policy`` returns it).

    moto enforces a bucket policy's Deny statements on object calls but cannot evaluate their
    Conditions: it treats a conditional Deny as unconditional. The usual "deny unless TLS"
    statement (``aws:SecureTransport`` = false) would then refuse every object call. So the shim
    stores the policy *without* any Deny statement that has a Condition, logs what it dropped, and
    keeps those statements on :attr:`dropped_statements`. Unconditional Denies and all Allows are
    kept and enforced as moto enforces them (principal ``*`` only, on object calls only).
    """

    cfn_type = "AWS::S3::BucketPolicy"
    note = (
        "policy stored on the moto bucket WITHOUT conditional Deny statements (e.g. the TLS-only deny): "
        "moto cannot evaluate Conditions and would deny every call; unconditional Denies are enforced"
    )

    def __init__(self, account_id: str, region_name: str, name: str, properties: dict[str, Any]) -> None:
        super().__init__(account_id, region_name, name, properties)
        self.dropped_statements: list[dict[str, Any]] = []

    @property
    def bucket_name(self) -> str:
        return str(self.properties["Bucket"])

    @property
    def physical_resource_id(self) -> str:
        return self.bucket_name

    def _backend(self) -> Any:
        return s3_backends[self.account_id][get_partition(self.region_name)]

    def _create(self) -> None:
        document = copy.deepcopy(self.properties.get("PolicyDocument") or {})
        statements = document.get("Statement", [])
        if isinstance(statements, dict):
            statements = [statements]
        kept = []
        for statement in statements:
            if statement.get("Effect") == "Deny" and statement.get("Condition"):
                self.dropped_statements.append(statement)
            else:
                kept.append(statement)
        document["Statement"] = kept
        for statement in self.dropped_statements:
            logger.warning(
                "bucket %s: not applying Deny statement %s with Condition %s (moto cannot evaluate it)",
                self.bucket_name,
                statement.get("Sid", "<no Sid>"),
                json.dumps(statement["Condition"], sort_keys=True),
            )
        self._backend().put_bucket_policy(self.bucket_name, json.dumps(document).encode())

    def _delete(self) -> None:
        with contextlib.suppress(MissingBucket):
            self._backend().delete_bucket_policy(self.bucket_name)


class SnsTopicPolicy(_Shim, CloudFormationModel):
    """AWS::SNS::TopicPolicy set as each topic's ``Policy`` attribute in moto.

    ``sns.get_topic_attributes`` shows it. Not emulated: enforcement; moto does not check topic
    policies, so who may publish is not tested here. Delete restores moto's default policy.
    """

    cfn_type = "AWS::SNS::TopicPolicy"
    attributes = frozenset({"Id"})
    note = "policy stored on the moto topics; moto never enforces topic policies"

    def _topics(self) -> list[str]:
        return [str(arn) for arn in self.properties.get("Topics") or []]

    def _create(self) -> None:
        backend = sns_backends[self.account_id][self.region_name]
        document = json.dumps(self.properties.get("PolicyDocument") or {})
        for topic_arn in self._topics():
            backend.set_topic_attribute(topic_arn, "policy", document)

    def _delete(self) -> None:
        backend = sns_backends[self.account_id][self.region_name]
        for topic_arn in self._topics():
            try:
                topic = backend.get_topic(topic_arn)
            except TopicNotFound:
                continue
            default = topic._create_default_topic_policy(self.region_name, self.account_id, topic.name)
            backend.set_topic_attribute(topic_arn, "policy", json.dumps(default))

    def _attribute(self, attribute: str) -> Any:
        return self.physical_resource_id


class SqsQueuePolicy(_Shim, CloudFormationModel):
    """AWS::SQS::QueuePolicy set as each queue's ``Policy`` attribute in moto (``get_queue_attributes``).

    Not emulated: enforcement; moto does not check queue policies. Delete clears the attribute.
    """

    cfn_type = "AWS::SQS::QueuePolicy"
    attributes = frozenset({"Id"})
    note = "policy stored on the moto queues; moto never enforces queue policies"

    def _queue_names(self) -> list[str]:
        # Queues are given by URL (Ref of AWS::SQS::Queue); the queue name is its last segment.
        return [str(url).rstrip("/").rsplit("/", 1)[-1] for url in self.properties.get("Queues") or []]

    def _create(self) -> None:
        backend = sqs_backends[self.account_id][self.region_name]
        document = json.dumps(self.properties.get("PolicyDocument") or {})
        for name in self._queue_names():
            backend.set_queue_attributes(name, {"Policy": document})

    def _delete(self) -> None:
        backend = sqs_backends[self.account_id][self.region_name]
        for name in self._queue_names():
            with contextlib.suppress(Exception):  # the queue may be gone already
                backend.set_queue_attributes(name, {"Policy": ""})

    def _attribute(self, attribute: str) -> Any:
        return self.physical_resource_id


class SnsSubscription(_Shim, CloudFormationModel):
    """AWS::SNS::Subscription through moto's ``subscribe`` (``sns.list_subscriptions_by_topic``).

    ``Ref`` and ``Arn`` give the subscription ARN. Not emulated: delivery to email or HTTP
    endpoints and their confirmation; SQS and Lambda deliveries behave as moto's SNS does.
    """

    cfn_type = "AWS::SNS::Subscription"
    attributes = frozenset({"Arn"})
    note = "moto SNS subscription; email/HTTP endpoints never receive or confirm anything"

    _settable: ClassVar[tuple[str, ...]] = (
        "DeliveryPolicy",
        "FilterPolicy",
        "FilterPolicyScope",
        "RawMessageDelivery",
        "RedrivePolicy",
    )

    def _create(self) -> None:
        backend = sns_backends[self.account_id][self.region_name]
        props = self.properties
        subscription = backend.subscribe(props["TopicArn"], props.get("Endpoint", ""), props["Protocol"])
        self.arn = str(subscription.arn)
        for attribute in self._settable:
            if attribute not in props:
                continue
            value = props[attribute]
            # The API takes strings; CloudFormation allows JSON objects and booleans here.
            if isinstance(value, bool):
                value = str(value).lower()
            elif not isinstance(value, str):
                value = json.dumps(value)
            backend.set_subscription_attributes(self.arn, attribute, value)

    @property
    def physical_resource_id(self) -> str:
        return self.arn

    def _attribute(self, attribute: str) -> Any:
        return self.arn

    def _delete(self) -> None:
        sns_backends[self.account_id][self.region_name].unsubscribe(self.arn)


# ------------------------------------------------------------------------------------------------
# CloudWatch


def _metric_queries(metrics: list[dict[str, Any]]) -> list[MetricDataQuery]:
    """Build moto's metric-math query objects from an alarm's ``Metrics`` property."""
    queries = []
    for metric in metrics:
        stat_json = metric.get("MetricStat")
        metric_stat = None
        if stat_json:
            metric_json = stat_json["Metric"]
            metric_stat = MetricStat(
                metric=Metric(
                    metric_name=metric_json["MetricName"],
                    namespace=metric_json["Namespace"],
                    dimensions=[Dimension(d["Name"], d["Value"]) for d in metric_json.get("Dimensions", [])],
                ),
                period=stat_json["Period"],
                stat=stat_json["Stat"],
                unit=stat_json.get("Unit"),
            )
        queries.append(
            MetricDataQuery(
                query_id=metric["Id"],
                label=metric.get("Label"),  # type: ignore[arg-type]
                period=metric.get("Period"),  # type: ignore[arg-type]
                return_data=metric.get("ReturnData", True),
                expression=metric.get("Expression"),
                metric_stat=metric_stat,
            )
        )
    return queries


class CloudWatchAlarm(_Shim, CloudFormationModel):
    """AWS::CloudWatch::Alarm via moto's ``put_metric_alarm`` (``cloudwatch.describe_alarms``).

    Emulated: metric and metric-math alarms with their actions and tags. Not emulated: evaluation.
    Alarms stay in INSUFFICIENT_DATA until ``set_alarm_state`` is called; no action fires.
    """

    cfn_type = "AWS::CloudWatch::Alarm"
    name_property = "AlarmName"
    attributes = frozenset({"Arn"})
    note = "moto CloudWatch alarm; never evaluated, actions never fire (use set_alarm_state)"

    def _create(self) -> None:
        props = self.properties
        backend = cloudwatch_backends[self.account_id][self.region_name]
        if self.name in backend.alarms:
            # put_metric_alarm would overwrite; CloudFormation refuses a second alarm of that name.
            raise ValidationError(message=f"Alarm {self.name} already exists")
        period = props.get("Period")
        backend.put_metric_alarm(
            name=self.name,
            namespace=props.get("Namespace"),  # type: ignore[arg-type]  # absent for metric-math alarms
            metric_name=props.get("MetricName"),  # type: ignore[arg-type]
            metric_data_queries=_metric_queries(props["Metrics"]) if props.get("Metrics") else None,
            comparison_operator=props["ComparisonOperator"],
            evaluation_periods=int(props["EvaluationPeriods"]),
            datapoints_to_alarm=int(props["DatapointsToAlarm"]) if "DatapointsToAlarm" in props else None,
            period=int(period) if period is not None else None,  # type: ignore[arg-type]
            threshold=float(props["Threshold"]) if "Threshold" in props else None,  # type: ignore[arg-type]
            statistic=props.get("Statistic"),  # type: ignore[arg-type]
            extended_statistic=props.get("ExtendedStatistic"),
            description=props.get("AlarmDescription", ""),
            dimensions=props.get("Dimensions") or [],
            alarm_actions=props.get("AlarmActions") or [],
            ok_actions=props.get("OKActions") or [],
            insufficient_data_actions=props.get("InsufficientDataActions") or [],
            unit=props.get("Unit"),
            actions_enabled=bool(props.get("ActionsEnabled", True)),
            treat_missing_data=props.get("TreatMissingData"),
            evaluate_low_sample_count_percentile=props.get("EvaluateLowSampleCountPercentile"),
            threshold_metric_id=props.get("ThresholdMetricId"),
            tags=props.get("Tags") or [],
        )

    def _attribute(self, attribute: str) -> Any:
        return cloudwatch_backends[self.account_id][self.region_name].alarms[self.name].alarm_arn

    def _delete(self) -> None:
        cloudwatch_backends[self.account_id][self.region_name].delete_alarms([self.name])


class LogsMetricFilter(_Shim, CloudFormationModel):
    """AWS::Logs::MetricFilter via moto's ``put_metric_filter`` (``logs.describe_metric_filters``).

    ``Ref`` returns the filter name. Not emulated: matching. moto never turns log events into
    metric data points, so an alarm on the filter's metric sees nothing.
    """

    cfn_type = "AWS::Logs::MetricFilter"
    name_property = "FilterName"
    note = "moto metric filter; log events never produce metric data points"

    def _create(self) -> None:
        transformations = []
        for transformation in self.properties.get("MetricTransformations") or []:
            converted = _camel_keys({k: v for k, v in transformation.items() if k != "Dimensions"})
            # CloudFormation lists dimensions as [{Key, Value}]; the API takes a map.
            if transformation.get("Dimensions"):
                converted["dimensions"] = {d["Key"]: d["Value"] for d in transformation["Dimensions"]}
            transformations.append(converted)
        logs_backends[self.account_id][self.region_name].put_metric_filter(
            filter_name=self.name,
            filter_pattern=str(self.properties.get("FilterPattern", "")),
            log_group_name=str(self.properties["LogGroupName"]),
            metric_transformations=transformations,  # type: ignore[arg-type]  # moto says str, stores a list
        )

    def _delete(self) -> None:
        logs_backends[self.account_id][self.region_name].delete_metric_filter(
            filter_name=self.name, log_group_name=str(self.properties["LogGroupName"])
        )


# ------------------------------------------------------------------------------------------------
# CodeBuild and CodePipeline


class CodeBuildProject(_Shim, CloudFormationModel):
    """AWS::CodeBuild::Project via moto's ``create_project`` (``codebuild.batch_get_projects``).

    ``Ref`` returns the project name. Not emulated: builds. moto's ``start_build`` records a build
    that never runs the buildspec; ``EncryptionKey`` is replaced by moto's default S3 key alias.
    """

    cfn_type = "AWS::CodeBuild::Project"
    name_property = "Name"
    attributes = frozenset({"Arn", "Id"})
    note = "moto CodeBuild project; builds are recorded, the buildspec never runs"

    def _create(self) -> None:
        props = self.properties
        convert: Callable[[Any], Any] = lambda value: _camel_keys(  # noqa: E731 - one-line adapter
            value, renames={"BuildSpec": "buildspec"}
        )
        codebuild_backends[self.account_id][self.region_name].create_project(
            project_name=self.name,
            description=props.get("Description"),
            project_source=convert(props.get("Source") or {}),
            artifacts=convert(props.get("Artifacts") or {}),
            environment=convert(props.get("Environment") or {}),
            service_role=props.get("ServiceRole", ""),
            tags=_cfn_tags_to_api(props.get("Tags")),
            cache=convert(props["Cache"]) if "Cache" in props else None,
            timeout=props.get("TimeoutInMinutes"),
            queued_timeout=props.get("QueuedTimeoutInMinutes"),
            source_version=props.get("SourceVersion"),
            logs_config=convert(props["LogsConfig"]) if "LogsConfig" in props else None,
            vpc_config=convert(props["VpcConfig"]) if "VpcConfig" in props else None,
        )

    def _attribute(self, attribute: str) -> Any:
        project = codebuild_backends[self.account_id][self.region_name].codebuild_projects[self.name]
        return project.arn if attribute == "Arn" else self.name

    def _delete(self) -> None:
        codebuild_backends[self.account_id][self.region_name].delete_project(self.name)


class CodePipelinePipeline(_Shim, CloudFormationModel):
    """AWS::CodePipeline::Pipeline via moto's ``create_pipeline`` (``codepipeline.get_pipeline``).

    moto checks what AWS checks at creation: the role exists and trusts codepipeline.amazonaws.com,
    and there are at least two stages. Not emulated: running anything. Executions report
    "Succeeded" at once; ``get_pipeline_state`` and manual approvals do not exist in moto.
    """

    cfn_type = "AWS::CodePipeline::Pipeline"
    name_property = "Name"
    attributes = frozenset({"Arn", "Version"})
    note = "moto CodePipeline; executions succeed at once, no stage runs, no get_pipeline_state/approvals"

    def _declaration(self) -> dict[str, Any]:
        props = self.properties
        stages = _camel_keys(props.get("Stages") or [], opaque=frozenset({"Configuration"}))
        for stage in stages:
            for action in stage.get("actions", []):
                # The API's action configuration is a map of strings; CloudFormation allows booleans.
                action["configuration"] = {
                    key: value if isinstance(value, str) else json.dumps(value)
                    for key, value in (action.get("configuration") or {}).items()
                }
        declaration: dict[str, Any] = {
            "name": self.name,
            "roleArn": props.get("RoleArn", ""),
            "stages": stages,
        }
        if "ArtifactStore" in props:
            declaration["artifactStore"] = _camel_keys(props["ArtifactStore"])
        if "ArtifactStores" in props:
            declaration["artifactStores"] = {
                store["Region"]: _camel_keys(store["ArtifactStore"]) for store in props["ArtifactStores"]
            }
        # RestartExecutionOnUpdate and DisableInboundStageTransitions are CloudFormation-only knobs.
        for key in ("PipelineType", "ExecutionMode", "Variables", "Triggers"):
            if key in props:
                declaration[key[:1].lower() + key[1:]] = _camel_keys(props[key])
        return declaration

    def _create(self) -> None:
        codepipeline_backends[self.account_id][self.region_name].create_pipeline(
            self._declaration(), _cfn_tags_to_api(self.properties.get("Tags"))
        )

    def _attribute(self, attribute: str) -> Any:
        pipeline, metadata = codepipeline_backends[self.account_id][self.region_name].get_pipeline(self.name)
        return metadata["pipelineArn"] if attribute == "Arn" else str(pipeline["version"])

    def _delete(self) -> None:
        codepipeline_backends[self.account_id][self.region_name].delete_pipeline(self.name)


# ------------------------------------------------------------------------------------------------
# Bedrock: no moto backend. Recorded only.


class BedrockGuardrail(_Shim, CloudFormationModel):
    """AWS::Bedrock::Guardrail, recorded only: moto 5.2.5 has no guardrail API.

    The stack keeps the resource with a stable id (a hash of account, region and name), so ``Ref``
    (the ARN) and every ``Fn::GetAtt`` resolve and other resources can point at it. Nothing else
    knows it: ``bedrock.get_guardrail`` and ``ApplyGuardrail`` fail against the emulator, and no
    content is ever filtered.
    """

    cfn_type = "AWS::Bedrock::Guardrail"
    name_property = "Name"
    backed = False
    attributes = frozenset(
        {
            "CreatedAt",
            "FailureRecommendations",
            "GuardrailArn",
            "GuardrailId",
            "Status",
            "StatusReasons",
            "UpdatedAt",
            "Version",
        }
    )
    note = "recorded only, not emulated: moto has no Bedrock guardrail API; ids are stable placeholders"

    def _create(self) -> None:
        self.guardrail_id = _stable_id(self.account_id, self.region_name, self.name)
        partition = get_partition(self.region_name)
        self.arn = f"arn:{partition}:bedrock:{self.region_name}:{self.account_id}:guardrail/{self.guardrail_id}"
        self.created_at = _now_iso()
        self.versions_published = 0

    @property
    def physical_resource_id(self) -> str:
        return self.arn

    def _attribute(self, attribute: str) -> Any:
        values: dict[str, Any] = {
            "CreatedAt": self.created_at,
            "FailureRecommendations": [],
            "GuardrailArn": self.arn,
            "GuardrailId": self.guardrail_id,
            "Status": "READY",
            "StatusReasons": [],
            "UpdatedAt": self.created_at,
            "Version": "DRAFT",
        }
        return values[attribute]

    def _delete(self) -> None:
        pass  # nothing outside the stack holds it

    @classmethod
    def find(cls, account_id: str, region_name: str, identifier: str) -> BedrockGuardrail:
        """The live guardrail that ``identifier`` (an id or an ARN) names, as GuardrailVersion needs."""
        guardrail_id = identifier.rsplit("/", 1)[-1]
        # moto's model tracker lists every instance created since the last reset.
        for guardrail in cls.instances_tracked:  # type: ignore[attr-defined]
            if (
                isinstance(guardrail, cls)
                and not guardrail.deleted
                and (guardrail.account_id, guardrail.region_name, guardrail.guardrail_id)
                == (account_id, region_name, guardrail_id)
            ):
                return guardrail
        raise ValidationError(message=f"Guardrail {identifier} not found")


class BedrockGuardrailVersion(_Shim, CloudFormationModel):
    """AWS::Bedrock::GuardrailVersion, recorded only: numbers versions 1, 2, ... per guardrail.

    ``Ref`` returns ``"<guardrail id>|<version>"`` as CloudFormation does. The guardrail must be a
    recorded AWS::Bedrock::Guardrail in the same account and region, else the stack fails.
    """

    cfn_type = "AWS::Bedrock::GuardrailVersion"
    backed = False
    attributes = frozenset({"GuardrailArn", "GuardrailId", "Version"})
    note = "recorded only, not emulated: version numbers are counted per recorded guardrail"

    def _create(self) -> None:
        guardrail = BedrockGuardrail.find(
            self.account_id, self.region_name, str(self.properties.get("GuardrailIdentifier", ""))
        )
        guardrail.versions_published += 1
        self.guardrail_arn = guardrail.arn
        self.guardrail_id = guardrail.guardrail_id
        self.version = str(guardrail.versions_published)

    @property
    def physical_resource_id(self) -> str:
        return f"{self.guardrail_id}|{self.version}"

    def _attribute(self, attribute: str) -> Any:
        return {
            "GuardrailArn": self.guardrail_arn,
            "GuardrailId": self.guardrail_id,
            "Version": self.version,
        }[attribute]

    def _delete(self) -> None:
        pass  # nothing outside the stack holds it


# ------------------------------------------------------------------------------------------------
# Fixes: types moto supports but gets wrong for CDK templates. Each subclasses moto's own model and
# names CloudFormationModel again so moto's type map picks it up; register() checks that it wins.


class KmsKey(Key, CloudFormationModel):
    """AWS::KMS::Key: moto's own KMS key model, with two CloudFormation inputs put in KMS's form.

    moto 5.2.5 hands the template's ``Tags`` (``[{Key, Value}]``) straight to KMS's tagger, which
    expects ``[{TagKey, TagValue}]``, so any tagged key (CDK tags every key with the stack's tags)
    fails the stack with ``KeyError: 'TagKey'``. It also stores ``KeyPolicy`` as the template's
    object where KMS keeps a JSON string, so every later KMS call on the key (DescribeKey,
    Encrypt, ...) fails with HTTP 500. This class converts both and leaves the rest to moto.
    """

    note = "moto's KMS key; the shim only converts CloudFormation's tags and key policy to KMS's form"

    @classmethod
    def create_from_cloudformation_json(
        cls,
        resource_name: str,
        cloudformation_json: Any,
        account_id: str,
        region_name: str,
        **kwargs: Any,
    ) -> Key:
        fixed = copy.deepcopy(cloudformation_json)
        properties = fixed.setdefault("Properties", {})
        properties["Tags"] = [{"TagKey": tag["Key"], "TagValue": tag["Value"]} for tag in properties.get("Tags") or []]
        if not isinstance(properties.get("KeyPolicy"), str):
            properties["KeyPolicy"] = json.dumps(properties.get("KeyPolicy") or {})
        return super().create_from_cloudformation_json(resource_name, fixed, account_id, region_name, **kwargs)


def _apply_bucket_settings(bucket_name: str, properties: Mapping[str, Any], account_id: str, region_name: str) -> None:
    """Apply the bucket settings that moto's CloudFormation model ignores (see :class:`S3Bucket`)."""
    backend = s3_backends[account_id][get_partition(region_name)]
    versioning = (properties.get("VersioningConfiguration") or {}).get("Status")
    if versioning:
        backend.put_bucket_versioning(bucket_name, versioning)
    if properties.get("PublicAccessBlockConfiguration"):
        backend.put_public_access_block(bucket_name, dict(properties["PublicAccessBlockConfiguration"]))
    ownership_rules = (properties.get("OwnershipControls") or {}).get("Rules") or []
    if ownership_rules:
        backend.put_bucket_ownership_controls(bucket_name, ownership=ownership_rules[0]["ObjectOwnership"])
    notifications = properties.get("NotificationConfiguration") or {}
    if str((notifications.get("EventBridgeConfiguration") or {}).get("EventBridgeEnabled")).lower() == "true":
        backend.put_bucket_notification_configuration(bucket_name, {"EventBridgeConfiguration": {}})


class S3Bucket(FakeBucket, CloudFormationModel):
    """AWS::S3::Bucket: moto's own bucket model, plus the settings its CloudFormation skips.

    moto 5.2.5 applies only ``BucketEncryption`` and ``Tags`` from the template. This class also
    applies ``VersioningConfiguration`` (so object versions and delete markers behave as in AWS),
    ``PublicAccessBlockConfiguration``, ``OwnershipControls`` and
    ``NotificationConfiguration.EventBridgeConfiguration`` (moto then sends object events to its
    EventBridge). Still not applied: lifecycle rules, access logging, CORS, replication, object lock,
    and Lambda/SQS/SNS notification configurations written into the template.
    """

    note = (
        "moto's bucket plus versioning, public access block, object ownership and EventBridge notifications; "
        "lifecycle rules, access logging, CORS, replication and object lock are not applied"
    )

    @classmethod
    def create_from_cloudformation_json(
        cls,
        resource_name: str,
        cloudformation_json: Any,
        account_id: str,
        region_name: str,
        **kwargs: Any,
    ) -> FakeBucket:
        bucket = super().create_from_cloudformation_json(
            resource_name, cloudformation_json, account_id, region_name, **kwargs
        )
        _apply_bucket_settings(bucket.name, cloudformation_json.get("Properties") or {}, account_id, region_name)
        return bucket

    @classmethod
    def update_from_cloudformation_json(
        cls,
        original_resource: Any,
        new_resource_name: str,
        cloudformation_json: Any,
        account_id: str,
        region_name: str,
    ) -> FakeBucket:
        bucket = super().update_from_cloudformation_json(
            original_resource, new_resource_name, cloudformation_json, account_id, region_name
        )
        _apply_bucket_settings(bucket.name, cloudformation_json.get("Properties") or {}, account_id, region_name)
        return bucket


_FIXES: dict[type[Any], str] = {KmsKey: KmsKey.note, S3Bucket: S3Bucket.note}


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


# ------------------------------------------------------------------------------------------------
# Registry


_SHIMS: tuple[type[_Shim], ...] = (
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
)

# The MLflow app's type lives in its own module, which needs _Shim from this one.
from emulator import shims_mlflow  # noqa: E402

_SHIMS += shims_mlflow.SHIMS

#: Every type this module emulates or fixes, with one line on what it does and what it does not.
SHIMMED_TYPES: dict[str, str] = {shim.cfn_type: shim.note for shim in _SHIMS} | {
    fix.cloudformation_type(): note for fix, note in _FIXES.items()
}

_RECORDED_ONLY = frozenset(shim.cfn_type for shim in _SHIMS if not shim.backed)
_FIXED_TYPES = frozenset(fix.cloudformation_type() for fix in _FIXES)


def register() -> None:
    """Make moto's CloudFormation see the shims, even if it already built its type map.

    Defining the classes (importing this module) is what registers them; moto caches the list of
    types on first use, so the caches are cleared here in case a stack was parsed before the import.
    """
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
                "moto now supports %s natively (%s); remove its shim from emulator/shims.py",
                model.cloudformation_type(),
                model.__qualname__,
            )


def emulation_status(resource_type: str) -> EmulationStatus:
    """How the emulator handles ``resource_type``: moto itself, a shim, recorded only, or not at all.

    ``Custom::`` and ``AWS::CloudFormation::CustomResource`` count as not emulated: moto would
    have to run their Lambda handlers, which needs Docker.
    """
    if resource_type in _RECORDED_ONLY:
        return "recorded only"
    if resource_type in SHIMMED_TYPES:
        return "shim"
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
