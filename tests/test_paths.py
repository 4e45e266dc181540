"""`sparsekit.analysis.paths`: whether a mask leaves a path of kept weights from input to output,
and which kept weights lie on one, on hand-built masks whose answer is known, on the studies'
committed masks (against the study's own rule), and as the warning and record a run gives."""
import warnings
from pathlib import Path

import pytest
import torch
from torch import nn

import sparsekit as sk
from sparsekit.analysis import effective_mask, path_from_input, unreadable_modules

ROOT = Path(__file__).resolve().parents[1]


def mlp():
    torch.manual_seed(0)
    return nn.Sequential(nn.Flatten(), nn.Linear(64, 4), nn.ReLU(), nn.Linear(4, 4), nn.ReLU(), nn.Linear(4, 10))


def crossed_mask(model, crossed: bool):
    """Every layer keeps weights; the first feeds hidden unit 0 only, the second reads unit 1
    (`crossed`: no path) or unit 0 (a path)."""
    mask = sk.Mask.dense(model, prune_classifier=True)
    mask["1.weight"][1:] = False
    mask["3.weight"][:] = False
    mask["3.weight"][2, 1 if crossed else 0] = True
    return mask


def test_a_mask_keeping_weights_in_every_layer_can_still_cut_the_network():
    model = mlp()
    cut, joined = crossed_mask(model, crossed=True), crossed_mask(model, crossed=False)
    assert not sk.analysis.collapsed_layers(cut)  # nothing the collapse warning would see
    assert path_from_input(model, cut, (1, 8, 8)) is False
    assert path_from_input(model, joined, (1, 8, 8)) is True
    assert path_from_input(model, sk.Mask.dense(model), (1, 8, 8)) is True


def test_signs_and_biases_cannot_hide_a_path_or_make_one():
    model = mlp()
    with torch.no_grad():
        model[1].weight.fill_(-1.0)  # the kept path's weights shut its ReLU at every input
        for layer in (model[1], model[3], model[5]):
            layer.bias.fill_(3.0)  # the output is never zero, whatever reaches it
    before = {name: value.clone() for name, value in model.state_dict().items()}
    assert path_from_input(model, crossed_mask(model, crossed=False), (1, 8, 8)) is True
    assert path_from_input(model, crossed_mask(model, crossed=True), (1, 8, 8)) is False
    assert all(torch.equal(before[name], value) for name, value in model.state_dict().items())  # not touched


def test_a_residual_network_is_cut_only_where_its_input_must_pass():
    torch.manual_seed(0)
    model = sk.models.build("resnet20", 10, in_channels=1, width=0.25, input_size=8)
    mask = sk.Mask.dense(model)
    middle = next(name for name in mask if "stages.1.1.conv_bn1" in name)
    mask[middle][:] = False  # a shortcut runs beside it
    assert path_from_input(model, mask, (1, 8, 8)) is True
    mask["stem.conv.weight"][:] = False  # every path starts here
    assert path_from_input(model, mask, (1, 8, 8)) is False


def test_a_module_the_test_cannot_read_gives_no_answer():
    model = nn.Sequential(nn.Flatten(), nn.Linear(64, 4), nn.LayerNorm(4), nn.Linear(4, 10))
    assert unreadable_modules(model) == ["2"]
    assert path_from_input(model, sk.Mask.dense(model), (1, 8, 8)) is None
    with pytest.raises(sk.SparsekitError, match="the mask names layers the network does not have: 9.weight"):
        path_from_input(model, {"9.weight": torch.ones(2, 2, dtype=torch.bool)}, (1, 8, 8))
    for shape in (64, (1, 8.0, 8), (1, 0, 8), (), "1,8,8"):
        with pytest.raises(sk.SparsekitError, match="input_shape must be one example's shape"):
            effective_mask(model, sk.Mask.dense(model), shape)


class MultipliesByAFloat32Constant(nn.Module):
    def __init__(self):
        super().__init__()
        self.body = nn.Sequential(nn.Flatten(), nn.Linear(64, 16), nn.ReLU(), nn.Linear(16, 10))

    def forward(self, x):
        return self.body(x) @ torch.eye(10)  # float32 whatever the input: the float64 copy cannot run it


def test_a_forward_the_copy_cannot_run_gives_no_answer_and_the_run_still_trains():
    torch.manual_seed(0)
    model = MultipliesByAFloat32Constant()
    assert path_from_input(model, sk.Mask.dense(model), (1, 8, 8)) is None
    run = sk.train(dataset="digits", model=model, mask="random", sparsity=0.5, epochs=1, max_batches=1,
                   progress=False)
    assert run["finished"] and run["analysis"]["path_from_input_at_start"] is None


@pytest.mark.parametrize("pattern, has_path", [("study-converged/runs/random-0.995-seed{}-default", False),
                                               ("study-addendum/runs/random-densefirst-0.995-seed{}-default", True),
                                               ("study-converged/runs/snip-0.995-seed{}-default", True)])
def test_the_studies_masks_are_judged_as_the_studys_own_rule_judges_them(pattern, has_path):
    from study.degenerate import judge_mask

    torch.manual_seed(0)
    model = sk.models.build("resnet20", 10, in_channels=1, width=0.5, input_size=28)
    study_model = sk.models.build("resnet20", 10, in_channels=1, width=0.5, input_size=28).double().eval()
    for seed in range(3):
        mask = sk.Mask.load(ROOT / "benchmarks" / "results" / pattern.format(seed) / "mask.pt")
        assert path_from_input(model, mask, (1, 28, 28)) is has_path
        assert judge_mask(study_model, mask, must_pass=[])["cut"] is (not has_path)


def test_training_a_cut_mask_warns_and_a_joined_one_does_not():
    model = mlp()
    with pytest.warns(RuntimeWarning, match="the mask cuts the network: no path of kept weights"):
        cut = sk.train(dataset="digits", model=model, mask=crossed_mask(model, crossed=True), epochs=1,
                       max_batches=1, progress=False, prune_classifier=True)
    assert cut["analysis"]["path_from_input_at_start"] is False  # the record says so too
    assert cut["analysis"]["effective_density_at_start"] == 0.0
    assert "path from input to output none: the mask cuts the network" in " ".join(str(cut["analysis"]).split())
    model = mlp()
    with warnings.catch_warnings():
        warnings.simplefilter("error", RuntimeWarning)
        joined = sk.train(dataset="digits", model=model, mask=crossed_mask(model, crossed=False), epochs=1,
                          max_batches=1, progress=False, prune_classifier=True)
    assert joined["analysis"]["path_from_input_at_start"] is True
    assert joined["analysis"]["effective_density_at_start"] == pytest.approx(75 / (256 + 16 + 40))
    assert "effective density (kept weights on a path) 0.2404" in " ".join(str(joined["analysis"]).split())


def test_a_network_the_test_cannot_read_trains_without_a_verdict_on_its_path():
    torch.manual_seed(0)
    model = nn.Sequential(nn.Flatten(), nn.Linear(64, 16), nn.LayerNorm(16), nn.ReLU(), nn.Linear(16, 10))
    with warnings.catch_warnings():
        warnings.simplefilter("error", RuntimeWarning)
        run = sk.train(dataset="digits", model=model, mask="random", sparsity=0.5, epochs=1, max_batches=1,
                       progress=False)
    assert run["analysis"]["path_from_input_at_start"] is None
    assert run["analysis"]["effective_density_at_start"] is None


def test_the_effective_mask_keeps_exactly_the_kept_weights_on_a_path():
    model = mlp()
    joined = crossed_mask(model, crossed=False)  # 64 weights into unit 0, 0 -> 2, and the classifier dense
    effective = effective_mask(model, joined, (1, 8, 8))
    assert effective["1.weight"][0].all() and not effective["1.weight"][1:].any()
    assert effective["3.weight"].sum() == 1 and effective["3.weight"][2, 0]
    # of the classifier's 40 weights only those reading unit 2 are reached: 10
    assert effective["5.weight"][:, 2].all() and effective["5.weight"].sum() == 10
    assert effective.num_kept() == 64 + 1 + 10 and joined.num_kept() == 64 + 1 + 40
    assert all(not (effective[name] & ~joined[name]).any() for name in joined)  # a subset of the mask
    assert effective_mask(model, crossed_mask(model, crossed=True), (1, 8, 8)).num_kept() == 0
    dense = sk.Mask.dense(model, prune_classifier=True)
    assert effective_mask(model, dense, (1, 8, 8)).num_kept() == dense.num_kept()


def test_a_max_pool_does_not_hide_a_path_its_maximum_does_not_take():
    # a 3x3 conv keeping two corner taps on a 2x2 input: tap (2, 2) makes output (0, 0), tap (0, 0)
    # output (1, 1); a 2x2 max pool's gradient reaches only the first of the two equal maxima
    torch.manual_seed(0)
    model = nn.Sequential(nn.Conv2d(1, 1, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2), nn.Flatten(), nn.Linear(1, 10))
    mask = sk.Mask.dense(model)
    mask["0.weight"][:] = False
    mask["0.weight"][0, 0, 0, 0] = mask["0.weight"][0, 0, 2, 2] = True
    effective = effective_mask(model, mask, (1, 2, 2))
    assert effective["0.weight"].sum() == 2
    assert isinstance(model[2], nn.MaxPool2d)  # the network itself is not changed


def test_the_studies_masks_effective_weights_are_a_subset_and_synflow_keeps_its_paths():
    torch.manual_seed(0)
    model = sk.models.build("resnet20", 10, in_channels=1, width=0.5, input_size=28)
    runs = ROOT / "benchmarks" / "results" / "study-converged" / "runs"
    random = sk.Mask.load(runs / "random-0.995-seed0-default" / "mask.pt")
    assert effective_mask(model, random, (1, 28, 28)).num_kept() == 0  # its stem is empty: nothing is used
    snip = sk.Mask.load(runs / "snip-0.995-seed0-default" / "mask.pt")
    used = effective_mask(model, snip, (1, 28, 28))
    assert (used.num_kept(), snip.num_kept()) == (197, 338)  # SNIP at 99.5% keeps weights no path uses
    lottery = sk.Mask.load(runs / "lottery-0.995-seed0-default" / "mask.pt")
    assert effective_mask(model, lottery, (1, 28, 28)).num_kept() == 280  # counts: exact on any CPU
    synflow = sk.Mask.load(runs / "synflow-0.995-seed0-default" / "mask.pt")
    # SynFlow scores every weight by the paths through it: nearly every weight it keeps lies on one
    assert effective_mask(model, synflow, (1, 28, 28)).num_kept() == 337 and synflow.num_kept() == 338


def test_a_network_deep_enough_to_overflow_path_counts_is_still_read_exactly():
    # 211 dense layers of 32: about 32^211 paths reach each output, past float64's range
    torch.manual_seed(0)
    layers = [nn.Linear(64, 32), nn.ReLU()]
    for _ in range(210):
        layers += [nn.Linear(32, 32), nn.ReLU()]
    model = nn.Sequential(nn.Flatten(), *layers, nn.Linear(32, 10))
    mask = sk.Mask.dense(model, prune_classifier=True)
    last = list(mask)[-1]
    mask[last][:] = False
    mask[last][3, 5] = True  # the classifier reads hidden unit 5 only
    effective = effective_mask(model, mask, (1, 8, 8))
    assert path_from_input(model, mask, (1, 8, 8)) is True
    # unused: the 31 rows of the last hidden layer that make units the classifier does not read
    assert effective.num_kept() == mask.num_kept() - 31 * 32
    assert effective[list(mask)[-2]][5].all() and not effective[list(mask)[-2]][:5].any()


def test_one_pass_gives_both_answers_even_where_no_kept_weight_reaches_the_output():
    from sparsekit.analysis.paths import connectivity
    model = nn.Sequential(nn.Flatten(), nn.Linear(4, 3), nn.ReLU(), nn.Linear(3, 2))
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no backward-hook warning when nothing requires a gradient
        unmasked = connectivity(model, {}, (1, 2, 2))  # every weight dense: a path, no kept weight to count
        cut = connectivity(model, {"1.weight": torch.zeros(3, 4, dtype=torch.bool),
                                   "3.weight": torch.ones(2, 3, dtype=torch.bool)}, (1, 2, 2))
    assert unmasked.path is True and dict(unmasked.effective) == {}
    assert cut.path is False and cut.effective.num_kept() == 0
    joined = {"1.weight": torch.zeros(3, 4, dtype=torch.bool), "3.weight": torch.ones(2, 3, dtype=torch.bool)}
    joined["1.weight"][0, 0] = True  # one input weight feeds unit 0, which both outputs read
    both = connectivity(model, joined, (1, 2, 2))
    assert both.path is path_from_input(model, joined, (1, 2, 2)) is True
    assert both.effective.num_kept() == effective_mask(model, joined, (1, 2, 2)).num_kept() == 3
