"""The training loop: a prepared model, mask, data and callbacks -> epochs -> run record.

What to train is decided above this layer (`sparsekit.runs` builds the data, the model, the
mask, its sparsifier and the recipe's callbacks); the loop only trains. The sparsifier is
asked at every step whether the mask changes (`Sparsifier.update`); the loop installs what it
returns and logs the change, whatever the method. Pruned weights stay exactly zero (see
`masking`), every epoch ends with a checkpoint (the current mask and the sparsifier's state
included) and an atomically rewritten `record.json`, `mask.pt` is the final mask, written at
the end, and a seeded CPU run repeats exactly, resumed or not.
"""
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Dict, List, Optional

import torch
from torch import nn

from ..core import atomic
from ..core.callbacks import Callback, CallbackList
from ..core.errors import SparsekitError
from ..core.mask import Mask
from ..analysis import mask_change, warn_collapsed_layers
from . import checkpoint, distributed, epoch_csv, record as run_record
from .config import TrainConfig
from .divergence import DivergenceWatch, Diverged
from .bn_reestimate import bn_reestimated_accuracy
from .evaluate import evaluate
from .precision import Precision, layout
from .progress import ProgressBar
from .run_dir import RunDirectory
from .schedules import learning_rate
from .state import TrainState
from .step import train_step


@dataclass
class Job:
    """Everything one training run needs, built and checked by `sparsekit.runs`."""
    config: TrainConfig
    model: nn.Module
    mask: Mask
    mask_source: Dict[str, Any]
    data: Any
    device: torch.device
    callbacks: List[Callback]
    recipe: Dict[str, Any]  # the recipe's settings, for the record and the resume check
    began: float  # perf_counter() when the run was asked for: the record's seconds cover the set-up too
    run: Optional[RunDirectory] = None  # None: nothing is written
    resumed: Optional[Dict[str, Any]] = None  # the checkpoint to continue from
    extras: Dict[str, Any] = field(default_factory=dict)  # run-level facts for the record
    # Asked at every step for a new mask (a `sparsekit.sparsity.Sparsifier`); None: the mask is fixed.
    sparsifier: Any = None


def fit(job: Job) -> run_record.RunRecord:
    config, model, mask, data, device = job.config, job.model, job.mask, job.data, job.device
    run, resumed, recipe_dict, mask_source, began = job.run, job.resumed, job.recipe, job.mask_source, job.began
    run_dir = run.path if run is not None else None
    if mask.num_total() and not mask.num_kept():
        raise SparsekitError(f"the mask keeps no weight at all ({mask.num_total()} pruned): nothing would train")
    warn_collapsed_layers(mask, mask_source.get("method"))
    state = TrainState(config=config, model=model, mask=mask, data=data, device=device,
                       loss_fn=nn.CrossEntropyLoss(), sparsifier=job.sparsifier)
    hooks = CallbackList(job.callbacks)
    hooks.call("check", state)
    if resumed is None:
        hooks.call("before_mask", state)
    mask.apply(model)
    hooks.call("on_setup", state)
    # Counted once the recipe has built its architecture: in early mode the ghost branches are
    # gone by the end, so the record keeps what the network carried while training too.
    state.extras["parameters_at_start"] = run_record.parameter_counts(model, mask)
    state.extras.update(job.extras)
    distributed.broadcast_model(model)  # an init that read data: rank 0's weights everywhere
    layout(model, config.channels_last)
    if config.amp != "none":
        state.precision = Precision(config.amp, device)
    if config.compile:
        state.forward = torch.compile(model)
    state.optimizer = _optimizer(config, model)
    state.set_mask(mask)
    distributed.check_same_mask(mask)
    distributed.shard_batches(data)  # after the mask and the init, which see what one process sees
    state.steps_per_epoch = config.steps_per_epoch(len(data.train))
    state.total_steps = state.steps_per_epoch * config.epochs
    epochs, seconds_before = [], 0.0
    if resumed is not None:
        state.epoch, state.step = resumed["epoch"], resumed["step"]
        hooks.call("on_resume", state)
        model.load_state_dict(resumed["model"])
        state.optimizer.load_state_dict(resumed["optimizer"])
        hooks.load_state_dict(resumed["callbacks"])
        epochs, seconds_before = resumed["epochs"], resumed["seconds"]
        if state.precision is not None:
            state.precision.load_state_dict(resumed.get("precision"))
        if state.sparsifier is not None and resumed.get("sparsifier") is not None:
            state.sparsifier.load_state_dict(resumed["sparsifier"])
        state.mask_history = list(resumed.get("mask_history", []))
        # What the network carried when training began, not where a dynamic mask has moved since.
        state.extras["parameters_at_start"] = resumed.get("parameters_at_start", state.extras["parameters_at_start"])
        checkpoint.restore_rng(resumed["rng"])
    if state.sparsifier is not None:
        state.extras["sparsifier"] = state.sparsifier.describe(state.total_steps)

    started = began - seconds_before
    hooks.call("on_run_start", state)
    # What the record says if the run diverges: the state after the last good epoch.
    last_good = run_record.build(state, epochs, mask_source, recipe_dict, time.perf_counter() - started, False)
    watch = DivergenceWatch(device)
    try:
        with ProgressBar(config.progress and distributed.is_main(), total=state.total_steps, initial=state.step) as bar:
            while state.epoch < config.epochs:
                epochs.append(_run_epoch(state, hooks, bar, watch, best_val=_best_val(epochs)))
                elapsed = time.perf_counter() - started
                last_good = run_record.build(state, epochs, mask_source, recipe_dict, elapsed, finished=False)
                if run_dir is not None:
                    checkpoint.save(run_dir, {
                        "epoch": state.epoch, "step": state.step, "model": model.state_dict(),
                        "optimizer": state.optimizer.state_dict(), "callbacks": hooks.state_dict(),
                        "epochs": epochs, "seconds": elapsed, "config": config.to_dict(), "recipe": recipe_dict,
                        "precision": state.precision.state_dict() if state.precision is not None else None,
                        # The mask may have moved: a resumed run continues from this one, never recomputes it.
                        "mask": dict(state.mask), "mask_source": mask_source, "mask_history": state.mask_history,
                        "parameters_at_start": state.extras["parameters_at_start"],
                        "sparsifier": state.sparsifier.state_dict() if state.sparsifier is not None else None})
                    run.commit()
                    _write(last_good, run_dir)
    except Diverged as diverged:
        if run_dir is not None:
            _write(run_record.RunRecord(last_good, diverged=diverged.to_dict()), run_dir)
            run.commit()  # the diverged record (and the last good checkpoint) are the run's outcome
        raise
    hooks.call("on_run_end", state)

    result = run_record.build(state, epochs, mask_source, recipe_dict, time.perf_counter() - started, finished=True)
    if run_dir is not None:
        state.mask.save(run_dir / "mask.pt")  # the mask the final model has
        atomic.torch_save(model.state_dict(), run_dir / "model.pt")
        _write(result, run_dir)
    result.model, result.mask = model, state.mask
    return result


def _best_val(epochs: List[dict]) -> Optional[float]:
    return max((row["val_acc"] for row in epochs), default=None)


def _run_epoch(state: TrainState, hooks: CallbackList, bar, watch: DivergenceWatch,
               best_val: Optional[float]) -> dict:
    config, model = state.config, state.model
    state.data.train.set_epoch(state.epoch)
    hooks.call("on_epoch_start", state)
    began = time.perf_counter()
    model.train()
    # Accumulated on the device and read once per epoch: a per-step .cpu() or int() would make
    # the host wait for a GPU at every step.
    loss_sum = torch.zeros((), device=state.device)
    correct = torch.zeros((), dtype=torch.long, device=state.device)
    seen = 0
    milestones = config.milestone_fractions()
    warmup_steps = round(config.warmup_epochs * state.steps_per_epoch)
    sync = distributed.gradient_sync()
    # Pinned batches copy while the GPU computes; channels-last images match channels-last weights.
    non_blocking = state.device.type == "cuda"
    forward = state.forward if state.forward is not None else model  # a compiled module has no truth value
    update_mask = (lambda: ask_sparsifier(state)) if state.sparsifier is not None else None
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
        loss, logits = train_step(forward, state.optimizer, state.loss_fn, x, y, state.enforcer, sync,
                                  state.precision, update_mask=update_mask)
        state.step += 1
        watch.observe(loss, state.step, state)
        loss_sum += loss * len(y)
        correct += (logits.argmax(1) == y).sum()
        seen += len(y)
        hooks.call("on_step", state)
        bar.update(1)
    watch.check(state)
    loss_sum, correct, seen = distributed.sum_over_ranks(loss_sum, correct, seen)  # the global batch's
    seen = int(seen)
    distributed.broadcast_model(model, buffers_only=True)  # rank 0's BatchNorm statistics evaluate
    val_acc, val_loss = evaluate(model, state.data.val, state.device)
    # The earliest best epoch is the record's best (`record.best_epoch`): only a strict gain moves it.
    improved = best_val is None or val_acc > best_val
    last = state.epoch + 1 == config.epochs
    test_acc = None
    if config.test_every == "epoch" or improved or last:
        test_acc, _ = evaluate(model, state.data.test, state.device)
    diagnostics = {}
    if config.bn_reestimate_batches and improved:
        diagnostics["bn_reestimated_test_acc"] = bn_reestimated_accuracy(
            model, state.data.train, state.data.test, state.device, config.bn_reestimate_batches, state.epoch)
    state.epoch += 1
    state.epoch_record = {
        "epoch": state.epoch, "train_loss": float(loss_sum) / max(seen, 1), "train_acc": int(correct) / max(seen, 1),
        "val_loss": val_loss, "val_acc": val_acc, "test_acc": test_acc, "lr": state.lr,
        "seconds": time.perf_counter() - began, **diagnostics}
    hooks.call("on_epoch_end", state)
    bar.describe(state.epoch_record)
    return state.epoch_record


def ask_sparsifier(state: TrainState) -> None:
    """Ask the sparsifier; install a new mask (every rank must have drawn the same) and log it."""
    new = state.sparsifier.update(state)
    if new is None:
        return
    before = state.mask
    state.set_mask(new)
    distributed.check_same_mask(new)
    state.mask_history.append(mask_change(before, new, state.step))


def _optimizer(config: TrainConfig, model: nn.Module) -> torch.optim.Optimizer:
    params = [p for p in model.parameters() if p.requires_grad]
    if config.optimizer == "sgd":
        return torch.optim.SGD(params, lr=config.lr, momentum=config.momentum, nesterov=config.nesterov,
                               weight_decay=config.weight_decay)
    if config.nesterov:
        raise SparsekitError("nesterov applies to optimizer 'sgd' only")
    kind = torch.optim.Adam if config.optimizer == "adam" else torch.optim.AdamW
    return kind(params, lr=config.lr, weight_decay=config.weight_decay)


def _write(result: run_record.RunRecord, run_dir: Path) -> None:
    atomic.write_json(dict(result), run_dir / "record.json")
    epoch_csv.write_epoch_csv(result["epochs"], run_dir)
