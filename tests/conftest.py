"""Shared test set-up: keep the suite offline and fast."""

import os

# Set before aws_cdk is imported anywhere: the jsii runtime reads these at start-up.
os.environ.setdefault("JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION", "20")
# aws-cdk-lib's built-in CloudFormation validation adds seconds per synth; cfn-lint covers it here.
os.environ.setdefault("CDK_VALIDATION", "false")
# No test may reach real AWS: dummy credentials, and no profile from the developer's machine.
os.environ["AWS_ACCESS_KEY_ID"] = "testing"
os.environ["AWS_SECRET_ACCESS_KEY"] = "testing"
os.environ["AWS_DEFAULT_REGION"] = "us-east-1"
os.environ.pop("AWS_PROFILE", None)
