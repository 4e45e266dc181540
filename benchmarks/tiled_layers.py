"""One 3x3 conv at a time: the register-tiled kernel at each of its tile widths against dense.

For the stride-1 3x3 convs of CIFAR ResNet-18 (64->64 at 32x32 ... 512->512 at 4x4, padding 1)
with a random mask at the network's 98% and at ERK's density for that layer at 98% (computed by
`sparsekit`'s ERK code from ResNet-18's weight shapes), at each batch size, one thread: the
tiled kernel (`tiled.TiledSameConv` reading a `Staged` input, as a conv in a chain of same-size
convs does: no staging copy) at every width `tiled_kernel.kernel` builds (for each instruction
set of `--isas`), eager torch's dense `F.conv2d`, and ONNX Runtime on the same dense conv where
onnxruntime imports, called alternately, so a busy moment on the shared machine hits all. Per kernel it prints the fastest
and median milliseconds, GFLOP/s on the kept multiply-adds (2 x kept weights x positions), and
the ratio to torch dense and to ORT dense (of the fastest calls and of the medians), and the
largest difference from F.conv2d (relative to the largest output) as a check.

    OMP_NUM_THREADS=1 python benchmarks/tiled_layers.py [--batch-sizes 1 64 --rounds 15 --isas avx512 avx2]
"""
import argparse
import statistics
import time

import torch
from torch import nn
from torch.nn import functional as F

from sparsekit import models
from sparsekit.export import tiled, tiled_kernel
from sparsekit.sparsity.distributions import layer_counts

LAYERS = [(64, 32), (128, 16), (256, 8), (512, 4)]  # (channels, side) of ResNet-18's 3x3 same-size convs
SPARSITY = 0.98


def erk_density(channels: int) -> float:
    """ERK's density at `SPARSITY` for ResNet-18's channels -> channels 3x3 conv."""
    model = models.build("resnet18", 10, input_size=32)
    shapes = [tuple(p.shape) for p in model.parameters() if p.dim() > 1]
    counts = layer_counts("erk", shapes, SPARSITY)
    wanted = (channels, channels, 3, 3)
    count = next(c for s, c in zip(shapes, counts) if s == wanted)
    return count / (channels * channels * 9)


def masked_weight(channels: int, density: float, generator: torch.Generator) -> torch.Tensor:
    """A channels x channels x 3 x 3 weight keeping round(density x size) entries at random."""
    weight = torch.randn(channels, channels, 3, 3, generator=generator) / (3 * channels ** 0.5)
    kept = torch.randperm(weight.numel(), generator=generator)[:round(density * weight.numel())]
    mask = torch.zeros(weight.numel(), dtype=torch.bool)
    mask[kept] = True
    return weight * mask.view(weight.shape)


def staged(x: torch.Tensor, padding: int) -> tiled.Staged:
    """x in the padded layout a same-size conv reads without copying, with the slack it reads past."""
    batch, channels, height, width = x.shape
    _, shift, stride = tiled.same_layout(batch, height, width, padding)
    memory = torch.zeros(channels * stride + shift + 64)
    result = tiled.Staged(memory[:channels * stride].view(channels, stride), tuple(x.shape), padding)
    result.tensor().copy_(x)
    return result


def ort_conv(weight, bias, sample):
    import importlib.util
    if importlib.util.find_spec("onnxruntime") is None:
        return None
    from sparsekit.export.onnx_peer import ort_session
    conv = nn.Conv2d(weight.shape[1], weight.shape[0], 3, padding=1)
    with torch.no_grad():
        conv.weight.copy_(weight)
        conv.bias.copy_(bias)
    return ort_session(conv, sample, threads=1)


def time_alternating(functions, rounds: int):
    for fn in functions.values():
        fn()
    times = {name: [] for name in functions}
    for _ in range(rounds):
        for name, fn in functions.items():
            began = time.perf_counter()
            fn()
            times[name].append(time.perf_counter() - began)
    return times


@torch.no_grad()
def measure_layer(channels: int, side: int, density: float, batch: int, rounds: int, isas, seed: int = 0):
    generator = torch.Generator().manual_seed(seed)
    weight = masked_weight(channels, density, generator)
    bias = torch.randn(channels, generator=generator)
    x = torch.randn(batch, channels, side, side, generator=generator)
    expected = F.conv2d(x, weight, bias, 1, 1)
    source = staged(x, 1)
    functions = {"torch dense": lambda: F.conv2d(x, weight, bias, 1, 1)}
    ort = ort_conv(weight, bias, x)
    if ort is not None:
        functions["ORT dense"] = lambda: ort(x)
    errors = {}
    for isa in isas:
        for vectors in tiled_kernel.VECTOR_COUNTS:
            if tiled.kernel(vectors, isa) is None:
                continue
            conv = tiled.TiledSameConv(weight, bias, 1, vectors, isa)
            name = f"tiled {vectors}" if len(isas) == 1 else f"tiled {isa} {vectors}"
            errors[name] = ((conv(source) - expected).abs().max() / expected.abs().max()).item()
            functions[name] = (lambda conv: lambda: conv(source))(conv)
    times = time_alternating(functions, rounds)
    flops = 2 * int((weight != 0).sum()) * batch * side * side
    return times, flops, errors


def report(label: str, times, flops: int, errors) -> None:
    fastest = {name: min(values) for name, values in times.items()}
    median = {name: statistics.median(values) for name, values in times.items()}
    print(f"\n{label}")
    print("| kernel | fastest ms | median ms | GFLOP/s kept (fastest) | / torch dense (fastest, median) "
          "| / ORT dense (fastest, median) | max diff |")
    print("|---|---|---|---|---|---|---|")
    for name in times:
        versus = []
        for peer in ("torch dense", "ORT dense"):
            versus.append(f"{fastest[name] / fastest[peer]:.3f}, {median[name] / median[peer]:.3f}"
                          if peer in times else "-")
        print(f"| {name} | {fastest[name] * 1e3:.3f} | {median[name] * 1e3:.3f} | {flops / fastest[name] / 1e9:.1f} "
              f"| {versus[0]} | {versus[1]} | {errors.get(name, 0.0):.1e} |")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--batch-sizes", type=int, nargs="+", default=[1, 64])
    parser.add_argument("--rounds", type=int, default=15)
    parser.add_argument("--layers", type=int, nargs="+", default=[c for c, _ in LAYERS],
                        help="the input channels of the layers to time (64 128 256 512)")
    parser.add_argument("--masks", nargs="+", default=["random", "erk"], choices=["random", "erk"])
    parser.add_argument("--isas", nargs="+", default=None, choices=list(tiled_kernel.ISAS),
                        help="instruction sets to build the tiled kernel for (default: the widest here)")
    args = parser.parse_args()
    torch.set_num_threads(1)
    isas = args.isas or [tiled_kernel.best_isa()]
    print(f"torch {torch.__version__}; threads 1; instruction sets {' '.join(isas)}; "
          f"tile widths {tiled_kernel.VECTOR_COUNTS}; rounds {args.rounds}")
    for channels, side in LAYERS:
        if channels not in args.layers:
            continue
        for mask in args.masks:
            density = 1 - SPARSITY if mask == "random" else erk_density(channels)
            for batch in args.batch_sizes:
                times, flops, errors = measure_layer(channels, side, density, batch, args.rounds, isas)
                label = f"{channels}->{channels} at {side}x{side}, {mask} density {density:.4f}, batch {batch}"
                report(label, times, flops, errors)


if __name__ == "__main__":
    main()
