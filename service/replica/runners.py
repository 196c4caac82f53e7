"""The model work of each stage, without Ray: load once, then run whole batches of calls.

The Serve deployments (deployments.py) only queue calls into these and move results around; the
same runners serve the colocated placement (heads inside the backbone process) and tests.
"""
from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Iterable, Sequence

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

    @torch.no_grad()
    def run(self, batch: HeadBatch, options: HeadOptions) -> list[dict]:
        """One output per input of `batch`."""
        kwargs = self.head.forward_options(options.model_dump())
        raw = self.head(batch, **kwargs)
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


class BackboneRunner:
    """The backbone and tokenizer, plus the heads placed in the same process."""

    def __init__(self, ckpt_dir: str | Path, manifest: Manifest, colocated: Iterable[str],
                 device: str = "cpu", hidden_dtype: str = "float32"):
        """`colocated`: the names of the heads to run in this process."""
        self.manifest, self.device, self.hidden_dtype = manifest, device, hidden_dtype
        self.tokenizer = load_tokenizer(ckpt_dir, manifest)
        self.model = load_backbone(ckpt_dir, manifest).to(device).eval()
        embeddings = self.model.get_input_embeddings()
        # Colocated heads that tie embeddings read the backbone's own (as in training) rather than
        # holding a second copy; the head file's copy is identical, its fingerprint says so.
        self.heads = {
            name: HeadRunner.load(ckpt_dir, manifest, name, device, word_embeddings=embeddings, tokenizer=self.tokenizer)
            for name in colocated
        }
        self.forward_passes = 0

    @torch.no_grad()
    def run(self, calls: Sequence[EncodeCall]) -> list[EncodedCall]:
        """One tokenisation and ONE forward pass for all the calls' inputs together."""
        questions = [q for c in calls for q in c.questions]
        contexts = [x for c in calls for x in c.contexts]
        ranges, start = [], 0
        for c in calls:
            ranges.append(range(start, start + len(c.contexts)))
            start += len(c.contexts)
        enc = self._encode(questions, contexts)
        hidden = self.model(**enc.model_inputs()).last_hidden_state
        self.forward_passes += 1
        batch = HeadBatch.from_encoding(enc, hidden)
        colocated = self._run_colocated(calls, ranges, batch)
        return [
            EncodedCall(
                packed=pack(batch, r, self.hidden_dtype) if c.keep_hidden else None,
                windows_per_input=enc.windows_per_input[r.start:r.stop],
                question_truncated=enc.question_truncated[r.start:r.stop],
                colocated=colocated[i],
            )
            for i, (c, r) in enumerate(zip(calls, ranges))
        ]

    @torch.no_grad()
    def self_test(self) -> None:
        """Raise health.UnhealthyModel when the backbone or a colocated head answers a canned input
        with NaN or inf. Not counted in forward_passes: that counts the passes requests cost."""
        enc = self._encode([CANNED_QUESTION], [CANNED_CONTEXT])
        hidden = self.model(**enc.model_inputs()).last_hidden_state
        require_finite("backbone", hidden)
        batch = HeadBatch.from_encoding(enc, hidden)
        for runner in self.heads.values():
            runner.self_test(batch)

    def _encode(self, questions: Sequence[str], contexts: Sequence[str]) -> Encoding:
        cfg = self.manifest.encoding
        return encode(self.tokenizer, list(questions), list(contexts), max_length=cfg.max_length, stride=cfg.stride,
                      max_question_tokens=cfg.max_question_tokens).to(self.device)

    def _run_colocated(self, calls: Sequence[EncodeCall], ranges: list[range], batch: HeadBatch) -> list[list[HeadReply]]:
        replies: list[list[HeadReply | None]] = [[None] * len(c.colocated) for c in calls]
        # (head, options) -> [(call, request slot, global input indices)]: one head pass per key.
        groups: dict[tuple[str, HeadOptions], list[tuple[int, int, list[int]]]] = {}
        for ci, (call, r) in enumerate(zip(calls, ranges)):
            for slot, req in enumerate(call.colocated):
                runner = self.heads.get(req.head)
                if runner is None:
                    replies[ci][slot] = HeadReply(error=f"head {req.head!r} is not colocated with this backbone")
                    continue
                groups.setdefault((req.head, req.options), []).append((ci, slot, [r.start + i for i in req.inputs]))
        for (head, options), members in groups.items():
            chosen = [i for _, _, idx in members for i in idx]
            try:
                sub = batch if chosen == list(range(batch.num_inputs)) else batch.select(chosen)
                outputs = self.heads[head].run(sub, options)
            except Exception as err:
                log.exception("colocated head %s failed on requests %s", head, [calls[ci].request_id for ci, _, _ in members])
                for ci, slot, _ in members:
                    replies[ci][slot] = HeadReply(error=f"head {head!r} raised {type(err).__name__}")
                continue
            at = 0
            for ci, slot, idx in members:
                replies[ci][slot] = HeadReply(outputs=outputs[at:at + len(idx)])
                at += len(idx)
        return [[r if r is not None else HeadReply(error="no reply") for r in row] for row in replies]
