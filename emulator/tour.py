"""The local tour: proves, through boto3 against the emulator, that the deployed resources work.

Each step yields a :class:`TourLine` as soon as it is done, so `make demo` shows progress. Every line
says how far the emulator really went: ``real`` (moto did what AWS does), ``stub`` (moto accepted
the call and answered without doing the work), ``in-process`` (the project's own code did the work
here, in place of a managed service moto cannot run) or ``not emulated``. Later levels add their
own tour functions and :func:`run_tour` chains them.
"""

from __future__ import annotations

import contextlib
import json
import time
import uuid
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from delivery import prompt_release
from emulator.fake_bedrock import FakeBedrock
from emulator.glue_jobs import IMPORTABLE_PREFIX, LOG_GROUP_OUTPUT, SCRIPT_PREFIX
from emulator.glue_runner import STAND_IN_NOTE
from emulator.lambda_runner import LocalFunction, deployed_function, publish_emf, rest_api_event
from emulator.pipeline_runner import LocalPipelineRun
from emulator.policy_simulation import PolicySimulator
from emulator.server import LocalAws
from emulator.shims import emulation_status
from emulator.tour_bias import tour_bias
from emulator.tour_feature_store import tour_feature_store
from emulator.tour_knowledge_base import LEVEL as KNOWLEDGE_BASE_LEVEL
from emulator.tour_mlflow import default_domain_line, experiment_tracking, run_lines
from pipelines.glue.layout import CURATED_DATASET_PREFIX, RAW_DATASET_PREFIX

PROJECT_ROOT = Path(__file__).resolve().parents[1]
SAMPLE_CSV = PROJECT_ROOT / "pipelines" / "glue" / "sample" / "customers.csv"
RAW_KEY = f"{RAW_DATASET_PREFIX}customers.csv"  # under the raw dataset prefix the crawler and job read
ATHENA_QUERY = (
    "SELECT contract, count(*) AS customers, avg(CAST(churned AS integer)) AS churn_rate FROM {table} GROUP BY 1"
)

Fidelity = Literal["real", "stub", "in-process", "not emulated"]


@dataclass(frozen=True)
class TourLine:
    level: str
    step: str
    outcome: str
    fidelity: Fidelity


def stack_outputs(aws: LocalAws, stack_name: str) -> dict[str, str]:
    (stack,) = aws.client("cloudformation").describe_stacks(StackName=stack_name)["Stacks"]
    return {o["OutputKey"]: o["OutputValue"] for o in stack.get("Outputs", [])}


def alarm_topic(aws: LocalAws, stack_name: str) -> str:
    """The environment's alarm topic, which Level 0 owns, for a stack `Mlops-<env>-<level>`."""
    environment_prefix = stack_name.rsplit("-", 1)[0]
    return stack_outputs(aws, f"{environment_prefix}-Level0Exploration")["AlarmTopicArn"]


def tour_level0(aws: LocalAws, stack_name: str) -> Iterator[TourLine]:
    """Upload sample data, crawl it, run the deployed ETL job, query through Athena."""
    level = "Level 0"
    out = stack_outputs(aws, stack_name)
    s3, glue, athena = aws.client("s3"), aws.client("glue"), aws.client("athena")

    body = SAMPLE_CSV.read_bytes()
    s3.put_object(Bucket=out["RawBucketName"], Key=RAW_KEY, Body=body)
    head = s3.head_object(Bucket=out["RawBucketName"], Key=RAW_KEY)
    yield TourLine(
        level,
        "upload sample CSV to the raw bucket",
        f"s3://{out['RawBucketName']}/{RAW_KEY}: {len(body)} bytes, {head.get('ServerSideEncryption', 'unencrypted')}, "
        f"version {head.get('VersionId', 'none')}",
        "real",
    )

    crawler = out["GlueCrawlerName"]
    glue.start_crawler(Name=crawler)
    state = glue.get_crawler(Name=crawler)["Crawler"]["State"]
    tables = [t["Name"] for t in glue.get_tables(DatabaseName=out["GlueDatabaseName"])["TableList"]]
    yield TourLine(
        level,
        "run the crawler",
        f"crawler {crawler} is {state}; moto does not crawl, so the database has {len(tables)} tables "
        "(in AWS: raw_churn)",
        "stub",
    )

    job = out["GlueEtlJobName"]
    run_id = glue.start_job_run(JobName=job)["JobRunId"]
    yield TourLine(level, "start the ETL job", f"job run {run_id} started (StartJobRun runs the deployed job)", "real")

    yield TourLine(level, "ETL job run, deployed script", _etl_job_outcome(aws, job, run_id, out), "in-process")
    yield from tour_feature_store(aws, out)

    workgroup = out["AthenaWorkgroupName"]
    config = athena.get_work_group(WorkGroup=workgroup)["WorkGroup"]["Configuration"]
    query_id = athena.start_query_execution(
        QueryString=ATHENA_QUERY.format(table="raw_churn"),
        QueryExecutionContext={"Database": out["GlueDatabaseName"]},
        WorkGroup=workgroup,
    )["QueryExecutionId"]
    status = athena.get_query_execution(QueryExecutionId=query_id)["QueryExecution"]["Status"]["State"]
    rows = athena.get_query_results(QueryExecutionId=query_id)["ResultSet"]["Rows"]
    yield TourLine(
        level,
        "query through the Athena workgroup",
        f"{workgroup} (enforced={config.get('EnforceWorkGroupConfiguration')}, "
        f"cutoff={config.get('BytesScannedCutoffPerQuery')} bytes): query {status}, {len(rows)} rows "
        "(moto answers with stub results)",
        "stub",
    )

    domain = aws.client("sagemaker").describe_domain(DomainId=out["StudioDomainId"])
    yield TourLine(
        level,
        "SageMaker Studio domain",
        f"{domain['DomainName']} ({domain['AuthMode']} auth, {domain['AppNetworkAccessType']}) is {domain['Status']}",
        "real",
    )
    if (default := default_domain_line(out)) is not None:
        yield TourLine(level, *default)


def _etl_job_outcome(aws: LocalAws, job: str, run_id: str, out: dict[str, str], timeout_s: float = 120.0) -> str:
    """Wait for the run that StartJobRun began (emulator/glue_jobs.py) and read its log, as in AWS."""
    glue, s3 = aws.client("glue"), aws.client("s3")
    deadline = time.monotonic() + timeout_s
    while (run := glue.get_job_run(JobName=job, RunId=run_id)["JobRun"])["JobRunState"] in ("STARTING", "RUNNING"):
        if time.monotonic() > deadline:
            raise RuntimeError(f"the ETL job {job} run {run_id} did not finish within {timeout_s:.0f} s")
        time.sleep(0.2)
    if run["JobRunState"] != "SUCCEEDED":
        raise RuntimeError(f"the ETL job {job} run {run_id} is {run['JobRunState']}: {run.get('ErrorMessage')}")
    events = aws.client("logs").get_log_events(logGroupName=LOG_GROUP_OUTPUT, logStreamName=run_id)["events"]
    log = [event["message"] for event in events]

    def line(prefix: str) -> str:
        found = next((entry for entry in log if prefix in entry), None)
        if found is None:
            raise RuntimeError(f"the ETL job {job} run {run_id} did not log {prefix!r}: {log}")
        return str(found).split(prefix, 1)[1].strip()

    counts = line("churn ETL finished:")
    script = line(SCRIPT_PREFIX).rsplit("/", 1)[-1]
    listed = s3.list_objects_v2(Bucket=out["CuratedBucketName"], Prefix=CURATED_DATASET_PREFIX).get("Contents", [])
    partitions = {item["Key"].rsplit("/", 1)[0] for item in listed if item["Key"].endswith(".parquet")}
    return (
        f"{script} from its ScriptLocation, --extra-py-files {line(IMPORTABLE_PREFIX)}: "
        f"{counts}, {len(partitions)} Parquet partitions written; {STAND_IN_NOTE}"
    )


def tour_level1(aws: LocalAws, stack_name: str) -> Iterator[TourLine]:
    """Start the training pipeline, run its deployed definition here, show the registered model."""
    sagemaker = aws.client("sagemaker")
    pipeline_name = stack_outputs(aws, stack_name)["PipelineName"]
    definition = json.loads(sagemaker.describe_pipeline(PipelineName=pipeline_name)["PipelineDefinition"])
    # The MLflow stand-in serves both executions below and stops when the tour of this level ends.
    with experiment_tracking(aws, definition) as tracking:
        yield from _tour_level1(aws, stack_name, definition, tracking)


def _tour_level1(aws: LocalAws, stack_name: str, definition: dict[str, Any], tracking: Any) -> Iterator[TourLine]:
    level = "Level 1"
    out = stack_outputs(aws, stack_name)
    sagemaker = aws.client("sagemaker")
    pipeline_name, group = out["PipelineName"], out["ModelPackageGroupName"]
    invoke_lambda = None if tracking is None else tracking.invoke_lambda
    execution_arn = sagemaker.start_pipeline_execution(
        PipelineName=pipeline_name, ClientRequestToken=str(uuid.uuid4())
    )["PipelineExecutionArn"]
    status = sagemaker.describe_pipeline_execution(PipelineExecutionArn=execution_arn)["PipelineExecutionStatus"]
    yield TourLine(
        level,
        "start the training pipeline",
        f"{pipeline_name}: execution {execution_arn.rsplit('/', 1)[-1]} is {status} (moto records executions "
        "without running their steps)",
        "stub",
    )
    run = LocalPipelineRun(
        s3=aws.client("s3"),
        sagemaker=sagemaker,
        definition=definition,
        execution_arn=execution_arn,
        invoke_lambda=invoke_lambda,
    )
    for line in run.run():
        yield TourLine(level, "pipeline step, deployed definition", line, "in-process")
    yield TourLine(level, "training set built from the offline store", _training_set_line(aws, run), "in-process")

    packages = sagemaker.list_model_packages(ModelPackageGroupName=group)["ModelPackageSummaryList"]
    if not packages:
        yield TourLine(level, "Model Registry", f"{group}: no model version registered", "real")
    else:
        latest = sagemaker.describe_model_package(ModelPackageName=packages[0]["ModelPackageArn"])
        lineage = latest.get("CustomerMetadataProperties", {})
        metrics = latest.get("ModelMetrics", {}).get("ModelQuality", {}).get("Statistics", {}).get("S3Uri", "none")
        yield TourLine(
            level,
            "Model Registry",
            f"{group} v{latest.get('ModelPackageVersion')}: {latest['ModelApprovalStatus']}; metrics {metrics}; "
            f"code_version={lineage.get('code_version')}, training data {lineage.get('training_data_uri')}",
            "real",
        )
    for step, outcome, fidelity in run_lines(sagemaker, group, tracking):
        yield TourLine(level, step, outcome, fidelity)  # type: ignore[arg-type]

    for step, outcome, fidelity in tour_bias(
        s3=aws.client("s3"),
        sagemaker=sagemaker,
        pipeline_name=pipeline_name,
        group=group,
        definition=definition,
        curated_bucket=definition_input_bucket(definition),
        invoke_lambda=invoke_lambda,
    ):
        yield TourLine(level, step, outcome, fidelity)  # type: ignore[arg-type]

    stepfunctions = aws.client("stepfunctions")
    execution = stepfunctions.start_execution(stateMachineArn=out["RetrainingStateMachineArn"])["executionArn"]
    sfn_status = stepfunctions.describe_execution(executionArn=execution)["status"]
    yield TourLine(
        level,
        "retraining state machine (ETL, then pipeline)",
        f"execution {sfn_status}; moto's Step Functions do not call Glue or SageMaker",
        "stub",
    )
    topic = alarm_topic(aws, stack_name)
    alarms = [
        a
        for a in aws.client("cloudwatch").describe_alarms()["MetricAlarms"]
        if topic in a.get("AlarmActions", []) and a["AlarmName"].startswith(stack_name)
    ]
    yield TourLine(
        level,
        "failure alarms",
        f"{len(alarms)} alarms ({', '.join(sorted(a['MetricName'] for a in alarms))}) notify the encrypted topic; "
        f"state {', '.join(sorted({a['StateValue'] for a in alarms}))} (moto does not evaluate alarms)",
        "real",
    )


def _training_set_line(aws: LocalAws, run: LocalPipelineRun) -> str:
    """What the Preprocess step wrote to features.json about the offline store it read (its own output in S3)."""
    uri = f"{run.step_outputs['Preprocess']['features'].rstrip('/')}/features.json"
    bucket, key = uri.removeprefix("s3://").split("/", 1)
    summary = json.loads(aws.client("s3").get_object(Bucket=bucket, Key=key)["Body"].read())
    store = summary["offline_store"]
    return (
        f"training set built from the offline store: {store['joined']} labels joined point-in-time, "
        f"{store['without_features']} without features ({store['features_group']} and {store['labels_group']} "
        f"under {run.parameters['InputDataUri']}; Preprocess ran its deployed script on them)"
    )


def definition_input_bucket(definition: dict[str, Any]) -> str:
    """The bucket of the pipeline's InputDataUri default (the curated bucket: the feature groups' offline store)."""
    (uri,) = [p["DefaultValue"] for p in definition["Parameters"] if p["Name"] == "InputDataUri"]
    return str(uri).removeprefix("s3://").split("/", 1)[0]


def tour_level2(aws: LocalAws, stack_name: str, registry_group: str) -> Iterator[TourLine]:
    """Approve the registered model, let the promotion function deploy it, show what watches the endpoint."""
    level = "Level 2"
    out = stack_outputs(aws, stack_name)
    sagemaker = aws.client("sagemaker")
    to_emulator = aws.env(base={})
    promotion = deployed_function(aws, "model_promotion", out["PromotionFunctionName"])

    packages = sagemaker.list_model_packages(ModelPackageGroupName=registry_group)["ModelPackageSummaryList"]
    if not packages:
        yield TourLine(level, "approve a model version", f"{registry_group} has no version to approve", "real")
        return
    package_arn = packages[0]["ModelPackageArn"]
    lineage = sagemaker.describe_model_package(ModelPackageName=package_arn).get("CustomerMetadataProperties", {})
    # moto's UpdateModelPackage drops the package's CustomerMetadataProperties (SageMaker keeps them):
    # send them again so the lineage survives the approval here as it does in AWS.
    sagemaker.update_model_package(
        ModelPackageArn=package_arn, ModelApprovalStatus="Approved", CustomerMetadataProperties=lineage
    )
    status = sagemaker.describe_model_package(ModelPackageName=package_arn)["ModelApprovalStatus"]
    yield TourLine(level, "approve the model version", f"{package_arn.rsplit('/', 2)[-2]} v1 is {status}", "real")

    def promote(arn: str) -> dict[str, Any]:
        event = {
            "source": "aws.sagemaker",
            "detail-type": "SageMaker Model Package State Change",
            "account": "123456789012",
            "region": aws.region,
            "resources": [arn],
            "detail": {
                "ModelPackageGroupName": registry_group,
                "ModelPackageArn": arn,
                "ModelApprovalStatus": "Approved",
            },
        }
        decision: dict[str, Any] = promotion.invoke(event, to_emulator).response
        return decision

    decision = promote(package_arn)
    yield TourLine(
        level,
        "promotion (the approval event)",
        f"{decision.get('action')}: {decision.get('reason')} (mode {decision.get('mode')}, AUC "
        f"{(decision.get('metrics') or {}).get('auc')})",
        "in-process",
    )
    endpoint = out["EndpointName"]
    with contextlib.suppress(sagemaker.exceptions.ClientError):
        described = sagemaker.describe_endpoint(EndpointName=endpoint)
        yield TourLine(
            level,
            "the endpoint",
            f"{endpoint} is {described['EndpointStatus']} on {described['EndpointConfigName']} (moto creates it at "
            "once and serves canned answers)",
            "real",
        )
    missing = promote(package_arn.rsplit("/", 1)[0] + "/99")
    yield TourLine(
        level, "promotion of a missing version", f"{missing.get('action')}: {missing.get('reason')}", "in-process"
    )
    topic = alarm_topic(aws, stack_name)
    stack_alarms = {
        a["AlarmName"]
        for a in aws.client("cloudwatch").describe_alarms()["MetricAlarms"]
        if topic in a.get("AlarmActions", [])
        and a["AlarmName"].startswith(stack_name)
        # The knowledge base's own alarms (skew, failed documents, dead letters) are in its part of the tour.
        and "KnowledgeBase" not in a["AlarmName"]
    }
    # The observability construct's per-resource failure alarms (errors, throttles, 5xx, dead letters).
    failure_alarms = {name for name in stack_alarms if "Monitoring" in name}
    alarms = stack_alarms - failure_alarms
    rules = [r["Name"] for r in aws.client("events").list_rules()["Rules"] if "RetrainOnDrift" in r["Name"]]
    # stacks/components/clarify_alarms.py: only instance-based endpoints get Model Monitor, hence these alarms.
    bias_alarms = {name for name in alarms if "ClarifyMonitor" in name}
    alarms -= bias_alarms
    mode = decision.get("mode")
    yield TourLine(
        level,
        "model-bias alarms",
        f"{len(bias_alarms)} ({', '.join(sorted(bias_alarms))}) on the model-bias schedule's metrics"
        if bias_alarms
        else f"none: this endpoint is {mode} (Model Monitor, hence the bias and explainability schedules, needs "
        "an instance-based endpoint)",
        "real",
    )
    yield TourLine(
        level,
        "monitoring",
        f"{len(alarms)} alarms (5xx, p99 latency, 4xx, data drift, undelivered promotion events) and "
        f"{len(failure_alarms)} failure alarms of its functions, API and queues notify the "
        f"topic; the drift alarm's state change starts retraining ({len(rules)} rule); moto does not evaluate "
        "alarms nor topic policies: emulator/integrations.py checks that CloudWatch may publish and encrypt",
        "real",
    )
    if "PipelineName" in out:
        pipeline = aws.client("codepipeline").get_pipeline(name=out["PipelineName"])["pipeline"]
        stages = " -> ".join(stage["name"] for stage in pipeline["stages"])
        yield TourLine(level, "delivery pipeline", f"{out['PipelineName']}: {stages} (not run locally)", "real")


TOUR_USER = "arn:aws:iam::123456789012:user/local-tour"
TOUR_PROMPT = "ticket-summary"
GOLDEN_SET_FILE = PROJECT_ROOT / "lambdas" / "llm_evaluation" / "data" / "support_tickets_v1.json"


def _qualifiers(body: dict[str, Any]) -> str:
    """The guardContent qualifiers of a Converse request's last message, as Bedrock's guardrail reads them."""
    blocks = body["messages"][-1]["content"]
    return ", ".join(q for b in blocks if "guardContent" in b for q in b["guardContent"]["text"].get("qualifiers", []))


def tour_llmops(
    aws: LocalAws, stack_name: str, *, env_name: str, extra_env: dict[str, str] | None = None
) -> Iterator[TourLine]:
    """Version and promote a prompt through the catalog API, release ``prompts/`` as the pipeline would, then
    call the gateway against a stand-in model. `extra_env` reaches every handler (e.g. the stand-in knowledge
    base's endpoints, :meth:`emulator.fake_knowledge_base.FakeKnowledgeBase.env`)."""
    level = "LLMOps"
    out = stack_outputs(aws, stack_name)
    # The handlers build their boto3 clients from the environment: point them at the emulator.
    to_emulator = {**aws.env(base={}), **(extra_env or {})}
    catalog = deployed_function(aws, "prompt_catalog", out["CatalogFunctionName"])
    gateway = deployed_function(aws, "llm_gateway", out["GatewayFunctionName"])
    model_id = gateway.environment["ALLOWED_MODELS"].split(",")[0]
    published = 0
    cloudwatch = aws.client("cloudwatch")

    def api(method: str, path: str, body: dict[str, Any] | None = None, query: dict[str, str] | None = None) -> Any:
        nonlocal published
        invocation = catalog.invoke(rest_api_event(method, path, body, query=query, user_arn=TOUR_USER), to_emulator)
        published += publish_emf(cloudwatch, invocation.output)
        response = invocation.response
        return response["statusCode"], json.loads(response.get("body") or "{}")

    # What prod will require of v2: the shipped golden set, every item of it (as prompts/ticket-summary.json says).
    golden_document = json.loads(GOLDEN_SET_FILE.read_text())
    requirement = {
        "name": golden_document["name"],
        "version": golden_document["version"],
        "min_items": len(golden_document["items"]),
    }
    versions = []
    for template, reason, golden_sets in (
        ("Summarize this support ticket in one sentence: {{ticket}}", "first version", []),
        (
            "Classify the support ticket as billing, technical, account, shipping or other and summarize it in one "
            "sentence; answer with two lines, label: <label> and summary: <sentence>.\n{{ticket}}",
            "classify as well, in a parseable format",
            [requirement],
        ),
    ):
        status, created = api(
            "POST",
            f"/prompts/{TOUR_PROMPT}/versions",
            {
                "template": template,
                "variables": ["ticket"],
                "model_id": model_id,
                "inference": {"temperature": 0.2, "maxTokens": 200},
                "reason": reason,
                "golden_sets": golden_sets,
            },
        )
        versions.append((status, created.get("version")))
    yield TourLine(
        level,
        "prompt catalog: create two versions",
        f"{TOUR_PROMPT}: " + ", ".join(f"HTTP {status} -> v{version}" for status, version in versions),
        "in-process",
    )
    status, diff = api("GET", f"/prompts/{TOUR_PROMPT}/diff", query={"from": "1", "to": "2"})
    changed = ", ".join(["template", *(field for field in diff.get("changed", {}) if field != "sha256")])
    yield TourLine(level, "diff v1..v2", f"HTTP {status}: changed {changed}", "in-process")
    # dev is not gated: teams try a version there before it is evaluated for prod.
    api("PUT", f"/prompts/{TOUR_PROMPT}/aliases/dev", {"version": 2, "reason": "tour: try v2"})
    status, refused = api("PUT", f"/prompts/{TOUR_PROMPT}/aliases/prod", {"version": 2, "reason": "tour: v2 reviewed"})
    yield TourLine(level, "promote prod before any evaluation", f"HTTP {status}: {refused.get('error')}", "in-process")

    # The quality gate: evaluate v2 over the shipped golden set, on the allowed models, judged.
    evaluator = deployed_function(aws, "llm_evaluation", out["EvaluatorFunctionName"])
    status, golden = api("POST", "/evalsets", golden_document)
    yield TourLine(
        level,
        "publish the golden set (catalog API)",
        f"HTTP {status}: {golden.get('name')} v{golden.get('version')}, {golden.get('items')} items",
        "in-process",
    )
    event = {"prompt": TOUR_PROMPT, "version": 2, "golden_set": golden["name"], "golden_version": golden["version"]}
    allowed = evaluator.environment["ALLOWED_MODELS"].split(",")
    judge = evaluator.environment.get("JUDGE_MODEL_ID", "")
    # First run: the stand-in answers every model but v2's own, which fails every call (as a model without
    # access would); another model may pass and win the selection, but prod calls v2's model.
    # The judge may be the same model (it is in the shipped cdk.json): then it is down for this run too.
    others = ({*allowed} | ({judge} if judge else set())) - {model_id}
    # One stand-in server for both runs: the warm evaluation function keeps the client it first built.
    with FakeBedrock(denied_words=("forbidden",), region=aws.region) as model:
        for run, served, label in (
            ("model-down", frozenset(others), f"local stand-ins; {model_id} made unavailable"),
            (
                "stand-ins",
                None,
                "local stand-in model, judge and embedder: they pass by construction, not a real model",
            ),
        ):
            model.models = served
            invocation = evaluator.invoke({**event, "run_id": f"tour-{run}"}, {**to_emulator, **model.env()})
            published += publish_emf(cloudwatch, invocation.output)
            verdict = invocation.response
            reasons = "; ".join(verdict.get("reasons") or []) or "all thresholds met"
            yield TourLine(
                level,
                f"evaluate v2 over {golden['name']} v{golden['version']} ({golden['items']} items, {label})",
                f"passed={verdict.get('passed')} on {verdict.get('gated_model')} (the model v2 pins; gates "
                f"{verdict.get('gates')}), selected {verdict.get('selected_model')} ({reasons[:160]}); "
                f"scorecard {verdict.get('scorecard_uri')}",
                "in-process",
            )
            status, promoted = api(
                "PUT", f"/prompts/{TOUR_PROMPT}/aliases/prod", {"version": 2, "reason": f"tour: v2 evaluated ({run})"}
            )
            outcome = f"prod -> v{promoted.get('version')}" if status == 200 else str(promoted.get("error"))
            yield TourLine(
                level, f"promote prod after the evaluation ({run})", f"HTTP {status}: {outcome}", "in-process"
            )
    serving = "prod" if status == 200 else "dev"  # the gateway calls below use what passed the gate, if it did
    status, error = api("PUT", f"/prompts/{TOUR_PROMPT}/aliases/prod", {"version": 9, "reason": "typo"})
    yield TourLine(level, "bad input is refused", f"HTTP {status}: {error.get('error')}", "in-process")

    # Prompts as code: what the pipeline's prompt stage runs, with the emulator's catalog as the transport.
    with FakeBedrock(denied_words=("forbidden",), region=aws.region) as model:
        evaluations = _LocalEvaluations(evaluator, {**to_emulator, **model.env()})
        report = prompt_release.release(
            prompt_release.load_prompt_files(PROJECT_ROOT / prompt_release.DEFAULT_PROMPTS_DIR),
            env_name=env_name,
            catalog=prompt_release.Catalog(lambda method, path, body=None, query=None: api(method, path, body, query)),
            evaluations=evaluations,
            source_version="local-tour",
        )
    for output in evaluations.outputs:
        published += publish_emf(cloudwatch, output)
    yield TourLine(
        level,
        "release prompts/ (pipeline stage)",
        " | ".join(report.lines) + (" => build fails (exit 1)" if report.failures else " => build passes"),
        "in-process",
    )

    with FakeBedrock(denied_words=("forbidden",), region=aws.region) as model:
        for ticket, what, context in (
            ("The export to CSV fails with a timeout since Monday; 40 agents are blocked.", "gateway call", None),
            ("Please explain the forbidden workaround.", "gateway call the guardrail blocks", None),
            (
                "The export to CSV fails with a timeout since Monday.",
                "gateway call with a context (grounding source)",
                "Known issue 4711: CSV exports over 10,000 rows time out; export in smaller date ranges.",
            ),
        ):
            request = {"prompt": TOUR_PROMPT, "alias": serving, "variables": {"ticket": ticket}, "team": "support"}
            invocation = gateway.invoke(
                {**request, "context": context} if context else request, {**to_emulator, **model.env()}
            )
            published += publish_emf(cloudwatch, invocation.output)
            answer = invocation.response
            usage = answer.get("usage", {})
            yield TourLine(
                level,
                f"{what} (local stand-in model)",
                f"HTTP {answer['statusCode']} v{answer.get('version')} {answer.get('model_id')}: "
                f"{usage.get('inputTokens')} in / {usage.get('outputTokens')} out tokens, "
                f"${answer.get('cost_usd', 0):.6f}, {answer.get('latency_ms', 0):.0f} ms, "
                f"guardrail intervened: {answer.get('guardrail_intervened')} | "
                f"{' / '.join(str(answer.get('text', '')).splitlines())[:100]}"
                + (f" | guardContent sent: {_qualifiers(model.requests[-1].body)}" if context else ""),
                "in-process",
            )
    yield TourLine(
        level,
        "metrics from the functions' EMF logs",
        f"{published} data points put to CloudWatch namespace {gateway.environment['POWERTOOLS_METRICS_NAMESPACE']} "
        "(what CloudWatch Logs extracts from EMF lines in AWS)",
        "in-process",
    )
    yield TourLine(
        level,
        "Bedrock guardrail",
        f"{out['GuardrailId']} v{out['GuardrailVersion']} recorded by CloudFormation only: moto has no Bedrock "
        "control plane; the stand-in model simulates interventions",
        "not emulated",
    )
    topic = alarm_topic(aws, stack_name)
    alarms = {
        a["AlarmName"]
        for a in cloudwatch.describe_alarms()["MetricAlarms"]
        if topic in a.get("AlarmActions", [])
        and a["AlarmName"].startswith(stack_name)
        # The knowledge base's own alarms (skew, failed documents, dead letters) are in its part of the tour.
        and "KnowledgeBase" not in a["AlarmName"]
    }
    # The observability construct's per-resource failure alarms (functions, API, tables, state machine).
    failure_alarms = {name for name in alarms if "Monitoring" in name}
    alarms -= failure_alarms
    yield TourLine(
        level,
        "gateway alarms",
        f"{len(alarms)} alarms (cost/hour, p99 latency, error rate, guardrail rate) and {len(failure_alarms)} "
        "failure alarms of the stack's functions, API, tables and state machine notify the encrypted topic",
        "real",
    )


@dataclass
class _LocalEvaluations:
    """The deployed evaluation function, in-process, with the verdicts the evaluation state machine turns its
    answer into (moto records state machines but does not run them); see stacks/llmops.py."""

    evaluator: LocalFunction
    environment: dict[str, str]
    outputs: list[str] = field(default_factory=list)

    def evaluate(
        self, *, prompt: str, version: int, golden_set: str, golden_version: int
    ) -> prompt_release.EvaluationResult:
        event = {"prompt": prompt, "version": version, "golden_set": golden_set, "golden_version": golden_version}
        invocation = self.evaluator.invoke(event, self.environment)
        self.outputs.append(invocation.output)
        answer = invocation.response
        if "error" in answer:
            raise prompt_release.ReleaseError(f"The evaluation could not run: {answer['error']}")
        run_id = answer.get("run_id")
        if answer.get("passed") is True:
            return prompt_release.EvaluationResult(True, f"scorecard {answer.get('scorecard_uri')}", run_id)
        reasons = json.dumps(answer.get("reasons"))
        cause = f"The quality gate refused this prompt version (evaluation {run_id}): {reasons}"
        return prompt_release.EvaluationResult(False, cause, run_id)


def tour_knowledge_base(steps: Iterator[tuple[str, str, Fidelity]]) -> Iterator[TourLine]:
    """The knowledge base's tour lines (emulator/tour_knowledge_base.py), as the tour's own."""
    for step, outcome, fidelity in steps:
        yield TourLine(KNOWLEDGE_BASE_LEVEL, step, outcome, fidelity)


def deployed_resources(aws: LocalAws, stack_name: str) -> Iterator[TourLine]:
    """One line per resource type in the stack: how many, and how the emulator handles that type."""
    resources = aws.client("cloudformation").describe_stack_resources(StackName=stack_name)["StackResources"]
    # moto lists a resource whose type it skipped without a type: count those, never hide them.
    counts = Counter(r.get("ResourceType", "(type skipped by moto)") for r in resources)
    for resource_type, count in sorted(counts.items()):
        status = emulation_status(resource_type)
        fidelity: Fidelity = "not emulated" if status in ("recorded only", "not emulated") else "real"
        yield TourLine(stack_name, resource_type, f"{count} deployed ({status})", fidelity)


def tour_level3(aws: LocalAws, stack_name: str, *, resource_prefix: str) -> Iterator[TourLine]:
    """List each team's footprint, write to its prefix under its key, and check the isolation of the policies.

    `resource_prefix` starts the environment's physical names (``EnvironmentConfig.resource_prefix``)."""
    level = "Level 3"
    out = stack_outputs(aws, stack_name)
    iam, dynamodb, s3 = aws.client("iam"), aws.client("dynamodb"), aws.client("s3")
    sagemaker, budgets = aws.client("sagemaker"), aws.client("budgets")
    bucket = out["TeamDataBucketName"]
    teams = sorted(key.removeprefix("Team").removesuffix("KeyArn") for key in out if key.endswith("KeyArn"))
    role_names: dict[str, str] = {}
    for team_key in teams:
        roles = [
            iam.get_role(RoleName=out[f"Team{team_key}{kind}RoleArn"].rsplit("/", 1)[-1])["Role"]
            for kind in (
                "DataScientist",
                "MlEngineer",
            )
        ]
        team = roles[0]["RoleName"].removeprefix(f"{resource_prefix}-").removesuffix("-data-scientist")
        role_names[team] = roles[0]["RoleName"]
        boundaries = {
            r.get("PermissionsBoundary", {}).get("PermissionsBoundaryArn", "none").rsplit("/", 1)[-1] for r in roles
        }
        yield TourLine(
            level,
            f"team {team}: roles",
            f"{', '.join(r['RoleName'] for r in roles)}; permission boundary {', '.join(sorted(boundaries))}",
            "real",
        )
        table = out[f"Team{team_key}FeatureTableName"]
        backups = dynamodb.describe_continuous_backups(TableName=table)["ContinuousBackupsDescription"]
        pitr = backups.get("PointInTimeRecoveryDescription", {}).get("PointInTimeRecoveryStatus", "unknown")
        dynamodb.put_item(
            TableName=table, Item={"entity_id": {"S": "customer-1"}, "event_time": {"S": "2026-11-01T00:00:00Z"}}
        )
        count = dynamodb.scan(TableName=table, Select="COUNT")["Count"]
        yield TourLine(
            level, f"team {team}: feature table", f"{table}: PITR {pitr}, {count} item(s) after a write", "real"
        )
        key_arn = out[f"Team{team_key}KeyArn"]
        object_key = f"teams/{team}/raw/hello.csv"
        s3.put_object(
            Bucket=bucket, Key=object_key, Body=b"id\n1\n", ServerSideEncryption="aws:kms", SSEKMSKeyId=key_arn
        )
        head = s3.head_object(Bucket=bucket, Key=object_key)
        yield TourLine(
            level,
            f"team {team}: write to its prefix under its key",
            f"s3://{bucket}/{object_key}: {head.get('ServerSideEncryption')} with the team key "
            f"({'yes' if head.get('SSEKMSKeyId', '').endswith(key_arn.rsplit('/', 1)[-1]) else 'no'})",
            "real",
        )
        if f"Team{team_key}PipelineName" in out:
            pipeline = sagemaker.describe_pipeline(PipelineName=out[f"Team{team_key}PipelineName"])
            yield TourLine(level, f"team {team}: its own training pipeline", pipeline["PipelineName"], "real")
        if f"Team{team_key}PromotionFunctionName" in out:
            function = aws.client("lambda").get_function(FunctionName=out[f"Team{team_key}PromotionFunctionName"])
            variables = function["Configuration"]["Environment"]["Variables"]
            endpoint = out[f"Team{team_key}EndpointName"]
            yield TourLine(
                level,
                f"team {team}: its own promotion on approval",
                f"{function['Configuration']['FunctionName']}: approved versions of "
                f"{variables['MODEL_PACKAGE_GROUP_NAME']} deploy to {endpoint} ({variables['ENDPOINT_MODE']})",
                "real",
            )
        account = aws.client("sts").get_caller_identity()["Account"]
        try:
            budget = budgets.describe_budget(AccountId=account, BudgetName=f"{resource_prefix}-team-{team}")
            limit = budget["Budget"]["BudgetLimit"]
            yield TourLine(level, f"team {team}: monthly budget", f"{limit['Amount']} {limit['Unit']}", "real")
        except budgets.exceptions.NotFoundException:
            yield TourLine(
                level,
                f"team {team}: monthly budget",
                "in the template; moto's CloudFormation skips Budgets",
                "not emulated",
            )

    # Isolation: moto does not evaluate IAM, so the deployed template's policies are evaluated here.
    template = aws.client("cloudformation").get_template(StackName=stack_name)["TemplateBody"]
    template = json.loads(template) if isinstance(template, str) else template
    simulator = PolicySimulator(template, account=aws.client("sts").get_caller_identity()["Account"], region=aws.region)
    role_ids = {
        props["RoleName"]: lid
        for lid, resource in template["Resources"].items()
        if resource["Type"] == "AWS::IAM::Role"
        and isinstance(props := resource["Properties"], dict)
        and "RoleName" in props
    }
    bucket_id = next(lid for lid, r in template["Resources"].items() if r["Type"] == "AWS::S3::Bucket")
    names = sorted(role_names)
    for team, other in zip(names, names[1:] + names[:1], strict=True):
        if team == other:
            break
        target = f"{simulator.arn_of(bucket_id)}/teams/{other}/raw/hello.csv"
        decision = simulator.decide(role_ids[role_names[team]], "s3:GetObject", target)
        own = simulator.decide(role_ids[role_names[team]], "s3:GetObject", target.replace(f"/{other}/", f"/{team}/"))
        yield TourLine(
            level,
            f"policy check: {team} reads {other}'s prefix",
            f"{'allowed' if decision.allowed else 'denied'} ({decision.why}); own prefix "
            f"{'allowed' if own.allowed else 'denied'}",
            "in-process",
        )
