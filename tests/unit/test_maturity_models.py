"""`make assess` reads the live lifecycle and inference profiles of the configured Bedrock models (Stubber)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest
from botocore.stub import Stubber

from maturity.aws import CachingSession
from maturity.models import CHECK_ID, configured_models, models_current, models_current_check
from tests.example import EXAMPLE_CDK_JSON

REGION = "eu-west-1"
ACCOUNT = "111111111111"
HAIKU = "anthropic.claude-haiku-4-5-20251001-v1:0"
NOVA = "amazon.nova-lite-v1:0"
OLD = "anthropic.claude-3-haiku-20240307-v1:0"


def profile(profile_id: str, base: str, regions: tuple[str, ...] = ("eu-west-1", "eu-central-1")) -> dict[str, Any]:
    return {
        "inferenceProfileName": profile_id,
        "inferenceProfileArn": f"arn:aws:bedrock:{REGION}:{ACCOUNT}:inference-profile/{profile_id}",
        "inferenceProfileId": profile_id,
        "models": [{"modelArn": f"arn:aws:bedrock:{r}::foundation-model/{base}"} for r in regions],
        "status": "ACTIVE",
        "type": "SYSTEM_DEFINED",
    }


def foundation(base: str, status: str = "ACTIVE", inference: tuple[str, ...] = ("INFERENCE_PROFILE",)) -> dict:
    return {
        "modelDetails": {
            "modelArn": f"arn:aws:bedrock:{REGION}::foundation-model/{base}",
            "modelId": base,
            "modelName": base,
            "providerName": "test",
            "inferenceTypesSupported": list(inference),
            "modelLifecycle": {"status": status},
        }
    }


PROFILES = {
    "inferenceProfileSummaries": [
        profile(f"eu.{NOVA}", NOVA),
        profile(f"global.{HAIKU}", HAIKU, ("eu-west-1", "us-east-1", "ap-northeast-1")),
        profile(f"eu.{HAIKU}", HAIKU),
    ]
}


class StubbedSession:
    """A session whose bedrock client is a Stubber-backed client (no network, request shapes validated)."""

    def __init__(self) -> None:
        self.client_ = boto3.client(
            "bedrock", region_name=REGION, aws_access_key_id="testing", aws_secret_access_key="testing"
        )
        self.stubber = Stubber(self.client_)

    @property
    def region_name(self) -> str:
        return REGION

    def client(self, service_name: str, **_: Any) -> Any:
        assert service_name == "bedrock", f"the model check calls only bedrock, not {service_name}"
        return self.client_


@pytest.fixture
def session() -> Iterator[StubbedSession]:
    stubbed = StubbedSession()
    with stubbed.stubber:
        yield stubbed
        stubbed.stubber.assert_no_pending_responses()


def expect_profiles(session: StubbedSession, response: dict[str, Any] = PROFILES) -> None:
    session.stubber.add_response("list_inference_profiles", response, {"typeEquals": "SYSTEM_DEFINED"})


def expect_model(session: StubbedSession, base: str, response: dict[str, Any]) -> None:
    session.stubber.add_response("get_foundation_model", response, {"modelIdentifier": base})


def test_active_models_called_through_existing_profiles_pass(session):
    expect_profiles(session)
    expect_model(session, HAIKU, foundation(HAIKU))
    expect_model(session, NOVA, foundation(NOVA))

    evidence = models_current(session, [f"global.{HAIKU}", f"eu.{NOVA}"])

    assert evidence.status == "pass"
    assert evidence.found == (
        f"global.{HAIKU} (ACTIVE, through its inference profile)",
        f"eu.{NOVA} (ACTIVE, through its inference profile)",
    )


def test_a_legacy_model_and_a_bare_id_that_needs_a_profile_are_missing_with_what_to_use(session):
    expect_profiles(session)
    expect_model(session, OLD, foundation(OLD, status="LEGACY", inference=("ON_DEMAND",)))
    expect_model(session, NOVA, foundation(NOVA, inference=("INFERENCE_PROFILE",)))

    evidence = models_current(session, [OLD, NOVA])

    assert evidence.status == "missing"
    assert evidence.summary == (
        f"2 configured model(s) will fail on Bedrock in {REGION}: {OLD} is LEGACY on Bedrock in {REGION}: use "
        f"eu.{HAIKU}; {NOVA} is served in {REGION} only through an inference profile: use eu.{NOVA}."
    )
    assert "cdk.json" in (evidence.hint or "")


def test_a_model_past_end_of_life_is_no_longer_found(session):
    expect_profiles(session)
    session.stubber.add_client_error(
        "get_foundation_model",
        service_error_code="ResourceNotFoundException",
        service_message="Model not found",
        http_status_code=404,
        expected_params={"modelIdentifier": OLD},
    )

    evidence = models_current(session, [OLD])

    assert evidence.status == "missing"
    assert f"{OLD}: Bedrock does not serve {OLD} in {REGION} (end of life or not offered): use eu.{HAIKU}" in (
        evidence.summary
    )


def test_a_profile_the_account_does_not_have_is_missing(session):
    expect_profiles(session)

    evidence = models_current(session, [f"us.{NOVA}"])

    assert evidence.status == "missing"
    assert f"us.{NOVA} is not an inference profile in {REGION}: use eu.{NOVA}" in evidence.summary


def test_access_denied_is_unknown_naming_the_action(session):
    session.stubber.add_client_error(
        "list_inference_profiles", service_error_code="AccessDeniedException", http_status_code=403
    )
    session.stubber.add_client_error(
        "get_foundation_model", service_error_code="AccessDeniedException", http_status_code=403
    )

    evidence = models_current(session, [f"eu.{NOVA}"])

    assert evidence.status == "unknown"
    assert evidence.unknown == (
        "access denied to bedrock:ListInferenceProfiles",
        "access denied to bedrock:GetFoundationModel",
    )


def test_the_check_declares_the_read_only_calls_it_makes(session):
    calls: list[str] = []
    session.client_.meta.events.register(
        "before-parameter-build.bedrock.*", lambda model, **_: calls.append(model.name)
    )
    expect_profiles(session)
    expect_model(session, NOVA, foundation(NOVA))
    check = models_current_check([f"eu.{NOVA}"])

    assert check.run(CachingSession(session)).status == "pass"
    assert (check.id, check.level) == (CHECK_ID, "llmops")
    assert {f"bedrock:{name}" for name in calls} == set(check.calls)


def test_configured_models_are_read_from_cdk_json_without_validating(tmp_path: Path):
    cdk_json = tmp_path / "cdk.json"
    cdk_json.write_text(
        json.dumps(
            {
                "context": {
                    "mlops:defaults": {
                        "llmops": {
                            "models": [{"id": OLD}],
                            "evaluation": {"judgeModelId": OLD, "minAccuracy": 0.8},
                        }
                    },
                    "mlops:environments": {
                        "dev": {},
                        "qa": {"llmops": {"models": [{"id": f"eu.{NOVA}"}], "evaluation": {"judgeModelId": HAIKU}}},
                    },
                }
            }
        )
    )

    assert configured_models(cdk_json, "dev") == (OLD,)
    assert configured_models(cdk_json, "qa") == (f"eu.{NOVA}", HAIKU)
    assert configured_models(cdk_json, "prod") is None
    assert configured_models(tmp_path / "missing.json", "dev") is None


def test_without_configured_models_the_check_says_how_to_name_them(session):
    evidence = models_current(session, [])
    assert evidence.status == "unknown" and "make assess ENV=dev" in evidence.summary


def test_make_assess_with_env_adds_the_check_for_that_environments_models(tmp_path, monkeypatch):
    from moto import mock_aws

    from maturity.__main__ import main

    out = tmp_path / "assessment.json"
    for name, value in {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing"}.items():
        monkeypatch.setenv(name, value)
    with mock_aws():
        # The pinned example's dev (tests/example.py), whatever the project's cdk.json holds.
        example = ("--cdk-json", str(EXAMPLE_CDK_JSON))
        assert (
            main(["assess", "--region", REGION, "--env", "dev", *example, "--format", "json", "--output", str(out)])
            == 0
        )
        assert main(["assess", "--region", REGION, "--format", "json", "--output", str(tmp_path / "no-env.json")]) == 0
    checks = {c["id"]: c for c in json.loads(out.read_text())["checks"]}
    assert checks[CHECK_ID]["calls"] == ["bedrock:ListInferenceProfiles", "bedrock:GetFoundationModel"]
    # Without an environment there are no configured models to read: the check is left out.
    assert CHECK_ID not in {c["id"] for c in json.loads((tmp_path / "no-env.json").read_text())["checks"]}
