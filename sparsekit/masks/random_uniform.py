"""Uniform random pruning: every layer keeps the same fraction of its weights, at random
positions. The baseline every other method has to beat."""
import torch

from ..topk import allocate_counts, keep_count
from .registry import register_mask


def random_positions(shape, count: int, generator: torch.Generator) -> torch.Tensor:
    """A bool tensor of `shape` with exactly `count` True entries at random positions."""
    numel = int(torch.Size(shape).numel())
    keep = torch.zeros(numel, dtype=torch.bool)
    keep[torch.randperm(numel, generator=generator)[:count]] = True
    return keep.reshape(shape)


@register_mask("random", "nothing: each layer keeps the same fraction of weights at random positions")
def random_uniform(model, params, sparsity, data, scope, generator):
    density = 1.0 - sparsity
    sizes = [p.numel() for p in params.values()]
    if scope == "layerwise":
        counts = [keep_count(size, density) for size in sizes]
    else:  # the same fraction per layer, with the global total exact
        counts = allocate_counts(sizes, [density] * len(sizes), keep_count(sum(sizes), density))
    return {name: random_positions(p.shape, count, generator) for (name, p), count in zip(params.items(), counts)}
