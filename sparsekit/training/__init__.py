"""The training loop (`fit`) and what it shares: settings, state, run record."""
from .config import TrainConfig, make_config  # noqa: F401
from .record import RunRecord  # noqa: F401
from .state import TrainState  # noqa: F401
