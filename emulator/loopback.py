"""A small HTTP service on a free loopback port, served from a daemon thread: the base of the local stand-ins.

The stand-in model (:mod:`emulator.fake_bedrock`) and the Lambda Invoke bridge (:mod:`emulator.lambda_bridge`)
share this lifecycle: listen on 127.0.0.1 only, serve until :meth:`LoopbackService.stop` (or for at most
``lifetime_seconds``, so nothing outlives a run that forgot to stop it), and point one boto3 service at
themselves through :meth:`LoopbackService.env`.
"""

from __future__ import annotations

import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import TracebackType
from typing import ClassVar, Self

from emulator.server import LOOPBACK


class LoopbackService:
    """Subclasses implement :meth:`_handler_class` (a request handler whose ``owner`` attribute is set to
    the running service) and set ``thread_name`` and ``endpoint_variable`` (e.g. ``AWS_ENDPOINT_URL_LAMBDA``)."""

    thread_name: ClassVar[str]
    endpoint_variable: ClassVar[str]
    # shutdown() waits up to one poll interval, and tests start and stop these often.
    poll_interval: ClassVar[float] = 0.02

    def __init__(self, *, lifetime_seconds: float | None = None) -> None:
        self.lifetime_seconds = lifetime_seconds
        self._server: ThreadingHTTPServer | None = None
        self._timer: threading.Timer | None = None
        self.stopped = threading.Event()

    def _handler_class(self) -> type[BaseHTTPRequestHandler]:
        raise NotImplementedError

    @property
    def endpoint_url(self) -> str:
        """``http://127.0.0.1:<port>``; only valid while running."""
        if self._server is None:
            raise RuntimeError(f"{type(self).__name__} is not running")
        host, port = self._server.server_address[:2]
        return f"http://{host!s}:{port}"

    def env(self) -> dict[str, str]:
        """Environment that points boto3's clients of this one service (and only those) here."""
        return {self.endpoint_variable: self.endpoint_url}

    def start(self) -> Self:
        """Listen on a free loopback port and serve in a daemon thread."""
        if self._server is not None:
            raise RuntimeError(f"{type(self).__name__} is already running")
        handler = type(f"{type(self).__name__}Handler", (self._handler_class(),), {"owner": self})
        server = ThreadingHTTPServer((LOOPBACK, 0), handler)
        server.daemon_threads = True
        self._server = server
        self.stopped.clear()
        threading.Thread(
            target=server.serve_forever,
            kwargs={"poll_interval": self.poll_interval},
            name=self.thread_name,
            daemon=True,
        ).start()
        if self.lifetime_seconds is not None:
            self._timer = threading.Timer(self.lifetime_seconds, self.stop)
            self._timer.daemon = True
            self._timer.start()
        return self

    def stop(self) -> None:
        """Stop serving and release the port (idempotent)."""
        server, self._server = self._server, None
        if self._timer is not None and self._timer is not threading.current_thread():
            self._timer.cancel()
        self._timer = None
        if server is not None:
            server.shutdown()
            server.server_close()
        self.stopped.set()

    def __enter__(self) -> Self:
        """Start on entry."""
        return self.start()

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        """Stop on exit."""
        self.stop()
