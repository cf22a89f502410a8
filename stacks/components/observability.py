"""Alarms and a dashboard for every resource of a stack that can fail, by default.

`Monitoring.watch_stack()` finds, in one walk of the stack, every project Lambda function
(`PythonFunction`), Step Functions state machine, API Gateway REST API, DynamoDB table and dead-letter
queue (`DeadLetterQueue`), and gives each an alarm per failure mode (sent to the alerts topic, with
its return to OK) and a row on the stack's operations dashboard: a graph of its metrics and the
status of its alarms. A resource someone adds later is covered without another call, as long as it
is of one of those kinds; `tests/infra/test_observability.py` fails for any that is not.

Failure modes (one alarm each, all on 5-minute sums, missing data is not breaching):

| resource | alarms |
|---|---|
| Lambda function | ``Errors`` >= 1, ``Throttles`` >= 1 |
| state machine | ``ExecutionsFailed`` >= 1, ``ExecutionsTimedOut`` >= 1 |
| REST API (its stage) | ``5XXError`` >= 1 |
| DynamoDB table | read + write throttle events >= 1, ``SystemErrors`` of the item operations >= 1 |
| dead-letter queue | ``ApproximateNumberOfMessagesVisible`` (maximum) >= 1 |

An alarm that already exists for a failure mode is registered with `known_alarm` (or a dead-letter
queue's own ``alarm``) and shown on the dashboard instead of being duplicated. Custom metrics
(embedded metric format) go on the same dashboard with `metrics`.

Hand-written on purpose, not cdk-monitoring-constructs: loading that jsii library and building its
facade for a handful of resources cost 17-24 s per synth on this machine (measured against 0.3 s for
these alarms built directly); see docs/observability.md.
"""

from __future__ import annotations

from collections.abc import Sequence

from aws_cdk import Duration, Stack
from aws_cdk import aws_apigateway as apigateway
from aws_cdk import aws_cloudwatch as cloudwatch
from aws_cdk import aws_dynamodb as dynamodb
from aws_cdk import aws_stepfunctions as sfn
from constructs import Construct

from stacks.components.alerts import Alerts
from stacks.components.python_function import PythonFunction
from stacks.components.queues import DeadLetterQueue
from stacks.jsii_ids import node_path

PERIOD = Duration.minutes(5)
# The item operations whose system errors are alarmed (CloudWatch publishes SystemErrors per operation; each
# one read by an alarm is billed as one alarm metric).
TABLE_OPERATIONS = (
    dynamodb.Operation.GET_ITEM,
    dynamodb.Operation.PUT_ITEM,
    dynamodb.Operation.UPDATE_ITEM,
    dynamodb.Operation.QUERY,
)
GRAPH_WIDTH = 16
STATUS_WIDTH = 8


class Monitoring(Construct):
    """The operations dashboard of one stack and the alarms of its resources, sent to `alerts`.

    `dashboard`: an existing dashboard of the stack to add the rows to, instead of a new one.

    Create it last in the stack, then call `watch_stack()` (or the per-resource methods).
    """

    def __init__(
        self, scope: Construct, construct_id: str, *, alerts: Alerts, dashboard: cloudwatch.Dashboard | None = None
    ) -> None:
        super().__init__(scope, construct_id)
        self._alerts = alerts
        self._known: dict[tuple[str, str], cloudwatch.IAlarm] = {}
        self._watched: set[str] = set()
        self._stack_path = node_path(Stack.of(self))
        # A dashboard is billed monthly: a stack that has one already (the endpoint's) adds its rows there. A new
        # one has no name: CloudFormation names it, so two environments in one account never clash.
        self.dashboard = dashboard or cloudwatch.Dashboard(self, "Dashboard")

    # --- registration -------------------------------------------------------------------------------
    def known_alarm(self, resource: Construct, failure: str, alarm: cloudwatch.IAlarm) -> None:
        """`alarm` already watches `failure` (e.g. ``failed``) of `resource`: show it, do not add another."""
        self._known[(node_path(resource), failure)] = alarm

    def watch_stack(self) -> None:
        """Watch every resource of the stack this construct is in that is of a kind listed in the module doc."""
        for construct in Stack.of(self).node.find_all():
            if isinstance(construct, PythonFunction):
                self.function(construct)
            elif isinstance(construct, sfn.StateMachine):
                self.state_machine(construct)
            elif isinstance(construct, apigateway.RestApi):
                self.rest_api(construct)
            elif isinstance(construct, dynamodb.Table):
                self.table(construct)
            elif isinstance(construct, DeadLetterQueue):
                self.dead_letter_queue(construct)

    # --- per resource -------------------------------------------------------------------------------
    def function(self, function: PythonFunction) -> None:
        fn = function.function
        if not self._first(function):
            return
        errors = fn.metric_errors(period=PERIOD, statistic="Sum")
        throttles = fn.metric_throttles(period=PERIOD, statistic="Sum")
        alarms = [
            self._alarm(function, "errors", errors, f"The Lambda function {node_path(function)} failed invocations"),
            self._alarm(function, "throttles", throttles, f"The Lambda function {node_path(function)} was throttled"),
        ]
        invocations = fn.metric_invocations(period=PERIOD, statistic="Sum")
        self._row(f"Lambda {function.node.id}", [invocations, errors, throttles], alarms)

    def state_machine(self, machine: sfn.StateMachine) -> None:
        if not self._first(machine):
            return
        failed = machine.metric_failed(period=PERIOD, statistic="Sum")
        timed_out = machine.metric_timed_out(period=PERIOD, statistic="Sum")
        alarms = [
            self._alarm(machine, "failed", failed, f"An execution of {node_path(machine)} failed"),
            self._alarm(machine, "timedOut", timed_out, f"An execution of {node_path(machine)} timed out"),
        ]
        started = machine.metric_started(period=PERIOD, statistic="Sum")
        self._row(f"State machine {machine.node.id}", [started, failed, timed_out], alarms)

    def rest_api(self, api: apigateway.RestApi) -> None:
        if not self._first(api):
            return
        stage = api.deployment_stage
        server_errors = stage.metric_server_error(period=PERIOD, statistic="Sum")
        alarms = [self._alarm(api, "5xx", server_errors, f"The API {node_path(api)} answered with server errors (5xx)")]
        requests = stage.metric_count(period=PERIOD, statistic="Sum")
        client_errors = stage.metric_client_error(period=PERIOD, statistic="Sum")
        self._row(f"API {api.node.id}", [requests, client_errors, server_errors], alarms)

    def table(self, table: dynamodb.Table) -> None:
        if not self._first(table):
            return
        reads = table.metric("ReadThrottleEvents", period=PERIOD, statistic="Sum")
        writes = table.metric("WriteThrottleEvents", period=PERIOD, statistic="Sum")
        throttled = cloudwatch.MathExpression(
            expression="reads + writes",
            using_metrics={"reads": reads, "writes": writes},
            label="throttle events",
            period=PERIOD,
        )
        system_errors = table.metric_system_errors_for_operations(
            operations=list(TABLE_OPERATIONS), period=PERIOD, statistic="Sum"
        )
        alarms = [
            self._alarm(table, "throttled", throttled, f"Requests to the table {node_path(table)} were throttled"),
            self._alarm(table, "systemErrors", system_errors, f"The table {node_path(table)} returned system errors"),
        ]
        self._row(f"Table {table.node.id}", [throttled, system_errors], alarms)

    def dead_letter_queue(self, queue: DeadLetterQueue) -> None:
        if not self._first(queue):
            return
        visible = queue.metric_approximate_number_of_messages_visible(period=PERIOD, statistic="Maximum")
        alarm = queue.alarm or self._alarm(
            queue, "messages", visible, f"Messages {queue.what_for} could not deliver wait in {node_path(queue)}"
        )
        self._row(f"Dead letters {queue.node.id}", [visible], [alarm])

    def metrics(self, title: str, metrics: Sequence[cloudwatch.IMetric], alarms: Sequence[cloudwatch.IAlarm]) -> None:
        """A row of custom metrics (e.g. embedded metric format) and the alarms that watch them."""
        self._row(title, list(metrics), list(alarms))

    # --- internals ----------------------------------------------------------------------------------
    def _first(self, resource: Construct) -> bool:
        path = node_path(resource)
        if path in self._watched:
            return False
        self._watched.add(path)
        return True

    def _alarm(
        self, resource: Construct, failure: str, metric: cloudwatch.IMetric, description: str
    ) -> cloudwatch.IAlarm:
        known = self._known.get((node_path(resource), failure))
        if known is not None:
            return known
        # The resource's path inside the stack: the same logical ID in every environment.
        relative = node_path(resource)[len(self._stack_path) + 1 :]
        alarm_id = f"{relative.replace('/', '')}-{failure}"
        return self._alerts.alarm(
            cloudwatch.Alarm(
                self,
                alarm_id,
                metric=metric,
                threshold=1,
                evaluation_periods=1,
                comparison_operator=cloudwatch.ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
                treat_missing_data=cloudwatch.TreatMissingData.NOT_BREACHING,
                alarm_description=description,
            )
        )

    def _row(self, title: str, metrics: list[cloudwatch.IMetric], alarms: list[cloudwatch.IAlarm]) -> None:
        self.dashboard.add_widgets(
            cloudwatch.GraphWidget(title=title, left=metrics, width=GRAPH_WIDTH),
            cloudwatch.AlarmStatusWidget(title=f"{title}: alarms", alarms=alarms, width=STATUS_WIDTH),
        )
