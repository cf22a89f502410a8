"""A SageMaker managed MLflow app (serverless MLflow) with its artifacts in the data lake."""

from __future__ import annotations

from aws_cdk import RemovalPolicy, Stack
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from aws_cdk import aws_s3 as s3
from aws_cdk import aws_sagemaker as sagemaker
from aws_cdk import custom_resources as cr
from constructs import Construct

from stacks.components.access import grant_objects
from stacks.mlflow_config import MlflowConfig
from stacks.nag import acknowledge

# Where the app keeps run artifacts: a prefix of the data lake's artifacts bucket (KMS, versioned, logged).
ARTIFACTS_PREFIX = "mlflow"
# The app's data-plane API (the MLflow REST API on https://mlflow.sagemaker.<region>.app.aws) is authorized by
# this one action on the app's ARN; reading the app and opening its UI are separate actions.
CALL_API_ACTION = "sagemaker:CallMlflowAppApi"
# Which Studio domains open this app by default is an app setting (UpdateMlflowApp's DefaultDomainIdList) that
# CloudFormation's MlflowApp does not expose: one SDK call at deploy time sets it (see ``make_default_for``).
SET_DEFAULT_DOMAINS_ACTION = "sagemaker:UpdateMlflowApp"
# CDK's one AwsCustomResource function per stack (a fixed id of CDK's).
_AWS_CUSTOM_RESOURCE_PROVIDER_ID = "AWS679f53fac002430cb0da5b7982bd2287"
USER_ACTIONS = (CALL_API_ACTION, "sagemaker:DescribeMlflowApp", "sagemaker:CreatePresignedMlflowAppUrl")
# Public policies for MLflow apps also grant the granular sagemaker-mlflow actions of each REST call on the app
# (as for tracking servers); reports differ on whether apps evaluate them, so both are granted, call by call.
LOG_RUN_ACTIONS = tuple(
    f"sagemaker-mlflow:{name}"
    for name in (
        "GetExperimentByName",
        "CreateExperiment",
        "SearchRuns",
        "CreateRun",
        "LogBatch",
        "LogInputs",
        "UpdateRun",
    )
)
EXPLORE_ACTIONS = (
    *LOG_RUN_ACTIONS,
    *(
        f"sagemaker-mlflow:{name}"
        for name in (
            "AccessUI",
            "GetExperiment",
            "SearchExperiments",
            "GetRun",
            "GetMetricHistory",
            "ListArtifacts",
            "LogMetric",
            "LogParam",
            "LogModel",
            "SetTag",
        )
    ),
)


class MlflowApp(Construct):
    """``AWS::SageMaker::MlflowApp`` and the role it uses to reach its artifact store.

    The role may read and write objects under ``s3://<artifacts bucket>/mlflow/`` (and use the data key for
    them): nothing else. The app does not register models in the Model Registry by itself
    (``AutoModelRegistrationDisabled``): the training pipeline's RegisterModel step owns versions, and each
    version records the MLflow run it came from.

    ``name`` is the app's physical name (CloudFormation requires one; changing it replaces the app and its
    runs). Per environment: whether it exists at all and its maintenance window (``mlflow`` in cdk.json).
    """

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        name: str,
        key: kms.IKey,
        artifacts_bucket: s3.IBucket,
        settings: MlflowConfig,
        removal_policy: RemovalPolicy,
    ) -> None:
        super().__init__(scope, construct_id)
        stack = Stack.of(self)
        self.role = iam.Role(
            self,
            "Role",
            assumed_by=iam.ServicePrincipal(
                "sagemaker.amazonaws.com",
                # Only SageMaker acting for this account may take the role (confused-deputy guard).
                conditions={"StringEquals": {"aws:SourceAccount": stack.account}},
            ),
            description=f"Lets the {name} MLflow app keep run artifacts under s3://<artifacts>/{ARTIFACTS_PREFIX}/",
        )
        grant_objects(
            self.role,
            artifacts_bucket,
            key,
            prefix=f"{ARTIFACTS_PREFIX}/",
            write=True,
            purpose="The MLflow app stores run artifacts",
        )
        self.artifact_store_uri = f"s3://{artifacts_bucket.bucket_name}/{ARTIFACTS_PREFIX}/"
        self.app = sagemaker.CfnMlflowApp(
            self,
            "App",
            name=name,
            artifact_store_uri=self.artifact_store_uri,
            role_arn=self.role.role_arn,
            model_registration_mode="AutoModelRegistrationDisabled",
            weekly_maintenance_window_start=settings.weekly_maintenance_window_start,
        )
        # SageMaker checks the role's access when it creates the app: the policy must exist first.
        policy = self.role.node.find_child("DefaultPolicy").node.default_child
        assert isinstance(policy, iam.CfnPolicy)
        self.app.add_resource_dependency(policy)
        # Runs are experiment history: prod keeps them with the rest of its data.
        self.app.apply_removal_policy(removal_policy)
        self.app_arn = self.app.attr_arn
        self.name = name

    def grant_use(self, grantee: iam.IGrantable, *, open_ui: bool = True) -> None:
        """Let `grantee` call the app's MLflow API (log and read runs); with `open_ui`, also open its UI."""
        actions = [*USER_ACTIONS, *EXPLORE_ACTIONS] if open_ui else [CALL_API_ACTION, *LOG_RUN_ACTIONS]
        grantee.grant_principal.add_to_principal_policy(iam.PolicyStatement(actions=actions, resources=[self.app_arn]))

    def make_default_for(self, domain_id: str) -> cr.AwsCustomResource:
        """Make this app the default MLflow app of the Studio domain `domain_id`; a stack delete undoes it.

        On create and update, ``UpdateMlflowApp(Arn, DefaultDomainIdList=[domain_id])``; on delete the list is
        emptied, so no domain is left pointing at an app this stack no longer manages. The delete tolerates the
        app being gone already (``ResourceNotFound``): there is then nothing left to undo.
        """

        def call(domain_ids: list[str]) -> cr.AwsSdkCall:
            return cr.AwsSdkCall(
                service="SageMaker",
                action="UpdateMlflowApp",
                parameters={"Arn": self.app_arn, "DefaultDomainIdList": domain_ids},
                physical_resource_id=cr.PhysicalResourceId.of(self.app_arn),
            )

        on_delete = cr.AwsSdkCall(
            service="SageMaker",
            action="UpdateMlflowApp",
            parameters={"Arn": self.app_arn, "DefaultDomainIdList": []},
            ignore_error_codes_matching="ResourceNotFound",
        )
        setting = cr.AwsCustomResource(
            self,
            "DefaultForDomain",
            on_create=call([domain_id]),
            on_update=call([domain_id]),
            on_delete=on_delete,
            policy=cr.AwsCustomResourcePolicy.from_statements(
                [iam.PolicyStatement(actions=[SET_DEFAULT_DOMAINS_ACTION], resources=[self.app_arn])]
            ),
            install_latest_aws_sdk=False,
        )
        provider = Stack.of(self).node.find_child(_AWS_CUSTOM_RESOURCE_PROVIDER_ID)
        acknowledge(
            provider.node.find_child("ServiceRole"),
            "AwsSolutions-IAM4",
            "CDK's AwsCustomResource provider role: AWSLambdaBasicExecutionRole only lets it write its own logs.",
            finding="Policy::arn:<AWS::Partition>:iam::aws:policy/service-role/AWSLambdaBasicExecutionRole",
        )
        return setting
