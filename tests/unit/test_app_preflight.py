"""`make app` fails fast, in one sentence, before anything starts (its main() in this process: no deploy
happens on these paths, and a subprocess per case would cost a second and a half each)."""

from __future__ import annotations

import socket
import sys
from collections.abc import Callable, Iterator
from types import SimpleNamespace
from typing import Any
from urllib.parse import urlparse

import boto3
import pytest
from botocore.exceptions import ClientError

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


# --- the knowledge-base stand-in `make app` starts (RAG prompts in the playground need Retrieve) ------------
class _Session:
    """Stands in for the deployed stack's knowledge base (the deploy is the e2e test's business)."""

    enabled = True

    def __init__(self, aws: object, stack_name: str, knowledge_base: object) -> None:
        self.stack_name, self.knowledge_base = stack_name, knowledge_base


def _sync(job: str) -> Callable[[object], Iterator[tuple[str, str, str]]]:
    def sync(session: object) -> Iterator[tuple[str, str, str]]:
        yield ("upload the sample documents", "5 documents", "real")
        yield ("ingestion job (local stand-in knowledge base)", job, "local stand-in")

    return sync


def _steps() -> tuple[list[str], Callable[[str, Callable[[], Any]], Any]]:
    names: list[str] = []

    def step(name: str, run: Callable[[], Any]) -> Any:
        names.append(name)
        return run()

    return names, step


def test_make_app_starts_the_knowledge_base_stand_in_on_loopback_ingests_and_stops_it(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from emulator import tour_knowledge_base

    monkeypatch.setattr(tour_knowledge_base, "KnowledgeBaseSession", _Session)
    monkeypatch.setattr(tour_knowledge_base, "tour_knowledge_base_sync", _sync("COMPLETE: scanned 5, new 5"))
    names, step = _steps()
    aws = SimpleNamespace(region="us-east-1")
    with app.knowledge_base_stand_in(aws, "Mlops-local-LlmOps", step) as env:  # type: ignore[arg-type]
        assert set(env) == {"AWS_ENDPOINT_URL_BEDROCK_AGENT", "AWS_ENDPOINT_URL_BEDROCK_AGENT_RUNTIME"}
        url = urlparse(env["AWS_ENDPOINT_URL_BEDROCK_AGENT_RUNTIME"])
        assert url.hostname == "127.0.0.1" and env["AWS_ENDPOINT_URL_BEDROCK_AGENT"] == url.geturl()
        # It answers Retrieve with the real API's error for a knowledge base nobody deployed.
        runtime = boto3.client(
            "bedrock-agent-runtime",
            region_name="us-east-1",
            endpoint_url=url.geturl(),
            aws_access_key_id="testing",
            aws_secret_access_key="testing",  # the loopback stand-in accepts any signature
        )
        with pytest.raises(ClientError) as refused:
            runtime.retrieve(knowledgeBaseId="KBNOTDEPLOY", retrievalQuery={"text": "q"})
        assert refused.value.response["Error"]["Code"] == "ResourceNotFoundException"
    assert names == ["ingest the sample documents (local stand-in knowledge base)"]
    with socket.socket() as probe, pytest.raises(ConnectionRefusedError):
        probe.connect(("127.0.0.1", url.port or 0))  # stopped with the block


def test_make_app_fails_in_one_sentence_when_the_documents_are_not_ingested(monkeypatch: pytest.MonkeyPatch) -> None:
    from emulator import tour_knowledge_base

    monkeypatch.setattr(tour_knowledge_base, "KnowledgeBaseSession", _Session)
    monkeypatch.setattr(tour_knowledge_base, "tour_knowledge_base_sync", _sync("FAILED: role cannot read the index"))
    _, step = _steps()
    with (
        pytest.raises(app.SeedError, match="not ingested into the knowledge base: FAILED: role cannot read the index"),
        app.knowledge_base_stand_in(SimpleNamespace(region="us-east-1"), "s", step),  # type: ignore[arg-type]
    ):
        pass


def test_without_a_knowledge_base_make_app_seeds_no_rag_and_points_nothing_at_the_stand_in(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from emulator import tour_knowledge_base

    monkeypatch.setattr(_Session, "enabled", False)
    monkeypatch.setattr(tour_knowledge_base, "KnowledgeBaseSession", _Session)
    names, step = _steps()
    with app.knowledge_base_stand_in(SimpleNamespace(region="us-east-1"), "s", step) as env:  # type: ignore[arg-type]
        assert env == {}
    assert names == []
