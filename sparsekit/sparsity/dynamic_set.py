"""SET, Sparse Evolutionary Training (Mocanu et al. 2018): start from a random sparse mask
(ERK layer densities by default) and every `update_every` steps, in every layer, drop the
`drop_fraction` (zeta) of kept weights closest to zero and regrow as many at random positions.

The regrowth draws from a generator seeded from the run's seed (not the one that drew the
initial mask), carried in the checkpoint: a resumed run and every data-parallel rank draw
exactly what an uninterrupted single process draws.
"""
from typing import Optional

import torch

from .prune_regrow import PruneAndRegrow, derived_seed
from .registry import register_dynamic


class SET(PruneAndRegrow):
    name = "set"
    description = "SET: drop the smallest |theta| per layer, regrow at random (Mocanu et al. 2018)"

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.generator = torch.Generator().manual_seed(derived_seed(self.seed, purpose=1))

    def fraction(self, step: int, end: int) -> float:
        return self.drop_fraction

    def growth_scores(self, name: str, param: torch.nn.Parameter) -> torch.Tensor:
        return torch.rand(param.numel(), generator=self.generator, dtype=torch.float64)

    def state_dict(self) -> dict:
        return {"generator": self.generator.get_state()}

    def load_state_dict(self, state: dict) -> None:
        self.generator.set_state(state["generator"])


@register_dynamic("set", "dynamic: random start, every update drops the smallest |theta| per layer and regrows "
                         "at random (SET)")
def sparse_evolutionary_training(params, sparsity, seed, *, distribution: Optional[str] = None,
                                 update_every: int = 100, drop_fraction: float = 0.3, end_at: float = 1.0,
                                 regrow_dropped: bool = True) -> SET:
    return SET(params, sparsity, seed, distribution, update_every, drop_fraction, end_at, regrow_dropped)
