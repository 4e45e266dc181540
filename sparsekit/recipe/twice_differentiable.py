"""Stand-ins for the activations whose backward PyTorch cannot differentiate again.

GradInit differentiates through a gradient step (a gradient of a gradient). PyTorch's fused
`hardsigmoid` and `hardswish` (MobileNetV3's activations) have no second derivative there, so
for the search only they are written with ReLU6, which has one: the same functions, swapped
in and put back around the search, so the trained network keeps the user's modules.
"""
from contextlib import contextmanager
from typing import Iterator

from torch import nn
from torch.nn import functional as F


class HardsigmoidByRelu6(nn.Module):
    def forward(self, x):
        return F.relu6(x + 3.0) / 6.0


class HardswishByRelu6(nn.Module):
    def forward(self, x):
        return x * F.relu6(x + 3.0) / 6.0


STAND_INS = {nn.Hardsigmoid: HardsigmoidByRelu6, nn.Hardswish: HardswishByRelu6}


@contextmanager
def twice_differentiable(model: nn.Module) -> Iterator[nn.Module]:
    """`model` with every Hardsigmoid/Hardswish child replaced while the block runs."""
    swapped = []
    for parent in list(model.modules()):
        for name, child in list(parent.named_children()):
            if type(child) in STAND_INS:
                setattr(parent, name, STAND_INS[type(child)]())
                swapped.append((parent, name, child))
    try:
        yield model
    finally:
        for parent, name, child in swapped:
            setattr(parent, name, child)
