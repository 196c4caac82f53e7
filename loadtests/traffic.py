"""What the load tests send, how, and what every answer must hold. Requests come from training's
synthetic generators; the backbone's cost grows with length and a real dataset's passages are
longer than a synthetic one's 230-590 characters, so the benchmark pads each passage with others
of its setting (distractors, as in HotpotQA), its own first and whole. A closed loop measures
capacity but slows down exactly when the service is in trouble; the fault and soak runs drive an
open loop, at a fixed rate whatever the service does. A loop that must not wait on its caller's
thread runs on one of its own: `asyncio.to_thread(asyncio.run, loop)`. No locust here: importing
it monkey-patches the standard library."""
from __future__ import annotations

import asyncio
import itertools
import random
import statistics
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Awaitable, Callable, Collection, Union

import httpx
from pydantic import BaseModel

# Characters per passage: 110-150 words, 130-190 word pieces with the question, about the size of
# a SQuAD paragraph and within the quick model's window (192 tokens), so most inputs are one
# window and some are two, as with real paragraphs.
REALISTIC_CHARS = {"numeric": 550, "multihop": 650, "qa_summary": 550}
# The fault and soak runs' tasks: one per kind of target head (span, generative number and
# summary, classification, tagging).
TARGET_TASKS = ("squad", "drop_number", "summarize", "hotpot_yesno", "drop_spans")
# One user (warm), 16 users (past one backbone replica's capacity on 2 cores), then one user again
# while the extra replicas are removed, so a request failing during scale-down would show.
DEFAULT_RAMP = "1:15,16:75,1:60"


def _body(example: Any, passage: str) -> dict[str, Any]:
    inputs = {"question": example.question, "context": passage} if example.question else {"text": passage}
    return {"task": example.task, "inputs": inputs}


def sample_requests(n_per_setting: int, seed: int = 11, tasks: Collection[str] | None = None) -> list[dict[str, Any]]:
    """`n_per_setting` /v1/predict bodies of each setting at realistic lengths, interleaved so any
    prefix is a mix of all three; with `tasks` (a checkpoint's), only bodies of those tasks, so a
    checkpoint without some heads is not sent requests it must refuse."""
    from training.data.synthetic import generate

    per_setting = []
    for setting, length in REALISTIC_CHARS.items():
        examples = generate(setting, max(n_per_setting, 1) * 3, seed=seed)
        asked = [e for e in examples if tasks is None or e.task in tasks][:n_per_setting]
        rng = random.Random(f"{seed}-{setting}")
        if asked:
            per_setting.append([_body(e, pad_passage(e.context, [x.context for x in examples if x.context != e.context], length, rng))
                                for e in asked])
    if not per_setting:
        raise ValueError(f"no sample request has one of the tasks {sorted(tasks or [])}")
    return [body for group in zip(*per_setting) for body in group]


def checkpoint_requests(checkpoint: str | Path, n_per_setting: int) -> list[dict[str, Any]]:
    """sample_requests of the tasks `checkpoint` serves."""
    from model.checkpoint import read_manifest  # torch and transformers: not for the locust users' import

    return sample_requests(n_per_setting, tasks=read_manifest(checkpoint).tasks)


def pad_passage(passage: str, others: list[str], min_chars: int, rng: random.Random) -> str:
    """`passage` followed by distractor passages until it has at least `min_chars` characters."""
    pool = list(others)
    rng.shuffle(pool)
    parts = [passage]
    while sum(len(p) + 1 for p in parts) - 1 < min_chars and pool:
        parts.append(pool.pop())
    return " ".join(parts)


def with_heads(body: dict[str, Any], target: str, others: list[str]) -> dict[str, Any]:
    """The same inputs, answered by head `target` with exactly the non-target heads `others`."""
    return {"target_head": target, "inputs": body["inputs"], "heads": list(others)}


def target_requests() -> list[dict[str, Any]]:
    """The generators' own passages of TARGET_TASKS, every head asked, interleaved by task so that
    every second of an open loop sees each target head."""
    from training.data.synthetic import generate

    by_task: dict[str, list[dict[str, Any]]] = {}
    for setting in REALISTIC_CHARS:
        for e in generate(setting, 20, seed=5):
            if e.task in TARGET_TASKS:
                by_task.setdefault(e.task, []).append(_body(e, e.context))
    return [b for row in itertools.zip_longest(*by_task.values()) for b in row if b is not None]


def parse_stages(text: str) -> list[tuple[int, float]]:
    """The ramp "users:seconds,..." -> [(users, seconds)]; a malformed stage names itself."""
    stages = []
    for part in text.split(","):
        try:
            users, seconds = part.split(":")
            stages.append((int(users), float(seconds)))
        except ValueError:
            raise ValueError(f"ramp stage {part!r} is not users:seconds (e.g. 16:60)") from None
        if stages[-1][0] < 0 or stages[-1][1] <= 0:
            raise ValueError(f"ramp stage {part!r}: users must be >= 0 and seconds > 0")
    return stages


def users_at(stages: list[tuple[int, float]], t: float) -> int | None:
    """Users wanted `t` seconds into the run; None once the stages are over."""
    ends = itertools.accumulate(seconds for _, seconds in stages)
    return next((users for (users, _), end in zip(stages, ends) if t < end), None)


class Catalog(BaseModel):
    """What GET /v1/heads says: the heads in order and each task's target head."""

    heads: list[str]
    tasks: dict[str, str]
    max_batch_items: int = 16

    @classmethod
    def from_heads_response(cls, body: dict[str, Any]) -> "Catalog":
        return cls(heads=[h["name"] for h in body["heads"]], tasks=body["tasks"],
                   max_batch_items=body.get("limits", {}).get("max_batch_items", 16))

    def target_of(self, request: dict[str, Any]) -> str | None:
        return request.get("target_head") or self.tasks.get(request.get("task", ""))

    def expected_others(self, request: dict[str, Any]) -> set[str]:
        """The non-target heads the request asked for (all heads when `heads` is omitted)."""
        wanted = self.heads if request.get("heads") is None else request["heads"]
        return set(wanted) - {self.target_of(request)}


def check_item(item: Any, request: dict[str, Any], catalog: Catalog) -> list[str]:
    """Problems with one answered item (a /v1/predict body or one of /v1/predict/batch's results):
    the target head's output, and every requested non-target head either answered or listed in
    `errors[]` (a degraded answer is valid, a silently missing head is not)."""
    if not isinstance(item, dict):
        return [f"the answer is a {type(item).__name__}, not a JSON object"]
    problems = []
    target, expected_target = item.get("target"), catalog.target_of(request)
    if not isinstance(target, dict) or not isinstance(target.get("output"), dict):
        problems.append("no target output")
    elif expected_target is not None and target.get("head") != expected_target:
        problems.append(f"target head is {target.get('head')!r}, expected {expected_target!r}")
    answered = {o.get("head") for o in item.get("non_target") or [] if isinstance(o, dict) and isinstance(o.get("output"), dict)}
    reported = {e.get("head") for e in item.get("errors") or [] if isinstance(e, dict)}
    missing = catalog.expected_others(request) - answered - reported
    if missing:
        problems.append(f"heads neither answered nor listed in errors[]: {sorted(missing)}")
    return problems


def check_answer(status: int, body: Any, request: dict[str, Any], catalog: Catalog) -> list[str]:
    """Problems with the answer to `request` ([]: valid); a batch needs one checked result per item."""
    if status != 200:
        return [f"HTTP {status}: {str(body)[:200]}"]
    if "items" not in request:
        return check_item(body, request, catalog)
    items = request["items"]
    results = body.get("results") if isinstance(body, dict) else None
    if not isinstance(results, list) or len(results) != len(items):
        return [f"{len(results) if isinstance(results, list) else 'no'} results for {len(items)} items"]
    return [f"item {i}: {p}" for i, (result, item) in enumerate(zip(results, items)) for p in check_item(result, item, catalog)]


def body_of(response: Any) -> Any:
    """A response's JSON, or its text when it is not JSON (Serve's proxy answers 503 in plain text)."""
    try:
        return response.json()
    except Exception:  # httpx and locust raise different errors for a body that is not JSON
        return response.text


@dataclass
class Outcome:
    """What one request got: a valid answer (no problems), an answer with problems, or none."""

    problems: list[str] = field(default_factory=list)  # [] = a valid answer
    status: int | None = None  # the HTTP status, for a request over HTTP
    body: Any = None  # the HTTP answer as read: JSON, else text
    retry_after: str | None = None
    lost: str | None = None  # no answer at all (refused, reset, timed out): the exception's class
    sent_at: float = 0.0  # seconds after the loop started
    latency_s: float = 0.0


# A call answers one request with the problems found in its answer ([] = valid), or with an
# Outcome that keeps the HTTP status and body too. Raising is a request with no answer.
Call = Callable[[dict[str, Any]], Awaitable[Union[list[str], Outcome]]]


@dataclass
class Run:
    outcomes: list[Outcome]
    seconds: float  # wall time, the requests in flight at the end included

    @property
    def latencies_ms(self) -> list[float]:
        """Of the valid answers."""
        return [o.latency_s * 1000 for o in self.outcomes if not o.problems]

    @property
    def failures(self) -> int:
        return sum(bool(o.problems) for o in self.outcomes)

    @property
    def problems(self) -> list[str]:
        """The first problem of each of the first five failures: enough to say what failed."""
        return [o.problems[0] for o in self.outcomes if o.problems][:5]


async def send(call: Call, request: dict[str, Any], t0: float) -> Outcome:
    """One request through `call`, timed from `t0`; an exception is a request with no answer."""
    sent = time.perf_counter()
    try:
        got = await call(request)
    except Exception as err:  # no answer is a failed request, not a crashed run
        got = Outcome([f"{type(err).__name__}: {err}"], lost=type(err).__name__)
    outcome = got if isinstance(got, Outcome) else Outcome(got)
    outcome.sent_at, outcome.latency_s = sent - t0, time.perf_counter() - sent
    return outcome


async def closed_loop(call: Call, requests: list[dict[str, Any]], concurrency: int, seconds: float,
                      max_requests: int | None = None) -> Run:
    """`concurrency` clients send back to back, going round `requests`, until `seconds` have passed
    (or `max_requests` were sent); the requests in flight then finish and count."""
    outcomes: list[Outcome] = []
    sent = 0
    t0 = time.perf_counter()

    async def client() -> None:
        nonlocal sent
        while time.perf_counter() - t0 < seconds and (max_requests is None or sent < max_requests):
            sent += 1
            outcomes.append(await send(call, requests[(sent - 1) % len(requests)], t0))

    await asyncio.gather(*(client() for _ in range(concurrency)))
    return Run(outcomes, time.perf_counter() - t0)


async def open_loop(call: Call, requests: list[dict[str, Any]], rate: float, seconds: float) -> Run:
    """`rate` requests a second for `seconds`, going round `requests`; then waits for every answer."""
    t0 = time.perf_counter()
    pending: list[asyncio.Task[Outcome]] = []
    for i, request in enumerate(itertools.cycle(requests)):
        if i / rate >= seconds:
            break
        await asyncio.sleep(max(0.0, t0 + i / rate - time.perf_counter()))
        pending.append(asyncio.create_task(send(call, request, t0)))
    return Run(list(await asyncio.gather(*pending)), time.perf_counter() - t0)


# An open loop keeps sending whatever the service does: many requests may wait at once.
OPEN_LOOP = httpx.Limits(max_connections=2000, max_keepalive_connections=200)


class Http:
    """POST /v1/predict, or /v1/predict/batch for a {"items": [...]} request, on one pooled client.
    Any status but 200 is a problem; the Outcome keeps the status, the body and Retry-After."""

    def __init__(self, url: str, limits: httpx.Limits = httpx.Limits(max_connections=100, max_keepalive_connections=20),
                 timeout_s: float = 60.0):
        self.client = httpx.AsyncClient(base_url=url, timeout=timeout_s, limits=limits)

    async def __call__(self, request: dict[str, Any]) -> Outcome:
        response = await self.client.post("/v1/predict/batch" if "items" in request else "/v1/predict", json=request)
        return Outcome([] if response.status_code == 200 else [f"HTTP {response.status_code}"], status=response.status_code,
                       body=body_of(response), retry_after=response.headers.get("retry-after"))


class ServeCaller(Http):
    """Every answer checked as the locust users check it, its timings_ms kept for the cell's breakdown."""

    def __init__(self, url: str):
        super().__init__(url, httpx.Limits(max_connections=64))
        self.catalog = Catalog.from_heads_response(httpx.get(f"{url}/v1/heads", timeout=10).json())
        self.timings: list[dict[str, Any]] = []

    async def __call__(self, request: dict[str, Any]) -> Outcome:
        outcome = await super().__call__(request)
        outcome.problems = check_answer(outcome.status or 0, outcome.body, request, self.catalog)
        if "items" not in request and outcome.status == 200 and isinstance(outcome.body, dict) and "timings_ms" in outcome.body:
            self.timings.append(outcome.body["timings_ms"])
        return outcome

    def breakdown(self) -> dict[str, float]:
        """Means over the answers since the last call: router total, backbone call, the forward
        pass, the slowest head replica call, and inputs per backbone pass."""
        timed, self.timings = self.timings, []
        if not timed:
            return {}
        return {
            "router_total_ms": statistics.mean(t["total"] for t in timed),
            "backbone_call_ms": statistics.mean(t["backbone"] for t in timed),
            "backbone_forward_ms": statistics.mean(t["backbone_forward"] for t in timed),
            "slowest_head_call_ms": statistics.mean(max(t["heads"].values(), default=0.0) for t in timed),
            "backbone_batch_inputs": statistics.mean(t["backbone_batch_inputs"] for t in timed),
        }
