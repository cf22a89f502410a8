"""Name and identifier patterns match whole strings: no trailing newline, no non-ASCII digits (issue 15, item 10).

``re.match(r"^name$", "name\\n")`` succeeds because ``$`` also matches before a trailing newline, so a team,
golden set or run id with a newline passed validation and became a different DynamoDB key, S3 prefix or
metric dimension than the name it looks like; ``\\d`` also matches digits of other scripts, which AWS and
``int()`` refuse later as a 500. Every pattern is checked here with a valid value, the same value plus a
newline, and (where it holds digits) with non-ASCII digits; a guard keeps ``$``-anchored patterns from
coming back.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

import stacks.config.patterns as config
import tests.unit.playground_path  # noqa: F401 - puts apps/playground on sys.path
from maturity.cost import templates as cost_templates
from tests.unit.lambdas_path import use

use("llm_evaluation")
use("model_promotion")
# isort: split
import catalog  # noqa: E402
import gateway  # noqa: E402
import promotion  # noqa: E402
import run_evaluation  # noqa: E402
from common import golden_sets, prompt_store, templating  # noqa: E402

from playground import config as playground_config  # noqa: E402

ROOT = Path(__file__).resolve().parents[2]

PATTERNS: list[tuple[str, re.Pattern[str], str]] = [
    ("prompt name", prompt_store.PROMPT_NAME_RE, "triage-v2"),
    ("alias", prompt_store.ALIAS_RE, "prod"),
    ("team (gateway)", gateway.TEAM_RE, "risk"),
    ("team (playground)", playground_config.TEAM_RE, "risk"),
    ("golden set name", golden_sets.SET_NAME_RE, "support-tickets"),
    ("golden item id", golden_sets.ITEM_ID_RE, "T-001"),
    ("golden variable", golden_sets.VARIABLE_NAME_RE, "ticket"),
    ("golden tag", golden_sets.TAG_RE, "multi-issue"),
    ("template variable", templating.VARIABLE_NAME_RE, "ticket"),
    ("run id", run_evaluation.RUN_ID_RE, "run-2026.12.03"),
    ("model id (catalog)", catalog.MODEL_ID_RE, "anthropic.claude-3-haiku-20240307-v1:0"),
    (
        "model package ARN",
        promotion._MODEL_PACKAGE_ARN,
        "arn:aws:sagemaker:us-east-1:123456789012:model-package/churn/3",
    ),
    ("account", config._ACCOUNT_RE, "123456789012"),
    ("email", config._EMAIL_RE, "ops@example.com"),
    ("environment name", config._ENV_NAME_RE, "preprod"),
    ("schedule", config._SCHEDULE_RE, "cron(0 3 * * ? *)"),
    ("model id (config)", config._MODEL_ID_RE, "eu.amazon.nova-lite-v1:0"),
    ("repository", config._REPOSITORY_RE, "acme/mlops"),
    (
        "connection ARN",
        config._CONNECTION_ARN_RE,
        "arn:aws:codeconnections:eu-west-1:123456789012:connection/0a1b2c3d-0000-1111-2222-333344445555",
    ),
    (
        "certificate ARN",
        config._CERTIFICATE_ARN_RE,
        "arn:aws:acm:eu-west-1:123456789012:certificate/0a1b2c3d-0000-1111-2222-333344445555",
    ),
    ("domain name", config._DOMAIN_NAME_RE, "ml.example.com"),
    ("Cognito prefix", config._COGNITO_PREFIX_RE, "acme-ml"),
    (
        "GitHub OIDC provider",
        config._GITHUB_PROVIDER_ARN_RE,
        "arn:aws:iam::123456789012:oidc-provider/token.actions.githubusercontent.com",
    ),
    ("instance type", config._INSTANCE_TYPE_RE, "ml.m5.large"),
    ("team name (config)", config._TEAM_NAME_RE, "fraud"),
    ("role ARN", config._ROLE_ARN_RE, "arn:aws:iam::123456789012:role/DataScientists"),
    ("SSO permission set", config._SSO_PERMISSION_SET_RE, "sso:DataScientist"),
    ("region", cost_templates._REGION_RE, "eu-west-1"),
]
IDS = [name for name, _, _ in PATTERNS]


@pytest.mark.parametrize(("name", "pattern", "valid"), PATTERNS, ids=IDS)
def test_patterns_refuse_a_trailing_newline(name: str, pattern: re.Pattern[str], valid: str) -> None:
    assert pattern.match(valid), f"{name}: {valid!r} should be valid"
    for suffix in ("\n", "\r\n", " "):
        assert not pattern.match(valid + suffix), f"{name} accepts {valid + suffix!r}"


# Patterns with a digit class, with a valid value that holds digits.
DIGIT_PATTERNS = [p for p in PATTERNS if "0-9" in p[1].pattern and re.search("[0-9]", p[2])]


@pytest.mark.parametrize(("name", "pattern", "valid"), DIGIT_PATTERNS, ids=[p[0] for p in DIGIT_PATTERNS])
def test_digits_are_ascii_digits(name: str, pattern: re.Pattern[str], valid: str) -> None:
    # U+0661..U+0669 are ARABIC-INDIC digits: \d matches them, int() accepts them, AWS does not.
    foreign = valid.translate({ord(d): 0x0660 + int(d) for d in "0123456789"})
    assert not pattern.match(foreign), f"{name} accepts {foreign!r}"


def test_unicode_word_characters_are_not_iam_name_characters() -> None:
    assert not config._ROLE_ARN_RE.match("arn:aws:iam::123456789012:role/Données")
    assert not config._SSO_PERMISSION_SET_RE.match("sso:Données")


# The names callers choose at run time (the handlers' inputs).
RUNTIME_PATTERNS = PATTERNS[:11]


@given(st.data(), st.sampled_from(["\n", "\r\n", "\x00", "\x0b", "\x1f"]))
def test_no_valid_name_stays_valid_with_a_control_character_after_it(data: st.DataObject, suffix: str) -> None:
    for _, pattern, _ in RUNTIME_PATTERNS:
        name = data.draw(st.from_regex(pattern, fullmatch=True))
        assert not pattern.match(name + suffix), (pattern.pattern, name + suffix)


# Patterns ending in `$` outside these files' allow-list. _FENCE_RE parses a judge model's reply, where a
# trailing newline is expected, not a name.
_ALLOWED_DOLLAR = {("lambdas/llm_evaluation/scorers.py", "_FENCE_RE")}
_DOLLAR_PATTERN = re.compile(r"^(?P<name>\w+)\s*=\s*re\.compile\(\s*r?[\"'].*\$[\"']", re.MULTILINE)


def test_no_name_pattern_is_anchored_with_dollar() -> None:
    found: list[Any] = []
    for folder in ("lambdas", "stacks", "scripts", "delivery", "maturity", "apps"):
        for path in (ROOT / folder).rglob("*.py"):
            relative = path.relative_to(ROOT).as_posix()
            for match in _DOLLAR_PATTERN.finditer(path.read_text(encoding="utf-8")):
                if (relative, match.group("name")) not in _ALLOWED_DOLLAR:
                    found.append((relative, match.group("name")))
    assert found == [], "anchor with \\Z (or use re.fullmatch): $ also matches before a trailing newline"


def test_names_with_a_trailing_newline_are_refused_where_they_enter() -> None:
    # Through the validators the handlers call, not only the patterns.
    with pytest.raises(catalog.ValidationError, match="prompt name"):
        catalog.validate_name("triage\n")
    with pytest.raises(catalog.ValidationError, match="alias"):
        catalog.validate_alias("prod\n")
    with pytest.raises(catalog.ValidationError, match="model_id"):
        catalog.validate_model_id("amazon.nova-lite-v1:0\n")
    with pytest.raises(catalog.ValidationError, match="team"):
        gateway.parse_request({"prompt": "p", "alias": "prod", "variables": {}, "team": "risk\n"})
    with pytest.raises(catalog.ValidationError, match="run_id"):
        run_evaluation.parse_event(
            {"prompt": "p", "version": 1, "golden_set": "g", "golden_version": 1, "run_id": "r\n"}
        )
    with pytest.raises(golden_sets.GoldenSetError, match="name"):
        golden_sets.GoldenSet.from_dict(
            {"name": "tickets\n", "version": 1, "items": [{"id": "a", "inputs": {"q": "x"}, "reference": "r"}]}
        )
    with pytest.raises(golden_sets.GoldenSetError, match="id"):
        golden_sets.GoldenSet.from_dict(
            {"name": "tickets", "version": 1, "items": [{"id": "a\n", "inputs": {"q": "x"}, "reference": "r"}]}
        )
    with pytest.raises(catalog.ValidationError, match="not a valid variable name"):
        templating.check_declared("{{q}}", ["q\n"])
    # The playground strips its settings first, so only an inner newline is left to refuse.
    with pytest.raises(playground_config.ConfigError, match="PLAYGROUND_TEAM"):
        playground_config.AppConfig.from_env(
            {"TABLE_NAME": "t", "GATEWAY_FUNCTION_NAME": "g", "PLAYGROUND_TEAM": "a\nb"}
        )
