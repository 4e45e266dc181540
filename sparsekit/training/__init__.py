"""Masked training: `train(...)`, its settings, callbacks and run record."""
from .callbacks import Callback  # noqa: F401
from .config import TrainConfig, make_config  # noqa: F401
from .record import RunRecord  # noqa: F401
from .state import TrainState  # noqa: F401
from .trainer import train  # noqa: F401
