"""Masked / dense training-step time: ResNet-20 on digits at 90% sparsity (target <= 1.05),
and the same with a mask that changes during training: RigL / dense and GMP / dense
(target <= 1.10), over a window in which the mask is updated every `--update-every` steps.

Every model takes the trainer's own step function (`sparsekit.training.step.train_step`), on
the same batches, in one process, alternating in short blocks so machine noise hits all
alike. The dynamic runs ask their sparsifier at every step exactly as the trainer does
(`trainer.ask_sparsifier`: the update, the new mask installed, the history entry), so the
timed window holds several real updates. Prints the per-step medians and their ratios.

    python benchmarks/overhead.py [--blocks 15 --steps 20 --threads 2 --update-every 10]
"""
import argparse
import statistics
import time

import torch
from torch import nn

import sparsekit as sk
from sparsekit.data import load
from sparsekit.models import build
from sparsekit.sparsity import dynamic_sparsifier
from sparsekit.training.config import TrainConfig
from sparsekit.training.masking import MaskEnforcer
from sparsekit.training.state import TrainState
from sparsekit.training.step import train_step
from sparsekit.training.trainer import ask_sparsifier


def setup(kind: str, sparsity: float, update_every: int, total_steps: int):
    """(model, optimizer, enforcer, update hook or None, state or None) for one timed run."""
    torch.manual_seed(0)
    model = build("resnet20", 10, in_channels=1, width=1.0, input_size=8)
    optimizer = torch.optim.SGD(model.parameters(), lr=0.05, momentum=0.9, weight_decay=2e-4)
    if kind == "dense":
        return model, optimizer, None, None, None
    if kind == "masked":
        mask = sk.masks.compute("random", model, sparsity, seed=0)
        mask.apply(model)
        return model, optimizer, MaskEnforcer(model, mask), None, None
    # GMP from half the target's density, so its steps are sparse from the start.
    options = {"update_every": update_every, **({"initial_sparsity": 0.5} if kind == "gmp" else {})}
    sparsifier = dynamic_sparsifier(kind, model, sparsity, seed=0, options=options)
    mask = sparsifier.initial_mask(model, None)
    state = TrainState(config=TrainConfig(), model=model, mask=mask, data=None, device=torch.device("cpu"),
                       loss_fn=nn.CrossEntropyLoss(), optimizer=optimizer, sparsifier=sparsifier,
                       total_steps=total_steps)
    state.set_mask(mask)
    return model, optimizer, state.enforcer, lambda: ask_sparsifier(state), state


def time_block(run, batches, steps: int) -> float:
    model, optimizer, enforcer, update, state = run
    loss_fn = nn.CrossEntropyLoss()
    started = time.perf_counter()
    for i in range(steps):
        x, y = batches[i % len(batches)]
        train_step(model, optimizer, loss_fn, x, y, enforcer, update_mask=update)
        if state is not None:
            state.step += 1
    return (time.perf_counter() - started) / steps


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--blocks", type=int, default=15)
    parser.add_argument("--steps", type=int, default=20, help="steps per block")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--sparsity", type=float, default=0.9)
    parser.add_argument("--update-every", type=int, default=10, help="RigL and GMP: steps between mask updates")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)

    bundle = load("digits", batch_size=128)
    batches = list(bundle.train)
    # Long enough that the timed window lies inside both update windows (before 75% of the run).
    total_steps = 2 * (args.blocks + 1) * args.steps
    runs = {kind: setup(kind, args.sparsity, args.update_every, total_steps)
            for kind in ("dense", "masked", "rigl", "gmp")}
    warmup = 5
    for run in runs.values():  # warm-up: allocator, kernels
        time_block(run, batches, warmup)
    times = {name: [] for name in runs}
    names = list(runs)
    for block in range(args.blocks):
        order = names[block % len(names):] + names[:block % len(names)]  # each kind takes every place in turn
        for name in order:
            times[name].append(time_block(runs[name], batches, args.steps))
    medians = {name: statistics.median(values) for name, values in times.items()}
    updates = {name: sum(entry["step"] >= warmup for entry in runs[name][4].mask_history) for name in ("rigl", "gmp")}
    print(f"ResNet-20 on digits, batch 128, sparsity {args.sparsity}, {torch.get_num_threads()} threads, "
          f"{args.blocks} alternating blocks of {args.steps} steps; RigL and GMP update every "
          f"{args.update_every} steps ({updates['rigl']} and {updates['gmp']} mask changes timed)")
    for name in names:
        print(f"{name:<6} step median {medians[name] * 1000:8.2f} ms")
    print(f"masked / dense ratio {medians['masked'] / medians['dense']:.3f}  (target <= 1.05)")
    print(f"rigl / dense ratio   {medians['rigl'] / medians['dense']:.3f}  (target <= 1.10)")
    print(f"gmp / dense ratio    {medians['gmp'] / medians['dense']:.3f}  (target <= 1.10)")


if __name__ == "__main__":
    main()
