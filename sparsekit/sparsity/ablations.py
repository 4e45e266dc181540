"""Ablations that ask what a mask method's choice really carries (Frankle et al. 2021,
"Pruning neural networks at initialization: why are we missing the mark?"):

- shuffle: keep each layer's kept count, move the kept weights to random positions. If the
  shuffled mask trains as well, the method only chose good layer-wise densities.
- invert: keep the LOWEST-scoring weights (same exact count). If that trains as well, the
  scores' ranking carries no information.

Both are options of `compute` (`shuffle=True`, `invert=True`) and work for any score method
(with any distribution or N:M pattern); shuffle also works for mask-building methods.
"""
from typing import Dict, Optional

import torch

from ..core.topk import random_positions
from .patterns import Pattern, random_in_groups


def shuffle_within_layers(mask: Dict[str, torch.Tensor], generator: torch.Generator,
                          pattern: Optional[Pattern] = None) -> Dict[str, torch.Tensor]:
    """Same kept count per layer as `mask`, at random positions drawn from `generator`
    (with a pattern: random N of every group of M, so the shuffled mask is N:M too)."""
    if pattern is not None:
        return {name: random_in_groups(keep.shape, pattern, generator) for name, keep in mask.items()}
    return {name: random_positions(keep.shape, int(keep.sum()), generator) for name, keep in mask.items()}


def lowest_first(scores: Dict[str, torch.Tensor]) -> Dict[str, torch.Tensor]:
    """Scores whose highest are the given lowest: selecting the top of these keeps the lowest."""
    # Negating keeps the selection's exact count and tie rule; NaN stays NaN, which every
    # selection ranks last, so a NaN score is never "lowest" either.
    return {name: -s.detach().double() for name, s in scores.items()}
