"""Exact top-k selection: the step every mask method ends with.

A target sparsity s over N weights keeps exactly (1 - s) * N rounded half up (floor(x + 1/2); not
Python's round(), which rounds halves to even). Scores often tie
(zeros, equal magnitudes, float32 saturation in SynFlow); ties are broken by position (the
earlier flat index wins), so the count is exact and the mask repeatable.
"""
from typing import Dict

import torch

from .errors import SparsekitError


def check_sparsity(sparsity: float) -> float:
    """Return `sparsity` as a float, or raise if it is outside [0, 1)."""
    try:
        if isinstance(sparsity, (str, bool)):  # "0.9" or True would be read as numbers otherwise
            raise TypeError
        value = float(sparsity)
    except (TypeError, ValueError):
        raise SparsekitError(f"sparsity must be a number in [0, 1), got {sparsity!r}") from None
    if not 0.0 <= value < 1.0:
        raise SparsekitError(f"sparsity must be in [0, 1) (fraction of weights removed), got {value}")
    return value


def keep_count(total: int, density: float) -> int:
    """How many of `total` weights a density keeps: round half away from zero, in range."""
    return min(total, max(0, int(density * total + 0.5)))


def top_k_flat(scores: torch.Tensor, keep: int) -> torch.Tensor:
    """Boolean tensor, True at the `keep` largest entries of a flat score vector.

    Found by selection (`torch.kthvalue`), not a full sort: SynFlow calls this 100 times on
    ResNet-18's 11M scores. Ties at the threshold go to the earliest positions, which is what
    a stable descending sort would pick. The result lives on the scores' device.
    """
    scores = scores.detach().reshape(-1)
    if scores.dtype not in (torch.float32, torch.float64):
        scores = scores.double()
    # NaN would make the order undefined: treat it as the lowest possible score.
    scores = torch.nan_to_num(scores, nan=-float("inf"))
    if keep >= scores.numel():
        return torch.ones(scores.numel(), dtype=torch.bool, device=scores.device)
    if keep <= 0:
        return torch.zeros(scores.numel(), dtype=torch.bool, device=scores.device)
    threshold = kth_smallest(scores, scores.numel() - keep)
    chosen = scores > threshold
    missing = keep - int(chosen.sum())
    if missing:  # ties at the threshold: the earliest of them fill the count
        chosen[torch.nonzero(scores == threshold).reshape(-1)[:missing]] = True
    return chosen


SAMPLE = 1 << 16  # sampled scores that bracket the threshold in a large vector


def kth_smallest(values: torch.Tensor, rank: int) -> torch.Tensor:
    """The `rank`-th smallest entry (1-based) of a flat vector: exactly `torch.kthvalue`'s value.

    On a large vector a strided sample first brackets the value between two of its order
    statistics, a few sample deviations either side of the rank's place; then only the entries
    inside that bracket are selected from. Two comparisons over the vector replace a selection
    over all of it (profiled: kthvalue was half of SynFlow-100's time on ResNet-18). Should the
    bracket miss the rank (a bad sample), the full selection runs: the value is always exact."""
    count = values.numel()
    if count <= 8 * SAMPLE:
        return torch.kthvalue(values, rank).values
    sample = values[:: count // SAMPLE]
    place = rank / count * sample.numel()
    margin = 4.0 * (sample.numel() * 0.25) ** 0.5 + 2  # four sample deviations, at least
    low_rank = max(1, int(place - margin))
    high_rank = min(sample.numel(), int(place + margin) + 1)
    low, high = torch.kthvalue(sample, low_rank).values, torch.kthvalue(sample, high_rank).values
    below = int((values < low).sum())
    inside = values[(values >= low) & (values <= high)]
    if below < rank <= below + inside.numel():
        return torch.kthvalue(inside, rank - below).values
    return torch.kthvalue(values, rank).values


def keep_top(scores: Dict[str, torch.Tensor], sparsity: float, scope: str = "global") -> Dict[str, torch.Tensor]:
    """Name -> boolean keep-tensor holding exactly round((1 - sparsity) * N) True entries.

    scope "global": one ranking over all tensors. scope "layerwise": each tensor keeps
    round((1 - sparsity) * n_layer) of its own entries, so every layer is exact.
    """
    density = 1.0 - check_sparsity(sparsity)
    if scope == "layerwise":
        return {
            name: top_k_flat(s.cpu(), keep_count(s.numel(), density)).reshape(s.shape)
            for name, s in scores.items()
        }
    if scope != "global":
        raise SparsekitError(f"unknown scope {scope!r}; choose one of: global, layerwise")
    flat = torch.cat([s.detach().reshape(-1).cpu().double() for s in scores.values()])
    chosen = top_k_flat(flat, keep_count(flat.numel(), density))
    result, start = {}, 0
    for name, s in scores.items():
        result[name] = chosen[start:start + s.numel()].reshape(s.shape)
        start += s.numel()
    return result


def allocate_counts(sizes, densities, total_keep: int):
    """Integer kept-counts per layer near `densities`, summing exactly to `total_keep`.

    Largest-remainder rounding: floor every layer's share, then give the missing units to the
    layers with the largest fractional parts (earlier layers first on ties), never exceeding
    a layer's size. Per-layer methods (uniform random, ERK) use it to make the global count
    exact, which independent per-layer rounding would miss by up to one weight per layer.
    """
    shares = [min(float(size), max(0.0, d * size)) for size, d in zip(sizes, densities)]
    counts = [int(share) for share in shares]
    missing = total_keep - sum(counts)
    order = sorted(range(len(sizes)), key=lambda i: (-(shares[i] - counts[i]), i))
    while missing > 0:
        progressed = False
        for i in order:
            if missing == 0:
                break
            if counts[i] < sizes[i]:
                counts[i] += 1
                missing -= 1
                progressed = True
        if not progressed:
            raise ValueError(f"cannot keep {total_keep} weights in layers of sizes {list(sizes)}")
    return counts


def random_positions(shape, count: int, generator: torch.Generator) -> torch.Tensor:
    """A bool tensor of `shape` with exactly `count` True entries at random positions."""
    numel = int(torch.Size(shape).numel())
    keep = torch.zeros(numel, dtype=torch.bool)
    keep[torch.randperm(numel, generator=generator)[:count]] = True
    return keep.reshape(shape)
