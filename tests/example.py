"""The example configuration the tests pin, kept apart from the project's cdk.json.

Two kinds of test read configuration (issue 19):
- a test that pins a value of the example (an environment, team, account or Region name, a count, a snapshot)
  reads ``tests/fixtures/cdk.json`` through :data:`EXAMPLE_CONTEXT`: a fork edits cdk.json and these still pass;
- a test that must hold for any configuration (synth with cdk-nag, cfn-lint, the integration-permission and
  isolation checks, determinism, the local deploy, the workflow) reads the project's own cdk.json
  (``stacks.config.read_cdk_context()``), so a fork's configuration is checked too.

The fixture started as a copy of the shipped cdk.json; it changes only when the pinned tests change.
"""

from __future__ import annotations

from pathlib import Path

from stacks.config import read_cdk_context

EXAMPLE_CDK_JSON = Path(__file__).resolve().parent / "fixtures" / "cdk.json"
EXAMPLE_CONTEXT = read_cdk_context(EXAMPLE_CDK_JSON)
