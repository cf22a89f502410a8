"""Stand-in for SageMaker Clarify's processing job, used by the local pipeline runner.

Clarify runs its own image (no script of ours), which moto cannot run. This module does what that job
does with the deployed inputs: it reads the ``analysis_config.json`` the step was given and the dataset
(headerless CSV, columns named by the config's ``headers``), computes the bias metrics the config asks for
on the config's facet, and writes ``analysis.json`` in Clarify's report layout, so the bias gate, the Model
Registry and the tour read what they would read on AWS. Where it differs, and the tour says so:

- predictions come from the registered artifact loaded in-process (the model the CreateModel step named,
  its ``ModelDataUrl`` downloaded from the emulator's S3), not from a shadow endpoint;
- explanations are exact TreeSHAP (XGBoost's ``pred_contribs``) instead of Clarify's Kernel SHAP, reported
  under the same ``kernel_shap`` key with mean absolute values per feature;
- facet selection: a 0/1 column is a categorical facet (rows equal to the value), any other numeric column
  is split at the threshold (rows above it), which is how Clarify treats the configs this project writes.

Formulas are SageMaker Clarify's (documentation, "Measure pre-training bias" and "post-training data and
model bias"): facet d is the rows the facet selects, facet a the rest; positive means the label value(s)
in ``label_values_or_threshold``.
"""

from __future__ import annotations

import csv
import math
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

__all__ = ["ClarifyInputError", "analysis_report", "read_dataset"]

DESCRIPTIONS = {
    "CI": "Class Imbalance (CI)",
    "DPL": "Difference in Positive Proportions in Labels (DPL)",
    "KL": "Kullback-Liebler Divergence (KL)",
    "JS": "Jensen-Shannon Divergence (JS)",
    "DPPL": "Difference in Positive Proportions in Predicted Labels (DPPL)",
    "AD": "Accuracy Difference (AD)",
    "RD": "Recall Difference (RD)",
}


class ClarifyInputError(ValueError):
    """The config or dataset cannot be analysed; the message names what is wrong."""


def read_dataset(files: Sequence[Path], headers: Sequence[str]) -> dict[str, list[float]]:
    """Column name -> values of every headerless CSV file."""
    columns: dict[str, list[float]] = {name: [] for name in headers}
    for path in files:
        with path.open(newline="", encoding="utf-8") as handle:
            for number, row in enumerate(csv.reader(handle), start=1):
                if not row:
                    continue
                if len(row) != len(headers):
                    raise ClarifyInputError(
                        f"{path.name} line {number} has {len(row)} cells but the analysis config names {len(headers)}"
                    )
                for name, cell in zip(headers, row, strict=True):
                    columns[name].append(float(cell))
    if not files or not columns[headers[0]]:
        raise ClarifyInputError("the Clarify dataset has no rows")
    return columns


def analysis_report(
    config: dict[str, Any],
    columns: dict[str, list[float]],
    *,
    predict: Callable[[list[list[float]]], list[float]] | None = None,
    contributions: Callable[[list[list[float]]], list[list[float]]] | None = None,
) -> dict[str, Any]:
    """Clarify's analysis.json for ``config`` over ``columns``; ``predict`` gives scores, ``contributions`` SHAP."""
    methods = config.get("methods", {})
    label = str(config.get("label"))
    features = [name for name in config["headers"] if name != label]
    rows = [[columns[name][index] for name in features] for index in range(len(columns[features[0]]))]
    report: dict[str, Any] = {"version": "1.0"}
    if "pre_training_bias" in methods or "post_training_bias" in methods:
        facet, positive_labels = _facet(config, columns), set(map(float, config["label_values_or_threshold"]))
        labels = [value in positive_labels for value in columns[label]]
        if "pre_training_bias" in methods:
            values = _pre_training(facet, labels)
            report["pre_training_bias_metrics"] = _section(config, methods["pre_training_bias"]["methods"], values)
        if "post_training_bias" in methods:
            if predict is None:
                raise ClarifyInputError("post-training bias needs the model's predictions")
            threshold = float(config.get("probability_threshold", 0.5))
            predicted = [score >= threshold for score in predict(rows)]
            values = _post_training(facet, labels, predicted)
            report["post_training_bias_metrics"] = _section(config, methods["post_training_bias"]["methods"], values)
    if "shap" in methods:
        if contributions is None:
            raise ClarifyInputError("explainability needs the model")
        per_row = contributions(rows)
        global_values = {
            name: sum(abs(row[index]) for row in per_row) / len(per_row) for index, name in enumerate(features)
        }
        expected = sum(row[-1] for row in per_row) / len(per_row) if len(per_row[0]) > len(features) else 0.0
        report["explanations"] = {
            "kernel_shap": {
                "label0": {
                    "global_shap_values": dict(sorted(global_values.items(), key=lambda item: -item[1])),
                    "expected_value": expected,
                }
            }
        }
    return report


def _facet(config: dict[str, Any], columns: dict[str, list[float]]) -> list[bool]:
    try:
        (facet,) = config["facet"]
        name, (value,) = facet["name_or_index"], facet["value_or_threshold"]
    except (KeyError, ValueError, TypeError) as error:
        raise ClarifyInputError(f"the analysis config needs exactly one facet with one value ({error!r})") from error
    if name not in columns:
        raise ClarifyInputError(f"facet {name!r} is not among the dataset headers")
    values = columns[name]
    if set(values) <= {0.0, 1.0}:
        return [cell == float(value) for cell in values]
    return [cell > float(value) for cell in values]


def _pre_training(facet: list[bool], labels: list[bool]) -> dict[str, float | None]:
    d = [label for label, selected in zip(labels, facet, strict=True) if selected]
    a = [label for label, selected in zip(labels, facet, strict=True) if not selected]
    if not d or not a:
        return dict.fromkeys(("CI", "DPL", "KL", "JS"))
    qa, qd = sum(a) / len(a), sum(d) / len(d)
    pa, pd = (qa, 1 - qa), (qd, 1 - qd)
    mixture = tuple((x + y) / 2 for x, y in zip(pa, pd, strict=True))
    return {
        "CI": (len(a) - len(d)) / (len(a) + len(d)),
        "DPL": qa - qd,
        "KL": _kl(pa, pd),
        "JS": None if math.isinf(_kl(pa, mixture)) else 0.5 * (_kl(pa, mixture) + _kl(pd, mixture)),
    }


def _post_training(facet: list[bool], labels: list[bool], predicted: list[bool]) -> dict[str, float | None]:
    def stats(selected: bool) -> tuple[float, float, float | None] | None:
        pairs = [(y, p) for y, p, f in zip(labels, predicted, facet, strict=True) if f == selected]
        if not pairs:
            return None
        positives = [p for y, p in pairs if y]
        recall = sum(positives) / len(positives) if positives else None
        return sum(p for _, p in pairs) / len(pairs), sum(y == p for y, p in pairs) / len(pairs), recall

    a, d = stats(False), stats(True)
    if a is None or d is None:
        return dict.fromkeys(("DPPL", "AD", "RD"))
    return {
        "DPPL": a[0] - d[0],
        "AD": a[1] - d[1],
        "RD": None if a[2] is None or d[2] is None else a[2] - d[2],
    }


def _kl(p: Sequence[float], q: Sequence[float]) -> float:
    total = 0.0
    for x, y in zip(p, q, strict=True):
        if x == 0:
            continue
        if y == 0:
            return math.inf
        total += x * math.log(x / y)
    return total


def _section(config: dict[str, Any], codes: Sequence[str], values: dict[str, float | None]) -> dict[str, Any]:
    (facet,) = config["facet"]
    unknown = [code for code in codes if code not in values]
    if unknown:
        raise ClarifyInputError(f"the stand-in does not compute {', '.join(unknown)}")
    metrics = [
        {
            "name": code,
            "description": DESCRIPTIONS[code],
            "value": None if values[code] is None or math.isinf(values[code] or 0.0) else values[code],
        }
        for code in codes
    ]
    return {
        "label": config["label"],
        "label_value_or_threshold": ",".join(str(v) for v in config["label_values_or_threshold"]),
        "facets": {
            facet["name_or_index"]: [
                {"value_or_threshold": ",".join(str(v) for v in facet["value_or_threshold"]), "metrics": metrics}
            ]
        },
    }


def run_clarify_job(
    *, config_dir: Path, data_dir: Path, output_dir: Path, model_archive: Path | None
) -> dict[str, Any]:
    """What the Clarify container does inside one job: config + dataset in, ``analysis.json`` out."""
    import json

    config_files = sorted(config_dir.rglob("*.json")) if config_dir.is_dir() else []
    if not config_files:
        raise ClarifyInputError(f"no analysis config under {config_dir}")
    config = json.loads(config_files[0].read_text(encoding="utf-8"))
    files = sorted(path for path in data_dir.rglob("*") if path.is_file()) if data_dir.is_dir() else []
    columns = read_dataset(files, config["headers"])
    predict = contributions = None
    if model_archive is not None:
        predict, contributions = _xgboost_callables(model_archive)
    report = analysis_report(config, columns, predict=predict, contributions=contributions)
    output_dir.mkdir(parents=True, exist_ok=True)
    (output_dir / "analysis.json").write_text(json.dumps(report, indent=2) + "\n", encoding="utf-8")
    return report


def _xgboost_callables(model_archive: Path) -> tuple[Callable[..., list[float]], Callable[..., list[list[float]]]]:
    import io
    import tarfile

    import numpy as np
    import xgboost as xgb

    with tarfile.open(model_archive, mode="r:gz") as tar:
        member = tar.extractfile("xgboost-model")
        if member is None:
            raise ClarifyInputError(f"{model_archive.name} has no xgboost-model")
        raw = io.BytesIO(member.read()).getvalue()
    booster = xgb.Booster()
    booster.load_model(bytearray(raw))

    def predict(rows: list[list[float]]) -> list[float]:
        return [float(v) for v in booster.predict(xgb.DMatrix(np.array(rows)))]

    def contributions(rows: list[list[float]]) -> list[list[float]]:
        values: list[list[float]] = booster.predict(xgb.DMatrix(np.array(rows)), pred_contribs=True).tolist()
        return values

    return predict, contributions


def summary(report: dict[str, Any]) -> str:
    """One line: the metrics (or the top SHAP features) of a report."""
    parts = []
    for section in ("pre_training_bias_metrics", "post_training_bias_metrics"):
        for facet, entries in report.get(section, {}).get("facets", {}).items():
            for entry in entries:
                values = ", ".join(
                    f"{m['name']}={m['value']:.3f}" if m["value"] is not None else f"{m['name']}=undefined"
                    for m in entry["metrics"]
                )
                parts.append(f"{facet}: {values}")
    shap = report.get("explanations", {}).get("kernel_shap", {}).get("label0", {}).get("global_shap_values")
    if shap:
        top = list(shap.items())[:3]
        parts.append("top SHAP (TreeSHAP stand-in): " + ", ".join(f"{name}={value:.3f}" for name, value in top))
    return "; ".join(parts) or "empty report"
