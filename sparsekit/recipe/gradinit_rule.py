"""One GradInit iteration as the ToST release runs it (its `LRsI/gradinit_utils.py`, itself
GradInit's own code), written over a vector of per-tensor scales.

Every parameter tensor theta_i (conv, linear and BatchNorm weights and biases) is replaced
by a_i * theta0_i; only the scales a are learned. One iteration, on three batches b0, b1, b2:
- g = dL/dtheta of the plain cross-entropy on [b0; b1] (two batches concatenated), with
  create_graph so ||g|| can itself be differentiated;
- if ||g|| > gamma, the objective is ||g|| (a step that brings the gradient norm back under
  the bound; this differentiates through g: second order);
- otherwise the objective is L(theta - eta * g / ||g||) / eta on [b0; b2], the look-ahead
  batch half-overlapping the first, where g / ||g|| is DETACHED (first order: no
  differentiation through the step; the release's `gstep.data`);
- d objective / d a_i = <d objective / d theta_i, theta0_i>, exactly the release's
  `sum(p.grad * p) * init_norm / curr_norm` for p = a_i * theta0_i.
With `keep` given, the gradient (hence its norm and the look-ahead step) is restricted to the
mask's kept weights (the kit's "masked" variant). The release's "type 2" masks neither; the
network itself stays sparse either way, because scaling is multiplicative.

`gradient_parts` splits the norm of the gradient an iteration drives into the part on kept
weights, the part on pruned weights and the rest (BatchNorm, biases, dense layers): on a
masked network with a dense gradient most of it can sit on weights that no longer exist.

`RescaleAdam` is the release's scalar optimiser: per-scale gradients clipped to
[-clip, clip]; Adam with SEPARATE first moments (and bias corrections) for the two branches
and one shared second moment; scales floored after each step (0.01 for weights, 0 for biases).
"""
from dataclasses import dataclass
from typing import Callable, Dict, List, Mapping, Optional, Sequence, Tuple

import torch
from torch import nn
from torch.func import functional_call
from torch.nn import functional as F

Batch = Tuple[torch.Tensor, torch.Tensor]
CONSTRAINT, LOOKAHEAD = "gradient_norm", "lookahead"


@dataclass
class IterationResult:
    branch: str  # CONSTRAINT or LOOKAHEAD
    objective: float
    grad_norm: float
    scale_grad: torch.Tensor  # d objective / d scales, before clipping
    parts: Optional[Dict[str, float]] = None  # `gradient_parts` of the driven gradient, when asked for


def gradient_parts(names: Sequence[str], grads: Sequence[torch.Tensor],
                   mask: Mapping[str, torch.Tensor]) -> Dict[str, float]:
    """Norms of the gradient on the mask's kept weights, on its pruned weights, on every other
    tensor, and in all; `kept_share` and `pruned_share` are fractions of the squared norm."""
    squares = {"kept": 0.0, "pruned": 0.0, "other": 0.0}
    with torch.no_grad():
        for name, grad in zip(names, grads):
            grad = grad.detach().double()
            if name in mask:
                keep = mask[name].to(grad.device, torch.bool)
                squares["kept"] += float(grad[keep].pow(2).sum())
                squares["pruned"] += float(grad[~keep].pow(2).sum())
            else:
                squares["other"] += float(grad.pow(2).sum())
    total = sum(squares.values())
    parts = {f"{part}_norm": value ** 0.5 for part, value in squares.items()}
    parts["norm"] = total ** 0.5
    parts["kept_share"] = squares["kept"] / total if total else 0.0
    parts["pruned_share"] = squares["pruned"] / total if total else 0.0
    return parts


def scale_gradient(model: nn.Module, originals: Dict[str, torch.Tensor], scales: torch.Tensor,
                   batches: Tuple[Batch, Batch], next_batch: Callable[[], Batch], eta: float, gamma: float,
                   keep: Optional[Dict[str, torch.Tensor]] = None,
                   diagnose: Optional[Mapping[str, torch.Tensor]] = None) -> IterationResult:
    """The objective of one iteration and its gradient with respect to `scales` (one entry
    per tensor of `originals`, in order). `batches` are b0 and b1; `next_batch()` gives b2,
    drawn only when the look-ahead branch runs (as in the release, so both consume the data
    stream alike). `keep` (name -> 0/1 tensor) masks the gradient; with `diagnose` (a mask)
    the result carries `gradient_parts` of the gradient driven, split by that mask."""
    (x0, y0), (x1, y1) = batches
    scales = scales.detach().requires_grad_(True)
    names = list(originals)
    scaled = {name: scales[i] * originals[name] for i, name in enumerate(names)}
    loss = F.cross_entropy(functional_call(model, scaled, (torch.cat([x0, x1]),)), torch.cat([y0, y1]))
    grads = torch.autograd.grad(loss, [scaled[n] for n in names], create_graph=True, allow_unused=True)
    grads = [torch.zeros_like(scaled[n]) if g is None else g for n, g in zip(names, grads)]
    if keep is not None:
        grads = [g * keep[n] if n in keep else g for n, g in zip(names, grads)]
    grad_norm = torch.sqrt(sum(g.pow(2).sum() for g in grads))
    parts = gradient_parts(names, grads, diagnose) if diagnose is not None else None
    if grad_norm.item() > gamma:
        branch, objective = CONSTRAINT, grad_norm
    else:
        branch = LOOKAHEAD
        x2, y2 = next_batch()
        step = {n: eta * (g / grad_norm).detach() for n, g in zip(names, grads)}
        ahead = {n: scaled[n] - step[n] for n in names}
        logits = functional_call(model, ahead, (torch.cat([x0, x2]),))
        objective = F.cross_entropy(logits, torch.cat([y0, y2])) / eta
    (scale_grad,) = torch.autograd.grad(objective, scales, allow_unused=True)
    if scale_grad is None:
        scale_grad = torch.zeros_like(scales)
    return IterationResult(branch, float(objective.detach()), float(grad_norm.detach()), scale_grad.detach(), parts)


class RescaleAdam:
    """Adam on the scales, with one first moment per branch (see the module doc)."""

    def __init__(self, floors: torch.Tensor, lr: float = 1e-2, clip: float = 1.0,
                 betas: Tuple[float, float] = (0.9, 0.999), eps: float = 1e-8):
        self.floors, self.lr, self.clip, self.betas, self.eps = floors, lr, clip, betas, eps
        self.first = {CONSTRAINT: torch.zeros_like(floors), LOOKAHEAD: torch.zeros_like(floors)}
        self.steps = {CONSTRAINT: 0, LOOKAHEAD: 0}
        self.second = torch.zeros_like(floors)

    def step(self, scales: torch.Tensor, grad: torch.Tensor, branch: str, active: torch.Tensor) -> torch.Tensor:
        """The scales after one step on `grad` taken in `branch`. Entries not `active` (a
        tensor that is all zeros, e.g. a zero-initialised bias or one scaled down to 0) are
        left alone, moments included, as the release skips a parameter whose norm is 0."""
        beta1, beta2 = self.betas
        grad = grad.clamp(-self.clip, self.clip) if self.clip > 0 else grad
        self.steps[branch] += 1
        first = beta1 * self.first[branch] + (1 - beta1) * grad
        second = beta2 * self.second + (1 - beta2) * grad * grad
        self.first[branch] = torch.where(active, first, self.first[branch])
        self.second = torch.where(active, second, self.second)
        correction1 = 1 - beta1 ** self.steps[branch]
        correction2 = 1 - beta2 ** sum(self.steps.values())
        denominator = (self.second / correction2).sqrt() + self.eps
        updated = torch.maximum(scales - (self.lr / correction1) * self.first[branch] / denominator, self.floors)
        return torch.where(active, updated, scales)


def scale_floors(names: List[str], weight_floor: float, device) -> torch.Tensor:
    """The release's bounds: weights (conv, linear, BatchNorm) >= weight_floor, biases >= 0."""
    return torch.tensor([0.0 if name.endswith("bias") else weight_floor for name in names], device=device)
