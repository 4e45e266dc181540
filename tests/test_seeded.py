"""Experiments over seeds: every (mask, seed) mask computed once and trained by every recipe
from the same initial weights; variants repeated per seed; the figure with error bars."""
import matplotlib
import pytest
import torch

import sparsekit as sk

matplotlib.use("Agg")

from sparsekit.app import seeded  # noqa: E402
from sparsekit.app.experiments import ExperimentSettings  # noqa: E402
from sparsekit.report.plots import plot_seeded_accuracy  # noqa: E402

torch.set_num_threads(1)
TINY = ExperimentSettings(width=0.25, epochs=1, max_batches=2, batch_size=32, sparsity=0.8)


def test_compare_recipes_computes_each_mask_once(monkeypatch):
    from sparsekit.runs import launch as trainer

    calls = []
    real_prepare = trainer.prepare

    def counting_prepare(config, **kwargs):
        if kwargs.get("mask") is None:  # a mask computed, not a given one reused
            calls.append((config.mask, config.seed))
        return real_prepare(config, **kwargs)

    monkeypatch.setattr(trainer, "prepare", counting_prepare)
    grid = seeded.compare_recipes(TINY, ["random", "snip"], ["default", "tost"], seeds=[0, 1],
                                  recipe_options={"init_iterations": 2})
    assert sorted(calls) == [("random", 0), ("random", 1), ("snip", 0), ("snip", 1)]
    for method, row in grid.items():
        for first, second in zip(row["default"], row["tost"]):
            assert first["config"]["seed"] == second["config"]["seed"]
            assert all(torch.equal(first.mask[name], second.mask[name]) for name in first.mask)
            assert first["mask_source"]["method"] == method
        assert row["tost"][0]["recipe"]["init_iterations"] == 2
    flat = seeded.flatten_seeded(grid)
    assert "snip / tost / seed 1" in flat and len(flat) == 8


def test_variants_over_seeds_and_the_figure():
    result = seeded.run_variants_over_seeds(TINY, {"default": {}, "smoothed": {"tricks": ["label_smoothing"]}},
                                            seeds=[3, 4])
    assert [record["config"]["seed"] for record in result["smoothed"]] == [3, 4]
    assert list(seeded.flatten_variants(result)) == ["default / seed 3", "default / seed 4", "smoothed / seed 3",
                                                     "smoothed / seed 4"]
    ax = plot_seeded_accuracy({"random": result})
    heights = sorted(round(bar.get_height(), 6) for bar in ax.patches)
    expected = sorted(round(sum(r["best_val_test_acc"] for r in records) / 2, 6) for records in result.values())
    assert heights == pytest.approx(expected)


def test_compare_recipes_honours_every_mask_setting():
    """distribution, pattern and prune_first_layer reach every run, as in `train`."""
    from sparsekit.app.experiments import make_settings

    settings = make_settings(TINY, sparsity=0.5, pattern="2:4", distribution="uniform", prune_first_layer=False)
    grid = seeded.compare_recipes(settings, ["snip"], ["default"], seeds=[0])
    record = grid["snip"]["default"][0]
    assert {key: record["config"][key] for key in ("pattern", "distribution", "prune_first_layer")} == \
        {"pattern": "2:4", "distribution": "uniform", "prune_first_layer": False}
    first_conv = next(name for name, module in record.model.named_modules() if isinstance(module, torch.nn.Conv2d))
    assert f"{first_conv}.weight" not in record.mask  # left dense: not masked at all
    for name in record.mask:  # exactly 2 of every 4 consecutive input weights
        kept = record.mask[name].reshape(record.mask[name].shape[0], -1).reshape(-1, 4).sum(dim=1)
        assert bool((kept == 2).all())


def test_run_grid_trains_each_row_mask_once_with_every_column_recipe(monkeypatch):
    from sparsekit.app.experiments import run_grid
    from sparsekit.runs import launch

    computed = []
    real_prepare = launch.prepare
    monkeypatch.setattr(launch, "prepare",
                        lambda config, **kw: computed.append(config.mask) or real_prepare(config, **kw))
    grid = run_grid(TINY, rows={"snip": {"mask": "snip"}},
                    columns={"plain": {}, "smoothed": {"tricks": ["label_smoothing"]}})
    assert computed == ["snip"]
    plain, smoothed = grid["snip"]["plain"], grid["snip"]["smoothed"]
    assert all(torch.equal(plain.mask[name], smoothed.mask[name]) for name in plain.mask)
    assert smoothed["recipe"]["label_smoothing"] > 0 == plain["recipe"]["label_smoothing"]
    with pytest.raises(sk.SparsekitError, match="grid column 'short' changes 'epochs'"):
        run_grid(TINY, rows={"snip": {"mask": "snip"}}, columns={"short": {"epochs": 1}})


def test_a_mask_that_changes_in_training_is_not_handed_on_as_a_fixed_one():
    """RigL's mask moves during training: each recipe starts from the same seeded draw and
    keeps updating it, rather than training the first draw as a fixed mask."""
    grid = seeded.compare_recipes(TINY, ["rigl"], ["default", "tost"], seeds=[0],
                                  mask_options={"rigl": "update_every=1"}, recipe_options={"init_iterations": 2})
    for record in (grid["rigl"]["default"][0], grid["rigl"]["tost"][0]):
        assert record["mask_source"]["method"] == "rigl" and "computed_once" not in record["mask_source"]


def test_a_bad_plan_is_refused_before_any_run(monkeypatch):
    from sparsekit.runs import launch

    def no_mask(*args, **kwargs):
        raise AssertionError("a mask was computed before the whole plan was checked")

    monkeypatch.setattr(launch, "prepare", no_mask)
    tiny = dict(width=0.25, epochs=1, max_batches=1)
    with pytest.raises(sk.SparsekitError, match="unknown recipe preset|unknown recipe"):
        sk.sweep([{"mask": "snip"}], tiny, recipes={"default": None, "mine": "no-such-preset"}, backend="inline")
    with pytest.raises(sk.SparsekitError, match="pattern 2:4 is kept by one-shot masks only"):
        sk.sweep([{"mask": "snip"}, {"mask": "set", "pattern": "2:4", "sparsity": 0.5}], tiny,
                 recipes={"default": None}, backend="inline")
    with pytest.raises(sk.SparsekitError, match="'recipe' is set while the sweep's recipes"):
        sk.sweep([{"mask": "snip", "recipe": "tost"}], tiny, recipes={"default": None}, backend="inline")
    with pytest.raises(sk.SparsekitError, match="'seed' is both a setting and the sweep's seeds"):
        sk.sweep({"seed": [0, 1]}, tiny, seeds=[0, 1], backend="inline")
    with pytest.raises(sk.SparsekitError, match="repeat a seed"):
        sk.sweep([{}], tiny, seeds=[0, 0], backend="inline")
    with pytest.raises(sk.SparsekitError, match="variant 'a' sets 'seed'"):
        seeded.run_variants_over_seeds(TINY, {"a": {"seed": 3}}, seeds=[0])

