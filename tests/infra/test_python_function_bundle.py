"""The local bundler's extra distributions (`PythonFunction(packages=...)`): what gets copied, and refusals."""

from __future__ import annotations

import importlib.metadata
from pathlib import Path

import pytest

from stacks.components import python_function
from stacks.components.python_function import _CopyBundler, distribution_closure, normalized


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
