"""A Python Lambda function packaged from `lambdas/<name>/` without Docker.

The asset folder is assembled at synth time by a local bundler: the function's own folder,
`lambdas/common/`, and the pure-Python runtime dependencies the handlers import (Powertools)
copied from this project's locked environment, so the deployed code runs exactly the versions
the unit tests ran. No Docker, no network, no public layer ARN to keep current.

A function may name extra installed distributions (`packages`, e.g. ``kafka-python``): each is
copied file by file as its wheel installed it (its RECORD, including the ``.dist-info`` folder,
which carries the licence and the version `importlib.metadata` reads), with the distributions it
requires, except those the Lambda runtime already provides (boto3 and its dependencies). Only
pure-Python distributions are accepted: the asset is built on any machine for arm64 Lambda.

The asset hash is computed from every file that goes into the bundle (`bundle_hash`), not from the
function's folder alone: a change to `lambdas/common` or to a vendored package gives a new asset, so
a warm `cdk.out` cannot deploy a stale bundle. Every bundled distribution must be installed at the
version `uv.lock` pins (`make setup` syncs it), so the hash of its files stands for the locked version.
"""

from __future__ import annotations

import atexit
import fnmatch
import functools
import hashlib
import importlib.metadata
import importlib.util
import os
import re
import shutil
import tempfile
import tomllib
import typing
from pathlib import Path, PurePosixPath

import jsii
from aws_cdk import AssetHashType, BundlingOptions, DockerImage, Duration, ILocalBundling, RemovalPolicy
from aws_cdk import aws_ec2 as ec2
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_logs as logs
from constructs import Construct

from stacks.nag import acknowledge

LAMBDAS_DIR = Path(__file__).resolve().parents[2] / "lambdas"
LOCK_FILE = Path(__file__).resolve().parents[2] / "uv.lock"
RUNTIME = lambda_.Runtime.PYTHON_3_14
# Import names of the runtime dependencies copied into every function (boto3 is in the Lambda runtime).
VENDORED_PACKAGES = ("aws_lambda_powertools", "typing_extensions")
DEFAULT_TIMEOUT = Duration.seconds(30)
# Distributions the Lambda Python runtime provides: boto3 and what it depends on.
RUNTIME_DISTRIBUTIONS = frozenset({"boto3", "botocore", "s3transfer", "jmespath", "urllib3", "python-dateutil", "six"})
# What Lambda needs to manage a VPC function's network interfaces (AWSLambdaVPCAccessExecutionRole without logs).
VPC_NETWORK_ACTIONS = (
    "ec2:CreateNetworkInterface",
    "ec2:DescribeNetworkInterfaces",
    "ec2:DescribeSubnets",
    "ec2:DeleteNetworkInterface",
    "ec2:AssignPrivateIpAddresses",
    "ec2:UnassignPrivateIpAddresses",
)
_REQUIREMENT_NAME = re.compile(r"\s*([A-Za-z0-9][A-Za-z0-9._-]*)")
_IGNORED = ("__pycache__", "*.pyc", "tests")  # file or folder names left out of a bundle


def normalized(name: str) -> str:
    """A distribution name as packaging tools compare them (PEP 503): ``Click`` and ``click`` are one."""
    return re.sub(r"[-_.]+", "-", name).lower()


def distribution_closure(names: tuple[str, ...]) -> list[str]:
    """`names` and every distribution they require (extras left out), minus what the Lambda runtime has.

    Sorted, so the asset is built in the same order everywhere.
    """
    found: dict[str, importlib.metadata.Distribution] = {}
    pending = [normalized(name) for name in names]
    while pending:
        name = pending.pop()
        if name in found or name in RUNTIME_DISTRIBUTIONS:
            continue
        try:
            distribution = importlib.metadata.distribution(name)
        except importlib.metadata.PackageNotFoundError:
            raise RuntimeError(f"{name} is not installed in this environment; add it to pyproject.toml") from None
        found[name] = distribution
        for requirement in distribution.requires or []:
            requirement_text, _, marker = requirement.partition(";")
            if "extra" in marker:
                continue  # an optional feature nobody asked for
            if marker.strip():
                raise RuntimeError(
                    f"{name} requires {requirement!r}: environment markers other than extras are not evaluated "
                    "by this bundler; name the distribution explicitly instead"
                )
            match = _REQUIREMENT_NAME.match(requirement_text)
            if not match:
                raise RuntimeError(f"{name} has a requirement this bundler cannot read: {requirement!r}")
            pending.append(normalized(match.group(1)))
    return sorted(found)


def _tree_files(root: Path, prefix: PurePosixPath) -> list[tuple[PurePosixPath, Path]]:
    """The files of `root` as the bundle holds them under `prefix`, minus caches and tests."""
    found = []
    for path in root.rglob("*"):
        relative = path.relative_to(root)
        if any(fnmatch.fnmatch(part, pattern) for part in relative.parts for pattern in _IGNORED):
            continue
        if path.is_file():
            found.append((prefix / relative.as_posix(), path))
    return found


def _distribution_files(name: str) -> list[tuple[PurePosixPath, Path]]:
    """The files of an installed distribution as its wheel installed them (its RECORD), for the bundle."""
    distribution = importlib.metadata.distribution(name)
    files = distribution.files
    if not files:
        raise RuntimeError(f"{name} has no RECORD of its files; reinstall it with `make setup`")
    found = []
    for file in files:
        relative = PurePosixPath(str(file))
        # Scripts installed outside site-packages (bin/...) and bytecode caches stay behind.
        if relative.parts[0] == ".." or "__pycache__" in relative.parts:
            continue
        if relative.suffix in (".so", ".pyd", ".dylib"):
            raise RuntimeError(f"{name} is not pure Python ({relative}); it cannot be bundled for arm64 here")
        found.append((relative, Path(str(file.locate()))))
    return found


@functools.cache
def _vendored_files(package: str) -> tuple[tuple[PurePosixPath, Path], ...]:
    """The files of an installed vendored package (listed once per process: site-packages does not change
    while a synth runs, and every function bundles the same packages)."""
    spec = importlib.util.find_spec(package)
    if spec is None or spec.origin is None:
        raise RuntimeError(f"{package} is not installed in this environment; run `make setup`")
    origin = Path(spec.origin)
    if origin.name == "__init__.py":
        return tuple(_tree_files(origin.parent, PurePosixPath(package)))
    return ((PurePosixPath(origin.name), origin),)


def locked_versions(lock_file: Path) -> dict[str, set[str]]:
    """The versions `uv.lock` pins, by normalized distribution name (a name may have several by marker)."""
    stat = lock_file.stat()
    return _locked_versions(lock_file, stat.st_size, stat.st_mtime_ns)


@functools.cache
def _locked_versions(lock_file: Path, size: int, mtime_ns: int) -> dict[str, set[str]]:
    """`locked_versions`, parsed once per version of the lock file (it is read for every function)."""
    versions: dict[str, set[str]] = {}
    for package in tomllib.loads(lock_file.read_text())["package"]:
        versions.setdefault(normalized(package["name"]), set()).add(str(package.get("version", "")))
    return versions


def check_locked(distributions: list[str], lock_file: Path) -> None:
    """Refuse to bundle an installed distribution whose version is not the one `lock_file` pins."""
    locked = locked_versions(lock_file)
    for name in distributions:
        installed = importlib.metadata.version(name)
        pinned = locked.get(normalized(name), set())
        if installed not in pinned:
            raise RuntimeError(
                f"{name} {installed} is installed but {lock_file.name} pins {', '.join(sorted(pinned)) or 'nothing'}; "
                "run `make setup` so that the Lambda bundle holds the locked version"
            )


def bundle_files(
    function_dir: Path,
    packages: tuple[str, ...] = (),
    *,
    lambdas_dir: Path | None = None,
    lock_file: Path = LOCK_FILE,
) -> list[tuple[PurePosixPath, Path]]:
    """Every file of a function's bundle: (its path in the bundle, the file it is copied from), sorted.

    The function's folder, `lambdas/common/` as ``common/``, the vendored runtime dependencies and
    the closure of `packages`. The bundler copies exactly these files and the asset hash is computed
    from exactly these files, so the two cannot disagree.
    """
    lambdas_dir = lambdas_dir if lambdas_dir is not None else LAMBDAS_DIR
    files = _tree_files(function_dir, PurePosixPath()) + _tree_files(lambdas_dir / "common", PurePosixPath("common"))
    for package in VENDORED_PACKAGES:
        files += _vendored_files(package)
    closure = distribution_closure(packages) if packages else []
    for distribution in closure:
        files += _distribution_files(distribution)
    # What is copied comes from this environment: it must be what the lock file pins.
    check_locked([normalized(package) for package in VENDORED_PACKAGES] + closure, lock_file)
    by_target = dict(files)  # a later source of the same bundle path wins, as it did when copying in order
    return sorted(by_target.items())


@functools.cache
def _file_digest(path: Path, size: int, mtime_ns: int) -> bytes:
    """A file's SHA-256, cached by its size and modification time (the vendored packages do not change)."""
    return hashlib.sha256(path.read_bytes()).digest()


def bundle_hash(function_dir: Path, packages: tuple[str, ...] = (), *, lambdas_dir: Path | None = None) -> str:
    """The asset hash of a function's bundle: every bundled file's path and content (see `bundle_files`).

    CDK's default source hash covers only the function's folder: after a change to `lambdas/common`
    or to a vendored package, a warm `cdk.out` would keep (and deploy) the old bundle.
    """
    digest = hashlib.sha256()
    for target, source in bundle_files(function_dir, packages, lambdas_dir=lambdas_dir):
        stat = source.stat()
        digest.update(str(target).encode() + b"\0" + _file_digest(source, stat.st_size, stat.st_mtime_ns))
    return digest.hexdigest()


@jsii.implements(ILocalBundling)
class _CopyBundler:
    def __init__(self, function_dir: Path, packages: tuple[str, ...] = (), *, lambdas_dir: Path | None = None) -> None:
        self._function_dir = function_dir
        self._packages = packages
        self._lambdas_dir = lambdas_dir

    def try_bundle(self, output_dir: str, options: BundlingOptions) -> bool:
        out = Path(output_dir)
        store = _blob_store(out)
        for target, source in bundle_files(self._function_dir, self._packages, lambdas_dir=self._lambdas_dir):
            destination = out / target
            destination.parent.mkdir(parents=True, exist_ok=True)
            if store is None:
                shutil.copy2(source, destination)
            else:
                os.link(store.blob(source), destination)
        return True


class _BlobStore:
    """Private copies of bundled files, by content, that later bundles hard-link instead of copying again.

    Every function bundles the same Powertools and ``lambdas/common`` (about 350 files), and a test session
    synthesizes each environment in-process: linking is ~100 times cheaper than copying. The blobs are this
    process's own copies (never the venv's files), so nothing that writes into a bundle can reach the source;
    a file that changes gets a new digest, hence a new blob. Removed when the process exits.
    """

    def __init__(self, root: Path) -> None:
        self.root = root
        self._blobs: dict[tuple[Path, int, int], Path] = {}

    def blob(self, source: Path) -> Path:
        stat = source.stat()
        key = (source, stat.st_size, stat.st_mtime_ns)
        blob = self._blobs.get(key)
        if blob is None:
            digest = _file_digest(source, stat.st_size, stat.st_mtime_ns).hex()
            blob = self.root / digest
            if not blob.exists():
                shutil.copy2(source, blob)
            self._blobs[key] = blob
        return blob


_BLOB_STORES: dict[int, _BlobStore | None] = {}


def _blob_store(output_dir: Path) -> _BlobStore | None:
    """The blob store on `output_dir`'s file system (hard links cannot cross one), or None: copy as before."""
    device = output_dir.stat().st_dev
    if device not in _BLOB_STORES:
        root = Path(tempfile.mkdtemp(prefix="lambda-bundle-blobs-"))
        if root.stat().st_dev != device:
            shutil.rmtree(root)
            _BLOB_STORES[device] = None
        else:
            atexit.register(shutil.rmtree, root, ignore_errors=True)
            _BLOB_STORES[device] = _BlobStore(root)
    return _BLOB_STORES[device]


class PythonFunction(Construct):
    """A Lambda function (Python 3.14, arm64) with its own encrypted log group and retention.

    `packages` names extra installed distributions to bundle (see the module docstring); `handler_module`
    picks another module of the folder as the entry point, so two functions can share one asset. With
    `vpc`, the function runs in the given subnets and security groups, and its role gets the network
    interface permissions Lambda needs there (not the AWS managed policy).

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
        packages: tuple[str, ...] = (),
        handler_module: str = "handler",
        vpc: ec2.IVpc | None = None,
        vpc_subnets: ec2.SubnetSelection | None = None,
        security_groups: list[ec2.ISecurityGroup] | None = None,
    ) -> None:
        super().__init__(scope, construct_id)
        function_dir = LAMBDAS_DIR / name
        if not (function_dir / f"{handler_module}.py").is_file():
            raise ValueError(f"lambdas/{name}/{handler_module}.py does not exist")
        if vpc is None and (vpc_subnets is not None or security_groups):
            raise ValueError(f"{name}: subnets and security groups need a vpc")
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
            handler=f"{handler_module}.handler",
            code=lambda_.Code.from_asset(
                str(function_dir),
                # The hash covers the whole bundle, not only the function's folder (see bundle_hash).
                asset_hash=bundle_hash(function_dir, packages),
                asset_hash_type=AssetHashType.CUSTOM,
                bundling=BundlingOptions(
                    # Never pulled: the local bundler always succeeds; CDK requires an image anyway.
                    image=DockerImage.from_registry("local-bundling-only"),
                    # jsii hands the options over as one positional struct, unlike the typed stub.
                    local=typing.cast(ILocalBundling, _CopyBundler(function_dir, packages)),
                ),
            ),
            description=description,
            environment=environment,
            role=self.role,
            timeout=timeout or DEFAULT_TIMEOUT,
            memory_size=memory_size,
            log_group=self.log_group,
            tracing=lambda_.Tracing.ACTIVE,
            vpc=vpc,
            vpc_subnets=vpc_subnets,
            security_groups=security_groups,
        )
        if vpc is not None:
            # What AWSLambdaVPCAccessExecutionRole grants besides logs: Lambda manages the function's
            # network interfaces in the subnets with the execution role.
            self.role.add_to_policy(
                iam.PolicyStatement(
                    sid="ManageVpcNetworkInterfaces",
                    actions=list(VPC_NETWORK_ACTIONS),
                    resources=["*"],
                )
            )
        # Writing its own log group; the role gets no managed policy (AWSLambdaBasicExecutionRole).
        self.log_group.grant_write(self.role)
        reason = "X-Ray's PutTraceSegments/PutTelemetryRecords have no resource-level permissions (active tracing)."
        if vpc is not None:
            reason += (
                " Lambda creates and deletes the function's VPC network interfaces with this role: their IDs do not "
                "exist before, and ec2:Describe* actions have no resource-level permissions."
            )
        acknowledge(self.role.node.find_child("DefaultPolicy"), "AwsSolutions-IAM5", reason, finding="Resource::*")
