"""Long training contexts are cut to a window around their answer: the answer stays where its
offsets say, the window is no longer than asked, and nothing else changes."""
import random

import pytest

from model.example import Example, Span
from model.tokenizer import build_wordpiece_tokenizer
from training.config import DataConfig
from training.cropping import ContextCropper

SENTENCES = [f"Sentence number {i} talks about the river Rhine and its {i * 7} bridges." for i in range(30)]
CONTEXT = " ".join(SENTENCES)


@pytest.fixture(scope="module")
def tokenizer():
    return build_wordpiece_tokenizer(SENTENCES + ["Which bridges?"], vocab_size=300)


def squad_example(sentence: int, **extra) -> Example:
    answer = f"{sentence * 7} bridges"
    start = CONTEXT.index(SENTENCES[sentence]) + SENTENCES[sentence].index(answer)
    return Example(id=f"q{sentence}", setting="qa_summary", task="squad", context=CONTEXT, answer=answer,
                   answer_type="span", question="How many bridges?",
                   answer_spans=[Span(start, start + len(answer), answer)], extra=extra)


def context_tokens(tokenizer, text: str) -> int:
    return len(tokenizer(text, add_special_tokens=False)["input_ids"])


@pytest.mark.parametrize("answer_sentence", [0, 13, 29])
def test_cut_context_holds_the_answer_at_its_new_offsets(tokenizer, answer_sentence):
    cropper = ContextCropper(tokenizer, {"squad": 40})
    example = squad_example(answer_sentence, title="Rhine", answer_sentence=answer_sentence)
    for step in range(20):
        cut = cropper.crop_batch([example], step)[0]
        assert context_tokens(tokenizer, cut.context) <= 40 < context_tokens(tokenizer, CONTEXT)
        span = cut.answer_spans[0]
        assert cut.context[span.start:span.end] == example.answer  # Example itself checks this too
        start, end = cut.extra["cropped"]
        assert CONTEXT[start:end] == cut.context
        # whole words at both ends, and sentence indices that pointed into the whole context dropped
        assert start == 0 or not (CONTEXT[start - 1].isalnum() and CONTEXT[start].isalnum())
        assert end == len(CONTEXT) or not (CONTEXT[end - 1].isalnum() and CONTEXT[end].isalnum())
        assert cut.extra["title"] == "Rhine" and "answer_sentence" not in cut.extra


def test_windows_vary_with_the_step_and_repeat_for_the_same_step(tokenizer):
    cropper = ContextCropper(tokenizer, {"squad": 40}, seed=3)
    example = squad_example(15)
    windows = {tuple(cropper.crop_batch([example], step)[0].extra["cropped"]) for step in range(30)}
    assert len(windows) > 3  # the answer is not always at the same place in the window
    again = ContextCropper(tokenizer, {"squad": 40}, seed=3)
    assert [again.crop_batch([example], s)[0].context for s in range(5)] == \
           [cropper.crop_batch([example], s)[0].context for s in range(5)]


def test_other_tasks_short_contexts_and_unanswerable_windows_pass_unchanged(tokenizer):
    example = squad_example(5)
    assert ContextCropper(tokenizer, {"drop_span": 40}).crop(example, random.Random(0)) is example
    assert ContextCropper(tokenizer, {"squad": 10_000}).crop(example, random.Random(0)) is example
    # two answer spans further apart than the window: cutting would lose one
    first, last = squad_example(0).answer_spans[0], squad_example(29).answer_spans[0]
    spread = Example(id="s", setting="numeric", task="drop_spans", context=CONTEXT, answer="x", answer_type="spans",
                     question="Which?", answer_spans=[first, last])
    assert ContextCropper(tokenizer, {"drop_spans": 40}).crop(spread, random.Random(0)) is spread


def test_config_refuses_unknown_tasks_and_tiny_windows():
    with pytest.raises(ValueError, match="unknown tasks"):
        DataConfig(train_context_tokens={"squadd": 128})
    with pytest.raises(ValueError, match="at least 16"):
        DataConfig(train_context_tokens={"squad": 4})
