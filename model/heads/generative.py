"""A small transformer decoder that cross-attends to the backbone's hidden states (GenBERT's
generative head, or a summariser). Its input and output embeddings are the backbone's word
embeddings (tied), and it decodes greedily in batches with a key/value cache.

With `copy: true` it is a pointer-generator (See et al., 2017): each step mixes the vocabulary
distribution with an attention over the input's tokens, so writing a token that stands in the
passage (a name, a digit, a whole news sentence; never the question's words) is one attention
away instead of something the output layer must learn token by token. On the quick preset's few thousand examples that is the
difference between a summariser that copies its sentence and one that has barely started
(docs/training.md, Knobs and their measured effect).

With `writes: expression` a number decoder writes the arithmetic ("24 - 17") instead of the number,
and the head evaluates it (model/expressions.py): the answer's text is the value and its
`expression` what the decoder wrote. With `copy_numbers` as well, its pointer chooses whole
numbers of the passage instead of digit tokens (model/heads/number_pointer.py)."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Sequence

import torch
import torch.nn.functional as F
from pydantic import BaseModel, ConfigDict, Field
from torch import nn

from model import expressions
from model.encoding import SEG_CONTEXT
from model.heads import number_pointer
from model.heads.base import Head, HeadBatch, register_head, supervised_cross_entropy
from model.tokenizer import decode_text

KV = tuple[torch.Tensor, torch.Tensor]
WRITES = ("text", "expression")


@dataclass
class _Memory:
    """What the decoder reads of its input: per-layer cross-attention keys/values, the mask of real
    positions, and (for copying) the states, token ids and which positions may be copied."""

    kv: list[KV]
    mask: torch.Tensor  # [N, 1, 1, M] for scaled_dot_product_attention
    states: torch.Tensor  # [N, M, H]
    copy_keys: torch.Tensor | None  # [N, M, H] the copy attention's keys (None: the head does not copy)
    ids: torch.Tensor  # [N, M]
    copy_mask: torch.Tensor  # [N, M]
    # [N, 2, M] the copyable tokens one and two positions before each position (-1: none), what copy
    # continuation matches the written tokens against (None: the head does not continue)
    preceding: torch.Tensor | None = None
    # where the passage's numbers start, for a head that points at whole numbers (copy_numbers);
    # copy_mask is then True exactly there
    numbers: number_pointer.PassageNumbers | None = None


@dataclass
class GenerativeOutput:
    logits: torch.Tensor | None = None  # [N, L, V] when teacher-forced (labels given)
    sequences: torch.Tensor | None = None  # [N, L] generated ids when no labels are given
    token_logprobs: torch.Tensor | None = None  # [N, L]
    loss: torch.Tensor | None = None
    # the passage numbers a pointing head chose among (copy_numbers), found once per batch
    numbers: number_pointer.PassageNumbers | None = None


class _Attention(nn.Module):
    def __init__(self, hidden: int, heads: int, dropout: float):
        super().__init__()
        if hidden % heads:
            raise ValueError(f"hidden size {hidden} is not divisible by {heads} attention heads")
        self.heads = heads
        # a module, not a float, so whoever sets the model's dropout (training.freezing) sets this too
        self.dropout = nn.Dropout(dropout)
        self.q = nn.Linear(hidden, hidden)
        self.kv = nn.Linear(hidden, 2 * hidden)
        self.out = nn.Linear(hidden, hidden)

    def _split(self, x: torch.Tensor) -> torch.Tensor:
        b, length, h = x.shape
        return x.view(b, length, self.heads, h // self.heads).transpose(1, 2)

    def keys_values(self, x: torch.Tensor) -> KV:
        k, v = self.kv(x).chunk(2, dim=-1)
        return self._split(k), self._split(v)

    def attend(self, x: torch.Tensor, kv: KV, mask: torch.Tensor | None = None, causal: bool = False) -> torch.Tensor:
        q = self._split(self.q(x))
        y = F.scaled_dot_product_attention(
            q, kv[0], kv[1], attn_mask=mask, is_causal=causal, dropout_p=self.dropout.p if self.training else 0.0
        )
        b, _, length, _ = y.shape
        return self.out(y.transpose(1, 2).reshape(b, length, -1))


class _DecoderLayer(nn.Module):
    def __init__(self, hidden: int, heads: int, ffn: int, dropout: float):
        super().__init__()
        self.norm_self, self.norm_cross, self.norm_ffn = nn.LayerNorm(hidden), nn.LayerNorm(hidden), nn.LayerNorm(hidden)
        self.self_attn = _Attention(hidden, heads, dropout)
        self.cross_attn = _Attention(hidden, heads, dropout)
        self.ffn = nn.Sequential(nn.Linear(hidden, ffn), nn.GELU(), nn.Linear(ffn, hidden))
        self.drop = nn.Dropout(dropout)

    def forward(self, x: torch.Tensor, memory_kv: KV, memory_mask: torch.Tensor, past: KV | None) -> tuple[torch.Tensor, KV]:
        h = self.norm_self(x)
        k, v = self.self_attn.keys_values(h)
        if past is not None:
            k, v = torch.cat([past[0], k], dim=2), torch.cat([past[1], v], dim=2)
        # With a cache the new positions see every earlier one, so no causal mask is needed;
        # teacher forcing (no cache, several positions) needs one.
        x = x + self.drop(self.self_attn.attend(h, (k, v), causal=past is None and x.shape[1] > 1))
        x = x + self.drop(self.cross_attn.attend(self.norm_cross(x), memory_kv, mask=memory_mask))
        x = x + self.drop(self.ffn(self.norm_ffn(x)))
        return x, (k, v)


class _CopyDistribution(nn.Module):
    """p(token) = p_gen * p_vocab(token) + (1 - p_gen) * attention mass on the input positions
    holding that token.

    With `continuation`, the copy attention also prefers the position that follows what was just
    written where the passage has it ("1 3" written, "1399" in the passage: the "9" after "13"),
    with one learned weight for a one-token and one for a two-token match. A plain pointer must
    learn from data to move along a number or a sentence one position per step; in the quick
    preset's 150 steps it did not ("1399" copied as "1888", "the gallery gallery").
    CopyNet's selective read (Gu et al., 2016) feeds the same information back through the state.

    With `coverage` (See et al., 2017), a position's score also carries a learned weight times how
    much attention it already got at earlier steps: without it the decoder wrote "1662 - 1662",
    copying the same number twice. Coverage sums the attention before its own correction, so a
    teacher-forced pass (a cumulative sum over steps) and greedy decoding (a running sum) agree."""

    def __init__(self, hidden: int, continuation: bool = False, coverage: bool = False):
        super().__init__()
        self.query, self.key = nn.Linear(hidden, hidden), nn.Linear(hidden, hidden)
        self.gate = nn.Linear(2 * hidden, 1)
        # starts as a prior to continue (e^4 for a two-token match), which training adjusts
        self.follow = nn.Parameter(torch.full((2,), 2.0)) if continuation else None
        # starts as a penalty for going back (e^-2 per unit of attention already spent there)
        self.revisit = nn.Parameter(torch.tensor(-2.0)) if coverage else None

    @staticmethod
    def preceding(memory_ids: torch.Tensor, memory_mask: torch.Tensor) -> torch.Tensor:
        """[N, 2, M] the tokens one and two positions before each memory position, -1 where there
        is none or it cannot be copied (so padding never matches); made once per input."""
        ids = memory_ids.masked_fill(~memory_mask, -1)
        return torch.stack([F.pad(ids, (1, 0), value=-1)[:, :-1], F.pad(ids, (2, 0), value=-1)[:, :-2]], 1)

    def continuation_bias(self, written: torch.Tensor, steps: int, preceding: torch.Tensor) -> torch.Tensor:
        """[N, steps, M] bias for the last `steps` of the decoder's inputs `written` [N, T] (BOS
        first): follow[0] where the previous position holds the last written token, + follow[1]
        where the one before also holds the token written before it (`preceding`: see above)."""
        padded = F.pad(written, (1, 0), value=-2)  # -2 never matches -1
        last, before = padded[:, -steps:], padded[:, -steps - 1:-1]  # [N, steps]
        one = preceding[:, None, 0, :] == last[:, :, None]
        two = one & (preceding[:, None, 1, :] == before[:, :, None])
        return self.follow[0] * one + self.follow[1] * two

    def log_probs(self, x: torch.Tensor, vocab_logits: torch.Tensor, memory: torch.Tensor, keys: torch.Tensor,
                  memory_ids: torch.Tensor, memory_mask: torch.Tensor, written: torch.Tensor | None = None,
                  spent: torch.Tensor | None = None, preceding: torch.Tensor | None = None
                  ) -> tuple[torch.Tensor, torch.Tensor]:
        """x [N, L, H] decoder states, vocab_logits [N, L, V], memory and its keys (`key(memory)`,
        made once per input rather than once per generated token) [N, M, H], memory_ids and
        memory_mask [N, M], written [N, T >= L] the decoder's input ids so far and `preceding(...)`
        (both for continuation), spent [N, M] the coverage of the steps before x's first (for
        decoding step by step)
        -> (log p [N, L, V] float32, the attention before coverage [N, L, M], to add to `spent`)."""
        scores, before = self._scores(x, keys, memory_mask, written, spent, preceding)
        # nan_to_num: an input with nothing to copy (no real token) gets no copy mass, not NaN.
        attention = scores.softmax(-1).nan_to_num(0.0)
        p_gen = self._p_gen(x, attention, memory)
        copied = torch.zeros_like(vocab_logits, dtype=torch.float32)
        copied.scatter_add_(2, memory_ids[:, None, :].expand(-1, x.shape[1], -1), attention)
        probs = p_gen * vocab_logits.float().softmax(-1) + (1 - p_gen) * copied
        return probs.clamp_min(1e-12).log(), before

    def pointer_log_probs(self, x: torch.Tensor, vocab_logits: torch.Tensor, memory: torch.Tensor, keys: torch.Tensor,
                          memory_mask: torch.Tensor, spent: torch.Tensor | None = None
                          ) -> tuple[torch.Tensor, torch.Tensor]:
        """As log_probs, but a memory position is an output of its own instead of adding to its
        token's probability: -> (log p [N, L, V + M], the attention before coverage [N, L, M]).
        memory_mask: the positions that may be chosen (model/heads/number_pointer.py)."""
        scores, before = self._scores(x, keys, memory_mask, None, spent, None)
        log_attention = scores.log_softmax(-1)
        # an input with no position to choose has all -inf scores (NaN after log_softmax): all -inf
        log_attention = torch.where(memory_mask[:, None, :], log_attention, float("-inf"))
        p_gen = self._p_gen(x, log_attention.exp(), memory)
        vocab = p_gen.clamp_min(1e-12).log() + vocab_logits.float().log_softmax(-1)
        return torch.cat([vocab, (1 - p_gen).clamp_min(1e-12).log() + log_attention], -1), before

    def _scores(self, x: torch.Tensor, keys: torch.Tensor, memory_mask: torch.Tensor, written: torch.Tensor | None,
                spent: torch.Tensor | None, preceding: torch.Tensor | None) -> tuple[torch.Tensor, torch.Tensor]:
        """The copy attention's scores [N, L, M] (-inf where memory_mask is False), with
        continuation and coverage, and the attention before coverage (detached)."""
        scores = (self.query(x) @ keys.transpose(1, 2) / x.shape[-1] ** 0.5).float()
        if self.follow is not None and written is not None:
            scores = scores + self.continuation_bias(written, x.shape[1], preceding)
        masked = ~memory_mask[:, None, :]
        scores = scores.masked_fill(masked, float("-inf"))
        before = scores.softmax(-1).nan_to_num(0.0).detach()
        if self.revisit is not None:
            earlier = before.cumsum(1) - before  # attention at this call's earlier steps
            coverage = earlier if spent is None else earlier + spent[:, None, :]
            scores = (scores + self.revisit * coverage).masked_fill(masked, float("-inf"))
        return scores, before

    def _p_gen(self, x: torch.Tensor, attention: torch.Tensor, memory: torch.Tensor) -> torch.Tensor:
        """[N, L, 1] the probability of writing from the vocabulary rather than copying."""
        context = attention.to(memory.dtype) @ memory  # what the copy attention reads
        return torch.sigmoid(self.gate(torch.cat([x, context], -1)).float())


class GeneratedText(BaseModel):
    """The decoded text, the mean per-token probability, tokens written, and whether it ended
    with EOS (false: cut at max_new_tokens)."""

    model_config = ConfigDict(extra="allow")
    text: str
    score: float
    num_tokens: int
    finished: bool
    expression: str | None = Field(None, description="what a `writes: expression` decoder wrote "
                                   "(\"24 - 17\"), whose value is the text; null for plain text")


def repeated_ngram_tokens(written: torch.Tensor, n: int, vocab_size: int) -> torch.Tensor:
    """[N, V] True for each token that would complete an n-gram its row has already written:
    after "... a b c ... a b", "c" is banned for n = 3."""
    rows, length = written.shape
    hits = torch.zeros((rows, vocab_size), dtype=torch.int32, device=written.device)
    starts = length - n + 1  # n-grams written so far that can end in a later token
    if starts <= 0:
        return hits.bool()
    # n-gram j matches when written[j : j + n - 1] equals the last n - 1 tokens; its last token,
    # written[j + n - 1], is then banned (scatter_add, so a row's repeated tokens all count)
    match = torch.ones((rows, starts), dtype=torch.int32, device=written.device)
    for k in range(n - 1):
        match &= (written[:, k : k + starts] == written[:, length - n + 1 + k : length - n + 2 + k]).int()
    return hits.scatter_add_(1, written[:, n - 1 :], match).bool()


@register_head("generative")
class GenerativeHead(Head):
    """config: num_layers (2), ffn_size (4 x hidden), max_target_tokens (32), copy (false: a plain
    decoder; true: a pointer-generator that can copy the input's tokens, which needs the batch's
    input_ids), copy_continuation (false; true: copying prefers to go on along the passage from
    what was just written), copy_coverage (false; true: copying avoids positions it already
    copied; both in _CopyDistribution), writes ("text": the answer itself; "expression": a number answer as the sum or
    difference of the passage's numbers, evaluated by the head), copy_numbers (false; true: with
    writes: expression, the pointer chooses whole passage numbers, model/heads/number_pointer.py), no_repeat_ngram (0: off; n: greedy
    decoding never writes the same n tokens twice, the usual rule for summaries)."""

    output_model = GeneratedText
    needs_tokenizer = True
    ties_embeddings = True
    generation_options = ("max_new_tokens",)
    # Two generated tokens run every decoder layer; more would only cost time.
    health_check_options = {"max_new_tokens": 2}

    def __init__(self, name, info, config, word_embeddings: nn.Embedding | None = None):
        hidden = info.hidden_size
        super().__init__(name, info, {"num_layers": 2, "ffn_size": 4 * hidden, "max_target_tokens": 32,
                                      "copy": False, "writes": "text", **config})
        cfg = self.config
        try:
            self.check_config(cfg)
        except ValueError as err:
            raise ValueError(f"head {name!r}: {err}") from None
        # Tied to the backbone's embeddings while training; a head replica, which never loads the
        # backbone, gets its own copy from the head file.
        self.word_embeddings = word_embeddings or nn.Embedding(info.vocab_size, hidden, padding_idx=info.pad_token_id)
        self.position_embeddings = nn.Embedding(int(cfg["max_target_tokens"]) + 1, hidden)
        self.embed_norm = nn.LayerNorm(hidden)
        self.drop = nn.Dropout(info.hidden_dropout_prob)
        self.layers = nn.ModuleList(
            _DecoderLayer(hidden, info.num_attention_heads, int(cfg["ffn_size"]), info.hidden_dropout_prob)
            for _ in range(int(cfg["num_layers"]))
        )
        self.final_norm = nn.LayerNorm(hidden)
        self.output_bias = nn.Parameter(torch.zeros(info.vocab_size))
        self.copier = _CopyDistribution(hidden, bool(cfg.get("copy_continuation")), bool(cfg.get("copy_coverage"))) \
            if cfg["copy"] else None
        # a pointed number enters the decoder as its passage state, read through this layer
        self.points = bool(cfg.get("copy_numbers"))
        self.number_input = nn.Linear(hidden, hidden) if self.points else None

    @classmethod
    def check_config(cls, config: dict[str, Any]) -> None:
        for flag in ("copy", "copy_continuation", "copy_coverage", "copy_numbers"):
            if not isinstance(config.get(flag, False), bool):
                raise ValueError(f"config.{flag} must be true or false, not {config[flag]!r}")
        for flag in ("copy_continuation", "copy_coverage", "copy_numbers"):
            if config.get(flag) and not config.get("copy"):
                raise ValueError(f"config.{flag} needs config.copy: true (it steers the copy attention)")
        if config.get("copy_numbers") and config.get("writes", "text") != "expression":
            raise ValueError("config.copy_numbers needs config.writes: expression (it points at the terms of a sum "
                             "or difference)")
        if config.get("copy_numbers") and config.get("copy_continuation"):
            raise ValueError("config.copy_numbers and config.copy_continuation exclude each other: a pointed "
                             "number is written whole, so there is no token to continue from; drop copy_continuation")
        no_repeat = config.get("no_repeat_ngram", 0)
        if isinstance(no_repeat, bool) or not isinstance(no_repeat, int) or no_repeat < 0 or no_repeat == 1:
            raise ValueError(f"config.no_repeat_ngram must be 0 (off) or a length of 2 or more, not {no_repeat!r}")
        writes = config.get("writes", "text")
        if writes not in WRITES:
            raise ValueError(f"config.writes: unknown value {writes!r}; valid values: {list(WRITES)}")

    def _embed(self, ids: torch.Tensor, start: int, points: torch.Tensor | None = None,
               memory: "_Memory | None" = None) -> torch.Tensor:
        """Token ids [N, L] -> decoder inputs; where `points` [N, L] is >= 0 the input is the
        pointed number instead, read from its passage state."""
        pos = torch.arange(start, start + ids.shape[1], device=ids.device)
        embedded = self.word_embeddings(ids)
        if points is not None and self.number_input is not None and memory is not None:
            states = memory.states.gather(1, points.clamp_min(0)[..., None].expand(-1, -1, memory.states.shape[-1]))
            embedded = torch.where(points[..., None] >= 0, self.number_input(states).to(embedded.dtype), embedded)
        return self.drop(self.embed_norm(embedded + self.position_embeddings(pos)[None]))

    def _memory(self, batch: HeadBatch) -> "_Memory":
        """Every window of an input, real tokens only, joined into one memory per input."""
        dtype = self.output_bias.dtype
        if self.copier is not None and batch.input_ids is None:
            raise ValueError(f"head {self.name!r} copies from its input and needs the batch's input_ids; "
                             "this batch was built without them")
        # a head that points at whole numbers chooses among number starts, not token ids
        copies_tokens = self.copier is not None and not self.points
        rows: list[list[torch.Tensor]] = [[] for _ in range(batch.num_inputs)]
        id_rows: list[list[torch.Tensor]] = [[] for _ in range(batch.num_inputs)]
        for w, ex_i in enumerate(batch.example_index.tolist()):
            real = batch.attention_mask[w].bool()
            rows[ex_i].append(batch.hidden[w][real])
            if copies_tokens:
                # Only the passage is copied: never [CLS]/[SEP], and never the question, so whatever a
                # question changes in a summary comes through the decoder's reading of the input
                # (the paper's emergent steering), not by pasting the question's words.
                copyable = real & (batch.segments[w] == SEG_CONTEXT)
                id_rows[ex_i].append(batch.input_ids[w][real].masked_fill(~copyable[real], -1))
        joined = [torch.cat(r) for r in rows]
        length = max(t.shape[0] for t in joined)
        memory = batch.hidden.new_zeros((len(joined), length, batch.hidden.shape[-1]), dtype=dtype)
        mask = torch.zeros((len(joined), length), dtype=torch.bool, device=batch.hidden.device)
        ids = torch.zeros((len(joined), length), dtype=torch.long, device=batch.hidden.device)
        copy_mask = torch.zeros_like(mask)
        for i, t in enumerate(joined):
            memory[i, : t.shape[0]] = t.to(dtype)
            mask[i, : t.shape[0]] = True
            if copies_tokens:
                row_ids = torch.cat(id_rows[i])
                ids[i, : t.shape[0]] = row_ids.clamp_min(0)
                copy_mask[i, : t.shape[0]] = row_ids >= 0
        numbers = None
        if self.points:
            numbers = number_pointer.passage_numbers(batch.attention_mask, batch.segments, batch.offsets,
                                                     batch.example_index, batch.contexts)
            copy_mask = numbers.starts(copy_mask.device)
        kv = [layer.cross_attn.keys_values(memory) for layer in self.layers]
        copy_keys = self.copier.key(memory) if self.copier is not None else None
        preceding = self.copier.preceding(ids, copy_mask) if self.copier is not None and self.copier.follow is not None \
            else None
        return _Memory(kv, mask[:, None, None, :], memory, copy_keys, ids, copy_mask, preceding, numbers)

    def _log_probs(self, x: torch.Tensor, memory: "_Memory", written: torch.Tensor | None = None,
                   spent: torch.Tensor | None = None) -> torch.Tensor:
        """Log-probabilities over the vocabulary (the copy mixture when the head copies); `written`
        [N, T]: the decoder's input ids so far, BOS first, whose last x.shape[1] fed x; `spent`:
        the copy coverage of earlier steps, updated in place (step-by-step decoding)."""
        h = self.final_norm(x)  # once: the vocabulary and the copy gate both read it
        logits = F.linear(h, self.word_embeddings.weight, self.output_bias)
        if self.copier is None:
            return logits.float().log_softmax(-1)
        if self.points:
            log_probs, attention = self.copier.pointer_log_probs(h, logits, memory.states, memory.copy_keys,
                                                                 memory.copy_mask, spent)
        else:
            log_probs, attention = self.copier.log_probs(h, logits, memory.states, memory.copy_keys, memory.ids,
                                                         memory.copy_mask, written, spent, memory.preceding)
        if spent is not None:
            spent += attention.sum(1)
        return log_probs

    def forward(self, batch: HeadBatch, labels: dict[str, torch.Tensor] | None = None,
                max_new_tokens: int | None = None) -> GenerativeOutput:
        memory = self._memory(batch)
        if labels is None:
            return self.generate(memory, max_new_tokens)
        x = self._embed(labels["decoder_input_ids"], 0, labels.get("decoder_input_points"), memory)
        for layer, kv in zip(self.layers, memory.kv):
            x, _ = layer(x, kv, memory.mask, None)
        # Log-probabilities are valid logits: cross-entropy over them is exactly -log p.
        out = GenerativeOutput(logits=self._log_probs(x, memory, labels["decoder_input_ids"]))
        out.loss = self.loss(out, labels)
        return out

    def loss(self, output: GenerativeOutput, labels: dict[str, torch.Tensor]) -> torch.Tensor:
        if "target_points" in labels:
            return number_pointer.pointer_loss(output.logits, labels["target_ids"], labels["target_points"])
        return supervised_cross_entropy(output.logits.flatten(0, 1), labels["target_ids"].flatten())

    @torch.no_grad()
    def generate(self, memory: "_Memory", max_new_tokens: int | None = None) -> GenerativeOutput:
        limit = min(int(max_new_tokens or self.config["max_target_tokens"]), int(self.config["max_target_tokens"]))
        n = memory.mask.shape[0]
        device = memory.mask.device
        token = bos = torch.full((n, 1), self.info.bos_token_id, dtype=torch.long, device=device)
        vocab_size = self.output_bias.shape[0]
        points = None  # [N, 1] the number the last step pointed at (-1: it wrote a token)
        if self.points:
            values = memory.numbers.values(device)
            used = torch.zeros(memory.copy_mask.shape, dtype=torch.bool, device=device)  # numbers already written
        finished = torch.zeros(n, dtype=torch.bool, device=device)
        past: list[KV | None] = [None] * len(self.layers)
        no_repeat = int(self.config.get("no_repeat_ngram", 0))
        covers = self.copier is not None and self.copier.revisit is not None
        spent = torch.zeros(memory.copy_mask.shape, dtype=torch.float32, device=device) if covers else None  # coverage so far
        ids, logprobs = [], []
        for step in range(limit):
            x = self._embed(token, step, points, memory)
            for i, (layer, kv) in enumerate(zip(self.layers, memory.kv)):
                x, past[i] = layer(x, kv, memory.mask, past[i])
            logp = self._log_probs(x[:, -1:], memory, torch.cat([bos, *ids], 1), spent)[:, 0]
            if self.points:
                logp[:, vocab_size:] = logp[:, vocab_size:].masked_fill(used, float("-inf"))
            if no_repeat and ids:
                logp = logp.masked_fill(repeated_ngram_tokens(torch.cat(ids, 1), no_repeat, logp.shape[-1]), float("-inf"))
            lp, token = logp.max(-1, keepdim=True)
            token = token.masked_fill(finished[:, None], self.info.pad_token_id)
            ids.append(token)  # >= vocab_size: a pointed number (copy_numbers)
            if self.points:
                pointed = token >= vocab_size
                points = torch.where(pointed, token - vocab_size, -1)
                used |= number_pointer.used_numbers(values, points[:, 0])
                token = token.masked_fill(pointed, self.info.pad_token_id)
            logprobs.append(lp.masked_fill(finished[:, None], 0.0))
            finished |= token[:, 0] == self.info.eos_token_id
            if bool(finished.all()):
                break
        return GenerativeOutput(sequences=torch.cat(ids, 1), token_logprobs=torch.cat(logprobs, 1), numbers=memory.numbers)

    def build_labels(self, examples: Sequence[Any], batch: HeadBatch, tokenizer=None) -> dict[str, torch.Tensor]:
        if tokenizer is None:
            raise ValueError(f"head {self.name!r}: building generative labels needs the tokenizer")
        limit = int(self.config["max_target_tokens"])
        written = expressions.example_target if self.config.get("writes") == "expression" else (lambda ex: ex.answer)
        device = batch.hidden.device
        if self.points:
            numbers = number_pointer.passage_numbers(batch.attention_mask, batch.segments, batch.offsets,
                                                     batch.example_index, batch.contexts)
            items = [number_pointer.target_items(written(ex), i, numbers, tokenizer)[: limit - 1]
                     for i, ex in enumerate(examples)]
            labels = number_pointer.labels_for(items, numbers.length, self.info.bos_token_id, self.info.eos_token_id,
                                               self.info.pad_token_id)
            return {k: v.to(device) for k, v in labels.items()}
        targets = [
            tokenizer(written(ex), add_special_tokens=False)["input_ids"][: limit - 1] + [self.info.eos_token_id]
            for ex in examples
        ]
        length = max(len(t) for t in targets)
        inputs = torch.full((len(targets), length), self.info.pad_token_id, dtype=torch.long)
        target_ids = torch.full((len(targets), length), -100, dtype=torch.long)
        for i, t in enumerate(targets):
            inputs[i, : len(t)] = torch.tensor([self.info.bos_token_id, *t[:-1]])
            target_ids[i, : len(t)] = torch.tensor(t)
        return {"decoder_input_ids": inputs.to(device), "target_ids": target_ids.to(device)}

    @torch.no_grad()
    def decode(self, output: GenerativeOutput, batch: HeadBatch, tokenizer=None) -> list[dict[str, Any]]:
        if tokenizer is None:
            raise ValueError(f"head {self.name!r}: decoding generated ids needs the tokenizer")
        results = []
        expression = self.config.get("writes") == "expression"
        numbers = output.numbers
        if self.points and numbers is None:
            raise ValueError(f"head {self.name!r} points at passage numbers; decode an output of its own generate()")
        for i, (seq, lps) in enumerate(zip(output.sequences.tolist(), output.token_logprobs.tolist())):
            n = seq.index(self.info.eos_token_id) + 1 if self.info.eos_token_id in seq else len(seq)
            mean_lp = sum(lps[:n]) / max(n, 1)
            text = decode_text(tokenizer, seq[:n]) if numbers is None else \
                number_pointer.written_text(seq[:n], self.output_bias.shape[0], numbers.texts[i], tokenizer)
            results.append({
                **(expressions.answer_of(text) if expression else {"text": text}),
                "score": float(torch.tensor(mean_lp).exp()),
                "num_tokens": n,
                "finished": self.info.eos_token_id in seq[:n],
            })
        return results
