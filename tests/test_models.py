"""The model zoo: shapes, the conventions the recipes rely on, and known parameter counts."""
import pytest
import torch
import torch.nn.functional as F
from torch import nn

from sparsekit.core.errors import SparsekitError
from sparsekit.models import available, build
from sparsekit.models.units import ConvBN

EXPECTED_NAMES = ["mobilenetv2", "resnet104", "resnet18", "resnet20", "resnet32", "resnet56", "vgg16"]
SMALL_WIDTH = 0.25


def small_model(name, in_channels=3, input_size=8, num_classes=5):
    return build(name, num_classes, in_channels=in_channels, width=SMALL_WIDTH, input_size=input_size)


def parameter_count(model):
    return sum(p.numel() for p in model.parameters())


class CallCounter(nn.Module):
    """Stands in for an activation: counts its calls, passes the input through unchanged."""

    def __init__(self):
        super().__init__()
        self.calls = 0

    def forward(self, x):
        self.calls += 1
        return x


def swap_activations_for_counters(model):
    counters = []
    for parent in list(model.modules()):
        for child_name, child in list(parent.named_children()):
            if isinstance(child, (nn.ReLU, nn.ReLU6)):
                counter = CallCounter()
                setattr(parent, child_name, counter)
                counters.append(counter)
    return counters


def test_available_lists_every_model_sorted():
    assert available() == EXPECTED_NAMES


@pytest.mark.parametrize("name", EXPECTED_NAMES)
@pytest.mark.parametrize("in_channels,input_size", [(1, 8), (3, 32), (3, 64)])
def test_forward_shape_and_backward(name, in_channels, input_size):
    torch.manual_seed(0)
    model = small_model(name, in_channels, input_size, num_classes=7)
    x = torch.randn(2, in_channels, input_size, input_size)
    out = model(x)
    assert out.shape == (2, 7)
    out.sum().backward()
    assert all(p.grad is not None for p in model.parameters())


@pytest.mark.parametrize("name", ["vgg16", "mobilenetv2"])
def test_downsampling_stops_at_one_pixel(name):
    model = small_model(name, in_channels=1, input_size=2)
    assert model(torch.randn(2, 1, 2, 2)).shape == (2, 5)


def test_vgg_leaves_out_pools_that_would_go_below_one_pixel():
    def pools(input_size):
        return sum(isinstance(m, nn.MaxPool2d) for m in small_model("vgg16", input_size=input_size).modules())

    assert (pools(8), pools(32), pools(64)) == (3, 5, 5)


@pytest.mark.parametrize("name", EXPECTED_NAMES)
def test_activations_are_modules_called_in_forward(name, monkeypatch):
    model = small_model(name)
    counters = swap_activations_for_counters(model)
    assert counters
    # With every activation module swapped out, any functional call left would be hard-coded.
    def forbidden(*args, **kwargs):
        raise AssertionError("functional activation called in forward")

    for module, attribute in [(F, "relu"), (F, "relu6"), (F, "hardtanh"), (torch, "relu"), (torch, "relu_")]:
        monkeypatch.setattr(module, attribute, forbidden)
    model(torch.randn(2, 3, 8, 8))
    assert all(counter.calls >= 1 for counter in counters)
    assert len({id(counter) for counter in counters}) == len(counters)


@pytest.mark.parametrize("name", EXPECTED_NAMES)
def test_every_conv_sits_in_a_convbn(name):
    model = small_model(name)
    wrapped = {id(m.conv) for m in model.modules() if isinstance(m, ConvBN)}
    convs = [m for m in model.modules() if isinstance(m, nn.Conv2d)]
    assert convs and all(id(conv) in wrapped for conv in convs)
    assert all(m.conv.bias is None for m in model.modules() if isinstance(m, ConvBN))


@pytest.mark.parametrize("name", EXPECTED_NAMES)
def test_first_conv_takes_the_input_and_last_linear_is_the_classifier(name):
    model = build(name, 9, in_channels=2, width=SMALL_WIDTH, input_size=8)
    first_conv = next(m for m in model.modules() if isinstance(m, nn.Conv2d))
    last_linear = [m for m in model.modules() if isinstance(m, nn.Linear)][-1]
    assert first_conv.in_channels == 2
    assert last_linear.out_features == 9 and last_linear is model.classifier


def ghost_branch(channels):
    return nn.Sequential(nn.Conv2d(channels, channels, 1, bias=False), nn.BatchNorm2d(channels))


def test_ghost_branch_adds_to_convbn_and_clearing_restores_it():
    torch.manual_seed(0)
    unit = ConvBN(4, 4, 3, padding=1).eval()
    x = torch.randn(2, 4, 6, 6)
    plain = unit(x)
    unit.ghosts.append(ghost_branch(4).eval())
    assert not torch.allclose(unit(x), plain)
    unit.ghosts = nn.ModuleList()
    assert torch.equal(unit(x), plain)


def test_ghost_branch_inside_a_resnet_block():
    torch.manual_seed(0)
    model = small_model("resnet20").eval()
    block = model.stages[0][1]
    x = torch.randn(2, 3, 8, 8)
    plain = model(x)
    block.conv_bn2.ghosts.append(ghost_branch(block.conv_bn2.conv.in_channels).eval())
    assert not torch.allclose(model(x), plain)
    block.conv_bn2.ghosts.pop(0)
    assert torch.equal(model(x), plain)


def resnet20_parameters_by_hand(num_classes=10):
    """ResNet-20 with projection shortcuts, counted from the paper's layout."""
    def conv_bn(kernel, c_in, c_out):
        return kernel * kernel * c_in * c_out + 2 * c_out  # bias-free conv + BN scale and shift

    total = conv_bn(3, 3, 16)
    c_in = 16
    for planes in (16, 32, 64):
        for _ in range(3):
            total += conv_bn(3, c_in, planes) + conv_bn(3, planes, planes)
            if c_in != planes:
                total += conv_bn(1, c_in, planes)
            c_in = planes
    return total + 64 * num_classes + num_classes


def test_resnet20_parameter_count():
    count = parameter_count(build("resnet20", 10))
    assert count == resnet20_parameters_by_hand()
    assert 0.27e6 <= count <= 0.28e6  # the paper's 0.27M plus two small projections


def test_vgg16_parameter_count():
    # 13 bias-free 3x3 convs with BN, then Linear(512, 10): the usual CIFAR count of 14,728,266
    # minus the 4,224 conv biases that BatchNorm makes redundant.
    widths = [64, 64, 128, 128, 256, 256, 256] + [512] * 6
    by_hand = sum(9 * c_in * c_out + 2 * c_out for c_in, c_out in zip([3] + widths, widths)) + 512 * 10 + 10
    assert parameter_count(build("vgg16", 10)) == by_hand == 14_724_042


def test_resnet18_parameter_count():
    assert parameter_count(build("resnet18", 10)) == 11_173_962  # the common CIFAR ResNet-18


def test_mobilenetv2_parameter_count():
    assert 2.2e6 <= parameter_count(build("mobilenetv2", 10)) <= 2.3e6


def test_width_scales_channels():
    first_conv = next(m for m in build("resnet20", 10, width=0.5).modules() if isinstance(m, nn.Conv2d))
    assert first_conv.out_channels == 8


def test_unknown_name_lists_the_valid_ones():
    with pytest.raises(SparsekitError) as raised:
        build("resnet7", 10)
    message = str(raised.value)
    assert "\n" not in message and all(name in message for name in EXPECTED_NAMES)


@pytest.mark.parametrize("argument,value", [("num_classes", 0), ("in_channels", -1), ("input_size", 0),
                                            ("width", 0.0), ("width", -0.5), ("num_classes", 2.5)])
def test_bad_arguments_raise_one_line_errors(argument, value):
    kwargs = dict(num_classes=10, in_channels=3, width=1.0, input_size=32)
    kwargs[argument] = value
    with pytest.raises(SparsekitError, match=argument) as raised:
        build("resnet20", **kwargs)
    assert "\n" not in str(raised.value)


@pytest.mark.parametrize("name", EXPECTED_NAMES)
def test_same_seed_gives_identical_weights(name):
    def weights(seed):
        torch.manual_seed(seed)
        return small_model(name).state_dict()

    first, second, other = weights(3), weights(3), weights(4)
    assert all(torch.equal(first[key], second[key]) for key in first)
    assert any(not torch.equal(first[key], other[key]) for key in first)
