"""The loop's bookkeeping as callbacks: each epoch's row (training figures, validation, test,
the BatchNorm diagnostic), the checkpoint, and the run record with its files.

`standard_callbacks` wraps a run's own callbacks in them, in the order the loop needs: the
divergence watch first (a bad step stops the run before anything else sees it), then the
epoch's row (so every later `on_epoch_end` reads it), the run's callbacks (which may extend
the row), the progress bar, and last the checkpoint and the record, which save what every
other callback has done.
"""
import time
from typing import List, Optional, Sequence

import torch

from ..core import atomic
from ..core.callbacks import Callback
from . import checkpoint, distributed, epoch_csv, record as run_record
from .bn_reestimate import bn_reestimated_accuracy
from .divergence import DivergenceWatch
from .evaluate import evaluate
from .progress import ProgressBar
from .run_dir import RunDirectory


def standard_callbacks(state, callbacks: Sequence[Callback], run: Optional[RunDirectory],
                       recorder: "RunRecorder") -> List[Callback]:
    """The run's callbacks inside the standard ones; nothing is written when `run` is None."""
    after: List[Callback] = [ProgressBar(state.config.progress and distributed.is_main())]
    if run is not None:
        after.append(Checkpointer(run))
    return [DivergenceWatch(state.device), EpochEvaluation(), *callbacks, *after, recorder]


class EpochEvaluation(Callback):
    """Sums the training loss and accuracy over the epoch's steps and evaluates at its end:
    validation every epoch, test when `test_every` asks or validation improved or it is the
    last epoch, and the BatchNorm re-estimate diagnostic when asked for and improved."""

    def on_epoch_start(self, state) -> None:
        self.began = time.perf_counter()
        # Accumulated on the device and read once per epoch: a per-step .cpu() or int() would
        # make the host wait for a GPU at every step.
        self.loss_sum = torch.zeros((), device=state.device)
        self.correct = torch.zeros((), dtype=torch.long, device=state.device)
        self.seen = 0

    def on_step(self, state) -> None:
        self.loss_sum += state.loss * len(state.targets)
        self.correct += (state.logits.argmax(1) == state.targets).sum()
        self.seen += len(state.targets)

    def on_epoch_end(self, state) -> None:
        config, model = state.config, state.model
        loss_sum, correct, seen = distributed.sum_over_ranks(self.loss_sum, self.correct, self.seen)  # global batch's
        seen = int(seen)
        distributed.broadcast_model(model, buffers_only=True)  # rank 0's BatchNorm statistics evaluate
        val_acc, val_loss = evaluate(model, state.data.val, state.device)
        # The earliest best epoch is the record's best (`record.best_epoch`): only a strict gain moves it.
        best_val = max((row["val_acc"] for row in state.epochs), default=None)
        improved = best_val is None or val_acc > best_val
        test_acc = None
        if config.test_every == "epoch" or improved or state.epoch == config.epochs:
            test_acc, _ = evaluate(model, state.data.test, state.device)
        diagnostics = {}
        if config.bn_reestimate_batches and improved:  # seeded by the 0-based epoch that just ran
            diagnostics["bn_reestimated_test_acc"] = bn_reestimated_accuracy(
                model, state.data.train, state.data.test, state.device, config.bn_reestimate_batches, state.epoch - 1)
        state.epoch_record = {
            "epoch": state.epoch, "train_loss": float(loss_sum) / max(seen, 1),
            "train_acc": int(correct) / max(seen, 1), "val_loss": val_loss, "val_acc": val_acc, "test_acc": test_acc,
            "lr": state.lr, "seconds": time.perf_counter() - self.began, **diagnostics}
        state.epochs.append(state.epoch_record)  # the same dict: later callbacks may extend the row


class Checkpointer(Callback):
    """After every epoch: the state to resume from (`TrainState.state_dict`), then the run
    directory keeps it whatever happens next."""

    def __init__(self, run: RunDirectory):
        self.run = run

    def on_epoch_end(self, state) -> None:
        checkpoint.save(self.run.path, state.state_dict())
        self.run.commit()


class RunRecorder(Callback):
    """Builds the run record (`record.build`) and, with a run directory, writes it:
    `record.json` and `epochs.csv` after every epoch as the last good state, the diverged
    record when the loss becomes non-finite, and at the end the final record, `mask.pt` (the
    mask the final model has) and `model.pt`. `result` is the final record."""

    def __init__(self, run: Optional[RunDirectory]):
        self.run = run
        self.last_good: Optional[run_record.RunRecord] = None
        self.result: Optional[run_record.RunRecord] = None

    def on_run_start(self, state) -> None:
        if self.run is not None:  # what the record says if the run diverges before an epoch ends
            self.last_good = run_record.build(state, finished=False)

    def on_epoch_end(self, state) -> None:
        if self.run is not None:
            self.last_good = run_record.build(state, finished=False)
            self._write(self.last_good)

    def on_diverged(self, state) -> None:
        if self.run is not None:
            self._write(run_record.RunRecord(self.last_good, diverged=state.diverged.to_dict()))
            self.run.commit()  # the diverged record (and the last good checkpoint) are the run's outcome

    def on_run_end(self, state) -> None:
        self.result = run_record.build(state, finished=True)
        if self.run is not None:
            state.mask.save(self.run.path / "mask.pt")
            atomic.torch_save(state.model.state_dict(), self.run.path / "model.pt")
            self._write(self.result)
        self.result.model, self.result.mask = state.model, state.mask

    def _write(self, result: run_record.RunRecord) -> None:
        if self.run is not None:
            atomic.write_json(dict(result), self.run.path / "record.json")
            epoch_csv.write_epoch_csv(result["epochs"], self.run.path)
