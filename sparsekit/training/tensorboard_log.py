"""TensorBoard logging, optional: every epoch's row (losses, accuracies, learning rate) as
scalars under `tensorboard=DIR` (CLI: `--tensorboard DIR`), for people who watch runs there.

The `tensorboard` package is not a dependency of sparsekit; asking for the log without it
fails before any work with one line saying how to install it.
"""
from ..core.callbacks import Callback
from ..core.errors import SparsekitError
from .run_dir import check_location

# Epoch-row columns that are not curves: the epoch is the x axis, seconds are bookkeeping.
NOT_SCALARS = {"epoch", "seconds"}


def check_available() -> None:
    """One `SparsekitError` line when the tensorboard package is missing."""
    try:
        from torch.utils.tensorboard import SummaryWriter  # noqa: F401  (imports tensorboard)
    except ImportError:
        raise SparsekitError("tensorboard logging needs the tensorboard package: pip install tensorboard "
                             "(or drop --tensorboard / tensorboard=)") from None


class TensorBoardLog(Callback):
    """Writes each finished epoch's numbers as scalars, x = epoch, under `directory`."""

    def __init__(self, directory: str):
        check_available()
        check_location(directory, "tensorboard")  # a file, or a folder under one, fails before any work
        self.directory = str(directory)
        self.writer = None

    def on_run_start(self, state) -> None:
        from torch.utils.tensorboard import SummaryWriter

        # A resumed run appends to the same folder; TensorBoard shows the later points.
        self.writer = SummaryWriter(log_dir=self.directory)

    def on_epoch_end(self, state) -> None:
        for name, value in state.epoch_record.items():
            if name not in NOT_SCALARS and isinstance(value, (int, float)):
                self.writer.add_scalar(name, value, state.epoch)
        self.writer.flush()

    def on_run_end(self, state) -> None:
        if self.writer is not None:
            self.writer.close()
