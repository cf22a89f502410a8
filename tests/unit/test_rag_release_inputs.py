"""Prompt files and golden sets that use retrieval (#16): the release tool and the golden-set format."""

from __future__ import annotations

import json
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest

from delivery.prompt_release import PromptFileError, check_models, check_quality_floors, load_prompt_file
from tests.unit.lambdas_path import LAMBDAS  # noqa: F401 - puts lambdas/ on sys.path

# isort: split
from common import golden_sets

MODEL = "amazon.nova-lite-v1:0"
TEMPLATE = "Answer from the sources.\n{{context}}\nQuestion: {{question}}"


def golden_document(**item_overrides: Any) -> dict[str, Any]:
    item: dict[str, Any] = {
        "id": "Q-1",
        "inputs": {"question": "How do I reset the widget?"},
        "reference": "Hold the reset button for five seconds.",
        "expectedDocuments": ["faq/reset.md", "s3://curated/knowledge-base/manual.md"],
    }
    item.update(item_overrides)
    return {"format": "golden-set/v1", "name": "support-answers", "version": 1, "items": [item]}


def write(tmp_path: Path, prompt: dict[str, Any], golden: dict[str, Any]) -> Path:
    (tmp_path / "golden").mkdir(exist_ok=True)
    (tmp_path / "golden" / "answers.json").write_text(json.dumps(golden))
    path = tmp_path / "support-answer.json"
    path.write_text(json.dumps(prompt))
    return path


def prompt(**overrides: Any) -> dict[str, Any]:
    out: dict[str, Any] = {
        "name": "support-answer",
        "template": TEMPLATE,
        "variables": ["context", "question"],
        "model_id": MODEL,
        "retrieval": {"knowledgeBase": "product-docs", "topK": 4, "contextVariable": "context"},
        "evaluation": {"golden_set_file": "golden/answers.json", "golden_set": "support-answers", "golden_version": 1},
        "aliases": {"dev": ["staging"]},
    }
    out.update(overrides)
    return out


def env(knowledge_base: str | None) -> Any:
    kb = SimpleNamespace(enabled=knowledge_base is not None, name=knowledge_base or "")
    return SimpleNamespace(name="dev", llmops=SimpleNamespace(models=[SimpleNamespace(id=MODEL)], knowledge_base=kb))


def test_a_prompt_file_with_retrieval_is_released_with_its_normalized_block(tmp_path: Path) -> None:
    loaded = load_prompt_file(write(tmp_path, prompt(), golden_document()), root=tmp_path)
    expected = {"knowledgeBase": "product-docs", "topK": 4, "contextVariable": "context", "queryVariable": "question"}
    assert loaded.version_body()["retrieval"] == expected
    # What the catalog answers for that version compares equal: an unchanged file publishes nothing.
    assert loaded.matches({**loaded.version_body(), "version": 3, "sha256": "x"})
    assert loaded.golden_set.items[0].expected_documents == ("faq/reset.md", "s3://curated/knowledge-base/manual.md")
    check_models([loaded], env("product-docs"))


def test_the_knowledge_base_must_be_the_environments(tmp_path: Path) -> None:
    loaded = load_prompt_file(write(tmp_path, prompt(), golden_document()), root=tmp_path)
    with pytest.raises(PromptFileError, match="'product-docs' is not a knowledge base of dev") as caught:
        check_models([loaded], env(None))
    assert "disabled" in str(caught.value)
    with pytest.raises(PromptFileError, match=r"llmops\.knowledgeBase: hr-docs"):
        check_models([loaded], env("hr-docs"))


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"retrieval": {"knowledgeBase": "product-docs", "topK": 500, "contextVariable": "context"}}, "topK"),
        ({"retrieval": {"knowledgeBase": "product-docs", "contextVariable": "nope"}}, "contextVariable"),
        (
            {"retrieval": {"knowledgeBase": "product-docs", "contextVariable": "context", "filter": {"or": []}}},
            "unknown operator 'or'",
        ),
    ],
)
def test_bad_retrieval_in_a_prompt_file_names_the_file_and_key(
    tmp_path: Path, overrides: dict[str, Any], message: str
) -> None:
    with pytest.raises(PromptFileError, match=r"support-answer\.json: key 'retrieval'") as caught:
        load_prompt_file(write(tmp_path, prompt(**overrides), golden_document()), root=tmp_path)
    assert message in str(caught.value)


def test_golden_items_of_a_retrieval_prompt_must_not_supply_the_context(tmp_path: Path) -> None:
    golden = golden_document(inputs={"question": "q", "context": "my own context"})
    with pytest.raises(PromptFileError, match="without 'context', which retrieval fills"):
        load_prompt_file(write(tmp_path, prompt(), golden), root=tmp_path)


@pytest.mark.parametrize(
    ("documents", "message"),
    [
        ("faq/reset.md", "expectedDocuments: must be a list"),
        ([1], "expectedDocuments[0]: must be a string, got int"),
        ([""], "non-empty key"),
        (["faq/reset.md\n"], "without leading or trailing whitespace"),
        (["faq/re\u200bset.md"], "U+200B"),
        (["k" * 1025], "at most 1024 characters, got 1025"),
        ([f"doc{i}.md" for i in range(21)], "at most 20 documents, got 21"),
        (["a.md", "a.md"], "listed twice"),
    ],
)
def test_bad_expected_documents_are_refused_naming_the_item(documents: Any, message: str) -> None:
    with pytest.raises(golden_sets.GoldenSetError, match=r"items\[0\] \(id 'Q-1'\)\.expectedDocuments") as caught:
        golden_sets.GoldenSet.from_dict(golden_document(expectedDocuments=documents))
    assert message in str(caught.value)


def test_items_without_expected_documents_serialize_as_before() -> None:
    document = golden_document()
    del document["items"][0]["expectedDocuments"]
    golden = golden_sets.GoldenSet.from_dict(document)
    assert "expectedDocuments" not in golden.items[0].to_dict()
    with_docs = golden_sets.GoldenSet.from_dict(golden_document())
    assert golden_sets.GoldenSet.from_dict(json.loads(with_docs.to_json())) == with_docs


def test_an_unlabelled_golden_set_needs_a_floor_that_applies_to_it(tmp_path: Path) -> None:
    # The evaluator's gate skips minAccuracy for a set without labels: minRougeL must then gate it.
    loaded = load_prompt_file(write(tmp_path, prompt(), golden_document()), root=tmp_path)

    def gated(min_accuracy: float, min_rouge_l: float) -> Any:
        evaluation = SimpleNamespace(min_accuracy=min_accuracy, min_rouge_l=min_rouge_l)
        return SimpleNamespace(name="qa", llmops=SimpleNamespace(evaluation=evaluation))

    check_quality_floors([loaded], gated(0.8, 0.2))
    with pytest.raises(
        PromptFileError,
        match=r"support-answer\.json: key 'evaluation\.golden_set_file'.*no labels.*"
        r"minRougeL is 0 in qa",
    ):
        check_quality_floors([loaded], gated(0.8, 0))
    labelled = golden_document(expected_label="how-to")
    check_quality_floors([load_prompt_file(write(tmp_path, prompt(), labelled), root=tmp_path)], gated(0.8, 0))
