"""Modified initialisation: rescale the masked network's weights before training, either with
GradInit-style per-layer scalars (`gradinit.py`, as the ToST release runs it) or by
1/sqrt(layer density) (`scaled_init.py`, a cheap baseline)."""
from dataclasses import dataclass

from ..core.fields import setting
from .gradinit import GradInit
from .scaled_init import ScaledInit
from .trick import Trick

KINDS = ("none", "gradinit", "scaled")


@dataclass(frozen=True)
class ModifiedInitSettings:
    init: str = setting("none", "rescale the masked network's init: GradInit-style scalars, or 1/sqrt(layer "
                        "density)", choices=KINDS, none_means="none")
    init_iterations: int = setting(180, "gradinit: scalar-optimisation iterations (the release's 180)", positive=True,
                                   whole=1)
    init_lr: float = setting(1e-2, "gradinit: Adam learning rate of the scalars", positive=True)
    init_eta: float = setting(0.1, "gradinit: look-ahead step length eta", positive=True)
    init_gamma: float = setting(1.0, "gradinit: gradient-norm bound gamma", positive=True)
    init_batch_size: int = setting(0, "gradinit: examples per half-batch (the release's --gradinit-bsize); 0 = the "
                                   "training batch size, as the release does by default", whole=0,
                                   accepted=">= 0 (0 = the training batch size)")
    init_masked: bool = setting(False, "gradinit: restrict the gradient and the look-ahead step to the kept weights "
                                "(a variant; the release masks neither)")


def _callbacks(recipe):
    if recipe.init == "gradinit":
        return [GradInit(recipe.init_iterations, recipe.init_lr, recipe.init_eta, recipe.init_gamma,
                         recipe.init_masked, recipe.init_batch_size)]
    return [ScaledInit()]


def _describe(recipe):
    if recipe.init == "gradinit":
        masked = ", masked" if recipe.init_masked else ""
        return f"gradinit ({recipe.init_iterations} iterations{masked})"
    return "init scaled by 1/sqrt(density)" if recipe.init == "scaled" else None


TRICK = Trick(name="modified_init", label="modified initialization", order=30, settings=ModifiedInitSettings,
              switch="init", on={"init": "gradinit"}, callbacks=_callbacks, describe=_describe)
