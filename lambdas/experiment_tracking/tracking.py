"""One MLflow run per training-pipeline execution: what goes into it, and the stores that keep it.

Plain logic, no Lambda and no MLflow client: the handler builds a :class:`RunRecord` from the pipeline's
outputs and hands it to a :class:`TrackingStore`.

- :class:`RestTrackingStore` speaks the MLflow REST API (``/api/2.0/mlflow/...``) of a SageMaker managed
  MLflow app, as the ``sagemaker-mlflow`` plugin does: endpoint ``https://mlflow.sagemaker.<region>.app.aws``,
  requests signed with SigV4 for the service ``sagemaker`` and routed by the ``x-sm-mlflow-app-arn`` header;
  IAM authorizes them with ``sagemaker:CallMlflowAppApi`` on the app. botocore (in the Lambda runtime) signs;
  nothing else is bundled.
- :class:`FileTrackingStore` keeps runs as JSON files under a directory: for unit tests and local use.

:func:`log_run_once` makes the run idempotent per execution: a retried step (SageMaker Pipelines retries
Lambda steps, and a replayed event is the same execution) finds the run it logged before, tagged with the
execution's ARN, and returns it instead of logging a second one.
"""

from __future__ import annotations

import hashlib
import json
import math
import re
import time
import urllib.error
import urllib.request
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol
from urllib.parse import quote, urlsplit

EXECUTION_TAG = "sagemaker.pipeline_execution_arn"
APP_ARN_HEADER = "x-sm-mlflow-app-arn"
SIGNING_SERVICE = "sagemaker"
# MLflow's limits (mlflow.utils.validation): longer keys or values are rejected by the server.
MAX_KEY_LENGTH = 250
MAX_PARAM_VALUE_LENGTH = 6000
MAX_TAG_VALUE_LENGTH = 8000
MAX_ENTRIES = 100  # a log-batch request takes at most 100 params and 1000 metrics; we send far fewer
APP_ARN_RE = re.compile(r"arn:(aws|aws-us-gov):sagemaker:([a-z0-9-]+):(\d{12}):mlflow-app/[A-Za-z0-9-]{1,128}")
_KEY = re.compile(r"[A-Za-z0-9_.\-/ ]+")


class TrackingError(Exception):
    """The run could not be logged; the message says which call failed and why."""


@dataclass(frozen=True)
class Dataset:
    """An MLflow dataset input: ``source`` is where it lives, ``digest`` which version of it was read."""

    name: str
    digest: str
    source: str
    context: str  # MLflow's mlflow.data.context tag: training, validation, test


@dataclass(frozen=True)
class RunRecord:
    """Everything one run logs. Keys and values are checked against MLflow's limits on creation."""

    experiment_name: str
    run_name: str
    execution_arn: str
    params: Mapping[str, str]
    metrics: Mapping[str, float]
    tags: Mapping[str, str] = field(default_factory=dict)
    datasets: tuple[Dataset, ...] = ()

    def __post_init__(self) -> None:
        for what, value in (
            ("experiment_name", self.experiment_name),
            ("run_name", self.run_name),
            ("execution_arn", self.execution_arn),
        ):
            if not isinstance(value, str) or not value.strip() or len(value) > MAX_KEY_LENGTH:
                raise ValueError(f"{what} must be a non-empty string of at most {MAX_KEY_LENGTH} characters")
        for kind, entries, limit in (
            ("param", self.params, MAX_PARAM_VALUE_LENGTH),
            ("tag", self.tags, MAX_TAG_VALUE_LENGTH),
        ):
            if len(entries) > MAX_ENTRIES:
                raise ValueError(f"{len(entries)} {kind}s are more than {MAX_ENTRIES}")
            for key, value in entries.items():
                _check_key(kind, key)
                if not isinstance(value, str) or len(value) > limit:
                    raise ValueError(f"{kind} {key!r} must be a string of at most {limit} characters")
        if len(self.metrics) > MAX_ENTRIES:
            raise ValueError(f"{len(self.metrics)} metrics are more than {MAX_ENTRIES}")
        for key, number in self.metrics.items():
            _check_key("metric", key)
            if isinstance(number, bool) or not isinstance(number, (int, float)) or not math.isfinite(number):
                raise ValueError(f"metric {key!r} must be a finite number, got {number!r}")


def _check_key(kind: str, key: object) -> None:
    if not isinstance(key, str) or not _KEY.fullmatch(key) or len(key) > MAX_KEY_LENGTH or ".." in key:
        raise ValueError(
            f"{kind} key {key!r} is not an MLflow key (letters, digits, _ - . / and spaces; at most {MAX_KEY_LENGTH})"
        )


class TrackingStore(Protocol):
    """Where runs go: find the run an execution logged before, or log a new one."""

    def find_run(self, experiment_name: str, execution_arn: str) -> str | None: ...

    def log_run(self, record: RunRecord) -> str: ...


def log_run_once(store: TrackingStore, record: RunRecord) -> tuple[str, bool]:
    """(run id, whether it was logged now): an execution that has a run already gets that run back."""
    existing = store.find_run(record.experiment_name, record.execution_arn)
    if existing is not None:
        return existing, False
    return store.log_run(record), True


# -- a directory of JSON files ---------------------------------------------------------------------


class FileTrackingStore:
    """Runs as ``<root>/<experiment>/<run id>.json``: the same record, without a server."""

    def __init__(self, root: Path) -> None:
        self.root = root

    def _experiment_dir(self, experiment_name: str) -> Path:
        # The name is a pipeline name; hashing keeps any character out of the path.
        return self.root / hashlib.sha256(experiment_name.encode()).hexdigest()[:16]

    def find_run(self, experiment_name: str, execution_arn: str) -> str | None:
        folder = self._experiment_dir(experiment_name)
        for path in sorted(folder.glob("*.json")) if folder.is_dir() else []:
            run = json.loads(path.read_text())
            if run["tags"].get(EXECUTION_TAG) == execution_arn:
                return str(run["run_id"])
        return None

    def log_run(self, record: RunRecord) -> str:
        run_id = uuid.uuid4().hex
        folder = self._experiment_dir(record.experiment_name)
        folder.mkdir(parents=True, exist_ok=True)
        document = {
            "run_id": run_id,
            "experiment_name": record.experiment_name,
            "run_name": record.run_name,
            "status": "FINISHED",
            "params": dict(record.params),
            "metrics": dict(record.metrics),
            "tags": {**record.tags, EXECUTION_TAG: record.execution_arn},
            "datasets": [vars(d) for d in record.datasets],
        }
        (folder / f"{run_id}.json").write_text(json.dumps(document, indent=2, sort_keys=True))
        return run_id

    def get_run(self, experiment_name: str, run_id: str) -> dict[str, Any]:
        run: dict[str, Any] = json.loads((self._experiment_dir(experiment_name) / f"{run_id}.json").read_text())
        return run


# -- the MLflow REST API of a SageMaker managed MLflow app -----------------------------------------

# (method, url, body, headers) -> (status, parsed JSON body)
Transport = Callable[[str, str, bytes | None, Mapping[str, str]], tuple[int, Any]]


def app_endpoint(app_arn: str) -> str:
    """The MLflow app's API endpoint, from its ARN (what the sagemaker-mlflow plugin derives)."""
    match = APP_ARN_RE.fullmatch(app_arn)
    if match is None:
        raise ValueError(f"{app_arn!r} is not the ARN of a SageMaker MLflow app (arn:aws:sagemaker:...:mlflow-app/...)")
    return f"https://mlflow.sagemaker.{match[2]}.app.aws"


def app_region(app_arn: str) -> str:
    app_endpoint(app_arn)  # validates
    return app_arn.split(":")[3]


def sigv4_transport(credentials: Any, region: str, *, timeout_s: float = 20.0) -> Transport:
    """Sends each request signed with SigV4 for the ``sagemaker`` service, as the app expects."""
    from botocore.auth import SigV4Auth  # in the Lambda runtime; imported here so the file store needs nothing
    from botocore.awsrequest import AWSRequest

    def send(method: str, url: str, body: bytes | None, headers: Mapping[str, str]) -> tuple[int, Any]:
        payload = body or b""
        request = AWSRequest(
            method=method,
            url=url,
            data=payload,
            headers={**headers, "X-Amz-Content-SHA256": hashlib.sha256(payload).hexdigest()},
        )
        SigV4Auth(credentials.get_frozen_credentials(), SIGNING_SERVICE, region).add_auth(request)
        # The store checked the endpoint: https, or http on loopback.
        outgoing = urllib.request.Request(url, data=body, headers=dict(request.headers.items()), method=method)  # noqa: S310
        try:
            with urllib.request.urlopen(outgoing, timeout=timeout_s) as response:  # noqa: S310
                return response.status, _json_or_text(response.read())
        except urllib.error.HTTPError as error:
            return error.code, _json_or_text(error.read())

    return send


def _json_or_text(raw: bytes) -> Any:
    try:
        return json.loads(raw) if raw else {}
    except (json.JSONDecodeError, UnicodeDecodeError):
        return {"message": raw[:300].decode("utf-8", "replace")}


class RestTrackingStore:
    """The MLflow REST API of one SageMaker MLflow app (or, in the emulator, its loopback stand-in)."""

    def __init__(self, *, app_arn: str, transport: Transport, endpoint: str | None = None) -> None:
        self.app_arn = app_arn
        self.endpoint = (endpoint or app_endpoint(app_arn)).rstrip("/")
        scheme = urlsplit(self.endpoint).scheme
        if scheme != "https" and not _is_loopback(self.endpoint):
            raise ValueError(f"the MLflow endpoint {self.endpoint!r} must be https (or http on loopback)")
        self.transport = transport

    def _call(self, method: str, path: str, body: Mapping[str, Any] | None = None) -> tuple[int, Any]:
        headers = {APP_ARN_HEADER: self.app_arn, "Content-Type": "application/json"}
        data = None if body is None else json.dumps(body).encode()
        return self.transport(method, f"{self.endpoint}/api/2.0/mlflow/{path}", data, headers)

    def _ok(self, method: str, path: str, body: Mapping[str, Any] | None = None) -> Any:
        status, answer = self._call(method, path, body)
        if status != 200:
            raise TrackingError(f"MLflow {path} answered HTTP {status}: {_error_text(answer)}")
        return answer

    def experiment_id(self, name: str, *, create: bool) -> str | None:
        status, answer = self._call("GET", f"experiments/get-by-name?experiment_name={quote(name, safe='')}")
        if status == 200:
            return str(answer["experiment"]["experiment_id"])
        if status != 404 and _error_code(answer) != "RESOURCE_DOES_NOT_EXIST":
            raise TrackingError(f"MLflow experiments/get-by-name answered HTTP {status}: {_error_text(answer)}")
        if not create:
            return None
        status, answer = self._call("POST", "experiments/create", {"name": name})
        if status == 200:
            return str(answer["experiment_id"])
        if _error_code(answer) == "RESOURCE_ALREADY_EXISTS":  # another execution created it meanwhile
            return self.experiment_id(name, create=False)
        raise TrackingError(f"MLflow experiments/create answered HTTP {status}: {_error_text(answer)}")

    def find_run(self, experiment_name: str, execution_arn: str) -> str | None:
        experiment = self.experiment_id(experiment_name, create=False)
        if experiment is None:
            return None
        escaped = execution_arn.replace("\\", "\\\\").replace("'", "\\'")
        answer = self._ok(
            "POST",
            "runs/search",
            {"experiment_ids": [experiment], "filter": f"tags.`{EXECUTION_TAG}` = '{escaped}'", "max_results": 1},
        )
        runs = answer.get("runs") or []
        return str(runs[0]["info"]["run_id"]) if runs else None

    def log_run(self, record: RunRecord) -> str:
        experiment = self.experiment_id(record.experiment_name, create=True)
        now = int(time.time() * 1000)
        tags = {**record.tags, EXECUTION_TAG: record.execution_arn, "mlflow.runName": record.run_name}
        answer = self._ok(
            "POST",
            "runs/create",
            {
                "experiment_id": experiment,
                "run_name": record.run_name,
                "start_time": now,
                "tags": [{"key": k, "value": v} for k, v in tags.items()],
            },
        )
        run_id = str(answer["run"]["info"]["run_id"])
        self._ok(
            "POST",
            "runs/log-batch",
            {
                "run_id": run_id,
                "params": [{"key": k, "value": v} for k, v in record.params.items()],
                "metrics": [{"key": k, "value": v, "timestamp": now, "step": 0} for k, v in record.metrics.items()],
            },
        )
        if record.datasets:
            self._ok(
                "POST",
                "runs/log-inputs",
                {
                    "run_id": run_id,
                    "datasets": [
                        {
                            "tags": [{"key": "mlflow.data.context", "value": d.context}],
                            "dataset": {
                                "name": d.name,
                                "digest": d.digest,
                                "source_type": "s3",
                                "source": json.dumps({"uri": d.source}),
                            },
                        }
                        for d in record.datasets
                    ],
                },
            )
        self._ok("POST", "runs/update", {"run_id": run_id, "status": "FINISHED", "end_time": int(time.time() * 1000)})
        return run_id


def _is_loopback(endpoint: str) -> bool:
    parts = urlsplit(endpoint)
    return parts.scheme == "http" and parts.hostname in ("127.0.0.1", "localhost", "::1")


def _error_code(answer: Any) -> str | None:
    return answer.get("error_code") if isinstance(answer, dict) else None


def _error_text(answer: Any) -> str:
    if isinstance(answer, dict):
        return str(answer.get("message") or answer.get("error_code") or answer)[:300]
    return str(answer)[:300]
