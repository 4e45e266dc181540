"""The training loop: a built `TrainState` and its callbacks -> epochs -> run record.

What to train is decided above this layer (`sparsekit.runs` builds the data, the model, the
mask, its sparsifier and the recipe's callbacks into a `TrainState`); `fit` only runs the
epochs and steps, sets the learning rate and calls the hooks. Everything else is a callback:
evaluation, checkpoints, the record and its files, the progress bar and the divergence watch
are the standard ones (`standard_callbacks`). The sparsifier is asked at every step whether
the mask changes (`Sparsifier.update`); the loop installs what it returns and logs the change,
whatever the method. Pruned weights stay exactly zero (see `masking`), and a seeded CPU run
repeats exactly, resumed or not.
"""
from typing import Any, Dict, Optional, Sequence

import torch

from ..analysis import mask_change
from ..core.callbacks import Callback, CallbackList
from . import distributed
from .divergence import Diverged
from .record import RunRecord
from .run_dir import RunDirectory
from .schedules import learning_rate
from .setup import set_up
from .standard_callbacks import RunRecorder, standard_callbacks
from .state import TrainState
from .step import train_step


def train(state: TrainState, callbacks: Sequence[Callback], run: Optional[RunDirectory] = None,
          resumed: Optional[Dict[str, Any]] = None) -> RunRecord:
    """Set up, train and record one run; with `run`, its files are written there (a
    checkpoint and the record after every epoch), continuing from `resumed` when given."""
    state.callbacks = CallbackList(callbacks)  # the run's own: their states go into checkpoints
    recorder = RunRecorder(run)
    fit(state, standard_callbacks(state, callbacks, run, recorder), resumed)
    return recorder.result


def fit(state: TrainState, callbacks: Sequence[Callback], resumed: Optional[Dict[str, Any]] = None) -> None:
    """The loop: set-up, then every step of every epoch at its learning rate, calling the hooks."""
    hooks = CallbackList(callbacks)
    set_up(state, hooks, resumed)
    config = state.config
    milestones = config.milestone_fractions()
    warmup_steps = round(config.warmup_epochs * state.steps_per_epoch)
    sync = distributed.gradient_sync()
    # Pinned batches copy while the GPU computes; channels-last images match channels-last weights.
    non_blocking = state.device.type == "cuda"
    forward = state.forward if state.forward is not None else state.model  # a compiled module has no truth value
    update_mask = (lambda: ask_sparsifier(state)) if state.sparsifier is not None else None
    hooks.call("on_run_start", state)
    try:
        while state.epoch < config.epochs:
            state.data.train.set_epoch(state.epoch)
            hooks.call("on_epoch_start", state)
            state.model.train()
            for batch_index, (x, y) in enumerate(state.data.train):
                if batch_index >= state.steps_per_epoch:
                    break
                x, y = x.to(state.device, non_blocking=non_blocking), y.to(state.device, non_blocking=non_blocking)
                if config.channels_last and x.dim() == 4:
                    x = x.contiguous(memory_format=torch.channels_last)
                state.lr = learning_rate(state.step, state.total_steps, config.lr, config.lr_schedule, warmup_steps,
                                         milestones, config.lr_drop)
                for group in state.optimizer.param_groups:
                    group["lr"] = state.lr
                state.loss, state.logits = train_step(forward, state.optimizer, state.loss_fn, x, y, state.enforcer,
                                                      sync, state.precision, update_mask=update_mask)
                state.targets = y
                state.step += 1
                hooks.call("on_step", state)
            state.epoch += 1
            hooks.call("on_epoch_end", state)  # the standard ones evaluate, checkpoint and record
    except Diverged as diverged:
        state.diverged = diverged
        hooks.call("on_diverged", state)
        raise
    hooks.call("on_run_end", state)


def ask_sparsifier(state: TrainState) -> None:
    """Ask the sparsifier; install a new mask (every rank must have drawn the same) and log it."""
    new = state.sparsifier.update(state)
    if new is None:
        return
    before = state.mask
    state.set_mask(new)
    distributed.check_same_mask(new)
    state.mask_history.append(mask_change(before, new, state.step))
