"""emulator/process_env.py: the one helper both local runners use to give deployed code its environment."""

from __future__ import annotations

import os

import pytest

from emulator import glue_runner, lambda_runner, process_env


def test_values_are_set_inside_and_restored_or_removed_after(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PROCESS_ENV_KEPT", "before")
    monkeypatch.delenv("PROCESS_ENV_NEW", raising=False)
    with process_env.environment({"PROCESS_ENV_KEPT": "inside", "PROCESS_ENV_NEW": "x"}):
        assert os.environ["PROCESS_ENV_KEPT"] == "inside"
        assert os.environ["PROCESS_ENV_NEW"] == "x"
    assert os.environ["PROCESS_ENV_KEPT"] == "before"
    assert "PROCESS_ENV_NEW" not in os.environ


def test_values_are_restored_when_the_code_raises(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PROCESS_ENV_KEPT", "before")
    monkeypatch.delenv("PROCESS_ENV_NEW", raising=False)
    with pytest.raises(RuntimeError), process_env.environment({"PROCESS_ENV_KEPT": "x", "PROCESS_ENV_NEW": "y"}):
        os.environ["PROCESS_ENV_NEW"] = "changed by the code"
        raise RuntimeError("handler failed")
    assert os.environ["PROCESS_ENV_KEPT"] == "before"
    assert "PROCESS_ENV_NEW" not in os.environ


def test_both_runners_use_the_one_helper() -> None:
    # A second private copy would drift (the two were identical copies before).
    for module in (glue_runner, lambda_runner):
        assert not hasattr(module, "_environment"), module.__name__
        assert module.process_env is process_env
