"""CPU-seconds of one study run with the test split evaluated every epoch, and only when
validation improves (`test_every="best-val"`): the same metric, less time.

    python benchmarks/evaluation_cost.py --epochs 2 10 --repeats 2

The cell of the GradInit issue (Fashion-MNIST, 3,000 training images, ResNet-20 x0.5, random
mask at 98%, batch 64, seed 0, one torch thread); the two settings alternate run by run in
this process, and the metric of each pair must be equal bit for bit.
"""
import argparse
import statistics
import time

import torch

import sparsekit as sk

CELL = dict(dataset="fashion_mnist", model="resnet20", width=0.5, train_examples=3000, batch_size=64,
            mask="random", sparsity=0.98, seed=0, progress=False)


def cpu_seconds(**settings):
    began = time.process_time()
    record = sk.train(**CELL, **settings)
    return time.process_time() - began, record


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, nargs="+", default=[2, 10])
    parser.add_argument("--repeats", type=int, default=2)
    args = parser.parse_args(argv)
    torch.set_num_threads(1)
    print("| epochs | test every epoch, CPU-s | test when validation improves, CPU-s | ratio | epochs tested | "
          "metric (both) |\n|---|---|---|---|---|---|", flush=True)
    for epochs in args.epochs:
        before, after = [], []
        for _ in range(args.repeats):
            seconds, every = cpu_seconds(epochs=epochs, test_every="epoch")
            before.append(seconds)
            seconds, on_gain = cpu_seconds(epochs=epochs, test_every="best-val")
            after.append(seconds)
            if every["best_val_test_acc"] != on_gain["best_val_test_acc"]:
                raise SystemExit(f"the metric changed: {every['best_val_test_acc']} vs {on_gain['best_val_test_acc']}")
        tested = sum(row["test_acc"] is not None for row in on_gain["epochs"])
        print(f"| {epochs} | {statistics.median(before):.1f} | {statistics.median(after):.1f} | "
              f"{statistics.median(after) / statistics.median(before):.2f} | {tested} of {epochs} | "
              f"{on_gain['best_val_test_acc']:.4f} |", flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
