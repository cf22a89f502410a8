"""The LLM gateway's own overhead per request, excluding the model call and the network.

Reproduce with ``.venv/bin/python -m scripts.bench_gateway`` (``--requests N`` to change the sample).

The real handler runs in-process with real botocore clients; only the HTTP exchange is replaced, by a
``before-send`` hook that answers instantly with canned Converse and GetItem responses. So every
measured request includes what a deployed request pays besides the model and the network: event
parsing, the alias cache, template rendering, botocore's parameter validation, serialization, SigV4
signing and response parsing, pricing, the EMF metric document and the JSON log line (written to
/dev/null instead of the Lambda log pipe). Three figures:

* warm: cache hit, the steady state (goal: p95 < 5 ms);
* cold path: ``PROMPT_CACHE_SECONDS=0``, so every request also builds, signs and parses a GetItem
  (a real GetItem adds a few milliseconds of network in the same region on top);
* first request: loading the handler module, building both clients, first call (once per execution
  environment; module imports of boto3/Powertools are already done by the time it is measured);
* retrieval (#16): the same prompt with a ``retrieval`` block, alias cached: a Retrieve answering five
  1,000-character passages is validated, signed and parsed too, then the numbered context, the guardContent
  blocks and the citations are built (a real Retrieve adds its own latency, reported as RetrievalLatencyMs).
"""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import importlib.util
import json
import os
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path
from types import ModuleType, SimpleNamespace
from typing import Any

import boto3
from botocore.awsrequest import AWSResponse

PROJECT_ROOT = Path(__file__).resolve().parents[1]
LAMBDAS = PROJECT_ROOT / "lambdas"
MODEL = "global.anthropic.claude-haiku-4-5-20251001-v1:0"
GOAL_MS = 5.0
ENV = {
    "TABLE_NAME": "prompt-catalog",
    "GUARDRAIL_ID": "gr-bench",
    "GUARDRAIL_VERSION": "1",
    "ALLOWED_MODELS": MODEL,
    "PRICE_TABLE_JSON": json.dumps({MODEL: {"input_per_1k": 0.001, "output_per_1k": 0.005}}),
    "POWERTOOLS_METRICS_NAMESPACE": "Bench/LlmGateway",
    "AWS_DEFAULT_REGION": "us-east-1",
    "AWS_ACCESS_KEY_ID": "bench",
    "AWS_SECRET_ACCESS_KEY": "bench",  # a dummy: nothing leaves the process
}
EVENT = {
    "prompt": "support-answer",
    "alias": "prod",
    "team": "support",
    "variables": {"customer": "Ada", "question": "Where is my parcel? It was due on Monday and has not arrived."},
}
KB_ID = "KBBENCH001"
RETRIEVE_BODY = json.dumps(
    {
        "retrievalResults": [
            {
                "content": {"type": "TEXT", "text": f"Passage {n}: " + "parcels ship within two days. " * 33},
                "location": {"type": "S3", "s3Location": {"uri": f"s3://curated/knowledge-base/doc{n}.md"}},
                "metadata": {"x-amz-bedrock-kb-chunk-id": f"chunk-{n}"},
                "score": 0.9 - n / 10,
            }
            for n in range(1, 6)
        ]
    }
).encode()
CONVERSE_BODY = json.dumps(
    {
        "output": {"message": {"role": "assistant", "content": [{"text": "Your parcel is on its way."}]}},
        "stopReason": "end_turn",
        "usage": {"inputTokens": 180, "outputTokens": 42, "totalTokens": 222},
        "metrics": {"latencyMs": 350},
    }
).encode()


class _Raw:
    """The raw body botocore streams a response from."""

    def __init__(self, body: bytes) -> None:
        self._body = body

    def stream(self, **_: Any) -> Any:
        yield self._body


def _answer(body: bytes) -> Callable[..., AWSResponse]:
    def send(request: Any, **_: Any) -> AWSResponse:
        # Returning a response from before-send skips only the HTTP exchange: everything before
        # (validation, serialization, signing) and after (parsing) runs as deployed.
        return AWSResponse(request.url, 200, {"content-type": "application/json"}, _Raw(body))

    return send


def _use_lambda_layout() -> None:
    # As in the Lambda asset: the function's modules and ``common`` are top-level modules.
    for folder in (LAMBDAS, LAMBDAS / "llm_gateway"):
        if str(folder) not in sys.path:
            sys.path.insert(0, str(folder))


def _alias_item(rag: bool = False) -> bytes:
    from common.prompt_store import AliasRecord
    from common.retrieval import RetrievalSpec

    record = AliasRecord(
        name="support-answer",
        alias="prod",
        version=7,
        template=(
            "You are a courteous support agent. Answer {{customer}} in at most three sentences, "
            "without promising refunds.\n\nQuestion: {{question}}"
        ),
        variables=("customer", "question"),
        model_id=MODEL,
        inference={"temperature": 0.2, "maxTokens": 300, "topP": 0.9},
        sha256="0" * 64,
        updated_by="arn:aws:iam::123456789012:user/bench",
        updated_at="2024-05-01T12:00:00.000000Z",
        reason="bench",
    )
    if rag:
        record = dataclasses.replace(
            record,
            template=record.template + "\n\nSources:\n{{context}}",
            variables=(*record.variables, "context"),
            retrieval=RetrievalSpec("product-docs", 5, "context", "question"),
        )
    return json.dumps({"Item": record.to_item()}).encode()


def _clients(rag: bool = False) -> dict[str, Any]:
    session = boto3.Session(region_name="us-east-1")
    dynamodb = session.client("dynamodb")
    dynamodb.meta.events.register("before-send.dynamodb.GetItem", _answer(_alias_item(rag)))
    bedrock = session.client("bedrock-runtime")
    bedrock.meta.events.register("before-send.bedrock-runtime.Converse", _answer(CONVERSE_BODY))
    agent = session.client("bedrock-agent-runtime")
    agent.meta.events.register("before-send.bedrock-agent-runtime.Retrieve", _answer(RETRIEVE_BODY))
    return {"dynamodb": dynamodb, "bedrock-runtime": bedrock, "bedrock-agent-runtime": agent}


def _load_handler(cache_seconds: str, rag: bool = False) -> ModuleType:
    _use_lambda_layout()
    os.environ.update(ENV, PROMPT_CACHE_SECONDS=cache_seconds, KNOWLEDGE_BASES=json.dumps({"product-docs": KB_ID}))
    spec = importlib.util.spec_from_file_location(
        f"bench_gateway_handler_{cache_seconds}", LAMBDAS / "llm_gateway" / "handler.py"
    )
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    clients = _clients(rag)
    module.boto3 = SimpleNamespace(client=lambda service, **_: clients[service])  # type: ignore[attr-defined]
    return module


class _Context:
    function_name = "bench"
    memory_limit_in_mb = 1024
    invoked_function_arn = "arn:aws:lambda:us-east-1:123456789012:function:bench"
    aws_request_id = "bench"


def _measure(
    handler: Callable[[Any, Any], dict[str, Any]], requests: int, event: dict[str, Any] = EVENT
) -> list[float]:
    context = _Context()
    timings = []
    for _ in range(requests):
        started = time.perf_counter()
        response = handler(event, context)
        timings.append((time.perf_counter() - started) * 1000)
        if response["statusCode"] != 200:
            raise SystemExit(f"unexpected response: {response}")
    return timings


def _summary(label: str, timings: list[float]) -> str:
    ordered = sorted(timings)
    p50 = statistics.median(ordered)
    p95 = ordered[int(len(ordered) * 0.95) - 1]
    p99 = ordered[int(len(ordered) * 0.99) - 1]
    return f"{label:<34} p50 {p50:6.3f} ms   p95 {p95:6.3f} ms   p99 {p99:6.3f} ms   (n={len(ordered)})"


def main(argv: list[str] | None = None) -> int:
    """Run the benchmark and print the figures."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--requests", type=int, default=2000, help="measured requests per scenario")
    args = parser.parse_args(argv)
    print(
        "command: .venv/bin/python -m scripts.bench_gateway"
        + ("" if args.requests == 2000 else f" --requests {args.requests}")
    )
    print(f"python {sys.version.split()[0]} on {os.cpu_count()} CPUs; handler output (EMF + log) to /dev/null")

    with open(os.devnull, "w") as sink, contextlib.redirect_stdout(sink):
        started = time.perf_counter()
        warm = _load_handler("30")
        first = _measure(warm.handler, 1)
        first_ms = (time.perf_counter() - started) * 1000
        _measure(warm.handler, 200)  # warm-up: caches, allocator, branch predictors
        warm_timings = _measure(warm.handler, args.requests)
        cold = _load_handler("0")
        _measure(cold.handler, 200)
        cold_timings = _measure(cold.handler, args.requests)
        rag = _load_handler("30", rag=True)
        _measure(rag.handler, 200)  # the same request: the gateway fills the context itself
        rag_timings = _measure(rag.handler, args.requests)

    print(_summary("warm (alias cached)", warm_timings))
    print(_summary("cold path (GetItem every request)", cold_timings))
    print(_summary("retrieval (Retrieve + citations)", rag_timings))
    print(f"{'first request (load + clients)':<34} {first_ms:6.1f} ms (of which the call itself {first[0]:.1f} ms)")
    p95 = sorted(warm_timings)[int(len(warm_timings) * 0.95) - 1]
    verdict = "meets" if p95 < GOAL_MS else "MISSES"
    print(f"goal: warm p95 < {GOAL_MS:g} ms per request -> {verdict} ({p95:.3f} ms)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
