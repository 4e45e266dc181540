"""Masked / dense training-step time: ResNet-20 on digits at 90% sparsity (target <= 1.05).

Both models take the trainer's own step function (`sparsekit.training.step.train_step`), on
the same batches, in one process, alternating in short blocks so machine noise hits both
alike. Prints the per-step medians and their ratio.

    python benchmarks/overhead.py [--blocks 15 --steps 20 --threads 2]
"""
import argparse
import statistics
import time

import torch
from torch import nn

import sparsekit as sk
from sparsekit.data import load
from sparsekit.models import build
from sparsekit.training.masking import MaskEnforcer
from sparsekit.training.step import train_step


def setup(masked: bool, sparsity: float):
    torch.manual_seed(0)
    model = build("resnet20", 10, in_channels=1, width=1.0, input_size=8)
    optimizer = torch.optim.SGD(model.parameters(), lr=0.05, momentum=0.9, weight_decay=2e-4)
    enforcer = None
    if masked:
        mask = sk.masks.compute("random", model, sparsity, seed=0)
        mask.apply(model)
        enforcer = MaskEnforcer(model, mask)
    return model, optimizer, enforcer


def time_block(run, batches, steps: int) -> float:
    model, optimizer, enforcer = run
    loss_fn = nn.CrossEntropyLoss()
    started = time.perf_counter()
    for i in range(steps):
        x, y = batches[i % len(batches)]
        train_step(model, optimizer, loss_fn, x, y, enforcer)
    return (time.perf_counter() - started) / steps


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--blocks", type=int, default=15)
    parser.add_argument("--steps", type=int, default=20, help="steps per block")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--sparsity", type=float, default=0.9)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)

    bundle = load("digits", batch_size=128)
    batches = list(bundle.train)
    runs = {"dense": setup(False, args.sparsity), "masked": setup(True, args.sparsity)}
    for run in runs.values():  # warm-up: allocator, kernels
        time_block(run, batches, 5)
    times = {name: [] for name in runs}
    for block in range(args.blocks):
        order = ["dense", "masked"] if block % 2 == 0 else ["masked", "dense"]
        for name in order:
            times[name].append(time_block(runs[name], batches, args.steps))
    dense, masked = statistics.median(times["dense"]), statistics.median(times["masked"])
    print(f"ResNet-20 on digits, batch 128, sparsity {args.sparsity}, {torch.get_num_threads()} threads, "
          f"{args.blocks} alternating blocks of {args.steps} steps")
    print(f"dense step  median {dense * 1000:8.2f} ms")
    print(f"masked step median {masked * 1000:8.2f} ms")
    print(f"masked / dense ratio {masked / dense:.3f}  (target <= 1.05)")


if __name__ == "__main__":
    main()
