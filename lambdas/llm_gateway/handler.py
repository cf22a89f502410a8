"""Lambda entry point of the LLM gateway (``handler.handler``).

Deployed as its own asset (this folder, with ``common/``, ``aws_lambda_powertools`` and
``typing_extensions`` copied next to it), so modules import each other and ``common`` as top-level
modules; tests put the folders on ``sys.path`` (tests/unit/lambdas_path.py).

Accepts a direct invocation ``{"prompt", "alias", "variables", "team"}`` and answers with a flat
``{"statusCode": ..., ...}``; accepts the same object as the body of a function URL request and then
answers in the function URL response format (the same object, JSON-encoded, as the body).

Environment:
    TABLE_NAME                    the prompt-catalog table (read: GetItem on ALIAS# items)
    GUARDRAIL_ID, GUARDRAIL_VERSION  the Bedrock guardrail applied to every call (required)
    ALLOWED_MODELS                comma-separated model ids the gateway may call
    PRICE_TABLE_JSON              {"<model id>": {"input_per_1k": x, "output_per_1k": y}} in USD
    PROMPT_CACHE_SECONDS          alias cache TTL (default 30, 0 disables)
    KNOWLEDGE_BASES               {"<name>": "<knowledgeBaseId>"} the retrieval prompts may name (default {})
    POWERTOOLS_METRICS_NAMESPACE  CloudWatch namespace of the EMF metrics (read by Powertools)
    POWERTOOLS_SERVICE_NAME       optional: service name in logs and a ``service`` metric dimension

Metrics (EMF), each emitted twice: with the service dimension only (what the stack's alarms watch) and with
dimensions ``prompt``, ``model``, ``team`` ("none" until known: a prompt name only becomes
a dimension once the catalog has resolved it, so callers cannot mint metrics with made-up names):
InputTokens, OutputTokens, CostUSD, LatencyMs, GuardrailInterventions, Errors (0 or 1 per call, so
Average is an error rate), ClientErrors on 4xx answers. For a prompt version that retrieves (#16):
RetrievalLatencyMs, RetrievedChunks, RetrievalEmpty (1 when nothing was found: the model was not called,
the answer's ``retrieval.status`` is ``"empty"``) and RetrievalErrors (1 when Retrieve failed: a 502 whose
``retrieval.status`` is ``"error"``).
"""

from __future__ import annotations

import functools
import json
import os
import re
from typing import Any

import boto3
from aws_lambda_powertools import Logger, Metrics
from aws_lambda_powertools.metrics import MetricUnit, single_metric
from aws_lambda_powertools.utilities.typing import LambdaContext
from botocore.config import Config
from common import safe_json
from common.errors import Forbidden, NotFound, PromptError, TooLarge
from common.retrieval import RetrievalError
from gateway import BedrockError, ConfigError, Gateway, GatewayConfig, parse_request

logger = Logger()
metrics = Metrics()

UNKNOWN = "none"
# Function URL requests must POST their JSON body; any other method gets 405 with this Allow header.
ALLOWED_METHODS = "POST"
# Bedrock's error codes are AWS error type names; anything else is reported as "Unknown".
_ERROR_CODE = re.compile(r"[A-Za-z][A-Za-z0-9.]{0,63}")


@functools.cache
def gateway_from_env() -> Gateway:
    """The gateway configured from the environment; built once per execution environment."""
    config = GatewayConfig.from_env(os.environ)
    # Standard retries cover throttling once or twice; the read timeout leaves room for long generations.
    bedrock = boto3.client(
        "bedrock-runtime", config=Config(retries={"mode": "standard", "max_attempts": 3}, read_timeout=120)
    )
    return Gateway(
        dynamodb=boto3.client("dynamodb"),
        bedrock=bedrock,
        config=config,
        # Created on the first retrieval only; Retrieve is quick, one retry covers a throttle.
        agent_runtime=lambda: boto3.client(
            "bedrock-agent-runtime", config=Config(retries={"mode": "standard", "max_attempts": 2}, read_timeout=30)
        ),
    )


def _is_function_url(event: object) -> bool:
    """Function URL events (payload format 2.0) carry ``requestContext.http``; direct invocations do not."""
    return isinstance(event, dict) and "http" in (event.get("requestContext") or {})


def _payload(event: Any, function_url: bool) -> object:
    """The request object: the event itself, or the JSON body of a function URL request.

    Both are held to the same bounds (:mod:`common.safe_json`): the runtime has already parsed a direct
    invocation's event, so that one is checked rather than parsed.
    """
    if not function_url:
        safe_json.check(event, where="request")
        return event
    body = safe_json.decode_body(event.get("body"), is_base64=bool(event.get("isBase64Encoded")))
    return safe_json.loads(body)


def _respond(status: int, payload: dict[str, Any], *, function_url: bool) -> dict[str, Any]:
    if function_url:
        headers = {"content-type": "application/json"}
        if status == 405:
            headers["allow"] = ALLOWED_METHODS
        return {"statusCode": status, "headers": headers, "body": json.dumps(payload)}
    return {"statusCode": status, **payload}


def _status(error: PromptError) -> int:
    if isinstance(error, TooLarge):
        return 413
    if isinstance(error, NotFound):
        return 404
    if isinstance(error, Forbidden):
        return 403
    return 400


@logger.inject_lambda_context
@metrics.log_metrics
def handler(event: Any, context: LambdaContext) -> dict[str, Any]:
    """Serve one gateway request."""
    dimensions = {"prompt": UNKNOWN, "model": UNKNOWN, "team": UNKNOWN}
    function_url = _is_function_url(event)
    http = event["requestContext"]["http"] if function_url else None
    method = http.get("method") if isinstance(http, dict) else None
    if function_url and method != ALLOWED_METHODS:
        _emit(dimensions, ClientErrors=1)
        shown = repr(method)[:20] if method is not None else "no method"
        message = f"method not allowed: {shown}; the gateway takes {ALLOWED_METHODS}"
        logger.info("request rejected", extra={"status": 405, "reason": message, **dimensions})
        return _respond(405, {"error": message}, function_url=True)
    try:
        request = parse_request(_payload(event, function_url))
        dimensions["team"] = request.team
        gateway = gateway_from_env()
        record = gateway.resolve(request.prompt, request.alias)
        dimensions.update(prompt=record.name, model=record.model_id)
        result = gateway.invoke(request, record)
    except PromptError as error:
        status = _status(error)
        _emit(dimensions, ClientErrors=1)
        logger.info("request rejected", extra={"status": status, "reason": str(error), **dimensions})
        return _respond(status, {"error": str(error)}, function_url=function_url)
    except RetrievalError as error:
        _emit(dimensions, Errors=1, RetrievalErrors=1)
        code = error.code if _ERROR_CODE.fullmatch(error.code) else "Unknown"
        logger.warning("retrieval failed", extra={"code": error.code, "reason": str(error), **dimensions})
        message = f"knowledge base retrieval failed: {code}; see the gateway log for request {context.aws_request_id}"
        answer = {"error": message, "code": code, "retrieval": {"status": "error", "reason": code}}
        return _respond(502, answer, function_url=function_url)
    except BedrockError as error:
        _emit(dimensions, Errors=1)
        # Bedrock's message can name this function's role ARN, account and model access: it goes to the
        # log only. The caller gets the error code, which is stable and documented, and the request id.
        code = error.code if _ERROR_CODE.fullmatch(error.code) else "Unknown"
        logger.warning("bedrock call failed", extra={"code": error.code, "reason": str(error), **dimensions})
        message = f"Bedrock Converse failed: {code}; see the gateway log for request {context.aws_request_id}"
        return _respond(502, {"error": message, "code": code}, function_url=function_url)
    except ConfigError as error:
        _emit(dimensions, Errors=1)
        logger.error("misconfigured", extra={"reason": str(error)})
        return _respond(500, {"error": str(error)}, function_url=function_url)
    except Exception:
        # Anything else (DynamoDB unavailable, a bug): a JSON 500 and the traceback in the log only.
        _emit(dimensions, Errors=1)
        logger.exception("unexpected error", extra=dimensions)
        message = f"internal error; see the log for request {context.aws_request_id}"
        return _respond(500, {"error": message}, function_url=function_url)
    if result.retrieved is not None:
        _emit(
            dimensions,
            RetrievalLatencyMs=result.retrieved.latency_ms,
            RetrievedChunks=len(result.retrieved.chunks),
            RetrievalEmpty=int(result.retrieved.empty),
            RetrievalErrors=0,
        )
    if result.text is None:
        # Nothing retrieved, so no model call: its token, cost and latency metrics would only be zeros.
        _emit(dimensions, Errors=0)
    else:
        _emit(
            dimensions,
            InputTokens=result.input_tokens,
            OutputTokens=result.output_tokens,
            CostUSD=result.cost_usd,
            LatencyMs=result.latency_ms,
            GuardrailInterventions=int(result.guardrail_intervened),
            Errors=0,
        )
    # Metadata only: prompts and answers may hold personal data and stay out of the log.
    logger.info(
        "invocation",
        extra={
            **dimensions,
            "alias": result.alias,
            "version": result.version,
            "input_tokens": result.input_tokens,
            "output_tokens": result.output_tokens,
            "cost_usd": result.cost_usd,
            "latency_ms": result.latency_ms,
            "stop_reason": result.stop_reason,
            "guardrail_intervened": result.guardrail_intervened,
            **({"retrieval": result.retrieved.summary()} if result.retrieved is not None else {}),
        },
    )
    return _respond(200, result.to_dict(), function_url=function_url)


_UNITS = {
    "InputTokens": MetricUnit.Count,
    "OutputTokens": MetricUnit.Count,
    "CostUSD": MetricUnit.NoUnit,
    "LatencyMs": MetricUnit.Milliseconds,
    "GuardrailInterventions": MetricUnit.Count,
    "Errors": MetricUnit.Count,
    "ClientErrors": MetricUnit.Count,
    "RetrievalLatencyMs": MetricUnit.Milliseconds,
    "RetrievedChunks": MetricUnit.Count,
    "RetrievalEmpty": MetricUnit.Count,
    "RetrievalErrors": MetricUnit.Count,
}


def _emit(dimensions: dict[str, str], **values: float) -> None:
    for dimension, label in dimensions.items():
        metrics.add_dimension(name=dimension, value=label)
    for name, value in values.items():
        metrics.add_metric(name=name, unit=_UNITS[name], value=value)
        # The same value once more with the service dimension only: CloudWatch alarms cannot aggregate
        # across dimension values, and the stack's cost, latency and rate alarms watch the whole gateway.
        with single_metric(name=name, unit=_UNITS[name], value=value):
            pass
