"""The objects `train` accepts beside its settings (callbacks, model, mask, data), checked
before any work, each failing with one `SparsekitError` line. (The recipe is a setting: the
config's recipe section, read by `Recipe.read`.)"""
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Iterable, List, Optional

from torch import nn

from .. import models
from ..data import datasets
from ..models.input_size import check_runs_on
from ..sparsity.settings import DefaultSparsity
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


def check_model_fits_data(model: nn.Module, data, network: Optional[str] = None) -> None:
    """The model's first layer reads the data's channels, its classifier has its classes, and
    it runs on one batch of the data's shape (`network`: its name in the refusal)."""
    layers = [m for m in model.modules() if isinstance(m, (nn.Conv2d, nn.Linear))]
    channels, classes = getattr(data, "in_channels", None), getattr(data, "num_classes", None)
    name = getattr(data, "name", "the data")
    if layers and isinstance(layers[0], nn.Conv2d) and channels is not None and layers[0].in_channels != channels:
        raise SparsekitError(f"the model's first layer takes {layers[0].in_channels} input channels, but {name} "
                             f"has {channels}; build the model with in_channels={channels} (a torchvision or timm "
                           f"network: sk.models.build('torchvision:NAME', classes, in_channels={channels}))")
    linears = [m for m in layers if isinstance(m, nn.Linear)]
    if linears and classes is not None and linears[-1].out_features != classes:
        raise SparsekitError(f"the model has {linears[-1].out_features} output classes, but {name} has {classes} "
                             f"classes; build the model with num_classes={classes}")
    size = getattr(data, "image_size", None)
    if channels is not None and size is not None:
        check_runs_on(model, (channels, size, size), network or type(model).__name__, name)


# How far a given mask's sparsity may sit from an explicit `sparsity` and still be "the same":
# a mask made at sparsity s keeps a rounded number of weights per layer, never half a percent off.
SPARSITY_TOLERANCE = 0.005


def check_given_sparsity(config: TrainConfig, mask) -> None:
    """A mask file decides the run's sparsity; an explicit `sparsity` that says otherwise would
    be recorded as the run's setting without being true: refused. Left at its default, the
    setting is not used (the record's top-level "sparsity" is the mask's)."""
    if isinstance(config.masking.sparsity, DefaultSparsity):
        return
    achieved = mask.sparsity()
    if abs(achieved - config.sparsity) > SPARSITY_TOLERANCE:
        raise SparsekitError(f"sparsity {config.sparsity:g} was given, but the mask file {config.mask_file} has "
                             f"sparsity {achieved:.4f}; "
                             f"drop sparsity (--sparsity): the mask decides it")
