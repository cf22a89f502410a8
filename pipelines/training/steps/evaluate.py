"""Evaluate step: score the trained model on the held-out test split and write its quality report.

Runs as a SageMaker Processing job in the XGBoost 1.7-1 container (Python 3.8, xgboost 1.7, numpy,
scikit-learn): self-contained on purpose, standard library plus those packages only (see
``steps/__init__.py``). Using the training image means the model is loaded by the XGBoost version that
wrote it.

Input:
  --model-dir/model.tar.gz  the training job's artifact; its ``xgboost-model`` member is the booster
  --test-dir/*.csv          the preprocess step's test split: no header, label first
Output:
  --evaluation-dir/evaluation.json  SageMaker model-quality metrics ("binary_classification_metrics"),
  the file the pipeline's quality gate reads with JsonGet and the Model Registry shows for the version.

Bad input ends the job with exit status 1 and one sentence on stderr, also written to
/opt/ml/output/message so SageMaker shows it as the job's ExitMessage.
"""

from __future__ import annotations

import argparse
import json
import posixpath
import sys
import tarfile
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import xgboost as xgb
from sklearn.metrics import accuracy_score, confusion_matrix, f1_score, precision_score, recall_score, roc_auc_score

PROCESSING_ROOT = Path("/opt/ml/processing")
DEFAULT_MODEL_DIR = PROCESSING_ROOT / "model"
DEFAULT_TEST_DIR = PROCESSING_ROOT / "test"
DEFAULT_EVALUATION_DIR = PROCESSING_ROOT / "evaluation"
DEFAULT_EXIT_MESSAGE_FILE = Path("/opt/ml/output/message")

MODEL_ARCHIVE = "model.tar.gz"
# The name SageMaker's XGBoost container saves the booster under inside model.tar.gz.
MODEL_MEMBER = "xgboost-model"
EVALUATION_FILE = "evaluation.json"
# Probability at or above which a customer is predicted to churn, for the threshold-dependent metrics.
# AUC, the metric the pipeline gates on, does not depend on it.
DEFAULT_DECISION_THRESHOLD = 0.5


class InputError(Exception):
    """The inputs cannot be evaluated; the message is one sentence for the operator."""


def load_booster(model_dir: Path) -> xgb.Booster:
    """The booster inside ``model_dir/model.tar.gz``, read without extracting anything to disk."""
    archive = model_dir / MODEL_ARCHIVE
    if not archive.is_file():
        raise InputError(f"model archive {archive} does not exist")
    try:
        with tarfile.open(archive, mode="r:gz") as tar:
            # Reading the one expected member, rather than extractall(), means a crafted archive cannot
            # write outside the working directory.
            member = next((m for m in tar.getmembers() if posixpath.normpath(m.name) == MODEL_MEMBER), None)
            if member is None or not member.isfile():
                raise InputError(f"{archive.name} has no {MODEL_MEMBER} file (members: {tar.getnames()})")
            stream = tar.extractfile(member)
            raw = stream.read() if stream is not None else b""
    except tarfile.TarError as error:
        raise InputError(f"{archive.name} is not a readable gzip tar archive ({error})") from error
    booster = xgb.Booster()
    # Loading from memory lets XGBoost detect the format from the bytes; the file has no extension to go by.
    booster.load_model(bytearray(raw))
    return booster


def load_test_split(test_dir: Path) -> tuple[np.ndarray, np.ndarray]:
    """Labels and features of every CSV under ``test_dir`` (no header, label in the first column)."""
    files = sorted(test_dir.glob("*.csv")) if test_dir.is_dir() else []
    if not files:
        raise InputError(f"no .csv files found in test directory {test_dir}")
    tables = [np.loadtxt(path, delimiter=",", ndmin=2) for path in files if path.stat().st_size > 0]
    if not tables:
        raise InputError(f"the test split in {test_dir} has no rows")
    table = np.vstack(tables)
    if table.shape[1] < 2:
        raise InputError(f"the test split has {table.shape[1]} column(s); expected the label and at least one feature")
    return table[:, 0], table[:, 1:]


def binary_classification_metrics(
    labels: np.ndarray, scores: np.ndarray, *, decision_threshold: float
) -> dict[str, Any]:
    """The ``binary_classification_metrics`` section of a SageMaker model-quality report."""
    if len(set(labels.tolist())) < 2:
        raise InputError("the test split holds only one class, so AUC is undefined")
    predicted = (scores >= decision_threshold).astype(int)
    actual = labels.astype(int)
    (true_negatives, false_positives), (false_negatives, true_positives) = confusion_matrix(
        actual, predicted, labels=[0, 1]
    ).tolist()

    def metric(value: float) -> dict[str, Any]:
        # One test split gives a point estimate; the report format asks for a deviation, "NaN" says none.
        return {"value": float(value), "standard_deviation": "NaN"}

    return {
        "auc": metric(roc_auc_score(actual, scores)),
        "accuracy": metric(accuracy_score(actual, predicted)),
        "precision": metric(precision_score(actual, predicted, zero_division=0)),
        "recall": metric(recall_score(actual, predicted, zero_division=0)),
        "f1": metric(f1_score(actual, predicted, zero_division=0)),
        "confusion_matrix": {
            "0": {"0": true_negatives, "1": false_positives},
            "1": {"0": false_negatives, "1": true_positives},
        },
    }


def run(args: argparse.Namespace) -> dict[str, Any]:
    """The whole step; returns the report it wrote."""
    booster = load_booster(args.model_dir)
    labels, features = load_test_split(args.test_dir)
    if booster.num_features() != features.shape[1]:
        raise InputError(
            f"the model expects {booster.num_features()} features but the test split has {features.shape[1]}; "
            "were they produced by different preprocess runs?"
        )
    scores = booster.predict(xgb.DMatrix(features))
    report = {
        "binary_classification_metrics": binary_classification_metrics(
            labels, scores, decision_threshold=args.decision_threshold
        )
    }
    args.evaluation_dir.mkdir(parents=True, exist_ok=True)
    (args.evaluation_dir / EVALUATION_FILE).write_text(json.dumps(report, indent=2) + "\n", encoding="utf-8")
    return report


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description="Evaluate step of the churn training pipeline.")
    parser.add_argument("--model-dir", type=Path, default=DEFAULT_MODEL_DIR)
    parser.add_argument("--test-dir", type=Path, default=DEFAULT_TEST_DIR)
    parser.add_argument("--evaluation-dir", type=Path, default=DEFAULT_EVALUATION_DIR)
    parser.add_argument("--exit-message-file", type=Path, default=DEFAULT_EXIT_MESSAGE_FILE)
    parser.add_argument("--decision-threshold", type=float, default=DEFAULT_DECISION_THRESHOLD)
    return parser.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    try:
        report = run(args)
    except (InputError, ValueError) as error:
        # ValueError covers what numpy and XGBoost raise for malformed files (text in a number column,
        # ragged rows, a corrupt model), which is still an input problem the operator has to fix.
        message = f"evaluate failed: {error}"
        print(message, file=sys.stderr)
        _write_exit_message(args.exit_message_file, message)
        return 1
    auc = report["binary_classification_metrics"]["auc"]["value"]
    print(f"evaluate wrote {args.evaluation_dir / EVALUATION_FILE} (test AUC {auc:.4f})")
    return 0


def _write_exit_message(path: Path, message: str) -> None:
    # Only where SageMaker provides the directory; running elsewhere must not create /opt/ml.
    if path.parent.is_dir():
        path.write_text(message + "\n", encoding="utf-8")


if __name__ == "__main__":
    sys.exit(main())
