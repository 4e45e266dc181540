"""How long `sk.export` takes, with its per-layer race (`kernels.OUT_OF_RACE`: a candidate kernel
twice as slow as the fastest after two timed rounds is timed no further) and with every candidate
timed every round, as before the race; whether the two choose the same kernel for every layer;
and the two exported networks' latencies, timed alternately.

Per row, on CIFAR-shaped input, one thread: the same masked network is exported both ways in
turn (`--repeats` times each, alternating, the fastest export kept), so a busy moment on a shared
machine hits both. Choices may differ where two kernels are within noise of each other; the
latency columns say what a different choice costs.

    OMP_NUM_THREADS=1 python benchmarks/export_time.py [--model resnet18 --sparsities 0.5 0.9 0.99 --batch-sizes 1 64]
"""
import argparse
import math
import statistics
import time

import torch

from sparsekit.export import export, kernels
from sparsekit.export.latency import alternating_times, masked_models

MODES = {"race": kernels.OUT_OF_RACE, "every round": math.inf}


def exported_both_ways(masked, mask, batch: int, input_size: int, repeats: int):
    """{mode: (fastest export seconds, the exported network of that export)}."""
    found = {}
    for _ in range(repeats):
        for mode, out_of_race in MODES.items():
            kernels.OUT_OF_RACE = out_of_race
            began = time.perf_counter()
            net = export(masked, mask, batch_size=batch, input_shape=(3, input_size, input_size))
            seconds = time.perf_counter() - began
            if mode not in found or seconds < found[mode][0]:
                found[mode] = (seconds, net)
    kernels.OUT_OF_RACE = MODES["race"]
    return found


def choices(net) -> list:
    return [(spec["name"], spec.get("kernel"), spec.get("vectors")) for spec in net.specs if "kernel" in spec]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="resnet18")
    parser.add_argument("--mask", default="random")
    parser.add_argument("--width", type=float, default=1.0)
    parser.add_argument("--input-size", type=int, default=32)
    parser.add_argument("--sparsities", type=float, nargs="+", default=[0.5, 0.9, 0.99])
    parser.add_argument("--batch-sizes", type=int, nargs="+", default=[1, 64])
    parser.add_argument("--repeats", type=int, default=1, help="exports per mode and row (the fastest kept)")
    parser.add_argument("--rounds", type=int, default=7, help="timed calls of each exported network")
    args = parser.parse_args()
    torch.set_num_threads(1)
    print(f"{args.model} x{args.width:g}, {args.mask} mask, input {args.input_size}, one thread; export seconds "
          f"(fastest of {args.repeats}), latency ms (median of {args.rounds} alternating calls)")
    print(f"{'batch':>5} {'sparsity':>8} {'race s':>8} {'every s':>8} {'ratio':>6} {'same kernels':>13} "
          f"{'race ms':>9} {'every ms':>9}")
    total = {mode: 0.0 for mode in MODES}
    for batch in args.batch_sizes:
        for sparsity in args.sparsities:
            _, masked, mask, _ = masked_models(args.model, args.mask, sparsity, args.width, args.input_size)
            found = exported_both_ways(masked, mask, batch, args.input_size, args.repeats)
            for mode in MODES:
                total[mode] += found[mode][0]
            (race_s, race_net), (every_s, every_net) = found["race"], found["every round"]
            same = sum(a == b for a, b in zip(choices(race_net), choices(every_net)))
            sample = torch.randn((batch, 3, args.input_size, args.input_size), generator=torch.Generator().manual_seed(1))
            race_ms, every_ms = (statistics.median(bucket) * 1e3
                                 for bucket in alternating_times([race_net, every_net], sample, args.rounds))
            print(f"{batch:>5} {sparsity:>8.2f} {race_s:>8.2f} {every_s:>8.2f} {race_s / every_s:>6.2f} "
                  f"{f'{same}/{len(choices(race_net))}':>13} {race_ms:>9.2f} {every_ms:>9.2f}")
    print(f"all rows: race {total['race']:.1f} s, every round {total['every round']:.1f} s "
          f"(ratio {total['race'] / total['every round']:.2f})")


if __name__ == "__main__":
    main()
