"""The model work of each stage, without Ray: load once, then run whole batches of calls.

The Serve deployments (deployments.py) only queue calls into these and move results around; the
same runners serve the colocated placement (heads inside the backbone process) and tests.
"""
from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterable, Sequence

import torch

from service.pipeline.calls import EncodeCall, HeadOptions, HeadReply
from service.replica.health import CANNED_CONTEXT, CANNED_QUESTION, canned_head_batch, require_finite
from service.replica.payload import PackedHiddenStates, pack, unpack
from model.checkpoint import Manifest, load_backbone, load_head, load_tokenizer
from model.encoding import Encoding, encode
from model.heads import Head, HeadBatch
from model.heads.decoding import single_threaded

log = logging.getLogger("wiyh.service")


class HeadRunner:
    """One head, loaded from its own file, turning hidden states into readable outputs."""

    def __init__(self, name: str, head: Head, tokenizer=None, device: str = "cpu"):
        self.name, self.head, self.tokenizer, self.device = name, head.eval(), tokenizer, device
        self.kind = head.kind

    @classmethod
    def load(cls, ckpt_dir: str | Path, manifest: Manifest, name: str, device: str = "cpu",
             word_embeddings: torch.nn.Embedding | None = None, tokenizer=None) -> "HeadRunner":
        """Only this head's file (and the tokenizer when its kind decodes token ids)."""
        head = load_head(ckpt_dir, name, manifest, word_embeddings=word_embeddings).to(device)
        if head.needs_tokenizer and tokenizer is None:
            tokenizer = load_tokenizer(ckpt_dir, manifest)
        return cls(name, head, tokenizer, device)

    def run(self, batch: HeadBatch, options: HeadOptions) -> list[dict]:
        """One output per input of `batch`."""
        return self.decode(self.forward(batch, options), batch)

    @torch.no_grad()
    def forward(self, batch: HeadBatch, options: HeadOptions) -> Any:
        """The head's raw outputs: tensors (or generated ids), still on the model's device."""
        return self.head(batch, **self.head.forward_options(options.model_dump()))

    @torch.no_grad()
    def decode(self, raw: Any, batch: HeadBatch) -> list[dict]:
        """Raw outputs to readable ones (spans, labels, text): host work, no model weights."""
        with single_threaded(self.device):
            return self.head.decode(raw, batch, self.tokenizer)

    @torch.no_grad()
    def self_test(self, batch: HeadBatch | None = None) -> None:
        """Raise health.UnhealthyModel when the head's raw outputs on a canned input hold NaN or inf.

        `batch`: real hidden states when the caller has a backbone (colocated heads); a head
        replica has none and uses fixed synthetic ones."""
        if batch is None:
            dtype = next(self.head.parameters()).dtype
            batch = canned_head_batch(self.head.info.hidden_size, self.device, dtype)
        require_finite(f"head {self.name!r}", self.head(batch, **self.head.health_check_options))

    def run_packed(self, calls: Sequence[tuple[PackedHiddenStates, list[int], HeadOptions]],
                   request_ids: Sequence[str] = ()) -> list[HeadReply]:
        """A head replica's batch: the calls of several requests, one forward per distinct options."""
        replies: list[HeadReply | None] = [None] * len(calls)
        groups: dict[HeadOptions, list[int]] = {}
        for i, (_, _, options) in enumerate(calls):
            groups.setdefault(options, []).append(i)
        for options, members in groups.items():
            try:
                batch, ranges = unpack([(calls[i][0], calls[i][1]) for i in members], device=self.device)
                outputs = self.run(batch, options)
            except Exception as err:  # one failing group must not take the other groups down
                log.exception("head %s failed on requests %s", self.name, [request_ids[i] for i in members if i < len(request_ids)])
                for i in members:
                    replies[i] = HeadReply(error=f"head {self.name!r} raised {type(err).__name__}")
                continue
            for i, span in zip(members, ranges):
                replies[i] = HeadReply(outputs=outputs[span.start:span.stop])
        return [r if r is not None else HeadReply(error="no reply") for r in replies]


@dataclass
class EncodedCall:
    """The backbone's answer to one call, before the hidden states are stored."""

    packed: PackedHiddenStates | None
    windows_per_input: list[int]
    question_truncated: list[bool]
    colocated: list[HeadReply]


@dataclass
class HeadGroup:
    """One colocated head pass: a head and its options over the inputs of several calls."""

    head: str
    options: HeadOptions
    members: list[tuple[int, int, list[int]]]  # (call, request slot, input indices in the batch)
    batch: HeadBatch | None = None  # the windows of the members' inputs, once forward() ran
    raw: Any = None  # the head's raw outputs on them
    error: str | None = None


@dataclass
class PreparedBatch:
    """A batch of calls tokenised and prepared for its heads (Head.prepare), with the colocated
    head passes it asks for; `batch.hidden` is filled in by forward()."""

    calls: Sequence[EncodeCall]
    ranges: list[range]  # each call's inputs in the batch
    encoding: Encoding
    batch: HeadBatch
    groups: list[HeadGroup]
    replies: list[list[HeadReply | None]]  # filled in by finish(); refusals filled in at once


class BackboneRunner:
    """The backbone and tokenizer, plus the heads placed in the same process.

    A batch goes through three steps that touch different things, so that a process can run them
    in three threads, one batch each, side by side (backbone_batches.py):

        prepare()  tokenise (the tokenizer's own, used by no other step), and the heads' work on
                   the inputs alone (Head.prepare: word edges, a passage's sentences)
        forward()  the backbone and the colocated heads' raw outputs (the model's weights)
        finish()   decode raw outputs to spans, labels and text; pack hidden states for head replicas

    run() does all three in turn."""

    def __init__(self, ckpt_dir: str | Path, manifest: Manifest, colocated: Iterable[str],
                 device: str = "cpu", hidden_dtype: str = "float32"):
        """`colocated`: the names of the heads to run in this process."""
        self.manifest, self.device, self.hidden_dtype = manifest, device, hidden_dtype
        # Two tokenizers: a fast tokenizer is not safe to call from two threads at once (a Rust
        # borrow error), and prepare() encodes while finish() decodes another batch's text.
        self.tokenizer = load_tokenizer(ckpt_dir, manifest)
        decoding_tokenizer = load_tokenizer(ckpt_dir, manifest)
        self.model = load_backbone(ckpt_dir, manifest).to(device).eval()
        embeddings = self.model.get_input_embeddings()
        # Colocated heads that tie embeddings read the backbone's own (as in training) rather than
        # holding a second copy; the head file's copy is identical, its fingerprint says so.
        self.heads = {
            name: HeadRunner.load(ckpt_dir, manifest, name, device, word_embeddings=embeddings, tokenizer=decoding_tokenizer)
            for name in colocated
        }
        # Encoded once: the health check then runs the model alone, in whichever thread calls it.
        self._canned = self._encode([CANNED_QUESTION], [CANNED_CONTEXT])
        self.forward_passes = 0

    def run(self, calls: Sequence[EncodeCall]) -> list[EncodedCall]:
        """One tokenisation and ONE forward pass for all the calls' inputs together."""
        return self.finish(self.forward(self.prepare(calls)))

    def prepare(self, calls: Sequence[EncodeCall]) -> PreparedBatch:
        questions = [q for c in calls for q in c.questions]
        contexts = [x for c in calls for x in c.contexts]
        ranges, start = [], 0
        for c in calls:
            ranges.append(range(start, start + len(c.contexts)))
            start += len(c.contexts)
        replies: list[list[HeadReply | None]] = [[None] * len(c.colocated) for c in calls]
        # (head, options) -> one head pass over every call's inputs that ask for it.
        groups: dict[tuple[str, HeadOptions], HeadGroup] = {}
        for ci, (call, r) in enumerate(zip(calls, ranges)):
            for slot, req in enumerate(call.colocated):
                if req.head not in self.heads:
                    replies[ci][slot] = HeadReply(error=f"head {req.head!r} is not colocated with this backbone")
                    continue
                group = groups.setdefault((req.head, req.options), HeadGroup(req.head, req.options, []))
                group.members.append((ci, slot, [r.start + i for i in req.inputs]))
        enc = self._encode(questions, contexts)
        batch = HeadBatch.from_encoding(enc, None)  # type: ignore[arg-type]  # the hidden states come in forward()
        prepared_heads: dict[str, str | None] = {}  # head -> what its prepare() raised
        for group in groups.values():
            if group.head not in prepared_heads:
                try:
                    self.heads[group.head].head.prepare(batch)
                    prepared_heads[group.head] = None
                except Exception as err:  # that head's requests fail, not the batch
                    prepared_heads[group.head] = self._failed(group, calls, err)
            group.error = prepared_heads[group.head]
        return PreparedBatch(calls, ranges, enc, batch, list(groups.values()), replies)

    @torch.no_grad()
    def forward(self, prepared: PreparedBatch) -> PreparedBatch:
        batch = prepared.batch
        batch.hidden = self.model(**prepared.encoding.model_inputs()).last_hidden_state
        self.forward_passes += 1
        for group in prepared.groups:
            if group.error is not None:
                continue
            try:
                group.batch = self._inputs_of(group, batch)
                group.raw = self.heads[group.head].forward(group.batch, group.options)
            except Exception as err:  # one failing head must not take the batch down
                group.error = self._failed(group, prepared.calls, err)
        return prepared

    def finish(self, prepared: PreparedBatch) -> list[EncodedCall]:
        batch, enc, replies = prepared.batch, prepared.encoding, prepared.replies
        for group in prepared.groups:
            outputs: list[dict] = []
            if group.error is None:
                try:
                    outputs = self.heads[group.head].decode(group.raw, group.batch)
                except Exception as err:
                    group.error = self._failed(group, prepared.calls, err)
            group.batch = group.raw = None  # not needed past here
            at = 0
            for ci, slot, idx in group.members:
                replies[ci][slot] = (HeadReply(error=group.error) if group.error is not None
                                     else HeadReply(outputs=outputs[at:at + len(idx)]))
                at += len(idx)
        return [
            EncodedCall(
                packed=pack(batch, r, self.hidden_dtype) if c.keep_hidden else None,
                windows_per_input=enc.windows_per_input[r.start:r.stop],
                question_truncated=enc.question_truncated[r.start:r.stop],
                colocated=[reply if reply is not None else HeadReply(error="no reply") for reply in replies[i]],
            )
            for i, (c, r) in enumerate(zip(prepared.calls, prepared.ranges))
        ]

    @torch.no_grad()
    def self_test(self) -> None:
        """Raise health.UnhealthyModel when the backbone or a colocated head answers a canned input
        with NaN or inf. Not counted in forward_passes: that counts the passes requests cost."""
        hidden = self.model(**self._canned.model_inputs()).last_hidden_state
        require_finite("backbone", hidden)
        batch = HeadBatch.from_encoding(self._canned, hidden)
        for runner in self.heads.values():
            runner.self_test(batch)

    def _encode(self, questions: Sequence[str], contexts: Sequence[str]) -> Encoding:
        cfg = self.manifest.encoding
        return encode(self.tokenizer, list(questions), list(contexts), max_length=cfg.max_length, stride=cfg.stride,
                      max_question_tokens=cfg.max_question_tokens).to(self.device)

    @staticmethod
    def _inputs_of(group: HeadGroup, batch: HeadBatch) -> HeadBatch:
        chosen = [i for _, _, idx in group.members for i in idx]
        return batch if chosen == list(range(batch.num_inputs)) else batch.select(chosen)

    @staticmethod
    def _failed(group: HeadGroup, calls: Sequence[EncodeCall], err: Exception) -> str:
        log.exception("colocated head %s failed on requests %s", group.head, [calls[ci].request_id for ci, _, _ in group.members])
        return f"head {group.head!r} raised {type(err).__name__}"
