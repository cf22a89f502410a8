"""Level 3 (scalable) check: several teams, each in its own bounded role."""

from __future__ import annotations

from maturity.aws import Api, SessionLike
from maturity.checks.base import (
    _MAX_PARENTS,
    _SHOWN,
    Evidence,
    _arn_name,
    _Probes,
)

# --------------------------------------------------------------------------------------------------
# Level 3: scalable


def _role_name(arn: str) -> str:
    return arn.rsplit("/", 1)[-1]


def team_isolation(session: SessionLike) -> Evidence:
    sagemaker, iam = Api(session, "sagemaker"), Api(session, "iam")
    probe = _Probes()
    profiles = probe.items(sagemaker, "list_user_profiles", "UserProfiles")
    domain_roles: dict[str, str | None] = {}
    roles: dict[str, list[str]] = {}  # execution role name -> profiles using it
    for profile in profiles[:_MAX_PARENTS]:
        domain, name = profile["DomainId"], profile["UserProfileName"]
        described = probe.call(sagemaker, "describe_user_profile", DomainId=domain, UserProfileName=name)
        if described is None:
            continue
        role = (described.get("UserSettings") or {}).get("ExecutionRole")
        if not role:
            if domain not in domain_roles:
                domain_described = probe.call(sagemaker, "describe_domain", DomainId=domain)
                domain_roles[domain] = ((domain_described or {}).get("DefaultUserSettings") or {}).get("ExecutionRole")
            role = domain_roles[domain]
        if role:
            roles.setdefault(_role_name(role), []).append(name)
    bounded: list[str] = []
    for role_name, users in roles.items():
        got = probe.call(iam, "get_role", RoleName=role_name)
        boundary = ((got or {}).get("Role", {}).get("PermissionsBoundary") or {}).get("PermissionsBoundaryArn")
        if boundary:
            bounded.append(f"{role_name} (bounded by {_arn_name(boundary)}; {', '.join(users)})")
    found = [f"{len(bounded)} bounded team roles: {'; '.join(bounded[:_SHOWN])}"] if len(bounded) >= 2 else []
    return probe.verdict(
        found,
        present=f"Teams work in their own, bounded roles: {found[0] if found else ''}.",
        absent=(
            f"{len(profiles)} Studio user profile(s) use {len(roles)} execution role(s), {len(bounded)} with a "
            "permissions boundary: teams are not separated (two or more bounded roles are needed)."
            if profiles
            else "No SageMaker Studio user profile: no team has its own workspace and role."
        ),
    )
