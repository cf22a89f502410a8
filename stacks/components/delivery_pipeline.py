"""CI/CD: one CodePipeline (V2) that tests, synthesizes and deploys every environment in turn."""

from __future__ import annotations

from aws_cdk import Duration, RemovalPolicy, Stack
from aws_cdk import aws_codebuild as codebuild
from aws_cdk import aws_codepipeline as codepipeline
from aws_cdk import aws_codepipeline_actions as actions
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from aws_cdk import aws_logs as logs
from aws_cdk import aws_s3 as s3
from aws_cdk import aws_sns as sns
from aws_cdk import aws_sns_subscriptions as subscriptions
from constructs import Construct

from stacks.components.access import acknowledge_cdk_grants
from stacks.components.buckets import secure_bucket
from stacks.config import DeliveryConfig, EnvironmentConfig
from stacks.partition import url_suffix
from stacks.role_names import (
    pipeline_prompt_stage_role_name,
    pipeline_test_role_name,
    pipeline_test_stage_role_name,
    prompt_release_role_name,
    role_arn,
)

# Ubuntu 24.04 (aws-codebuild-docker-images ubuntu/standard/8.0): Node.js 22 and 24, Python 3.10-3.14. No
# Chromium (and Ubuntu's `chromium` is a snap stub), so the Build stage runs `make test-pipeline`: everything
# but the browser test.
BUILD_IMAGE = codebuild.LinuxBuildImage.STANDARD_8_0
RUNTIME_VERSIONS = {"python": "3.11", "nodejs": "24"}
BUILD_TARGET = "make test-pipeline"
# The commit being built, for lineage (codeVersion) and release reasons. CODEBUILD_RESOLVED_SOURCE_VERSION is
# the S3 object's version id when the source is the S3 bucket, not a commit: delivery/source_commit.py reads the
# connection source's CommitId (passed as SOURCE_COMMIT) or the SOURCE_COMMIT file the zip carries, and fails
# the build when there is neither. A plain assignment fails the command when the script does (0.2 buildspecs
# keep variables from one command to the next).
RESOLVE_COMMIT = 'CODE_VERSION="$(python3 -m delivery.source_commit)"'
SOURCE_COMMIT_VARIABLE = "SOURCE_COMMIT"
SOURCE_OBJECT_KEY = "source/repository.zip"  # where an S3-sourced pipeline expects the zipped repository
# The roles `cdk bootstrap --trust <pipeline account>` creates in every target account.
CDK_BOOTSTRAP_ROLES = ("deploy-role", "file-publishing-role", "image-publishing-role", "lookup-role")


class DeliveryPipeline(Construct):
    """Source → Build (`make test-pipeline` + synth) → deploy first target → its tests → its prompts → manual
    approval → the rest, each deploy followed by that target's prompt release.

    The source is a CodeConnections repository when ``delivery.connectionArn`` is set, otherwise a
    versioned S3 bucket (upload the zip ``python3 -m delivery.source_commit --archive`` writes, which carries
    its commit, to ``source/repository.zip``); CodeCommit is closed to new customers. Deploy stages run the
    pinned CDK CLI, which assumes the CDK bootstrap roles of each target account, so targets may be other
    accounts (bootstrapped with ``--trust``) or this one. Where a target has LLMOps, a prompt stage runs
    ``delivery/prompt_release.py`` against it (through a fixed-name role in the target account, which trusts
    only that stage's fixed-name role). Artifacts, logs and the approval topic are KMS-encrypted.

    Per environment (the one hosting the pipeline): source, targets, approvers.
    """

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        environment_name: str,
        settings: DeliveryConfig,
        targets: list[EnvironmentConfig],
        removal_policy: RemovalPolicy,
        log_retention: logs.RetentionDays,
        access_log_bucket: s3.IBucket,
    ) -> None:
        super().__init__(scope, construct_id)
        stack = Stack.of(self)
        self._environment_name = environment_name
        self.key = kms.Key(
            self,
            "Key",
            description="Encrypts pipeline artifacts, build logs and approval notifications",
            enable_key_rotation=True,
            removal_policy=removal_policy,
        )
        self.key.grant(
            iam.ServicePrincipal(f"logs.{stack.region}.{url_suffix(stack)}"),
            "kms:Encrypt*",
            "kms:Decrypt*",
            "kms:GenerateDataKey*",
        )
        self.artifacts = self._bucket("ArtifactsBucket", removal_policy, access_log_bucket)
        self.pipeline = codepipeline.Pipeline(
            self,
            "Pipeline",
            pipeline_type=codepipeline.PipelineType.V2,
            artifact_bucket=self.artifacts,
            restart_execution_on_update=False,
            cross_account_keys=False,
        )
        self.logs = logs.LogGroup(
            self, "BuildLogs", encryption_key=self.key, retention=log_retention, removal_policy=removal_policy
        )

        source = codepipeline.Artifact("Source")
        if settings.connection_arn:
            owner, repo = settings.repository.split("/", 1)
            connection = actions.CodeStarConnectionsSourceAction(
                action_name="Repository",
                connection_arn=settings.connection_arn,
                owner=owner,
                repo=repo,
                branch=settings.branch,
                output=source,
                code_build_clone_output=True,
            )
            source_action: codepipeline.IAction = connection
            # The commit CodeConnections fetched, for every build that records or reports it.
            self._commit_variables: dict[str, codebuild.BuildEnvironmentVariable] = {
                SOURCE_COMMIT_VARIABLE: codebuild.BuildEnvironmentVariable(value=connection.variables.commit_id)
            }
        else:
            self.source_bucket = self._bucket("SourceBucket", removal_policy, access_log_bucket)
            source_action = actions.S3SourceAction(
                action_name="RepositoryZip",
                bucket=self.source_bucket,
                bucket_key=SOURCE_OBJECT_KEY,
                output=source,
                trigger=actions.S3Trigger.POLL,
            )
            self._commit_variables = {}  # the zip carries its commit (python3 -m delivery.source_commit --archive)
        self.pipeline.add_stage(stage_name="Source", actions=[source_action])

        assembly = codepipeline.Artifact("CloudAssembly")
        synth_commands = [
            f"npx cdk synth -c env={t.name} -c codeVersion=$CODE_VERSION --all --quiet --output cdk.out/{t.name}"
            for t in targets
        ]
        build = self._project(
            "Build",
            "Lint, type-check, run every test but the browser test, synthesize each target environment",
            commands=[RESOLVE_COMMIT, BUILD_TARGET, *synth_commands],
            artifacts_dir="cdk.out",
        )
        self.pipeline.add_stage(
            stage_name="Build",
            actions=[
                actions.CodeBuildAction(
                    action_name="TestAndSynth",
                    project=build,
                    input=source,
                    outputs=[assembly],
                    environment_variables=self._commit_variables or None,
                )
            ],
        )

        self.approvals = sns.Topic(self, "ApprovalTopic", master_key=self.key, enforce_ssl=True)
        for email in settings.approver_emails:
            self.approvals.add_subscription(subscriptions.EmailSubscription(email))

        first, *rest = targets
        self.pipeline.add_stage(
            stage_name=f"Deploy-{first.name}",
            actions=[self._deploy_action(first, assembly, source, run_order=1)],
        )
        self.pipeline.add_stage(
            stage_name=f"Test-{first.name}",
            actions=[self._test_action(first, source)],
        )
        self._add_prompt_stage(first, source)
        for target in rest:
            self.pipeline.add_stage(
                stage_name=f"Approve-{target.name}",
                actions=[
                    actions.ManualApprovalAction(
                        action_name="Approve",
                        notification_topic=self.approvals,
                        additional_information=f"Tests passed in {first.name}; approve to deploy to {target.name}.",
                    )
                ],
            )
            self.pipeline.add_stage(
                stage_name=f"Deploy-{target.name}",
                actions=[self._deploy_action(target, assembly, source, run_order=1)],
            )
            self._add_prompt_stage(target, source)
        acknowledge_cdk_grants(
            self,
            "CDK's CodePipeline/CodeBuild wiring: read/write of this pipeline's own artifact bucket and key, and "
            "CodeBuild's per-build log streams and report groups; no narrower grant is offered.",
        )

    def _add_prompt_stage(self, target: EnvironmentConfig, source: codepipeline.Artifact) -> None:
        """Release the prompts of ``prompts/`` to `target` (publish, evaluate, move aliases) after it is deployed.

        Only where the target has LLMOps; the release tool assumes the target's fixed-name prompt-release
        role, and its non-zero exit (a refused promotion, a failed evaluation, a bad prompt file) fails the stage.
        """
        if not target.llmops.enabled:
            return
        project = self._project(
            f"Prompts{target.name.capitalize()}",
            f"Prompts as code: publish changed prompts to {target.name}'s catalog, evaluate them, move their aliases",
            commands=[
                RESOLVE_COMMIT,
                f"python3 -m delivery.prompt_release --env {target.name} --source-version $CODE_VERSION",
            ],
            role_name=pipeline_prompt_stage_role_name(target.name_prefix, self._environment_name, target.name),
        )
        stack = Stack.of(self)
        project.add_to_role_policy(
            iam.PolicyStatement(
                sid="AssumeTheTargetsPromptReleaseRole",
                actions=["sts:AssumeRole"],
                resources=[
                    role_arn(stack.partition, target.account, prompt_release_role_name(target.name_prefix, target.name))
                ],
            )
        )
        self.pipeline.add_stage(
            stage_name=f"Prompts-{target.name}",
            actions=[
                actions.CodeBuildAction(
                    action_name="ReleasePrompts",
                    project=project,
                    input=source,
                    environment_variables=self._commit_variables or None,
                )
            ],
        )

    # -- helpers -----------------------------------------------------------------------------------

    def _bucket(self, construct_id: str, removal_policy: RemovalPolicy, access_logs: s3.IBucket) -> s3.Bucket:
        return secure_bucket(
            self,
            construct_id,
            encryption_key=self.key,
            access_logs=access_logs,
            access_log_prefix=f"pipeline-{construct_id}/",
            lifecycle_rules=[
                s3.LifecycleRule(
                    noncurrent_version_expiration=Duration.days(30),
                    abort_incomplete_multipart_upload_after=Duration.days(7),
                )
            ],
            removal_policy=removal_policy,
        )

    def _project(
        self,
        construct_id: str,
        description: str,
        *,
        commands: list[str],
        artifacts_dir: str | None = None,
        privileged: bool = False,
        role_name: str | None = None,
    ) -> codebuild.PipelineProject:
        """A CodeBuild project on BUILD_IMAGE; `role_name` fixes its role's name where a target account's
        role trusts that role by ARN (the test and prompt stages)."""
        spec: dict[str, object] = {
            "version": "0.2",
            "env": {"variables": {"CDK_VALIDATION": "false"}},
            "phases": {
                "install": {"runtime-versions": dict(RUNTIME_VERSIONS)},
                "build": {"commands": commands},
            },
        }
        if artifacts_dir:
            spec["artifacts"] = {"base-directory": artifacts_dir, "files": ["**/*"]}
        project = codebuild.PipelineProject(
            self,
            construct_id,
            description=description,
            build_spec=codebuild.BuildSpec.from_object(spec),
            environment=codebuild.BuildEnvironment(
                build_image=BUILD_IMAGE, compute_type=codebuild.ComputeType.MEDIUM, privileged=privileged
            ),
            encryption_key=self.key,
            role=(
                iam.Role(
                    self,
                    f"{construct_id}Role",
                    role_name=role_name,
                    assumed_by=iam.ServicePrincipal("codebuild.amazonaws.com"),
                    description=f"CodeBuild: {description}",
                )
                if role_name
                else None
            ),
            timeout=Duration.minutes(60),
            logging=codebuild.LoggingOptions(cloud_watch=codebuild.CloudWatchLoggingOptions(log_group=self.logs)),
        )
        return project

    def _deploy_action(
        self,
        target: EnvironmentConfig,
        assembly: codepipeline.Artifact,
        source: codepipeline.Artifact,
        *,
        run_order: int,
    ) -> actions.CodeBuildAction:
        project = self._project(
            f"Deploy{target.name.capitalize()}",
            f"cdk deploy of the synthesized {target.name} assembly",
            # The LLMOps app's image is built from apps/playground during the deploy: Docker needs privileged mode.
            privileged=target.llmops.enabled and target.llmops.app.enabled,
            commands=[
                "npm ci --no-audit --no-fund",
                f"npx cdk deploy --app $CODEBUILD_SRC_DIR_CloudAssembly/{target.name} --all --require-approval never",
            ],
        )
        stack = Stack.of(self)
        project.add_to_role_policy(
            iam.PolicyStatement(
                sid="AssumeCdkBootstrapRoles",
                actions=["sts:AssumeRole"],
                resources=[
                    f"arn:{stack.partition}:iam::{target.account}:role/"
                    f"cdk-{target.bootstrap_qualifier}-{role}-{target.account}-{target.region}"
                    for role in CDK_BOOTSTRAP_ROLES
                ],
            )
        )
        return actions.CodeBuildAction(
            action_name="CdkDeploy",
            project=project,
            input=source,
            extra_inputs=[assembly],
            run_order=run_order,
        )

    def _test_action(self, target: EnvironmentConfig, source: codepipeline.Artifact) -> actions.CodeBuildAction:
        project = self._project(
            f"Test{target.name.capitalize()}",
            f"Automated tests against {target.name}: the batch strategy's pass/fail report",
            commands=[f"python3 -m delivery.preprod_check --env {target.name}"],
            role_name=pipeline_test_stage_role_name(target.name_prefix, self._environment_name, target.name),
        )
        stack = Stack.of(self)
        project.add_to_role_policy(
            iam.PolicyStatement(
                sid="AssumeTheTargetsTestRole",
                actions=["sts:AssumeRole"],
                resources=[
                    role_arn(stack.partition, target.account, pipeline_test_role_name(target.name_prefix, target.name))
                ],
            )
        )
        return actions.CodeBuildAction(action_name="AutomatedTests", project=project, input=source)
