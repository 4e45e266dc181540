"""Each recipe trick on its own, against reference computations written here."""
import math

import pytest
import torch
from torch import nn
from torch.nn import functional as F

from helpers import FakeState
from sparsekit import Mask, models
from sparsekit.core.errors import SparsekitError
from sparsekit.models.units import BasicBlock, Bottleneck, ConvBN
from sparsekit.core.prunable import prunable_parameters
from sparsekit.recipe.ghost_neurons import GhostActivation, GhostNeurons, smooth_function
from sparsekit.recipe.ghost_skip import GhostBranch, GhostSkip, ghost_sites
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
    sites = [site.unit for site in ghost_sites(model)]  # a kit model's sites are its ConvBN units
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


# GradInit: tests/test_gradinit_release.py
