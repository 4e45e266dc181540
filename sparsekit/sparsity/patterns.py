"""N:M sparsity: keep exactly N of every M consecutive weights along the input dimension, for
any score (`compute("snip", ..., pattern="2:4")`) and for random masks.

Layout (see `core/nm_groups.py`): a Linear weight (out, in) is grouped along `in`; a conv
weight (out, in, kh, kw) is flattened per output channel to (out, in*kh*kw) in PyTorch's
memory order and grouped along that row. For a Linear layer that is the layout NVIDIA's 2:4
sparse tensor cores use (the GEMM's reduction dimension). For a conv it is the reduction
dimension of the GEMM when the conv is lowered in PyTorch's (in, kh, kw) order; NVIDIA's own
pruning tool (ASP) orders a conv's reduction dimension channels-last instead, so there a group
is 4 input channels at one kernel position. A 2:4 mask from here is structurally 2:4, but a
conv's groups are not the ones ASP would form.

Rules:
- every pruned layer's row length (in, or in*kh*kw) must be a multiple of M, else a one-line
  error names the layer (the digits ResNet-20's first conv has 1x3x3 = 9 inputs: leave it
  dense with `prune_first_layer=False`);
- the sparsity is fixed at 1 - N/M: `sparsity` must be left out (None) or equal it;
- the pattern fixes every layer's count, so it combines with no distribution but 'uniform'
  (which is what it gives);
- ties go to the lowest index in the group, as `core/topk` breaks them; NaN scores rank last.
"""
from typing import Dict, Optional

import torch

from ..core.errors import SparsekitError
from ..core.nm_groups import Pattern, grouped, parse_pattern, satisfies  # noqa: F401  (the public names)

SYNTAX = "N:M keeps exactly N of every M consecutive weights along the input dimension (e.g. 2:4, 1:4, 4:8)"


def sparsity_of(pattern: Pattern, sparsity: Optional[float]) -> float:
    """The sparsity a pattern gives, or an error if `sparsity` was given and differs."""
    if sparsity is not None and (isinstance(sparsity, (str, bool)) or not isinstance(sparsity, (int, float))
                                 or abs(float(sparsity) - pattern.sparsity) > 1e-9):
        raise SparsekitError(f"pattern {pattern} fixes the sparsity at 1 - N/M = {pattern.sparsity:g}, but sparsity "
                             f"{sparsity!r} was given; leave sparsity out or set it to {pattern.sparsity:g}")
    return pattern.sparsity


def check_layers(shapes: Dict[str, torch.Size], pattern: Pattern) -> None:
    """One-line error naming the first layer that cannot be split into groups of M."""
    for name, shape in shapes.items():
        grouped(torch.empty(shape, device="meta"), pattern.m, name)


def keep_top_in_groups(scores: Dict[str, torch.Tensor], pattern: Pattern) -> Dict[str, torch.Tensor]:
    """Name -> bool tensor keeping the N highest scores of every group of M."""
    return {name: top_in_groups(s, pattern.n, pattern.m, name) for name, s in scores.items()}


def random_in_groups(shape, pattern: Pattern, generator: torch.Generator) -> torch.Tensor:
    """A bool tensor of `shape` keeping N random positions of every group of M."""
    return top_in_groups(torch.rand(shape, generator=generator, dtype=torch.float64), pattern.n, pattern.m)


def top_in_groups(scores: torch.Tensor, keep: int, m: int, name: str = "weight") -> torch.Tensor:
    """Bool tensor of `scores`' shape keeping the `keep` highest of every group of `m`."""
    groups = grouped(scores.detach().cpu().double(), m, name)
    groups = torch.nan_to_num(groups, nan=-float("inf"))
    # A stable descending sort keeps equal scores in index order: ties go to the lowest index.
    order = torch.sort(groups, dim=-1, descending=True, stable=True).indices[..., :keep]
    keep = torch.zeros(groups.shape, dtype=torch.bool).scatter_(-1, order, True)
    return keep.reshape(scores.shape)
