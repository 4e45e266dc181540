"""The training loop: config -> data -> model -> mask -> callbacks -> epochs -> run record.

Pruned weights stay exactly zero (see `masking`), every epoch ends with a checkpoint and an
atomically rewritten `record.json`, and a seeded CPU run repeats exactly, resumed or not.
"""
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
from . import checkpoint, record as run_record
from .callbacks import Callback, CallbackList
from .config import TrainConfig, make_config
from .evaluate import evaluate
from .progress import ProgressBar
from .schedules import learning_rate
from .spectral_probe import SpectralProbe
from .state import TrainState
from .step import train_step

# Settings that may differ between an interrupted run and its resumption.
RESUMABLE_CHANGES = {"resume", "progress", "device", "overwrite", "data_root", "download"}


def train(config: Optional[TrainConfig] = None, *, recipe=None, callbacks: Iterable[Callback] = (),
          model: Optional[nn.Module] = None, mask: Optional[Mask] = None, data=None,
          **overrides) -> run_record.RunRecord:
    """Train a masked network and return its run record (also written to `out/record.json`).

    Settings come from `config` and keyword `overrides` (see `TrainConfig`). `model`, `mask`
    and `data` objects replace what the config would build; `model` and `mask` given as
    names are settings. `recipe` is anything with
    `callbacks()` and `to_dict()` (a `sparsekit.Recipe`).
    """
    # `model="resnet20"` and `mask="snip"` read naturally: a name is a setting, an object is used as is.
    if isinstance(model, str):
        overrides["model"], model = model, None
    if isinstance(mask, str):
        overrides["mask"], mask = mask, None
    config = make_config(config, **overrides)
    began = time.perf_counter()  # the record's seconds cover everything: mask, recipe setup, epochs
    if mask is None and not config.mask_file:
        masks.METHODS.get(config.mask)  # an unknown name fails now, before any work is done
    run_dir = Path(config.out) if config.out else None
    resumed = checkpoint.load(run_dir) if config.resume else None
    recipe_dict = recipe.to_dict() if recipe is not None else None
    if resumed is not None:
        _check_same_run(resumed, config, recipe_dict)
    elif run_dir is not None:
        _refuse_to_overwrite(run_dir, config)

    device = _device(config.device)
    data, model, mask, mask_source = prepare(config, model=model, mask=mask, data=data, device=device)
    warn_collapsed_layers(mask)
    mask.apply(model)

    state = TrainState(config=config, model=model, mask=mask, data=data, device=device,
                       loss_fn=nn.CrossEntropyLoss())
    # The probe sits between the recipe's callbacks and the caller's, so its place in a checkpoint's
    # list of callback states does not depend on which extra callbacks a resumed call passes.
    hooks = CallbackList(list(recipe.callbacks() if recipe is not None else []) + [SpectralProbe()]
                         + list(callbacks))
    hooks.call("on_setup", state)
    # Counted once the recipe has built its architecture: in early mode the ghost branches are
    # gone by the end, so the record keeps what the network carried while training too.
    state.extras["parameters_at_start"] = run_record.parameter_counts(model, mask)
    if hasattr(recipe, "preset_name"):
        state.extras["recipe_preset"] = recipe.preset_name()
    state.optimizer = _optimizer(config, model)
    state.set_mask(mask)
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
        checkpoint.restore_rng(resumed["rng"])
    if run_dir is not None:
        mask.save(run_dir / "mask.pt")

    started = began - seconds_before
    hooks.call("on_run_start", state)
    with ProgressBar(config.progress, total=state.total_steps, initial=state.step) as bar:
        while state.epoch < config.epochs:
            epochs.append(_run_epoch(state, hooks, bar))
            elapsed = time.perf_counter() - started
            if run_dir is not None:
                checkpoint.save(run_dir, {
                    "epoch": state.epoch, "step": state.step, "model": model.state_dict(),
                    "optimizer": state.optimizer.state_dict(), "callbacks": hooks.state_dict(),
                    "epochs": epochs, "seconds": elapsed, "config": config.to_dict(), "recipe": recipe_dict})
                _write(run_record.build(state, epochs, mask_source, recipe_dict, elapsed, finished=False), run_dir)
    hooks.call("on_run_end", state)

    result = run_record.build(state, epochs, mask_source, recipe_dict, time.perf_counter() - started, finished=True)
    if run_dir is not None:
        atomic.torch_save(model.state_dict(), run_dir / "model.pt")
        _write(result, run_dir)
    result.model, result.mask = model, state.mask
    return result


def _run_epoch(state: TrainState, hooks: CallbackList, bar) -> dict:
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
    for batch_index, (x, y) in enumerate(state.data.train):
        if batch_index >= state.steps_per_epoch:
            break
        x, y = x.to(state.device), y.to(state.device)
        state.lr = learning_rate(state.step, state.total_steps, config.lr, config.schedule, warmup_steps,
                                 milestones, config.lr_drop)
        for group in state.optimizer.param_groups:
            group["lr"] = state.lr
        loss, logits = train_step(model, state.optimizer, state.loss_fn, x, y, state.enforcer)
        state.step += 1
        loss_sum += loss * len(y)
        correct += (logits.argmax(1) == y).sum()
        seen += len(y)
        hooks.call("on_step", state)
        bar.update(1)
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
        seed=config.seed, train_examples=config.train_examples)
    if model is None:
        model = models.build(config.model, data.num_classes, in_channels=data.in_channels,
                             width=config.width, input_size=data.image_size)
    model.to(device)
    mask, mask_source = _make_mask(config, model, data, mask)
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


def _check_same_run(resumed: dict, config: TrainConfig, recipe_dict) -> None:
    before = resumed["config"]
    for name, value in config.to_dict().items():
        if name not in RESUMABLE_CHANGES and before.get(name) != value:
            raise SparsekitError(f"cannot resume: setting {name!r} was {before.get(name)!r} in the interrupted "
                                 f"run, now {value!r}")
    if resumed.get("recipe") != recipe_dict:
        raise SparsekitError("cannot resume: the recipe differs from the interrupted run's")


def _refuse_to_overwrite(run_dir: Path, config: TrainConfig) -> None:
    previous = [name for name in ("record.json", checkpoint.FILENAME) if (run_dir / name).exists()]
    if previous and not config.overwrite:
        raise SparsekitError(f"{run_dir} already holds a run ({previous[0]}); pass resume=True (--resume) to "
                             f"continue it, overwrite=True (--overwrite) to replace it, or choose another out")


def _write(result: run_record.RunRecord, run_dir: Path) -> None:
    atomic.write_json(dict(result), run_dir / "record.json")
