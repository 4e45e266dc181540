"""Random pruning: random scores, so the kept weights sit at random positions. The baseline
every other method has to beat.

The scores are drawn layer by layer from the run's seeded generator: a random permutation's
ranks, scaled to (0, 1] so that layers compare under one global ranking. Cut to per-layer
counts, the top `count` of a layer are the first `count` entries of its permutation, the
positions `core.topk.random_positions` draws. With an N:M pattern the scores are uniform
floats instead, the draw `patterns.random_in_groups` makes, so each group keeps N random
positions. The two draws differ because those are the masks `random` has always given for a
seed; one draw cannot reproduce both.

By default every layer keeps the same fraction with the total exact (distribution "even");
`erk` is this method at ERK densities (`erk.py`).
"""
import torch

from .registry import register_scores


@register_scores("random", "nothing: each layer keeps the same fraction of weights at random positions",
                 distribution="even")
def random_scores(model, params, batches, *, layout, generator):
    if layout.pattern is not None:
        return {name: torch.rand(p.shape, generator=generator, dtype=torch.float64) for name, p in params.items()}
    return {name: permutation_ranks(p.numel(), generator).reshape(p.shape) for name, p in params.items()}


def permutation_ranks(count: int, generator: torch.Generator) -> torch.Tensor:
    """Scores in (0, 1] whose top k are the first k entries of one `torch.randperm` draw."""
    order = torch.randperm(count, generator=generator)
    ranks = torch.empty(count, dtype=torch.float64)
    ranks[order] = torch.arange(count, 0, -1, dtype=torch.float64) / max(count, 1)
    return ranks
