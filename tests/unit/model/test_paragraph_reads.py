"""The compared reads of a yes/no head (`compare_reads`): the passage's paragraphs, titles and
sentence numbers, which paragraphs the question names and in what order, the features the
classifier compares, and the supervision that moves each read onto its supporting sentence."""
from __future__ import annotations

import math
import re

import pytest
import torch

from model import build_head
from model.encoding import SEG_CONTEXT, SEG_SPECIAL, encode
from model.example import Example
from model.heads.base import HeadBatch
from model.heads.classification import masked_mean
from model.heads.paragraph_reads import comparison_features, compared_spans, layout, read_loss, read_targets

from .conftest import span_of

# names the tiny test tokenizer has whole words for (conftest.TEXTS), as a real one has for most
CONTEXT = ("Anna: Anna was born in 1,580. She lived in Paris.\n"
           "Dover: Dover is a town.\n"
           "Bob: Bob was born in 1917.")
QUESTION = "Was Anna born before Bob?"
FIRST, SECOND = "Anna was born in 1,580.", "Bob was born in 1917."


def _example(evidence: list[str], question: str = QUESTION) -> Example:
    return Example(id="y", setting="multihop", task="hotpot_yesno", context=CONTEXT, question=question, answer="yes",
                   answer_type="yes", evidence_spans=[span_of(CONTEXT, e) for e in evidence])


def _batch(tokenizer, model, examples: list[Example]) -> HeadBatch:
    """Hidden states that stand for each token by itself (a fixed random vector per token id), as a
    pre-trained model's nearly do for a name: the same name in the question and in a title is the
    same tokens. A random transformer mixes its tokens too much to say that."""
    enc = encode(tokenizer, [e.question for e in examples], [e.context for e in examples], max_length=128,
                 stride=8, max_question_tokens=24)
    words = torch.nn.Embedding(len(tokenizer), model.info.hidden_size)
    torch.nn.init.normal_(words.weight, generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        return HeadBatch.from_encoding(enc, words(enc.input_ids))


def _text(batch: HeadBatch, window: int, mask: torch.Tensor) -> str:
    """The context characters the marked tokens of a window cover, from first to last."""
    tokens = mask.nonzero().flatten().tolist()
    context = batch.contexts[int(batch.example_index[window])]
    return context[int(batch.offsets[window, tokens[0], 0]):int(batch.offsets[window, tokens[-1], 1])]


def _centre(batch: HeadBatch) -> torch.Tensor:
    real = batch.attention_mask.bool() & (batch.segments != SEG_SPECIAL)
    return masked_mean(batch.hidden, real, batch.example_index, batch.num_inputs)


def test_the_layout_knows_paragraphs_titles_and_each_sentences_number(tokenizer, tiny_model):
    batch = _batch(tokenizer, tiny_model, [_example([])])
    where = layout(batch)
    assert where.num_paragraphs == 3
    assert _text(batch, 0, where.paragraph[0] == 2) == "Bob: Bob was born in 1917."
    assert _text(batch, 0, where.title[0] & (where.paragraph[0] == 0)) == "Anna:"
    # every token of a sentence carries the value of its first number ("1,580" is 1580); a
    # sentence without one, and every question token, carries none
    assert _text(batch, 0, where.value[0] == 1580.0) == "Anna: Anna was born in 1,580."
    assert _text(batch, 0, where.value[0] == 1917.0) == "Bob: Bob was born in 1917."
    assert where.value[0][batch.segments[0] != SEG_CONTEXT].isnan().all()
    assert where.value[0][where.paragraph[0] == 1].isnan().all()


@pytest.mark.parametrize("question, first, second", [
    (QUESTION, "Anna", "Bob"),
    ("Was Bob born before Anna?", "Bob", "Anna"),
    ("Of Bob and Anna, is Bob older?", "Bob", "Anna"),
])
def test_each_read_stays_in_the_paragraph_the_question_names_in_its_place(tokenizer, tiny_model, question, first,
                                                                            second):
    batch = _batch(tokenizer, tiny_model, [_example([], question)])
    head = build_head("yesno", "classification", tiny_model.info, {"labels": ["yes", "no"], "pooling": "compare_reads"})
    weights = head(batch).read_weights[0]
    assert _text(batch, 0, weights[0] > 0).startswith(f"{first} was born")
    assert _text(batch, 0, weights[1] > 0).startswith(f"{second} was born")
    assert weights.sum(-1).tolist() == pytest.approx([1.0, 1.0])


def test_a_bridge_question_hops_to_the_paragraph_the_first_one_mentions(tokenizer, tiny_model):
    """"Was the director of Anna born in Paris?" names Anna only; Anna's paragraph names Bob, so
    the second read is Bob's (not the distractor's), and its weight on "Paris" counts as asked."""
    context = ("Anna: Anna is a film. The film was directed by Bob.\n"
               "Dover: Dover is a town.\n"
               "Bob: Bob was born in Paris.")
    example = Example(id="b", setting="multihop", task="hotpot_yesno", context=context, answer="yes", answer_type="yes",
                      question="Was the director of Anna born in Paris?")
    batch = _batch(tokenizer, tiny_model, [example])
    head = build_head("yesno", "classification", tiny_model.info, {"labels": ["yes", "no"], "pooling": "compare_reads"})
    weights = head(batch).read_weights[0]
    assert _text(batch, 0, weights[0] > 0).startswith("Anna is a film")
    assert _text(batch, 0, weights[1] > 0) == "Bob was born in Paris."
    where = layout(batch)
    on_paris = torch.zeros_like(weights)[None]
    paris = context.index("Paris")
    on_paris[0, 1, (batch.offsets[0, :, 0] >= paris) & (batch.offsets[0, :, 1] <= paris + 5)
             & (batch.segments[0] == SEG_CONTEXT)] = 1.0
    on_paris[0, 0, where.paragraph[0] == 1] = 1.0  # the distractor's words: none of them asked
    on_paris = on_paris / on_paris.sum(-1, keepdim=True)
    features = comparison_features(batch, torch.randn(1, 2, batch.hidden.shape[-1]), on_paris, torch.ones(1, 2),
                                   _centre(batch), where)[0]
    assert features[7:9].tolist() == pytest.approx([0.0, 1.0])


def test_read_targets_mark_each_supporting_sentence_in_order(tokenizer, tiny_model):
    examples = [_example([FIRST, SECOND]), _example([SECOND])]
    batch = _batch(tokenizer, tiny_model, examples)
    targets = read_targets(examples, batch)
    assert _text(batch, 0, targets[0, 0]) == FIRST
    assert _text(batch, 0, targets[0, 1]) == SECOND
    assert not targets[1].any()  # one supporting sentence is not a comparison of two: no supervision


def test_read_targets_prefer_the_compared_values_where_the_example_names_them(tokenizer, tiny_model):
    example = _example([FIRST, SECOND])
    example.argument_spans = [span_of(CONTEXT, "1,580"), span_of(CONTEXT, "1917")]
    batch = _batch(tokenizer, tiny_model, [example])
    targets = read_targets([example], batch)
    assert [_text(batch, 0, targets[0, r]) for r in range(2)] == ["1,580", "1917"]


def test_the_answer_shows_what_each_read_compared_as_whole_words(tokenizer, tiny_model):
    example = _example([FIRST, SECOND])
    example.argument_spans = [span_of(CONTEXT, "1,580"), span_of(CONTEXT, "1917")]
    batch = _batch(tokenizer, tiny_model, [example])
    on_values = read_targets([example], batch).float()
    on_values[0, 0, on_values[0, 0].nonzero()[0]] = 3.0  # the heaviest token is the first digit
    spans = compared_spans(on_values / on_values.sum(-1, keepdim=True), batch)[0]
    assert [s["text"] for s in spans] == ["1,580", "1917"]
    assert all(CONTEXT[s["start"]:s["end"]] == s["text"] and s["score"] == pytest.approx(1.0) for s in spans)
    # and a head's decoded answer lists them, each a span of the passage
    head = build_head("yesno", "classification", tiny_model.info, {"labels": ["yes", "no"], "pooling": "compare_reads"})
    decoded = head.decode(head(batch), batch)[0]
    assert len(decoded["compared"]) == 2
    assert all(CONTEXT[s["start"]:s["end"]] == s["text"] for s in decoded["compared"])
    assert "compared" not in build_head("c", "classification", tiny_model.info, {"labels": ["yes", "no"]}).decode(
        head(batch), batch)[0]


def test_read_loss_is_small_inside_the_evidence_and_absent_without_it(tokenizer, tiny_model):
    examples = [_example([FIRST, SECOND])]
    batch = _batch(tokenizer, tiny_model, examples)
    targets = read_targets(examples, batch)
    inside = targets.float() / targets.sum(-1, keepdim=True)
    assert read_loss(inside, targets, batch.example_index, 1).item() == pytest.approx(0.0, abs=1e-5)
    spread = torch.ones_like(inside) / inside.shape[-1]
    assert read_loss(spread, targets, batch.example_index, 1).item() > 1.0
    assert read_loss(inside, torch.zeros_like(targets), batch.example_index, 1) is None
    # a read that cannot reach its sentence (it reads another paragraph) is not held to it
    assert read_loss(inside.flip(1), targets, batch.example_index, 1) is None


def test_the_number_gap_says_which_read_landed_on_the_larger_number(tokenizer, tiny_model):
    examples = [_example([FIRST, SECOND])]
    batch = _batch(tokenizer, tiny_model, examples)
    where = layout(batch)
    weights = read_targets(examples, batch).float()
    weights = weights / weights.sum(-1, keepdim=True)
    reads, match, centre = torch.randn(1, 2, batch.hidden.shape[-1]), torch.ones(1, 2), _centre(batch)

    def features(w: torch.Tensor) -> torch.Tensor:
        return comparison_features(batch, reads, w, match, centre, where)[0]

    ahead, behind = features(weights), features(weights.flip(1))
    assert ahead[3] == 1.0  # both reads landed on sentences with a number
    assert ahead[4] == pytest.approx(math.tanh((1580 - 1917) / 3)) and ahead[4] < 0 < behind[4]
    # a read on a sentence without a number gives no gap
    singer = torch.zeros_like(weights)
    singer[0, :, where.paragraph[0] == 1] = 1.0
    assert features(singer / singer.sum(-1, keepdim=True))[3:7].abs().sum() == 0


def test_the_shared_words_feature_reads_whole_words(tokenizer, tiny_model):
    """Two reads on the same word weigh 1; on two different numbers 0, though "1,580" and "1917"
    share digit tokens."""
    batch = _batch(tokenizer, tiny_model, [_example([])])
    where = layout(batch)
    reads, match, centre = torch.randn(1, 2, batch.hidden.shape[-1]), torch.ones(1, 2), _centre(batch)

    def on(first: str, second: str, skip: int = 0) -> torch.Tensor:
        weights = torch.zeros(1, 2, batch.hidden.shape[1])
        for r, (word, nth) in enumerate([(first, 0), (second, skip)]):
            start = [i for i in range(len(CONTEXT)) if CONTEXT.startswith(word, i)][nth]
            inside = (batch.offsets[0, :, 0] >= start) & (batch.offsets[0, :, 1] <= start + len(word))
            weights[0, r, inside & (batch.segments[0] == SEG_CONTEXT)] = 1.0
        weights = weights / weights.sum(-1, keepdim=True)
        return comparison_features(batch, reads, weights, match, centre, where, "all_words")[0, -1]

    assert on("born", "born", skip=1) == pytest.approx(1.0)
    assert on("1,580", "1917") == 0.0


COUNTRIES = ("Anna: Anna was born in Paris, France. She moved to Oslo.\n"
             "Bob: Bob was born in Lyon, France.\n"
             "Dover: Dover is a town in Chile.")


def _countries_batch(tokenizer, tiny_model, context: str = COUNTRIES) -> HeadBatch:
    example = Example(id="c", setting="multihop", task="hotpot_yesno", context=context, answer="yes",
                      answer_type="yes", question="Were Anna and Bob born in the same country?")
    return _batch(tokenizer, tiny_model, [example])


def _on_paragraphs(batch: HeadBatch, first: int, second: int) -> torch.Tensor:
    """Two reads spread evenly over the untitled words of two paragraphs, as reads nothing has
    taught yet are."""
    where = layout(batch)
    weights = torch.zeros(1, 2, batch.hidden.shape[1])
    for r, paragraph in enumerate((first, second)):
        weights[0, r, (where.paragraph[0] == paragraph) & ~where.title[0]] = 1.0
    return weights / weights.sum(-1, keepdim=True)


def test_names_are_capitalised_words_that_are_neither_titles_nor_sentence_openers(tokenizer, tiny_model):
    batch = _countries_batch(tokenizer, tiny_model)
    named = layout(batch).named[0]
    starts = batch.offsets[0, named, 0].tolist()
    words = {m.group() for m in re.finditer(r"\w+", COUNTRIES) if any(m.start() <= at < m.end() for at in starts)}
    # "Anna", "Bob", "Dover" are titles (the compared entities); "She" only opens a sentence
    assert words == {"Paris", "France", "Oslo", "Lyon", "Chile"}


def test_spread_reads_share_names_only_where_the_paragraphs_name_the_same_thing(tokenizer, tiny_model):
    """Every paragraph says "was born in": counted, those words made two spread reads share as much
    on a "no" as on a "yes". Counting names, the same country already shows before the reads are
    taught anything, and a read on a common word shares nothing."""
    batch = _countries_batch(tokenizer, tiny_model)
    where = layout(batch)
    reads, match, centre = torch.randn(1, 2, batch.hidden.shape[-1]), torch.ones(1, 2), _centre(batch)

    def shared(weights: torch.Tensor, comparison: str = "named_words") -> float:
        return float(comparison_features(batch, reads, weights, match, centre, where, comparison)[0, -1])

    same_country, other_country = _on_paragraphs(batch, 0, 1), _on_paragraphs(batch, 0, 2)
    # the chance that a name token of the first read and one of the second are the same word
    # (how many tokens each name takes depends on the test tokenizer's vocabulary)
    counted = where.named[0] & ~where.asked[0]
    first, second = (where.word[0][counted & (where.paragraph[0] == p)].tolist() for p in (0, 1))
    expected = sum(a == b for a in first for b in second) / (len(first) * len(second))
    assert expected > 0.0 and shared(same_country) == pytest.approx(expected)
    assert shared(other_country) == 0.0
    # with every word counted, the common words leave the two close together
    assert shared(same_country, "all_words") < 0.1 and shared(other_country, "all_words") > 0.0
    on_born = torch.zeros_like(same_country)
    born = [i for i in range(len(COUNTRIES)) if COUNTRIES.startswith("born", i)]
    for r, start in enumerate(born):
        on_born[0, r, (batch.offsets[0, :, 0] >= start) & (batch.offsets[0, :, 1] <= start + 4)
                & (batch.segments[0] == SEG_CONTEXT)] = 1.0
    assert shared(on_born) == 0.0 and shared(on_born, "all_words") == pytest.approx(1.0)


def test_a_spread_read_already_gives_a_number_gap(tokenizer, tiny_model):
    """Reads spread over paragraphs in which one sentence of two holds a year: the gap is read
    (and so the label can pull the reads toward the years); the older comparison read none below
    half of a read's weight on numbered sentences."""
    context = "Anna: Anna was born in 1917. She is a singer.\nBob: Bob was born in 1956. He is a painter."
    batch = _countries_batch(tokenizer, tiny_model, context)
    where = layout(batch)
    weights = _on_paragraphs(batch, 0, 1)
    reads, match, centre = torch.randn(1, 2, batch.hidden.shape[-1]), torch.ones(1, 2), _centre(batch)
    named = comparison_features(batch, reads, weights, match, centre, where, "named_words")[0]
    older = comparison_features(batch, reads, weights, match, centre, where, "all_words")[0]
    assert 0.0 < named[3] < 0.5 and named[4] == pytest.approx(math.tanh((1917 - 1956) / 3))
    assert older[3:7].abs().sum() == 0


def test_a_compare_reads_head_counts_every_word_unless_told_to_compare_names(tiny_model):
    """Every word is what the shipped presets' supervised reads were measured with, and what a
    checkpoint written before the choice existed was trained with."""
    config = {"labels": ["yes", "no"], "pooling": "compare_reads"}
    assert build_head("yesno", "classification", tiny_model.info, config).comparison == "all_words"
    named = build_head("yesno", "classification", tiny_model.info, {**config, "comparison": "named_words"})
    assert named.comparison == "named_words"


def test_supervised_reads_learn_to_land_on_the_supporting_sentences(tokenizer, tiny_model):
    """A few steps of the head alone on fixed hidden states: the reads' weight inside their
    supporting sentences grows (Anna's paragraph has a second sentence to avoid)."""
    examples = [_example([FIRST, SECOND]), _example([SECOND, FIRST], "Was Bob born before Anna?")]
    batch = _batch(tokenizer, tiny_model, examples)
    torch.manual_seed(0)
    head = build_head("yesno", "classification", tiny_model.info,
                      {"labels": ["yes", "no"], "pooling": "compare_reads", "supervise_reads": True})
    labels = head.build_labels(examples, batch)

    def inside() -> float:
        with torch.no_grad():
            weights = head(batch).read_weights
        return float((weights * labels["reads"]).sum(-1).min())

    before = inside()
    optimizer = torch.optim.Adam(head.parameters(), lr=1e-2)
    for _ in range(30):
        head(batch, labels).loss.backward()
        optimizer.step()
        optimizer.zero_grad()
    assert before < 0.8 < inside()


@pytest.mark.parametrize("config, message", [
    ({"pooling": "mean", "supervise_reads": True},
     r"supervise_reads needs a pooling with reads \(\['question_attention', 'compare_reads'\]\)"),
    ({"pooling": "compare_reads", "supervise_reads": "yes"}, "supervise_reads must be true or false"),
    ({"pooling": "compare_reads", "comparison": "names"},
     r"config.comparison: unknown value 'names'; valid: \['named_words', 'all_words'\]"),
    ({"pooling": "mean", "comparison": "named_words"}, "read by pooling 'compare_reads' only.*remove comparison"),
])
def test_a_bad_reads_config_names_the_fix(tiny_model, config, message):
    with pytest.raises(ValueError, match=message):
        build_head("yesno", "classification", tiny_model.info, {"labels": ["yes", "no"], **config})
