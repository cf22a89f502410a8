"""Where one environment's synth goes, in figures that do not depend on the machine's load.

Counts the round trips between Python and the jsii runtime (Node.js) while importing, building the
constructs and synthesizing (every request the Python side sends: create, get, set, invoke, callbacks
completed ...), and divides them by the app's construct count. A jsii round trip costs the same on any
machine relative to the rest, so the calls per construct compare runs made under any load; the seconds
beside them do not. ``--sites N`` names the N project lines that make the most calls while building
(the innermost frame under stacks/, so a helper's calls are charged to the helper's own lines).

    .venv/bin/python -m scripts.synth_profile [--env dev] [--sites 30] [--json]
"""

from __future__ import annotations

import argparse
import collections
import json
import os
import sys
import tempfile
import time
import traceback
from pathlib import Path
from typing import Any

PROJECT_ROOT = Path(__file__).resolve().parents[1]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--env", default="dev", help="environment of cdk.json to synthesize (default: dev)")
    parser.add_argument("--sites", type=int, default=0, help="print the N project lines making the most calls")
    parser.add_argument("--json", action="store_true", help="print the figures as one JSON object")
    args = parser.parse_args()

    started = time.perf_counter()
    from emulator.node import with_node_on_path

    os.environ.setdefault("CDK_VALIDATION", "false")
    os.environ.update(with_node_on_path(os.environ))  # jsii starts `node` from PATH: the venv's Node 24

    from jsii._kernel.providers import process

    phase = "import"
    calls: collections.Counter[str] = collections.Counter()
    sites: collections.Counter[str] = collections.Counter()
    stacks_dir = str(PROJECT_ROOT / "stacks")
    send = process._NodeProcess.send

    def counting_send(self: Any, request: Any, response_type: Any) -> Any:
        calls[phase] += 1
        if args.sites and phase == "build":
            for frame in reversed(traceback.extract_stack(limit=60)[:-1]):
                if frame.filename.startswith(stacks_dir):
                    sites[f"{os.path.relpath(frame.filename, PROJECT_ROOT)}:{frame.lineno} {frame.name}"] += 1
                    break
        return send(self, request, response_type)

    process._NodeProcess.send = counting_send  # type: ignore[method-assign]

    from aws_cdk import App

    from stacks.config import load_all_environments, load_environment, read_cdk_context
    from stacks.ladder import build_environment
    from stacks.nag import enable_nag

    context = read_cdk_context()
    config = load_environment(context, args.env)
    environments = {c.name: c for c in load_all_environments(context)}
    imported = time.perf_counter()
    phase = "build"
    outdir = Path(tempfile.mkdtemp(prefix="synth-profile-"))
    app = App(outdir=str(outdir), context={**context, "env": config.name})
    build_environment(app, config, environments=environments)
    enable_nag(app)
    built = time.perf_counter()
    phase = "synth"
    app.synth()
    synthesized = time.perf_counter()
    phase = "after"
    constructs = len(app.node.find_all())
    resources = sum(len(json.loads(p.read_text()).get("Resources", {})) for p in outdir.glob("*.template.json"))
    total = calls["import"] + calls["build"] + calls["synth"]
    seconds = {
        "import": round(imported - started, 2),
        "build": round(built - imported, 2),
        "synth": round(synthesized - built, 2),
    }
    figures = {
        "environment": config.name,
        "constructs": constructs,
        "resources": resources,
        "jsii_calls": {"import": calls["import"], "build": calls["build"], "synth": calls["synth"], "total": total},
        "jsii_calls_per_construct": round(total / constructs, 2),
        "seconds": seconds,
    }
    if args.json:
        print(json.dumps(figures))
    else:
        print(f"{config.name}: {constructs} constructs, {resources} resources")
        for name in ("import", "build", "synth"):
            print(f"  {name:6s} {calls[name]:6d} jsii calls  {seconds[name]:6.2f} s")
        print(f"  total  {total:6d} jsii calls, {figures['jsii_calls_per_construct']:.2f} per construct")
        for site, count in sites.most_common(args.sites):
            print(f"  {count:6d}  {site}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
