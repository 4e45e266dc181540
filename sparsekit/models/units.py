"""Building blocks shared by every architecture.

Two conventions here are relied on by the recipe code:
- every convolution is followed by BatchNorm inside a `ConvBN`, whose `ghosts` list is where a
  dense side branch can be attached later without knowing which model it sits in;
- every activation is its own module instance, so a recipe can swap it by replacing a child.
"""
from typing import Sequence, Type

import torch
from torch import nn


def scaled_channels(channels: int, width: float) -> int:
    """Channel count after a width multiplier; never zero, so tiny widths still build."""
    return max(1, round(channels * width))


class ConvBN(nn.Module):
    """A bias-free convolution followed by BatchNorm, plus optional "ghost" side branches.

    `ghosts` starts empty. A recipe may append modules to it (e.g. a dense 1x1 conv + BN, the
    paper's ghost skip connections); each receives the SAME input `x` as `conv` and its output
    is added to `bn(conv(x))`, so a ghost must map x to the same shape as the main path.
    """

    def __init__(self, in_channels: int, out_channels: int, kernel_size: int, stride: int = 1,
                 padding: int = 0, groups: int = 1):
        super().__init__()
        self.conv = nn.Conv2d(in_channels, out_channels, kernel_size, stride=stride,
                              padding=padding, groups=groups, bias=False)
        self.bn = nn.BatchNorm2d(out_channels)
        self.ghosts = nn.ModuleList()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.bn(self.conv(x))
        for ghost in self.ghosts:  # empty in a plain model, so this costs nothing then
            out = out + ghost(x)
        return out


def residual_shortcut(in_planes: int, out_planes: int, stride: int) -> nn.Module:
    """Identity where the block keeps the shape, else a 1x1 projection (option B of the ResNet
    paper, and the ToST release's choice); a ConvBN so every conv in a model can carry ghosts."""
    if stride != 1 or in_planes != out_planes:
        return ConvBN(in_planes, out_planes, 1, stride=stride)
    return nn.Identity()


class BasicBlock(nn.Module):
    """The two-conv residual block of ResNet (He et al., 2016), shared by every ResNet here.

    Ghost attachment points: `conv_bn1.ghosts` receives the block input, so a branch there is
    the paper's J1 (block input -> first conv output); `conv_bn2.ghosts` receives `h`, the
    first activation's output, so a branch there is J2 (h -> second conv output).
    """

    expansion = 1  # output channels per `planes`

    def __init__(self, in_planes: int, planes: int, stride: int):
        super().__init__()
        self.conv_bn1 = ConvBN(in_planes, planes, 3, stride=stride, padding=1)
        self.act1 = nn.ReLU()
        self.conv_bn2 = ConvBN(planes, planes, 3, stride=1, padding=1)
        self.shortcut = residual_shortcut(in_planes, planes, stride)
        self.act2 = nn.ReLU()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = self.act1(self.conv_bn1(x))
        return self.act2(self.conv_bn2(h) + self.shortcut(x))


class Bottleneck(nn.Module):
    """The three-conv residual block of deeper ResNets (He et al., 2016): 1x1 reduce to
    `planes`, 3x3 (carrying the stride), 1x1 expand to 4 * `planes`.

    The stride sits on the 3x3 conv and shape-changing shortcuts are 1x1 ConvBN projections,
    as in the ToST release. Only `conv_bn2` is spatial, so it is the block's one ghost site:
    a branch there skips the 3x3 filter (its input is the first activation's output).
    """

    expansion = 4

    def __init__(self, in_planes: int, planes: int, stride: int):
        super().__init__()
        out_planes = planes * self.expansion
        self.conv_bn1 = ConvBN(in_planes, planes, 1)
        self.act1 = nn.ReLU()
        self.conv_bn2 = ConvBN(planes, planes, 3, stride=stride, padding=1)
        self.act2 = nn.ReLU()
        self.conv_bn3 = ConvBN(planes, out_planes, 1)
        self.shortcut = residual_shortcut(in_planes, out_planes, stride)
        self.act3 = nn.ReLU()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = self.act2(self.conv_bn2(self.act1(self.conv_bn1(x))))
        return self.act3(self.conv_bn3(h) + self.shortcut(x))


class PooledClassifier(nn.Module):
    """The ending every model here shares: global average pooling, then one linear layer.

    Subclasses build their body, call `_add_head(channels, num_classes)` LAST (so the
    classifier is the last Linear registered, as mask code expects) and define `body(x)`.
    `kaiming_init=False` keeps PyTorch's default init for models whose reference keeps it.
    """

    def _add_head(self, channels: int, num_classes: int, kaiming_init: bool = True) -> None:
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.classifier = nn.Linear(channels, num_classes)
        if kaiming_init:
            init_weights(self)

    def body(self, x: torch.Tensor) -> torch.Tensor:
        raise NotImplementedError

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.classifier(torch.flatten(self.pool(self.body(x)), 1))


class StagedResNet(PooledClassifier):
    """A 3x3-stem ResNet of residual stages without max-pool, the CIFAR-style layout.

    Stage i has `blocks_per_stage[i]` blocks (`BasicBlock` or `Bottleneck`) of width
    `stage_widths[i]`, each putting out `block.expansion` times that many channels; every
    stage after the first halves the resolution in its first block. The stem puts out
    `stage_widths[0]` channels. Subclasses only pick the configuration.
    """

    def __init__(self, stage_widths: Sequence[int], blocks_per_stage: Sequence[int],
                 num_classes: int, in_channels: int, block: Type[nn.Module] = BasicBlock,
                 kaiming_init: bool = True):
        super().__init__()
        self.stem = ConvBN(in_channels, stage_widths[0], 3, stride=1, padding=1)
        self.stem_act = nn.ReLU()
        stages = []
        in_planes = stage_widths[0]
        for index, (planes, num_blocks) in enumerate(zip(stage_widths, blocks_per_stage)):
            first_stride = 1 if index == 0 else 2
            blocks = []
            for block_index in range(num_blocks):
                blocks.append(block(in_planes, planes, first_stride if block_index == 0 else 1))
                in_planes = planes * block.expansion
            stages.append(nn.Sequential(*blocks))
        self.stages = nn.Sequential(*stages)
        self._add_head(in_planes, num_classes, kaiming_init)

    def body(self, x: torch.Tensor) -> torch.Tensor:
        return self.stages(self.stem_act(self.stem(x)))


def init_weights(model: nn.Module) -> None:
    """Kaiming-normal convs (fan_out, as in torchvision's ResNet and the ToST release's CIFAR
    ResNets: normal with std sqrt(2 / (k * k * out_channels))), BatchNorm as identity.

    Linear layers keep PyTorch's default init. Everything draws from the global generator, so
    `torch.manual_seed` before building gives identical weights.
    """
    for module in model.modules():
        if isinstance(module, nn.Conv2d):
            nn.init.kaiming_normal_(module.weight, mode="fan_out", nonlinearity="relu")
        elif isinstance(module, nn.BatchNorm2d):
            nn.init.ones_(module.weight)
            nn.init.zeros_(module.bias)
