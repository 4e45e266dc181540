"""How many weights each layer keeps: the distribution, orthogonal to the score that says which.

- `global`: one ranking over every layer; the per-layer counts fall where the scores put them
  (so there are no counts to give before scoring: `layer_counts` returns None);
- `uniform`: every layer keeps the same fraction, each exactly round(d * n_layer);
- `even`: every layer keeps the same fraction and the total is exactly round(d * N) (largest
  remainders decide which layers round up): the default of `random`;
- `erk`: Erdos-Renyi-Kernel densities (small layers denser; see `erk.erk_densities`), with
  the total exactly round(d * N).

Any score method combines with any distribution (`compute("snip", ..., distribution="erk")`),
and so do the dynamic methods, whose per-layer counts stay fixed once chosen. Settings written
with the retired `scope` read as the distribution it meant (`SCOPES`).
"""
from typing import Dict, List, Optional, Sequence

import torch

from ..core.errors import SparsekitError
from ..core.topk import allocate_counts, check_sparsity, keep_count, keep_top, top_k_flat
from .erk_densities import erk_counts

DISTRIBUTIONS: Dict[str, str] = {
    "global": "one ranking over all layers: counts fall where the scores are highest",
    "uniform": "every layer keeps the same fraction of its weights",
    "even": "every layer keeps the same fraction, with the total exact (largest remainders round up)",
    "erk": "Erdos-Renyi-Kernel layer densities: small layers denser (Evci et al. 2020)",
}


# The retired name of the choice, read from older settings: scope -> the distribution it meant.
SCOPES: Dict[str, str] = {"global": "global", "layerwise": "uniform"}


def check_distribution(distribution: str) -> str:
    if not isinstance(distribution, str) or distribution not in DISTRIBUTIONS:
        raise SparsekitError(f"unknown distribution {distribution!r}; choose one of: {', '.join(DISTRIBUTIONS)}")
    return distribution


def layer_counts(distribution: str, shapes: Sequence[Sequence[int]], sparsity: float) -> Optional[List[int]]:
    """Kept count per layer (in `shapes` order), or None for `global` (decided by the scores)."""
    density = 1.0 - check_sparsity(sparsity)
    check_distribution(distribution)
    if distribution == "global":
        return None
    sizes = [int(torch.Size(shape).numel()) for shape in shapes]
    if distribution == "uniform":
        return [keep_count(size, density) for size in sizes]
    if distribution == "even":
        return allocate_counts(sizes, [density] * len(sizes), keep_count(sum(sizes), density))
    return erk_counts(shapes, density)


def keep_top_scores(scores: Dict[str, torch.Tensor], sparsity: float, distribution: str) -> Dict[str, torch.Tensor]:
    """Name -> bool tensor: the highest scores, as many per layer as `distribution` says."""
    if check_distribution(distribution) in ("global", "uniform"):
        return keep_top(scores, sparsity, "global" if distribution == "global" else "layerwise")
    counts = layer_counts(distribution, [tuple(s.shape) for s in scores.values()], sparsity)
    return {name: top_k_flat(s.detach().reshape(-1).cpu().double(), count).reshape(s.shape)
            for (name, s), count in zip(scores.items(), counts)}
