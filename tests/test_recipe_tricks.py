"""Each recipe trick on its own, against reference computations written here."""
import math

import pytest
import torch
from torch import nn
from torch.nn import functional as F

from helpers import FakeState
from sparsekit import Mask, models
from sparsekit.errors import SparsekitError
from sparsekit.models.units import BasicBlock, Bottleneck, ConvBN
from sparsekit.prunable import prunable_parameters
from sparsekit.recipe.ghost_neurons import GhostActivation, GhostNeurons, smooth_function
from sparsekit.recipe.ghost_skip import GhostBranch, GhostSkip, ghost_sites
from sparsekit.recipe.gradinit import gradinit
from sparsekit.recipe.label_smoothing import SmoothedCrossEntropy
from sparsekit.recipe.phase import early_phase_steps, ghost_strength
from sparsekit.recipe.scaled_init import scale_by_density

torch.set_num_threads(1)


# ---- the early phase -------------------------------------------------------------------
def test_early_phase_is_a_fraction_of_the_steps():
    assert early_phase_steps(0.25, 100) == 25 and early_phase_steps(0.001, 100) == 1
    assert early_phase_steps(1.0, 7) == 7
    assert [ghost_strength(s, 0.5, 8) for s in range(6)] == [1.0, 0.75, 0.5, 0.25, 0.0, 0.0]


# ---- ghost neurons ---------------------------------------------------------------------
def test_smooth_functions_match_their_formulas():
    x = torch.linspace(-5, 5, 101, dtype=torch.float64)
    sigmoid = lambda t: 1 / (1 + torch.exp(-t))  # noqa: E731
    assert torch.allclose(smooth_function("swish")(x), x * sigmoid(x))
    assert torch.allclose(smooth_function("pswish", beta=2.0)(x), x * sigmoid(2 * x))
    assert torch.allclose(smooth_function("mish")(x), x * torch.tanh(torch.log1p(torch.exp(x))))
    with pytest.raises(SparsekitError):
        smooth_function("gelu")


def test_ghost_activation_blends_toward_relu_and_keeps_relu6_bound():
    x = torch.linspace(-8, 8, 33, dtype=torch.float64)
    ghost = GhostActivation(nn.ReLU(), smooth_function("pswish", 2.0), "pswish", strength=0.3)
    expected = 0.3 * x * torch.sigmoid(2 * x) + 0.7 * torch.clamp(x, min=0)
    assert torch.allclose(ghost(x), expected)
    ghost6 = GhostActivation(nn.ReLU6(), smooth_function("swish"), "swish", strength=1.0)
    assert torch.allclose(ghost6(x), torch.clamp(x * torch.sigmoid(x), max=6.0))
    # the negative side passes gradient: the point of a ghost neuron
    y = torch.tensor([-1.0], requires_grad=True)
    ghost(y).sum().backward()
    assert y.grad.abs().item() > 0


def test_early_ghost_neurons_end_as_the_original_relu_modules():
    torch.manual_seed(0)
    model = models.build("resnet20", 10, in_channels=1, width=0.25)
    originals = {name: m for name, m in model.named_modules() if isinstance(m, nn.ReLU)}
    state = FakeState(model, total_steps=8)
    hook = GhostNeurons("swish", mode="early", early_phase=0.5)
    hook.on_setup(state)
    assert not any(isinstance(m, nn.ReLU) for m in model.modules())
    ghosts = [m for m in model.modules() if isinstance(m, GhostActivation)]
    assert len(ghosts) == len(originals) and all(g.strength == 1.0 for g in ghosts)
    state.step = 2
    hook.on_step(state)
    assert all(g.strength == 0.5 for g in ghosts)
    state.step = 4
    hook.on_step(state)
    after = {name: m for name, m in model.named_modules() if isinstance(m, nn.ReLU)}
    assert after.keys() == originals.keys() and all(after[n] is originals[n] for n in after)
    assert not any(isinstance(m, GhostActivation) for m in model.modules())


def test_keep_mode_stays_smooth_and_a_model_without_relu_is_refused():
    model = nn.Sequential(nn.Linear(3, 3), nn.ReLU6())
    state = FakeState(model, total_steps=4)
    hook = GhostNeurons("mish", mode="keep", early_phase=0.25)
    hook.on_setup(state)
    state.step = 4
    hook.on_step(state)
    assert isinstance(model[1], GhostActivation) and model[1].strength == 1.0
    with pytest.raises(SparsekitError, match="ReLU"):
        GhostNeurons("mish").on_setup(FakeState(nn.Sequential(nn.Linear(3, 3), nn.Tanh())))


# ---- ghost skip connections ------------------------------------------------------------
def _batch_norm_reference(t):
    mean = t.mean(dim=(0, 2, 3), keepdim=True)
    var = t.var(dim=(0, 2, 3), unbiased=False, keepdim=True)
    return (t - mean) / torch.sqrt(var + 1e-5)


def test_branch_adds_alpha_times_bn_of_a_constant_1x1_conv():
    torch.manual_seed(0)
    unit = ConvBN(3, 5, 3, stride=2, padding=1)
    unit.ghosts.append(GhostBranch(unit.conv, alpha=0.7))
    x = torch.randn(4, 3, 9, 9)
    main = _batch_norm_reference(F.conv2d(x, unit.conv.weight, stride=2, padding=1))
    ghost = _batch_norm_reference(F.conv2d(x, torch.full((5, 3, 1, 1), 1e-4), stride=2))
    assert torch.allclose(unit(x), main + 0.7 * ghost, atol=1e-4)


@pytest.mark.parametrize("name, expected", [
    ("resnet20", 18),  # J1 and J2 in each of the 9 blocks
    ("resnet18", 16),
    ("resnet104", 51),  # the 3x3 conv of each of the 3 x 17 bottlenecks
    ("vgg16", 12),  # every 3x3 conv but the stem
    ("mobilenetv2", 17),  # one per inverted residual's depthwise conv
])
def test_ghost_sites(name, expected):
    model = models.build(name, 10, in_channels=1, width=0.25, input_size=8)
    sites = ghost_sites(model)
    assert len(sites) == expected
    for block in (m for m in model.modules() if isinstance(m, BasicBlock)):
        assert block.conv_bn1 in sites and block.conv_bn2 in sites
        assert all(block.shortcut is not s for s in sites)
    for block in (m for m in model.modules() if isinstance(m, Bottleneck)):
        assert block.conv_bn2 in sites and block.conv_bn1 not in sites and block.conv_bn3 not in sites
        assert all(block.shortcut is not s for s in sites)
    for unit in sites:
        assert unit.conv.kernel_size == (3, 3)


def test_branches_are_never_prunable_and_leave_after_the_early_phase():
    torch.manual_seed(0)
    model = models.build("resnet20", 10, in_channels=1, width=0.25)
    before = prunable_parameters(model)
    names_before = [n for n, _ in model.named_parameters()]
    state = FakeState(model, total_steps=10)
    hook = GhostSkip(alpha=1.0, mode="early", early_phase=0.4)
    hook.on_setup(state)
    branches = [m for m in model.modules() if isinstance(m, GhostBranch)]
    assert len(branches) == 18
    assert prunable_parameters(model).keys() == before.keys()
    assert model(torch.randn(2, 1, 8, 8)).shape == (2, 10)
    state.step = 3
    hook.on_step(state)
    assert all(abs(float(b.alpha) - 0.25) < 1e-7 for b in branches)
    state.step = 4
    hook.on_step(state)
    assert [n for n, _ in model.named_parameters()] == names_before
    assert {id(p) for p in state.forgotten} == {id(p) for b in branches for p in b.parameters()}


def test_keep_mode_keeps_the_branches():
    model = models.build("vgg16", 10, in_channels=1, width=0.25, input_size=8)
    state = FakeState(model, total_steps=4)
    hook = GhostSkip(alpha=1.0, mode="keep")
    hook.on_setup(state)
    state.step = 4
    hook.on_step(state)
    assert sum(isinstance(m, GhostBranch) for m in model.modules()) == 12 and state.forgotten == []
    assert model(torch.randn(2, 1, 8, 8)).shape == (2, 10)


# ---- scaled init -----------------------------------------------------------------------
def test_scaled_init_multiplies_by_one_over_sqrt_density():
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(10, 8), nn.ReLU(), nn.Linear(8, 4))
    keep0 = torch.rand(8, 10) < 0.25
    mask = Mask({"0.weight": keep0, "2.weight": torch.ones(4, 8, dtype=torch.bool)})
    mask.apply(model)
    w0, w2 = model[0].weight.detach().clone(), model[2].weight.detach().clone()
    factors = scale_by_density(model, mask)
    density = keep0.sum().item() / 80
    assert factors["0.weight"] == pytest.approx(1 / math.sqrt(density)) and factors["2.weight"] == 1.0
    assert torch.allclose(model[0].weight, w0 / math.sqrt(density))
    assert torch.equal(model[2].weight, w2)
    assert torch.all(model[0].weight[~keep0] == 0)


# ---- label smoothing -------------------------------------------------------------------
def test_label_smoothing_uses_the_papers_target():
    logits = torch.tensor([[2.0, 0.5, -1.0], [0.0, 1.0, 3.0]])
    labels = torch.tensor([0, 2])
    a, lse = 0.1, [math.log(math.exp(2) + math.exp(0.5) + math.exp(-1)), math.log(1 + math.e + math.exp(3))]
    # paper: 1 - a on the true class, a / (C - 1) = 0.05 on each other class
    first = -(0.9 * (2 - lse[0]) + 0.05 * (0.5 - lse[0]) + 0.05 * (-1 - lse[0]))
    second = -(0.05 * (0 - lse[1]) + 0.05 * (1 - lse[1]) + 0.9 * (3 - lse[1]))
    ours = SmoothedCrossEntropy(a)(logits, labels)
    assert ours.item() == pytest.approx((first + second) / 2, rel=1e-6)
    # PyTorch's label_smoothing spreads a / C over every class: a different target
    theirs = nn.CrossEntropyLoss(label_smoothing=a)(logits, labels)
    assert abs(theirs.item() - ours.item()) > 1e-3
    assert SmoothedCrossEntropy(0.0)(logits, labels).item() == pytest.approx(F.cross_entropy(logits, labels).item())


# ---- gradinit --------------------------------------------------------------------------
class Batches:
    """A fixed list of batches with the `set_epoch` of sparsekit's batch iterables."""

    def __init__(self, batches):
        self.batches = batches

    def set_epoch(self, epoch):
        pass

    def __iter__(self):
        return iter(self.batches)


def _linear_problem(seed=0):
    torch.manual_seed(seed)
    model = nn.Sequential(nn.Linear(6, 3))
    keep = torch.rand(3, 6) < 0.5
    mask = Mask({"0.weight": keep})
    mask.apply(model)
    batches = [(torch.randn(16, 6), torch.randint(0, 3, (16,))) for _ in range(2)]
    return model, mask, batches


def _objective_reference(a_weight, a_bias, weight, bias, keep, batches, eta, gamma):
    """The gradinit objective for a linear model, with its gradient written out by hand:
    dL/dW = (softmax - onehot)^T x / n, dL/db = mean(softmax - onehot)."""
    (x1, y1), (x2, y2) = batches
    w, b = a_weight * weight, a_bias * bias
    error = torch.softmax(x1 @ w.T + b, 1) - F.one_hot(y1, 3).double()
    g_w, g_b = (error.T @ x1) / len(y1) * keep, error.mean(0)
    norm = torch.sqrt((g_w ** 2).sum() + (g_b ** 2).sum())
    if norm > gamma:
        return norm
    w2, b2 = w - eta * g_w / norm, b - eta * g_b / norm
    return F.cross_entropy(x2 @ w2.T + b2, y2)


@pytest.mark.parametrize("gamma", [1e-6, 1e6])  # always the norm step / always the look-ahead step
def test_one_gradinit_iteration_moves_each_scale_against_its_gradient(gamma):
    model, mask, batches = _linear_problem()
    weight, bias = model[0].weight.detach().double().clone(), model[0].bias.detach().double().clone()
    keep = mask["0.weight"].double()
    batches64 = [(x.double(), y) for x, y in batches]
    # reference gradient of the objective w.r.t. each scalar, by central differences
    h = 1e-6
    def obj(aw, ab):  # noqa: E306
        return float(_objective_reference(aw, ab, weight, bias, keep, batches64, 0.1, gamma))
    d_weight = (obj(1 + h, 1.0) - obj(1 - h, 1.0)) / (2 * h)
    d_bias = (obj(1.0, 1 + h) - obj(1.0, 1 - h)) / (2 * h)
    log = gradinit(model, mask, Batches(batches), nn.CrossEntropyLoss(), torch.device("cpu"), iterations=1,
                   lr=0.01, eta=0.1, gamma=gamma)
    # the logged objective is the reference's (so the masked gradient and the branch match)
    assert log["history"][0]["value"] == pytest.approx(obj(1.0, 1.0), rel=1e-4)
    # Adam's first step moves every scalar by lr against the sign of its gradient
    assert log["scales"]["0.weight"] == pytest.approx(1 - 0.01 * math.copysign(1, d_weight), abs=1e-6)
    assert log["scales"]["0.bias"] == pytest.approx(1 - 0.01 * math.copysign(1, d_bias), abs=1e-6)
    assert log["steps_by_objective"] == ({"grad_norm": 1, "lookahead": 0} if gamma < 1 else
                                         {"grad_norm": 0, "lookahead": 1})
    assert torch.allclose(model[0].weight.double(), weight * log["scales"]["0.weight"], atol=1e-7)


def test_gradinit_keeps_zeros_zero_respects_floors_and_restores_bn_stats():
    torch.manual_seed(0)
    model = models.build("resnet20", 10, in_channels=1, width=0.25)
    mask = Mask({n: torch.rand(p.shape) < 0.2 for n, p in prunable_parameters(model).items()})
    mask.apply(model)
    buffers = {n: b.clone() for n, b in model.named_buffers()}
    batches = [(torch.randn(8, 1, 8, 8), torch.randint(0, 10, (8,))) for _ in range(3)]
    log = gradinit(model, mask, Batches(batches), nn.CrossEntropyLoss(), torch.device("cpu"), iterations=12,
                   lr=0.05)
    params = dict(model.named_parameters())
    assert all(torch.all(params[n][~keep] == 0) for n, keep in mask.items())
    scales = log["scales"]
    assert scales.keys() == params.keys() and any(abs(s - 1) > 0.1 for s in scales.values())
    assert all(s >= 0.01 - 1e-7 for n, s in scales.items() if not n.endswith("bias"))
    assert all(s >= 0 for s in scales.values())
    assert all(torch.equal(b, buffers[n]) for n, b in model.named_buffers())
    assert [h["iteration"] for h in log["history"]] == [1, 11, 12]
