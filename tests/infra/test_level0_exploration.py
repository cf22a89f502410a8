"""Fine-grained assertions on the Level 0 stack: what a security reviewer checks, in every environment."""

from __future__ import annotations

import ast
import sys
from pathlib import Path
from typing import Any

import pytest
from aws_cdk.assertions import Match, Template

from emulator.policy_simulation import PolicySimulator
from stacks.components.glue_etl import GLUE_SCRIPTS_DIR
from tests.infra.conftest import ENV_NAMES

KMS_BUCKETS = (
    "DataLakeRawBucket881B694B",
    "DataLakeCuratedBucketFF1C9EA8",
    "DataLakeArtifactsBucket98FD8488",
)
LOG_BUCKET = "DataLakeAccessLogBucketA7BE0281"
ALL_BUCKETS = (*KMS_BUCKETS, LOG_BUCKET)

# Logical IDs of stateful resources. A refactor that changes one of these makes CloudFormation
# replace the resource (and lose its data): change them only on purpose, with a migration.
PINNED_LOGICAL_IDS = {
    "DataKey17AFBB84": "AWS::KMS::Key",
    **dict.fromkeys(ALL_BUCKETS, "AWS::S3::Bucket"),
    "GlueDatabase9B791F76": "AWS::Glue::Database",
    "StudioDomain20F5E462": "AWS::SageMaker::Domain",
    "StudioExplorerProfileDA222682": "AWS::SageMaker::UserProfile",
}


def level0(templates: dict[tuple[str, str], dict[str, Any]], env: str) -> dict[str, Any]:
    return templates[(env, f"Mlops-{env}-Level0Exploration")]


def resources_of(template: dict[str, Any], cfn_type: str) -> dict[str, dict[str, Any]]:
    return {lid: r for lid, r in template["Resources"].items() if r["Type"] == cfn_type}


@pytest.mark.parametrize("env", ENV_NAMES)
def test_stateful_resources_keep_their_logical_ids(templates, env):
    resources = level0(templates, env)["Resources"]
    for logical_id, cfn_type in PINNED_LOGICAL_IDS.items():
        assert logical_id in resources, f"{logical_id} ({cfn_type}) was renamed: CloudFormation would replace it"
        assert resources[logical_id]["Type"] == cfn_type


@pytest.mark.parametrize("env", ENV_NAMES)
def test_buckets_are_versioned_private_and_encrypted(templates, env):
    buckets = resources_of(level0(templates, env), "AWS::S3::Bucket")
    assert set(ALL_BUCKETS) <= set(buckets)
    for logical_id in ALL_BUCKETS:
        props = buckets[logical_id]["Properties"]
        assert props["VersioningConfiguration"] == {"Status": "Enabled"}, logical_id
        assert props["PublicAccessBlockConfiguration"] == {
            "BlockPublicAcls": True,
            "BlockPublicPolicy": True,
            "IgnorePublicAcls": True,
            "RestrictPublicBuckets": True,
        }, logical_id
        assert props["OwnershipControls"]["Rules"] == [{"ObjectOwnership": "BucketOwnerEnforced"}]
        assert props["LifecycleConfiguration"]["Rules"], f"{logical_id} has no lifecycle rules"
        assert any("NoncurrentVersionExpiration" in rule for rule in props["LifecycleConfiguration"]["Rules"])


@pytest.mark.parametrize("env", ENV_NAMES)
def test_data_buckets_use_the_data_key_and_log_their_access(templates, env):
    buckets = resources_of(level0(templates, env), "AWS::S3::Bucket")
    for logical_id in KMS_BUCKETS:
        props = buckets[logical_id]["Properties"]
        (rule,) = props["BucketEncryption"]["ServerSideEncryptionConfiguration"]
        assert rule["ServerSideEncryptionByDefault"] == {
            "SSEAlgorithm": "aws:kms",
            "KMSMasterKeyID": {"Fn::GetAtt": ["DataKey17AFBB84", "Arn"]},
        }
        assert rule["BucketKeyEnabled"] is True
        assert props["LoggingConfiguration"]["DestinationBucketName"] == {"Ref": LOG_BUCKET}


@pytest.mark.parametrize("env", ENV_NAMES)
def test_access_log_bucket_uses_sse_s3_because_s3_logging_cannot_deliver_to_kms(templates, env):
    props = resources_of(level0(templates, env), "AWS::S3::Bucket")[LOG_BUCKET]["Properties"]
    (rule,) = props["BucketEncryption"]["ServerSideEncryptionConfiguration"]
    assert rule["ServerSideEncryptionByDefault"] == {"SSEAlgorithm": "AES256"}


@pytest.mark.parametrize("env", ENV_NAMES)
def test_every_bucket_denies_plain_http_and_old_tls(templates, env):
    template = level0(templates, env)
    policies = {
        p["Properties"]["Bucket"]["Ref"]: p["Properties"]["PolicyDocument"]["Statement"]
        for p in resources_of(template, "AWS::S3::BucketPolicy").values()
    }
    assert set(policies) == set(ALL_BUCKETS)
    for bucket, statements in policies.items():
        denies = [s for s in statements if s["Effect"] == "Deny"]
        assert any(s["Condition"] == {"Bool": {"aws:SecureTransport": "false"}} for s in denies), bucket
        assert any(s["Condition"] == {"NumericLessThan": {"s3:TlsVersion": 1.2}} for s in denies), bucket


@pytest.mark.parametrize("env", ENV_NAMES)
def test_raw_data_ages_into_cheaper_storage(templates, env):
    rules = resources_of(level0(templates, env), "AWS::S3::Bucket")[KMS_BUCKETS[0]]["Properties"][
        "LifecycleConfiguration"
    ]["Rules"]
    transitions = [t["StorageClass"] for rule in rules for t in rule.get("Transitions", [])]
    assert transitions == ["STANDARD_IA", "GLACIER_IR"]


def test_prod_retains_data_and_other_environments_do_not(templates):
    for env in ENV_NAMES:
        template = level0(templates, env)
        stateful = [
            *ALL_BUCKETS,
            "DataKey17AFBB84",
            "StudioDomain20F5E462",
        ]
        expected = "Retain" if env == "prod" else "Delete"
        for logical_id in stateful:
            resource = template["Resources"][logical_id]
            assert resource["DeletionPolicy"] == expected, f"{env}: {logical_id}"
            assert resource["UpdateReplacePolicy"] == expected, f"{env}: {logical_id}"
        auto_delete = resources_of(template, "Custom::S3AutoDeleteObjects")
        # Only dev and preprod ask for auto-emptying; prod retains, local cannot run the custom resource.
        assert len(auto_delete) == (4 if env in ("dev", "preprod") else 0), env


@pytest.mark.parametrize("env", ENV_NAMES)
def test_raw_bucket_sends_object_events_to_eventbridge_without_a_custom_resource(templates, env):
    template = level0(templates, env)
    raw = template["Resources"][KMS_BUCKETS[0]]["Properties"]
    assert raw["NotificationConfiguration"] == {"EventBridgeConfiguration": {"EventBridgeEnabled": True}}
    assert resources_of(template, "Custom::S3BucketNotifications") == {}


@pytest.mark.parametrize("env", ENV_NAMES)
def test_data_key_rotates(templates, env):
    key = level0(templates, env)["Resources"]["DataKey17AFBB84"]["Properties"]
    assert key["EnableKeyRotation"] is True


@pytest.mark.parametrize("env", ENV_NAMES)
def test_glue_encrypts_everything_it_writes_with_the_data_key(templates, env):
    template = Template.from_json(level0(templates, env))
    key_arn = {"Fn::GetAtt": ["DataKey17AFBB84", "Arn"]}
    template.has_resource_properties(
        "AWS::Glue::SecurityConfiguration",
        {
            "EncryptionConfiguration": {
                "S3Encryptions": [{"S3EncryptionMode": "SSE-KMS", "KmsKeyArn": key_arn}],
                "CloudWatchEncryption": {"CloudWatchEncryptionMode": "SSE-KMS", "KmsKeyArn": key_arn},
                "JobBookmarksEncryption": {"JobBookmarksEncryptionMode": "CSE-KMS", "KmsKeyArn": key_arn},
            }
        },
    )
    security_configuration = {"Ref": "GlueSecurityConfiguration67E00849"}
    template.has_resource_properties("AWS::Glue::Crawler", {"CrawlerSecurityConfiguration": security_configuration})
    template.has_resource_properties(
        "AWS::Glue::Job",
        {
            "GlueVersion": "5.0",
            "Command": {"Name": "glueetl", "PythonVersion": "3"},
            "SecurityConfiguration": security_configuration,
            "DefaultArguments": Match.object_like({"--extra-py-files": Match.string_like_regexp(r"^s3://.*\.zip$")}),
        },
    )


# What Glue's own image provides to a job script (Glue 5.0 ships the AWS SDK for Python); everything else must
# come with the job.
GLUE_RUNTIME_PACKAGES = {"awsglue", "pyspark", "boto3", "botocore"}


def _imported_top_level_names(path: Path) -> set[str]:
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            names |= {alias.name.split(".")[0] for alias in node.names}
        elif isinstance(node, ast.ImportFrom):
            assert node.level == 0, f"{path.name}: a relative import cannot work in a Glue job"
            names.add(str(node.module).split(".")[0])
    return names


def _job_module_files(script: Path) -> set[str]:
    """The files of pipelines/glue that `script` imports, directly or through each other, as top-level modules."""
    needed: set[str] = set()
    pending = [script]
    while pending:
        for name in _imported_top_level_names(pending.pop()):
            module = GLUE_SCRIPTS_DIR / f"{name}.py"
            if module.is_file() and module.name not in needed:
                needed.add(module.name)
                pending.append(module)
            elif not module.is_file():
                assert name in sys.stdlib_module_names or name in GLUE_RUNTIME_PACKAGES or name == "__future__", (
                    f"{script.name} imports {name}, which neither Glue nor the job provides"
                )
    return needed


@pytest.mark.parametrize("env", ENV_NAMES)
def test_glue_job_ships_the_modules_its_script_imports_under_their_own_names(templates, synthesized, env):
    (job,) = resources_of(level0(templates, env), "AWS::Glue::Job").values()
    entries = job["Properties"]["DefaultArguments"]["--extra-py-files"].split(",")
    # Glue imports a .py entry by its S3 file name, which for a CDK file asset is `<sha256>.py`: only an archive
    # keeps the module names (its root goes on the Python path).
    assert all(entry.endswith(".zip") for entry in entries), f"not shipped as a zip: {entries}"
    shipped: set[str] = set()
    for entry in entries:
        staged = synthesized[env].outdir / f"asset.{entry.rsplit('/', 1)[-1].removesuffix('.zip')}"
        assert staged.is_dir(), f"{entry}: no staged folder {staged.name} in cdk.out"
        shipped |= {path.name for path in staged.iterdir()}
    # Exactly what the script needs, at the zip's root: not the script itself, the sample data or caches.
    assert shipped == _job_module_files(GLUE_SCRIPTS_DIR / "etl_job.py")


@pytest.mark.parametrize("env", ENV_NAMES)
def test_glue_job_may_publish_its_metrics_to_the_glue_namespace_only(templates, synthesized, env):
    template = level0(templates, env)
    config = synthesized[env].config
    (job,) = resources_of(template, "AWS::Glue::Job").values()
    assert job["Properties"]["DefaultArguments"]["--enable-metrics"] == "true"
    role_id = job["Properties"]["Role"]["Fn::GetAtt"][0]
    simulator = PolicySimulator(template, account=config.account, region=config.region)

    def put_metric_data(namespace: str) -> Any:
        return simulator.decide(role_id, "cloudwatch:PutMetricData", "*", {"cloudwatch:namespace": namespace})

    # --enable-metrics publishes to CloudWatch's "Glue" namespace under the job's role.
    assert put_metric_data("Glue").allowed, put_metric_data("Glue").why
    assert not put_metric_data("AWS/Glue").allowed
    assert not put_metric_data("Mlops/Gateway").allowed


def test_crawler_schedule_and_job_capacity_come_from_config(templates, synthesized):
    for env in ENV_NAMES:
        config = synthesized[env].config
        template = level0(templates, env)
        (crawler,) = resources_of(template, "AWS::Glue::Crawler").values()
        assert crawler["Properties"]["Schedule"]["ScheduleExpression"] == config.glue.crawler_schedule
        (job,) = resources_of(template, "AWS::Glue::Job").values()
        assert job["Properties"]["NumberOfWorkers"] == config.glue.etl_number_of_workers
        assert job["Properties"]["WorkerType"] == config.glue.etl_worker_type


def test_athena_workgroup_enforces_encryption_cutoff_and_engine_v3(templates, synthesized):
    for env in ENV_NAMES:
        (workgroup,) = resources_of(level0(templates, env), "AWS::Athena::WorkGroup").values()
        wg = workgroup["Properties"]["WorkGroupConfiguration"]
        assert wg["EnforceWorkGroupConfiguration"] is True
        assert wg["BytesScannedCutoffPerQuery"] == synthesized[env].config.athena.bytes_scanned_cutoff_per_query
        assert wg["EngineVersion"] == {"SelectedEngineVersion": "Athena engine version 3"}
        assert wg["ResultConfiguration"]["EncryptionConfiguration"] == {
            "EncryptionOption": "SSE_KMS",
            "KmsKey": {"Fn::GetAtt": ["DataKey17AFBB84", "Arn"]},
        }


@pytest.mark.parametrize("env", ENV_NAMES)
def test_studio_runs_in_isolated_subnets_without_idle_network_cost(templates, env, synthesized):
    template = level0(templates, env)
    assert resources_of(template, "AWS::EC2::NatGateway") == {}
    assert resources_of(template, "AWS::EC2::InternetGateway") == {}
    assert len(resources_of(template, "AWS::EC2::FlowLog")) == 1
    endpoints = resources_of(template, "AWS::EC2::VPCEndpoint").values()
    interface = [e for e in endpoints if e["Properties"].get("VpcEndpointType") == "Interface"]
    network = synthesized[env].config.studio.network_access
    # Interface endpoints cost money every hour: only where Studio is VpcOnly.
    assert (len(interface) > 0) == (network == "VpcOnly"), env
    (domain,) = resources_of(template, "AWS::SageMaker::Domain").values()
    assert domain["Properties"]["AuthMode"] == "IAM"
    assert domain["Properties"]["AppNetworkAccessType"] == network
    assert domain["Properties"]["KmsKeyId"] == {"Fn::GetAtt": ["DataKey17AFBB84", "Arn"]}


@pytest.mark.parametrize("env", ENV_NAMES)
def test_only_the_configured_data_scientists_assume_the_data_scientist_role(templates, synthesized, env):
    config = synthesized[env].config
    template = level0(templates, env)
    (role,) = [
        r for lid, r in resources_of(template, "AWS::IAM::Role").items() if lid.startswith("StudioDataScientistRole")
    ]
    statements = role["Properties"]["AssumeRolePolicyDocument"]["Statement"]
    assert len(statements) == len(config.studio.data_scientists)
    for statement, member in zip(statements, config.studio.data_scientists, strict=True):
        assert statement["Action"] == "sts:AssumeRole"
        if member.startswith("sso:"):
            # The account, but only its Identity Center role of that permission set: never the bare root.
            name = member.removeprefix("sso:")
            assert statement.get("Condition") == {
                "ArnLike": {
                    "aws:PrincipalArn": f"arn:aws:iam::{config.account}:role/aws-reserved/sso.amazonaws.com/"
                    f"*AWSReservedSSO_{name}_*"
                }
            }
        else:
            assert statement["Principal"] == {"AWS": member} and "Condition" not in statement
