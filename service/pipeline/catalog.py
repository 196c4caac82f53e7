"""What the router knows about the checkpoint: its heads, their kinds and placement, and which
head answers each task. Built once at deploy time from the manifest; the router loads no weights."""
from __future__ import annotations

from pydantic import BaseModel, ConfigDict

from service.pipeline.limits import Placement
from service.pipeline.failures import UnknownName
from model.checkpoint import Manifest
from model.routing import RouteHeads, routes_for


class HeadInfo(BaseModel):
    model_config = ConfigDict(frozen=True)
    name: str
    kind: str
    trained_on: list[str]  # the tasks whose labels trained it
    target_for: list[str]  # the tasks whose answer it gives
    placement: Placement


class CheckpointInfo(BaseModel):
    model_config = ConfigDict(frozen=True)
    name: str
    hash: str
    created: str
    backbone: str
    hidden_size: int


class Catalog(BaseModel):
    model_config = ConfigDict(frozen=True)
    checkpoint: CheckpointInfo
    heads: dict[str, HeadInfo]
    tasks: dict[str, str]  # task -> target head
    # How often the explanation's search explains a wrong number (manifest; None: not measured),
    # and the rate below which an arithmetic explanation is trusted (service config).
    explanation_chance: float | None = None
    explanation_chance_bound: float = 0.05
    # task -> the heads that route its answer (model/routing.py RouteHeads), for routed tasks only
    routes: dict[str, RouteHeads] = {}

    @classmethod
    def from_manifest(cls, manifest: Manifest, placement: dict[str, Placement],
                      chance_bound: float = 0.05) -> "Catalog":
        heads = {
            h.name: HeadInfo(
                name=h.name,
                kind=h.kind,
                trained_on=list(h.tasks),
                target_for=sorted(t for t, target in manifest.tasks.items() if target == h.name),
                placement=placement.get(h.name, "replica"),
            )
            for h in manifest.heads
        }
        missing = sorted({target for target in manifest.tasks.values()} - set(heads))
        if missing:
            raise ValueError(f"manifest of {manifest.name!r} maps tasks to heads it does not have: {missing}")
        return cls(
            checkpoint=CheckpointInfo(
                name=manifest.name,
                hash=manifest.checkpoint_hash,
                created=manifest.created,
                backbone=manifest.backbone.type,
                hidden_size=manifest.backbone.hidden_size,
            ),
            heads=heads,
            tasks=dict(manifest.tasks),
            explanation_chance=manifest.explanation_chance.rate if manifest.explanation_chance else None,
            explanation_chance_bound=chance_bound,
            routes=routes_for(manifest.heads, manifest.tasks),
        )

    def target_of(self, task: str | None, target_head: str | None) -> str:
        """The head that answers: the task's target, or the head named explicitly."""
        if target_head is not None:
            self.check_heads([target_head], field="target_head")
            return target_head
        if task not in self.tasks:
            raise UnknownName(f"task: unknown task {task!r}; valid tasks: {sorted(self.tasks)}")
        return self.tasks[task]

    def check_heads(self, names: list[str], field: str = "heads") -> None:
        unknown = [n for n in names if n not in self.heads]
        if unknown:
            raise UnknownName(f"{field}: unknown head(s) {unknown}; valid heads: {sorted(self.heads)}")

    def kind(self, head: str) -> str:
        return self.heads[head].kind

    def colocated(self) -> list[str]:
        return [n for n, h in self.heads.items() if h.placement == "colocated"]
