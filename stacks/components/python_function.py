"""A Python Lambda function packaged from `lambdas/<name>/` without Docker.

The asset folder is assembled at synth time by a local bundler: the function's own folder,
`lambdas/common/`, and the pure-Python runtime dependencies the handlers import (Powertools)
copied from this project's locked environment, so the deployed code runs exactly the versions
the unit tests ran. No Docker, no network, no public layer ARN to keep current.
"""

from __future__ import annotations

import importlib.util
import shutil
import typing
from pathlib import Path

import jsii
from aws_cdk import BundlingOptions, DockerImage, Duration, ILocalBundling, RemovalPolicy
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_logs as logs
from constructs import Construct

from stacks.nag import acknowledge

LAMBDAS_DIR = Path(__file__).resolve().parents[2] / "lambdas"
RUNTIME = lambda_.Runtime.PYTHON_3_14
# Import names of the runtime dependencies copied into every function (boto3 is in the Lambda runtime).
VENDORED_PACKAGES = ("aws_lambda_powertools", "typing_extensions")
DEFAULT_TIMEOUT = Duration.seconds(30)
DEFAULT_TIMEOUT = Duration.seconds(30)
_IGNORED = shutil.ignore_patterns("__pycache__", "*.pyc", "tests")


@jsii.implements(ILocalBundling)
class _CopyBundler:
    def __init__(self, function_dir: Path) -> None:
        self._function_dir = function_dir

    def try_bundle(self, output_dir: str, options: BundlingOptions) -> bool:
        out = Path(output_dir)
        shutil.copytree(self._function_dir, out, dirs_exist_ok=True, ignore=_IGNORED)
        shutil.copytree(LAMBDAS_DIR / "common", out / "common", dirs_exist_ok=True, ignore=_IGNORED)
        for package in VENDORED_PACKAGES:
            spec = importlib.util.find_spec(package)
            if spec is None or spec.origin is None:
                raise RuntimeError(f"{package} is not installed in this environment; run `make setup`")
            origin = Path(spec.origin)
            if origin.name == "__init__.py":
                shutil.copytree(origin.parent, out / package, dirs_exist_ok=True, ignore=_IGNORED)
            else:
                shutil.copy2(origin, out / origin.name)
        return True


class PythonFunction(Construct):
    """A Lambda function (Python 3.14, arm64) with its own encrypted log group and retention.

    Per environment: log retention and removal policy; the caller passes environment variables.
    """

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        name: str,
        description: str,
        environment: dict[str, str],
        key: kms.IKey,
        log_retention: logs.RetentionDays,
        removal_policy: RemovalPolicy,
        timeout: Duration | None = None,
        memory_size: int = 512,
    ) -> None:
        super().__init__(scope, construct_id)
        function_dir = LAMBDAS_DIR / name
        if not (function_dir / "handler.py").is_file():
            raise ValueError(f"lambdas/{name}/handler.py does not exist")
        self.log_group = logs.LogGroup(
            self, "Logs", encryption_key=key, retention=log_retention, removal_policy=removal_policy
        )
        self.role = iam.Role(
            self,
            "Role",
            assumed_by=iam.ServicePrincipal("lambda.amazonaws.com"),
            description=f"Runs the {name} function",
        )
        self.function = lambda_.Function(
            self,
            "Function",
            runtime=RUNTIME,
            architecture=lambda_.Architecture.ARM_64,
            handler="handler.handler",
            code=lambda_.Code.from_asset(
                str(function_dir),
                bundling=BundlingOptions(
                    # Never pulled: the local bundler always succeeds; CDK requires an image anyway.
                    image=DockerImage.from_registry("local-bundling-only"),
                    # jsii hands the options over as one positional struct, unlike the typed stub.
                    local=typing.cast(ILocalBundling, _CopyBundler(function_dir)),
                ),
            ),
            description=description,
            environment=environment,
            role=self.role,
            timeout=timeout or DEFAULT_TIMEOUT,
            memory_size=memory_size,
            log_group=self.log_group,
            tracing=lambda_.Tracing.ACTIVE,
        )
        # Writing its own log group; the role gets no managed policy (AWSLambdaBasicExecutionRole).
        self.log_group.grant_write(self.role)
        acknowledge(
            self.role.node.find_child("DefaultPolicy"),
            "AwsSolutions-IAM5",
            "X-Ray's PutTraceSegments/PutTelemetryRecords have no resource-level permissions (active tracing).",
            finding="Resource::*",
        )
