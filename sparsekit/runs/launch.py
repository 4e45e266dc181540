"""`train(...)`: settings -> a checked, built run (data, model, mask, recipe) -> the training loop.

This is where a run is decided: where its mask comes from (a `Sparsifier` from the one
mask-source registry, `sparsity.sources`: one-shot, or one that changes the mask during training), which recipe tricks,
which callbacks. The loop in `sparsekit.training` receives the built objects and names none of
them.

A resumed run takes its mask from the checkpoint (where a dynamic method left it) and never
runs the mask method again; data and model are built exactly as before, from the same seed.
"""
import random
import time
from contextlib import nullcontext
from typing import Iterable, Optional, Union

import numpy as np
import torch
from torch import nn

from .. import data as datasets, models
from ..core.callbacks import Callback
from ..core.mask import Mask
from ..models.input_size import check_fits_data
from ..sparsity import Sparsifier, registry, sources
from ..training import distributed
from ..training.config import TrainConfig, make_config
from ..training.record import RunRecord
from ..training.run_dir import RunDirectory
from ..training.spectral_probe import SpectralProbe
from ..training.tensorboard_log import TensorBoardLog
from ..training.setup import choose_threads, first_mask
from ..training.state import RESUMABLE_CHANGES  # noqa: F401  (the sweeps read it here)
from ..training.state import TrainState, checkpoint_to_resume
from ..training.trainer import train as train_run
from . import inputs


def train(config: Optional[TrainConfig] = None, *, recipe=None, callbacks: Iterable[Callback] = (),
          model: Optional[nn.Module] = None, mask: Union[Mask, Sparsifier, None] = None, data=None,
          **overrides) -> RunRecord:
    """Train a masked network and return its run record (written to `out/record.json` and
    `out/epochs.csv` when `out` is set; nothing is written without it).

    Settings come from `config` and keyword `overrides` (see `TrainConfig`). `model`, `mask`
    and `data` objects replace what the config would build (`mask` a `Mask`, or a `Sparsifier`
    such as `OneShot.of(mask, source)` that says where the mask came from); `model` and `mask`
    given as names are settings. The recipe is a setting too, the config's recipe section:
    `recipe=` (a `sparsekit.Recipe`, a preset name such as "tost", or a dict) replaces that
    section, as `lr=` replaces the learning rate; None leaves the config's (by default
    `Recipe.default()`, plain training).

    Everything is checked before any work or write; a run that fails before its first
    checkpoint leaves `out` as it was; a non-finite loss stops the run (`SparsekitError`).
    """
    # `model="resnet20"`, `mask="snip"` and `recipe="tost"` read naturally: a name is a setting.
    if isinstance(model, str):
        overrides["model"], model = model, None
    if isinstance(mask, str):
        overrides["mask"], mask = mask, None
    if recipe is not None:
        overrides["recipe"] = recipe
    config = make_config(config, **overrides)
    began = time.perf_counter()  # the record's seconds cover everything: mask, recipe setup, epochs
    given = inputs.GivenObjects.checked(callbacks, model, mask, data)
    sources.check(config.masking, given=mask is not None, parallel=distributed.launched())
    source = sources.source_of(config.masking, given.mask)  # a given mask, the mask file or a registry entry
    device = distributed.join(config.device)  # under torchrun: join the ranks
    hooks = given.callbacks
    if config.tensorboard and distributed.is_main():  # one log, like every other file of the run
        hooks.append(TensorBoardLog(config.tensorboard))  # checks the package before any work
    run = RunDirectory(config.out, resume=config.resume, overwrite=config.overwrite,
                       progress=registry.progress_folders()) if config.out and distributed.is_main() else None
    with run or nullcontext():  # only rank 0 writes
        distributed.barrier()  # rank 0 holds the run directory (its leftovers cleaned) before any rank reads it
        resumed = checkpoint_to_resume(config) if config.resume else None
        data, model, sparsifier = _start(config, source, given.model, given.data, device)
        # The probe sits between the recipe's callbacks and the caller's, so its place in a checkpoint's
        # list of callback states does not depend on which extra callbacks a resumed call passes.
        hooks = list(config.recipe.callbacks()) + [SpectralProbe()] + hooks
        # The loop's set-up asks the sparsifier for the first mask (a resumed run: the checkpoint's).
        state = TrainState(config=config, model=model, data=data, device=device, sparsifier=sparsifier,
                           recipe=config.recipe.to_dict(), recipe_preset=config.recipe.preset_name(), began=began)
        return train_run(state, hooks, run=run, resumed=resumed)


def prepare(config: TrainConfig, model: Optional[nn.Module] = None, mask: Optional[Mask] = None, data=None,
            device: torch.device = torch.device("cpu")):
    """(data, model, mask, mask_source) for a run, built in the trainer's order from a seeded
    start, so `sparsekit mask` saves exactly the mask `sparsekit train` would train (for a
    dynamic method: the mask its training starts from)."""
    data, model, sparsifier = _start(config, sources.source_of(config.masking, mask), model, data, device)
    choose_threads(model, data, config.batch_size, device)  # as the run's set-up does, before its mask
    return (data, model, *first_mask(sparsifier, model, data))


def _start(config: TrainConfig, source, model: Optional[nn.Module], data, device: torch.device):
    """(data, model, sparsifier) a run starts from: the seeded network, and the sparsifier its mask
    `source` yields, which gives the first mask and any change during training (every rank asks
    it for updates). A procedure made of trainings trains with `train`."""
    data, model = starting_network(config, model, data, device)
    sparsifier = source.sparsifier(config.masking, model, config.seed,
                                   {"train": train, "train_config": config, "out": config.out})
    return data, model, sparsifier


def starting_network(config: TrainConfig, model: Optional[nn.Module] = None, data=None,
                     device: torch.device = torch.device("cpu")):
    """(data, model) as a run of `config` starts: seeded, the data loaded and the network built
    and initialised before any mask is computed (what a mask method is given)."""
    _seed_everything(config.seed)
    data = data if data is not None else datasets.load(
        config.dataset, root=config.data_root, download=config.download, batch_size=config.batch_size,
        seed=config.seed, train_examples=config.train_examples, num_workers=config.num_workers,
        pin_memory=config.pin_memory, persistent_workers=config.persistent_workers)
    network = config.model if model is None else type(model).__name__  # how the refusal names it
    if model is None:
        model = models.build(config.model, data.num_classes, in_channels=data.in_channels,
                             width=config.width, input_size=data.image_size)
    check_fits_data(model, data, network)
    model.to(device)
    return data, model


def _seed_everything(seed: int) -> None:
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)
