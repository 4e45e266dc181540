"""The training loop: config -> data -> model -> mask -> callbacks -> epochs -> run record.

Pruned weights stay exactly zero (see `masking`), every epoch ends with a checkpoint and an
atomically rewritten `record.json`, and a seeded CPU run repeats exactly, resumed or not.
"""
import json
import random
import time
from pathlib import Path
from typing import Iterable, Optional

import numpy as np
import torch
from torch import nn

from .. import atomic, data as datasets, masks, models
from ..errors import SparsekitError
from ..analysis import warn_collapsed_layers
from ..mask import Mask
from ..masks.options import parse_options
from . import checkpoint, distributed, epoch_csv, record as run_record
from .callbacks import Callback, CallbackList
from . import inputs
from .config import TrainConfig, make_config
from .divergence import DivergenceWatch, Diverged
from .evaluate import evaluate
from .precision import Precision, layout
from .progress import ProgressBar
from .run_dir import RunDirectory
from .schedules import learning_rate
from .spectral_probe import SpectralProbe
from .state import TrainState
from .step import train_step
from .tensorboard_log import TensorBoardLog

# Settings that may differ between an interrupted run and its resumption.
RESUMABLE_CHANGES = {"resume", "progress", "device", "overwrite", "data_root", "download", "pin_memory",
                     "persistent_workers", "compile", "channels_last", "tensorboard"}


def train(config: Optional[TrainConfig] = None, *, recipe=None, callbacks: Iterable[Callback] = (),
          model: Optional[nn.Module] = None, mask: Optional[Mask] = None, data=None,
          **overrides) -> run_record.RunRecord:
    """Train a masked network and return its run record (written to `out/record.json` and
    `out/epochs.csv` when `out` is set; nothing is written without it).

    Settings come from `config` and keyword `overrides` (see `TrainConfig`). `model`, `mask`
    and `data` objects replace what the config would build; `model` and `mask` given as
    names are settings. `recipe` is a `sparsekit.Recipe`, a preset name ("tost", ...), or
    None (the same run as `Recipe.default()`).

    Everything is checked before any work or write; a run that fails before its first
    checkpoint leaves `out` as it was; a non-finite loss stops the run (`SparsekitError`).
    """
    # `model="resnet20"` and `mask="snip"` read naturally: a name is a setting, an object is used as is.
    if isinstance(model, str):
        overrides["model"], model = model, None
    if isinstance(mask, str):
        overrides["mask"], mask = mask, None
    config = make_config(config, **overrides)
    began = time.perf_counter()  # the record's seconds cover everything: mask, recipe setup, epochs
    recipe = inputs.resolve_recipe(recipe)
    callbacks = inputs.check_callbacks(callbacks)
    inputs.check_objects(model, mask, data)
    inputs.check_mask_settings(config, mask_given=mask is not None)
    distributed.setup(config.device)  # under torchrun: join the ranks
    if config.tensorboard and distributed.is_main():  # one log, like every other file of the run
        callbacks.append(TensorBoardLog(config.tensorboard))  # checks the package before any work
    device = distributed.local_device(_device(config.device))
    distributed.check_supported(config, mask_given=mask is not None)
    if not config.out or not distributed.is_main():  # only rank 0 writes
        return _train(config, recipe, callbacks, model, mask, data, device, began, None)
    with RunDirectory(config.out, resume=config.resume, overwrite=config.overwrite) as run:
        return _train(config, recipe, callbacks, model, mask, data, device, began, run)


def _train(config: TrainConfig, recipe, callbacks, model, mask, data, device, began, run: Optional[RunDirectory]):
    run_dir = run.path if run is not None else None
    recipe_dict = recipe.to_dict()
    distributed.barrier()  # rank 0 holds the run directory (its leftovers cleaned) before any rank reads it
    resumed = checkpoint.load(config.out) if config.resume else None
    if resumed is not None:
        _check_same_run(resumed, config, recipe_dict, Path(config.out))

    data, model, mask, mask_source = prepare(config, model=model, mask=mask, data=data, device=device)
    if mask.num_total() and not mask.num_kept():
        raise SparsekitError(f"the mask keeps no weight at all ({mask.num_total()} pruned): nothing would train")
    warn_collapsed_layers(mask, mask_source.get("method"))
    mask.apply(model)

    state = TrainState(config=config, model=model, mask=mask, data=data, device=device,
                       loss_fn=nn.CrossEntropyLoss())
    # The probe sits between the recipe's callbacks and the caller's, so its place in a checkpoint's
    # list of callback states does not depend on which extra callbacks a resumed call passes.
    hooks = CallbackList(list(recipe.callbacks()) + [SpectralProbe()] + list(callbacks))
    hooks.call("on_setup", state)
    # Counted once the recipe has built its architecture: in early mode the ghost branches are
    # gone by the end, so the record keeps what the network carried while training too.
    state.extras["parameters_at_start"] = run_record.parameter_counts(model, mask)
    if hasattr(recipe, "preset_name"):
        state.extras["recipe_preset"] = recipe.preset_name()
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
        checkpoint.restore_rng(resumed["rng"])
    if run_dir is not None:
        mask.save(run_dir / "mask.pt")

    started = began - seconds_before
    hooks.call("on_run_start", state)
    # What the record says if the run diverges: the state after the last good epoch.
    last_good = run_record.build(state, epochs, mask_source, recipe_dict, time.perf_counter() - started, False)
    watch = DivergenceWatch(device)
    try:
        with ProgressBar(config.progress and distributed.is_main(), total=state.total_steps, initial=state.step) as bar:
            while state.epoch < config.epochs:
                epochs.append(_run_epoch(state, hooks, bar, watch))
                elapsed = time.perf_counter() - started
                last_good = run_record.build(state, epochs, mask_source, recipe_dict, elapsed, finished=False)
                if run_dir is not None:
                    checkpoint.save(run_dir, {
                        "epoch": state.epoch, "step": state.step, "model": model.state_dict(),
                        "optimizer": state.optimizer.state_dict(), "callbacks": hooks.state_dict(),
                        "epochs": epochs, "seconds": elapsed, "config": config.to_dict(), "recipe": recipe_dict,
                        "precision": state.precision.state_dict() if state.precision is not None else None})
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
        atomic.torch_save(model.state_dict(), run_dir / "model.pt")
        _write(result, run_dir)
    result.model, result.mask = model, state.mask
    return result


def _run_epoch(state: TrainState, hooks: CallbackList, bar, watch: DivergenceWatch) -> dict:
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
    forward = state.forward or model
    for batch_index, (x, y) in enumerate(state.data.train):
        if batch_index >= state.steps_per_epoch:
            break
        x, y = x.to(state.device, non_blocking=non_blocking), y.to(state.device, non_blocking=non_blocking)
        if config.channels_last and x.dim() == 4:
            x = x.contiguous(memory_format=torch.channels_last)
        state.lr = learning_rate(state.step, state.total_steps, config.lr, config.schedule, warmup_steps,
                                 milestones, config.lr_drop)
        for group in state.optimizer.param_groups:
            group["lr"] = state.lr
        loss, logits = train_step(forward, state.optimizer, state.loss_fn, x, y, state.enforcer, sync,
                                  state.precision)
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
    test_acc, _ = evaluate(model, state.data.test, state.device)
    state.epoch += 1
    state.epoch_record = {
        "epoch": state.epoch, "train_loss": float(loss_sum) / max(seen, 1), "train_acc": int(correct) / max(seen, 1),
        "val_loss": val_loss, "val_acc": val_acc, "test_acc": test_acc, "lr": state.lr,
        "seconds": time.perf_counter() - began}
    hooks.call("on_epoch_end", state)
    bar.describe(state.epoch_record)
    return state.epoch_record


def prepare(config: TrainConfig, model: Optional[nn.Module] = None, mask: Optional[Mask] = None, data=None,
            device: torch.device = torch.device("cpu")):
    """(data, model, mask, mask_source) for a run, built in the trainer's order from a seeded
    start, so `sparsekit mask` saves exactly the mask `sparsekit train` would train."""
    _seed_everything(config.seed)
    data = data if data is not None else datasets.load(
        config.dataset, root=config.data_root, download=config.download, batch_size=config.batch_size,
        seed=config.seed, train_examples=config.train_examples, num_workers=config.num_workers,
        pin_memory=config.pin_memory, persistent_workers=config.persistent_workers)
    if model is None:
        model = models.build(config.model, data.num_classes, in_channels=data.in_channels,
                             width=config.width, input_size=data.image_size)
    inputs.check_model_fits_data(model, data)
    model.to(device)
    # Computed once, on rank 0, and sent to the others (a lottery mask costs whole trainings).
    mask, mask_source = distributed.from_main(lambda: _make_mask(config, model, data, mask))
    return data, model, mask, mask_source


def _make_mask(config: TrainConfig, model: nn.Module, data, given: Optional[Mask]):
    """The mask to train with, and a note of where it came from for the record."""
    if given is not None:
        return Mask(given), {"method": "given"}
    if config.mask_file:
        mask = Mask.from_file(config.mask_file, model, config.prune_first_layer, config.prune_classifier)
        return mask, {"method": "file", "path": str(config.mask_file)}
    if config.mask_examples_per_class:
        batches = datasets.balanced_examples(data.train, config.mask_examples_per_class, data.num_classes)
    else:
        batches = datasets.first_batches(data.train, config.mask_batches)
    # The training context is offered to every method; only those naming it (lottery) get it.
    mask = masks.compute(config.mask, model, config.sparsity, data=batches, scope=config.scope,
                         prune_first_layer=config.prune_first_layer, prune_classifier=config.prune_classifier,
                         seed=config.seed, train_config=config, bundle=data, out=config.out,
                         **parse_options(config.mask_options))
    return mask, {"method": config.mask, "sparsity": config.sparsity, "scope": config.scope}


def _optimizer(config: TrainConfig, model: nn.Module) -> torch.optim.Optimizer:
    params = [p for p in model.parameters() if p.requires_grad]
    if config.optimizer == "sgd":
        return torch.optim.SGD(params, lr=config.lr, momentum=config.momentum, nesterov=config.nesterov,
                               weight_decay=config.weight_decay)
    if config.nesterov:
        raise SparsekitError("nesterov applies to optimizer 'sgd' only")
    kind = torch.optim.Adam if config.optimizer == "adam" else torch.optim.AdamW
    return kind(params, lr=config.lr, weight_decay=config.weight_decay)


def _seed_everything(seed: int) -> None:
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)


def _device(name: str) -> torch.device:
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        device = torch.device(name)
    except RuntimeError:
        raise SparsekitError(f"unknown device {name!r}; use cpu, cuda, cuda:N or auto") from None
    if device.type == "cuda" and not torch.cuda.is_available():
        raise SparsekitError("device 'cuda' asked for, but no CUDA GPU is available; use --device cpu")
    return device


def _check_same_run(resumed: dict, config: TrainConfig, recipe_dict, run_dir: Path) -> None:
    # A setting added after the interrupted run was written had its default value there.
    before = {**TrainConfig().to_dict(), **resumed["config"]}
    for name, value in config.to_dict().items():
        if name not in RESUMABLE_CHANGES and before.get(name) != value:
            raise SparsekitError(f"cannot resume: setting {name!r} was {before.get(name)!r} in the interrupted "
                                 f"run, now {value!r}")
    # Runs from before recipes were always stored hold None: the default recipe, the same run.
    if (resumed.get("recipe") or inputs.default_recipe_dict()) != recipe_dict:
        raise SparsekitError("cannot resume: the recipe differs from the interrupted run's")
    diverged = _previous_record(run_dir).get("diverged")
    if diverged:
        raise SparsekitError(f"cannot resume: the run in {run_dir} diverged at step {diverged['step']} and would "
                             f"diverge again; start it anew with other settings (overwrite=True, --overwrite)")


def _previous_record(run_dir: Path) -> dict:
    try:
        return json.loads((run_dir / "record.json").read_text())
    except (OSError, ValueError):
        return {}


def _write(result: run_record.RunRecord, run_dir: Path) -> None:
    atomic.write_json(dict(result), run_dir / "record.json")
    epoch_csv.write_epoch_csv(result["epochs"], run_dir)
