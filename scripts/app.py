"""`make app`: the LLMOps playground (apps/playground) on this machine, against the local emulator.

Deploys the ``local`` environment into the emulator with the real CDK CLI (as ``make demo`` does), seeds
two prompts with a ``dev`` alias and one evaluation through the deployed functions, starts the local
stand-in model, the knowledge-base stand-in (with the sample documents ingested and
``prompts/support-answer.json`` seeded, when the environment has a knowledge base) and the Lambda Invoke
bridge, then runs ``streamlit run`` on 127.0.0.1 and prints the URL.
The app's code is the one the container runs: only its endpoints differ (``AWS_ENDPOINT_URL`` to the
emulator, ``AWS_ENDPOINT_URL_LAMBDA`` to the bridge). Ctrl-C stops everything; nothing listens on
anything but loopback, and the emulator, the stand-in model and the bridge live in this process.
"""

from __future__ import annotations

import argparse
import contextlib
import errno
import json
import logging
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any

from scripts.local_env import PROJECT_ROOT, PreflightError, deploy_local, preflight, timed_step

if TYPE_CHECKING:
    from emulator.server import LocalAws
    from stacks.config import EnvironmentConfig

APP_DIR = PROJECT_ROOT / "apps" / "playground"
OUTPUT_DIR = PROJECT_ROOT / "cdk.out" / "app-local"
DEFAULT_PORT = 8501
HEALTH_PATH = "/_stcore/health"
START_TIMEOUT_SECONDS = 60.0
SEED_USER = "arn:aws:iam::123456789012:user/make-app"

#: The prompts `make app` creates; each gets a `dev` alias. ticket-summary is also evaluated.
SEED_PROMPTS = (
    (
        "ticket-summary",
        "Classify the support ticket as billing, technical, account, shipping or other and summarize it in one "
        "sentence; answer with two lines, label: <label> and summary: <sentence>.\n{{ticket}}",
        ["ticket"],
    ),
    (
        "reply-draft",
        "Write a short, friendly reply to {{customer}} about their support ticket. Ticket: {{ticket}}",
        ["customer", "ticket"],
    ),
)
EVALUATED_PROMPT = "ticket-summary"
#: The prompt that retrieves from the knowledge base, seeded when the environment has one.
RAG_PROMPT_FILE = PROJECT_ROOT / "prompts" / "support-answer.json"
#: A word the stand-in model's simulated guardrail blocks, so an intervention can be tried in the page.
DENIED_WORD = "forbidden"
#: A word that makes the stand-in model throttle every call, so a failing model call can be tried too.
THROTTLE_WORD = "throttle"
_StepRunner = Callable[[str, Callable[[], Any]], Any]


class SeedError(RuntimeError):
    """A seeding call through the deployed functions did not succeed; the message says which."""


@dataclass(frozen=True)
class RunningPlayground:
    """What is running while the ``with`` block of :func:`local_playground` lasts."""

    url: str
    aws: LocalAws
    table_name: str
    gateway_function_name: str
    process: subprocess.Popen[bytes]


def port_in_use_reason(port: int) -> str | None:
    """One sentence if ``port`` on 127.0.0.1 cannot be listened on, else ``None``."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        # As the app's server does: a port left in TIME_WAIT by a previous run is free, a listening one is not.
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind(("127.0.0.1", port))
        except OSError as error:
            if error.errno == errno.EADDRINUSE:
                return (
                    f"Port {port} on 127.0.0.1 is already in use; stop whatever holds it or choose another "
                    "with APP_PORT=NNNN make app."
                )
            return f"Cannot listen on 127.0.0.1:{port} ({error.strerror})."
    return None


def seed(aws: LocalAws, outputs: dict[str, str], model_env: dict[str, str]) -> dict[str, Any]:
    """Create the seed prompts with a `dev` alias through the catalog API and evaluate one of them.

    Returns the evaluation function's answer (verdict, selected model, scorecard location).

    Raises:
        SeedError: a call was refused or failed.
    """
    from emulator.lambda_runner import deployed_function, publish_emf, rest_api_event
    from emulator.tour import GOLDEN_SET_FILE, TOUR_USER

    to_emulator = aws.env(base={})
    cloudwatch = aws.client("cloudwatch")
    catalog = deployed_function(aws, "prompt_catalog", outputs["CatalogFunctionName"])
    gateway_env = aws.client("lambda").get_function_configuration(FunctionName=outputs["GatewayFunctionName"])
    model_id = gateway_env["Environment"]["Variables"]["ALLOWED_MODELS"].split(",")[0]

    def api(method: str, path: str, body: dict[str, Any]) -> dict[str, Any]:
        event = rest_api_event(method, path, body, user_arn=TOUR_USER)
        event["requestContext"]["identity"]["userArn"] = SEED_USER
        invocation = catalog.invoke(event, to_emulator)
        publish_emf(cloudwatch, invocation.output)
        status = invocation.response["statusCode"]
        answer: dict[str, Any] = json.loads(invocation.response.get("body") or "{}")
        if status not in (200, 201):
            raise SeedError(f"{method} {path} answered HTTP {status}: {answer.get('error')}")
        return answer

    for name, template, variables in SEED_PROMPTS:
        created = api(
            "POST",
            f"/prompts/{name}/versions",
            {
                "template": template,
                "variables": variables,
                "model_id": model_id,
                "inference": {"temperature": 0.2, "maxTokens": 200},
                "reason": "make app: seed prompt",
            },
        )
        api("PUT", f"/prompts/{name}/aliases/dev", {"version": created["version"], "reason": "make app: try it"})
    golden = api("POST", "/evalsets", json.loads(GOLDEN_SET_FILE.read_text()))
    evaluator = deployed_function(aws, "llm_evaluation", outputs["EvaluatorFunctionName"])
    invocation = evaluator.invoke(
        {"prompt": EVALUATED_PROMPT, "version": 1, "golden_set": golden["name"], "golden_version": golden["version"]},
        {**to_emulator, **model_env},
    )
    publish_emf(cloudwatch, invocation.output)
    verdict: dict[str, Any] = invocation.response
    if verdict.get("statusCode") != 200:
        raise SeedError(f"the evaluation of {EVALUATED_PROMPT} v1 failed: {verdict.get('error')}")
    return verdict


@contextlib.contextmanager
def knowledge_base_stand_in(aws: LocalAws, stack_name: str, step: _StepRunner = timed_step) -> Iterator[dict[str, str]]:
    """The local stand-in for Bedrock Knowledge Bases (emulator/fake_knowledge_base.py), as ``make demo`` runs it.

    When the stack deployed a knowledge base: starts the stand-in on 127.0.0.1, uploads the sample documents
    and ingests them through the deployed sync path (emulator/tour_knowledge_base.py), and yields the
    variables that point ``bedrock-agent`` and ``bedrock-agent-runtime`` clients at it. It stops when the
    block ends. Without a knowledge base it starts nothing and yields ``{}``.

    Raises:
        SeedError: the documents were not ingested (the ingestion job did not complete).
    """
    from emulator.fake_knowledge_base import FakeKnowledgeBase
    from emulator.tour_knowledge_base import KnowledgeBaseSession, tour_knowledge_base_sync

    with FakeKnowledgeBase(aws, lifetime_seconds=None) as knowledge_base:
        session = KnowledgeBaseSession(aws, stack_name, knowledge_base)
        if not session.enabled:
            yield {}
            return

        def ingest() -> None:
            lines = {name: outcome for name, outcome, _ in tour_knowledge_base_sync(session)}
            job = next((outcome for name, outcome in lines.items() if name.startswith("ingestion job")), "")
            if not job.startswith("COMPLETE"):
                raise SeedError(f"the sample documents were not ingested into the knowledge base: {job or lines}")

        step("ingest the sample documents (local stand-in knowledge base)", ingest)
        yield knowledge_base.env()


def seed_rag_prompt(aws: LocalAws, outputs: dict[str, str]) -> int:
    """Create ``prompts/support-answer.json``'s version (it retrieves) with a ``dev`` alias; its version number.

    Raises:
        SeedError: the catalog refused it.
    """
    from emulator.lambda_runner import deployed_function, rest_api_event
    from emulator.tour import TOUR_USER

    prompt = json.loads(RAG_PROMPT_FILE.read_text())
    catalog = deployed_function(aws, "prompt_catalog", outputs["CatalogFunctionName"])
    to_emulator = aws.env(base={})

    def api(method: str, path: str, body: dict[str, Any]) -> dict[str, Any]:
        event = rest_api_event(method, path, body, user_arn=TOUR_USER)
        event["requestContext"]["identity"]["userArn"] = SEED_USER
        response = catalog.invoke(event, to_emulator).response
        answer: dict[str, Any] = json.loads(response.get("body") or "{}")
        if response["statusCode"] not in (200, 201):
            raise SeedError(f"{method} {path} answered HTTP {response['statusCode']}: {answer.get('error')}")
        return answer

    name = prompt["name"]
    body = {
        key: prompt[key] for key in ("template", "variables", "model_id", "inference", "retrieval") if key in prompt
    }
    created = api("POST", f"/prompts/{name}/versions", {**body, "reason": "make app: seed a prompt that retrieves"})
    api("PUT", f"/prompts/{name}/aliases/dev", {"version": created["version"], "reason": "make app: try RAG"})
    return int(created["version"])


# Run in the child before streamlit starts (Linux): the app gets SIGTERM when this process dies without
# cleaning up (SIGKILL, a crash), so no server is left listening. Done with exec rather than preexec_fn,
# which is unsafe in a process with threads (the emulator's). Exits at once if the parent is already gone.
_LAUNCHER = """
import ctypes, os, signal, sys
parent = int(sys.argv[1])
if sys.platform == "linux":
    ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG
if os.getppid() != parent:
    sys.exit(1)
os.execv(sys.executable, [sys.executable, "-m", "streamlit", *sys.argv[2:]])
"""


def start_streamlit(port: int, env: dict[str, str], log: IO[bytes] | None = None) -> subprocess.Popen[bytes]:
    """``streamlit run`` of the playground on 127.0.0.1:``port`` with ``env``; output to ``log`` (or inherited)."""
    arguments = [
        "run",
        "streamlit_app.py",
        "--server.address=127.0.0.1",
        f"--server.port={port}",
        "--server.headless=true",
        "--browser.gatherUsageStats=false",
    ]
    return subprocess.Popen(  # noqa: S603 - this interpreter, fixed arguments
        [sys.executable, "-c", _LAUNCHER, str(os.getpid()), *arguments],
        cwd=APP_DIR,
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT if log is not None else None,
    )


def wait_until_healthy(process: subprocess.Popen[bytes], url: str, timeout: float = START_TIMEOUT_SECONDS) -> None:
    """Poll the health path until it answers 200.

    Raises:
        RuntimeError: the process exited or the path did not answer in time.
    """
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"streamlit exited with code {process.returncode} before it served {url}")
        with (
            contextlib.suppress(urllib.error.URLError, ConnectionError, TimeoutError),
            urllib.request.urlopen(url + HEALTH_PATH, timeout=2) as response,  # noqa: S310 - loopback http
        ):
            if response.status == 200:
                return
        time.sleep(0.2)
    raise RuntimeError(f"streamlit did not answer {url}{HEALTH_PATH} within {timeout:.0f} s")


def stop_process(process: subprocess.Popen[bytes]) -> None:
    """Terminate ``process`` and wait for it (kill it after 10 s)."""
    if process.poll() is None:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=10)


@contextlib.contextmanager
def local_playground(
    config: EnvironmentConfig,
    *,
    port: int,
    output_dir: Path = OUTPUT_DIR,
    step: _StepRunner = timed_step,
    log: IO[bytes] | None = None,
) -> Iterator[RunningPlayground]:
    """Emulator, deployed stacks, seed data, stand-in model, bridge and the app, stopped on leaving the block.

    Raises:
        emulator.server.EmulatorError, emulator.cdk_cli.CdkCliError, SeedError, RuntimeError: in one sentence.
    """
    from emulator.fake_bedrock import FakeBedrock
    from emulator.lambda_bridge import LambdaBridge
    from emulator.server import LocalAws
    from emulator.tour import stack_outputs

    with LocalAws(region=config.region) as aws:
        deploy_local(aws, output_dir, step, env_name=config.name)
        outputs = stack_outputs(aws, config.stack_name("LlmOps"))
        with (
            FakeBedrock(
                denied_words=(DENIED_WORD,), throttle_word=THROTTLE_WORD, region=config.region, lifetime_seconds=None
            ) as model,
            knowledge_base_stand_in(aws, config.stack_name("LlmOps"), step) as knowledge_base_env,
        ):
            step(
                f"seed {len(SEED_PROMPTS)} prompts (alias dev) and evaluate {EVALUATED_PROMPT} v1",
                lambda: seed(aws, outputs, model.env()),
            )
            if knowledge_base_env:
                step(f"seed {RAG_PROMPT_FILE.name} (retrieves; alias dev)", lambda: seed_rag_prompt(aws, outputs))
            gateway = outputs["GatewayFunctionName"]
            model_env = {**model.env(), **knowledge_base_env}
            with LambdaBridge(aws, {gateway: "llm_gateway"}, extra_env=model_env) as bridge:
                env = {
                    **aws.env(),
                    **bridge.env(),
                    "TABLE_NAME": outputs["PromptTableName"],
                    "GATEWAY_FUNCTION_NAME": gateway,
                    "PLAYGROUND_TEAM": "playground",
                }
                url = f"http://127.0.0.1:{port}"
                process = start_streamlit(port, env, log)
                try:
                    step("start the playground (streamlit run)", lambda: wait_until_healthy(process, url))
                    yield RunningPlayground(url, aws, outputs["PromptTableName"], gateway, process)
                finally:
                    stop_process(process)


def _interrupt(signum: int, frame: object) -> None:
    raise KeyboardInterrupt


def fail(message: str, code: int = 2) -> int:
    print(f"make app: {message}", file=sys.stderr)
    return code


def main() -> int:
    parser = argparse.ArgumentParser(description="Run the LLMOps playground against the local emulator.")
    parser.add_argument(
        "--port",
        type=int,
        default=int(os.environ["APP_PORT"]) if os.environ.get("APP_PORT", "").isdigit() else DEFAULT_PORT,
        help=f"port of the app on 127.0.0.1 (default {DEFAULT_PORT}; env APP_PORT)",
    )
    parser.add_argument("--cdk-json", type=Path, default=PROJECT_ROOT / "cdk.json", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if not 0 < args.port < 65536:
        return fail(f"port {args.port} is not a port number (1-65535).")
    try:
        config = preflight(args.cdk_json)
    except PreflightError as error:
        return fail(str(error))
    if not config.llmops.enabled:
        return fail(
            f"cdk.json: environment {config.name!r}, key 'llmops.enabled': it is false; the playground needs LLMOps."
        )
    if reason := port_in_use_reason(args.port):
        return fail(reason)

    from emulator.cdk_cli import CdkCliError
    from emulator.server import EmulatorError

    # The emulator's notes (conditional Deny statements it cannot evaluate, types it only records) are what
    # `make demo` summarizes; here they would only push the URL off the screen.
    emulator_logger = logging.getLogger("emulator")
    emulator_logger.addHandler(logging.NullHandler())
    emulator_logger.propagate = False
    # SIGTERM (a process manager, `kill`) stops everything as cleanly as Ctrl-C does.
    signal.signal(signal.SIGTERM, _interrupt)
    try:
        print("Starting the local AWS emulator (127.0.0.1 only) and deploying the local environment:")
        with local_playground(config, port=args.port) as running:
            print(
                f"\nThe playground is at {running.url}  (local stand-in model: answers are marked "
                f"[local stand-in model]; the word '{DENIED_WORD}' triggers the simulated guardrail, "
                f"'{THROTTLE_WORD}' a failing model call)."
                "\nCtrl-C stops the app, the stand-in model and the emulator.\n",
                flush=True,
            )
            code = running.process.wait()
            return fail(f"streamlit exited with code {code}; the emulator has been stopped.", code=1)
    except (EmulatorError, SeedError, RuntimeError) as error:
        return fail(f"{error}; the emulator has been stopped.", code=1)
    except CdkCliError as error:
        return fail(f"{error}\nThe emulator has been stopped.", code=1)
    except KeyboardInterrupt:
        print("\nStopped: the app, the stand-in model and the emulator are gone.", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
