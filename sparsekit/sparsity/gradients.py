"""What the data-driven scores (SNIP, GraSP) share: the batches to score on, the gradient
summed over them, and running the model for scoring without changing it.

Scoring runs the model in eval mode: a forward pass in train mode would update BatchNorm's
running statistics, i.e. modify the model (SNIP's reference also scores in eval mode). Gradients
come from `torch.autograd.grad`, so the model's `.grad` fields are never touched either.
"""
from contextlib import contextmanager
from typing import Callable, Dict, Iterator, List, Sequence, Tuple

import torch
from torch import nn

from ..data.bundle import first_batches, is_bundle
from ..core.errors import SparsekitError

Batch = Tuple[torch.Tensor, torch.Tensor]


def scoring_batches(data) -> List[Batch]:
    """A list of (x, y) batches from what a user may pass as `data`: a list or iterable of
    batches, a single (x, y) pair, or a DataBundle (its first training batch)."""
    if is_bundle(data):
        data = first_batches(data.train, 1)
    elif isinstance(data, (tuple, list)) and len(data) == 2 and all(torch.is_tensor(t) for t in data):
        data = [tuple(data)]
    batches = list(data)
    if not batches or not all(isinstance(b, (tuple, list)) and len(b) == 2 for b in batches):
        raise SparsekitError("data must be batches of (inputs, labels), a single (inputs, labels) pair, "
                             "or a sparsekit DataBundle")
    return batches


@contextmanager
def eval_mode(model: nn.Module) -> Iterator[nn.Module]:
    """Every module in eval mode inside the block; each module's own mode restored after."""
    modes = {module: module.training for module in model.modules()}
    model.eval()
    try:
        yield model
    finally:
        for module, training in modes.items():
            module.training = training


def on_device_of(params: Dict[str, torch.Tensor], batch: Batch) -> Batch:
    device = next(iter(params.values())).device
    return batch[0].to(device), batch[1].to(device)


def summed_gradients(weights: Sequence[torch.Tensor], batches: Sequence[Batch],
                     loss_of: Callable[[Batch], torch.Tensor]) -> List[torch.Tensor]:
    """d(sum over batches of loss_of(batch)) / d(weights), one batch's graph at a time."""
    total = [torch.zeros_like(w) for w in weights]
    for batch in batches:
        for running, grad in zip(total, torch.autograd.grad(loss_of(batch), weights)):
            running.add_(grad)
    return total
