"""One optimizer step on one batch: the trainer's hot path, kept alone so that benchmarks
time exactly what training runs."""
from typing import Callable, Optional

import torch
from torch import nn

from .masking import MaskEnforcer


def train_step(model: nn.Module, optimizer: torch.optim.Optimizer, loss_fn: Callable, x: torch.Tensor,
               y: torch.Tensor, enforcer: Optional[MaskEnforcer], sync: Optional[Callable] = None):
    """Forward, backward, masked update. Returns (loss, logits), both detached.

    `enforcer=None` is a plain dense step (what the overhead benchmark compares against);
    `sync(model, rows)` turns this rank's gradients into the global batch's (data-parallel).
    """
    logits = model(x)
    loss = loss_fn(logits, y)
    optimizer.zero_grad(set_to_none=True)
    loss.backward()
    if sync is not None:
        sync(model, len(y))
    if enforcer is not None:
        enforcer.mask_gradients()
    optimizer.step()
    if enforcer is not None:
        enforcer.mask_weights()
    return loss.detach(), logits.detach()
