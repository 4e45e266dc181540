"""The sparse conv kernels of the exported runtime against F.conv2d: the direct kernel (numba)
on every route it takes, and torch's CSR route, which runs wherever numba is absent."""
import pytest
import torch
from torch.nn import functional as F

from sparsekit import masks
from sparsekit.export import export, runtime
from sparsekit.models import build

TOLERANCE = 1e-4
# (batch, in, out, size, kernel, stride, padding): same-size planes, strided, unpadded, wide
# padding, 1x1 and 5x5 taps, and planes small enough for the im2col route.
SHAPES = [(2, 6, 5, 12, 3, 1, 1), (3, 6, 5, 11, 3, 2, 1), (2, 6, 5, 10, 1, 2, 0), (2, 5, 7, 9, 3, 1, 0),
          (1, 3, 4, 12, 5, 1, 2), (2, 3, 4, 12, 3, 1, 2), (2, 3, 4, 13, 3, 3, 2), (3, 8, 6, 4, 3, 1, 1),
          (1, 8, 6, 12, 1, 1, 0)]


def _case(shape, density, seed=0):
    batch, channels, outputs, size, k, _, _ = shape
    generator = torch.Generator().manual_seed(seed)
    weight = torch.randn(outputs, channels, k, k, generator=generator)
    weight *= torch.rand(weight.shape, generator=generator) < density
    weight[0] = 0  # an output channel with no kept weight: bias only
    return weight, torch.randn(outputs, generator=generator), torch.randn(batch, channels, size, size,
                                                                           generator=generator)


@pytest.mark.parametrize("shape", SHAPES)
@pytest.mark.parametrize("density", [0.05, 0.6])
def test_sparse_kernels_match_conv2d(shape, density):
    weight, bias, x = _case(shape, density)
    stride, padding = shape[5], shape[6]
    expected = F.conv2d(x, weight, bias, stride, padding)
    assert (runtime.SparseConv(weight, bias, stride, padding)(x) - expected).abs().max() <= TOLERANCE
    if runtime.numba is None:
        pytest.skip("numba is not installed: the direct kernel is not used")
    direct = runtime.DirectSparseConv(weight, bias, stride, padding)
    assert (direct(x) - expected).abs().max() <= TOLERANCE
    fused = runtime.DirectSparseConv(weight, bias, stride, padding, relu=True)
    assert (fused(x) - expected.relu()).abs().max() <= TOLERANCE
    flat = runtime.DirectSparseConv(weight, bias, stride, padding, flat=True)  # the all-images route at any size
    assert (flat(x) - expected).abs().max() <= TOLERANCE
    flat.CHUNK_INPUTS = 1  # one image per chunk of the all-images route
    assert (flat(x) - expected).abs().max() <= TOLERANCE


def test_the_parallel_build_computes_what_the_serial_one_does():
    """One thread runs the serial build of the compiled loops, more threads the parallel one:
    both must give the same planes, bit for bit (each plane is summed in the same order)."""
    if runtime.numba is None:
        pytest.skip("numba is not installed: the direct kernel is not used")
    previous = torch.get_num_threads()
    outputs = []
    for shape in SHAPES[:2] + SHAPES[-2:]:
        weight, bias, x = _case(shape, 0.3)
        conv = runtime.DirectSparseConv(weight, bias, shape[5], shape[6])
        try:
            for threads in (1, 2):
                torch.set_num_threads(threads)
                outputs.append(conv(x))
        finally:
            torch.set_num_threads(previous)
        assert torch.equal(outputs[-2], outputs[-1]), shape


def test_every_kernel_choice_gives_the_masked_network():
    torch.manual_seed(0)
    model = build("resnet20", 10, width=0.25).eval()
    mask = masks.compute("random", model, 0.9, seed=0)
    mask.apply(model)
    x = torch.randn(2, 3, 16, 16, generator=torch.Generator().manual_seed(1))
    net = export(model, mask, input_shape=(3, 16, 16), batch_size=2)
    with torch.no_grad():
        expected = model(x)
        for kernels in (None, "dense", "sparse", "sparse_flat", "csr", runtime.TILED):
            rebuilt = runtime.from_payload(net.payload, kernels=kernels)
            assert (rebuilt(x) - expected).abs().max() <= TOLERANCE, kernels
    if runtime.numba is not None:  # a ReLU after a direct conv runs inside it
        rebuilt = runtime.from_payload(net.payload, kernels="sparse")
        assert any(isinstance(step, runtime.DirectSparseConv) and step.relu for step in rebuilt.steps)
        chosen = {row["kernel"] for row in net.report["kernels"].values()}
        assert chosen <= set(runtime.SPARSE_KERNELS) | {"dense", runtime.TILED}


def test_without_numba_the_runtime_runs_the_csr_route(monkeypatch):
    torch.manual_seed(0)
    model = build("resnet20", 10, width=0.25).eval()
    mask = masks.compute("random", model, 0.9, seed=0)
    mask.apply(model)
    net = export(model, mask, input_shape=(3, 8, 8), batch_size=2, kernels_mode="sparse")
    monkeypatch.setattr(runtime, "numba", None)
    rebuilt = runtime.from_payload(net.payload)
    assert not any(isinstance(step, runtime.DirectSparseConv) for step in rebuilt.steps)
    assert any(isinstance(step, runtime.SparseConv) for step in rebuilt.steps)
    x = torch.randn(2, 3, 8, 8, generator=torch.Generator().manual_seed(1))
    with torch.no_grad():
        assert (rebuilt(x) - model(x)).abs().max() <= TOLERANCE


def test_the_kernel_race_stops_timing_a_candidate_twice_as_slow_after_two_rounds():
    """A fake clock: each candidate's call advances it by the candidate's cost, so the test does
    not depend on this machine's speed."""
    from sparsekit.export import kernels

    now = [0.0]
    calls = {"fast": 0, "close": 0, "slow": 0}

    def candidate(name, seconds):
        def call(_sample):
            calls[name] += 1
            now[0] += seconds
        return call

    measured = kernels.race([candidate("fast", 1.0), candidate("close", 1.9), candidate("slow", 2.1)], None,
                            rounds=7, clock=lambda: now[0])
    assert measured == pytest.approx([1000.0, 1900.0, 2100.0])  # milliseconds; the slow one's from its two rounds
    assert calls == {"fast": 8, "close": 8, "slow": 3}  # a warm-up call each, then the rounds it stayed for
    calls.update(fast=0, close=0, slow=0)
    kernels.race([candidate("fast", 1.0), candidate("slow", 2.1)], None, rounds=7, out_of_race=float("inf"),
                 clock=lambda: now[0])
    assert calls == {"fast": 8, "close": 0, "slow": 8}  # no race: every candidate every round
