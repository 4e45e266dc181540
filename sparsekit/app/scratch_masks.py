"""The glue around the course's "From scratch" cells of the mask-method notebooks (02-08).

A notebook writes a method's core in plain torch beside its formula; a check cell then runs
the engine on the same network, batch and seed and compares. What that check needs lives
here, so the notebook shows only the method and the comparison:

- `starting_point(settings)`: the network a run of these settings starts from (seeded and
  initialised as the run does it, before any mask), the batch its data-driven methods score
  on, and the weights a mask covers;
- `same_values` / `same_mask`: the comparisons. Each returns one line saying what agreed, or
  raises one `SparsekitError` line saying what did not;
- `engine_lottery_round`, `engine_update`: the engine's side where it is not one call (a
  lottery round trains a network; a RigL update happens inside training).
"""
from types import SimpleNamespace
from typing import Dict, Mapping, NamedTuple, Optional

import torch
from torch import nn

from ..core.errors import SparsekitError
from ..core.mask import Mask
from ..core.prunable import prunable_parameters
from ..runs import launch, lottery, mask_sources
from .experiments import make_settings

Tensors = Mapping[str, torch.Tensor]


class StartingPoint(NamedTuple):
    model: nn.Module
    x: torch.Tensor  # the scoring batch's inputs
    y: torch.Tensor  # and labels
    weights: Dict[str, nn.Parameter]  # name -> weight a mask covers (the run's prunable weights)


def starting_point(settings=None, **changes) -> StartingPoint:
    """The network, scoring batch and prunable weights of a run of `settings` (with `changes`)
    before its mask is computed: what the run hands its mask method."""
    config = make_settings(settings, **changes).to_config()
    data, model = launch.starting_network(config)
    batches = mask_sources.scoring_batches(config, data)
    if len(batches) != 1:
        raise SparsekitError(f"a from-scratch check scores one batch; these settings give {len(batches)} (set "
                             f"mask_examples_per_class above 0, or mask_batches=1)")
    (x, y), = batches
    return StartingPoint(model, x, y, prunable_parameters(model, config.prune_first_layer, config.prune_classifier))


def same_values(mine: Tensors, engine: Tensors, what: str, *, rtol: float, atol: float) -> str:
    """One line if every value of `mine` (scores, weights: name -> tensor) is within
    `atol + rtol * |engine's|` of the engine's, else a `SparsekitError` naming the first tensor
    that differs and by how much."""
    _same_layers(mine, engine, what)
    worst = 0.0
    for name in engine:
        a, b = mine[name].detach().cpu().double(), engine[name].detach().cpu().double()
        gap = torch.where(a == b, torch.zeros_like(a), (a - b).abs())  # equal infinities: no gap
        # Beyond the bound, or finite on one side only (an inf or NaN where the other has a number).
        outside = (gap > atol + rtol * b.abs()) | (torch.isfinite(a) != torch.isfinite(b))
        if bool(outside.any()):
            raise SparsekitError(f"{what}: {int(outside.sum())} of {b.numel()} values of {name!r} differ from the "
                                 f"engine's by more than atol={atol:g} + rtol={rtol:g} x |value| (largest difference "
                                 f"{float(gap.max()):.3g})")
        worst = max(worst, float(gap.max()))
    total = sum(s.numel() for s in engine.values())
    return (f"{what}: the same values as the engine in all {len(engine)} tensors ({total} entries) within "
            f"atol={atol:g} + rtol={rtol:g} x |value| (largest difference {worst:.2g})")


def same_mask(mine: Tensors, engine: Tensors, what: str, *, scores: Optional[Tensors] = None, rtol: float = 0.0,
              atol: float = 0.0) -> str:
    """One line if `mine` keeps the same number of weights as the engine at the same positions,
    else a `SparsekitError`. Given `scores` (mine), positions may differ only as swaps among
    near-tied scores: every weight kept by one mask and not the other scored within
    `atol + rtol * |score|` of every other such weight (two rankings of equal-to-rounding scores
    may order them differently at the cut; any other difference is an error)."""
    _same_layers(mine, engine, what)
    kept_mine = sum(int(keep.sum()) for keep in mine.values())
    kept_engine = sum(int(keep.sum()) for keep in engine.values())
    total = sum(keep.numel() for keep in engine.values())
    if kept_mine != kept_engine:
        raise SparsekitError(f"{what}: keeps {kept_mine} of {total} weights, the engine {kept_engine}")
    differ = {name: mine[name].cpu().bool() ^ engine[name].cpu().bool() for name in engine}
    moved = sum(int(d.sum()) for d in differ.values()) // 2
    agreed = f"{what}: the same mask as the engine, {kept_engine} of {total} weights kept"
    if not moved:
        return agreed + ", every position the same"
    first = next(name for name, d in differ.items() if bool(d.any()))
    if scores is None:
        raise SparsekitError(f"{what}: {moved} of the {kept_engine} kept weights are not where the engine keeps them "
                             f"(first in layer {first!r})")
    swapped = torch.cat([scores[name].detach().cpu().double()[d] for name, d in differ.items()])
    spread, bound = float(swapped.max() - swapped.min()), atol + rtol * float(swapped.abs().max())
    if not spread <= bound:
        raise SparsekitError(f"{what}: {moved} of the {kept_engine} kept weights are not where the engine keeps them "
                             f"(first in layer {first!r}), and their scores are {spread:.3g} apart, not a near tie "
                             f"(within {bound:.3g})")
    return agreed + f"; {moved} swapped at the cut among scores within {bound:.2g} of each other (a near tie)"


def _same_layers(mine: Tensors, engine: Tensors, what: str) -> None:
    if list(mine) != list(engine):
        missing = [name for name in engine if name not in mine] or [name for name in mine if name not in engine]
        raise SparsekitError(f"{what}: the layers are not the engine's ({len(mine)} against {len(engine)}; first "
                             f"not in both: {missing[0] if missing else 'the order differs'})")
    for name in engine:
        if tuple(mine[name].shape) != tuple(engine[name].shape):
            raise SparsekitError(f"{what}: layer {name!r} has shape {tuple(mine[name].shape)}, the engine's "
                                 f"{tuple(engine[name].shape)}")


class LotteryRound(NamedTuple):
    mask: Mask  # the engine's mask after the round
    trained: Dict[str, torch.Tensor]  # the model's state after the round's training
    rewind: Dict[str, torch.Tensor]  # the state the survivors are rewound to
    ticket: Dict[str, torch.Tensor]  # the engine's model after the round: rewound, mask applied


def engine_lottery_round(settings=None, *, round_epochs: int, rewind_steps: int, prune_fraction: float = 0.2,
                         **changes) -> LotteryRound:
    """One round of the engine's lottery ticket (`runs.lottery.find_ticket` to the first
    round's sparsity) from the network a run of `settings` starts with, plus the trained and
    rewind-point states it pruned and rewound from, for a from-scratch round to redo."""
    config = make_settings(settings, progress=False, **changes).to_config()
    data, model = launch.starting_network(config)
    initial = _state(model)
    seen = {}

    def train_and_watch(round_config, callbacks=(), **objects):
        rewind_point = lottery.RewindPoint(rewind_steps)  # snapshots as the round's own one does
        record = launch.train(round_config, callbacks=list(callbacks) + [rewind_point], **objects)
        seen.update(trained=_state(record.model), rewind=rewind_point.weights if rewind_steps else initial)
        return record

    first_round = lottery.round_sparsities(prune_fraction, prune_fraction)[0]
    mask = lottery.find_ticket(model, first_round, data, train=train_and_watch, train_config=config,
                               round_epochs=round_epochs, rewind_steps=rewind_steps, prune_fraction=prune_fraction,
                               prune_first_layer=config.prune_first_layer, prune_classifier=config.prune_classifier)
    return LotteryRound(mask, seen["trained"], seen["rewind"], _state(model))


def _state(model: nn.Module) -> Dict[str, torch.Tensor]:
    return {name: value.detach().cpu().clone() for name, value in model.state_dict().items()}


def engine_update(sparsifier, model: nn.Module, mask: Mask, step: int, total_steps: int) -> Mask:
    """The mask a dynamic method's sparsifier (SET, RigL, GMP) gives at optimizer step `step`
    of `total_steps`, with the model's current weights and `.grad` (the dense gradients the
    trainer hands it); `mask` itself when it makes no change at that step."""
    # The fields of the trainer's state that a sparsifier's update reads.
    state = SimpleNamespace(step=int(step), total_steps=int(total_steps), model=model, mask=Mask(mask))
    return sparsifier.update(state) or Mask(mask)
