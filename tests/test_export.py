"""Export: the exported network computes the masked-dense model's function (max |logit
difference| <= 1e-4) for every model family, with and without the recipe's kept ghosts; dead
units really go; the file loads without sparsekit."""
import subprocess
import sys
from pathlib import Path
from types import SimpleNamespace

import pytest
import torch
from torch import nn

import sparsekit as sk
from sparsekit import masks, models
from sparsekit.export import export, load_exported
from sparsekit.export import storage
from sparsekit.export.runtime import decode_weight
from sparsekit.models.units import Bottleneck, ConvBN, PooledClassifier
from sparsekit.recipe.ghost_neurons import GhostNeurons
from sparsekit.recipe.ghost_skip import GhostBranch, GhostSkip

# Folding BatchNorm into the convolutions reorders the sums, so the error grows with the
# outputs' size and with the CPU's instruction set: judged relative to the largest output.
TOLERANCE = 1e-4
SIZE = 8
RUNTIME = Path(sk.__file__).parent / "export" / "runtime.py"


class TinyBottleneckNet(PooledClassifier):
    """Bottleneck blocks (1x1 -> 3x3 -> 1x1, expansion 4) with identity and projection
    shortcuts, small enough to export in a blink."""

    def __init__(self, num_classes: int = 10):
        super().__init__()
        self.stem, self.stem_act = ConvBN(3, 8, 3, padding=1), nn.ReLU()
        self.blocks = nn.Sequential(Bottleneck(8, 4, 1), Bottleneck(16, 4, 1), Bottleneck(16, 8, 2))
        self._add_head(32, num_classes)

    def body(self, x):
        return self.blocks(self.stem_act(self.stem(x)))


def _build(name: str) -> nn.Module:
    torch.manual_seed(0)
    if name == "bottleneck":
        return TinyBottleneckNet()
    return models.build(name, 10, width=0.25, input_size=SIZE)


@torch.no_grad()
def _randomize_inference_state(model: nn.Module) -> None:
    """BN statistics and ghost branches as training would leave them (not the identity init),
    so the folds are really exercised."""
    generator = torch.Generator().manual_seed(1)
    for module in model.modules():
        if isinstance(module, nn.BatchNorm2d):
            size = module.num_features
            module.running_mean.copy_(torch.rand(size, generator=generator) * 2 - 1)
            module.running_var.copy_(torch.rand(size, generator=generator) + 0.5)
            module.weight.copy_(torch.rand(size, generator=generator) + 0.5)
            module.bias.copy_(torch.rand(size, generator=generator) * 2 - 1)
        elif isinstance(module, GhostBranch):
            module.conv.weight.copy_(torch.randn(module.conv.weight.shape, generator=generator) * 0.3)
            module.alpha.fill_(0.7)


def _with_recipe(model: nn.Module, kind: str) -> nn.Module:
    holder = SimpleNamespace(model=model)
    GhostNeurons(kind, mode="keep").on_setup(holder)
    GhostSkip(mode="keep").on_setup(holder)
    return model


def _max_difference(model: nn.Module, mask, net: nn.Module) -> float:
    """The exported network's largest output error, relative to the largest output (at least 1)."""
    reference = mask.apply(model).eval()
    x = torch.randn(3, 3, SIZE, SIZE, generator=torch.Generator().manual_seed(2))
    with torch.no_grad():
        expected = reference(x)
        return ((net(x) - expected).abs().max() / expected.abs().max().clamp_min(1.0)).item()


FAMILIES = ["resnet20", "resnet32", "resnet56", "resnet104", "resnet18", "vgg16", "mobilenetv2", "bottleneck"]
# With the recipe's kept ghosts: one of each kind of network (the deeper CIFAR ResNets are
# the same blocks as resnet20), each with a different smooth activation.
WITH_RECIPE = [("resnet20", "pswish"), ("resnet18", "mish"), ("vgg16", "swish"), ("mobilenetv2", "pswish"),
               ("bottleneck", "swish")]


@pytest.mark.parametrize("family,kind", [(f, None) for f in FAMILIES] + WITH_RECIPE)
def test_export_matches_the_masked_dense_model(family, kind):
    model = _build(family)
    if kind:
        _with_recipe(model, kind)
    _randomize_inference_state(model)
    mask = masks.compute("random", model, 0.9, seed=3)
    # The kernels in turn over the families, so each is checked on every kind of layer.
    kernel = ("dense", "sparse", "tiled")[FAMILIES.index(family) % 3]
    net = export(model, mask, input_shape=(3, SIZE, SIZE), kernels_mode=kernel)
    assert _max_difference(model, mask, net) <= TOLERANCE
    activations = {s["kind"] for s in net.payload["steps"] if s["op"] == "act"}
    assert activations == ({kind} if kind else ({"relu6"} if family == "mobilenetv2" else {"relu"}))
    report = net.report
    assert report["nonzero_after_fold"] == report["nonzero_masked"] + report["ghost_centre_taps_added"]
    assert (report["ghost_centre_taps_added"] > 0) == bool(kind)


def _dead_output_mask(model, layer: str, channels):
    mask = sk.Mask.dense(model)
    mask[layer + ".conv.weight"][channels] = False
    return mask


@pytest.mark.parametrize("bias_sign,removed", [(-1.0, True), (1.0, False)])
def test_dead_channels_go_unless_a_padded_conv_reads_their_constant(bias_sign, removed):
    """A fully pruned row outputs its BN bias through ReLU: negative bias -> 0 -> removable;
    positive -> a constant the next 3x3 conv's zero padding makes position-dependent, so it
    must stay. Either way the function is unchanged."""
    model = _build("resnet20")
    _randomize_inference_state(model)
    unit = model.stages[0][0].conv_bn1
    with torch.no_grad():
        unit.bn.bias[:2] = bias_sign * 5.0
    mask = _dead_output_mask(model, "stages.0.0.conv_bn1", [0, 1])
    net = export(model, mask, input_shape=(3, SIZE, SIZE), kernels_mode="dense")
    assert _max_difference(model, mask, net) <= TOLERANCE
    layer = next(row for row in net.report["layers"] if row["layer"] == "stages.0.0.conv_bn1")
    width = unit.conv.out_channels
    assert layer["out"] == (width, width - 2 if removed else width)


def test_channels_nothing_reads_are_removed_from_the_producer():
    """Input channels that no kept weight of the only consumer reads disappear from the
    producing conv too (a 1x1 expand whose output the depthwise+project never use)."""
    model = _build("mobilenetv2")
    _randomize_inference_state(model)
    mask = sk.Mask.dense(model)
    block = "features.3"
    mask[f"{block}.project.conv.weight"][:, :5] = False  # project reads hidden channels 5.. only
    net = export(model, mask, input_shape=(3, SIZE, SIZE), kernels_mode="dense")
    assert _max_difference(model, mask, net) <= TOLERANCE
    rows = {row["layer"]: row for row in net.report["layers"]}
    hidden = model.features[3].expand.conv.out_channels
    assert rows[f"{block}.expand"]["out"] == (hidden, hidden - 5)


def test_file_round_trip_and_standalone_runtime(tmp_path):
    model = _with_recipe(_build("resnet20"), "pswish")
    _randomize_inference_state(model)
    mask = masks.compute("random", model, 0.95, seed=0)
    path = tmp_path / "net.skx"
    net = export(model, mask, path=path, input_shape=(3, SIZE, SIZE))
    x = torch.randn(2, 3, SIZE, SIZE)
    with torch.no_grad():
        expected = net(x)
        assert torch.equal(load_exported(path)(x), expected)
    torch.save({"x": x, "expected": expected}, tmp_path / "io.pt")
    script = (
        "import importlib.util, sys, torch\n"
        f"spec = importlib.util.spec_from_file_location('runtime', {str(RUNTIME)!r})\n"
        "runtime = importlib.util.module_from_spec(spec); spec.loader.exec_module(runtime)\n"
        f"io = torch.load({str(tmp_path / 'io.pt')!r})\n"
        f"net = runtime.load_exported({str(path)!r})\n"
        "assert isinstance(net, torch.nn.Module)\n"
        "assert not [m for m in sys.modules if m.startswith('sparsekit')], 'sparsekit was imported'\n"
        "with torch.no_grad():\n"
        "    assert (net(io['x']) - io['expected']).abs().max() <= 1e-6\n"
        "print('ok')\n")
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, cwd=tmp_path)
    assert result.returncode == 0 and result.stdout.strip() == "ok", result.stderr[-2000:]


@pytest.mark.parametrize("density,encoding", [(0.01, "csr"), (0.4, "bitmask"), (1.0, "dense")])
def test_storage_picks_the_smallest_encoding_and_decodes_exactly(density, encoding):
    generator = torch.Generator().manual_seed(0)
    weight = torch.randn(64, 32, 3, 3, generator=generator)
    weight *= torch.rand(weight.shape, generator=generator) < density
    stored = storage.encode_weight(weight)
    assert stored["encoding"] == encoding
    assert torch.equal(decode_weight(stored), weight)
    kept = int((weight != 0).sum())
    # Independent byte counts: values + int16 columns + int32 row pointers; 1 bit per weight + values.
    expected = {"csr": kept * 6 + 65 * 4, "bitmask": weight.numel() // 8 + kept * 4, "dense": weight.numel() * 4}
    assert storage.stored_bytes(stored) == expected[encoding]


def test_bad_input_is_one_line():
    model = _build("resnet20")
    with pytest.raises(sk.SparsekitError, match="batch_size"):
        export(model, None, batch_size=0)
    with pytest.raises(sk.SparsekitError, match="does not support module"):
        export(nn.Sequential(nn.Conv2d(3, 4, 3), nn.Tanh()), None)


@pytest.fixture(scope="module")
def kept_ghost_run(tmp_path_factory):
    """A two-batch digits run with the release's kept ghosts (pswish + ghost skips)."""
    out = tmp_path_factory.mktemp("run")
    recipe = sk.Recipe(ghost_neurons="pswish", ghost_neurons_mode="keep", ghost_skip=True, ghost_skip_mode="keep")
    result = sk.train(dataset="digits", model="resnet20", mask="random", sparsity=0.9, epochs=1, max_batches=2,
                      width=0.25, progress=False, out=str(out), recipe=recipe)
    return out, result


def test_cli_exports_a_run_with_kept_ghosts_and_checks_onnx(kept_ghost_run, tmp_path, capsys):
    from sparsekit.app.cli import main

    run_dir, result = kept_ghost_run
    out, onnx = tmp_path / "net.skx", tmp_path / "net.onnx"
    assert main(["export", str(run_dir), "--out", str(out), "--onnx", str(onnx)]) == 0
    printed = capsys.readouterr().out
    assert "kernels at batch 1" in printed and "onnxruntime vs PyTorch" in printed and onnx.is_file()
    x = torch.randn(5, 1, 8, 8)
    with torch.no_grad():
        assert (load_exported(out)(x) - result.model.eval()(x)).abs().max() <= TOLERANCE


def test_a_run_exports_from_its_record_without_the_dataset_files(kept_ghost_run, tmp_path):
    """The record carries the network's construction arguments: a run whose dataset's files are
    not on this machine (a CIFAR run, say) exports; a record without them reads the dataset."""
    import json
    import shutil

    from sparsekit.export.run_dir import load_run

    run_dir, result = kept_ghost_run
    moved = tmp_path / "elsewhere"
    shutil.copytree(run_dir, moved)
    record = json.loads((moved / "record.json").read_text())
    assert record["network"] == {"model": "resnet20", "num_classes": 10, "in_channels": 1, "input_size": 8,
                                 "width": 0.25}
    record["config"].update(dataset="cifar10", data_root=str(tmp_path / "no-cifar-here"))
    (moved / "record.json").write_text(json.dumps(record))
    model, _, shape = load_run(moved)
    x = torch.randn(3, 1, 8, 8)
    with torch.no_grad():
        assert shape == (1, 8, 8) and torch.equal(model(x), result.model.eval()(x))
    record["config"].update(dataset="digits", data_root="data")
    del record["network"]  # as records written before the network was recorded
    (moved / "record.json").write_text(json.dumps(record))
    assert load_run(moved)[2] == (1, 8, 8)


def test_cli_bad_input_is_one_line(kept_ghost_run, tmp_path, capsys):
    from sparsekit.app.cli import main

    run_dir, _ = kept_ghost_run
    existing = tmp_path / "exists.skx"
    existing.write_text("keep me")
    unfinished = tmp_path / "unfinished"
    unfinished.mkdir()
    (unfinished / "record.json").write_text('{"format": "sparsekit.record/1", "finished": false, "config": {}}')
    cases = [([str(tmp_path / "nowhere"), "--out", str(tmp_path / "a.skx")], "run directory not found"),
             ([str(unfinished), "--out", str(tmp_path / "a.skx")], "is unfinished"),
             ([str(run_dir), "--out", str(existing)], "already exists; pass --overwrite"),
             ([str(run_dir), "--out", str(tmp_path / "a.skx"), "--batch-size", "0"], "batch_size must be")]
    for args, expected in cases:
        assert main(["export", *args]) == 2
        err = capsys.readouterr().err.strip()
        assert err.startswith("error: ") and expected in err and "\n" not in err
    assert existing.read_text() == "keep me" and not (tmp_path / "a.skx").exists()


def test_latency_panel_measures_what_its_controls_say():
    from sparsekit.app.widgets import latency_panel

    panel = latency_panel(models=["resnet20"], width=0.25, input_size=8, rounds=1)
    panel.method.value, panel.sparsity.value, panel.batch.value = "erk", 0.9, 8
    row = panel.measure()
    assert (row["model"], row["mask"], row["sparsity"], row["batch"], row["threads"]) == ("resnet20", "erk", 0.9, 8, 1)
    assert row["max_diff"] <= TOLERANCE and f"{row['ratio']:.2f}x" in panel.status.value


@pytest.mark.parametrize("kind", ["swish", "pswish", "mish"])
@pytest.mark.parametrize("original", [nn.ReLU, nn.ReLU6])
@pytest.mark.parametrize("strength", [1.0, 0.3])
def test_runtime_activation_is_the_ghost_neuron(kind, original, strength):
    """Ghost neurons export as their own smooth function (clipped for ReLU6), also part-way
    through an early phase (strength < 1)."""
    from sparsekit.export.fold import activation_spec
    from sparsekit.export.runtime import Activation
    from sparsekit.recipe.ghost_neurons import GhostActivation, smooth_function

    ghost = GhostActivation(original(), smooth_function(kind, 1.5), kind, strength=strength, beta=1.5)
    spec = activation_spec(ghost)
    x = torch.linspace(-8, 8, 401)
    assert (Activation(**spec)(x) - ghost(x)).abs().max() <= 1e-5


def test_loading_a_missing_or_foreign_file_is_one_line(tmp_path):
    with pytest.raises(sk.SparsekitError, match="not found"):
        sk.load_exported(tmp_path / "missing.skx")
    torch.save({"format": "something else"}, tmp_path / "foreign.pt")
    with pytest.raises(sk.SparsekitError, match="not a usable sparsekit exported network"):
        sk.load_exported(tmp_path / "foreign.pt")


def test_export_reads_the_recipe_through_its_declarations_not_its_classes():
    """Which ghosts survive training is the tricks' declaration (`Recipe.final_architecture`);
    export reads the modules through `folded_parts` / `export_spec`, so a new trick needs no
    change in export/."""
    import ast

    for path in sorted((Path(sk.__file__).parent / "export").glob("*.py")):
        tree = ast.parse(path.read_text())
        imported = [node.module or "" for node in ast.walk(tree) if isinstance(node, ast.ImportFrom)]
        assert not [m for m in imported if m.startswith("recipe.") or ".recipe." in m], path.name
        names = {n.id for n in ast.walk(tree) if isinstance(n, ast.Name)}
        assert not names & {"GhostBranch", "GhostActivation", "GhostSkip", "GhostNeurons"}, path.name
    model = models.build("resnet20", 10, in_channels=1, width=0.25, input_size=8)
    sk.Recipe.release().final_architecture(model)
    kinds = {type(m).__name__ for m in model.modules()}
    assert {"GhostBranch", "GhostActivation"} <= kinds
    plain = models.build("resnet20", 10, in_channels=1, width=0.25, input_size=8)
    sk.Recipe.tost().final_architecture(plain)  # annealed away: nothing survives
    assert not {"GhostBranch", "GhostActivation"} & {type(m).__name__ for m in plain.modules()}
