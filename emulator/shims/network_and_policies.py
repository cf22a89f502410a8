"""Shims for EC2 security-group egress rules and the resource policies of S3, SNS and SQS.

See :mod:`emulator.shims` for the rules every shim follows."""

from __future__ import annotations

import contextlib
import copy
import json
from typing import Any, ClassVar

from moto.core.common_models import CloudFormationModel
from moto.ec2.exceptions import InvalidPermissionNotFoundError, InvalidSecurityGroupNotFoundError
from moto.ec2.models import ec2_backends
from moto.s3.exceptions import MissingBucket
from moto.s3.models import s3_backends
from moto.sns.exceptions import TopicNotFound
from moto.sns.models import sns_backends
from moto.sqs.models import sqs_backends
from moto.utilities.utils import get_partition

from emulator.shims.base import _Shim, _stable_id, logger

# ------------------------------------------------------------------------------------------------
# EC2


class Ec2SecurityGroupEgress(_Shim, CloudFormationModel):
    """AWS::EC2::SecurityGroupEgress as a rule on moto's security group.

    ``ec2.describe_security_group_rules`` lists it; ``Ref`` and ``Id`` give the rule id. Not
    emulated: traffic. moto has no network, so no rule allows or blocks anything.
    """

    cfn_type = "AWS::EC2::SecurityGroupEgress"
    attributes = frozenset({"Id"})
    note = "egress rule on the moto security group; moto has no network, so rules filter nothing"

    def _rule_arguments(self) -> dict[str, Any]:
        props = self.properties
        ip_ranges: list[dict[str, Any]] = []
        if "CidrIp" in props:
            ip_ranges.append({"CidrIp": props["CidrIp"], "Description": props.get("Description")})
        if "CidrIpv6" in props:
            ip_ranges.append({"CidrIpv6": props["CidrIpv6"], "Description": props.get("Description")})
        destination = props.get("DestinationSecurityGroupId")
        prefix_list = props.get("DestinationPrefixListId")
        return {
            "group_name_or_id": props["GroupId"],
            "ip_protocol": str(props["IpProtocol"]),
            "from_port": props.get("FromPort"),
            "to_port": props.get("ToPort"),
            "ip_ranges": ip_ranges,
            "source_groups": [{"GroupId": destination, "Description": props.get("Description")}] if destination else [],
            "prefix_list_ids": [{"PrefixListId": prefix_list}] if prefix_list else [],
        }

    def _create(self) -> None:
        rules, _group = ec2_backends[self.account_id][self.region_name].authorize_security_group_egress(
            **self._rule_arguments()
        )
        self.rule_id = str(rules[0].id) if rules else _stable_id(self.name)

    @property
    def physical_resource_id(self) -> str:
        return self.rule_id

    def _attribute(self, attribute: str) -> Any:
        return self.rule_id

    def _delete(self) -> None:
        # The group may be gone already (moto deletes in no particular order), taking the rule along.
        with contextlib.suppress(InvalidSecurityGroupNotFoundError, InvalidPermissionNotFoundError):
            ec2_backends[self.account_id][self.region_name].revoke_security_group_egress(**self._rule_arguments())


# ------------------------------------------------------------------------------------------------
# S3 and SNS resource policies


class S3BucketPolicy(_Shim, CloudFormationModel):
    """AWS::S3::BucketPolicy stored on moto's bucket (``s3.get_bucket_policy`` returns it).

    moto enforces a bucket policy's Deny statements on object calls but cannot evaluate their
    Conditions: it treats a conditional Deny as unconditional. The usual "deny unless TLS"
    statement (``aws:SecureTransport`` = false) would then refuse every object call. So the shim
    stores the policy *without* any Deny statement that has a Condition, logs what it dropped, and
    keeps those statements on :attr:`dropped_statements`. Unconditional Denies and all Allows are
    kept and enforced as moto enforces them (principal ``*`` only, on object calls only).
    """

    cfn_type = "AWS::S3::BucketPolicy"
    note = (
        "policy stored on the moto bucket WITHOUT conditional Deny statements (e.g. the TLS-only deny): "
        "moto cannot evaluate Conditions and would deny every call; unconditional Denies are enforced"
    )

    def __init__(self, account_id: str, region_name: str, name: str, properties: dict[str, Any]) -> None:
        super().__init__(account_id, region_name, name, properties)
        self.dropped_statements: list[dict[str, Any]] = []

    @property
    def bucket_name(self) -> str:
        return str(self.properties["Bucket"])

    @property
    def physical_resource_id(self) -> str:
        return self.bucket_name

    def _backend(self) -> Any:
        return s3_backends[self.account_id][get_partition(self.region_name)]

    def _create(self) -> None:
        document = copy.deepcopy(self.properties.get("PolicyDocument") or {})
        statements = document.get("Statement", [])
        if isinstance(statements, dict):
            statements = [statements]
        kept = []
        for statement in statements:
            if statement.get("Effect") == "Deny" and statement.get("Condition"):
                self.dropped_statements.append(statement)
            else:
                kept.append(statement)
        document["Statement"] = kept
        for statement in self.dropped_statements:
            logger.warning(
                "bucket %s: not applying Deny statement %s with Condition %s (moto cannot evaluate it)",
                self.bucket_name,
                statement.get("Sid", "<no Sid>"),
                json.dumps(statement["Condition"], sort_keys=True),
            )
        self._backend().put_bucket_policy(self.bucket_name, json.dumps(document).encode())

    def _delete(self) -> None:
        with contextlib.suppress(MissingBucket):
            self._backend().delete_bucket_policy(self.bucket_name)


class SnsTopicPolicy(_Shim, CloudFormationModel):
    """AWS::SNS::TopicPolicy set as each topic's ``Policy`` attribute in moto.

    ``sns.get_topic_attributes`` shows it. Not emulated: enforcement; moto does not check topic
    policies, so who may publish is not tested here. Delete restores moto's default policy.
    """

    cfn_type = "AWS::SNS::TopicPolicy"
    attributes = frozenset({"Id"})
    note = "policy stored on the moto topics; moto never enforces topic policies"

    def _topics(self) -> list[str]:
        return [str(arn) for arn in self.properties.get("Topics") or []]

    def _create(self) -> None:
        backend = sns_backends[self.account_id][self.region_name]
        document = json.dumps(self.properties.get("PolicyDocument") or {})
        for topic_arn in self._topics():
            backend.set_topic_attribute(topic_arn, "policy", document)

    def _delete(self) -> None:
        backend = sns_backends[self.account_id][self.region_name]
        for topic_arn in self._topics():
            try:
                topic = backend.get_topic(topic_arn)
            except TopicNotFound:
                continue
            default = topic._create_default_topic_policy(self.region_name, self.account_id, topic.name)
            backend.set_topic_attribute(topic_arn, "policy", json.dumps(default))

    def _attribute(self, attribute: str) -> Any:
        return self.physical_resource_id


class SqsQueuePolicy(_Shim, CloudFormationModel):
    """AWS::SQS::QueuePolicy set as each queue's ``Policy`` attribute in moto (``get_queue_attributes``).

    Not emulated: enforcement; moto does not check queue policies. Delete clears the attribute.
    """

    cfn_type = "AWS::SQS::QueuePolicy"
    attributes = frozenset({"Id"})
    note = "policy stored on the moto queues; moto never enforces queue policies"

    def _queue_names(self) -> list[str]:
        # Queues are given by URL (Ref of AWS::SQS::Queue); the queue name is its last segment.
        return [str(url).rstrip("/").rsplit("/", 1)[-1] for url in self.properties.get("Queues") or []]

    def _create(self) -> None:
        backend = sqs_backends[self.account_id][self.region_name]
        document = json.dumps(self.properties.get("PolicyDocument") or {})
        for name in self._queue_names():
            backend.set_queue_attributes(name, {"Policy": document})

    def _delete(self) -> None:
        backend = sqs_backends[self.account_id][self.region_name]
        for name in self._queue_names():
            with contextlib.suppress(Exception):  # the queue may be gone already
                backend.set_queue_attributes(name, {"Policy": ""})

    def _attribute(self, attribute: str) -> Any:
        return self.physical_resource_id


class SnsSubscription(_Shim, CloudFormationModel):
    """AWS::SNS::Subscription through moto's ``subscribe`` (``sns.list_subscriptions_by_topic``).

    ``Ref`` and ``Arn`` give the subscription ARN. Not emulated: delivery to email or HTTP
    endpoints and their confirmation; SQS and Lambda deliveries behave as moto's SNS does.
    """

    cfn_type = "AWS::SNS::Subscription"
    attributes = frozenset({"Arn"})
    note = "moto SNS subscription; email/HTTP endpoints never receive or confirm anything"

    _settable: ClassVar[tuple[str, ...]] = (
        "DeliveryPolicy",
        "FilterPolicy",
        "FilterPolicyScope",
        "RawMessageDelivery",
        "RedrivePolicy",
    )

    def _create(self) -> None:
        backend = sns_backends[self.account_id][self.region_name]
        props = self.properties
        subscription = backend.subscribe(props["TopicArn"], props.get("Endpoint", ""), props["Protocol"])
        self.arn = str(subscription.arn)
        for attribute in self._settable:
            if attribute not in props:
                continue
            value = props[attribute]
            # The API takes strings; CloudFormation allows JSON objects and booleans here.
            if isinstance(value, bool):
                value = str(value).lower()
            elif not isinstance(value, str):
                value = json.dumps(value)
            backend.set_subscription_attributes(self.arn, attribute, value)

    @property
    def physical_resource_id(self) -> str:
        return self.arn

    def _attribute(self, attribute: str) -> Any:
        return self.arn

    def _delete(self) -> None:
        sns_backends[self.account_id][self.region_name].unsubscribe(self.arn)
