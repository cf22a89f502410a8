"""Import Lambda code the way the Lambda runtime does, plus the moto helpers the Lambda tests share.

Each function's asset is its own folder with ``common/`` copied next to it, and its modules import one
another as top-level modules (``import catalog``, ``from common import prompt_store``). Importing this
module puts ``lambdas/`` and the prompt-catalog and gateway folders on ``sys.path``; :func:`use` adds
another function's folder. Every function has a ``handler.py``, so :func:`load_handler` (a fresh module
each call) and :func:`cached_handler` (one module per run) import it under ``<function>_handler``.
"""

from __future__ import annotations

import contextlib
import importlib.util
import sys
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType
from typing import Any

import boto3
from moto import mock_aws

LAMBDAS = Path(__file__).resolve().parents[2] / "lambdas"
FUNCTIONS = ("prompt_catalog", "llm_gateway")

for _folder in (LAMBDAS, *(LAMBDAS / f for f in FUNCTIONS)):
    if str(_folder) not in sys.path:
        sys.path.insert(0, str(_folder))


def use(function: str) -> None:
    """Make ``lambdas/<function>/``'s modules, and ``common``, importable as top-level modules."""
    folder = LAMBDAS / function
    if not folder.is_dir():
        raise FileNotFoundError(f"no Lambda folder {folder}")
    for path in (LAMBDAS, folder):
        if str(path) not in sys.path:
            sys.path.insert(0, str(path))


def cached_handler(function: str) -> ModuleType:
    """``lambdas/<function>/handler.py``, imported once per run as ``<function>_handler``."""
    use(function)
    name = f"{function}_handler"
    if name not in sys.modules:
        spec = importlib.util.spec_from_file_location(name, LAMBDAS / function / "handler.py")
        assert spec is not None and spec.loader is not None
        module = importlib.util.module_from_spec(spec)
        sys.modules[name] = module
        spec.loader.exec_module(module)
    return sys.modules[name]


def load_handler(function: str) -> ModuleType:
    """A fresh copy of ``lambdas/<function>/handler.py`` (fresh module state: caches, clients, env)."""
    path = LAMBDAS / function / "handler.py"
    spec = importlib.util.spec_from_file_location(f"{function}_handler", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    # Powertools configures the logging handler of a service name once per process, bound to the
    # sys.stdout of that moment; under pytest that is the capture stream of an earlier, finished test.
    module.logger.registered_handler.stream = sys.stdout
    return module


@dataclass
class FakeLambdaContext:
    """The attributes Powertools' Logger reads from the Lambda context."""

    function_name: str = "test-function"
    memory_limit_in_mb: int = 256
    invoked_function_arn: str = "arn:aws:lambda:us-east-1:123456789012:function:test-function"
    aws_request_id: str = "00000000-0000-0000-0000-000000000000"


_session: boto3.Session | None = None


@contextlib.contextmanager
def fast_mock_aws(*, passthrough_urls: Sequence[str] = ()) -> Iterator[None]:
    """moto's ``mock_aws`` with one boto3 default session shared by every test that uses it.

    moto drops boto3's default session at every start, so every client created afterwards loads its
    service model again: 40-110 ms per client here, about 0.25 s per test. The shared session is created
    after moto is imported (moto hooks sessions created from then on) and the suite runs with dummy
    credentials (tests/conftest.py), so sharing it leaks nothing. ``passthrough_urls`` are regular
    expressions of URLs moto must let through (a local stand-in server, for instance).
    """
    global _session
    core = {
        "mock_credentials": True,
        "reset_boto3_session": False,
        "passthrough": {"urls": list(passthrough_urls), "services": []},
    }
    previous = boto3.DEFAULT_SESSION
    with mock_aws(config={"core": core}):
        if _session is None:
            _session = boto3.Session()
        boto3.DEFAULT_SESSION = _session
        try:
            yield
        finally:
            boto3.DEFAULT_SESSION = previous


def set_catalog_environment(
    monkeypatch: Any, *, table: str, max_template_bytes: int, namespace: str, min_golden_set_items: int = 2
) -> None:
    """The prompt-catalog function's environment as the stack sets it (the tests' golden sets are small)."""
    monkeypatch.setenv("TABLE_NAME", table)
    monkeypatch.setenv("MAX_TEMPLATE_BYTES", str(max_template_bytes))
    monkeypatch.setenv("MIN_GOLDEN_SET_ITEMS", str(min_golden_set_items))
    monkeypatch.setenv("POWERTOOLS_METRICS_NAMESPACE", namespace)


def create_prompt_table(client: Any, name: str = "prompt-catalog") -> str:
    """Create the prompt-catalog table with the stack's key schema (PITR and KMS are the stack's concern)."""
    client.create_table(
        TableName=name,
        KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}, {"AttributeName": "sk", "KeyType": "RANGE"}],
        AttributeDefinitions=[
            {"AttributeName": "pk", "AttributeType": "S"},
            {"AttributeName": "sk", "AttributeType": "S"},
        ],
        BillingMode="PAY_PER_REQUEST",
    )
    return name


def table_items(client: Any, name: str = "prompt-catalog") -> list[dict[str, Any]]:
    """Every item of the table, in a stable order: compare before/after to prove nothing changed."""
    items: list[dict[str, Any]] = []
    request: dict[str, Any] = {"TableName": name}
    while True:
        response = client.scan(**request)
        items.extend(response["Items"])
        if "LastEvaluatedKey" not in response:
            return sorted(items, key=lambda i: (i["pk"]["S"], i["sk"]["S"]))
        request["ExclusiveStartKey"] = response["LastEvaluatedKey"]


# What the Lambda Python runtime itself provides besides the standard library.
LAMBDA_RUNTIME_PACKAGES = ("boto3", "botocore", "jmespath", "s3transfer", "urllib3", "dateutil", "six")
# What the stack copies next to each function: Powertools, and typing_extensions, which Powertools imports
# at run time (aws_lambda_powertools/metrics/types.py, event_handler/api_gateway.py) and the runtime lacks.
BUNDLED_PACKAGES = ("aws_lambda_powertools", "typing_extensions")


def third_party_imports_in_lambda_layout(function: str, tmp_path: Path) -> set[str]:
    """Import ``handler`` the way Lambda would, and return the non-stdlib top-level modules it loaded.

    The asset is laid out as the stack builds it (the function folder, ``common/`` and the bundled
    packages side by side); a fresh interpreter without site-packages sees only that and the runtime's
    own packages, so a handler importing anything else fails here rather than in AWS.
    """
    import subprocess
    import sysconfig

    site = Path(sysconfig.get_paths()["purelib"])
    asset, runtime = tmp_path / function, tmp_path / "runtime"
    asset.mkdir()
    runtime.mkdir()
    for source in (LAMBDAS / function).glob("*.py"):
        (asset / source.name).symlink_to(source)
    (asset / "common").symlink_to(LAMBDAS / "common")
    for folder, names in ((asset, BUNDLED_PACKAGES), (runtime, LAMBDA_RUNTIME_PACKAGES)):
        for name in names:
            source = site / name if (site / name).exists() else site / f"{name}.py"
            (folder / source.name).symlink_to(source)
    probe = (
        "import sys; sys.path[:0] = [sys.argv[1], sys.argv[2]]; import handler; "
        "names = {m.split('.')[0] for m in sys.modules if not m.startswith('__')}; "
        "print(' '.join(sorted(names - set(sys.stdlib_module_names))))"
    )
    done = subprocess.run(
        [sys.executable, "-S", "-c", probe, str(asset), str(runtime)],
        capture_output=True,
        text=True,
        check=False,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr
    return set(done.stdout.split())


# The golden-set requirement the catalog tests give a version, and the verdict that satisfies it.
GOLDEN_REQUIREMENT = {"name": "golden", "version": 1, "min_items": 20}


def put_gate_verdict(
    client: Any,
    name: str,
    version: int,
    model_id: str,
    *,
    table: str = "prompt-catalog",
    golden_set: str = "golden",
    golden_version: int = 1,
    golden_items: int = 20,
    passed: bool = True,
    run_id: str = "run-1",
    reasons: Sequence[str] = (),
    created_at: str = "2024-05-01T13:00:00.000000Z",
) -> None:
    """The gate verdict the evaluation function writes for (version, model, golden-set version)."""
    from common import prompt_store

    client.put_item(
        TableName=table,
        Item=prompt_store.serialize(
            {
                "pk": prompt_store.prompt_pk(name),
                "sk": prompt_store.gate_sk(version, golden_set, golden_version, model_id),
                "kind": "gate",
                "version": version,
                "model_id": model_id,
                "golden_set": golden_set,
                "golden_version": golden_version,
                "golden_items": golden_items,
                "run_id": run_id,
                "passed": passed,
                "reasons": list(reasons),
                "created_at": created_at,
            }
        ),
    )
