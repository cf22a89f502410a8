"""The pipeline's preprod check: runs the batch test, and says what it does not feed (the MSK topic)."""

from __future__ import annotations

import io
import json
from typing import Any

import boto3
import pytest
from botocore.response import StreamingBody
from botocore.stub import Stubber

from scripts.preprod_check import msk_notice, run_check

REGION = "eu-west-1"
STACK = "Mlops-preprod-Level2Reliable"
MSK_OUTPUTS = {
    "MskClusterArn": "arn:aws:kafka:eu-west-1:222222222222:cluster/mlops-preprod-test-stream/abcd-1234-s1",
    "MskTopic": "churn-test-records",
    "MskSubnetIds": "subnet-1,subnet-2",
    "MskClientSecurityGroupId": "sg-123",
    "MskProducerRoleArn": "arn:aws:iam::222222222222:role/producer",
}


class StubbedSession:
    """A boto3 session whose clients answer from botocore Stubbers (checked against the service models)."""

    def __init__(self, outputs: dict[str, str], report: dict[str, Any]) -> None:
        self.cfn = boto3.client("cloudformation", region_name=REGION)
        self.lambda_ = boto3.client("lambda", region_name=REGION)
        stack = {
            "StackName": STACK,
            "CreationTime": "2026-11-23T00:00:00Z",
            "StackStatus": "UPDATE_COMPLETE",
            "Outputs": [{"OutputKey": key, "OutputValue": value} for key, value in outputs.items()],
        }
        self.cfn_stub = Stubber(self.cfn)
        self.cfn_stub.add_response("describe_stacks", {"Stacks": [stack]}, {"StackName": STACK})
        body = json.dumps(report).encode()
        self.lambda_stub = Stubber(self.lambda_)
        self.lambda_stub.add_response(
            "invoke",
            {"StatusCode": 200, "Payload": StreamingBody(io.BytesIO(body), len(body))},
            {"FunctionName": "batch-test", "Payload": b"{}"},
        )
        self.cfn_stub.activate()
        self.lambda_stub.activate()

    def client(self, service: str) -> Any:
        return {"cloudformation": self.cfn, "lambda": self.lambda_}[service]


def test_without_msk_the_check_reports_the_batch_test_only() -> None:
    session = StubbedSession({"BatchTestFunctionName": "batch-test"}, {"status": "passed"})
    report, notes = run_check(session, STACK)
    assert report == {"status": "passed"}
    assert notes == []


def test_with_msk_the_check_says_it_does_not_feed_the_topic_and_who_can() -> None:
    session = StubbedSession({"BatchTestFunctionName": "batch-test", **MSK_OUTPUTS}, {"status": "passed"})
    report, [note] = run_check(session, STACK)
    assert report == {"status": "passed"}
    assert note.startswith("MSK streaming path NOT fed by this check: topic churn-test-records on arn:aws:kafka:")
    for value in MSK_OUTPUTS.values():
        assert value in note


def test_a_stack_without_test_strategies_is_an_error() -> None:
    session = StubbedSession({}, {})
    with pytest.raises(RuntimeError, match="has no batch test function"):
        run_check(session, STACK)
    assert msk_notice({}) is None
