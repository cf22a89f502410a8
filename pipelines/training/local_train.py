"""Offline stand-in for the pipeline's Train step (SageMaker's built-in XGBoost, algorithm mode).

The Train step runs no script of ours: SageMaker's XGBoost container reads the ``train`` and
``validation`` channels (CSV, no header, label in the first column), trains with the step's
HyperParameters and uploads ``model.tar.gz`` holding the booster as ``xgboost-model``. This module does
the same with the xgboost package so tests can run preprocess -> train -> evaluate without AWS. It is
not deployed and not used by the pipeline.

Parity with the container, and where it stops: hyperparameters arrive as the same string map the
definition sends; ``num_round`` and ``early_stopping_rounds`` are the container's own keys, everything
else goes to ``xgboost.train`` as booster parameters; the watchlist is train then validation, as in the
container, so early stopping (if configured) watches validation. The local xgboost is newer than the
container's 1.7, so the model is close to, not bit-identical with, what SageMaker trains.

    .venv/bin/python -m pipelines.training.local_train --train DIR --validation DIR --model-dir DIR
"""

from __future__ import annotations

import argparse
import io
import tarfile
from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np
import xgboost as xgb

from pipelines.training.definition import DEFAULT_HYPERPARAMETERS

__all__ = ["MODEL_ARCHIVE", "MODEL_MEMBER", "train_like_sagemaker"]

MODEL_ARCHIVE = "model.tar.gz"
MODEL_MEMBER = "xgboost-model"
# Keys the SageMaker container consumes itself instead of passing them to the booster.
_CONTAINER_KEYS = frozenset({"num_round", "early_stopping_rounds"})


def train_like_sagemaker(
    *, train_dir: Path, validation_dir: Path, hyperparameters: Mapping[str, str], model_dir: Path
) -> Path:
    """Train as the Train step would and write ``model_dir/model.tar.gz``; return its path."""
    if "num_round" not in hyperparameters:
        raise ValueError("hyperparameters must include num_round, as SageMaker's XGBoost algorithm requires")
    dtrain = _channel(train_dir)
    dvalidation = _channel(validation_dir)
    params = {key: value for key, value in hyperparameters.items() if key not in _CONTAINER_KEYS}
    early_stopping = hyperparameters.get("early_stopping_rounds")
    booster = xgb.train(
        params,
        dtrain,
        num_boost_round=int(hyperparameters["num_round"]),
        evals=[(dtrain, "train"), (dvalidation, "validation")],
        early_stopping_rounds=int(early_stopping) if early_stopping is not None else None,
        verbose_eval=False,
    )
    model_dir.mkdir(parents=True, exist_ok=True)
    archive = model_dir / MODEL_ARCHIVE
    # An explicit format: saving to a file name without an extension makes xgboost guess and warn.
    raw = bytes(booster.save_raw(raw_format="ubj"))
    with tarfile.open(archive, mode="w:gz") as tar:
        member = tarfile.TarInfo(MODEL_MEMBER)
        member.size = len(raw)
        tar.addfile(member, io.BytesIO(raw))
    return archive


def _channel(directory: Path) -> xgb.DMatrix:
    # Like the container, read every file in the channel: the channel is a prefix, not a file.
    files = sorted(path for path in directory.iterdir() if path.is_file()) if directory.is_dir() else []
    if not files:
        raise ValueError(f"channel directory {directory} has no files")
    table = np.vstack([np.loadtxt(path, delimiter=",", ndmin=2) for path in files])
    return xgb.DMatrix(table[:, 1:], label=table[:, 0])


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="Train as the pipeline's Train step does, locally.")
    parser.add_argument("--train", type=Path, required=True, help="directory holding the train split")
    parser.add_argument("--validation", type=Path, required=True, help="directory holding the validation split")
    parser.add_argument("--model-dir", type=Path, required=True, help="where model.tar.gz is written")
    args = parser.parse_args(argv)
    archive = train_like_sagemaker(
        train_dir=args.train,
        validation_dir=args.validation,
        hyperparameters=DEFAULT_HYPERPARAMETERS,
        model_dir=args.model_dir,
    )
    print(f"wrote {archive}")


if __name__ == "__main__":
    main()
