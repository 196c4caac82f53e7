"""The findings' measurements and the "shown" rule on predictors with known outputs: an oracle
that returns the gold spans, the degenerate baselines, and a random-head control."""
from __future__ import annotations

import pytest
import torch

from model.example import Example
from training.analysis import findings as F
from training.analysis.baselines import baselines
from training.analysis.report import summarise
from training.analysis.variants import MULTI_TASK, RANDOM_HEADS, multi_task, random_heads
from training.data.synthetic import generate
from training.testing import make_random_checkpoint


def _span(span, score: float = 1.0) -> dict:
    return {"text": span.text, "start": span.start, "end": span.end, "field": span.field, "score": score}


class Oracle:
    """Answers every analysed head with an example's gold spans (arguments or supporting facts)."""

    name, description = "oracle", "the gold spans"

    def __init__(self, examples: list[Example]):
        self.gold = {(e.question, e.context): e.argument_spans or e.evidence_spans for e in examples}

    def has(self, head: str) -> bool:
        return head in (F.SPAN_HEAD, F.MULTISPAN_HEAD)

    def predict(self, questions, contexts, heads):
        out = []
        for q, c in zip(questions, contexts):
            spans = [_span(s) for s in self.gold[(q, c)]]
            out.append({F.SPAN_HEAD: {**spans[0], "alternatives": spans[1:3]}, F.MULTISPAN_HEAD: {"spans": spans}})
        return out


@pytest.fixture(scope="module")
def test_split() -> list[Example]:
    # A fixed small set from the held-out templates.
    return [e for s in ("numeric", "multihop", "qa_summary") for e in generate(s, 60, seed=20_000, split="heldout")]


def _mean(measured: F.Measured, metric: str) -> float:
    values = measured.values[metric]
    return sum(values) / len(values)


def test_the_gold_spans_score_one_on_every_numeric_metric(test_split):
    numeric = F.numeric_examples(test_split)
    measured = F.measure_numeric(Oracle(numeric), numeric, [e.answer for e in numeric], span_k=3)
    for metric in ("span_top1_precision", "span_top1_exact", "span_topk_recall", "multispan_f1", "multispan_exact_set"):
        assert _mean(measured, metric) == 1.0, metric
    # The gold arguments derive the gold answer, except a count of one span (not a computation).
    for e, target, gold in zip(numeric, measured.values["derives_target"], measured.values["derives_gold"]):
        assert target == gold == float(not (e.operation == "count" and len(e.argument_spans) == 1)), e.question
    # Four arguments (max/min of four numbers) from a head that returns three: recall still reaches 1.
    assert any(len(e.argument_spans) == 4 for e in numeric)
    assert _mean(measured, "span_tokens") == _mean(measured, "gold_tokens")
    assert measured.groups == [e.operation for e in numeric]


def test_the_gold_evidence_lies_in_the_supporting_facts(test_split):
    yesno = F.yesno_examples(test_split)
    measured = F.measure_yesno(Oracle(yesno), yesno, span_k=3)
    assert _mean(measured, "span_top1_hit") == 1.0 and _mean(measured, "span_topk_recall") == 1.0
    assert _mean(measured, "multispan_precision") == 1.0


def test_baselines_score_what_they_are_built_to_score(test_split):
    numeric, yesno, steerable = F.numeric_examples(test_split), F.yesno_examples(test_split), F.steerable_examples(test_split)
    by_name = {b.name: b for b in baselines()}
    whole = F.measure_numeric(by_name["whole passage"], numeric, [None] * len(numeric))
    assert _mean(whole, "multispan_f1") == 0.0 and _mean(whole, "span_tokens") > 20 * _mean(whole, "gold_tokens")
    assert _mean(F.measure_yesno(by_name["whole passage"], yesno), "span_top1_hit") == 0.0
    numbers = F.measure_numeric(by_name["every number"], numeric, [None] * len(numeric))
    assert _mean(numbers, "multispan_recall") > 0.7 and _mean(numbers, "multispan_exact_set") == 0.0
    copy = F.measure_qa_summary(by_name["copy the question"], steerable)
    assert _mean(copy, "rouge_gain") > 0.2  # the old metric credited a copy of the question
    assert copy.values["unasked_rouge_gain"] == [0.0] * len(steerable)
    assert copy.values["steer_gain_beyond_copy"] == [0.0] * len(steerable)


def test_shown_needs_the_multi_task_interval_above_every_control():
    measured = {MULTI_TASK: F.Measured({"unasked_rouge_gain": [0.6] * 30, "steer_gain_beyond_copy": [0.3] * 30}),
                RANDOM_HEADS: F.Measured({"unasked_rouge_gain": [0.0] * 30, "steer_gain_beyond_copy": [0.0] * 30})}
    assert summarise(F.QA_SUMMARY, measured, n=30).shown
    # One control whose interval reaches the multi-task one on one headline metric: not shown.
    measured["copy the question"] = F.Measured({"unasked_rouge_gain": [0.0] * 30, "steer_gain_beyond_copy": [0.3] * 30})
    result = summarise(F.QA_SUMMARY, measured, n=30)
    assert not result.shown
    assert [v.shown for v in result.verdicts] == [True, False]
    # Without any control there is nothing to beat, and nothing is shown.
    assert not summarise(F.QA_SUMMARY, {MULTI_TASK: measured[MULTI_TASK]}, n=30).shown


@pytest.fixture(scope="module")
def tiny_variants(tmp_path_factory):
    path = tmp_path_factory.mktemp("findings") / "tiny"
    make_random_checkpoint(path, seed=0)
    multi = multi_task(path, torch.device("cpu"))
    return multi, random_heads(multi, seed=1234)


def test_random_heads_are_fresh_heads_on_the_trained_backbone(tiny_variants):
    multi, fresh = tiny_variants
    trained_model, random_model = multi.models[F.SPAN_HEAD].model, fresh.models[F.SPAN_HEAD].model
    assert random_model.backbone is trained_model.backbone
    assert set(random_model.heads) == set(trained_model.heads)
    for name, head in random_model.heads.items():
        old = dict(trained_model.heads[name].named_parameters())
        assert any(not torch.equal(p, old[n]) for n, p in head.named_parameters()), name
    # Seeded: the same control every run.
    again = random_heads(multi, seed=1234).models[F.SPAN_HEAD].model.heads[F.SPAN_HEAD]
    assert all(torch.equal(p, q) for p, q in zip(again.parameters(), random_model.heads[F.SPAN_HEAD].parameters()))


def test_no_degenerate_baseline_shows_any_finding(test_split, tiny_variants):
    """Each baseline in the multi-task slot, against the others and the random heads: the metrics
    must not mistake covering, listing, copying or leading for a finding."""
    _, fresh = tiny_variants
    numeric, yesno, steerable = F.numeric_examples(test_split), F.yesno_examples(test_split), F.steerable_examples(test_split)
    steerable = steerable[:12]  # the random summariser decodes: keep it short
    controls = {RANDOM_HEADS: (F.measure_numeric(fresh, numeric, [None] * len(numeric)), F.measure_yesno(fresh, yesno),
                               F.measure_qa_summary(fresh, steerable))}
    for b in baselines():
        controls[b.name] = (F.measure_numeric(b, numeric, [None] * len(numeric)), F.measure_yesno(b, yesno),
                            F.measure_qa_summary(b, steerable))
    for candidate in baselines():
        for i, spec in enumerate((F.NUMERIC, F.YESNO, F.QA_SUMMARY)):
            measured = {MULTI_TASK: controls[candidate.name][i]}
            measured |= {name: m[i] for name, m in controls.items() if name != candidate.name}
            result = summarise(spec, measured, n=len(measured[MULTI_TASK].groups))
            assert len(result.verdicts) == len(spec.headline)
            assert not result.shown, f"{candidate.name} shows the {spec.key} finding: {[v.sentence() for v in result.verdicts]}"


class _Summariser:
    """A hand-made summary "head" over known examples: says `pick(example, question)`'s sentence."""

    def __init__(self, examples, pick):
        self.by_input = {}
        for ex in examples:
            spans = ex.extra["sentence_spans"]
            for question in (ex.question, ex.extra["steer_question"], ""):
                a, b = spans[pick(ex, question)]
                self.by_input[(question, ex.context)] = ex.context[a:b]

    def has(self, head):
        return head == "summary"

    def predict(self, questions, contexts, heads):
        return [{"summary": {"text": self.by_input[(q, c)]}} for q, c in zip(questions, contexts)]


def test_a_summary_that_follows_the_question_gains_and_one_that_stays_put_does_not(test_split):
    examples = F.steerable_examples(test_split)[:20]
    assert len(examples) == 20

    def follows(ex, question):
        if question == ex.question:
            return ex.extra["answer_sentence"]
        return ex.extra["steer_sentence"] if question else 0

    following = F.measure_qa_summary(_Summariser(examples, follows), examples).values
    assert following["steered"] == [1.0] * len(examples)
    assert following["follows_question"] == [1.0] * len(examples)
    assert sum(following["unasked_rouge_gain"]) > 0 and sum(following["steer_gain_beyond_copy"]) > 0

    # Always the steering sentence, whatever is asked: it sits there, it was not moved there.
    stays = F.measure_qa_summary(_Summariser(examples, lambda ex, q: ex.extra["steer_sentence"]), examples).values
    assert stays["steered"] == [0.0] * len(examples)
    assert stays["unasked_rouge_gain"] == [0.0] * len(examples)
    assert sum(stays["steer_gain_beyond_copy"]) < 0


def test_unasked_rouge_ignores_the_words_the_question_gave_away():
    question = "Which city does Orchard Pharma call home?"
    sentence = "The home of Orchard Pharma is in Rosario."
    assert F.unasked_rouge(question, sentence, question) == 0.0
    assert F.unasked_rouge("Orchard Pharma is in Rosario.", sentence, question) == pytest.approx(2 * 3 / (3 + 5))  # "is in rosario" vs "the of is in rosario"


def test_closest_sentence_names_the_one_sentence_a_summary_follows_and_no_other():
    from model.example import Span

    text = "The choir was founded in 1920. It sings in Seville. The hall has red seats."
    sentences = [Span(0, 30, text[0:30]), Span(31, 51, text[31:51]), Span(52, 75, text[52:75])]
    assert F.closest_sentence("the choir sings in seville", sentences) == 1
    # Gibberish overlaps nothing, and a tie picks no sentence: neither counts as following sentence 0.
    assert F.closest_sentence("zq xv wk", sentences) == -1
    assert F.closest_sentence("the", sentences[0:1] + [Span(0, 30, text[0:30])]) == -1
    assert F.closest_sentence("   ", sentences) == -1
