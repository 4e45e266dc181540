"""Distributions (global | uniform | erk) and N:M patterns, for every score method and random:
each rule checked against a selection written here in numpy (stable argsort, reshape into
groups), exact counts, one-line errors, the command line and a tiny training run."""
import numpy as np
import pytest
import torch
from torch import nn

import sparsekit as sk
from sparsekit import SparsekitError, masks
from sparsekit.app.cli import main
from sparsekit.models import build
from sparsekit.sparsity import patterns
from sparsekit.sparsity.distributions import layer_counts

torch.set_num_threads(1)

SCORE_METHODS = ["magnitude", "snip", "grasp"]


@pytest.fixture(scope="module")
def batches():
    digits = sk.data.load("digits", batch_size=64)
    digits.train.set_epoch(0)
    return [next(iter(digits.train))]


def resnet(seed=0):
    torch.manual_seed(seed)
    return build("resnet20", 10, in_channels=1, width=0.25, input_size=8)


def numpy_top(values: np.ndarray, count: int) -> np.ndarray:
    """Bool array keeping the `count` largest values, ties to the lowest index."""
    flat = values.reshape(-1)
    keep = np.zeros(flat.size, dtype=bool)
    keep[np.argsort(-flat, kind="stable")[:count]] = True
    return keep.reshape(values.shape)


def numpy_n_of_m(values: np.ndarray, n: int, m: int) -> np.ndarray:
    """Bool array keeping the n largest of every m consecutive entries of each output's row."""
    groups = values.reshape(values.shape[0], -1, m)
    order = np.argsort(-groups, axis=-1, kind="stable")[..., :n]
    keep = np.zeros(groups.shape, dtype=bool)
    np.put_along_axis(keep, order, True, axis=-1)
    return keep.reshape(values.shape)


def numpy_scores(method, model, batches, **prunable):
    return {name: s.detach().double().numpy() for name, s in masks.scores(method, model, data=batches, **prunable).items()}


# ---- parsing -------------------------------------------------------------------------
@pytest.mark.parametrize("text, expected", [("2:4", (2, 4)), ("1:4", (1, 4)), ("4:8", (4, 8)), (" 2 : 4 ", (2, 4))])
def test_patterns_parse(text, expected):
    pattern = patterns.parse_pattern(text)
    assert tuple(pattern) == expected and pattern.sparsity == 1 - expected[0] / expected[1]


@pytest.mark.parametrize("text, message", [("2-4", "N:M"), ("a:b", "N:M"), ("", "N:M"), (2.5, "N:M"), ("2:4:8", "N:M"),
                                           ("0:4", "at least 1"), ("4:4", "N below M"), ("5:4", "N below M"),
                                           ("-1:4", "N:M")])
def test_malformed_patterns_fail_in_one_line(text, message):
    with pytest.raises(SparsekitError, match=message) as error:
        patterns.parse_pattern(text)
    assert "\n" not in str(error.value)


# ---- N:M selection --------------------------------------------------------------------
@pytest.mark.parametrize("shape", [(6, 8), (4, 3, 2, 2), (5, 16, 1, 1), (3, 8, 3, 3)])
@pytest.mark.parametrize("text", ["2:4", "1:4", "4:8"])
def test_n_of_m_keeps_the_group_top_as_numpy_does(shape, text):
    pattern = patterns.parse_pattern(text)
    if np.prod(shape[1:]) % pattern.m:
        pytest.skip("row length not a multiple of M")
    values = torch.randn(shape, generator=torch.Generator().manual_seed(1), dtype=torch.float64)
    kept = patterns.keep_top_in_groups({"w": values}, pattern)["w"]
    assert np.array_equal(kept.numpy(), numpy_n_of_m(values.numpy(), pattern.n, pattern.m))
    assert patterns.satisfies(kept, pattern.n, pattern.m)
    assert int(kept.sum()) == values.numel() * pattern.n // pattern.m


def test_n_of_m_ties_go_to_the_lowest_index():
    values = torch.tensor([[1.0, 1.0, 1.0, 1.0, 0.0, 2.0, 2.0, 0.0]])
    kept = patterns.keep_top_in_groups({"w": values}, patterns.parse_pattern("2:4"))["w"]
    assert kept.tolist() == [[True, True, False, False, False, True, True, False]]


def test_satisfies_rejects_a_mask_that_is_not_n_of_m():
    keep = torch.tensor([[True, True, False, False, True, True, True, False]])
    assert patterns.satisfies(keep[:, :4], 2, 4) and not patterns.satisfies(keep, 2, 4)
    assert not patterns.satisfies(torch.ones(2, 6, dtype=torch.bool), 2, 4)  # 6 is not a multiple of 4


@pytest.mark.parametrize("method", SCORE_METHODS)
def test_score_methods_with_a_pattern_keep_each_groups_top_scores(method, batches):
    kept = masks.compute(method, resnet(), data=batches, pattern="2:4", prune_first_layer=False)
    # GraSP's scores depend on which weights are scored together: the same set as the mask's.
    reference = numpy_scores(method, resnet(), batches, prune_first_layer=False)
    assert sorted(kept) == sorted(reference)
    for name, scores in reference.items():
        assert np.array_equal(kept[name].numpy(), numpy_n_of_m(scores, 2, 4)), name
    assert kept.sparsity() == 0.5


def test_invert_with_a_pattern_keeps_each_groups_lowest(batches):
    kept = masks.compute("magnitude", resnet(), 0.75, pattern="1:4", prune_first_layer=False, invert=True)
    for name, weight in resnet().named_parameters():
        if name in kept:
            assert np.array_equal(kept[name].numpy(), numpy_n_of_m(-weight.detach().abs().double().numpy(), 1, 4))


@pytest.mark.parametrize("method, options", [("random", {}), ("synflow", {"rounds": 5}), ("magnitude", {"shuffle": True})])
def test_random_synflow_and_shuffle_hold_the_pattern(method, options):
    kept = masks.compute(method, resnet(), pattern="1:4", prune_first_layer=False, seed=3, **options)
    assert all(patterns.satisfies(keep, 1, 4) for keep in kept.values())
    assert kept.num_kept() == kept.num_total() // 4


def test_random_pattern_depends_on_the_seed():
    first, second = (masks.compute("random", resnet(), pattern="2:4", prune_first_layer=False, seed=s) for s in (0, 1))
    assert not first.same_as(second)


def test_a_layer_that_does_not_split_into_groups_is_named():
    with pytest.raises(SparsekitError, match=r"'stem.conv.weight' has 9 inputs .*prune_first_layer=False") as error:
        masks.compute("magnitude", resnet(), pattern="2:4")
    assert "\n" not in str(error.value)


def test_linear_layers_group_along_their_inputs():
    torch.manual_seed(0)
    mlp = nn.Sequential(nn.Flatten(), nn.Linear(64, 16), nn.ReLU(), nn.Linear(16, 10))
    kept = masks.compute("magnitude", mlp, pattern="2:4", prune_classifier=True)
    for name, weight in mlp.named_parameters():
        if name.endswith("weight"):
            assert np.array_equal(kept[name].numpy(), numpy_n_of_m(weight.detach().abs().double().numpy(), 2, 4))


# ---- distributions --------------------------------------------------------------------
@pytest.mark.parametrize("method", SCORE_METHODS)
def test_erk_keeps_each_layers_top_scores_at_erk_counts(method, batches):
    kept = masks.compute(method, resnet(), 0.9, data=batches, distribution="erk")
    reference = numpy_scores(method, resnet(), batches)
    counts = layer_counts("erk", [s.shape for s in reference.values()], 0.9)
    assert [int(kept[name].sum()) for name in reference] == counts
    for (name, scores), count in zip(reference.items(), counts):
        assert np.array_equal(kept[name].numpy(), numpy_top(scores, count)), name


@pytest.mark.parametrize("method", SCORE_METHODS)
def test_uniform_keeps_round_half_up_of_d_n_per_layer(method, batches):
    kept = masks.compute(method, resnet(), 0.8, data=batches, distribution="uniform")
    for name, scores in numpy_scores(method, resnet(), batches).items():
        count = int(np.floor(0.2 * scores.size + 0.5))
        assert np.array_equal(kept[name].numpy(), numpy_top(scores, count)), name


def test_global_ranks_all_layers_together(batches):
    kept = masks.compute("snip", resnet(), 0.9, data=batches, distribution="global")
    reference = numpy_scores("snip", resnet(), batches)
    flat = np.concatenate([s.reshape(-1) for s in reference.values()])
    expected = numpy_top(flat, int(np.floor(0.1 * flat.size + 0.5)))
    assert np.array_equal(np.concatenate([kept[name].numpy().reshape(-1) for name in reference]), expected)


def test_random_with_erk_draws_erk_counts_like_the_erk_method():
    kept = masks.compute("random", resnet(), 0.9, distribution="erk", seed=4)
    shapes = [k.shape for k in kept.values()]
    assert [int(k.sum()) for k in kept.values()] == layer_counts("erk", shapes, 0.9)
    assert kept.same_as(masks.compute("erk", resnet(), 0.9, seed=4))


def test_synflow_with_erk_ends_on_erk_counts():
    kept = masks.compute("synflow", resnet(), 0.9, distribution="erk", rounds=5)
    assert [int(k.sum()) for k in kept.values()] == layer_counts("erk", [k.shape for k in kept.values()], 0.9)


def _check_run(**settings):
    from sparsekit.sparsity import sources

    sources.check(sk.TrainConfig(**settings).masking)


@pytest.mark.parametrize("call, message", [
    (lambda: sk.TrainConfig(scope="layerwise", distribution="global"), "conflicts"),
    (lambda: sk.TrainConfig(scope=1), "unknown scope"),
    (lambda: masks.compute("snip", resnet(), 0.9, scope="layerwise"), "has no option 'scope'"),
    (lambda: masks.compute("magnitude", resnet(), 0.9, distribution="blocks"), "unknown distribution"),
    (lambda: masks.compute("magnitude", resnet(), 0.9, distribution=["erk"]), "unknown distribution"),
    (lambda: masks.compute("magnitude", resnet(), 0.9, pattern="2:4", prune_first_layer=False), "fixes the sparsity"),
    (lambda: masks.compute("magnitude", resnet(), pattern="2:4", distribution="erk", prune_first_layer=False),
     "cannot follow distribution 'erk'"),
    (lambda: masks.compute("erk", resnet(), pattern="2:4", prune_first_layer=False),
     "cannot follow distribution 'erk' \\(the method's own\\)"),
    (lambda: _check_run(mask="ramanujan", distribution="erk"), "'ramanujan' sets its own layer densities"),
    (lambda: _check_run(mask="ramanujan", pattern="2:4", prune_first_layer=False), "'ramanujan' cannot build an N:M"),
    (lambda: _check_run(mask="lottery", schedule="gmp"), "'lottery' finds its mask before training"),
    (lambda: _check_run(mask="lottery", mask_options={"rounds": 3}), "'lottery' has no option 'rounds'"),
    (lambda: masks.compute("lottery", resnet(), 0.9), "'lottery' trains whole runs .* sparsekit.train"),
    (lambda: masks.compute("ramanujan", resnet(), 0.9, distribution="erk"), "'ramanujan' sets its own layer"),
    (lambda: masks.compute("magnitude", resnet()), "sparsity must be a number"),
])
def test_bad_combinations_fail_in_one_line(call, message):
    with pytest.raises(SparsekitError, match=message) as error:
        call()
    assert "\n" not in str(error.value)


def test_global_is_one_ranking_for_every_method():
    # random's scores are ranks scaled to (0, 1], so one ranking over all layers keeps about the
    # same fraction of each, with the total exact but no layer's count fixed in advance.
    ranked = masks.compute("random", resnet(), 0.9, distribution="global", seed=1)
    even = masks.compute("random", resnet(), 0.9, seed=1)  # its declared default: the same fraction, total exact
    assert ranked.num_kept() == even.num_kept()
    assert [int(k.sum()) for k in ranked.values()] != [int(k.sum()) for k in even.values()]
    assert masks.METHODS.get("random").distribution == "even"
    assert masks.METHODS.get("snip").distribution == "global"


@pytest.mark.parametrize("distribution", ["global", "uniform", "even", "erk"])
def test_erk_is_random_at_erk_densities(distribution):
    assert masks.compute("erk", resnet(), 0.8, seed=2).same_as(
        masks.compute("random", resnet(), 0.8, seed=2, distribution="erk"))
    assert masks.compute("erk", resnet(), 0.8, seed=2, distribution=distribution).same_as(
        masks.compute("random", resnet(), 0.8, seed=2, distribution=distribution))


# ---- settings, command line, training ----------------------------------------------------
def test_train_config_checks_and_fills_in_the_pattern_sparsity():
    from sparsekit.training.config import make_config

    assert make_config(pattern="2:4").sparsity == 0.5
    assert make_config(pattern="1:4", sparsity=0.75).sparsity == 0.75
    for settings, message in [({"pattern": "2:4", "sparsity": 0.7}, "fixes the sparsity"),
                              ({"distribution": "erk", "scope": "layerwise"}, "conflicts"),
                              ({"distribution": "dense"}, "unknown distribution"),
                              ({"pattern": "2:4", "distribution": "global"}, "cannot follow"),
                              ({"pattern": "4:2"}, "N below M")]:
        with pytest.raises(SparsekitError, match=message):
            make_config(**settings)


def test_cli_mask_with_erk_and_with_a_pattern(tmp_path, capsys):
    common = ["--width", "0.25", "--mask-examples-per-class", "2"]
    assert main(["mask", "--mask", "snip", "--distribution", "erk", "--out", str(tmp_path / "erk.pt"), *common]) == 0
    erk_mask = sk.Mask.load(tmp_path / "erk.pt")
    assert [int(k.sum()) for k in erk_mask.values()] == layer_counts("erk", [k.shape for k in erk_mask.values()], 0.9)
    assert main(["mask", "--method", "snip", "--pattern", "2:4", "--no-prune-first-layer",
                 "--out", str(tmp_path / "nm.pt"), *common]) == 0
    assert all(patterns.satisfies(k, 2, 4) for k in sk.Mask.load(tmp_path / "nm.pt").values())
    capsys.readouterr()
    assert main(["mask", "--method", "snip", "--pattern", "2:4", "--out", str(tmp_path / "bad.pt"), *common]) == 2
    error = capsys.readouterr().err
    assert error.count("\n") == 1 and "prune-first-layer" in error and not (tmp_path / "bad.pt").exists()


def test_cli_list_shows_distributions_and_patterns(capsys):
    assert main(["list"]) == 0
    shown = capsys.readouterr().out
    for name in masks.available():
        assert f"  {name} " in shown
    assert "distributions (--distribution" in shown and "  erk " in shown and "patterns (--pattern)" in shown
    assert "schedules (--schedule)" in shown and "  one-shot " in shown and "  gmp " in shown


def test_training_with_a_pattern_keeps_it_on_every_layer():
    run = sk.train(mask="snip", pattern="2:4", prune_first_layer=False, width=0.25, epochs=1, max_batches=2,
                   progress=False)
    assert run["config"]["sparsity"] == 0.5 and run["mask_source"]["pattern"] == "2:4"
    weights = dict(run.model.named_parameters())
    assert run.mask and all(patterns.satisfies(keep, 2, 4) for keep in run.mask.values())
    for name, keep in run.mask.items():
        nonzero = weights[name].detach().cpu() != 0
        assert not (nonzero & ~keep).any(), name  # pruned weights stayed zero through training


def test_analysis_checks_a_pattern_per_layer():
    kept = masks.compute("magnitude", resnet(), pattern="2:4", prune_first_layer=False)
    assert all(sk.analysis.pattern_check(kept, "2:4").values())
    unstructured = masks.compute("magnitude", resnet(), 0.5, prune_first_layer=False)
    assert not all(sk.analysis.pattern_check(unstructured, "2:4").values())
    assert not any(sk.analysis.pattern_check(kept, "1:4").values())
