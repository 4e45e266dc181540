"""Ghost neurons: smooth activations in place of every ReLU, so a unit whose inputs are mostly
pruned still passes gradient on its negative side.

Each `nn.ReLU` / `nn.ReLU6` module is swapped for a `GhostActivation` that computes
`strength * smooth(x) + (1 - strength) * relu(x)`.
- mode "keep" (the release): strength stays 1, the smooth function is used for the whole run.
- mode "early" (the abstract): strength falls linearly from 1 to 0 over the early phase;
  when it reaches 0 the ORIGINAL ReLU module objects are put back, so the network trained
  from then on is exactly the ReLU network.
For ReLU6 (MobileNetV2) the smooth function is clipped at 6 too: the ghost changes the
negative side, where ReLU's gradient vanishes, and keeps the bound that ReLU6 exists for.
"""
from dataclasses import dataclass
from types import SimpleNamespace
from typing import Callable, List, Tuple

import torch
from torch import nn
from torch.nn import functional as F

from ..core.errors import SparsekitError
from ..core.fields import setting
from ..models.traced import rectifier_calls
from .phase import EarlyPhaseTrick, GHOST_MODES, mode_phrase
from .trick import Trick

RELU_TYPES = (nn.ReLU, nn.ReLU6)
# Activations that already pass gradient on their negative side (named in a refusal).
SMOOTH_ALREADY = ("SiLU", "GELU", "Mish", "Hardswish", "ELU")


def smooth_function(kind: str, beta: float = 2.0) -> Callable[[torch.Tensor], torch.Tensor]:
    """swish x*sigmoid(x), parametric swish x*sigmoid(beta*x) (beta fixed, not learned, so
    the trained network gains no parameters), mish x*tanh(softplus(x))."""
    if kind == "swish":
        return F.silu
    if kind == "pswish":
        return lambda x: x * torch.sigmoid(beta * x)
    if kind == "mish":
        return F.mish
    raise SparsekitError(f"unknown ghost neuron kind {kind!r}; choose one of: swish, pswish, mish")


class GhostActivation(nn.Module):
    """A ReLU (or ReLU6) blended with a smooth function; `strength` 1 means purely smooth."""

    sparsekit_leaf = True  # a unit of its own when a network is traced (`models.traced`)

    def __init__(self, original: nn.Module, smooth: Callable, kind: str, strength: float = 1.0,
                 beta: float = 2.0, function: str = ""):
        super().__init__()
        self.smooth, self.kind, self.strength = smooth, kind, strength
        # `kind` is a label (it may name beta); `function` and `beta` say which smooth function
        # `smooth` is, so an export can rebuild it without the training code.
        self.function, self.beta = function or kind, beta
        self.upper = 6.0 if isinstance(original, nn.ReLU6) else None

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        smooth = self.smooth(x)
        if self.upper is not None:
            smooth = smooth.clamp(max=self.upper)
        if self.strength >= 1.0:
            return smooth
        # The functional ReLU, not the saved module: an in-place ReLU would overwrite x,
        # which the smooth branch still needs for its backward pass.
        rectified = F.relu(x) if self.upper is None else F.relu6(x)
        return self.strength * smooth + (1.0 - self.strength) * rectified

    def extra_repr(self) -> str:
        return f"{self.kind}, strength={self.strength:.4g}" + (", clipped at 6" if self.upper else "")

    def export_spec(self) -> dict:
        """What an export needs to compute this activation without the training code."""
        return {"kind": self.function, "beta": float(self.beta), "upper": self.upper, "strength": float(self.strength)}


Swap = Tuple[nn.Module, str, nn.Module]  # (parent, child name, original activation)


def swap_activations(model: nn.Module, make: Callable[[nn.Module], nn.Module]) -> List[Swap]:
    """Replace every ReLU/ReLU6 child module by `make(original)`; returns (parent, child
    name, original) for each swap so it can be undone."""
    swapped = []
    for parent in list(model.modules()):
        for name, child in list(parent.named_children()):
            if isinstance(child, RELU_TYPES):
                setattr(parent, name, make(child))
                swapped.append((parent, name, child))
    return swapped


def _check_swappable(model: nn.Module) -> None:
    """Refused, before anything changes, where a ghost would miss some of the rectifiers."""
    calls = rectifier_calls(model)
    if calls:
        raise SparsekitError(f"ghost neurons replace nn.ReLU / nn.ReLU6 modules, but {type(model).__name__}'s "
                             f"forward calls a ReLU function at {', '.join(calls[:3])}; make each an nn.ReLU module")
    if not any(isinstance(m, RELU_TYPES) for m in model.modules()):
        others = sorted({type(m).__name__ for m in model.modules() if type(m).__name__ in SMOOTH_ALREADY})
        has = f"its activations ({', '.join(others)}) are already smooth" if others else "it has none"
        raise SparsekitError(f"ghost neurons replace nn.ReLU / nn.ReLU6 modules, and {type(model).__name__} has "
                             f"none: {has}")


class GhostNeurons(EarlyPhaseTrick):
    """Swaps the ReLUs for ghost activations at setup and follows the early-phase schedule."""

    def __init__(self, kind: str, beta: float = 2.0, mode: str = "early", early_phase: float = 0.25):
        super().__init__(mode, early_phase)
        self.kind, self.beta = kind, beta
        self.swapped: List[Swap] = []

    def check(self, state) -> None:
        _check_swappable(state.model)

    def on_setup(self, state) -> None:
        _check_swappable(state.model)
        smooth = smooth_function(self.kind, self.beta)
        # The label names beta too, so two networks differing only in beta print differently.
        label = f"pswish(beta={self.beta:g})" if self.kind == "pswish" else self.kind
        self.swapped = swap_activations(
            state.model, lambda relu: GhostActivation(relu, smooth, label, beta=self.beta, function=self.kind))

    def active(self) -> bool:
        return bool(self.swapped)

    def set_strength(self, strength: float) -> None:
        for parent, name, _ in self.swapped:
            getattr(parent, name).strength = strength

    def remove(self, state) -> None:
        for parent, name, original in self.swapped:
            setattr(parent, name, original)
        self.swapped = []


KINDS = ("off", "swish", "pswish", "mish")


@dataclass(frozen=True)
class GhostNeuronSettings:
    ghost_neurons: str = setting("off", "smooth activation replacing every ReLU/ReLU6", choices=KINDS, none_means="off")
    ghost_neurons_beta: float = setting(2.0, "pswish: beta of x*sigmoid(beta*x) (the release's 2)", positive=True)
    ghost_neurons_mode: str = setting("early", "ghost neurons: 'early' anneals back to the original ReLUs over the "
                                      "early phase; 'keep' stays smooth all run (the release)", choices=GHOST_MODES)


def _describe(recipe):
    if recipe.ghost_neurons == "off":
        return None
    beta = f"(beta={recipe.ghost_neurons_beta:g})" if recipe.ghost_neurons == "pswish" else ""
    return f"ghost neurons {recipe.ghost_neurons}{beta} {mode_phrase(recipe.ghost_neurons_mode, recipe.early_phase)}"


def _kept(recipe, model: nn.Module) -> None:
    """Kept all run, the ghost activations are part of the trained network; annealed away, not."""
    if recipe.ghost_neurons_mode == "keep":
        GhostNeurons(recipe.ghost_neurons, recipe.ghost_neurons_beta, "keep").on_setup(SimpleNamespace(model=model))


TRICK = Trick(
    name="ghost_neurons", label="ghost neurons", order=10, settings=GhostNeuronSettings, switch="ghost_neurons",
    on={"ghost_neurons": "pswish"}, release={"ghost_neurons_mode": "keep"},
    callbacks=lambda r: [GhostNeurons(r.ghost_neurons, r.ghost_neurons_beta, r.ghost_neurons_mode, r.early_phase)],
    describe=_describe, final_architecture=lambda r, model: _kept(r, model))
