"""The emulator's Glue runner: the deployed script, with --extra-py-files as Glue names them, against moto.

The job definition has the shape the emulator's Glue holds after a deploy; the artifacts are uploaded the
way the CDK CLI publishes them (a file asset under ``<sha256>.py``, a folder asset as ``<sha256>.zip``).
"""

from __future__ import annotations

import hashlib
import io
import json
import sys
import zipfile
from collections.abc import Iterator
from typing import Any

import boto3
import pyarrow.parquet as pq
import pytest
from moto import mock_aws

from emulator import feature_store
from emulator.glue_runner import GlueJobRunError, run_deployed_job, run_job
from pipelines.glue import churn_features
from stacks.components.glue_etl import GLUE_SCRIPTS_DIR, JOB_MODULES

REGION = "us-east-1"
ASSETS, RAW, CURATED = "cdk-assets", "raw", "curated"
KEY_ARN = f"arn:aws:kms:{REGION}:123456789012:key/data"
SAMPLE = GLUE_SCRIPTS_DIR / "sample" / "customers.csv"
SAMPLE_COUNTS = "input_rows=400 curated_records=393 rejected=5 duplicates=2"


def _asset_key(body: bytes, suffix: str) -> str:
    return hashlib.sha256(body).hexdigest() + suffix


def _modules_zip() -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        for module in JOB_MODULES:
            archive.write(GLUE_SCRIPTS_DIR / module, module)
    return buffer.getvalue()


FEATURES_GROUP, LABELS_GROUP = "lake-churn-features", "lake-churn-labels"


def create_feature_groups(sagemaker: Any) -> None:
    """The two feature groups as CloudFormation creates them (the shim's path: moto's group, online store on)."""
    from moto.core import DEFAULT_ACCOUNT_ID
    from moto.sagemaker.models import sagemaker_backends

    for name, spec in ((FEATURES_GROUP, churn_features.CUSTOMER_FEATURES), (LABELS_GROUP, churn_features.CHURN_LABELS)):
        arn = sagemaker.create_feature_group(
            FeatureGroupName=name,
            RecordIdentifierFeatureName=churn_features.RECORD_IDENTIFIER,
            EventTimeFeatureName=churn_features.EVENT_TIME,
            FeatureDefinitions=[{"FeatureName": f.name, "FeatureType": f.type} for f in spec.features],
            OfflineStoreConfig={"S3StorageConfig": {"S3Uri": f"s3://{CURATED}/feature-store"}},
            RoleArn="arn:aws:iam::123456789012:role/offline-store",
        )["FeatureGroupArn"]
        # moto's CreateFeatureGroup drops OnlineStoreConfig; the CloudFormation shim keeps it like this.
        group = sagemaker_backends[DEFAULT_ACCOUNT_ID][REGION].feature_groups[arn]
        group.online_store_config = {"EnableOnlineStore": spec.online}


@pytest.fixture
def aws() -> Iterator[tuple[Any, Any]]:
    feature_store.apply()
    feature_store.reset()
    with mock_aws():
        s3 = boto3.client("s3", region_name=REGION)
        glue = boto3.client("glue", region_name=REGION)
        for bucket in (ASSETS, RAW, CURATED):
            s3.create_bucket(Bucket=bucket)
        s3.put_object(Bucket=RAW, Key="churn/customers.csv", Body=SAMPLE.read_bytes())
        create_feature_groups(boto3.client("sagemaker", region_name=REGION))
        yield s3, glue


def _deploy(s3: Any, glue: Any, *, layout: str, **overrides: str) -> str:
    """Upload the artifacts as the CDK CLI publishes them and create the job as CloudFormation does."""
    script = (GLUE_SCRIPTS_DIR / "etl_job.py").read_bytes()
    script_key = _asset_key(script, ".py")
    s3.put_object(Bucket=ASSETS, Key=script_key, Body=script)
    if layout == "file asset":  # the layout before the fix: one .py asset, named after its hash
        module = (GLUE_SCRIPTS_DIR / "churn_transform.py").read_bytes()
        modules_key = _asset_key(module, ".py")
        s3.put_object(Bucket=ASSETS, Key=modules_key, Body=module)
    else:
        archive = _modules_zip()
        modules_key = _asset_key(archive, ".zip")
        s3.put_object(Bucket=ASSETS, Key=modules_key, Body=archive)
    glue.create_security_configuration(
        Name="lake",
        EncryptionConfiguration={"S3Encryption": [{"S3EncryptionMode": "SSE-KMS", "KmsKeyArn": KEY_ARN}]},
    )
    arguments = {
        "--extra-py-files": f"s3://{ASSETS}/{modules_key}",
        "--RAW_PATH": f"s3://{RAW}/churn/",
        "--CURATED_PATH": f"s3://{CURATED}/churn/",
        "--REJECTS_PATH": f"s3://{CURATED}/rejects/churn/",
        "--FEATURES_GROUP": FEATURES_GROUP,
        "--LABELS_GROUP": LABELS_GROUP,
        "--FEATURE_STORE": "write",
        "--job-bookmark-option": "job-bookmark-disable",
        "--enable-metrics": "true",
        **overrides,
    }
    glue.create_job(
        Name="etl",
        Role="arn:aws:iam::123456789012:role/etl",
        Command={"Name": "glueetl", "ScriptLocation": f"s3://{ASSETS}/{script_key}", "PythonVersion": "3"},
        DefaultArguments={k: v for k, v in arguments.items() if v},
        GlueVersion="5.0",
        SecurityConfiguration="lake",
    )
    return modules_key


def _keys(s3: Any, bucket: str, prefix: str) -> list[str]:
    return sorted(o["Key"] for o in s3.list_objects_v2(Bucket=bucket, Prefix=prefix).get("Contents", []))


def test_a_module_shipped_as_a_cdk_file_asset_is_not_importable_under_its_name(aws):
    s3, glue = aws
    modules_key = _deploy(s3, glue, layout="file asset")
    with pytest.raises(GlueJobRunError, match=r"No module named 'churn_(features|transform)'") as raised:
        run_deployed_job(glue, s3, "etl", run_id="jr_1")
    assert isinstance(raised.value.__cause__, ImportError)
    # The message says what Glue made of the entry: a module named after the hash, if anything.
    assert f"{modules_key} as module {modules_key.removesuffix('.py')}" in str(raised.value)
    assert _keys(s3, CURATED, "") == []


def test_the_repository_copy_of_the_module_is_not_on_the_jobs_path(aws, monkeypatch):
    # Even with churn_transform importable in this process (top-level, as the job imports it), the job
    # sees only what it ships.
    monkeypatch.syspath_prepend(str(GLUE_SCRIPTS_DIR))
    import churn_transform  # noqa: F401 - loaded on purpose, under the name the job imports

    s3, glue = aws
    _deploy(s3, glue, layout="file asset")
    with pytest.raises(GlueJobRunError, match=r"No module named 'churn_(features|transform)'"):
        run_deployed_job(glue, s3, "etl", run_id="jr_1")
    assert "churn_transform" in sys.modules  # the runner restores what it hid
    sys.modules.pop("churn_transform")


def test_the_modules_zip_runs_the_sample_like_glue(aws):
    s3, glue = aws
    path_before, modules_before = list(sys.path), set(sys.modules)
    _deploy(s3, glue, layout="zip")
    result = run_deployed_job(glue, s3, "etl", run_id="jr_1")

    assert any(SAMPLE_COUNTS in line for line in result.log), result.log
    assert result.importable().endswith(".zip with churn_features, churn_transform at its root")
    assert result.argv[:6] == ["--JOB_ID", "j_etl", "--JOB_RUN_ID", "jr_1", "--JOB_NAME", "etl"]
    curated = _keys(s3, CURATED, "churn/")
    parquet = [key for key in curated if key.endswith(".snappy.parquet")]
    assert "churn/_SUCCESS" in curated and parquet
    assert all(key.split("/")[1].startswith("signup_year=") for key in parquet)
    head = s3.head_object(Bucket=CURATED, Key=parquet[0])
    assert head["ServerSideEncryption"] == "aws:kms" and head["SSEKMSKeyId"] == KEY_ARN
    table = pq.read_table(io.BytesIO(s3.get_object(Bucket=CURATED, Key=parquet[0])["Body"].read()))
    assert "customer_id" in table.column_names and "signup_year" not in table.column_names
    assert (
        sum(
            pq.read_metadata(io.BytesIO(s3.get_object(Bucket=CURATED, Key=key)["Body"].read())).num_rows
            for key in parquet
        )
        == 393
    )
    (rejects_key,) = [key for key in _keys(s3, CURATED, "rejects/churn/") if key.endswith(".json")]
    rejects = s3.get_object(Bucket=CURATED, Key=rejects_key)["Body"].read().decode().splitlines()
    assert len(rejects) == 5 and all("reason" in json.loads(line) for line in rejects)
    # Nothing of the job stays behind in this interpreter.
    assert sys.path == path_before
    job_modules = {"churn_transform", "churn_features", "pyspark", "awsglue", "glue_local_runtime"}
    assert not job_modules & (set(sys.modules) - modules_before)


def test_the_job_writes_every_curated_customer_into_both_feature_groups(aws):
    s3, glue = aws
    _deploy(s3, glue, layout="zip")
    result = run_deployed_job(glue, s3, "etl", run_id="jr_1")
    assert any("feature store: ingested=393 records" in line for line in result.log), result.log

    runtime = boto3.client("sagemaker-featurestore-runtime", region_name=REGION)
    record = churn_features.from_record(
        runtime.get_record(FeatureGroupName=FEATURES_GROUP, RecordIdentifierValueAsString="CUST-00001")["Record"]
    )
    assert set(record) == {f.name for f in churn_features.CUSTOMER_FEATURES.features}
    # The label group has no online store: serving cannot read labels.
    with pytest.raises(runtime.exceptions.ClientError, match="no online store"):
        runtime.get_record(FeatureGroupName=LABELS_GROUP, RecordIdentifierValueAsString="CUST-00001")

    sagemaker = boto3.client("sagemaker", region_name=REGION)
    rows = []
    for name in (FEATURES_GROUP, LABELS_GROUP):
        uri = sagemaker.describe_feature_group(FeatureGroupName=name)["OfflineStoreConfig"]["S3StorageConfig"][
            "ResolvedOutputS3Uri"
        ]
        prefix = uri.removeprefix(f"s3://{CURATED}/") + "/"
        keys = [key for key in _keys(s3, CURATED, prefix) if key.endswith(".parquet")]
        tables = [pq.read_table(io.BytesIO(s3.get_object(Bucket=CURATED, Key=key)["Body"].read())) for key in keys]
        rows.append([row for table in tables for row in table.to_pylist()])
    features, labels = rows
    assert len(features) == len(labels) == 393
    training = churn_features.point_in_time_join(labels, features)
    assert len(training.rows) == 393 and training.labels_without_features == 0
    online_row = next(row for row in features if row["customer_id"] == "CUST-00001")
    assert churn_features.compare_records(record, online_row, churn_features.MODEL_FEATURES) == []


def test_a_run_told_to_skip_the_feature_store_writes_no_record(aws):
    s3, glue = aws
    _deploy(s3, glue, layout="zip")
    result = run_deployed_job(glue, s3, "etl", run_id="jr_1", arguments={"--FEATURE_STORE": "skip"})
    assert any("feature store: skipped" in line for line in result.log), result.log
    assert _keys(s3, CURATED, "churn/"), "the curated table is still written"
    runtime = boto3.client("sagemaker-featurestore-runtime", region_name=REGION)
    # GetRecord answers a record it does not hold without a Record (not an error).
    answer = runtime.get_record(FeatureGroupName=FEATURES_GROUP, RecordIdentifierValueAsString="CUST-00001")
    assert "Record" not in answer, answer


@pytest.mark.parametrize("value", ["Skip", "skip\n", "no", "write "])
def test_an_unknown_feature_store_mode_stops_the_job_before_any_write(aws, value):
    s3, glue = aws
    _deploy(s3, glue, layout="zip")
    with pytest.raises(GlueJobRunError, match="--FEATURE_STORE must be 'write' or 'skip'"):
        run_deployed_job(glue, s3, "etl", run_id="jr_1", arguments={"--FEATURE_STORE": value})
    assert not _keys(s3, CURATED, "churn/")


def test_dynamic_partition_overwrite_keeps_partitions_the_run_does_not_write(aws):
    s3, glue = aws
    _deploy(s3, glue, layout="zip")
    s3.put_object(Bucket=CURATED, Key="churn/signup_year=1999/signup_month=1/part-old.parquet", Body=b"history")
    run_deployed_job(glue, s3, "etl", run_id="jr_1")
    first = set(_keys(s3, CURATED, "churn/signup_year=2"))
    run_deployed_job(glue, s3, "etl", run_id="jr_2")
    assert "churn/signup_year=1999/signup_month=1/part-old.parquet" in _keys(s3, CURATED, "churn/")
    assert not first & set(_keys(s3, CURATED, "churn/signup_year=2")), "a rewritten partition kept its old files"


def test_run_arguments_override_the_jobs_default_arguments(aws):
    s3, glue = aws
    _deploy(s3, glue, layout="zip")
    with pytest.raises(GlueJobRunError, match=r"Path does not exist: s3://raw/elsewhere/"):
        run_deployed_job(glue, s3, "etl", run_id="jr_1", arguments={"--RAW_PATH": "s3://raw/elsewhere/"})


def test_a_missing_job_argument_is_named(aws):
    s3, glue = aws
    _deploy(s3, glue, layout="zip", **{"--REJECTS_PATH": ""})
    with pytest.raises(GlueJobRunError, match=r"--REJECTS_PATH"):
        run_deployed_job(glue, s3, "etl", run_id="jr_1")


@pytest.mark.parametrize(
    ("entry", "message"),
    [
        ("s3://cdk-assets/modules.txt", "neither a .py file nor a .zip/.egg archive"),
        ("https://example.com/modules.zip", "is not an s3://bucket/key URI"),
        ("s3://cdk-assets/", "is not an s3://bucket/key URI"),
        ("s3://cdk-assets/absent.zip", "cannot download s3://cdk-assets/absent.zip"),
    ],
)
def test_bad_extra_py_files_entries_are_named(aws, entry, message):
    s3, glue = aws
    _deploy(s3, glue, layout="zip", **{"--extra-py-files": entry})
    with pytest.raises(GlueJobRunError, match=message):
        run_deployed_job(glue, s3, "etl", run_id="jr_1")


def test_a_py_file_that_is_not_a_zip_under_a_zip_name_is_refused(aws):
    s3, glue = aws
    s3.put_object(Bucket=ASSETS, Key="fake.zip", Body=b"print('not a zip')\n")
    _deploy(s3, glue, layout="zip", **{"--extra-py-files": "s3://cdk-assets/fake.zip"})
    with pytest.raises(GlueJobRunError, match="is not a zip archive"):
        run_deployed_job(glue, s3, "etl", run_id="jr_1")


def test_only_spark_jobs_run(aws):
    s3, _glue = aws
    job = {"Name": "shell", "Command": {"Name": "pythonshell", "ScriptLocation": "s3://cdk-assets/x.py"}}
    with pytest.raises(GlueJobRunError, match="only glueetl jobs"):
        run_job(job, s3, run_id="jr_1")


def _run_script(s3: Any, script: str) -> Any:
    s3.put_object(Bucket=ASSETS, Key="job.py", Body=script.encode())
    job = {
        "Name": "probe",
        "Command": {"Name": "glueetl", "ScriptLocation": f"s3://{ASSETS}/job.py"},
        "DefaultArguments": {"--RAW_PATH": f"s3://{RAW}/probe/"},
    }
    return run_job(job, s3, run_id="jr_probe")


def test_the_spark_stand_in_reads_csv_as_spark_does(aws):
    s3, _glue = aws
    s3.put_object(Bucket=RAW, Key="probe/a.csv", Body=b"id,name\n1,\n")
    # Spark takes the header of the first file and maps later files by position (enforceSchema=true).
    s3.put_object(Bucket=RAW, Key="probe/b.csv", Body=b"name,id\nx,2\n")
    s3.put_object(Bucket=RAW, Key="probe/_SUCCESS", Body=b"not data")
    s3.put_object(Bucket=RAW, Key="probe/.tmp/part.csv", Body=b"not,data\n")
    result = _run_script(
        s3,
        "import json, sys\n"
        "from awsglue.context import GlueContext\n"
        "from awsglue.utils import getResolvedOptions\n"
        "from pyspark.context import SparkContext\n"
        "args = getResolvedOptions(sys.argv, ['RAW_PATH'])\n"
        "context = GlueContext(SparkContext.getOrCreate())\n"
        "frame = context.spark_session.read.option('header', 'true').option('inferSchema', 'false')"
        ".csv(args['RAW_PATH'])\n"
        "context.get_logger().info(json.dumps(frame.rdd.map(lambda row: row.asDict()).collect()))\n",
    )
    assert json.loads(result.log[-1].removeprefix("INFO ")) == [{"id": "1", "name": None}, {"id": "x", "name": "2"}]


def test_the_spark_stand_in_verifies_rows_against_the_schema(aws):
    s3, _glue = aws
    with pytest.raises(GlueJobRunError, match=r"field amount: DoubleType\(\) can not accept object 1 in type"):
        _run_script(
            s3,
            "from pyspark.context import SparkContext\n"
            "from pyspark.sql import SparkSession\n"
            "from pyspark.sql.types import DoubleType, StructField, StructType\n"
            "spark = SparkSession(SparkContext.getOrCreate())\n"
            "spark.createDataFrame([{'amount': 1}], schema=StructType([StructField('amount', DoubleType(), False)]))\n",
        )
