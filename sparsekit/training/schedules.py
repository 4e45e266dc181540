"""Learning-rate schedules as pure functions of the step, so resuming needs no saved state."""
import math
from typing import Sequence


def learning_rate(step: int, total_steps: int, peak: float, schedule: str, warmup_steps: int = 0,
                  milestones: Sequence[float] = (), drop: float = 0.1) -> float:
    """The learning rate for optimizer step `step` (0-based) of `total_steps`.

    Linear warm-up from peak/warmup_steps to peak, then "constant", "multistep" (multiply by
    `drop` at each milestone, given as fractions of the run) or "cosine" (to zero at the end).
    """
    if step < warmup_steps:
        return peak * (step + 1) / warmup_steps
    if schedule == "constant":
        return peak
    if schedule == "multistep":
        passed = sum(step >= round(m * total_steps) for m in milestones)
        return peak * drop ** passed
    if schedule == "cosine":
        span = max(1, total_steps - warmup_steps)
        progress = min(1.0, (step - warmup_steps) / span)
        return peak * 0.5 * (1.0 + math.cos(math.pi * progress))
    raise ValueError(f"unknown schedule {schedule!r}")
