"""Golden sets: the shipped support-ticket set, validation errors naming item and field, file and
DynamoDB round trips (including immutability of a stored version against moto)."""

from __future__ import annotations

import copy
import json
import sys
from collections import Counter
from pathlib import Path

import boto3
import pytest
from botocore.exceptions import ClientError

from tests.unit.lambdas_path import create_prompt_table, fast_mock_aws

_LAMBDAS = Path(__file__).resolve().parents[2] / "lambdas"
for _folder in (_LAMBDAS, _LAMBDAS / "llm_evaluation"):
    if str(_folder) not in sys.path:
        sys.path.insert(0, str(_folder))

# isort: split
from common import golden_sets  # noqa: E402 - importable only once the folders are on sys.path
from common.golden_sets import GoldenSet, GoldenSetError  # noqa: E402 - importable only once the folders are on sys.path

SHIPPED = _LAMBDAS / "llm_evaluation" / "data" / "support_tickets_v1.json"


def test_shipped_support_ticket_set_is_valid_and_covers_every_label():
    golden = golden_sets.load(SHIPPED)
    assert (golden.name, golden.version) == ("support-tickets", 1)
    assert golden.labels == ("billing", "technical", "account", "shipping", "other")
    assert len(golden.items) == 30
    assert set(Counter(i.expected_label for i in golden.items)) == set(golden.labels)
    assert all(i.reference and i.context and i.tags and set(i.inputs) == {"ticket"} for i in golden.items)
    assert sum("hard" in i.tags for i in golden.items) >= 3


def _raw() -> dict:
    return json.loads(SHIPPED.read_text(encoding="utf-8"))


@pytest.mark.parametrize(
    ("mutate", "error"),
    [
        (lambda r: r.update(name="Support Tickets"), "name: 'Support Tickets' is not a valid set name"),
        (lambda r: r.update(version=0), "version: must be an integer from 1"),
        (lambda r: r.update(version=True), "version"),
        (lambda r: r.update(items=[]), "items: must be a non-empty list"),
        (lambda r: r.update(extra=1), r"unknown fields \['extra'\]"),
        (lambda r: r.update(format="other/v9"), "format: expected 'golden-set/v1'"),
        (
            lambda r: r["items"][3].update(expected_label="refund"),
            r"items\[3\] \(id 'T-004'\).expected_label: 'refund' is not one of",
        ),
        (
            lambda r: r["items"][2].pop("expected_label") and r["items"][2].pop("reference"),
            r"items\[2\] \(id 'T-003'\): needs expected_label, reference",
        ),
        (lambda r: r["items"][5].update(id="T-001"), r"items\[5\].id: 'T-001' duplicates items\[0\]"),
        (lambda r: r["items"][4].update(id="bad id!"), r"items\[4\].id: 'bad id!' is not a valid id"),
        (
            lambda r: r["items"][1]["inputs"].update(ticket=7),
            r"items\[1\] \(id 'T-002'\).inputs.ticket: must be a string",
        ),
        (
            lambda r: r["items"][1].update(inputs={"text": "x"}),
            r"items\[1\] \(id 'T-002'\).inputs: variables \['text'\] differ",
        ),
        (lambda r: r["items"][6].update(tags=["Has Space"]), r"items\[6\] \(id 'T-007'\).tags"),
        (lambda r: r["items"][6].update(context=""), r"items\[6\] \(id 'T-007'\).context: must be a non-empty string"),
        (lambda r: r["items"][6].update(score=1), r"items\[6\] \(id 'T-007'\): unknown fields \['score'\]"),
        (
            lambda r: r["items"][4].pop("expected_label"),
            r"items\[4\] \(id 'T-005'\).expected_label: missing, but 29 of the 30 items have one; a golden set "
            "labels every item or none",
        ),
    ],
)
def test_validation_errors_name_the_item_and_field(mutate, error):
    raw = _raw()
    mutate(raw)
    with pytest.raises(GoldenSetError, match=error):
        GoldenSet.from_dict(raw)


def test_load_names_the_file_and_invalid_json_names_the_line(tmp_path):
    path = tmp_path / "broken.json"
    path.write_text('{\n  "name": "x",\n  oops\n}', encoding="utf-8")
    with pytest.raises(GoldenSetError, match=r"broken.json: golden set: invalid JSON at line 3"):
        golden_sets.load(path)


def test_file_round_trip_is_lossless_and_stable(tmp_path):
    golden = golden_sets.load(SHIPPED)
    out = tmp_path / "copy.json"
    golden_sets.save(golden, out)
    assert golden_sets.load(out) == golden
    assert out.read_text(encoding="utf-8") == SHIPPED.read_text(encoding="utf-8")


def test_labels_only_or_reference_only_items_are_allowed_and_labels_normalize():
    raw = {
        "name": "mini",
        "version": 2,
        "labels": ["Billing", "other"],
        "items": [
            {"id": "a", "inputs": {"q": "x"}, "expected_label": " BILLING "},
            {"id": "b", "inputs": {"q": "y"}, "expected_label": "Other", "reference": "a reference"},
        ],
    }
    golden = GoldenSet.from_dict(raw)
    assert golden.labels == ("billing", "other")
    assert golden.item("a").expected_label == "billing"
    assert golden.item("b").expected_label == "other" and golden.item("b").reference == "a reference"
    del raw["items"][1]["expected_label"]  # a label-only item next to a reference-only one: mixed, refused
    with pytest.raises(GoldenSetError, match=r"items\[1\] \(id 'b'\).expected_label: missing"):
        GoldenSet.from_dict(raw)
    assert GoldenSet.from_dict({**raw, "items": [raw["items"][1]]}).item("b").expected_label is None
    with pytest.raises(KeyError, match="no item 'zz'"):
        golden.item("zz")


def test_dynamodb_item_uses_the_catalog_key_layout_and_round_trips():
    golden = golden_sets.load(SHIPPED)
    item = golden.to_item(created_by="alice", created_at="2025-01-01T00:00:00Z")
    assert item["pk"] == {"S": "EVALSET#support-tickets"}
    assert item["sk"] == {"S": "V#00000001"}
    assert item["item_count"] == {"N": "30"}
    assert json.loads(item["items"]["S"])[0]["id"] == "T-001"
    assert GoldenSet.from_item(item) == golden
    tampered = copy.deepcopy(item)
    tampered["items"]["S"] = tampered["items"]["S"].replace("charged twice", "charged thrice")
    with pytest.raises(GoldenSetError, match="do not match their sha256"):
        GoldenSet.from_item(tampered)
    with pytest.raises(GoldenSetError, match="malformed"):
        GoldenSet.from_item({"pk": item["pk"]})


def test_a_stored_version_is_immutable_in_the_prompt_catalog_table():
    golden = golden_sets.load(SHIPPED)
    with fast_mock_aws():
        client = boto3.client("dynamodb", region_name="us-east-1")
        table = create_prompt_table(client)
        client.put_item(**golden_sets.put_version_request(table, golden, created_by="alice", created_at="t1"))
        with pytest.raises(ClientError, match="ConditionalCheckFailed"):
            client.put_item(**golden_sets.put_version_request(table, golden, created_by="mallory", created_at="t2"))
        stored = client.get_item(**golden_sets.get_version_request(table, "support-tickets", 1))["Item"]
        assert stored["created_by"] == {"S": "alice"}
        assert GoldenSet.from_item(stored) == golden


def test_a_set_without_any_label_is_valid_and_an_unlabelled_item_in_a_labelled_set_is_not():
    raw = _raw()
    for item in raw["items"]:
        item.pop("expected_label")
    raw["labels"] = []
    assert all(item.expected_label is None for item in GoldenSet.from_dict(raw).items)
    raw["items"][0]["expected_label"] = "billing"  # one label in an unlabelled set: mixed, refused
    with pytest.raises(GoldenSetError, match=r"items\[1\] \(id 'T-002'\).expected_label: missing, but 1 of the 30"):
        GoldenSet.from_dict(raw)
