"""Prune-and-regrow: the step SET and RigL share, and the random start they share.

Every update, in every layer: drop the k kept weights of smallest |theta|, then grow k
weights among the positions not kept after the drop, ranked by a method's own growth score
(SET: random; RigL: |dense gradient|). The layer's kept count never changes.

- k = floor(fraction * kept), as in the RigL reference code.
- Growth candidates are all positions outside the mask after the drop, the just-dropped ones
  included: the RigL reference code ranks growth scores over exactly that set (it lifts only
  the weights kept after the drop out of the ranking), and SET regrows among the zeros left
  after removal. A weight dropped and regrown in the same update is in both masks, so it is
  simply kept: its value and optimizer state stay. `regrow_dropped=False` excludes the
  just-dropped positions instead (k is then capped by the never-kept positions).
- Ties go to the earlier flat position (`top_k_flat`): among equal magnitudes the later
  ones are dropped, among equal growth scores the earlier ones are grown.
- Grown weights start at exactly zero with zeroed optimizer state (the trainer's
  `MaskEnforcer.replace`), so growing does not change what the network computes.
"""
from typing import Dict, Optional, Sequence

import torch

from ..core.errors import SparsekitError
from ..core.mask import Mask
from ..core.topk import top_k_flat
from .distributions import check_distribution, keep_top_scores
from .schedules import check_fraction, check_interval, step_at, update_interval
from .sparsifier import Sparsifier


def drop_and_grow(keep: torch.Tensor, magnitude: torch.Tensor, growth: torch.Tensor, count: int,
                  regrow_dropped: bool = True) -> torch.Tensor:
    """One layer's new keep-tensor: `count` smallest-|theta| kept weights out, `count` best
    growth scores in (see the module's rules)."""
    flat = keep.reshape(-1).cpu()
    kept = int(flat.sum())
    if not regrow_dropped:
        count = min(count, flat.numel() - kept)
    lowest = torch.tensor(-float("inf"), dtype=torch.float64)
    survivors = top_k_flat(torch.where(flat, magnitude.reshape(-1).cpu().double(), lowest), kept - count)
    candidates = ~survivors if regrow_dropped else ~flat
    grown = top_k_flat(torch.where(candidates, growth.reshape(-1).cpu().double(), lowest), count)
    return (survivors | (grown & candidates)).reshape(keep.shape)


def random_start(shapes: Dict[str, Sequence[int]], sparsity: float, distribution: str,
                 generator: torch.Generator) -> Mask:
    """Random positions, as many per layer as `distribution` says (`global`: one ranking of
    uniform random scores over all layers, so every layer keeps about the same fraction)."""
    scores = {name: torch.rand(tuple(shape), generator=generator, dtype=torch.float64)
              for name, shape in shapes.items()}
    return Mask(keep_top_scores(scores, sparsity, distribution))


def derived_seed(seed: int, purpose: int) -> int:
    """A seed for a second generator of the same run (regrowth), unrelated to `seed + 1`'s
    draws: one step of a 64-bit linear congruential generator."""
    return (int(seed) * 6364136223846793005 + 1442695040888963407 * (2 * purpose + 1)) % 2**64


class PruneAndRegrow(Sparsifier):
    """Shared by SET and RigL: the random start, the update steps and the per-layer swap.
    A subclass says how much to move (`fraction`) and where to grow (`growth_scores`)."""

    default_distribution = "erk"

    def __init__(self, params: Dict[str, torch.nn.Parameter], sparsity: float, seed: int,
                 distribution: Optional[str], update_every: int, drop_fraction: float, end_at: float,
                 regrow_dropped: bool):
        self.shapes = {name: tuple(p.shape) for name, p in params.items()}
        self.sparsity, self.seed = sparsity, int(seed)
        self.distribution = check_distribution(distribution or self.default_distribution)
        self.update_every = check_interval(update_every)
        self.drop_fraction = check_fraction("drop_fraction", drop_fraction)
        self.end_at = check_fraction("end_at", end_at)
        if not isinstance(regrow_dropped, bool):
            raise SparsekitError(f"regrow_dropped must be true or false, got {regrow_dropped!r}")
        self.regrow_dropped = regrow_dropped

    def initial_mask(self, model, data) -> Mask:
        # A fresh generator from the seed: every rank (and a `compute` call) draws the same mask.
        return random_start(self.shapes, self.sparsity, self.distribution, torch.Generator().manual_seed(self.seed))

    def window(self, total_steps: int):
        """(last step that may update, steps between updates)."""
        end = step_at(self.end_at, total_steps)
        return end, update_interval(self.update_every, end)

    def update(self, state) -> Optional[Mask]:
        end, interval = self.window(state.total_steps)
        step = state.step
        if step == 0 or step >= end or step % interval:
            return None
        fraction = self.fraction(step, end)
        params = dict(state.model.named_parameters())
        new = {}
        for name, keep in state.mask.items():
            weight = params[name].detach()
            count = int(fraction * int(keep.sum()))
            new[name] = drop_and_grow(keep, weight.abs(), self.growth_scores(name, params[name]), count,
                                      self.regrow_dropped)
        mask = Mask(new)
        return None if mask.same_as(state.mask) else mask

    def fraction(self, step: int, end: int) -> float:
        raise NotImplementedError

    def growth_scores(self, name: str, param: torch.nn.Parameter) -> torch.Tensor:
        raise NotImplementedError

    def describe(self, total_steps: Optional[int] = None) -> dict:
        described = {"name": self.name, "description": self.description, "schedule": self.name,
                     "distribution": self.distribution, "update_every": self.update_every,
                     "drop_fraction": self.drop_fraction, "end_at": self.end_at, "regrow_dropped": self.regrow_dropped}
        if total_steps:
            end, interval = self.window(total_steps)
            described.update(update_every_used=interval, last_update_before_step=end)
        return described

