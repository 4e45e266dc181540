"""Where a second thread starts to pay: training-step time on one thread and on every usable CPU,
for networks from the course's smallest to the study's, with each step's multiply-adds. The
kit's thread policy (`sparsekit/core/threads.py`) puts its line, `SMALL_STEP_MACS`, between
the largest workload that gains less than `--gain` from more threads and the smallest that
gains more. The two counts alternate in short blocks in one process, so a busy moment on a
shared machine hits both alike; run it on an idle machine to place the line.

    python benchmarks/threads.py [--blocks 5 --steps 10 --gain 1.2]
"""
import argparse
import statistics
import time

import torch

from sparsekit.core import threads
from sparsekit.models import build
from sparsekit.models.cost import training_step_macs

# (label, model, width, channels, image side, batch): the course's digits runs, the study's
# Fashion-MNIST network and wider ones, up to CIFAR-sized inputs.
WORKLOADS = [
    ("digits, ResNet-20 x0.25", "resnet20", 0.25, 1, 8, 128),
    ("digits, ResNet-20 x0.5", "resnet20", 0.5, 1, 8, 128),
    ("digits, ResNet-20 x1", "resnet20", 1.0, 1, 8, 128),
    ("Fashion-MNIST, ResNet-20 x0.5", "resnet20", 0.5, 1, 28, 128),
    ("Fashion-MNIST, ResNet-20 x1", "resnet20", 1.0, 1, 28, 128),
    ("CIFAR-sized, ResNet-20 x1", "resnet20", 1.0, 3, 32, 128),
    ("CIFAR-sized, VGG-16 x0.5", "vgg16", 0.5, 3, 32, 128),
]


def step_seconds(model, batch, labels, optimizer, thread_count: int, steps: int) -> float:
    torch.set_num_threads(thread_count)
    began = time.perf_counter()
    for _ in range(steps):
        optimizer.zero_grad(set_to_none=True)
        torch.nn.functional.cross_entropy(model(batch), labels).backward()
        optimizer.step()
    return (time.perf_counter() - began) / steps


def measure(workload, counts, blocks: int, steps: int):
    label, name, width, channels, side, batch_size = workload
    torch.manual_seed(0)
    model = build(name, 10, in_channels=channels, width=width, input_size=side)
    optimizer = torch.optim.SGD(model.parameters(), lr=0.01, momentum=0.9)
    batch, labels = torch.randn(batch_size, channels, side, side), torch.randint(0, 10, (batch_size,))
    step_seconds(model, batch, labels, optimizer, counts[-1], 2)  # warm-up: allocator, kernels
    times = {count: [] for count in counts}
    for _ in range(blocks):
        for count in counts:
            times[count].append(step_seconds(model, batch, labels, optimizer, count, steps))
    medians = {count: statistics.median(values) for count, values in times.items()}
    return training_step_macs(model, (channels, side, side), batch_size), medians


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--blocks", type=int, default=5)
    parser.add_argument("--steps", type=int, default=10)
    parser.add_argument("--gain", type=float, default=1.2, help="speed-up that makes more threads worth it")
    args = parser.parse_args()
    cpus, found = threads.usable_cpus()
    if cpus < 2:
        print(f"one usable CPU ({found}): nothing to compare")
        return
    counts = [1, cpus]
    print(f"training step, median of {args.blocks} blocks of {args.steps} steps; usable CPUs: {found}; "
          f"torch {torch.__version__}")
    print(f"{'workload':34} {'GMAC/step':>10} {'1 thread':>10} {f'{cpus} threads':>10} {'speed-up':>9}")
    below, above = [], []
    for workload in WORKLOADS:
        macs, medians = measure(workload, counts, args.blocks, args.steps)
        gain = medians[1] / medians[cpus]
        (above if gain >= args.gain else below).append(macs)
        print(f"{workload[0]:34} {macs / 1e9:10.2f} {medians[1] * 1e3:8.1f}ms {medians[cpus] * 1e3:8.1f}ms "
              f"{gain:8.2f}x")
    print(f"policy line: SMALL_STEP_MACS = {threads.SMALL_STEP_MACS / 1e9:g} GMAC; "
          f"gain < {args.gain}x up to {max(below, default=0) / 1e9:.2f} GMAC, "
          f">= {args.gain}x from {min(above, default=float('nan')) / 1e9:.2f} GMAC")


if __name__ == "__main__":
    main()
