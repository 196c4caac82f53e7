"""Whole passage numbers as single outputs of a decoder (`copy_numbers: true`).

A pointer over tokens copies a number digit by digit; with digits split, every "1" of the passage
is the same token, so after writing "1" the decoder no longer knows which number it was copying,
and the quick checkpoint wrote the second number wrongly or stopped after the operator. Here the
pointer chooses among the passage's numbers, as NAQANet chooses a sign for each: output index
`vocab_size + p` means "the number that starts at memory position p", and writing it emits the
whole number as the passage writes it ("1,580"). The vocabulary still writes what is not in the
passage (operators, a count).

The memory of a generative head is every window's real tokens of an input, joined in window order
(`GenerativeHead._memory`); `passage_numbers` walks the same order, so a position here is a
position there.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

import numpy as np
import torch

from model.arithmetic import NUMBER, parse_whole_number
from model.encoding import SEG_CONTEXT
from model.tokenizer import decode_text


@dataclass
class PassageNumbers:
    """Where each input's passage numbers start in its memory, and what they say."""

    texts: list[dict[int, str]]  # per input: memory position -> the number as written ("1,580")
    length: int  # the memory length M (the longest input's real tokens)

    def starts(self, device: torch.device | str = "cpu") -> torch.Tensor:
        """[N, M] True at positions a pointer may choose."""
        mask = torch.zeros((len(self.texts), self.length), dtype=torch.bool)
        for i, found in enumerate(self.texts):
            if found:
                mask[i, list(found)] = True
        return mask.to(device)

    def values(self, device: torch.device | str = "cpu") -> torch.Tensor:
        """[N, M] the value of the number starting at each position (NaN where none starts)."""
        values = torch.full((len(self.texts), self.length), float("nan"), dtype=torch.float64)
        for i, found in enumerate(self.texts):
            for position, text in found.items():
                values[i, position] = parse_whole_number(text)
        return values.to(device)

    def positions_of(self, input_index: int, number: str) -> list[int]:
        """Every position of the input whose number has the value of `number` (a window overlap
        repeats a number, and "1,580" is "1580"): any of them is the right pointer."""
        wanted = parse_whole_number(number)
        return [p for p, text in self.texts[input_index].items() if parse_whole_number(text) == wanted]


def used_numbers(values: torch.Tensor, pointed: torch.Tensor) -> torch.Tensor:
    """[N, M] True at every position holding the value of the position `pointed` [N] chose
    (-1: none chose): an expression uses each passage number once, wherever the windows repeat
    it. Without this rule the quick checkpoint wrote "408 - 408" and "1968 + 1968"."""
    chosen = values.gather(1, pointed.clamp_min(0)[:, None])
    return (values == chosen) & (pointed[:, None] >= 0)


def _numbers_by_start(context: str) -> dict[int, str]:
    """Character where each number of `context` starts (its first digit) -> the number without a
    sign, as the expression language writes its terms."""
    found = {}
    for match in NUMBER.finditer(context):
        text = match.group()
        found[match.start() + (1 if text.startswith("-") else 0)] = text.lstrip("-")
    return found


def passage_numbers(attention_mask: torch.Tensor, segments: torch.Tensor, offsets: torch.Tensor,
                    example_index: torch.Tensor, contexts: Sequence[str]) -> PassageNumbers:
    """The passage numbers of every input of a batch (a HeadBatch's fields), by memory position:
    a context token whose first character is where a number starts. One host copy per batch."""
    real = attention_mask.bool().cpu().numpy()
    in_context = segments.cpu().numpy() == SEG_CONTEXT
    starts = offsets[..., 0].cpu().numpy()
    by_start = [_numbers_by_start(c) for c in contexts]
    texts: list[dict[int, str]] = [{} for _ in contexts]
    filled = [0] * len(contexts)
    for w, i in enumerate(example_index.tolist()):
        tokens = np.flatnonzero(real[w])
        for k in np.flatnonzero(in_context[w, tokens]):
            number = by_start[i].get(int(starts[w, tokens[k]]))
            if number is not None:
                texts[i].setdefault(filled[i] + int(k), number)
        filled[i] += len(tokens)
    return PassageNumbers(texts, max(filled, default=0))


def target_items(target: str, input_index: int, numbers: PassageNumbers, tokenizer) -> list[int | list[int]]:
    """What the decoder learns to write for `target` ("1,580 - 1,158"): a number of the passage is
    one item, the list of memory positions that hold it (any is right); everything else (operators,
    a number the passage does not have) is vocabulary token ids."""
    items: list[int | list[int]] = []
    at = 0
    for match in NUMBER.finditer(target):
        number = match.group().lstrip("-")
        positions = numbers.positions_of(input_index, number)
        if not positions:
            continue  # written from the vocabulary with the text around it
        items.extend(_tokens(tokenizer, target[at : match.start() + len(match.group()) - len(number)]))
        items.append(positions)
        at = match.end()
    items.extend(_tokens(tokenizer, target[at:]))
    return items


def _tokens(tokenizer, text: str) -> list[int]:
    return tokenizer(text, add_special_tokens=False)["input_ids"] if text.strip() else []


def written_text(sequence: Sequence[int], vocab_size: int, numbers: dict[int, str], tokenizer) -> str:
    """A generated sequence (EOS and padding already cut) as text: vocabulary runs decoded as
    usual, a pointer as its number, joined by spaces ("1580 - 1158")."""
    pieces: list[str] = []
    run: list[int] = []
    for token in sequence:
        if token < vocab_size:
            run.append(token)
            continue
        if run:
            pieces.append(decode_text(tokenizer, run))
            run = []
        pieces.append(numbers.get(token - vocab_size, ""))
    if run:
        pieces.append(decode_text(tokenizer, run))
    return " ".join(p for p in pieces if p)


def labels_for(items_per_input: list[list[int | list[int]]], memory_length: int, bos_id: int, eos_id: int,
               pad_id: int) -> dict[str, torch.Tensor]:
    """Teacher-forcing tensors: decoder inputs (a pointed number enters as `decoder_input_points`,
    its id slot holding padding), vocabulary targets (-100 at a pointer step) and the pointer
    targets [N, L, M] (True at every position that holds the number)."""
    sequences = [[*items, eos_id] for items in items_per_input]
    length = max(len(s) for s in sequences)
    n = len(sequences)
    input_ids = torch.full((n, length), pad_id, dtype=torch.long)
    input_points = torch.full((n, length), -1, dtype=torch.long)
    target_ids = torch.full((n, length), -100, dtype=torch.long)
    target_points = torch.zeros((n, length, memory_length), dtype=torch.bool)
    for i, seq in enumerate(sequences):
        previous: int | list[int] = bos_id
        for t, item in enumerate(seq):
            if isinstance(previous, list):
                input_points[i, t] = previous[0]  # the state of one occurrence stands for the number
            else:
                input_ids[i, t] = previous
            if isinstance(item, list):
                target_points[i, t, item] = True
            else:
                target_ids[i, t] = item
            previous = item
    return {"decoder_input_ids": input_ids, "decoder_input_points": input_points, "target_ids": target_ids,
            "target_points": target_points}


def pointer_loss(log_probs: torch.Tensor, target_ids: torch.Tensor, target_points: torch.Tensor) -> torch.Tensor:
    """Mean over target steps of -log p(target), where a pointer target's probability is the sum
    over the positions that hold its number. log_probs [N, L, V + M]."""
    vocab = log_probs.shape[-1] - target_points.shape[-1]
    valid = torch.zeros_like(log_probs, dtype=torch.bool)
    has_token = target_ids >= 0
    valid[..., :vocab].scatter_(2, target_ids.clamp_min(0)[..., None], has_token[..., None])
    valid[..., vocab:] = target_points
    steps = valid.any(-1)
    nll = -torch.logsumexp(log_probs.masked_fill(~valid, float("-inf")), -1)
    return nll[steps].mean()

