"""Hidden states as they travel from the backbone to a head replica: NumPy, real tokens only.

NumPy arrays are read zero-copy from Ray's shared-memory object store; torch tensors would be
copied. Padding is dropped before storing (a batch padded to its longest window can be mostly
padding) and restored, left-aligned, by the head; heads ignore padded positions, so their outputs
do not depend on how much padding a batch had.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

import numpy as np
import torch

from model.heads import HeadBatch

DTYPES = {"float32": np.float32, "float16": np.float16}


@dataclass
class PackedHiddenStates:
    hidden: np.ndarray  # [N, H]: the real tokens of every window, window after window
    tokens_per_window: np.ndarray  # [W] int32
    offsets: np.ndarray  # [N, 2] int32 character offsets into the token's field
    segments: np.ndarray  # [N] int8 (encoding.SEG_*)
    example_index: np.ndarray  # [W] int32, input of each window, 0..num_inputs-1
    questions: list[str]
    contexts: list[str]
    input_ids: np.ndarray | None = None  # [N] int32 token ids (a copying generative head reads them)

    @property
    def num_inputs(self) -> int:
        return len(self.contexts)

    @property
    def nbytes(self) -> int:
        arrays = (self.hidden, self.tokens_per_window, self.offsets, self.segments, self.example_index, self.input_ids)
        return int(sum(a.nbytes for a in arrays if a is not None))


def pack(batch: HeadBatch, inputs: range, dtype: str = "float32") -> PackedHiddenStates:
    """The windows of `inputs` (a contiguous range of the batch's inputs), real tokens only."""
    example_index = batch.example_index.cpu()
    rows = ((example_index >= inputs.start) & (example_index < inputs.stop)).nonzero(as_tuple=True)[0]
    mask = batch.attention_mask.index_select(0, rows.to(batch.attention_mask.device)).bool()
    # Select on the backbone's device, then move only the real tokens to the host.
    hidden = batch.hidden.index_select(0, rows.to(batch.hidden.device))[mask.to(batch.hidden.device)]
    hidden_np = hidden.detach().to("cpu", dtype=getattr(torch, dtype)).numpy()
    mask_cpu = mask.cpu()
    offsets = batch.offsets.index_select(0, rows.to(batch.offsets.device)).cpu()[mask_cpu]
    segments = batch.segments.index_select(0, rows.to(batch.segments.device)).cpu()[mask_cpu]
    input_ids = None
    if batch.input_ids is not None:
        input_ids = batch.input_ids.index_select(0, rows.to(batch.input_ids.device)).cpu()[mask_cpu].numpy().astype(np.int32)
    return PackedHiddenStates(
        hidden=np.ascontiguousarray(hidden_np),
        tokens_per_window=mask_cpu.sum(1).numpy().astype(np.int32),
        offsets=offsets.numpy().astype(np.int32),
        segments=segments.numpy().astype(np.int8),
        example_index=(example_index[rows] - inputs.start).numpy().astype(np.int32),
        questions=list(batch.questions[inputs.start:inputs.stop]),
        contexts=list(batch.contexts[inputs.start:inputs.stop]),
        input_ids=input_ids,
    )


def unpack(
    parts: Sequence[tuple[PackedHiddenStates, Sequence[int]]],
    device: str | torch.device = "cpu",
    dtype: torch.dtype = torch.float32,
) -> tuple[HeadBatch, list[range]]:
    """One HeadBatch over the chosen inputs of several payloads (a head's batch of calls), and the
    range of batch inputs that belongs to each part, in order."""
    windows: list[tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray | None]] = []
    example_index: list[int] = []
    questions: list[str] = []
    contexts: list[str] = []
    ranges: list[range] = []
    for packed, chosen in parts:
        first = len(contexts)
        starts = np.concatenate([[0], np.cumsum(packed.tokens_per_window)]).astype(np.int64)
        windows_of: dict[int, list[int]] = {}
        for w, ex in enumerate(packed.example_index.tolist()):
            windows_of.setdefault(ex, []).append(w)
        for new_i, old_i in enumerate(chosen):
            if not 0 <= old_i < packed.num_inputs:
                raise IndexError(f"input {old_i} is not among the {packed.num_inputs} stored inputs")
            for w in windows_of.get(old_i, []):
                s, e = starts[w], starts[w + 1]
                ids = None if packed.input_ids is None else packed.input_ids[s:e]
                windows.append((packed.hidden[s:e], packed.offsets[s:e], packed.segments[s:e], ids))
                example_index.append(first + new_i)
            questions.append(packed.questions[old_i])
            contexts.append(packed.contexts[old_i])
        ranges.append(range(first, len(contexts)))
    if not windows:
        raise ValueError("nothing to unpack: no inputs were chosen")
    length = max(h.shape[0] for h, _, _, _ in windows)
    size = windows[0][0].shape[1]
    hidden = np.zeros((len(windows), length, size), dtype=windows[0][0].dtype)
    offsets = np.zeros((len(windows), length, 2), dtype=np.int64)
    segments = np.zeros((len(windows), length), dtype=np.int64)
    attention = np.zeros((len(windows), length), dtype=np.int64)
    with_ids = all(ids is not None for *_, ids in windows)
    input_ids = np.zeros((len(windows), length), dtype=np.int64)
    for w, (h, o, s, ids) in enumerate(windows):
        n = h.shape[0]
        hidden[w, :n], offsets[w, :n], segments[w, :n], attention[w, :n] = h, o, s, 1
        if with_ids:
            input_ids[w, :n] = ids
    batch = HeadBatch(
        hidden=torch.from_numpy(hidden).to(device=device, dtype=dtype),
        attention_mask=torch.from_numpy(attention).to(device),
        segments=torch.from_numpy(segments).to(device),
        offsets=torch.from_numpy(offsets).to(device),
        example_index=torch.tensor(example_index, dtype=torch.long, device=device),
        questions=questions,
        contexts=contexts,
        input_ids=torch.from_numpy(input_ids).to(device) if with_ids else None,
    )
    return batch, ranges
