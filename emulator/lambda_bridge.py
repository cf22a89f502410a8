"""A loopback stand-in for the Lambda Invoke API that runs deployed functions' handlers in this process.

moto stores Lambda functions but answers Invoke without running them (it needs Docker). The playground
calls the LLM gateway with an ordinary boto3 ``lambda.invoke``; pointing only that client at this bridge
(``AWS_ENDPOINT_URL_LAMBDA=http://127.0.0.1:PORT``) keeps the app's code identical in AWS and locally::

    with LambdaBridge(aws, {gateway_name: "llm_gateway"}, extra_env=model.env()) as bridge:
        env = {**aws.env(), **bridge.env()}     # the app's environment

It implements ``POST /2015-03-31/functions/{name}/invocations`` (RequestResponse) for the functions it is
given, by name or ARN: the handler runs with the environment its deployment gave it
(:func:`emulator.lambda_runner.deployed_function`), pointed at the emulator plus ``extra_env`` (e.g. the
stand-in model), and its EMF output becomes CloudWatch metrics as in AWS. A handler that raises answers
like Lambda does (``X-Amz-Function-Error: Unhandled``, the error type and message in the payload). Other
functions get ``ResourceNotFoundException``; other invocation types and APIs are refused.

Invocations run one at a time (a lock): each one sets the process environment and redirects stdout while
the handler runs, as one Lambda execution environment serves one request at a time. The server listens on
127.0.0.1 only, in a daemon thread, and stops when the ``with`` block ends, after ``lifetime_seconds`` or
with the process.
"""

from __future__ import annotations

import json
import re
import threading
import uuid
from collections.abc import Mapping
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler
from typing import Any
from urllib.parse import unquote

from emulator.lambda_runner import LocalFunction, deployed_function, publish_emf
from emulator.loopback import LoopbackService
from emulator.server import LocalAws

_INVOKE_PATH = re.compile(r"^/2015-03-31/functions/(?P<function>[^/]+)/invocations$")


def function_name(identifier: str) -> str:
    """The function name in a name, a full or partial ARN, with or without a qualifier."""
    identifier = unquote(identifier)
    if ":function:" in identifier:  # arn:aws:lambda:region:account:function:name or account:function:name
        identifier = identifier.split(":function:", 1)[1]
    return identifier.split(":", 1)[0]  # drop a version or alias qualifier


class LambdaBridge(LoopbackService):
    """Serve Lambda Invoke for ``functions`` (function name -> folder under ``lambdas/``)."""

    thread_name = "lambda-bridge"
    endpoint_variable = "AWS_ENDPOINT_URL_LAMBDA"

    def __init__(
        self,
        aws: LocalAws,
        functions: Mapping[str, str],
        *,
        extra_env: Mapping[str, str] | None = None,
        lifetime_seconds: float | None = None,
    ) -> None:
        """Bridge to the functions deployed in ``aws``; ``extra_env`` is added to their environment."""
        self.aws = aws
        self.functions = dict(functions)
        self.extra_env = dict(extra_env or {})
        super().__init__(lifetime_seconds=lifetime_seconds)
        self.invocations = 0
        self._loaded: dict[str, LocalFunction] = {}
        self._lock = threading.Lock()

    def _handler_class(self) -> type[BaseHTTPRequestHandler]:
        return _Handler

    def invoke(self, name: str, event: Any) -> tuple[Any, str | None]:
        """Run the handler of ``name`` on ``event``: (payload, None) or (error payload, "Unhandled").

        Raises:
            KeyError: ``name`` is not one of the bridged functions.
        """
        folder = self.functions[name]
        with self._lock:
            function = self._loaded.get(name)
            if function is None:
                function = self._loaded[name] = deployed_function(self.aws, folder, name)
            self.invocations += 1
            try:
                invocation = function.invoke(event, {**self.aws.env(base={}), **self.extra_env})
            except Exception as error:
                # What Lambda returns for an unhandled exception; the traceback stays here, like in the log.
                return {"errorType": type(error).__name__, "errorMessage": str(error)}, "Unhandled"
            publish_emf(self.aws.client("cloudwatch"), invocation.output)
        return invocation.response, None


class _Handler(BaseHTTPRequestHandler):
    owner: LambdaBridge
    protocol_version = "HTTP/1.1"

    def log_message(self, format: str, *args: Any) -> None:
        """Silence the per-request access log."""

    def _send(self, status: HTTPStatus, payload: Any, headers: Mapping[str, str] | None = None) -> None:
        data = json.dumps(payload).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.send_header("x-amzn-RequestId", str(uuid.uuid4()))
        for name, value in (headers or {}).items():
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(data)

    def _error(self, status: HTTPStatus, code: str, message: str) -> None:
        # botocore's REST-JSON parser reads the error code from this header.
        self._send(status, {"Type": "User", "message": message}, {"x-amzn-ErrorType": code})

    def do_POST(self) -> None:
        """Serve Invoke."""
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length) if length else b""
        match = _INVOKE_PATH.match(self.path.split("?", 1)[0])
        if match is None:
            self._error(HTTPStatus.NOT_FOUND, "UnknownOperationException", f"{self.path}: only Invoke is bridged")
            return
        invocation_type = self.headers.get("X-Amz-Invocation-Type", "RequestResponse")
        if invocation_type != "RequestResponse":
            self._error(
                HTTPStatus.BAD_REQUEST,
                "InvalidParameterValueException",
                f"InvocationType {invocation_type}: only RequestResponse is bridged locally",
            )
            return
        name = function_name(match.group("function"))
        if name not in self.owner.functions:
            self._error(
                HTTPStatus.NOT_FOUND,
                "ResourceNotFoundException",
                f"Function not found: {name} (the local bridge serves {', '.join(sorted(self.owner.functions))})",
            )
            return
        try:
            event = json.loads(raw or b"{}")
        except (json.JSONDecodeError, UnicodeDecodeError):
            self._error(
                HTTPStatus.BAD_REQUEST, "InvalidRequestContentException", "Could not parse request body into json"
            )
            return
        payload, function_error = self.owner.invoke(name, event)
        headers = {"X-Amz-Executed-Version": "$LATEST"}
        if function_error:
            headers["X-Amz-Function-Error"] = function_error
        self._send(HTTPStatus.OK, payload, headers)

    def do_GET(self) -> None:
        """No GET operation is bridged."""
        self._error(HTTPStatus.NOT_FOUND, "UnknownOperationException", f"{self.path}: only Invoke is bridged")
