"""Run moto's server in-process, on loopback, for the CDK CLI and boto3 to deploy into.

Usage::

    with LocalAws(region="us-east-1") as aws:
        subprocess.run(["npx", "cdk", "deploy", ...], env=aws.env(), check=True)
        aws.client("glue").get_crawler(Name="...")

The server listens on 127.0.0.1 only, on a free port the OS picks (or the port you name), and stops
when the ``with`` block ends however it ends (normally, by an exception or by Ctrl-C). It runs in
a daemon thread of this process, so it also ends when the process does: nothing is left behind.

moto keeps its state in module globals, so one process can run one LocalAws at a time; each starts
from an empty account and clears it again on exit.
"""

from __future__ import annotations

import errno
import logging
import os
import socket
import threading
from collections.abc import Mapping
from types import TracebackType
from typing import TYPE_CHECKING, Any

from moto.moto_api._internal.models import moto_api_backend
from moto.moto_server.werkzeug_app import DomainDispatcherApplication, MotoRequestHandler, create_backend_app
from werkzeug.serving import BaseWSGIServer, make_server

from emulator import alarm_actions, feature_store, fixes, glue_jobs, shims

if TYPE_CHECKING:
    from botocore.client import BaseClient

__all__ = ["DEFAULT_ACCOUNT", "DROPPED_VARIABLES", "LOOPBACK", "EmulatorError", "LocalAws", "PortInUseError"]

logger = logging.getLogger(__name__)

#: moto's default account: every resource the emulator creates lives here.
DEFAULT_ACCOUNT = "123456789012"
#: The only address the server binds to.
LOOPBACK = "127.0.0.1"

# Dummy credentials: moto accepts any, and real ones must never be needed or used.
_DUMMY_KEY_ID = "testing"
_DUMMY_SECRET = "testing"  # noqa: S105 - not a secret, moto's conventional placeholder

#: Variables that could route a subprocess to real AWS or real credentials; env() removes them (and
#: every service-specific AWS_ENDPOINT_URL_*).
DROPPED_VARIABLES = (
    "AWS_PROFILE",
    "AWS_DEFAULT_PROFILE",
    "AWS_SESSION_TOKEN",
    "AWS_SECURITY_TOKEN",
    "AWS_ROLE_ARN",
    "AWS_WEB_IDENTITY_TOKEN_FILE",
    "AWS_CONTAINER_CREDENTIALS_RELATIVE_URI",
    "AWS_CONTAINER_CREDENTIALS_FULL_URI",
    "AWS_CONTAINER_AUTHORIZATION_TOKEN",
    # Setting this would make SDKs ignore AWS_ENDPOINT_URL and talk to AWS.
    "AWS_IGNORE_CONFIGURED_ENDPOINT_URLS",
)

_running_lock = threading.Lock()
_running: LocalAws | None = None


def running_emulator() -> LocalAws | None:
    """The LocalAws serving in this process, if one is (moto's state is per process: at most one)."""
    return _running


class EmulatorError(RuntimeError):
    """The local AWS emulator could not start or was used wrongly."""


class PortInUseError(EmulatorError):
    """The port asked for is taken by another program."""


class _QuietRequestHandler(MotoRequestHandler):
    """moto's handler without werkzeug's one-line-per-request log: a deploy makes hundreds."""

    def log_request(self, code: int | str = "-", size: int | str = "-") -> None:
        pass


class LocalAws:
    """moto's server on ``http://localhost:PORT`` with the CloudFormation shims registered.

    Args:
        region: The region subprocesses and :meth:`client` use.
        port: Port to listen on; ``None`` (the default) lets the OS pick a free one, which avoids
            races between parallel test runs.
        log_requests: Log every request (werkzeug's access log); off by default.
    """

    def __init__(self, region: str = "us-east-1", port: int | None = None, *, log_requests: bool = False) -> None:
        if port is not None and not 0 < port < 65536:
            raise ValueError(f"port must be 1-65535, got {port}")
        self.region = region
        self._requested_port = port
        self._log_requests = log_requests
        self._server: BaseWSGIServer | None = None
        self._thread: threading.Thread | None = None
        self._clients: dict[str, BaseClient] = {}

    # -- lifecycle ---------------------------------------------------------------------------------

    def start(self) -> LocalAws:
        """Start serving; returns ``self``. Prefer ``with LocalAws() as aws:``."""
        global _running
        with _running_lock:
            if _running is not None:
                raise EmulatorError(
                    f"a LocalAws is already running on port {_running.port}: moto's state is "
                    "per process, so run one at a time"
                )
            shims.register()
            fixes.apply()
            alarm_actions.apply()
            glue_jobs.apply()
            feature_store.apply()
            feature_store.reset()
            # A fresh account: no stacks or buckets left over from an earlier run in this process.
            moto_api_backend.reset()
            self._server = self._bind()
            self._thread = threading.Thread(
                target=self._server.serve_forever,
                kwargs={"poll_interval": 0.1},
                name=f"LocalAws:{self.port}",
                # A daemon thread cannot outlive the process, even if stop() is never reached.
                daemon=True,
            )
            self._thread.start()
            _running = self
        logger.info("LocalAws listening on %s (bound to %s only)", self.endpoint_url, LOOPBACK)
        return self

    def _bind(self) -> BaseWSGIServer:
        # Bind the socket here rather than let werkzeug do it: werkzeug answers a taken port with
        # sys.exit(1), and moto's ThreadedMotoServer binds in its thread and then waits forever.
        listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        try:
            # Lets an explicit port be reused straight after a previous run (TIME_WAIT); a port that
            # another socket listens on still fails on Linux.
            listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            listener.bind((LOOPBACK, self._requested_port or 0))
            listener.listen(128)
        except OSError as exc:
            listener.close()
            if exc.errno == errno.EADDRINUSE:
                raise PortInUseError(
                    f"Port {self._requested_port} on {LOOPBACK} is already in use; stop whatever holds it "
                    "or omit the port to let LocalAws pick a free one."
                ) from exc
            raise
        with listener:
            handler = MotoRequestHandler if self._log_requests else _QuietRequestHandler
            # werkzeug serves on a duplicate of the descriptor; ours is closed on leaving this block.
            return make_server(
                LOOPBACK,
                listener.getsockname()[1],
                DomainDispatcherApplication(create_backend_app),
                threaded=True,
                request_handler=handler,
                fd=listener.fileno(),
            )

    def stop(self) -> None:
        """Stop serving, release the port and clear moto's state. Safe to call twice."""
        global _running
        server, thread = self._server, self._thread
        self._server = self._thread = None
        self._clients.clear()
        try:
            if server is not None:
                server.shutdown()
                server.server_close()
            if thread is not None:
                thread.join(timeout=10)
        finally:
            with _running_lock:
                if _running is self:
                    _running = None
                    moto_api_backend.reset()

    def __enter__(self) -> LocalAws:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        # Runs for KeyboardInterrupt too: __exit__ sees every BaseException.
        self.stop()

    # -- what callers use --------------------------------------------------------------------------

    @property
    def running(self) -> bool:
        return self._server is not None

    @property
    def port(self) -> int:
        if self._server is None:
            raise EmulatorError("LocalAws is not running")
        return int(self._server.server_address[1])

    @property
    def endpoint_url(self) -> str:
        # "localhost", not 127.0.0.1: moto reads an S3 URL such as the CDK CLI's TemplateURL as
        # path-style only for localhost; with an IP it takes the first label for a bucket name.
        return f"http://localhost:{self.port}"

    def env(self, base: Mapping[str, str] | None = None) -> dict[str, str]:
        """Environment for a subprocess (the CDK CLI, a demo script) that must talk to the emulator.

        Starts from ``base`` (default: this process's environment), removes anything that could
        reach real AWS or real credentials, and points every SDK at the emulator. To send one
        service elsewhere (say ``AWS_ENDPOINT_URL_BEDROCK_RUNTIME`` to a local fake), set that
        variable on the returned dict.
        """
        env = dict(os.environ if base is None else base)
        for name in list(env):
            # Service-specific endpoints would win over AWS_ENDPOINT_URL and bypass the emulator.
            if name in DROPPED_VARIABLES or name.startswith("AWS_ENDPOINT_URL_"):
                del env[name]
        no_proxy = ",".join(filter(None, [env.get("NO_PROXY", ""), "localhost", LOOPBACK]))
        env.update(
            {
                "AWS_ENDPOINT_URL": self.endpoint_url,
                "AWS_ACCESS_KEY_ID": _DUMMY_KEY_ID,
                "AWS_SECRET_ACCESS_KEY": _DUMMY_SECRET,
                "AWS_REGION": self.region,
                "AWS_DEFAULT_REGION": self.region,
                # A developer's ~/.aws files may hold SSO, credential_process or endpoint settings.
                "AWS_CONFIG_FILE": os.devnull,
                "AWS_SHARED_CREDENTIALS_FILE": os.devnull,
                # No probing of the instance metadata service (a link-local address) for anything.
                "AWS_EC2_METADATA_DISABLED": "true",
                "CDK_DEFAULT_ACCOUNT": DEFAULT_ACCOUNT,
                "CDK_DEFAULT_REGION": self.region,
                # A proxy from the environment must not see loopback traffic.
                "NO_PROXY": no_proxy,
                "no_proxy": no_proxy,
            }
        )
        return env

    def client(self, service_name: str, **kwargs: Any) -> BaseClient:
        """A boto3 client for ``service_name`` that talks to this emulator with dummy credentials.

        Clients without extra arguments are cached per service (creating one costs ~0.1 s); the
        cache is emptied when the emulator stops, since its endpoint is gone then.
        """
        if not kwargs and service_name in self._clients:
            return self._clients[service_name]
        import boto3

        client = boto3.session.Session().client(
            service_name,
            endpoint_url=self.endpoint_url,
            region_name=kwargs.pop("region_name", self.region),
            aws_access_key_id=_DUMMY_KEY_ID,
            aws_secret_access_key=_DUMMY_SECRET,
            **kwargs,
        )
        if not kwargs:
            self._clients[service_name] = client
        return client
