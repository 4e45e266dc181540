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

A branch holds `alpha` as a buffer and is flagged `sparsekit_dense`, so masks never prune
it and it never counts toward the mask's density. Weights start at the release's constant
1e-4 (BN rescales them anyway), BN at its default.
- mode "keep" (the release): branches stay for the whole run (the final model has them).
- mode "early" (the abstract): alpha falls linearly to 0 over the early phase, then the
  branches are deleted and dropped from the optimizer, leaving exactly the masked original.
"""
from dataclasses import dataclass
from typing import List

import torch
from torch import nn

from ..core.errors import SparsekitError
from ..core.fields import setting
from ..models.units import ConvBN
from .phase import EarlyPhaseTrick, GHOST_MODES, mode_phrase
from .trick import Trick

RELEASE_WEIGHT = 1e-4


class GhostBranch(nn.Module):
    """alpha * BN(conv1x1(x)), with the stride and groups of the conv it sits beside."""

    sparsekit_dense = True

    def __init__(self, beside: nn.Conv2d, alpha: float):
        super().__init__()
        self.conv = nn.Conv2d(beside.in_channels, beside.out_channels, 1, stride=beside.stride,
                              groups=beside.groups, bias=False)
        nn.init.constant_(self.conv.weight, RELEASE_WEIGHT)
        self.bn = nn.BatchNorm2d(beside.out_channels)
        self.register_buffer("alpha", torch.tensor(float(alpha)))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.alpha * self.bn(self.conv(x))


def ghost_sites(model: nn.Module) -> List[ConvBN]:
    """The ConvBN units that get a branch: spatial convs, the stem excepted."""
    units = [m for m in model.modules() if isinstance(m, ConvBN)]
    return [unit for unit in units[1:] if max(unit.conv.kernel_size) > 1]


class GhostSkip(EarlyPhaseTrick):
    """Adds the branches at setup; in early mode anneals alpha and removes them."""

    def __init__(self, alpha: float = 1.0, mode: str = "early", early_phase: float = 0.25):
        super().__init__(mode, early_phase)
        self.alpha = alpha
        self.branches: List[GhostBranch] = []
        self.sites: List[ConvBN] = []

    def on_setup(self, state) -> None:
        self.sites = ghost_sites(state.model)
        if not self.sites:
            raise SparsekitError("ghost skip connections need ConvBN units with spatial convs "
                                 "(a sparsekit model); this model has none")
        for unit in self.sites:
            branch = GhostBranch(unit.conv, self.alpha).to(unit.conv.weight.device, unit.conv.weight.dtype)
            unit.ghosts.append(branch)
            self.branches.append(branch)

    def active(self) -> bool:
        return bool(self.branches)

    def set_strength(self, strength: float) -> None:
        for branch in self.branches:
            branch.alpha.fill_(self.alpha * strength)

    def remove(self, state) -> None:
        doomed = {id(b) for b in self.branches}
        for unit in self.sites:
            unit.ghosts = nn.ModuleList([g for g in unit.ghosts if id(g) not in doomed])
        state.forget_parameters([p for branch in self.branches for p in branch.parameters()])
        self.branches, self.sites = [], []


@dataclass(frozen=True)
class GhostSkipSettings:
    ghost_skip: bool = setting(False, "dense 1x1 conv + BN branches beside the 3x3 convs (J1, J2 in residual blocks)")
    ghost_skip_alpha: float = setting(1.0, "ghost skip: branch scale alpha at the start (the release's 1)", positive=True)
    ghost_skip_mode: str = setting("early", "ghost skip: 'early' anneals alpha to 0 over the early phase, then "
                                   "removes the branches; 'keep' keeps them all run (the release)", choices=GHOST_MODES)


TRICK = Trick(
    name="ghost_skip", label="ghost skip connections", order=20, settings=GhostSkipSettings, switch="ghost_skip",
    on={"ghost_skip": True}, release={"ghost_skip_mode": "keep"},
    callbacks=lambda r: [GhostSkip(r.ghost_skip_alpha, r.ghost_skip_mode, r.early_phase)],
    describe=lambda r: (f"ghost skip alpha={r.ghost_skip_alpha:g} {mode_phrase(r.ghost_skip_mode, r.early_phase)}"
                        if r.ghost_skip else None))
