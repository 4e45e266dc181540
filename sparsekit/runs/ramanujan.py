"""Ramanujan sampling: of several random masks at the same layer-wise densities, keep the one
whose full-spectrum coordinate moves farthest from its initialization's.

After Hoang et al., "Don't just prune by magnitude! Your mask topology is a secret weapon"
(NeurIPS 2023), which builds on "Revisiting pruning at initialization through the lens of
Ramanujan graph" (ICLR 2023): a sparse network's L2 distance in the coordinate
(Ramanujan gap, weighted spectral gap; both averaged over nested regular subgraphs, see
`sparsekit.analysis.spectral`) from its own point at initialization tracks its accuracy, so
pruning at initialization can sample masks and keep the farthest-moving one.

What this file does, step by step, for each of `samples` masks:
1. random positions at the layer densities (`densities="erk"`, the default, or "uniform"),
   with exact per-layer counts (the total is round(density * N) exactly);
2. the coordinate of the model's initial weights under that mask;
3. `train_steps` SGD steps (momentum 0.9, `lr`) on a copy of the model, mask enforced, over
   the mask batches (`--mask-batches` sets how many distinct ones, reused in turn);
4. the coordinate again, and the L2 distance between the two.
The mask with the largest distance is returned (the earliest on a tie); the model is left
as it was. With no training the coordinate cannot move, so `train_steps` must be >= 1. The
Ramanujan gap depends on the mask alone, so the distance comes from the weighted gap's move.
"""
import copy
from typing import Dict, List, Optional, Tuple

import torch
from torch import nn

from ..analysis import spectral
from ..core.errors import SparsekitError
from ..core.mask import Mask
from ..core.prunable import prunable_parameters
from ..core.topk import allocate_counts, check_sparsity, keep_count, random_positions
from ..training.masking import MaskEnforcer
from ..training.step import train_step
from ..sparsity.erk import erk_counts
from ..sparsity.registry import register_procedure

DENSITIES = ("erk", "uniform")
SUMMARY = ("coordinate distance: of random masks at ERK densities, the one whose full-spectrum coordinate moves "
           "farthest in a short training")


def layer_counts(params: Dict[str, torch.Tensor], density: float, densities: str) -> List[int]:
    """Kept weights per layer for the named density rule, summing to round(density * N)."""
    shapes = [tuple(p.shape) for p in params.values()]
    if densities == "erk":
        return erk_counts(shapes, density)
    sizes = [p.numel() for p in params.values()]
    return allocate_counts(sizes, [density] * len(sizes), keep_count(sum(sizes), density))


def coordinate_move(model: nn.Module, keep: Dict[str, torch.Tensor], batches, train_steps: int, lr: float):
    """L2 distance the coordinate of `model` under `keep` moves in `train_steps` short-training
    steps (on a copy; None where the coordinate is not measurable at this sparsity)."""
    mask = Mask(keep)
    trial = mask.apply(copy.deepcopy(model))
    start = spectral.coordinate_of(trial, mask)["coordinate"]
    device = next(trial.parameters()).device
    optimizer = torch.optim.SGD(trial.parameters(), lr=lr, momentum=0.9)
    enforcer, loss_fn = MaskEnforcer(trial, mask), nn.CrossEntropyLoss()
    trial.train()
    for step in range(train_steps):
        x, y = batches[step % len(batches)]
        train_step(trial, optimizer, loss_fn, x.to(device), y.to(device), enforcer)
    return spectral.distance(start, spectral.coordinate_of(trial, mask)["coordinate"])


def sample_masks(model, params, density: float, batches, generator: torch.Generator, samples: int,
                 train_steps: int, lr: float, densities: str) -> List[Tuple[Dict[str, torch.Tensor], object]]:
    """[(mask, distance)] for each sampled mask, in sampling order."""
    counts = layer_counts(params, density, densities)
    found = []
    for _ in range(samples):
        keep = {name: random_positions(p.shape, count, generator) for (name, p), count in zip(params.items(), counts)}
        found.append((keep, coordinate_move(model, keep, batches, train_steps, lr)))
    return found


@register_procedure("ramanujan", SUMMARY, follows_distribution=False)
def sample_mask(model, sparsity: float, data, *, seed: int = 0, generator: Optional[torch.Generator] = None,
                prune_first_layer: bool = True,
                prune_classifier: bool = False, samples: int = 5, train_steps: int = 10, lr: float = 0.1,
                densities: str = "erk") -> Mask:
    """The sampled mask whose coordinate moves farthest (see the module docstring); the model is
    left as it was. `densities` names the layer densities the masks are drawn at."""
    sparsity = check_sparsity(sparsity)
    generator = generator if generator is not None else torch.Generator().manual_seed(int(seed))
    params = prunable_parameters(model, prune_first_layer, prune_classifier)
    if not params:
        raise SparsekitError("the model has no prunable Conv or Linear weights")
    if data is None:
        raise SparsekitError("mask method 'ramanujan' scores masks with data: pass data= (batches of (x, y))")
    if densities not in DENSITIES:
        raise SparsekitError(f"ramanujan densities must be one of: {', '.join(DENSITIES)} (got {densities!r})")
    if not isinstance(samples, int) or samples < 1 or not isinstance(train_steps, int) or train_steps < 1:
        raise SparsekitError(f"ramanujan needs samples >= 1 and train_steps >= 1 (the coordinate only moves "
                             f"with training), got samples={samples!r}, train_steps={train_steps!r}")
    batches = list(data)
    if not batches:
        raise SparsekitError("mask method 'ramanujan' needs at least one batch of data for its short training")
    found = sample_masks(model, params, 1.0 - sparsity, batches, generator, samples, train_steps, lr, densities)
    measured = [(distance, index) for index, (_, distance) in enumerate(found) if distance is not None]
    if not measured:
        raise SparsekitError(f"ramanujan: no sampled mask has a measurable coordinate at sparsity {sparsity:g} "
                             f"(every layer's graph averages fewer than 3 edges per node)")
    best = max(measured, key=lambda pair: (pair[0], -pair[1]))[1]
    return Mask(found[best][0])
