"""ResNet-20/32/56 (basic blocks) and ResNet-104 (bottleneck blocks) for 32x32 images."""
from functools import partial
from typing import Type

from torch import nn

from .registry import MODELS
from .units import BasicBlock, Bottleneck, StagedResNet, scaled_channels

# Depth -> block. ResNet-104 follows the ToST release, whose CIFAR ResNet switches to
# bottleneck blocks from depth 54 up; ResNet-56 stays He et al.'s basic-block network (the
# release's own depth 56 would be a bottleneck net, ~4x the parameters).
CIFAR_BLOCKS = {20: BasicBlock, 32: BasicBlock, 56: BasicBlock, 104: Bottleneck}


class ResNetCifar(StagedResNet):
    """The CIFAR ResNet of He et al. (2016, section 4.2): a 3x3 stem with 16 channels, then 3
    stages of n = (depth - 2) / 6 blocks at widths 16/32/64, global pooling and one linear layer.

    With basic blocks (ResNet-20/32/56, as in the paper) the stages put out 16/32/64 channels.
    With bottleneck blocks (ResNet-104, as in the ToST release) each block is 1x1 -> 3x3 -> 1x1
    with expansion 4, so the stages put out 64/128/256 channels and the classifier reads 256;
    depth 104 gives n = 17 blocks per stage. The depth formula 6n + 2 is the release's for
    both kinds of block.

    Shortcuts that change shape are 1x1 conv + BN projections (option B), as in the release,
    not zero padding (option A), so ResNet-20 has slightly more than the paper's 0.27M
    parameters. Init is the release's: Kaiming-normal convs (fan_out), BatchNorm weight 1 and
    bias 0, PyTorch's default for the classifier.
    """

    def __init__(self, depth: int, num_classes: int, in_channels: int = 3, width: float = 1.0,
                 input_size: int = 32, block: Type[nn.Module] = BasicBlock):
        # input_size is unused: global average pooling makes the network size-agnostic (the
        # release's fixed 8x8 average pool is the same thing at 32x32).
        if (depth - 2) % 6 != 0:
            raise ValueError(f"CIFAR ResNet depth must be 6n + 2, got {depth}")
        blocks = (depth - 2) // 6
        super().__init__([scaled_channels(c, width) for c in (16, 32, 64)], [blocks] * 3,
                         num_classes, in_channels, block=block)


for _depth, _block in CIFAR_BLOCKS.items():
    MODELS.register(f"resnet{_depth}")(partial(ResNetCifar, _depth, block=_block))
