"""A small, strict evaluator of the IAM policies in a synthesized template (policy simulation, offline).

It answers "may this role do this action on this resource, in this request context?" the way AWS
evaluates a same-account request: an explicit Deny anywhere (identity policies, the role's permission
boundary, the bucket policy) wins; otherwise the request needs an Allow in an identity policy AND in
the boundary. Intrinsic functions are resolved to stable fake names; anything the evaluator does not
understand (an operator, an intrinsic) raises instead of guessing, so a test cannot pass by accident.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any

Context = Mapping[str, str | list[str]]


# AWS managed policies the templates attach, with their published statements (the only ones evaluated here).
_AWS_MANAGED_POLICIES: dict[str, list[dict[str, Any]]] = {
    # CDK's own functions (e.g. the AwsCustomResource provider): write their own logs.
    "arn:aws:iam::aws:policy/service-role/AWSLambdaBasicExecutionRole": [
        {
            "Effect": "Allow",
            "Action": ["logs:CreateLogGroup", "logs:CreateLogStream", "logs:PutLogEvents"],
            "Resource": "*",
        }
    ],
}


@dataclass(frozen=True)
class Decision:
    allowed: bool
    why: str


class PolicySimulator:
    def __init__(
        self,
        template: Mapping[str, Any],
        *,
        account: str,
        region: str,
        stack_name: str | None = None,
        imports: Mapping[str, Any] | None = None,
    ) -> None:
        """`stack_name` makes the fake names unique across the stacks of an environment; `imports` (export
        name -> the exporting stack's resolved value) resolves ``Fn::ImportValue``, and an export that is
        not in it raises instead of becoming a made-up name."""
        self.resources: Mapping[str, Any] = template["Resources"]
        self.account, self.region = account, region
        self.stack_name, self.imports = stack_name, imports

    # --- names ----------------------------------------------------------------------------------------
    def name_of(self, logical_id: str) -> str:
        if logical_id not in self.resources:
            raise ValueError(f"no resource {logical_id} in {self.stack_name or 'this template'}")
        resource = self.resources[logical_id]
        kind, props = resource["Type"], resource.get("Properties", {})
        unique = f"{self.stack_name}-{logical_id}" if self.stack_name else logical_id
        if kind == "AWS::IAM::Role":
            return str(self.resolve(props["RoleName"])) if "RoleName" in props else unique
        if kind == "AWS::IAM::ManagedPolicy":
            return f"arn:aws:iam::{self.account}:policy/{unique}"
        name_property = _NAME_PROPERTIES.get(kind)
        if name_property and name_property in props:
            return str(self.resolve(props[name_property]))
        return unique.lower()

    def ref_of(self, logical_id: str) -> str:
        """What ``Ref`` returns: the ARN of a topic or state machine, the URL of a queue, else the name."""
        kind = self.resources[logical_id]["Type"]
        if kind in (
            "AWS::SNS::Topic",
            "AWS::StepFunctions::StateMachine",
            "AWS::MSK::ServerlessCluster",
            "AWS::MSK::Cluster",
            "AWS::SageMaker::MlflowApp",
        ):
            return self.arn_of(logical_id)
        if kind == "AWS::SQS::Queue":
            return f"https://sqs.{self.region}.amazonaws.com/{self.account}/{self.name_of(logical_id)}"
        return self.name_of(logical_id)

    def arn_of(self, logical_id: str) -> str:
        kind = self.resources[logical_id]["Type"]
        name = self.name_of(logical_id)
        arns = {
            "AWS::S3::Bucket": f"arn:aws:s3:::{name}",
            "AWS::KMS::Key": f"arn:aws:kms:{self.region}:{self.account}:key/{name}",
            "AWS::DynamoDB::Table": f"arn:aws:dynamodb:{self.region}:{self.account}:table/{name}",
            "AWS::IAM::Role": f"arn:aws:iam::{self.account}:role/{name}",
            "AWS::Logs::LogGroup": f"arn:aws:logs:{self.region}:{self.account}:log-group:{name}:*",
            "AWS::Lambda::Function": f"arn:aws:lambda:{self.region}:{self.account}:function:{name}",
            "AWS::CloudWatch::Alarm": f"arn:aws:cloudwatch:{self.region}:{self.account}:alarm:{name}",
            "AWS::SQS::Queue": f"arn:aws:sqs:{self.region}:{self.account}:{name}",
            "AWS::SNS::Topic": f"arn:aws:sns:{self.region}:{self.account}:{name}",
            "AWS::StepFunctions::StateMachine": f"arn:aws:states:{self.region}:{self.account}:stateMachine:{name}",
            "AWS::Events::Rule": f"arn:aws:events:{self.region}:{self.account}:rule/{name}",
            "AWS::Kinesis::Stream": f"arn:aws:kinesis:{self.region}:{self.account}:stream/{name}",
            "AWS::SageMaker::Pipeline": f"arn:aws:sagemaker:{self.region}:{self.account}:pipeline/{name.lower()}",
            # MSK appends a UUID to a cluster's ARN: the logical ID stands in for it.
            "AWS::MSK::ServerlessCluster": f"arn:aws:kafka:{self.region}:{self.account}:cluster/{name}/{logical_id}",
            "AWS::MSK::Cluster": f"arn:aws:kafka:{self.region}:{self.account}:cluster/{name}/{logical_id}",
            # SageMaker names an MLflow app's ARN by a generated app ID: the logical ID stands in for it.
            "AWS::SageMaker::MlflowApp": f"arn:aws:sagemaker:{self.region}:{self.account}:mlflow-app/{logical_id}",
        }
        if kind not in arns:
            raise ValueError(f"no ARN known for {logical_id} ({kind})")
        return arns[kind]

    def resolve(self, value: Any) -> Any:
        if isinstance(value, str | int | float | bool):
            return value
        if isinstance(value, list):
            return [self.resolve(item) for item in value]
        if isinstance(value, dict) and len(value) == 1:
            ((function, argument),) = value.items()
            if function == "Ref":
                pseudo = {
                    "AWS::Partition": "aws",
                    "AWS::AccountId": self.account,
                    "AWS::Region": self.region,
                    "AWS::URLSuffix": "amazonaws.com",
                }
                return pseudo[argument] if argument in pseudo else self.ref_of(argument)
            if function == "Fn::GetAtt":
                logical_id, attribute = argument
                kind = self.resources[logical_id]["Type"] if logical_id in self.resources else None
                if attribute == "Arn" or (kind, attribute) == ("AWS::SNS::Topic", "TopicArn"):
                    return self.arn_of(logical_id)
                if (kind, attribute) in (("AWS::SNS::Topic", "TopicName"), ("AWS::SQS::Queue", "QueueName")):
                    return self.name_of(logical_id)
                if (kind, attribute) == ("AWS::SQS::Queue", "QueueUrl"):
                    return self.ref_of(logical_id)
                if (kind, attribute) == ("AWS::Bedrock::KnowledgeBase", "KnowledgeBaseArn"):
                    return f"arn:aws:bedrock:{self.region}:{self.account}:knowledge-base/{self.name_of(logical_id)}"
                if (kind, attribute) == ("AWS::Bedrock::KnowledgeBase", "KnowledgeBaseId"):
                    return self.name_of(logical_id)
                if (kind, attribute) == ("AWS::SageMaker::Domain", "DomainId"):
                    return f"d-{logical_id.lower()}"  # generated by SageMaker: the logical ID stands in
                if (kind, attribute) == ("AWS::S3Vectors::VectorBucket", "VectorBucketArn"):
                    return f"arn:aws:s3vectors:{self.region}:{self.account}:bucket/{self.name_of(logical_id).lower()}"
                if (kind, attribute) == ("AWS::S3Vectors::Index", "IndexArn"):
                    bucket_arn = self.resolve(self.resources[logical_id]["Properties"]["VectorBucketArn"])
                    return f"{bucket_arn}/index/{self.name_of(logical_id).lower()}"
                raise ValueError(f"cannot resolve Fn::GetAtt {logical_id}.{attribute}")
            if function == "Fn::Join":
                separator, parts = argument
                return separator.join(str(self.resolve(part)) for part in parts)
            if function == "Fn::Split":
                separator, source = argument
                return str(self.resolve(source)).split(separator)
            if function == "Fn::Select":
                index, items = argument
                resolved = self.resolve(items)
                if not isinstance(resolved, list) or not 0 <= int(index) < len(resolved):
                    raise ValueError(f"cannot resolve Fn::Select {index} of {resolved!r}")
                return resolved[int(index)]
            if function == "Fn::ImportValue":
                if self.imports is None:
                    return f"imported-{argument}"
                export = self.resolve(argument)
                if export not in self.imports:
                    raise ValueError(
                        f"cannot resolve Fn::ImportValue {export!r}: no stack of this environment exports it"
                    )
                return self.imports[export]
        if isinstance(value, dict):
            return {key: self.resolve(item) for key, item in value.items()}
        raise ValueError(f"cannot resolve {value!r}")

    # --- the policies that apply to a role ------------------------------------------------------------
    def identity_statements(self, role_id: str) -> list[dict[str, Any]]:
        statements: list[dict[str, Any]] = []
        for resource in self.resources.values():
            if resource["Type"] == "AWS::IAM::Policy" and {"Ref": role_id} in resource["Properties"].get("Roles", []):
                statements += resource["Properties"]["PolicyDocument"]["Statement"]
        for arn in self.resources[role_id]["Properties"].get("ManagedPolicyArns", []):
            statements += self._managed_policy(arn)
        return [self.resolve(s) for s in statements]

    def boundary_statements(self, role_id: str) -> list[dict[str, Any]] | None:
        boundary = self.resources[role_id]["Properties"].get("PermissionsBoundary")
        return None if boundary is None else [self.resolve(s) for s in self._managed_policy(boundary)]

    def _managed_policy(self, reference: Any) -> list[dict[str, Any]]:
        resolved = self.resolve(reference)
        if isinstance(resolved, str) and resolved in _AWS_MANAGED_POLICIES:
            return [dict(statement) for statement in _AWS_MANAGED_POLICIES[resolved]]
        if not (isinstance(reference, dict) and "Ref" in reference):
            raise ValueError(f"only policies of this template can be evaluated, got {reference!r}")
        statements: list[dict[str, Any]] = self.resources[reference["Ref"]]["Properties"]["PolicyDocument"]["Statement"]
        return statements

    def bucket_policy_statements(self) -> list[dict[str, Any]]:
        statements: list[dict[str, Any]] = []
        for resource in self.resources.values():
            if resource["Type"] == "AWS::S3::BucketPolicy":
                statements += [self.resolve(s) for s in resource["Properties"]["PolicyDocument"]["Statement"]]
        return statements

    def resource_policy(self, logical_id: str) -> list[dict[str, Any]] | None:
        """The resolved statements of the policy a resource carries itself: a topic's or queue's policy, a
        function's permissions, a bucket's policy, a key's policy, a role's trust policy. None for a type
        without one (a state machine, a SageMaker pipeline); a type not known here raises."""
        resource = self.resources[logical_id]
        kind, props = resource["Type"], resource.get("Properties", {})
        if kind == "AWS::KMS::Key":
            return [self.resolve(s) for s in props["KeyPolicy"]["Statement"]]
        if kind == "AWS::IAM::Role":
            return [self.resolve(s) for s in props["AssumeRolePolicyDocument"]["Statement"]]
        if kind == "AWS::Lambda::Function":
            return self._function_permissions(logical_id)
        attached = {
            "AWS::SNS::TopicPolicy": ("AWS::SNS::Topic", "Topics"),
            "AWS::SQS::QueuePolicy": ("AWS::SQS::Queue", "Queues"),
            "AWS::S3::BucketPolicy": ("AWS::S3::Bucket", "Bucket"),
        }
        if kind in (
            "AWS::StepFunctions::StateMachine",
            "AWS::SageMaker::Pipeline",
            "AWS::Kinesis::Stream",
            "AWS::MSK::ServerlessCluster",
            "AWS::SageMaker::MlflowApp",
        ):
            return None
        if kind not in {target for target, _ in attached.values()}:
            raise ValueError(f"the resource policy of {logical_id} ({kind}) is not known to this evaluator")
        statements: list[dict[str, Any]] = []
        me = self.ref_of(logical_id)
        for policy in self.resources.values():
            if policy["Type"] in attached and attached[policy["Type"]][0] == kind:
                targets = _as_list(self.resolve(policy["Properties"][attached[policy["Type"]][1]]))
                if me in targets:
                    statements += [self.resolve(s) for s in policy["Properties"]["PolicyDocument"]["Statement"]]
        return statements

    def _function_permissions(self, logical_id: str) -> list[dict[str, Any]]:
        """A function's AWS::Lambda::Permission resources, as the statements Lambda writes for them."""
        names = {self.name_of(logical_id), self.arn_of(logical_id)}
        statements: list[dict[str, Any]] = []
        for permission_id, resource in self.resources.items():
            if resource["Type"] != "AWS::Lambda::Permission":
                continue
            props = resource["Properties"]
            if self.resolve(props["FunctionName"]) not in names:
                continue
            unknown = set(props) - {"Action", "FunctionName", "Principal", "SourceArn", "SourceAccount"}
            if unknown:
                raise ValueError(f"permission {permission_id}: {sorted(unknown)} not supported by this evaluator")
            principal = str(self.resolve(props["Principal"]))
            condition: dict[str, dict[str, Any]] = {}
            if "SourceArn" in props:
                condition["ArnLike"] = {"AWS:SourceArn": self.resolve(props["SourceArn"])}
            if "SourceAccount" in props:
                condition["StringEquals"] = {"AWS:SourceAccount": self.resolve(props["SourceAccount"])}
            statements.append(
                {
                    "Sid": permission_id,
                    "Effect": "Allow",
                    "Principal": "*"
                    if principal == "*"
                    else {"Service" if principal.endswith(".amazonaws.com") else "AWS": principal},
                    "Action": self.resolve(props["Action"]),
                    "Resource": self.arn_of(logical_id),
                    **({"Condition": condition} if condition else {}),
                }
            )
        return statements

    # --- evaluation -----------------------------------------------------------------------------------
    def decide(
        self,
        role_id: str,
        action: str,
        resource: str,
        context: Context | None = None,
        *,
        extra_identity: Iterable[dict[str, Any]] = (),
    ) -> Decision:
        """AWS's same-account decision for `role_id` calling `action` on `resource`."""
        # What every request from the SDKs carries: HTTPS with TLS 1.3.
        context = {"aws:SecureTransport": "true", "s3:TlsVersion": "1.3", **(context or {})}
        identity = self.identity_statements(role_id) + list(extra_identity)
        boundary = self.boundary_statements(role_id)
        resource_policy = [s for s in self.bucket_policy_statements() if _applies_to_everyone(s)]
        for source, statements in (("identity", identity), ("boundary", boundary or []), ("bucket", resource_policy)):
            for statement in statements:
                if statement["Effect"] == "Deny" and _matches(statement, action, resource, context):
                    return Decision(False, f"explicit deny in {source} policy ({statement.get('Sid', 'no Sid')})")
        if not any(s["Effect"] == "Allow" and _matches(s, action, resource, context) for s in identity):
            return Decision(False, "no identity policy allows it")
        if boundary is not None and not any(
            s["Effect"] == "Allow" and _matches(s, action, resource, context) for s in boundary
        ):
            return Decision(False, "the permission boundary does not allow it")
        return Decision(True, "allowed by identity policy and boundary")


# The property that holds a resource's physical name, when the template sets one.
_NAME_PROPERTIES = {
    "AWS::SNS::Topic": "TopicName",
    "AWS::SQS::Queue": "QueueName",
    "AWS::Lambda::Function": "FunctionName",
    "AWS::StepFunctions::StateMachine": "StateMachineName",
    "AWS::Events::Rule": "Name",
    "AWS::CloudWatch::Alarm": "AlarmName",
    "AWS::SageMaker::Pipeline": "PipelineName",
    "AWS::Glue::Job": "Name",
    "AWS::Kinesis::Stream": "Name",
    "AWS::Logs::LogGroup": "LogGroupName",
    "AWS::MSK::ServerlessCluster": "ClusterName",
    "AWS::MSK::Cluster": "ClusterName",
}


def _applies_to_everyone(statement: Mapping[str, Any]) -> bool:
    principal = statement.get("Principal")
    return principal == "*" or principal == {"AWS": "*"}


def _as_list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [value]


def _pattern(glob: str) -> re.Pattern[str]:
    return re.compile("^" + ".*".join(".".join(map(re.escape, part.split("?"))) for part in glob.split("*")) + "$")


def _glob(glob: str, value: str, *, case_insensitive: bool = False) -> bool:
    if case_insensitive:
        glob, value = glob.lower(), value.lower()
    return bool(_pattern(glob).match(value))


def _matches(statement: Mapping[str, Any], action: str, resource: str, context: Context) -> bool:
    if "NotAction" in statement or "NotResource" in statement:
        raise ValueError(f"NotAction/NotResource are not supported by this evaluator: {statement}")
    if not any(_glob(pattern, action, case_insensitive=True) for pattern in _as_list(statement["Action"])):
        return False
    if not any(_glob(pattern, resource) for pattern in _as_list(statement["Resource"])):
        return False
    return all(
        _condition(operator, key, _as_list(expected), context)
        for operator, entries in statement.get("Condition", {}).items()
        for key, expected in entries.items()
    )


_SINGLE: dict[str, tuple[Callable[[str, str], bool], bool]] = {
    "StringEquals": (lambda pattern, value: pattern == value, False),
    "StringNotEquals": (lambda pattern, value: pattern == value, True),
    "StringLike": (_glob, False),
    "StringNotLike": (_glob, True),
    "ArnLike": (_glob, False),
    "ArnNotLike": (_glob, True),
    "ArnEquals": (lambda pattern, value: pattern == value, False),
    "Bool": (lambda pattern, value: str(pattern).lower() == str(value).lower(), False),
    "NumericLessThan": (lambda limit, value: float(value) < float(limit), False),
    "NumericGreaterThanEquals": (lambda limit, value: float(value) >= float(limit), False),
}


def _condition(operator: str, key: str, expected: list[Any], context: Context) -> bool:
    qualifier, _, base = operator.rpartition(":")
    if base not in _SINGLE or qualifier not in ("", "ForAnyValue", "ForAllValues"):
        raise ValueError(f"condition operator {operator!r} is not supported by this evaluator")
    compare, negated = _SINGLE[base]

    def satisfied(value: str) -> bool:
        hit = any(compare(str(pattern), value) for pattern in expected)
        return not hit if negated else hit

    # Condition key names are case-insensitive (aws:SourceArn and AWS:SourceArn are one key).
    lowered = {name.lower(): value for name, value in context.items()}
    present = key.lower() in lowered
    values = _as_list(lowered[key.lower()]) if present else []
    if qualifier == "ForAnyValue":
        return any(satisfied(v) for v in values)
    if qualifier == "ForAllValues":
        return all(satisfied(v) for v in values)
    if not present:
        return negated  # AWS: a missing key never matches; a negated operator is then true
    return satisfied(str(values[0]))


# --- resource and key policies: what a service or a role may do to a resource that has its own policy ------
# A resource policy (topic, queue, function permission, bucket, key, role trust) names its principals. A
# service principal (cloudwatch.amazonaws.com) gets no identity policy: only the resource policy can allow
# it. A role of the same account is allowed by its identity policy (within its boundary) or by a statement
# naming the role itself; a KMS key is the exception: its policy must allow the role, or name the account
# root, which delegates to the role's identity policy. An explicit deny anywhere wins.


def principal_match(statement: Mapping[str, Any], principal: str) -> str | None:
    """How `statement` names `principal` (a service principal, or a role ARN): ``"direct"``, ``"account"``
    (the role's account: a delegation to the role's identity policies), or None."""
    if "NotPrincipal" in statement:
        raise ValueError(f"NotPrincipal is not supported by this evaluator: {statement}")
    if "Principal" not in statement:
        raise ValueError(f"a resource policy statement names no Principal: {statement}")
    account = _role_account(principal)
    named = statement["Principal"]
    if named == "*":
        return "direct"
    if not isinstance(named, Mapping):
        raise ValueError(f"cannot read the Principal {named!r}")
    match: str | None = None
    for kind, values in named.items():
        listed = [str(value) for value in _as_list(values)]
        if kind == "Service":
            match = "direct" if principal in listed else match
        elif kind == "AWS":
            if "*" in listed or (account is not None and principal in listed):
                return "direct"
            if account is not None and any(v in (account, f"arn:aws:iam::{account}:root") for v in listed):
                match = match or "account"
        elif kind != "Federated":
            raise ValueError(f"principal type {kind!r} is not supported by this evaluator")
    return match


def _role_account(principal: str) -> str | None:
    found = re.fullmatch(r"arn:aws:iam::(\d{12}):role/.+", principal)
    if found:
        return found.group(1)
    if principal.startswith("arn:") or not re.fullmatch(r"[a-z0-9.-]+\.amazonaws\.com", principal):
        raise ValueError(f"{principal!r} is neither a role ARN nor a service principal")
    return None


def resource_decision(
    statements: Iterable[Mapping[str, Any]], principal: str, action: str, resource: str, context: Context
) -> tuple[str, str]:
    """A resource policy's own answer for `principal`: ("deny" | "allow" | "account" | "none", why)."""
    context = {"aws:SecureTransport": "true", **context}
    answer, why = "none", "no statement allows it"
    for statement in statements:
        match = principal_match(statement, principal)
        # A role's trust policy has no Resource element: it is about the role itself.
        scoped = statement if "Resource" in statement else {**statement, "Resource": "*"}
        if match is None or not _matches(scoped, action, resource, context):
            continue
        sid = statement.get("Sid", "no Sid")
        if statement["Effect"] == "Deny":
            return "deny", f"explicit deny ({sid})"
        if match == "direct" and answer != "allow":
            answer, why = "allow", f"allowed by {sid}"
        elif match == "account" and answer == "none":
            answer, why = "account", f"the account is allowed ({sid}): its identity policies decide"
    return answer, why


def decide_request(
    principal: str,
    action: str,
    resource: str,
    context: Context,
    *,
    resource_policy: Iterable[Mapping[str, Any]] | None,
    identity: Iterable[Mapping[str, Any]] = (),
    boundary: Iterable[Mapping[str, Any]] | None = None,
    key_policy: bool = False,
) -> Decision:
    """AWS's same-account decision for `principal` (a service principal or a role ARN) calling `action` on
    `resource`, whose own policy is `resource_policy` (None: the resource type has none). `identity` and
    `boundary` are the role's policies; `key_policy` marks `resource_policy` as one that must grant the
    caller itself or delegate to its account: a KMS key policy, or a role's trust policy."""
    context = {"aws:SecureTransport": "true", **context}
    service = _role_account(principal) is None
    if service and (identity or boundary is not None):
        raise ValueError(f"a service principal ({principal}) has no identity policy or boundary")
    if key_policy and resource_policy is None:
        raise ValueError("a KMS key always has a key policy")
    answer, why = (
        ("none", "it has no resource policy")
        if resource_policy is None
        else (resource_decision(resource_policy, principal, action, resource, context))
    )
    if answer == "deny":
        return Decision(False, f"{why} in its policy")
    identity, boundary_list = list(identity), None if boundary is None else list(boundary)
    for source, statements in (("identity", identity), ("boundary", boundary_list or [])):
        for statement in statements:
            if statement["Effect"] == "Deny" and _matches(statement, action, resource, context):
                return Decision(
                    False, f"explicit deny in the role's {source} policy ({statement.get('Sid', 'no Sid')})"
                )
    if answer == "allow":
        return Decision(True, why)
    if service:
        return Decision(False, "no statement of its policy allows the service")
    if key_policy and answer != "account":
        return Decision(False, "its key or trust policy neither names the role nor delegates to the account")
    if not any(s["Effect"] == "Allow" and _matches(s, action, resource, context) for s in identity):
        return Decision(False, "no identity policy of the role allows it")
    if boundary_list is not None and not any(
        s["Effect"] == "Allow" and _matches(s, action, resource, context) for s in boundary_list
    ):
        return Decision(False, "the role's permission boundary does not allow it")
    return Decision(True, "allowed by the role's identity policy")


def resource_policy_decision(
    policy: Mapping[str, Any], *, service_principal: str, action: str, resource: str, context: Context
) -> Decision:
    """May `service_principal` do `action` on `resource` under this live (already resolved) resource or key
    policy, in `context`? The emulator's alarm actions ask this of the topic and key policies it holds."""
    return decide_request(
        service_principal,
        action,
        resource,
        context,
        resource_policy=[dict(statement) for statement in _as_list(policy.get("Statement", []))],
    )
