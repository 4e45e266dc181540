"""Uniform random pruning: every layer keeps the same fraction of its weights, at random
positions. The baseline every other method has to beat."""
import torch

from ..topk import keep_count
from .registry import register_mask


@register_mask("random", "nothing: each layer keeps the same fraction of weights at random positions")
def random_uniform(model, params, sparsity, data, scope, generator, **options):
    density = 1.0 - sparsity
    mask = {}
    for name, weight in params.items():
        keep = torch.zeros(weight.numel(), dtype=torch.bool)
        keep[torch.randperm(weight.numel(), generator=generator)[:keep_count(weight.numel(), density)]] = True
        mask[name] = keep.reshape(weight.shape)
    return mask
