"""The register-tiled sparse kernel (`sparsekit/export/tiled.py`, `tiled_kernel.py`): exact against F.conv2d and
F.linear on every instruction set this CPU runs (the narrower ones forced), on every layer shape
the model families produce; a step whose kernel cannot be built runs dense; the runtime loads as
lone files in fresh processes again and again, caching compiled kernels in the user's cache
folder, never in the package."""
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from torch import nn
from torch.nn import functional as F

import sparsekit as sk
from sparsekit import masks, models
from sparsekit.export import compiled, export, native_plan, runtime, tiled, tiled_kernel

from test_export_kernels import SHAPES, _case

TOLERANCE = 1e-5  # relative to the largest output (at least 1): only the order of the sums differs
ISAS = tiled_kernel.host_isas()
needs_kernel = pytest.mark.skipif(not ISAS, reason="llvmlite is absent or this is not an x86-64 CPU")
FAMILIES = ["resnet20", "resnet18", "vgg16", "mobilenetv2"]
EXPORT = Path(sk.__file__).parent / "export"
LONE_FILES = ("runtime.py", "compiled.py", "tiled.py", "tiled_kernel.py", "native_plan.py", "native_ops.py")


def _error(got: torch.Tensor, expected: torch.Tensor) -> float:
    return ((got - expected).abs().max() / expected.abs().max().clamp_min(1.0)).item()


@needs_kernel
@pytest.mark.parametrize("isa", ISAS)
@pytest.mark.parametrize("shape", SHAPES)
@pytest.mark.parametrize("density", [0.05, 0.6])
def test_tiled_conv_matches_conv2d_on_every_instruction_set(isa, shape, density):
    weight, bias, x = _case(shape, density)
    stride, padding = shape[5], shape[6]
    expected = F.conv2d(x, weight, bias, stride, padding)
    for vectors in tiled_kernel.VECTOR_COUNTS:
        conv = tiled.TiledSparseConv(weight, bias, stride, padding, vectors, isa)
        assert _error(conv(x), expected) <= TOLERANCE, vectors
        assert torch.equal(conv(x), conv(x))  # the staging buffers are reused: the second call is the same
        conv.relu = True
        assert _error(conv(x), expected.relu()) <= TOLERANCE, vectors
        if stride == 1 and weight.shape[-1] == 2 * padding + 1:  # a same-size conv: the staged layout too
            same = tiled.TiledSameConv(weight, bias, padding, vectors, isa)
            assert _error(same(x), expected) <= TOLERANCE, vectors
            assert _error(same(x, expected), 2 * expected) <= TOLERANCE  # a residual addition
            _check_staged_chain(same, x, expected, isa)


def _check_staged_chain(same, x, expected, isa):
    """A same-size conv's staged output read by a second one, as input and as residual: the
    margins it leaves must be zero, its values those of the tensor."""
    outputs = expected.shape[1]
    generator = torch.Generator().manual_seed(5)
    weight = torch.randn(outputs, outputs, same.kernel_size, same.kernel_size, generator=generator)
    weight *= torch.rand(weight.shape, generator=generator) < 0.5
    bias = torch.randn(outputs, generator=generator)
    second = tiled.TiledSameConv(weight, bias, same.padding, 2, isa)
    same.keep_staged, same.relu = True, True
    staged = same(x)
    first = expected.relu()
    assert isinstance(staged, tiled.Staged) and _error(staged.tensor(), first) <= TOLERANCE
    chained = F.conv2d(first, weight, bias, 1, same.padding)
    assert _error(second(staged), chained) <= TOLERANCE
    assert _error(second(staged, staged), chained + first) <= TOLERANCE
    same.keep_staged, same.relu = False, False


@needs_kernel
@pytest.mark.parametrize("isa", ISAS)
def test_tiled_linear_matches_linear(isa):
    generator = torch.Generator().manual_seed(0)
    for batch, features, outputs in [(1, 512, 10), (3, 40, 7), (65, 33, 5)]:
        weight = torch.randn(outputs, features, generator=generator)
        weight *= torch.rand(weight.shape, generator=generator) < 0.1
        bias, x = torch.randn(outputs, generator=generator), torch.randn(batch, features, generator=generator)
        for vectors in tiled_kernel.VECTOR_COUNTS:
            got = tiled.TiledSparseLinear(weight, bias, vectors, isa)(x)
            assert _error(got, F.linear(x, weight, bias)) <= TOLERANCE


def _reference(source, offsets, weights, starts, bias, positions, residual, keep, relu):
    """The kernel's sum written out: out[row, t] = bias[row] + sum over the row's kept weights of
    weight x source[offset + t], then + residual, ReLU, x keep."""
    out = bias[:, None].double().repeat(1, positions)
    for row in range(len(bias)):
        for entry in range(int(starts[row]), int(starts[row + 1])):
            run = source[int(offsets[entry]):int(offsets[entry]) + positions]
            out[row] += float(weights[entry]) * run.double()
    out = out + residual.double() if residual is not None else out
    out = out.clamp_min(0) if relu else out
    return (out * keep if keep is not None else out).float()


@needs_kernel
@pytest.mark.parametrize("isa", ISAS)
def test_blocked_kernels_cover_every_tile_count_exactly(isa):
    """A blocked count splits its tiles into blocks of two sizes, each size its own pass: every
    count from 1 to past two whole blocks writes every position once and nothing past `tiles`;
    rows keep 0, 1, a few and more weights than their accumulator sets (the grouped loop and
    the remainder loop both run)."""
    generator = torch.Generator().manual_seed(3)
    kept = [0, 1, 3, 8, 13, 29]
    starts = torch.tensor([0] + kept).cumsum(0)
    weights = torch.randn(int(starts[-1]), generator=generator)
    bias = torch.randn(len(kept), generator=generator)
    for vectors in tiled_kernel.BLOCKED:
        function, tile = tiled_kernel.kernel(vectors, isa)
        for tiles in list(range(1, 2 * vectors + 3)) + [5 * vectors - 1]:
            positions = tiles * tile
            source = torch.randn(positions + 40, generator=generator)
            offsets = torch.randint(0, 40, (len(weights),), generator=generator)
            residual = torch.randn(len(kept), positions + 5, generator=generator)  # laid out as `out`
            keep = (torch.rand(positions, generator=generator) < 0.7).float()
            for with_extras in (False, True):
                out = torch.full((len(kept), positions + 5), 7.0)  # past `tiles`: must stay untouched
                extras = (residual, keep, True) if with_extras else (None, None, False)
                function(source.data_ptr(), offsets.data_ptr(), weights.data_ptr(), starts.data_ptr(),
                         bias.data_ptr(), out.data_ptr(), None if extras[0] is None else residual.data_ptr(),
                         None if extras[1] is None else keep.data_ptr(), len(kept), tiles, out.shape[1],
                         int(extras[2]))
                expected = _reference(source, offsets, weights, starts, bias, positions,
                                      None if extras[0] is None else residual[:, :positions], *extras[1:])
                assert _error(out[:, :positions], expected) <= TOLERANCE, (vectors, tiles, with_extras)
                assert (out[:, positions:] == 7.0).all(), (vectors, tiles)


def _layers(family: str):
    """(module, input shape) of every conv and linear the family's network runs at 32x32."""
    torch.manual_seed(0)
    model = models.build(family, 10, width=0.25, input_size=32).eval()
    seen = []
    hooks = [m.register_forward_hook(lambda m, i, o: seen.append((m, tuple(i[0].shape))))
             for m in model.modules() if isinstance(m, (nn.Conv2d, nn.Linear))]
    with torch.no_grad():
        model(torch.zeros(1, 3, 32, 32))
    for hook in hooks:
        hook.remove()
    return seen


@needs_kernel
@pytest.mark.parametrize("family", FAMILIES)
def test_tiled_kernel_is_exact_on_every_layer_shape_of_the_families(family):
    generator = torch.Generator().manual_seed(1)
    shapes = set()
    for module, shape in _layers(family):
        weight = module.weight.detach() * (torch.rand(module.weight.shape, generator=generator) < 0.05)
        bias = torch.randn(weight.shape[0], generator=generator)
        x = torch.randn((2,) + shape[1:], generator=generator)
        if isinstance(module, nn.Linear):
            assert _error(tiled.TiledSparseLinear(weight, bias)(x), F.linear(x, weight, bias)) <= TOLERANCE
            continue
        if module.groups != 1 or (tuple(weight.shape), shape) in shapes:
            continue  # depthwise convs stay dense (one weight per channel and tap: nothing to skip)
        shapes.add((tuple(weight.shape), shape))
        stride, padding = module.stride[0], module.padding[0]
        expected = F.conv2d(x, weight, bias, stride, padding)
        for vectors in tiled_kernel.VECTOR_COUNTS:
            got = tiled.TiledSparseConv(weight, bias, stride, padding, vectors)(x)
            assert _error(got, expected) <= TOLERANCE, (tuple(weight.shape), shape, vectors)


@needs_kernel
def test_the_widest_instruction_set_is_chosen_and_unknown_ones_are_refused():
    assert tiled_kernel.best_isa() == ISAS[0]
    assert set(ISAS) <= set(tiled_kernel.ISAS) and ISAS[-1] == "scalar"
    assert tiled_kernel.kernel(4, "no-such-isa") is None and tiled_kernel.kernel(3) is None
    for isa in set(tiled_kernel.ISAS) - set(ISAS):  # an instruction set this CPU lacks is never built
        assert tiled_kernel.kernel(4, isa) is None
    assembly = tiled_kernel.assembly(ISAS[0])
    assert "vfmadd231ps" in assembly or ISAS[0] == "scalar"


def _network():
    torch.manual_seed(0)
    model = models.build("resnet20", 10, width=0.25).eval()
    mask = masks.compute("random", model, 0.9, seed=0)
    return mask.apply(model), mask


@needs_kernel
def test_the_exporter_times_the_tiled_kernel_and_a_step_it_cannot_build_runs_dense(monkeypatch):
    model, mask = _network()
    x = torch.randn(2, 3, 16, 16, generator=torch.Generator().manual_seed(1))
    net = export(model, mask, input_shape=(3, 16, 16), batch_size=2)
    timed = next(iter(net.report["kernels"].values()))
    assert {f"tiled{v}_ms" for v in tiled_kernel.VECTOR_COUNTS} <= set(timed)
    forced = export(model, mask, input_shape=(3, 16, 16), batch_size=2, kernels_mode="tiled")
    assert any(isinstance(step, tiled.TiledSparseConv) and step.relu for step in forced.steps)  # ReLU fused
    # A residual addition (and the ReLU after it) runs inside the block's second conv.
    assert any(isinstance(step, tiled.WithResidual) and step.relu for step in forced.steps)
    assert not any(type(step) is runtime.Add for step in forced.steps)
    with torch.no_grad():
        expected = model(x)
        assert _error(forced(x), expected) <= 1e-4
        monkeypatch.setattr(tiled, "kernel", lambda *args, **kwargs: None)  # as without llvmlite
        fallback = runtime.from_payload(forced.payload)
        assert not any(isinstance(step, tiled.TiledSparseConv) for step in fallback.steps)
        assert _error(fallback(x), expected) <= 1e-4
        monkeypatch.setattr(runtime, "tiled", None)  # as without the file beside the runtime
        assert _error(runtime.from_payload(forced.payload)(x), expected) <= 1e-4


LONE_SCRIPT = """
import importlib.util, sys, torch
spec = importlib.util.spec_from_file_location("runtime", sys.argv[1])
runtime = importlib.util.module_from_spec(spec); spec.loader.exec_module(runtime)
assert not [m for m in sys.modules if m.startswith("sparsekit")], "sparsekit was imported"
io = torch.load(sys.argv[3])
with torch.no_grad():
    for kernels in ("sparse", "tiled"):
        net = runtime.load_exported(sys.argv[2], kernels=kernels)
        assert (net(io["x"]) - io["expected"]).abs().max() <= 1e-4, kernels
    planned = runtime.from_payload(dict(torch.load(sys.argv[2], weights_only=True), runner="plan"))
    assert (planned(io["x"]) - io["expected"]).abs().max() <= 1e-4
plan = runtime.native_plan is not None and runtime.native_plan.available() and planned._plan_runs(io["x"])
print("ok", runtime.numba is not None, runtime.tiled is not None, plan)
"""


def test_the_lone_runtime_loads_in_fresh_processes_again_and_caches_outside_itself(tmp_path):
    """Copied alone (runtime.py with the files of its kernels and its native plan) into a folder: twice in a row in a
    fresh process (the second reads numba's disk cache), the cache in $XDG_CACHE_HOME."""
    model, mask = _network()
    lone = tmp_path / "serve"
    lone.mkdir()
    for name in LONE_FILES:
        shutil.copy(EXPORT / name, lone / name)
    export(model, mask, input_shape=(3, 16, 16), batch_size=2, path=tmp_path / "net.skx")
    x = torch.randn(2, 3, 16, 16, generator=torch.Generator().manual_seed(1))
    with torch.no_grad():
        torch.save({"x": x, "expected": model(x)}, tmp_path / "io.pt")
    environment = dict(os.environ, XDG_CACHE_HOME=str(tmp_path / "cache"), PYTHONDONTWRITEBYTECODE="1")
    for _ in range(2):
        arguments = [str(lone / "runtime.py"), str(tmp_path / "net.skx"), str(tmp_path / "io.pt")]
        result = subprocess.run([sys.executable, "-c", LONE_SCRIPT] + arguments, capture_output=True, text=True,
                                env=environment, cwd=tmp_path)
        assert result.returncode == 0, result.stderr[-2000:]
        assert result.stdout.split() == ["ok", str(runtime.numba is not None), str(runtime.tiled is not None),
                                         str(native_plan.available())]
    assert sorted(p.name for p in lone.iterdir()) == sorted(LONE_FILES)
    if runtime.numba is not None:
        assert list((tmp_path / "cache" / "sparsekit" / "numba").rglob("*.nbi"))


def test_the_cache_folder_falls_back_to_the_temporary_folder_without_a_usable_home(tmp_path, monkeypatch):
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    assert compiled.cache_folder() == tmp_path / "cache" / "sparsekit"
    (tmp_path / "file").write_text("not a folder")
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "file"))  # unusable, as a read-only home is
    monkeypatch.setenv("TMPDIR", str(tmp_path / "tmp"))
    (tmp_path / "tmp").mkdir()
    monkeypatch.setattr("tempfile.tempdir", None)  # read TMPDIR again
    assert compiled.cache_folder().parent == tmp_path / "tmp"
    monkeypatch.delenv("XDG_CACHE_HOME")
    monkeypatch.delenv("HOME", raising=False)
    monkeypatch.setattr(os.path, "expanduser", lambda path: path)  # no home at all: "~" stays "~"
    assert compiled.cache_folder().parent == tmp_path / "tmp"


def test_exporting_writes_nothing_into_the_installed_package(tmp_path):
    """In a fresh process with no home folder: the export's compiled kernels are cached in the
    temporary folder, and the package folder is left as it was."""
    before = sorted(str(p) for p in EXPORT.rglob("*") if p.suffix in (".nbi", ".nbc"))
    script = ("import torch, sparsekit as sk\n"
              "from sparsekit import masks, models\n"
              "torch.manual_seed(0)\n"
              "model = models.build('resnet20', 10, width=0.25).eval()\n"
              "mask = masks.compute('random', model, 0.9, seed=0)\n"
              "sk.export(model, mask, input_shape=(3, 8, 8), batch_size=2)\n"
              "print('ok')\n")
    environment = {k: v for k, v in os.environ.items() if k not in ("HOME", "XDG_CACHE_HOME")}
    (tmp_path / "file").write_text("not a folder")  # a home nobody can create, even root
    environment.update(TMPDIR=str(tmp_path), PYTHONDONTWRITEBYTECODE="1", HOME=str(tmp_path / "file" / "home"))
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, env=environment,
                            cwd=tmp_path, timeout=600)
    assert result.returncode == 0 and result.stdout.strip() == "ok", result.stderr[-2000:]
    assert sorted(str(p) for p in EXPORT.rglob("*") if p.suffix in (".nbi", ".nbc")) == before
    if runtime.numba is not None:
        assert list(tmp_path.rglob("*.nbi"))


@needs_kernel
def test_same_size_convs_hand_on_their_padded_layout_in_the_exported_network():
    model, mask = _network()
    net = export(model, mask, input_shape=(3, 16, 16), batch_size=3, kernels_mode="tiled")
    assert any(isinstance(step, tiled.TiledSameConv) and step.keep_staged for step in net.steps)
    x = torch.randn(3, 3, 16, 16, generator=torch.Generator().manual_seed(1))
    with torch.no_grad():
        assert _error(net(x), model(x)) <= 1e-4
        assert _error(net(x[:1]), model(x[:1])) <= 1e-4  # another batch size: another layout
