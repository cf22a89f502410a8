"""Prompts as code: release the prompt files of ``prompts/`` to one environment's prompt catalog.

Run by the delivery pipeline's prompt stages (``python3 -m delivery.prompt_release --env preprod
--source-version <commit>``) after the environment is deployed; by hand with ``--no-assume-role`` and
credentials of the target account; ``--check`` only validates the files (no AWS calls). For every prompt
file, in name order:

1. publish a new version through the catalog API (``POST /prompts/{name}/versions``) when the file's
   template, variables, model, inference settings or golden-set requirement differ from the catalog's
   latest version; an unchanged prompt publishes nothing. The version names the file's golden set
   (``evaluation``) as the one ``prod`` requires it to pass, with ``evaluation.min_items`` (default: every
   item of the set);
2. if an alias the file lists for this environment does not point at that version yet: publish the
   file's golden set (``POST /evalsets``; the same version again is a no-op, a changed one is refused),
   run the evaluation state machine over it and wait, then move the aliases
   (``PUT /prompts/{name}/aliases/{alias}``). The evaluation's verdict is the one on the file's own
   ``model_id`` (what the aliases call), whichever model the selection prefers. Ungated aliases move only
   after a passed evaluation; ``prod`` is always asked for and the catalog decides: it refuses a version
   whose model has not passed the golden set, naming the failed score and its threshold, and that refusal
   fails the release.

Every file is validated before anything is published (JSON, keys, types, the template's placeholders
against ``variables``, inference ranges, the golden set and its inputs, the model against the
environment's ``llmops.models``); errors name the file and the key. Exit status: 0 released (or nothing to
do), 1 an evaluation failed or a promotion was refused, 2 bad prompt files, configuration, or a catalog
or evaluation that could not be reached.

The catalog API is IAM-authenticated: requests are signed with SigV4 (botocore). In CodeBuild the tool
assumes the target's fixed-name prompt-release role (``stacks/role_names.py``), which may call only the
catalog methods above, start and read the evaluation state machine and read the LLMOps stack's outputs.
Runtime code: it never imports ``aws_cdk`` (the build image has boto3 only).
"""

from __future__ import annotations

import argparse
import json
import math
import re
import sys
import time
import uuid
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol
from urllib.parse import quote, urlencode

from stacks.config import ConfigError, EnvironmentConfig, load_environment, read_cdk_context
from stacks.role_names import prompt_release_role_name, role_arn

PROJECT_ROOT = Path(__file__).resolve().parents[1]
# The catalog's own validation rules (templating, golden sets, names, inference keys) live in
# lambdas/common, which the functions import as the top-level package `common`.
_LAMBDAS = PROJECT_ROOT / "lambdas"
if str(_LAMBDAS) not in sys.path:
    sys.path.insert(0, str(_LAMBDAS))

# isort: split
from common import golden_sets, retrieval, templating  # noqa: E402 - importable only once lambdas/ is on sys.path
from common.errors import ValidationError  # noqa: E402 - importable only once lambdas/ is on sys.path
from common.prompt_store import (  # noqa: E402 - importable only once lambdas/ is on sys.path
    ALIAS_RE,
    INFERENCE_FLOAT_KEYS,
    INFERENCE_INT_KEYS,
    MAX_TOKENS_CEILING,
    PROMPT_NAME_RE,
)

LLMOPS_STACK = "LlmOps"
DEFAULT_PROMPTS_DIR = "prompts"
# Aliases the catalog gates (lambdas/prompt_catalog/catalog.py GATED_ALIASES): asked for even after a
# failed evaluation, so that the catalog's refusal, with its reason, is what fails the release.
GATED_ALIASES = frozenset({"prod"})
MAX_REASON_CHARS = 1000
_FILE_KEYS = frozenset(
    {"name", "description", "template", "variables", "model_id", "inference", "evaluation", "aliases", "retrieval"}
)
_REQUIRED_KEYS = ("name", "template", "variables", "model_id", "evaluation", "aliases")
_EVALUATION_KEYS = frozenset({"golden_set_file", "golden_set", "golden_version", "min_items"})
_OPTIONAL_EVALUATION_KEYS = frozenset({"min_items"})
_EXECUTION_NAME_UNSAFE = re.compile(r"[^A-Za-z0-9_-]")


class PromptFileError(ValueError):
    """A prompt file is invalid; the message names the file and the key."""


class ReleaseError(RuntimeError):
    """The release could not proceed: the catalog or the evaluation is unreachable or answered an error."""


class CatalogUnavailable(ReleaseError):
    """The catalog API could not be reached or answered 5xx."""


class CatalogError(ReleaseError):
    """The catalog refused a request (4xx) the tool did not expect to be refused."""

    def __init__(self, status: int, message: str, detail: str) -> None:
        super().__init__(message)
        self.status = status
        self.detail = detail  # the catalog's own error text


class PromotionRefused(Exception):
    """The catalog refused to move an alias (HTTP 409: the ``prod`` gate); the message is the catalog's."""


# ------------------------------------------------------------------------------------------ prompt files


@dataclass(frozen=True)
class PromptFile:
    """One validated prompt file."""

    path: str  # as shown in messages: relative to the project root when it is inside it
    name: str
    template: str
    variables: tuple[str, ...]
    model_id: str
    inference: dict[str, int | float]
    golden_set: Any  # common.golden_sets.GoldenSet
    golden_document: dict[str, Any]  # the golden set file's JSON, the body of POST /evalsets
    aliases: dict[str, tuple[str, ...]]
    min_items: int = 0  # the fewest items the catalog accepts an evaluation over (default: the whole set)
    # The version's knowledge-base retrieval (#16), as the catalog stores it (queryVariable filled in).
    retrieval: dict[str, Any] | None = None

    def aliases_for(self, env_name: str) -> tuple[str, ...]:
        """The aliases this prompt should reach in `env_name` (none when the file lists none)."""
        return self.aliases.get(env_name, ())

    def version_body(self) -> dict[str, Any]:
        """The fields a catalog version is compared on and created from."""
        return {
            "template": self.template,
            "variables": list(self.variables),
            "model_id": self.model_id,
            "inference": dict(self.inference),
            # What prod requires this version's model to pass: the catalog enforces it at promotion.
            "golden_sets": [
                {"name": self.golden_set.name, "version": self.golden_set.version, "min_items": self.min_items}
            ],
            "retrieval": self.retrieval,
        }

    def matches(self, version: Mapping[str, Any]) -> bool:
        """Whether a catalog version (``GET /prompts/{name}/versions/{v}``) has this file's content."""
        body = self.version_body()
        return {k: version.get(k) for k in body} == body


def _type_name(value: object) -> str:
    names = {str: "a string", bool: "a boolean", int: "an integer", float: "a number", list: "an array"}
    if value is None:
        return "null"
    return names.get(type(value), "an object" if isinstance(value, dict) else type(value).__name__)


def _shown(path: Path, root: Path) -> str:
    try:
        return str(path.resolve().relative_to(root.resolve()))
    except ValueError:
        return str(path)


def load_prompt_file(path: Path, *, root: Path = PROJECT_ROOT) -> PromptFile:
    """Read and validate one prompt file; golden-set paths are relative to `root`.

    Raises:
        PromptFileError: naming the file and the key that is wrong.
    """
    shown = _shown(path, root)

    def fail(key: str, problem: str) -> PromptFileError:
        return PromptFileError(f"{shown}: key {key!r}: {problem}")

    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as error:
        raise PromptFileError(
            f"{shown}: invalid JSON ({error.msg} at line {error.lineno} column {error.colno})"
        ) from None
    except (OSError, UnicodeDecodeError) as error:
        raise PromptFileError(f"{shown}: cannot be read ({error})") from None
    if not isinstance(data, dict):
        raise PromptFileError(f"{shown}: must be a JSON object, got {_type_name(data)}")
    unknown = sorted(set(data) - _FILE_KEYS)
    if unknown:
        raise PromptFileError(f"{shown}: unknown keys {unknown}; allowed: {sorted(_FILE_KEYS)}")
    for key in _REQUIRED_KEYS:
        if key not in data:
            raise fail(key, "required")

    def typed(container: Mapping[str, Any], key: str, expected: type, label: str, where: str = "") -> Any:
        value = container[key]
        if (isinstance(value, bool) and expected is not bool) or not isinstance(value, expected):
            raise fail(f"{where}{key}", f"must be {label}, got {_type_name(value)}")
        return value

    name = typed(data, "name", str, "a string")
    if not PROMPT_NAME_RE.match(name):
        raise fail("name", f"{name!r} is not a valid prompt name (1-64 lowercase letters, digits, '-' or '_')")
    if path.stem != name:
        raise fail("name", f"{name!r} must equal the file name without .json ({path.stem!r}): one file per prompt")
    if "description" in data:
        typed(data, "description", str, "a string")
    template = typed(data, "template", str, "a string")
    if not template.strip():
        raise fail("template", "must not be empty")
    variables = typed(data, "variables", list, "an array of strings")
    for index, variable in enumerate(variables):
        if not isinstance(variable, str):
            raise fail(f"variables[{index}]", f"must be a string, got {_type_name(variable)}")
    try:
        templating.check_declared(template, variables)
    except ValidationError as error:
        raise fail("template", str(error)) from None
    model_id = typed(data, "model_id", str, "a string")
    if not model_id.strip():
        raise fail("model_id", "must not be empty")
    inference = _inference(data.get("inference", {}), fail)
    spec: retrieval.RetrievalSpec | None = None
    if data.get("retrieval") is not None:
        raw_retrieval = data["retrieval"]
        # The knowledge base name is checked against the environment in check_models (it needs the config).
        named = raw_retrieval.get("knowledgeBase") if isinstance(raw_retrieval, dict) else None
        try:
            spec = retrieval.validate_retrieval(
                raw_retrieval,
                template_variables=variables,
                template=template,
                knowledge_bases={named: "-"} if isinstance(named, str) else {},
            )
        except ValidationError as error:
            raise fail("retrieval", str(error)) from None
    # The gateway fills the context variable from the knowledge base: golden items must not supply it.
    item_variables = [v for v in variables if spec is None or v != spec.context_variable]

    evaluation = typed(data, "evaluation", dict, "an object")
    unknown = sorted(set(evaluation) - _EVALUATION_KEYS)
    if unknown:
        raise fail("evaluation", f"unknown keys {unknown}; allowed: {sorted(_EVALUATION_KEYS)}")
    for key in sorted(_EVALUATION_KEYS - _OPTIONAL_EVALUATION_KEYS):
        if key not in evaluation:
            raise fail(f"evaluation.{key}", "required")
    golden_file = typed(evaluation, "golden_set_file", str, "a string", "evaluation.")
    golden_name = typed(evaluation, "golden_set", str, "a string", "evaluation.")
    golden_version = typed(evaluation, "golden_version", int, "an integer", "evaluation.")
    golden_path = root / golden_file
    try:
        golden_document = json.loads(golden_path.read_text(encoding="utf-8"))
        golden = golden_sets.GoldenSet.from_dict(golden_document)
    except OSError as error:
        raise fail("evaluation.golden_set_file", f"cannot read {golden_file!r} ({error.strerror})") from None
    except json.JSONDecodeError as error:
        raise fail("evaluation.golden_set_file", f"{golden_file!r} is not valid JSON ({error.msg})") from None
    except golden_sets.GoldenSetError as error:
        raise fail("evaluation.golden_set_file", f"{golden_file!r}: {error}") from None
    if (golden.name, golden.version) != (golden_name, golden_version):
        raise fail(
            "evaluation",
            f"golden_set {golden_name!r} v{golden_version} does not match {golden_file!r}, which is "
            f"{golden.name!r} v{golden.version}",
        )
    min_items = len(golden.items)
    if "min_items" in evaluation:
        min_items = typed(evaluation, "min_items", int, "an integer", "evaluation.")
        if not 1 <= min_items <= len(golden.items):
            raise fail(
                "evaluation.min_items",
                f"must be from 1 to the {len(golden.items)} items of {golden_file!r}, got {min_items}",
            )
    for item in golden.items:
        if set(item.inputs) != set(item_variables):
            filled = f" (without {spec.context_variable!r}, which retrieval fills)" if spec is not None else ""
            raise fail(
                "evaluation.golden_set_file",
                f"item {item.id!r} of {golden_file!r} has inputs {sorted(item.inputs)}, but the template's "
                f"variables are {sorted(item_variables)}{filled}",
            )

    raw_aliases = typed(data, "aliases", dict, "an object {environment: [alias, ...]}")
    aliases: dict[str, tuple[str, ...]] = {}
    for env_name, names in raw_aliases.items():
        if not isinstance(names, list):
            raise fail(f"aliases.{env_name}", f"must be an array of alias names, got {_type_name(names)}")
        for index, alias in enumerate(names):
            if not isinstance(alias, str) or not ALIAS_RE.match(alias):
                raise fail(
                    f"aliases.{env_name}[{index}]",
                    f"{alias!r} is not a valid alias (1-32 lowercase letters, digits or '-', starting with a letter)",
                )
        if len(set(names)) != len(names):
            raise fail(f"aliases.{env_name}", f"duplicates in {names}")
        aliases[env_name] = tuple(names)
    return PromptFile(
        path=shown,
        name=name,
        template=template,
        variables=tuple(variables),
        model_id=model_id,
        inference=inference,
        golden_set=golden,
        golden_document=golden_document,
        aliases=aliases,
        min_items=min_items,
        retrieval=spec.to_dict() if spec is not None else None,
    )


def _inference(raw: object, fail: Callable[[str, str], PromptFileError]) -> dict[str, int | float]:
    """Converse inferenceConfig settings, with the catalog's ranges (lambdas/prompt_catalog/catalog.py)."""
    if not isinstance(raw, dict):
        raise fail("inference", f"must be an object, got {_type_name(raw)}")
    allowed = INFERENCE_INT_KEYS | INFERENCE_FLOAT_KEYS
    out: dict[str, int | float] = {}
    for key, value in raw.items():
        if key not in allowed:
            raise fail(f"inference.{key}", f"unknown setting; allowed: {sorted(allowed)} (Converse inferenceConfig)")
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise fail(f"inference.{key}", f"must be a number, got {_type_name(value)}")
        # Compared as given: float() of a 400-digit integer raises OverflowError.
        shown = repr(value) if isinstance(value, float) or value.bit_length() < 64 else "a larger number"
        if key in INFERENCE_INT_KEYS:
            if not isinstance(value, int) or not 1 <= value <= MAX_TOKENS_CEILING:
                raise fail(
                    f"inference.{key}", f"must be a positive integer of at most {MAX_TOKENS_CEILING}, got {shown}"
                )
            out[key] = value
        else:
            if (isinstance(value, float) and not math.isfinite(value)) or not 0 <= value <= 1:
                raise fail(f"inference.{key}", f"must be between 0 and 1, got {shown}")
            out[key] = float(value)
    return out


def load_prompt_files(directory: Path, *, root: Path = PROJECT_ROOT) -> list[PromptFile]:
    """Every ``*.json`` of `directory`, validated, in name order.

    Raises:
        PromptFileError: every invalid file, one line each (so one run shows all of them).
    """
    if not directory.is_dir():
        raise PromptFileError(f"{_shown(directory, root)}: no such directory of prompt files")
    prompts: list[PromptFile] = []
    errors: list[str] = []
    for path in sorted(directory.glob("*.json")):
        try:
            prompts.append(load_prompt_file(path, root=root))
        except PromptFileError as error:
            errors.append(str(error))
    # Two files publishing the same golden-set version with different items would race for it.
    published: dict[tuple[str, int], PromptFile] = {}
    for prompt in prompts:
        golden_key = (prompt.golden_set.name, prompt.golden_set.version)
        first = published.setdefault(golden_key, prompt)
        if first.golden_set.sha256() != prompt.golden_set.sha256():
            errors.append(
                f"{prompt.path}: key 'evaluation.golden_set_file': golden set {golden_key[0]!r} v{golden_key[1]} "
                f"differs from the one {first.path} uses; give the changed set a new version"
            )
    if errors:
        raise PromptFileError("\n".join(errors))
    if not prompts:
        raise PromptFileError(f"{_shown(directory, root)}: no prompt files (*.json)")
    return prompts


def configured_knowledge_bases(config: EnvironmentConfig) -> list[str]:
    """The knowledge-base names an environment's prompts may retrieve from (``llmops.knowledgeBase``)."""
    knowledge_base = getattr(config.llmops, "knowledge_base", None)
    if knowledge_base is None or not getattr(knowledge_base, "enabled", False):
        return []
    return [str(knowledge_base.name)]


def check_models(prompts: Sequence[PromptFile], config: EnvironmentConfig) -> None:
    """Every prompt's model must be one the environment may call (``llmops.models``)."""
    allowed = [m.id for m in config.llmops.models]
    errors = [
        f"{p.path}: key 'model_id': {p.model_id!r} is not allowed in {config.name} "
        f"(llmops.models: {', '.join(allowed)})"
        for p in prompts
        if p.model_id not in allowed
    ]
    knowledge_bases = configured_knowledge_bases(config)
    errors += [
        f"{p.path}: key 'retrieval.knowledgeBase': {p.retrieval['knowledgeBase']!r} is not a knowledge base of "
        f"{config.name} (llmops.knowledgeBase: {', '.join(knowledge_bases) or 'disabled'})"
        for p in prompts
        if p.retrieval is not None and p.retrieval["knowledgeBase"] not in knowledge_bases
    ]
    if errors:
        raise PromptFileError("\n".join(errors))


def check_quality_floors(prompts: Sequence[PromptFile], config: EnvironmentConfig) -> None:
    """Some quality floor of the environment's gate must apply to each prompt's golden set.

    The evaluator's gate (lambdas/llm_evaluation/quality_gate.py) skips ``minAccuracy`` for a golden set
    without labels; with ``minRougeL`` at 0 nothing would then gate the answers and the evaluation would
    fail after paying for it. Caught here, before anything is published.
    """
    evaluation = config.llmops.evaluation
    errors = [
        f"{p.path}: key 'evaluation.golden_set_file': golden set {p.golden_set.name!r} v{p.golden_set.version} has "
        f"no labels, so llmops.evaluation.minAccuracy does not apply to it, and minRougeL is {evaluation.min_rouge_l} "
        f"in {config.name}: no quality floor would gate it (label the set or set minRougeL above 0)"
        for p in prompts
        if evaluation.min_rouge_l <= 0 and all(item.expected_label is None for item in p.golden_set.items)
    ]
    if errors:
        raise PromptFileError("\n".join(errors))


# ------------------------------------------------------------------------------------------- catalog API


class Transport(Protocol):
    """Sends one catalog API request; answers the HTTP status and the decoded JSON body.

    Raises :class:`CatalogUnavailable` when the API cannot be reached at all.
    """

    def __call__(
        self, method: str, path: str, body: Any = None, query: Mapping[str, str] | None = None
    ) -> tuple[int, Any]: ...


class SigV4Transport:
    """The deployed catalog API: HTTPS requests signed with SigV4 for ``execute-api``."""

    def __init__(self, base_url: str, *, credentials: Any, region: str, timeout_seconds: float = 30) -> None:
        """`base_url` is the stack's ``PromptApiUrl`` (``https://<id>.execute-api.<region>.amazonaws.com/v1/``)."""
        from botocore.httpsession import URLLib3Session

        self._base = base_url.rstrip("/")
        self._credentials = credentials
        self._region = region
        self._http = URLLib3Session(timeout=timeout_seconds)

    def __call__(
        self, method: str, path: str, body: Any = None, query: Mapping[str, str] | None = None
    ) -> tuple[int, Any]:
        from botocore.auth import SigV4Auth
        from botocore.awsrequest import AWSRequest
        from botocore.exceptions import BotoCoreError

        url = self._base + path + (f"?{urlencode(sorted(query.items()))}" if query else "")
        data = json.dumps(body).encode() if body is not None else None
        request = AWSRequest(method=method, url=url, data=data, headers={"Content-Type": "application/json"})
        SigV4Auth(self._credentials.get_frozen_credentials(), "execute-api", self._region).add_auth(request)
        try:
            response = self._http.send(request.prepare())
        except BotoCoreError as error:
            raise CatalogUnavailable(f"prompt catalog at {self._base} is unreachable: {error}") from None
        text = response.content.decode("utf-8", errors="replace")
        try:
            payload = json.loads(text) if text.strip() else {}
        except json.JSONDecodeError:
            payload = {"error": text[:300]}
        return response.status_code, payload


class Catalog:
    """The catalog calls a release makes, over a :class:`Transport`."""

    def __init__(self, transport: Transport) -> None:
        self._send = transport

    def _call(self, method: str, path: str, body: Any = None, query: Mapping[str, str] | None = None) -> Any:
        status, payload = self._send(method, path, body, query)
        if 200 <= status < 300:
            return payload
        message = _error_text(payload)
        if status >= 500:
            raise CatalogUnavailable(f"{method} {path}: the prompt catalog answered HTTP {status}: {message}")
        raise CatalogError(
            status, f"{method} {path}: the prompt catalog refused the request (HTTP {status}): {message}", message
        )

    def latest_version(self, name: str) -> dict[str, Any] | None:
        """The prompt's latest version with its template, or ``None`` when the catalog has no such prompt."""
        path = f"/prompts/{quote(name)}/versions"
        latest: int | None = None
        query: dict[str, str] = {"limit": "100"}
        while True:
            try:
                page = self._call("GET", path, query=query)
            except CatalogError as error:
                if error.status == 404:
                    return None
                raise
            for entry in page.get("versions", []):
                latest = max(latest or 0, int(entry["version"]))
            if not page.get("next_token"):
                break
            query = {"limit": "100", "next_token": str(page["next_token"])}
        if latest is None:
            return None
        version: dict[str, Any] = self._call("GET", f"{path}/{latest}")
        return version

    def create_version(self, prompt: PromptFile, *, reason: str) -> int:
        """Publish the file's content as the prompt's next version; its number."""
        created = self._call(
            "POST", f"/prompts/{quote(prompt.name)}/versions", {**prompt.version_body(), "reason": reason}
        )
        return int(created["version"])

    def publish_golden_set(self, prompt: PromptFile) -> bool:
        """Publish the prompt's golden set; ``False`` when the catalog holds that exact version already.

        A stored version with other content is refused (HTTP 409) and fails the release with the
        catalog's reason: versions are immutable, so the file needs a new version number.
        """
        answer = self._call("POST", "/evalsets", prompt.golden_document)
        return bool(answer.get("created", True))

    def alias_version(self, name: str, alias: str) -> int | None:
        """The version `alias` points at, or ``None`` when the alias does not exist yet."""
        try:
            record = self._call("GET", f"/prompts/{quote(name)}/aliases/{quote(alias)}")
        except CatalogError as error:
            if error.status == 404:
                return None
            raise
        return int(record["version"])

    def move_alias(self, name: str, alias: str, *, version: int, reason: str) -> None:
        """Point `alias` at `version`; :class:`PromotionRefused` with the catalog's reason on HTTP 409."""
        try:
            self._call("PUT", f"/prompts/{quote(name)}/aliases/{quote(alias)}", {"version": version, "reason": reason})
        except CatalogError as error:
            if error.status == 409:
                raise PromotionRefused(error.detail) from None
            raise


def _error_text(payload: Any) -> str:
    if isinstance(payload, dict):
        # The catalog answers {"error": ...}; API Gateway itself (403 on a bad signature) {"message": ...}.
        return str(payload.get("error") or payload.get("message") or payload)
    return str(payload)


# ------------------------------------------------------------------------------------------- evaluation


@dataclass(frozen=True)
class EvaluationResult:
    """What one evaluation decided. `summary` says why it failed (the gate's reasons), or where the report is."""

    passed: bool
    summary: str
    run_id: str | None = None


class Evaluations(Protocol):
    """Runs one evaluation of a prompt version over a golden set, to completion.

    Raises :class:`ReleaseError` when the evaluation could not run (as opposed to running and failing).
    """

    def evaluate(self, *, prompt: str, version: int, golden_set: str, golden_version: int) -> EvaluationResult: ...


class StateMachineEvaluations:
    """The deployed evaluation state machine (``EvaluationStateMachineArn``): start an execution and poll it.

    The machine succeeds when the gate passes (its output carries the evaluator's answer under
    ``evaluation``) and fails with error ``QualityGateFailed`` whose cause lists the gate's reasons, or
    ``EvaluationError`` when the evaluation could not run.
    """

    def __init__(
        self,
        client: Any,
        state_machine_arn: str,
        *,
        poll_seconds: float = 10,
        timeout_seconds: float = 25 * 60,
        sleep: Callable[[float], None] = time.sleep,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._client = client
        self._arn = state_machine_arn
        self._poll = poll_seconds
        self._timeout = timeout_seconds
        self._sleep = sleep
        self._clock = clock

    def evaluate(self, *, prompt: str, version: int, golden_set: str, golden_version: int) -> EvaluationResult:
        from botocore.exceptions import BotoCoreError, ClientError

        request = {"prompt": prompt, "version": version, "golden_set": golden_set, "golden_version": golden_version}
        name = _EXECUTION_NAME_UNSAFE.sub("-", f"release-{prompt}-v{version}")[:70] + f"-{uuid.uuid4().hex[:8]}"
        try:
            execution_arn = self._client.start_execution(
                stateMachineArn=self._arn, name=name, input=json.dumps(request)
            )["executionArn"]
            deadline = self._clock() + self._timeout
            while True:
                execution = self._client.describe_execution(executionArn=execution_arn)
                if execution["status"] != "RUNNING" and execution["status"] != "PENDING_REDRIVE":
                    break
                if self._clock() >= deadline:
                    raise ReleaseError(
                        f"evaluation {execution_arn} still running after {self._timeout:.0f} s; see the execution"
                    )
                self._sleep(self._poll)
        except (ClientError, BotoCoreError) as error:
            raise ReleaseError(f"evaluation state machine {self._arn}: {error}") from None
        status = execution["status"]
        if status == "SUCCEEDED":
            answer = json.loads(execution.get("output") or "{}").get("evaluation", {})
            return EvaluationResult(
                passed=answer.get("passed") is True,
                summary=f"selected {answer.get('selected_model')}; scorecard {answer.get('scorecard_uri')}",
                run_id=answer.get("run_id"),
            )
        cause = execution.get("cause") or "no cause recorded"
        if status == "FAILED" and execution.get("error") == "QualityGateFailed":
            return EvaluationResult(passed=False, summary=cause)
        what = " ".join(part for part in (execution.get("error"), cause) if part)
        raise ReleaseError(f"evaluation {execution_arn} {status}: {what}")


# ---------------------------------------------------------------------------------------------- release


@dataclass
class ReleaseReport:
    """What a release did, line by line, and what failed it."""

    lines: list[str] = field(default_factory=list)
    failures: list[str] = field(default_factory=list)

    def log(self, line: str) -> None:
        self.lines.append(line)

    @property
    def ok(self) -> bool:
        return not self.failures


def release(
    prompts: Sequence[PromptFile],
    *,
    env_name: str,
    catalog: Catalog,
    evaluations: Evaluations,
    source_version: str,
    echo: Callable[[str], None] = lambda _: None,
) -> ReleaseReport:
    """Publish, evaluate and promote every prompt for `env_name` (see the module docstring).

    A refused promotion or a failed evaluation is recorded in the report and the next prompt is released;
    :class:`ReleaseError` (catalog or evaluation unreachable, unexpected refusal) stops the release.
    """
    report = ReleaseReport()

    def log(line: str) -> None:
        report.log(line)
        echo(line)

    published_sets: set[tuple[str, int]] = set()
    for prompt in prompts:
        reason = f"prompt release to {env_name} from {prompt.path} at {source_version}"[:MAX_REASON_CHARS]
        latest = catalog.latest_version(prompt.name)
        if latest is not None and prompt.matches(latest):
            version = int(latest["version"])
            log(f"{prompt.name}: unchanged, catalog v{version} has the content of {prompt.path}")
        else:
            version = catalog.create_version(prompt, reason=reason)
            log(f"{prompt.name}: published v{version} ({'new prompt' if latest is None else 'content changed'})")
        wanted = prompt.aliases_for(env_name)
        pending = [alias for alias in wanted if catalog.alias_version(prompt.name, alias) != version]
        if not pending:
            if wanted:
                log(f"{prompt.name}: nothing to promote ({', '.join(wanted)} already at v{version})")
            else:
                log(f"{prompt.name}: nothing to promote (the file lists no alias for {env_name})")
            continue
        golden = prompt.golden_set
        if (golden.name, golden.version) not in published_sets:
            fresh = catalog.publish_golden_set(prompt)
            published_sets.add((golden.name, golden.version))
            log(f"golden set {golden.name} v{golden.version}: {'published' if fresh else 'already published'}")
        result = evaluations.evaluate(
            prompt=prompt.name, version=version, golden_set=golden.name, golden_version=golden.version
        )
        verdict = "passed" if result.passed else "FAILED"
        log(f"{prompt.name} v{version}: evaluation over {golden.name} v{golden.version} {verdict}: {result.summary}")
        for alias in pending:
            if alias not in GATED_ALIASES and not result.passed:
                failure = f"{prompt.name}: {alias!r} not moved to v{version}: its evaluation failed: {result.summary}"
                report.failures.append(failure)
                log(failure)
                continue
            try:
                catalog.move_alias(prompt.name, alias, version=version, reason=reason)
            except PromotionRefused as refusal:
                failure = f"{prompt.name}: the catalog refused to move {alias!r} to v{version}: {refusal}"
                report.failures.append(failure)
                log(failure)
                continue
            log(f"{prompt.name}: {alias} -> v{version}")
    return report


# ------------------------------------------------------------------------------------------ entry point


def connect_aws(config: EnvironmentConfig, *, assume_role: bool) -> tuple[Catalog, Evaluations]:
    """The deployed catalog and evaluation of `config`'s environment, read from its LLMOps stack's outputs."""
    import boto3
    from botocore.exceptions import BotoCoreError, ClientError

    session = boto3.session.Session(region_name=config.region)
    try:
        if assume_role:
            sts = session.client("sts")
            # The partition of the Region the client talks to (aws, aws-cn, aws-us-gov), as botocore resolved it.
            release_role = role_arn(
                sts.meta.partition, config.account, prompt_release_role_name(config.name_prefix, config.name)
            )
            credentials = sts.assume_role(RoleArn=release_role, RoleSessionName="prompt-release")["Credentials"]
            session = boto3.session.Session(
                aws_access_key_id=credentials["AccessKeyId"],
                aws_secret_access_key=credentials["SecretAccessKey"],
                aws_session_token=credentials["SessionToken"],
                region_name=config.region,
            )
        stack_name = config.stack_name(LLMOPS_STACK)
        (stack,) = session.client("cloudformation").describe_stacks(StackName=stack_name)["Stacks"]
    except (ClientError, BotoCoreError) as error:
        raise ReleaseError(f"cannot reach {config.name} ({config.account}, {config.region}): {error}") from None
    outputs = {o["OutputKey"]: o["OutputValue"] for o in stack.get("Outputs", [])}
    missing = [key for key in ("PromptApiUrl", "EvaluationStateMachineArn") if key not in outputs]
    if missing:
        raise ReleaseError(f"{stack_name} has no output {', '.join(missing)} (is it deployed with this version?)")
    transport = SigV4Transport(outputs["PromptApiUrl"], credentials=session.get_credentials(), region=config.region)
    evaluations = StateMachineEvaluations(session.client("stepfunctions"), outputs["EvaluationStateMachineArn"])
    return Catalog(transport), evaluations


Connect = Callable[[EnvironmentConfig], tuple[Catalog, Evaluations]]


def main(argv: Sequence[str] | None = None, *, connect: Connect | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--env", required=True, help="the environment of cdk.json to release to")
    parser.add_argument("--prompts-dir", type=Path, default=PROJECT_ROOT / DEFAULT_PROMPTS_DIR)
    parser.add_argument("--root", type=Path, default=PROJECT_ROOT, help="golden-set paths are relative to it")
    parser.add_argument("--source-version", default="unknown", help="the commit released (recorded as the reason)")
    parser.add_argument("--check", action="store_true", help="validate the prompt files only; no AWS calls")
    parser.add_argument(
        "--no-assume-role", action="store_true", help="use the current credentials instead of the release role"
    )
    parser.add_argument("--cdk-json", type=Path, default=PROJECT_ROOT / "cdk.json", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)

    def error(message: str) -> None:
        print(f"prompt release: {message}", file=sys.stderr)

    try:
        config = load_environment(read_cdk_context(args.cdk_json), args.env)
    except ConfigError as problem:
        error(str(problem))
        return 2
    if not config.llmops.enabled:
        error(f"environment {config.name!r} has no LLMOps (llmops.enabled is false): nothing to release to")
        return 2
    try:
        prompts = load_prompt_files(args.prompts_dir, root=args.root)
        check_models(prompts, config)
        check_quality_floors(prompts, config)
    except PromptFileError as problem:
        error(f"bad prompt files, nothing was published:\n{problem}")
        return 2
    if args.check:
        print(
            f"prompt release: {len(prompts)} prompt files valid for {config.name}: {', '.join(p.name for p in prompts)}"
        )
        return 0
    try:
        catalog, evaluations = (connect or (lambda c: connect_aws(c, assume_role=not args.no_assume_role)))(config)
        report = release(
            prompts,
            env_name=config.name,
            catalog=catalog,
            evaluations=evaluations,
            source_version=args.source_version,
            echo=print,
        )
    except ReleaseError as problem:
        error(str(problem))
        return 2
    if not report.ok:
        error(f"{len(report.failures)} promotion(s) refused in {config.name}:")
        for failure in report.failures:
            print(f"  {failure}", file=sys.stderr)
        return 1
    print(f"prompt release: {config.name} is up to date ({len(prompts)} prompts)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
