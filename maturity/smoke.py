"""``make smoke ENV=dev``: prove on a real deployment that the integrations work, not only that they exist.

Synth, cdk-nag and the local deploy cannot see what AWS enforces at run time: which file a Glue job
imports, which resource policy a service's call meets, which model Bedrock still serves. Each check here
makes the service do the real thing once, reads what the service itself says about the result, and
cleans up after itself:

* ``invocation-logging``: Bedrock's (account- and region-wide) invocation-logging configuration is on and
  points at this environment's log group;
* ``alarm-delivery``: one of the environment's alarms is set to ALARM with ``SetAlarmState``; CloudWatch's
  alarm history must record that it executed the SNS action (and not "Failed to execute action", which is
  what a topic or key policy that does not allow ``cloudwatch.amazonaws.com`` gives); the alarm is set
  back to the state it had;
* ``etl-job``: the Glue job runs on the shipped sample (uploaded under a ``smoke/<run>/`` prefix and passed
  as the job's paths) and must finish SUCCEEDED having written curated Parquet; every object the run wrote
  is deleted, all versions;
* ``gateway``: the LLM gateway answers a harmless request through the guardrail, and the guardrail blocks
  a request that carries a card number (the guardrail's PII policy blocks those);
* ``training-pipeline``: an execution of the training pipeline starts and its first step starts; the
  execution is then stopped.

A check whose level is not deployed in the environment is skipped, saying why. Nothing here runs at synth
or in the tests against AWS: the tests run it against the local emulator (tests/e2e) and with stubbed
clients (tests/unit/test_smoke.py).
"""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Literal, Protocol

from botocore.exceptions import BotoCoreError, ClientError

PROJECT_ROOT = Path(__file__).resolve().parents[1]
SAMPLE_CSV = PROJECT_ROOT / "pipelines" / "glue" / "sample" / "customers.csv"
PROMPTS_DIR = PROJECT_ROOT / "prompts"
SMOKE_PREFIX = "smoke/"
#: The calling team the gateway records (metrics dimension) for the smoke test's calls.
SMOKE_TEAM = "platform-smoke"

Status = Literal["pass", "fail", "skip"]

#: A harmless request, and one the guardrail's PII policy (CREDIT_DEBIT_CARD_NUMBER: BLOCK) must block.
HARMLESS_TEXT = "My last invoice lists the same monthly plan twice. Can you check it?"
BLOCKED_TEXT = "Please charge my card 4111 1111 1111 1111, expiry 12/29, for the upgrade."


class SessionLike(Protocol):
    def client(self, service_name: str, **kwargs: Any) -> Any: ...


@dataclass(frozen=True)
class SmokeResult:
    check: str
    status: Status
    detail: str


@dataclass(frozen=True)
class Waits:
    """How long each check may wait for the service, and how often it asks."""

    poll_seconds: float = 5.0
    alarm_seconds: float = 120.0
    etl_seconds: float = 900.0
    pipeline_seconds: float = 300.0


@dataclass
class Deployment:
    """The environment's stacks as CloudFormation knows them: outputs per level, read once each."""

    session: SessionLike
    stack_prefix: str
    _outputs: dict[str, dict[str, str] | None] = field(default_factory=dict)

    def outputs(self, level: str) -> dict[str, str] | None:
        """The outputs of stack ``<prefix>-<level>``, or None when that stack is not deployed."""
        if level not in self._outputs:
            name = f"{self.stack_prefix}-{level}"
            try:
                (stack,) = self.session.client("cloudformation").describe_stacks(StackName=name)["Stacks"]
            except ClientError as error:
                if "does not exist" in str(error):
                    self._outputs[level] = None
                    return None
                raise
            self._outputs[level] = {o["OutputKey"]: o["OutputValue"] for o in stack.get("Outputs", [])}
        return self._outputs[level]


Clock = Callable[[], float]
Sleep = Callable[[float], None]


@dataclass(frozen=True)
class Runtime:
    waits: Waits = Waits()
    clock: Clock = time.monotonic
    sleep: Sleep = time.sleep

    def poll(self, seconds: float) -> Iterator[int]:
        """Attempt numbers until `seconds` have passed, sleeping between attempts (never before the first)."""
        deadline = self.clock() + seconds
        attempt = 0
        while True:
            yield attempt
            attempt += 1
            if self.clock() >= deadline:
                return
            self.sleep(self.waits.poll_seconds)


# -- invocation logging -------------------------------------------------------------------------------


def check_invocation_logging(deployment: Deployment, *, enabled_in_config: bool) -> SmokeResult:
    name = "invocation-logging"
    if not enabled_in_config:
        return SmokeResult(name, "skip", "llmops.invocationLogging is off for this environment")
    llmops = deployment.outputs("LlmOps")
    if llmops is None:
        return SmokeResult(name, "skip", "the LlmOps stack is not deployed")
    config = deployment.session.client("bedrock").get_model_invocation_logging_configuration().get("loggingConfig")
    if not config:
        return SmokeResult(name, "fail", "Bedrock invocation logging is off in this account and region")
    group = str((config.get("cloudWatchConfig") or {}).get("logGroupName", ""))
    # The stack's log group has a CloudFormation-generated name, "<stack>-InvocationLogs...".
    own = f"{deployment.stack_prefix}-LlmOps-"
    if not group.startswith(own):
        return SmokeResult(
            name, "fail", f"invocation logs go to {group!r}, not to this environment's log group ({own}...)"
        )
    bucket = (config.get("s3Config") or {}).get("bucketName")
    return SmokeResult(name, "pass", f"on: CloudWatch Logs {group}, S3 {bucket}")


# -- alarm delivery -------------------------------------------------------------------------------------


def environment_alarms(cloudwatch: Any, topic_arn: str) -> list[dict[str, Any]]:
    """Metric alarms whose ALARM action is the environment's topic."""
    alarms: list[dict[str, Any]] = []
    for page in cloudwatch.get_paginator("describe_alarms").paginate(AlarmTypes=["MetricAlarm"]):
        alarms.extend(a for a in page.get("MetricAlarms", []) if topic_arn in a.get("AlarmActions", []))
    return alarms


def check_alarm_delivery(deployment: Deployment, runtime: Runtime) -> SmokeResult:
    name = "alarm-delivery"
    level0 = deployment.outputs("Level0Exploration")
    if level0 is None:
        return SmokeResult(name, "skip", "the Level0Exploration stack is not deployed")
    topic = level0["AlarmTopicArn"]
    cloudwatch = deployment.session.client("cloudwatch")
    alarms = environment_alarms(cloudwatch, topic)
    if not alarms:
        return SmokeResult(name, "fail", f"no alarm of this account sends to {topic}")
    # An alarm already in ALARM would not transition (no action runs): prefer one that is not.
    alarm = next((a for a in alarms if a["StateValue"] != "ALARM"), alarms[0])
    alarm_name, previous = alarm["AlarmName"], alarm["StateValue"]
    started = datetime.now(UTC)
    try:
        if previous == "ALARM":
            cloudwatch.set_alarm_state(AlarmName=alarm_name, StateValue="OK", StateReason="make smoke: reset")
        cloudwatch.set_alarm_state(
            AlarmName=alarm_name, StateValue="ALARM", StateReason="make smoke: testing notification delivery"
        )
        for _ in runtime.poll(runtime.waits.alarm_seconds):
            history = cloudwatch.describe_alarm_history(
                AlarmName=alarm_name, HistoryItemType="Action", StartDate=started, ScanBy="TimestampDescending"
            )["AlarmHistoryItems"]
            for item in history:
                summary = item.get("HistorySummary", "")
                if topic not in summary and topic not in item.get("HistoryData", ""):
                    continue
                if summary.startswith("Successfully executed action"):
                    return SmokeResult(name, "pass", f"{alarm_name}: ALARM notification published to {topic}")
                return SmokeResult(name, "fail", f"{alarm_name}: {summary}")
        return SmokeResult(
            name,
            "fail",
            f"{alarm_name}: no action recorded in the alarm history within {runtime.waits.alarm_seconds:.0f} s",
        )
    finally:
        cloudwatch.set_alarm_state(
            AlarmName=alarm_name,
            StateValue=previous,
            StateReason="make smoke: back to the state before the test",
        )


# -- the ETL job ----------------------------------------------------------------------------------------


def _delete_prefix(s3: Any, bucket: str, prefix: str) -> int:
    """Delete every version and delete marker under `prefix` (the data lake is versioned)."""
    deleted = 0
    for page in s3.get_paginator("list_object_versions").paginate(Bucket=bucket, Prefix=prefix):
        entries = [*page.get("Versions", []), *page.get("DeleteMarkers", [])]
        objects = [{"Key": e["Key"], "VersionId": e["VersionId"]} for e in entries if e["Key"].startswith(prefix)]
        for start in range(0, len(objects), 1000):
            s3.delete_objects(Bucket=bucket, Delete={"Objects": objects[start : start + 1000], "Quiet": True})
        deleted += len(objects)
    return deleted


def check_etl(deployment: Deployment, runtime: Runtime, *, run_id: str, sample: bytes) -> SmokeResult:
    name = "etl-job"
    level0 = deployment.outputs("Level0Exploration")
    if level0 is None:
        return SmokeResult(name, "skip", "the Level0Exploration stack is not deployed")
    s3, glue = deployment.session.client("s3"), deployment.session.client("glue")
    raw, curated, job = level0["RawBucketName"], level0["CuratedBucketName"], level0["GlueEtlJobName"]
    prefix = f"{SMOKE_PREFIX}{run_id}/"
    try:
        s3.put_object(Bucket=raw, Key=f"{prefix}customers.csv", Body=sample)
        job_run = glue.start_job_run(
            JobName=job,
            Arguments={
                "--RAW_PATH": f"s3://{raw}/{prefix}",
                "--CURATED_PATH": f"s3://{curated}/{prefix}curated/",
                "--REJECTS_PATH": f"s3://{curated}/{prefix}rejects/",
                # The sample's customers must not reach the environment's feature groups: the offline store
                # keeps every row and the training pipeline reads it.
                "--FEATURE_STORE": "skip",
            },
        )["JobRunId"]
        state, message = "STARTING", ""
        for _ in runtime.poll(runtime.waits.etl_seconds):
            run = glue.get_job_run(JobName=job, RunId=job_run)["JobRun"]
            state, message = run["JobRunState"], run.get("ErrorMessage", "")
            if state in {"SUCCEEDED", "FAILED", "ERROR", "TIMEOUT", "STOPPED", "EXPIRED"}:
                break
        if state != "SUCCEEDED":
            reason = f": {message}" if message else f" (not finished within {runtime.waits.etl_seconds:.0f} s)"
            return SmokeResult(name, "fail", f"job {job} run {job_run} is {state}{reason}")
        written = s3.list_objects_v2(Bucket=curated, Prefix=f"{prefix}curated/").get("KeyCount", 0)
        if not written:
            return SmokeResult(name, "fail", f"job {job} run {job_run} SUCCEEDED but wrote no curated objects")
        return SmokeResult(name, "pass", f"job {job} run {job_run} SUCCEEDED: {written} curated objects (removed)")
    finally:
        _delete_prefix(s3, raw, prefix)
        _delete_prefix(s3, curated, prefix)


# -- the gateway ----------------------------------------------------------------------------------------


@dataclass(frozen=True)
class ReleasedPrompt:
    name: str
    alias: str
    variables: tuple[str, ...]


def released_prompt(env_name: str, prompts_dir: Path = PROMPTS_DIR) -> ReleasedPrompt | None:
    """The first prompt of prompts/ that the release publishes to an alias of this environment and that does not
    retrieve (a retrieving prompt's context comes from the knowledge base, which may hold nothing yet: the
    gateway would then answer without calling the model, and the guardrail check would prove nothing)."""
    for path in sorted(prompts_dir.glob("*.json")):
        spec = json.loads(path.read_text(encoding="utf-8"))
        aliases = (spec.get("aliases") or {}).get(env_name) or []
        if aliases and not spec.get("retrieval"):
            return ReleasedPrompt(spec["name"], aliases[0], tuple(spec.get("variables") or ()))
    return None


def _invoke_gateway(lambda_: Any, function: str, request: Mapping[str, Any]) -> dict[str, Any]:
    response = lambda_.invoke(FunctionName=function, Payload=json.dumps(request).encode())
    payload: dict[str, Any] = json.loads(response["Payload"].read() or b"{}")
    if response.get("FunctionError"):
        raise RuntimeError(f"the gateway function failed: {payload.get('errorMessage', payload)}")
    return payload


def check_gateway(deployment: Deployment, *, env_name: str, prompts_dir: Path = PROMPTS_DIR) -> SmokeResult:
    name = "gateway"
    llmops = deployment.outputs("LlmOps")
    if llmops is None:
        return SmokeResult(name, "skip", "the LlmOps stack is not deployed")
    prompt = released_prompt(env_name, prompts_dir)
    if prompt is None:
        return SmokeResult(name, "skip", f"no prompt in prompts/ is released to an alias of {env_name!r}")
    lambda_ = deployment.session.client("lambda")
    function = llmops["GatewayFunctionName"]

    def request(text: str) -> dict[str, Any]:
        return {
            "prompt": prompt.name,
            "alias": prompt.alias,
            "variables": dict.fromkeys(prompt.variables, text),
            "team": SMOKE_TEAM,
        }

    target = f"{prompt.name}@{prompt.alias}"
    try:
        answer = _invoke_gateway(lambda_, function, request(HARMLESS_TEXT))
        if answer.get("statusCode") != 200:
            hint = " (run the prompt release first)" if answer.get("statusCode") == 404 else ""
            return SmokeResult(name, "fail", f"{target}: HTTP {answer.get('statusCode')} {answer.get('error')}{hint}")
        if answer.get("guardrail_intervened") or not str(answer.get("text", "")).strip():
            return SmokeResult(name, "fail", f"{target}: the harmless request got no answer: {answer}")
        blocked = _invoke_gateway(lambda_, function, request(BLOCKED_TEXT))
    except (ClientError, BotoCoreError, RuntimeError) as error:
        return SmokeResult(name, "fail", f"{target}: {error}")
    if blocked.get("statusCode") != 200 or not blocked.get("guardrail_intervened"):
        return SmokeResult(name, "fail", f"{target}: the guardrail did not block a card number: {blocked}")
    return SmokeResult(
        name,
        "pass",
        f"{target} answered through the guardrail ({answer.get('model_id')}, {answer.get('input_tokens')} + "
        f"{answer.get('output_tokens')} tokens, {answer.get('cost_usd')} USD); a card number was blocked",
    )


# -- the training pipeline ------------------------------------------------------------------------------


def check_training_pipeline(deployment: Deployment, runtime: Runtime, *, run_id: str) -> SmokeResult:
    name = "training-pipeline"
    level1 = deployment.outputs("Level1Repeatable")
    if level1 is None:
        return SmokeResult(name, "skip", "the Level1Repeatable stack is not deployed")
    sagemaker = deployment.session.client("sagemaker")
    pipeline = level1["PipelineName"]
    execution = sagemaker.start_pipeline_execution(
        PipelineName=pipeline,
        PipelineExecutionDisplayName=f"smoke-{run_id}"[:82],
        PipelineExecutionDescription="make smoke: started to prove the pipeline starts, then stopped",
        ClientRequestToken=f"smoke-{run_id}-{uuid.uuid4().hex}"[:128],
    )["PipelineExecutionArn"]
    status = "Executing"
    try:
        for _ in runtime.poll(runtime.waits.pipeline_seconds):
            described = sagemaker.describe_pipeline_execution(PipelineExecutionArn=execution)
            status = described["PipelineExecutionStatus"]
            if status == "Failed":
                return SmokeResult(name, "fail", f"{pipeline}: {described.get('FailureReason', 'failed')}")
            if status == "Succeeded":
                return SmokeResult(name, "pass", f"{pipeline}: execution {execution} started and succeeded")
            if status != "Executing":
                return SmokeResult(name, "fail", f"{pipeline}: execution is {status}")
            steps = sagemaker.list_pipeline_execution_steps(PipelineExecutionArn=execution).get(
                "PipelineExecutionSteps", []
            )
            failed = [s for s in steps if s.get("StepStatus") == "Failed"]
            if failed:
                step = failed[0]
                return SmokeResult(name, "fail", f"{pipeline}: step {step['StepName']}: {step.get('FailureReason')}")
            started = [s["StepName"] for s in steps if s.get("StepStatus") in {"Executing", "Succeeded"}]
            if started:
                return SmokeResult(name, "pass", f"{pipeline}: execution started, step {started[0]} running (stopped)")
        return SmokeResult(name, "fail", f"{pipeline}: no step started within {runtime.waits.pipeline_seconds:.0f} s")
    finally:
        if status == "Executing":
            sagemaker.stop_pipeline_execution(
                PipelineExecutionArn=execution, ClientRequestToken=f"stop-{uuid.uuid4().hex}"
            )


# -- all of it ------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class SmokeTarget:
    env_name: str
    stack_prefix: str
    invocation_logging: bool


def run_smoke(
    session: SessionLike,
    target: SmokeTarget,
    *,
    runtime: Runtime | None = None,
    only: Sequence[str] | None = None,
    run_id: str | None = None,
) -> list[SmokeResult]:
    """Every check, in order; an exception in one check is that check's failure, not the end of the run."""
    runtime = runtime or Runtime()
    run_id = run_id or datetime.now(UTC).strftime("%Y%m%dT%H%M%S") + "-" + uuid.uuid4().hex[:8]
    deployment = Deployment(session, target.stack_prefix)
    checks: dict[str, Callable[[], SmokeResult]] = {
        "invocation-logging": lambda: check_invocation_logging(deployment, enabled_in_config=target.invocation_logging),
        "alarm-delivery": lambda: check_alarm_delivery(deployment, runtime),
        "etl-job": lambda: check_etl(deployment, runtime, run_id=run_id, sample=SAMPLE_CSV.read_bytes()),
        "gateway": lambda: check_gateway(deployment, env_name=target.env_name),
        "training-pipeline": lambda: check_training_pipeline(deployment, runtime, run_id=run_id),
    }
    unknown = sorted(set(only or ()) - set(checks))
    if unknown:
        raise ValueError(f"unknown smoke check(s) {', '.join(unknown)}; known: {', '.join(checks)}")
    results = []
    for name, check in checks.items():
        if only and name not in only:
            continue
        try:
            results.append(check())
        except (ClientError, BotoCoreError) as error:
            results.append(SmokeResult(name, "fail", f"{type(error).__name__}: {error}"))
    return results


def render(results: Sequence[SmokeResult]) -> str:
    width = max((len(r.check) for r in results), default=0)
    lines = [f"{r.status.upper():4}  {r.check:{width}}  {r.detail}" for r in results]
    failed = sum(r.status == "fail" for r in results)
    lines.append(f"{len(results)} checks: {failed} failed" if failed else f"{len(results)} checks: none failed")
    return "\n".join(lines) + "\n"
