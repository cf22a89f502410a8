"""The pipeline's preprod check: runs the batch test and, where the stack has MSK, the MSK feed."""

from __future__ import annotations

import io
import json
from typing import Any

import boto3
import pytest
from botocore.exceptions import ClientError
from botocore.response import StreamingBody
from botocore.stub import Stubber

from delivery.preprod_check import LAMBDA_CLIENT_CONFIG, main, run_check
from stacks.config import load_all_environments, read_cdk_context
from stacks.role_names import pipeline_test_role_name

REGION = "eu-west-1"
STACK = "Mlops-preprod-Level2Reliable"
ENDPOINT = "mlops-preprod-churn"
ENDPOINT_ARN = f"arn:aws:sagemaker:{REGION}:222222222222:endpoint/{ENDPOINT}"
# SageMaker's answer for an endpoint that does not exist (it has no ResourceNotFound for endpoints).
NO_ENDPOINT = f'Could not find endpoint "{ENDPOINT_ARN}".'
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

    def __init__(
        self,
        outputs: dict[str, str],
        invocations: list[tuple[str, dict[str, Any]]],
        *,
        endpoint_status: str | None = "InService",
        endpoint_error: str | None = None,
        stack_name: str = STACK,
    ) -> None:
        self.cfn = boto3.client("cloudformation", region_name=REGION)
        self.lambda_ = boto3.client("lambda", region_name=REGION)
        self.sagemaker = boto3.client("sagemaker", region_name=REGION)
        self.configs: dict[str, Any] = {}
        outputs = {"EndpointName": ENDPOINT, **outputs}
        stack = {
            "StackName": STACK,
            "CreationTime": "2026-11-23T00:00:00Z",
            "StackStatus": "UPDATE_COMPLETE",
            "Outputs": [{"OutputKey": key, "OutputValue": value} for key, value in outputs.items()],
        }
        self.cfn_stub = Stubber(self.cfn)
        self.cfn_stub.add_response("describe_stacks", {"Stacks": [stack]}, {"StackName": stack_name})
        self.lambda_stub = Stubber(self.lambda_)
        for function_name, response in invocations:
            self.lambda_stub.add_response("invoke", response, {"FunctionName": function_name, "Payload": b"{}"})
        self.sagemaker_stub = Stubber(self.sagemaker)
        if "BatchTestFunctionName" in outputs:
            if endpoint_error:
                self.sagemaker_stub.add_client_error("describe_endpoint", endpoint_error, "not authorized", 400)
            elif endpoint_status is None:
                self.sagemaker_stub.add_client_error(
                    "describe_endpoint", "ValidationException", NO_ENDPOINT, 400, {"EndpointName": ENDPOINT}
                )
            else:
                described = {
                    "EndpointName": ENDPOINT,
                    "EndpointArn": ENDPOINT_ARN,
                    "EndpointConfigName": f"{ENDPOINT}-config",
                    "EndpointStatus": endpoint_status,
                    "CreationTime": "2026-11-23T00:00:00Z",
                    "LastModifiedTime": "2026-11-23T00:00:00Z",
                }
                self.sagemaker_stub.add_response("describe_endpoint", described, {"EndpointName": ENDPOINT})
        self.cfn_stub.activate()
        self.lambda_stub.activate()
        self.sagemaker_stub.activate()

    def client(self, service: str, config: Any = None) -> Any:
        self.configs[service] = config
        return {"cloudformation": self.cfn, "lambda": self.lambda_, "sagemaker": self.sagemaker}[service]


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


def test_a_fresh_environment_without_an_endpoint_is_skipped_and_says_why() -> None:
    # No model approved yet: the promotion function has not created the endpoint, nothing is invoked.
    session = StubbedSession({"BatchTestFunctionName": "batch-test", **MSK_OUTPUTS}, [], endpoint_status=None)
    report, [note], failures = run_check(session, STACK)
    assert report["status"] == "skipped"
    assert failures == []
    assert note.startswith(f"endpoint {ENDPOINT} does not exist yet: no model version has been approved")
    session.sagemaker_stub.assert_no_pending_responses()


@pytest.mark.parametrize("status", ["Creating", "Failed", "OutOfService", "Deleting"])
def test_an_endpoint_that_is_not_serving_is_an_error_naming_its_status(status: str) -> None:
    session = StubbedSession({"BatchTestFunctionName": "batch-test"}, [], endpoint_status=status)
    with pytest.raises(RuntimeError, match=f"endpoint {ENDPOINT} is {status}, not in service"):
        run_check(session, STACK)


def test_other_sagemaker_errors_are_not_mistaken_for_a_missing_endpoint() -> None:
    session = StubbedSession({"BatchTestFunctionName": "batch-test"}, [], endpoint_error="AccessDeniedException")
    with pytest.raises(ClientError, match="AccessDeniedException"):
        run_check(session, STACK)


def test_the_command_passes_a_fresh_environment(monkeypatch: pytest.MonkeyPatch, capsys) -> None:
    # Any environment of cdk.json that the pipeline could test: expectations come from its config.
    config = next(c for c in load_all_environments(read_cdk_context()) if c.test_strategies and c.max_level >= 2)
    session = StubbedSession(
        {"BatchTestFunctionName": "batch-test"},
        [],
        endpoint_status=None,
        stack_name=config.stack_name("Level2Reliable"),
    )
    sts = boto3.client("sts", region_name=REGION)
    sts_stub = Stubber(sts)
    sts_stub.add_response(
        "assume_role",
        {
            "Credentials": {
                "AccessKeyId": "ASIAEXAMPLEEXAMPLE00",
                "SecretAccessKey": "x" * 40,
                "SessionToken": "token",
                "Expiration": "2026-11-23T01:00:00Z",
            }
        },
        {
            "RoleArn": f"arn:aws:iam::{config.account}:role/{pipeline_test_role_name(config.name_prefix, config.name)}",
            "RoleSessionName": "pipeline-tests",
        },
    )
    sts_stub.activate()
    monkeypatch.setattr("delivery.preprod_check.boto3.client", lambda service, **_: sts)
    monkeypatch.setattr("delivery.preprod_check.boto3.session.Session", lambda **_: session)
    assert main(["--env", config.name]) == 0
    out, err = capsys.readouterr()
    assert '"status": "skipped"' in out
    assert f"endpoint {ENDPOINT} does not exist yet" in err
