"""A router replica that runs the whole model (`backbone.placement: router`) changes checkpoint in
place: the `router` deployment's user_config names it (`{checkpoint: PATH}`), `serve deploy` hands
it to every running replica's `reconfigure`, which loads it beside the one answering and swaps only
once it is loaded. No replica restarts; requests already under way finish on the checkpoint they
started with, the next ones get the new one (each answer names its checkpoint's hash).

Refused, the running checkpoint answering on (the reason logged and in the replica's stats):
- a checkpoint that fails verification (every file's sha256, the heads' metadata and shapes:
  model/checkpoint.py), or that does not load;
- one whose heads, kinds or tasks differ from those the application was built with: its routes,
  OpenAPI document and head settings were made for them. Changing `args: checkpoint` serves it
  (Serve rebuilds the application, restarting its replicas).
A replica that starts with a user_config naming such a checkpoint fails to start instead, as Serve
reports for any constructor error, so no replica ever serves a checkpoint its peers refused.

Only this layout swaps in place: with the backbone and heads in separate deployments, Serve updates
each deployment's replicas on its own, and for a while a head would read hidden states of the other
checkpoint's backbone.
"""
from __future__ import annotations

import asyncio
import logging
from pathlib import Path
from typing import Callable

from model.checkpoint import CheckpointError, Manifest, verify_checkpoint
from service.pipeline.catalog import Catalog

log = logging.getLogger("wiyh.service")


class SwapRefused(Exception):
    """A checkpoint this replica will not serve; the message says why and what to change."""


def layout_difference(serving: Catalog, offered: Catalog) -> str | None:
    """What differs between two checkpoints' heads and tasks (None: a swap keeps every route true)."""
    if serving.heads != offered.heads:
        return (f"its heads are {sorted((h.name, h.kind) for h in offered.heads.values())}, the application's "
                f"{sorted((h.name, h.kind) for h in serving.heads.values())}")
    if serving.tasks != offered.tasks or serving.routes != offered.routes:
        return f"its tasks are {offered.tasks}, the application's {serving.tasks}"
    return None


class CheckpointSwap:
    """One router replica's side of a checkpoint change: `catalog_of(manifest)` and `load(path)`
    make what answers with a verified checkpoint, in a worker thread; `serve(loaded, catalog)` puts
    it in place, on the replica's event loop, between two requests."""

    def __init__(self, checkpoint: Path, catalog: Catalog, catalog_of: Callable[[Manifest], Catalog],
                 load: Callable[[Path], object], serve: Callable[[object, Catalog], None]):
        self.checkpoint, self.catalog = checkpoint, catalog
        self.catalog_of, self.load, self.serve = catalog_of, load, serve
        self.refused: str | None = None  # why the last checkpoint asked for is not the one answering
        self.swaps = 0

    async def __call__(self, asked: str | None, starting: bool) -> None:
        """`asked`: the user_config's checkpoint (None: keep the one serving). `starting`: the
        replica's first reconfigure, where a refusal fails the replica rather than being kept."""
        path = Path(asked).expanduser().resolve() if asked else self.checkpoint
        if path == self.checkpoint:
            self.refused = None
            return
        try:
            loaded, catalog = await asyncio.to_thread(self._load, path)
        except SwapRefused as err:
            if starting:
                raise
            self.refused = str(err)
            log.error("%s; still answering with %s (hash %s)", err, self.checkpoint, self.catalog.checkpoint.hash)
            return
        self.serve(loaded, catalog)
        log.info("now answering with checkpoint %s (hash %s; was %s, hash %s)", path, catalog.checkpoint.hash,
                 self.checkpoint, self.catalog.checkpoint.hash)
        self.checkpoint, self.catalog, self.refused = path, catalog, None
        self.swaps += 1

    def _load(self, path: Path) -> tuple[object, Catalog]:
        where = f"deployments[router].user_config.checkpoint {path}"
        try:
            manifest = verify_checkpoint(path)
        except CheckpointError as err:
            raise SwapRefused(f"{where} cannot be served: {err}") from None
        catalog = self.catalog_of(manifest)
        difference = layout_difference(self.catalog, catalog)
        if difference is not None:
            raise SwapRefused(f"{where} cannot replace the running checkpoint in place: {difference}; serve it by "
                              "changing the application's `args: checkpoint` (a rebuild)")
        try:
            return self.load(path), catalog
        except Exception as err:  # verified but not loadable here (memory, a library mismatch): keep serving
            raise SwapRefused(f"{where} did not load: {type(err).__name__}: {err}") from None
