"""One optimizer step on one batch: the trainer's hot path, kept alone so that benchmarks
time exactly what training runs."""
from typing import Callable, Optional

import torch
from torch import nn

from .masking import MaskEnforcer


def train_step(model: nn.Module, optimizer: torch.optim.Optimizer, loss_fn: Callable, x: torch.Tensor,
               y: torch.Tensor, enforcer: Optional[MaskEnforcer], sync: Optional[Callable] = None,
               precision=None, *, update_mask: Optional[Callable[[], None]] = None):
    """Forward, backward, masked update. Returns (loss, logits), both detached.

    `enforcer=None` is a plain dense step (what the overhead benchmark compares against);
    `sync(model, rows)` turns this rank's gradients into the global batch's (data-parallel);
    `precision` (a `Precision`) runs the forward under autocast, fp16 with a gradient scaler;
    `update_mask()` may change the mask (a dynamic sparsifier): it runs where the gradients are
    the global batch's, unscaled and still dense, and before they are masked, so a changed mask
    (the enforcer is changed in place) already governs this step's update.
    Masking only multiplies on the device: nothing here waits for the GPU.
    """
    if precision is None:
        logits = model(x)
        loss = loss_fn(logits, y)
    else:
        with precision.autocast():
            logits = model(x)
            loss = loss_fn(logits, y)
    optimizer.zero_grad(set_to_none=True)
    if precision is None:
        loss.backward()
    else:
        precision.backward(loss)
    if sync is not None:
        sync(model, len(y))
    if precision is not None:
        precision.unscale(optimizer)
    if update_mask is not None:
        update_mask()
    if enforcer is not None:
        enforcer.mask_gradients()
    if precision is None:
        optimizer.step()
    else:
        precision.step(optimizer)
    if enforcer is not None:
        enforcer.mask_weights()
    return loss.detach(), logits.detach()
