"""Ablations that ask what a mask method's choice really carries (Frankle et al. 2021,
"Pruning neural networks at initialization: why are we missing the mark?"):

- shuffle: keep each layer's kept count, move the kept weights to random positions. If the
  shuffled mask trains as well, the method only chose good layer-wise densities.
- invert: keep the LOWEST-scoring weights (same exact count). If that trains as well, the
  scores' ranking carries no information.

Both are options of `compute` (`shuffle=True`, `invert=True`) and work for any score method;
shuffle also works for mask-building methods.
"""
from typing import Dict

import torch

from ..core.topk import keep_top, random_positions


def shuffle_within_layers(mask: Dict[str, torch.Tensor], generator: torch.Generator) -> Dict[str, torch.Tensor]:
    """Same kept count per layer as `mask`, at random positions drawn from `generator`."""
    return {name: random_positions(keep.shape, int(keep.sum()), generator) for name, keep in mask.items()}


def keep_lowest(scores: Dict[str, torch.Tensor], sparsity: float, scope: str) -> Dict[str, torch.Tensor]:
    """Exactly as many weights as `keep_top` keeps, but those with the lowest scores."""
    # Negating turns "lowest" into "highest" and keeps keep_top's exact count and tie rule;
    # NaN stays NaN, which keep_top ranks last, so a NaN score is never "lowest" either.
    return keep_top({name: -s.detach().double() for name, s in scores.items()}, sparsity, scope)
