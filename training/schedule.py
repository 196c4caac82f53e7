"""The learning-rate schedule of the run that really happens: linear warm-up, then linear decay
to zero at the last step that runs.

With a fixed step count that is `optim.steps`. With a time budget as well, progress is whichever
is further along, steps or seconds, so a run the budget cuts short still anneals to zero at its
end instead of stopping with the rate near its peak (and the kept checkpoint sees that end).
"""
from __future__ import annotations

import torch


class LinearSchedule:
    def __init__(self, optimizer: torch.optim.Optimizer, steps: int, warmup_ratio: float,
                 time_budget_s: float | None = None):
        self.optimizer = optimizer
        self.steps = steps
        self.warmup_ratio = warmup_ratio
        self.time_budget_s = time_budget_s
        # The configured peak rates, read before a resumed optimizer state overwrites them.
        self.peaks = [group["lr"] for group in optimizer.param_groups]
        self.last_factor = 0.0

    def progress(self, step: int, elapsed_s: float) -> float:
        """Fraction of the run done, 0..1."""
        done = step / self.steps
        if self.time_budget_s:
            done = max(done, elapsed_s / self.time_budget_s)
        return min(done, 1.0)

    def factor(self, progress: float) -> float:
        if self.warmup_ratio and progress < self.warmup_ratio:
            return progress / self.warmup_ratio
        return max(0.0, (1.0 - progress) / (1.0 - self.warmup_ratio))

    def finished(self, step: int, elapsed_s: float) -> bool:
        return self.progress(step, elapsed_s) >= 1.0

    def set_rate(self, step: int, elapsed_s: float) -> float:
        """Set every group's rate for the step about to run; returns the factor of its peak."""
        # The first step runs at a small, non-zero rate, as transformers' schedules do.
        progress = max(self.progress(step, elapsed_s), 0.5 / self.steps if step == 0 else 0.0)
        self.last_factor = self.factor(progress)
        for group, peak in zip(self.optimizer.param_groups, self.peaks):
            group["lr"] = peak * self.last_factor
        return self.last_factor

    def last_lr(self) -> float:
        return self.peaks[0] * self.last_factor
