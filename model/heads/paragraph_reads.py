"""Reads for a yes/no that compares two entities (the classification head's `compare_reads`).

"Was A formed before B?", "Are A and B in the same country?": the answer needs one fact of each
entity, in the order the question names them. A HotpotQA context is one titled paragraph per
entity ("Title: sentence sentence ...", one line each; the synthetic data writes it the same way),
so this reads as a multi-hop reader does: find each named entity's paragraph, then the fact in it.

- **Which paragraphs**: each paragraph's title is matched against the question's tokens (cosine of
  centred hidden states; the same name in the question and in a title is the same tokens, so this
  needs no training). The best match is one compared entity; the other is the next best match, or
  the paragraph whose title the first one's text mentions (a hop: "Was the director of F born in
  C?" names F, whose paragraph names the director), whichever matches better; they are ordered by
  where the question names them, a hop's second. Learned queries do worse here:
  two reads queried by the question, supervised on the supporting sentences, learned in 150 steps
  to land on the relation's verb ("founded", "born") in every paragraph alike, 0.4 of each read
  inside its own sentence.
- **Which fact**: inside its paragraph, each read is an attention queried by the question's mean.
- **What the classifier compares** (`comparison_features`): how alike the two reads are and how
  much of their weight lies on the same words (the same country), how much lies on words the
  question says (the country a bridge question asks about), how well each paragraph matched, and
  the numbers of the sentences the reads land on (which year is earlier: a year is four digit
  tokens, and ordering two of them from hidden states is more than a head learns from a few
  hundred examples).
- **Which words count** (`comparison`): with "named_words", the shared and asked words are names:
  written capitalised somewhere in the passage other than a sentence's first word, no stop word,
  not a word of a paragraph's title (the compared entities' own names, which the question always
  says). Every paragraph says "was", "born", "in", "the band": with all words counted, two reads
  spread over their paragraphs (as untaught reads are) shared as much on a "no" as on a "yes"
  same-country question (0.016 and 0.015 of their weight, on the frozen pre-trained backbone), so
  the label had nothing to pull the reads toward the country by; counting names, a spread read
  already tells them apart, and the label's gradient sharpens it. The number gap is read as soon
  as both reads weigh any sentence with a number (its weight the smaller of the two), not only
  past half of their weight, which gave a spread read no gap and so no gradient toward the years.
  "all_words" (the default) counts every word: with reads supervised onto the compared values
  (the shipped presets) it is what their targets were measured with, and the quick preset with
  "named_words" answered yes/no 0.75 where it had 0.89 (docs/training.md).

Supervision (`read_targets`, `read_loss`): HotpotQA names the supporting sentence of each compared
fact (the synthetic examples carry them as `evidence_spans`, in the order the question names the
entities, and the compared values in them as `argument_spans`), so read r can be taught to put its
weight on value r, or inside sentence r. Off by default:
it teaches the backbone where evidence is, and the paper's second finding is that a span head
finds it unasked (configs/paper/ keep it off).
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any, Sequence

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from model.arithmetic import NUMBER
from model.encoding import SEG_CONTEXT, SEG_QUESTION
from model.heads.context_reads import input_softmax, weighted_read
from model.words import STOP_WORDS, WORD

# scales of the difference of the two reads' numbers: its sign, a gap of decades, of centuries
VALUE_SCALES = (3.0, 30.0, 300.0)
# how alike the two reads are, how well each paragraph's title matched the question, whether both
# reads landed on sentences with a number, the difference of those numbers at each scale, and how
# much of each read's weight lies on words of the question, and how much of both reads' on the same words
NUM_COMPARISON_FEATURES = 7 + len(VALUE_SCALES)
# which words the shared and asked features count (module doc, "Which words count")
COMPARISONS = ("named_words", "all_words")
_SENTENCE = re.compile(r"[^\n]*?(?:[.!?](?=\s|$)|$)")
_TITLE = re.compile(r"[^\n:]{1,80}:\s")


@dataclass
class Layout:
    """Where each context token sits in its passage's structure ([W, T] each, on the hidden
    states' device)."""

    paragraph: torch.Tensor  # index of the token's line in its context; -1 off the context
    title: torch.Tensor  # bool: the token is part of its paragraph's "Title:" prefix
    value: torch.Tensor  # the value of the first number of the token's sentence; NaN if it has none
    word: torch.Tensor  # which word of its context the token is part of, by its lower-cased text; -1 off the context
    asked: torch.Tensor  # bool: the token's word is also a word of the question
    named: torch.Tensor  # bool: the token's word is a name (module doc, "Which words count")

    @property
    def num_paragraphs(self) -> int:
        return int(self.paragraph.max().clamp_min(0)) + 1


def _structure(context: str) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, list[str], np.ndarray]:
    """Character ranges of a context's lines ([P, 2]), of their titles ([P, 2]; empty if a line
    has none), of its sentences with their first number ([S, 3]: start, end, value), and of its
    words with an id that is the same for the same lower-cased text ([K, 3]); the distinct
    lower-cased words, in the order of their ids; and which of them are names ([len(ids)] bool)."""
    lines, titles, sentences = [], [], []
    ids: dict[str, int] = {}
    words = [(m.start(), m.end(), ids.setdefault(m.group().lower(), len(ids))) for m in WORD.finditer(context)]
    capitalised, in_titles = set(), set()
    at = 0
    for line in context.split("\n"):
        lines.append((at, at + len(line)))
        title = _TITLE.match(line)
        titles.append((at, at + title.end()) if title else (at, at))
        if title:
            in_titles.update(m.group().lower() for m in WORD.finditer(title.group()))
        body = title.end() if title else 0
        for sentence in _SENTENCE.finditer(line):
            if sentence.group().strip():
                number = NUMBER.search(sentence.group())
                value = float(number.group().replace(",", "")) if number else np.nan
                sentences.append((at + sentence.start(), at + sentence.end(), value))
                # capitalised past a sentence's first word (the title is not part of it): "She",
                # "The" open sentences, a name stands anywhere
                words_in = list(WORD.finditer(line, max(sentence.start(), body), sentence.end()))
                capitalised.update(m.group().lower() for m in words_in[1:] if m.group()[0].isupper())
        at += len(line) + 1
    named = np.array([w in capitalised and len(w) > 2 and w not in STOP_WORDS and w not in in_titles for w in ids],
                     dtype=bool)
    return (np.array(lines, dtype=float), np.array(titles, dtype=float),
            np.array(sentences, dtype=float).reshape(-1, 3), np.array(words, dtype=np.int64).reshape(-1, 3), list(ids),
            named)


def layout(batch: Any) -> Layout:
    """Each context token's paragraph, title flag and sentence number (one host copy per batch),
    made on first use and kept on the batch (Head.prepare makes it before the hidden states exist)."""
    found = getattr(batch, _LAYOUT, None)
    if found is None:
        found = _layout_of(batch)
        setattr(batch, _LAYOUT, found)
    return found


_LAYOUT = "_layout"


def _layout_of(batch: Any) -> Layout:
    segments = batch.segments.cpu().numpy()
    starts = batch.offsets[..., 0].cpu().numpy()
    ends = batch.offsets[..., 1].cpu().numpy()
    paragraph = np.full(segments.shape, -1)
    title = np.zeros(segments.shape, dtype=bool)
    value = np.full(segments.shape, np.nan)
    word = np.full(segments.shape, -1)
    asked = np.zeros(segments.shape, dtype=bool)
    named = np.zeros(segments.shape, dtype=bool)
    structures = [_structure(c) for c in batch.contexts]
    question_words = [{m.group().lower() for m in WORD.finditer(q)} for q in batch.questions]
    words_asked = [np.array([text in question_words[i] for text in structure[4]], dtype=bool)
                   for i, structure in enumerate(structures)]
    for w, i in enumerate(batch.example_index.tolist()):
        lines, titles, sentences, words, _, names = structures[i]
        token = (segments[w] == SEG_CONTEXT) & (ends[w] > starts[w])
        line = (np.searchsorted(lines[:, 0], starts[w], side="right") - 1).clip(0)
        paragraph[w, token] = line[token]
        title[w] = token & (starts[w] < titles[line, 1])
        if len(sentences):
            sentence = (np.searchsorted(sentences[:, 0], starts[w], side="right") - 1).clip(0)
            value[w, token] = sentences[sentence[token], 2]
        if len(words):
            k = (np.searchsorted(words[:, 0], starts[w], side="right") - 1).clip(0)
            in_word = token & (starts[w] < words[k, 1])
            word[w, in_word] = words[k[in_word], 2]
            asked[w, in_word] = words_asked[i][words[k[in_word], 2]]
            named[w, in_word] = names[words[k[in_word], 2]]
    device = batch.segments.device
    return Layout(*(torch.from_numpy(a).to(device) for a in (paragraph, title, value, word, asked, named)))


class ParagraphReads(nn.Module):
    """Two reads per input: read r is an attention, queried by the question's mean, over the
    untitled tokens of the paragraph the question names r-th (module doc)."""

    def __init__(self, hidden: int):
        super().__init__()
        self.query = nn.Linear(hidden, hidden)
        self.key = nn.Linear(hidden, hidden)

    def forward(self, batch: Any, question: torch.Tensor, centre: torch.Tensor, where: Layout
                ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """(reads [n, 2, H], weights [W, 2, T], how well each read's paragraph matched [n, 2])."""
        hidden, example_index, n = batch.hidden, batch.example_index, batch.num_inputs
        chosen, match = _named_paragraphs(batch, centre, where)
        h = hidden.shape[-1]
        scores = torch.einsum("wh,wth->wt", self.query(question)[example_index], self.key(hidden)).float() / h ** 0.5
        keep = (where.paragraph[:, None, :] == chosen[example_index][..., None]) & ~where.title[:, None, :]
        weights = input_softmax(scores[:, None, :].expand(-1, 2, -1), keep, example_index, n)
        return weighted_read(hidden, weights, example_index, n), weights, match


@torch.no_grad()
def _named_paragraphs(batch: Any, centre: torch.Tensor, where: Layout) -> tuple[torch.Tensor, torch.Tensor]:
    """([n, 2] the two paragraphs compared, in the order the question names them; [n, 2] their
    match, a cosine): the paragraph whose title best matches the question, and the one that
    matches it next or is mentioned in the first's text. With one titled paragraph, both reads
    take it."""
    n, p = batch.num_inputs, where.num_paragraphs
    tokens = F.normalize(batch.hidden.float() - centre.float()[batch.example_index][:, None, :], dim=-1)
    in_title = where.title & (where.paragraph >= 0)
    slot = (batch.example_index[:, None] * p + where.paragraph.clamp_min(0))[in_title]
    titles = tokens.new_zeros((n * p, tokens.shape[-1])).index_add_(0, slot, tokens[in_title])
    titled = tokens.new_zeros(n * p).index_add_(0, slot, torch.ones_like(slot, dtype=tokens.dtype)) > 0
    titles = F.normalize(titles, dim=-1).view(n, p, -1)
    # the question is the same in every window of an input: compare with its first window's
    first_window = torch.full((n,), len(batch.example_index), device=tokens.device).scatter_reduce(
        0, batch.example_index, torch.arange(len(batch.example_index), device=tokens.device), "amin")
    question = tokens[first_window]  # [n, T, H]
    in_question = (batch.segments[first_window] == SEG_QUESTION) & batch.attention_mask[first_window].bool()
    similarity = torch.einsum("nph,nth->npt", titles, question).masked_fill(~in_question[:, None, :], -2.0)
    best = similarity.amax(-1)  # [n, P]
    # where the question first names it ("Of A and B, is A the older one?" names A twice): the
    # first question token that matches nearly as well as the best
    near = similarity >= best[..., None] - 0.05
    position = torch.where(near, torch.arange(near.shape[-1], device=near.device), near.shape[-1]).amin(-1)
    best = best.masked_fill(~titled.view(n, p), -2.0)
    first = best.argmax(-1)  # [n]
    # A hop, as in a bridge question ("Was the director of F born in C?" names F only): how well
    # each title matches a word in the best paragraph's own text ("directed by Kevin Keller").
    # The second read takes the paragraph the question names or the first one mentions, whichever
    # matches better, and a paragraph reached by the hop comes second.
    body = (where.paragraph == first[batch.example_index][:, None]) & ~where.title  # [W, T]
    mention = torch.einsum("wph,wth->wpt", titles[batch.example_index], tokens).masked_fill(~body[:, None, :], -2.0)
    hop = mention.new_full((n, p), -2.0).scatter_reduce(
        0, batch.example_index[:, None].expand(-1, p), mention.amax(-1), "amax")
    hop = hop.masked_fill(~titled.view(n, p), -2.0)
    second_match = torch.maximum(best, hop).scatter(1, first[:, None], -3.0)
    second = second_match.argmax(-1) if p > 1 else first
    by_hop = hop.gather(1, second[:, None])[:, 0] > best.gather(1, second[:, None])[:, 0]
    position = position.scatter(1, second[:, None], torch.where(by_hop, near.shape[-1] + 1, position.gather(
        1, second[:, None])[:, 0])[:, None])
    pair = torch.stack([first, second], dim=1)
    top = torch.stack([best.gather(1, first[:, None])[:, 0], second_match.gather(1, second[:, None])[:, 0]], dim=1)
    later = position.gather(1, pair[:, :1]) > position.gather(1, pair[:, 1:])
    order = torch.where(later, torch.tensor([1, 0], device=pair.device), torch.tensor([0, 1], device=pair.device))
    return pair.gather(1, order), top.gather(1, order).clamp_min(-1.0)


def comparison_features(batch: Any, reads: torch.Tensor, weights: torch.Tensor, match: torch.Tensor,
                        centre: torch.Tensor, where: Layout, comparison: str = "all_words") -> torch.Tensor:
    """[n, NUM_COMPARISON_FEATURES] (module doc); cosines around each input's mean token `centre`,
    since a contextual model's vectors share a large common direction (uncentred, any two reads
    had a cosine of 0.97-1.0). `comparison`: which words the shared and asked features count, and
    how the number gap is gated (COMPARISONS, module doc)."""
    if comparison not in COMPARISONS:
        raise ValueError(f"comparison must be one of {list(COMPARISONS)}, got {comparison!r}")
    named = comparison == "named_words"
    n = reads.shape[0]
    centred = F.normalize(reads.float() - centre.float()[:, None, :], dim=-1)
    alike = (centred[:, 0] * centred[:, 1]).sum(-1)
    example_index = batch.example_index
    # each read's weight on words the question also says: the country a bridge question asks about
    asked_words = where.asked & where.named if named else where.asked
    asked = (weights.float() * asked_words[:, None, :]).sum(-1)
    asked = asked.new_zeros((n, 2)).index_add_(0, example_index, asked)
    has_value = ~where.value.isnan()
    number_weight = (weights.double() * has_value[:, None, :]).sum(-1)  # [W, 2]
    weighted = (weights.double() * where.value.nan_to_num(0.0)[:, None, :]).sum(-1)
    mass = number_weight.new_zeros((n, 2)).index_add_(0, example_index, number_weight)
    value = number_weight.new_zeros((n, 2)).index_add_(0, example_index, weighted) / mass.clamp_min(1e-9)
    # the weight the two reads put on the same words: 1 for "South Korea" read twice, 0 for
    # "Canada" and "Mexico", and for "1917" and "1956" (whole words, not their shared digits)
    counted = where.word >= 0
    if named:
        counted = counted & where.named & ~where.asked  # a name the question says is not compared
    same = (where.word[:, :, None] == where.word[:, None, :]) & counted[:, :, None] & counted[:, None, :]
    shared = torch.einsum("wt,wtu,wu->w", weights[:, 0].float(), same.float(), weights[:, 1].float())
    shared = shared.new_zeros(n).index_add_(0, example_index, shared)
    if named:
        # as a share of the names each read weighs: a spread read's small weight on the country
        # still says "the same" as a sharp one's
        on_names = (weights.float() * counted[:, None, :]).sum(-1)
        on_names = on_names.new_zeros((n, 2)).index_add_(0, example_index, on_names)
        shared = (shared / (on_names[:, 0] * on_names[:, 1]).clamp_min(1e-6)).clamp(max=1.0)
        both = mass.amin(-1)
        gapped = (mass > 1e-3).all(-1)
    else:
        both = (mass > 0.5).all(-1).double()
        gapped = both > 0
    gap = torch.where(gapped, value[:, 0] - value[:, 1], torch.zeros_like(value[:, 0]))
    scaled = [torch.tanh(gap / s) for s in VALUE_SCALES]
    return torch.stack([alike.double(), match[:, 0].double(), match[:, 1].double(), both.double(), *scaled,
                        asked[:, 0].double(), asked[:, 1].double(), shared.double()], dim=-1).to(reads.dtype)


def read_targets(examples: Sequence[Any], batch: Any, reads: int = 2) -> torch.Tensor:
    """[W, reads, T] True on the context tokens of what read r of each input should read: the r-th
    compared value where the example names them (`argument_spans`: "Mexico" of "born in Monterrey,
    Mexico"), else its r-th supporting sentence (`evidence_spans`, as HotpotQA gives them); all
    False for an input with fewer than `reads` of either. A sentence alone left the reads of a
    "same country" question on "born", which says nothing about the country (docs/training.md, Knobs and their measured effect)."""
    segments = batch.segments.cpu().numpy()
    starts = batch.offsets[..., 0].cpu().numpy()
    ends = batch.offsets[..., 1].cpu().numpy()
    targets = np.zeros((segments.shape[0], reads, segments.shape[1]), dtype=bool)
    for w, i in enumerate(batch.example_index.tolist()):
        arguments = [s for s in examples[i].argument_spans if s.field == "context"]
        evidence = arguments if len(arguments) >= reads else [s for s in examples[i].evidence_spans
                                                                if s.field == "context"]
        if len(evidence) < reads:
            continue
        in_context = (segments[w] == SEG_CONTEXT) & (ends[w] > starts[w])
        for r, span in enumerate(evidence[:reads]):
            targets[w, r] = in_context & (starts[w] < span.end) & (ends[w] > span.start)
    return torch.from_numpy(targets).to(batch.hidden.device)


def read_loss(weights: torch.Tensor, targets: torch.Tensor, example_index: torch.Tensor,
              num_inputs: int) -> torch.Tensor | None:
    """Mean over supervised reads of -log(the read's weight on its target: its compared value or
    supporting sentence, read_targets). A read is supervised where its input has targets and the
    read can reach its own (a bridge question names one paragraph: its second read may be in
    another); None if none."""
    inside = (weights.float() * targets).sum(-1)  # [W, R]
    reachable = ((weights > 0) & targets).any(-1).float()
    mass = inside.new_zeros((num_inputs, inside.shape[1])).index_add_(0, example_index, inside)
    has = inside.new_zeros((num_inputs, inside.shape[1])).index_add_(0, example_index, reachable) > 0
    if not has.any():
        return None
    return -torch.log(mass[has].clamp_min(1e-6)).mean()


def compared_spans(weights: torch.Tensor, batch: Any, share: float = 0.25) -> list[list[dict[str, Any]]]:
    """What each read compared, as text a person can check: per input, per read, the run of
    adjacent tokens around the read's heaviest token that each hold at least `share` of its
    weight, widened to whole words ("South Korea", "1917"); score: the read's weight on the run.
    One host copy of the weights per batch."""
    weights = weights.float().cpu().numpy()
    starts = batch.offsets[..., 0].cpu().numpy()
    ends = batch.offsets[..., 1].cpu().numpy()
    windows = batch.example_index.tolist()
    out: list[list[dict[str, Any]]] = []
    for i, context in enumerate(batch.contexts):
        own = [w for w, ex in enumerate(windows) if ex == i]
        spans = []
        for r in range(weights.shape[1]):
            w = max(own, key=lambda v: weights[v, r].max())
            row = weights[w, r]
            first = last = int(row.argmax())
            bar = share * row[first]  # the row's maximum, taken once: a reduction per step was 0.5 ms per input
            while first > 0 and row[first - 1] >= bar:
                first -= 1
            while last + 1 < len(row) and row[last + 1] >= bar:
                last += 1
            start, end = int(starts[w, first]), int(ends[w, last])
            while start > 0 and context[start - 1].isalnum():
                start -= 1
            while end < len(context) and context[end].isalnum():
                end += 1
            spans.append({"text": context[start:end], "start": start, "end": end, "field": "context",
                          "score": float(row[first:last + 1].sum())})
        out.append(spans)
    return out
