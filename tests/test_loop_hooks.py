"""The loop's contract, on a toy: a tiny MLP on a few fixed tensors and a callback that counts.

Which hooks run, how often and in what order; the learning rate at exact steps (linear
warm-up, then multistep drops); the standard callbacks' record; and a resumed run, which must
call the resume hooks, carry on at the right step and learning rate, restore the callbacks'
states and end with the weights of an uninterrupted run.
"""
import pytest
import torch
from torch import nn

from sparsekit import Callback, SparsekitError
from sparsekit.core.mask import Mask
from sparsekit.training import TrainConfig, TrainState, checkpoint
from sparsekit.training.record import OWN_ENTRIES
from sparsekit.training.run_dir import RunDirectory
from sparsekit.training.trainer import train

BATCHES_PER_EPOCH, EPOCHS = 5, 4
# Warm-up over 2 of the 20 steps, drops by 10x at steps 10 and 15.
SETTINGS = dict(epochs=EPOCHS, lr=0.1, lr_schedule="multistep", milestones="0.5,0.75", lr_drop=0.1,
                warmup_epochs=2 / BATCHES_PER_EPOCH, progress=False, device="cpu", batch_size=4)
EXPECTED_LR = [0.05, 0.1] + [0.1] * 8 + [0.01] * 5 + [0.001] * 5  # written out, not computed by the code


class Batches:
    """A fixed list of (x, y) batches with the one method the loop calls on a training split."""

    def __init__(self, batches):
        self.batches, self.epochs_set = batches, []

    def set_epoch(self, epoch):
        self.epochs_set.append(epoch)

    def __iter__(self):
        return iter(self.batches)

    def __len__(self):
        return len(self.batches)


class ToyData:
    def __init__(self):
        generator = torch.Generator().manual_seed(0)
        make = lambda n: [(torch.randn(4, 6, generator=generator), torch.randint(0, 3, (4,), generator=generator))
                          for _ in range(n)]  # noqa: E731
        self.train, self.val, self.test = Batches(make(BATCHES_PER_EPOCH)), make(2), make(2)


class Counter(Callback):
    """Logs every hook call with the position it saw, and counts steps in its resumable state."""

    def __init__(self):
        self.calls, self.lrs, self.steps_seen = [], {}, 0

    def _log(self, hook, state):
        self.calls.append((hook, state.epoch, state.step))

    def check(self, state):
        self._log("check", state)

    def before_mask(self, state):
        self._log("before_mask", state)

    def on_setup(self, state):
        self._log("on_setup", state)

    def on_resume(self, state):
        self._log("on_resume", state)

    def on_run_start(self, state):
        self._log("on_run_start", state)

    def on_epoch_start(self, state):
        self._log("on_epoch_start", state)

    def on_step(self, state):
        self._log("on_step", state)
        self.lrs[state.step] = state.lr
        assert state.optimizer.param_groups[0]["lr"] == state.lr  # the step ran at that rate
        self.steps_seen += 1

    def on_epoch_end(self, state):
        self._log("on_epoch_end", state)
        assert state.epoch_record["epoch"] == state.epoch  # the epoch's row is there for every callback

    def on_run_end(self, state):
        self._log("on_run_end", state)

    def state_dict(self):
        return {"steps_seen": self.steps_seen}

    def load_state_dict(self, saved):
        self.steps_seen = saved["steps_seen"]


class StopAt(Callback):
    def __init__(self, epoch):
        self.epoch = epoch

    def on_epoch_start(self, state):
        if state.epoch == self.epoch:
            raise KeyboardInterrupt


def toy_state(**changes):
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(6, 8), nn.ReLU(), nn.Linear(8, 3))
    keep = torch.arange(48).reshape(8, 6) % 2 == 0  # half of the first layer's weights
    mask = Mask({"0.weight": keep})
    return TrainState(config=TrainConfig(**{**SETTINGS, **changes}), model=model, mask=mask, data=ToyData(),
                      device=torch.device("cpu"), mask_source={"method": "toy"})


def epoch_calls(epoch):
    """The calls of 0-based `epoch`: its start, one per step, its end (the epoch counted by then)."""
    first = epoch * BATCHES_PER_EPOCH
    return ([("on_epoch_start", epoch, first)] + [("on_step", epoch, first + i + 1) for i in range(BATCHES_PER_EPOCH)]
            + [("on_epoch_end", epoch + 1, first + BATCHES_PER_EPOCH)])


def test_hooks_run_in_order_and_the_learning_rate_follows_warmup_and_drops():
    counter, state = Counter(), toy_state()
    record = train(state, [counter])
    assert counter.calls == ([("check", 0, 0), ("before_mask", 0, 0), ("on_setup", 0, 0), ("on_run_start", 0, 0)]
                             + sum((epoch_calls(e) for e in range(EPOCHS)), []) + [("on_run_end", EPOCHS, 20)])
    assert [counter.lrs[step] for step in range(1, 21)] == pytest.approx(EXPECTED_LR, rel=1e-12)
    assert state.data.train.epochs_set == list(range(EPOCHS))
    # The standard callbacks' record: one row per epoch, its lr the epoch's last step's.
    assert [row["epoch"] for row in record["epochs"]] == [1, 2, 3, 4]
    assert [row["lr"] for row in record["epochs"]] == pytest.approx([0.1, 0.1, 0.01, 0.001], rel=1e-12)
    assert record["finished"] is True and record["mask_source"] == {"method": "toy"}
    assert set(record) <= OWN_ENTRIES  # what the trainer writes is what it keeps for itself
    assert all(0 <= row["val_acc"] <= 1 and row["test_acc"] is not None for row in record["epochs"][-1:])
    assert bool((state.model[0].weight[~state.mask["0.weight"]] == 0).all())  # pruned weights stayed zero


def test_a_resumed_run_continues_at_the_right_step_and_ends_as_an_uninterrupted_one(tmp_path):
    whole = toy_state()
    train(whole, [Counter()])

    cut = tmp_path / "cut"
    with pytest.raises(KeyboardInterrupt), RunDirectory(cut, resume=False, overwrite=False) as run:
        train(toy_state(), [Counter(), StopAt(2)], run=run)
    saved = checkpoint.load(cut)
    assert saved["epoch"] == 2 and saved["step"] == 10

    counter, resumed = Counter(), toy_state()
    with RunDirectory(cut, resume=True, overwrite=False) as run:
        record = train(resumed, [counter, StopAt(99)], run=run, resumed=saved)
    assert counter.calls[:4] == [("check", 0, 0), ("on_setup", 0, 0), ("on_resume", 2, 10), ("on_run_start", 2, 10)]
    assert counter.calls[4:] == epoch_calls(2) + epoch_calls(3) + [("on_run_end", EPOCHS, 20)]
    assert [counter.lrs[step] for step in range(11, 21)] == pytest.approx(EXPECTED_LR[10:], rel=1e-12)
    assert counter.steps_seen == 20  # its state came back from the checkpoint
    assert [row["epoch"] for row in record["epochs"]] == [1, 2, 3, 4]
    for name, tensor in whole.model.state_dict().items():  # bit for bit: same process, same machine
        assert torch.equal(tensor, resumed.model.state_dict()[name]), name


def test_two_callbacks_cannot_write_the_same_record_section():
    class Note(Callback):
        record_section = "note"

        def record(self, state):
            return 1

    with pytest.raises(SparsekitError, match="two callbacks write the record's 'note'"):
        train(toy_state(), [Note(), Note()])


def test_a_callback_cannot_take_over_a_record_entry_of_the_trainer():
    class Clash(Callback):
        record_section = "epochs"

    with pytest.raises(SparsekitError, match="'epochs', which the trainer writes itself"):
        train(toy_state(), [Clash()])


def test_a_declared_section_reaches_the_record():
    class Note(Callback):
        record_section = "note"

        def on_run_end(self, state):
            self.value = state.step

        def record(self, state):
            return getattr(self, "value", None)

    assert train(toy_state(epochs=1), [Note()])["note"] == BATCHES_PER_EPOCH
