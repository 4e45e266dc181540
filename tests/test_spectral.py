"""Mask anatomy: bipartite graphs of masks and their spectra, checked against dense numpy and
against graphs whose spectra are known by hand."""
import math

import numpy as np
import pytest
import scipy.sparse
import torch
from torch import nn

from helpers import benchmark_script
import sparsekit as sk
from sparsekit.analysis import spectral
from sparsekit.analysis.bigraph import adjacency_spectrum, biadjacency, degrees, top_singular_values


def dense_adjacency_eigenvalues(block: np.ndarray) -> np.ndarray:
    """All eigenvalues of [[0, B], [B^T, 0]] by numpy, descending (independent of bigraph)."""
    rows, cols = block.shape
    full = np.zeros((rows + cols, rows + cols))
    full[:rows, rows:] = block
    full[rows:, :rows] = block.T
    return np.sort(np.linalg.eigvalsh(full))[::-1]


def random_layer(rows=70, cols=90, density=0.2, seed=0):
    generator = torch.Generator().manual_seed(seed)
    keep = torch.rand(rows, cols, generator=generator) < density
    weight = torch.randn(rows, cols, generator=generator)
    return keep, weight


# ---- graphs with known spectra ---------------------------------------------------------
@pytest.mark.parametrize("dense_up_to", [0, 1000])  # ARPACK path and dense path
def test_complete_bipartite_has_eigenvalues_plus_minus_sqrt_mn_and_zeros(dense_up_to):
    m, n = 70, 80
    ones = scipy.sparse.csc_matrix(np.ones((m, n)))
    top = top_singular_values(ones, dense_up_to=dense_up_to)
    # s_2 = 0 comes from the square root of a Gram eigenvalue: accurate to ~1e-7 * s_1
    assert top == pytest.approx([math.sqrt(m * n), 0.0], abs=1e-5)
    spectrum = adjacency_spectrum(scipy.sparse.csc_matrix(np.ones((4, 6))))
    assert spectrum == pytest.approx([math.sqrt(24)] + [0.0] * 8 + [-math.sqrt(24)], abs=1e-9)


def test_complete_bipartite_gaps_by_hand():
    m, n, scale = 5, 7, 0.5
    keep = torch.ones(m, n, dtype=torch.bool)
    gaps = spectral.graph_gaps(biadjacency(keep), biadjacency(keep, torch.full((m, n), -scale)))
    # input degree = m outputs, output degree = n inputs; s_2 = 0, so the gap is the whole bound
    assert gaps["ramanujan_bound"] == pytest.approx(math.sqrt(m - 1) + math.sqrt(n - 1))
    assert gaps["ramanujan_gap"] == pytest.approx(math.sqrt(m - 1) + math.sqrt(n - 1), abs=1e-6)
    assert gaps["weighted_gap"] == pytest.approx(scale * math.sqrt(m * n), abs=1e-6)


@pytest.mark.parametrize("dense_up_to", [0, 1000])
def test_disjoint_union_spectrum_is_the_union_of_spectra(dense_up_to):
    block = np.zeros((100, 110))
    block[:30, :40] = 1.0  # K_{30,40}: sqrt(1200)
    block[30:, 40:] = 1.0  # K_{70,70}: 70
    top = top_singular_values(scipy.sparse.csc_matrix(block), dense_up_to=dense_up_to)
    assert top == pytest.approx([70.0, math.sqrt(1200)], abs=1e-6)


@pytest.mark.parametrize("dense_up_to", [0, 1000])
def test_even_cycle_spectrum(dense_up_to):
    n = 80  # C_{2n} as n inputs -> n outputs, input i joined to outputs i and i+1
    block = np.zeros((n, n))
    for i in range(n):
        block[i, i] = block[(i + 1) % n, i] = 1.0
    top = top_singular_values(scipy.sparse.csc_matrix(block), dense_up_to=dense_up_to)
    assert top == pytest.approx([2.0, 2 * math.cos(math.pi / n)], abs=1e-6)
    small = block[:6, :6] * 0
    for i in range(6):
        small[i, i] = small[(i + 1) % 6, i] = 1.0
    expected = sorted((2 * math.cos(2 * math.pi * k / 12) for k in range(12)), reverse=True)
    assert adjacency_spectrum(scipy.sparse.csc_matrix(small)) == pytest.approx(expected, abs=1e-9)
    # degree 2 < 3: the reference does not measure such a graph
    assert spectral.graph_gaps(scipy.sparse.csc_matrix(block), scipy.sparse.csc_matrix(block)) is None


# ---- against dense numpy on random layers ------------------------------------------------
@pytest.mark.parametrize("seed, density", [(0, 0.2), (1, 0.03)])  # Gram by dense BLAS / by sparse product
def test_top_singular_values_match_dense_eigenvalues(seed, density):
    keep, weight = random_layer(seed=seed, density=density)
    for matrix, block in ((biadjacency(keep), keep.double().numpy()),
                          (biadjacency(keep, weight), (weight.abs() * keep).double().numpy())):
        expected = dense_adjacency_eigenvalues(block)[:2]
        assert top_singular_values(matrix, dense_up_to=0) == pytest.approx(expected, rel=1e-8)
        assert adjacency_spectrum(matrix) == pytest.approx(dense_adjacency_eigenvalues(block), abs=1e-8)


def test_layer_row_gaps_match_an_independent_computation():
    keep, weight = random_layer(seed=3)
    row = spectral.layer_row("w", keep, weight)
    block = keep.double().numpy()
    d_in = block.sum(0)[block.sum(0) > 0].mean()
    d_out = block.sum(1)[block.sum(1) > 0].mean()
    s2 = dense_adjacency_eigenvalues(block)[1]
    assert row["ramanujan_gap"] == pytest.approx(math.sqrt(d_in - 1) + math.sqrt(d_out - 1) - s2, rel=1e-8)
    w = dense_adjacency_eigenvalues((weight.abs() * keep).double().numpy())
    assert row["weighted_gap"] == pytest.approx(w[0] - w[1], rel=1e-8)
    assert row["edges"] == int(keep.sum()) and row["in_degree_max"] == int(block.sum(0).max())


def test_nested_regular_subgraphs_by_hand():
    """Inputs of degree 3 (x6), 4 (x4, output 5 unused) and 5 (x2, too few): two subgraphs count."""
    columns = [tuple((i + j) % 6 for j in range(3)) for i in range(6)]
    columns += [(0, 1, 2, 3), (1, 2, 3, 4), (0, 2, 3, 4), (0, 1, 3, 4), (0, 1, 2, 3, 4), (1, 2, 3, 4, 5)]
    keep = torch.zeros(6, len(columns), dtype=torch.bool)
    for column, rows in enumerate(columns):
        keep[list(rows), column] = True
    weight = torch.arange(1, keep.numel() + 1, dtype=torch.float64).reshape(keep.shape) / 10
    nested = spectral.regular_subgraph_gaps(biadjacency(keep), biadjacency(keep, weight))
    assert [(g["degree"], g["inputs"]) for g in nested] == [(3, 6), (4, 4)]
    for gaps, cols in zip(nested, (list(range(6)), [6, 7, 8, 9])):
        block = keep[:, cols].double().numpy()
        used = block[block.sum(1) > 0]  # isolated outputs dropped before averaging degrees
        bound = math.sqrt(block.sum(0).mean() - 1) + math.sqrt(used.sum(1).mean() - 1)
        assert gaps["ramanujan_gap"] == pytest.approx(bound - dense_adjacency_eigenvalues(block)[1], rel=1e-9)
        w = dense_adjacency_eigenvalues((weight[:, cols] * keep[:, cols]).numpy())
        assert gaps["weighted_gap"] == pytest.approx(w[0] - w[1], rel=1e-9)
    row = spectral.layer_row("w", keep, weight)
    assert row["ramanujan_gap_imdb"] == pytest.approx(np.mean([g["ramanujan_gap"] for g in nested]))
    assert row["regular_subgraphs"] == 2


# ---- how a conv kernel maps to edges -----------------------------------------------------
def test_conv_kernel_taps_are_separate_input_nodes():
    keep = torch.zeros(4, 2, 3, 3, dtype=torch.bool)
    keep[1, 0, 2, 1] = True  # output 1 <- input channel 0, tap (2, 1): input node 0*9 + 2*3 + 1 = 7
    keep[3, 1, 0, 0] = True  # output 3 <- input channel 1, tap (0, 0): input node 9
    weight = torch.full((4, 2, 3, 3), -2.5)
    matrix = biadjacency(keep, weight)
    assert matrix.shape == (4, 18)
    assert sorted(zip(*matrix.nonzero())) == [(1, 7), (3, 9)]
    assert matrix[1, 7] == 2.5  # |theta|
    in_degree, out_degree = degrees(biadjacency(keep))
    assert in_degree.sum() == out_degree.sum() == 2 and out_degree.tolist() == [0, 1, 0, 1]


# ---- the whole network ---------------------------------------------------------------------
def small_net():
    torch.manual_seed(0)
    return nn.Sequential(nn.Conv2d(3, 16, 3), nn.ReLU(), nn.Conv2d(16, 16, 3), nn.Flatten(), nn.Linear(16 * 4, 10))


def test_analyze_rows_network_coordinate_and_distance():
    model = small_net()
    mask = sk.masks.compute("random", model, 0.5, seed=0)
    result = spectral.analyze(model, mask)
    assert [row["name"] for row in result["layers"]] == list(mask)
    measured = [row for row in result["layers"] if row["ramanujan_gap_imdb"] is not None]
    assert result["network"]["layers_measured"] == len(measured) > 0
    coordinate = result["network"]["coordinate"]
    assert coordinate["weighted_gap_imdb"] == pytest.approx(np.mean([r["weighted_gap_imdb"] for r in measured]))
    with torch.no_grad():
        model[2].weight.mul_(3.0)  # scales that layer's weighted gaps by 3, leaves structure alone
    after = spectral.analyze(model, mask)["network"]["coordinate"]
    assert after["ramanujan_gap_imdb"] == pytest.approx(coordinate["ramanujan_gap_imdb"])
    assert spectral.distance(coordinate, after) == pytest.approx(
        abs(after["weighted_gap_imdb"] - coordinate["weighted_gap_imdb"]))
    assert spectral.distance({"ramanujan_gap_imdb": 0.0, "weighted_gap_imdb": 3.0},
                             {"ramanujan_gap_imdb": 4.0, "weighted_gap_imdb": 0.0}) == pytest.approx(5.0)
    assert spectral.distance({"ramanujan_gap_imdb": None, "weighted_gap_imdb": 1.0}, after) is None


def test_analyze_refuses_a_mask_of_another_model():
    with pytest.raises(sk.SparsekitError, match="does not have"):
        spectral.analyze(small_net(), {"nope.weight": torch.ones(2, 2, dtype=torch.bool)})


def test_package_keeps_the_old_imports():
    from sparsekit.analysis import summarize, warn_collapsed_layers  # noqa: F401
    assert sk.analysis.summarize is summarize and callable(sk.analysis.spectral.analyze)


# ---- in every run record -------------------------------------------------------------------
RUN = dict(dataset="digits", model="resnet20", width=0.25, sparsity=0.5, epochs=2, max_batches=1, progress=False,
           batch_size=64, lr=0.1)


def test_every_run_records_the_coordinate_at_init_and_end_and_resumes_exactly(tmp_path):
    import json

    from helpers import Interrupt
    from sparsekit.training.config import make_config
    from sparsekit.runs.launch import prepare

    with pytest.raises(KeyboardInterrupt):
        sk.train(**RUN, out=str(tmp_path), callbacks=[Interrupt(1)])
    partial = json.loads((tmp_path / "record.json").read_text())["spectral"]
    _, model, mask, _ = prepare(make_config(**RUN))  # the run's start, rebuilt independently
    mask.apply(model)
    assert partial == {"init": spectral.coordinate_of(model, mask)}  # known from the start
    assert partial["init"]["layers_measured"] > 0
    resumed = sk.train(**RUN, out=str(tmp_path), resume=True)
    record = json.loads((tmp_path / "record.json").read_text())["spectral"]
    assert record == resumed["spectral"]
    assert record["init"] == partial["init"]  # the true start, kept in the checkpoint
    assert record["end"] == spectral.coordinate_of(resumed.model, resumed.mask)
    assert record["distance"] == spectral.distance(record["init"]["coordinate"], record["end"]["coordinate"]) > 0


# ---- the correlation report ------------------------------------------------------------------
def load_correlation_script():
    return benchmark_script("spectral_correlation")


def fake_record(directory, method, accuracy, distance, recipe=None, finished=True, sparsity=0.9):
    import json

    point = {"coordinate": {"ramanujan_gap_imdb": 1.0, "weighted_gap_imdb": distance}}
    directory.mkdir(parents=True)
    (directory / "record.json").write_text(json.dumps({
        "finished": finished, "config": {"mask": method, "sparsity": sparsity, "seed": 0}, "sparsity": sparsity,
        "recipe": recipe, "best_val_test_acc": accuracy, "spectral": {"init": point, "end": point, "distance": distance}}))


def test_correlation_report_ranks_groups_and_skips(tmp_path):
    script = load_correlation_script()
    accuracies = [0.5, 0.6, 0.7, 0.8, 0.9]
    for i, accuracy in enumerate(accuracies):  # snip: distance rises with accuracy; random: falls
        fake_record(tmp_path / "a" / f"snip{i}", "snip", accuracy, distance=float(i))
        # a study's recipe run trains the default run's mask: its record says "random" (the
        # setting's default) and its directory name says grasp
        fake_record(tmp_path / "b" / "runs" / f"grasp-0.9-seed{i}-tost", "random", accuracy, distance=float(-i),
                    recipe={"label_smoothing": 0.1})
    fake_record(tmp_path / "a" / "snip0" / "lottery" / "round_1", "snip", 0.1, 9.0)  # part of a run, not a run
    fake_record(tmp_path / "unfinished", "snip", 0.1, 9.0, finished=False)
    out = tmp_path / "table.md"
    result = script.main([str(tmp_path), "--out", str(out), "--resamples", "100"])
    assert result["runs"] == 10 and result["skipped"] == 1
    text = out.read_text()
    assert "| snip | plain | distance | +1.00 [+1.00, +1.00] (5) |" in text
    assert "| grasp | recipe | distance | -1.00 [-1.00, -1.00] (5) |" in text
    assert "| random |" not in text and "| snip | recipe |" not in text
    # pooled: distance 0..4 (snip) and 0..-4 (grasp) against the same accuracies, by scipy
    from scipy.stats import spearmanr
    expected = spearmanr(list(range(5)) + [-i for i in range(5)], accuracies * 2).statistic
    assert f"| pooled | both | distance | {expected:+.2f} [" in text
    assert "| pooled | both | init ramanujan_gap_imdb | - (10) |" in text
    with pytest.raises(sk.SparsekitError, match="no finished run"):
        script.main([str(tmp_path / "unfinished")])


def test_correlation_report_has_a_column_per_sparsity_and_one_across(tmp_path):
    script = load_correlation_script()
    for i in range(4):
        fake_record(tmp_path / f"dense{i}", "snip", 0.5 + i / 10, distance=float(i), sparsity=0.9)
        fake_record(tmp_path / f"sparse{i}", "snip", 0.1 + i / 10, distance=float(-i), sparsity=0.98)
    text = script.main([str(tmp_path), "--resamples", "50"])["text"]
    assert "sparsity 0.9: rho" in text and "sparsity 0.98: rho" in text and "sparsity all: rho" in text
    row = next(line for line in text.splitlines() if line.startswith("| snip | plain | distance |"))
    assert row.split(" | ")[3:5] == ["+1.00 [+1.00, +1.00] (4)", "-1.00 [-1.00, -1.00] (4)"]
    assert row.endswith("(8) |")


def test_bootstrap_draws_are_spearman_of_the_resamples():
    script = load_correlation_script()
    from scipy.stats import spearmanr
    generator = np.random.default_rng(1)
    x, y = generator.normal(size=12), generator.normal(size=12).round(1)  # ties in y
    rho, low, high = script.spearman_with_interval(x, y, 300, seed=5)
    pick = np.random.default_rng(5).integers(0, 12, (300, 12))
    draws = [spearmanr(x[p], y[p]).statistic for p in pick]
    draws = [d for d in draws if not np.isnan(d)]
    assert rho == pytest.approx(spearmanr(x, y).statistic)
    assert (low, high) == pytest.approx(tuple(np.percentile(draws, [2.5, 97.5])))


# ---- the method: sampling masks by coordinate distance ----------------------------------------
def conv_net():
    torch.manual_seed(0)
    return nn.Sequential(nn.Conv2d(1, 16, 3, padding=1), nn.ReLU(), nn.Conv2d(16, 24, 3, padding=1), nn.ReLU(),
                         nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(24, 10))


def fake_batches():
    generator = torch.Generator().manual_seed(0)
    return [(torch.randn(16, 1, 8, 8, generator=generator), torch.randint(0, 10, (16,), generator=generator))
            for _ in range(2)]


def test_ramanujan_method_keeps_the_farthest_moving_of_its_samples_with_exact_counts():
    from sparsekit.sparsity.erk import erk_counts
    from sparsekit.runs.ramanujan import sample_mask, sample_masks
    from sparsekit.core.prunable import prunable_parameters

    model, batches, options = conv_net(), fake_batches(), dict(samples=3, train_steps=3, lr=0.1)
    before = {name: p.clone() for name, p in model.state_dict().items()}
    mask = sample_mask(model, 0.7, batches, seed=3, **options)
    assert all(torch.equal(before[n], p) for n, p in model.state_dict().items())  # model left as it was
    params = prunable_parameters(model)
    counts = erk_counts([tuple(p.shape) for p in params.values()], 0.3)
    assert [int(keep.sum()) for keep in mask.values()] == counts
    assert sum(counts) == round(0.3 * sum(p.numel() for p in params.values()))
    found = sample_masks(model, params, 0.3, batches, torch.Generator().manual_seed(3), densities="erk", **options)
    distances = [distance for _, distance in found]
    assert None not in distances and len(set(distances)) == 3
    chosen = [i for i, (keep, _) in enumerate(found) if sk.Mask(keep).same_as(mask)]
    assert chosen == [int(np.argmax(distances))]
    assert sample_mask(model, 0.7, batches, seed=3, **options).same_as(mask)
    assert not sample_mask(model, 0.7, batches, seed=4, **options).same_as(mask)


def test_ramanujan_is_an_entry_of_the_one_registry_and_computes_the_same_mask_there():
    from sparsekit.runs.ramanujan import sample_mask

    model, batches, options = conv_net(), fake_batches(), dict(samples=2, train_steps=2)
    mask = sk.masks.compute("ramanujan", model, 0.7, data=batches, seed=3, **options)
    assert mask.same_as(sample_mask(model, 0.7, batches, seed=3, **options))
    shuffled = sk.masks.compute("ramanujan", model, 0.7, data=batches, seed=3, shuffle=True, **options)
    assert [int(k.sum()) for k in shuffled.values()] == [int(k.sum()) for k in mask.values()]
    assert not shuffled.same_as(mask)
    with pytest.raises(sk.SparsekitError, match="'ramanujan' has no option 'invert'"):
        sk.masks.compute("ramanujan", model, 0.7, data=batches, invert=True)


def test_ramanujan_method_refuses_settings_it_cannot_honour():
    from sparsekit.runs.ramanujan import sample_mask
    from sparsekit.runs import mask_sources

    model, batches = conv_net(), fake_batches()
    with pytest.raises(sk.SparsekitError, match="train_steps >= 1"):
        sample_mask(model, 0.7, batches, train_steps=0)
    with pytest.raises(sk.SparsekitError, match="sets its own layer densities"):
        mask_sources.check(sk.TrainConfig(mask="ramanujan", scope="layerwise"), mask_given=False)
    with pytest.raises(sk.SparsekitError, match="sets its own layer densities"):
        sk.masks.compute("ramanujan", model, 0.7, data=batches, distribution="uniform")
    with pytest.raises(sk.SparsekitError, match="no sampled mask has a measurable coordinate"):
        sample_mask(model, 0.999, batches, samples=1, train_steps=1)


def test_plots_draw_what_they_are_given():
    import matplotlib

    matplotlib.use("Agg")
    from sparsekit.analysis import spectral_plots

    keep = torch.zeros(6, 2, 3, 3, dtype=torch.bool)
    keep[:, 0, 1, 1] = True  # 6 edges from input node 4
    keep[0, 1, 0, 0] = True  # and one from input node 9
    ax = spectral_plots.draw_bipartite(keep, max_nodes=6)  # input node 9 is not shown
    assert len(ax.lines) == 6
    ax = spectral_plots.plot_spectrum(keep, label="mask")
    # B^T B = [[6, 1], [1, 1]] (the two inputs share output 0): eigenvalues (7 +- sqrt(29)) / 2
    assert ax.lines[0].get_ydata() == pytest.approx([math.sqrt((7 + math.sqrt(29)) / 2),
                                                     math.sqrt((7 - math.sqrt(29)) / 2)])
    runs = {"a": {"spectral": {"distance": 0.5}, "best_val_test_acc": 0.7}, "b": {"spectral": {"distance": None}}}
    ax = spectral_plots.plot_distance_vs_accuracy(runs)
    assert [tuple(c.get_offsets()[0]) for c in ax.collections] == [(0.5, 0.7)]
