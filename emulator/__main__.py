"""Command line for the emulator.

``python -m emulator serve``
    Run LocalAws until Ctrl-C (or ``--seconds``) and print the environment to export, so ``npx cdk``
    or a script in another terminal deploys into it.

``python -m emulator coverage cdk.out/*.template.json``
    For each template, list its resource types and whether moto, a shim, nothing ("recorded only")
    or nobody ("not emulated") handles them, followed by what each shim and engine fix does.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import shlex
import sys
import threading
from collections.abc import Sequence
from pathlib import Path


def _serve(args: argparse.Namespace) -> int:
    from emulator.server import DROPPED_VARIABLES, LocalAws

    stop = threading.Event()
    with LocalAws(region=args.region, port=args.port) as aws:
        print(f"# LocalAws on {aws.endpoint_url} (127.0.0.1 only). Paste into another shell:")
        print(f"unset {' '.join(DROPPED_VARIABLES)}")
        overrides = aws.env(base={})
        for name in sorted(overrides):
            print(f"export {name}={shlex.quote(overrides[name])}")
        print("# Ctrl-C stops the emulator; its state is lost.", flush=True)
        # Ctrl-C ends the wait; leaving the block stops the server either way.
        with contextlib.suppress(KeyboardInterrupt):
            stop.wait(timeout=args.seconds)
    return 0


def _coverage(args: argparse.Namespace) -> int:
    from emulator.fixes import ENGINE_FIXES
    from emulator.shims import SHIMMED_TYPES, template_coverage

    gaps = 0
    used_shims: set[str] = set()
    for path in args.templates:
        template = json.loads(Path(path).read_text())
        print(f"{path}:")
        for resource_type, status in template_coverage(template).items():
            print(f"  {status:<13} {resource_type}")
            gaps += status == "not emulated" and resource_type != "AWS::CDK::Metadata"
            if resource_type in SHIMMED_TYPES:
                used_shims.add(resource_type)
    if used_shims:
        print("\nshims:")
        for resource_type in sorted(used_shims):
            print(f"  {resource_type}: {SHIMMED_TYPES[resource_type]}")
    print("\nengine fixes:")
    for name, note in ENGINE_FIXES.items():
        print(f"  {name}: {note}")
    # Non-zero when something the templates need would be silently skipped.
    return 1 if gaps else 0


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m emulator", description=__doc__.split("\n\n")[0])
    commands = parser.add_subparsers(dest="command", required=True)

    serve = commands.add_parser("serve", help="run the emulator until Ctrl-C")
    serve.add_argument("--region", default="us-east-1")
    serve.add_argument("--port", type=int, default=None, help="default: a free port")
    serve.add_argument("--seconds", type=float, default=None, help="stop after this long (default: never)")
    serve.set_defaults(run=_serve)

    coverage = commands.add_parser("coverage", help="what the emulator does with each resource type")
    coverage.add_argument("templates", nargs="+", help="CloudFormation templates (JSON)")
    coverage.set_defaults(run=_coverage)

    args = parser.parse_args(argv)
    return int(args.run(args))


if __name__ == "__main__":
    sys.exit(main())
