"""Each score against its definition, computed independently here: by hand-derived formulas
in numpy (float64) or finite differences, never by calling the implementation's helpers."""
import numpy as np
import pytest
import torch
from torch import nn

from sparsekit import masks
from sparsekit.sparsity.erk import erk_densities
from sparsekit.core.topk import keep_count

torch.set_num_threads(1)


def mlp(activation=nn.ReLU, seed=0, sizes=(4, 5, 3)):
    torch.manual_seed(seed)
    return nn.Sequential(nn.Linear(sizes[0], sizes[1]), activation(), nn.Linear(sizes[1], sizes[2]))


def batches(seed=1, count=2, size=6, features=4, classes=3):
    generator = torch.Generator().manual_seed(seed)
    return [(torch.randn(size, features, generator=generator), torch.randint(0, classes, (size,), generator=generator))
            for _ in range(count)]


def numpy_params(net):
    return [p.detach().double().numpy().copy() for p in (net[0].weight, net[0].bias, net[2].weight, net[2].bias)]


def manual_gradient(params, x, y, activation, temperature=1.0):
    """dL/dW1, dL/dW2 of mean cross-entropy(softmax(z / T)) of a 1-hidden-layer net, by hand."""
    w1, b1, w2, b2 = params
    pre = x @ w1.T + b1
    if activation == "relu":
        hidden, slope = np.maximum(pre, 0), (pre > 0).astype(float)
    else:
        hidden, slope = np.tanh(pre), 1 - np.tanh(pre) ** 2
    logits = (hidden @ w2.T + b2) / temperature
    probs = np.exp(logits - logits.max(1, keepdims=True))
    probs /= probs.sum(1, keepdims=True)
    dlogits = (probs - np.eye(w2.shape[0])[y]) / len(y) / temperature
    dw2 = dlogits.T @ hidden
    dpre = (dlogits @ w2) * slope
    return dpre.T @ x, dw2


def summed_gradient(params, data, activation, temperature=1.0):
    total = [np.zeros_like(params[0]), np.zeros_like(params[2])]
    for x, y in data:
        g1, g2 = manual_gradient(params, x.double().numpy(), y.numpy(), activation, temperature)
        total[0] += g1
        total[1] += g2
    return total


# ---- SNIP ------------------------------------------------------------------------------
def test_snip_equals_hand_computed_connection_sensitivity():
    net, data = mlp(), batches()
    params = numpy_params(net)
    g1, g2 = summed_gradient(params, data, "relu")
    s1, s2 = np.abs(params[0] * g1), np.abs(params[2] * g2)
    total = s1.sum() + s2.sum()
    scores = masks.scores("snip", net, data=data, prune_classifier=True)
    np.testing.assert_allclose(scores["0.weight"].double().numpy(), s1 / total, rtol=1e-4, atol=1e-9)
    np.testing.assert_allclose(scores["2.weight"].double().numpy(), s2 / total, rtol=1e-4, atol=1e-9)


def test_snip_leaves_model_grads_bn_statistics_and_modes_alone():
    torch.manual_seed(0)
    net = nn.Sequential(nn.Linear(4, 6), nn.BatchNorm1d(6), nn.ReLU(), nn.Linear(6, 3))
    net[3].eval()  # a mixed-mode model: each module's own mode must come back
    before = {k: v.clone() for k, v in net.state_dict().items()}
    masks.compute("snip", net, 0.5, data=batches(), prune_classifier=True)
    assert all(torch.equal(before[k], v) for k, v in net.state_dict().items())
    assert all(p.grad is None for p in net.parameters())
    assert net.training and net[1].training and not net[3].training


def test_snip_scores_in_eval_mode_batchnorm_uses_running_statistics():
    torch.manual_seed(0)
    net = nn.Sequential(nn.Linear(4, 6), nn.BatchNorm1d(6), nn.ReLU(), nn.Linear(6, 3))
    with torch.no_grad():
        net[1].running_mean.uniform_(-1, 1)
        net[1].running_var.uniform_(0.5, 2)
    data = batches()
    # Reference: BN folded into the first layer using its running statistics (eval mode).
    bn = net[1]
    scale = (bn.weight / torch.sqrt(bn.running_var + bn.eps)).detach().double().numpy()
    w1 = net[0].weight.detach().double().numpy()
    b1 = net[0].bias.detach().double().numpy()
    folded = [w1 * scale[:, None], (b1 - bn.running_mean.double().numpy()) * scale + bn.bias.detach().double().numpy(),
              net[3].weight.detach().double().numpy(), net[3].bias.detach().double().numpy()]
    g1_folded, g2 = summed_gradient(folded, data, "relu")
    g1 = g1_folded * scale[:, None]  # chain rule back through the folding
    s1, s2 = np.abs(w1 * g1), np.abs(folded[2] * g2)
    total = s1.sum() + s2.sum()
    scores = masks.scores("snip", net, data=data, prune_classifier=True)
    np.testing.assert_allclose(scores["0.weight"].double().numpy(), s1 / total, rtol=1e-4, atol=1e-9)
    np.testing.assert_allclose(scores["3.weight"].double().numpy(), s2 / total, rtol=1e-4, atol=1e-9)


# ---- GraSP -----------------------------------------------------------------------------
def grasp_reference(net, data, temperature=200.0, step=1e-3):
    """theta * (H g), with H g as a central finite difference of the hand gradient along g."""
    params = numpy_params(net)
    g1, g2 = summed_gradient(params, data, "tanh", temperature)

    def shifted(sign):
        moved = [params[0] + sign * step * g1, params[1], params[2] + sign * step * g2, params[3]]
        return summed_gradient(moved, data, "tanh", temperature)

    plus, minus = shifted(1), shifted(-1)
    hg1, hg2 = (plus[0] - minus[0]) / (2 * step), (plus[1] - minus[1]) / (2 * step)
    return params[0] * hg1, params[2] * hg2


def test_grasp_equals_theta_times_hessian_gradient_by_finite_differences():
    net, data = mlp(nn.Tanh, seed=3), batches(seed=4)
    r1, r2 = grasp_reference(net, data)
    norm = abs(r1.sum() + r2.sum())
    scores = masks.scores("grasp", net, data=data, prune_classifier=True)
    np.testing.assert_allclose(scores["0.weight"].double().numpy(), r1 / norm, rtol=1e-3, atol=1e-6)
    np.testing.assert_allclose(scores["2.weight"].double().numpy(), r2 / norm, rtol=1e-3, atol=1e-6)


def test_grasp_keeps_the_largest_theta_hg_not_the_smallest_nor_the_largest_magnitude():
    net, data = mlp(nn.Tanh, seed=3), batches(seed=4)
    r1, r2 = grasp_reference(net, data)
    reference = np.concatenate([r1.ravel(), r2.ravel()])
    assert (reference > 0).any() and (reference < 0).any(), "a case where the sign matters"
    keep = keep_count(reference.size, 0.3)
    largest = set(np.argsort(-reference)[:keep])
    smallest = set(np.argsort(reference)[:keep])
    by_magnitude = set(np.argsort(-np.abs(reference))[:keep])
    mask = masks.compute("grasp", net, 0.7, data=data, prune_classifier=True)
    kept = set(np.flatnonzero(torch.cat([mask["0.weight"].reshape(-1), mask["2.weight"].reshape(-1)]).numpy()))
    assert kept == largest
    assert kept != smallest and kept != by_magnitude
    inverted = masks.compute("grasp", net, 0.7, data=data, invert=True, prune_classifier=True)
    kept_inverted = set(np.flatnonzero(torch.cat([inverted[n].reshape(-1) for n in ("0.weight", "2.weight")]).numpy()))
    assert kept_inverted == smallest


def test_grasp_does_not_modify_the_model():
    net, data = mlp(nn.Tanh, seed=3), batches(seed=4)
    before = {k: v.clone() for k, v in net.state_dict().items()}
    masks.scores("grasp", net, data=data, prune_classifier=True)
    assert all(torch.equal(before[k], v) for k, v in net.state_dict().items())
    assert all(p.grad is None for p in net.parameters())


# ---- SynFlow ---------------------------------------------------------------------------
def synflow_reference(w1, b1, w2, b2, density, rounds):
    """Iterative SynFlow on y = W2 (W1 x + b1) + b2 by hand: R = 1'(|W2|(|W1| 1 + |b1|) + |b2|),
    dR/d|W1|_ij = sum_k |W2|_ki, dR/d|W2|_ki = (|W1| 1 + |b1|)_i."""
    a1, a2 = np.abs(w1), np.abs(w2)
    keep1, keep2 = np.ones(w1.shape, bool), np.ones(w2.shape, bool)
    total = w1.size + w2.size
    for k in range(1, rounds + 1):
        m1, m2 = a1 * keep1, a2 * keep2
        score1 = m1 * m2.sum(0)[:, None]
        score2 = m2 * (m1.sum(1) + np.abs(b1))[None, :]
        flat = np.concatenate([np.where(keep1, score1, -np.inf).ravel(), np.where(keep2, score2, -np.inf).ravel()])
        chosen = np.zeros(total, bool)
        chosen[np.argsort(-flat, kind="stable")[:keep_count(total, density ** (k / rounds))]] = True
        keep1, keep2 = chosen[:w1.size].reshape(w1.shape), chosen[w1.size:].reshape(w2.shape)
    return keep1, keep2


@pytest.mark.parametrize("rounds", [1, 7])
def test_synflow_equals_hand_computed_flow_on_a_two_layer_linear_net(rounds):
    torch.manual_seed(5)
    net = nn.Sequential(nn.Linear(6, 8), nn.Identity(), nn.Linear(8, 4))
    w1, b1, w2, b2 = numpy_params(net)
    before = {k: v.clone() for k, v in net.state_dict().items()}
    mask = masks.compute("synflow", net, 0.8, rounds=rounds, prune_classifier=True)
    keep1, keep2 = synflow_reference(w1, b1, w2, b2, 0.2, rounds)
    assert np.array_equal(mask["0.weight"].numpy(), keep1) and np.array_equal(mask["2.weight"].numpy(), keep2)
    assert all(torch.equal(before[k], v) for k, v in net.state_dict().items()), "signs restored / model untouched"


def test_synflow_iterative_differs_from_one_shot_and_avoids_collapse():
    # At 1% density one-shot SynFlow gives every weight to the small last layer (its scores are
    # larger) and empties the first: layer collapse. Iterating re-balances the flow.
    torch.manual_seed(0)
    net = nn.Sequential(nn.Linear(64, 64), nn.Identity(), nn.Linear(64, 2))
    one_shot = masks.compute("synflow", net, 0.99, rounds=1, prune_classifier=True)
    iterative = masks.compute("synflow", net, 0.99, rounds=100, prune_classifier=True)
    assert one_shot.num_kept() == iterative.num_kept() == keep_count(64 * 64 + 128, 0.01)
    assert int(one_shot["0.weight"].sum()) == 0
    assert int(iterative["2.weight"].sum()) > 0 and int(iterative["0.weight"].sum()) > 0


def test_synflow_leaves_batchnorm_conv_model_untouched():
    torch.manual_seed(0)
    net = nn.Sequential(nn.Conv2d(2, 4, 3), nn.BatchNorm2d(4), nn.ReLU(), nn.Flatten(), nn.Linear(4 * 6 * 6, 3))
    with torch.no_grad():
        net[1].running_mean.uniform_(-1, 1)
        net[1].bias.uniform_(-1, 1)
    before = {k: v.clone() for k, v in net.state_dict().items()}
    mask = masks.compute("synflow", net, 0.9, rounds=5, input_size=8, prune_classifier=True)
    assert mask.num_kept() == keep_count(mask.num_total(), 0.1)
    assert all(torch.equal(before[k], v) for k, v in net.state_dict().items()) and net.training


def test_synflow_fast_selection_matches_a_stable_sort_with_ties():
    from sparsekit.core.topk import top_k_flat

    generator = torch.Generator().manual_seed(0)
    scores = torch.randint(0, 4, (113,), generator=generator).float()
    scores[:5] = -float("inf")
    for count in (0, 1, 17, 60, 108, 113):
        # Reference: stable descending sort, so equal scores go to the earlier position.
        expected = np.zeros(113, bool)
        expected[np.argsort(-scores.numpy(), kind="stable")[:count]] = True
        assert np.array_equal(top_k_flat(scores, count).numpy(), expected), count


# ---- magnitude and ERK -----------------------------------------------------------------
def test_magnitude_scores_are_absolute_weights():
    net = mlp()
    scores = masks.scores("magnitude", net, prune_classifier=True)
    assert torch.equal(scores["0.weight"], net[0].weight.detach().abs())
    kept = masks.compute("magnitude", net, 0.5, prune_classifier=True)
    flat = torch.cat([net[0].weight.detach().abs().reshape(-1), net[2].weight.detach().abs().reshape(-1)])
    threshold = flat.sort(descending=True).values[keep_count(flat.numel(), 0.5) - 1]
    assert bool((net[0].weight.detach().abs()[kept["0.weight"]] >= threshold).all())


def test_erk_densities_follow_the_formula_by_hand():
    shapes = [(16, 3, 3, 3), (32, 16, 3, 3), (10, 32)]
    raw = [(16 + 3 + 3 + 3) / (16 * 3 * 9), (32 + 16 + 3 + 3) / (32 * 16 * 9), (10 + 32 + 1 + 1) / (10 * 32)]
    sizes = [16 * 27, 32 * 16 * 9, 320]
    scale = 0.1 * sum(sizes) / sum(r * n for r, n in zip(raw, sizes))
    assert max(scale * r for r in raw) < 1  # no capacity clipping in this case
    assert erk_densities(shapes, 0.1) == pytest.approx([scale * r for r in raw])


def test_erk_capacity_check_makes_small_layers_dense_and_rescales_the_rest():
    shapes = [(2, 1), (100, 100), (50, 100)]
    densities = erk_densities(shapes, 0.2)
    assert densities[0] == 1.0
    sizes = [2, 10000, 5000]
    assert sum(d * n for d, n in zip(densities, sizes)) == pytest.approx(0.2 * sum(sizes))
    raw = [(100 + 100 + 2) / 10000, (50 + 100 + 2) / 5000]
    assert densities[1] / densities[2] == pytest.approx(raw[0] / raw[1])
