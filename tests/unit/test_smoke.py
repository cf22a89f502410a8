"""`make smoke`: each check's pass and fail paths against stubbed AWS answers (the emulator run is in tests/e2e)."""

from __future__ import annotations

import io
import json
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import boto3
import pytest
from botocore.response import StreamingBody
from botocore.stub import ANY, Stubber

from maturity import smoke
from maturity.__main__ import main
from tests.example import EXAMPLE_CDK_JSON

PREFIX = "Mlops-dev"
TOPIC = "arn:aws:sns:eu-west-1:111111111111:Mlops-dev-Level0Exploration-AlarmTopic"


class StubSession:
    """boto3 clients with a Stubber each; every check's calls must be the ones a test expects."""

    def __init__(self) -> None:
        self.clients: dict[str, Any] = {}
        self.stubbers: dict[str, Stubber] = {}

    def client(self, service_name: str, **_: Any) -> Any:
        if service_name not in self.clients:
            client = boto3.client(service_name, region_name="eu-west-1")
            self.clients[service_name] = client
            self.stubbers[service_name] = Stubber(client)
            self.stubbers[service_name].activate()
        return self.clients[service_name]

    def stub(self, service_name: str) -> Stubber:
        self.client(service_name)
        return self.stubbers[service_name]

    def verify(self) -> None:
        for stubber in self.stubbers.values():
            stubber.assert_no_pending_responses()


@pytest.fixture
def session() -> Iterator[StubSession]:
    stub = StubSession()
    yield stub
    stub.verify()


def stack(session: StubSession, level: str, outputs: dict[str, str] | None) -> None:
    name = f"{PREFIX}-{level}"
    if outputs is None:
        session.stub("cloudformation").add_client_error(
            "describe_stacks",
            "ValidationError",
            f"Stack with id {name} does not exist",
            expected_params={"StackName": name},
        )
        return
    session.stub("cloudformation").add_response(
        "describe_stacks",
        {
            "Stacks": [
                {
                    "StackName": name,
                    "CreationTime": datetime(2026, 1, 1, tzinfo=UTC),
                    "StackStatus": "CREATE_COMPLETE",
                    "Outputs": [{"OutputKey": k, "OutputValue": v} for k, v in outputs.items()],
                }
            ]
        },
        {"StackName": name},
    )


def fast() -> smoke.Runtime:
    ticks = iter(range(10_000))
    return smoke.Runtime(
        smoke.Waits(poll_seconds=1, alarm_seconds=3, etl_seconds=3, pipeline_seconds=3),
        clock=lambda: float(next(ticks)),
        sleep=lambda _: None,
    )


def deployment(session: StubSession) -> smoke.Deployment:
    return smoke.Deployment(session, PREFIX)


# -- invocation logging ------------------------------------------------------------------------------


def test_invocation_logging_passes_when_it_points_at_this_environment(session: StubSession) -> None:
    stack(session, "LlmOps", {"GatewayFunctionName": "gw"})
    session.stub("bedrock").add_response(
        "get_model_invocation_logging_configuration",
        {
            "loggingConfig": {
                "cloudWatchConfig": {
                    "logGroupName": f"{PREFIX}-LlmOps-InvocationLogsA1B2-xyz",
                    "roleArn": "arn:aws:iam::111111111111:role/r",
                },
                "s3Config": {"bucketName": "artifacts"},
            }
        },
    )
    result = smoke.check_invocation_logging(deployment(session), enabled_in_config=True)
    assert result.status == "pass", result


def test_invocation_logging_of_another_environment_fails_naming_it(session: StubSession) -> None:
    stack(session, "LlmOps", {"GatewayFunctionName": "gw"})
    session.stub("bedrock").add_response(
        "get_model_invocation_logging_configuration",
        {
            "loggingConfig": {
                "cloudWatchConfig": {
                    "logGroupName": "Mlops-preprod-LlmOps-InvocationLogs-1",
                    "roleArn": "arn:aws:iam::111111111111:role/r",
                }
            }
        },
    )
    result = smoke.check_invocation_logging(deployment(session), enabled_in_config=True)
    assert result.status == "fail"
    assert "'Mlops-preprod-LlmOps-InvocationLogs-1'" in result.detail and "Mlops-dev-LlmOps-" in result.detail


def test_invocation_logging_off_fails_and_off_in_config_skips(session: StubSession) -> None:
    stack(session, "LlmOps", {"GatewayFunctionName": "gw"})
    session.stub("bedrock").add_response("get_model_invocation_logging_configuration", {})
    assert smoke.check_invocation_logging(deployment(session), enabled_in_config=True).status == "fail"
    skipped = smoke.check_invocation_logging(deployment(session), enabled_in_config=False)
    assert skipped.status == "skip" and "invocationLogging is off" in skipped.detail


# -- alarm delivery ------------------------------------------------------------------------------------


def alarms(session: StubSession, *states: str) -> None:
    session.stub("cloudwatch").add_response(
        "describe_alarms",
        {
            "MetricAlarms": [
                {"AlarmName": f"alarm-{i}", "StateValue": state, "AlarmActions": [TOPIC]}
                for i, state in enumerate(states)
            ]
            + [{"AlarmName": "someone-elses", "StateValue": "OK", "AlarmActions": ["arn:aws:sns:eu-west-1:1:other"]}]
        },
        {"AlarmTypes": ["MetricAlarm"]},
    )


def set_state(session: StubSession, name: str, value: str) -> None:
    session.stub("cloudwatch").add_response(
        "set_alarm_state", {}, {"AlarmName": name, "StateValue": value, "StateReason": ANY}
    )


def history(session: StubSession, name: str, *summaries: str) -> None:
    session.stub("cloudwatch").add_response(
        "describe_alarm_history",
        {
            "AlarmHistoryItems": [
                {"AlarmName": name, "HistoryItemType": "Action", "HistorySummary": s, "Timestamp": datetime.now(UTC)}
                for s in summaries
            ]
        },
        {"AlarmName": name, "HistoryItemType": "Action", "StartDate": ANY, "ScanBy": "TimestampDescending"},
    )


def test_alarm_delivery_passes_when_cloudwatch_executed_the_sns_action(session: StubSession) -> None:
    stack(session, "Level0Exploration", {"AlarmTopicArn": TOPIC})
    alarms(session, "ALARM", "OK")  # the one not in ALARM is chosen: it can transition
    set_state(session, "alarm-1", "ALARM")
    history(session, "alarm-1")  # not yet
    history(session, "alarm-1", f"Successfully executed action {TOPIC}")
    set_state(session, "alarm-1", "OK")  # back to where it was
    result = smoke.check_alarm_delivery(deployment(session), fast())
    assert result.status == "pass", result


def test_alarm_delivery_fails_with_cloudwatchs_own_words_and_restores_the_state(session: StubSession) -> None:
    stack(session, "Level0Exploration", {"AlarmTopicArn": TOPIC})
    alarms(session, "INSUFFICIENT_DATA")
    set_state(session, "alarm-0", "ALARM")
    history(
        session,
        "alarm-0",
        f"Failed to execute action {TOPIC}. Received error: "
        "CloudWatch Alarms does not have authorization to access the SNS topic encryption key.",
    )
    set_state(session, "alarm-0", "INSUFFICIENT_DATA")
    result = smoke.check_alarm_delivery(deployment(session), fast())
    assert result.status == "fail"
    assert result.detail.startswith("alarm-0: Failed to execute action") and "encryption key" in result.detail


def test_alarm_delivery_times_out_when_no_action_is_recorded(session: StubSession) -> None:
    stack(session, "Level0Exploration", {"AlarmTopicArn": TOPIC})
    alarms(session, "ALARM")  # every alarm is in ALARM: reset to OK first, so that ALARM is a transition
    set_state(session, "alarm-0", "OK")
    set_state(session, "alarm-0", "ALARM")
    for _ in range(3):  # polls at t=0, 1 and 2 of the 3 s allowed
        history(session, "alarm-0")
    set_state(session, "alarm-0", "ALARM")
    result = smoke.check_alarm_delivery(deployment(session), fast())
    assert result.status == "fail" and "no action recorded in the alarm history within 3 s" in result.detail


def test_an_environment_without_alarms_on_its_topic_fails(session: StubSession) -> None:
    stack(session, "Level0Exploration", {"AlarmTopicArn": TOPIC})
    alarms(session)
    result = smoke.check_alarm_delivery(deployment(session), fast())
    assert result.status == "fail" and TOPIC in result.detail


# -- the ETL job ----------------------------------------------------------------------------------------


LEVEL0 = {"RawBucketName": "raw", "CuratedBucketName": "curated", "GlueEtlJobName": "etl", "AlarmTopicArn": TOPIC}


def etl_start(session: StubSession) -> None:
    session.stub("s3").add_response(
        "put_object", {}, {"Bucket": "raw", "Key": "smoke/r1/customers.csv", "Body": b"a,b\n"}
    )
    session.stub("glue").add_response(
        "start_job_run",
        {"JobRunId": "jr_1"},
        {
            "JobName": "etl",
            "Arguments": {
                "--RAW_PATH": "s3://raw/smoke/r1/",
                "--CURATED_PATH": "s3://curated/smoke/r1/curated/",
                "--REJECTS_PATH": "s3://curated/smoke/r1/rejects/",
                "--FEATURE_STORE": "skip",
            },
        },
    )


def job_run(session: StubSession, state: str, message: str = "") -> None:
    run: dict[str, Any] = {"Id": "jr_1", "JobRunState": state}
    if message:
        run["ErrorMessage"] = message
    session.stub("glue").add_response("get_job_run", {"JobRun": run}, {"JobName": "etl", "RunId": "jr_1"})


def cleanup(session: StubSession, *, raw_versions: int, curated_versions: int) -> None:
    for bucket, count in (("raw", raw_versions), ("curated", curated_versions)):
        versions = [{"Key": f"smoke/r1/f{i}", "VersionId": f"v{i}"} for i in range(count)]
        session.stub("s3").add_response(
            "list_object_versions",
            {"Versions": versions, "IsTruncated": False},
            {"Bucket": bucket, "Prefix": "smoke/r1/"},
        )
        if versions:
            session.stub("s3").add_response(
                "delete_objects", {}, {"Bucket": bucket, "Delete": {"Objects": versions, "Quiet": True}}
            )


def test_etl_passes_when_the_job_succeeds_and_wrote_curated_data_and_cleans_up(session: StubSession) -> None:
    stack(session, "Level0Exploration", LEVEL0)
    etl_start(session)
    job_run(session, "RUNNING")
    job_run(session, "SUCCEEDED")
    session.stub("s3").add_response(
        "list_objects_v2", {"KeyCount": 3}, {"Bucket": "curated", "Prefix": "smoke/r1/curated/"}
    )
    cleanup(session, raw_versions=1, curated_versions=4)
    result = smoke.check_etl(deployment(session), fast(), run_id="r1", sample=b"a,b\n")
    assert result.status == "pass", result


def test_etl_fails_with_glues_error_message_and_still_cleans_up(session: StubSession) -> None:
    stack(session, "Level0Exploration", LEVEL0)
    etl_start(session)
    job_run(session, "FAILED", "ModuleNotFoundError: No module named 'churn_transform'")
    cleanup(session, raw_versions=1, curated_versions=0)
    result = smoke.check_etl(deployment(session), fast(), run_id="r1", sample=b"a,b\n")
    assert result.status == "fail"
    assert result.detail == "job etl run jr_1 is FAILED: ModuleNotFoundError: No module named 'churn_transform'"


def test_etl_that_succeeds_without_output_fails(session: StubSession) -> None:
    stack(session, "Level0Exploration", LEVEL0)
    etl_start(session)
    job_run(session, "SUCCEEDED")
    session.stub("s3").add_response(
        "list_objects_v2", {"KeyCount": 0}, {"Bucket": "curated", "Prefix": "smoke/r1/curated/"}
    )
    cleanup(session, raw_versions=1, curated_versions=0)
    result = smoke.check_etl(deployment(session), fast(), run_id="r1", sample=b"a,b\n")
    assert result.status == "fail" and "wrote no curated objects" in result.detail


def test_etl_skips_an_environment_without_level0(session: StubSession) -> None:
    stack(session, "Level0Exploration", None)
    assert smoke.check_etl(deployment(session), fast(), run_id="r1", sample=b"").status == "skip"


# -- the gateway ----------------------------------------------------------------------------------------


def prompts(tmp_path: Path) -> Path:
    (tmp_path / "p.json").write_text(
        json.dumps({"name": "ticket-summary", "variables": ["ticket"], "aliases": {"dev": ["dev", "prod"]}})
    )
    return tmp_path


def gateway_answer(session: StubSession, request_text: str, payload: dict[str, Any]) -> None:
    body = json.dumps(payload).encode()
    session.stub("lambda").add_response(
        "invoke",
        {"StatusCode": 200, "Payload": StreamingBody(io.BytesIO(body), len(body))},
        {
            "FunctionName": "gw",
            "Payload": json.dumps(
                {
                    "prompt": "ticket-summary",
                    "alias": "dev",
                    "variables": {"ticket": request_text},
                    "team": smoke.SMOKE_TEAM,
                }
            ).encode(),
        },
    )


def test_gateway_passes_with_an_answer_and_a_blocked_card_number(session: StubSession, tmp_path: Path) -> None:
    stack(session, "LlmOps", {"GatewayFunctionName": "gw"})
    gateway_answer(
        session,
        smoke.HARMLESS_TEXT,
        {"statusCode": 200, "text": "label: billing", "guardrail_intervened": False, "model_id": "m"},
    )
    gateway_answer(session, smoke.BLOCKED_TEXT, {"statusCode": 200, "text": "Sorry.", "guardrail_intervened": True})
    result = smoke.check_gateway(deployment(session), env_name="dev", prompts_dir=prompts(tmp_path))
    assert result.status == "pass", result
    assert result.detail.startswith("ticket-summary@dev answered through the guardrail (m,")


def test_gateway_that_does_not_block_a_card_number_fails(session: StubSession, tmp_path: Path) -> None:
    stack(session, "LlmOps", {"GatewayFunctionName": "gw"})
    gateway_answer(session, smoke.HARMLESS_TEXT, {"statusCode": 200, "text": "ok", "guardrail_intervened": False})
    gateway_answer(session, smoke.BLOCKED_TEXT, {"statusCode": 200, "text": "Charged.", "guardrail_intervened": False})
    result = smoke.check_gateway(deployment(session), env_name="dev", prompts_dir=prompts(tmp_path))
    assert result.status == "fail" and "did not block a card number" in result.detail


def test_gateway_without_a_released_prompt_says_to_release_it(session: StubSession, tmp_path: Path) -> None:
    stack(session, "LlmOps", {"GatewayFunctionName": "gw"})
    gateway_answer(
        session, smoke.HARMLESS_TEXT, {"statusCode": 404, "error": "prompt 'ticket-summary' has no alias 'dev'"}
    )
    result = smoke.check_gateway(deployment(session), env_name="dev", prompts_dir=prompts(tmp_path))
    assert result.status == "fail" and result.detail.endswith("(run the prompt release first)")


def test_gateway_skips_an_environment_no_prompt_is_released_to(session: StubSession, tmp_path: Path) -> None:
    stack(session, "LlmOps", {"GatewayFunctionName": "gw"})
    result = smoke.check_gateway(deployment(session), env_name="preprod", prompts_dir=prompts(tmp_path))
    assert result.status == "skip"


# -- the training pipeline ------------------------------------------------------------------------------


EXECUTION = "arn:aws:sagemaker:eu-west-1:111111111111:pipeline/p/execution/e1"


def pipeline_start(session: StubSession) -> None:
    stack(session, "Level1Repeatable", {"PipelineName": "p"})
    session.stub("sagemaker").add_response(
        "start_pipeline_execution",
        {"PipelineExecutionArn": EXECUTION},
        {
            "PipelineName": "p",
            "PipelineExecutionDisplayName": "smoke-r1",
            "PipelineExecutionDescription": ANY,
            "ClientRequestToken": ANY,
        },
    )


def execution_status(session: StubSession, status: str, reason: str = "") -> None:
    response: dict[str, Any] = {"PipelineExecutionArn": EXECUTION, "PipelineExecutionStatus": status}
    if reason:
        response["FailureReason"] = reason
    session.stub("sagemaker").add_response("describe_pipeline_execution", response, {"PipelineExecutionArn": EXECUTION})


def steps(session: StubSession, *steps: tuple[str, str, str]) -> None:
    session.stub("sagemaker").add_response(
        "list_pipeline_execution_steps",
        {
            "PipelineExecutionSteps": [
                {"StepName": n, "StepStatus": s, **({"FailureReason": r} if r else {})} for n, s, r in steps
            ]
        },
        {"PipelineExecutionArn": EXECUTION},
    )


def test_pipeline_passes_once_a_step_runs_and_the_execution_is_stopped(session: StubSession) -> None:
    pipeline_start(session)
    execution_status(session, "Executing")
    steps(session)
    execution_status(session, "Executing")
    steps(session, ("Preprocess", "Executing", ""))
    session.stub("sagemaker").add_response(
        "stop_pipeline_execution",
        {"PipelineExecutionArn": EXECUTION},
        {"PipelineExecutionArn": EXECUTION, "ClientRequestToken": ANY},
    )
    result = smoke.check_training_pipeline(deployment(session), fast(), run_id="r1")
    assert result.status == "pass" and "step Preprocess running (stopped)" in result.detail


def test_pipeline_step_failure_is_reported_with_sagemakers_reason(session: StubSession) -> None:
    pipeline_start(session)
    execution_status(session, "Executing")
    steps(session, ("Preprocess", "Failed", "ClientError: AccessDenied on s3://curated/churn/"))
    session.stub("sagemaker").add_response(
        "stop_pipeline_execution",
        {"PipelineExecutionArn": EXECUTION},
        {"PipelineExecutionArn": EXECUTION, "ClientRequestToken": ANY},
    )
    result = smoke.check_training_pipeline(deployment(session), fast(), run_id="r1")
    assert (
        result.status == "fail"
        and result.detail == "p: step Preprocess: ClientError: AccessDenied on s3://curated/churn/"
    )


def test_pipeline_that_failed_to_start_is_reported_and_not_stopped(session: StubSession) -> None:
    pipeline_start(session)
    execution_status(session, "Failed", "the pipeline role cannot be assumed")
    result = smoke.check_training_pipeline(deployment(session), fast(), run_id="r1")
    assert result.status == "fail" and result.detail == "p: the pipeline role cannot be assumed"


# -- the run and the command ----------------------------------------------------------------------------


def test_an_unknown_check_is_named() -> None:
    with pytest.raises(ValueError, match="unknown smoke check"):
        smoke.run_smoke(StubSession(), smoke.SmokeTarget("dev", PREFIX, True), only=["etl", "gateway"])


def test_a_failing_call_fails_its_check_only(session: StubSession) -> None:
    session.stub("cloudformation").add_client_error("describe_stacks", "AccessDenied", "not allowed")
    stack(session, "Level1Repeatable", None)
    results = smoke.run_smoke(
        session, smoke.SmokeTarget("dev", PREFIX, True), only=["etl-job", "training-pipeline"], runtime=fast()
    )
    assert [(r.check, r.status) for r in results] == [("etl-job", "fail"), ("training-pipeline", "skip")]
    assert "AccessDenied" in results[0].detail
    assert smoke.render(results).endswith("2 checks: 1 failed\n")


def test_the_command_refuses_credentials_of_another_account(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    context = json.loads(EXAMPLE_CDK_JSON.read_text())["context"]
    context["mlops:environments"] = {"dev": {"account": "444455556666", "region": "eu-west-1"}}
    cdk_json = tmp_path / "cdk.json"
    cdk_json.write_text(json.dumps({"context": context}))

    class Sts:
        def get_caller_identity(self) -> dict[str, str]:
            return {"Account": "111111111111"}

    class Session:
        def __init__(self, **_: Any) -> None: ...

        def client(self, name: str, **_: Any) -> Any:
            assert name == "sts"
            return Sts()

    monkeypatch.setattr(boto3, "Session", Session)
    assert main(["smoke", "--env", "dev", "--cdk-json", str(cdk_json)]) == 2
    assert (
        capsys.readouterr().err
        == "error: the credentials are for account 111111111111, but environment 'dev' is 444455556666\n"
    )


def test_the_gateway_check_uses_a_prompt_that_does_not_retrieve(tmp_path: Path) -> None:
    # A retrieving prompt first in name order: its context comes from the knowledge base, not from the caller.
    (tmp_path / "a.json").write_text(
        json.dumps(
            {
                "name": "support-answer",
                "variables": ["question", "context"],
                "retrieval": {"knowledgeBase": "docs", "contextVariable": "context"},
                "aliases": {"dev": ["dev"]},
            }
        )
    )
    (tmp_path / "b.json").write_text(
        json.dumps({"name": "ticket-summary", "variables": ["ticket"], "aliases": {"dev": ["dev"]}})
    )
    assert smoke.released_prompt("dev", tmp_path) == smoke.ReleasedPrompt("ticket-summary", "dev", ("ticket",))
