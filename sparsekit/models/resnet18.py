"""ResNet-18 adapted to small images."""
from .registry import MODELS
from .units import StagedResNet, scaled_channels


@MODELS.register("resnet18")
class ResNet18(StagedResNet):
    """ResNet-18 (He et al., 2016) in its common CIFAR form: the 7x7 stride-2 stem and the
    max-pool are replaced by one 3x3 stride-1 conv, then 4 stages of 2 basic blocks with
    64/128/256/512 channels, global pooling and one linear layer (~11.2M parameters).

    Initialised as the ToST release's ResNet-18 is: PyTorch's default init for every layer
    (no Kaiming re-init, unlike the CIFAR ResNets here, whose release re-inits its convs).
    """

    def __init__(self, num_classes: int, in_channels: int = 3, width: float = 1.0,
                 input_size: int = 32):
        # input_size is unused: global average pooling makes the network size-agnostic.
        super().__init__([scaled_channels(c, width) for c in (64, 128, 256, 512)], [2] * 4,
                         num_classes, in_channels, kaiming_init=False)
