"""The model section of a run's settings: which network, how wide, how it is laid out."""
from dataclasses import dataclass

from ..core.checks import finite_number
from ..core.fields import check_declared, setting


@dataclass(frozen=True)
class ModelSettings:
    model: str = setting("resnet20", "model name (see `sparsekit list`)", shapes_mask=True)
    width: float = setting(1.0, "channel-width multiplier of the model", shapes_mask=True)
    channels_last: bool = setting(False, "channels-last memory layout for model and images (faster convolutions "
                                         "on recent GPUs)", resumable=True)
    compile: bool = setting(False, "torch.compile the model's training forward (CUDA; on a CPU it needs a C++ "
                                   "compiler)", resumable=True)

    def __post_init__(self):
        finite_number("width", self.width, 0, low_open=True)
        check_declared(self)
