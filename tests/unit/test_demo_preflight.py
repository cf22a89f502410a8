"""`make demo` fails fast, in one sentence, on the bad inputs a newcomer hits first."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from pathlib import Path

PROJECT_ROOT = Path(__file__).resolve().parents[2]


def run_demo(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "scripts.demo", *args],
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


def test_broken_cdk_json_is_named(tmp_path):
    broken = tmp_path / "cdk.json"
    broken.write_text('{"context": {"mlops:environments": ')
    result = run_demo("--cdk-json", str(broken))
    assert result.returncode == 2
    assert one_sentence(result.stderr).startswith("make demo: cdk.json: cdk.json is not valid JSON:")


def test_local_environment_missing_from_cdk_json_is_named(tmp_path):
    config = tmp_path / "cdk.json"
    config.write_text('{"context": {"mlops:environments": {"dev": {}}}}')
    result = run_demo("--cdk-json", str(config))
    assert result.returncode == 2
    assert "environment 'local' is not defined" in one_sentence(result.stderr)


def test_port_in_use_is_named_and_nothing_is_deployed():
    with socket.socket() as holder:
        holder.bind(("127.0.0.1", 0))
        holder.listen()
        port = holder.getsockname()[1]
        result = run_demo("--port", str(port))
    assert result.returncode == 2
    assert one_sentence(result.stderr) == (
        f"make demo: Port {port} on 127.0.0.1 is already in use; stop whatever holds it or omit the port "
        "to let LocalAws pick a free one."
    )
    assert "cdk deploy" not in result.stdout
