"""`make app` fails fast, in one sentence, before anything starts."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from pathlib import Path

PROJECT_ROOT = Path(__file__).resolve().parents[2]


def run_app(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "scripts.app", *args],
        cwd=PROJECT_ROOT,
        env=env or dict(os.environ),
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def one_sentence(stderr: str) -> str:
    lines = [line for line in stderr.splitlines() if line.strip()]
    assert len(lines) == 1, f"expected one line, got:\n{stderr}"
    return lines[0]


def test_missing_node_is_named() -> None:
    env = {**os.environ, "PATH": str(Path(sys.executable).parent)}  # python only, no node or npx
    result = run_app(env=env)
    assert result.returncode == 2
    assert one_sentence(result.stderr) == (
        "make app: Node.js is not installed (node not found on PATH); install Node.js 20 or newer."
    )


def test_port_in_use_is_named_and_nothing_starts() -> None:
    with socket.socket() as holder:
        holder.bind(("127.0.0.1", 0))
        holder.listen()
        port = holder.getsockname()[1]
        result = run_app(env={**os.environ, "APP_PORT": str(port)})
    assert result.returncode == 2
    assert one_sentence(result.stderr) == (
        f"make app: Port {port} on 127.0.0.1 is already in use; stop whatever holds it or choose another "
        "with APP_PORT=NNNN make app."
    )
    assert "cdk" not in result.stdout


def test_impossible_port_is_named() -> None:
    result = run_app("--port", "70000")
    assert result.returncode == 2
    assert one_sentence(result.stderr) == "make app: port 70000 is not a port number (1-65535)."
