"""The real CDK CLI against the local emulator: bootstrap, deploy, tour, diff, destroy, redeploy.

This is the project's proof that `cdk deploy` works without an AWS account, and the same path
`make demo` takes. The emulator listens on 127.0.0.1 only, runs in this process (a daemon thread)
and is stopped by the fixture; every CLI call has a time limit.
"""

from __future__ import annotations

import json
import re
import socket
from collections.abc import Iterator
from pathlib import Path

import boto3
import pytest

from emulator.cdk_cli import CdkCli, git_commit, missing_cli_reason
from emulator.cleanup import delete_promoted_endpoint, empty_stack_buckets
from emulator.fake_bedrock import FakeBedrock
from emulator.lambda_bridge import LambdaBridge
from emulator.server import LocalAws
from emulator.tour import (
    deployed_resources,
    stack_outputs,
    tour_level0,
    tour_level1,
    tour_level2,
    tour_level3,
    tour_llmops,
)
from maturity.assess import assess, render
from maturity.smoke import Runtime, SmokeResult, SmokeTarget, Waits, run_smoke

pytestmark = [
    pytest.mark.e2e,
    pytest.mark.skipif(missing_cli_reason() is not None, reason=str(missing_cli_reason())),
]

REGION = "us-east-1"
LEVEL0 = "Mlops-local-Level0Exploration"
LEVEL1 = "Mlops-local-Level1Repeatable"
LEVEL2 = "Mlops-local-Level2Reliable"
LEVEL3 = "Mlops-local-Level3Scalable"
LLMOPS = "Mlops-local-LlmOps"
ALL_STACKS = [LEVEL0, LEVEL1, LEVEL2, LEVEL3, LLMOPS]


@pytest.fixture(scope="module")
def local(tmp_path_factory: pytest.TempPathFactory) -> Iterator[CdkCli]:
    with LocalAws(region=REGION) as aws:
        port = aws.port
        cli = CdkCli(aws, tmp_path_factory.mktemp("cdk.out-local"))
        cli.bootstrap()
        cli.synth()
        yield cli
    # The emulator must be gone: nothing may keep listening after the tests.
    with socket.socket() as probe:
        assert probe.connect_ex(("127.0.0.1", port)) != 0, f"emulator still listening on {port} after the test"


def live_stacks(cli: CdkCli) -> list[str]:
    summaries = cli.aws.client("cloudformation").list_stacks()["StackSummaries"]
    # The bootstrap stack (CDKToolkit) stays, as in a real account.
    return sorted(
        s["StackName"]
        for s in summaries
        if s["StackStatus"] != "DELETE_COMPLETE" and s["StackName"].startswith("Mlops-local-")
    )


def stack_names(cli: CdkCli) -> list[str]:
    return sorted(p.name.removesuffix(".template.json") for p in Path(cli.output_dir).glob("*.template.json"))


def assert_every_template_resource_exists(cli: CdkCli) -> None:
    cfn = cli.aws.client("cloudformation")
    for stack in stack_names(cli):
        assert cfn.describe_stacks(StackName=stack)["Stacks"][0]["StackStatus"] in {
            "CREATE_COMPLETE",
            "UPDATE_COMPLETE",
        }
        template = json.loads((cli.output_dir / f"{stack}.template.json").read_text())
        expected = {lid for lid, r in template["Resources"].items() if r["Type"] != "AWS::CDK::Metadata"}
        deployed = {r["LogicalResourceId"] for r in cfn.describe_stack_resources(StackName=stack)["StackResources"]}
        # moto skips types it does not know without a word: every resource must really be there.
        assert expected <= deployed, f"{stack}: not deployed: {sorted(expected - deployed)}"


def run_local_smoke(aws: LocalAws, monkeypatch: pytest.MonkeyPatch) -> list[SmokeResult]:
    gateway = stack_outputs(aws, LLMOPS)["GatewayFunctionName"]
    with (
        FakeBedrock(lifetime_seconds=120) as model,
        LambdaBridge(aws, {gateway: "llm_gateway"}, extra_env=model.env(), lifetime_seconds=120) as bridge,
        monkeypatch.context() as patched,  # the endpoints are undone when the smoke test ends
    ):
        for name, value in {**aws.env(), **bridge.env()}.items():
            patched.setenv(name, value)
        session = boto3.Session(region_name=REGION, aws_access_key_id="testing", aws_secret_access_key="testing")
        target = SmokeTarget(env_name="local", stack_prefix="Mlops-local", invocation_logging=False)
        fast = Runtime(Waits(poll_seconds=0.2, alarm_seconds=10, etl_seconds=120, pipeline_seconds=30))
        return run_smoke(session, target, runtime=fast)


def test_deploy_tour_diff_destroy_and_redeploy(local: CdkCli, monkeypatch: pytest.MonkeyPatch) -> None:
    local.deploy()
    assert live_stacks(local) == stack_names(local) == ALL_STACKS
    assert_every_template_resource_exists(local)

    tour = {line.step: line for line in tour_level0(local.aws, LEVEL0)}
    assert "aws:kms" in tour["upload sample CSV to the raw bucket"].outcome
    # The deployed job: its script and its --extra-py-files zip from the emulator's S3, as Glue runs them.
    etl = tour["ETL job run, deployed script"]
    assert etl.fidelity == "in-process"
    assert re.search(
        r"^[0-9a-f]{64}\.py from its ScriptLocation, --extra-py-files [0-9a-f]{64}\.zip with churn_transform",
        etl.outcome,
    )
    assert "input_rows=400 curated_records=393 rejected=5 duplicates=2" in etl.outcome
    assert "stood in by emulator/glue_libs" in etl.outcome
    assert tour["query through the Athena workgroup"].fidelity == "stub"
    assert "InService" in tour["SageMaker Studio domain"].outcome
    outputs = stack_outputs(local.aws, LEVEL0)
    curated = local.aws.client("s3").list_objects_v2(Bucket=outputs["CuratedBucketName"], Prefix="churn/")
    assert curated["KeyCount"] > 0, "the ETL stand-in wrote nothing to the curated bucket"

    # Level 1: the deployed pipeline definition, run here on the curated data, registers a model.
    level1 = list(tour_level1(local.aws, LEVEL1))
    steps = [line.outcome.split(":", 1)[0] for line in level1 if line.step == "pipeline step, deployed definition"]
    assert steps == [
        "Preprocess",
        "DataQualityBaseline",
        "DataBiasCheck",
        "Train",
        "Evaluate",
        "CreateModel",
        "ModelBiasCheck",
        "ExplainabilityCheck",
        "BiasGate",
        "LogExperimentRun",
        "CheckAucThreshold",
        "CheckBiasGate",
        "RegisterModel",
    ]
    # Clarify: the registered version's bias report, and the same definition stopped by the bias gate on a
    # deliberately biased sample (no second version registered).
    bias_report = next(line for line in level1 if line.step == "Clarify bias report")
    assert "pre-training: " in bias_report.outcome and "post-training: " in bias_report.outcome
    assert "Clarify stood in by the local runner" in bias_report.outcome
    biased = [line.outcome for line in level1 if line.step == "bias gate on a deliberately biased sample"]
    assert biased[-1].startswith("BiasGateFailed: execution fails: Model not registered by the bias gate: ")
    assert biased[-1].endswith("(model versions before 1, after 1)")
    registry = next(line for line in level1 if line.step == "Model Registry")
    assert registry.fidelity == "real"
    assert "v1: PendingManualApproval" in registry.outcome and "evaluation.json" in registry.outcome
    assert f"code_version={git_commit()}" in registry.outcome
    level1_outputs = stack_outputs(local.aws, LEVEL1)
    sagemaker = local.aws.client("sagemaker")
    (package,) = sagemaker.list_model_packages(ModelPackageGroupName=level1_outputs["ModelPackageGroupName"])[
        "ModelPackageSummaryList"
    ]
    lineage = sagemaker.describe_model_package(ModelPackageName=package["ModelPackageArn"])[
        "CustomerMetadataProperties"
    ]
    assert lineage["training_data_uri"] == f"s3://{outputs['CuratedBucketName']}/churn/"
    assert lineage["pipeline_execution_arn"].startswith("arn:aws:sagemaker:")
    # Experiment tracking: the deployed function logged the execution as an MLflow run (into the loopback
    # stand-in of the app), and the registered version names that run and the app Level 0 deployed.
    assert lineage["mlflow_app_arn"] == outputs["MlflowAppArn"]
    mlflow_run = next(line for line in level1 if line.step == "MLflow run of the registered version")
    assert mlflow_run.fidelity == "in-process"
    assert mlflow_run.outcome.startswith(f"v1 -> run {lineage['mlflow_run_id']} (FINISHED) in experiment ")
    assert "test_auc=" in mlflow_run.outcome and "bias_DPL=" in mlflow_run.outcome
    # One execution so far (the bias-gate run comes after this line), and the stand-in refused nothing.
    assert "1 run(s) logged, 0 request(s) refused" in mlflow_run.outcome

    # Level 2: approving the registered model lets the deployed promotion function create the endpoint.
    level2 = {line.step: line for line in tour_level2(local.aws, LEVEL2, level1_outputs["ModelPackageGroupName"])}
    assert level2["approve the model version"].outcome.endswith("v1 is Approved")
    promoted = level2["promotion (the approval event)"]
    assert promoted.fidelity == "in-process" and promoted.outcome.startswith(
        "deployed: creating endpoint mlops-local-churn"
    )
    assert "mlops-local-churn is InService" in level2["the endpoint"].outcome
    assert level2["promotion of a missing version"].outcome.startswith("rejected: model package not found")
    assert level2["monitoring"].outcome.startswith("5 alarms")
    assert (
        "Source -> Build -> Deploy-preprod -> Test-preprod -> Prompts-preprod -> Approve-prod -> Deploy-prod -> "
        "Prompts-prod" in level2["delivery pipeline"].outcome
    )

    # Level 3: every team of cdk.json, bounded, with its table, prefix and key; isolation checked on the policies.
    level3 = {line.step: line for line in tour_level3(local.aws, LEVEL3)}
    for team in ("churn", "fraud"):
        roles = level3[f"team {team}: roles"].outcome
        assert f"mlops-local-{team}-data-scientist, mlops-local-{team}-ml-engineer" in roles
        assert f"permission boundary Mlops-local-Level3Scalable-Team{team}Boundary" in roles
        assert level3[f"team {team}: feature table"].outcome.endswith("1 item(s) after a write")
        assert level3[f"team {team}: write to its prefix under its key"].outcome.endswith(
            "aws:kms with the team key (yes)"
        )
    assert level3["team churn: monthly budget"].outcome == "300 USD"  # stored; moto computes no spend
    assert level3["team churn: its own training pipeline"].outcome == "mlops-local-churn-churn-training"
    assert level3["team churn: its own promotion on approval"].outcome.endswith(
        "approved versions of mlops-local-churn-churn deploy to mlops-local-churn-churn (serverless)"
    )
    assert "team fraud: its own training pipeline" not in level3  # pipelines: false in cdk.json
    for team, other in (("churn", "fraud"), ("fraud", "churn")):
        check = level3[f"policy check: {team} reads {other}'s prefix"]
        assert check.outcome.startswith("denied") and check.outcome.endswith("own prefix allowed")

    # LLMOps: the deployed catalog and gateway handlers, run here against the emulator and a stand-in model.
    llm = {line.step: line for line in tour_llmops(local.aws, LLMOPS)}
    assert llm["prompt catalog: create two versions"].outcome.endswith("HTTP 201 -> v1, HTTP 201 -> v2")
    # The quality gate: prod needs v2's own model to pass the golden set v2 names. First that model is down
    # (the stand-in refuses its calls): another model may win the selection, the promotion is still refused.
    # The model v2 pins: the tour's first allowed model, which prompts/ticket-summary.json names too.
    model = json.loads((Path(__file__).resolve().parents[2] / "prompts" / "ticket-summary.json").read_text())[
        "model_id"
    ]
    assert llm["diff v1..v2"].outcome == "HTTP 200: changed template, golden_sets"
    assert llm["promote prod before any evaluation"].outcome.endswith(
        f"no evaluation of v2 on {model} (the model 'prod' would call) over golden set support-tickets v1 "
        "(run the evaluation first)"
    )
    down = next(
        line
        for step, line in llm.items()
        if step.startswith("evaluate v2 over support-tickets v1") and "unavailable" in step
    )
    assert down.outcome.startswith(f"passed=False on {model}") and "scorecard s3://" in down.outcome
    refused = llm["promote prod after the evaluation (model-down)"].outcome
    assert refused.startswith(
        f"HTTP 409: prompt 'ticket-summary': cannot point 'prod' at v2: evaluation tour-model-down of v2 on {model} "
        "over golden set support-tickets v1 failed: accuracy 0 is below min_accuracy"
    ), refused
    # Then the stand-ins answer (labelled as such): v2's model passes and prod moves.
    passing = next(
        line for step, line in llm.items() if step.startswith("evaluate v2") and "stand-in model, judge" in step
    )
    assert passing.outcome.startswith(f"passed=True on {model}"), passing.outcome
    assert llm["promote prod after the evaluation (stand-ins)"].outcome == "HTTP 200: prod -> v2"
    assert llm["bad input is refused"].outcome.startswith("HTTP 404: prompt 'ticket-summary' has no version 9")
    # prompts/ticket-summary.json holds the tour's v2 (golden set requirement included): nothing to publish or move.
    released = llm["release prompts/ (pipeline stage)"].outcome
    assert released.startswith("ticket-summary: unchanged, catalog v2 has the content of prompts/ticket-summary.json")
    assert "nothing to promote (dev, prod already at v2)" in released and released.endswith("=> build passes")
    answer = llm["gateway call (local stand-in model)"].outcome
    assert (
        answer.startswith("HTTP 200 v2 ") and "guardrail intervened: False" in answer and "label: technical" in answer
    )
    assert "guardrail intervened: True" in llm["gateway call the guardrail blocks (local stand-in model)"].outcome
    # A context reaches the guardrail as its grounding source, with the rendered prompt as the query.
    grounded = llm["gateway call with a context (grounding source) (local stand-in model)"].outcome
    assert grounded.startswith("HTTP 200 v2 ") and grounded.endswith("guardContent sent: grounding_source, query")
    assert llm["Bedrock guardrail"].fidelity == "not emulated"  # said plainly
    assert llm["gateway alarms"].outcome.startswith("4 alarms")
    metrics = local.aws.client("cloudwatch").list_metrics(Namespace="Mlops/LLMOps")["Metrics"]
    assert {"CostUSD", "InputTokens", "LatencyMs"} <= {m["MetricName"] for m in metrics}

    # make smoke against the emulator: the same checks a platform engineer runs against an account. The
    # emulator runs alarm actions against the topic and key policies, StartJobRun runs the deployed job,
    # Lambda Invoke reaches the deployed gateway through the bridge, Bedrock is the stand-in model.
    smoke_results = {r.check: r for r in run_local_smoke(local.aws, monkeypatch)}
    assert smoke_results["alarm-delivery"].status == "pass", smoke_results["alarm-delivery"].detail
    assert smoke_results["etl-job"].status == "pass", smoke_results["etl-job"].detail
    assert smoke_results["gateway"].status == "pass", smoke_results["gateway"].detail
    assert smoke_results["training-pipeline"].status == "pass", smoke_results["training-pipeline"].detail
    assert smoke_results["invocation-logging"].status == "skip"  # off for the local environment in cdk.json
    raw = local.aws.client("s3").list_object_versions(Bucket=outputs["RawBucketName"], Prefix="smoke/")
    assert not raw.get("Versions") and not raw.get("DeleteMarkers"), "make smoke left objects behind"

    # The maturity assessment of what was just deployed, through the emulator's endpoint.
    session = boto3.Session(region_name=REGION, aws_access_key_id="testing", aws_secret_access_key="testing")
    report = assess(session, env="local", endpoint_url=local.aws.endpoint_url, max_attempts=1)
    statuses = {answer.check.id: answer.evidence.status for answer in report.answers}
    assert report.score.level >= 1, render(report, "table")
    assert statuses["model-registry"] == "pass" and statuses["model-lineage"] == "pass", statuses
    assert statuses["cicd-manual-approval"] == statuses["automated-tests"] == "pass", statuses  # local has the pipeline
    assert statuses["llm-cost-metrics"] == "pass", statuses  # from the gateway's EMF output

    resources = {line.step: line for line in deployed_resources(local.aws, LEVEL0)}
    assert resources["AWS::S3::Bucket"].outcome.startswith("4 deployed")
    assert resources["AWS::SageMaker::UserProfile"].fidelity == "not emulated"  # said plainly, not faked

    assert "There were no differences" in local.diff()

    cfn, s3 = local.aws.client("cloudformation"), local.aws.client("s3")
    # The endpoint belongs to the promotion function, not to CloudFormation: delete it first.
    assert "endpoint mlops-local-churn" in delete_promoted_endpoint(local.aws.client("sagemaker"), "mlops-local-churn")
    emptied = empty_stack_buckets(cfn, s3, ALL_STACKS)
    template_buckets = [
        r
        for stack in ALL_STACKS
        for r in json.loads((local.output_dir / f"{stack}.template.json").read_text())["Resources"].values()
        if r["Type"] == "AWS::S3::Bucket"
    ]
    assert len(emptied) == len(template_buckets) == 7  # data lake 4, pipeline source and artifacts 2, team data 1
    assert emptied[outputs["RawBucketName"]] >= 1 and emptied[outputs["CuratedBucketName"]] >= 2
    local.destroy()
    assert live_stacks(local) == []
    # Nothing of the stack is left behind in the services either.
    assert not [b for b in s3.list_buckets()["Buckets"] if b["Name"].startswith("mlops-local")]
    assert local.aws.client("glue").get_databases()["DatabaseList"] == []
    assert local.aws.client("sagemaker").list_domains()["Domains"] == []
    assert local.aws.client("sagemaker").list_pipelines()["PipelineSummaries"] == []
    assert local.aws.client("sagemaker").list_endpoints()["Endpoints"] == []
    assert local.aws.client("codepipeline").list_pipelines()["pipelines"] == []
    assert local.aws.client("kinesis").list_streams()["StreamNames"] == []
    assert local.aws.client("stepfunctions").list_state_machines()["stateMachines"] == []
    assert local.aws.client("dynamodb").list_tables()["TableNames"] == []
    assert local.aws.client("lambda").list_functions()["Functions"] == []
    assert local.aws.client("apigateway").get_rest_apis()["items"] == []
    vpcs = local.aws.client("ec2").describe_vpcs()["Vpcs"]
    assert [v for v in vpcs if not v.get("IsDefault")] == []

    local.deploy()  # a redeploy into the same account works
    assert live_stacks(local) == ALL_STACKS
    assert_every_template_resource_exists(local)
