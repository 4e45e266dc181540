"""How long each mask method takes, on CPU with 2 threads.

    python benchmarks/masks.py [--sparsity 0.98] [--skip-resnet18] [--threads 2]
    python benchmarks/masks.py --synflow-reference PATH [--pairs 3]   # SynFlow-100 vs Synaptic-Flow

`--synflow-reference PATH` (a local checkout of Synaptic-Flow, github ganguli-lab/Synaptic-Flow;
nothing of it is part of sparsekit) times SynFlow-100 on the CIFAR ResNet-18 at the given
sparsity both ways, alternating in one process: the reference's own pruner and prune loop on
its own ResNet-18 (3x3 stem, the same layer shapes), and `masks.compute("synflow")` on
sparsekit's (target <= 0.35x the reference; the floor is 100 forward/backward passes of one
image). It prints each pair's seconds, the ratios' min and median, and a profile of one
sparsekit run (where its time goes).

- CIFAR ResNet-18 (10 classes, 3x32x32, width 1, 11M prunable weights): SNIP and GraSP score
  one batch of 128 RANDOM inputs of the right shape (no CIFAR download needed); SynFlow runs
  its default 100 rounds (target: under 20 s). Lottery is not timed here (it trains).
- ResNet-20 on digits (1x8x8): data-driven methods score one real digits batch of 128;
  lottery runs with tiny settings (1 epoch of 2 batches per round), so its time is mostly
  the rounds' fixed costs, not training.

On a machine shared with other busy processes, OpenMP threads that spin-wait for each other
make 2 threads several times SLOWER than 1, so this script sets OMP_WAIT_POLICY=PASSIVE
(unless already set) before torch starts; the output says which policy was used.
"""
import argparse
import os
import statistics
import sys
import time

os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")  # before torch loads OpenMP

import torch

from sparsekit import data, masks, models, train
from sparsekit.runs import lottery, ramanujan
from sparsekit.report.summary import format_table
from sparsekit.training import TrainConfig


def time_method(method, model, sparsity, batches, **options):
    # The procedures made of trainings are functions of sparsekit.runs, the rest mask methods.
    find = {"lottery": lottery.find_ticket, "ramanujan": ramanujan.sample_mask}.get(method)
    started = time.perf_counter()
    if find is None:
        mask = masks.compute(method, model, sparsity, data=batches, **options)
    else:
        mask = find(model, sparsity, batches, **options)
    return time.perf_counter() - started, mask


def resnet18_rows(sparsity):
    torch.manual_seed(0)
    model = models.build("resnet18", 10, in_channels=3, width=1.0, input_size=32)
    generator = torch.Generator().manual_seed(0)
    batch = (torch.randn(128, 3, 32, 32, generator=generator), torch.randint(0, 10, (128,), generator=generator))
    rows = []
    for method in ["random", "erk", "magnitude", "snip", "grasp", "synflow"]:
        seconds, mask = time_method(method, model, sparsity, [batch])
        note = {"snip": "1 batch of 128 random inputs", "grasp": "1 batch of 128 random inputs",
                "synflow": "100 rounds (target < 20 s)"}.get(method, "")
        rows.append(("resnet18 / cifar shape", method, mask.num_total(), mask.num_kept(), f"{seconds:.2f}", note))
    return rows


def resnet20_rows(sparsity):
    bundle = data.load("digits", batch_size=128)
    bundle.train.set_epoch(0)
    batch = next(iter(bundle.train))
    rows = []
    for method in masks.available() + ["lottery", "ramanujan"]:
        if method in masks.available() and masks.registry.is_dynamic(method):  # their mask moves during training: overhead.py times them
            continue
        torch.manual_seed(0)
        model = models.build("resnet20", bundle.num_classes, in_channels=1, width=1.0, input_size=8)
        options = {"input_shape": (1, 8, 8)} if method == "synflow" else {}
        note = {"snip": "1 real digits batch of 128", "grasp": "1 real digits batch of 128",
                "synflow": "100 rounds"}.get(method, "")
        if method == "lottery":
            options = {"train": train, "train_config": TrainConfig(epochs=1, max_batches=2, progress=False),
                       "bundle": bundle}
            note = "tiny: 1 epoch x 2 batches per round, " + f"{len(lottery.round_sparsities(sparsity))} rounds"
        seconds, mask = time_method(method, model, sparsity, [batch], **options)
        rows.append(("resnet20 / digits", method, mask.num_total(), mask.num_kept(), f"{seconds:.2f}", note))
    return rows


def reference_synflow(path: str, sparsity: float):
    """A function that runs the reference's SynFlow-100 on its fresh CIFAR ResNet-18."""
    sys.path.insert(0, path)
    from Models import tinyimagenet_resnet  # noqa: E402  (the reference's modules)
    from Pruners.pruners import SynFlow
    from Utils import generator
    from prune import prune_loop
    batch = [(torch.ones(1, 3, 32, 32), torch.zeros(1, dtype=torch.long))]

    def run():
        torch.manual_seed(0)
        model = tinyimagenet_resnet.resnet18((3, 32, 32), 10)
        pruner = SynFlow(generator.masked_parameters(model, False, False, False))
        prune_loop(model, torch.nn.CrossEntropyLoss(), pruner, batch, torch.device("cpu"), 1.0 - sparsity,
                   "exponential", "global", 100)
    return run


def synflow_against_reference(path: str, sparsity: float, pairs: int) -> None:
    torch.manual_seed(0)
    model = models.build("resnet18", 10, in_channels=3, width=1.0, input_size=32)
    ours = lambda: masks.compute("synflow", model, sparsity)  # noqa: E731
    theirs = reference_synflow(path, sparsity)
    times = {"sparsekit": [], "reference": []}
    for pair in range(pairs):
        for name, run in (("sparsekit", ours), ("reference", theirs))[::1 if pair % 2 == 0 else -1]:
            began = time.perf_counter()
            run()
            times[name].append(time.perf_counter() - began)
        print(f"pair {pair + 1}: sparsekit {times['sparsekit'][-1]:.1f} s, reference {times['reference'][-1]:.1f} s",
              flush=True)
    ratios = [a / b for a, b in zip(times["sparsekit"], times["reference"])]
    print(f"SynFlow-100, CIFAR ResNet-18, sparsity {sparsity}, {torch.get_num_threads()} threads: sparsekit / "
          f"reference = {min(ratios):.2f} min, {statistics.median(ratios):.2f} median over {pairs} alternating pairs "
          f"(target <= 0.35)")
    from torch.profiler import profile
    with profile() as profiled:
        ours()
    print(profiled.key_averages().table(sort_by="self_cpu_time_total", row_limit=12))


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sparsity", type=float, default=0.98)
    parser.add_argument("--skip-resnet18", action="store_true")
    parser.add_argument("--threads", type=int, default=2, help="torch CPU threads (default: 2)")
    parser.add_argument("--synflow-reference", default=None, help="a local Synaptic-Flow checkout: time SynFlow-100 "
                                                                   "against it instead")
    parser.add_argument("--pairs", type=int, default=3, help="alternating SynFlow pairs (with --synflow-reference)")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    if args.synflow_reference:
        synflow_against_reference(args.synflow_reference, args.sparsity, args.pairs)
        return
    rows = [] if args.skip_resnet18 else resnet18_rows(args.sparsity)
    rows += resnet20_rows(args.sparsity)
    print(f"mask methods at sparsity {args.sparsity}, CPU, torch threads = {torch.get_num_threads()}, "
          f"OMP_WAIT_POLICY={os.environ['OMP_WAIT_POLICY']}")
    print(format_table(["model", "method", "weights", "kept", "seconds", "note"], rows))


if __name__ == "__main__":
    main()
