"""GradInit-style layer-wise rescaling of the initialisation (the paper's LRsI), for the
MASKED network, as the ToST release runs it ("type 2": mask first, then rescale the sparse
network). The rule of one iteration and the scalar optimiser are in `gradinit_rule`; this
file runs the iterations and installs the result.

Defaults are the release's README command: 180 iterations, Adam lr 1e-2, eta 0.1,
gamma 1, per-scale gradient clip 1, weight scales >= 0.01. The loss is the plain
cross-entropy even when the run uses label smoothing (the release's GradInit builds its own
`nn.CrossEntropyLoss`). BatchNorm uses batch statistics and its running statistics are left
as they were, like the release's `track_running_stats=False`. At the end the weights are
multiplied by their scales in place: pruned weights stay exactly zero.
"""
import copy
import hashlib
import itertools
from collections import OrderedDict
from typing import Dict, Iterator, List

import torch
from torch import nn

from ..core.callbacks import Callback
from .twice_differentiable import twice_differentiable
from .gradinit_rule import LOOKAHEAD, RescaleAdam, scale_floors, scale_gradient

WEIGHT_FLOOR = 0.01
LOG_EVERY = 10
# Results of recent searches in this process, by a fingerprint of everything they depend on.
# GradInit is deterministic, and a study trains the same masked network at setup under
# several recipes (the abstract's and the release's differ only after setup), so the second
# search of a cell is read back instead of recomputed.
_RECENT: "OrderedDict[str, Dict[str, object]]" = OrderedDict()
RECENT_SIZE = 4


def endless_batches(batches, batch_size: int = 0) -> Iterator:
    """Training batches, epoch after epoch (the trainer resets the epoch before training),
    re-cut to `batch_size` examples when it is given (0: as they come)."""
    def stream():
        for epoch in itertools.count():
            batches.set_epoch(epoch)
            yield from batches

    if not batch_size:
        yield from stream()
        return
    pending_x, pending_y = [], []
    for x, y in stream():
        pending_x.append(x)
        pending_y.append(y)
        x, y = torch.cat(pending_x), torch.cat(pending_y)
        while len(y) >= batch_size:
            yield x[:batch_size], y[:batch_size]
            x, y = x[batch_size:], y[batch_size:]
        pending_x, pending_y = [x], [y]


def fingerprint(model: nn.Module, mask, batches, settings: Dict[str, object]) -> str:
    """A digest of what a search depends on: the architecture as printed (activations and
    ghost branches included), every parameter and buffer, the mask, the first training batch
    of epoch 0 (the data stream is a pure function of the seed and epoch), and the settings."""
    digest = hashlib.sha256(repr(model).encode())
    for name, tensor in itertools.chain(model.state_dict().items(), sorted(mask.items())):
        digest.update(name.encode())
        digest.update(tensor.detach().cpu().contiguous().numpy().tobytes())
    batches.set_epoch(0)
    for tensor in next(iter(batches)):
        digest.update(tensor.cpu().contiguous().numpy().tobytes())
    digest.update(repr(sorted(settings.items())).encode())
    return digest.hexdigest()


def _summary(scales: torch.Tensor) -> Dict[str, float]:
    return {"scale_mean": float(scales.mean()), "scale_min": float(scales.min()), "scale_max": float(scales.max())}


def gradinit(model: nn.Module, mask, batches, device, iterations: int = 180, lr: float = 1e-2, eta: float = 0.1,
             gamma: float = 1.0, clip: float = 1.0, masked: bool = False, batch_size: int = 0,
             progress: bool = False) -> Dict[str, object]:
    """Rescale `model`'s parameters in place; returns a log of how the scales moved. An
    identical search earlier in this process supplies the scales and the log, so a record
    never shows whether the search ran or was read back."""
    settings = dict(iterations=iterations, lr=lr, eta=eta, gamma=gamma, clip=clip, masked=masked,
                    batch_size=batch_size)
    key = fingerprint(model, mask, batches, {**settings, "device": str(device)})
    log = _RECENT.get(key)
    if log is None:
        # The random state is put back after the search: a network with dropout draws from it
        # there, and a search read back from `_RECENT` draws nothing, so without this the run
        # after it (and its resumption) would depend on whether the search ran.
        cuda = [torch.device(device).index or 0] if torch.device(device).type == "cuda" else []
        with twice_differentiable(model), torch.random.fork_rng(devices=cuda):
            log = _search(model, mask, batches, device, progress, **settings)
        _RECENT[key] = log
        while len(_RECENT) > RECENT_SIZE:
            _RECENT.popitem(last=False)
        return copy.deepcopy(log)
    with torch.no_grad():
        params = dict(model.named_parameters())
        for name, scale in log["scales"].items():
            params[name].mul_(scale)
    return copy.deepcopy(log)


def _search(model: nn.Module, mask, batches, device, progress: bool, iterations: int, lr: float, eta: float,
            gamma: float, clip: float, masked: bool, batch_size: int) -> Dict[str, object]:
    from tqdm.auto import tqdm  # here: the progress bar is the only user

    originals = {name: p.detach().clone() for name, p in model.named_parameters() if p.requires_grad}
    names = list(originals)
    keep = {name: mask[name].to(device, originals[name].dtype) for name in mask} if masked else None
    scales = torch.ones(len(names), device=device)
    optimizer = RescaleAdam(scale_floors(names, WEIGHT_FLOOR, device), lr=lr, clip=clip)
    nonzero = torch.tensor([bool(originals[n].any()) for n in names], device=device)
    saved_buffers = {name: b.detach().clone() for name, b in model.named_buffers()}
    was_training = model.training
    model.train()
    stream = ((x.to(device), y.to(device)) for x, y in endless_batches(batches, batch_size))

    history: List[Dict[str, object]] = []
    counts = {"gradient_norm": 0, "lookahead": 0}
    bar = tqdm(total=iterations, desc="gradinit", unit="it", dynamic_ncols=True) if progress else None
    for iteration in range(iterations):
        halves = (next(stream), next(stream))
        result = scale_gradient(model, originals, scales, halves, lambda: next(stream), eta, gamma, keep)
        scales = optimizer.step(scales, result.scale_grad, result.branch, active=nonzero & (scales != 0))
        counts[result.branch] += 1
        if iteration % LOG_EVERY == 0 or iteration == iterations - 1:
            history.append({"iteration": iteration + 1, "objective": result.branch, "value": result.objective,
                            "grad_norm": result.grad_norm, **_summary(scales)})
        if bar is not None:
            bar.update(1)
            bar.set_postfix(branch="look-ahead" if result.branch == LOOKAHEAD else "norm",
                            grad_norm=f"{result.grad_norm:.3g}", scale_min=f"{float(scales.min()):.3g}")
    if bar is not None:
        bar.close()

    with torch.no_grad():
        params = dict(model.named_parameters())
        for index, name in enumerate(names):
            params[name].mul_(scales[index])
        buffers = dict(model.named_buffers())
        for name, value in saved_buffers.items():
            buffers[name].copy_(value)
    model.train(was_training)
    return {"iterations": iterations, "lr": lr, "eta": eta, "gamma": gamma, "masked": masked, "batch_size": batch_size,
            "steps_by_objective": counts, "scales": {name: float(scales[i]) for i, name in enumerate(names)},
            "history": history}


class GradInit(Callback):
    """Runs `gradinit` at setup (not when resuming: the checkpoint holds the weights) and puts
    its log in the run record under "gradinit"."""

    def __init__(self, iterations: int = 180, lr: float = 1e-2, eta: float = 0.1, gamma: float = 1.0,
                 masked: bool = False, batch_size: int = 0):
        self.iterations, self.lr, self.eta, self.gamma, self.masked = iterations, lr, eta, gamma, masked
        self.batch_size = batch_size
        self.log = None

    def on_setup(self, state) -> None:
        if state.config.resume:
            return
        self.log = gradinit(state.model, state.mask, state.data.train, state.device, self.iterations, self.lr,
                            self.eta, self.gamma, masked=self.masked, batch_size=self.batch_size,
                            progress=state.config.progress)

    def on_run_start(self, state) -> None:
        if self.log is not None:
            state.extras["gradinit"] = self.log

    def state_dict(self):
        return {"log": self.log}

    def load_state_dict(self, state) -> None:
        self.log = state.get("log")
