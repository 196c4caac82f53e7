"""One in-process mode (the multi-task engine, or one model per task) in its own process, so its
peak memory is its own: `python -m loadtests.inprocess_run MODE PLAN.json OUT.json`. The bench
starts it; it is not meant to be run by hand."""
from __future__ import annotations

import asyncio
import json
import resource
import sys
from pathlib import Path

from loadtests.cells import run_cells
from loadtests.engines import IN_PROCESS
from loadtests.inputs import sample_requests
from loadtests.results import ModeResult, Plan


def run(mode: str, plan: Plan) -> ModeResult:
    if mode not in IN_PROCESS:
        raise ValueError(f"{mode!r} is not an in-process mode; valid: {', '.join(IN_PROCESS)}")
    engine = IN_PROCESS[mode](Path(plan.checkpoint), plan.batching, plan.device, plan.dtype)
    base = sample_requests(plan.requests_per_setting)
    cells = asyncio.run(run_cells(mode, engine, plan, base))
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KiB on Linux
    note = "peak RSS of the one process (models, tokenizer, Python, torch)"
    gpu = None
    if plan.device == "cuda":
        import torch

        gpu = torch.cuda.max_memory_reserved() / 2**20
        note += "; GPU: torch's peak reserved memory"
    return ModeResult(mode=mode, peak_rss_mib=peak, memory_note=note, peak_gpu_mib=gpu, cells=cells,
                      batch_inputs_mean=engine.batch_inputs_mean())


def main() -> None:
    mode, plan_path, out_path = sys.argv[1:4]
    plan = Plan.model_validate(json.loads(Path(plan_path).read_text()))
    Path(out_path).write_text(run(mode, plan).model_dump_json())


if __name__ == "__main__":
    main()
