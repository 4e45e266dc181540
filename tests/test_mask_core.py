"""The Mask type and exact top-k selection."""
import math

import pytest
import torch
from hypothesis import given, settings, strategies as st
from torch import nn

from sparsekit import Mask, SparsekitError
from sparsekit.core.prunable import prunable_parameters
from sparsekit.core.topk import keep_count, keep_top, top_k_flat


def tiny_net():
    torch.manual_seed(0)
    return nn.Sequential(nn.Conv2d(1, 4, 3), nn.BatchNorm2d(4), nn.ReLU(), nn.Flatten(), nn.Linear(4 * 6 * 6, 3))


def test_prunable_set_is_conv_and_linear_weights_with_options():
    net = tiny_net()
    assert list(prunable_parameters(net)) == ["0.weight"]  # the classifier stays dense by default
    assert list(prunable_parameters(net, prune_classifier=True)) == ["0.weight", "4.weight"]
    assert list(prunable_parameters(net, prune_first_layer=False, prune_classifier=True)) == ["4.weight"]


def test_modules_flagged_dense_are_never_prunable():
    net = tiny_net()
    net[0].sparsekit_dense = True
    assert list(prunable_parameters(net, prune_classifier=True)) == ["4.weight"]


@pytest.mark.parametrize("sparsity", [0.0, 0.5, 0.9, 0.98, 0.99, 0.999])
def test_keep_top_count_is_exact_even_with_all_ties(sparsity):
    scores = {"a": torch.ones(37, 11), "b": torch.zeros(1000)}
    total = 37 * 11 + 1000
    kept = keep_top(scores, sparsity)
    assert sum(int(k.sum()) for k in kept.values()) == round((1 - sparsity) * total)


def test_ties_break_by_position_deterministically():
    chosen = top_k_flat(torch.tensor([1.0, 2.0, 2.0, 2.0, 0.0]), 2)
    assert chosen.tolist() == [False, True, True, False, False]


def test_nan_scores_rank_last():
    chosen = top_k_flat(torch.tensor([float("nan"), 0.5, -3.0]), 2)
    assert chosen.tolist() == [False, True, True]


def test_layerwise_scope_is_exact_per_layer():
    scores = {"a": torch.rand(10, 10), "b": torch.rand(7)}
    kept = keep_top(scores, 0.75, scope="layerwise")
    assert int(kept["a"].sum()) == 25 and int(kept["b"].sum()) == round(0.25 * 7)


def test_global_scope_keeps_the_largest_scores():
    scores = {"a": torch.tensor([5.0, 1.0]), "b": torch.tensor([4.0, 3.0, 0.0])}
    kept = keep_top(scores, 0.4)
    assert kept["a"].tolist() == [True, False] and kept["b"].tolist() == [True, True, False]


@settings(max_examples=200, deadline=None)
@given(total=st.integers(0, 10**7), density=st.floats(0, 1))
def test_keep_count_is_round_half_up_and_in_range(total, density):
    expected = math.floor(density * total + 0.5)
    assert keep_count(total, density) == min(total, expected)


@pytest.mark.parametrize("bad", [-0.1, 1.0, 1.5, "x"])
def test_sparsity_outside_range_is_rejected(bad):
    with pytest.raises(SparsekitError, match="sparsity"):
        keep_top({"a": torch.ones(3)}, bad)


def test_density_table_and_apply():
    net = tiny_net()
    mask = Mask.dense(net, prune_classifier=True)
    mask["4.weight"][:, :72] = False
    assert mask.num_total() == 36 + 432
    assert mask.num_kept() == 36 + 432 - 3 * 72
    rows = {r["name"]: r for r in mask.layer_table()}
    assert rows["4.weight"]["density"] == pytest.approx(0.5)
    mask.apply(net)
    assert (net[4].weight[:, :72] == 0).all() and (net[4].weight[:, 72:] != 0).all()
    assert "overall" in mask.format_table()


def test_mismatched_mask_is_a_one_line_error():
    net = tiny_net()
    with pytest.raises(SparsekitError, match="does not have"):
        Mask({"nope.weight": torch.ones(2, dtype=torch.bool)}).check_matches(net)
    with pytest.raises(SparsekitError, match="does not match"):
        Mask({"0.weight": torch.ones(2, 2, dtype=torch.bool)}).check_matches(net)


def test_save_load_round_trip(tmp_path):
    mask = Mask({"w": torch.rand(5, 5) > 0.5})
    mask.save(tmp_path / "m.pt")
    assert Mask.load(tmp_path / "m.pt").same_as(mask)
    assert [p.name for p in tmp_path.iterdir()] == ["m.pt"]  # no temporary left behind


def test_any_checkpoint_zero_pattern_becomes_the_mask(tmp_path):
    net = tiny_net()
    with torch.no_grad():
        net[4].weight[0].zero_()
    torch.save({"state_dict": net.state_dict()}, tmp_path / "ckpt.pt")
    mask = Mask.from_file(tmp_path / "ckpt.pt", tiny_net(), prune_classifier=True)
    assert mask["4.weight"][0].sum() == 0 and mask["4.weight"][1:].all() and mask["0.weight"].all()


def test_corrupted_files_give_one_line_errors(tmp_path):
    (tmp_path / "bad.pt").write_bytes(b"not a torch file")
    with pytest.raises(SparsekitError, match="corrupted") as info:
        Mask.load(tmp_path / "bad.pt")
    assert "\n" not in str(info.value)
    with pytest.raises(SparsekitError, match="not found"):
        Mask.load(tmp_path / "missing.pt")


@settings(max_examples=100, deadline=None)
@given(sizes=st.lists(st.integers(1, 500), min_size=1, max_size=8), density=st.floats(0, 1))
def test_allocated_counts_sum_exactly_and_stay_near_the_share(sizes, density):
    from sparsekit.core.topk import allocate_counts

    total = keep_count(sum(sizes), density)
    counts = allocate_counts(sizes, [density] * len(sizes), total)
    assert sum(counts) == total
    assert all(0 <= c <= s and abs(c - density * s) < 1 + 1e-9 for c, s in zip(counts, sizes))


@pytest.mark.parametrize("kind", ["distinct", "ties", "half_zeros", "sample_misleads"])
def test_kth_smallest_is_kthvalue_on_large_vectors(kind):
    from sparsekit.core.topk import SAMPLE, kth_smallest
    count = 8 * SAMPLE + 12345  # past the size where the bracketing sample is used
    values = torch.rand(count, generator=torch.Generator().manual_seed(0))
    if kind == "ties":
        values = (values * 20).floor()
    elif kind == "half_zeros":
        values[: count // 2] = 0
    elif kind == "sample_misleads":  # every sampled position holds the same value: the bracket misses
        values[:: count // SAMPLE] = 0.5
    for rank in (1, count // 3, count // 2, count - 7, count):
        assert kth_smallest(values, rank) == torch.kthvalue(values, rank).values
