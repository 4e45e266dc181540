"""ERK (Erdos-Renyi-Kernel, Evci et al. 2020) as a mask method: random positions at ERK layer
densities (the densities themselves: `erk_densities.py`, also the `erk` distribution).

`compute("erk", ...)` is `compute("random", ..., distribution="erk")`: both draw the same
counts; the positions differ only in how the seed's random stream is consumed.
"""
from ..core.errors import SparsekitError
from ..core.topk import random_positions
from .erk_densities import erk_counts, erk_densities  # noqa: F401  (their long-standing home)
from .registry import register_mask


@register_mask("erk", "nothing: random positions at Erdos-Renyi-Kernel layer densities (small layers denser)",
               distributions=("erk",))
def erk(model, params, sparsity, data, scope, generator, *, distribution=None):
    if scope != "global":
        raise SparsekitError("mask method 'erk' sets its own layer densities; use scope='global'")
    counts = erk_counts([tuple(p.shape) for p in params.values()], 1.0 - sparsity)
    return {name: random_positions(p.shape, count, generator) for (name, p), count in zip(params.items(), counts)}
