"""Masked training: zeros stay zero, runs repeat, resume is exact, the record is complete."""
import json

import pytest
import torch

import sparsekit as sk
from helpers import Interrupt
from sparsekit import Callback
from sparsekit.training.schedules import learning_rate

SMALL = dict(dataset="digits", model="resnet20", width=0.25, sparsity=0.9, epochs=2, max_batches=3,
             progress=False, batch_size=64)


class ZeroWatcher(Callback):
    """Checks after every step that every pruned weight and its optimizer state are zero."""

    def __init__(self):
        self.steps = 0

    def on_step(self, state):
        params = dict(state.model.named_parameters())
        for name, keep in state.mask.items():
            assert (params[name][~keep] == 0).all(), f"pruned weight moved in {name}"
            for value in state.optimizer.state[params[name]].values():
                if torch.is_tensor(value) and value.shape == keep.shape:
                    assert (value[~keep] == 0).all(), f"optimizer state at pruned positions in {name}"
        self.steps += 1


@pytest.mark.parametrize("optimizer,extra", [
    ("sgd", dict(momentum=0.9, weight_decay=5e-4)),
    ("sgd", dict(momentum=0.9, nesterov=True, weight_decay=5e-4)),
    ("adam", dict(lr=1e-3, weight_decay=1e-4)),
    ("adamw", dict(lr=1e-3, weight_decay=1e-2)),
])
def test_pruned_weights_stay_exactly_zero(optimizer, extra):
    watcher = ZeroWatcher()
    result = sk.train(**{**SMALL, "optimizer": optimizer, **extra}, callbacks=[watcher])
    assert watcher.steps == 6
    assert result["nonzero_density"] == pytest.approx(result["density"], abs=1e-4)
    assert result["density"] == pytest.approx(0.1, abs=1e-6)


def test_kept_weights_do_move():
    from sparsekit.training.config import make_config
    from sparsekit.runs.launch import prepare

    _, start, mask, _ = prepare(make_config(**SMALL))  # the seeded model training starts from
    mask.apply(start)
    result = sk.train(**SMALL)
    trained = dict(result.model.named_parameters())
    for name, keep in mask.items():
        assert not torch.equal(trained[name][keep], dict(start.named_parameters())[name][keep]), name


def test_seeded_cpu_run_repeats_exactly():
    first, second = sk.train(**SMALL, seed=3), sk.train(**SMALL, seed=3)
    for a, b in zip(first.model.state_dict().values(), second.model.state_dict().values()):
        assert torch.equal(a, b)
    assert [e["train_loss"] for e in first["epochs"]] == [e["train_loss"] for e in second["epochs"]]
    third = sk.train(**SMALL, seed=4)
    assert not torch.equal(next(iter(first.model.parameters())), next(iter(third.model.parameters())))


@pytest.mark.parametrize("optimizer", ["sgd", "adam"])
def test_resume_reaches_the_same_final_weights(tmp_path, optimizer):
    settings = {**SMALL, "epochs": 3, "optimizer": optimizer, "lr": 0.05}
    whole = sk.train(**settings, out=str(tmp_path / "whole"))
    with pytest.raises(KeyboardInterrupt):
        sk.train(**settings, out=str(tmp_path / "cut"), callbacks=[Interrupt(2)])
    partial = json.loads((tmp_path / "cut" / "record.json").read_text())
    assert partial["finished"] is False and len(partial["epochs"]) == 2
    resumed = sk.train(**settings, out=str(tmp_path / "cut"), resume=True)
    for (name, a), b in zip(whole.model.state_dict().items(), resumed.model.state_dict().values()):
        assert torch.equal(a, b), name
    assert [e["val_acc"] for e in resumed["epochs"]] == [e["val_acc"] for e in whole["epochs"]]


def test_resume_refuses_a_different_run(tmp_path):
    sk.train(**SMALL, out=str(tmp_path))
    with pytest.raises(sk.SparsekitError, match="sparsity"):
        sk.train(**{**SMALL, "sparsity": 0.5}, out=str(tmp_path), resume=True)


def test_existing_run_is_never_overwritten_silently(tmp_path):
    sk.train(**SMALL, out=str(tmp_path))
    before = (tmp_path / "record.json").read_bytes()
    with pytest.raises(sk.SparsekitError, match="already holds a run"):
        sk.train(**SMALL, out=str(tmp_path))
    assert (tmp_path / "record.json").read_bytes() == before


def test_record_has_every_field_and_is_written(tmp_path):
    result = sk.train(**SMALL, out=str(tmp_path))
    on_disk = json.loads((tmp_path / "record.json").read_text())
    for key in ("config", "epochs", "test_acc", "best_val_test_acc", "density", "layers", "seconds"):
        assert key in on_disk, key
    for key in ("train_loss", "train_acc", "val_acc", "lr", "seconds"):
        assert key in on_disk["epochs"][0], key
    assert on_disk["config"]["sparsity"] == 0.9 and on_disk["config"]["seed"] == 0
    assert {"name", "shape", "density"} <= set(on_disk["layers"][0])
    best = max(range(2), key=lambda i: (on_disk["epochs"][i]["val_acc"], -i))
    assert on_disk["best_val_test_acc"] == on_disk["epochs"][best]["test_acc"]
    assert on_disk["finished"] is True and result["test_acc"] == on_disk["test_acc"]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["checkpoint.pt", "epochs.csv", "mask.pt", "model.pt", "record.json"]


def test_training_learns_digits():
    result = sk.train(dataset="digits", model="resnet20", width=0.5, sparsity=0.5, epochs=4, progress=False)
    assert result["best_val_test_acc"] > 0.8


def test_mask_file_trains_any_mask(tmp_path):
    first = sk.train(**SMALL, out=str(tmp_path / "a"))
    again = sk.train(**{**SMALL, "mask": "random", "seed": 7}, mask_file=str(tmp_path / "a" / "model.pt"))
    assert again.mask.same_as(first.mask)
    assert again["mask_source"]["method"] == "file"


def test_lr_schedules():
    assert learning_rate(0, 100, 0.1, "constant") == 0.1
    assert learning_rate(49, 100, 0.1, "multistep", milestones=[0.5, 0.75]) == 0.1
    assert learning_rate(50, 100, 0.1, "multistep", milestones=[0.5, 0.75]) == pytest.approx(0.01)
    assert learning_rate(80, 100, 0.1, "multistep", milestones=[0.5, 0.75]) == pytest.approx(0.001)
    assert learning_rate(0, 100, 0.1, "cosine") == pytest.approx(0.1)
    assert learning_rate(100, 100, 0.1, "cosine") == pytest.approx(0.0)
    assert learning_rate(4, 100, 0.1, "cosine", warmup_steps=10) == pytest.approx(0.05)


def test_torchvision_loads_its_compiled_ops():
    import torchvision

    boxes = torch.tensor([[0.0, 0.0, 1.0, 1.0], [0.0, 0.0, 1.0, 1.0]])
    assert torchvision.ops.nms(boxes, torch.tensor([1.0, 0.5]), 0.5).tolist() == [0]
