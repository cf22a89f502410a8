"""The pipeline's automated-test stage: run the batch test strategy in a target environment, pass or fail.

Runs in CodeBuild (`python3 -m scripts.preprod_check --env preprod`): assumes the target's
pipeline-test role, reads the Level 2 stack's outputs, invokes the batch test function
synchronously and exits 1 when its report says the endpoint missed the threshold, printing why.

Where `mskStreaming` is on, it also says plainly that it does not feed the MSK topic: producing to
Kafka with IAM authentication takes a Kafka client library and a network path into the cluster's
isolated subnets, neither of which this check (or the project's dependencies) has.
"""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any

import boto3

from stacks.config import ConfigError, load_environment, read_cdk_context
from stacks.role_names import pipeline_test_role_name

LEVEL2_STACK = "Level2Reliable"


def run_check(session: Any, stack_name: str) -> tuple[dict[str, Any], list[str]]:
    """The batch test's report, and notes on what this check did not exercise."""
    cfn = session.client("cloudformation")
    (stack,) = cfn.describe_stacks(StackName=stack_name)["Stacks"]
    outputs = {o["OutputKey"]: o["OutputValue"] for o in stack.get("Outputs", [])}
    if "BatchTestFunctionName" not in outputs:
        raise RuntimeError(f"{stack_name} has no batch test function (is testStrategies on for it?)")
    response = session.client("lambda").invoke(FunctionName=outputs["BatchTestFunctionName"], Payload=b"{}")
    payload: dict[str, Any] = json.loads(response["Payload"].read() or b"{}")
    if response.get("FunctionError"):
        raise RuntimeError(f"the batch test function failed: {payload}")
    notice = msk_notice(outputs)
    return payload, [notice] if notice else []


def msk_notice(outputs: dict[str, str]) -> str | None:
    """Where the stack has the MSK streaming path, say that this check does not feed it, and who can."""
    if "MskClusterArn" not in outputs:
        return None
    return (
        f"MSK streaming path NOT fed by this check: topic {outputs.get('MskTopic', '?')} on "
        f"{outputs['MskClusterArn']} receives records only from a Kafka producer with IAM authentication "
        "(e.g. the Kafka CLI with aws-msk-iam-auth, or kafka-python with aws-msk-iam-sasl-signer-python) "
        f"running in subnets {outputs.get('MskSubnetIds', '?')} with security group "
        f"{outputs.get('MskClientSecurityGroupId', '?')}, as role {outputs.get('MskProducerRoleArn', '?')}; "
        "see README, 'Streaming over MSK'."
    )


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
    role_arn = f"arn:aws:iam::{config.account}:role/{pipeline_test_role_name(config.name)}"
    credentials = sts.assume_role(RoleArn=role_arn, RoleSessionName="pipeline-tests")["Credentials"]
    session = boto3.session.Session(
        aws_access_key_id=credentials["AccessKeyId"],
        aws_secret_access_key=credentials["SecretAccessKey"],
        aws_session_token=credentials["SessionToken"],
        region_name=config.region,
    )
    report, notes = run_check(session, config.stack_name(LEVEL2_STACK))
    print(json.dumps(report, indent=2, default=str))
    for note in notes:
        print(f"preprod check: {note}", file=sys.stderr)
    if report.get("status") != "passed":
        print(f"preprod check: {config.name} failed: {report.get('reason', 'see the report above')}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
