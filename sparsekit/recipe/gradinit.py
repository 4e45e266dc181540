"""GradInit-style layer-wise rescaling of the initialisation (the paper's LRsI), for the
MASKED network (the release's "type 2": mask first, then rescale the sparse network).

Every parameter tensor theta_i (conv, linear and BatchNorm weights and biases, ghost branches
included when present) gets a learnable scalar a_i, starting at 1; the network is run with
a_i * theta_i through `torch.func.functional_call`, and only the scalars are optimised, for a
fixed number of iterations before training. One iteration:
  - take a batch and the gradient g of the loss w.r.t. theta' = a * theta, with pruned
    entries zeroed (the gradient sparse training will actually see);
  - if ||g|| > gamma, take a step on the scalars that reduces ||g||;
  - otherwise take a normalised, masked look-ahead step theta' - eta * g / ||g|| and
    minimise the loss there, on the next batch, over the scalars.
Adam (lr 1e-2) on the scalars, each scalar's gradient clipped to [-1, 1], scalars kept
>= 0.01 for weights and >= 0 for biases. BatchNorm uses batch statistics; its running
statistics are restored afterwards, so training starts from the same BN state as without
this step. Finally the weights are multiplied by their scalars in place: scaling is
multiplicative, so pruned weights stay exactly zero.
"""
import itertools
from typing import Dict, Iterator, List

import torch
from torch import nn
from torch.func import functional_call

from ..training.callbacks import Callback

WEIGHT_FLOOR = 0.01
BIAS_FLOOR = 0.0
LOG_EVERY = 10


def endless_batches(batches) -> Iterator:
    """Training batches, epoch after epoch (the trainer resets the epoch before training)."""
    for epoch in itertools.count():
        batches.set_epoch(epoch)
        yield from batches


def _scale_summary(scales: Dict[str, torch.Tensor]) -> Dict[str, float]:
    values = torch.stack([s.detach() for s in scales.values()])
    return {"scale_mean": float(values.mean()), "scale_min": float(values.min()), "scale_max": float(values.max())}


def gradinit(model: nn.Module, mask, batches, loss_fn, device, iterations: int = 180, lr: float = 1e-2,
             eta: float = 0.1, gamma: float = 1.0, clip: float = 1.0) -> Dict[str, object]:
    """Rescale `model`'s parameters in place; returns a log of how the scales moved."""
    originals = {name: p.detach().clone() for name, p in model.named_parameters() if p.requires_grad}
    keep = {name: mask[name].to(device, originals[name].dtype) for name in mask}
    scales = {name: torch.ones((), device=device, requires_grad=True) for name in originals}
    floors = {name: BIAS_FLOOR if name.endswith("bias") else WEIGHT_FLOOR for name in originals}
    optimizer = torch.optim.Adam(list(scales.values()), lr=lr)
    saved_buffers = {name: b.detach().clone() for name, b in model.named_buffers()}
    was_training = model.training
    model.train()
    stream = endless_batches(batches)

    def loss_at(params: Dict[str, torch.Tensor]) -> torch.Tensor:
        x, y = next(stream)
        return loss_fn(functional_call(model, params, (x.to(device),)), y.to(device))

    history: List[Dict[str, object]] = []
    counts = {"grad_norm": 0, "lookahead": 0}
    for iteration in range(iterations):
        scaled = {name: scales[name] * theta for name, theta in originals.items()}
        grads = torch.autograd.grad(loss_at(scaled), list(scaled.values()), create_graph=True, allow_unused=True)
        grads = {name: (torch.zeros_like(scaled[name]) if g is None else g * keep[name] if name in keep else g)
                 for name, g in zip(scaled, grads)}
        grad_norm = torch.sqrt(sum(g.pow(2).sum() for g in grads.values()))
        if grad_norm > gamma:
            kind, objective = "grad_norm", grad_norm
        else:
            kind = "lookahead"
            objective = loss_at({name: scaled[name] - eta * grads[name] / grad_norm for name in scaled})
        counts[kind] += 1
        optimizer.zero_grad(set_to_none=True)
        objective.backward()
        torch.nn.utils.clip_grad_value_(list(scales.values()), clip)
        optimizer.step()
        with torch.no_grad():
            for name, scale in scales.items():
                scale.clamp_(min=floors[name])
        if iteration % LOG_EVERY == 0 or iteration == iterations - 1:
            history.append({"iteration": iteration + 1, "objective": kind, "value": float(objective.detach()),
                            "grad_norm": float(grad_norm.detach()), **_scale_summary(scales)})

    with torch.no_grad():
        params = dict(model.named_parameters())
        for name, scale in scales.items():
            params[name].mul_(scale)
        buffers = dict(model.named_buffers())
        for name, value in saved_buffers.items():
            buffers[name].copy_(value)
    model.train(was_training)
    return {"iterations": iterations, "lr": lr, "eta": eta, "gamma": gamma, "steps_by_objective": counts,
            "scales": {name: float(s.detach()) for name, s in scales.items()}, "history": history}


class GradInit(Callback):
    """Runs `gradinit` at setup (not when resuming: the checkpoint holds the weights) and puts
    its log in the run record under "gradinit"."""

    def __init__(self, iterations: int = 180, lr: float = 1e-2, eta: float = 0.1, gamma: float = 1.0):
        self.iterations, self.lr, self.eta, self.gamma = iterations, lr, eta, gamma
        self.log = None

    def on_setup(self, state) -> None:
        if state.config.resume:
            return
        self.log = gradinit(state.model, state.mask, state.data.train, state.loss_fn, state.device,
                            self.iterations, self.lr, self.eta, self.gamma)

    def on_run_start(self, state) -> None:
        if self.log is not None:
            state.extras["gradinit"] = self.log

    def state_dict(self):
        return {"log": self.log}

    def load_state_dict(self, state) -> None:
        self.log = state.get("log")
