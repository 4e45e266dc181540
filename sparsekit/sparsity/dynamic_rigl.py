"""RigL, Rigging the Lottery (Evci et al. 2020): start from a random sparse mask (ERK layer
densities by default) and every `update_every` steps until `end_at` of the run, in every
layer, drop the k smallest-|theta| kept weights and grow the k positions with the largest
|dense gradient|, k = fraction * kept with the cosine-decaying
fraction = drop_fraction * (1 + cos(pi t / T_end)) / 2.

The dense gradient is the one the trainer just computed for this step (after the
data-parallel sync and AMP's unscale, before masking), so no extra pass is needed. Grown
weights start at zero: they change nothing until the optimizer moves them.
"""
from typing import Optional

import torch

from .prune_regrow import PruneAndRegrow
from .registry import register_dynamic
from .schedules import cosine_fraction


class RigL(PruneAndRegrow):
    name = "rigl"
    description = "RigL: drop the smallest |theta| per layer, grow the largest |gradient| (Evci et al. 2020)"

    def fraction(self, step: int, end: int) -> float:
        return cosine_fraction(step, self.drop_fraction, end)

    def growth_scores(self, name: str, param: torch.nn.Parameter) -> torch.Tensor:
        if param.grad is None:  # a layer the loss does not reach has no gradient: nothing to prefer
            return torch.zeros(param.shape)
        return param.grad.detach().abs()


@register_dynamic("rigl", "dynamic: random start, every update drops the smallest |theta| per layer and grows "
                          "the largest |gradient| (RigL)")
def rigged_lottery(params, sparsity, seed, *, distribution: Optional[str] = None, update_every: int = 100,
                   drop_fraction: float = 0.3, end_at: float = 0.75, regrow_dropped: bool = True) -> RigL:
    return RigL(params, sparsity, seed, distribution, update_every, drop_fraction, end_at, regrow_dropped)
