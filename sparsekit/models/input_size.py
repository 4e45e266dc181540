"""Does a network fit the data? Its first layer must read the data's channels, its classifier
have the data's classes, and it must run on the data's input size: asked once, on one small
batch of zeros, before any work (`check_fits_data`). A torchvision or timm network built for
224-pixel images (a ViT, a SqueezeNet whose pooling runs out of pixels) would otherwise start a
run and crash in its first step.

The check runs the network in eval mode under `no_grad` (no BatchNorm statistics change, no
random number is drawn), so the run that follows is exactly the run without the check. When the
network refuses, the smallest square input it takes is found by trying sizes: doublings up to
`LARGEST`, plus the sizes networks are commonly built for, then bisection below the first that
works (exact for a network that takes every size from some minimum up, as downsampling networks
do; for a network of one fixed size, such as a ViT, bisection ends at that size).
"""
from typing import Optional, Sequence

import torch
from torch import nn

from ..core.errors import SparsekitError

LARGEST = 512
COMMON_SIZES = (224, 299, 384)  # ImageNet-style builds: ViT, ResNet (224), Inception (299), ViT-384
PROBE_BATCH = 2  # two examples: a network that squeezes the batch dimension away still sees one


def runs_on(model: nn.Module, input_shape: Sequence[int]) -> Optional[str]:
    """None when `model` runs on a batch of `input_shape` (channels, height, width), else the
    first line of the error it raised."""
    parameter = next(model.parameters(), None)
    device = parameter.device if parameter is not None else torch.device("cpu")
    dtype = parameter.dtype if parameter is not None and parameter.is_floating_point() else torch.float32
    was_training = model.training
    model.eval()
    try:
        with torch.no_grad():
            model(torch.zeros((PROBE_BATCH, *input_shape), device=device, dtype=dtype))
        return None
    except (RuntimeError, ValueError, AssertionError, IndexError, TypeError) as error:  # how torch and timm refuse a size
        lines = str(error).strip().splitlines()
        return lines[0] if lines else type(error).__name__
    finally:
        model.train(was_training)


def smallest_input(model: nn.Module, channels: int, refused: int) -> Optional[int]:
    """The smallest square side above `refused` that `model` runs on, or None up to `LARGEST`."""
    candidates = sorted({2 ** k for k in range(1, 10)} | set(COMMON_SIZES))
    low = refused  # the largest side known to fail
    for side in (s for s in candidates if refused < s <= LARGEST):
        if runs_on(model, (channels, side, side)) is None:
            high = side
            while high - low > 1:  # bisection: low fails, high works
                middle = (low + high) // 2
                if runs_on(model, (channels, middle, middle)) is None:
                    high = middle
                else:
                    low = middle
            return high
        low = side
    return None


def check_runs_on(model: nn.Module, input_shape: Sequence[int], network: str, data: str) -> None:
    """One `SparsekitError` line naming the network, the input size and the smallest it takes,
    unless `model` runs on a batch of `input_shape` (channels, height, width)."""
    channels, height, width = (int(s) for s in input_shape)
    error = runs_on(model, (channels, height, width))
    if error is None:
        return
    smallest = smallest_input(model, channels, max(height, width))
    shown = f"{channels}x{height}x{width}"
    if smallest is None:
        raise SparsekitError(f"network {network} does not run on the {shown} input of {data}, nor on any square input up "
                             f"to {LARGEST} pixels ({error})")
    raise SparsekitError(f"network {network} does not run on the {shown} input of {data}: the smallest input it takes "
                         f"is {channels}x{smallest}x{smallest} ({error}); choose a dataset of larger images or "
                         f"another network")


def check_fits_data(model: nn.Module, data, network: Optional[str] = None) -> None:
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
