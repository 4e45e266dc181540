"""Your own network: torchvision's and timm's models through masks, every recipe preset,
training, resume and export, with their own module names kept.

Each family is built small (its own classes, a few channels, 8x8 digits or 16x16 inputs) so a
family costs seconds; `models.external.FAMILIES` is the list these tests hold it to.
"""
import dataclasses
import json
from itertools import islice

import pytest
import torch
import torchvision
from torch import nn

import sparsekit as sk
from sparsekit.app.cli import main
from sparsekit.export import export
from sparsekit.export.run_dir import load_run
from sparsekit.export.runtime import load_exported
from sparsekit.models.external import FAMILIES, set_input_channels
from sparsekit.models.traced import conv_bn_pairs
from sparsekit.recipe.ghost_skip import ghost_sites
from sparsekit.recipe.settings import PRESETS
from helpers import Interrupt

timm = pytest.importorskip("timm")
torch.set_num_threads(1)
tv = torchvision.models


def _efficientnet():
    settings, last = tv.efficientnet._efficientnet_conf("efficientnet_b0", width_mult=0.25, depth_mult=0.25)
    return tv.EfficientNet(settings, dropout=0.2, stochastic_depth_prob=0.2, num_classes=10, last_channel=last)


def _vgg():
    """torchvision's VGG class, BN variant, with fewer stages and a small head of one's own
    (its 7x7 adaptive pool stays, so the classifier reads a spatial flatten)."""
    model = tv.VGG(tv.vgg.make_layers([8, "M", 16, "M", 16, 16, "M"], batch_norm=True), num_classes=10)
    model.classifier = nn.Sequential(nn.Linear(16 * 7 * 7, 24), nn.ReLU(True), nn.Dropout(), nn.Linear(24, 10))
    return model


def _blocks(block, widths=(8, 16)) -> nn.Module:
    """A small network of torchvision's own residual blocks (torchvision's ResNet class always
    has 64..512 channels; the full ResNet-18 goes through the command-line test below)."""
    layers = [nn.Conv2d(3, widths[0], 3, padding=1, bias=False), nn.BatchNorm2d(widths[0]), nn.ReLU(inplace=True)]
    channels = widths[0]
    for index, width in enumerate(widths):
        stride, out = (1 if index == 0 else 2), width * block.expansion
        downsample = None
        if stride != 1 or channels != out:
            downsample = nn.Sequential(nn.Conv2d(channels, out, 1, stride=stride, bias=False), nn.BatchNorm2d(out))
        layers.append(block(channels, width, stride=stride, downsample=downsample))
        channels = out
    return nn.Sequential(*layers, nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(channels, 10))


# Family -> a small instance built by the package's own classes, for 1-channel 8x8 digits.
BUILDERS = {
    "torchvision-resnet": lambda: _blocks(tv.resnet.BasicBlock),
    "torchvision-resnet-bottleneck": lambda: _blocks(tv.resnet.Bottleneck, (4, 8)),
    "torchvision-mobilenet_v2": lambda: tv.mobilenet_v2(width_mult=0.25, num_classes=10),
    "torchvision-mobilenet_v3": lambda: tv.mobilenet_v3_small(width_mult=0.25, num_classes=10),
    "torchvision-vgg_bn": _vgg,
    "torchvision-efficientnet": _efficientnet,
    "torchvision-regnet": lambda: tv.RegNet(tv.regnet.BlockParams.from_init_params(
        depth=3, w_0=8, w_a=8.0, w_m=2.0, group_width=8, se_ratio=0.25), num_classes=10, stem_width=8),
    "timm-resnet": lambda: timm.create_model("resnet18", channels=(8, 16, 16, 16), stem_width=8, num_classes=10),
    "timm-resnet-d": lambda: timm.create_model("resnet18d", channels=(8, 16, 16, 16), stem_width=8, num_classes=10,
                                               layers=(1, 1, 1, 1)),
    "timm-mobilenetv3": lambda: timm.create_model("mobilenetv3_small_050", num_classes=10),
}
RELU_FREE = {"torchvision-efficientnet"}  # SiLU only: ghost neurons are refused there


@pytest.fixture(scope="module")
def two_step_digits():
    """Digits in batches of 4, evaluated on one batch of each held-out split: these runs test
    that a family trains and exports, not what it learns, so evaluation stays cheap."""
    bundle = sk.data.load("digits", batch_size=4)
    return dataclasses.replace(bundle, val=list(islice(bundle.val, 1)), test=list(islice(bundle.test, 1)))


def small(family: str) -> nn.Module:
    torch.manual_seed(0)
    model = BUILDERS[family]()
    set_input_channels(model, 1)
    return model


def recipe_for(family: str, preset: str) -> sk.Recipe:
    recipe = sk.Recipe.preset(preset).with_changes(init_iterations=1)
    return recipe.with_changes(ghost_neurons="off") if family in RELU_FREE else recipe


@torch.no_grad()
def randomise_batchnorm(model: nn.Module, seed: int = 1) -> None:
    """Non-trivial BN statistics and affine parameters (and ghost branch weights), so folding
    is really tested rather than folding an identity."""
    generator = torch.Generator().manual_seed(seed)
    for module in model.modules():
        if isinstance(module, nn.BatchNorm2d):
            for tensor, low, high in ((module.running_mean, -0.3, 0.3), (module.running_var, 0.5, 1.5),
                                      (module.weight, 0.5, 1.5), (module.bias, -0.3, 0.3)):
                tensor.copy_(torch.rand(tensor.shape, generator=generator) * (high - low) + low)
        if type(module).__name__ == "GhostBranch":
            module.conv.weight.copy_(torch.randn(module.conv.weight.shape, generator=generator) * 0.1)


def within_tolerance(got, expected) -> bool:
    """1e-4, relative to the logits' scale once they exceed 1 (two steps of training on tiny
    BN batches can leave logits in the hundreds, where float32 itself rounds at 1e-5)."""
    return bool((got - expected).abs().max() <= 1e-4 * max(1.0, float(expected.abs().max())))


def assert_exports_exactly(model, mask, tmp_path, input_size=8):
    model.eval()
    net = export(model, mask, batch_size=2, input_shape=(1, input_size, input_size), kernels_mode="dense",
                 path=tmp_path / "net.skx")
    x = torch.randn(2, 1, input_size, input_size, generator=torch.Generator().manual_seed(2))
    with torch.no_grad():
        expected = mask.apply(model)(x)
        assert within_tolerance(net(x), expected)
        assert within_tolerance(load_exported(tmp_path / "net.skx")(x), expected)
    return net


@pytest.mark.parametrize("family", sorted(BUILDERS))
def test_every_family_masks_and_exports_exactly_with_kept_ghosts(family, tmp_path):
    model = small(family)
    names = [name for name, _ in model.named_parameters()]
    mask = sk.masks.compute("random", model, 0.8, seed=0)
    total = sum(int(k.numel()) for k in mask.values())
    assert sum(int(k.sum()) for k in mask.values()) == round(0.2 * total)
    recipe_for(family, "tost-release").final_architecture(model)
    assert [n for n, _ in model.named_parameters() if "sparsekit_ghosts" not in n] == names  # the user's names
    randomise_batchnorm(model)
    net = assert_exports_exactly(model, mask, tmp_path)
    assert {row["layer"] for row in net.report["layers"]} <= {n.rsplit(".", 1)[0] for n in names}


def test_units_of_torchvision_resnet18_are_found_by_their_names():
    model = tv.resnet18(num_classes=10)
    units = conv_bn_pairs(model)
    assert len(units) == 20 and (units[1].name, units[1].bn) == ("layer1.0.conv1", model.layer1[0].bn1)
    sites = ghost_sites(model)  # J1 and J2 of every basic block; not the stem, not the 1x1 downsamples
    blocks = [block for layer in (model.layer1, model.layer2, model.layer3, model.layer4) for block in layer]
    assert [site.conv for site in sites] == [conv for block in blocks for conv in (block.conv1, block.conv2)]


@pytest.mark.parametrize("preset", PRESETS)
@pytest.mark.parametrize("family", sorted(BUILDERS))
def test_every_preset_trains_every_family_two_steps(family, preset, tmp_path, two_step_digits):
    model = small(family)
    names = [name for name, _ in model.named_parameters()]
    result = sk.train(model=model, data=two_step_digits, mask="random", sparsity=0.8, epochs=1, max_batches=2,
                      batch_size=4, progress=False, recipe=recipe_for(family, preset))
    trained = result.model
    for name, keep in result.mask.items():
        assert torch.all(dict(trained.named_parameters())[name][~keep] == 0), name  # pruned weights stay zero
    ghosts = [n for n, _ in trained.named_parameters() if "sparsekit_ghosts" in n]
    assert [n for n, _ in trained.named_parameters() if "sparsekit_ghosts" not in n] == names
    assert bool(ghosts) == (preset == "tost-release")  # early mode ends on the user's architecture
    if preset == "tost":
        assert not any(type(m).__name__ == "GhostActivation" for m in trained.modules())
        assert all(not m._forward_hooks for m in trained.modules())
    assert_exports_exactly(trained, result.mask, tmp_path)


def test_ghost_neurons_are_refused_where_nothing_is_rectified():
    with pytest.raises(sk.SparsekitError, match="already smooth"):
        sk.train(model=small("torchvision-efficientnet"), dataset="digits", mask="random", epochs=1, max_batches=1,
                 progress=False, recipe="tost")


class FunctionalNet(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv, self.bn, self.fc = nn.Conv2d(1, 4, 3, padding=1), nn.BatchNorm2d(4), nn.Linear(4, 10)

    def forward(self, x):
        x = torch.relu(self.bn(self.conv(x)))
        return self.fc(torch.flatten(nn.functional.adaptive_avg_pool2d(x, 1), 1))


def test_functional_activations_export_but_ghost_neurons_name_them(tmp_path):
    model = FunctionalNet()
    randomise_batchnorm(model)
    assert_exports_exactly(model, sk.masks.compute("random", model, 0.5), tmp_path)
    with pytest.raises(sk.SparsekitError, match="calls a ReLU function at relu"):
        sk.train(model=FunctionalNet(), dataset="digits", mask="random", epochs=1, max_batches=1, progress=False,
                 recipe=sk.Recipe.default().with_changes(ghost_neurons="pswish"))


def test_refused_families_get_one_line_naming_the_module():
    convnext = timm.create_model("convnext_atto", num_classes=10)
    with pytest.raises(sk.SparsekitError, match="module 'stem.1' of type LayerNorm2d"):
        export(convnext, None, input_shape=(3, 32, 32))
    with pytest.raises(sk.SparsekitError, match="ghost skip connections need spatial convolutions followed by"):
        sk.Recipe.release().with_changes(ghost_neurons="off").final_architecture(convnext)
    assert {f.example for f in FAMILIES if not f.works} >= {"convnext_atto"}


@pytest.mark.parametrize("name, message", [
    ("torchvision:resnet9000", "unknown torchvision model 'resnet9000'"),
    ("keras:resnet18", "unknown model package 'keras'"),
])
def test_bad_model_names_get_one_line(name, message):
    with pytest.raises(sk.SparsekitError, match=message):
        sk.models.build(name, 10)


def test_a_width_is_honoured_or_refused():
    with pytest.raises(sk.SparsekitError, match="has no width multiplier"):
        sk.models.build("torchvision:resnet18", 10, width=0.5)
    narrow = sk.models.build("torchvision:mobilenet_v2", 10, in_channels=1, width=0.25)
    assert narrow.features[0][0].in_channels == 1 and narrow.features[0][0].out_channels == 8


def test_resume_of_a_torchvision_run_reaches_the_same_weights(tmp_path):
    settings = dict(model="torchvision:mobilenet_v2", width=0.25, dataset="digits", mask="random", sparsity=0.8,
                    epochs=2, max_batches=2, batch_size=4, progress=False,
                    recipe=sk.Recipe.release().with_changes(init_iterations=1))
    whole = sk.train(**settings, out=str(tmp_path / "whole"))
    with pytest.raises(KeyboardInterrupt):
        sk.train(**settings, out=str(tmp_path / "cut"), callbacks=[Interrupt(1)])
    resumed = sk.train(**settings, out=str(tmp_path / "cut"), resume=True)
    for (name, a), b in zip(whole.model.state_dict().items(), resumed.model.state_dict().values()):
        assert torch.equal(a, b), name


def test_the_command_line_trains_and_exports_torchvision_and_timm(tmp_path, capsys):
    for name in ("torchvision:resnet18", "timm:mobilenetv3_small_050"):
        run = tmp_path / name.split(":")[0]
        assert main(["train", "--model", name, "--dataset", "digits", "--mask", "random", "--sparsity", "0.9",
                     "--recipe", "tost-release", "--init-iterations", "1", "--epochs", "1", "--max-batches", "1",
                     "--no-progress", "--out", str(run)]) == 0
        assert main(["export", str(run), "--out", str(run / "net.skx")]) == 0
        assert json.loads((run / "record.json").read_text())["config"]["model"] == name
        model, mask, shape = load_run(run)  # rebuilt from the name, ghosts kept, the trained weights
        fresh = sk.models.build(name, 10, in_channels=1)  # a checkpoint's zeros as a mask, kept ghosts allowed
        read = sk.Mask.from_file(run / "model.pt", fresh)
        assert set(read) == set(mask) and all(torch.equal(read[n], mask[n]) for n in mask)
        x = torch.randn((2,) + shape, generator=torch.Generator().manual_seed(0))
        with torch.no_grad():
            assert within_tolerance(load_exported(run / "net.skx")(x), mask.apply(model)(x))
    main(["list"])
    listed = capsys.readouterr().out
    assert "torchvision:resnet18" in listed and "timm:convnext_atto" in listed
