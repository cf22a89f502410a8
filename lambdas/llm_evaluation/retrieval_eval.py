"""Evaluation of a prompt version that retrieves (#16): what was retrieved per item, and how good it was.

Retrieval does not depend on the model, so it runs once per golden item, before the models answer:

1. Retrieve (the same call and the same numbered context as the gateway, :mod:`common.retrieval`) with the
   item's question (the version's ``queryVariable``); the context fills the ``contextVariable`` and becomes
   the item's ``context``, so the run's grounding method (the guardrail's contextual grounding, or the
   judge's faithfulness) measures the answer against exactly the passages the model read.
2. **recall@k**: the share of the item's ``expectedDocuments`` among the retrieved passages' documents
   (a key relative to the documents prefix matches a retrieved ``s3://.../<key>``; a full URI matches
   itself). Items without expectedDocuments do not count; a run where none has them has no recall.
3. **context relevance**: the mean embedding cosine of the question and each retrieved passage, with the
   run's embedding model (``EMBEDDING_MODEL_ID``). Chosen over a judge: it is deterministic, priced per
   token, and the same embedder already scores answers. An item that retrieved nothing scores 0.
4. **faithfulness** (per model): the mean grounding score of its answers in the passages (the guardrail's
   grounding score, or judge faithfulness / 5), over the items that retrieved something.

Unlike the gateway, an item that retrieved nothing is still answered (with an empty context): the
evaluation records how the model behaves without sources; recall and relevance count the miss as 0. A
Retrieve error is recorded on the item (``status: "error"``) and scores 0 as well: it fails closed.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping, Sequence
from typing import Any

import scorers
from common import retrieval
from common.golden_sets import GoldenSet
from scorecard import Scorecard


def _matches(expected: str, uri: str) -> bool:
    if expected.startswith("s3://"):
        return uri == expected
    return uri == expected or uri.endswith("/" + expected.lstrip("/"))


def recall_at_k(expected: Sequence[str], uris: Sequence[str]) -> float | None:
    """Share of ``expected`` documents found among ``uris`` (``None`` when nothing is expected)."""
    if not expected:
        return None
    found = sum(1 for doc in expected if any(_matches(doc, uri) for uri in uris))
    return found / len(expected)


def _mean(values: Sequence[float]) -> float | None:
    return sum(values) / len(values) if values else None


def retrieve_items(
    golden: GoldenSet,
    *,
    spec: retrieval.RetrievalSpec,
    knowledge_base_id: str,
    client: retrieval.AgentRuntimeClient,
    embedder: scorers.Embedder,
) -> tuple[GoldenSet, list[dict[str, Any]]]:
    """Retrieve for every item; the golden set with the context filled in, and one record per item.

    The returned set is only what the models are called with: the run keeps recording the original
    set's sha256.
    """
    filled = []
    records: list[dict[str, Any]] = []
    for item in golden.items:
        question = item.inputs.get(spec.query_variable, "")
        record: dict[str, Any] = {"item_id": item.id, "expected_documents": list(item.expected_documents)}
        try:
            found = retrieval.retrieve(client, spec, knowledge_base_id, question)
        except retrieval.RetrievalError as error:
            record.update(
                status="error", reason=error.code, chunks=[], recall_at_k=0.0 if item.expected_documents else None
            )
            record["context_relevance"] = 0.0
            filled.append(dataclasses.replace(item, inputs={**item.inputs, spec.context_variable: ""}, context=None))
            records.append(record)
            continue
        uris = [chunk.document_uri for chunk in found.chunks]
        question_vector = embedder.embed(question) if found.chunks else None
        relevances = (
            [scorers.cosine(question_vector, embedder.embed(chunk.text)) for chunk in found.chunks]
            if question_vector is not None
            else []
        )
        record.update(
            status="empty" if found.empty else "ok",
            latency_ms=found.latency_ms,
            chunks=[{k: v for k, v in chunk.citation().items() if k != "text"} for chunk in found.chunks],
            recall_at_k=recall_at_k(item.expected_documents, uris),
            context_relevance=_mean(relevances) if relevances else 0.0,
        )
        records.append(record)
        filled.append(
            dataclasses.replace(
                item,
                inputs={**item.inputs, spec.context_variable: found.context},
                context=found.context or None,
            )
        )
    return dataclasses.replace(golden, items=tuple(filled)), records


def apply(card: Scorecard, records: Sequence[Mapping[str, Any]], *, golden_sha256: str) -> Scorecard:
    """The scorecard with the retrieval records and each model's retrieval metrics."""
    recalls = [r["recall_at_k"] for r in records if r.get("recall_at_k") is not None]
    relevance = _mean([float(r["context_relevance"]) for r in records if r.get("context_relevance") is not None])
    recall = _mean([float(v) for v in recalls])
    models = []
    for score in card.models:
        grounded = [
            float(i.groundedness) for i in card.items if i.model_id == score.model_id and i.groundedness is not None
        ]
        models.append(
            dataclasses.replace(
                score,
                retrieval_items=len(records),
                recall_at_k=recall,
                context_relevance=relevance,
                faithfulness=_mean(grounded),
            )
        )
    return dataclasses.replace(
        card, models=tuple(models), retrieval=tuple(dict(r) for r in records), golden_set_sha256=golden_sha256
    )
