"""LogExperimentRun: the training pipeline's Lambda step that logs the execution as an MLflow run.

Entry point ``handler.handler``. SageMaker Pipelines invokes it after Evaluate (and BiasGate) with the
step's arguments (see ``run_record.py``); it reads evaluation.json and bias_gate.json, versions the training
data by a digest of its objects, logs one run into the environment's SageMaker managed MLflow app (experiment
= pipeline name), and returns ``{"run_id": ...}``: the step's output parameter, which RegisterModel records
on the model package (CustomerMetadataProperties ``mlflow_run_id``). The pipeline's jobs run with network
isolation, so a Lambda step (which has network access) is what can reach the app.

Environment:
    MLFLOW_APP_ARN        the app (its ARN is the MLflow tracking URI); required
    MLFLOW_ENDPOINT_URL   only set by the local emulator (a loopback stand-in); deployments derive the
                          endpoint from the ARN
    POWERTOOLS_SERVICE_NAME, LOG_LEVEL   Powertools settings
"""

from __future__ import annotations

import functools
import os
import re
from typing import Any

import boto3
import run_record
import tracking
from aws_lambda_powertools import Logger
from aws_lambda_powertools.utilities.typing import LambdaContext
from common.settings import EnvSettings

logger = Logger()
_URL = re.compile(r"https?://[^\s/]+(/\S*)?")


class ConfigError(ValueError):
    """The function's environment is incomplete or invalid; the message names the variable."""


@functools.cache
def settings() -> tuple[str, str | None]:
    """``(MLFLOW_APP_ARN, MLFLOW_ENDPOINT_URL or None)``, validated once per execution environment: a bad ARN
    fails the step before any S3 read, naming the variable."""
    env = EnvSettings(os.environ, error=ConfigError)
    app_arn = env.required("MLFLOW_APP_ARN")
    env.text("MLFLOW_APP_ARN", "", pattern=tracking.APP_ARN_RE, what="the ARN of a SageMaker MLflow app")
    return app_arn, env.optional("MLFLOW_ENDPOINT_URL", pattern=_URL, what="an http(s) URL")


def _list_objects(s3: Any, uri: str) -> list[tuple[str, str, int]]:
    bucket, prefix = run_record.split_s3_uri(uri, "training_data_uri")
    objects = []
    for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix):
        objects += [(o["Key"], o.get("ETag", ""), int(o.get("Size", 0))) for o in page.get("Contents", [])]
    return objects


@logger.inject_lambda_context
def handler(event: Any, context: LambdaContext) -> dict[str, str]:
    app_arn, endpoint = settings()
    arguments = run_record.StepArguments.from_event(event)
    s3 = boto3.client("s3")

    def get_object(bucket: str, key: str) -> bytes:
        body: bytes = s3.get_object(Bucket=bucket, Key=key)["Body"].read(run_record.MAX_REPORT_BYTES + 1)
        return body

    evaluation = run_record.read_json(get_object, arguments.evaluation_uri, "evaluation_uri")
    gate = (
        run_record.read_json(get_object, arguments.bias_gate_uri, "bias_gate_uri") if arguments.bias_gate_uri else None
    )
    record = run_record.build_record(
        arguments,
        evaluation=evaluation,
        bias_gate=gate,
        data_digest=run_record.dataset_digest(_list_objects(s3, arguments.training_data_uri)),
    )
    store = tracking.RestTrackingStore(
        app_arn=app_arn,
        transport=tracking.sigv4_transport(boto3.Session().get_credentials(), tracking.app_region(app_arn)),
        endpoint=endpoint,
    )
    run_id, created = tracking.log_run_once(store, record)
    logger.info(
        "MLflow run logged" if created else "MLflow run already logged for this execution",
        extra={"run_id": run_id, "experiment": record.experiment_name, "execution": record.execution_arn},
    )
    return {"run_id": run_id}
