"""Ghost skip connections: dense 1x1 conv + BN branches beside the sparse 3x3 convs, so
signal and gradient get around a heavily pruned layer.

Where: beside every `ConvBN` whose conv is spatial (kernel > 1), except the model's first
conv (the stem). In a residual `BasicBlock` these are exactly the paper's two branches,
    h = act(BN(W1 x) + alpha * BN(J1 x))          J1 on conv_bn1: block input -> first conv
    y = act(BN(W2 h) + shortcut(x) + alpha * BN(J2 h))   J2 on conv_bn2: h -> second conv
(the 1x1 projection shortcuts get none). In a `Bottleneck` (ResNet-104) only the middle 3x3
conv is spatial, so each block gets one branch, beside it (the release defines ghost skips for
basic blocks only; this is the same rule carried over). The same rule gives the plain networks
their equivalent: VGG-16 gets a branch beside each 3x3 conv after the first; MobileNetV2 gets one
beside each 3x3 depthwise conv, with the conv's groups, i.e. a per-channel 1x1 + BN - a
skip around the depthwise filter. A 1x1 branch beside a 1x1 conv would be a dense copy of
the pruned layer rather than a skip, so pointwise convs get none. Every branch has 1/k^2
of its conv's dense parameter count, as J1/J2 have in a ResNet.

Any other network (torchvision, timm, your own) gets the same rule through torch.fx: every
conv whose output goes only into a BatchNorm is a unit, and the spatial ones after the first
get a branch - J1/J2 in torchvision's basic blocks, the 3x3 in its bottlenecks, the depthwise
convs of MobileNets and EfficientNets. The branch hangs under the BN as `sparsekit_ghosts`
and joins the forward through hooks, so the user's modules keep their names and types.

A branch holds `alpha` as a buffer and is flagged `sparsekit_dense`, so masks never prune
it and it never counts toward the mask's density. Weights start at the release's constant
1e-4 (BN rescales them anyway), BN at its default.
- mode "keep" (the release): branches stay for the whole run (the final model has them).
- mode "early" (the abstract): alpha falls linearly to 0 over the early phase, then the
  branches are deleted and dropped from the optimizer, leaving exactly the masked original.
"""
from dataclasses import dataclass
from types import SimpleNamespace
from typing import List

import torch
from torch import nn

from ..core.errors import SparsekitError
from ..core.fields import setting
from ..models.traced import conv_bn_pairs
from ..models.units import ConvBN
from .phase import EarlyPhaseTrick, GHOST_MODES, mode_phrase
from .trick import Trick

RELEASE_WEIGHT = 1e-4
NO_SITES = ("ghost skip connections need spatial convolutions followed by BatchNorm (after the first conv); "
            "this model has none")


class GhostBranch(nn.Module):
    """alpha * BN(conv1x1(x)), with the stride and groups of the conv it sits beside."""

    sparsekit_dense = True
    sparsekit_leaf = True

    def __init__(self, beside: nn.Conv2d, alpha: float):
        super().__init__()
        self.conv = nn.Conv2d(beside.in_channels, beside.out_channels, 1, stride=beside.stride,
                              groups=beside.groups, bias=False)
        nn.init.constant_(self.conv.weight, RELEASE_WEIGHT)
        self.bn = nn.BatchNorm2d(beside.out_channels)
        self.register_buffer("alpha", torch.tensor(float(alpha)))
        self._conv_input = None

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.alpha * self.bn(self.conv(x))

    def folded_parts(self):
        """(1x1 conv, BatchNorm, alpha): what an export folds into the centre tap of the conv beside."""
        return self.conv, self.bn, float(self.alpha)

    # Hooks for a conv + BN pair of a network not built from ConvBN. Bound methods of a module
    # inside the model, so a deep copy of the model (export, GradInit) hooks its own copies.
    def remember_input(self, conv: nn.Module, inputs, output) -> None:
        self._conv_input = inputs[0]

    def add_to_output(self, bn: nn.Module, inputs, output: torch.Tensor) -> torch.Tensor:
        x, self._conv_input = self._conv_input, None
        return output + self(x)


class UnitSite:
    """A kit model's `ConvBN`: its `ghosts` list is the attachment point."""

    def __init__(self, unit: ConvBN):
        self.unit, self.conv = unit, unit.conv

    def attach(self, branch: GhostBranch) -> None:
        self.unit.ghosts.append(branch)

    def detach(self, branch: GhostBranch) -> None:
        self.unit.ghosts = nn.ModuleList([g for g in self.unit.ghosts if g is not branch])


class PairSite:
    """A conv + BN pair of any other network: the branch is registered under the BN (as
    `<bn>.sparsekit_ghosts.0`, so it trains, saves and resumes with the model) and joins the
    forward through hooks, leaving the user's modules and their names untouched."""

    def __init__(self, conv: nn.Conv2d, bn: nn.BatchNorm2d):
        self.conv, self.bn, self.handles = conv, bn, []

    def attach(self, branch: GhostBranch) -> None:
        self.bn.sparsekit_ghosts = nn.ModuleList([branch])
        # timm's BatchNormAct2d applies its activation inside: the branch joins before it, at `drop`.
        fused = getattr(self.bn, "act", None) is not None and isinstance(getattr(self.bn, "drop", None), nn.Module)
        self.handles = [self.conv.register_forward_hook(branch.remember_input),
                        (self.bn.drop if fused else self.bn).register_forward_hook(branch.add_to_output)]

    def detach(self, branch: GhostBranch) -> None:
        for handle in self.handles:
            handle.remove()
        del self.bn.sparsekit_ghosts
        self.handles = []


def _lines_up(conv: nn.Conv2d) -> bool:
    """A 1x1 branch at the conv's stride reads what the centre tap reads (so the export can
    fold it) only for an odd square kernel with "same" zero padding and no dilation."""
    kernel, padding = conv.kernel_size, conv.padding
    return (kernel[0] == kernel[1] and kernel[0] % 2 == 1 and padding == (kernel[0] // 2,) * 2
            and conv.dilation == (1, 1) and conv.padding_mode == "zeros")


def ghost_sites(model: nn.Module) -> list:
    """Where branches go: spatial convs, the stem (the first conv) excepted. A kit model's
    `ConvBN` units in registration order; in any other network, the conv + BN pairs torch.fx
    finds, in execution order, whose centre tap a branch lines up with."""
    units = [m for m in model.modules() if isinstance(m, ConvBN)]
    if units:
        return [UnitSite(unit) for unit in units[1:] if max(unit.conv.kernel_size) > 1]
    pairs = conv_bn_pairs(model)
    return [PairSite(pair.conv, pair.bn) for pair in pairs[1:]
            if max(pair.conv.kernel_size) > 1 and _lines_up(pair.conv)]


class GhostSkip(EarlyPhaseTrick):
    """Adds the branches at setup; in early mode anneals alpha and removes them."""

    def __init__(self, alpha: float = 1.0, mode: str = "early", early_phase: float = 0.25):
        super().__init__(mode, early_phase)
        self.alpha = alpha
        self.branches: List[GhostBranch] = []
        self.sites: list = []

    def check(self, state) -> None:
        if not ghost_sites(state.model):
            raise SparsekitError(NO_SITES)

    def on_setup(self, state) -> None:
        self.sites = ghost_sites(state.model)
        if not self.sites:
            raise SparsekitError(NO_SITES)
        for site in self.sites:
            branch = GhostBranch(site.conv, self.alpha).to(site.conv.weight.device, site.conv.weight.dtype)
            site.attach(branch)
            self.branches.append(branch)

    def active(self) -> bool:
        return bool(self.branches)

    def set_strength(self, strength: float) -> None:
        for branch in self.branches:
            branch.alpha.fill_(self.alpha * strength)

    def remove(self, state) -> None:
        for site, branch in zip(self.sites, self.branches):
            site.detach(branch)
        state.forget_parameters([p for branch in self.branches for p in branch.parameters()])
        self.branches, self.sites = [], []


@dataclass(frozen=True)
class GhostSkipSettings:
    ghost_skip: bool = setting(False, "dense 1x1 conv + BN branches beside the 3x3 convs (J1, J2 in residual blocks)")
    ghost_skip_alpha: float = setting(1.0, "ghost skip: branch scale alpha at the start (the release's 1)", positive=True)
    ghost_skip_mode: str = setting("early", "ghost skip: 'early' anneals alpha to 0 over the early phase, then "
                                   "removes the branches; 'keep' keeps them all run (the release)", choices=GHOST_MODES)


def _kept(recipe, model: nn.Module) -> None:
    """Kept all run, the branches are part of the trained network; annealed away, not."""
    if recipe.ghost_skip_mode == "keep":
        GhostSkip(recipe.ghost_skip_alpha, "keep").on_setup(SimpleNamespace(model=model))


TRICK = Trick(
    name="ghost_skip", label="ghost skip connections", order=20, settings=GhostSkipSettings, switch="ghost_skip",
    on={"ghost_skip": True}, release={"ghost_skip_mode": "keep"},
    callbacks=lambda r: [GhostSkip(r.ghost_skip_alpha, r.ghost_skip_mode, r.early_phase)],
    describe=lambda r: (f"ghost skip alpha={r.ghost_skip_alpha:g} {mode_phrase(r.ghost_skip_mode, r.early_phase)}"
                        if r.ghost_skip else None),
    final_architecture=lambda r, model: _kept(r, model))
