"""Run a deployed Glue job's script in this process, the way Glue would, against the emulator's S3.

moto stores Glue jobs and answers StartJobRun without running anything. This runner takes the job as the
emulator's Glue holds it (what CloudFormation deployed) and runs *that*:

- the script is downloaded from ``Command.ScriptLocation`` (or a ``--scriptLocation`` argument);
- each ``--extra-py-files`` entry is downloaded from S3 and made importable as Glue does: a ``.py`` file
  under its own file name (the last segment of its S3 key, so a CDK file asset is module ``<sha256>``), a
  ``.zip`` or ``.egg`` on the path itself (the modules at its root import by their names);
- the script runs as ``__main__`` with ``sys.argv`` as Glue builds it: ``--JOB_ID``, ``--JOB_RUN_ID``,
  ``--JOB_NAME``, then the job's ``DefaultArguments`` overridden by the run's arguments;
- the project's own folders are taken off the path and its modules out of ``sys.modules`` for the run,
  so the script imports only what the job ships (a module that exists only in this repository fails to
  import, as it would on Glue);
- writes carry the job's security configuration (SSE-KMS with its key), as Glue's S3 writes do.

Not imitated: Spark and AWS's ``awsglue`` library. ``emulator/glue_libs`` stands in for the subset of both
that the scripts call, in one process (no JVM, executors, retries, bookmarks, workers or timeout).
"""

from __future__ import annotations

import contextlib
import importlib
import re
import runpy
import sys
import tempfile
import zipfile
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from emulator import process_env

PROJECT_ROOT = Path(__file__).resolve().parents[1]
GLUE_LIBS = Path(__file__).resolve().parent / "glue_libs"
_MODULE_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
# What Glue's Spark puts on the Python path as an archive; .py files are imported by their file name.
_ARCHIVES = (".zip", ".egg")
STAND_IN_NOTE = "Spark and the awsglue library are stood in by emulator/glue_libs (a local subset, no JVM)"


class GlueJobRunError(RuntimeError):
    """The job could not run as Glue would run it; the message names the job, the artifact and why."""


@dataclass(frozen=True)
class PythonPathEntry:
    """One --extra-py-files entry as Glue makes it importable."""

    uri: str
    file_name: str
    # Module names the entry provides: a .py file's stem (if it is a valid name), an archive's root modules.
    modules: tuple[str, ...]


@dataclass
class GlueJobRunResult:
    job_name: str
    run_id: str
    script_uri: str
    python_path: list[PythonPathEntry]
    argv: list[str]
    log: list[str] = field(default_factory=list)

    def importable(self) -> str:
        """What --extra-py-files made importable, for error messages and the tour."""
        if not self.python_path:
            return "nothing (no --extra-py-files)"
        return "; ".join(_describe(entry) for entry in self.python_path)


def _describe(entry: PythonPathEntry) -> str:
    if entry.file_name.endswith(".py"):
        return (
            f"{entry.file_name} as module {entry.modules[0]}"
            if entry.modules
            else f"{entry.file_name} (no valid module name)"
        )
    return f"{entry.file_name} with {', '.join(entry.modules) or 'no module'} at its root"


def run_deployed_job(
    glue: Any,
    s3: Any,
    job_name: str,
    *,
    run_id: str,
    arguments: Mapping[str, str] | None = None,
    environment: Mapping[str, str] | None = None,
) -> GlueJobRunResult:
    """Run the job `job_name` as the emulator's Glue holds it (``GetJob``), with the run's `arguments`.

    `environment` is what the script's own AWS SDK calls see while it runs (Glue's workers have the job's
    region and credentials; locally also the emulator's endpoint), e.g. the feature store's PutRecord.
    """
    job = glue.get_job(JobName=job_name)["Job"]
    security: Mapping[str, Any] = {}
    if job.get("SecurityConfiguration"):
        security = glue.get_security_configuration(Name=job["SecurityConfiguration"])["SecurityConfiguration"]
    return run_job(
        job, s3, run_id=run_id, arguments=arguments, security_configuration=security, environment=environment
    )


def run_job(
    job: Mapping[str, Any],
    s3: Any,
    *,
    run_id: str,
    arguments: Mapping[str, str] | None = None,
    security_configuration: Mapping[str, Any] | None = None,
    environment: Mapping[str, str] | None = None,
) -> GlueJobRunResult:
    """Run one Glue job definition (the shape of ``GetJob``'s ``Job``) against `s3`."""
    name = job["Name"]
    command = job.get("Command") or {}
    if command.get("Name") != "glueetl":
        raise GlueJobRunError(f"job {name}: command {command.get('Name')!r} is not run here (only glueetl jobs)")
    merged = {**(job.get("DefaultArguments") or {}), **(arguments or {}), **(job.get("NonOverridableArguments") or {})}
    script_uri = merged.get("--scriptLocation") or command.get("ScriptLocation")
    if not script_uri:
        raise GlueJobRunError(f"job {name}: no Command.ScriptLocation")
    argv_tail: list[str] = []
    for key, value in merged.items():
        argv_tail += [key, value]
    with tempfile.TemporaryDirectory(prefix="glue-job-") as scratch:
        work = Path(scratch)
        script = _download(s3, name, script_uri, work / "script")
        entries, path = _python_path(s3, name, merged.get("--extra-py-files", ""), work)
        argv = [str(script), "--JOB_ID", f"j_{name}", "--JOB_RUN_ID", run_id, "--JOB_NAME", name, *argv_tail]
        result = GlueJobRunResult(name, run_id, script_uri, entries, argv[1:])
        with (
            process_env.environment(environment or {}),
            _glue_interpreter([str(script.parent), *path, str(GLUE_LIBS)], argv) as runtime,
        ):
            runtime.s3 = s3
            runtime.put_object_arguments = _encryption(security_configuration or {})
            runtime.log = result.log
            try:
                runpy.run_path(str(script), run_name="__main__")
            except ImportError as error:
                raise GlueJobRunError(
                    f"job {name}: {script.name} failed to import a module: {error} (--extra-py-files made "
                    f"importable: {result.importable()})"
                ) from error
            except Exception as error:
                raise GlueJobRunError(f"job {name}: {script.name} failed: {type(error).__name__}: {error}") from error
    return result


def _python_path(s3: Any, job: str, extra_py_files: str, work: Path) -> tuple[list[PythonPathEntry], list[str]]:
    entries: list[PythonPathEntry] = []
    path: list[str] = []
    py_dir = work / "py-files"
    for uri in (part.strip() for part in extra_py_files.split(",")):
        if not uri:
            continue
        file_name = _file_name(job, uri)
        if file_name.endswith(".py"):
            if (py_dir / file_name).exists():
                raise GlueJobRunError(f"job {job}: two --extra-py-files entries are both named {file_name}")
            _download(s3, job, uri, py_dir)
            stem = file_name.removesuffix(".py")
            entries.append(PythonPathEntry(uri, file_name, (stem,) if _MODULE_NAME.fullmatch(stem) else ()))
            if str(py_dir) not in path:
                path.append(str(py_dir))
        elif file_name.endswith(_ARCHIVES):
            archive = _download(s3, job, uri, work / "archives" / str(len(entries)))
            if not zipfile.is_zipfile(archive):
                raise GlueJobRunError(f"job {job}: --extra-py-files entry {uri} is not a zip archive")
            with zipfile.ZipFile(archive) as opened:
                roots = sorted(
                    {
                        member.split("/", 1)[0].removesuffix(".py")
                        for member in opened.namelist()
                        if member.endswith(".py") or "/" in member
                    }
                )
            entries.append(PythonPathEntry(uri, file_name, tuple(r for r in roots if _MODULE_NAME.fullmatch(r))))
            path.append(str(archive))
        else:
            raise GlueJobRunError(
                f"job {job}: --extra-py-files entry {uri} is neither a .py file nor a .zip/.egg archive"
            )
    return entries, path


def _file_name(job: str, uri: str) -> str:
    parts = urlsplit(uri)
    file_name = parts.path.rsplit("/", 1)[-1]
    if parts.scheme != "s3" or not parts.netloc or not file_name:
        raise GlueJobRunError(f"job {job}: {uri!r} is not an s3://bucket/key URI of a file")
    return file_name


def _download(s3: Any, job: str, uri: str, folder: Path) -> Path:
    file_name = _file_name(job, uri)
    parts = urlsplit(uri)
    folder.mkdir(parents=True, exist_ok=True)
    target = folder / file_name
    try:
        s3.download_file(parts.netloc, parts.path.lstrip("/"), str(target))
    except Exception as error:  # botocore's ClientError: a missing object or bucket
        raise GlueJobRunError(f"job {job}: cannot download {uri}: {error}") from error
    return target


def _encryption(security_configuration: Mapping[str, Any]) -> dict[str, str]:
    configuration = security_configuration.get("EncryptionConfiguration") or {}
    for encryption in configuration.get("S3Encryption") or []:
        if encryption.get("S3EncryptionMode") == "SSE-KMS":
            return {"ServerSideEncryption": "aws:kms", "SSEKMSKeyId": encryption["KmsKeyArn"]}
        if encryption.get("S3EncryptionMode") == "SSE-S3":
            return {"ServerSideEncryption": "AES256"}
    return {}


def _is_project_file(path: str | None) -> bool:
    """A file of this repository that is not part of the installed environment (the venv)."""
    if not path:
        return False
    resolved = Path(path).resolve()
    environment = Path(sys.prefix).resolve()
    return resolved.is_relative_to(PROJECT_ROOT) and not resolved.is_relative_to(environment)


@contextlib.contextmanager
def _glue_interpreter(path: Sequence[str], argv: list[str]) -> Iterator[Any]:
    """sys.path, sys.modules and sys.argv as the job's driver sees them, restored afterwards.

    Kept from this interpreter: the standard library and the installed packages (pandas, pyarrow, boto3
    stand in for what Glue's image carries). Removed: the working directory, the repository's folders and
    every module loaded from them, so the script imports only what the job ships.
    """
    saved_path, saved_argv, saved_modules = list(sys.path), list(sys.argv), dict(sys.modules)
    for name, module in saved_modules.items():
        if _is_project_file(getattr(module, "__file__", None)):
            del sys.modules[name]
    sys.path[:] = [*path, *(entry for entry in saved_path if entry and not _is_project_file(entry))]
    sys.argv[:] = argv
    importlib.invalidate_caches()
    try:
        yield importlib.import_module("glue_local_runtime")
    finally:
        sys.path[:] = saved_path
        sys.argv[:] = saved_argv
        # Forget what the job brought (its modules, the stand-ins) but keep installed packages it loaded
        # first: C extensions such as numpy's cannot be imported twice in one process.
        added = [Path(entry).resolve() for entry in path]
        for name in set(sys.modules) - set(saved_modules):
            module_file = getattr(sys.modules[name], "__file__", None)
            if (
                module_file is None
                or _is_project_file(module_file)
                or any(Path(module_file).resolve().is_relative_to(entry) for entry in added)
            ):
                del sys.modules[name]
        sys.modules.update(saved_modules)
