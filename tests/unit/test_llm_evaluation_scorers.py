"""Scorers of lambdas/llm_evaluation/: each metric on hand-checked cases, the Titan embedder against
botocore's Stubber, the judge parser's refusals, groundedness, and the human-review round trip."""

from __future__ import annotations

import io
import json
import sys
from pathlib import Path

import boto3
import pytest
from botocore.response import StreamingBody
from botocore.stub import Stubber

_LAMBDAS = Path(__file__).resolve().parents[2] / "lambdas"
for _folder in (_LAMBDAS, _LAMBDAS / "llm_evaluation"):
    if str(_folder) not in sys.path:
        sys.path.insert(0, str(_folder))

# isort: split
import scorers  # noqa: E402 - importable only once the folders are on sys.path
from scorecard import ItemResult, JudgeResult, ModelScore, Scorecard  # noqa: E402 - importable only once the folders are on sys.path

# --- exact match ----------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("predicted", "expected", "match"),
    [
        ("Billing.", "billing", True),
        ("  'BILLING' ", "billing", True),
        ("billing issue", "billing", False),
        ("technical", "billing", False),
        (None, "billing", False),
        ("", "billing", False),
    ],
)
def test_exact_match_normalizes_case_quotes_and_punctuation_only(predicted, expected, match):
    assert scorers.exact_match(predicted, expected) is match


def test_label_accuracy_counts_matches_and_is_none_without_pairs():
    assert scorers.label_accuracy([("billing", "billing"), ("Other", "other"), ("x", "shipping"), (None, "a")]) == 0.5
    assert scorers.label_accuracy([]) is None


# --- ROUGE-L --------------------------------------------------------------------------------------------


def test_rouge_l_matches_a_hand_computed_lcs():
    # LCS of "the cat sat on the mat" / "the cat is on the mat" = the cat on the mat (5 of 6 tokens each).
    score = scorers.rouge_l("The cat sat on the mat.", "the cat is on the mat")
    assert score.precision == pytest.approx(5 / 6)
    assert score.recall == pytest.approx(5 / 6)
    assert score.f1 == pytest.approx(5 / 6)


def test_rouge_l_precision_and_recall_differ_with_lengths():
    # candidate 2 tokens, reference 4, LCS 2: P = 1, R = 0.5, F1 = 2/3.
    score = scorers.rouge_l("order delayed", "my order is delayed")
    assert (score.precision, score.recall) == (1.0, 0.5)
    assert score.f1 == pytest.approx(2 / 3)


def test_rouge_l_is_order_sensitive_and_zero_without_overlap_or_text():
    assert scorers.rouge_l("a b c d", "d c b a").f1 == pytest.approx(0.25)
    assert scorers.rouge_l("alpha beta", "gamma delta").f1 == 0.0
    assert scorers.rouge_l("", "anything").f1 == 0.0
    assert scorers.rouge_l("!!!", "anything").f1 == 0.0


def test_tokenize_lowercases_and_drops_punctuation_and_underscores():
    assert scorers.tokenize("Order #58213 wasn't_delivered, Café!") == [
        "order",
        "58213",
        "wasn",
        "t",
        "delivered",
        "café",
    ]


# --- embeddings -----------------------------------------------------------------------------------------


def test_cosine_of_known_vectors():
    assert scorers.cosine([1, 0], [0, 1]) == 0.0
    assert scorers.cosine([1, 2, 3], [2, 4, 6]) == pytest.approx(1.0)
    assert scorers.cosine([1, 0], [-1, 0]) == pytest.approx(-1.0)
    assert scorers.cosine([0, 0], [1, 1]) == 0.0
    with pytest.raises(ValueError, match="differ in length"):
        scorers.cosine([1], [1, 2])


def test_the_function_ships_no_lexical_embedder():
    # The hashed bag of n-grams is the emulator's labelled stand-in (emulator.fake_bedrock.StandInEmbedder),
    # never something the evaluation function could pick as its "embedding" model.
    assert not hasattr(scorers, "LocalHashingEmbedder")
    assert "LocalHashingEmbedder" not in scorers.__all__


def _titan_response(vector: list[float], *, tokens: int = 3, stand_in: str | None = None) -> dict:
    data = json.dumps({"embedding": vector, "inputTextTokenCount": tokens}).encode()
    response: dict = {"body": StreamingBody(io.BytesIO(data), len(data)), "contentType": "application/json"}
    if stand_in:
        response["ResponseMetadata"] = {"HTTPHeaders": {scorers.STAND_IN_HEADER: stand_in}}
    return response


def test_bedrock_titan_embedder_calls_invoke_model_once_per_text():
    client = boto3.client("bedrock-runtime", region_name="us-east-1")
    vector = [0.5] * 256
    expected = {
        "modelId": "amazon.titan-embed-text-v2:0",
        "contentType": "application/json",
        "accept": "application/json",
        "body": json.dumps({"inputText": "refund please", "dimensions": 256, "normalize": True}),
    }
    with Stubber(client) as stubber:
        stubber.add_response("invoke_model", _titan_response(vector), expected)
        embedder = scorers.BedrockTitanEmbedder(client, dimensions=256)
        assert embedder.embed("refund please") == vector
        assert embedder.embed("refund please") == vector  # cached: the stub has one response only
        assert embedder.embed("   ") == [0.0] * 256  # Titan rejects empty input; no call made
        stubber.assert_no_pending_responses()
    assert embedder.name == "amazon.titan-embed-text-v2:0/256"
    assert embedder.tokens == 3  # Bedrock's inputTextTokenCount, counted once: the cached text is not billed


def test_bedrock_titan_embedder_counts_tokens_and_says_stand_in_only_when_a_stand_in_answered():
    client = boto3.client("bedrock-runtime", region_name="us-east-1")
    with Stubber(client) as stubber:
        stubber.add_response("invoke_model", _titan_response([0.1] * 512, tokens=7))
        stubber.add_response("invoke_model", _titan_response([0.2] * 512, tokens=5, stand_in="lexical hashing"))
        embedder = scorers.BedrockTitanEmbedder(client)
        embedder.embed("first text")
        assert embedder.name == "amazon.titan-embed-text-v2:0/512"
        embedder.embed("second text")
    assert embedder.tokens == 12
    assert embedder.name == "amazon.titan-embed-text-v2:0/512 (stand-in: lexical hashing)"


# --- contextual grounding through the guardrail -----------------------------------------------------------


def _grounding(grounding: tuple[float, str], relevance: tuple[float, str] | None, **extra) -> dict:
    filters = [{"type": "GROUNDING", "threshold": 0.75, "score": grounding[0], "action": grounding[1]}]
    if relevance:
        filters.append({"type": "RELEVANCE", "threshold": 0.75, "score": relevance[0], "action": relevance[1]})
    blocked = any(f["action"] == "BLOCKED" for f in filters)
    return {
        "usage": {
            "topicPolicyUnits": 1,
            "contentPolicyUnits": 1,
            "wordPolicyUnits": 1,
            "sensitiveInformationPolicyUnits": 1,
            "sensitiveInformationPolicyFreeUnits": 0,
            "contextualGroundingPolicyUnits": 2,
        },
        "action": "GUARDRAIL_INTERVENED" if blocked else "NONE",
        "outputs": [],
        "assessments": [{"contextualGroundingPolicy": {"filters": filters}}],
        **extra,
    }


def test_guardrail_grounder_sends_source_query_and_answer_and_reads_the_guardrails_verdict():
    client = boto3.client("bedrock-runtime", region_name="us-east-1")
    expected = {
        "guardrailIdentifier": "gr-1",
        "guardrailVersion": "4",
        "source": "OUTPUT",
        "content": [
            {"text": {"text": TICKET, "qualifiers": ["grounding_source"]}},
            {"text": {"text": "Summarize the ticket.", "qualifiers": ["query"]}},
            {"text": {"text": "Order 58213 is late.", "qualifiers": ["guard_content"]}},
        ],
    }
    grounder = scorers.GuardrailGrounder(client, guardrail_id="gr-1", guardrail_version="4")
    with Stubber(client) as stubber:
        stubber.add_response("apply_guardrail", _grounding((0.91, "NONE"), (0.88, "NONE")), expected)
        stubber.add_response("apply_guardrail", _grounding((0.31, "BLOCKED"), (0.9, "NONE")))
        stubber.add_response("apply_guardrail", _grounding((0.95, "NONE"), (0.2, "BLOCKED")))
        good = grounder.check(answer="Order 58213 is late.", context=TICKET, query="Summarize the ticket.")
        invented = grounder.check(answer="Refund of 40 issued.", context=TICKET, query="Summarize the ticket.")
        off_topic = grounder.check(answer="Nice weather.", context=TICKET, query="Summarize the ticket.")
        # An empty answer (a failed call) asserts nothing: not sent, and not grounded.
        assert grounder.check(answer="  ", context=TICKET, query="q") == scorers.GroundingResult(None, None, False)
        stubber.assert_no_pending_responses()
    assert good == scorers.GroundingResult(score=0.91, relevance=0.88, grounded=True)
    assert invented == scorers.GroundingResult(score=0.31, relevance=0.9, grounded=False)
    assert off_topic.grounded is False
    assert grounder.text_units == 3 * 6  # every policy's units of three calls (what ApplyGuardrail bills)
    assert grounder.name == "bedrock guardrail contextual grounding (gr-1 v4)"


def test_guardrail_grounder_refuses_a_guardrail_without_contextual_grounding_and_labels_a_stand_in():
    client = boto3.client("bedrock-runtime", region_name="us-east-1")
    grounder = scorers.GuardrailGrounder(client, guardrail_id="gr-1", guardrail_version="1")
    without = _grounding((0.9, "NONE"), None)
    without["assessments"] = [{"contentPolicy": {"filters": []}}]
    with Stubber(client) as stubber:
        stubber.add_response(
            "apply_guardrail",
            _grounding((0.9, "NONE"), None, ResponseMetadata={"HTTPHeaders": {"x-local-stand-in": "overlap"}}),
        )
        stubber.add_response("apply_guardrail", without)
        assert grounder.check(answer="a", context="a", query="q").grounded
        assert grounder.name.endswith("(stand-in: overlap)")
        with pytest.raises(scorers.GroundingError, match="no GROUNDING assessment: configure its contextual grounding"):
            grounder.check(answer="a", context="a", query="q")


def test_bedrock_titan_embedder_rejects_a_response_of_the_wrong_size():
    client = boto3.client("bedrock-runtime", region_name="us-east-1")
    with Stubber(client) as stubber:
        stubber.add_response("invoke_model", _titan_response([0.1, 0.2]))
        with pytest.raises(ValueError, match="no embedding of 256 floats"):
            scorers.BedrockTitanEmbedder(client, dimensions=256).embed("text")
    with pytest.raises(ValueError, match="256, 512 or 1024"):
        scorers.BedrockTitanEmbedder(client, dimensions=100)


# --- LLM-as-judge ---------------------------------------------------------------------------------------


def test_judge_prompt_carries_every_part_and_the_strict_format():
    prompt = scorers.build_judge_prompt(task="Summarize: X", answer="An answer", reference=None, context="Source text")
    assert "<task>\nSummarize: X\n</task>" in prompt
    assert "<source>\nSource text\n</source>" in prompt
    assert "<reference>\n(none)\n</reference>" in prompt
    assert "<answer>\nAn answer\n</answer>" in prompt
    assert '{"relevance": <1-5>, "faithfulness": <1-5>, "tone": <1-5>, "rationale":' in prompt


def test_judge_output_parses_plain_and_fenced_json():
    raw = '{"relevance": 5, "faithfulness": 4, "tone": 3, "rationale": " Accurate, a bit curt. "}'
    result = scorers.parse_judge_output(raw)
    assert result == JudgeResult(
        status="ok", raw=raw, relevance=5, faithfulness=4, tone=3, rationale="Accurate, a bit curt."
    )
    assert result.passed(3) and not result.passed(4)
    fenced = scorers.parse_judge_output("```json\n" + raw + "\n```")
    assert fenced.status == "ok" and fenced.faithfulness == 4


@pytest.mark.parametrize(
    ("raw", "error"),
    [
        ("Looks great! 5/5", "not JSON"),
        ('Sure: {"relevance": 5, "faithfulness": 5, "tone": 5, "rationale": "ok"}', "not JSON"),
        ("[5, 5, 5]", "expected a JSON object"),
        ('{"relevance": 5, "faithfulness": 5, "tone": 5}', "missing ['rationale']"),
        ('{"relevance": 5, "faithfulness": 5, "tone": 5, "rationale": "ok", "score": 5}', "unexpected ['score']"),
        (
            '{"relevance": 6, "faithfulness": 5, "tone": 5, "rationale": "ok"}',
            "relevance: must be an integer from 1 to 5",
        ),
        ('{"relevance": 5, "faithfulness": 0, "tone": 5, "rationale": "ok"}', "faithfulness"),
        ('{"relevance": 5, "faithfulness": 4.5, "tone": 5, "rationale": "ok"}', "faithfulness"),
        ('{"relevance": 5, "faithfulness": "5", "tone": 5, "rationale": "ok"}', "faithfulness"),
        ('{"relevance": true, "faithfulness": 5, "tone": 5, "rationale": "ok"}', "relevance"),
        ('{"relevance": 5, "faithfulness": 5, "tone": 5, "rationale": "  "}', "rationale"),
    ],
)
def test_unparseable_or_out_of_range_judge_output_is_recorded_and_never_passes(raw, error):
    result = scorers.parse_judge_output(raw)
    assert result.status == "unparseable"
    assert result.raw == raw
    assert error in (result.error or "")
    assert not result.passed(1)


# --- lexical overlap (a diagnostic) ----------------------------------------------------------------------

TICKET = "My order 58213 was supposed to arrive on Monday and the tracking has not updated for five days."


def test_a_faithful_summary_is_grounded():
    result = scorers.groundedness(
        "The customer says order 58213 was due Monday; tracking not updated for five days.", TICKET
    )
    assert result.grounded
    assert result.unsupported == ("due",)


def test_an_invented_number_is_ungrounded_even_with_high_overlap():
    result = scorers.groundedness("Order 58213 tracking has not updated for five days; refund of 40 issued.", TICKET)
    assert result.support >= scorers.GROUNDEDNESS_THRESHOLD
    assert not result.grounded
    assert "40" in result.unsupported


def test_low_overlap_is_ungrounded_and_the_threshold_is_configurable():
    answer = "The courier lost the parcel in Rotterdam and compensation was approved."
    result = scorers.groundedness(answer, TICKET)
    assert result.support < scorers.GROUNDEDNESS_THRESHOLD and not result.grounded
    assert scorers.groundedness(answer, TICKET, threshold=0.0).grounded
    assert scorers.groundedness("The, and of.", TICKET) == scorers.GroundednessResult(1.0, True, ())


# --- human review ---------------------------------------------------------------------------------------


def _item(item_id: str, model_id: str, answer: str = "answer") -> ItemResult:
    return ItemResult(
        item_id=item_id,
        model_id=model_id,
        answer=answer,
        predicted_label="billing",
        expected_label="billing",
        correct=True,
        rouge_l=0.5,
        cosine=0.5,
        groundedness=1.0,
        grounded=True,
        latency_ms=10.0,
        input_tokens=10,
        output_tokens=5,
        cost_usd=0.001,
    )


def _model(model_id: str) -> ModelScore:
    return ModelScore(
        model_id=model_id,
        items=2,
        errors=0,
        accuracy=1.0,
        rouge_l=0.5,
        cosine=0.5,
        judge_relevance=None,
        judge_faithfulness=None,
        judge_tone=None,
        judge_pass_rate=None,
        judge_unparseable=0,
        judge_unparseable_rate=None,
        groundedness_rate=1.0,
        hallucination_rate=0.0,
        latency_p50_ms=10.0,
        latency_p95_ms=10.0,
        total_cost_usd=0.002,
        cost_per_item_usd=0.001,
        cost_per_1k_items_usd=1.0,
    )


def _scorecard() -> Scorecard:
    return Scorecard(
        golden_set="g",
        golden_set_version=1,
        golden_set_sha256="0" * 64,
        prompt_name="p",
        prompt_version=1,
        embedder="e",
        judge_pass_min=3,
        models=(_model("m1"), _model("m2")),
        items=(
            _item("T-1", "m1", 'Says "hi", then\nleaves'),
            _item("T-2", "m1"),
            _item("T-1", "m2"),
            _item("T-2", "m2"),
        ),
    )


def test_review_sheet_round_trip_fills_human_scores_into_the_scorecard():
    card = _scorecard()
    sheet = scorers.export_review_sheet(card.items, inputs={"T-1": "ticket one"})
    header, *rows = sheet.splitlines()
    assert header == "item_id,model_id,input,answer,reference,expected_label,predicted_label,score,comment"
    assert rows[0].startswith('T-1,m1,ticket one,"Says ""hi"", then')  # CSV quoting survives commas and newlines
    filled = sheet.replace("billing,billing,,\n", "billing,billing,4,fine\n", 1)
    filled = filled.replace("T-2,m2,,answer,,billing,billing,,", "T-2,m2,,answer,,billing,billing,2,too vague")
    human = scorers.import_review_sheet(filled, known_item_ids={"T-1", "T-2"}, known_model_ids={"m1", "m2"})
    assert [(h.item_id, h.model_id, h.score, h.comment) for h in human] == [
        ("T-1", "m1", 4, "fine"),
        ("T-2", "m2", 2, "too vague"),
    ]
    merged = scorers.merge_human_scores(card, human)
    assert (merged.model("m1").human_mean, merged.model("m1").human_reviewed) == (4.0, 1)
    assert (merged.model("m2").human_mean, merged.model("m2").human_reviewed) == (2.0, 1)
    assert [r.human_score for r in merged.items] == [4, None, None, 2]
    assert card.model("m1").human_mean is None  # the input scorecard is unchanged
    with pytest.raises(KeyError, match="not in the scorecard"):
        scorers.merge_human_scores(card, [scorers.HumanScore("T-9", "m1", 3)])


@pytest.mark.parametrize(
    ("csv_text", "error"),
    [
        ("item_id,model_id,score\nT-1,m1,3\n", r"missing columns \['comment'\]"),
        ("item_id,model_id,score,comment\nT-9,m1,3,\n", "line 2: unknown item_id 'T-9'"),
        ("item_id,model_id,score,comment\nT-1,m9,3,\n", "unknown model_id 'm9'"),
        ("item_id,model_id,score,comment\nT-1,m1,6,\n", "score must be an integer from 1 to 5, got '6'"),
        ("item_id,model_id,score,comment\nT-1,m1,0,\n", "got '0'"),
        ("item_id,model_id,score,comment\nT-1,m1,3.5,\n", "got '3.5'"),
        ("item_id,model_id,score,comment\nT-1,m1,good,\n", "got 'good'"),
        ("item_id,model_id,score,comment\nT-1,m1,3,\nT-1,m1,4,\n", "line 3: item T-1 / model m1 scored twice"),
    ],
)
def test_import_review_sheet_errors_name_the_problem(csv_text, error):
    with pytest.raises(scorers.ReviewSheetError, match=error):
        scorers.import_review_sheet(csv_text, known_item_ids={"T-1"}, known_model_ids={"m1"})


def test_unreviewed_rows_are_skipped():
    assert scorers.import_review_sheet("item_id,model_id,score,comment\nT-1,m1,,\n", known_item_ids={"T-1"}) == []


def test_guardrail_grounder_keeps_to_bedrocks_limits_and_never_calls_an_oversized_answer_grounded():
    client = boto3.client("bedrock-runtime", region_name="us-east-1")
    grounder = scorers.GuardrailGrounder(client, guardrail_id="gr-1", guardrail_version="1")
    long_query = "Summarize the ticket. " + "x" * 2000
    expected = {
        "guardrailIdentifier": "gr-1",
        "guardrailVersion": "1",
        "source": "OUTPUT",
        "content": [
            {"text": {"text": TICKET, "qualifiers": ["grounding_source"]}},
            {"text": {"text": long_query[:1000], "qualifiers": ["query"]}},
            {"text": {"text": "Order 58213 is late.", "qualifiers": ["guard_content"]}},
        ],
    }
    with Stubber(client) as stubber:
        stubber.add_response("apply_guardrail", _grounding((0.9, "NONE"), (0.9, "NONE")), expected)
        assert grounder.check(answer="Order 58213 is late.", context=TICKET, query=long_query).grounded
        # Over 5,000 characters of answer or 100,000 of source: not checkable, so not grounded (no call).
        assert not grounder.check(answer="late " * 1001, context=TICKET, query="q").grounded
        assert not grounder.check(answer="late", context="x" * 100_001, query="q").grounded
        stubber.assert_no_pending_responses()
