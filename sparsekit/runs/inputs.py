"""The objects `train` accepts beside its settings (callbacks, model, mask, data), checked
before any work, each failing with one `SparsekitError` line. (The recipe is a setting: the
config's recipe section, read by `Recipe.read`.)"""
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Iterable, List, Optional

from torch import nn

from .. import models
from ..data import datasets
from ..training.config import TrainConfig
from ..core.callbacks import Callback
from ..core.errors import SparsekitError
from ..recipe import Recipe
from ..sparsity import Sparsifier


def resolve_recipe(recipe):
    """`Recipe.read`: the recipe section from what a user gave (the name callers of the grid and
    sweep code know it by)."""
    return Recipe.read(recipe)


@dataclass(frozen=True)
class GivenObjects:
    """What `train` was handed beside its settings, checked: objects that replace what the
    settings would build (`model`, `mask`, `data`; None: built from the settings) and the
    caller's extra `callbacks`."""
    callbacks: List[Callback]
    model: Optional[nn.Module] = None
    mask: Any = None
    data: Any = None

    @classmethod
    def checked(cls, callbacks: Iterable, model=None, mask=None, data=None) -> "GivenObjects":
        check_objects(model, mask, data)
        return cls(check_callbacks(callbacks), model, mask, data)


def check_names(config: TrainConfig) -> None:
    """The dataset and model a run would look up, refused in one line without building either
    (where the run is planned, not started: sweeps, notebook parameters)."""
    datasets.get(config.dataset)
    models.check_name(config.model)


def check_callbacks(callbacks: Iterable) -> List[Callback]:
    try:
        hooks = list(callbacks)
    except TypeError:
        raise SparsekitError(f"callbacks must be a list of sparsekit.Callback objects, got "
                             f"{type(callbacks).__name__}") from None
    for hook in hooks:
        if not isinstance(hook, Callback):
            raise SparsekitError(f"callbacks must be sparsekit.Callback objects, got {type(hook).__name__}")
    return hooks


def check_objects(model, mask, data) -> None:
    if model is not None and not isinstance(model, nn.Module):
        raise SparsekitError(f"model must be a model name or a torch nn.Module, got {type(model).__name__}")
    if mask is not None and not isinstance(mask, (Mapping, Sparsifier)):
        raise SparsekitError(f"mask must be a method name, a sparsekit.Mask or a Sparsifier, got "
                             f"{type(mask).__name__}")
    if data is not None and not all(hasattr(data, split) for split in ("train", "val", "test")):
        raise SparsekitError(f"data must be a DataBundle (sparsekit.data.load(...)), got {type(data).__name__}")
