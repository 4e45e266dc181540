"""Cost of the spectral analysis: all of ResNet-18's layers at 98% sparsity (target <= 10 s on
2 threads), and what the always-on probe adds to the default digits run.

Part 1 times `sparsekit.analysis.spectral.analyze` on ResNet-18 (CIFAR shape) for a few mask
methods, best and median of `--repeats`. Part 2 trains the default digits run (ResNet-20,
random mask, 90%, `--epochs`) and times, inside that very run, the probe's two
measurements (initialization and end) against the run's total seconds.

    OMP_NUM_THREADS=2 OMP_WAIT_POLICY=PASSIVE python benchmarks/spectral_cost.py [--threads 2]
"""
import argparse
import statistics
import time

import torch

import sparsekit as sk
from sparsekit.analysis import spectral
from sparsekit.training import spectral_probe


def time_resnet18(methods, sparsity: float, repeats: int) -> None:
    torch.manual_seed(0)
    model = sk.models.build("resnet18", 10, in_channels=3, width=1.0, input_size=32)
    print(f"ResNet-18 (CIFAR shape), {sparsity:.0%} sparsity, all {len(sk.Mask.dense(model))} masked layers")
    for method in methods:
        mask = sk.masks.compute(method, model, sparsity, seed=0)
        times = []
        for _ in range(repeats):
            began = time.perf_counter()
            result = spectral.analyze(model, mask)
            times.append(time.perf_counter() - began)
        network = result["network"]
        print(f"  {method:<10} best {min(times):6.2f} s  median {statistics.median(times):6.2f} s  "
              f"(layers measured {network['layers_measured']}/{network['layers']}, "
              f"coordinate {network['coordinate']})")


def time_probe_in_default_run(epochs: int) -> None:
    spent = []
    measure = spectral.coordinate_of

    def timed(model, mask):
        began = time.perf_counter()
        result = measure(model, mask)
        spent.append(time.perf_counter() - began)
        return result

    spectral_probe.spectral.coordinate_of = timed  # the probe looks it up at call time
    try:
        record = sk.train(dataset="digits", epochs=epochs, progress=False)
    finally:
        spectral_probe.spectral.coordinate_of = measure
    probe = sum(spent)
    print(f"default digits run (resnet20, random 90%, {epochs} epochs): {record['seconds']:.1f} s in all, "
          f"probe {probe:.2f} s over {len(spent)} measurements = {probe / record['seconds']:.1%} of the run; "
          f"distance {record['spectral']['distance']}")


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--sparsity", type=float, default=0.98)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--methods", default="random,erk,magnitude")
    parser.add_argument("--epochs", type=int, default=30, help="epochs of the default digits run")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    time_resnet18(args.methods.split(","), args.sparsity, args.repeats)
    time_probe_in_default_run(args.epochs)


if __name__ == "__main__":
    main()
