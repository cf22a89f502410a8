"""`make app` fails fast, in one sentence, before anything starts (its main() in this process: no deploy
happens on these paths, and a subprocess per case would cost a second and a half each)."""

from __future__ import annotations

import socket
import sys

import pytest

from scripts import app


def run_app(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    monkeypatch.setattr(sys, "argv", ["scripts.app", *args])
    code = app.main()
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def one_sentence(stderr: str) -> str:
    lines = [line for line in stderr.splitlines() if line.strip()]
    assert len(lines) == 1, f"expected one line, got:\n{stderr}"
    return lines[0]


def test_port_in_use_is_named_and_nothing_starts(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    with socket.socket() as holder:
        holder.bind(("127.0.0.1", 0))
        holder.listen()
        port = holder.getsockname()[1]
        monkeypatch.setenv("APP_PORT", str(port))
        code, out, err = run_app(monkeypatch, capsys)
    assert code == 2
    assert one_sentence(err) == (
        f"make app: Port {port} on 127.0.0.1 is already in use; stop whatever holds it or choose another "
        "with APP_PORT=NNNN make app."
    )
    assert out == ""  # nothing started: no emulator, no deploy


def test_impossible_port_is_named(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = run_app(monkeypatch, capsys, "--port", "70000")
    assert code == 2
    assert one_sentence(err) == "make app: port 70000 is not a port number (1-65535)."
