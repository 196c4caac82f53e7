"""What the predict routes answer, apart from HTTP: the request planned against the checkpoint's
catalog, run through the Predictor, and the response built. The routes (router.py, and the Open
Inference Protocol's in v2/routes.py) wrap this with the request id, metrics and error handling;
the benchmark's in-process mode runs it as it is, so the serving path it measures is the routes' own."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Awaitable, Callable

from service.http.errors import ApiError
from service.http.schemas import BatchRequest, BatchResponse, CheckpointRef, PredictRequest, PredictResponse
from service.pipeline.catalog import Catalog
from service.pipeline.failures import TargetFailed
from service.pipeline.limits import Limits
from service.pipeline.merge import RequestMerger
from service.pipeline.predict import PlannedInput, Predictor, Query, plan
from service.pipeline.results import ItemResult, Timings

# Merged passes out at once per router replica: one running in the backbone while the next one
# is tokenised and queued behind it, and room for the head replicas' calls of a third and fourth.
MERGED_IN_FLIGHT = 4


@dataclass(frozen=True)
class Serving:
    """What answers with one checkpoint. A request reads it once, so a checkpoint swapped in while
    it runs (deploy/checkpoint_swap.py) cannot mix the two: its plan, pass and reported checkpoint
    all come from the one it started on."""

    predictor: Predictor
    catalog: Catalog
    checkpoint: CheckpointRef
    # Single requests that arrive together share one pass through the stages (merge.py), at most as
    # many inputs as a batch request may carry, which every stage's batch size admits; where the
    # engine batches in this process, each request goes to it alone (its batcher merges them).
    merged: Callable[[PlannedInput, str], Awaitable[tuple]]


class Answers:
    def __init__(self, predictor: Predictor, catalog: Catalog, limits: Limits, retry_after_s: int = 1):
        self.limits, self.retry_after_s = limits, retry_after_s
        self.swapped: list[Callable[[], None]] = []  # called after serve_from (the OpenAPI document's cache)
        self.serving = self._serving(predictor, catalog)

    @property
    def predictor(self) -> Predictor:
        return self.serving.predictor

    @property
    def catalog(self) -> Catalog:
        return self.serving.catalog

    @property
    def merged(self) -> Callable[[PlannedInput, str], Awaitable[tuple]]:
        return self.serving.merged

    def serve_from(self, predictor: Predictor, catalog: Catalog) -> None:
        """Answer with another checkpoint of the same heads and tasks from the next request on;
        requests under way finish with the one they started on."""
        self.serving = self._serving(predictor, catalog)
        for listener in self.swapped:
            listener()

    def _serving(self, predictor: Predictor, catalog: Catalog) -> Serving:
        merged: Callable[[PlannedInput, str], Awaitable[tuple]] = predictor.predict_one
        if predictor.engine.calls_cross_processes:
            merged = RequestMerger(predictor.predict_items, max_inputs=self.limits.max_batch_items,
                                   max_in_flight=MERGED_IN_FLIGHT, max_wait_s=predictor.timeouts.backbone_s,
                                   retry_after_s=self.retry_after_s)
        return Serving(predictor, catalog, CheckpointRef(name=catalog.checkpoint.name, hash=catalog.checkpoint.hash), merged)

    async def predict(self, body: PredictRequest, request_id: str) -> PredictResponse:
        """Raises what the routes turn into 4xx/5xx: InputError, StageError, TargetFailed."""
        serving = self.serving
        result, timings = await serving.merged(plan(body.query(), serving.catalog, self.limits), request_id)
        if isinstance(result, TargetFailed):
            raise result
        # dict(result): the validated parts as they are (a model_dump() would rebuild and revalidate them)
        return PredictResponse(**dict(result), request_id=request_id, checkpoint=serving.checkpoint, timings_ms=timings)

    async def predict_batch(self, body: BatchRequest, request_id: str) -> BatchResponse:
        """Raises ApiError 413 for a batch over the limit, and what `predict` raises."""
        if len(body.items) > self.limits.max_batch_items:
            raise ApiError(413, "batch_too_large", f"the batch has {len(body.items)} items; the limit is "
                           f"{self.limits.max_batch_items}: split it into batches of at most {self.limits.max_batch_items}")
        serving = self.serving
        results, timings = await self.answer(serving, self.plan(serving, [item.query() for item in body.items]), request_id)
        return BatchResponse(request_id=request_id, checkpoint=serving.checkpoint, results=results, timings_ms=timings)

    def plan(self, serving: Serving, queries: list[Query], where: str = "items.{i}.") -> list[PlannedInput]:
        """Each query checked against the serving checkpoint and the limits (raises InputError, its
        message prefixed by `where` with the query's index)."""
        return [plan(q, serving.catalog, self.limits, where=where.format(i=i)) for i, q in enumerate(queries)]

    @staticmethod
    async def answer(serving: Serving, planned: list[PlannedInput], request_id: str) -> tuple[list[ItemResult], Timings]:
        """Every input's answer from one pass (raises StageError, TargetFailed)."""
        return await serving.predictor.predict(planned, request_id)
