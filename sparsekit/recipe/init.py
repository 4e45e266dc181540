"""The `init` trick (the paper's "modified initialization"): rescale the network's weights
before training, either with GradInit-style per-layer scalars (`gradinit.py`, in the variant
`init_variant` names) or by 1/sqrt(layer density) (`scaled_init.py`, a cheap baseline).

Where it stands among the tricks (`init_order`). The release never runs GradInit on a network
with ghost branches or smooth activations: those tricks live in its other scripts, on ReLU
networks. GradInit fits per-tensor scales to the network that will train; ghost branches start
at a constant (1e-4, rescaled by their BatchNorm) and, in the abstract's reading, vanish after
the early phase, and a smooth activation on a unit whose inputs are all pruned passes gradient
through BatchNorm at gamma/sqrt(eps), which swamps the norm GradInit bounds. So by default the
init runs first, on the masked (or, for "dense-then-mask", the dense) original architecture,
and the ghosts are attached after it ("before-ghosts"). "after-ghosts" runs it on the network
with the ghosts attached; the study reports both.

One name, `init`, for the trick everywhere: the recipe's field and the prefix of its options
(`init_iterations`, ...), `--init` on the command line, the toggle, and the run record's section
`init` (its `kind` says "gradinit" or "scaled"; `init_log` also reads older records'
`gradinit` and `scaled_init` sections). `modified_init`, the trick's other name in older
notebooks and sweep files, is accepted as an alias.
"""
from dataclasses import dataclass
from typing import Optional

from ..core.fields import setting
from ..core.errors import SparsekitError
from .gradinit import DENSE_THEN_MASK, GradInit, VARIANTS
from .scaled_init import ScaledInit
from .trick import Trick

KINDS = ("none", "gradinit", "scaled")
BEFORE_GHOSTS, AFTER_GHOSTS = "before-ghosts", "after-ghosts"
ORDERS = (BEFORE_GHOSTS, AFTER_GHOSTS)


@dataclass(frozen=True)
class InitSettings:
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
    init_variant: str = setting(DENSE_THEN_MASK, "gradinit: dense-then-mask = on the dense network, then the mask "
                                "(the release's documented command); masked-network-dense-gradient = the release's "
                                "type 2; masked = gradient and step on the kept weights only", choices=VARIANTS)
    init_order: str = setting(BEFORE_GHOSTS, "where the init runs among the tricks: before the ghosts are attached "
                              "(the network the release fits) or after them", choices=ORDERS)


def _callbacks(recipe):
    if recipe.init == "gradinit":
        return [GradInit(recipe.init_iterations, recipe.init_lr, recipe.init_eta, recipe.init_gamma,
                         recipe.init_variant, recipe.init_batch_size)]
    return [ScaledInit()]


def _describe(recipe):
    order = ", after the ghosts" if recipe.init_order == AFTER_GHOSTS else ""
    if recipe.init == "gradinit":
        return f"gradinit ({recipe.init_iterations} iterations, {recipe.init_variant}{order})"
    return f"init scaled by 1/sqrt(density){order}" if recipe.init == "scaled" else None


def _order(recipe) -> int:
    """Before the architecture tricks (10, 20) by default, after them on request."""
    return 5 if recipe.init_order == BEFORE_GHOSTS else 30


def _check(recipe) -> None:
    if recipe.init == "gradinit" and recipe.init_variant == DENSE_THEN_MASK and recipe.init_order == AFTER_GHOSTS:
        raise SparsekitError("recipe init_order 'after-ghosts' needs a GradInit on the masked network "
                             "(init_variant masked or masked-network-dense-gradient): dense-then-mask runs "
                             "before the mask, so before any ghost is attached")


def from_legacy(values: dict) -> dict:
    """A recipe written before variants and orders were named ran its init on the masked network
    after the ghosts; GradInit used the dense gradient unless `init_masked` was set."""
    values = dict(values)
    masked = values.pop("init_masked", None)
    if masked is None or "init_variant" in values:
        return values
    if values.get("init") == "gradinit":
        values["init_variant"] = "masked" if masked else "masked-network-dense-gradient"
    if values.get("init", "none") != "none":
        values.setdefault("init_order", AFTER_GHOSTS)
    return values


def init_log(record) -> Optional[dict]:
    """The `init` section of a run record ({"kind": ..., ...}), or None when the run had none."""
    if record.get("init"):
        return record["init"]
    if record.get("gradinit") is not None:  # the log itself
        return dict(record["gradinit"], kind="gradinit")
    if record.get("scaled_init") is not None:  # the factors per layer
        return {"kind": "scaled", "factors": record["scaled_init"]}
    return None


TRICK = Trick(name="init", label="modified init", order=30, settings=InitSettings,
              switch="init", on={"init": "gradinit"}, callbacks=_callbacks, describe=_describe, check=_check,
              callback_order=_order, from_legacy=from_legacy, aliases=("modified_init",))
