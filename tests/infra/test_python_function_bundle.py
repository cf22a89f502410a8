"""The local bundler's extra distributions (`PythonFunction(packages=...)`): what gets copied, and refusals."""

from __future__ import annotations

import importlib.metadata
import shutil
from pathlib import Path

import pytest
from aws_cdk import App, Environment, RemovalPolicy, Stack
from aws_cdk import aws_kms as kms
from aws_cdk import aws_logs as logs

from stacks.components import python_function
from stacks.components.python_function import (
    PythonFunction,
    _CopyBundler,
    bundle_files,
    bundle_hash,
    distribution_closure,
    normalized,
)


def test_the_closure_adds_requirements_minus_extras_and_the_lambda_runtime() -> None:
    # The signer requires Click, boto3 and botocore: the runtime has the last two.
    assert distribution_closure(("aws-msk-iam-sasl-signer-python",)) == ["aws-msk-iam-sasl-signer-python", "click"]
    # kafka-python's requirements are all extras (compression codecs, tests): none is copied.
    assert distribution_closure(("kafka_python",)) == ["kafka-python"]
    assert distribution_closure(("boto3",)) == []
    assert normalized("Aws_MSK.iam") == "aws-msk-iam"


def test_a_distribution_that_is_not_installed_is_named() -> None:
    with pytest.raises(RuntimeError, match="no-such-distribution is not installed in this environment"):
        distribution_closure(("no-such-distribution",))


def test_a_requirement_with_an_environment_marker_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    class Fake:
        requires = ('tomli>=1; python_version < "3.11"',)

    monkeypatch.setattr(python_function.importlib.metadata, "distribution", lambda name: Fake())
    with pytest.raises(RuntimeError, match="environment markers other than extras are not evaluated"):
        distribution_closure(("anything",))


def test_the_bundle_has_each_distributions_recorded_files_and_metadata(tmp_path: Path) -> None:
    out = tmp_path / "asset"
    out.mkdir()
    bundler = _CopyBundler(python_function.LAMBDAS_DIR / "msk_feed", ("aws-msk-iam-sasl-signer-python",))
    assert bundler.try_bundle(str(out), None)  # type: ignore[arg-type]  # the options are not read
    recorded = {
        str(file)
        for name in ("aws-msk-iam-sasl-signer-python", "click")
        for file in importlib.metadata.distribution(name).files or []
        if not str(file).startswith("..") and "__pycache__" not in str(file)
    }
    copied = {str(path.relative_to(out)) for path in out.rglob("*") if path.is_file()}
    assert recorded <= copied
    assert "aws_msk_iam_sasl_signer_python-1.0.2.dist-info/METADATA" in copied
    # The function's own modules and the default vendored packages are there as for every function.
    assert {"handler.py", "topic_handler.py", "common/errors.py", "typing_extensions.py"} <= copied
    assert not (out / "boto3").exists()


# --- the asset hash covers the whole bundle: a warm cdk.out never keeps a stale one --------------------


@pytest.fixture
def lambdas_copy(tmp_path: Path) -> Path:
    """A copy of `lambdas/` with one function and the shared code, to edit freely."""
    copy = tmp_path / "lambdas"
    for folder in ("common", "prompt_catalog", "llm_gateway"):
        shutil.copytree(
            python_function.LAMBDAS_DIR / folder, copy / folder, ignore=shutil.ignore_patterns("__pycache__")
        )
    return copy


def test_the_asset_hash_follows_shared_code_and_only_what_is_bundled(lambdas_copy: Path) -> None:
    function_dir = lambdas_copy / "prompt_catalog"
    before = bundle_hash(function_dir, lambdas_dir=lambdas_copy)
    assert bundle_hash(function_dir, lambdas_dir=lambdas_copy) == before, "deterministic"

    # What is not in the bundle: another function's code, bytecode caches, tests.
    (lambdas_copy / "llm_gateway" / "handler.py").write_text("# another function\n")
    (lambdas_copy / "common" / "__pycache__").mkdir()
    (lambdas_copy / "common" / "__pycache__" / "errors.cpython-314.pyc").write_bytes(b"\0")
    (function_dir / "tests").mkdir()
    (function_dir / "tests" / "test_x.py").write_text("assert True\n")
    assert bundle_hash(function_dir, lambdas_dir=lambdas_copy) == before

    # What is: the shared code (edited, or a new module), and the function's own folder.
    errors = lambdas_copy / "common" / "errors.py"
    errors.write_text(errors.read_text() + "\n# a fix in the shared code\n")
    after_edit = bundle_hash(function_dir, lambdas_dir=lambdas_copy)
    assert after_edit != before
    (lambdas_copy / "common" / "new_module.py").write_text("VALUE = 1\n")
    after_new = bundle_hash(function_dir, lambdas_dir=lambdas_copy)
    assert after_new not in (before, after_edit)
    (function_dir / "handler.py").write_text((function_dir / "handler.py").read_text() + "\n# changed\n")
    assert bundle_hash(function_dir, lambdas_dir=lambdas_copy) not in (before, after_edit, after_new)


def test_the_hash_covers_the_vendored_and_extra_distributions(lambdas_copy: Path) -> None:
    function_dir = lambdas_copy / "prompt_catalog"
    targets = {str(target) for target, _ in bundle_files(function_dir, lambdas_dir=lambdas_copy)}
    assert {"handler.py", "common/errors.py", "typing_extensions.py", "aws_lambda_powertools/__init__.py"} <= targets
    plain = bundle_hash(function_dir, lambdas_dir=lambdas_copy)
    assert bundle_hash(function_dir, ("kafka-python",), lambdas_dir=lambdas_copy) != plain


def _synth_function(outdir: Path) -> tuple[str, Path]:
    """Synthesize one PythonFunction into `outdir` (reused: a warm cdk.out); its asset hash and staged folder."""
    app = App(outdir=str(outdir))
    stack = Stack(app, "Bundle", env=Environment(account="123456789012", region="eu-west-1"))
    PythonFunction(
        stack,
        "Catalog",
        name="prompt_catalog",
        description="bundle test",
        environment={},
        key=kms.Key(stack, "Key"),
        log_retention=logs.RetentionDays.ONE_DAY,
        removal_policy=RemovalPolicy.DESTROY,
    )
    assembly = app.synth()
    template = assembly.get_stack_by_name("Bundle").template
    (function,) = [r for r in template["Resources"].values() if r["Type"] == "AWS::Lambda::Function"]
    asset_hash = function["Properties"]["Code"]["S3Key"].removesuffix(".zip")
    return asset_hash, outdir / f"asset.{asset_hash}"


def test_a_warm_cdk_out_rebundles_after_a_change_to_the_shared_code(
    lambdas_copy: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(python_function, "LAMBDAS_DIR", lambdas_copy)
    outdir = tmp_path / "cdk.out"
    first_hash, first_asset = _synth_function(outdir)
    errors = lambdas_copy / "common" / "errors.py"
    errors.write_text(errors.read_text() + "\nFIXED_IN_COMMON = True\n")
    second_hash, second_asset = _synth_function(outdir)
    assert second_hash != first_hash
    assert "FIXED_IN_COMMON" in (second_asset / "common" / "errors.py").read_text(), "the new code is deployed"
    assert "FIXED_IN_COMMON" not in (first_asset / "common" / "errors.py").read_text()


def test_a_bundled_distribution_must_be_the_locked_version(lambdas_copy: Path, tmp_path: Path) -> None:
    function_dir = lambdas_copy / "prompt_catalog"
    installed = importlib.metadata.version("typing-extensions")
    lock = python_function.LOCK_FILE.read_text()
    stale = tmp_path / "uv.lock"
    stale.write_text(
        lock.replace(
            f'name = "typing-extensions"\nversion = "{installed}"', 'name = "typing-extensions"\nversion = "0.0.1"'
        )
    )
    assert stale.read_text() != lock
    with pytest.raises(RuntimeError, match=f"typing-extensions {installed} is installed but uv.lock pins 0.0.1"):
        bundle_files(function_dir, lambdas_dir=lambdas_copy, lock_file=stale)
    assert bundle_files(function_dir, lambdas_dir=lambdas_copy)  # the project's own lock matches
