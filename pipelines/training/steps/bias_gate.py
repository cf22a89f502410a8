"""Bias gate step: read Clarify's bias reports and decide whether the model may be registered.

Runs as a SageMaker Processing job in the scikit-learn 1.2-1 container (Python 3.9): standard library only
(see ``steps/__init__.py``). The pipeline's condition step reads the verdict with JsonGet; when it says no,
the Fail step puts ``reason`` into the execution's failure message, so the reviewer sees which metric
crossed which threshold without opening the reports.

Input:
  --data-bias-dir/analysis.json   Clarify's pre-training bias report (the DataBiasCheck step)
  --model-bias-dir/analysis.json  Clarify's post-training bias report (the ModelBiasCheck step)
  --gates "DPL=0.5,DPPL=0.4"      metric=threshold pairs; a metric passes when |value| <= threshold
  --facet NAME                    the facet column the reports were computed on
  --configs-dir/<kind>/analysis_config.json  the model_bias and explainability analysis configs (optional)
Output:
  --gate-dir/bias_gate.json  {"passed": bool, "reason": str, "metrics": {code: value}}
  --gate-dir/<kind>_analysis_config.json  copies of the configs, next to the run's other artifacts: the
    registered DriftCheckBaselines point at these, so the endpoint's monitoring jobs read them with the
    artifacts-bucket access they already have (not from the CDK asset bucket)

A gated metric missing from the reports, or reported as null (Clarify does that when it is undefined, e.g.
a facet with no rows), fails the gate: an unmeasured bias is not a passed check. Unreadable reports end
the job with exit status 1 and one sentence on stderr and in /opt/ml/output/message.
"""

from __future__ import annotations

import argparse
import json
import math
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

PROCESSING_ROOT = Path("/opt/ml/processing")
DEFAULT_DATA_BIAS_DIR = PROCESSING_ROOT / "input" / "data_bias"
DEFAULT_MODEL_BIAS_DIR = PROCESSING_ROOT / "input" / "model_bias"
DEFAULT_GATE_DIR = PROCESSING_ROOT / "gate"
DEFAULT_CONFIGS_DIR = PROCESSING_ROOT / "input" / "configs"
CONFIG_KINDS = ("model_bias", "explainability")
DEFAULT_EXIT_MESSAGE_FILE = Path("/opt/ml/output/message")
REPORT_FILE = "analysis.json"
GATE_FILE = "bias_gate.json"
_SECTIONS = ("pre_training_bias_metrics", "post_training_bias_metrics")


class InputError(Exception):
    """The reports or the gate settings cannot be read; the message is one sentence for the operator."""


def parse_gates(text: str) -> dict[str, float]:
    """``"DPL=0.5,DPPL=0.4"`` -> {"DPL": 0.5, "DPPL": 0.4}; an empty string gates nothing."""
    gates: dict[str, float] = {}
    for item in filter(None, (part.strip() for part in text.split(","))):
        code, separator, value = item.partition("=")
        try:
            threshold = float(value)
        except ValueError:
            threshold = math.nan
        if not separator or not code.strip() or not math.isfinite(threshold) or threshold < 0:
            raise InputError(f"gate {item!r} is not METRIC=THRESHOLD with a non-negative number")
        if code.strip() in gates:
            raise InputError(f"metric {code.strip()} is gated twice")
        gates[code.strip()] = threshold
    return gates


def report_metrics(report: dict[str, Any], facet: str) -> dict[str, float | None]:
    """Metric code -> value for ``facet`` across both bias sections of a Clarify analysis.json."""
    found: dict[str, float | None] = {}
    for section in _SECTIONS:
        facets = report.get(section, {}).get("facets", {})
        for entry in facets.get(facet, []):
            for metric in entry.get("metrics", []):
                value = metric.get("value")
                found[str(metric.get("name"))] = float(value) if isinstance(value, (int, float)) else None
    return found


def load_report(directory: Path) -> dict[str, Any]:
    path = directory / REPORT_FILE
    if not path.is_file():
        # ClarifyCheck's CalculatedBaselineConstraints is the file itself; SageMaker downloads it by name.
        candidates = sorted(directory.rglob(REPORT_FILE)) if directory.is_dir() else []
        if not candidates:
            raise InputError(f"no Clarify report {REPORT_FILE} under {directory}")
        path = candidates[0]
    try:
        document = json.loads(path.read_text(encoding="utf-8"))
    except ValueError as error:
        raise InputError(f"{path.name} under {directory} is not JSON ({error})") from error
    if not isinstance(document, dict):
        raise InputError(f"{path.name} under {directory} is not a JSON object")
    return document


def decide(metrics: dict[str, float | None], gates: dict[str, float]) -> dict[str, Any]:
    """The verdict: every gated metric must be present, defined and within its threshold in absolute value."""
    failures = []
    for code, threshold in gates.items():
        value = metrics.get(code)
        if code not in metrics:
            failures.append(f"{code} was not reported")
        elif value is None or not math.isfinite(value):
            failures.append(f"{code} is undefined")
        elif abs(value) > threshold:
            failures.append(f"{code} = {value:.4f} is beyond its threshold of {threshold:g}")
    if failures:
        reason = "Model not registered by the bias gate: " + "; ".join(failures) + "."
    else:
        reason = (
            "Bias gate passed: "
            + (", ".join(f"|{code}| <= {threshold:g}" for code, threshold in gates.items()) or "nothing gated")
            + "."
        )
    return {"passed": not failures, "reason": reason, "metrics": metrics, "gates": gates}


def run(args: argparse.Namespace) -> dict[str, Any]:
    gates = parse_gates(args.gates)
    metrics: dict[str, float | None] = {}
    for directory in (args.data_bias_dir, args.model_bias_dir):
        metrics.update(report_metrics(load_report(directory), args.facet))
    verdict = decide(metrics, gates)
    verdict["facet"] = args.facet
    args.gate_dir.mkdir(parents=True, exist_ok=True)
    for kind in CONFIG_KINDS:
        sources = sorted((args.configs_dir / kind).rglob("*.json")) if (args.configs_dir / kind).is_dir() else []
        if sources:
            text = sources[0].read_text(encoding="utf-8")
            (args.gate_dir / f"{kind}_analysis_config.json").write_text(text, encoding="utf-8")
    (args.gate_dir / GATE_FILE).write_text(json.dumps(verdict, indent=2) + "\n", encoding="utf-8")
    return verdict


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description="Bias gate of the churn training pipeline.")
    parser.add_argument("--data-bias-dir", type=Path, default=DEFAULT_DATA_BIAS_DIR)
    parser.add_argument("--model-bias-dir", type=Path, default=DEFAULT_MODEL_BIAS_DIR)
    parser.add_argument("--gate-dir", type=Path, default=DEFAULT_GATE_DIR)
    parser.add_argument("--configs-dir", type=Path, default=DEFAULT_CONFIGS_DIR)
    parser.add_argument("--exit-message-file", type=Path, default=DEFAULT_EXIT_MESSAGE_FILE)
    parser.add_argument("--gates", default="")
    parser.add_argument("--facet", default="")
    return parser.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    try:
        verdict = run(args)
    except InputError as error:
        message = f"bias gate failed: {error}"
        print(message, file=sys.stderr)
        if args.exit_message_file.parent.is_dir():
            args.exit_message_file.write_text(message + "\n", encoding="utf-8")
        return 1
    print(verdict["reason"])
    return 0


if __name__ == "__main__":
    sys.exit(main())
