"""Shims for CloudWatch alarms and log metric filters, and for AWS Budgets.

See :mod:`emulator.shims` for the rules every shim follows."""

from __future__ import annotations

import contextlib
import copy
from typing import Any

from moto.budgets.exceptions import NotFoundException as BudgetsNotFound
from moto.budgets.models import budgets_backends
from moto.cloudformation.exceptions import ValidationError
from moto.cloudwatch.models import Dimension, Metric, MetricDataQuery, MetricStat, cloudwatch_backends
from moto.core.common_models import CloudFormationModel
from moto.logs.models import logs_backends
from moto.utilities.utils import get_partition

from emulator.shims.base import _camel_keys, _Shim

# ------------------------------------------------------------------------------------------------
# Budgets


class BudgetsBudget(_Shim, CloudFormationModel):
    """AWS::Budgets::Budget in moto's Budgets backend (``budgets.describe_budget`` finds it).

    Budget, limit, cost filters and notifications are stored; moto computes no spend, so nothing
    ever alerts locally.
    """

    cfn_type = "AWS::Budgets::Budget"
    note = "emulated via shim: stored in moto's Budgets backend; no spend is computed, nothing alerts"

    def _create(self) -> None:
        budget = copy.deepcopy(dict(self.properties["Budget"]))
        self.name = str(budget.setdefault("BudgetName", self.name))
        if "BudgetLimit" in budget:  # CloudFormation takes a number; the API a decimal string
            budget["BudgetLimit"]["Amount"] = str(budget["BudgetLimit"]["Amount"])
        self._backend().create_budget(
            self.account_id, budget, list(self.properties.get("NotificationsWithSubscribers", []))
        )

    def _backend(self) -> Any:
        return budgets_backends[self.account_id][get_partition(self.region_name)]

    def _delete(self) -> None:
        with contextlib.suppress(BudgetsNotFound):
            self._backend().delete_budget(self.account_id, self.name)


# ------------------------------------------------------------------------------------------------
# CloudWatch


def _metric_queries(metrics: list[dict[str, Any]]) -> list[MetricDataQuery]:
    """Build moto's metric-math query objects from an alarm's ``Metrics`` property."""
    queries = []
    for metric in metrics:
        stat_json = metric.get("MetricStat")
        metric_stat = None
        if stat_json:
            metric_json = stat_json["Metric"]
            metric_stat = MetricStat(
                metric=Metric(
                    metric_name=metric_json["MetricName"],
                    namespace=metric_json["Namespace"],
                    dimensions=[Dimension(d["Name"], d["Value"]) for d in metric_json.get("Dimensions", [])],
                ),
                period=stat_json["Period"],
                stat=stat_json["Stat"],
                unit=stat_json.get("Unit"),
            )
        queries.append(
            MetricDataQuery(
                query_id=metric["Id"],
                label=metric.get("Label"),  # type: ignore[arg-type]
                period=metric.get("Period"),  # type: ignore[arg-type]
                return_data=metric.get("ReturnData", True),
                expression=metric.get("Expression"),
                metric_stat=metric_stat,
            )
        )
    return queries


class CloudWatchAlarm(_Shim, CloudFormationModel):
    """AWS::CloudWatch::Alarm via moto's ``put_metric_alarm`` (``cloudwatch.describe_alarms``).

    Emulated: metric and metric-math alarms with their actions and tags. Not emulated: evaluation.
    Alarms stay in INSUFFICIENT_DATA until ``set_alarm_state`` is called; no action fires.
    """

    cfn_type = "AWS::CloudWatch::Alarm"
    name_property = "AlarmName"
    attributes = frozenset({"Arn"})
    note = "moto CloudWatch alarm; never evaluated, actions never fire (use set_alarm_state)"

    def _create(self) -> None:
        props = self.properties
        backend = cloudwatch_backends[self.account_id][self.region_name]
        if self.name in backend.alarms:
            # put_metric_alarm would overwrite; CloudFormation refuses a second alarm of that name.
            raise ValidationError(message=f"Alarm {self.name} already exists")
        period = props.get("Period")
        backend.put_metric_alarm(
            name=self.name,
            namespace=props.get("Namespace"),  # type: ignore[arg-type]  # absent for metric-math alarms
            metric_name=props.get("MetricName"),  # type: ignore[arg-type]
            metric_data_queries=_metric_queries(props["Metrics"]) if props.get("Metrics") else None,
            comparison_operator=props["ComparisonOperator"],
            evaluation_periods=int(props["EvaluationPeriods"]),
            datapoints_to_alarm=int(props["DatapointsToAlarm"]) if "DatapointsToAlarm" in props else None,
            period=int(period) if period is not None else None,  # type: ignore[arg-type]
            threshold=float(props["Threshold"]) if "Threshold" in props else None,  # type: ignore[arg-type]
            statistic=props.get("Statistic"),  # type: ignore[arg-type]
            extended_statistic=props.get("ExtendedStatistic"),
            description=props.get("AlarmDescription", ""),
            dimensions=props.get("Dimensions") or [],
            alarm_actions=props.get("AlarmActions") or [],
            ok_actions=props.get("OKActions") or [],
            insufficient_data_actions=props.get("InsufficientDataActions") or [],
            unit=props.get("Unit"),
            actions_enabled=bool(props.get("ActionsEnabled", True)),
            treat_missing_data=props.get("TreatMissingData"),
            evaluate_low_sample_count_percentile=props.get("EvaluateLowSampleCountPercentile"),
            threshold_metric_id=props.get("ThresholdMetricId"),
            tags=props.get("Tags") or [],
        )

    def _attribute(self, attribute: str) -> Any:
        return cloudwatch_backends[self.account_id][self.region_name].alarms[self.name].alarm_arn

    def _delete(self) -> None:
        cloudwatch_backends[self.account_id][self.region_name].delete_alarms([self.name])


class LogsMetricFilter(_Shim, CloudFormationModel):
    """AWS::Logs::MetricFilter via moto's ``put_metric_filter`` (``logs.describe_metric_filters``).

    ``Ref`` returns the filter name. Not emulated: matching. moto never turns log events into
    metric data points, so an alarm on the filter's metric sees nothing.
    """

    cfn_type = "AWS::Logs::MetricFilter"
    name_property = "FilterName"
    note = "moto metric filter; log events never produce metric data points"

    def _create(self) -> None:
        transformations = []
        for transformation in self.properties.get("MetricTransformations") or []:
            converted = _camel_keys({k: v for k, v in transformation.items() if k != "Dimensions"})
            # CloudFormation lists dimensions as [{Key, Value}]; the API takes a map.
            if transformation.get("Dimensions"):
                converted["dimensions"] = {d["Key"]: d["Value"] for d in transformation["Dimensions"]}
            transformations.append(converted)
        logs_backends[self.account_id][self.region_name].put_metric_filter(
            filter_name=self.name,
            filter_pattern=str(self.properties.get("FilterPattern", "")),
            log_group_name=str(self.properties["LogGroupName"]),
            metric_transformations=transformations,  # type: ignore[arg-type]  # moto says str, stores a list
        )

    def _delete(self) -> None:
        logs_backends[self.account_id][self.region_name].delete_metric_filter(
            filter_name=self.name, log_group_name=str(self.properties["LogGroupName"])
        )
