"""Datasets for sparse training: `load(name, ...)` returns a `DataBundle` of train/val/test
batch iterables; `available()` lists the names.

    bundle = sparsekit.data.load("digits", batch_size=64, seed=1)
    for epoch in range(epochs):
        bundle.train.set_epoch(epoch)  # the order is a pure function of (seed, epoch)
        for inputs, labels in bundle.train:
            ...

A dataset is one module that registers a builder in `registry.datasets`; adding one never
edits this file beyond the import that registers it.
"""
import os
from typing import List

from . import cifar, digits, fashion_mnist, tinyimagenet  # noqa: F401  (importing registers them)
from ..core.errors import SparsekitError
from .batches import Batches
from .bundle import DataBundle, balanced_examples, first_batches, is_bundle
from .options import LoadOptions
from .registry import datasets
from .settings import DataSettings

__all__ = ["Batches", "DataBundle", "LoadOptions", "available", "balanced_examples", "first_batches", "is_bundle",
           "load", "load_settings"]


def available() -> List[str]:
    return datasets.names()


def load(name: str, root="data", download: bool = False, batch_size: int = 128,
         eval_batch_size: int = 512, seed: int = 0, augment: bool = True,
         num_workers: int = 0, train_examples=None, pin_memory: bool = False,
         persistent_workers: bool = False) -> DataBundle:
    """Build the named dataset's train/val/test batches.

    `root` is the folder with the dataset files (digits needs none); `download` fetches
    missing files from the official source. The validation and test examples never depend
    on `seed`; only the training order (with the epoch) and augmentation do. `train_examples`
    keeps a fixed class-balanced subset of the training split (datasets held in memory).
    `num_workers`, `pin_memory` and `persistent_workers` go to the DataLoader of the image
    datasets (datasets held in memory slice tensors and need none of them).
    """
    datasets.get(name)  # an unknown name is the first thing said
    if not isinstance(root, (str, os.PathLike)):
        raise SparsekitError(f"root must be the folder holding the datasets, got {root!r}")
    # Loose truth values (1, "") read as before; everything else is checked as a run's data section.
    settings = DataSettings(dataset=name, data_root=os.fspath(root), download=bool(download), batch_size=batch_size,
                            train_examples=train_examples, num_workers=num_workers, pin_memory=bool(pin_memory),
                            persistent_workers=bool(persistent_workers))
    return load_settings(settings, seed=seed, eval_batch_size=eval_batch_size, augment=bool(augment))


def _check_root(root: str) -> None:
    """A data root that is a file, or lies under one, is a mistake whichever dataset reads it
    (digits reads none: it would pass unnoticed, the setting ignored)."""
    from pathlib import Path

    ancestor = Path(root)
    while not ancestor.exists() and ancestor != ancestor.parent:
        ancestor = ancestor.parent
    if ancestor.exists() and not ancestor.is_dir():
        where = "is a file" if ancestor == Path(root) else f"is under a file ({ancestor})"
        raise SparsekitError(f"data_root {root} {where}; give the folder holding the datasets")


def load_settings(settings: DataSettings, seed: int = 0, eval_batch_size: int = 512, augment: bool = True) -> DataBundle:
    """`load` for a run's data section (`TrainConfig.data`), already checked where it was built."""
    _check_root(settings.data_root)
    return datasets.get(settings.dataset)(LoadOptions(settings, seed=seed, eval_batch_size=eval_batch_size,
                                                      augment=augment))
