"""Accuracy and loss of a model over a batch iterable."""
from typing import Iterable, Tuple

import torch
from torch import nn
from torch.nn import functional as F

from . import distributed


@torch.no_grad()
def evaluate(model: nn.Module, batches: Iterable, device: torch.device) -> Tuple[float, float]:
    """(accuracy, mean cross-entropy) over every example, in eval mode; restores the mode."""
    was_training = model.training
    model.eval()
    correct, loss_sum, count = 0, 0.0, 0
    for x, y in batches:
        x, y = x.to(device), y.to(device)
        logits = model(x)
        loss_sum += float(F.cross_entropy(logits, y, reduction="sum"))
        correct += int((logits.argmax(1) == y).sum())
        count += len(y)
    model.train(was_training)
    correct, loss_sum, count = distributed.sum_over_ranks(correct, loss_sum, count)  # data-parallel: all rows
    correct, loss_sum, count = int(correct), float(loss_sum), int(count)
    return (correct / count, loss_sum / count) if count else (float("nan"), float("nan"))
