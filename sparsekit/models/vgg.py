"""VGG-16 with BatchNorm for small images."""
import torch
from torch import nn

from .registry import MODELS
from .units import ConvBN, PooledClassifier, scaled_channels

# Channel counts of the 13 convs; "M" is a 2x2 max-pool (configuration D of Simonyan & Zisserman).
VGG16_LAYOUT = (64, 64, "M", 128, 128, "M", 256, 256, 256, "M", 512, 512, 512, "M",
                512, 512, 512, "M")


@MODELS.register("vgg16")
class VGG16(PooledClassifier):
    """VGG-16 with BatchNorm after every conv (Simonyan & Zisserman, 2015, configuration D) and
    the single-linear classifier of the usual CIFAR variant instead of three dense layers.

    A max-pool that would shrink the map below 1x1 (inputs under 32x32, e.g. 8x8 digits) is
    left out, decided from `input_size` at build time. The map before the classifier is
    averaged to 1x1, so larger inputs (64x64) keep the same classifier and parameter count.
    """

    def __init__(self, num_classes: int, in_channels: int = 3, width: float = 1.0,
                 input_size: int = 32):
        super().__init__()
        layers = []
        channels, size = in_channels, input_size
        for entry in VGG16_LAYOUT:
            if entry == "M":
                if size >= 2:
                    layers.append(nn.MaxPool2d(2))
                    size //= 2
                continue
            out_channels = scaled_channels(entry, width)
            layers += [ConvBN(channels, out_channels, 3, padding=1), nn.ReLU()]
            channels = out_channels
        self.features = nn.Sequential(*layers)
        self._add_head(channels, num_classes)

    def body(self, x: torch.Tensor) -> torch.Tensor:
        return self.features(x)
