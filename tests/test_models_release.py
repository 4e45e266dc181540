"""The ResNets against the public ToST release (github.com/VITA-Group/ToST, LRsI/models/
oresnet.py and resnet.py), and the recipe's ghosts on the bottleneck ResNet-104.

The RELEASE numbers were read off the release's own model classes, instantiated with this
venv's torch in a scratch directory outside the repository, for CIFAR-10 (10 classes):
total parameters, number of convs and BatchNorms, classifier input width, and a hash of the
ordered list of conv weight shapes (registration order, which is also the forward order).
ResNet-56 is the one exception: the release builds depth 56 from bottleneck blocks, while
sparsekit's resnet56 is He et al.'s basic-block network, so its row was read off the
release's class with the block choice forced to its BasicBlock. (The release's own depth-56
bottleneck net: 869,530 parameters, 85 convs.)
"""
import hashlib

import pytest
import torch
from torch import nn

from helpers import FakeState
from sparsekit.models import build
from sparsekit.models.units import Bottleneck
from sparsekit.recipe.ghost_neurons import GhostActivation, GhostNeurons
from sparsekit.recipe.ghost_skip import GhostBranch, GhostSkip

torch.set_num_threads(1)

# name: (parameters, convs, batchnorms, classifier in_features, sha256[:16] of conv shapes)
RELEASE = {
    "resnet20": (272_474, 21, 21, 64, "476835ce85b843d0"),
    "resnet32": (466_906, 33, 33, 64, "044b4b22c03ecf02"),
    "resnet56": (855_770, 57, 57, 64, "f4be282f17f3f462"),
    "resnet104": (1_611_418, 157, 157, 256, "0ab97ade0f82816b"),
    "resnet18": (11_173_962, 20, 20, 512, "dbf8f2f0e57f871c"),
}


def conv_shape_hash(model: nn.Module) -> str:
    convs = [m for m in model.modules() if isinstance(m, nn.Conv2d)]
    text = ";".join("x".join(str(d) for d in conv.weight.shape) for conv in convs)
    return hashlib.sha256(text.encode()).hexdigest()[:16]


@pytest.mark.parametrize("name", sorted(RELEASE))
def test_layer_shapes_and_counts_match_the_release(name):
    model = build(name, 10)
    summary = (sum(p.numel() for p in model.parameters()),
               sum(isinstance(m, nn.Conv2d) for m in model.modules()),
               sum(isinstance(m, nn.BatchNorm2d) for m in model.modules()),
               model.classifier.in_features,
               conv_shape_hash(model))
    assert summary == RELEASE[name]
    assert model(torch.randn(2, 3, 32, 32)).shape == (2, 10)


def test_resnet104_is_17_bottlenecks_per_stage():
    stages = build("resnet104", 10, width=0.25).stages
    assert [len(stage) for stage in stages] == [17, 17, 17]
    assert all(isinstance(block, Bottleneck) for stage in stages for block in stage)


def _largest_conv(model):
    return max((m for m in model.modules() if isinstance(m, nn.Conv2d)), key=lambda c: c.weight.numel())


def test_cifar_resnets_use_the_release_kaiming_fan_out_init():
    # The release re-draws every conv from N(0, 2 / (k * k * out_channels)).
    torch.manual_seed(0)
    conv = _largest_conv(build("resnet104", 10))  # 64x64x3x3: 36,864 draws
    expected_std = (2.0 / (9 * conv.out_channels)) ** 0.5
    assert conv.weight.std().item() == pytest.approx(expected_std, rel=0.03)


def test_resnet18_keeps_pytorch_default_init_as_the_release_does():
    # PyTorch's default conv init is uniform on +-1/sqrt(fan_in) (std bound/sqrt(3)); a
    # Kaiming fan_out re-init would have sqrt(6) times that std and exceed the bound.
    torch.manual_seed(0)
    conv = _largest_conv(build("resnet18", 10))  # 512x512x3x3
    bound = 1.0 / (9 * conv.in_channels) ** 0.5
    assert conv.weight.abs().max().item() <= bound
    assert conv.weight.std().item() == pytest.approx(bound / 3 ** 0.5, rel=0.03)


def _layout(model):
    return ([(n, tuple(p.shape)) for n, p in model.named_parameters()],
            [(n, tuple(b.shape)) for n, b in model.named_buffers()],
            [(n, type(m)) for n, m in model.named_modules()])


def _train_steps(model, tricks, state, steps):
    """Forward/backward on a 2x3x32x32 batch, then the tricks' per-step hook, `steps` times."""
    for _ in range(steps):
        model.zero_grad()
        model(torch.randn(2, 3, 32, 32)).pow(2).mean().backward()
        state.step += 1
        for trick in tricks:
            trick.on_step(state)


@pytest.mark.parametrize("mode", ["keep", "early"])
def test_ghost_skip_and_ghost_neurons_on_resnet104(mode):
    torch.manual_seed(0)
    model = build("resnet104", 10, width=0.125)
    plain_layout = _layout(model)
    state = FakeState(model, total_steps=4)
    tricks = [GhostSkip(alpha=1.0, mode=mode, early_phase=0.5),
              GhostNeurons("pswish", mode=mode, early_phase=0.5)]
    for trick in tricks:
        trick.on_setup(state)
    branches = [m for m in model.modules() if isinstance(m, GhostBranch)]
    ghost_activations = sum(isinstance(m, GhostActivation) for m in model.modules())
    assert len(branches) == 51 and ghost_activations == 1 + 3 * 51  # the stem's, then 3 per block
    _train_steps(model, tricks, state, 1)
    assert all(b.conv.weight.grad is not None and b.conv.weight.grad.abs().sum() > 0 for b in branches)
    _train_steps(model, tricks, state, 3)
    modules = list(model.modules())
    if mode == "keep":
        assert sum(isinstance(m, GhostBranch) for m in modules) == 51
        assert not any(isinstance(m, nn.ReLU) for m in modules)
    else:
        assert _layout(model) == plain_layout
        assert not any(isinstance(m, (GhostBranch, GhostActivation)) for m in modules)
        forgotten = {id(p) for p in state.forgotten}
        assert forgotten == {id(p) for b in branches for p in b.parameters()}
