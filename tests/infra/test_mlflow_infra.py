"""Experiment tracking as deployed: the MLflow app and its role (Level 0), the run-logging step (Level 1)."""

from __future__ import annotations

import copy
import json
from typing import Any

import pytest

from stacks.config import load_environment
from stacks.synth import synthesize
from tests.infra.conftest import CONTEXT, ENV_NAMES
from tests.infra.test_level0_exploration import level0, resources_of
from tests.infra.test_level1_repeatable import definition, flatten, level1


def policy_statements(template: dict[str, Any], role_fragment: str) -> list[dict[str, Any]]:
    found = []
    for resource in resources_of(template, "AWS::IAM::Policy").values():
        roles = [role["Ref"] for role in resource["Properties"]["Roles"]]
        if any(role_fragment in role for role in roles):
            found += resource["Properties"]["PolicyDocument"]["Statement"]
    return found


def as_list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [value]


@pytest.mark.parametrize("env", ENV_NAMES)
def test_the_app_keeps_its_artifacts_under_one_prefix_of_the_data_lake_with_a_role_limited_to_it(
    templates, synthesized, env
):
    config = synthesized[env].config
    if not config.mlflow.enabled:
        pytest.skip("mlflow.enabled is false here")
    template = level0(templates, env)
    ((app_id, app),) = resources_of(template, "AWS::SageMaker::MlflowApp").items()
    properties = app["Properties"]
    assert flatten(properties["ArtifactStoreUri"]) == "s3://<DataLakeArtifactsBucket98FD8488>/mlflow/"
    assert properties["ModelRegistrationMode"] == "AutoModelRegistrationDisabled"
    assert properties["WeeklyMaintenanceWindowStart"] == config.mlflow.weekly_maintenance_window_start
    assert properties["Name"] == f"mlops-{env}-mlflow"
    assert app["DeletionPolicy"] == ("Retain" if config.removal_policy == "retain" else "Delete")
    role_id = properties["RoleArn"]["Fn::GetAtt"][0]
    trust = template["Resources"][role_id]["Properties"]["AssumeRolePolicyDocument"]["Statement"]
    assert trust == [
        {
            "Action": "sts:AssumeRole",
            "Condition": {"StringEquals": {"aws:SourceAccount": config.account}},
            "Effect": "Allow",
            "Principal": {"Service": "sagemaker.amazonaws.com"},
        }
    ]
    statements = policy_statements(template, role_id)
    s3_resources = {flatten(r) for s in statements for r in as_list(s["Resource"]) if "s3:" in str(s["Action"])}
    assert s3_resources == {
        "<DataLakeArtifactsBucket98FD8488.Arn>/mlflow/*",
        "<DataLakeArtifactsBucket98FD8488.Arn>",
    }
    listing = next(s for s in statements if s["Action"] == "s3:ListBucket")
    assert listing["Condition"] == {"StringLike": {"s3:prefix": ["mlflow/*"]}}
    # Studio users reach it: their roles may call it and open its UI, on this app only.
    for role in ("StudioExecutionRole", "StudioDataScientistRole"):
        grants = [s for s in policy_statements(template, role) if "sagemaker:CallMlflowAppApi" in as_list(s["Action"])]
        assert [g["Resource"] for g in grants] == [{"Fn::GetAtt": [app_id, "Arn"]}]
        assert "sagemaker:CreatePresignedMlflowAppUrl" in grants[0]["Action"]


@pytest.mark.parametrize("env", ENV_NAMES)
def test_each_execution_logs_its_run_through_a_function_the_pipeline_may_invoke(templates, synthesized, env):
    if not synthesized[env].config.mlflow.enabled:
        pytest.skip("mlflow.enabled is false here")
    template = level1(templates, env)
    step = next(s for s in definition(templates, env)["Steps"] if s["Name"] == "LogExperimentRun")
    function_id = step["FunctionArn"].strip("<>").removesuffix(".Arn")
    function = template["Resources"][function_id]
    assert function["Type"] == "AWS::Lambda::Function" and "VpcConfig" not in function["Properties"]
    app_arn = function["Properties"]["Environment"]["Variables"]["MLFLOW_APP_ARN"]
    assert "Fn::ImportValue" in app_arn  # Level 0's app
    pipeline_role = next(
        s for s in policy_statements(template, "TrainingRole") if s.get("Sid") == "InvokeExperimentTracking"
    )
    assert pipeline_role["Action"] == "lambda:InvokeFunction"
    assert pipeline_role["Resource"] == {"Fn::GetAtt": [function_id, "Arn"]}
    function_role = function["Properties"]["Role"]["Fn::GetAtt"][0]
    actions = {a for s in policy_statements(template, function_role) for a in as_list(s["Action"])}
    assert "sagemaker:CallMlflowAppApi" in actions
    # Every REST call the function makes, as its granular action too.
    assert {
        "sagemaker-mlflow:GetExperimentByName",
        "sagemaker-mlflow:CreateExperiment",
        "sagemaker-mlflow:SearchRuns",
        "sagemaker-mlflow:CreateRun",
        "sagemaker-mlflow:LogBatch",
        "sagemaker-mlflow:LogInputs",
        "sagemaker-mlflow:UpdateRun",
    } <= actions
    assert not {a for a in actions if a.startswith("s3:") and a not in ("s3:GetObject", "s3:ListBucket")}


def sdk_call(resource: dict[str, Any], request: str) -> dict[str, Any]:
    """The SDK call CDK's AwsCustomResource makes on `request` (Create/Update/Delete), intrinsics as placeholders."""
    parsed: dict[str, Any] = json.loads(flatten(resource["Properties"][request]))
    return parsed


@pytest.mark.parametrize("env", ENV_NAMES)
def test_the_studio_domain_opens_the_app_by_default_and_a_delete_clears_it(templates, synthesized, env):
    if not synthesized[env].config.mlflow.enabled:
        pytest.skip("mlflow.enabled is false here")
    template = level0(templates, env)
    ((app_id, _),) = resources_of(template, "AWS::SageMaker::MlflowApp").items()
    ((domain_id, _),) = resources_of(template, "AWS::SageMaker::Domain").items()
    (setting,) = resources_of(template, "Custom::AWS").values()
    app_arn, domain = f"<{app_id}.Arn>", f"<{domain_id}.DomainId>"
    for request in ("Create", "Update"):
        call = sdk_call(setting, request)
        assert (call["service"], call["action"]) == ("SageMaker", "UpdateMlflowApp")
        assert call["parameters"] == {"Arn": app_arn, "DefaultDomainIdList": [domain]}
        assert "ignoreErrorCodesMatching" not in call  # a failed setting fails the deploy
    delete = sdk_call(setting, "Delete")
    assert (delete["service"], delete["action"]) == ("SageMaker", "UpdateMlflowApp")
    assert delete["parameters"] == {"Arn": app_arn, "DefaultDomainIdList": []}
    # Only an app that is already gone may be skipped: the setting went with it.
    assert delete["ignoreErrorCodesMatching"] == "ResourceNotFound"
    # The function that makes the call may do exactly this, on this app.
    (policy,) = (p for p in resources_of(template, "AWS::IAM::Policy").values() if "UpdateMlflowApp" in json.dumps(p))
    assert policy["Properties"]["PolicyDocument"]["Statement"] == [
        {"Action": "sagemaker:UpdateMlflowApp", "Effect": "Allow", "Resource": {"Fn::GetAtt": [app_id, "Arn"]}}
    ]
    assert setting["DeletionPolicy"] == "Delete"


def test_without_mlflow_there_is_no_app_no_step_and_no_function(tmp_path_factory):
    context = copy.deepcopy(CONTEXT)
    entry = context["mlops:environments"]["preprod"]
    entry["mlflow"] = {"enabled": False}
    entry["maxLevel"] = 1
    entry["llmops"] = {**entry.get("llmops", {}), "enabled": False}
    config = load_environment(context, "preprod")
    synthesized = synthesize(config, context, tmp_path_factory.mktemp("cdk.out-no-mlflow"))
    by_name = {stack.stack_name: synthesized.template(stack) for stack in synthesized.stacks}
    level0_template = by_name["Mlops-preprod-Level0Exploration"]
    level1_template = by_name["Mlops-preprod-Level1Repeatable"]
    assert not resources_of(level0_template, "AWS::SageMaker::MlflowApp")
    assert not resources_of(level0_template, "Custom::AWS")  # nothing to make the domain's default
    assert "MlflowAppArn" not in level0_template.get("Outputs", {})
    assert not resources_of(level1_template, "AWS::Lambda::Function") or all(
        "MLFLOW_APP_ARN" not in str(f) for f in resources_of(level1_template, "AWS::Lambda::Function").values()
    )
    assert "LogExperimentRun" not in str(level1_template)


def test_the_granted_actions_are_the_rest_calls_the_function_makes():
    from emulator.mlflow_local import mlflow_stand_in
    from stacks.components.mlflow_app import LOG_RUN_ACTIONS
    from tests.unit.lambdas_path import use

    use("experiment_tracking")
    import tracking  # the function's module, as its runtime imports it

    arn = "arn:aws:sagemaker:eu-west-1:123456789012:mlflow-app/app-0123456789ab"
    calls: set[str] = set()
    with mlflow_stand_in(arn) as stand_in:
        real = tracking.sigv4_transport(type("C", (), {"get_frozen_credentials": lambda self: _creds()})(), "eu-west-1")

        def recording(method: str, url: str, body: Any, headers: Any) -> Any:
            calls.add(url.split("/api/2.0/mlflow/", 1)[1].split("?", 1)[0])
            return real(method, url, body, headers)

        store = tracking.RestTrackingStore(app_arn=arn, transport=recording, endpoint=stand_in.endpoint)
        record = tracking.RunRecord(
            experiment_name="e",
            run_name="r",
            execution_arn="arn:aws:sagemaker:eu-west-1:123456789012:pipeline/p/execution/x",
            params={"a": "1"},
            metrics={"m": 1.0},
            datasets=(tracking.Dataset("d", "digest", "s3://b/k", "training"),),
        )
        tracking.log_run_once(store, record)
        tracking.log_run_once(store, record)
    action = {
        "experiments/get-by-name": "GetExperimentByName",
        "experiments/create": "CreateExperiment",
        "runs/search": "SearchRuns",
        "runs/create": "CreateRun",
        "runs/log-batch": "LogBatch",
        "runs/log-inputs": "LogInputs",
        "runs/update": "UpdateRun",
    }
    assert {f"sagemaker-mlflow:{action[call]}" for call in calls} == set(LOG_RUN_ACTIONS)


def _creds() -> Any:
    from botocore.credentials import ReadOnlyCredentials

    return ReadOnlyCredentials("AKIDEXAMPLE", "secret", "token")
