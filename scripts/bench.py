"""`make bench`: synth time per 100 resources, the whole app against one environment, and the suite times.

Each synth runs in a fresh Python process (as `cdk synth` does), so start-up of the jsii runtime is
included on both sides of the ratio; the median of several runs is reported. The dev synth's round trips
to the jsii runtime per construct (``scripts/synth_profile.py``) are the figure that does not depend on
the machine's load. Reproduce with ``make bench`` (or ``.venv/bin/python -m scripts.bench --runs 5``).
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile
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

# One environment, named on the command line, in a process of its own (the parallel whole-app synth).
ONE_ENV = """
import sys, tempfile
from pathlib import Path
from stacks.config import load_environment, read_cdk_context
from stacks.synth import synthesize
context = read_cdk_context()
synthesize(load_environment(context, sys.argv[1]), context, Path(tempfile.mkdtemp()))
"""

LIST_ENVS = "from stacks.config import load_all_environments, read_cdk_context\n" + (
    "print(' '.join(c.name for c in load_all_environments(read_cdk_context())))"
)


def timed(argv: list[str], env: dict[str, str]) -> tuple[float, float]:
    """Wall time, and CPU time (user + system of the process and its children: Python and jsii's Node.js).

    On a machine other work shares, the wall time grows with the load; the CPU time much less so.
    """
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    started = time.perf_counter()
    result = subprocess.run(argv, cwd=PROJECT_ROOT, env=env, check=False, stdout=subprocess.DEVNULL)  # noqa: S603
    if result.returncode != 0:
        # A time measured on a failing run says nothing: stop with what failed.
        raise SystemExit(f"bench: `{' '.join(argv[:4])} ...` failed (exit {result.returncode}); fix it first")
    wall = time.perf_counter() - started
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    return wall, (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)


def timed_parallel(argvs: list[list[str]], env: dict[str, str]) -> float:
    """Wall time of running every command of `argvs` at once (one process each)."""
    started = time.perf_counter()
    processes = [
        subprocess.Popen(argv, cwd=PROJECT_ROOT, env=env, stdout=subprocess.DEVNULL)  # noqa: S603
        for argv in argvs
    ]
    codes = [process.wait() for process in processes]
    if any(codes):
        raise SystemExit(f"bench: a parallel synth failed (exits {codes}); fix it first")
    return time.perf_counter() - started


def resource_count(outdir: Path) -> int:
    return sum(len(json.loads(path.read_text()).get("Resources", {})) for path in outdir.glob("*.template.json"))


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

    def median(argv: list[str], run_env: dict[str, str] = env) -> tuple[float, float]:
        """The median wall time and the median CPU time of `--runs` runs."""
        runs = [timed(argv, run_env) for _ in range(args.runs)]
        return statistics.median(wall for wall, _ in runs), statistics.median(cpu for _, cpu in runs)

    with tempfile.TemporaryDirectory() as outdir:
        # What `npx cdk synth` runs: the dev environment, written where the resources can be counted.
        one_env_s, one_env_cpu = median([python, "app.py"], {**env, "CDK_OUTDIR": outdir})
        resources = resource_count(Path(outdir))
    empty_s, empty_cpu = median([python, "-c", EMPTY_APP])
    full_s, full_cpu = median([python, "-c", FULL_APP])
    names = subprocess.run(  # noqa: S603
        [python, "-c", LIST_ENVS], cwd=PROJECT_ROOT, env=env, check=True, capture_output=True, text=True
    ).stdout.split()
    parallel_s = statistics.median(
        timed_parallel([[python, "-c", ONE_ENV, name] for name in names], env) for _ in range(args.runs)
    )
    per_100 = one_env_s / resources * 100
    # Round trips to the jsii runtime (Node.js) per construct: the same count under any load.
    profile = json.loads(
        subprocess.run(  # noqa: S603
            [python, "-m", "scripts.synth_profile", "--json"],
            cwd=PROJECT_ROOT,
            env=env,
            check=True,
            capture_output=True,
            text=True,
        ).stdout.splitlines()[-1]
    )
    calls = profile["jsii_calls"]
    print(f"machine: {os.cpu_count()} cores, load average {os.getloadavg()[0]:.1f} at the end of the synth runs")
    print(f"empty one-stack app synth          : {empty_s:6.2f} s, CPU {empty_cpu:6.2f} s (median of {args.runs})")
    print(f"app.py, one environment (dev)      : {one_env_s:6.2f} s, CPU {one_env_cpu:6.2f} s  {resources} resources")
    print(
        f"  seconds per 100 resources        : {per_100:6.2f} s, CPU {one_env_cpu / resources * 100:6.2f} s"
        " (goal <= 1.00)"
    )
    print(f"  ratio to the empty app           : {one_env_s / empty_s:6.2f}, CPU {one_env_cpu / empty_cpu:6.2f}")
    print(
        f"  jsii round trips (any load)      : {calls['total']:6d}  {profile['jsii_calls_per_construct']:.2f} per"
        f" construct ({profile['constructs']});"
        f" import {calls['import']}, build {calls['build']}, synth {calls['synth']}"
    )
    print(
        f"whole app, {len(names)} environments in turn   : {full_s:6.2f} s  ratio to one env {full_s / one_env_s:4.2f};"
        f" CPU {full_cpu:6.2f} s, ratio {full_cpu / one_env_cpu:4.2f}"
    )
    print(
        f"whole app, one process per env     : {parallel_s:6.2f} s  ratio to one env {parallel_s / one_env_s:4.2f}"
        " (goal < 1.00)"
    )
    if not args.skip_suite:
        offline, _ = timed([python, "-m", "pytest", "-q", "-m", "not e2e", "-p", "no:cacheprovider"], env)
        print(f"offline suite (unit + infra, wall) : {offline:6.2f} s  (goal <= 30 s)")
        full_suite, _ = timed([python, "-m", "pytest", "-q", "-p", "no:cacheprovider"], env)
        print(f"full suite with e2e (wall)         : {full_suite:6.2f} s  (goal <= 90 s)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
