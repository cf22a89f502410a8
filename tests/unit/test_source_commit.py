"""The commit a pipeline build records: the connection's CommitId, or the S3 zip's SOURCE_COMMIT, never an
S3 object version."""

from __future__ import annotations

import subprocess
import zipfile
from pathlib import Path

import pytest

from delivery.source_commit import FILE_NAME, SourceCommitError, archive, main, resolve

COMMIT = "0123456789abcdef0123456789abcdef01234567"
# What CODEBUILD_RESOLVED_SOURCE_VERSION holds for an S3 source: the object's version id.
S3_VERSION_ID = "3HL4kqtJlcpXroDTDmJ+rmSpXd3dIbrHY+MTRCxf3vjVBH40Nr8X8gdRQBpUMLUo"


def git(repository: Path, *args: str) -> str:
    result = subprocess.run(
        ["git", "-C", str(repository), "-c", "user.name=t", "-c", "user.email=t@example.com", *args],
        capture_output=True,
        text=True,
        check=True,
    )
    return result.stdout.strip()


def test_the_connection_sources_commit_id_wins(tmp_path: Path) -> None:
    (tmp_path / FILE_NAME).write_text("f" * 40)
    assert resolve({"SOURCE_COMMIT": COMMIT}, tmp_path) == COMMIT


def test_an_s3_source_reads_the_commit_its_zip_carries(tmp_path: Path) -> None:
    (tmp_path / FILE_NAME).write_text(COMMIT + "\n")
    assert resolve({"CODEBUILD_RESOLVED_SOURCE_VERSION": S3_VERSION_ID}, tmp_path) == COMMIT


def test_without_either_it_refuses_rather_than_record_the_object_version(tmp_path: Path) -> None:
    with pytest.raises(SourceCommitError, match=r"SOURCE_COMMIT is not set .* --archive"):
        resolve({"CODEBUILD_RESOLVED_SOURCE_VERSION": S3_VERSION_ID}, tmp_path)


@pytest.mark.parametrize(
    "value",
    [S3_VERSION_ID, "main", "unknown", COMMIT[:12], COMMIT.upper(), COMMIT + "0", f"{COMMIT}\n{COMMIT}", "é" * 40],
)
def test_a_value_that_is_not_a_full_commit_id_is_refused_by_name(tmp_path: Path, value: str) -> None:
    with pytest.raises(SourceCommitError, match=r"the environment variable SOURCE_COMMIT is .* not a full git commit"):
        resolve({"SOURCE_COMMIT": value}, tmp_path)
    (tmp_path / FILE_NAME).write_text(value)
    with pytest.raises(SourceCommitError, match=rf"{FILE_NAME} is .* not a full git commit"):
        resolve({}, tmp_path)


def test_a_huge_file_is_refused_without_reading_it(tmp_path: Path) -> None:
    (tmp_path / FILE_NAME).write_text(COMMIT * 1000)
    with pytest.raises(SourceCommitError, match="40000 bytes"):
        resolve({}, tmp_path)


def test_the_archive_of_head_carries_its_commit_and_resolves_to_it(tmp_path: Path) -> None:
    repository = tmp_path / "repo"
    repository.mkdir()
    git(repository, "init", "-q")
    (repository / "app.py").write_text("print('hi')\n")
    (repository / "untracked.txt").write_text("not in the archive\n")
    git(repository, "add", "app.py")
    git(repository, "commit", "-q", "-m", "first")
    head = git(repository, "rev-parse", "HEAD")

    output = tmp_path / "repository.zip"
    assert main(["--root", str(repository), "--archive", str(output)]) == 0
    # What the pipeline's S3 source hands to CodeBuild: the zip, extracted.
    source = tmp_path / "source"
    with zipfile.ZipFile(output) as zipped:
        assert sorted(zipped.namelist()) == ["SOURCE_COMMIT", "app.py"]
        zipped.extractall(source)
    assert resolve({}, source) == head


def test_a_repository_that_tracks_its_own_source_commit_file_is_refused(tmp_path: Path) -> None:
    git(tmp_path, "init", "-q")
    (tmp_path / FILE_NAME).write_text(COMMIT)
    git(tmp_path, "add", FILE_NAME)
    git(tmp_path, "commit", "-q", "-m", "first")
    with pytest.raises(SourceCommitError, match="tracks a file named SOURCE_COMMIT"):
        archive(tmp_path, tmp_path / "out.zip")


def test_the_command_prints_the_commit_or_fails_with_one_sentence(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.delenv("SOURCE_COMMIT", raising=False)
    assert main(["--root", str(tmp_path)]) == 2
    assert capsys.readouterr().err.startswith("source commit: no commit to record")
    monkeypatch.setenv("SOURCE_COMMIT", COMMIT)
    assert main(["--root", str(tmp_path)]) == 0
    assert capsys.readouterr().out == COMMIT + "\n"
