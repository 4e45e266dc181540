"""Dynamic sparse training through the real trainer: the mask changes where the sparsifier
says, with exact per-layer counts, pruned weights and their optimizer state zero after every
step, the history in the record, the final mask in mask.pt, and resume bit-exact mid-way
through the updates (the mask comes from the checkpoint, never recomputed)."""
import json

import pytest
import torch
from torch import nn

import sparsekit as sk
from helpers import QUICK_CLI, Interrupt
from sparsekit import data as datasets
from sparsekit.app.cli import main
from sparsekit.core.prunable import prunable_parameters
from sparsekit.recipe.ghost_skip import GhostBranch
from sparsekit.training.masking import MaskEnforcer
from sparsekit.training.step import train_step

torch.set_num_threads(1)

# 2 epochs x 5 steps: RigL updates at steps 1..6 (window 7, interval 1), SET at 1..8, GMP at 0..7.
RUN = dict(dataset="digits", model="resnet20", width=0.25, sparsity=0.8, epochs=2, max_batches=5, batch_size=64,
           progress=False)


@pytest.fixture(scope="module")
def digits():
    return datasets.load("digits", batch_size=64)


class Guard(sk.Callback):
    """After every step: pruned weights and their optimizer state are exactly zero, and each
    layer keeps the count it should (`counts(state)`)."""

    def __init__(self, counts=None):
        self.counts, self.steps, self.masks = counts, 0, []

    def on_step(self, state):
        params = dict(state.model.named_parameters())
        for name, keep in state.mask.items():
            assert (params[name][~keep] == 0).all(), name
            for value in state.optimizer.state[params[name]].values():
                if torch.is_tensor(value) and value.shape == keep.shape:
                    assert (value[~keep] == 0).all(), name
        if self.counts is not None:
            assert {n: int(k.sum()) for n, k in state.mask.items()} == self.counts
        self.masks.append(sk.Mask({n: k.clone() for n, k in state.mask.items()}))
        self.steps += 1


@pytest.mark.parametrize("method", ["set", "rigl"])
@pytest.mark.parametrize("optimizer", ["sgd", "adam"])
def test_prune_and_regrow_keeps_every_layer_count_and_zeros(method, optimizer, digits):
    start = sk.masks.compute(method, _model(digits), RUN["sparsity"])
    guard = Guard({n: int(k.sum()) for n, k in start.items()})
    lr = {"sgd": 0.1, "adam": 1e-3}[optimizer]
    result = sk.train(**RUN, mask=method, optimizer=optimizer, lr=lr, data=digits, callbacks=[guard])
    assert guard.steps == 10
    history = result["mask_history"]
    assert history and all(entry["grown"] == entry["dropped"] > 0 for entry in history)
    assert [e["step"] for e in history] == list(range(1, 7 if method == "rigl" else 9))
    assert not any(guard.masks[i].same_as(guard.masks[i + 1]) for i in range(6))  # it moved every update
    assert result.mask.num_kept() == int(0.2 * result.mask.num_total() + 0.5)
    assert result["nonzero_density"] <= result["density"]
    assert result["sparsifier"]["name"] == method and result["mask_source"]["method"] == method
    assert result["mask_source"]["distribution"] == "erk"


def test_gmp_prunes_gradually_to_the_exact_target(digits):
    guard = Guard()
    result = sk.train(**RUN, mask="gmp", data=digits, callbacks=[guard])
    densities = [m.density() for m in guard.masks]
    assert densities[0] == 1.0 > densities[1] and all(a >= b for a, b in zip(densities, densities[1:]))
    assert result.mask.num_kept() == int(0.2 * result.mask.num_total() + 0.5)
    assert [e["step"] for e in result["mask_history"]] == list(range(1, 8))  # step 0: still dense
    assert result["parameters_at_start"]["masked_kept"] == result["parameters_at_start"]["masked_total"]
    assert all(e["grown"] == 0 for e in result["mask_history"])
    # the final per-layer counts are a global magnitude ranking: not the same fraction everywhere
    assert len({round(row["density"], 3) for row in result["layers"]}) > 1


def test_magnitude_on_the_gmp_schedule_trains_exactly_like_gmp(digits):
    a = sk.train(**RUN, mask="magnitude", schedule="gmp", mask_options="update_every=2", data=digits)
    b = sk.train(**RUN, mask="gmp", mask_options="update_every=2", data=digits)
    assert a.mask.same_as(b.mask)
    for (name, x), y in zip(a.model.state_dict().items(), b.model.state_dict().values()):
        assert torch.equal(x, y), name
    assert a["mask_source"]["schedule"] == "gmp" and a["sparsifier"]["scores"] == "magnitude"


@pytest.mark.parametrize("distribution", ["global", "uniform"])
def test_distribution_setting_for_a_dynamic_method(distribution, digits):
    result = sk.train(**RUN, mask="rigl", distribution=distribution, data=digits)
    assert result["mask_source"]["distribution"] == distribution
    if distribution == "uniform":
        for row in result["layers"]:
            assert row["kept"] == int(0.2 * row["total"] + 0.5), row["name"]


def test_static_masks_never_change_and_record_an_empty_history(digits):
    guard = Guard()
    result = sk.train(**RUN, mask="snip", data=digits, callbacks=[guard])
    assert result["mask_history"] == [] and all(m.same_as(guard.masks[0]) for m in guard.masks)
    assert result["sparsifier"]["schedule"] == "one-shot"


# ---- the step: where the update happens ---------------------------------------------------
def test_the_update_sees_dense_gradients_and_its_mask_governs_the_same_step():
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(6, 4), nn.ReLU(), nn.Linear(4, 2))
    first = torch.zeros(4, 6, dtype=torch.bool)
    first[:, :3] = True
    second = torch.zeros(4, 6, dtype=torch.bool)
    second[:, 3:] = True
    enforcer = MaskEnforcer(model, sk.Mask({"0.weight": first}))
    enforcer.mask_weights()
    optimizer = torch.optim.SGD(model.parameters(), lr=0.1)
    seen = {}

    def update():
        seen["gradient"] = model[0].weight.grad.clone()
        enforcer.replace(sk.Mask({"0.weight": second}), optimizer)

    x, y = torch.randn(8, 6), torch.randint(0, 2, (8,))
    train_step(model, optimizer, nn.CrossEntropyLoss(), x, y, enforcer, update_mask=update)
    assert seen["gradient"][:, 3:].abs().sum() > 0  # the gradient of the pruned weights was there, unmasked
    assert (model[0].weight[:, :3] == 0).all()  # dropped: zero
    # grown at zero, then moved by this step's (plain SGD) update: exactly -lr * gradient
    assert torch.allclose(model[0].weight[:, 3:], -0.1 * seen["gradient"][:, 3:], rtol=0, atol=1e-8)


# ---- files and resume ----------------------------------------------------------------------
@pytest.mark.parametrize("method", ["rigl", "set", "gmp"])
def test_resume_mid_way_through_the_updates_is_bit_exact(method, tmp_path):
    settings = {**RUN, "epochs": 3, "mask": method}
    whole = sk.train(**settings, out=str(tmp_path / "whole"))
    with pytest.raises(KeyboardInterrupt):
        sk.train(**settings, out=str(tmp_path / "cut"), callbacks=[Interrupt(1)])
    assert not (tmp_path / "cut" / "mask.pt").exists()  # mask.pt is the final mask: not yet
    saved = torch.load(tmp_path / "cut" / "checkpoint.pt", weights_only=True)
    assert saved["mask_history"] and not sk.Mask(saved["mask"]).same_as(sk.masks.compute(
        method, _model(datasets.load("digits", batch_size=64)), RUN["sparsity"]))  # it had moved
    assert len(saved["mask_history"]) < len(whole["mask_history"])  # and moves again after the cut
    resumed = sk.train(**settings, out=str(tmp_path / "cut"), resume=True)
    for (name, a), b in zip(whole.model.state_dict().items(), resumed.model.state_dict().values()):
        assert torch.equal(a, b), name
    assert resumed.mask.same_as(whole.mask)
    assert resumed["mask_history"] == whole["mask_history"]
    assert resumed["parameters_at_start"] == whole["parameters_at_start"]
    assert [e["val_acc"] for e in resumed["epochs"]] == [e["val_acc"] for e in whole["epochs"]]
    for run in ("whole", "cut"):
        assert sk.Mask.load(tmp_path / run / "mask.pt").same_as(whole.mask)


def test_resume_never_recomputes_the_mask(tmp_path, monkeypatch):
    from sparsekit.sparsity import registry

    settings = {**RUN, "epochs": 2, "mask": "snip"}
    whole = sk.train(**settings, out=str(tmp_path / "whole"))
    with pytest.raises(KeyboardInterrupt):
        sk.train(**settings, out=str(tmp_path / "cut"), callbacks=[Interrupt(1)])

    def refuse(*args, **kwargs):
        raise AssertionError("the mask method ran on resume")

    monkeypatch.setattr(registry, "compute", refuse)
    resumed = sk.train(**settings, out=str(tmp_path / "cut"), resume=True)
    for (name, a), b in zip(whole.model.state_dict().items(), resumed.model.state_dict().values()):
        assert torch.equal(a, b), name
    assert resumed["mask_source"] == whole["mask_source"]


def test_a_checkpoint_without_a_mask_still_resumes_by_recomputing_it(tmp_path):
    settings = {**RUN, "epochs": 2, "mask": "snip"}
    whole = sk.train(**settings, out=str(tmp_path / "whole"))
    with pytest.raises(KeyboardInterrupt):
        sk.train(**settings, out=str(tmp_path / "cut"), callbacks=[Interrupt(1)])
    path = tmp_path / "cut" / "checkpoint.pt"
    old = torch.load(path, weights_only=True)
    for key in ("mask", "mask_source", "mask_history", "sparsifier"):
        del old[key]
    torch.save(old, path)
    resumed = sk.train(**settings, out=str(tmp_path / "cut"), resume=True)
    for (name, a), b in zip(whole.model.state_dict().items(), resumed.model.state_dict().values()):
        assert torch.equal(a, b), name


# ---- the command line and the recipe ---------------------------------------------------------
def test_cli_trains_rigl_with_a_distribution_and_lists_the_dynamic_methods(tmp_path, capsys):
    assert main(["train", "--mask", "rigl", "--distribution", "uniform", "--mask-options", "update_every=1",
                 *QUICK_CLI, "--max-batches", "4", "--out", str(tmp_path)]) == 0
    record = json.loads((tmp_path / "record.json").read_text())
    assert record["mask_source"] == {"method": "rigl", "sparsity": 0.9, "schedule": "one-shot",
                                     "distribution": "uniform"}
    assert record["config"]["distribution"] == "uniform" and record["mask_history"]
    capsys.readouterr()
    assert main(["list"]) == 0
    listed = capsys.readouterr().out
    for name in ("gmp", "set", "rigl"):
        assert f"  {name} " in listed
    assert main(["train", "--mask", "set", "--schedule", "gmp", *QUICK_CLI, "--out", str(tmp_path / "x")]) == 2
    assert "follows its own schedule" in capsys.readouterr().err


def test_rigl_with_the_release_recipe_never_touches_the_ghost_branches(digits):
    guard = Guard()
    result = sk.train(**{**RUN, "width": 0.25}, mask="rigl", recipe=sk.Recipe.preset("tost-release").with_changes(
        init_iterations=2), data=digits, callbacks=[guard])
    ghosts = [m for m in result.model.modules() if isinstance(m, GhostBranch)]
    assert ghosts and result["mask_history"]
    names = {n for n, _ in result.model.named_parameters()}
    ghost_weights = [n for n in names if ".ghosts." in n and n.endswith("conv.weight")]
    assert ghost_weights and not set(ghost_weights) & set(result.mask)
    params = dict(result.model.named_parameters())
    assert all(bool((params[n] != 0).all()) for n in ghost_weights)  # dense, trained
    assert set(result.mask) == set(prunable_parameters(result.model))
    start = sk.masks.compute("rigl", _model(digits), RUN["sparsity"])
    assert {n: int(k.sum()) for n, k in result.mask.items()} == {n: int(k.sum()) for n, k in start.items()}


def _model(bundle):
    """The run's initial network, for the counts of the mask a run starts from (mask
    positions do not depend on the weights for SET and RigL: only the seed)."""
    return sk.models.build("resnet20", bundle.num_classes, in_channels=bundle.in_channels, width=RUN["width"],
                           input_size=bundle.image_size)
