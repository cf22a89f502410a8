"""`make demo` fails fast, in one sentence, on the bad inputs a newcomer hits first."""

from __future__ import annotations

import json
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


def test_a_cdk_json_without_an_emulator_environment_is_named(tmp_path):
    document = json.loads((PROJECT_ROOT / "cdk.json").read_text())
    for entry in document["context"]["mlops:environments"].values():
        entry.pop("emulator", None)
    document["context"]["mlops:defaults"]["emulator"] = False
    config = tmp_path / "cdk.json"
    config.write_text(json.dumps(document))
    result = run_demo("--cdk-json", str(config))
    assert result.returncode == 2
    assert "no environment of cdk.json context 'mlops:environments' sets 'emulator' to true" in one_sentence(
        result.stderr
    )


def test_the_emulator_environment_is_found_by_its_flag_not_its_name(tmp_path):
    """A fork that calls its emulator environment `sandbox` (and has no `local`) gets past the config check."""
    document = json.loads((PROJECT_ROOT / "cdk.json").read_text())
    environments = document["context"]["mlops:environments"]
    (emulated,) = [name for name, entry in environments.items() if entry.get("emulator")]
    environments["sandbox"] = environments.pop(emulated)
    environments["sandbox"]["account"] = "999999999999"  # not the emulator's: the next check must name it
    config = tmp_path / "cdk.json"
    config.write_text(json.dumps(document))
    result = run_demo("--cdk-json", str(config))
    assert result.returncode == 2
    assert "environment 'sandbox', key 'account': the emulator's environment must use the emulator's account" in (
        one_sentence(result.stderr)
    )


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
