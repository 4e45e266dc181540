"""The native plan of an exported network (`sparsekit/export/native_plan.py`, `native_ops.py`):
the same outputs as running the steps one by one on every model family, batch sizes and layouts;
each native layout operation against torch; the exporter's timed choice of runner; the runs
that stay step by step (autograd, other dtypes, no llvmlite, files without a runner)."""
import struct
import threading

import pytest
import torch
from torch.nn import functional as F

from sparsekit import masks, models
from sparsekit.core.errors import SparsekitError
from sparsekit.export import export, kernels, load_exported, native_ops, native_plan, runtime, tiled_kernel

needs_native = pytest.mark.skipif(not (tiled_kernel.host_isas() and native_plan.available()),
                                  reason="llvmlite is absent or this is not an x86-64 CPU")
FAMILIES = ["resnet20", "resnet18", "vgg16", "mobilenetv2"]


def _error(got: torch.Tensor, expected: torch.Tensor) -> float:
    return ((got - expected).abs().max() / expected.abs().max().clamp_min(1.0)).item()


SIZES = {"vgg16": 32}  # its five poolings need 32x32; the others run on 16x16


def _masked(family: str):
    torch.manual_seed(0)
    width = {"resnet20": 0.5, "resnet18": 0.25, "vgg16": 0.25, "mobilenetv2": 0.5}[family]
    model = models.build(family, 10, width=width).eval()
    mask = masks.compute("random", model, 0.9, seed=0)
    return mask.apply(model), mask


def _planned(net) -> runtime.ExportedNet:
    return runtime.from_payload(dict(net.payload, runner="plan"))


@needs_native
@pytest.mark.parametrize("family", FAMILIES)
@pytest.mark.parametrize("mode", ["auto", "tiled"])
def test_a_plan_computes_what_the_steps_compute_on_every_family(family, mode):
    model, mask = _masked(family)
    size = SIZES.get(family, 16)
    net = export(model, mask, input_shape=(3, size, size), batch_size=2, kernels_mode=mode)
    planned = _planned(net)
    generator = torch.Generator().manual_seed(1)
    with torch.no_grad():
        for batch in (2, 1, 3):  # each batch size its own plan
            x = torch.randn(batch, 3, size, size, generator=generator)
            expected = planned.run_steps(x)
            got = planned(x)
            assert _error(got, expected) <= 1e-5, batch
            assert _error(got, model(x)) <= 1e-4, batch
            assert torch.equal(planned(x), got)  # the buffers are reused: the second call is the same
        assert len(planned._native_plans) == 3
        for batch in range(4, 8):  # only the most recently used plans are kept
            planned(torch.randn(batch, 3, size, size, generator=generator))
        assert list(planned._native_plans) == [(batch, 3, size, size) for batch in range(4, 8)]


@needs_native
def test_a_plan_reads_its_input_and_returns_a_fresh_tensor():
    model, mask = _masked("resnet20")
    planned = _planned(export(model, mask, input_shape=(3, 16, 16), batch_size=2))
    a, b = torch.randn(2, 3, 16, 16), torch.randn(2, 3, 16, 16)
    with torch.no_grad():
        first = planned(a)
        kept = first.clone()
        planned(b)
        assert torch.equal(first, kept)  # a later call does not overwrite an earlier result
        assert _error(planned(a.transpose(2, 3).contiguous().transpose(2, 3)), first) <= 1e-6  # strided input


@needs_native
def test_runs_a_plan_cannot_serve_go_step_by_step(monkeypatch):
    model, mask = _masked("resnet20")
    planned = _planned(export(model, mask, input_shape=(3, 16, 16), batch_size=2))
    x = torch.randn(2, 3, 16, 16)
    with torch.no_grad():
        planned(x.double().float())
        assert planned._plan_runs(x) and not planned._plan_runs(x.double())
    needing_grad = x.clone().requires_grad_()
    assert not planned._plan_runs(needing_grad)
    monkeypatch.setattr(native_plan, "available", lambda: False)  # as without llvmlite
    with torch.no_grad():
        assert not planned._plan_runs(x)
        assert _error(planned(x), model(x)) <= 1e-4


@needs_native
def test_the_exporter_times_both_runners_and_the_file_keeps_its_choice(tmp_path):
    model, mask = _masked("resnet20")
    net = export(model, mask, input_shape=(3, 16, 16), batch_size=1, path=tmp_path / "net.skx")
    chosen = net.report["runner"]
    assert chosen["steps_ms"] > 0 and chosen["plan_ms"] > 0
    assert chosen["chosen"] == ("plan" if chosen["plan_ms"] < chosen["steps_ms"] else "steps")
    loaded = load_exported(tmp_path / "net.skx")
    assert loaded.runner == chosen["chosen"] == net.runner
    forced = export(model, mask, input_shape=(3, 16, 16), batch_size=1, kernels_mode="tiled")
    assert forced.runner == "steps" and forced.report["runner"]["plan_ms"] is None  # a forced kernel: as asked


def test_a_file_without_a_runner_runs_step_by_step_and_an_unknown_one_is_refused(tmp_path):
    model, mask = _masked("resnet20")
    net = export(model, mask, input_shape=(3, 16, 16), batch_size=1, kernels_mode="dense")
    payload = {key: value for key, value in net.payload.items() if key != "runner"}
    assert runtime.from_payload(payload).runner == "steps"
    torch.save(dict(payload, runner="warp"), tmp_path / "odd.skx")
    with pytest.raises(SparsekitError, match="unknown runner 'warp'"):
        load_exported(tmp_path / "odd.skx")


def test_the_plan_uses_the_tiled_kernel_where_a_sparse_kernel_won_and_keeps_dense_layers():
    steps = [{"op": "conv", "kernel": "csr"}, {"op": "conv", "kernel": "dense"}, {"op": "act"},
             {"op": "linear", "kernel": "tiled", "vectors": 4}]
    timings = {0: {"csr_ms": 1.0, "tiled1_ms": 3.0, "tiled2_ms": 2.0, "kernel": "csr"},
               1: {"dense_ms": 1.0, "tiled4_ms": 5.0, "kernel": "dense"},
               3: {"tiled1_ms": 1.0, "tiled4_ms": 0.5, "kernel": "tiled", "vectors": 4}}
    planned = kernels.as_plan(steps, timings)
    assert planned[0] == {"op": "conv", "kernel": "tiled", "vectors": 2}
    assert planned[1] == steps[1] and planned[2] == steps[2]
    assert planned[3]["vectors"] == 4


# ---- the native layout operations against torch -------------------------------------------------
def _run_map(dst, src, shape, src_strides, dst_strides, src2=None, src2_strides=(0, 0, 0, 0), reduced=(1, 1),
             reduced_strides=(0, 0), mode=0, scale=1.0, relu=False, function="map_op"):
    functions = native_ops.functions()
    address = functions["map_op"] if function == "map_op" else functions["rows_op"][function]
    arguments = torch.tensor([dst.data_ptr(), src.data_ptr(), src2.data_ptr() if src2 is not None else 0, *shape,
                              *src_strides, *dst_strides, *src2_strides, *reduced, *reduced_strides, mode,
                              struct.unpack("<I", struct.pack("<f", scale))[0], int(relu)], dtype=torch.int64)
    records = torch.tensor([[address, native_ops.ARGS_KIND, arguments.data_ptr()]], dtype=torch.int64)
    functions["run_plan"](records.data_ptr(), 1)


@needs_native
@pytest.mark.parametrize("function", ["map_op", 1])
def test_the_native_copy_adds_and_rectifies_any_strided_window(function):
    generator = torch.Generator().manual_seed(0)
    for shape in [(2, 3, 5, 7), (1, 4, 6, 33), (3, 2, 1, 17), (1, 1, 1, 1)]:
        x = torch.randn(shape, generator=generator)
        other = torch.randn(shape, generator=generator)
        out = torch.full((shape[1], shape[0], shape[2], shape[3] + 64), float("nan"))  # room past each row
        window = out[..., :shape[3]].transpose(0, 1)
        _run_map(out, x, shape, x.stride(), window.stride(), function=function)
        assert torch.equal(window, x)
        _run_map(out, x, shape, x.stride(), window.stride(), src2=other, src2_strides=other.stride(), relu=True,
                 function=function)
        assert torch.allclose(window, (x + other).relu())
        assert torch.isnan(out[..., shape[3]:]).all()  # nothing written past the window


@needs_native
def test_the_native_copy_reads_every_second_column_for_strided_convs():
    x = torch.randn(2, 3, 9, 40 + 64)  # the row copy may read one float past its last: room for it
    source = x[..., :40]
    want = source[:, :, ::2, ::2]
    out = torch.zeros(want.shape)
    _run_map(out, x, want.shape, (x.stride(0), x.stride(1), 2 * x.stride(2), 2), out.stride(), function=2)
    assert torch.equal(out, want)


@needs_native
def test_the_native_pools_match_torch():
    x = torch.randn(2, 3, 8, 6)
    mean = torch.zeros(2, 3)
    _run_map(mean, x, (2, 3, 1, 1), (x.stride(0), x.stride(1), 0, 0), (3, 1, 0, 0), reduced=(8, 6),
             reduced_strides=(6, 1), scale=1 / 48)
    assert torch.allclose(mean, x.mean((2, 3)), atol=1e-6)
    pooled = torch.zeros(2, 3, 4, 3)
    _run_map(pooled, x, pooled.shape, (x.stride(0), x.stride(1), 2 * x.stride(2), 2), pooled.stride(),
             reduced=(2, 2), reduced_strides=(6, 1), mode=1)
    assert torch.equal(pooled, F.max_pool2d(x, 2))


@pytest.mark.parametrize("kernel", ["dense", "sparse"])
def test_an_overridden_kernel_reaches_the_layers_and_leaves_the_pooling_windows(kernel):
    """VGG-16's max-pooling steps name a "kernel" too (their window): an override is for layers."""
    model, mask = _masked("vgg16")
    net = export(model, mask, input_shape=(3, 32, 32), batch_size=1, kernels_mode="dense")
    forced = runtime.from_payload(net.payload, kernels=kernel)
    assert [spec["kernel"] for spec in forced.specs if spec["op"] == "maxpool"] == [2] * 5
    x = torch.randn(1, 3, 32, 32, generator=torch.Generator().manual_seed(2))
    with torch.no_grad():
        assert _error(forced(x), model(x)) <= 1e-4


@needs_native
def test_threads_calling_one_network_get_their_own_results():
    model, mask = _masked("resnet20")
    planned = _planned(export(model, mask, input_shape=(3, 16, 16), batch_size=1))
    inputs = [torch.randn(1 + k % 3, 3, 16, 16, generator=torch.Generator().manual_seed(k)) for k in range(12)]
    with torch.no_grad():
        expected = [planned.run_steps(x) for x in inputs]
    results = [None] * len(inputs)

    def work(k):
        with torch.no_grad():
            results[k] = planned(inputs[k])

    threads = [threading.Thread(target=work, args=(k,)) for k in range(len(inputs))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert all(_error(got, want) <= 1e-5 for got, want in zip(results, expected))
