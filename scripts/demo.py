"""`make demo`: deploy every stack of the `local` environment into a local AWS emulator and tour it.

Starts moto's server on 127.0.0.1 (a free port, or ``--port``), runs the real CDK CLI against it
(bootstrap, deploy), then proves the resources work through boto3 and prints what each level
created and how faithfully the emulator handled it. The emulator stops when the demo ends: on
success, on failure and on Ctrl-C. Nothing is left running and nothing reaches AWS.
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from emulator.server import LocalAws
    from emulator.tour import TourLine

PROJECT_ROOT = Path(__file__).resolve().parents[1]
OUTPUT_DIR = PROJECT_ROOT / "cdk.out" / "local"
_MARKS = {"real": "ok  ", "stub": "stub", "in-process": "here", "not emulated": "n/e "}


def fail(message: str, code: int = 2) -> int:
    print(f"make demo: {message}", file=sys.stderr)
    return code


def main() -> int:
    parser = argparse.ArgumentParser(description="Deploy the local environment into an emulator and tour it.")
    parser.add_argument(
        "--port",
        type=int,
        default=int(os.environ["DEMO_PORT"]) if os.environ.get("DEMO_PORT", "").isdigit() else None,
        help="emulator port on 127.0.0.1 (default: a free one; env DEMO_PORT)",
    )
    parser.add_argument("--cdk-json", type=Path, default=PROJECT_ROOT / "cdk.json", help=argparse.SUPPRESS)
    args = parser.parse_args()

    # Preflight: every check here is cheap and fails in one sentence before anything starts.
    from scripts.local_env import PreflightError, deploy_local, preflight, timed_step

    try:
        config = preflight(args.cdk_json)
    except PreflightError as error:
        return fail(str(error))

    from emulator.cdk_cli import CdkCliError
    from emulator.fake_knowledge_base import FakeKnowledgeBase
    from emulator.server import EmulatorError, LocalAws
    from emulator.tour import (
        deployed_resources,
        stack_outputs,
        tour_knowledge_base,
        tour_level0,
        tour_level1,
        tour_level2,
        tour_level3,
        tour_llmops,
    )
    from emulator.tour_knowledge_base import (
        KnowledgeBaseSession,
        tour_knowledge_base_answers,
        tour_knowledge_base_sync,
    )

    notes = _Notes()
    emulator_logger = logging.getLogger("emulator")
    emulator_logger.addHandler(notes)
    emulator_logger.setLevel(logging.INFO)
    emulator_logger.propagate = False  # into the summary, not between the progress lines

    started = time.perf_counter()

    try:
        with LocalAws(region=config.region, port=args.port) as aws:
            print(f"Local AWS emulator on {aws.endpoint_url} (listening on 127.0.0.1 only)")
            deploy_local(aws, OUTPUT_DIR, timed_step, env_name=config.name)
            deploy_done = time.perf_counter()
            stacks = sorted(p.name.removesuffix(".template.json") for p in OUTPUT_DIR.glob("*.template.json"))

            print("\nTour (ok = real, stub = accepted without doing the work, here = ran in this process):")
            _print_lines(tour_level0(aws, config.stack_name("Level0Exploration")))
            if config.max_level >= 1:
                _print_lines(tour_level1(aws, config.stack_name("Level1Repeatable")))
            if config.max_level >= 2:
                group = stack_outputs(aws, config.stack_name("Level1Repeatable"))["ModelPackageGroupName"]
                _print_lines(tour_level2(aws, config.stack_name("Level2Reliable"), group))
            if config.max_level >= 3:
                _print_lines(
                    tour_level3(aws, config.stack_name("Level3Scalable"), resource_prefix=config.resource_prefix)
                )
            if config.llmops.enabled:
                # The stand-in for Bedrock Knowledge Bases (ingestion, Retrieve) serves the rest of the tour.
                with FakeKnowledgeBase(aws, lifetime_seconds=None) as knowledge_base:
                    rag = KnowledgeBaseSession(aws, config.stack_name("LlmOps"), knowledge_base)
                    _print_lines(tour_knowledge_base(tour_knowledge_base_sync(rag)))
                    _print_lines(
                        tour_llmops(
                            aws, config.stack_name("LlmOps"), env_name=config.name, extra_env=knowledge_base.env()
                        )
                    )
                    question = "Do you ship to Norway, and how long does express delivery take there?"
                    _print_lines(tour_knowledge_base(tour_knowledge_base_answers(rag, question=question)))

            print("\nMaturity assessment of what was just deployed (python -m maturity assess):")
            _print_assessment(aws, config.name)

            print("\nWhat each level created (n/e = not emulated locally):")
            for stack in stacks:
                print(f"  {stack}")
                _print_lines(deployed_resources(aws, stack), show_level=False)
    except EmulatorError as error:
        return fail(str(error))
    except CdkCliError as error:
        return fail(f"{error}\nThe emulator has been stopped.", code=1)
    except KeyboardInterrupt:
        print("\nInterrupted; the emulator has been stopped.", file=sys.stderr)
        return 130

    total = time.perf_counter() - started
    policy_notes = [m for m in notes.messages if "not applying Deny statement" in m]
    other_notes = [m for m in notes.messages if m not in policy_notes and "listening on" not in m]
    if policy_notes or other_notes:
        print("\nEmulator notes:")
        if policy_notes:
            print(
                f"  {len(policy_notes)} conditional Deny statements (SSL-only, TLS >= 1.2) were not applied: moto "
                "cannot evaluate conditions and would otherwise deny every request. They are in the templates "
                "and enforced in AWS."
            )
        for message in dict.fromkeys(other_notes):
            print(f"  {message}")
    print(
        f"\n{len(stacks)} stack(s) deployed in {deploy_done - started:.1f} s; demo finished in {total:.1f} s. "
        "The emulator has stopped; run `make demo` again for a fresh account."
    )
    return 0


def _print_lines(lines: Iterator[TourLine], *, show_level: bool = True) -> None:
    for line in lines:
        level = f"{line.level:<8} " if show_level else ""
        print(f"  [{_MARKS[line.fidelity]}] {level}{line.step:<40} {line.outcome}", flush=True)


def _print_assessment(aws: LocalAws, env_name: str) -> None:
    import boto3

    from maturity.assess import assess, render

    # moto logs a traceback for every action it does not implement; the assessment reports them as unknown.
    logging.getLogger("werkzeug").setLevel(logging.CRITICAL)
    session = boto3.Session(
        region_name=aws.region,
        aws_access_key_id="testing",
        aws_secret_access_key="testing",  # noqa: S106 - the emulator's dummy credentials
    )
    # One attempt: moto answers unimplemented actions with HTTP 500, which retries would only slow down.
    report = assess(session, env=env_name, endpoint_url=aws.endpoint_url, max_attempts=1)
    for line in render(report, "table").splitlines():
        print(f"  {line}")


class _Notes(logging.Handler):
    """Collects what the emulator logs (e.g. policy statements it cannot evaluate) for the summary."""

    def __init__(self) -> None:
        super().__init__(level=logging.INFO)
        self.messages: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.messages.append(record.getMessage())


if __name__ == "__main__":
    sys.exit(main())
