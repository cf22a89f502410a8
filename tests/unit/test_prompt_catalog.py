"""Prompt catalog logic against moto's DynamoDB: versions, aliases, audit trail, rendering, diffs, races."""

from __future__ import annotations

import itertools
import threading
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import boto3
import pytest
from botocore.exceptions import ClientError
from moto.dynamodb.models import DynamoDBBackend

from tests.unit.lambdas_path import (
    GOLDEN_REQUIREMENT,
    create_prompt_table,
    fast_mock_aws,
    put_gate_verdict,
    table_items,
)

# isort: split
from catalog import Conflict, NotFound, PromptCatalog, TooLarge, ValidationError
from common import prompt_store, templating

TABLE = "prompt-catalog"
WHO = "arn:aws:iam::123456789012:user/alice"
MODEL = "anthropic.claude-3-haiku-20240307-v1:0"
TEMPLATE = "Summarize for {{audience}}:\n{{text}}\n"


@pytest.fixture
def ddb() -> Iterator[Any]:
    with fast_mock_aws():
        client = boto3.client("dynamodb", region_name="us-east-1")
        create_prompt_table(client, TABLE)
        yield client


class Clock:
    """Starts at 2024-05-01T12:00:00Z and advances one second per reading (audit items sort by time)."""

    def __init__(self) -> None:
        self.ticks = itertools.count()

    def __call__(self) -> datetime:
        return datetime(2024, 5, 1, 12, 0, tzinfo=UTC) + timedelta(seconds=next(self.ticks))


def make_catalog(client: Any, **kwargs: Any) -> PromptCatalog:
    kwargs.setdefault("max_template_bytes", 2000)
    kwargs.setdefault("now", Clock())
    kwargs.setdefault("sleep", lambda _: None)
    return PromptCatalog(client, TABLE, **kwargs)


@pytest.fixture
def catalog(ddb: Any) -> PromptCatalog:
    return make_catalog(ddb)


def create(catalog: PromptCatalog, name: str = "summarize", **overrides: Any) -> prompt_store.PromptVersion:
    args: dict[str, Any] = {
        "template": TEMPLATE,
        "variables": ["audience", "text"],
        "model_id": MODEL,
        "inference": {"temperature": 0.2, "maxTokens": 300, "topP": 0.9},
        "reason": "first cut",
        "who": WHO,
        "golden_sets": [GOLDEN_REQUIREMENT],
    }
    args.update(overrides)
    return catalog.create_version(name, **args)


# --------------------------------------------------------------------------------------------- versions


def test_first_version_writes_head_version_and_audit(catalog: PromptCatalog, ddb: Any) -> None:
    created = create(catalog)

    assert created.version == 1
    assert created.sha256 == prompt_store.template_sha256(TEMPLATE)
    assert created.created_at == "2024-05-01T12:00:00.000000Z"
    items = {i["sk"]["S"]: i for i in table_items(ddb, TABLE)}
    assert items["HEAD"]["latest_version"] == {"N": "1"}
    version = items["V#00000001"]
    assert version["template"] == {"S": TEMPLATE}
    assert version["variables"] == {"L": [{"S": "audience"}, {"S": "text"}]}
    # Floats are stored as exact decimals and come back as the floats the author wrote.
    assert version["inference"]["M"]["temperature"] == {"N": "0.2"}
    assert catalog.get_version("summarize", 1) == created
    [audit_key] = [sk for sk in items if sk.startswith("AUDIT#2024-05-01T12:00:00.000000Z#")]
    audit = prompt_store.AuditEntry.from_item(items[audit_key])
    assert (audit.action, audit.version, audit.who, audit.why, audit.alias) == (
        "create_version",
        1,
        WHO,
        "first cut",
        None,
    )


def test_versions_increase_and_list_without_templates(catalog: PromptCatalog) -> None:
    for n in range(3):
        create(catalog, reason=f"change {n}")

    first = catalog.list_versions("summarize", limit=2)
    second = catalog.list_versions("summarize", limit=2, next_token=first.next_token)

    assert [v["version"] for v in first.items + second.items] == [1, 2, 3]
    assert second.next_token is None
    assert "template" not in first.items[0]
    assert first.items[0]["reason"] == "change 0"
    assert catalog.latest_version("summarize") == 3


def test_get_version_distinguishes_unknown_prompt_from_unknown_version(catalog: PromptCatalog) -> None:
    create(catalog)
    with pytest.raises(NotFound, match=r"prompt 'nope' not found"):
        catalog.get_version("nope", 1)
    with pytest.raises(NotFound, match=r"prompt 'summarize' has no version 7 \(latest version is 1\)"):
        catalog.get_version("summarize", 7)
    with pytest.raises(NotFound, match="prompt 'nope' not found"):
        catalog.list_versions("nope")


@pytest.mark.parametrize(
    ("overrides", "error", "message"),
    [
        (
            {"template": "Hi {{name}} and {{text}}", "variables": ["text"]},
            ValidationError,
            "undeclared variables: 'name'",
        ),
        ({"variables": ["audience", "text", "tone"]}, ValidationError, "declared but not used in the template: 'tone'"),
        ({"template": "Hi {{first name}}", "variables": []}, ValidationError, "malformed placeholder '{{first name}}'"),
        ({"variables": ["audience", "text", "text"]}, ValidationError, "declared more than once: 'text'"),
        ({"variables": ["audience", "te-xt"]}, ValidationError, "variables: 'te-xt' is not a valid variable name"),
        ({"template": "x" * 2001, "variables": []}, TooLarge, "template: 2001 bytes exceeds the limit of 2000 bytes"),
        # The limit is in UTF-8 bytes, not characters: 700 euro signs are 2100 bytes.
        ({"template": "\u20ac" * 700, "variables": []}, TooLarge, "2100 bytes exceeds"),
        ({"template": "   ", "variables": []}, ValidationError, "template: must not be empty"),
        ({"model_id": "not a model"}, ValidationError, "model_id 'not a model' is invalid"),
        ({"inference": {"temperature": 1.5}}, ValidationError, "inference.temperature: must be between 0 and 1"),
        ({"inference": {"maxTokens": 0}}, ValidationError, "inference.maxTokens: must be a positive integer"),
        ({"inference": {"maxTokens": 10.5}}, ValidationError, "inference.maxTokens: must be a positive integer"),
        ({"inference": {"topK": 5}}, ValidationError, "inference: unknown settings ['topK']"),
        ({"inference": {"topP": True}}, ValidationError, "inference.topP: must be a number, got bool"),
        ({"reason": "  "}, ValidationError, "reason: must not be empty"),
        ({"who": ""}, ValidationError, "caller identity is missing"),
    ],
)
def test_invalid_versions_are_rejected_and_change_nothing(
    catalog: PromptCatalog, ddb: Any, overrides: dict[str, Any], error: type[Exception], message: str
) -> None:
    create(catalog)
    before = table_items(ddb, TABLE)

    with pytest.raises(error) as raised:
        create(catalog, **overrides)

    assert message in str(raised.value)
    assert table_items(ddb, TABLE) == before


@pytest.mark.parametrize("name", ["Upper", "-lead", "", "x" * 65, "sp ace", "a/b"])
def test_invalid_prompt_names_are_rejected(catalog: PromptCatalog, ddb: Any, name: str) -> None:
    with pytest.raises(ValidationError, match=r"prompt name .* is invalid"):
        create(catalog, name=name)
    assert table_items(ddb, TABLE) == []


def test_catalog_refuses_a_template_limit_dynamodb_cannot_store(ddb: Any) -> None:
    with pytest.raises(ValueError, match=r"max_template_bytes must be 1\.\.300000"):
        make_catalog(ddb, max_template_bytes=500_000)


# ---------------------------------------------------------------------------------------------- aliases


def put_evaluation(client: Any, name: str, version: int, model_id: str = MODEL) -> None:
    """A passed gate verdict of ``version`` on ``model_id``: what the prod gate requires (test_prompt_gate.py)."""
    put_gate_verdict(client, name, version, model_id, table=TABLE)


def test_promote_denormalizes_the_version_and_audits(catalog: PromptCatalog, ddb: Any) -> None:
    create(catalog)
    v2 = create(catalog, template="Be brief for {{audience}}: {{text}}", model_id="amazon.nova-lite-v1:0", reason="v2")
    put_evaluation(ddb, "summarize", 2, "amazon.nova-lite-v1:0")  # the prod gate: see test_prompt_gate.py

    record = catalog.promote("summarize", "prod", version=2, reason="eval passed", who=WHO)

    assert record == catalog.get_alias("summarize", "prod")
    assert (record.version, record.template, record.model_id, record.sha256) == (2, v2.template, v2.model_id, v2.sha256)
    # The gateway reads exactly this, with one GetItem.
    assert prompt_store.get_alias(ddb, TABLE, "summarize", "prod") == record
    trail = catalog.list_audit("summarize").items
    assert [(a["action"], a["version"], a["alias"]) for a in trail] == [
        ("create_version", 1, None),
        ("create_version", 2, None),
        ("promote", 2, "prod"),
    ]
    assert trail[-1]["why"] == "eval passed"


def test_repointing_an_alias_replaces_the_copy(catalog: PromptCatalog, ddb: Any) -> None:
    create(catalog)
    create(catalog, template="v2 {{audience}} {{text}}")
    put_evaluation(ddb, "summarize", 1)
    put_evaluation(ddb, "summarize", 2)
    catalog.promote("summarize", "prod", version=2, reason="ship", who=WHO)

    rolled_back = catalog.promote("summarize", "prod", version=1, reason="rollback", who=WHO)

    assert catalog.get_alias("summarize", "prod").template == TEMPLATE == rolled_back.template


def test_promote_to_missing_version_names_it_and_changes_nothing(catalog: PromptCatalog, ddb: Any) -> None:
    create(catalog)
    before = table_items(ddb, TABLE)

    with pytest.raises(NotFound, match=r"prompt 'summarize' has no version 5 \(latest version is 1\)"):
        catalog.promote("summarize", "prod", version=5, reason="oops", who=WHO)
    with pytest.raises(NotFound, match="prompt 'ghost' not found"):
        catalog.promote("ghost", "prod", version=1, reason="oops", who=WHO)
    with pytest.raises(ValidationError, match="alias 'Prod' is invalid"):
        catalog.promote("summarize", "Prod", version=1, reason="oops", who=WHO)

    assert table_items(ddb, TABLE) == before


def test_unknown_alias(catalog: PromptCatalog) -> None:
    create(catalog)
    with pytest.raises(NotFound, match="prompt 'summarize' has no alias 'prod'"):
        catalog.get_alias("summarize", "prod")
    assert prompt_store.get_alias(catalog._client, TABLE, "summarize", "prod") is None


# ---------------------------------------------------------------------------------------------- render


def test_render_by_alias_and_by_version(catalog: PromptCatalog) -> None:
    create(catalog)
    catalog.promote("summarize", "dev", version=1, reason="try", who=WHO)
    values = {"audience": "executives", "text": "Q3 revenue rose {{x}}"}

    by_alias = catalog.render("summarize", values, alias="dev")
    by_version = catalog.render("summarize", values, version=1)

    # One pass: a value containing a placeholder is not expanded again.
    assert by_alias.text == "Summarize for executives:\nQ3 revenue rose {{x}}\n" == by_version.text
    assert (by_alias.version, by_alias.alias, by_alias.model_id) == (1, "dev", MODEL)


@pytest.mark.parametrize(
    ("values", "message"),
    [
        ({"audience": "x"}, "missing variables: 'text'"),
        ({"audience": "x", "text": "y", "tone": "z"}, "unexpected variables (not declared by the prompt): 'tone'"),
        ({}, "missing variables: 'audience', 'text'"),
        ({"audience": ["x"], "text": "y"}, "variables.audience: must be a string or a number, got list"),
        ({"audience": None, "text": "y"}, "variables.audience: must be a string or a number, got null"),
    ],
)
def test_render_rejects_wrong_variables(catalog: PromptCatalog, values: dict[str, Any], message: str) -> None:
    create(catalog)
    with pytest.raises(ValidationError) as raised:
        catalog.render("summarize", values, version=1)
    assert message in str(raised.value)


def test_render_needs_exactly_one_of_alias_or_version(catalog: PromptCatalog) -> None:
    create(catalog)
    with pytest.raises(ValidationError, match="exactly one of 'alias' or 'version'"):
        catalog.render("summarize", {}, alias="prod", version=1)


def test_numbers_render_as_text() -> None:
    assert templating.render("{{n}} items", ["n"], {"n": 3}) == "3 items"


# ------------------------------------------------------------------------------------------------ diff


def test_diff_shows_template_lines_and_changed_fields(catalog: PromptCatalog) -> None:
    create(catalog)
    create(
        catalog,
        template="Summarize in {{tone}} tone for {{audience}}:\n{{text}}\n",
        variables=["audience", "text", "tone"],
        inference={"temperature": 0.5, "maxTokens": 300, "topP": 0.9},
    )

    result = catalog.diff("summarize", 1, 2)

    assert "--- summarize@v1" in result["template_diff"]
    assert "-Summarize for {{audience}}:\n" in result["template_diff"]
    assert "+Summarize in {{tone}} tone for {{audience}}:\n" in result["template_diff"]
    assert result["changed"]["variables"] == {"from": ["audience", "text"], "to": ["audience", "text", "tone"]}
    assert result["changed"]["inference"]["to"]["temperature"] == 0.5
    assert "model_id" not in result["changed"]
    assert catalog.diff("summarize", 1, 1) == {**result, "to": 1, "template_diff": "", "changed": {}}


def test_diff_of_a_missing_version(catalog: PromptCatalog) -> None:
    create(catalog)
    with pytest.raises(NotFound, match="has no version 9"):
        catalog.diff("summarize", 1, 9)


# --------------------------------------------------------------------------------------------- listing


def test_list_prompts_pages_through_every_prompt_once(catalog: PromptCatalog) -> None:
    names = [f"prompt-{n}" for n in range(7)]
    for name in names:
        create(catalog, name=name)
    create(catalog, name="prompt-3")

    seen: list[dict[str, Any]] = []
    token: str | None = None
    for _ in range(10):
        page = catalog.list_prompts(limit=3, next_token=token)
        assert len(page.items) <= 3
        seen.extend(page.items)
        token = page.next_token
        if token is None:
            break

    assert sorted(p["name"] for p in seen) == names
    assert {p["name"]: p["latest_version"] for p in seen}["prompt-3"] == 2


@pytest.mark.parametrize("token", ["garbage", "eyJwayI6IDF9", ""])
def test_bad_tokens_are_rejected(catalog: PromptCatalog, token: str) -> None:
    create(catalog)
    with pytest.raises(ValidationError, match="next_token: invalid"):
        catalog.list_prompts(next_token=token)


def test_a_token_from_another_prompt_is_rejected(catalog: PromptCatalog) -> None:
    create(catalog, name="a")
    create(catalog, name="a")
    create(catalog, name="b")
    token = catalog.list_versions("a", limit=1).next_token
    assert token is not None
    with pytest.raises(ValidationError, match="next_token: invalid or from another listing"):
        catalog.list_versions("b", next_token=token)


def test_page_size_is_bounded(catalog: PromptCatalog) -> None:
    with pytest.raises(ValidationError, match="limit: must be an integer from 1 to 100"):
        catalog.list_prompts(limit=1000)


# ------------------------------------------------------------------------------------------- conflicts


class RacingClient:
    """Delegates to the real client; before the first transaction, another writer commits a version."""

    def __init__(self, client: Any, rival: PromptCatalog) -> None:
        self._client = client
        self._rival = rival
        self.transactions = 0

    def __getattr__(self, name: str) -> Any:
        return getattr(self._client, name)

    def transact_write_items(self, **kwargs: Any) -> Any:
        self.transactions += 1
        if self.transactions == 1:
            create(self._rival, template="rival wrote {{audience}} {{text}}", who="arn:rival")
        return self._client.transact_write_items(**kwargs)


def test_a_writer_that_loses_the_race_retries_and_takes_the_next_number(ddb: Any) -> None:
    racing = RacingClient(ddb, make_catalog(ddb))
    loser = make_catalog(racing)

    created = create(loser, template="loser wrote {{audience}} {{text}}")

    # The loser read HEAD=0, the rival committed v1, the loser's transaction failed its condition,
    # and the retry took v2: nothing overwritten, no gap.
    assert racing.transactions == 2
    assert created.version == 2
    assert loser.get_version("summarize", 1).created_by == "arn:rival"
    assert loser.get_version("summarize", 2).template.startswith("loser wrote")
    audit = loser.list_audit("summarize").items
    assert sorted(a["version"] for a in audit) == [1, 2]


class AlwaysLosingClient:
    """Every transaction is cancelled as if another writer always got there first."""

    def __init__(self, client: Any) -> None:
        self._client = client
        self.transactions = 0

    def __getattr__(self, name: str) -> Any:
        return getattr(self._client, name)

    def transact_write_items(self, **kwargs: Any) -> Any:
        self.transactions += 1
        raise ClientError(
            {
                "Error": {"Code": "TransactionCanceledException", "Message": "cancelled"},
                "CancellationReasons": [{"Code": "ConditionalCheckFailed"}, {"Code": "None"}, {"Code": "None"}],
            },
            "TransactWriteItems",
        )


def test_bounded_retries_end_in_a_clear_conflict(ddb: Any) -> None:
    client = AlwaysLosingClient(ddb)
    sleeps: list[float] = []

    with pytest.raises(Conflict, match="3 attempts to take the next version number failed; retry"):
        create(make_catalog(client, max_attempts=3, sleep=sleeps.append))

    assert client.transactions == 3
    assert len(sleeps) == 2 and all(0 <= s <= 0.2 for s in sleeps)
    assert table_items(ddb, TABLE) == []


def test_other_dynamodb_errors_are_not_retried(ddb: Any) -> None:
    catalog = PromptCatalog(ddb, "no-such-table", max_template_bytes=100, sleep=lambda _: None)
    with pytest.raises(ClientError, match="ResourceNotFoundException"):
        catalog.create_version("p", template="t", variables=[], model_id=MODEL, inference={}, reason="r", who=WHO)


@pytest.fixture
def atomic_moto(monkeypatch: pytest.MonkeyPatch) -> None:
    """Give moto the per-request atomicity real DynamoDB guarantees.

    moto 5.2.5's in-process DynamoDB is not thread-safe: TransactWriteItems evaluates conditions and
    writes without a lock, and on failure restores a deep copy of the whole table taken when it started,
    erasing writes other threads committed meanwhile (the deep copy also crashes with "dictionary changed
    size during iteration"). Measured with 8 threads x 10 creates and no lock: 46-59 creates reported
    success, 12-27 of those were later erased or overwritten by moto's rollback, 17-29 crashed inside
    moto, in 40-60 s. The lock below serializes each request, and only each request: threads still
    interleave between the HEAD read and the transaction, which is the race the catalog must handle.
    """
    lock = threading.RLock()
    for name in ("get_item", "put_item", "update_item", "delete_item", "query", "scan", "transact_write_items"):
        original = getattr(DynamoDBBackend, name)

        def serialized(self: Any, *args: Any, __original: Any = original, **kwargs: Any) -> Any:
            with lock:
                return __original(self, *args, **kwargs)

        monkeypatch.setattr(DynamoDBBackend, name, serialized)


class CountingClient:
    """Counts lost races; makes every thread's first HEAD read happen together (a guaranteed race)."""

    def __init__(self, client: Any, threads: int) -> None:
        self._client = client
        self._barrier = threading.Barrier(threads, timeout=10)
        self._local = threading.local()
        self._lock = threading.Lock()
        self.lost_races = 0

    def __getattr__(self, name: str) -> Any:
        return getattr(self._client, name)

    def get_item(self, **kwargs: Any) -> Any:
        response = self._client.get_item(**kwargs)
        if not getattr(self._local, "synchronized", False):
            self._local.synchronized = True
            self._barrier.wait()
        return response

    def transact_write_items(self, **kwargs: Any) -> Any:
        try:
            return self._client.transact_write_items(**kwargs)
        except ClientError:
            with self._lock:
                self.lost_races += 1
            raise


def test_concurrent_writers_get_every_number_exactly_once(ddb: Any, atomic_moto: None) -> None:
    threads, per_thread = 8, 10
    client = CountingClient(ddb, threads)
    # Generous attempts: with 8 writers on one prompt a writer can lose many rounds in a row.
    catalog = make_catalog(client, max_attempts=100, sleep=lambda s: threading.Event().wait(s / 10))
    returned: list[tuple[int, str]] = []
    failures: list[BaseException] = []

    def writer(t: int) -> None:
        for i in range(per_thread):
            try:
                created = create(catalog, template=f"writer {t} item {i}: {{{{text}}}}", variables=["text"])
                returned.append((created.version, created.template))
            except BaseException as error:  # collected and asserted below
                failures.append(error)

    workers = [threading.Thread(target=writer, args=(t,)) for t in range(threads)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join(timeout=60)

    assert failures == []
    items = table_items(ddb, TABLE)
    stored = {int(i["version"]["N"]): i["template"]["S"] for i in items if i["sk"]["S"].startswith("V#")}
    assert sorted(stored) == list(range(1, threads * per_thread + 1))  # no gaps, no duplicates
    assert sorted(v for v, _ in returned) == list(range(1, threads * per_thread + 1))
    assert all(stored[v] == template for v, template in returned)  # no lost or overwritten write
    assert [i["latest_version"]["N"] for i in items if i["sk"]["S"] == "HEAD"] == [str(threads * per_thread)]
    assert sum(1 for i in items if i["sk"]["S"].startswith("AUDIT#")) == threads * per_thread
    # The barrier made all writers read HEAD=0 together: at least 7 of them must have lost that round.
    assert client.lost_races >= threads - 1
