"""Prints bootstrap/cloudformation-execution-policy.json for this project's name prefix (cdk.json).

The committed policy is written for the shipped prefix ``mlops``: in IAM it allows only roles and policies named
``mlops-*`` / ``Mlops-*`` (the stacks' own). A fork with another ``mlops:namePrefix`` bootstraps its accounts
with this script's output instead of the file::

    python -m scripts.execution_policy > execution-policy.json
    aws iam create-policy --policy-name <prefix>-cdk-execution --policy-document file://execution-policy.json

tests/infra/test_execution_policy.py checks the rendered policy against every synthesized template.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from stacks.config import ConfigError, name_prefix, read_cdk_context

PROJECT_ROOT = Path(__file__).resolve().parents[1]
POLICY_FILE = PROJECT_ROOT / "bootstrap" / "cloudformation-execution-policy.json"
SHIPPED_PREFIX = "mlops"  # what the committed file's IAM name patterns start with


def render(document: dict[str, Any], prefix: str) -> dict[str, Any]:
    """`document` with its ``<shipped>-*`` / ``<Shipped>-*`` IAM name patterns written for `prefix`."""
    text = json.dumps(document)
    for old, new in ((SHIPPED_PREFIX, prefix), (SHIPPED_PREFIX.capitalize(), prefix.capitalize())):
        text = text.replace(f'/{old}-*"', f'/{new}-*"')
    rendered: dict[str, Any] = json.loads(text)
    return rendered


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--cdk-json", type=Path, default=PROJECT_ROOT / "cdk.json", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    try:
        prefix = name_prefix(read_cdk_context(args.cdk_json))
    except (ConfigError, ValueError) as error:
        print(f"execution policy: cdk.json: {error}", file=sys.stderr)
        return 2
    print(json.dumps(render(json.loads(POLICY_FILE.read_text()), prefix), indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
