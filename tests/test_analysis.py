"""Looking at masks: hand-built masks with known dead units, collapsed layers and overlaps."""
import warnings

import matplotlib

matplotlib.use("Agg")

import pytest  # noqa: E402
import torch  # noqa: E402
from torch import nn  # noqa: E402

import sparsekit as sk  # noqa: E402
from sparsekit import analysis  # noqa: E402


def net():
    torch.manual_seed(0)
    return nn.Sequential(nn.Conv2d(1, 3, 3), nn.ReLU(), nn.Flatten(), nn.Linear(3 * 6 * 6, 4))


def hand_mask():
    conv = torch.ones(3, 1, 3, 3, dtype=torch.bool)
    conv[1] = False  # output channel 1: no incoming weight
    linear = torch.zeros(4, 108, dtype=torch.bool)
    linear[0, 5] = True  # neurons 1, 2, 3: no incoming weight
    return sk.Mask({"0.weight": conv, "3.weight": linear})


def test_dead_units_are_the_outputs_with_no_incoming_weight():
    dead = analysis.dead_units(net(), hand_mask())
    assert dead["0.weight"] == {"dead": 1, "units": 3, "indices": [1]}
    assert dead["3.weight"] == {"dead": 3, "units": 4, "indices": [1, 2, 3]}


def test_collapsed_layers_and_summary():
    mask = hand_mask()
    assert analysis.collapsed_layers(mask) == []
    mask["3.weight"][:] = False
    assert analysis.collapsed_layers(mask) == ["3.weight"]
    summary = analysis.summarize(net(), mask)
    assert summary == {"dead_units": {"0.weight": 1, "3.weight": 4}, "dead_units_total": 5, "units_total": 7,
                       "collapsed_layers": ["3.weight"]}


def test_dead_units_checks_the_mask_fits_the_model():
    with pytest.raises(sk.SparsekitError, match="does not have"):
        analysis.dead_units(net(), {"nope.weight": torch.ones(2, 2, dtype=torch.bool)})


def test_jaccard_on_known_sets():
    a = {"x": torch.tensor([1, 1, 0, 0], dtype=torch.bool), "y": torch.tensor([1, 0], dtype=torch.bool)}
    b = {"x": torch.tensor([0, 1, 1, 0], dtype=torch.bool), "y": torch.tensor([1, 0], dtype=torch.bool)}
    result = analysis.jaccard(a, b)
    assert result["layers"] == {"x": pytest.approx(1 / 3), "y": 1.0}
    assert result["overall"] == pytest.approx(2 / 4)  # intersections {x1, y0}, union {x0, x1, x2, y0}
    empty = {"x": torch.zeros(4, dtype=torch.bool)}
    assert analysis.jaccard(empty, empty)["overall"] == 1.0


def test_layer_density_table_rows():
    rows = analysis.layer_density_table(hand_mask())
    assert [(r["name"], r["kept"], r["total"]) for r in rows] == [("0.weight", 18, 27), ("3.weight", 1, 432)]
    assert rows[0]["density"] == pytest.approx(18 / 27) and rows[0]["sparsity"] == pytest.approx(9 / 27)


def test_plot_layer_densities_draws_one_bar_per_layer_and_mask():
    masks_by_name = {"hand": hand_mask(), "dense": sk.Mask.dense(net(), prune_classifier=True)}
    ax = analysis.plot_layer_densities(masks_by_name)
    heights = sorted(round(bar.get_height(), 6) for bar in ax.patches)
    assert heights == sorted([round(18 / 27, 6), round(1 / 432, 6), 1.0, 1.0])
    assert [t.get_text() for t in ax.get_xticklabels()] == ["0", "3"]


def test_training_warns_on_collapse_and_records_the_analysis():
    model = _digits_net()
    mask = sk.Mask.dense(model, prune_classifier=True)
    mask["3.weight"][:] = False
    with pytest.warns(RuntimeWarning, match=r"layer collapse: .*3\.weight"), \
            pytest.warns(RuntimeWarning, match="the mask cuts the network"):  # an empty classifier cuts it too
        run = sk.train(dataset="digits", model=model, mask=mask, epochs=1, max_batches=1, progress=False,
                       prune_classifier=True)
    assert run["analysis"]["collapsed_layers"] == ["3.weight"]
    assert run["analysis"]["dead_units"]["3.weight"] == 10
    assert run["analysis"]["path_from_input_at_start"] is False


def test_no_warning_without_collapse():
    with warnings.catch_warnings():
        warnings.simplefilter("error", RuntimeWarning)
        sk.train(dataset="digits", model="resnet20", width=0.25, mask="random", sparsity=0.5, epochs=1,
                 max_batches=1, progress=False)


def _digits_net():
    torch.manual_seed(0)
    return nn.Sequential(nn.Conv2d(1, 3, 3), nn.ReLU(), nn.Flatten(), nn.Linear(3 * 6 * 6, 10))
