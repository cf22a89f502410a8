"""The emulator runs a function's deployed package, not the repository's copy of its code."""

from __future__ import annotations

import io
import json
import sys
import zipfile
from collections.abc import Iterator

import pytest

from emulator.lambda_runner import deployed_function
from emulator.server import LocalAws
from tests.unit.lambdas_path import LAMBDAS


def package(files: dict[str, str]) -> bytes:
    code = io.BytesIO()
    with zipfile.ZipFile(code, "w") as archive:
        for name, text in files.items():
            archive.writestr(name, text)
    return code.getvalue()


@pytest.fixture(scope="module")
def aws() -> Iterator[LocalAws]:
    with LocalAws(region="us-east-1") as emulator:
        yield emulator


def deploy(aws: LocalAws, name: str, files: dict[str, str], handler: str = "handler.handler") -> None:
    role = aws.client("iam").create_role(
        RoleName=f"{name}-role", AssumeRolePolicyDocument=json.dumps({"Version": "2012-10-17", "Statement": []})
    )["Role"]["Arn"]
    aws.client("lambda").create_function(
        FunctionName=name,
        Runtime="python3.12",
        Role=role,
        Handler=handler,
        Code={"ZipFile": package(files)},
        Environment={"Variables": {"GREETING": "deployed"}},
    )


def test_the_deployed_package_runs_with_its_own_shared_code(aws: LocalAws) -> None:
    # The repository's lambdas/common is importable in this process, and a different `common` is in the package.
    sys.path.insert(0, str(LAMBDAS))
    try:
        import common.errors  # noqa: F401 - the repository's copy, loaded on purpose

        deploy(
            aws,
            "fn-a",
            {
                "handler.py": "import os\nfrom common import marker\n"
                "def handler(event, context):\n"
                "    return {'marker': marker.WHERE, 'greeting': os.environ['GREETING']}\n",
                "common/__init__.py": "",
                "common/marker.py": "WHERE = 'package of fn-a'\n",
            },
        )
        answer = deployed_function(aws, "fn_a", "fn-a").invoke({}).response
        assert answer == {"marker": "package of fn-a", "greeting": "deployed"}
        assert "common.marker" not in sys.modules  # swapped out again: the repository's common is untouched
        assert "common.errors" in sys.modules
    finally:
        sys.path.remove(str(LAMBDAS))


def test_a_package_without_the_shared_code_fails_as_it_would_in_lambda(aws: LocalAws) -> None:
    deploy(
        aws, "fn-b", {"handler.py": "from common.errors import NotFound\ndef handler(event, context):\n    return 1\n"}
    )
    sys.path.insert(0, str(LAMBDAS))  # the repository's common is importable in this process, not in the package
    try:
        with pytest.raises(ModuleNotFoundError, match="common"):
            deployed_function(aws, "fn_b", "fn-b").invoke({})
    finally:
        sys.path.remove(str(LAMBDAS))


def test_two_functions_keep_their_own_copies(aws: LocalAws) -> None:
    for name, where in (("fn-c", "c"), ("fn-d", "d")):
        deploy(
            aws,
            name,
            {
                "handler.py": "import shared\ndef handler(event, context):\n    return shared.WHERE\n",
                "shared.py": f"WHERE = {where!r}\n",
            },
        )
    c, d = deployed_function(aws, "fn_c", "fn-c"), deployed_function(aws, "fn_d", "fn-d")
    assert (c.invoke({}).response, d.invoke({}).response, c.invoke({}).response) == ("c", "d", "c")


def test_the_function_runs_its_configured_handler(aws: LocalAws) -> None:
    # Two functions of one package (the knowledge base's sync and its skew monitor): each runs its Handler.
    files = {
        "handler.py": "def handler(event, context):\n    return 'sync'\n",
        "monitor.py": "def measure(event, context):\n    return 'monitor'\n",
    }
    deploy(aws, "fn-sync", files)
    deploy(aws, "fn-monitor", files, handler="monitor.measure")
    assert deployed_function(aws, "fn", "fn-sync").invoke({}).response == "sync"
    assert deployed_function(aws, "fn", "fn-monitor").invoke({}).response == "monitor"
