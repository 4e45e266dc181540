"""The register-tiled kernel's variants, tried and kept or not, on one layer at a time.

Raw kernel calls (no layer around them: `tiled_layers.py` times the layers) on the input layout
and kept weights `tiled.TiledSameConv` builds for the stride-1 3x3 convs of CIFAR ResNet-18,
one thread, every variant called alternately; per variant the fastest of `--rounds` calls in
ms, GFLOP/s on the kept multiply-adds, and the time as a multiple of the first variant's.
Every variant's output is checked against the first's.

Variants (`tiled_kernel.ir`'s trial options; the kept build is `4`, `8`, `16`; two more, a
lane table for the permutes and odd rows reading their weights backwards, were timed at commit
37f8ca7 and removed, both slower: docs/tiled_kernel.md):
- `4`: the four-vector kernel (64 positions per tile), as before the blocked kernels;
- `8`, `16`: blocked kernels, at most 8 or 16 accumulator vectors per (block, row), the tiles
  split into equal blocks, under AVX-512 reading whole cache lines shifted into place by
  two-source permutes, the full-size pass prefetching one line per kept weight two blocks ahead;
- `16-no-prefetch`, `16-prefetch-2-lines` (the first two lines of the run one block ahead);
- `...unaligned`: plain (line-crossing) loads, no prefetch; `8unaligned-c1`: without splitting
  narrow passes into several sums; `-pf8`: prefetch the next block's whole run (8 lines per
  kept weight); `-rot2`: the kept prefetch (one line per kept weight, turning with its index,
  two blocks ahead).
`--resident` makes every offset small (offset mod 4096), so each block's reads stay in the L1
cache: the difference from the real offsets is what the cache misses cost.

    OMP_NUM_THREADS=1 python benchmarks/tiled_variants.py [--batch-sizes 64 1 --rounds 11 --resident]
"""
import argparse
import ctypes
import time

import torch

from sparsekit.export import tiled, tiled_kernel
from tiled_layers import LAYERS, erk_density, masked_weight, staged

VARIANTS = {  # name -> (vectors, options of tiled_kernel.ir)
    "4": (4, {}), "8": (8, {}), "16": (16, {}), "8-plain-25": (8, {"plain_share": 0.25}),
    "8-plain-38": (8, {"plain_share": 0.375}), "16-plain-25": (16, {"plain_share": 0.25}),
    "16-plain-38": (16, {"plain_share": 0.375}), "16-no-prefetch": (16, {"prefetch": 0}),
    "16-prefetch-2-lines": (16, {"prefetch": 2}), "16unaligned": (16, {"aligned": False, "prefetch": 0}),
    "8unaligned": (8, {"aligned": False, "prefetch": 0}),
    "8unaligned-c1": (8, {"aligned": False, "prefetch": 0, "chains": 1}),
    "8unaligned-pf8": (8, {"aligned": False, "prefetch": 8}),
    "8unaligned-rot2": (8, {"aligned": False, "prefetch": 1, "rotate": True, "distance": 2}),
}


def build(isa: str, names):
    """name -> (ctypes function, floats per tile) of each variant, compiled in one module."""
    tiled_kernel._initialise()
    width = tiled_kernel.ISAS[isa][0]
    text = "".join(tiled_kernel.ir(width, VARIANTS[n][0], name=f"v{i}", **VARIANTS[n][1]) for i, n in enumerate(names))
    seen, kept = set(), []
    for line in text.splitlines(keepends=True):  # one copy of each declaration
        if not (line.startswith(("declare", "@")) and line in seen):
            kept.append(line)
        seen.add(line)
    module = tiled_kernel.llvm.parse_assembly("".join(kept))
    engine = tiled_kernel.llvm.create_mcjit_compiler(module, tiled_kernel._target_machine(isa))
    engine.finalize_object()
    build.engines.append(engine)  # the code lives as long as its engine
    prototype = ctypes.CFUNCTYPE(None, *tiled_kernel._ARGUMENTS)
    return {n: (prototype(engine.get_function_address(f"v{i}")), tiled_kernel.tile_floats(width, VARIANTS[n][0]))
            for i, n in enumerate(names)}


build.engines = []


def measure(functions, channels: int, side: int, density: float, batch: int, rounds: int, resident: bool):
    generator = torch.Generator().manual_seed(0)
    weight = masked_weight(channels, density, generator)
    bias = torch.randn(channels, generator=generator)
    source = staged(torch.randn(batch, channels, side, side, generator=generator), 1)
    conv = tiled.TiledSameConv(weight, bias, 1, 4)
    plan = conv._plan((batch, channels, side, side))
    positions, shift, stride = plan["layout"]
    offsets = (plan["offsets"] % 4096).contiguous() if resident else plan["offsets"]
    keep = torch.zeros(positions + 256)
    keep[:positions] = plan["keep"][:positions]
    out = torch.zeros(channels * stride + shift + 256)
    calls = {}
    for name, (function, tile) in functions.items():
        calls[name] = (function, (source.buffer.data_ptr(), offsets.data_ptr(), conv.values.data_ptr(),
                                  conv.starts.data_ptr(), conv.bias.data_ptr(), out.data_ptr() + 4 * shift, None,
                                  keep.data_ptr(), channels, -(-positions // tile), stride, 0))
    first = None
    for name, (function, arguments) in calls.items():
        out.zero_()
        function(*arguments)
        first = out.clone() if first is None else first
        assert (out - first).abs().max() <= 1e-4 * first.abs().max(), name
    times = {name: [] for name in calls}
    for _ in range(rounds):
        for name, (function, arguments) in calls.items():
            began = time.perf_counter()
            function(*arguments)
            times[name].append(time.perf_counter() - began)
    flops = 2 * int((weight != 0).sum()) * batch * side * side
    return {name: min(values) for name, values in times.items()}, flops


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--variants", nargs="+", default=list(VARIANTS), choices=list(VARIANTS))
    parser.add_argument("--batch-sizes", type=int, nargs="+", default=[64])
    parser.add_argument("--rounds", type=int, default=11)
    parser.add_argument("--layers", type=int, nargs="+", default=[c for c, _ in LAYERS],
                        help="the input channels of the layers to time (64 128 256 512)")
    parser.add_argument("--resident", action="store_true", help="offsets mod 4096: every block's reads in L1")
    args = parser.parse_args()
    torch.set_num_threads(1)
    isa = tiled_kernel.best_isa()
    functions = build(isa, args.variants)
    print(f"instruction set {isa}; fastest of {args.rounds}; offsets {'mod 4096' if args.resident else 'real'}")
    for channels, side in [(c, s) for c, s in LAYERS if c in args.layers]:
        for mask, density in (("random", 0.02), ("erk", erk_density(channels))):
            for batch in args.batch_sizes:
                best, flops = measure(functions, channels, side, density, batch, args.rounds, args.resident)
                base = best[args.variants[0]]
                print(f"{channels}->{channels} at {side}x{side} {mask} {density:.4f} batch {batch}: " + "  ".join(
                    f"{n} {s * 1e3:.3f} ms {flops / s / 1e9:.0f} GF x{s / base:.2f}" for n, s in best.items()),
                    flush=True)


if __name__ == "__main__":
    main()
