"""CloudWatch alarm actions, executed the way CloudWatch executes them, and the alarm history they leave.

moto changes an alarm's state on ``SetAlarmState`` and stops there: no action runs, and it has no
``DescribeAlarmHistory``. In AWS, a state change runs the actions of the new state as the service
principal ``cloudwatch.amazonaws.com``, which the target's resource policy (an SNS topic's policy) and,
for an encrypted topic, the KMS key policy must allow; the outcome is recorded in the alarm's history as
an ``Action`` item: ``Successfully executed action <arn>`` or ``Failed to execute action <arn>. Received
error: ...``. This module does the same in the emulator:

* after moto changes the state, the actions of the new state run (when the alarm's actions are enabled);
* an SNS action is allowed only if the topic's policy allows ``sns:Publish`` to the CloudWatch principal
  in the request context AWS sends (``aws:SourceAccount``, ``aws:SourceArn`` = the alarm,
  ``aws:SecureTransport``), and, for a topic with a KMS key, the key policy allows ``kms:GenerateDataKey*``
  and ``kms:Decrypt`` to it; then the message is published to the topic (moto delivers it to subscribers);
* ``DescribeAlarmHistory`` answers with the state updates and these action items.

Policies are evaluated by :func:`emulator.policy_simulation.resource_policy_decision`, which raises on
anything it does not understand rather than guessing: such an action fails, and its history item says
why. Actions other than SNS topics (Auto Scaling, EC2, Systems Manager) are recorded as not emulated.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

from moto.cloudwatch.models import Alarm, CloudWatchBackend
from moto.cloudwatch.responses import CloudWatchResponse
from moto.core.responses import ActionResult
from moto.kms.models import kms_backends
from moto.sns.models import sns_backends

from emulator.policy_simulation import Decision, resource_policy_decision

__all__ = ["CLOUDWATCH_PRINCIPAL", "apply", "sns_action_decision"]

CLOUDWATCH_PRINCIPAL = "cloudwatch.amazonaws.com"
_APPLIED_MARKER = "_emulator_alarm_actions"


def _parse_arn(arn: str) -> tuple[str, str, str, str]:
    """(service, region, account, resource) of an ARN."""
    parts = arn.split(":", 5)
    if len(parts) != 6 or parts[0] != "arn":
        raise ValueError(f"not an ARN: {arn!r}")
    return parts[2], parts[3], parts[4], parts[5]


def sns_action_decision(alarm_arn: str, topic_arn: str) -> Decision:
    """Whether CloudWatch, acting for `alarm_arn`, may publish to `topic_arn` as the emulator holds it."""
    _, region, account, _ = _parse_arn(topic_arn)
    topic = sns_backends[account][region].topics.get(topic_arn)
    if topic is None:
        return Decision(False, f"topic {topic_arn} does not exist")
    context = {
        "aws:SourceAccount": _parse_arn(alarm_arn)[2],
        "aws:SourceArn": alarm_arn,
        "aws:SecureTransport": "true",
    }
    policy = json.loads(topic.policy) if topic.policy else {"Statement": []}
    decision = resource_policy_decision(
        policy, service_principal=CLOUDWATCH_PRINCIPAL, action="sns:Publish", resource=topic_arn, context=context
    )
    if not decision.allowed:
        return Decision(False, f"the topic policy of {topic_arn}: {decision.why}")
    key_id = getattr(topic, "kms_master_key_id", None)
    if not key_id:
        return decision
    kms = kms_backends[account][region]
    try:
        key = kms.keys[kms.get_key_id(kms.any_id_to_key_id(key_id))]
    except Exception as error:  # moto raises KeyError or its own NotFound types
        return Decision(False, f"the topic's KMS key {key_id} cannot be found ({type(error).__name__})")
    key_context = {**context, "kms:ViaService": f"sns.{region}.amazonaws.com"}
    for action in ("kms:GenerateDataKey", "kms:Decrypt"):
        key_decision = resource_policy_decision(
            json.loads(key.policy),
            service_principal=CLOUDWATCH_PRINCIPAL,
            action=action,
            resource=key.arn,
            context=key_context,
        )
        if not key_decision.allowed:
            return Decision(False, f"the key policy of {key.arn} ({action}): {key_decision.why}")
    return Decision(True, "allowed by the topic policy and the key policy")


def _action_history(alarm: Alarm) -> list[dict[str, Any]]:
    history: list[dict[str, Any]] | None = getattr(alarm, "_emulator_action_history", None)
    if history is None:
        history = []
        alarm._emulator_action_history = history  # type: ignore[attr-defined]
    return history


def _run_actions(alarm: Alarm) -> None:
    if not alarm.actions_enabled:
        return
    actions = {
        "ALARM": alarm.alarm_actions,
        "OK": alarm.ok_actions,
        "INSUFFICIENT_DATA": alarm.insufficient_data_actions,
    }[alarm.state_value]
    for action in actions or []:
        service, region, account, _ = _parse_arn(action)
        now = datetime.now(UTC)
        executed = False
        if service != "sns":
            summary = f"Action {action} was not executed: the emulator runs only SNS alarm actions"
        else:
            try:
                decision = sns_action_decision(alarm.alarm_arn, action)
            except ValueError as error:
                # Never guess: a policy the evaluator cannot read fails the action, saying so.
                decision = Decision(False, f"the emulator cannot evaluate the policy: {error}")
            if decision.allowed:
                message = json.dumps(
                    {
                        "AlarmName": alarm.name,
                        "AlarmArn": alarm.alarm_arn,
                        "NewStateValue": alarm.state_value,
                        "NewStateReason": alarm.state_reason,
                        "StateChangeTime": now.isoformat(),
                    }
                )
                sns_backends[account][region].publish(
                    message, arn=action, subject=f'{alarm.state_value}: "{alarm.name}"'[:100]
                )
                summary, executed = f"Successfully executed action {action}", True
            else:
                summary = (
                    f"Failed to execute action {action}. Received error: "
                    f"CloudWatch Alarms is not authorized to perform this action ({decision.why})"
                )
        _action_history(alarm).append(
            {
                "AlarmName": alarm.name,
                "AlarmType": _alarm_type(alarm),
                "Timestamp": now,
                "HistoryItemType": "Action",
                "HistorySummary": summary,
                "HistoryData": json.dumps({"actionArn": action, "actionState": "Succeeded" if executed else "Failed"}),
            }
        )


def _alarm_type(alarm: Alarm) -> str:
    return "MetricAlarm" if alarm.rule is None else "CompositeAlarm"


def _history_items(alarm: Alarm) -> list[dict[str, Any]]:
    items = [
        {
            "AlarmName": alarm.name,
            "AlarmType": _alarm_type(alarm),
            "Timestamp": timestamp,
            "HistoryItemType": kind,
            "HistorySummary": f"Alarm updated to {state} ({reason})"[:255],
            "HistoryData": reason_data or "{}",
        }
        for kind, reason, reason_data, state, timestamp in alarm.history
    ]
    return items + _action_history(alarm)


def apply() -> None:
    """Install the alarm actions and DescribeAlarmHistory into moto (once per process)."""
    if getattr(CloudWatchBackend, _APPLIED_MARKER, False):
        return
    original_set_state = CloudWatchBackend.set_alarm_state

    def set_alarm_state(
        self: CloudWatchBackend, alarm_name: str, reason: str, reason_data: str, state_value: str
    ) -> None:
        before = self.alarms[alarm_name].state_value if alarm_name in self.alarms else None
        original_set_state(self, alarm_name, reason, reason_data, state_value)
        if before != state_value:  # CloudWatch runs actions on a state transition only
            _run_actions(self.alarms[alarm_name])

    def describe_alarm_history(self: CloudWatchResponse) -> ActionResult:
        name = self._get_param("AlarmName")
        kind = self._get_param("HistoryItemType")
        start, end = self._get_param("StartDate"), self._get_param("EndDate")
        alarms = [self.cloudwatch_backend.alarms[name]] if name in self.cloudwatch_backend.alarms else []
        if name is None:
            alarms = list(self.cloudwatch_backend.alarms.values())
        items = [i for alarm in alarms for i in _history_items(alarm) if kind in (None, i["HistoryItemType"])]
        if start is not None:
            items = [i for i in items if i["Timestamp"] >= _as_datetime(start)]
        if end is not None:
            items = [i for i in items if i["Timestamp"] <= _as_datetime(end)]
        items.sort(key=lambda i: i["Timestamp"], reverse=self._get_param("ScanBy") != "TimestampAscending")
        return ActionResult({"AlarmHistoryItems": items[: int(self._get_param("MaxRecords") or 100)]})

    CloudWatchBackend.set_alarm_state = set_alarm_state  # type: ignore[method-assign]
    CloudWatchResponse.describe_alarm_history = describe_alarm_history  # type: ignore[attr-defined]
    setattr(CloudWatchBackend, _APPLIED_MARKER, True)


def _as_datetime(value: Any) -> datetime:
    if isinstance(value, datetime):
        return value if value.tzinfo else value.replace(tzinfo=UTC)
    text = str(value)
    try:
        return datetime.fromtimestamp(float(text), UTC)
    except ValueError:
        parsed = datetime.fromisoformat(text.replace("Z", "+00:00"))
        return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)
