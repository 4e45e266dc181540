"""Shared by `training_step.py` and `gpu_check.py`: sparsekit's training step against the plain
PyTorch loop a user would write, timed in alternating blocks on the same batches in one process.

The sparsekit side is the trainer's own step (`sparsekit.training.step.train_step`, masking
included: gradients masked before the update, weights re-masked after it) on a pruned copy
of the network; the plain side is `plain_step` below on the dense network with the same
weights (a plain loop has no mask; a masked step does the same dense arithmetic, so the
difference is what sparsekit's bookkeeping costs). Both take the same layout and autocast.
"""
import statistics
import time
from typing import Callable, Dict, Iterator, List, Optional

import torch
from torch import nn
from torch.nn import functional as F

from sparsekit.training.masking import MaskEnforcer
from sparsekit.training.memory_layout import layout
from sparsekit.training.precision import Precision
from sparsekit.training.step import train_step


def plain_step(model: nn.Module, optimizer: torch.optim.Optimizer, x, y, autocast_dtype=None):
    """The ten-line loop body a user writes: forward (under autocast if asked), backward, step."""
    with torch.autocast(x.device.type, dtype=autocast_dtype or torch.bfloat16, enabled=autocast_dtype is not None):
        loss = F.cross_entropy(model(x), y)
    optimizer.zero_grad(set_to_none=True)
    loss.backward()
    optimizer.step()
    return loss.detach()


def sgd(model: nn.Module) -> torch.optim.Optimizer:
    return torch.optim.SGD(model.parameters(), lr=0.05, momentum=0.9, weight_decay=2e-4)


class Runner:
    """One side of the race: a model, its optimizer and the one-step function that trains it."""

    def __init__(self, name: str, model: nn.Module, step: Callable, optimizer: torch.optim.Optimizer,
                 channels_last: bool, device: torch.device):
        self.name, self.model, self.optimizer, self._step = name, model, optimizer, step
        self.channels_last, self.device = channels_last, device
        self.losses: List[float] = []

    def __call__(self, x, y):
        x = x.to(self.device, non_blocking=True)
        y = y.to(self.device, non_blocking=True)
        if self.channels_last:
            x = x.contiguous(memory_format=torch.channels_last)
        return self._step(x, y)

    def block(self, batches: Iterator, steps: int) -> float:
        """Seconds per step over `steps` steps (the device waited for at the end)."""
        began = time.perf_counter()
        for _ in range(steps):
            loss = self(*next(batches))
        _wait(self.device)
        self.losses.append(float(loss))
        return (time.perf_counter() - began) / steps


def sparsekit_runner(model, mask, device, amp: str = "none", channels_last: bool = False, forward=None) -> Runner:
    """The masked network trained by sparsekit's step (`forward`: a compiled view of `model`)."""
    mask.apply(model)
    layout(model, channels_last, device)
    optimizer = sgd(model)
    enforcer = MaskEnforcer(model, mask)
    precision = Precision(amp, device) if amp != "none" else None
    loss_fn = nn.CrossEntropyLoss()

    def step(x, y):
        return train_step(forward if forward is not None else model, optimizer, loss_fn, x, y, enforcer, precision=precision)[0]
    runner = Runner("sparsekit", model, step, optimizer, channels_last, device)
    runner.enforcer = enforcer
    return runner


def plain_runner(model, device, amp: str = "none", channels_last: bool = False, forward=None) -> Runner:
    if channels_last:
        model.to(memory_format=torch.channels_last)
    optimizer = sgd(model)
    dtype = {"none": None, "bf16": torch.bfloat16}[amp]
    return Runner("plain", model, lambda x, y: plain_step(forward if forward is not None else model, optimizer, x, y, dtype), optimizer,
                  channels_last, device)


def _wait(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def race(runners: List[Runner], batches: Iterator, blocks: int, steps: int, warmup: int = 3,
         memory: Optional[Dict[str, int]] = None) -> Dict[str, List[float]]:
    """Seconds per step of each runner (anything with `name`, `device` and `block(batches,
    steps)`), one entry per block; runners take turns block by block (each takes every place in
    the order in turn), all drawing from the same batch stream.
    `memory` (CUDA only) receives each runner's peak allocated bytes."""
    device = runners[0].device
    for runner in runners:
        runner.block(batches, warmup)
    _wait(device)
    seconds = {runner.name: [] for runner in runners}
    for block in range(blocks):
        shift = block % len(runners)
        for runner in runners[shift:] + runners[:shift]:
            if device.type == "cuda":
                torch.cuda.reset_peak_memory_stats(device)
            seconds[runner.name].append(runner.block(batches, steps))
            if memory is not None and device.type == "cuda":
                memory[runner.name] = max(memory.get(runner.name, 0), torch.cuda.max_memory_allocated(device))
    return seconds


def summary(seconds: List[float], batch_size: int) -> Dict[str, float]:
    """Images/s at the fastest and the median block (the fastest is least disturbed by other work)."""
    return {"best_images_per_s": batch_size / min(seconds), "median_images_per_s": batch_size / statistics.median(seconds),
            "median_ms": statistics.median(seconds) * 1e3}


def forever(loader) -> Iterator:
    while True:
        yield from loader
