"""``getResolvedOptions`` as Glue's library does it: argparse over sys.argv, each named option required."""

from __future__ import annotations

import argparse
from collections.abc import Sequence


class GlueArgumentError(Exception):
    pass


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> None:  # type: ignore[override]
        # Glue's parser raises instead of exiting the interpreter.
        raise GlueArgumentError(message)


def getResolvedOptions(args: Sequence[str], options: Sequence[str]) -> dict[str, str]:
    parser = _Parser(add_help=False)
    parser.add_argument("--job-bookmark-option", required=False)
    for option in options:
        parser.add_argument(f"--{option}", required=True)
    parsed, _unknown = parser.parse_known_args(list(args[1:]))
    resolved = vars(parsed)
    # Glue's utils answer under the names the script asked for, plus the bookmark option.
    return {name: resolved[name] for name in options} | {"job_bookmark_option": resolved["job_bookmark_option"]}
