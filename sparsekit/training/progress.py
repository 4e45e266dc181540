"""One tqdm.auto bar over all training steps, or nothing when progress is off (headless
notebook runs: tqdm's notebook widget shows 0% in saved output)."""
from tqdm.auto import tqdm


class ProgressBar:
    def __init__(self, enabled: bool, total: int, initial: int = 0):
        self._bar = tqdm(total=total, initial=initial, unit="step", dynamic_ncols=True) if enabled else None

    def update(self, steps: int) -> None:
        if self._bar is not None:
            self._bar.update(steps)

    def describe(self, epoch_record: dict) -> None:
        if self._bar is not None:
            self._bar.set_postfix(epoch=epoch_record["epoch"], loss=f"{epoch_record['train_loss']:.3f}",
                                  val=f"{epoch_record['val_acc']:.3f}")

    def __enter__(self):
        return self

    def __exit__(self, *exc_info):
        if self._bar is not None:
            self._bar.close()
