"""The pipeline's automated-test stage: run the batch test strategy in a target environment, pass or fail.

Runs in CodeBuild (`python3 -m delivery.preprod_check --env preprod`): assumes the target's
pipeline-test role, reads the Level 2 stack's outputs, invokes the batch test function
synchronously and exits 1 when its report says the endpoint missed the threshold, printing why.

On a fresh environment no model has been approved yet, so the promotion function has not created the
endpoint: the check then says so and passes (the infrastructure release goes on; the first approval deploys
the endpoint and its own alarms guard it). An endpoint that exists but is not in service fails the check.

Where the stack has the MSK streaming path (`mskStreaming`), it also invokes the MSK feed function,
which runs in the cluster's subnets and produces the same test records to the topic the stream
consumer reads; a feed that fails, or reports records it could not produce, fails the check too.
"""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any

import boto3
from botocore.config import Config
from botocore.exceptions import ClientError

from stacks.config import ConfigError, load_environment, read_cdk_context
from stacks.role_names import pipeline_test_role_name, role_arn

LEVEL2_STACK = "Level2Reliable"
LAMBDA_CLIENT_CONFIG = Config(read_timeout=330, connect_timeout=10, retries={"total_max_attempts": 1})


def run_check(session: Any, stack_name: str) -> tuple[dict[str, Any], list[str], list[str]]:
    """The batch test's report, notes on what else ran, and the failures of those other steps.

    Without an endpoint (no model approved yet) the report is ``{"status": "skipped", ...}`` and nothing runs.
    """
    cfn = session.client("cloudformation")
    (stack,) = cfn.describe_stacks(StackName=stack_name)["Stacks"]
    outputs = {o["OutputKey"]: o["OutputValue"] for o in stack.get("Outputs", [])}
    if "BatchTestFunctionName" not in outputs:
        raise RuntimeError(f"{stack_name} has no batch test function (is testStrategies on for it?)")
    if "EndpointName" not in outputs:
        raise RuntimeError(f"{stack_name} has no EndpointName output")
    endpoint = outputs["EndpointName"]
    status = endpoint_status(session.client("sagemaker"), endpoint)
    if status is None:
        reason = (
            f"endpoint {endpoint} does not exist yet: no model version has been approved in this environment, so "
            "there is nothing to test; the batch test (and the MSK feed) will run once an approval has deployed it"
        )
        return {"status": "skipped", "endpoint": endpoint, "reason": reason}, [reason], []
    if status not in SERVING_STATUSES:
        raise RuntimeError(f"endpoint {endpoint} is {status}, not in service: the batch test cannot run against it")
    # The test functions run for minutes (timeouts up to 5): wait for them, and never retry an invocation
    # on a read timeout, which would run the test (or produce the records) twice.
    lambda_ = session.client("lambda", config=LAMBDA_CLIENT_CONFIG)
    payload = _invoke(lambda_, outputs["BatchTestFunctionName"])
    if payload is None:
        raise RuntimeError("the batch test function failed")
    notes: list[str] = []
    failures: list[str] = []
    if "MskClusterArn" in outputs:
        note, failure = feed_msk(lambda_, outputs)
        notes.append(note)
        if failure:
            failures.append(failure)
    return payload, notes, failures


# DescribeEndpoint's statuses in which the endpoint answers invocations (an update keeps the old variant serving).
SERVING_STATUSES = frozenset({"InService", "Updating", "SystemUpdating", "RollingBack"})


def endpoint_status(sagemaker: Any, endpoint_name: str) -> str | None:
    """The endpoint's status, or None when it does not exist (SageMaker answers ValidationException)."""
    try:
        status: str = sagemaker.describe_endpoint(EndpointName=endpoint_name)["EndpointStatus"]
    except ClientError as error:
        code = error.response.get("Error", {}).get("Code")
        message = error.response.get("Error", {}).get("Message", "")
        if code == "ValidationException" and "Could not find endpoint" in message:
            return None
        raise
    return status


def _invoke(lambda_: Any, function_name: str) -> dict[str, Any] | None:
    """Invoke synchronously; the function's JSON answer, or None when the function raised."""
    response = lambda_.invoke(FunctionName=function_name, Payload=b"{}")
    payload: dict[str, Any] = json.loads(response["Payload"].read() or b"{}")
    if response.get("FunctionError"):
        print(f"preprod check: {function_name} failed: {json.dumps(payload)}", file=sys.stderr)
        return None
    return payload


def feed_msk(lambda_: Any, outputs: dict[str, str]) -> tuple[str, str | None]:
    """Produce the test records to the MSK topic through the stack's feed function: (note, failure or None)."""
    function_name = outputs.get("MskFeedFunctionName")
    topic = outputs.get("MskTopic", "?")
    if not function_name:
        return "MSK streaming path not fed", "the stack has an MSK cluster but no MskFeedFunctionName output"
    report = _invoke(lambda_, function_name)
    if report is None:
        return f"MSK feed of topic {topic} did not run", f"the MSK feed function {function_name} failed"
    summary = (
        f"MSK feed: {report.get('sent', 0)} test records produced to topic {report.get('topic', topic)} from "
        f"{report.get('source', '?')}, {report.get('failed', 0)} failed"
    )
    if report.get("status") != "passed":
        return summary, f"the MSK feed did not produce every test record: {json.dumps(report.get('failures', []))}"
    return summary, None


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--env", required=True)
    args = parser.parse_args(argv)
    try:
        config = load_environment(read_cdk_context(), args.env)
    except ConfigError as error:
        print(f"preprod check: {error}", file=sys.stderr)
        return 2
    sts = boto3.client("sts", region_name=config.region)
    # The partition of the Region the client talks to (aws, aws-cn, aws-us-gov), as botocore resolved it.
    test_role = role_arn(sts.meta.partition, config.account, pipeline_test_role_name(config.name_prefix, config.name))
    credentials = sts.assume_role(RoleArn=test_role, RoleSessionName="pipeline-tests")["Credentials"]
    session = boto3.session.Session(
        aws_access_key_id=credentials["AccessKeyId"],
        aws_secret_access_key=credentials["SecretAccessKey"],
        aws_session_token=credentials["SessionToken"],
        region_name=config.region,
    )
    report, notes, failures = run_check(session, config.stack_name(LEVEL2_STACK))
    print(json.dumps(report, indent=2, default=str))
    for note in notes:
        print(f"preprod check: {note}", file=sys.stderr)
    if report.get("status") not in ("passed", "skipped"):
        failures.insert(0, f"batch test: {report.get('reason', 'see the report above')}")
    for failure in failures:
        print(f"preprod check: {config.name} failed: {failure}", file=sys.stderr)
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
