"""The git commit a delivery-pipeline build is building, for lineage (``codeVersion``) and release reasons.

``python3 -m delivery.source_commit`` prints it; the pipeline's Build and prompt stages run it first. It comes from

1. ``SOURCE_COMMIT``: the CodeConnections source action's ``CommitId`` variable, which the pipeline passes
   to the build, or
2. a ``SOURCE_COMMIT`` file at the root of the source: the S3 source has no commit of its own (CodeBuild's
   ``CODEBUILD_RESOLVED_SOURCE_VERSION`` is then the zip's S3 object version), so the zip carries it.
   ``python3 -m delivery.source_commit --archive repository.zip`` writes such a zip of ``HEAD``.

Neither, or a value that is not a full commit id, is an error naming what to do: a build never records an
object version, a branch name or "unknown" as the commit it shipped. Standard library only (it runs before
the project's environment is set up).
"""

from __future__ import annotations

import argparse
import os
import re
import subprocess
import sys
import zipfile
from collections.abc import Mapping
from pathlib import Path

VARIABLE = "SOURCE_COMMIT"
FILE_NAME = "SOURCE_COMMIT"
# A full SHA-1 (40) or SHA-256 (64) object name, lower case as git prints it.
_COMMIT_RE = re.compile(r"[0-9a-f]{40}|[0-9a-f]{64}")


class SourceCommitError(Exception):
    """No usable commit: the message says where it looked and what to do."""


def _checked(value: str, origin: str) -> str:
    commit = value.strip()
    if not _COMMIT_RE.fullmatch(commit):
        shown = commit if len(commit) <= 80 else commit[:80] + "..."
        raise SourceCommitError(f"{origin} is {shown!r}, not a full git commit id (40 or 64 hex characters)")
    return commit


def resolve(environ: Mapping[str, str], root: Path) -> str:
    """The commit from `environ`'s SOURCE_COMMIT or, without one, from `root`/SOURCE_COMMIT."""
    if environ.get(VARIABLE):
        return _checked(environ[VARIABLE], f"the environment variable {VARIABLE}")
    path = root / FILE_NAME
    if path.is_file():
        if path.stat().st_size > 1024:
            raise SourceCommitError(f"{path} is {path.stat().st_size} bytes; it should hold one commit id")
        return _checked(path.read_text(encoding="utf-8", errors="replace"), str(path))
    raise SourceCommitError(
        f"no commit to record: {VARIABLE} is not set (a CodeConnections source sets it) and {path} does not "
        "exist (an S3 source zip must carry it: upload the zip `python3 -m delivery.source_commit --archive "
        "repository.zip` writes)"
    )


def archive(repository: Path, output: Path) -> str:
    """Zip `repository`'s HEAD (``git archive``, tracked files only) with a SOURCE_COMMIT file; the commit."""
    commit = _checked(_git(repository, "rev-parse", "HEAD"), f"HEAD of {repository}")
    if _git(repository, "ls-tree", "--name-only", "HEAD", FILE_NAME):
        raise SourceCommitError(f"{repository} tracks a file named {FILE_NAME}; the archive's own would shadow it")
    _git(repository, "archive", "--format=zip", f"--output={output.resolve()}", commit)
    with zipfile.ZipFile(output, "a") as zipped:
        zipped.writestr(FILE_NAME, commit + "\n")
    return commit


def _git(repository: Path, *args: str) -> str:
    try:
        result = subprocess.run(  # noqa: S603 - fixed git sub-commands, no shell
            ["git", "-C", str(repository), *args],  # noqa: S607 - git from PATH, as a developer runs it
            capture_output=True,
            text=True,
            check=True,
        )
    except subprocess.CalledProcessError as error:
        raise SourceCommitError(f"git {' '.join(args)} failed in {repository}: {error.stderr.strip()}") from error
    return result.stdout.strip()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--archive", type=Path, metavar="ZIP", help="write a zip of HEAD that carries its commit")
    parser.add_argument("--root", type=Path, default=Path.cwd(), help="the source root (default: here)")
    args = parser.parse_args(argv)
    try:
        if args.archive:
            commit = archive(args.root, args.archive)
            print(f"{args.archive}: {commit}", file=sys.stderr)
        else:
            commit = resolve(os.environ, args.root)
    except SourceCommitError as error:
        print(f"source commit: {error}", file=sys.stderr)
        return 2
    print(commit)
    return 0


if __name__ == "__main__":
    sys.exit(main())
