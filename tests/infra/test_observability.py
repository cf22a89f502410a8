"""Every resource that can fail has an alarm (sent to the alerts topic) and a dashboard widget, in every
environment's templates and in the opt-in synths: a function, table, queue, API or state machine added
without monitoring fails here."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from stacks.synth import SynthesizedEnvironment

MONITORED_TYPES = (
    "AWS::Lambda::Function",
    "AWS::StepFunctions::StateMachine",
    "AWS::ApiGateway::RestApi",
    "AWS::DynamoDB::Table",
    "AWS::SQS::Queue",  # dead-letter queues only (see dead_letter_queues)
)
# CDK's own deploy-time handlers (custom-resource providers). They run only while CloudFormation deploys the
# stack, and a failure fails (and rolls back) that deployment, which reports it: there is nothing to alarm on.
CDK_DEPLOY_TIME_HANDLERS = (
    "AWS679f53fac002430cb0da5b7982bd2287",  # AwsCustomResource's singleton function
    "CustomS3AutoDeleteObjectsCustomResourceProvider",  # autoDeleteObjects
    "BucketNotificationsHandler050a0587b7544547bf325f094a3db834",  # S3 event notifications
    "LogRetentionaae0aa3c5b4d4f87b02d85b201efdd8a",  # log retention
    "ProviderframeworkonEvent",  # custom_resources.Provider's framework function (the user handler is watched)
)
# Where a resource names the queue that receives what it could not deliver.
DEAD_LETTER_KEYS = ("DeadLetterConfig", "OnFailure", "RedrivePolicy")


def walk(value: Any) -> Iterator[Any]:
    yield value
    if isinstance(value, dict):
        for item in value.values():
            yield from walk(item)
    elif isinstance(value, list):
        for item in value:
            yield from walk(item)


def referenced(value: Any) -> set[str]:
    """The logical IDs `value` refers to with Ref or Fn::GetAtt."""
    found = set()
    for node in walk(value):
        if isinstance(node, dict):
            if isinstance(node.get("Ref"), str):
                found.add(node["Ref"])
            attribute = node.get("Fn::GetAtt")
            if isinstance(attribute, list) and attribute and isinstance(attribute[0], str):
                found.add(attribute[0])
    return found


def dead_letter_queues(template: dict[str, Any]) -> set[str]:
    """The queues some resource of `template` sends what it could not deliver to."""
    queues = {lid for lid, r in template["Resources"].items() if r["Type"] == "AWS::SQS::Queue"}
    found: set[str] = set()
    for resource in template["Resources"].values():
        for node in walk(resource.get("Properties", {})):
            if isinstance(node, dict):
                for key in DEAD_LETTER_KEYS:
                    if key in node:
                        found |= referenced(node[key]) & queues
    return found


def covers(value: Any, template: dict[str, Any], logical_id: str) -> bool:
    """Whether an alarm's properties or a dashboard's body watch the resource `logical_id`."""
    if logical_id in referenced(value):
        return True
    resource = template["Resources"][logical_id]
    if resource["Type"] != "AWS::ApiGateway::RestApi":
        return False
    # CloudWatch names a REST API by its Name property (the ApiName dimension), not by a reference.
    name = resource["Properties"]["Name"]
    for node in walk(value):
        if isinstance(node, dict) and node.get("Name") == "ApiName" and node.get("Value") == name:
            return True  # an alarm's dimension
        if isinstance(node, str) and f'"ApiName","{name}"' in node:
            return True  # a dashboard widget's metric
    return False


def must_be_monitored(template: dict[str, Any]) -> list[str]:
    dead_letters = dead_letter_queues(template)
    out = []
    for logical_id, resource in template["Resources"].items():
        if resource["Type"] not in MONITORED_TYPES:
            continue
        if resource["Type"] == "AWS::SQS::Queue" and logical_id not in dead_letters:
            continue
        if resource["Type"] == "AWS::Lambda::Function" and any(
            marker in logical_id for marker in CDK_DEPLOY_TIME_HANDLERS
        ):
            continue
        out.append(logical_id)
    return out


def unmonitored(template: dict[str, Any]) -> list[str]:
    """Resources of `template` that lack an alarm with an action, or a dashboard widget: what is missing."""
    resources = template["Resources"]
    alarms = [r["Properties"] for r in resources.values() if r["Type"] == "AWS::CloudWatch::Alarm"]
    dashboards = [
        r["Properties"]["DashboardBody"] for r in resources.values() if r["Type"] == "AWS::CloudWatch::Dashboard"
    ]
    problems = []
    for logical_id in must_be_monitored(template):
        mine = [alarm for alarm in alarms if covers(alarm, template, logical_id)]
        if not mine:
            problems.append(f"{logical_id} ({resources[logical_id]['Type']}): no alarm")
        elif not all(alarm.get("AlarmActions") for alarm in mine):
            problems.append(f"{logical_id}: an alarm without an action")
        if not any(covers(body, template, logical_id) for body in dashboards):
            problems.append(f"{logical_id} ({resources[logical_id]['Type']}): no dashboard widget")
    return problems


def all_synths(request: pytest.FixtureRequest) -> dict[str, SynthesizedEnvironment]:
    synths: dict[str, SynthesizedEnvironment] = dict(request.getfixturevalue("synthesized"))
    synths["dev (every opt-in)"] = request.getfixturevalue("opted_in_dev")
    synths["preprod (MSK)"] = request.getfixturevalue("msk_synth")
    return synths


def test_every_resource_that_can_fail_has_an_alarm_and_a_dashboard_widget(request):
    problems = []
    watched = 0
    for name, env in all_synths(request).items():
        for stack in env.stacks:
            template = env.template(stack)
            watched += len(must_be_monitored(template))
            problems += [f"{name}/{stack.stack_name}: {problem}" for problem in unmonitored(template)]
    assert not problems, "\n".join(problems)
    assert watched > 0


def test_every_alarm_notifies_the_alerts_topic(templates):
    silent = [
        f"{env}/{stack}: {logical_id}"
        for (env, stack), template in templates.items()
        for logical_id, resource in template["Resources"].items()
        if resource["Type"] == "AWS::CloudWatch::Alarm"
        and not (resource["Properties"].get("AlarmActions") and resource["Properties"].get("OKActions"))
    ]
    assert not silent


# The check itself, on handcrafted templates: it must find what is missing.
def _template(**resources: dict[str, Any]) -> dict[str, Any]:
    return {"Resources": resources}


FUNCTION = {"Type": "AWS::Lambda::Function", "Properties": {}}
ALARM = {
    "Type": "AWS::CloudWatch::Alarm",
    "Properties": {"Dimensions": [{"Name": "FunctionName", "Value": {"Ref": "Fn"}}], "AlarmActions": [{"Ref": "T"}]},
}
DASHBOARD = {
    "Type": "AWS::CloudWatch::Dashboard",
    "Properties": {
        "DashboardBody": {
            "Fn::Join": ["", ['{"metrics":[["AWS/Lambda","Errors","FunctionName","', {"Ref": "Fn"}, '"]]}']]
        }
    },
}


def test_the_check_finds_a_function_without_alarm_or_widget():
    assert unmonitored(_template(Fn=FUNCTION, Alarm=ALARM, Board=DASHBOARD)) == []
    assert unmonitored(_template(Fn=FUNCTION, Board=DASHBOARD)) == ["Fn (AWS::Lambda::Function): no alarm"]
    assert unmonitored(_template(Fn=FUNCTION, Alarm=ALARM)) == ["Fn (AWS::Lambda::Function): no dashboard widget"]
    silent = {**ALARM, "Properties": {**ALARM["Properties"], "AlarmActions": []}}
    assert unmonitored(_template(Fn=FUNCTION, Alarm=silent, Board=DASHBOARD)) == ["Fn: an alarm without an action"]
    # CDK's deploy-time handlers are exempt; nothing else is.
    exempt = "CustomS3AutoDeleteObjectsCustomResourceProviderHandler9D90184F"
    assert unmonitored({"Resources": {exempt: FUNCTION}}) == []


def test_only_dead_letter_queues_need_a_queue_alarm():
    queue = {"Type": "AWS::SQS::Queue", "Properties": {}}
    rule = {
        "Type": "AWS::Events::Rule",
        "Properties": {"Targets": [{"DeadLetterConfig": {"Arn": {"Fn::GetAtt": ["Dlq", "Arn"]}}}]},
    }
    assert unmonitored(_template(Work=queue)) == []
    assert unmonitored(_template(Dlq=queue, Rule=rule)) == [
        "Dlq (AWS::SQS::Queue): no alarm",
        "Dlq (AWS::SQS::Queue): no dashboard widget",
    ]
