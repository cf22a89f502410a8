"""lambdas/common/settings.py: every function's environment is read with the same rules."""

from __future__ import annotations

import ast
import re

import pytest

from tests.unit.lambdas_path import LAMBDAS  # puts lambdas/ on sys.path, as the runtime has it

from common.settings import EnvSettings, SettingsError  # isort: skip  (needs the path above)

assert LAMBDAS.is_dir()


class Misconfigured(Exception):
    pass


def reader(**env: str) -> EnvSettings:
    return EnvSettings(env, error=Misconfigured, context="fn misconfigured")


def test_required_strips_and_names_the_variable() -> None:
    assert reader(TABLE=" prompts\n").required("TABLE") == "prompts"
    with pytest.raises(Misconfigured, match=r"^fn misconfigured: TABLE must be set because it holds prompts$"):
        reader(TABLE="  \n").required("TABLE", because="it holds prompts")


def test_require_all_lists_every_missing_variable() -> None:
    with pytest.raises(Misconfigured, match=r"missing environment variables A, C$"):
        reader(B="x").require_all("A", "B", "C")
    assert reader(A="1", B="2").require_all("A", "B") == {"A": "1", "B": "2"}


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        ("1e3", "must be an integer"),
        ("True", "must be an integer"),
        ("1.0", "must be an integer"),
        ("9" * 5000, "must be an integer"),  # refused before int() (which would raise on 4,300+ digits)
        ("٣", "must be an integer"),  # Arabic-Indic digit: int() accepts it, a setting must not
        ("0", "between 1 and 10, got 0"),
        ("11", "between 1 and 10, got 11"),
    ],
)
def test_integer_refuses(text: str, problem: str) -> None:
    with pytest.raises(Misconfigured, match=problem):
        reader(N=text).integer("N", 5, low=1, high=10)


def test_integer_default_and_value() -> None:
    assert reader().integer("N", 5, low=1, high=10) == 5
    assert reader(N=" 7\n").integer("N", 5, low=1, high=10) == 7


@pytest.mark.parametrize(
    "text", ["nan", "inf", "-inf", "1e400", "abc", "0x10", "1" * 40, "\u0660.\u0665"]
)  # Arabic-Indic digits: float() reads them
def test_number_refuses_non_finite_and_garbage(text: str) -> None:
    with pytest.raises(Misconfigured, match=r"^fn misconfigured: X must be"):
        reader(X=text).number("X", 0.5, low=0, high=1)


def test_number_range_and_default() -> None:
    assert reader().number("X", 0.5, low=0, high=1) == 0.5
    assert reader(X="0.75").number("X", 0.5, low=0, high=1) == 0.75
    with pytest.raises(Misconfigured, match="between 0 and 1"):
        reader(X="1.5").number("X", 0.5, low=0, high=1)


def test_choice_flag_and_text() -> None:
    assert reader(MODE="serverless").choice("MODE", "instance", {"instance", "serverless"}) == "serverless"
    with pytest.raises(Misconfigured, match="MODE must be one of instance, serverless, got 'Serverless'"):
        reader(MODE="Serverless").choice("MODE", "instance", {"instance", "serverless"})
    assert reader(F="TRUE").flag("F", False) is True
    assert reader(F="no").flag("F", True) is False
    assert reader().flag("F", True) is True
    with pytest.raises(Misconfigured, match="F must be true or false"):
        reader(F="yes please").flag("F", False)


def test_json_is_bounded_and_named() -> None:
    assert reader(J='{"a": [1, 2]}').json("J") == {"a": [1, 2]}
    assert reader().json("J", default={}) == {}
    with pytest.raises(Misconfigured, match="J must be set"):
        reader().json("J", required=True)
    with pytest.raises(Misconfigured, match="J is not valid JSON"):
        reader(J='{"a": 1, "a": 2}').json("J")
    with pytest.raises(Misconfigured, match="J is not valid JSON"):
        reader(J="[" * 100 + "]" * 100).json("J")


def test_s3_uri() -> None:
    assert reader(U="s3://my-bucket/some/prefix").s3_uri("U") == ("my-bucket", "some/prefix")
    assert reader(U="s3://my-bucket").s3_uri("U") == ("my-bucket", "")
    assert reader().optional_s3_uri("U") is None
    with pytest.raises(Misconfigured, match="U must be an s3://bucket/key URI"):
        reader(U="s3://my-bucket").s3_uri("U", key_required=True)
    with pytest.raises(Misconfigured, match="U must be an s3://bucket/prefix URI, got 'https://x'"):
        reader(U="https://x").s3_uri("U")
    with pytest.raises(Misconfigured, match="U must be an s3://bucket/key URI because X is set, got 's3://b'"):
        reader(U="s3://b").s3_uri("U", key_required=True, because="X is set")
    with pytest.raises(Misconfigured, match=r"^fn misconfigured: U must be set because X is set$"):
        reader().s3_uri("U", because="X is set")


def test_long_values_are_not_echoed_whole() -> None:
    with pytest.raises(Misconfigured) as caught:
        reader(MODE="x" * 10_000).choice("MODE", "a", {"a"})
    assert len(str(caught.value)) < 200


def test_default_error_class() -> None:
    with pytest.raises(SettingsError, match=r"^A must be set$"):
        EnvSettings({}).required("A")


def test_names_splits_strips_and_drops_blanks() -> None:
    assert reader(L=" a, b,,c \n").names("L") == ("a", "b", "c")
    assert reader().names("L") == ()
    assert reader(L=" , ,").names("L") == ()


@pytest.mark.parametrize(
    ("text", "options", "problem"),
    [
        (",, ", {"required": True}, "L must list at least one value"),
        ("", {"required": True}, "L must list at least one value"),
        ("a,b,a", {"unique": True}, "L lists 'a' twice"),
        ("a,b,c", {"most": 2}, "L lists 3 values, at most 2"),
        ("a,b c", {"pattern": re.compile(r"[a-z]+"), "what": "a word"}, "L: 'b c' is not a word"),
        ("a,\uff41", {"pattern": re.compile(r"[a-z]+"), "what": "a word"}, "L: '\uff41' is not a word"),  # fullwidth a
    ],
)
def test_names_refuses(text: str, options: dict[str, object], problem: str) -> None:
    with pytest.raises(Misconfigured, match=rf"^fn misconfigured: {re.escape(problem)}"):
        reader(L=text).names("L", **options)  # type: ignore[arg-type]


def test_optional_with_a_pattern() -> None:
    url = re.compile(r"https?://\S+")
    assert reader().optional("U", pattern=url) is None
    assert reader(U=" http://127.0.0.1:9000\n").optional("U", pattern=url, what="a URL") == "http://127.0.0.1:9000"
    with pytest.raises(Misconfigured, match=r"U must be a URL, got 'ftp://x'"):
        reader(U="ftp://x").optional("U", pattern=url, what="a URL")


def environment_reads(source: str) -> list[str]:
    """Reads of the process environment that bypass EnvSettings: ``os.getenv``, ``os.environ.get``,
    ``os.environ[...]`` and so on; passing ``os.environ`` whole to a reader (``X.from_env(os.environ)``) is fine."""
    tree = ast.parse(source)
    passed_whole = {
        id(argument)
        for node in ast.walk(tree)
        if isinstance(node, ast.Call)
        for argument in node.args
        if isinstance(argument, ast.Attribute) and argument.attr == "environ"
    }
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Attribute) and node.attr in {"environ", "getenv", "environb"}:
            if id(node) not in passed_whole:
                found.append(f"line {node.lineno}: {ast.unparse(node)}")
        elif isinstance(node, ast.ImportFrom) and node.module == "os":
            found += [f"line {node.lineno}: from os import {a.name}" for a in node.names if "env" in a.name]
    return found


def test_no_function_reads_its_environment_around_the_shared_rules() -> None:
    problems = [
        f"{path.relative_to(LAMBDAS)} {read}"
        for path in sorted(LAMBDAS.rglob("*.py"))
        if path != LAMBDAS / "common" / "settings.py"
        for read in environment_reads(path.read_text(encoding="utf-8"))
    ]
    assert problems == []


@pytest.mark.parametrize(
    "source",
    [
        "import os\nx = os.environ.get('A')\n",
        "import os\nx = os.environ['A']\n",
        "import os\nx = os.getenv('A')\n",
        "from os import environ\n",
        "import os\nx = os.environ.copy()\n",
    ],
)
def test_the_scan_finds_a_private_read(source: str) -> None:
    assert len(environment_reads(source)) == 1


def test_the_scan_allows_handing_the_environment_to_a_reader() -> None:
    assert environment_reads("import os\nconfig = Config.from_env(os.environ)\nEnvSettings(os.environ)\n") == []
