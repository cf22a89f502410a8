"""`maturity assess` evidence for bias and explainability checks (issue 17's "model validation with bias
detection, fairness and interpretability").

Passes when the newest version of a model package group carries Clarify's reports
(``ModelMetrics.Bias`` pre- or post-training, or ``ModelMetrics.Explainability``), which is what the
Level 1 training pipeline registers when ``training.clarify.enabled``. Registered in ``checks.CHECKS``.
"""

from __future__ import annotations

from maturity.aws import Api, SessionLike
from maturity.checks.base import _SHOWN, Check, Evidence, _Probes
from maturity.checks.training import _RUN_PIPELINE_HINT, _model_groups, _newest_described

__all__ = ["BIAS_CHECK", "bias_checks"]


def bias_checks(session: SessionLike) -> Evidence:
    sagemaker = Api(session, "sagemaker")
    probe = _Probes()
    groups = _model_groups(probe, sagemaker)
    found: list[str] = []
    without: list[str] = []
    for label, described in _newest_described(probe, sagemaker, groups):
        metrics = described.get("ModelMetrics") or {}
        reports = [f"Bias.{key}" for key in sorted(metrics.get("Bias") or {})]
        reports += [f"Explainability.{key}" for key in sorted(metrics.get("Explainability") or {})]
        if reports:
            found.append(f"{label} carries {', '.join(reports)}")
        else:
            without.append(label)
    if not found and not probe.failures and without:
        return Evidence(
            "missing",
            f"The newest versions ({', '.join(without[:_SHOWN])}) carry no Clarify bias or explainability report: "
            "nobody checked the model for bias before registering it.",
            hint="set training.clarify.enabled in cdk.json and run the training pipeline",
        )
    if not found and not probe.failures and groups:
        return Evidence(
            "missing", "No model version is registered, so none was checked for bias.", hint=_RUN_PIPELINE_HINT
        )
    return probe.verdict(
        found,
        present=f"Models are checked for bias and explained before registration: {'; '.join(found[:_SHOWN])}.",
        absent="No model package group, so no model version was checked for bias.",
    )


BIAS_CHECK = Check(
    "bias-checks",
    "Is each model checked for bias and explained (Clarify) before it is registered?",
    1,
    ("sagemaker:ListModelPackageGroups", "sagemaker:ListModelPackages", "sagemaker:DescribeModelPackage"),
    "Level1Repeatable",
    "Clarify data-bias, model-bias and SHAP checks with a bias gate in the training pipeline",
    bias_checks,
)
