"""Shared test set-up: keep the suite offline and fast."""

import os

from hypothesis import settings

from emulator.node import with_node_on_path

# Set before aws_cdk is imported anywhere: the jsii runtime reads these at start-up. jsii starts `node` from
# PATH: the venv's Node 24 (emulator/node.py), also when pytest is run directly rather than through make.
os.environ.update(with_node_on_path(os.environ))
# aws-cdk-lib's built-in CloudFormation validation adds seconds per synth; cfn-lint covers it here.
os.environ.setdefault("CDK_VALIDATION", "false")
# No test may reach real AWS: dummy credentials, and no profile from the developer's machine.
os.environ["AWS_ACCESS_KEY_ID"] = "testing"
os.environ["AWS_SECRET_ACCESS_KEY"] = "testing"
os.environ["AWS_DEFAULT_REGION"] = "us-east-1"
os.environ.pop("AWS_PROFILE", None)

# Hypothesis' per-example deadline is a timing assertion: on a busy 2-core machine a 200 ms limit fails
# correct code. Property tests check behaviour only; speed is measured by `make bench`.
settings.register_profile("no-deadline", deadline=None)
settings.load_profile("no-deadline")


# Infrastructure tests that share no session synth with the others: each file may run in any worker. The
# fork test synthesizes its own copy of the project in a subprocess (every environment, the longest single
# fixture of the suite), so it runs beside the in-process synths rather than after them.
_INDEPENDENT_INFRA_FILES = (
    "tests/infra/test_fork.py",
    "tests/infra/test_python_function_bundle.py",
    "tests/infra/test_synth_cost.py",
)


def pytest_xdist_make_scheduler(config, log):  # type: ignore[no-untyped-def]
    """With pytest-xdist (`-n 2`): every infrastructure test that uses the session synths runs in one worker,
    so each environment is still synthesized once per run; the files of `_INDEPENDENT_INFRA_FILES` are
    scheduled one file per unit; the e2e deploys run one after the other in one worker; unit tests spread
    over both. (Marking tests with xdist_group did not group them with pytest 9 here.)"""
    from xdist.scheduler import LoadScopeScheduling

    class ByFolder(LoadScopeScheduling):  # type: ignore[misc]
        def _split_scope(self, nodeid: str) -> str:
            if nodeid.startswith(_INDEPENDENT_INFRA_FILES):
                return nodeid.split("::", 1)[0]
            for folder in ("tests/infra/", "tests/e2e/"):
                if nodeid.startswith(folder):
                    return folder
            return nodeid

    return ByFolder(config, log)
