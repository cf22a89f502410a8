"""Run a deployed function's handler in this process, with the code and environment its deployment gave it.

moto stores Lambda functions but cannot run them without Docker. The tour therefore reads each
function's configuration from the emulator (its environment variables, as CloudFormation set them) and
its deployment package (the zip the CDK CLI uploaded, as moto's Lambda holds it), unpacks the package and
imports ``handler.py`` from it the way the Lambda runtime would (the package root on ``sys.path``, so
``common``, the vendored Powertools and sibling modules import as top-level modules, from the package
and nowhere else), and calls ``handler`` with that environment, pointed at the emulator. A stale or
incomplete bundle therefore fails here as it would in AWS. What the handler prints (logs, EMF metrics) is
captured; :func:`publish_emf` then does what CloudWatch does with EMF lines in a function's log.

Several functions run in one process, each with its own copy of ``common`` and Powertools: a function's
top-level modules are swapped into ``sys.modules`` while it loads or runs, and out again afterwards.
``LocalFunction`` without a package (unit tests of the runner's callers) loads ``lambdas/<folder>``.
"""

from __future__ import annotations

import base64
import contextlib
import importlib.util
import io
import json
import os
import sys
import tempfile
import uuid
import zipfile
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType
from typing import Any

from emulator import process_env

LAMBDAS_DIR = Path(__file__).resolve().parents[1] / "lambdas"


@dataclass(frozen=True)
class _Context:
    """The attributes Powertools reads from a Lambda context."""

    function_name: str
    aws_request_id: str = "local-tour"
    memory_limit_in_mb: int = 512
    invoked_function_arn: str = "arn:aws:lambda:local:000000000000:function:local-tour"


@dataclass
class Invocation:
    response: Any
    output: str  # what the handler printed: JSON log lines and EMF documents


class LocalFunction:
    """One function's handler, loaded once, invoked with its deployed environment."""

    def __init__(
        self,
        folder: str,
        function_name: str,
        environment: Mapping[str, str],
        package: bytes | None = None,
        handler: str = "handler.handler",
    ) -> None:
        # The function's Handler setting, "<module>.<function>", as the Lambda runtime reads it.
        module_path, _, self.entry_point = handler.rpartition(".")
        if not module_path or not self.entry_point:
            raise ValueError(f"{function_name}: handler {handler!r} is not <module>.<function>")
        self.handler_file = module_path.replace(".", "/") + ".py"
        self.folder = folder
        self.function_name = function_name
        self.environment = dict(environment)
        self.package = package
        self._module: ModuleType | None = None
        self._code_dir: Path | None = None
        self._own_modules: dict[str, ModuleType] = {}
        self._package_names: frozenset[str] = frozenset()
        self._scratch: tempfile.TemporaryDirectory[str] | None = None

    def invoke(self, event: Any, extra_env: Mapping[str, str] | None = None) -> Invocation:
        captured = io.StringIO()
        with process_env.environment({**self.environment, **(extra_env or {})}), contextlib.redirect_stdout(captured):
            module = self._load()
            with self._modules_swapped_in():
                _point_logger_at(module, captured)
                response = getattr(module, self.entry_point)(event, _Context(self.function_name))
        return Invocation(response=response, output=captured.getvalue())

    def _load(self) -> ModuleType:
        if self._module is not None:
            return self._module
        if self.package is None:
            for path in (LAMBDAS_DIR, LAMBDAS_DIR / self.folder):
                if str(path) not in sys.path:
                    sys.path.insert(0, str(path))
            self._module = _exec_handler(f"_local_{self.folder}_handler", LAMBDAS_DIR / self.folder / self.handler_file)
            return self._module
        self._scratch = tempfile.TemporaryDirectory(prefix=f"lambda-{self.folder}-")
        self._code_dir = Path(self._scratch.name)
        with zipfile.ZipFile(io.BytesIO(self.package)) as archive:
            archive.extractall(self._code_dir)
        if not (self._code_dir / self.handler_file).is_file():
            raise RuntimeError(f"the deployed package of {self.function_name} has no {self.handler_file}")
        # The package's top-level modules and packages: what it imports as `common`, `aws_lambda_powertools`, ...
        self._package_names = frozenset(
            entry.name.removesuffix(".py")
            for entry in self._code_dir.iterdir()
            if entry.suffix == ".py" or (entry.is_dir() and (entry / "__init__.py").is_file())
        ) - {self.handler_file.split("/", 1)[0].removesuffix(".py")}
        with self._modules_swapped_in():
            self._module = _exec_handler(f"_deployed_{self.folder}_handler", self._code_dir / self.handler_file)
        return self._module

    @contextlib.contextmanager
    def _modules_swapped_in(self) -> Iterator[None]:
        """This function's own top-level modules (and theirs) in ``sys.modules``, the package first on the path."""
        if self._code_dir is None:
            yield
            return

        def ours(module_name: str) -> bool:
            return module_name.split(".", 1)[0] in self._package_names

        # What the repository's lambdas/ put into this process (tests, other runners) is not in the package:
        # hidden too, with its folders off the path, so a module missing from the package fails to import.
        saved = {name: module for name, module in sys.modules.items() if ours(name) or _from_lambdas_dir(module)}
        for name in saved:
            del sys.modules[name]
        saved_path = list(sys.path)
        sys.path[:] = [str(self._code_dir)] + [p for p in sys.path if not _under_lambdas_dir(p)]
        sys.modules.update(self._own_modules)
        try:
            yield
        finally:
            sys.path[:] = saved_path
            self._own_modules = {name: module for name, module in sys.modules.items() if ours(name)}
            for name in list(sys.modules):
                if ours(name) or _from_lambdas_dir(sys.modules[name]):
                    del sys.modules[name]
            sys.modules.update(saved)


_LAMBDAS_PREFIX = str(LAMBDAS_DIR) + os.sep


def _under_lambdas_dir(path: str) -> bool:
    # A string test, not Path.resolve(): it runs for every loaded module twice per invocation. The paths that
    # put lambdas/ on sys.path (tests, this module) are built from resolved paths already.
    return path == str(LAMBDAS_DIR) or path.startswith(_LAMBDAS_PREFIX)


def _from_lambdas_dir(module: ModuleType | None) -> bool:
    location = getattr(module, "__file__", None)
    return isinstance(location, str) and _under_lambdas_dir(location)


def _exec_handler(module_name: str, path: Path) -> ModuleType:
    spec = importlib.util.spec_from_file_location(module_name, path)
    if spec is None or spec.loader is None:  # pragma: no cover - a .py file always has a loader
        raise RuntimeError(f"cannot load {path}")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def deployed_package(function_name: str, *, account: str, region: str) -> bytes | None:
    """The deployment package moto's Lambda holds for `function_name` (the zip CloudFormation pointed it at)."""
    from moto.awslambda.models import lambda_backends

    try:
        function = lambda_backends[account][region].get_function(function_name)
    except Exception:  # moto raises its own not-found types; the caller then runs without a package
        return None
    package: bytes = getattr(function, "code_bytes", b"") or b""
    return package or None


def deployed_function(aws: Any, folder: str, function_name: str) -> LocalFunction:
    """The deployed handler of `function_name` (its package and environment variables from the emulator);
    `folder` names the function's source folder for messages and the module names."""
    configuration = aws.client("lambda").get_function_configuration(FunctionName=function_name)
    environment = configuration.get("Environment", {}).get("Variables", {})
    account = configuration["FunctionArn"].split(":")[4]
    package = deployed_package(configuration["FunctionName"], account=account, region=aws.region)
    if package is None:
        raise RuntimeError(f"the emulator holds no deployment package for {function_name}")
    return LocalFunction(folder, function_name, environment, package, configuration.get("Handler", "handler.handler"))


def emf_documents(output: str) -> list[dict[str, Any]]:
    documents = []
    for line in output.splitlines():
        with contextlib.suppress(json.JSONDecodeError):
            document = json.loads(line)
            if isinstance(document, dict) and "_aws" in document:
                documents.append(document)
    return documents


def publish_emf(cloudwatch: Any, output: str) -> int:
    """Turn the EMF documents in `output` into metric data, as CloudWatch Logs does; returns the count."""
    published = 0
    for document in emf_documents(output):
        for directive in document["_aws"]["CloudWatchMetrics"]:
            for dimension_set in directive["Dimensions"]:
                dimensions = [{"Name": name, "Value": str(document[name])} for name in dimension_set]
                data = [
                    {
                        "MetricName": metric["Name"],
                        "Dimensions": dimensions,
                        "Values": [float(v) for v in _as_list(document[metric["Name"]])],
                        "Unit": metric.get("Unit", "None"),
                    }
                    for metric in directive["Metrics"]
                ]
                cloudwatch.put_metric_data(Namespace=directive["Namespace"], MetricData=data)
                published += len(data)
    return published


def _as_list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [value]


def _point_logger_at(module: ModuleType, stream: io.StringIO) -> None:
    # Powertools binds its log handler to the sys.stdout of the first import; follow our capture.
    logger = getattr(module, "logger", None)
    handler = getattr(logger, "registered_handler", None)
    if handler is not None and hasattr(handler, "stream"):
        handler.stream = stream


def rest_api_event(
    method: str,
    path: str,
    body: Any = None,
    *,
    query: Mapping[str, str] | None = None,
    user_arn: str | None,
    raw_body: str | None = None,
    base64_body: bool = False,
    request_id: str | None = None,
) -> dict[str, Any]:
    """A REST API (v1) Lambda proxy event as API Gateway sends it for an IAM-authenticated caller.

    `body` is JSON-encoded unless `raw_body` gives the exact text; `base64_body` encodes it as API
    Gateway does for binary media types. `user_arn` is the caller's identity (None: none was sent);
    `request_id` API Gateway's request id (a fresh one unless given).
    """
    text = raw_body if raw_body is not None else (json.dumps(body) if body is not None else None)
    if base64_body and text is not None:
        text = base64.b64encode(text.encode()).decode()
    return {
        "resource": "/{proxy+}",
        "path": path,
        "httpMethod": method,
        "headers": {"Content-Type": "application/json"},
        "multiValueHeaders": {"Content-Type": ["application/json"]},
        "queryStringParameters": dict(query) if query else None,
        "multiValueQueryStringParameters": {k: [v] for k, v in query.items()} if query else None,
        "pathParameters": {"proxy": path.lstrip("/")},
        "stageVariables": None,
        "requestContext": {
            "resourcePath": "/{proxy+}",
            "httpMethod": method,
            "path": f"/v1{path}",
            "stage": "v1",
            "requestId": request_id or f"local-{uuid.uuid4()}",
            "accountId": "123456789012",
            "identity": {"userArn": user_arn, "caller": "local", "sourceIp": "127.0.0.1"},
        },
        "body": text,
        "isBase64Encoded": base64_body,
    }
