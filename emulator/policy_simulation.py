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


@dataclass(frozen=True)
class Decision:
    allowed: bool
    why: str


class PolicySimulator:
    def __init__(self, template: Mapping[str, Any], *, account: str, region: str) -> None:
        self.resources: Mapping[str, Any] = template["Resources"]
        self.account, self.region = account, region

    # --- names ----------------------------------------------------------------------------------------
    def name_of(self, logical_id: str) -> str:
        resource = self.resources[logical_id]
        kind, props = resource["Type"], resource.get("Properties", {})
        if kind == "AWS::IAM::Role":
            return str(self.resolve(props["RoleName"])) if "RoleName" in props else logical_id
        if kind == "AWS::IAM::ManagedPolicy":
            return f"arn:aws:iam::{self.account}:policy/{logical_id}"
        return f"{logical_id.lower()}"

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
                return pseudo[argument] if argument in pseudo else self.name_of(argument)
            if function == "Fn::GetAtt":
                logical_id, attribute = argument
                if attribute == "Arn":
                    return self.arn_of(logical_id)
                raise ValueError(f"cannot resolve Fn::GetAtt {logical_id}.{attribute}")
            if function == "Fn::Join":
                separator, parts = argument
                return separator.join(str(self.resolve(part)) for part in parts)
            if function == "Fn::ImportValue":
                return f"imported-{argument}"
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

    present = key in context
    values = _as_list(context[key]) if present else []
    if qualifier == "ForAnyValue":
        return any(satisfied(v) for v in values)
    if qualifier == "ForAllValues":
        return all(satisfied(v) for v in values)
    if not present:
        return negated  # AWS: a missing key never matches; a negated operator is then true
    return satisfied(str(values[0]))


def _principal_matches(statement: Mapping[str, Any], service_principal: str) -> bool:
    """Whether a resource-policy statement names `service_principal` (a service such as cloudwatch.amazonaws.com)."""
    if "NotPrincipal" in statement:
        raise ValueError(f"NotPrincipal is not supported by this evaluator: {statement}")
    principal = statement.get("Principal")
    if principal is None:
        raise ValueError(f"a resource-policy statement without Principal: {statement}")
    if principal == "*":
        return True
    if not isinstance(principal, Mapping):
        raise ValueError(f"unexpected Principal {principal!r}")
    unknown = set(principal) - {"AWS", "Service", "Federated", "CanonicalUser"}
    if unknown:
        raise ValueError(f"unexpected Principal keys {sorted(unknown)}")
    if "*" in _as_list(principal.get("AWS", [])):
        return True
    # Account roots, roles and users name IAM principals: they never match a service principal.
    return service_principal in _as_list(principal.get("Service", []))


def resource_policy_decision(
    policy: Mapping[str, Any], *, service_principal: str, action: str, resource: str, context: Context
) -> Decision:
    """May `service_principal` do `action` on `resource` under this resource (or key) policy, in `context`?

    As AWS evaluates a service principal's call against a resource policy: an explicit Deny that matches
    wins; otherwise a matching Allow that names the principal (or everyone) is needed. Statements are
    already resolved (a live policy, not a template); what the evaluator does not understand raises.
    """
    statements = [dict(s) for s in _as_list(policy.get("Statement", []))]
    matching = [
        s for s in statements if _principal_matches(s, service_principal) and _matches(s, action, resource, context)
    ]
    denies = [s for s in matching if s.get("Effect") == "Deny"]
    if denies:
        return Decision(False, f"explicitly denied by statement {denies[0].get('Sid', '(no Sid)')}")
    if any(s.get("Effect") == "Allow" for s in matching):
        return Decision(True, "allowed by the resource policy")
    return Decision(False, f"no statement allows {service_principal} to {action} {resource}")
