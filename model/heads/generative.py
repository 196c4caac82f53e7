"""A small transformer decoder that cross-attends to the backbone's hidden states (GenBERT's
generative head, or a summariser). Its input and output embeddings are the backbone's word
embeddings (tied), and it decodes greedily in batches with a key/value cache."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Sequence

import torch
import torch.nn.functional as F
from pydantic import BaseModel, ConfigDict
from torch import nn

from model.heads.base import Head, HeadBatch, register_head
from model.tokenizer import decode_text

KV = tuple[torch.Tensor, torch.Tensor]


@dataclass
class GenerativeOutput:
    logits: torch.Tensor | None = None  # [N, L, V] when teacher-forced (labels given)
    sequences: torch.Tensor | None = None  # [N, L] generated ids when no labels are given
    token_logprobs: torch.Tensor | None = None  # [N, L]
    loss: torch.Tensor | None = None


class _Attention(nn.Module):
    def __init__(self, hidden: int, heads: int, dropout: float):
        super().__init__()
        if hidden % heads:
            raise ValueError(f"hidden size {hidden} is not divisible by {heads} attention heads")
        self.heads, self.dropout = heads, dropout
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
            q, kv[0], kv[1], attn_mask=mask, is_causal=causal, dropout_p=self.dropout if self.training else 0.0
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


class GeneratedText(BaseModel):
    """The decoded text, the mean per-token probability, tokens written, and whether it ended
    with EOS (false: cut at max_new_tokens)."""

    model_config = ConfigDict(extra="allow")
    text: str
    score: float
    num_tokens: int
    finished: bool


@register_head("generative")
class GenerativeHead(Head):
    """config: num_layers (2), ffn_size (4 x hidden), max_target_tokens (32)."""

    output_model = GeneratedText
    needs_tokenizer = True
    ties_embeddings = True
    generation_options = ("max_new_tokens",)
    # Two generated tokens run every decoder layer; more would only cost time.
    health_check_options = {"max_new_tokens": 2}

    def __init__(self, name, info, config, word_embeddings: nn.Embedding | None = None):
        hidden = info.hidden_size
        super().__init__(name, info, {"num_layers": 2, "ffn_size": 4 * hidden, "max_target_tokens": 32, **config})
        cfg = self.config
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

    def _embed(self, ids: torch.Tensor, start: int) -> torch.Tensor:
        pos = torch.arange(start, start + ids.shape[1], device=ids.device)
        return self.drop(self.embed_norm(self.word_embeddings(ids) + self.position_embeddings(pos)[None]))

    def _logits(self, x: torch.Tensor) -> torch.Tensor:
        return F.linear(self.final_norm(x), self.word_embeddings.weight, self.output_bias)

    def _memory(self, batch: HeadBatch) -> tuple[list[KV], torch.Tensor]:
        """Every window of an input, real tokens only, joined into one memory per input."""
        dtype = self.output_bias.dtype
        rows: list[list[torch.Tensor]] = [[] for _ in range(batch.num_inputs)]
        for w, ex_i in enumerate(batch.example_index.tolist()):
            rows[ex_i].append(batch.hidden[w][batch.attention_mask[w].bool()])
        joined = [torch.cat(r) for r in rows]
        length = max(t.shape[0] for t in joined)
        memory = batch.hidden.new_zeros((len(joined), length, batch.hidden.shape[-1]), dtype=dtype)
        mask = torch.zeros((len(joined), length), dtype=torch.bool, device=batch.hidden.device)
        for i, t in enumerate(joined):
            memory[i, : t.shape[0]] = t.to(dtype)
            mask[i, : t.shape[0]] = True
        return [layer.cross_attn.keys_values(memory) for layer in self.layers], mask[:, None, None, :]

    def forward(self, batch: HeadBatch, labels: dict[str, torch.Tensor] | None = None,
                max_new_tokens: int | None = None) -> GenerativeOutput:
        memory_kv, memory_mask = self._memory(batch)
        if labels is None:
            return self.generate(memory_kv, memory_mask, max_new_tokens)
        x = self._embed(labels["decoder_input_ids"], 0)
        for layer, kv in zip(self.layers, memory_kv):
            x, _ = layer(x, kv, memory_mask, None)
        out = GenerativeOutput(logits=self._logits(x).float())
        out.loss = self.loss(out, labels)
        return out

    def loss(self, output: GenerativeOutput, labels: dict[str, torch.Tensor]) -> torch.Tensor:
        return F.cross_entropy(output.logits.flatten(0, 1), labels["target_ids"].flatten(), ignore_index=-100)

    @torch.no_grad()
    def generate(self, memory_kv: list[KV], memory_mask: torch.Tensor, max_new_tokens: int | None = None) -> GenerativeOutput:
        limit = min(int(max_new_tokens or self.config["max_target_tokens"]), int(self.config["max_target_tokens"]))
        n = memory_mask.shape[0]
        device = memory_mask.device
        token = torch.full((n, 1), self.info.bos_token_id, dtype=torch.long, device=device)
        finished = torch.zeros(n, dtype=torch.bool, device=device)
        past: list[KV | None] = [None] * len(self.layers)
        ids, logprobs = [], []
        for step in range(limit):
            x = self._embed(token, step)
            for i, (layer, kv) in enumerate(zip(self.layers, memory_kv)):
                x, past[i] = layer(x, kv, memory_mask, past[i])
            logp = self._logits(x[:, -1]).float().log_softmax(-1)
            lp, token = logp.max(-1, keepdim=True)
            token = token.masked_fill(finished[:, None], self.info.pad_token_id)
            ids.append(token)
            logprobs.append(lp.masked_fill(finished[:, None], 0.0))
            finished |= token[:, 0] == self.info.eos_token_id
            if bool(finished.all()):
                break
        return GenerativeOutput(sequences=torch.cat(ids, 1), token_logprobs=torch.cat(logprobs, 1))

    def build_labels(self, examples: Sequence[Any], batch: HeadBatch, tokenizer=None) -> dict[str, torch.Tensor]:
        if tokenizer is None:
            raise ValueError(f"head {self.name!r}: building generative labels needs the tokenizer")
        limit = int(self.config["max_target_tokens"])
        targets = [
            tokenizer(ex.answer, add_special_tokens=False)["input_ids"][: limit - 1] + [self.info.eos_token_id]
            for ex in examples
        ]
        length = max(len(t) for t in targets)
        inputs = torch.full((len(targets), length), self.info.pad_token_id, dtype=torch.long)
        target_ids = torch.full((len(targets), length), -100, dtype=torch.long)
        for i, t in enumerate(targets):
            inputs[i, : len(t)] = torch.tensor([self.info.bos_token_id, *t[:-1]])
            target_ids[i, : len(t)] = torch.tensor(t)
        device = batch.hidden.device
        return {"decoder_input_ids": inputs.to(device), "target_ids": target_ids.to(device)}

    @torch.no_grad()
    def decode(self, output: GenerativeOutput, batch: HeadBatch, tokenizer=None) -> list[dict[str, Any]]:
        if tokenizer is None:
            raise ValueError(f"head {self.name!r}: decoding generated ids needs the tokenizer")
        results = []
        for seq, lps in zip(output.sequences.tolist(), output.token_logprobs.tolist()):
            n = seq.index(self.info.eos_token_id) + 1 if self.info.eos_token_id in seq else len(seq)
            mean_lp = sum(lps[:n]) / max(n, 1)
            results.append({
                "text": decode_text(tokenizer, seq[:n]),
                "score": float(torch.tensor(mean_lp).exp()),
                "num_tokens": n,
                "finished": self.info.eos_token_id in seq[:n],
            })
        return results
