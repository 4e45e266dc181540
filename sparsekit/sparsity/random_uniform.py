"""Uniform random pruning: every layer keeps the same fraction of its weights, at random
positions. The baseline every other method has to beat."""
import torch

from ..core.topk import allocate_counts, keep_count, random_positions
from .registry import register_mask


@register_mask("random", "nothing: each layer keeps the same fraction of weights at random positions")
def random_uniform(model, params, sparsity, data, scope, generator):
    density = 1.0 - sparsity
    sizes = [p.numel() for p in params.values()]
    if scope == "layerwise":
        counts = [keep_count(size, density) for size in sizes]
    else:  # the same fraction per layer, with the global total exact
        counts = allocate_counts(sizes, [density] * len(sizes), keep_count(sum(sizes), density))
    return {name: random_positions(p.shape, count, generator) for (name, p), count in zip(params.items(), counts)}
