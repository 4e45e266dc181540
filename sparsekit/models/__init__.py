"""Model architectures by name: `build("resnet20", num_classes=10)`.

Every conv is a `units.ConvBN` (so any conv can take a ghost branch), every activation is its
own module, the first conv is the first `nn.Conv2d` registered and the classifier the last
`nn.Linear`. Adding an architecture is a new file registered in `MODELS`, imported below.
Names with a package prefix (`torchvision:resnet18`, `timm:resnet18d`) come from that
package (`external`).
"""
from numbers import Integral, Real
from typing import List

from torch import nn

from ..core.checks import finite_number, whole_number
from . import mobilenetv2, resnet18, resnet_cifar, vgg  # noqa: F401  (registers the models)
from .external import build_external, check_external, is_external
from .registry import MODELS


def _positive_int(name: str, value) -> int:
    # numpy integers (a class count read from an array) are the whole numbers they hold
    return whole_number(name, int(value) if isinstance(value, Integral) and not isinstance(value, bool) else value, 1)


def _positive_width(value) -> float:
    plain = float(value) if isinstance(value, Real) and not isinstance(value, (bool, int, float)) else value
    return float(finite_number("width (the channel multiplier)", plain, 0, low_open=True))


def build(name: str, num_classes: int, in_channels: int = 3, width: float = 1.0,
          input_size: int = 32) -> nn.Module:
    """A freshly initialised model; seed with `torch.manual_seed` first for repeatable weights."""
    sizes = dict(num_classes=_positive_int("num_classes", num_classes),
                 in_channels=_positive_int("in_channels", in_channels), width=_positive_width(width))
    input_size = _positive_int("input_size", input_size)
    if is_external(name):
        model = build_external(name, **sizes)
    else:
        model = MODELS.get(name)(input_size=input_size, **sizes)
    # What the model was built for, so data-free methods (SynFlow) can make a matching input.
    model.input_shape = (int(in_channels), int(input_size), int(input_size))
    return model


def check_name(name: str) -> None:
    """Refuse, in one line, a model name `build` would not know (before any work)."""
    if is_external(name):
        check_external(name)
    else:
        MODELS.get(name)


def available() -> List[str]:
    """The registered model names, sorted."""
    return MODELS.names()
