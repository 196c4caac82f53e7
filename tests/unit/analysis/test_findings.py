"""The findings' measurements and the "shown" rule on predictors with known outputs: an oracle
that returns the gold spans, the degenerate baselines, and a random-head control."""
from __future__ import annotations

import pytest
import torch

from model.example import Example, Span
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
        return head in (F.SPAN, F.MULTISPAN)

    def predict(self, questions, contexts, heads):
        out = []
        for q, c in zip(questions, contexts):
            spans = [_span(s) for s in self.gold[(q, c)]]
            out.append({F.SPAN: {**spans[0], "alternatives": spans[1:3]}, F.MULTISPAN: {"spans": spans}})
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


def _headline(values: list[float]) -> F.Measured:
    return F.Measured({m: list(values) for m in F.QA_SUMMARY.headline})


def test_shown_needs_every_paired_difference_above_zero():
    measured = {MULTI_TASK: _headline([0.6] * 30), RANDOM_HEADS: _headline([0.0] * 30)}
    result = summarise(F.QA_SUMMARY, measured, n=30)
    assert result.shown and result.verdicts[0].differences[RANDOM_HEADS].mean == pytest.approx(0.6)
    # One control as good as the multi-task model on one headline metric: not shown.
    measured["copy the question"] = _headline([0.0] * 30)
    measured["copy the question"].values["answer_containment_gain"] = [0.6] * 30
    result = summarise(F.QA_SUMMARY, measured, n=30)
    assert not result.shown
    assert [v.shown for v in result.verdicts] == [True, False, True]
    # Without any control there is nothing to beat, and nothing is shown.
    assert not summarise(F.QA_SUMMARY, {MULTI_TASK: measured[MULTI_TASK]}, n=30).shown


def test_seeds_pool_and_pair_seed_by_seed():
    # Seed 1 beats the control on every example, seed 2 is level with it: pooled, the difference is
    # half as large and still above 0; a control missing on seed 2 is paired on seed 1 only.
    multi = [_headline([1.0] * 20), _headline([0.0] * 20)]
    control = [_headline([0.0] * 20), _headline([0.0] * 20)]
    result = summarise(F.QA_SUMMARY, {MULTI_TASK: multi, RANDOM_HEADS: control, "single-task": [_headline([0.5] * 20), None]},
                       n=20)
    assert result.seeds == 2
    verdict = result.verdicts[0]
    assert verdict.multi.mean == 0.5 and verdict.multi.n == 40
    assert verdict.differences[RANDOM_HEADS].mean == 0.5 and verdict.differences[RANDOM_HEADS].above_zero
    assert verdict.differences["single-task"].n == 20 and verdict.differences["single-task"].mean == 0.5
    with pytest.raises(ValueError, match="seeds"):
        summarise(F.QA_SUMMARY, {MULTI_TASK: multi, RANDOM_HEADS: control[:1]}, n=20)


def test_each_group_gets_its_own_paired_differences_beside_the_pooled_verdict():
    """A head that beats a control on bridge questions and ties it on comparisons: not shown over
    all, and the per-kind differences say where it wins."""
    def yesno(values: list[float]) -> F.Measured:
        measured = F.Measured({m: list(values) for m in F.YESNO.headline})
        measured.groups = ["bridge"] * 10 + ["comparison"] * 30
        return measured

    result = summarise(F.YESNO, {MULTI_TASK: yesno([1.0] * 10 + [0.0, 1.0] * 15),
                                 RANDOM_HEADS: yesno([0.0] * 10 + [1.0, 0.0] * 15)}, n=40)
    assert not result.shown
    per_kind = result.group_differences["span_top1_hit"]
    assert per_kind["bridge"][RANDOM_HEADS].mean == 1.0 and per_kind["bridge"][RANDOM_HEADS].above_zero
    assert per_kind["comparison"][RANDOM_HEADS].mean == 0.0 and not per_kind["comparison"][RANDOM_HEADS].above_zero
    assert per_kind["bridge"][RANDOM_HEADS].n == 10


def test_a_value_is_paired_with_its_own_example_when_some_are_absent():
    measured = F.Measured()
    for i, value in enumerate([1.0, None, 3.0]):
        measured.groups.append("g")
        if value is not None:
            measured.add("m", value)
    by_example = measured.by_example("m", 3)
    assert by_example[0] == 1.0 and by_example[2] == 3.0 and by_example[1] != by_example[1]  # NaN


def test_numeric_questions_split_into_computed_and_in_passage(test_split):
    numeric = F.numeric_examples(test_split)
    computed, in_passage = F.computed_examples(test_split), F.in_passage_examples(test_split)
    assert len(computed) + len(in_passage) == len(numeric) and computed and in_passage
    assert {e.operation for e in computed} <= set(F.COMPUTED) and {e.operation for e in in_passage} <= {"max", "min"}
    # A reader's example without an operation: computed unless its answer stands in the passage.
    stands = Example("r1", "numeric", "drop_number", "They won 24-17 in 1990.", "1990", "number", question="When?",
                     argument_spans=[Span(18, 22, "1990")])
    computed_one = Example("r2", "numeric", "drop_number", "They won 24-17 in 1990.", "7", "number", question="By how much?",
                           argument_spans=[Span(9, 11, "24"), Span(12, 14, "17")])
    assert not F.is_computed(stands) and F.is_computed(computed_one)


def test_containment_needs_the_answer_words_in_order():
    assert F.contains("The budget was 150 million dollars last year.", "150 million dollars")
    assert not F.contains("150 dollars, not million", "150 million dollars")
    assert not F.contains("anything", "") and not F.contains("", "Coimbra")


@pytest.fixture(scope="module")
def tiny_variants(tmp_path_factory):
    path = tmp_path_factory.mktemp("findings") / "tiny"
    make_random_checkpoint(path, seed=0)
    multi = multi_task(path, torch.device("cpu"))
    return multi, random_heads(multi, seed=1234)


def test_random_heads_are_fresh_heads_on_the_trained_backbone(tiny_variants):
    multi, fresh = tiny_variants
    trained_model, random_model = multi.models[F.SPAN].model, fresh.models[F.SPAN].model
    assert random_model.backbone is trained_model.backbone
    assert set(random_model.heads) == set(trained_model.heads)
    for name, head in random_model.heads.items():
        old = dict(trained_model.heads[name].named_parameters())
        assert any(not torch.equal(p, old[n]) for n, p in head.named_parameters()), name
    # Seeded: the same control every run.
    again = random_heads(multi, seed=1234).models[F.SPAN].model.heads[F.SPAN]
    assert all(torch.equal(p, q) for p, q in zip(again.parameters(), random_model.heads[F.SPAN].parameters()))


DEGENERATE = ("whole passage", "every number", "copy the question", "first sentence")


def test_no_degenerate_baseline_shows_any_finding(test_split, tiny_variants):
    """Each degenerate baseline in the multi-task slot, against the other baselines and the random
    heads: the metrics must not mistake covering, listing, copying or leading for a finding."""
    _, fresh = tiny_variants
    numeric, yesno, steerable = F.numeric_examples(test_split), F.yesno_examples(test_split), F.steerable_examples(test_split)
    steerable = steerable[:12]  # the random summariser decodes: keep it short
    controls = {RANDOM_HEADS: (F.measure_numeric(fresh, numeric, [None] * len(numeric)), F.measure_yesno(fresh, yesno),
                               F.measure_qa_summary(fresh, steerable))}
    for b in baselines():
        controls[b.name] = (F.measure_numeric(b, numeric, [None] * len(numeric)), F.measure_yesno(b, yesno),
                            F.measure_qa_summary(b, steerable))
    for candidate in [b for b in baselines() if b.name in DEGENERATE]:
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
    # The answer sentence holds the answer, the steering sentence its own answer.
    assert following["answer_in_summary_with_question"] == [1.0] * len(examples)
    assert sum(following["answer_containment_gain"]) > 0.5 * len(examples)
    assert following["steer_answer_in_steered_summary"] == [1.0] * len(examples)
    assert sum(following["steer_containment_gain"]) > 0.5 * len(examples)

    # Always the steering sentence, whatever is asked: it sits there, it was not moved there.
    stays = F.measure_qa_summary(_Summariser(examples, lambda ex, q: ex.extra["steer_sentence"]), examples).values
    assert stays["steered"] == [0.0] * len(examples)
    assert stays["unasked_rouge_gain"] == [0.0] * len(examples)
    assert sum(stays["steer_gain_beyond_copy"]) < 0
    assert stays["answer_containment_gain"] == [0.0] * len(examples)
    assert stays["steer_containment_gain"] == [0.0] * len(examples)


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


def test_a_lexical_rule_writes_query_based_summaries_so_it_is_a_control(test_split):
    """The sentence most like the question, in the multi-task slot against the degenerate
    baselines, shows the summary finding: a summariser must beat it for the finding to be its own."""
    steerable = F.steerable_examples(test_split)
    by_name = {b.name: b for b in baselines()}
    measured = {MULTI_TASK: F.measure_qa_summary(by_name["question's sentence"], steerable)}
    measured |= {name: F.measure_qa_summary(by_name[name], steerable) for name in DEGENERATE}
    assert summarise(F.QA_SUMMARY, measured, n=len(steerable)).shown
