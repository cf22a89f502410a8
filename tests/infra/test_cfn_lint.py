"""cfn-lint over every synthesized template: zero errors, and no deprecated Lambda runtime."""

from __future__ import annotations

from cfnlint.api import ManualArgs, lint_by_config

# W3005 (DependsOn also implied by a reference) is how CDK orders some resources, not a defect.
IGNORED_CHECKS = ["W3005"]


def test_templates_have_no_lint_errors_or_deprecated_runtimes(project_template_files):
    assert project_template_files
    findings = lint_by_config(
        ManualArgs(
            templates=[str(path) for path in project_template_files],
            ignore_checks=IGNORED_CHECKS,
        )
    )
    problems = [
        f"{m.filename}: {m.rule.id} {m.message}"
        for m in findings
        # Errors, plus the runtime-deprecation rules whatever their level.
        if m.rule.id.startswith("E") or m.rule.id in {"W2531", "E2531", "E2533"}
    ]
    assert not problems, "\n".join(problems)
    warnings = [f"{m.filename}: {m.rule.id} {m.message}" for m in findings]
    assert not warnings, "cfn-lint warnings:\n" + "\n".join(warnings)
