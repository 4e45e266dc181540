"""Bad input, by family: networks that cannot take the data's input size, the Python API given
the wrong types, and the judgement calls settled in docs/bad-input.md (a mask file against an
explicit sparsity, resume with overwrite)."""
import math

import pytest
import torch
from torch import nn

import sparsekit as sk
from sparsekit.app.cli import main
from sparsekit.models.input_size import check_runs_on, runs_on, smallest_input

TINY = dict(dataset="digits", model="resnet20", width=0.25, epochs=1, max_batches=1, progress=False, seed=0)


class NeedsTen(nn.Module):
    """Two unpadded 3x3 convs, each followed by a 2x2 max pool: the smallest side it takes is 10
    (10 -> 8 -> 4 -> 2 -> 1; 9 -> 7 -> 3 -> 1 -> 0)."""

    def __init__(self, channels=1, classes=10):
        super().__init__()
        self.features = nn.Sequential(nn.Conv2d(channels, 4, 3), nn.BatchNorm2d(4), nn.ReLU(), nn.MaxPool2d(2),
                                      nn.Conv2d(4, 4, 3), nn.ReLU(), nn.MaxPool2d(2))
        self.classifier = nn.Linear(4, classes)

    def forward(self, x):
        return self.classifier(torch.flatten(nn.functional.adaptive_avg_pool2d(self.features(x), 1), 1))


# ---- other networks ---------------------------------------------------------------------------
def test_the_smallest_input_is_found_exactly():
    net = NeedsTen()
    assert runs_on(net, (1, 9, 9)) is not None and runs_on(net, (1, 10, 10)) is None
    assert smallest_input(net, 1, 8) == 10


def test_a_network_too_big_for_the_data_is_refused_naming_network_size_and_smallest(tmp_path):
    with pytest.raises(sk.SparsekitError) as refused:
        sk.train(**{**TINY, "model": NeedsTen()}, out=str(tmp_path / "run"))
    message = str(refused.value)
    assert "network NeedsTen" in message and "1x8x8 input of digits" in message and "1x10x10" in message
    assert not (tmp_path / "run").exists()


def test_the_check_leaves_the_network_as_it_was():
    net = NeedsTen().train()
    before = {k: v.clone() for k, v in net.state_dict().items()}
    generator = torch.get_rng_state()
    check_runs_on(net, (1, 16, 16), "NeedsTen", "test")
    assert net.training and torch.equal(torch.get_rng_state(), generator)
    assert all(torch.equal(before[k], v) for k, v in net.state_dict().items())  # BN statistics untouched


@pytest.mark.parametrize("model,smallest", [
    ("torchvision:squeezenet1_1", None),  # its pooling runs out of pixels on 8x8
    ("timm:vit_tiny_patch16_224", 224),  # a ViT takes its one size
])
def test_package_networks_that_cannot_take_digits_are_refused_from_the_command_line(tmp_path, capsys, model,
                                                                                     smallest):
    pytest.importorskip(model.split(":")[0])
    assert main(["train", "--model", model, "--epochs", "1", "--max-batches", "1", "--no-progress",
                 "--out", str(tmp_path / "run")]) == 2
    err = capsys.readouterr().err
    assert err.startswith(f"error: network {model} does not run on the 1x8x8 input of digits") and err.count("\n") == 1
    assert f"1x{smallest}x{smallest}" in err if smallest else "the smallest input it takes is" in err
    assert not (tmp_path / "run").exists()


def test_export_refuses_an_input_shape_the_model_cannot_take():
    with pytest.raises(sk.SparsekitError, match=r"does not run on the 1x8x8 input .* 1x10x10"):
        sk.export(NeedsTen(), None, input_shape=(1, 8, 8))


# ---- the Python API, wrong types ------------------------------------------------------------------
def small_model():
    return sk.models.build("resnet20", 10, in_channels=1, width=0.25, input_size=8)


@pytest.mark.parametrize("call,expected", [
    (lambda: sk.load_exported(3.0), "load_exported takes the exported file's path"),
    (lambda: sk.load_exported(None), "load_exported takes the exported file's path"),
    (lambda: sk.export("resnet20"), "export takes a torch nn.Module"),
    (lambda: sk.export(small_model(), mask="random"), "export's mask must be a sparsekit.Mask"),
    (lambda: sk.export(small_model(), None, input_shape=(3, 8, 8)), "has 3 channels, but the model's first layer"),
    (lambda: sk.export(small_model(), None, input_shape=(1, 8)), "must be (channels, height, width)"),
    (lambda: sk.export(small_model(), None, path=42), "export path must be a file path"),
    (lambda: sk.sweep(grid={"seed": [0]}, out=7), "the sweep's out must be a folder's path"),
    (lambda: sk.Recipe.from_dict(["ghost_skip", True]), "a recipe is read from a mapping"),
    (lambda: sk.Recipe.from_dict("tost"), "a recipe is read from a mapping"),
    (lambda: sk.TrainConfig.from_record([("lr", 0.1)]), "a run's settings are read from a mapping"),
    (lambda: sk.results.load(3), "directory must be a folder's path"),
    (lambda: sk.train(**TINY, tensorboard=3), "tensorboard must be text"),
    (lambda: sk.data.load("digits", root=5), "root must be the folder holding the datasets"),
    (lambda: sk.Mask.dense(small_model()).save(5), "mask file must be a path"),
])
def test_wrong_types_raise_one_sparsekit_error(call, expected):
    with pytest.raises(sk.SparsekitError) as refused:
        call()
    assert expected in str(refused.value) and "\n" not in str(refused.value)


def test_export_reads_the_input_shape_the_model_was_built_for():
    net = sk.export(small_model(), None)  # a digits model: (1, 8, 8), not the (3, 32, 32) of CIFAR
    assert net.payload["input_shape"] == [1, 8, 8]


# ---- judgement calls -------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def half_mask(tmp_path_factory):
    model = sk.models.build("resnet20", 10, in_channels=1, width=0.25, input_size=8)
    path = tmp_path_factory.mktemp("mask") / "half.pt"
    sk.masks.compute("random", model, 0.5).save(path)
    return path


def test_a_mask_file_against_an_explicit_sparsity_is_refused(tmp_path, half_mask):
    with pytest.raises(sk.SparsekitError, match=r"sparsity 0.9 was given, but the mask file .* has sparsity 0.50"):
        sk.train(**TINY, sparsity=0.9, mask_file=str(half_mask), out=str(tmp_path / "run"))
    assert not (tmp_path / "run").exists()


def test_a_mask_file_with_its_own_or_no_sparsity_is_trained(half_mask):
    left_out = sk.train(**TINY, mask_file=str(half_mask))
    agreeing = sk.train(**TINY, sparsity=0.5, mask_file=str(half_mask))
    assert math.isclose(left_out["sparsity"], 0.5, abs_tol=0.005) and agreeing.mask.same_as(left_out.mask)


def test_the_cli_mask_file_with_a_contradicting_sparsity_is_one_line(tmp_path, capsys, half_mask):
    assert main(["train", "--epochs", "1", "--max-batches", "1", "--width", "0.25", "--no-progress",
                 "--mask-file", str(half_mask), "--sparsity", "0.95", "--out", str(tmp_path / "run")]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: sparsity 0.95 was given") and err.count("\n") == 1
    assert not (tmp_path / "run").exists()


def test_resume_with_overwrite_is_refused_and_the_finished_run_kept(tmp_path, capsys):
    out = tmp_path / "run"
    sk.train(**TINY, out=str(out))
    before = (out / "record.json").read_text()
    assert main(["train", "--epochs", "1", "--max-batches", "1", "--width", "0.25", "--no-progress",
                 "--out", str(out), "--resume", "--overwrite"]) == 2
    assert "resume and overwrite contradict each other" in capsys.readouterr().err
    assert (out / "record.json").read_text() == before
