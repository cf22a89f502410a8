"""Shims for SageMaker: Studio domain and user profiles, model package groups, pipelines.

See :mod:`emulator.shims` for the rules every shim follows."""

from __future__ import annotations

from typing import Any

from moto.cloudformation.exceptions import ValidationError
from moto.core.common_models import CloudFormationModel
from moto.s3.models import s3_backends
from moto.sagemaker.models import sagemaker_backends
from moto.utilities.utils import get_partition

from emulator.shims.base import _Shim

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
