"""A loopback stand-in for a SageMaker managed MLflow app's tracking API (the tour labels it so).

moto has no MLflow apps. The deployed LogExperimentRun function talks to its app over the MLflow REST API
(``/api/2.0/mlflow/...``); the tour points it here (``MLFLOW_ENDPOINT_URL``, which only the emulator sets)
and this server answers the calls the function makes, with MLflow's shapes and error codes. It checks what
the real app checks before MLflow sees a request: the ``x-sm-mlflow-app-arn`` header names the app it
serves, and the request carries a SigV4 signature scoped to the ``sagemaker`` service in the app's region,
signing that header (it does not verify the signature itself: the emulator's credentials are dummies).

Loopback only (127.0.0.1, a free port), runs in memory, and stops when its ``with`` block ends.
"""

from __future__ import annotations

import json
import re
import threading
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

API = "/api/2.0/mlflow/"
_SCOPE = re.compile(
    r"^AWS4-HMAC-SHA256 Credential=[^/]+/\d{8}/([a-z0-9-]+)/([a-z0-9-]+)/aws4_request, SignedHeaders=([^,]+),"
)
_TAG_FILTER = re.compile(r"^tags\.`([^`]+)` = '((?:[^'\\]|\\.)*)'$")


@dataclass
class MlflowStandIn:
    """The app's experiments and runs, in memory."""

    app_arn: str
    experiments: dict[str, str] = field(default_factory=dict)  # name -> id
    runs: dict[str, dict[str, Any]] = field(default_factory=dict)  # run id -> run
    refused: list[str] = field(default_factory=list)  # why requests were refused (for the tour and tests)
    endpoint: str = ""

    @property
    def region(self) -> str:
        return self.app_arn.split(":")[3]

    def check(self, headers: Any) -> str | None:
        """Why the real app would refuse the request before MLflow sees it; None when it would not."""
        if headers.get("x-sm-mlflow-app-arn") != self.app_arn:
            return f"x-sm-mlflow-app-arn is {headers.get('x-sm-mlflow-app-arn')!r}, not this app"
        match = _SCOPE.match(headers.get("Authorization", ""))
        if match is None:
            return "the request is not SigV4-signed"
        region, service, signed = match[1], match[2], match[3].split(";")
        if (region, service) != (self.region, "sagemaker"):
            return f"the signature is scoped to {service} in {region}, not sagemaker in {self.region}"
        if "x-sm-mlflow-app-arn" not in signed or "host" not in signed:
            return "the signature does not cover the host and x-sm-mlflow-app-arn headers"
        return None

    def answer(self, method: str, path: str, query: dict[str, list[str]], body: dict[str, Any]) -> tuple[int, Any]:
        route = (method, path)
        if route == ("GET", "experiments/get-by-name"):
            name = (query.get("experiment_name") or [""])[0]
            if name not in self.experiments:
                return 404, _error("RESOURCE_DOES_NOT_EXIST", f"Could not find experiment with name '{name}'")
            return 200, {"experiment": {"experiment_id": self.experiments[name], "name": name}}
        if route == ("POST", "experiments/create"):
            name = body.get("name", "")
            if name in self.experiments:
                return 400, _error("RESOURCE_ALREADY_EXISTS", f"Experiment '{name}' already exists.")
            self.experiments[name] = str(len(self.experiments) + 1)
            return 200, {"experiment_id": self.experiments[name]}
        if route == ("POST", "runs/create"):
            if body.get("experiment_id") not in self.experiments.values():
                return 404, _error("RESOURCE_DOES_NOT_EXIST", "No such experiment")
            run_id = uuid.uuid4().hex
            self.runs[run_id] = {
                "info": {
                    "run_id": run_id,
                    "experiment_id": body["experiment_id"],
                    "run_name": body.get("run_name", ""),
                    "status": "RUNNING",
                    "start_time": body.get("start_time", int(time.time() * 1000)),
                },
                "data": {"params": [], "metrics": [], "tags": list(body.get("tags", []))},
                "inputs": {"dataset_inputs": []},
            }
            return 200, {"run": self.runs[run_id]}
        run = self.runs.get(body.get("run_id", ""))
        if path.startswith("runs/") and path != "runs/search" and run is None:
            return 404, _error("RESOURCE_DOES_NOT_EXIST", f"Run '{body.get('run_id')}' not found")
        if route == ("POST", "runs/log-batch") and run is not None:
            run["data"]["params"] += body.get("params", [])
            run["data"]["metrics"] += body.get("metrics", [])
            run["data"]["tags"] += body.get("tags", [])
            return 200, {}
        if route == ("POST", "runs/log-inputs") and run is not None:
            run["inputs"]["dataset_inputs"] += body.get("datasets", [])
            return 200, {}
        if route == ("POST", "runs/update") and run is not None:
            run["info"].update(status=body.get("status", "FINISHED"), end_time=body.get("end_time"))
            return 200, {"run_info": run["info"]}
        if route == ("POST", "runs/search"):
            match = _TAG_FILTER.match(body.get("filter", ""))
            if match is None:
                return 400, _error("INVALID_PARAMETER_VALUE", "the stand-in answers tag-equality filters only")
            key, value = match[1], re.sub(r"\\(.)", r"\1", match[2])
            found = [
                r
                for r in self.runs.values()
                if r["info"]["experiment_id"] in body.get("experiment_ids", [])
                and {"key": key, "value": value} in r["data"]["tags"]
            ]
            return 200, {"runs": found[: int(body.get("max_results", 1000))]}
        if route == ("GET", "runs/get"):
            found_run = self.runs.get((query.get("run_id") or [""])[0])
            if found_run is None:
                return 404, _error("RESOURCE_DOES_NOT_EXIST", "Run not found")
            return 200, {"run": found_run}
        return 404, _error("ENDPOINT_NOT_FOUND", f"the stand-in does not serve {method} {path}")


def _error(code: str, message: str) -> dict[str, str]:
    return {"error_code": code, "message": message}


def _handler(stand_in: MlflowStandIn) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def _serve(self, method: str) -> None:
            parts = urlsplit(self.path)
            length = int(self.headers.get("Content-Length") or 0)
            raw = self.rfile.read(length) if length else b""
            refusal = stand_in.check(self.headers)
            if refusal is not None:
                stand_in.refused.append(refusal)
                self._send(403, {"message": refusal})
                return
            if not parts.path.startswith(API):
                self._send(404, _error("ENDPOINT_NOT_FOUND", parts.path))
                return
            try:
                body = json.loads(raw) if raw else {}
            except json.JSONDecodeError:
                self._send(400, _error("MALFORMED_REQUEST", "body is not JSON"))
                return
            status, answer = stand_in.answer(method, parts.path[len(API) :], parse_qs(parts.query), body)
            self._send(status, answer)

        def do_GET(self) -> None:
            self._serve("GET")

        def do_POST(self) -> None:
            self._serve("POST")

        def _send(self, status: int, answer: Any) -> None:
            payload = json.dumps(answer).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(payload)))
            self.end_headers()
            self.wfile.write(payload)

        def log_message(self, format: str, *args: Any) -> None:
            return

    return Handler


@contextmanager
def mlflow_stand_in(app_arn: str) -> Iterator[MlflowStandIn]:
    """Serve the stand-in on 127.0.0.1 for the ``with`` block; it stops (and frees the port) on exit."""
    stand_in = MlflowStandIn(app_arn=app_arn)
    server = ThreadingHTTPServer(("127.0.0.1", 0), _handler(stand_in))
    stand_in.endpoint = f"http://127.0.0.1:{server.server_address[1]}"
    thread = threading.Thread(target=server.serve_forever, name="mlflow-stand-in", daemon=True)
    thread.start()
    try:
        yield stand_in
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)
