"""The emulator's StartJobRun runs the deployed job as Glue does, and GetJobRun tells how it ended."""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

import pytest

from emulator.glue_jobs import LOG_GROUP_ERROR, LOG_GROUP_OUTPUT
from emulator.server import LocalAws
from tests.unit.test_glue_runner import ASSETS, CURATED, RAW, SAMPLE, SAMPLE_COUNTS, _deploy, create_feature_groups

REGION = "us-east-1"


@pytest.fixture
def aws() -> Iterator[LocalAws]:
    with LocalAws(region=REGION) as emulator:
        s3 = emulator.client("s3")
        for bucket in (ASSETS, RAW, CURATED):
            s3.create_bucket(Bucket=bucket)
        s3.put_object(Bucket=RAW, Key="churn/customers.csv", Body=SAMPLE.read_bytes())
        create_feature_groups(emulator.client("sagemaker"))
        yield emulator


def finished(glue: Any, run_id: str) -> dict[str, Any]:
    deadline = time.monotonic() + 120
    while (run := glue.get_job_run(JobName="etl", RunId=run_id)["JobRun"])["JobRunState"] == "RUNNING":
        assert time.monotonic() < deadline, "the job run never finished"
        time.sleep(0.1)
    return dict(run)


def test_start_job_run_runs_the_deployed_job_and_logs_where_glue_does(aws: LocalAws) -> None:
    s3, glue = aws.client("s3"), aws.client("glue")
    _deploy(s3, glue, layout="zip asset")
    run_id = glue.start_job_run(JobName="etl")["JobRunId"]
    run = finished(glue, run_id)
    assert run["JobRunState"] == "SUCCEEDED", run.get("ErrorMessage")
    events = aws.client("logs").get_log_events(logGroupName=LOG_GROUP_OUTPUT, logStreamName=run_id)["events"]
    assert any(SAMPLE_COUNTS in event["message"] for event in events)
    assert s3.list_objects_v2(Bucket=CURATED, Prefix="churn/")["KeyCount"] > 0


def test_a_job_that_cannot_import_its_module_fails_with_glues_error_message(aws: LocalAws) -> None:
    s3, glue = aws.client("s3"), aws.client("glue")
    _deploy(s3, glue, layout="file asset")
    run_id = glue.start_job_run(JobName="etl")["JobRunId"]
    run = finished(glue, run_id)
    assert run["JobRunState"] == "FAILED"
    assert "No module named 'churn_features'" in run["ErrorMessage"]
    events = aws.client("logs").get_log_events(logGroupName=LOG_GROUP_ERROR, logStreamName=run_id)["events"]
    assert events and "churn_features" in events[0]["message"]


def test_run_arguments_override_the_deployed_paths(aws: LocalAws) -> None:
    s3, glue = aws.client("s3"), aws.client("glue")
    _deploy(s3, glue, layout="zip asset")
    s3.put_object(Bucket=RAW, Key="smoke/r1/customers.csv", Body=SAMPLE.read_bytes())
    run_id = glue.start_job_run(
        JobName="etl",
        Arguments={
            "--RAW_PATH": f"s3://{RAW}/smoke/r1/",
            "--CURATED_PATH": f"s3://{CURATED}/smoke/r1/curated/",
            "--REJECTS_PATH": f"s3://{CURATED}/smoke/r1/rejects/",
        },
    )["JobRunId"]
    assert finished(glue, run_id)["JobRunState"] == "SUCCEEDED"
    assert s3.list_objects_v2(Bucket=CURATED, Prefix="smoke/r1/curated/")["KeyCount"] > 0
    assert s3.list_objects_v2(Bucket=CURATED, Prefix="churn/").get("KeyCount", 0) == 0
