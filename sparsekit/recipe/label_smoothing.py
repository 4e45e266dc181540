"""Label smoothing with the paper's target: 1 - a on the true class and a / (C - 1) on each
of the other C - 1 classes (a = 0.1 in the paper).

PyTorch's `CrossEntropyLoss(label_smoothing=a)` uses a different target: a / C on every
class, the true one included, so the true class gets 1 - a + a / C. This module uses the
paper's target. Evaluation losses in the record stay the plain cross-entropy.
"""
from dataclasses import dataclass

import torch
from torch import nn
from torch.nn import functional as F

from ..core.callbacks import Callback
from ..core.checks import finite_number
from ..core.errors import SparsekitError
from ..core.fields import setting
from .trick import Trick


def smoothed_targets(labels: torch.Tensor, num_classes: int, smoothing: float) -> torch.Tensor:
    """One row per label: 1 - smoothing on the label's class, smoothing / (C - 1) elsewhere."""
    if num_classes < 2:
        raise SparsekitError(f"label smoothing needs at least 2 classes, got {num_classes}")
    targets = torch.full((len(labels), num_classes), smoothing / (num_classes - 1), device=labels.device)
    return targets.scatter_(1, labels.unsqueeze(1), 1.0 - smoothing)


class SmoothedCrossEntropy(nn.Module):
    """Mean cross-entropy between the softmax of the logits and the smoothed targets."""

    def __init__(self, smoothing: float = 0.1):
        super().__init__()
        self.smoothing = smoothing

    def forward(self, logits: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        targets = smoothed_targets(labels, logits.shape[1], self.smoothing).to(logits.dtype)
        return -(targets * F.log_softmax(logits, dim=1)).sum(dim=1).mean()


class LabelSmoothing(Callback):
    """Makes the training loss the smoothed cross-entropy."""

    def __init__(self, smoothing: float = 0.1):
        self.smoothing = smoothing

    def on_setup(self, state) -> None:
        state.loss_fn = SmoothedCrossEntropy(self.smoothing)


@dataclass(frozen=True)
class LabelSmoothingSettings:
    label_smoothing: float = setting(0.0, "label smoothing a: target 1-a on the true class, a/(C-1) elsewhere; 0 = off")


def _check(recipe) -> None:
    value = recipe.label_smoothing
    finite_number("recipe label_smoothing", value, 0, 1, high_open=True)


TRICK = Trick(
    name="label_smoothing", label="label smoothing", order=40, settings=LabelSmoothingSettings,
    switch="label_smoothing", on={"label_smoothing": 0.1}, check=_check,
    callbacks=lambda r: [LabelSmoothing(r.label_smoothing)],
    describe=lambda r: f"label smoothing {r.label_smoothing:g}" if r.label_smoothing > 0 else None)
