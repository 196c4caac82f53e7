"""The checkpoint directory: the contract between training/ (writes) and service/ (reads).

    manifest.json             format_version, name, created, backbone, tokenizer, heads, tasks, ...
    backbone/                 transformers save_pretrained, safetensors only
    tokenizer/                tokenizer files
    heads/<name>.safetensors  one file per head, its metadata naming the backbone it was trained with
    examples.jsonl            optional: a few held-out examples per task, for people to try (the
                              service's inspector menu), so the service never imports training's generators

Only safetensors are ever read (torch.load of an untrusted file runs code). Every file's sha256
is in the manifest and is checked when the file is loaded; verify_checkpoint() checks the whole
directory without loading any weights, so a deploy can refuse a broken checkpoint before it starts
anything.
"""
from __future__ import annotations

import hashlib
import json
import shutil
import time
from pathlib import Path
from typing import Any, Iterable, Sequence

import torch
from pydantic import BaseModel, ConfigDict, Field
from safetensors import safe_open
from safetensors.torch import save_file
from transformers import AutoTokenizer, PreTrainedModel, PreTrainedTokenizerBase

from model.backbone import BackboneInfo, load_pretrained_backbone
from model.example import Example, read_jsonl, write_jsonl
from model.heads import HEAD_KINDS, Head, build_head
from model.multitask import MultiTaskModel
from model.tokenizer import splits_digits

FORMAT_VERSION = 1
MANIFEST = "manifest.json"
BACKBONE_WEIGHTS = "backbone/model.safetensors"
EXAMPLES = "examples.jsonl"
# Formats that unpickle (and so can run code) when loaded; a checkpoint holding one is refused.
PICKLE_SUFFIXES = (".bin", ".pt", ".pth", ".pkl", ".pickle", ".ckpt")


class CheckpointError(ValueError):
    """A checkpoint that must not be loaded; the message names the file and what is wrong."""


class HeadEntry(BaseModel):
    model_config = ConfigDict(extra="forbid")
    name: str
    kind: str
    tasks: list[str]
    file: str
    sha256: str
    config: dict[str, Any] = Field(default_factory=dict)


class BackboneEntry(BaseModel):
    model_config = ConfigDict(extra="forbid")
    type: str
    hidden_size: int
    num_layers: int
    num_parameters: int
    # sha256 of the backbone's weights file: a head records it and is refused by any other backbone.
    fingerprint: str
    info: dict[str, Any]
    source: str
    files: dict[str, str]  # path relative to the checkpoint -> sha256


class EncodingEntry(BaseModel):
    model_config = ConfigDict(extra="forbid")
    max_length: int = 256
    stride: int = 64
    max_question_tokens: int = 64


class ExamplesEntry(BaseModel):
    model_config = ConfigDict(extra="forbid")
    file: str
    sha256: str
    count: int


class ExplanationChance(BaseModel):
    """How often the explanation's search "explains" a wrong number: measured once per checkpoint on
    held-out questions (`python -m training chance`), reported with every arithmetic explanation, so
    that a derivation is trusted only when this rate is low (service/pipeline/explanations.py)."""

    model_config = ConfigDict(extra="forbid")
    rate: float = Field(ge=0.0, le=1.0, description="share of (question, wrong answer) pairs the search explains")
    questions: int = Field(ge=0, description="held-out numeric questions it was measured on")
    wrong_answers: str = Field(description="which wrong answers were tried per question, e.g. 'gold - 1, gold + 1'")
    split: str = Field(description="the data it was measured on")
    heads: list[str] = Field(description="the heads whose top spans the search read")


class Manifest(BaseModel):
    model_config = ConfigDict(extra="forbid")
    format_version: int
    name: str
    created: str
    backbone: BackboneEntry
    tokenizer: dict[str, Any]  # {"dir": "tokenizer", "files": {path: sha256}}
    heads: list[HeadEntry]
    tasks: dict[str, str]  # task -> target head
    encoding: EncodingEntry = Field(default_factory=EncodingEntry)
    training: dict[str, Any] = Field(default_factory=dict)
    metrics: dict[str, Any] = Field(default_factory=dict)
    # None for checkpoints written before examples were stored, or without any to store.
    examples: ExamplesEntry | None = None
    # None until `python -m training chance` measured it (older checkpoints, no span heads).
    explanation_chance: ExplanationChance | None = None

    def head(self, name: str) -> HeadEntry:
        for entry in self.heads:
            if entry.name == name:
                return entry
        raise KeyError(f"checkpoint {self.name!r} has no head {name!r}; its heads: {[h.name for h in self.heads]}")

    @property
    def backbone_info(self) -> BackboneInfo:
        return BackboneInfo(**self.backbone.info)

    @property
    def checkpoint_hash(self) -> str:
        """One hash of everything loaded: the manifest's file hashes together."""
        parts = sorted([*self.backbone.files.values(), *self.tokenizer["files"].values(), *(h.sha256 for h in self.heads)])
        return hashlib.sha256("".join(parts).encode()).hexdigest()[:16]


def sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def is_checkpoint(path: str | Path) -> bool:
    return (Path(path) / MANIFEST).is_file()


# ---------------------------------------------------------------------------------------------
# writing


def save_checkpoint(
    out_dir: str | Path,
    model: MultiTaskModel,
    tokenizer: PreTrainedTokenizerBase,
    *,
    name: str,
    head_tasks: dict[str, list[str]],
    tasks: dict[str, str],
    encoding: dict[str, int],
    backbone_source: str,
    training: dict[str, Any] | None = None,
    metrics: dict[str, Any] | None = None,
    examples: Sequence[Example] = (),
) -> Manifest:
    """Write the checkpoint parts into a staging folder, then move them into `out_dir`, the
    manifest last, so a reader never finds a manifest naming files that are not there yet."""
    out_dir = Path(out_dir)
    staging = out_dir / ".staging"
    shutil.rmtree(staging, ignore_errors=True)
    staging.mkdir(parents=True)

    model.backbone.save_pretrained(staging / "backbone", safe_serialization=True)
    tokenizer.save_pretrained(staging / "tokenizer")
    weights = staging / "backbone" / "model.safetensors"
    fingerprint = sha256_file(weights)

    head_entries = []
    (staging / "heads").mkdir()
    for head_name, head in model.heads.items():
        rel = f"heads/{head_name}.safetensors"
        state = {k: v.detach().contiguous().cpu() for k, v in head.state_dict().items()}
        save_file(state, staging / rel, metadata={
            "format_version": str(FORMAT_VERSION),
            "name": head_name,
            "kind": head.kind,
            "backbone_fingerprint": fingerprint,
            "hidden_size": str(model.info.hidden_size),
        })
        head_entries.append(HeadEntry(
            name=head_name, kind=head.kind, tasks=head_tasks.get(head_name, []), file=rel,
            sha256=sha256_file(staging / rel), config=head.config,
        ))

    examples_entry = None
    if examples:
        count = write_jsonl(examples, staging / EXAMPLES)
        examples_entry = ExamplesEntry(file=EXAMPLES, sha256=sha256_file(staging / EXAMPLES), count=count)

    manifest = Manifest(
        format_version=FORMAT_VERSION,
        name=name,
        created=time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        backbone=BackboneEntry(
            type=model.backbone.config.model_type,
            hidden_size=model.info.hidden_size,
            num_layers=model.backbone.config.num_hidden_layers,
            num_parameters=sum(p.numel() for p in model.backbone.parameters()),
            fingerprint=fingerprint,
            info=model.info.to_dict(),
            source=backbone_source,
            files=_hash_tree(staging, "backbone"),
        ),
        tokenizer={"dir": "tokenizer", "files": _hash_tree(staging, "tokenizer"),
                   "digits": "split" if splits_digits(tokenizer) else "wordpiece"},
        heads=head_entries,
        tasks=tasks,
        encoding=EncodingEntry(**encoding),
        training=training or {},
        metrics=metrics or {},
        examples=examples_entry,
    )
    for part in ("backbone", "tokenizer", "heads"):
        shutil.rmtree(out_dir / part, ignore_errors=True)
        (staging / part).rename(out_dir / part)
    (out_dir / EXAMPLES).unlink(missing_ok=True)  # a stale file from an earlier save must not stay behind
    if examples_entry is not None:
        (staging / EXAMPLES).rename(out_dir / EXAMPLES)
    tmp_manifest = out_dir / (MANIFEST + ".tmp")
    tmp_manifest.write_text(manifest.model_dump_json(indent=2))
    tmp_manifest.replace(out_dir / MANIFEST)
    staging.rmdir()
    return manifest


def showcase_examples(by_task: dict[str, Iterable[Example]], per_task: int = 2) -> list[Example]:
    """The first `per_task` examples of each task, tasks in sorted order: what a checkpoint stores
    for people to try. Pass held-out examples, so what a user tries is not what the model saw."""
    chosen: list[Example] = []
    for task in sorted(by_task):
        for i, example in enumerate(by_task[task]):
            if i == per_task:
                break
            chosen.append(example)
    return chosen


def _hash_tree(root: Path, sub: str) -> dict[str, str]:
    return {
        str(p.relative_to(root)): sha256_file(p)
        for p in sorted((root / sub).rglob("*"))
        if p.is_file()
    }


# ---------------------------------------------------------------------------------------------
# reading


def read_manifest(ckpt_dir: str | Path) -> Manifest:
    path = Path(ckpt_dir) / MANIFEST
    if not path.is_file():
        raise CheckpointError(f"{path}: no manifest; is {ckpt_dir} a checkpoint written by `python -m training train`?")
    try:
        raw = json.loads(path.read_text())
    except json.JSONDecodeError as err:
        raise CheckpointError(f"{path}: not valid JSON ({err})") from err
    version = raw.get("format_version")
    if version != FORMAT_VERSION:
        raise CheckpointError(
            f"{path}: format_version {version!r} is not supported (this code reads {FORMAT_VERSION}); "
            "retrain the checkpoint or use the matching version of whats-in-your-head"
        )
    try:
        return Manifest.model_validate(raw)
    except ValueError as err:
        raise CheckpointError(f"{path}: malformed manifest: {err}") from err


def verify_file(ckpt_dir: str | Path, rel: str, expected_sha256: str) -> Path:
    path = Path(ckpt_dir) / rel
    if not path.is_file():
        raise CheckpointError(f"{path}: missing (the manifest lists it); the checkpoint is incomplete")
    actual = sha256_file(path)
    if actual != expected_sha256:
        raise CheckpointError(
            f"{path}: sha256 {actual[:16]}… does not match the manifest's {expected_sha256[:16]}…; "
            "the file was changed or truncated after training: restore it or retrain"
        )
    return path


def read_examples(ckpt_dir: str | Path, manifest: Manifest | None = None) -> list[Example]:
    """The examples the checkpoint stores (sha256 checked); [] when it stores none."""
    manifest = manifest or read_manifest(ckpt_dir)
    if manifest.examples is None:
        return []
    path = verify_file(ckpt_dir, manifest.examples.file, manifest.examples.sha256)
    try:
        return list(read_jsonl(path))
    except ValueError as err:  # read_jsonl names the file and line
        raise CheckpointError(str(err)) from None


def load_tokenizer(ckpt_dir: str | Path, manifest: Manifest | None = None) -> PreTrainedTokenizerBase:
    manifest = manifest or read_manifest(ckpt_dir)
    for rel, sha in manifest.tokenizer["files"].items():
        verify_file(ckpt_dir, rel, sha)
    tokenizer = AutoTokenizer.from_pretrained(str(Path(ckpt_dir) / manifest.tokenizer["dir"]))
    # The heads learnt numbers digit by digit; a tokenizer that reloads without the digit split
    # (a BertTokenizer rebuilds its pre-tokenizer from defaults) would feed them other tokens.
    if manifest.tokenizer.get("digits") == "split" and not splits_digits(tokenizer):
        raise CheckpointError(
            f"{Path(ckpt_dir) / manifest.tokenizer['dir']}: checkpoint {manifest.name!r} was trained with digits split "
            "one per token, but its tokenizer loads without that split (tokenizer.json or tokenizer_config.json was "
            "replaced); restore the checkpoint's tokenizer files or retrain")
    return tokenizer


def load_backbone(ckpt_dir: str | Path, manifest: Manifest | None = None) -> PreTrainedModel:
    manifest = manifest or read_manifest(ckpt_dir)
    for rel, sha in manifest.backbone.files.items():
        verify_file(ckpt_dir, rel, sha)
    return load_pretrained_backbone(Path(ckpt_dir) / "backbone")


def load_head(
    ckpt_dir: str | Path,
    name: str,
    manifest: Manifest | None = None,
    word_embeddings: torch.nn.Embedding | None = None,
) -> Head:
    """One head from its own file, without the backbone: what a head replica loads."""
    manifest = manifest or read_manifest(ckpt_dir)
    entry = manifest.head(name)
    path = verify_file(ckpt_dir, entry.file, entry.sha256)
    with safe_open(str(path), framework="pt") as fh:
        meta = fh.metadata() or {}
        state = {key: fh.get_tensor(key) for key in fh.keys()}
    if meta.get("backbone_fingerprint") != manifest.backbone.fingerprint:
        raise CheckpointError(
            f"{path}: head {name!r} was trained with another backbone (fingerprint "
            f"{str(meta.get('backbone_fingerprint'))[:12]}…, this checkpoint's backbone is "
            f"{manifest.backbone.fingerprint[:12]}…); use the head with the checkpoint it was trained in"
        )
    if meta.get("hidden_size") != str(manifest.backbone.hidden_size):
        raise CheckpointError(
            f"{path}: head {name!r} expects hidden size {meta.get('hidden_size')}, "
            f"the backbone has {manifest.backbone.hidden_size}"
        )
    ties = entry.kind in HEAD_KINDS and HEAD_KINDS[entry.kind].ties_embeddings
    kwargs = {"word_embeddings": word_embeddings} if ties and word_embeddings is not None else {}
    head = build_head(name, entry.kind, manifest.backbone_info, entry.config, **kwargs)
    try:
        head.load_state_dict(state, strict=True)
    except RuntimeError as err:
        raise CheckpointError(f"{path}: weights do not fit head {name!r} of kind {entry.kind!r}: {err}") from err
    return head.eval()


def verify_checkpoint(ckpt_dir: str | Path) -> Manifest:
    """Everything a deploy needs to trust, checked without loading weights (seconds, no model
    memory): the manifest, every listed file's sha256, no pickle anywhere, the backbone's config
    and weights header, and each head file's metadata (name, kind, backbone fingerprint, hidden
    size) and tensor names and shapes against the head its manifest entry builds.
    Raises CheckpointError naming the file and what is wrong."""
    ckpt_dir = Path(ckpt_dir)
    manifest = read_manifest(ckpt_dir)
    pickles = sorted(str(p.relative_to(ckpt_dir)) for p in ckpt_dir.rglob("*") if p.suffix.lower() in PICKLE_SUFFIXES)
    if pickles:
        raise CheckpointError(f"{ckpt_dir / pickles[0]}: a pickle-format file in the checkpoint ({len(pickles)} in all); "
                              "only safetensors are read and pickles can run code when loaded: remove it")
    listed = {**manifest.backbone.files, **manifest.tokenizer["files"], **{h.file: h.sha256 for h in manifest.heads}}
    if manifest.examples is not None:
        listed[manifest.examples.file] = manifest.examples.sha256
    for rel, sha in listed.items():
        verify_file(ckpt_dir, rel, sha)
    if manifest.backbone.files.get(BACKBONE_WEIGHTS) != manifest.backbone.fingerprint:
        raise CheckpointError(f"{ckpt_dir / MANIFEST}: backbone.fingerprint is not the sha256 of {BACKBONE_WEIGHTS}; "
                              "the manifest was edited by hand: restore it or retrain")
    config_path = ckpt_dir / "backbone" / "config.json"
    try:
        hidden = json.loads(config_path.read_text()).get("hidden_size")
    except (OSError, json.JSONDecodeError) as err:
        raise CheckpointError(f"{config_path}: unreadable backbone config ({err})") from None
    if hidden != manifest.backbone.hidden_size:
        raise CheckpointError(f"{config_path}: hidden_size {hidden} differs from the manifest's {manifest.backbone.hidden_size}")
    _safetensors_header(ckpt_dir / BACKBONE_WEIGHTS)
    for entry in manifest.heads:
        _verify_head_file(ckpt_dir, manifest, entry)
    return manifest


def _safetensors_header(path: Path) -> tuple[dict[str, str], dict[str, tuple[int, ...]]]:
    """(metadata, tensor name -> shape) from the file's header, without reading any tensor."""
    try:
        with safe_open(str(path), framework="pt") as fh:
            return fh.metadata() or {}, {key: tuple(fh.get_slice(key).get_shape()) for key in fh.keys()}
    except Exception as err:  # safetensors raises its own error types for a damaged header
        raise CheckpointError(f"{path}: not a readable safetensors file ({type(err).__name__}: {err})") from None


def _verify_head_file(ckpt_dir: Path, manifest: Manifest, entry: HeadEntry) -> None:
    path = ckpt_dir / entry.file
    meta, shapes = _safetensors_header(path)
    for key, want in (("name", entry.name), ("kind", entry.kind), ("backbone_fingerprint", manifest.backbone.fingerprint),
                      ("hidden_size", str(manifest.backbone.hidden_size))):
        if meta.get(key) != want:
            what = ("was trained with another backbone" if key == "backbone_fingerprint"
                    else f"says {key} {meta.get(key)!r} where the manifest says {want!r}")
            raise CheckpointError(f"{path}: head {entry.name!r} {what}; use the head with the checkpoint it was trained in")
    # Built on the meta device: shapes without memory or initialisation cost.
    with torch.device("meta"):
        expected = {k: tuple(v.shape) for k, v in build_head(entry.name, entry.kind, manifest.backbone_info, entry.config).state_dict().items()}
    if shapes != expected:
        wrong = sorted(set(shapes) ^ set(expected)) or sorted(k for k in shapes if shapes[k] != expected[k])
        raise CheckpointError(f"{path}: weights do not fit head {entry.name!r} of kind {entry.kind!r} "
                              f"(first mismatch: {wrong[0]!r}: file {shapes.get(wrong[0])}, head {expected.get(wrong[0])})")


def load_model(ckpt_dir: str | Path) -> tuple[MultiTaskModel, PreTrainedTokenizerBase, Manifest]:
    """The whole multi-task model, with generative heads tied to the backbone's embeddings again."""
    manifest = read_manifest(ckpt_dir)
    tokenizer = load_tokenizer(ckpt_dir, manifest)
    backbone = load_backbone(ckpt_dir, manifest)
    if backbone.config.hidden_size != manifest.backbone.hidden_size:
        raise CheckpointError(f"{Path(ckpt_dir) / 'backbone'}: hidden size {backbone.config.hidden_size} "
                              f"differs from the manifest's {manifest.backbone.hidden_size}")
    embeddings = backbone.get_input_embeddings()
    heads = {e.name: load_head(ckpt_dir, e.name, manifest, word_embeddings=embeddings) for e in manifest.heads}
    model = MultiTaskModel(backbone, heads, manifest.backbone_info).eval()
    return model, tokenizer, manifest
