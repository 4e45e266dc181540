"""Set-up of a run before its first step: the CPU thread count is chosen, the sparsifier gives
the first mask (a resumed run: where the checkpoint left it), the callbacks shape the model
(architecture, initialisation) around the mask, then the optimizer, precision and compiled
forward are built, and a resumed run takes its position, weights and generators from the
checkpoint.

Every rank does the same, in the same order: the mask and an init that read data come from
rank 0, and each rank then sees only its shard of the batches.
"""
from typing import Any, Dict, Optional

import torch
from torch import nn

from ..analysis import warn_collapsed_layers
from ..analysis.masks import collapse_advice
from ..analysis.paths import Connectivity, connectivity, warn_cut_network
from ..core import threads
from ..core.callbacks import CallbackList
from ..core.errors import SparsekitError
from ..models.cost import step_macs_on
from . import distributed, record as run_record
from .config import TrainConfig
from .memory_layout import layout
from .precision import Precision
from .state import TrainState


def set_up(state: TrainState, hooks: CallbackList, resumed: Optional[Dict[str, Any]]) -> None:
    choose_threads(state.model, state.data, state.config.batch_size, state.device)
    if state.mask is None:
        state.mask, state.mask_source = first_mask(state.sparsifier, state.model, state.data, resumed)
    config, model, mask = state.config, state.model, state.mask
    if mask.num_total() and not mask.num_kept():
        raise SparsekitError(f"the mask keeps no weight at all ({mask.num_total()} pruned): nothing would train")
    run_record.check_sections(hooks)
    warn_collapsed_layers(mask, state.mask_source.get("method"))
    read_paths(state)
    hooks.call("check", state)
    if resumed is None:
        hooks.call("before_mask", state)
    mask.apply(model)
    hooks.call("on_setup", state)
    # Counted once the recipe has built its architecture: in early mode the ghost branches are
    # gone by the end, so the record keeps what the network carried while training too.
    state.parameters_at_start = run_record.parameter_counts(model, mask)
    distributed.broadcast_model(model)  # an init that read data: rank 0's weights everywhere
    layout(model, config.channels_last, state.device)
    if config.amp != "none":
        state.precision = Precision(config.amp, state.device)
    if config.compile:
        state.forward = torch.compile(model)
    state.optimizer = optimizer_for(config, model)
    state.set_mask(mask)
    distributed.check_same_mask(mask)
    distributed.shard_batches(state.data)  # after the mask and the init, which see what one process sees
    state.steps_per_epoch = config.steps_per_epoch(len(state.data.train))
    state.total_steps = state.steps_per_epoch * config.epochs
    if resumed is not None:
        state.load_state_dict(resumed)


def choose_threads(model: nn.Module, data, batch_size: int, device: torch.device) -> None:
    """The run's CPU thread count (`core.threads`), from the size of its training step; chosen
    before the mask method runs: scoring a mask computes as hard as training does."""
    threads.apply(step_macs_on(model, data, batch_size) if device.type == "cpu" else None)


def read_paths(state: TrainState) -> None:
    """Before the recipe shapes the network: whether the starting mask leaves a path from input to
    output in the network it was made for, and the density of its kept weights some path uses (the
    record keeps both); a warning when it cuts the network."""
    model, mask = state.model, state.mask
    shape = input_shape(model, state.data)
    path, effective = connectivity(model, mask, shape) if shape is not None else Connectivity(None, None)
    state.path_from_input_at_start = path
    state.effective_density_at_start = effective.density() if effective is not None and mask.num_total() else None
    if state.path_from_input_at_start is False:
        warn_cut_network(collapse_advice(state.mask_source.get("method")))


def input_shape(model: nn.Module, data) -> Optional[tuple]:
    """(channels, height, width) of one example: as the data says (a loaded dataset does), else as
    the model says (a kit model records what it was built for); None where neither does."""
    channels, size = getattr(data, "in_channels", None), getattr(data, "image_size", None)
    if channels is not None and size is not None:
        return (int(channels), int(size), int(size))
    shape = getattr(model, "input_shape", None)
    return tuple(int(v) for v in shape) if shape is not None else None


def first_mask(sparsifier, model: nn.Module, data, resumed: Optional[Dict[str, Any]] = None):
    """(mask, its source) a run starts from: where an interrupted run had left it (a dynamic
    method may have moved it; the method never runs again), else the sparsifier's initial mask,
    computed once, on rank 0, and sent to the others (a lottery mask costs whole trainings).
    Checkpoints written before dynamic masks hold none: their one-shot mask is recomputed."""
    saved = TrainState.saved_mask(resumed) if resumed is not None else None
    if saved is not None:
        return saved
    return distributed.from_main(lambda: (sparsifier.initial_mask(model, data), sparsifier.source))


def optimizer_for(config: TrainConfig, model: nn.Module) -> torch.optim.Optimizer:
    params = [p for p in model.parameters() if p.requires_grad]
    if config.optimizer == "sgd":
        return torch.optim.SGD(params, lr=config.lr, momentum=config.momentum, nesterov=config.nesterov,
                               weight_decay=config.weight_decay)
    if config.nesterov:
        raise SparsekitError("nesterov applies to optimizer 'sgd' only")
    kind = torch.optim.Adam if config.optimizer == "adam" else torch.optim.AdamW
    return kind(params, lr=config.lr, weight_decay=config.weight_decay)
