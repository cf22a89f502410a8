"""Values in cdk.json that are still the example's placeholders: synth warns about each (it does not fail).

A fork replaces them before deploying: alarm and approval mail to an example domain goes nowhere, and the
deploy role of a placeholder repository trusts nobody's workflow. Detected by what cannot be real: the
domains reserved for documentation (RFC 2606 / RFC 6761) and the conventional placeholder owners of a
GitHub repository. Identity Center names (``sso:...``) cannot be told apart from real ones: docs/fork.md
lists them. Plain Python, no aws_cdk.
"""

from __future__ import annotations

from stacks.config import EnvironmentConfig

_RESERVED_DOMAINS = ("example.com", "example.net", "example.org")
_RESERVED_TLDS = ("example", "test", "invalid", "localhost")
_PLACEHOLDER_OWNERS = frozenset({"my-org", "your-org", "example", "owner", "org"})


def _reserved(domain: str) -> bool:
    domain = domain.lower().rstrip(".")
    return domain.rsplit(".", 1)[-1] in _RESERVED_TLDS or any(
        domain == reserved or domain.endswith(f".{reserved}") for reserved in _RESERVED_DOMAINS
    )


def placeholder_warnings(config: EnvironmentConfig) -> list[str]:
    """One sentence per placeholder `config` still holds, naming the environment and key; none for the
    emulator's environment (nothing there reaches a real mailbox or repository)."""
    if config.emulator:
        return []
    found: list[tuple[str, str]] = [("alarmEmail", config.alarm_email)]
    delivery = config.delivery
    if delivery.pipeline:
        found += [(f"delivery.approverEmails[{i}]", email) for i, email in enumerate(delivery.approver_emails)]
    found += [(f"teams[{i}].budgetEmail", team.budget_email) for i, team in enumerate(config.teams)]
    warnings = [
        f"environment {config.name!r}, key '{key}': {value!r} is an example address; replace it before deploying"
        for key, value in found
        if _reserved(value.rpartition("@")[2])
    ]
    app = config.llmops.app
    if config.llmops.enabled and app.enabled and app.domain_name and _reserved(app.domain_name):
        warnings.append(
            f"environment {config.name!r}, key 'llmops.app.domainName': {app.domain_name!r} is an example domain"
        )
    if (delivery.pipeline or delivery.github_actions) and delivery.repository.split("/")[0].lower() in (
        _PLACEHOLDER_OWNERS
    ):
        warnings.append(
            f"environment {config.name!r}, key 'delivery.repository': {delivery.repository!r} is a placeholder; "
            "name your fork (owner/name)"
        )
    return warnings
