"""REST routes of the prompt catalog (API Gateway REST API, IAM auth, Lambda proxy integration).

=======  ====================================  ======================================================
method   path                                  body / query
=======  ====================================  ======================================================
POST     /prompts/{name}/versions              template, variables, model_id, inference?, reason,
                                              golden_sets? ([{name, version, min_items}]: what ``prod``
                                              requires the version's model to pass), retrieval?
                                              ({knowledgeBase, topK, contextVariable, queryVariable?,
                                              filter?}: see common/retrieval.py)
GET      /prompts                              ?limit&next_token
GET      /prompts/{name}/versions              ?limit&next_token
GET      /prompts/{name}/versions/{version}
GET      /prompts/{name}/aliases/{alias}
PUT      /prompts/{name}/aliases/{alias}       version, reason (``prod``: 409 unless the version's own
                                              model passed every golden set the version names; 409 too
                                              when another promotion moved the alias meanwhile)
GET      /prompts/{name}/diff                  ?from&to
POST     /prompts/{name}/render                alias | version, variables
GET      /prompts/{name}/audit                 ?limit&next_token
=======  ====================================  ======================================================

Every error is ``{"error": "<what is wrong, naming the field>"}`` with a 4xx status, and is raised before
any write. Bodies are validated here by hand: Powertools' validators need ``fastjsonschema`` or
``pydantic`` (whose compiled core is platform-specific), and neither ships in the function's asset.
The caller ("who" in the audit trail) is ``requestContext.identity.userArn``, set by IAM auth.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Mapping
from typing import Any

from aws_lambda_powertools import Logger, Metrics
from aws_lambda_powertools.event_handler import APIGatewayRestResolver, Response, content_types
from aws_lambda_powertools.event_handler.middlewares import NextMiddleware
from aws_lambda_powertools.metrics import MetricUnit
from catalog import (
    Conflict,
    Forbidden,
    GateRefused,
    NotFound,
    PromptCatalog,
    PromptError,
    TooLarge,
    ValidationError,
)
from common import safe_json

_JSON_TYPE_NAMES: dict[type, str] = {
    str: "string",
    bool: "boolean",
    int: "integer",
    float: "number",
    list: "array",
    dict: "object",
    type(None): "null",
}


# Versions are stored zero-padded to 8 digits (V#00000001), and query integers are small page sizes or
# versions: anything longer is refused before it can reach a key.
_DIGITS = re.compile(r"[0-9]{1,8}")
_SHOWN = 40


def _control_character(path: str) -> str | None:
    """The first control character of ``path`` as ``U+XXXX``, or ``None``.

    Powertools anchors its route patterns with ``$``, which also matches before a trailing newline, so
    ``PUT /prompts/p/aliases/prod\\n`` would otherwise reach the route as alias ``prod``.
    """
    for char in path:
        if ord(char) < 0x20 or ord(char) == 0x7F:
            return f"U+{ord(char):04X}"
    return None


def _shown(raw: str) -> str:
    """``raw`` quoted for an error message, shortened when long (a path may be thousands of characters)."""
    return repr(raw) if len(raw) <= _SHOWN else f"{raw[:_SHOWN]!r}... ({len(raw)} characters)"


class ServerError(Exception):
    """The function is misconfigured (HTTP 500); the message says which setting."""


def _status(error: PromptError) -> int:
    # Most specific first: TooLarge is a ValidationError.
    for cls, status in ((TooLarge, 413), (ValidationError, 400), (NotFound, 404), (Conflict, 409), (Forbidden, 403)):
        if isinstance(error, cls):
            return status
    return 400


def json_response(status: int, payload: Mapping[str, Any]) -> Response[str]:
    """A JSON response with ``status``."""
    return Response(status_code=status, content_type=content_types.APPLICATION_JSON, body=json.dumps(payload))


def _type_name(value: object) -> str:
    return _JSON_TYPE_NAMES.get(type(value), type(value).__name__)


class Body:
    """A parsed JSON object body with typed, self-describing field accessors."""

    def __init__(self, raw: str | None, *, allowed: set[str]) -> None:
        """Parse ``raw``; reject non-objects and unknown fields (a typo must not be silently ignored)."""
        if raw is None or not raw.strip():
            raise ValidationError("request body: required, a JSON object")
        data = safe_json.loads(raw)
        if not isinstance(data, dict):
            raise ValidationError(f"request body: must be a JSON object, got {_type_name(data)}")
        unknown = set(data) - allowed
        if unknown:
            raise ValidationError(f"request body: unknown fields {sorted(unknown)}; allowed: {sorted(allowed)}")
        self._data: dict[str, Any] = data

    def has(self, field: str) -> bool:
        """Whether ``field`` is present (even as null)."""
        return field in self._data

    def _get(self, field: str, expected: type | tuple[type, ...], label: str) -> Any:
        if field not in self._data:
            raise ValidationError(f"{field}: required")
        value = self._data[field]
        # bool is an int subclass in Python but not an integer in JSON.
        if isinstance(value, bool) and bool not in (expected if isinstance(expected, tuple) else (expected,)):
            raise ValidationError(f"{field}: must be {label}, got boolean")
        if not isinstance(value, expected):
            raise ValidationError(f"{field}: must be {label}, got {_type_name(value)}")
        return value

    def string(self, field: str) -> str:
        """A required string field."""
        value: str = self._get(field, str, "a string")
        return value

    def integer(self, field: str) -> int:
        """A required integer field."""
        value: int = self._get(field, int, "an integer")
        return value

    def string_list(self, field: str) -> list[str]:
        """A required array of strings."""
        values: list[Any] = self._get(field, list, "an array of strings")
        for index, item in enumerate(values):
            if not isinstance(item, str):
                raise ValidationError(f"{field}[{index}]: must be a string, got {_type_name(item)}")
        return values

    def array(self, field: str, *, default: list[Any]) -> list[Any]:
        """An optional array field (its entries are checked by the catalog, which names them)."""
        if field not in self._data:
            return default
        value: list[Any] = self._get(field, list, "an array")
        return value

    def raw(self, field: str) -> object:
        """An optional field of any JSON type, ``None`` when absent or null (checked by the catalog)."""
        return self._data.get(field)

    def obj(self, field: str, *, default: dict[str, Any] | None = None) -> dict[str, Any]:
        """An object field; optional when ``default`` is given."""
        if default is not None and field not in self._data:
            return default
        value: dict[str, Any] = self._get(field, dict, "an object")
        return value


def build_app(get_catalog: Callable[[], PromptCatalog], *, logger: Logger, metrics: Metrics) -> APIGatewayRestResolver:
    """The resolver with every route; ``get_catalog`` is called per request (it may cache)."""
    app = APIGatewayRestResolver()

    def path_check(app: APIGatewayRestResolver, next_middleware: NextMiddleware) -> Response[str]:
        bad = _control_character(app.current_event.path)
        if bad:
            return json_response(400, {"error": f"path: contains the control character {bad}"})
        response: Response[str] = next_middleware(app)
        return response

    app.use(middlewares=[path_check])

    def raw_body() -> str:
        event = app.current_event
        text: str = safe_json.decode_body(event.body, is_base64=bool(event.is_base64_encoded))
        return text

    def body(*fields: str) -> Body:
        return Body(raw_body(), allowed=set(fields))

    def who() -> str:
        arn = app.current_event.request_context.identity.user_arn
        if not arn:
            raise Forbidden("caller identity missing: this API requires IAM authorization (requestContext.identity)")
        return arn

    def query_int(name: str, *, default: int | None = None) -> int:
        raw = app.current_event.get_query_string_value(name)
        if raw is None:
            if default is None:
                raise ValidationError(f"query parameter {name!r}: required")
            return default
        if not _DIGITS.fullmatch(raw):
            raise ValidationError(f"query parameter {name!r}: must be an integer, got {_shown(raw)} (1-8 digits 0-9)")
        return int(raw)

    def path_version(raw: str) -> int:
        # Full match on ASCII digits: str.isdigit() accepts '²' and other digits int() then refuses.
        if not _DIGITS.fullmatch(raw):
            raise ValidationError(f"version: must be a positive integer, got {_shown(raw)} (1-8 digits 0-9)")
        return int(raw)

    @app.post("/prompts/<name>/versions")
    def create_version(name: str) -> Response[str]:
        b = body("template", "variables", "model_id", "inference", "reason", "golden_sets", "retrieval")
        created = get_catalog().create_version(
            name,
            template=b.string("template"),
            variables=b.string_list("variables"),
            model_id=b.string("model_id"),
            inference=b.obj("inference", default={}),
            reason=b.string("reason"),
            who=who(),
            golden_sets=b.array("golden_sets", default=[]),
            # Checked by the catalog (knowledge base configured, variables declared, filter grammar).
            retrieval=b.raw("retrieval"),
        )
        metrics.add_metric(name="VersionsCreated", unit=MetricUnit.Count, value=1)
        logger.info("version created", extra={"prompt": name, "version": created.version, "sha256": created.sha256})
        return json_response(201, created.to_dict())

    @app.post("/evalsets")
    def create_golden_set() -> Response[str]:
        # The whole body is the golden set: its items are nested objects the field parser does not model.
        golden, created = get_catalog().create_golden_set(raw_body(), who=who())
        if created:
            logger.info("golden set created", extra={"golden_set": golden.name, "version": golden.version})
        # 200: this exact version was already stored (publishing it again changes nothing).
        body = {"name": golden.name, "version": golden.version, "items": len(golden.items), "created": created}
        return json_response(201 if created else 200, body)

    @app.get("/prompts")
    def list_prompts() -> Response[str]:
        page = get_catalog().list_prompts(
            limit=query_int("limit", default=50), next_token=app.current_event.get_query_string_value("next_token")
        )
        return json_response(200, page.to_dict("prompts"))

    @app.get("/prompts/<name>/versions")
    def list_versions(name: str) -> Response[str]:
        page = get_catalog().list_versions(
            name,
            limit=query_int("limit", default=50),
            next_token=app.current_event.get_query_string_value("next_token"),
        )
        return json_response(200, {"name": name, **page.to_dict("versions")})

    @app.get("/prompts/<name>/versions/<version>")
    def get_version(name: str, version: str) -> Response[str]:
        return json_response(200, get_catalog().get_version(name, path_version(version)).to_dict())

    @app.get("/prompts/<name>/aliases/<alias>")
    def get_alias(name: str, alias: str) -> Response[str]:
        return json_response(200, get_catalog().get_alias(name, alias).to_dict())

    @app.put("/prompts/<name>/aliases/<alias>")
    def promote(name: str, alias: str) -> Response[str]:
        b = body("version", "reason")
        record = get_catalog().promote(name, alias, version=b.integer("version"), reason=b.string("reason"), who=who())
        metrics.add_metric(name="AliasPromotions", unit=MetricUnit.Count, value=1)
        logger.info("alias promoted", extra={"prompt": name, "alias": alias, "version": record.version})
        return json_response(200, record.to_dict())

    @app.get("/prompts/<name>/diff")
    def diff(name: str) -> Response[str]:
        return json_response(200, get_catalog().diff(name, query_int("from"), query_int("to")))

    @app.post("/prompts/<name>/render")
    def render(name: str) -> Response[str]:
        b = body("alias", "version", "variables")
        alias = b.string("alias") if b.has("alias") else None
        version = b.integer("version") if b.has("version") else None
        rendered = get_catalog().render(name, b.obj("variables"), alias=alias, version=version)
        metrics.add_metric(name="Renders", unit=MetricUnit.Count, value=1)
        return json_response(200, rendered.to_dict())

    @app.get("/prompts/<name>/audit")
    def audit(name: str) -> Response[str]:
        page = get_catalog().list_audit(
            name,
            limit=query_int("limit", default=50),
            next_token=app.current_event.get_query_string_value("next_token"),
        )
        return json_response(200, {"name": name, **page.to_dict("audit")})

    def client_error(error: PromptError) -> Response[str]:
        status = _status(error)
        metrics.add_metric(name="Conflicts" if status == 409 else "ClientErrors", unit=MetricUnit.Count, value=1)
        logger.info("request rejected", extra={"status": status, "reason": str(error)})
        return json_response(status, {"error": str(error)})

    def gate_refused(error: GateRefused) -> Response[str]:
        # Expected behaviour of the prod gate, not a write race: its own metric, not Conflicts.
        metrics.add_metric(name="PromotionsRefused", unit=MetricUnit.Count, value=1)
        logger.info("promotion refused by the quality gate", extra={"status": 409, "reason": str(error)})
        return json_response(409, {"error": str(error)})

    def server_error(error: ServerError) -> Response[str]:
        metrics.add_metric(name="Errors", unit=MetricUnit.Count, value=1)
        logger.error("misconfigured", extra={"reason": str(error)})
        return json_response(500, {"error": str(error)})

    def unexpected(error: Exception) -> Response[str]:
        # Answer with JSON rather than API Gateway's bare 502, and keep the details in the log only.
        metrics.add_metric(name="Errors", unit=MetricUnit.Count, value=1)
        logger.exception("unexpected error")
        request_id = app.current_event.request_context.request_id
        return json_response(500, {"error": f"internal error; see the function log for request {request_id}"})

    # Registered by call rather than as decorators: Powertools' exception_handler is untyped.
    app.exception_handler(PromptError)(client_error)
    app.exception_handler(GateRefused)(gate_refused)
    app.exception_handler(ServerError)(server_error)
    app.exception_handler(Exception)(unexpected)

    @app.not_found
    def no_route(_: Exception) -> Response[str]:
        event = app.current_event
        bad = _control_character(event.path)
        if bad:
            return json_response(400, {"error": f"path: contains the control character {bad}"})
        # Powertools answers 404 for a known path with another method; HTTP says 405 with the methods
        # the path does take. Its own compiled rules decide the match, so the two can never disagree.
        allowed = sorted(
            {route.method for route in (*app._static_routes, *app._dynamic_routes) if route.rule.match(event.path)}
        )
        where = f"{event.http_method} {event.path if len(event.path) <= 200 else event.path[:200] + '...'}"
        if allowed:
            return Response(
                status_code=405,
                content_type=content_types.APPLICATION_JSON,
                body=json.dumps({"error": f"method not allowed: {where}; allowed: {', '.join(allowed)}"}),
                headers={"Allow": ", ".join(allowed)},
            )
        return json_response(404, {"error": f"no route for {where}"})

    return app
