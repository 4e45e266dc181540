"""Evaluation settings: the test split only when validation improves (the same metric), and the
BatchNorm re-estimation diagnostic (which changes nothing that trains)."""
import torch

import sparsekit as sk
from sparsekit.training.bn_reestimate import bn_reestimated_accuracy

SMALL = dict(dataset="digits", model="resnet20", width=0.25, epochs=4, max_batches=3, progress=False, seed=1,
             mask="random", sparsity=0.8)


def _weights(run):
    return [t.clone() for t in run.model.state_dict().values()]


def test_testing_only_on_improvement_gives_the_same_metric_bit_for_bit():
    every = sk.train(**SMALL)
    on_gain = sk.train(**SMALL, test_every="best-val")
    assert on_gain["best_val_test_acc"] == every["best_val_test_acc"]
    assert on_gain["test_acc"] == every["test_acc"]  # the last epoch is always tested
    best = -1.0
    for row, full in zip(on_gain["epochs"], every["epochs"]):
        assert row["val_acc"] == full["val_acc"]
        if row["val_acc"] > best or row["epoch"] == SMALL["epochs"]:
            assert row["test_acc"] == full["test_acc"]
        else:
            assert row["test_acc"] is None
        best = max(best, row["val_acc"])
    assert all(torch.equal(a, b) for a, b in zip(_weights(every), _weights(on_gain)))


def test_bn_reestimation_is_recorded_for_the_best_epoch_and_changes_nothing_that_trains():
    plain = sk.train(**SMALL)
    probed = sk.train(**SMALL, bn_reestimate_batches=2)
    assert "bn_reestimated_test_acc" not in plain
    best = probed["epochs"][probed["best_val_epoch"] - 1]
    assert probed["bn_reestimated_test_acc"] == best["bn_reestimated_test_acc"]
    assert 0.0 <= probed["bn_reestimated_test_acc"] <= 1.0
    assert probed["best_val_test_acc"] == plain["best_val_test_acc"]
    assert all(torch.equal(a, b) for a, b in zip(_weights(plain), _weights(probed)))


def test_reestimated_statistics_are_the_average_of_the_batches_seen():
    torch.manual_seed(0)
    model = torch.nn.Sequential(torch.nn.BatchNorm1d(3), torch.nn.Linear(3, 2))
    batches = [(torch.randn(4, 3) * 2 + 1, torch.randint(0, 2, (4,))) for _ in range(3)]

    class Split(list):
        def set_epoch(self, epoch):
            pass

    seen = []
    model[0].register_forward_hook(lambda module, inputs, output: seen.append(module.running_mean.clone()))
    before = {k: v.clone() for k, v in model.state_dict().items()}
    rng = torch.get_rng_state()
    bn_reestimated_accuracy(model, Split(batches[:2]), Split(batches), torch.device("cpu"), max_batches=2, epoch=0)
    expected = torch.stack([x.mean(0) for x, _ in batches[:2]]).mean(0)
    assert torch.allclose(seen[1], expected, atol=1e-6)  # the copy's statistics after the two batches
    assert all(torch.equal(v, before[k]) for k, v in model.state_dict().items())  # the model is untouched
    assert torch.equal(torch.get_rng_state(), rng)


def test_bad_evaluation_settings_are_refused_in_one_line():
    for bad in (dict(test_every="sometimes"), dict(bn_reestimate_batches=-1), dict(bn_reestimate_batches=1.5)):
        try:
            sk.TrainConfig(**bad)
        except sk.SparsekitError as error:
            assert "\n" not in str(error)
        else:
            raise AssertionError(f"{bad} was accepted")
