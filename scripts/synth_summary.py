"""`make synth`: synthesize every environment of cdk.json and print a one-screen summary.

For each environment: its stacks, their resource counts, and the cdk-nag result (pass, with the
number of acknowledged findings). Templates land in ``cdk.out/<environment>/``. Exits non-zero
with one clear sentence when cdk.json is invalid or a stack has an unacknowledged finding.
"""

from __future__ import annotations

import os
import shutil
import sys
import time
from collections import Counter

from emulator.node import with_node_on_path

os.environ.setdefault("CDK_VALIDATION", "false")
os.environ.update(with_node_on_path(os.environ))  # jsii starts `node` from PATH: the venv's Node 24

from aws_cdk import Stack

from stacks.config import PROJECT_ROOT, ConfigError, load_all_environments, read_cdk_context
from stacks.synth import synthesize

ACK_METADATA = "aws:cdk:acknowledged-rules"


def nag_acknowledgements(stack: Stack) -> int:
    count = 0
    for construct in stack.node.find_all():
        for entry in construct.node.metadata:
            if entry.type == ACK_METADATA:
                count += sum(1 for rule in entry.data if "AwsSolutions-" in rule)
    return count


def main() -> int:
    try:
        context = read_cdk_context()
        configs = load_all_environments(context)
    except (ConfigError, ValueError) as error:
        print(f"cdk.json: {error}", file=sys.stderr)
        return 2

    out_root = PROJECT_ROOT / "cdk.out"
    print(f"{'environment':<12} {'account/region':<26} {'level':>5}  {'stack':<34} {'resources':>9}  cdk-nag")
    print("-" * 110)
    started = time.perf_counter()
    for config in configs:
        outdir = out_root / config.name
        shutil.rmtree(outdir, ignore_errors=True)
        try:
            env = synthesize(config, context, outdir)
        except ConfigError as error:
            print(f"cdk.json: {error}", file=sys.stderr)
            return 2
        except Exception as error:  # cdk-nag (or CDK) rejected the app: show what and where
            print(f"\n{config.name}: synth failed:\n{error}", file=sys.stderr)
            return 1
        for stack in env.stacks:
            acknowledged = nag_acknowledgements(stack)
            resources = Counter(r["Type"] for r in env.template(stack)["Resources"].values())
            print(
                f"{config.name:<12} {config.account + '/' + config.region:<26} {config.max_level:>5}  "
                f"{stack.stack_name:<34} {sum(resources.values()):>9}  pass ({acknowledged} acknowledged)"
            )
    elapsed = time.perf_counter() - started
    print("-" * 110)
    print(f"{len(configs)} environments synthesized in {elapsed:.1f} s into {out_root.relative_to(PROJECT_ROOT)}/")
    print("cdk-nag AwsSolutions: 0 unacknowledged findings; each acknowledgement names one resource and a reason.")
    return 0


if __name__ == "__main__":
    sys.exit(main())
