"""Test accuracy after re-estimating BatchNorm statistics: a diagnostic beside the paper's metric.

In a short run the running statistics lag the weights (momentum 0.1 averages over the last
few dozen batches of a network that was still moving), so a test accuracy read with them can
understate what the weights do. One pass over at most `max_batches` training batches, with
BatchNorm in train mode and a plain average (momentum None), re-estimates the statistics of a
copy of the model; no weight changes, the model itself is untouched, and the random state is
restored afterwards so training continues exactly as it would have.
"""
import copy

import torch
from torch import nn

from .evaluate import evaluate


@torch.no_grad()
def bn_reestimated_accuracy(model: nn.Module, train_batches, test_batches, device: torch.device,
                            max_batches: int, epoch: int) -> float:
    """Test accuracy of a copy of `model` whose BatchNorm statistics are averaged over the
    first `max_batches` training batches of `epoch`'s order."""
    twin = copy.deepcopy(model)
    norms = [m for m in twin.modules() if isinstance(m, nn.modules.batchnorm._BatchNorm)]
    for norm in norms:
        norm.reset_running_stats()
        norm.momentum = None  # a cumulative average over the batches seen, not an exponential one
    twin.train()
    devices = [device] if device.type == "cuda" else []
    with torch.random.fork_rng(devices=devices):  # augmentations draw from the global generator
        train_batches.set_epoch(epoch)
        for index, (x, _) in enumerate(train_batches):
            if index >= max_batches:
                break
            twin(x.to(device))
    accuracy, _ = evaluate(twin, test_batches, device)
    return accuracy
