"""Run a deployed function's handler in this process, with the environment its deployment gave it.

moto stores Lambda functions but cannot run them without Docker. The tour therefore reads each
function's configuration from the emulator (its environment variables, as CloudFormation set them),
loads ``lambdas/<folder>/handler.py`` the way the Lambda runtime would (the folder and ``lambdas/`` on
``sys.path``, so ``common`` and sibling modules import as top-level modules) and calls ``handler``
with that environment, pointed at the emulator. What the handler prints (logs, EMF metrics) is
captured; :func:`publish_emf` then does what CloudWatch does with EMF lines in a function's log.
"""

from __future__ import annotations

import base64
import contextlib
import importlib.util
import io
import json
import os
import sys
import uuid
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType
from typing import Any

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

    def __init__(self, folder: str, function_name: str, environment: Mapping[str, str]) -> None:
        self.folder = folder
        self.function_name = function_name
        self.environment = dict(environment)
        self._module: ModuleType | None = None

    def invoke(self, event: Any, extra_env: Mapping[str, str] | None = None) -> Invocation:
        captured = io.StringIO()
        with _environment({**self.environment, **(extra_env or {})}), contextlib.redirect_stdout(captured):
            module = self._load()
            _point_logger_at(module, captured)
            response = module.handler(event, _Context(self.function_name))
        return Invocation(response=response, output=captured.getvalue())

    def _load(self) -> ModuleType:
        if self._module is None:
            for path in (LAMBDAS_DIR, LAMBDAS_DIR / self.folder):
                if str(path) not in sys.path:
                    sys.path.insert(0, str(path))
            spec = importlib.util.spec_from_file_location(
                f"_local_{self.folder}_handler", LAMBDAS_DIR / self.folder / "handler.py"
            )
            if spec is None or spec.loader is None:  # pragma: no cover - a .py file always has a loader
                raise RuntimeError(f"cannot load lambdas/{self.folder}/handler.py")
            module = importlib.util.module_from_spec(spec)
            spec.loader.exec_module(module)
            self._module = module
        return self._module


def deployed_function(aws: Any, folder: str, function_name: str) -> LocalFunction:
    """The handler of `folder` with the environment variables the emulator holds for `function_name`."""
    configuration = aws.client("lambda").get_function_configuration(FunctionName=function_name)
    environment = configuration.get("Environment", {}).get("Variables", {})
    return LocalFunction(folder, function_name, environment)


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


@contextlib.contextmanager
def _environment(values: Mapping[str, str]) -> Iterator[None]:
    saved = {name: os.environ.get(name) for name in values}
    os.environ.update(values)
    try:
        yield
    finally:
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value


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
