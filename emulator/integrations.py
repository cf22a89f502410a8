"""Every service-to-service path of a synthesized environment, checked against the policies AWS evaluates.

A green synth says nothing about whether CloudWatch may publish to the alarm topic, whether EventBridge may
invoke a function or send to its dead-letter queue, or whether a state machine's role may start the job it
names: AWS decides that at run time from the *target's* resource policy, the target's KMS key policy and the
role the integration uses. This module finds every such path in the templates of one environment (alarm
actions, EventBridge targets and dead-letter queues, S3 notifications, SNS subscriptions, Lambda destinations
and event source mappings, log subscriptions, Step Functions tasks) and asks the strict evaluator of
`emulator.policy_simulation` each question with the request context the calling service sends
(``aws:SourceAccount``, ``aws:SourceArn``, ``aws:SecureTransport``). Cross-stack references are resolved
through the environment's exports. Whatever it cannot resolve or does not understand raises, naming it: a
check that guesses could pass by accident.

`check(templates, account=..., region=...)` returns one sentence per path AWS would refuse, and every
question it asked.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any

from emulator.policy_simulation import Context, PolicySimulator, decide_request

# Which request context a service's *downstream* KMS call carries when SNS or SQS encrypts what it sends.
# CloudWatch's carries the alarm as aws:SourceArn (AWS documents scoping the key grant that way). For the
# others, nothing documents the source keys in the KMS request: the check leaves them out, so a key policy
# that requires them fails here rather than silently on AWS.
_KMS_CALL_CARRIES_SOURCE = {
    "cloudwatch.amazonaws.com": True,
    "events.amazonaws.com": False,
    "s3.amazonaws.com": False,
    "sns.amazonaws.com": False,
}

# The IAM actions behind the Step Functions integrations this project uses: resource -> (actions, ARN of
# what they act on, from the task's Parameters).
_STATES = "arn:aws:states:::"


@dataclass(frozen=True)
class Node:
    """One resource of the environment: its stack and logical ID."""

    stack: str
    logical_id: str


class Environment:
    """The templates of one environment, their exports resolved across stacks, and a simulator per stack."""

    def __init__(self, templates: Mapping[str, Mapping[str, Any]], *, account: str, region: str) -> None:
        self.templates, self.account, self.region = templates, account, region
        self._exports: dict[str, tuple[str, Any]] = {}
        for stack, template in templates.items():
            for output in template.get("Outputs", {}).values():
                if "Export" in output:
                    self._exports[str(output["Export"]["Name"])] = (stack, output["Value"])
        imports = _Exports(self)
        self.simulators = {
            stack: PolicySimulator(template, account=account, region=region, stack_name=stack, imports=imports)
            for stack, template in templates.items()
        }
        # Every name and ARN a reference can resolve to, back to its resource.
        self._index: dict[str, Node] = {}
        for stack, simulator in self.simulators.items():
            for logical_id in templates[stack]["Resources"]:
                for value in _identities(simulator, logical_id):
                    self._index.setdefault(value, Node(stack, logical_id))

    def export(self, name: str) -> Any:
        stack, value = self._exports[name]
        return self.simulators[stack].resolve(value)

    def has_export(self, name: str) -> bool:
        return name in self._exports

    def resource(self, node: Node) -> Mapping[str, Any]:
        resource: Mapping[str, Any] = self.templates[node.stack]["Resources"][node.logical_id]
        return resource

    def kind(self, node: Node) -> str:
        return str(self.resource(node)["Type"])

    def simulator(self, node: Node) -> PolicySimulator:
        return self.simulators[node.stack]

    def arn(self, node: Node) -> str:
        return self.simulator(node).arn_of(node.logical_id)

    def find(self, value: Any, *, what: str) -> Node | None:
        """The resource a resolved reference names; None for an ARN outside the environment."""
        if isinstance(value, str) and value in self._index:
            return self._index[value]
        if isinstance(value, str) and value.startswith("arn:"):
            return None
        raise ValueError(f"cannot find {what} ({value!r}) in any stack of this environment")

    def describe(self, node: Node) -> str:
        """The resource's construct path (``Mlops-dev-Level1Repeatable/RetrainingFailed``), else stack/ID."""
        path = self.resource(node).get("Metadata", {}).get("aws:cdk:path")
        if isinstance(path, str):
            return path.removesuffix("/Resource")
        return f"{node.stack}/{node.logical_id}"


class _Exports(Mapping[str, Any]):
    """Export name -> the exporting stack's resolved value, resolved on first use."""

    def __init__(self, environment: Environment) -> None:
        self._environment = environment

    def __getitem__(self, name: str) -> Any:
        if not self._environment.has_export(name):
            raise KeyError(name)
        return self._environment.export(name)

    def __contains__(self, name: object) -> bool:
        return isinstance(name, str) and self._environment.has_export(name)

    def __iter__(self) -> Iterator[str]:
        return iter(self._environment._exports)

    def __len__(self) -> int:
        return len(self._environment._exports)


def _identities(simulator: PolicySimulator, logical_id: str) -> list[str]:
    values: list[str] = []
    for lookup in (simulator.ref_of, simulator.arn_of):
        try:
            values.append(lookup(logical_id))
        except ValueError:
            continue  # a type without a known ARN: nothing can name it by one
    return values


_NOUNS = {
    "AWS::SNS::Topic": "topic",
    "AWS::SQS::Queue": "queue",
    "AWS::Lambda::Function": "function",
    "AWS::KMS::Key": "key",
    "AWS::IAM::Role": "role",
    "AWS::S3::Bucket": "bucket",
    "AWS::StepFunctions::StateMachine": "state machine",
    "AWS::SageMaker::Pipeline": "pipeline",
    "AWS::Kinesis::Stream": "stream",
    "AWS::MSK::ServerlessCluster": "cluster",
    "AWS::Bedrock::KnowledgeBase": "knowledge base",
}


@dataclass(frozen=True)
class Report:
    """What `check` found: `refused`, one sentence per path AWS would refuse; `checked`, every question
    asked (``"sns:Publish by cloudwatch.amazonaws.com for alarm ... on topic ..."``), so a test can tell a
    clean environment from one where nothing was looked at."""

    refused: list[str]
    checked: list[str]


class _Checker:
    def __init__(self, environment: Environment) -> None:
        self.env = environment
        self.findings: list[str] = []
        self.checked: list[str] = []

    # --- the questions --------------------------------------------------------------------------------
    def service_may(
        self, source: str, principal: str, action: str, target: Node, context: Context, *, verb: str
    ) -> bool:
        """`principal`, acting for `source`, calls `action` on `target` (and on the target's key)."""
        simulator = self.env.simulator(target)
        self.checked.append(f"{action} by {principal} for {source} on {self._name(target)}")
        decision = decide_request(
            principal,
            action,
            self.env.arn(target),
            context,
            resource_policy=simulator.resource_policy(target.logical_id),
            key_policy=self.env.kind(target) == "AWS::KMS::Key",
        )
        if not decision.allowed:
            self._refuse(source, verb, target, principal, action, context, decision.why)
            return False
        return self._service_may_use_key(source, principal, target, context)

    def role_may(
        self, source: str, role: Node, actions: list[str], target: Node | str, context: Context, *, verb: str
    ) -> bool:
        """The integration's `role` calls each of `actions` on `target` (a resource of the environment, or
        the ARN of one outside it that has no resource policy), and uses the target's key."""
        if self.env.kind(role) != "AWS::IAM::Role":
            raise ValueError(f"{source}: {self.env.describe(role)} is not a role")
        simulator = self.env.simulator(role)
        role_arn = self.env.arn(role)
        if isinstance(target, Node):
            arn, policy = self.env.arn(target), self.env.simulator(target).resource_policy(target.logical_id)
            is_key, named = self.env.kind(target) in ("AWS::KMS::Key", "AWS::IAM::Role"), self._name(target)
        else:
            arn, policy, is_key, named = target, None, False, target
        for action in actions:
            self.checked.append(f"{action} by {self.env.describe(role)} for {source} on {named}")
            decision = decide_request(
                role_arn,
                action,
                arn,
                context,
                resource_policy=policy,
                identity=simulator.identity_statements(role.logical_id),
                boundary=simulator.boundary_statements(role.logical_id),
                key_policy=is_key,
            )
            if not decision.allowed:
                self.findings.append(
                    f"{source} cannot {verb} {named}: its role {self.env.describe(role)} may not call {action} "
                    f"on it ({decision.why})."
                )
                return False
        return not isinstance(target, Node) or self._role_may_use_key(source, role, target, context)

    def service_may_assume(self, source: str, principal: str, role: Node, context: Context) -> bool:
        return self.service_may(source, principal, "sts:AssumeRole", role, context, verb="assume")

    # --- encryption of what the target stores ---------------------------------------------------------------
    def _key_of(self, target: Node) -> Node | None:
        props = self.env.resource(target).get("Properties", {})
        kind = self.env.kind(target)
        if kind not in ("AWS::SNS::Topic", "AWS::SQS::Queue") or "KmsMasterKeyId" not in props:
            return None
        key = self.env.simulator(target).resolve(props["KmsMasterKeyId"])
        if str(key).startswith("alias/aws/"):
            raise ValueError(
                f"{self._name(target)} is encrypted with the AWS-managed key {key}, whose policy no other "
                "service may use: give it a customer-managed key"
            )
        node = self.env.find(key, what=f"the key of {self._name(target)}")
        if node is None:
            raise ValueError(f"the key {key} of {self._name(target)} is not in this environment")
        return node

    def _encryption_context(self, target: Node) -> dict[str, str]:
        if self.env.kind(target) == "AWS::SNS::Topic":
            return {"kms:EncryptionContext:aws:sns:topicArn": self.env.arn(target)}
        return {"kms:EncryptionContext:aws:sqs:arn": self.env.arn(target)}

    def _service_may_use_key(self, source: str, principal: str, target: Node, context: Context) -> bool:
        key = self._key_of(target)
        if key is None:
            return True
        if principal not in _KMS_CALL_CARRIES_SOURCE:
            raise ValueError(f"which request context {principal} sends to KMS is not known to this check")
        kms_context: dict[str, Any] = {**self._encryption_context(target)}
        if _KMS_CALL_CARRIES_SOURCE[principal]:
            kms_context.update(
                {k: v for k, v in context.items() if k.lower() in ("aws:sourcearn", "aws:sourceaccount")}
            )
        return all(
            self.service_may(source, principal, action, key, kms_context, verb=f"encrypt for {self._name(target)} with")
            for action in ("kms:GenerateDataKey", "kms:Decrypt")
        )

    def _role_may_use_key(self, source: str, role: Node, target: Node, context: Context) -> bool:
        key = self._key_of(target)
        if key is None:
            return True
        return self.role_may(
            source,
            role,
            ["kms:GenerateDataKey", "kms:Decrypt"],
            key,
            self._encryption_context(target),
            verb=f"encrypt for {self._name(target)} with",
        )

    # --- wording ------------------------------------------------------------------------------------------
    def _name(self, node: Node) -> str:
        return f"{_NOUNS.get(self.env.kind(node), self.env.kind(node))} {self.env.describe(node)}"

    def _refuse(
        self, source: str, verb: str, target: Node, principal: str, action: str, context: Context, why: str
    ) -> None:
        sent = ", ".join(f"{k}={v}" for k, v in context.items() if k.lower().startswith("aws:source"))
        self.findings.append(
            f"{source} cannot {verb} {self._name(target)}: its policy does not let {principal} call {action}"
            f"{f' with {sent}' if sent else ''} ({why})."
        )

    def target(self, simulator: PolicySimulator, value: Any, *, what: str) -> Node | str:
        resolved = simulator.resolve(value)
        node = self.env.find(resolved, what=what)
        return str(resolved) if node is None else node


def check(templates: Mapping[str, Mapping[str, Any]], *, account: str, region: str) -> Report:
    """Every service-to-service path of these templates (stack name -> template) of one environment, asked
    of the policies AWS evaluates: one sentence per path AWS would refuse. Raises on a path, reference,
    condition or policy element it cannot evaluate."""
    environment = Environment(templates, account=account, region=region)
    checker = _Checker(environment)
    for stack, template in templates.items():
        for logical_id, resource in template["Resources"].items():
            handler = _HANDLERS.get(resource["Type"])
            if handler is not None:
                handler(checker, Node(stack, logical_id))
    return Report(refused=list(dict.fromkeys(checker.findings)), checked=list(dict.fromkeys(checker.checked)))


# --- the integrations ---------------------------------------------------------------------------------------
def _alarm(checker: _Checker, alarm: Node) -> None:
    env, simulator = checker.env, checker.env.simulator(alarm)
    props = env.resource(alarm)["Properties"]
    source = f"alarm {env.describe(alarm)}"
    context = {"aws:SourceAccount": env.account, "aws:SourceArn": env.arn(alarm)}
    for field in ("AlarmActions", "OKActions", "InsufficientDataActions"):
        for action in props.get(field, []):
            target = checker.target(simulator, action, what=f"the {field} of {source}")
            if not (isinstance(target, Node) and env.kind(target) == "AWS::SNS::Topic"):
                raise ValueError(f"{source}: the action {target} is not a topic of this environment")
            checker.service_may(source, "cloudwatch.amazonaws.com", "sns:Publish", target, context, verb="publish to")


def _rule(checker: _Checker, rule: Node) -> None:
    env, simulator = checker.env, checker.env.simulator(rule)
    props = env.resource(rule)["Properties"]
    source = f"rule {env.describe(rule)}"
    context = {"aws:SourceAccount": env.account, "aws:SourceArn": env.arn(rule)}
    if "EventBusName" in props:
        raise ValueError(f"{source}: rules on a custom event bus are not supported by this check")
    _s3_events_reach_eventbridge(checker, rule, props.get("EventPattern"), source)
    for target in props.get("Targets", []):
        unknown = set(target) - {"Arn", "Id", "RoleArn", "RetryPolicy", "DeadLetterConfig", "Input"}
        if unknown:
            raise ValueError(f"{source}: target settings {sorted(unknown)} are not supported by this check")
        node = checker.target(simulator, target["Arn"], what=f"the target {target['Id']} of {source}")
        role: Node | None = None
        if "RoleArn" in target:
            found = checker.target(simulator, target["RoleArn"], what=f"the role of {source}")
            if not isinstance(found, Node):
                raise ValueError(f"{source}: its role {found} is not in this environment")
            role = found
        kind = env.kind(node) if isinstance(node, Node) else None
        if isinstance(node, Node) and kind in ("AWS::Lambda::Function", "AWS::SNS::Topic", "AWS::SQS::Queue"):
            if role is not None:
                # EventBridge documents that a role on these targets breaks delivery to encrypted ones.
                checker.findings.append(
                    f"{source} sets a role on its target {checker._name(node)}, which EventBridge reaches through "
                    "the target's resource policy (a role there can make delivery fail)."
                )
            action = {"AWS::Lambda::Function": "lambda:InvokeFunction", "AWS::SNS::Topic": "sns:Publish"}.get(
                str(kind), "sqs:SendMessage"
            )
            checker.service_may(source, "events.amazonaws.com", action, node, context, verb="deliver to")
        elif (
            kind == "AWS::StepFunctions::StateMachine"
            or (isinstance(node, str) and node.startswith(f"arn:aws:sagemaker:{env.region}:{env.account}:pipeline/"))
            or kind == "AWS::SageMaker::Pipeline"
        ):
            if role is None:
                checker.findings.append(f"{source} targets {node} without a role, which EventBridge needs for it.")
                continue
            action = (
                "states:StartExecution"
                if kind == "AWS::StepFunctions::StateMachine"
                else "sagemaker:StartPipelineExecution"
            )
            if checker.service_may_assume(source, "events.amazonaws.com", role, context):
                checker.role_may(source, role, [action], node, {}, verb="start")
        else:
            raise ValueError(f"{source}: the target {node} is of a kind this check does not know")
        if "DeadLetterConfig" in target:
            queue = checker.target(simulator, target["DeadLetterConfig"]["Arn"], what=f"the DLQ of {source}")
            if not (isinstance(queue, Node) and env.kind(queue) == "AWS::SQS::Queue"):
                raise ValueError(f"{source}: its dead-letter queue {queue} is not a queue of this environment")
            checker.service_may(
                source, "events.amazonaws.com", "sqs:SendMessage", queue, context, verb="dead-letter to"
            )


def _s3_events_reach_eventbridge(checker: _Checker, rule: Node, pattern: Any, source: str) -> None:
    """A rule on S3 object events hears nothing unless the bucket sends its events to EventBridge."""
    if not isinstance(pattern, Mapping) or "aws.s3" not in pattern.get("source", []):
        return
    names = pattern.get("detail", {}).get("bucket", {}).get("name")
    if not names:
        raise ValueError(f"{source}: a rule on S3 events must name its buckets for this check")
    simulator = checker.env.simulator(rule)
    for name in names:
        bucket = checker.target(simulator, name, what=f"the bucket of {source}")
        if not (isinstance(bucket, Node) and checker.env.kind(bucket) == "AWS::S3::Bucket"):
            raise ValueError(f"{source}: the bucket {bucket} is not in this environment")
        notifications = checker.env.resource(bucket)["Properties"].get("NotificationConfiguration", {})
        if not notifications.get("EventBridgeConfiguration", {}).get("EventBridgeEnabled"):
            checker.findings.append(
                f"{source} listens to {checker._name(bucket)}, which does not send its events to EventBridge."
            )


def _bucket(checker: _Checker, bucket: Node) -> None:
    env, simulator = checker.env, checker.env.simulator(bucket)
    notifications = env.resource(bucket).get("Properties", {}).get("NotificationConfiguration", {})
    source = f"bucket {env.describe(bucket)}"
    context = {"aws:SourceAccount": env.account, "aws:SourceArn": env.arn(bucket)}
    for field, key, action in (
        ("LambdaConfigurations", "Function", "lambda:InvokeFunction"),
        ("QueueConfigurations", "Queue", "sqs:SendMessage"),
        ("TopicConfigurations", "Topic", "sns:Publish"),
    ):
        for entry in notifications.get(field, []):
            node = checker.target(simulator, entry[key], what=f"a notification target of {source}")
            if not isinstance(node, Node):
                raise ValueError(f"{source}: its notification target {node} is not in this environment")
            checker.service_may(source, "s3.amazonaws.com", action, node, context, verb="notify")
    unknown = set(notifications) - {
        "EventBridgeConfiguration",
        "LambdaConfigurations",
        "QueueConfigurations",
        "TopicConfigurations",
    }
    if unknown:
        raise ValueError(f"{source}: notification settings {sorted(unknown)} are not supported by this check")


def _bucket_notifications(checker: _Checker, resource: Node) -> None:
    raise ValueError(
        f"{checker.env.describe(resource)}: notifications set by a custom resource are not supported by this check"
    )


def _subscription(checker: _Checker, subscription: Node) -> None:
    env, simulator = checker.env, checker.env.simulator(subscription)
    props = env.resource(subscription)["Properties"]
    protocol = props["Protocol"]
    if protocol in ("email", "email-json", "http", "https", "sms"):
        return  # delivered by SNS itself, to an address outside AWS's policies
    topic = checker.target(simulator, props["TopicArn"], what="the topic of a subscription")
    if not isinstance(topic, Node):
        raise ValueError(f"{env.describe(subscription)}: its topic {topic} is not in this environment")
    source = f"topic {env.describe(topic)}"
    context = {"aws:SourceAccount": env.account, "aws:SourceArn": env.arn(topic)}
    node = checker.target(simulator, props["Endpoint"], what=f"the endpoint of {env.describe(subscription)}")
    actions = {"lambda": "lambda:InvokeFunction", "sqs": "sqs:SendMessage"}
    if protocol not in actions or not isinstance(node, Node):
        raise ValueError(f"{env.describe(subscription)}: {protocol} subscriptions are not supported by this check")
    checker.service_may(source, "sns.amazonaws.com", actions[protocol], node, context, verb="deliver to")


def _function_role(checker: _Checker, function: Node) -> Node:
    simulator = checker.env.simulator(function)
    role = checker.target(simulator, checker.env.resource(function)["Properties"]["Role"], what="a function's role")
    if not isinstance(role, Node):
        raise ValueError(f"{checker.env.describe(function)}: its role {role} is not in this environment")
    return role


def _send(checker: _Checker, source: str, role: Node, destination: Node | str, *, verb: str) -> None:
    """The function's role sends to a destination (a Lambda destination or an on-failure destination)."""
    if not isinstance(destination, Node):
        raise ValueError(f"{source}: its destination {destination} is not in this environment")
    kind = checker.env.kind(destination)
    actions = {
        "AWS::SQS::Queue": ["sqs:SendMessage"],
        "AWS::SNS::Topic": ["sns:Publish"],
        "AWS::Lambda::Function": ["lambda:InvokeFunction"],
    }
    if kind not in actions:
        raise ValueError(f"{source}: a destination of type {kind} is not supported by this check")
    checker.role_may(source, role, actions[kind], destination, {}, verb=verb)


def _invoke_config(checker: _Checker, config: Node) -> None:
    env, simulator = checker.env, checker.env.simulator(config)
    props = env.resource(config)["Properties"]
    function = checker.target(simulator, props["FunctionName"], what="the function of a destination config")
    if not isinstance(function, Node):
        raise ValueError(f"{env.describe(config)}: its function {function} is not in this environment")
    source = f"function {env.describe(function)}"
    for outcome in ("OnSuccess", "OnFailure"):
        destination = props.get("DestinationConfig", {}).get(outcome)
        if destination:
            node = checker.target(simulator, destination["Destination"], what=f"the {outcome} destination of {source}")
            _send(checker, source, _function_role(checker, function), node, verb="send its results to")


_SOURCE_READS = {
    "AWS::Kinesis::Stream": [
        "kinesis:DescribeStream",
        "kinesis:GetRecords",
        "kinesis:GetShardIterator",
        "kinesis:ListShards",
    ],
    "AWS::SQS::Queue": ["sqs:ReceiveMessage", "sqs:DeleteMessage", "sqs:GetQueueAttributes"],
}


def _event_source(checker: _Checker, mapping: Node) -> None:
    env, simulator = checker.env, checker.env.simulator(mapping)
    props = env.resource(mapping)["Properties"]
    function = checker.target(simulator, props["FunctionName"], what="the function of an event source mapping")
    if not isinstance(function, Node):
        raise ValueError(f"{env.describe(mapping)}: its function {function} is not in this environment")
    role = _function_role(checker, function)
    source = f"event source mapping {env.describe(mapping)}"
    if "EventSourceArn" not in props:
        raise ValueError(f"{source}: an event source without EventSourceArn is not supported by this check")
    stream = checker.target(simulator, props["EventSourceArn"], what=f"the source of {source}")
    if isinstance(stream, Node) and env.kind(stream) == "AWS::MSK::ServerlessCluster":
        _kafka_source(checker, source, role, stream, props)
    elif isinstance(stream, Node) and env.kind(stream) in _SOURCE_READS:
        checker.role_may(source, role, _SOURCE_READS[env.kind(stream)], stream, {}, verb="read from")
        key = env.resource(stream)["Properties"].get("StreamEncryption", {}).get("KeyId")
        if key is not None and not str(simulator.resolve(key)).startswith("alias/aws/"):
            raise ValueError(f"{source}: a stream with a customer-managed key is not supported by this check")
    else:
        raise ValueError(f"{source}: the source {stream} is of a kind this check does not know")
    failure = props.get("DestinationConfig", {}).get("OnFailure")
    if failure:
        node = checker.target(simulator, failure["Destination"], what=f"the on-failure destination of {source}")
        _send(checker, source, role, node, verb="send failed batches to")


# What Lambda's event poller does with the function's role on an MSK cluster with IAM authentication.
_KAFKA_CLUSTER = [
    "kafka:DescribeClusterV2",
    "kafka:GetBootstrapBrokers",
    "kafka-cluster:Connect",
    "kafka-cluster:DescribeClusterDynamicConfiguration",
]
_KAFKA_NETWORK = [
    "ec2:CreateNetworkInterface",
    "ec2:DescribeNetworkInterfaces",
    "ec2:DescribeVpcs",
    "ec2:DeleteNetworkInterface",
    "ec2:DescribeSubnets",
    "ec2:DescribeSecurityGroups",
]


def _kafka_source(checker: _Checker, source: str, role: Node, cluster: Node, props: Mapping[str, Any]) -> None:
    arn = checker.env.arn(cluster)
    _, _, _, _, _, path = arn.split(":", 5)
    cluster_path = path.removeprefix("cluster/")
    group = props.get("AmazonManagedKafkaEventSourceConfig", {}).get("ConsumerGroupId")
    if not group:
        raise ValueError(f"{source}: an MSK source without a ConsumerGroupId is not supported by this check")
    prefix = arn.rsplit(":", 1)[0]
    checker.role_may(source, role, _KAFKA_CLUSTER, cluster, {}, verb="read from")
    for topic in props.get("Topics", []):
        topic_arn = f"{prefix}:topic/{cluster_path}/{topic}"
        checker.role_may(
            source, role, ["kafka-cluster:DescribeTopic", "kafka-cluster:ReadData"], topic_arn, {}, verb="read"
        )
    group_arn = f"{prefix}:group/{cluster_path}/{group}"
    checker.role_may(
        source, role, ["kafka-cluster:DescribeGroup", "kafka-cluster:AlterGroup"], group_arn, {}, verb="commit"
    )
    checker.role_may(source, role, _KAFKA_NETWORK, "*", {}, verb="reach the cluster's network with")


def _subscription_filter(checker: _Checker, subscription: Node) -> None:
    env, simulator = checker.env, checker.env.simulator(subscription)
    props = env.resource(subscription)["Properties"]
    group = str(simulator.resolve(props["LogGroupName"]))
    source = f"log subscription {env.describe(subscription)}"
    principal = f"logs.{env.region}.amazonaws.com"
    context = {
        "aws:SourceAccount": env.account,
        "aws:SourceArn": f"arn:aws:logs:{env.region}:{env.account}:log-group:{group}:*",
    }
    node = checker.target(simulator, props["DestinationArn"], what=f"the destination of {source}")
    if not isinstance(node, Node):
        raise ValueError(f"{source}: its destination {node} is not in this environment")
    kind = env.kind(node)
    if kind == "AWS::Lambda::Function":
        checker.service_may(source, principal, "lambda:InvokeFunction", node, context, verb="deliver to")
    elif kind == "AWS::Kinesis::Stream":
        if "RoleArn" not in props:
            checker.findings.append(f"{source} sends to {checker._name(node)} without the role CloudWatch Logs needs.")
            return
        role = checker.target(simulator, props["RoleArn"], what=f"the role of {source}")
        if not isinstance(role, Node):
            raise ValueError(f"{source}: its role {role} is not in this environment")
        if checker.service_may_assume(source, principal, role, context):
            checker.role_may(source, role, ["kinesis:PutRecord"], node, {}, verb="deliver to")
    else:
        raise ValueError(f"{source}: a destination of type {kind} is not supported by this check")


def _state_machine(checker: _Checker, machine: Node) -> None:
    env, simulator = checker.env, checker.env.simulator(machine)
    props = env.resource(machine)["Properties"]
    source = f"state machine {env.describe(machine)}"
    role = checker.target(simulator, props["RoleArn"], what=f"the role of {source}")
    if not isinstance(role, Node):
        raise ValueError(f"{source}: its role {role} is not in this environment")
    context = {"aws:SourceAccount": env.account, "aws:SourceArn": env.arn(machine)}
    if not checker.service_may_assume(source, "states.amazonaws.com", role, context):
        return
    if "DefinitionString" not in props:
        raise ValueError(f"{source}: only a DefinitionString can be checked")
    definition = json.loads(simulator.resolve(props["DefinitionString"]))
    for name, state in _task_states(definition):
        for actions, target in _task_calls(checker, simulator, f"{source} (state {name})", state):
            checker.role_may(f"{source} (state {name})", role, actions, target, {}, verb="call")


def _task_states(definition: Mapping[str, Any]) -> Iterator[tuple[str, Mapping[str, Any]]]:
    for name, state in definition.get("States", {}).items():
        if state["Type"] == "Task":
            yield name, state
        for branch in state.get("Branches", []):
            yield from _task_states(branch)
        for inner in ("Iterator", "ItemProcessor"):
            if inner in state:
                yield from _task_states(state[inner])


def _task_calls(
    checker: _Checker, simulator: PolicySimulator, source: str, state: Mapping[str, Any]
) -> Iterator[tuple[list[str], Node | str]]:
    env = checker.env
    resource, parameters = str(state["Resource"]), state.get("Parameters", {})

    def parameter(name: str) -> str:
        if f"{name}.$" in parameters or name not in parameters:
            raise ValueError(
                f"{source}: {name} is chosen at run time or missing; this check needs it in the definition"
            )
        return str(parameters[name])

    def node(value: str, what: str) -> Node | str:
        return checker.target(simulator, value, what=f"the {what} of {source}")

    if resource.startswith(f"arn:aws:lambda:{env.region}:{env.account}:function:"):
        yield ["lambda:InvokeFunction"], node(resource, "function")
    elif resource.split(".")[0] == f"{_STATES}lambda:invoke":
        yield ["lambda:InvokeFunction"], node(parameter("FunctionName"), "function")
    elif resource in (f"{_STATES}glue:startJobRun", f"{_STATES}glue:startJobRun.sync"):
        job = f"arn:aws:glue:{env.region}:{env.account}:job/{parameter('JobName')}"
        polling = ["glue:GetJobRun", "glue:GetJobRuns", "glue:BatchStopJobRun"] if resource.endswith(".sync") else []
        yield ["glue:StartJobRun", *polling], job
    elif resource == f"{_STATES}aws-sdk:sagemaker:startPipelineExecution":
        pipeline = f"arn:aws:sagemaker:{env.region}:{env.account}:pipeline/{parameter('PipelineName').lower()}"
        yield ["sagemaker:StartPipelineExecution"], pipeline
    elif resource.split(".")[0] == f"{_STATES}sns:publish":
        yield ["sns:Publish"], node(parameter("TopicArn"), "topic")
    elif resource.split(".")[0] == f"{_STATES}sqs:sendMessage":
        yield ["sqs:SendMessage"], node(parameter("QueueUrl"), "queue")
    elif resource.split(".")[0] == f"{_STATES}states:startExecution":
        yield ["states:StartExecution"], node(parameter("StateMachineArn"), "state machine")
    else:
        raise ValueError(f"{source}: the task resource {resource} is not supported by this check")


def _pipeline(checker: _Checker, pipeline: Node) -> None:
    """A manual approval's notification: CodePipeline publishes it through the action's role (which the
    pipeline's role assumes), so that role needs sns:Publish on the topic and the use of its key."""
    env, simulator = checker.env, checker.env.simulator(pipeline)
    props = env.resource(pipeline)["Properties"]
    for stage in props["Stages"]:
        for action in stage["Actions"]:
            if action["ActionTypeId"]["Category"] != "Approval" or "NotificationArn" not in action.get(
                "Configuration", {}
            ):
                continue
            source = f"approval {stage['Name']}/{action['Name']} of pipeline {env.describe(pipeline)}"
            topic = checker.target(simulator, action["Configuration"]["NotificationArn"], what=f"the topic of {source}")
            pipeline_role = checker.target(simulator, props["RoleArn"], what=f"the role of {source}")
            role = checker.target(simulator, action.get("RoleArn", props["RoleArn"]), what=f"the role of {source}")
            if not (isinstance(topic, Node) and isinstance(role, Node) and isinstance(pipeline_role, Node)):
                raise ValueError(f"{source}: its topic or roles are not in this environment")
            if role != pipeline_role and not checker.role_may(
                source, pipeline_role, ["sts:AssumeRole"], role, {}, verb="assume"
            ):
                continue
            checker.role_may(source, role, ["sns:Publish"], topic, {}, verb="notify")


_HANDLERS = {
    "AWS::CodePipeline::Pipeline": _pipeline,
    "AWS::CloudWatch::Alarm": _alarm,
    "AWS::Events::Rule": _rule,
    "AWS::S3::Bucket": _bucket,
    "Custom::S3BucketNotifications": _bucket_notifications,
    "AWS::SNS::Subscription": _subscription,
    "AWS::Lambda::EventInvokeConfig": _invoke_config,
    "AWS::Lambda::EventSourceMapping": _event_source,
    "AWS::Logs::SubscriptionFilter": _subscription_filter,
    "AWS::StepFunctions::StateMachine": _state_machine,
}

from emulator.integrations_knowledge_base import knowledge_base as _knowledge_base  # noqa: E402 - needs _Checker

_HANDLERS["AWS::Bedrock::KnowledgeBase"] = _knowledge_base

from emulator.integrations_sdk_call import sdk_call as _sdk_call  # noqa: E402 - needs _Checker

_HANDLERS["Custom::AWS"] = _sdk_call
