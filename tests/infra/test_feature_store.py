"""The churn feature groups (Level 0): defined from pipelines/glue/churn_features.py, encrypted, catalogued,
written by the ETL job with the permissions AWS evaluates."""

from __future__ import annotations

from typing import Any

import pytest

from emulator.policy_simulation import PolicySimulator
from pipelines.glue import churn_features as cf
from stacks.components.feature_store import FEATURE_STORE_GLUE_DATABASE
from tests.infra.conftest import ENV_NAMES

GROUPS = {
    "FeatureStoreChurnFeaturesGroupED136023": cf.CUSTOMER_FEATURES,
    "FeatureStoreChurnLabelsGroupB36E0D4D": cf.CHURN_LABELS,
}
DATA_KEY = "DataKey17AFBB84"
CURATED = "DataLakeCuratedBucketFF1C9EA8"


def _level0(templates: dict[tuple[str, str], dict[str, Any]], env: str) -> dict[str, Any]:
    return templates[(env, f"Mlops-{env}-Level0Exploration")]


def _groups(template: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {lid: r for lid, r in template["Resources"].items() if r["Type"] == "AWS::SageMaker::FeatureGroup"}


@pytest.mark.parametrize("env", ENV_NAMES)
def test_feature_groups_follow_the_one_definition(templates, synthesized, env):
    template = _level0(templates, env)
    groups = _groups(template)
    # Pinned: a renamed logical ID would make CloudFormation replace the group (and orphan its offline data).
    assert set(groups) == set(GROUPS)
    for logical_id, spec in GROUPS.items():
        resource = groups[logical_id]
        props = resource["Properties"]
        assert props["FeatureGroupName"] == f"mlops-{env}-{spec.suffix}"
        assert cf.feature_group_name_error(props["FeatureGroupName"]) is None
        assert props["RecordIdentifierFeatureName"] == cf.RECORD_IDENTIFIER
        assert props["EventTimeFeatureName"] == cf.EVENT_TIME
        assert props["FeatureDefinitions"] == [{"FeatureName": f.name, "FeatureType": f.type} for f in spec.features]
        assert props["ThroughputConfig"] == {"ThroughputMode": "OnDemand"}
        expected_policy = "Retain" if synthesized[env].config.removal_policy == "retain" else "Delete"
        assert resource["DeletionPolicy"] == expected_policy


@pytest.mark.parametrize("env", ENV_NAMES)
def test_offline_store_is_in_the_lake_encrypted_and_catalogued_and_online_store_only_for_features(templates, env):
    for logical_id, resource in _groups(_level0(templates, env)).items():
        props = resource["Properties"]
        offline = props["OfflineStoreConfig"]
        # Feature Store creates the Glue table (sagemaker_featurestore database) that Athena queries.
        assert offline["DisableGlueTableCreation"] is False and "DataCatalogConfig" not in offline
        assert offline["TableFormat"] == "Glue"
        storage = offline["S3StorageConfig"]
        assert storage["KmsKeyId"] == {"Fn::GetAtt": [DATA_KEY, "Arn"]}
        # An s3:// URI (not an ARN, not a bucket name) without a trailing slash: Feature Store appends
        # /<account>/sagemaker/<region>/offline-store/... to it.
        assert storage["S3Uri"] == {"Fn::Join": ["", ["s3://", {"Ref": CURATED}, f"/feature-store/mlops-{env}"]]}
        if GROUPS[logical_id].online:
            assert props["OnlineStoreConfig"] == {
                "EnableOnlineStore": True,
                "SecurityConfig": {"KmsKeyId": {"Fn::GetAtt": [DATA_KEY, "Arn"]}},
            }
        else:
            assert "OnlineStoreConfig" not in props


def _role_of(resource: dict[str, Any]) -> str:
    return resource["Properties"]["RoleArn"]["Fn::GetAtt"][0]


@pytest.mark.parametrize("env", ENV_NAMES)
def test_offline_store_role_may_write_its_prefix_and_table_and_nothing_else(templates, synthesized, env):
    template = _level0(templates, env)
    config = synthesized[env].config
    simulator = PolicySimulator(template, account=config.account, region=config.region)
    (role_id,) = {_role_of(resource) for resource in _groups(template).values()}
    trust = template["Resources"][role_id]["Properties"]["AssumeRolePolicyDocument"]["Statement"]
    assert [s["Principal"] for s in trust] == [{"Service": "sagemaker.amazonaws.com"}]
    bucket = simulator.arn_of(CURATED)
    resolved = f"{bucket}/feature-store/mlops-{env}/{config.account}/sagemaker/{config.region}/offline-store"
    data_object = f"{resolved}/mlops-{env}-churn-features-1764763200/data/year=2026/month=12/day=03/hour=12/x.parquet"
    assert simulator.decide(role_id, "s3:PutObject", data_object).allowed
    assert simulator.decide(role_id, "s3:GetBucketAcl", bucket).allowed
    assert not simulator.decide(role_id, "s3:PutObject", f"{bucket}/churn/part.parquet").allowed
    assert not simulator.decide(role_id, "s3:PutObject", f"{bucket}/feature-store/mlops-other/x").allowed
    catalog = f"arn:aws:glue:{config.region}:{config.account}"
    table = f"{catalog}:table/{FEATURE_STORE_GLUE_DATABASE}/mlops_{env}_churn_features_1"
    assert simulator.decide(role_id, "glue:UpdateTable", table).allowed
    assert not simulator.decide(role_id, "glue:DeleteTable", table).allowed
    key = simulator.arn_of(DATA_KEY)
    assert simulator.decide(role_id, "kms:GenerateDataKey", key).allowed


@pytest.mark.parametrize("env", ENV_NAMES)
def test_etl_job_writes_into_both_groups_with_the_online_stores_key(templates, synthesized, env):
    template = _level0(templates, env)
    config = synthesized[env].config
    (job,) = [r for r in template["Resources"].values() if r["Type"] == "AWS::Glue::Job"]
    arguments = job["Properties"]["DefaultArguments"]
    assert arguments["--FEATURES_GROUP"] == f"mlops-{env}-churn-features"
    assert arguments["--LABELS_GROUP"] == f"mlops-{env}-churn-labels"
    role_id = job["Properties"]["Role"]["Fn::GetAtt"][0]
    simulator = PolicySimulator(template, account=config.account, region=config.region)
    for name in (arguments["--FEATURES_GROUP"], arguments["--LABELS_GROUP"]):
        # The ARN SageMaker evaluates PutRecord against carries the name lower-cased.
        arn = f"arn:aws:sagemaker:{config.region}:{config.account}:feature-group/{name.lower()}"
        assert simulator.decide(role_id, "sagemaker:PutRecord", arn).allowed
        assert not simulator.decide(role_id, "sagemaker:DeleteRecord", arn).allowed
    # PutRecord into a KMS-encrypted online store needs kms:Decrypt on its key.
    assert simulator.decide(role_id, "kms:Decrypt", simulator.arn_of(DATA_KEY)).allowed


@pytest.mark.parametrize("env", ENV_NAMES)
def test_skew_check_runs_on_schedule_reads_both_stores_and_alarms(templates, synthesized, env):
    template = _level0(templates, env)
    config = synthesized[env].config
    settings = config.feature_store
    functions = [
        r
        for r in template["Resources"].values()
        if r["Type"] == "AWS::Lambda::Function"
        and r["Properties"].get("Environment", {}).get("Variables", {}).get("POWERTOOLS_SERVICE_NAME") == "feature-skew"
    ]
    (function,) = functions
    variables = function["Properties"]["Environment"]["Variables"]
    assert variables["FEATURES_GROUP"] == f"mlops-{env}-churn-features"
    assert variables["FEATURES"].split(",") == list(settings.skew_features or cf.MODEL_FEATURES)
    assert variables["SAMPLE_SIZE"] == str(settings.skew_sample_size)
    rules = [r for r in template["Resources"].values() if r["Type"] == "AWS::Events::Rule"]
    assert any(r["Properties"].get("ScheduleExpression") == settings.skew_check_schedule for r in rules)
    (alarm,) = [
        r
        for r in template["Resources"].values()
        if r["Type"] == "AWS::CloudWatch::Alarm" and r["Properties"].get("MetricName") == "FeatureSkewPercent"
    ]
    assert alarm["Properties"]["Namespace"] == "Mlops/FeatureStore"
    assert alarm["Properties"]["Threshold"] == settings.max_skew_percent
    assert alarm["Properties"]["ComparisonOperator"] == "GreaterThanThreshold"
    assert alarm["Properties"]["AlarmActions"], "the skew alarm notifies nobody"

    role_id = function["Properties"]["Role"]["Fn::GetAtt"][0]
    simulator = PolicySimulator(template, account=config.account, region=config.region)
    prefix = f"arn:aws:sagemaker:{config.region}:{config.account}:feature-group"
    assert simulator.decide(role_id, "sagemaker:BatchGetRecord", f"{prefix}/mlops-{env}-churn-features").allowed
    # Labels never reach serving code, the skew check included.
    assert not simulator.decide(role_id, "sagemaker:BatchGetRecord", f"{prefix}/mlops-{env}-churn-labels").allowed
    assert not simulator.decide(role_id, "sagemaker:PutRecord", f"{prefix}/mlops-{env}-churn-features").allowed
    workgroup = f"arn:aws:athena:{config.region}:{config.account}:workgroup/mlops-{env}-exploration"
    assert simulator.decide(role_id, "athena:StartQueryExecution", workgroup).allowed
    bucket = simulator.arn_of(CURATED)
    assert simulator.decide(role_id, "s3:GetObject", f"{bucket}/feature-store/mlops-{env}/x/data/y.parquet").allowed
    assert not simulator.decide(role_id, "s3:GetObject", f"{bucket}/churn/part.parquet").allowed
