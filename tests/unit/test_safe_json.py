"""common.safe_json, the one bounded JSON reader of every handler: unit cases and Hypothesis properties."""

from __future__ import annotations

import json
import math
from typing import Any

import boto3
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from emulator.lambda_runner import rest_api_event
from tests.unit.lambdas_path import (
    FakeLambdaContext,
    create_prompt_table,
    fast_mock_aws,
    load_handler,
    set_catalog_environment,
)

# isort: split
from common import safe_json
from common.errors import TooLarge, ValidationError


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("[" * 50 + "]" * 50, "request body: at $" + "[0]" * 32 + ": nested deeper than 32 levels"),
        ("[" * 100_000 + "]" * 100_000, "nested deeper than 32 levels"),
        ('{"a": {"b": [1, ' + "9" * 5000 + "]}}", "at $.a.b[1]: number 99999"),
        ('{"n": 1e999}', "at $.n: number 1e999 is out of range"),
        ('{"n": NaN}', "at $.n: NaN is not a JSON number"),
        ('{"n": -Infinity}', "at $.n: -Infinity is not a JSON number"),
        ('{"a": 1, "a": 2}', 'at $: duplicate key "a"'),
        ('{"t": "x\\ud800y"}', "at $.t: the string contains an unpaired surrogate (\\ud800)"),
        ('{"\\udc00": 1}', "the key contains an unpaired surrogate (\\udc00)"),
        ('{"odd key!": ["\\udbff"]}', 'at $["odd key!"][0]: the string contains an unpaired surrogate'),
        ("{oops", "request body: invalid JSON at line 1 column 2"),
        (b"\xff{}", "request body: not valid UTF-8 (byte 0)"),
    ],
)
def test_refusals_name_the_path_and_the_problem(text: str | bytes, message: str) -> None:
    with pytest.raises(ValidationError) as raised:
        safe_json.loads(text)
    assert message in str(raised.value)
    assert len(str(raised.value)) < 400  # never the whole input echoed back


def test_size_is_checked_before_parsing() -> None:
    with pytest.raises(TooLarge, match="request body: 1048577 bytes exceeds the limit of 1048576 bytes"):
        safe_json.loads('"' + "x" * (safe_json.MAX_BODY_BYTES - 1) + '"')
    assert safe_json.loads('"' + "x" * (safe_json.MAX_BODY_BYTES - 2) + '"')
    with pytest.raises(TooLarge):
        safe_json.loads("[1]", max_bytes=2)


def test_paired_surrogates_and_ordinary_documents_pass() -> None:
    assert safe_json.loads('{"emoji": "\\ud83d\\ude00", "n": [1, 2.5, -3e2, true, null]}') == {
        "emoji": "\U0001f600",
        "n": [1, 2.5, -300.0, True, None],
    }


def test_check_bounds_values_the_runtime_parsed() -> None:
    safe_json.check({"ok": [1, 2.0, "x", None, True, {"deep": [[[]]]}]})
    for value, message in (
        ({"n": 10**40}, "at $.n: integer too large"),
        ({"n": 10**5000}, "at $.n: integer too large"),
        ([math.nan], "at $[0]: nan is not a finite number"),
        ({"s": {1, 2}}, "at $.s: set is not a JSON value"),
        ({1: "x"}, "at $: keys must be strings"),
    ):
        with pytest.raises(ValidationError, match=message.replace("[", r"\[").replace("$", r"\$")):
            safe_json.check(value)


def test_decode_body() -> None:
    assert safe_json.decode_body("eyJhIjogMX0=", is_base64=True) == '{"a": 1}'
    assert safe_json.decode_body('{"a": 1}', is_base64=False) == '{"a": 1}'
    assert safe_json.decode_body(None, is_base64=True) == ""
    with pytest.raises(ValidationError, match="not valid base64"):
        safe_json.decode_body("eyJh*IjogMX0=", is_base64=True)
    with pytest.raises(ValidationError, match="not valid UTF-8"):
        safe_json.decode_body("/w==", is_base64=True)
    with pytest.raises(TooLarge):
        safe_json.decode_body("QUFB" * 400_000, is_base64=True)


# --- properties ------------------------------------------------------------------------------------------

#: JSON values inside every bound: what loads() must give back unchanged.
JSON_VALUES = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(min_value=-(10**30), max_value=10**30)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(),
    lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=8), children, max_size=4),
    max_leaves=30,
)

#: Hostile fragments spliced into JSON text.
FRAGMENTS = st.sampled_from(
    # Past Python's own limits too: its parser overflows the stack near depth 1000 and refuses integers
    # over 4300 digits, each of which was a 500 before the handlers used safe_json.
    [
        *("[" * 40, "]" * 40, "[" * 3000, "9" * 40, "9" * 5000, "1e400", "NaN", "-Infinity"),
        *('"\\ud800"', '"\\udfff"', '{"a":1,"a":2}', "\x00", "\\"),
    ]
)


@given(JSON_VALUES)
def test_values_inside_the_bounds_round_trip(value: Any) -> None:
    assert safe_json.loads(json.dumps(value)) == value


@given(
    st.one_of(
        st.text(),
        st.binary(),
        st.builds(lambda v, f, i: (s := json.dumps(v))[:i] + f + s[i:], JSON_VALUES, FRAGMENTS, st.integers(0, 200)),
    )
)
def test_any_input_either_parses_or_is_a_validation_error(text: str | bytes) -> None:
    try:
        value = safe_json.loads(text)
    except ValidationError as error:  # TooLarge is a ValidationError
        assert str(error).startswith("request body: ")
    else:
        safe_json.check(value)  # whatever parses is inside the bounds
        json.dumps(value).encode("utf-8")  # and can be written back out as UTF-8


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    st.one_of(
        st.text(max_size=200),
        st.builds(
            lambda v, f: json.dumps({"version": v, "reason": "r"}).replace("1", f, 1), st.integers(1, 9), FRAGMENTS
        ),
        st.builds(lambda v: json.dumps({"version": 1, "reason": v}), JSON_VALUES),
        st.builds(lambda v: json.dumps(v), JSON_VALUES),
    )
)
def test_the_catalog_never_answers_a_body_with_a_5xx(monkeypatch: pytest.MonkeyPatch, body: str) -> None:
    set_catalog_environment(monkeypatch, table="prompt-catalog", max_template_bytes=1000, namespace="Test/SafeJson")
    with fast_mock_aws():
        create_prompt_table(boto3.client("dynamodb", region_name="us-east-1"))
        module = _catalog_module()
        for method, path in (("PUT", "/prompts/p/aliases/prod"), ("POST", "/evalsets"), ("POST", "/prompts/p/render")):
            event = rest_api_event(method, path, raw_body=body, user_arn="arn:aws:iam::123456789012:user/a")
            response = module.handler(event, FakeLambdaContext())
            answer = json.loads(response["body"])
            assert response["statusCode"] < 500, (path, body, answer)
            if response["statusCode"] >= 400:
                assert answer["error"].strip(), answer


_modules: list[Any] = []


def _catalog_module() -> Any:
    # One handler module for every example: loading it costs more than the example.
    if not _modules:
        _modules.append(load_handler("prompt_catalog"))
    return _modules[0]
