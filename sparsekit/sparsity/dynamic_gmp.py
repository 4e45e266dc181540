"""GMP, gradual magnitude pruning (Zhu & Gupta 2017): train from dense (or from
`initial_sparsity`) and prune the smallest-|theta| weights on the cubic schedule of
`schedules.gmp_sparsity`, from `start_at` to `end_at` of the run, every `update_every` steps
(fewer steps apart in a short run: `schedules.update_interval`).

The score is orthogonal to the schedule: `--mask gmp` is magnitude on this schedule, and
`--mask M --schedule gmp` puts any score method M that needs no data on it (its scores of
the current weights, recomputed at each update). A pruned weight never comes back (its score
is -inf). Per-layer counts follow the distribution: `global` (the default, as magnitude
pruning does) ranks all layers together; `uniform` and `erk` give every layer its target.
"""
from typing import Optional

from .gradual import GMP_TIMING, GradualPruning  # noqa: F401  (GradualPruning: its long-standing home)
from .magnitude import magnitude
from .registry import register_dynamic


def _magnitude(model, params):
    return magnitude(model, params, None)


@register_dynamic("gmp", "dynamic: from dense, prune the smallest |theta| on a cubic schedule during training "
                         "(gradual magnitude pruning)")
def gradual_magnitude_pruning(params, sparsity, seed, *, distribution: Optional[str] = None,
                              update_every: int = GMP_TIMING["update_every"],
                              initial_sparsity: float = GMP_TIMING["initial_sparsity"],
                              start_at: float = GMP_TIMING["start_at"],
                              end_at: float = GMP_TIMING["end_at"]) -> GradualPruning:
    return GradualPruning(params, sparsity, _magnitude, "magnitude", distribution, update_every, initial_sparsity,
                          start_at, end_at)
