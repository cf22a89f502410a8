"""Assertions on the Level 1 stack: the pipeline as reviewed infrastructure, its registry, triggers and alarms."""

from __future__ import annotations

import fnmatch
import hashlib
import json
from typing import Any

import pytest

from emulator.policy_simulation import PolicySimulator
from pipelines.training import images
from tests.infra.conftest import ENV_NAMES

LEVEL1_ENVS = ENV_NAMES  # every environment in cdk.json deploys Level 1


def level1(templates: dict[tuple[str, str], dict[str, Any]], env: str) -> dict[str, Any]:
    return templates[(env, f"Mlops-{env}-Level1Repeatable")]


def one(template: dict[str, Any], cfn_type: str) -> dict[str, Any]:
    (resource,) = [r for r in template["Resources"].values() if r["Type"] == cfn_type]
    return resource


def all_of(template: dict[str, Any], cfn_type: str) -> list[dict[str, Any]]:
    return [r for r in template["Resources"].values() if r["Type"] == cfn_type]


def flatten(value: Any) -> str:
    """A CloudFormation string value with every intrinsic replaced by a readable placeholder."""
    if isinstance(value, str):
        return value
    if isinstance(value, dict) and "Fn::Join" in value:
        separator, parts = value["Fn::Join"]
        return separator.join(flatten(part) for part in parts)
    if isinstance(value, dict) and "Ref" in value:
        return f"<{value['Ref']}>"
    if isinstance(value, dict) and "Fn::GetAtt" in value:
        return "<{}.{}>".format(*value["Fn::GetAtt"])
    if isinstance(value, dict) and "Fn::ImportValue" in value:
        return f"<import {value['Fn::ImportValue']}>"
    raise AssertionError(f"unexpected intrinsic {value!r}")


def definition(templates: dict[tuple[str, str], dict[str, Any]], env: str) -> dict[str, Any]:
    body = one(level1(templates, env), "AWS::SageMaker::Pipeline")["Properties"]["PipelineDefinition"]
    parsed: dict[str, Any] = json.loads(flatten(body["PipelineDefinitionBody"]))
    return parsed


@pytest.mark.parametrize("env", LEVEL1_ENVS)
def test_pipeline_definition_is_in_the_template_with_per_environment_defaults(templates, synthesized, env):
    config = synthesized[env].config
    pipeline = definition(templates, env)
    steps = {step["Name"]: step for step in pipeline["Steps"]}
    # mlflow.enabled: the LogExperimentRun Lambda step right before the condition (tests/infra/test_mlflow_infra.py).
    tracked = ["LogExperimentRun"] if config.mlflow.enabled else []
    if config.training.clarify.enabled:
        assert list(steps) == [
            "Preprocess",
            "DataQualityBaseline",
            "DataBiasCheck",
            "Train",
            "Evaluate",
            "CreateModel",
            "ModelBiasCheck",
            "ExplainabilityCheck",
            "BiasGate",
            *tracked,
            "CheckAucThreshold",
        ]
    else:
        assert list(steps) == ["Preprocess", "DataQualityBaseline", "Train", "Evaluate", *tracked, "CheckAucThreshold"]
    parameters = {p["Name"]: p.get("DefaultValue") for p in pipeline["Parameters"]}
    assert parameters["AucThreshold"] == config.training.auc_threshold
    assert parameters["TrainingInstanceType"] == config.training.training_instance_type
    assert parameters["ProcessingInstanceType"] == config.training.processing_instance_type
    # Training data: the feature groups' offline store (Level 0's ETL job writes the groups), exactly its prefix.
    curated = f"<import Mlops-{env}-Level0Exploration:ExportsOutputRefDataLakeCuratedBucket"
    assert parameters["InputDataUri"].startswith(f"s3://{curated}")
    assert parameters["InputDataUri"].endswith(f">/feature-store/{config.resource_prefix}/")
    arguments = steps["Preprocess"]["Arguments"]["AppSpecification"]["ContainerArguments"]
    assert arguments[:4] == [
        "--features-group",
        f"{config.resource_prefix}-churn-features",
        "--labels-group",
        f"{config.resource_prefix}-churn-labels",
    ]
    train = steps["Train"]["Arguments"]
    assert train["AlgorithmSpecification"]["TrainingImage"] == images.xgboost_image_uri(config.region)


@pytest.mark.parametrize("env", LEVEL1_ENVS)
def test_models_are_registered_pending_approval_with_metrics_and_lineage(templates, env):
    condition = {s["Name"]: s for s in definition(templates, env)["Steps"]}["CheckAucThreshold"]
    (register,) = condition["Arguments"]["IfSteps"]
    (fail,) = condition["Arguments"]["ElseSteps"]
    if register["Name"] == "CheckBiasGate":  # training.clarify.enabled: the bias gate guards registration
        (register,) = register["Arguments"]["IfSteps"]
    assert fail["Type"] == "Fail"
    arguments = register["Arguments"]
    assert arguments["ModelApprovalStatus"] == "PendingManualApproval"
    assert arguments["ModelPackageGroupName"] == f"mlops-{env}-churn"
    assert "ModelQuality" in arguments["ModelMetrics"]
    lineage = arguments["CustomerMetadataProperties"]
    assert set(lineage) >= {"training_data_uri", "code_version", "pipeline_execution_arn"}
    assert lineage["code_version"] == "unknown"  # no -c codeVersion in the tests: deterministic synth


def test_registry_is_readable_by_the_deploying_accounts_only_where_configured(templates, synthesized):
    for env in LEVEL1_ENVS:
        group = one(level1(templates, env), "AWS::SageMaker::ModelPackageGroup")["Properties"]
        readers = synthesized[env].config.training.registry_reader_accounts
        if not readers:
            assert "ModelPackageGroupPolicy" not in group, env
            continue
        (statement,) = group["ModelPackageGroupPolicy"]["Statement"]
        principals = statement["Principal"]["AWS"]
        assert principals == [f"arn:aws:iam::{account}:root" for account in readers]
        assert all(action.startswith(("sagemaker:Describe", "sagemaker:List")) for action in statement["Action"])


@pytest.mark.parametrize("env", LEVEL1_ENVS)
def test_retraining_runs_on_schedule_and_on_new_raw_objects(templates, synthesized, env):
    template = level1(templates, env)
    rules = all_of(template, "AWS::Events::Rule")
    schedules = [r["Properties"]["ScheduleExpression"] for r in rules if "ScheduleExpression" in r["Properties"]]
    assert schedules == [synthesized[env].config.training.schedule]
    (pattern,) = [r["Properties"]["EventPattern"] for r in rules if "EventPattern" in r["Properties"]]
    assert pattern["source"] == ["aws.s3"] and pattern["detail-type"] == ["Object Created"]
    assert pattern["detail"]["object"] == {"key": [{"prefix": "churn/"}]}
    for rule in rules:
        (target,) = rule["Properties"]["Targets"]
        assert target["Arn"] == {"Ref": next(iter(_logical_ids(template, "AWS::StepFunctions::StateMachine")))}
    machine = one(template, "AWS::StepFunctions::StateMachine")["Properties"]
    assert machine["TracingConfiguration"] == {"Enabled": True}
    assert machine["LoggingConfiguration"]["Level"] == "ALL"
    states = flatten(machine["DefinitionString"])
    assert "glue:startJobRun.sync" in states and "sagemaker:startPipelineExecution" in states


@pytest.mark.parametrize("env", LEVEL1_ENVS)
def test_failures_alarm_to_the_environments_encrypted_topic(templates, env):
    # One topic per environment, owned by Level 0, for every level's alarms.
    level0 = templates[(env, f"Mlops-{env}-Level0Exploration")]
    topic = one(level0, "AWS::SNS::Topic")["Properties"]
    assert "KmsMasterKeyId" in topic
    (topic_id,) = _logical_ids(level0, "AWS::SNS::Topic")
    key = next(r for lid, r in level0["Resources"].items() if lid.startswith("AlertsKey"))["Properties"]
    assert key["EnableKeyRotation"] is True
    services: set[str] = set()
    for statement in key["KeyPolicy"]["Statement"]:
        service = statement["Principal"].get("Service", [])
        services |= {service} if isinstance(service, str) else set(service)
    assert "cloudwatch.amazonaws.com" in services  # scoped and proven by tests/infra/test_integrations.py
    alarms = all_of(level1(templates, env), "AWS::CloudWatch::Alarm")
    # The pipeline's failures, the retraining state machine's failed and timed-out executions, and the
    # experiment-tracking function's errors and throttles (stacks/components/observability.py).
    assert {a["Properties"]["MetricName"] for a in alarms} == {
        "ExecutionFailed",
        "ExecutionsFailed",
        "ExecutionsTimedOut",
        "Errors",
        "Throttles",
    }
    for alarm in alarms:
        (action,) = alarm["Properties"]["AlarmActions"]
        assert topic_id in json.dumps(action)  # imported from Level 0


@pytest.mark.parametrize("env", LEVEL1_ENVS)
def test_pipeline_role_passes_only_itself_and_only_to_sagemaker(templates, env):
    template = level1(templates, env)
    role_id = next(
        lid
        for lid, r in template["Resources"].items()
        if lid.startswith("TrainingRole") and r["Type"] == "AWS::IAM::Role"
    )
    policy = next(r for r in all_of(template, "AWS::IAM::Policy") if r["Properties"]["Roles"] == [{"Ref": role_id}])
    (pass_role,) = [s for s in policy["Properties"]["PolicyDocument"]["Statement"] if s["Action"] == "iam:PassRole"]
    assert pass_role["Resource"] == {"Fn::GetAtt": [role_id, "Arn"]}
    assert pass_role["Condition"] == {"StringEquals": {"iam:PassedToService": "sagemaker.amazonaws.com"}}


@pytest.mark.parametrize("env", LEVEL1_ENVS)
def test_pipeline_role_reads_the_offline_store_and_no_other_data(templates, synthesized, env):
    config = synthesized[env].config
    template = level1(templates, env)
    role_id = next(
        lid
        for lid, r in template["Resources"].items()
        if lid.startswith("TrainingRole") and r["Type"] == "AWS::IAM::Role"
    )
    policy = next(r for r in all_of(template, "AWS::IAM::Policy") if r["Properties"]["Roles"] == [{"Ref": role_id}])
    statements = policy["Properties"]["PolicyDocument"]["Statement"]

    def actions(statement: dict[str, Any]) -> list[str]:
        return statement["Action"] if isinstance(statement["Action"], list) else [statement["Action"]]

    curated = f"<import Mlops-{env}-Level0Exploration:ExportsOutputFnGetAttDataLakeCuratedBucket"
    artifacts = f"<import Mlops-{env}-Level0Exploration:ExportsOutputFnGetAttDataLakeArtifactsBucket"
    readable = [s["Resource"] for s in statements if "s3:GetObject" in actions(s)]
    # Not the step scripts' asset objects (a list of exact keys): the data the jobs read.
    data = [flatten(resource) for resource in readable if not isinstance(resource, list)]
    assert len(data) == 2, readable
    offline, pipeline_outputs = sorted(data, key=lambda resource: "training-pipeline" in resource)
    assert offline.startswith(curated) and offline.endswith(f"/feature-store/{config.resource_prefix}/*")
    assert pipeline_outputs.startswith(artifacts) and pipeline_outputs.endswith("/training-pipeline/*")
    listing = [s for s in statements if actions(s) == ["s3:ListBucket"]]
    prefixes = sorted(s["Condition"]["StringLike"]["s3:prefix"][0] for s in listing)
    assert prefixes == [f"feature-store/{config.resource_prefix}/*", "training-pipeline/*"]


def _logical_ids(template: dict[str, Any], cfn_type: str) -> list[str]:
    return [lid for lid, r in template["Resources"].items() if r["Type"] == cfn_type]


# --- the retraining state machine's call to SageMaker, evaluated as Step Functions would -------------

# SageMaker StartPipelineExecution: ClientRequestToken, length 32-128 (API reference).
_TOKEN_LENGTHS = range(32, 129)
_HASHES = {"MD5": "md5", "SHA-1": "sha1", "SHA-256": "sha256", "SHA-384": "sha384", "SHA-512": "sha512"}


def _evaluate(expression: str, context: dict[str, str]) -> str:
    """A payload-template value (a `"<key>.$"` field) as Step Functions evaluates it, for the forms used here:
    a context path (`$$.Execution.Id`) or `States.Hash(<path>, '<algorithm>')`. Anything else raises."""
    expression = expression.strip()
    if expression in context:
        return context[expression]
    if expression.startswith("States.Hash(") and expression.endswith(")"):
        data, _, algorithm = expression.removeprefix("States.Hash(").removesuffix(")").rpartition(",")
        algorithm = algorithm.strip()
        if not (algorithm.startswith("'") and algorithm.endswith("'") and algorithm[1:-1] in _HASHES):
            raise ValueError(f"States.Hash algorithm {algorithm} is not one Step Functions supports")
        return hashlib.new(_HASHES[algorithm[1:-1]], _evaluate(data, context).encode()).hexdigest()
    raise ValueError(f"this evaluator does not understand {expression!r}")


def _start_pipeline_parameters(template: dict[str, Any]) -> dict[str, Any]:
    machine = one(template, "AWS::StepFunctions::StateMachine")["Properties"]
    states = json.loads(flatten(machine["DefinitionString"]))["States"]
    (task,) = [s for s in states.values() if s.get("Resource", "").endswith(":sagemaker:startPipelineExecution")]
    parameters: dict[str, Any] = task["Parameters"]
    return parameters


@pytest.mark.parametrize("env", LEVEL1_ENVS)
def test_retraining_waits_for_the_offline_store_between_the_etl_job_and_the_pipeline(templates, env):
    machine = one(level1(templates, env), "AWS::StepFunctions::StateMachine")["Properties"]
    definition_ = json.loads(flatten(machine["DefinitionString"]))
    states = definition_["States"]
    etl = states[definition_["StartAt"]]
    assert etl["Resource"].endswith(":glue:startJobRun.sync")
    wait = states[etl["Next"]]
    # Feature Store delivers PutRecord to the offline store within 15 minutes; the pipeline reads the offline store.
    assert wait["Type"] == "Wait" and wait["Seconds"] >= 15 * 60
    assert states[wait["Next"]]["Resource"].endswith(":sagemaker:startPipelineExecution")


@pytest.mark.parametrize("env", LEVEL1_ENVS)
def test_the_pipeline_start_token_fits_sagemaker_for_any_execution_name(templates, synthesized, env):
    config = synthesized[env].config
    parameters = _start_pipeline_parameters(level1(templates, env))
    assert "ClientRequestToken" not in parameters, "a literal token would make every execution the same request"
    machine_arn = f"arn:aws:states:{config.region}:{config.account}:stateMachine:RetrainingStateMachine-AbCdEf"

    def token(name: str) -> str:
        execution = {
            "$$.Execution.Name": name,
            "$$.Execution.Id": machine_arn.replace(":stateMachine:", ":execution:") + f":{name}",
        }
        return _evaluate(parameters["ClientRequestToken.$"], execution)

    # Hand-started (`aws stepfunctions start-execution --name retrain-now`), console (a UUID), EventBridge,
    # and the longest name Step Functions allows (80 characters).
    names = ["retrain-now", "1", "0b6f2a54-3e0c-4d7e-9d65-4a8b3f6c2e11", "a" * 80]
    tokens = [token(name) for name in names]
    for name, value in zip(names, tokens, strict=True):
        assert len(value) in _TOKEN_LENGTHS, f"execution {name!r}: token {value!r} has {len(value)} characters"
        assert value == token(name), "a retry of the same execution sends the same token"
    assert len(set(tokens)) == len(tokens), "each execution gets its own token"


# --- registry readers: the model package is not enough, its artifacts must be readable too ----------


def _statements(resource: dict[str, Any]) -> list[dict[str, Any]]:
    props = resource["Properties"]
    document = props.get("PolicyDocument") or props["KeyPolicy"]
    return list(document["Statement"])


def _reader_grants(template: dict[str, Any], config: Any, bucket_id: str) -> tuple[list[Any], list[Any]]:
    """The statements of `bucket_id`'s policy and of its KMS key's policy that name a registry reader."""
    readers = {f"arn:aws:iam::{account}:root" for account in config.training.registry_reader_accounts}
    resources = template["Resources"]
    (policy,) = [
        r
        for r in resources.values()
        if r["Type"] == "AWS::S3::BucketPolicy" and r["Properties"]["Bucket"] == {"Ref": bucket_id}
    ]
    (encryption,) = resources[bucket_id]["Properties"]["BucketEncryption"]["ServerSideEncryptionConfiguration"]
    key_id = encryption["ServerSideEncryptionByDefault"]["KMSMasterKeyID"]["Fn::GetAtt"][0]

    def naming_readers(statements: list[dict[str, Any]]) -> list[dict[str, Any]]:
        found = []
        for statement in statements:
            principals = statement.get("Principal", {})
            aws = principals.get("AWS", []) if isinstance(principals, dict) else []
            named = {json.dumps(p) if not isinstance(p, str) else p for p in (aws if isinstance(aws, list) else [aws])}
            if named & readers:
                assert named == readers, statement
                found.append(statement)
        return found

    return naming_readers(_statements(policy)), naming_readers(_statements(resources[key_id]))


@pytest.mark.parametrize("env", LEVEL1_ENVS)
def test_registry_readers_can_read_the_model_artifacts_and_nothing_else(templates, synthesized, env):
    config = synthesized[env].config
    level0 = templates[(env, f"Mlops-{env}-Level0Exploration")]
    simulator = PolicySimulator(level0, account=config.account, region=config.region)
    (bucket_id,) = [
        lid
        for lid in level0["Resources"]
        if lid.startswith("DataLakeArtifactsBucket") and level0["Resources"][lid]["Type"] == "AWS::S3::Bucket"
    ]
    bucket_statements, key_statements = _reader_grants(level0, config, bucket_id)
    if not config.training.registry_reader_accounts:
        assert not bucket_statements and not key_statements
        return
    bucket_arn = simulator.arn_of(bucket_id)
    # Where the model a version points at is written: s3://<this bucket>/training-pipeline/<execution>/train
    steps = {s["Name"]: s for s in definition(templates, env)["Steps"]}
    output_root = steps["Train"]["Arguments"]["OutputDataConfig"]["S3OutputPath"]["Std:Join"]["Values"][0]
    assert output_root.startswith(f"s3://<import Mlops-{env}-Level0Exploration:ExportsOutputRef{bucket_id}")
    assert output_root.endswith(">/training-pipeline")
    (statement,) = bucket_statements
    assert statement["Effect"] == "Allow" and "Condition" not in statement
    assert sorted(statement["Action"]) == ["s3:GetObject", "s3:GetObjectVersion"]
    (resource,) = [simulator.resolve(statement["Resource"])]
    assert resource == f"{bucket_arn}/training-pipeline/*"
    assert fnmatch.fnmatchcase(f"{bucket_arn}/training-pipeline/run-1/train/output/model.tar.gz", resource)
    assert not fnmatch.fnmatchcase(f"{bucket_arn}/athena-results/q.csv", resource)
    (decrypt,) = key_statements
    assert decrypt["Effect"] == "Allow" and decrypt["Action"] == "kms:Decrypt"
    assert decrypt["Condition"] == {"StringEquals": {"kms:ViaService": f"s3.{config.region}.amazonaws.com"}}
