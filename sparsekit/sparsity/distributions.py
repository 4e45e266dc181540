"""How many weights each layer keeps: the distribution, orthogonal to the score that says which.

- `global`: one ranking over every layer; the per-layer counts fall where the scores put them
  (so there are no counts to give before scoring: `layer_counts` returns None);
- `uniform`: every layer keeps the same fraction, each exactly round(d * n_layer);
- `erk`: Erdos-Renyi-Kernel densities (small layers denser; see `erk.erk_densities`), with
  the total exactly round(d * N).

Any score method combines with any distribution (`compute("snip", ..., distribution="erk")`),
and so do the dynamic methods, whose per-layer counts stay fixed once chosen.

The older `scope` is the same choice under another name: scope "global" is distribution
"global", "layerwise" is "uniform" (`from_scope`). None means the method's own: the global
ranking for a score method, the method's own counts for one that builds its mask.
"""
from typing import Dict, List, Optional, Sequence

import torch

from ..core.errors import SparsekitError
from ..core.topk import check_sparsity, keep_count, keep_top, top_k_flat
from .erk_densities import erk_counts

DISTRIBUTIONS: Dict[str, str] = {
    "global": "one ranking over all layers: counts fall where the scores are highest",
    "uniform": "every layer keeps the same fraction of its weights",
    "erk": "Erdos-Renyi-Kernel layer densities: small layers denser (Evci et al. 2020)",
}


# The older name of the choice, still accepted: scope -> the distribution it means.
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
    if distribution == "uniform":
        return [keep_count(int(torch.Size(shape).numel()), density) for shape in shapes]
    return erk_counts(shapes, density)


def keep_top_scores(scores: Dict[str, torch.Tensor], sparsity: float, distribution: str) -> Dict[str, torch.Tensor]:
    """Name -> bool tensor: the highest scores, as many per layer as `distribution` says."""
    if check_distribution(distribution) in ("global", "uniform"):
        return keep_top(scores, sparsity, "global" if distribution == "global" else "layerwise")
    counts = layer_counts(distribution, [tuple(s.shape) for s in scores.values()], sparsity)
    return {name: top_k_flat(s.detach().reshape(-1).cpu().double(), count).reshape(s.shape)
            for (name, s), count in zip(scores.items(), counts)}


def from_scope(scope: Optional[str], distribution: Optional[str]) -> Optional[str]:
    """The distribution asked for by `scope` and/or `distribution` (None: the method's own).

    scope "global" alone stays None: it was every call's default, so it never asked for more
    than the method's own choice (which for a score method is the global ranking)."""
    if distribution is not None:
        check_distribution(distribution)
    if scope is None:
        return distribution
    if not isinstance(scope, str) or scope not in SCOPES:
        raise SparsekitError(f"unknown scope {scope!r}; choose one of: {', '.join(SCOPES)}")
    if distribution is not None and SCOPES[scope] != distribution:
        raise SparsekitError(f"scope {scope!r} means distribution {SCOPES[scope]!r}, which conflicts with "
                             f"distribution {distribution!r}; give only distribution")
    if distribution is None and scope == "layerwise":
        return "uniform"
    return distribution
