"""Synth is deterministic: the same inputs give byte-identical output, with no AWS access at all."""

from __future__ import annotations

import json

from stacks.synth import synthesize
from tests.infra.conftest import PROJECT_CONTEXT, PROJECT_ENV_NAMES


def test_a_second_synth_gives_byte_identical_templates_and_asset_manifests(project_synthesized, tmp_path):
    # The one deliberate second synth of the suite: determinism cannot be shown with one.
    first = project_synthesized[PROJECT_ENV_NAMES[0]]
    second = synthesize(first.config, PROJECT_CONTEXT, tmp_path)
    compared = 0
    for pattern in ("*.template.json", "*.assets.json"):
        for path in sorted(first.outdir.glob(pattern)):
            assert (second.outdir / path.name).read_bytes() == path.read_bytes(), path.name
            compared += 1
    assert compared >= 2


def test_synth_needs_no_context_lookups(project_synthesized, opted_in_dev, opted_in_prod, msk_synth):
    # A missing-context entry would make the CLI call AWS (or fail offline) at synth time. The opt-in synths too:
    # the app's VPC needed an availability-zone lookup (issue 19).
    for env in [*project_synthesized.values(), opted_in_dev, opted_in_prod, msk_synth]:
        manifest = json.loads((env.outdir / "manifest.json").read_text())
        assert "missing" not in manifest, f"{env.config.name} needs lookups: {manifest['missing']}"
