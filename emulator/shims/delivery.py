"""Shims for CodeBuild projects and CodePipeline pipelines.

See :mod:`emulator.shims` for the rules every shim follows."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

from moto.codebuild.models import codebuild_backends
from moto.codepipeline.models import codepipeline_backends
from moto.core.common_models import CloudFormationModel

from emulator.shims.base import _camel_keys, _cfn_tags_to_api, _Shim

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
