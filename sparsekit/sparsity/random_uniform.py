"""Random pruning: kept weights at random positions. The baseline every other method has to
beat.

Per-layer counts: by default (and with distribution "global") every layer keeps the same
fraction with the global total exact; "uniform" is round(d * n) per layer; "erk" the ERK
counts (the same mask as method `erk` for the same seed). With an N:M pattern, N random
positions of every group of M.
"""
from ..core.topk import allocate_counts, keep_count, random_positions
from .distributions import layer_counts
from .patterns import random_in_groups
from .registry import register_mask


@register_mask("random", "nothing: each layer keeps the same fraction of weights at random positions",
               distributions=("global", "uniform", "erk"))
def random_uniform(model, params, sparsity, data, scope, generator, *, distribution=None, pattern=None):
    if pattern is not None:
        return {name: random_in_groups(p.shape, pattern, generator) for name, p in params.items()}
    density = 1.0 - sparsity
    sizes = [p.numel() for p in params.values()]
    if distribution == "erk":
        counts = layer_counts("erk", [tuple(p.shape) for p in params.values()], sparsity)
    elif scope == "layerwise":
        counts = [keep_count(size, density) for size in sizes]
    else:  # the same fraction per layer, with the global total exact
        counts = allocate_counts(sizes, [density] * len(sizes), keep_count(sum(sizes), density))
    return {name: random_positions(p.shape, count, generator) for (name, p), count in zip(params.items(), counts)}
