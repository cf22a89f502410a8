"""Lambda entry point of the evaluation function (``handler.handler``).

Deployed as its own asset (this folder, with ``common/``, ``aws_lambda_powertools`` and
``typing_extensions`` copied next to it), like the gateway. Invoked directly (by a Step Functions task or
a pipeline) with ``{"prompt", "version", "golden_set", "golden_version", "models"?, "run_id"?}``; answers
``{"statusCode": 200, "passed", "reasons", "selected_model", "scorecard_uri", "run_id"}`` or
``{"statusCode": 4xx/5xx, "error": ...}`` (never a stack trace; that goes to the log).

Environment:
    TABLE_NAME                       the prompt-catalog table (GetItem, Query; PutItem of EVAL# items)
    REPORT_BUCKET, REPORT_PREFIX     where reports go (prefix default ``evaluations/``)
    PRICE_TABLE_JSON                 {"<model id>": {"input_per_1k": x, "output_per_1k": y}} in USD
    ALLOWED_MODELS                   comma-separated model ids; the default candidates
    JUDGE_MODEL_ID                   optional: the LLM judge (no judge when unset)
    GUARDRAIL_ID, GUARDRAIL_VERSION  optional: the guardrail applied to candidate model calls
    GATE_JSON                        quality-gate thresholds (see quality_gate.py)
    WEIGHTS_JSON                     {"speed": x, "precision": y, "cost": z} (see selection.py)
    KNOWLEDGE_BASES                  {"<name>": "<knowledgeBaseId>"}: what a retrieving version may name (#16)
    POWERTOOLS_METRICS_NAMESPACE, POWERTOOLS_SERVICE_NAME

Metrics (EMF, dimension ``prompt``): EvaluationsPassed, EvaluationsFailed, ClientErrors, Errors.
"""

from __future__ import annotations

import functools
import os
from typing import Any

import boto3
from aws_lambda_powertools import Logger, Metrics
from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.typing import LambdaContext
from botocore.config import Config
from common import safe_json
from common.errors import Conflict, Forbidden, NotFound, PromptError
from common.prompt_store import PROMPT_NAME_RE
from run_evaluation import ConfigError, EvaluationConfig, Evaluator, parse_event

logger = Logger()
metrics = Metrics()


@functools.cache
def evaluator_from_env() -> Evaluator:
    """The evaluator configured from the environment; built once per execution environment."""
    config = EvaluationConfig.from_env(os.environ)
    bedrock = boto3.client(
        "bedrock-runtime", config=Config(retries={"mode": "adaptive", "max_attempts": 6}, read_timeout=120)
    )
    return Evaluator(
        dynamodb=boto3.client("dynamodb"),
        s3=boto3.client("s3"),
        bedrock=bedrock,
        config=config,
        # Only a prompt version that retrieves (#16) makes it: KNOWLEDGE_BASES names its knowledge base.
        agent_runtime=lambda: boto3.client(
            "bedrock-agent-runtime", config=Config(retries={"mode": "adaptive", "max_attempts": 6})
        ),
    )


def _status(error: PromptError) -> int:
    if isinstance(error, NotFound):
        return 404
    if isinstance(error, Forbidden):
        return 403
    if isinstance(error, Conflict):
        return 409
    return 400


@logger.inject_lambda_context
@metrics.log_metrics
def handler(event: Any, context: LambdaContext) -> dict[str, Any]:
    """Run one evaluation."""
    prompt = event.get("prompt") if isinstance(event, dict) and isinstance(event.get("prompt"), str) else None
    # Only a valid name goes into the log record (a metric dimension later): not 1 MB of text or a surrogate.
    prompt = prompt if prompt is not None and PROMPT_NAME_RE.match(prompt) else None
    try:
        # The runtime has parsed the event already: check its depth, numbers and text before reading it.
        safe_json.check(event, where="event")
        request = parse_event(event)
        outcome = evaluator_from_env().run(request)
    except PromptError as error:
        status = _status(error)
        metrics.add_metric(name="ClientErrors", unit=MetricUnit.Count, value=1)
        logger.info("evaluation rejected", extra={"status": status, "reason": str(error), "prompt": prompt})
        return {"statusCode": status, "error": str(error)}
    except ConfigError as error:
        metrics.add_metric(name="Errors", unit=MetricUnit.Count, value=1)
        logger.error("misconfigured", extra={"reason": str(error)})
        return {"statusCode": 500, "error": str(error)}
    except Exception:
        metrics.add_metric(name="Errors", unit=MetricUnit.Count, value=1)
        logger.exception("unexpected error", extra={"prompt": prompt})
        return {"statusCode": 500, "error": f"internal error; see the log for request {context.aws_request_id}"}
    metrics.add_dimension(name="prompt", value=request.prompt)
    name = "EvaluationsPassed" if outcome.passed else "EvaluationsFailed"
    metrics.add_metric(name=name, unit=MetricUnit.Count, value=1)
    logger.info(
        "evaluation finished",
        extra={
            "prompt": request.prompt,
            "version": request.version,
            "golden_set": request.golden_set,
            "golden_version": request.golden_version,
            **outcome.to_dict(),
        },
    )
    return {"statusCode": 200, **outcome.to_dict()}
