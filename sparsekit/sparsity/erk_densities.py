"""ERK (Erdos-Renyi-Kernel, Evci et al. 2020) layer densities: proportional to (sum of the
weight's dimensions) / (product of its dimensions).

For a conv weight (C_out, C_in, k_h, k_w) that is (C_out + C_in + k_h + k_w) / (C_out C_in k_h
k_w); a Linear weight (C_out, C_in) counts as a conv with k_h = k_w = 1, as in the reference
definition (so its numerator is C_out + C_in + 2). Small layers get high densities, large ones
low.

Capacity check: a layer whose density would exceed 1 is made dense and the others re-scaled
to the remaining budget, repeated until no layer exceeds 1 (an implementation without it
misses the target). The float densities then become integer counts by largest-remainder
rounding (`topk.allocate_counts`), so the total kept is round(d * N) exactly.

Its own file (not erk.py, which registers the `erk` mask method) so that `distributions`
can use it without importing the method registry.
"""
from typing import List, Sequence

import torch

from ..core.topk import allocate_counts, keep_count


def _raw(shape: Sequence[int]) -> float:
    """Unscaled ERK density of one weight shape; Linear weights count kernel dims of 1."""
    dims = list(shape) + [1, 1] if len(shape) == 2 else list(shape)
    return sum(dims) / int(torch.Size(dims).numel())


def erk_densities(shapes: Sequence[Sequence[int]], density: float) -> List[float]:
    """Per-layer densities with the ERK ratios whose kept total is `density` of all weights.

    Layers that would exceed 1 are dense; the rest share what remains in proportion to ERK.
    """
    sizes = [int(torch.Size(shape).numel()) for shape in shapes]
    raw = [_raw(shape) for shape in shapes]
    budget = density * sum(sizes)
    dense = set()
    while True:
        # Making a layer dense frees budget for the others (it gets less than its ERK share),
        # so the scale only grows: every layer over 1 now is over 1 after, all go at once.
        sparse = [i for i in range(len(shapes)) if i not in dense and sizes[i] > 0]
        remaining = budget - sum(sizes[i] for i in dense)
        weight = sum(raw[i] * sizes[i] for i in sparse)
        scale = remaining / weight if weight > 0 else 0.0
        over = [i for i in sparse if scale * raw[i] > 1.0]
        if not over:
            break
        dense.update(over)
    return [1.0 if i in dense else min(1.0, max(0.0, scale * raw[i])) for i in range(len(shapes))]


def erk_counts(shapes: Sequence[Sequence[int]], density: float) -> List[int]:
    """Integer kept counts per layer: ERK densities, total exactly round(density * N)."""
    sizes = [int(torch.Size(shape).numel()) for shape in shapes]
    return allocate_counts(sizes, erk_densities(shapes, density), keep_count(sum(sizes), density))
