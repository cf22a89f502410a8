"""`make bench`: synth time of the whole app against an empty one-stack app, and the suite's wall time.

Each synth runs in a fresh Python process (as `cdk synth` does), so start-up of the jsii runtime is
included on both sides of the ratio; the median of several runs is reported. Reproduce with
``make bench`` (or ``.venv/bin/python -m scripts.bench --runs 5``).
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

from emulator.node import with_node_on_path

PROJECT_ROOT = Path(__file__).resolve().parents[1]

EMPTY_APP = """
import tempfile
from aws_cdk import App, Stack
app = App(outdir=tempfile.mkdtemp())
Stack(app, "Empty")
app.synth()
"""

FULL_APP = """
import tempfile
from pathlib import Path
from stacks.config import load_all_environments
from stacks.config import read_cdk_context
from stacks.synth import synthesize
context = read_cdk_context()
for config in load_all_environments(context):
    synthesize(config, context, Path(tempfile.mkdtemp()))
"""


def timed(argv: list[str], env: dict[str, str]) -> float:
    started = time.perf_counter()
    result = subprocess.run(argv, cwd=PROJECT_ROOT, env=env, check=False, stdout=subprocess.DEVNULL)  # noqa: S603
    if result.returncode != 0:
        # A time measured on a failing run says nothing: stop with what failed.
        raise SystemExit(f"bench: `{' '.join(argv[:4])} ...` failed (exit {result.returncode}); fix it first")
    return time.perf_counter() - started


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=3, help="synth runs per app (median is reported)")
    parser.add_argument("--skip-suite", action="store_true", help="only measure synth")
    args = parser.parse_args()

    env = {
        **with_node_on_path(os.environ),  # the venv's Node 24, also when run without make
        "CDK_VALIDATION": "false",
        "PYTHONPATH": str(PROJECT_ROOT),
    }
    python = sys.executable

    def median(argv: list[str]) -> float:
        return statistics.median(timed(argv, env) for _ in range(args.runs))

    empty_s = median([python, "-c", EMPTY_APP])
    one_env_s = median([python, "app.py"])  # what `npx cdk synth` runs: the dev environment
    full_s = median([python, "-c", FULL_APP])
    print(f"empty one-stack app synth        : {empty_s:6.2f} s (median of {args.runs})")
    print(f"app.py, one environment (dev)    : {one_env_s:6.2f} s  ratio {one_env_s / empty_s:4.2f} (goal <= 1.5)")
    print(f"whole app, every environment     : {full_s:6.2f} s  ratio {full_s / empty_s:4.2f}")
    if not args.skip_suite:
        offline = timed([python, "-m", "pytest", "-q", "-m", "not e2e", "-p", "no:cacheprovider"], env)
        print(f"test suite without e2e (wall)    : {offline:6.2f} s (goal <= 60 s)")
        full_suite = timed([python, "-m", "pytest", "-q", "-p", "no:cacheprovider"], env)
        print(f"full test suite with e2e (wall)  : {full_suite:6.2f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
