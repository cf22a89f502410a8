"""``{{variable}}`` prompt templates: declaration checks and rendering.

Shared by the catalog (checks a template when a version is created, renders on request) and the gateway
(renders before calling the model), so both apply exactly the same rules:

* a placeholder is ``{{name}}`` (inner spaces allowed: ``{{ name }}``) where ``name`` is an identifier;
* anything else between ``{{`` and ``}}`` is rejected rather than sent to the model verbatim, because a
  typo such as ``{{customer name}}`` would otherwise silently reach production as literal text;
* the declared variables must be exactly the placeholders used;
* rendering is one pass, so a value that itself contains ``{{x}}`` is never expanded (no injection of
  placeholders through user-supplied values).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence

from common.errors import ValidationError

VARIABLE_NAME_RE = re.compile(r"^[A-Za-z_][A-Za-z0-9_]{0,63}\Z")
MAX_VARIABLES = 100
# Non-greedy and single-line: ``{{a}} and {{b}}`` is two placeholders, never one spanning both.
_BRACES_RE = re.compile(r"\{\{(.*?)\}\}")


def _quote_all(names: Iterable[str]) -> str:
    return ", ".join(repr(n) for n in sorted(names))


def placeholders(template: str) -> list[str]:
    """Return the placeholder names of ``template`` in order of first use.

    Raises:
        ValidationError: a ``{{...}}`` whose content is not a valid variable name.
    """
    seen: dict[str, None] = {}
    for match in _BRACES_RE.finditer(template):
        name = match.group(1).strip()
        if not VARIABLE_NAME_RE.match(name):
            raise ValidationError(
                f"template: malformed placeholder {match.group(0)!r}; "
                "placeholders are {{name}} with a name of letters, digits and underscores"
            )
        seen.setdefault(name, None)
    return list(seen)


def check_declared(template: str, variables: Sequence[str]) -> None:
    """Check that ``variables`` declares exactly the placeholders of ``template``.

    Raises:
        ValidationError: naming invalid, duplicate, undeclared or unused variables.
    """
    if len(variables) > MAX_VARIABLES:
        raise ValidationError(f"variables: at most {MAX_VARIABLES} variables are allowed, got {len(variables)}")
    for name in variables:
        if not VARIABLE_NAME_RE.match(name):
            raise ValidationError(
                f"variables: {name!r} is not a valid variable name (letters, digits, underscores; max 64)"
            )
    duplicates = {n for n in variables if variables.count(n) > 1}
    if duplicates:
        raise ValidationError(f"variables: declared more than once: {_quote_all(duplicates)}")
    used = set(placeholders(template))
    declared = set(variables)
    problems = []
    if used - declared:
        problems.append(f"template uses undeclared variables: {_quote_all(used - declared)}")
    if declared - used:
        problems.append(f"variables declared but not used in the template: {_quote_all(declared - used)}")
    if problems:
        raise ValidationError("; ".join(problems))


def _as_text(name: str, value: object) -> str:
    # bool is an int subclass: reject it explicitly, "True" in a prompt is almost always a caller bug.
    if isinstance(value, bool) or not isinstance(value, str | int | float):
        kind = "null" if value is None else type(value).__name__
        raise ValidationError(f"variables.{name}: must be a string or a number, got {kind}")
    return value if isinstance(value, str) else str(value)


def render(template: str, declared: Sequence[str], values: Mapping[str, object]) -> str:
    """Substitute ``values`` into ``template``; the value names must equal ``declared`` exactly.

    Raises:
        ValidationError: naming missing variables, unexpected variables, or values of the wrong type.
    """
    declared_set = set(declared)
    missing = declared_set - values.keys()
    extra = values.keys() - declared_set
    problems = []
    if missing:
        problems.append(f"missing variables: {_quote_all(missing)}")
    if extra:
        problems.append(f"unexpected variables (not declared by the prompt): {_quote_all(extra)}")
    if problems:
        raise ValidationError("; ".join(problems))
    text = {name: _as_text(name, value) for name, value in values.items()}
    # The template was checked when its version was created, so every match is a declared name.
    return _BRACES_RE.sub(lambda m: text[m.group(1).strip()], template)
