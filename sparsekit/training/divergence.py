"""Divergence: a non-finite training loss stops the run at once, instead of training on
(NaN x 0 = NaN would even un-zero the pruned weights) and ending with a normal-looking record.

`DivergenceWatch` is a standard callback: the trainer puts it first, so a bad step stops the
run before any other callback sees it."""
import torch

from ..core.callbacks import Callback
from ..core.errors import SparsekitError


class Diverged(SparsekitError):
    """The loss became non-finite at 1-based optimizer `step` of 1-based `epoch`."""

    def __init__(self, step: int, epoch: int, loss: float, lr: float, last_good_epoch: int):
        self.step, self.epoch, self.loss, self.lr = step, epoch, loss, lr
        kept = (f"the last good checkpoint is epoch {last_good_epoch}'s" if last_good_epoch
                else "no epoch finished, so there is no checkpoint")
        super().__init__(f"training diverged: the loss became {loss} at step {step} (epoch {epoch}); {kept}. "
                         f"Lower the learning rate (lr={lr:g}) or check the data and recipe")

    def to_dict(self) -> dict:
        return {"step": self.step, "epoch": self.epoch, "loss": str(self.loss), "lr": self.lr}


class DivergenceWatch(Callback):
    """Notices the first non-finite loss. On the CPU each step is checked as it happens (reading
    a CPU scalar costs nothing); on a GPU the first bad step is kept on the device and read once
    per epoch (a per-step read would make the host wait for the GPU at every step)."""

    def __init__(self, device: torch.device):
        self.every_step = device.type == "cpu"
        self.first_bad = torch.full((), -1, dtype=torch.long, device=device)
        self.bad_loss = torch.zeros((), device=device)

    def observe(self, loss: torch.Tensor, step: int, state) -> None:
        if self.every_step:
            if not torch.isfinite(loss):
                raise self._error(step, float(loss), state)
            return
        newly = (self.first_bad < 0) & ~torch.isfinite(loss)
        self.first_bad = torch.where(newly, torch.full_like(self.first_bad, step), self.first_bad)
        self.bad_loss = torch.where(newly, loss.float(), self.bad_loss)

    def check(self, state, last_good_epoch=None) -> None:
        """At the end of an epoch: raise if any of its steps had a non-finite loss."""
        step = int(self.first_bad)
        if step >= 0:
            raise self._error(step, float(self.bad_loss), state, last_good_epoch)

    def on_step(self, state) -> None:
        self.observe(state.loss, state.step, state)

    def on_epoch_end(self, state) -> None:
        self.check(state, last_good_epoch=state.epoch - 1)  # the loop has counted this epoch already

    @staticmethod
    def _error(step: int, loss: float, state, last_good_epoch=None) -> Diverged:
        epoch = (step - 1) // max(state.steps_per_epoch, 1) + 1
        last_good = state.epoch if last_good_epoch is None else last_good_epoch
        return Diverged(step, epoch, loss, state.lr, last_good_epoch=last_good)
