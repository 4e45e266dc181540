"""MobileNetV2 adapted to small images."""
import torch
from torch import nn

from .registry import MODELS
from .units import ConvBN, PooledClassifier

# (expansion t, output channels c, repeats n, first stride s) per stage, from Sandler et al.
# (2018, table 2), with the second stage's stride 2 -> 1 as in the common CIFAR variant.
MOBILENETV2_STAGES = ((1, 16, 1, 1), (6, 24, 2, 1), (6, 32, 3, 2), (6, 64, 4, 2),
                      (6, 96, 3, 1), (6, 160, 3, 2), (6, 320, 1, 1))
STEM_CHANNELS = 32
LAST_CHANNELS = 1280


def divisible_channels(channels: int, width: float, divisor: int = 8) -> int:
    """Scaled channel count rounded to a multiple of `divisor` (hardware-friendly, as in the
    reference), but never below `divisor` so very small widths still build."""
    return max(divisor, int(channels * width / divisor + 0.5) * divisor)


class InvertedResidual(nn.Module):
    """Expand (1x1) -> depthwise (3x3) -> linear projection (1x1), with a skip when the shape
    is unchanged. No activation after the projection: the "linear bottleneck"."""

    def __init__(self, in_channels: int, out_channels: int, stride: int, expansion: int):
        super().__init__()
        hidden = in_channels * expansion
        # With expansion 1 the expand conv would be a square 1x1 conv that adds nothing the
        # depthwise conv cannot learn, so the reference leaves it out.
        if expansion != 1:
            self.expand = ConvBN(in_channels, hidden, 1)
            self.expand_act = nn.ReLU6()
        else:
            self.expand = nn.Identity()
            self.expand_act = nn.Identity()
        self.depthwise = ConvBN(hidden, hidden, 3, stride=stride, padding=1, groups=hidden)
        self.depthwise_act = nn.ReLU6()
        self.project = ConvBN(hidden, out_channels, 1)
        self.use_residual = stride == 1 and in_channels == out_channels

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.expand_act(self.expand(x))
        out = self.project(self.depthwise_act(self.depthwise(out)))
        return x + out if self.use_residual else out


@MODELS.register("mobilenetv2")
class MobileNetV2(PooledClassifier):
    """MobileNetV2 (Sandler et al., 2018) in its CIFAR form: stride-1 stem and second stage, so
    a 32x32 input ends at 4x4. The width multiplier scales every layer including the last 1x1
    conv (the reference keeps 1280 for widths below 1; scaling it keeps small models small).
    """

    def __init__(self, num_classes: int, in_channels: int = 3, width: float = 1.0,
                 input_size: int = 32):
        super().__init__()
        channels = divisible_channels(STEM_CHANNELS, width)
        layers = [ConvBN(in_channels, channels, 3, stride=1, padding=1), nn.ReLU6()]
        size = input_size
        for expansion, stage_channels, repeats, first_stride in MOBILENETV2_STAGES:
            out_channels = divisible_channels(stage_channels, width)
            for index in range(repeats):
                stride = first_stride if index == 0 else 1
                # Once the map is 1x1 a stride-2 stage only throws away padding; keep stride 1
                # there so tiny inputs (8x8 digits and below) go through every stage.
                if stride == 2 and size == 1:
                    stride = 1
                size = (size + 1) // 2 if stride == 2 else size
                layers.append(InvertedResidual(channels, out_channels, stride, expansion))
                channels = out_channels
        last_channels = divisible_channels(LAST_CHANNELS, width)
        layers += [ConvBN(channels, last_channels, 1), nn.ReLU6()]
        self.features = nn.Sequential(*layers)
        self._add_head(last_channels, num_classes)

    def body(self, x: torch.Tensor) -> torch.Tensor:
        return self.features(x)
