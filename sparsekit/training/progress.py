"""One tqdm.auto bar over all training steps, or nothing when progress is off (headless
notebook runs: tqdm's notebook widget shows 0% in saved output). A standard callback: it
follows the steps and shows each finished epoch's loss and validation accuracy."""
from tqdm.auto import tqdm

from ..core.callbacks import Callback


class ProgressBar(Callback):
    def __init__(self, enabled: bool):
        self.enabled = enabled
        self._bar = None

    def on_run_start(self, state) -> None:
        if self.enabled:
            self._bar = tqdm(total=state.total_steps, initial=state.step, unit="step", dynamic_ncols=True)

    def on_step(self, state) -> None:
        if self._bar is not None:
            self._bar.update(1)

    def on_epoch_end(self, state) -> None:
        row = state.epoch_record
        if self._bar is not None:
            self._bar.set_postfix(epoch=row["epoch"], loss=f"{row['train_loss']:.3f}", val=f"{row['val_acc']:.3f}")

    def on_run_end(self, state) -> None:
        self.close()

    def on_diverged(self, state) -> None:
        self.close()

    def close(self) -> None:
        if self._bar is not None:
            self._bar.close()
            self._bar = None
