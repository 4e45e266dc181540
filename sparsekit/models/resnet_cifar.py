"""ResNet-20/32/56/104 for 32x32 images."""
from functools import partial

from .registry import MODELS
from .units import BasicBlockResNet, scaled_channels

CIFAR_DEPTHS = (20, 32, 56, 104)


class ResNetCifar(BasicBlockResNet):
    """The CIFAR ResNet of He et al. (2016, section 4.2): a 3x3 stem, then 3 stages of
    n = (depth - 2) / 6 basic blocks with 16/32/64 channels, global pooling and one linear layer.

    Shortcuts that change shape are 1x1 projections (option B), not zero padding (option A), so
    the parameter count is slightly above the paper's 0.27M for depth 20.
    """

    def __init__(self, depth: int, num_classes: int, in_channels: int = 3, width: float = 1.0,
                 input_size: int = 32):
        # input_size is unused: global average pooling makes the network size-agnostic.
        if (depth - 2) % 6 != 0:
            raise ValueError(f"CIFAR ResNet depth must be 6n + 2, got {depth}")
        blocks = (depth - 2) // 6
        super().__init__([scaled_channels(c, width) for c in (16, 32, 64)], [blocks] * 3,
                         num_classes, in_channels)


for _depth in CIFAR_DEPTHS:
    MODELS.register(f"resnet{_depth}")(partial(ResNetCifar, _depth))
