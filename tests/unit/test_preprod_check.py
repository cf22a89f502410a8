"""The pipeline's preprod check: runs the batch test and, where the stack has MSK, the MSK feed."""

from __future__ import annotations

import io
import json
from typing import Any

import boto3
import pytest
from botocore.response import StreamingBody
from botocore.stub import Stubber

from scripts.preprod_check import LAMBDA_CLIENT_CONFIG, run_check

REGION = "eu-west-1"
STACK = "Mlops-preprod-Level2Reliable"
MSK_OUTPUTS = {
    "MskClusterArn": "arn:aws:kafka:eu-west-1:222222222222:cluster/mlops-preprod-test-stream/abcd-1234-s1",
    "MskTopic": "churn-test-records",
    "MskFeedFunctionName": "msk-feed",
    "MskSubnetIds": "subnet-1,subnet-2",
    "MskClientSecurityGroupId": "sg-123",
}
FEED_PASSED = {
    "status": "passed",
    "topic": "churn-test-records",
    "source": "s3://artifacts/test-data/churn/test.csv",
    "sent": 250,
    "failed": 0,
    "failures": [],
}


def invoke_response(payload: dict[str, Any], *, function_error: str | None = None) -> dict[str, Any]:
    body = json.dumps(payload).encode()
    response: dict[str, Any] = {"StatusCode": 200, "Payload": StreamingBody(io.BytesIO(body), len(body))}
    if function_error:
        response["FunctionError"] = function_error
    return response


class StubbedSession:
    """A boto3 session whose clients answer from botocore Stubbers (checked against the service models)."""

    def __init__(self, outputs: dict[str, str], invocations: list[tuple[str, dict[str, Any]]]) -> None:
        self.cfn = boto3.client("cloudformation", region_name=REGION)
        self.lambda_ = boto3.client("lambda", region_name=REGION)
        self.configs: dict[str, Any] = {}
        stack = {
            "StackName": STACK,
            "CreationTime": "2026-11-23T00:00:00Z",
            "StackStatus": "UPDATE_COMPLETE",
            "Outputs": [{"OutputKey": key, "OutputValue": value} for key, value in outputs.items()],
        }
        self.cfn_stub = Stubber(self.cfn)
        self.cfn_stub.add_response("describe_stacks", {"Stacks": [stack]}, {"StackName": STACK})
        self.lambda_stub = Stubber(self.lambda_)
        for function_name, response in invocations:
            self.lambda_stub.add_response("invoke", response, {"FunctionName": function_name, "Payload": b"{}"})
        self.cfn_stub.activate()
        self.lambda_stub.activate()

    def client(self, service: str, config: Any = None) -> Any:
        self.configs[service] = config
        return {"cloudformation": self.cfn, "lambda": self.lambda_}[service]


def test_without_msk_the_check_runs_the_batch_test_only() -> None:
    session = StubbedSession(
        {"BatchTestFunctionName": "batch-test"}, [("batch-test", invoke_response({"status": "passed"}))]
    )
    assert run_check(session, STACK) == ({"status": "passed"}, [], [])
    session.lambda_stub.assert_no_pending_responses()
    # Long tests are waited for and never invoked twice by a client-side retry.
    assert session.configs["lambda"] is LAMBDA_CLIENT_CONFIG
    assert LAMBDA_CLIENT_CONFIG.read_timeout > 300 and LAMBDA_CLIENT_CONFIG.retries == {"total_max_attempts": 1}


def test_with_msk_the_check_feeds_the_topic_through_the_feed_function() -> None:
    session = StubbedSession(
        {"BatchTestFunctionName": "batch-test", **MSK_OUTPUTS},
        [("batch-test", invoke_response({"status": "passed"})), ("msk-feed", invoke_response(FEED_PASSED))],
    )
    report, [note], failures = run_check(session, STACK)
    assert report == {"status": "passed"}
    assert note == (
        "MSK feed: 250 test records produced to topic churn-test-records from "
        "s3://artifacts/test-data/churn/test.csv, 0 failed"
    )
    assert failures == []
    session.lambda_stub.assert_no_pending_responses()


def test_a_feed_that_loses_records_fails_the_check_and_names_them() -> None:
    partial = {**FEED_PASSED, "status": "failed", "sent": 248, "failed": 2, "failures": [{"id": "7", "reason": "x"}]}
    session = StubbedSession(
        {"BatchTestFunctionName": "batch-test", **MSK_OUTPUTS},
        [("batch-test", invoke_response({"status": "passed"})), ("msk-feed", invoke_response(partial))],
    )
    _, [note], [failure] = run_check(session, STACK)
    assert note.endswith("2 failed")
    assert failure == 'the MSK feed did not produce every test record: [{"id": "7", "reason": "x"}]'


def test_a_feed_function_that_raises_fails_the_check(capsys: pytest.CaptureFixture[str]) -> None:
    error = {"errorType": "DataError", "errorMessage": "the test data has no rows"}
    session = StubbedSession(
        {"BatchTestFunctionName": "batch-test", **MSK_OUTPUTS},
        [
            ("batch-test", invoke_response({"status": "passed"})),
            ("msk-feed", invoke_response(error, function_error="Unhandled")),
        ],
    )
    _, [note], [failure] = run_check(session, STACK)
    assert note == "MSK feed of topic churn-test-records did not run"
    assert failure == "the MSK feed function msk-feed failed"
    assert "the test data has no rows" in capsys.readouterr().err


def test_a_cluster_without_a_feed_function_is_a_failure_not_a_silent_skip() -> None:
    outputs = {key: value for key, value in MSK_OUTPUTS.items() if key != "MskFeedFunctionName"}
    session = StubbedSession(
        {"BatchTestFunctionName": "batch-test", **outputs}, [("batch-test", invoke_response({"status": "passed"}))]
    )
    _, _, [failure] = run_check(session, STACK)
    assert failure == "the stack has an MSK cluster but no MskFeedFunctionName output"


def test_a_stack_without_test_strategies_is_an_error() -> None:
    session = StubbedSession({}, [])
    with pytest.raises(RuntimeError, match="has no batch test function"):
        run_check(session, STACK)


def test_a_batch_function_that_raises_is_an_error() -> None:
    session = StubbedSession(
        {"BatchTestFunctionName": "batch-test"},
        [("batch-test", invoke_response({"errorMessage": "boom"}, function_error="Unhandled"))],
    )
    with pytest.raises(RuntimeError, match="the batch test function failed"):
        run_check(session, STACK)
