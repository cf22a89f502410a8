"""Alarms and dashboard rows on what Clarify's monitoring schedules publish for a promoted endpoint.

The promotion function (``lambdas/model_promotion/clarify_monitoring.py``) creates two Model Monitor schedules
when an instance-based endpoint reports InService: model bias and explainability (feature attribution drift).
Their names are decided here, once (:func:`schedule_names`), and handed to the function in its environment,
so the alarms below and the schedules the function creates cannot disagree.

What SageMaker publishes (SageMaker developer guide, "CloudWatch Metrics for Bias Drift Analysis" and
"... for Feature Attribution Drift Analysis"; ``publish_cloudwatch_metrics`` is on unless ``Disabled``):

- ``aws/sagemaker/Endpoints/bias-metrics``: ``bias_metric_<CODE>`` per metric the analysis config asks for,
  with dimensions ``Endpoint``, ``MonitoringSchedule``, ``BiasStage``, ``Label``, ``LabelValue``, ``Facet``,
  ``FacetValue``. The model-bias config the training pipeline registers asks for the post-training metrics only
  (``pipelines/training/clarify.py``), so only post-training gates have a metric to watch.
- ``aws/sagemaker/Endpoints/explainability-metrics``: ``feature_<name>`` (global SHAP value) and
  ``ExpectedValue``, dimensions ``Endpoint``, ``MonitoringSchedule``, ``ExplainabilityMethod``, ``Label``,
  ``ValueType``. No nDCG (the attribution-drift score) is published: the job writes its violation (nDCG below
  0.9) to ``constraint_violations.json`` and ends ``CompletedWithViolations``. A metric alarm cannot rank
  features, so there is no explainability alarm; the SHAP values are graphed instead.
- No metric of a monitoring execution's status exists; a failed run shows in the schedule's
  ``LastMonitoringExecutionSummary``.

The bias alarms use Metrics Insights queries filtered on the two dimensions the project controls
(``Endpoint``, ``MonitoringSchedule``) and aggregated over the others, whose exact rendering (``BiasStage``
"Post-training" or "Post-Training", ``LabelValue`` and ``FacetValue`` as "1" or "[1]" or "1.0") is not
documented: an alarm on a plain metric must name every dimension exactly, or it watches a metric nobody
publishes and never fires. CloudWatch forbids SEARCH in alarms but allows Metrics Insights; its alarms
evaluate only the last three hours, which covers a daily run (the data point arrives when the job ends).
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence

from aws_cdk import Duration
from aws_cdk import aws_cloudwatch as cloudwatch
from constructs import Construct

from pipelines.training.clarify import METRICS
from stacks.clarify_config import BiasGateConfig, ClarifyConfig
from stacks.components.alerts import Alerts

__all__ = [
    "BIAS_NAMESPACE",
    "EXPLAINABILITY_NAMESPACE",
    "ClarifyMonitorAlarms",
    "has_schedules",
    "monitored_gates",
    "schedule_names",
]

BIAS_NAMESPACE = "aws/sagemaker/Endpoints/bias-metrics"
EXPLAINABILITY_NAMESPACE = "aws/sagemaker/Endpoints/explainability-metrics"
# SageMaker's limit on a monitoring schedule name (and its pattern: letters, digits, hyphens).
MAX_SCHEDULE_NAME_LENGTH = 63
# SageMaker's pattern for endpoint and schedule names; it also keeps quotes out of the queries below.
_NAME = re.compile(r"[a-zA-Z0-9](-*[a-zA-Z0-9]){0,62}")
SCHEDULE_SUFFIXES: Mapping[str, str] = {"bias": "model-bias", "explainability": "explainability"}
# The alarm looks back two hourly periods: a daily job's data point (stamped when it is published, or at the
# scheduled hour with the job's run time on top) is seen for at least an hour, within Metrics Insights' 3 hours.
PERIOD = Duration.hours(1)
EVALUATION_PERIODS = 2
# What a dashboard graph shows of a daily metric.
GRAPH_RANGE = "-P14D"
GRAPH_PERIOD = Duration.days(1)


def schedule_names(endpoint_name: str) -> dict[str, str]:
    """{"bias": ..., "explainability": ...}: the schedules' names, which the function and the alarms both use."""
    if not _NAME.fullmatch(endpoint_name):
        raise ValueError(f"{endpoint_name!r} is not a SageMaker endpoint name (1-63 letters, digits and hyphens)")
    names = {}
    for kind, suffix in SCHEDULE_SUFFIXES.items():
        tail = f"-{suffix}"
        names[kind] = f"{endpoint_name[: MAX_SCHEDULE_NAME_LENGTH - len(tail)].rstrip('-')}{tail}"
    return names


def has_schedules(endpoint_mode: str, clarify: ClarifyConfig | None) -> bool:
    """Whether the promotion function will create Clarify schedules, so alarms on them can ever fire.

    Serverless endpoints support no Model Monitor; without the Clarify checks the pipeline registers no
    baselines, and the function reports "no Clarify baselines" instead of scheduling anything.
    """
    return endpoint_mode == "provisioned" and clarify is not None and clarify.enabled


def monitored_gates(clarify: ClarifyConfig) -> tuple[BiasGateConfig, ...]:
    """The gates whose metric the model-bias schedule publishes (post-training ones)."""
    return tuple(gate for gate in clarify.gates if METRICS[gate.metric].stage == "post_training")


class ClarifyMonitorAlarms(Construct):
    """Two alarms per post-training bias gate (value above +threshold, below -threshold), sent to ``alerts``.

    The gate stops registration when ``|metric| > threshold``; the same threshold on the served model's daily
    result says the deployed model has become as biased as one the gate would have refused. Missing data is
    not breaching: no data point exists until the first run with ground truth, and none between daily runs.
    The alarms only notify (see docs/bias-and-experiments.md for why they do not retrain).
    """

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        endpoint_name: str,
        schedules: Mapping[str, str],
        gates: Sequence[BiasGateConfig],
        alerts: Alerts,
    ) -> None:
        super().__init__(scope, construct_id)
        for name in (endpoint_name, *schedules.values()):
            if not _NAME.fullmatch(name):
                raise ValueError(f"{name!r} is not a SageMaker endpoint or schedule name: it cannot be queried")
        unknown = [gate.metric for gate in gates if gate.metric not in METRICS]
        if unknown:
            raise ValueError(f"not Clarify bias metrics: {', '.join(unknown)}")
        self.endpoint_name = endpoint_name
        self.schedules = dict(schedules)
        self.gates = tuple(gates)
        self.alarms: list[cloudwatch.Alarm] = []
        for gate in self.gates:
            for suffix, function, comparison, threshold, side in (
                ("High", "MAX", cloudwatch.ComparisonOperator.GREATER_THAN_THRESHOLD, gate.threshold, "above"),
                ("Low", "MIN", cloudwatch.ComparisonOperator.LESS_THAN_THRESHOLD, -gate.threshold, "below"),
            ):
                self.alarms.append(
                    alerts.alarm(
                        cloudwatch.Alarm(
                            self,
                            f"ModelBias{gate.metric}{suffix}",
                            metric=self.bias_query(gate.metric, function),
                            threshold=threshold,
                            evaluation_periods=EVALUATION_PERIODS,
                            datapoints_to_alarm=1,
                            comparison_operator=comparison,
                            treat_missing_data=cloudwatch.TreatMissingData.NOT_BREACHING,
                            alarm_description=(
                                f"{endpoint_name}'s daily model-bias run ({self.schedules['bias']}) measured "
                                f"{gate.metric} ({METRICS[gate.metric].description}) {side} {threshold:g}, beyond the "
                                "training gate's threshold: look at the run's report before the next approval. "
                                "No data (no run yet, or no ground truth uploaded) is not breaching."
                            ),
                        )
                    )
                )

    def bias_query(self, metric: str, function: str) -> cloudwatch.MathExpression:
        """A Metrics Insights query: ``function`` of ``bias_metric_<metric>`` of this endpoint's bias schedule."""
        # A CloudWatch Metrics Insights query, not SQL run on a database; the names and metric codes were checked
        # against their patterns above, so nothing here can carry a quote.
        where = f"WHERE Endpoint = '{self.endpoint_name}' AND MonitoringSchedule = '{self.schedules['bias']}'"
        query = f'SELECT {function}(bias_metric_{metric}) FROM "{BIAS_NAMESPACE}" {where}'  # noqa: S608
        return cloudwatch.MathExpression(
            expression=query,
            using_metrics={},
            label=f"{function.lower()} {metric}",
            period=PERIOD,
        )

    def widgets(self) -> list[cloudwatch.IWidget]:
        """Graphs of every bias metric and SHAP value the schedules publish (SEARCH is allowed in graphs)."""

        def search(namespace: str, schedule: str, extra: str = "") -> cloudwatch.MathExpression:
            terms = f'Namespace="{namespace}" Endpoint="{self.endpoint_name}" MonitoringSchedule="{schedule}"{extra}'
            return cloudwatch.MathExpression(
                expression=f"SEARCH('{terms}', 'Maximum', {int(GRAPH_PERIOD.to_seconds())})",
                using_metrics={},
                # One line per metric found (bias_metric_DPPL, feature_tenure_months, ...), named after it.
                label="${PROP('MetricName')}",
                period=GRAPH_PERIOD,
            )

        annotations = [
            cloudwatch.HorizontalAnnotation(value=sign * gate.threshold, label=f"{gate.metric} gate")
            for gate in self.gates
            for sign in (1, -1)
        ]
        return [
            cloudwatch.GraphWidget(
                title="Model bias of the served model (daily, post-training)",
                left=[search(BIAS_NAMESPACE, self.schedules["bias"])],
                left_annotations=annotations,
                start=GRAPH_RANGE,
                period=GRAPH_PERIOD,
            ),
            cloudwatch.GraphWidget(
                title="Global SHAP value per feature (daily; a changed ranking is attribution drift)",
                left=[
                    search(EXPLAINABILITY_NAMESPACE, self.schedules["explainability"], ' ValueType="GlobalShapValues"')
                ],
                start=GRAPH_RANGE,
                period=GRAPH_PERIOD,
            ),
        ]
