"""Glue's StartJobRun, run the way Glue runs it: the deployed job, in the background, with its outcome.

moto answers StartJobRun with a run that reports SUCCEEDED without running anything, so a job that cannot
import its modules looks fine locally. With this module installed (by :class:`emulator.server.LocalAws`),
StartJobRun starts the deployed job with :func:`emulator.glue_runner.run_deployed_job` in a background
thread, as Glue starts it on its own workers:

* GetJobRun reports ``RUNNING`` until the script ends, then ``SUCCEEDED``, or ``FAILED`` with Glue's
  ``ErrorMessage`` (the runner's one sentence: which module could not be imported, which argument is
  missing, ...);
* what the script logs goes to CloudWatch Logs, ``/aws-glue/jobs/output`` (stream: the run id), and an
  error to ``/aws-glue/jobs/error``, where Glue writes them;
* one job run at a time in the process (the runner swaps ``sys.path`` and ``sys.modules`` while a script
  runs): a second StartJobRun waits for the first, as a job with ``MaxConcurrentRuns`` 1 would queue.

Outside a running LocalAws (moto's in-process mocks in unit tests) StartJobRun keeps moto's behaviour.
"""

from __future__ import annotations

import contextlib
import threading
import time
from typing import Any

from moto.glue.models import FakeJobRun, GlueBackend

__all__ = ["IMPORTABLE_PREFIX", "LOG_GROUP_ERROR", "LOG_GROUP_OUTPUT", "SCRIPT_PREFIX", "apply"]

LOG_GROUP_OUTPUT = "/aws-glue/jobs/output"
LOG_GROUP_ERROR = "/aws-glue/jobs/error"
#: The first lines of a run's output log: what the emulator's worker ran (Glue logs its own start-up too).
SCRIPT_PREFIX = "[emulator] script: "
IMPORTABLE_PREFIX = "[emulator] --extra-py-files made importable: "
_APPLIED_MARKER = "_emulator_runs_jobs"
_one_run_at_a_time = threading.Lock()


def _write_log(logs: Any, group: str, stream: str, lines: list[str]) -> None:
    if not lines:
        return
    for create, kwargs in (
        (logs.create_log_group, {"logGroupName": group}),
        (logs.create_log_stream, {"logGroupName": group, "logStreamName": stream}),
    ):
        with contextlib.suppress(logs.exceptions.ResourceAlreadyExistsException):
            create(**kwargs)
    now = int(time.time() * 1000)
    logs.put_log_events(
        logGroupName=group, logStreamName=stream, logEvents=[{"timestamp": now, "message": line} for line in lines]
    )


def _execute(aws: Any, run: FakeJobRun, job_name: str, arguments: dict[str, str] | None) -> None:
    from emulator.glue_runner import GlueJobRunError, run_deployed_job

    logs = aws.client("logs")
    with _one_run_at_a_time:
        try:
            result = run_deployed_job(
                aws.client("glue"),
                aws.client("s3"),
                job_name,
                run_id=run.job_run_id,
                arguments=arguments,
                # The script's own SDK calls (PutRecord into the feature store) reach this emulator.
                environment={name: value for name, value in aws.env({}).items() if name.startswith("AWS_")},
            )
        except GlueJobRunError as error:
            # The log first, then the state: a caller that sees FAILED finds the error in the log, as in Glue.
            _write_log(logs, LOG_GROUP_ERROR, run.job_run_id, [str(error)])
            run._emulator_outcome = ("FAILED", str(error))  # type: ignore[attr-defined]
            return
        except Exception as error:  # a bug in the runner: fail the run, saying so, never hang it
            run._emulator_outcome = ("FAILED", f"the emulator's Glue runner failed: {error!r}")  # type: ignore[attr-defined]
            return
        started = [
            f"{IMPORTABLE_PREFIX}{result.importable()}",
            f"{SCRIPT_PREFIX}{result.script_uri}",
        ]
        _write_log(logs, LOG_GROUP_OUTPUT, run.job_run_id, [*started, *result.log])
        run._emulator_outcome = ("SUCCEEDED", "")  # type: ignore[attr-defined]


def apply() -> None:
    """Make StartJobRun run the deployed job while a LocalAws runs (once per process)."""
    if getattr(GlueBackend, _APPLIED_MARKER, False):
        return
    original_start = GlueBackend.start_job_run
    original_as_dict = FakeJobRun.as_dict

    def start_job_run(self: GlueBackend, name: str, arguments: dict[str, str] | None, *args: Any, **kwargs: Any) -> str:
        from emulator import server

        run_id = original_start(self, name, arguments, *args, **kwargs)
        aws = server.running_emulator()
        if aws is not None:
            run = self.get_job_run(name, run_id)
            run._emulator_outcome = ("RUNNING", "")  # type: ignore[attr-defined]
            threading.Thread(
                target=_execute, args=(aws, run, name, arguments), name=f"glue-job-{name}", daemon=True
            ).start()
        return run_id

    def as_dict(self: FakeJobRun) -> dict[str, Any]:
        described = original_as_dict(self)
        outcome = getattr(self, "_emulator_outcome", None)
        if outcome is not None:
            state, message = outcome
            described["JobRunState"] = state
            described["LogGroupName"] = "/aws-glue/jobs"
            if message:
                described["ErrorMessage"] = message
        return described

    GlueBackend.start_job_run = start_job_run  # type: ignore[method-assign]
    FakeJobRun.as_dict = as_dict  # type: ignore[method-assign]
    setattr(GlueBackend, _APPLIED_MARKER, True)
