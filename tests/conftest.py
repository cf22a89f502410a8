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


def pytest_collection_modifyitems(config, items):  # type: ignore[no-untyped-def]
    """With pytest-xdist (`-n`, `--dist loadgroup`): the infrastructure tests share one worker, so each
    environment is still synthesized once per run; the e2e deploys share another; unit tests spread out."""
    import pytest

    for item in items:
        path = str(item.path)
        for folder in ("infra", "e2e"):
            if f"{os.sep}tests{os.sep}{folder}{os.sep}" in path:
                item.add_marker(pytest.mark.xdist_group(folder))
