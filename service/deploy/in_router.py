"""The whole model inside the router's replica (`backbone.placement: router`): the backbone's
batches with every head colocated, the in-process engine the pipeline calls, and what Serve changes
in it in place through the `router` deployment's user_config: the batching (reconfigure.py) and the
checkpoint (checkpoint_swap.py)."""
from __future__ import annotations

from pathlib import Path
from typing import Any

from model.checkpoint import Manifest
from service.deploy.backbone_batches import BackboneBatches
from service.deploy.checkpoint_swap import CheckpointSwap
from service.deploy.in_process import InProcessEngine
from service.deploy.metrics import StageMetrics
from service.deploy.reconfigure import InPlaceConfig
from service.deploy.settings import ServiceSettings
from service.deploy.stages import HeadStage, RouterRunConfig
from service.http.answers import Answers
from service.pipeline.catalog import Catalog
from service.pipeline.failures import BACKBONE
from service.pipeline.metrics import PipelineMetrics
from service.pipeline.predict import Predictor


class InRouterModel:
    def __init__(self, checkpoint: str, catalog: Catalog, settings: ServiceSettings, colocated: dict[str, HeadStage],
                 metrics: PipelineMetrics):
        self.settings, self.colocated, self.metrics = settings, colocated, metrics
        self.stage_metrics = StageMetrics(BACKBONE)
        self.in_place = InPlaceConfig("router", lambda batching: self.engine.backbone.configure(batching), RouterRunConfig)
        self.engine = InProcessEngine(self.load(Path(checkpoint)), settings.backbone, settings.router.retry_after_s)
        self.predictor = Predictor(self.engine, catalog, settings.timeouts, metrics)
        self.swap = CheckpointSwap(Path(checkpoint).expanduser().resolve(), catalog, self.catalog_of, self.load, self.serve)
        self.answers: Answers | None = None  # what the routes answer with: given by the router once its API exists

    def load(self, checkpoint: Path) -> BackboneBatches:
        batches = BackboneBatches(str(checkpoint), self.settings.backbone, self.colocated,
                                  self.settings.resolved_hidden_dtype(), self.stage_metrics)
        if self.in_place.current is not None:
            batches.configure(self.in_place.current)  # the batching an in-place update set, not the args' one
        return batches

    def catalog_of(self, manifest: Manifest) -> Catalog:
        return Catalog.from_manifest(manifest, {name: "colocated" for name in self.colocated},
                                     chance_bound=self.settings.explanation_chance_bound)

    def serve(self, batches: BackboneBatches, catalog: Catalog) -> None:
        """From the next request on: the engine's calls go to `batches`, the answers name `catalog`'s
        checkpoint. A request that already holds the old batches finishes on them; once none does,
        they are freed."""
        self.engine.backbone = batches
        self.predictor = Predictor(self.engine, catalog, self.settings.timeouts, self.metrics)
        if self.answers is not None:
            self.answers.serve_from(self.predictor, catalog)

    async def reconfigure(self, user_config: Any) -> None:
        starting = not self.in_place.started
        config = self.in_place(user_config)
        if isinstance(config, RouterRunConfig):
            await self.swap(config.checkpoint, starting)

    def stats(self) -> dict[str, int | str]:
        return {**self.engine.backbone.stats(), "updates": self.in_place.updates,
                "checkpoint": self.swap.catalog.checkpoint.hash, "checkpoint_swaps": self.swap.swaps,
                "checkpoint_refused": self.swap.refused or ""}

    async def check_health(self) -> None:
        await self.engine.backbone.check_health()
