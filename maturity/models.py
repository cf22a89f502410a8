"""Are the Bedrock models an environment is configured with still served, and called the way the Region needs?

The live counterpart of the model table (``stacks/bedrock_models.json``) that config validation reads: for
each configured model (``llmops.models`` and ``llmops.evaluation.judgeModelId`` of one environment of
cdk.json) the check reads the account's answer in the assessed Region, with read-only calls:

* ``bedrock:GetFoundationModel`` of the foundation model: ``modelLifecycle.status`` (``ACTIVE`` or
  ``LEGACY``; a model past end of life is no longer found) and ``inferenceTypesSupported`` (a bare model ID
  needs ``ON_DEMAND``; without it the Region serves the model only through an inference profile);
* ``bedrock:ListInferenceProfiles`` (system-defined): a configured profile ID must exist and be ACTIVE.

Anything wrong makes the check "missing" with one clause per model naming what to use instead (the live
profiles first, the table's replacement otherwise).
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from maturity.aws import Api, CallFailed, SessionLike
from maturity.checks import Check, Evidence
from stacks.model_catalog import Catalog, shipped_catalog

__all__ = ["CHECK_ID", "configured_models", "models_current", "models_current_check"]

CHECK_ID = "bedrock-models-current"
_NOT_SERVED = ("ResourceNotFoundException", "ValidationException")


def configured_models(cdk_json: Path, env: str) -> tuple[str, ...] | None:
    """The model IDs ``env`` of cdk.json calls (its models, then the judge), or None if cdk.json has no such
    environment. Read without validating: an environment that validation refuses is the one to report on."""
    try:
        context = json.loads(cdk_json.read_text()).get("context", {})
    except (OSError, json.JSONDecodeError):
        return None
    entry = (context.get("mlops:environments") or {}).get(env)
    if not isinstance(entry, Mapping):
        return None
    defaults = context.get("mlops:defaults") or {}
    llmops = {**(defaults.get("llmops") or {}), **(entry.get("llmops") or {})}
    evaluation = {**((defaults.get("llmops") or {}).get("evaluation") or {}), **(llmops.get("evaluation") or {})}
    ids = [m.get("id") for m in llmops.get("models") or [] if isinstance(m, Mapping)]
    ids.append(evaluation.get("judgeModelId"))
    return tuple(dict.fromkeys(i for i in ids if isinstance(i, str) and i))


def _live_profile_for(base: str, profiles: Sequence[Mapping[str, Any]], region: str) -> str | None:
    """A system-defined profile of this Region that routes to ``base``: a geographic one before global."""
    candidates = sorted(
        str(p["inferenceProfileId"])
        for p in profiles
        if p.get("status", "ACTIVE") == "ACTIVE"
        and any(str(m.get("modelArn", "")).endswith(f"foundation-model/{base}") for m in p.get("models") or [])
    )
    geographic = [c for c in candidates if not c.startswith("global.")]
    preferred = geographic or candidates
    return preferred[0] if preferred else None


def models_current(session: SessionLike, model_ids: Sequence[str], *, catalog: Catalog | None = None) -> Evidence:
    """The check itself (see the module docstring)."""
    catalog = catalog or shipped_catalog()
    region = session.region_name or "?"
    if not model_ids:
        reason = "no configured models to check: pass --env with an environment of cdk.json (make assess ENV=dev)"
        return Evidence("unknown", f"unknown: {reason}", unknown=(reason,))
    bedrock = Api(session, "bedrock")
    failures: list[str] = []
    try:
        profiles = bedrock.items("list_inference_profiles", "inferenceProfileSummaries", typeEquals="SYSTEM_DEFINED")
        profiles_known = True
    except CallFailed as failure:
        failures.append(failure.reason)
        profiles, profiles_known = [], False
    by_id = {str(p.get("inferenceProfileId")): p for p in profiles}
    problems: list[str] = []
    good: list[str] = []
    for model_id in model_ids:
        prefix, base = catalog.split(model_id)
        if prefix is not None and profiles_known:
            profile = by_id.get(model_id)
            if profile is None or profile.get("status", "ACTIVE") != "ACTIVE":
                better = _live_profile_for(base, profiles, region) or catalog.callable_id(base, region)
                state = "is not an inference profile" if profile is None else f"is {profile.get('status')}"
                problems.append(
                    f"{model_id} {state} in {region}" + (f": use {better}" if better and better != model_id else "")
                )
                continue
        try:
            details = bedrock.call("get_foundation_model", modelIdentifier=base).get("modelDetails", {})
        except CallFailed as failure:
            if any(code in failure.reason for code in _NOT_SERVED):
                replacement = catalog.models.get(base)
                use = replacement and replacement.replacement and catalog.callable_id(replacement.replacement, region)
                problems.append(
                    f"{model_id}: Bedrock does not serve {base} in {region} (end of life or not offered)"
                    + (f": use {use}" if use else "")
                )
            else:
                failures.append(failure.reason)
            continue
        status = str((details.get("modelLifecycle") or {}).get("status", "ACTIVE"))
        if status != "ACTIVE":
            entry = catalog.models.get(base)
            use = entry and entry.replacement and catalog.callable_id(entry.replacement, region)
            problems.append(f"{model_id} is {status} on Bedrock in {region}" + (f": use {use}" if use else ""))
            continue
        if prefix is None and "ON_DEMAND" not in (details.get("inferenceTypesSupported") or ["ON_DEMAND"]):
            better = _live_profile_for(base, profiles, region) or catalog.callable_id(base, region)
            problems.append(
                f"{model_id} is served in {region} only through an inference profile"
                + (f": use {better}" if better else "")
            )
            continue
        good.append(f"{model_id} (ACTIVE{', through its inference profile' if prefix else ''})")
    if problems:
        return Evidence(
            "missing",
            f"{len(problems)} configured model(s) will fail on Bedrock in {region}: {'; '.join(problems)}.",
            found=tuple(good),
            unknown=tuple(failures),
            hint="Change llmops.models / llmops.evaluation.judgeModelId in cdk.json as named and redeploy LlmOps",
        )
    if failures:
        return Evidence("unknown", f"unknown: {'; '.join(failures)}", found=tuple(good), unknown=tuple(failures))
    return Evidence(
        "pass",
        f"Every configured model is Active and called the way {region} serves it: {', '.join(good)}.",
        tuple(good),
    )


def models_current_check(model_ids: Sequence[str]) -> Check:
    """The check for these configured models, to add to the checklist."""
    ids = tuple(model_ids)
    return Check(
        CHECK_ID,
        "Are the configured Bedrock models still served (Active) and called through the profile the Region needs?",
        "llmops",
        ("bedrock:ListInferenceProfiles", "bedrock:GetFoundationModel"),
        "LlmOps",
        "the gateway and evaluation models of llmops.models, validated against stacks/bedrock_models.json",
        lambda session: models_current(session, ids),
    )
