"""When a mask changes and by how much: schedules, orthogonal to the scores that say which weights.

- `gmp_sparsity`: the cubic sparsity ramp of gradual magnitude pruning (Zhu & Gupta 2017),
      s_t = s_f + (s_i - s_f) (1 - (t - t0) / (t_end - t0))^3   for t0 <= t <= t_end,
  s_i before t0 and s_f from t_end on. The paper writes t_end = t0 + n dt; here the end is a
  fraction of the run, so n dt need not be a whole number of intervals: updates fall at t0,
  t0 + dt, ... and one more at t_end, where the ramp reaches s_f exactly.
- `cosine_fraction`: the share of a layer's kept weights that RigL moves at step t,
  alpha (1 + cos(pi t / t_end)) / 2 (Evci et al. 2020), falling from alpha to 0.
- `update_interval`: the steps between updates. A method's `update_every` (100 by default,
  as in the papers) is meant for runs of tens of thousands of steps; a course run on digits
  has a few hundred, where it would allow one update or none. Rule: at least
  `MIN_UPDATES` updates fit in the update window, i.e. dt = min(update_every, window // 10),
  and at least 1. The record's mask history shows the steps actually used.
"""
import math

from ..core.errors import SparsekitError

MIN_UPDATES = 10


def update_interval(update_every: int, window: int) -> int:
    """Steps between mask updates over a window of `window` steps (the rule above)."""
    return max(1, min(int(update_every), int(window) // MIN_UPDATES))


def step_at(fraction: float, total_steps: int) -> int:
    """The step a fraction of the run falls on (floor), kept inside the run: the last
    update must happen while there are still steps to train after it."""
    return max(0, min(int(fraction * total_steps), total_steps - 1))


def gmp_sparsity(step: int, initial: float, final: float, start: int, end: int) -> float:
    """The cubic ramp's sparsity at `step` (continuous in the step; updates sample it)."""
    if step < start:
        return initial
    if step >= end:
        return final
    progress = (step - start) / (end - start)
    return final + (initial - final) * (1.0 - progress) ** 3


def is_gmp_update(step: int, start: int, end: int, interval: int) -> bool:
    """GMP updates at start, start + interval, ... up to end, and at end itself."""
    return start <= step <= end and ((step - start) % interval == 0 or step == end)


def cosine_fraction(step: int, alpha: float, end: int) -> float:
    """RigL's drop fraction at `step`: alpha (1 + cos(pi step / end)) / 2; 0 from `end` on."""
    if step >= end:
        return 0.0
    return alpha * (1.0 + math.cos(math.pi * step / end)) / 2.0


def check_fraction(name: str, value: float, low_open: bool = True, high: float = 1.0) -> float:
    """A run fraction option (drop_fraction, start_at, end_at) in (0, 1] (or [0, 1])."""
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        raise SparsekitError(f"{name} must be a number, got {value!r}")
    if value > high or value < 0 or (low_open and value == 0):
        interval = f"(0, {high:g}]" if low_open else f"[0, {high:g}]"
        raise SparsekitError(f"{name} must be in {interval}, got {value}")
    return float(value)


def check_interval(update_every: int) -> int:
    if isinstance(update_every, bool) or not isinstance(update_every, int) or update_every < 1:
        raise SparsekitError(f"update_every must be a whole number of steps >= 1, got {update_every!r}")
    return update_every
