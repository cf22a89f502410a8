"""The Custom::AWS shim: CDK's AwsCustomResource SDK calls made against the emulator, request by request."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest

from emulator.server import LocalAws
from emulator.shims.mlflow import recorded_app
from emulator.shims.sdk_call import SdkCallError, normalize, run_call
from emulator.tour_mlflow import default_domain_line

REGION = "us-east-1"
ACCOUNT = "123456789012"  # the emulator's account


@pytest.fixture(scope="module")
def aws() -> Iterator[LocalAws]:
    with LocalAws(region=REGION) as local:
        yield local


def _app_stack(name: str) -> dict[str, Any]:
    return {
        "Resources": {
            "App": {
                "Type": "AWS::SageMaker::MlflowApp",
                "Properties": {
                    "Name": name,
                    "ArtifactStoreUri": "s3://artifacts/mlflow/",
                    "RoleArn": f"arn:aws:iam::{ACCOUNT}:role/mlflow",
                },
            }
        },
        "Outputs": {"Arn": {"Value": {"Ref": "App"}}},
    }


def _call(arn: str, domains: list[str], **extra: Any) -> str:
    """The JSON string CDK writes into Create/Update/Delete."""
    return json.dumps(
        {
            "service": "SageMaker",
            "action": "UpdateMlflowApp",
            "parameters": {"Arn": arn, "DefaultDomainIdList": domains},
            **extra,
        }
    )


def _setting_stack(arn: str, domain: str) -> dict[str, Any]:
    """Like Level 0's: set the app's default domain on create/update, clear it on delete."""
    return {
        "Resources": {
            "Setting": {
                "Type": "Custom::AWS",
                "Properties": {
                    "ServiceToken": f"arn:aws:lambda:{REGION}:{ACCOUNT}:function:sdk-calls",
                    "Create": _call(arn, [domain], physicalResourceId={"id": arn}),
                    "Update": _call(arn, [domain], physicalResourceId={"id": arn}),
                    "Delete": _call(arn, [], ignoreErrorCodesMatching="ResourceNotFound"),
                },
            }
        }
    }


def _status(aws: LocalAws, stack: str) -> str:
    return str(aws.client("cloudformation").describe_stacks(StackName=stack)["Stacks"][0]["StackStatus"])


def _tour_outcome(arn: str, domain: str) -> str:
    line = default_domain_line({"MlflowAppArn": arn, "StudioDomainId": domain})
    assert line is not None and line[0] == "Studio domain's default MLflow app" and line[2] == "in-process"
    return line[1]


def test_create_update_and_delete_set_and_clear_the_apps_default_domains(aws: LocalAws) -> None:
    cfn = aws.client("cloudformation")
    cfn.create_stack(StackName="sdk-app", TemplateBody=json.dumps(_app_stack("sdk-app")))
    arn = cfn.describe_stacks(StackName="sdk-app")["Stacks"][0]["Outputs"][0]["OutputValue"]
    app = recorded_app(ACCOUNT, REGION, arn)
    assert app is not None and app.default_domain_ids == []

    cfn.create_stack(StackName="sdk-setting", TemplateBody=json.dumps(_setting_stack(arn, "d-first1")))
    assert _status(aws, "sdk-setting") == "CREATE_COMPLETE"
    assert app.default_domain_ids == ["d-first1"]
    assert _tour_outcome(arn, "d-first1") == "sdk-app is the default for Studio domain(s) d-first1"
    assert _tour_outcome(arn, "d-other") == (
        "sdk-app is the default for Studio domain(s) d-first1 (not this stack's d-other)"
    )
    (resource,) = cfn.describe_stack_resources(StackName="sdk-setting")["StackResources"]
    assert resource["PhysicalResourceId"] == arn  # physicalResourceId.id, as CDK's provider answers

    # Update runs the Update call; the physical id stays, so CloudFormation sends no Delete (no clearing).
    cfn.update_stack(StackName="sdk-setting", TemplateBody=json.dumps(_setting_stack(arn, "d-second2")))
    assert _status(aws, "sdk-setting") == "UPDATE_COMPLETE"
    assert app.default_domain_ids == ["d-second2"]

    cfn.delete_stack(StackName="sdk-setting")
    assert app.default_domain_ids == []  # no domain left pointing at the app
    assert _tour_outcome(arn, "d-second2") == (
        "sdk-app is the default for Studio domain(s) none (not this stack's d-second2)"
    )


def test_the_delete_call_skips_an_app_already_gone_only_when_told_to() -> None:
    gone = f"arn:aws:sagemaker:{REGION}:{ACCOUNT}:mlflow-app/app-gone"
    call = json.loads(_call(gone, []))
    with pytest.raises(SdkCallError) as raised:
        run_call(ACCOUNT, REGION, call)
    assert raised.value.code == "ResourceNotFound"
    assert run_call(ACCOUNT, REGION, {**call, "ignoreErrorCodesMatching": "ResourceNotFound"}) == {}
    # The pattern is tested on the error's code: another pattern does not hide it.
    with pytest.raises(SdkCallError):
        run_call(ACCOUNT, REGION, {**call, "ignoreErrorCodesMatching": "ConflictException"})


def test_bad_parameters_are_refused_as_the_api_would(aws: LocalAws) -> None:
    cfn = aws.client("cloudformation")
    cfn.create_stack(StackName="sdk-bad", TemplateBody=json.dumps(_app_stack("sdk-bad")))
    arn = cfn.describe_stacks(StackName="sdk-bad")["Stacks"][0]["Outputs"][0]["OutputValue"]
    with pytest.raises(SdkCallError, match="not domain ids") as raised:
        run_call(ACCOUNT, REGION, json.loads(_call(arn, ["D-Upper"])))
    assert raised.value.code == "ValidationException"
    missing_arn = {"service": "SageMaker", "action": "UpdateMlflowApp", "parameters": {"DefaultDomainIdList": []}}
    with pytest.raises(SdkCallError, match="Arn"):
        run_call(ACCOUNT, REGION, missing_arn)


def test_a_call_the_emulator_does_not_make_fails_with_its_name() -> None:
    with pytest.raises(NotImplementedError, match="bedrock:PutModelInvocationLoggingConfiguration"):
        run_call(ACCOUNT, REGION, {"service": "bedrock", "action": "PutModelInvocationLoggingConfiguration"})


@pytest.mark.parametrize(
    ("service", "action"),
    [
        ("SageMaker", "updateMlflowApp"),
        ("sagemaker", "UpdateMlflowApp"),
        ("@aws-sdk/client-sagemaker", "UpdateMlflowAppCommand"),
    ],
)
def test_sdk_v2_and_v3_spellings_name_the_same_call(service: str, action: str) -> None:
    assert normalize(service, action) == ("sagemaker", "UpdateMlflowApp")
